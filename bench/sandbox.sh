#!/usr/bin/env bash
# sandbox.sh — what the data thread's sandbox costs (docs/sandbox.md): the
# same comparison with `--sandbox on` and `--sandbox off`, alternately in one
# session, so the host's drift hits both alike.
#
# Each round runs `wirepath compare --paths $PATHS --measurements
# pingpong,flood --wait W` once with --sandbox on and once with off (the
# order alternates between rounds), for each W in WAITS. Prints, per path
# and wait, the median over rounds of on/off for the ping-pong's p50 RTT and
# the flood's received pps, with the min-max of the per-round ratios. Goal
# (reported, not asserted): p50 on/off <= 1.02 and pps on/off >= 0.98 (a
# filter of a few dozen instructions per syscall should not show). Spin
# waits are the stable signal on a noisy host; block waits are noise-bound.
#
# Needs root (wirepath builds and removes its own namespaces) and python3.
# Environment:
#   WIREPATH    the binary (default <repo>/.build/release/wirepath)
#   ROUNDS      rounds (default 5; 1-20)
#   DURATION    ping-pong seconds per path (default 2; 1-60); floods run 2 s
#   WAITS       wait modes (default "spin")
#   PATHS       paths (default socket,mmsg,uring,xdp)
#   OUT         output directory (default: <repo>/bench/out/sandbox)
# Exit status: 0 when the comparison ran, 2 on errors.
set -uo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
WIREPATH=${WIREPATH:-$SCRIPT_DIR/../.build/release/wirepath}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-2}
WAITS=${WAITS:-spin}
PATHS=${PATHS:-socket,mmsg,uring,xdp}
[[ $PATHS =~ ^(socket|mmsg|uring|xdp)(,(socket|mmsg|uring|xdp))*$ ]] || { echo "error: bad PATHS '$PATHS'" >&2; exit 2; }
OUT=${OUT:-$SCRIPT_DIR/out/sandbox}
[[ -x $WIREPATH ]] || { echo "error: $WIREPATH not found; run \`make build\`" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 && $ROUNDS -le 20 ]] || { echo "error: ROUNDS must be 1-20" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 60 ]] || { echo "error: DURATION must be 1-60" >&2; exit 2; }
for w in $WAITS; do [[ $w == block || $w == epoll || $w == spin ]] || { echo "error: bad wait '$w'" >&2; exit 2; }; done
mkdir -p "$OUT"
CHILD=
trap '[[ -n $CHILD ]] && kill -TERM $CHILD 2>/dev/null; wait 2>/dev/null; exit 130' INT TERM

run() { # mode wait round
    timeout 300 "$WIREPATH" compare --paths "$PATHS" --measurements pingpong,flood --wait "$2" --sandbox "$1" \
        --duration "$DURATION" --flood-duration 2 --warmup 0.5 --quiet --json "$OUT/$1-$2-$3.json" >/dev/null 2>"$OUT/$1-$2-$3.err" &
    CHILD=$!
    wait $CHILD || echo "warning: sandbox $1 $2 round $3 exited $? (see $OUT/$1-$2-$3.err)" >&2
    CHILD=
}

for ((r = 1; r <= ROUNDS; r++)); do
    for w in $WAITS; do
        if (( r % 2 )); then run off $w $r; run on $w $r
        else run on $w $r; run off $w $r; fi
    done
done

python3 - "$OUT" "$ROUNDS" $WAITS <<'PY'
import json, sys, statistics, os
out, rounds, waits = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def load(tag, w, r):
    p = f"{out}/{tag}-{w}-{r}.json"
    if not os.path.exists(p): return {}
    rep = json.load(open(p))
    res = {}
    for run in rep.get("runs", []):
        if run.get("status") != "ok" or run.get("variant"): continue
        pp, fl = run.get("pingpong"), run.get("flood")
        res[run["path"]] = (pp["latency"]["p50Ns"] if pp else None, fl["rxPps"] if fl else None)
    return res
print(f"{'path':8} {'wait':6} {'p50 on/off':>11} {'[min-max]':>13} {'rx pps on/off':>14} {'[min-max]':>13}  p50 off µs  pps off")
for w in waits:
    for path in ["socket", "mmsg", "uring", "xdp"]:
        lat, pps, base_lat, base_pps = [], [], [], []
        for r in range(1, rounds + 1):
            a, b = load("off", w, r).get(path), load("on", w, r).get(path)
            if not a or not b: continue
            if a[0] and b[0]: lat.append(b[0] / a[0]); base_lat.append(a[0] / 1000)
            if a[1] and b[1]: pps.append(b[1] / a[1]); base_pps.append(a[1])
        if not lat and not pps: continue
        f = lambda xs, n: (f"{statistics.median(xs):{n}.3f} {f'[{min(xs):.2f}-{max(xs):.2f}]':>13}" if xs else f"{'n/a':>{n}} {'':>13}")
        base = f"{statistics.median(base_lat):11.1f} {statistics.median(base_pps):8.0f}" if base_lat and base_pps else ""
        print(f"{path:8} {w:6} {f(lat, 11)} {f(pps, 14)} {base}")
PY
