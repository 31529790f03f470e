#!/usr/bin/env bash
# builds_vs.sh — one build of wirepath against another (a refactor's
# regression check): the same comparison run by both binaries, alternately
# in one session, so the host's drift hits both alike.
#
# Each round runs `wirepath compare --paths $PATHS
# --measurements pingpong,flood --wait W` once with OLD and once with NEW
# (the order alternates between rounds), for W in block and spin. Prints,
# per path and wait, the median over rounds of NEW/OLD for the ping-pong's
# p50 RTT and the flood's received pps, with the min-max of the per-round
# ratios. Goal (reported, not asserted): every ratio within noise, i.e. the
# p50 ratio <= 1.05 and the pps ratio >= 0.95 where the spread allows.
#
# Needs root (wirepath builds and removes its own namespaces) and python3.
# Environment:
#   OLD, NEW    the two wirepath binaries (required: OLD; NEW defaults to
#               <repo>/.build/release/wirepath)
#   ROUNDS      rounds (default 3; 1-20)
#   DURATION    ping-pong seconds per path (default 2; 1-60); floods run 2 s
#   WAITS       wait modes (default "block spin")
#   PATHS       paths (default socket,mmsg,uring,xdp)
#   OUT         output directory (default: <repo>/bench/out/builds_vs)
# Exit status: 0 when the comparison ran, 2 on errors.
set -uo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
OLD=${OLD:?set OLD to the baseline wirepath binary}
NEW=${NEW:-$SCRIPT_DIR/../.build/release/wirepath}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-2}
WAITS=${WAITS:-block spin}
PATHS=${PATHS:-socket,mmsg,uring,xdp}
[[ $PATHS =~ ^(socket|mmsg|uring|xdp)(,(socket|mmsg|uring|xdp))*$ ]] || { echo "error: bad PATHS '$PATHS'" >&2; exit 2; }
OUT=${OUT:-$SCRIPT_DIR/out/builds_vs}
[[ -x $OLD && -x $NEW ]] || { echo "error: OLD ($OLD) and NEW ($NEW) must be executables" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 && $ROUNDS -le 20 ]] || { echo "error: ROUNDS must be 1-20" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 60 ]] || { echo "error: DURATION must be 1-60" >&2; exit 2; }
for w in $WAITS; do [[ $w == block || $w == epoll || $w == spin ]] || { echo "error: bad wait '$w'" >&2; exit 2; }; done
mkdir -p "$OUT"
CHILD=
trap '[[ -n $CHILD ]] && kill -TERM $CHILD 2>/dev/null; wait 2>/dev/null; exit 130' INT TERM

run() { # binary tag wait round
    timeout 300 "$1" compare --paths "$PATHS" --measurements pingpong,flood --wait "$3" \
        --duration "$DURATION" --flood-duration 2 --warmup 0.5 --quiet --json "$OUT/$2-$3-$4.json" >/dev/null 2>"$OUT/$2-$3-$4.err" &
    CHILD=$!
    wait $CHILD || echo "warning: $2 $3 round $4 exited $? (see $OUT/$2-$3-$4.err)" >&2
    CHILD=
}

for ((r = 1; r <= ROUNDS; r++)); do
    for w in $WAITS; do
        if (( r % 2 )); then run "$OLD" old $w $r; run "$NEW" new $w $r
        else run "$NEW" new $w $r; run "$OLD" old $w $r; fi
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
print(f"{'path':8} {'wait':6} {'p50 new/old':>12} {'[min-max]':>14} {'rx pps new/old':>15} {'[min-max]':>14}")
for w in waits:
    for path in ["socket", "mmsg", "uring", "xdp"]:
        lat, pps = [], []
        for r in range(1, rounds + 1):
            a, b = load("old", w, r).get(path), load("new", w, r).get(path)
            if not a or not b: continue
            if a[0] and b[0]: lat.append(b[0] / a[0])
            if a[1] and b[1]: pps.append(b[1] / a[1])
        f = lambda xs: (f"{statistics.median(xs):12.3f} {f'[{min(xs):.2f}-{max(xs):.2f}]':>14}" if xs else f"{'n/a':>12} {'':>14}")
        g = lambda xs: (f"{statistics.median(xs):15.3f} {f'[{min(xs):.2f}-{max(xs):.2f}]':>14}" if xs else f"{'n/a':>15} {'':>14}")
        print(f"{path:8} {w:6} {f(lat)} {g(pps)}")
PY
