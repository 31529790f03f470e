#!/usr/bin/env bash
# middle_hop.sh — what the capture's middle hop costs a round trip.
#
# `--capture` puts a bridge in a middle namespace between the two ends (the
# only place every path's packets cross the normal stack), so a captured run
# measures a longer path than the direct veth pair. This measures by how
# much: 64-byte `wirepath pingpong --path socket --wait block`, p50 RTT, in
# three topologies, alternating round by round so drift hits all alike:
#   direct    the default veth pair
#   hop       the same bridge, no capture (--middle-hop)
#   capture   the bridge with libpcap listening on it (--capture FILE)
# Prints the median over rounds of each p50 and the differences: hop - direct
# is the bridge, capture - hop the capture itself. Nothing is asserted.
#
# Needs root (network namespaces), python3, timeout.
# Environment:
#   WIREPATH  wirepath binary      (default: <repo>/.build/release/wirepath)
#   ROUNDS    rounds               (default 5; 1-50)
#   DURATION  seconds per run      (default 3; whole seconds, 1-600)
#   OUT       output directory     (default: <repo>/bench/out)
# Exit status: 0 when every run measured, non-zero on errors.

set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
WIREPATH=${WIREPATH:-$SCRIPT_DIR/../.build/release/wirepath}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3}
OUT=${OUT:-$SCRIPT_DIR/out}
RAW=$OUT/middle_hop-raw

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[[ $EUID -eq 0 ]] || die "needs root: wirepath builds network namespaces"
[[ -x $WIREPATH ]] || die "no wirepath at $WIREPATH: run 'make build' or set WIREPATH"
[[ $ROUNDS =~ ^[0-9]+$ ]] && (( ROUNDS >= 1 && ROUNDS <= 50 )) || die "ROUNDS must be 1-50"
[[ $DURATION =~ ^[0-9]+$ ]] && (( DURATION >= 1 && DURATION <= 600 )) || die "DURATION must be whole seconds, 1-600"
command -v python3 >/dev/null || die "python3 is missing"
mkdir -p "$RAW" || die "cannot create $RAW"

# wirepath names its namespaces after its own pid, which is not timeout's:
# the shell writes its pid to $RAW/pid, then becomes wirepath. A wirepath
# stopped by TERM removes its namespaces itself; one that had to be killed
# leaves wirepath-PID-*, which only this script knows to be its own, so
# exactly those are removed. On Ctrl-C the running wirepath gets TERM
# (through timeout, which passes it on) before the script exits.
CHILD=
sweep() {
    local pid ns
    [[ -s $RAW/pid ]] || return 0
    pid=$(cat "$RAW/pid")
    for ns in $(ip netns list | awk '{print $1}' | grep "^wirepath-$pid-"); do ip netns del "$ns" 2>/dev/null; done
    : >"$RAW/pid"
}
stop_child() {
    [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null && { kill -TERM "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null; }
    CHILD=
    sweep
}
trap 'stop_child; exit 130' INT
trap 'stop_child; exit 143' TERM
trap 'stop_child' EXIT

run() {   # run VARIANT ROUND: one ping-pong, its JSON in $RAW
    local variant=$1 round=$2 extra=()
    case $variant in
        hop) extra=(--middle-hop) ;;
        capture) extra=(--capture "$RAW/$round.pcap") ;;
    esac
    : >"$RAW/pid"
    timeout -k 5 $((DURATION + 60)) bash -c 'echo $$ >"$0"; exec "$@"' "$RAW/pid" \
        "$WIREPATH" pingpong --path socket --wait block --size 64 \
        --warmup 1 --duration "$DURATION" --quiet --json "$RAW/$variant-$round.json" "${extra[@]}" \
        > "$RAW/$variant-$round.log" 2>&1 &
    CHILD=$!
    wait "$CHILD" || die "$variant round $round failed: $(tail -3 "$RAW/$variant-$round.log")"
    CHILD=
    sweep
    rm -f "$RAW/$round.pcap"
}

for ((r = 1; r <= ROUNDS; r++)); do
    for v in direct hop capture; do
        log "round $r/$ROUNDS: $v"
        run "$v" "$r"
    done
done

python3 - "$RAW" "$ROUNDS" "$OUT/middle_hop.json" <<'EOF'
import json, statistics, sys
raw, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
variants = ["direct", "hop", "capture"]
p50 = {v: [] for v in variants}
kinds = {}
for v in variants:
    for r in range(1, rounds + 1):
        rep = json.load(open(f"{raw}/{v}-{r}.json"))
        p50[v].append(rep["runs"][0]["pingpong"]["latency"]["p50Ns"] / 1000)
        kinds[v] = rep["environment"]["topology"]["kind"]
med = {v: statistics.median(p50[v]) for v in variants}
print("== socket ping-pong, 64 B, wait block: p50 RTT by topology ==")
print(f"{'variant':<9} {'topology':<12} {'median p50 µs':>14}  per round")
for v in variants:
    print(f"{v:<9} {kinds[v]:<12} {med[v]:>14.2f}  " + " ".join(f"{x:.2f}" for x in p50[v]))
pair = lambda a, b: [y - x for x, y in zip(p50[a], p50[b])]
print(f"bridge (hop - direct):     {med['hop'] - med['direct']:+.2f} µs  (pairwise {min(pair('direct','hop')):+.2f} to {max(pair('direct','hop')):+.2f})")
print(f"capture (capture - hop):   {med['capture'] - med['hop']:+.2f} µs  (pairwise {min(pair('hop','capture')):+.2f} to {max(pair('hop','capture')):+.2f})")
json.dump({"schema": "wirepath.bench.middle_hop/1", "rounds": rounds, "p50Us": p50, "medianUs": med, "topology": kinds},
          open(out, "w"), indent=2)
print(f"summary: {out}")
EOF
