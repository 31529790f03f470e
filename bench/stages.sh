#!/usr/bin/env bash
# stages.sh — what `--stages` costs (docs/stages.md): the ping-pong's p50
# RTT with `--stages` over without, alternately in one session, so the
# host's drift hits both alike.
#
# Each round runs `wirepath compare --paths $PATHS --measurements pingpong
# --size 72 --wait W` once with --stages and once without (the order
# alternates between rounds). Prints, per path, the median over rounds of
# with/without for the p50 RTT, with the min-max of the per-round ratios,
# and the median stage breakdown (p50 per stage, share of the RTT p50).
#
# Needs root (wirepath builds and removes its own namespaces) and python3.
# Environment:
#   WIREPATH    the binary (default <repo>/.build/release/wirepath)
#   ROUNDS      rounds (default 5; 1-20)
#   DURATION    ping-pong seconds per path (default 2; 1-60)
#   WAIT        wait mode (default block)
#   PATHS       paths (default socket,mmsg,uring,xdp)
#   OUT         output directory (default: <repo>/bench/out/stages)
# Exit status: 0 when the comparison ran, 2 on errors.
set -uo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
WIREPATH=${WIREPATH:-$SCRIPT_DIR/../.build/release/wirepath}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-2}
WAIT=${WAIT:-block}
PATHS=${PATHS:-socket,mmsg,uring,xdp}
[[ $PATHS =~ ^(socket|mmsg|uring|xdp)(,(socket|mmsg|uring|xdp))*$ ]] || { echo "error: bad PATHS '$PATHS'" >&2; exit 2; }
OUT=${OUT:-$SCRIPT_DIR/out/stages}
[[ -x $WIREPATH ]] || { echo "error: $WIREPATH not found; run \`make build\`" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 && $ROUNDS -le 20 ]] || { echo "error: ROUNDS must be 1-20" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 60 ]] || { echo "error: DURATION must be 1-60" >&2; exit 2; }
[[ $WAIT == block || $WAIT == epoll || $WAIT == spin ]] || { echo "error: bad WAIT '$WAIT'" >&2; exit 2; }
mkdir -p "$OUT"
CHILD=
trap '[[ -n $CHILD ]] && kill -TERM $CHILD 2>/dev/null; wait 2>/dev/null; exit 130' INT TERM

run() { # with|without round
    local extra=()
    [[ $1 == with ]] && extra=(--stages)
    timeout 300 "$WIREPATH" compare --paths "$PATHS" --measurements pingpong --wait "$WAIT" --size 72 --repeat 1 "${extra[@]}" \
        --duration "$DURATION" --warmup 0.5 --quiet --json "$OUT/$1-$2.json" >/dev/null 2>"$OUT/$1-$2.err" &
    CHILD=$!
    wait $CHILD || echo "warning: $1 --stages round $2 exited $? (see $OUT/$1-$2.err)" >&2
    CHILD=
}

for ((r = 1; r <= ROUNDS; r++)); do
    if (( r % 2 )); then run without $r; run with $r
    else run with $r; run without $r; fi
done

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, sys, statistics, os
out, rounds = sys.argv[1], int(sys.argv[2])
def load(tag, r):
    p = f"{out}/{tag}-{r}.json"
    if not os.path.exists(p): return {}
    res = {}
    for run in json.load(open(p)).get("runs", []):
        if run.get("status") != "ok" or run.get("variant") or not run.get("pingpong"): continue
        res[run["path"]] = run["pingpong"]
    return res
print(f"{'path':8} {'p50 with/without':>17} {'[min-max]':>13} {'p50 without µs':>15} {'p50 with µs':>12}")
breakdown = {}
for path in ["socket", "mmsg", "uring", "xdp"]:
    ratios, base, withs = [], [], []
    for r in range(1, rounds + 1):
        a, b = load("without", r).get(path), load("with", r).get(path)
        if not a or not b: continue
        ratios.append(b["latency"]["p50Ns"] / a["latency"]["p50Ns"])
        base.append(a["latency"]["p50Ns"] / 1000); withs.append(b["latency"]["p50Ns"] / 1000)
        for row in (b.get("stages") or {}).get("rows", []):
            if row.get("latency"): breakdown.setdefault(path, {}).setdefault(row["stage"], []).append(row["latency"]["p50Ns"] / 1000)
    if not ratios: continue
    print(f"{path:8} {statistics.median(ratios):17.3f} {f'[{min(ratios):.2f}-{max(ratios):.2f}]':>13} {statistics.median(base):15.1f} {statistics.median(withs):12.1f}")
print()
for path, stages in breakdown.items():
    total = sum(statistics.median(v) for v in stages.values())
    print(f"{path}: " + ", ".join(f"{k} {statistics.median(v):.1f} µs" for k, v in stages.items()) + f" (sum {total:.1f} µs)")
PY
