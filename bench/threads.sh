#!/usr/bin/env bash
# threads.sh — what a second thread per end buys each path (issue 13): the
# flood with --threads 2 over --threads 1, on the built-in topology with 2
# veth queues and --veth-threaded-napi (each queue's receive in its own
# kernel thread, pinned to the CPU of the thread its flow is steered to),
# alternately in one session so the host's drift hits both alike.
#
# Each round runs `wirepath flood --path P --queues 2 --veth-threaded-napi`
# once with --threads 1 and once with --threads 2 (the order alternates
# between rounds), for each path. Prints per path the median over rounds
# of rx pps 2/1, the min-max of the per-round ratios, and whether every
# 2-thread round landed where it was steered. On a host with fewer than 4
# CPUs the client and reflector threads share CPUs (the JSON says
# "contended"): a ratio there is not what a second core gives.
#
# Needs root (wirepath builds and removes its own namespaces) and python3.
# Environment:
#   WIREPATH    the binary (default <repo>/.build/release/wirepath)
#   ROUNDS      rounds (default 5; 1-20)
#   DURATION    flood seconds (default 2; 1-60)
#   PATHS       paths (default "socket mmsg uring xdp"; xdp: one AF_XDP socket per queue)
#   XDP_UMEM    xdp's --xdp-umem (default per-queue; or shared)
#   OUT         output directory (default: <repo>/bench/out/threads)
# Exit status: 0 when the comparison ran, 2 on errors.
set -uo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
WIREPATH=${WIREPATH:-$SCRIPT_DIR/../.build/release/wirepath}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-2}
PATHS=${PATHS:-socket mmsg uring xdp}
XDP_UMEM=${XDP_UMEM:-per-queue}
OUT=${OUT:-$SCRIPT_DIR/out/threads}
[[ -x $WIREPATH ]] || { echo "error: $WIREPATH not found; run \`make build\`" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 && $ROUNDS -le 20 ]] || { echo "error: ROUNDS must be 1-20" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 60 ]] || { echo "error: DURATION must be 1-60" >&2; exit 2; }
for p in $PATHS; do [[ $p == socket || $p == mmsg || $p == uring || $p == xdp ]] || { echo "error: bad path '$p'" >&2; exit 2; }; done
[[ $XDP_UMEM == per-queue || $XDP_UMEM == shared ]] || { echo "error: XDP_UMEM must be per-queue or shared" >&2; exit 2; }
mkdir -p "$OUT"
CHILD=
trap '[[ -n $CHILD ]] && kill -TERM $CHILD 2>/dev/null; wait 2>/dev/null; exit 130' INT TERM

run() { # path threads round
    timeout 300 "$WIREPATH" flood --path "$1" --threads "$2" --queues 2 --veth-threaded-napi --xdp-umem "$XDP_UMEM" \
        --duration "$DURATION" --warmup 0.5 --quiet --json "$OUT/$1-$2-$3.json" >/dev/null 2>"$OUT/$1-$2-$3.err" &
    CHILD=$!
    wait $CHILD || echo "warning: $1 --threads $2 round $3 exited $? (see $OUT/$1-$2-$3.err)" >&2
    CHILD=
}

for ((r = 1; r <= ROUNDS; r++)); do
    for p in $PATHS; do
        if (( r % 2 )); then run $p 1 $r; run $p 2 $r
        else run $p 2 $r; run $p 1 $r; fi
    done
done

python3 - "$OUT" "$ROUNDS" $PATHS <<'PY'
import json, sys, statistics, os
out, rounds, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def load(path, n, r):
    p = f"{out}/{path}-{n}-{r}.json"
    if not os.path.exists(p): return None
    for run in json.load(open(p)).get("runs", []):
        if run.get("status") == "ok" and run.get("flood"):
            t = run.get("threaded") or {}
            problems = [q for pl in t.get("placement", []) for q in pl.get("problems", [])]
            return run["flood"]["rxPps"], t.get("contended", False), problems
    return None
print(f"{'path':8} {'pps 2/1':>8} {'[min-max]':>13} {'pps 1 thread':>13} {'pps 2 threads':>14}  placement  contended")
for path in paths:
    ratios, one, two, flagged, contended = [], [], [], 0, False
    for r in range(1, rounds + 1):
        a, b = load(path, 1, r), load(path, 2, r)
        if not a or not b or not a[0]: continue
        ratios.append(b[0] / a[0]); one.append(a[0]); two.append(b[0])
        flagged += 1 if b[2] else 0
        contended = contended or b[1]
    if not ratios: print(f"{path:8} no complete round"); continue
    print(f"{path:8} {statistics.median(ratios):8.2f} {f'[{min(ratios):.2f}-{max(ratios):.2f}]':>13} {statistics.median(one):13.0f} {statistics.median(two):14.0f}  "
          f"{'ok' if flagged == 0 else f'{flagged} flagged':9}  {'yes' if contended else 'no'}")
PY
