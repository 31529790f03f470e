#!/usr/bin/env bash
# gso_gro.sh — UDP GSO and GRO against the plain socket and against bypass
# (docs/gso-gro.md): flood rate and CPU per packet at each end for
#   socket            socket+gso16      mmsg+gso16      uring+gso16      xdp
#   socket+gso16+gro  mmsg+gso16+gro    uring+gso16+gro
# at 1472-byte and 64-byte payloads, every configuration once per round,
# the order rotating between rounds, so the host's drift hits all alike.
# All on the built-in topology with --veth-napi (veth does GRO only with
# NAPI), so no row runs on a different topology.
#
# Prints, per size and configuration, the median over rounds of the
# received rate, the sender's and the receiver's CPU ns per packet (the
# kernel's getrusage per thread; the receiver's includes what its thread
# spends in softirq), the sender's kernel-counted syscalls per packet and
# the receiver's packets per receive call, with the ratio of rate and
# sender CPU to plain socket at that size.
#
# Needs root and python3.
# Environment:
#   WIREPATH    the binary (default <repo>/.build/release/wirepath)
#   ROUNDS      rounds (default 3; 1-20)
#   DURATION    flood seconds per configuration (default 2; 1-60)
#   SIZES       payload sizes (default "1472 64")
#   OUT         output directory (default: <repo>/bench/out/gso_gro)
# Exit status: 0 when the comparison ran, 2 on errors.
set -uo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
WIREPATH=${WIREPATH:-$SCRIPT_DIR/../.build/release/wirepath}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-2}
SIZES=${SIZES:-1472 64}
OUT=${OUT:-$SCRIPT_DIR/out/gso_gro}
[[ -x $WIREPATH ]] || { echo "error: $WIREPATH not found; run \`make build\`" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 && $ROUNDS -le 20 ]] || { echo "error: ROUNDS must be 1-20" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "error: DURATION must be a number of seconds" >&2; exit 2; }
for s in $SIZES; do [[ $s =~ ^[0-9]+$ && $s -ge 40 && $s -le 1472 ]] || { echo "error: bad size '$s' (40-1472)" >&2; exit 2; }; done
mkdir -p "$OUT"
CHILD=
trap '[[ -n $CHILD ]] && kill -TERM $CHILD 2>/dev/null; wait 2>/dev/null; exit 130' INT TERM

# name|path|flags
CONFIGS=(
    "socket|socket|"
    "socket+gso16|socket|--gso 16"
    "mmsg+gso16|mmsg|--gso 16"
    "uring+gso16|uring|--gso 16"
    "xdp|xdp|"
    "socket+gso16+gro|socket|--gso 16 --gro"
    "mmsg+gso16+gro|mmsg|--gso 16 --gro"
    "uring+gso16+gro|uring|--gso 16 --gro"
)
N=${#CONFIGS[@]}

run() { # config size round
    local name path flags
    IFS='|' read -r name path flags <<<"$1"
    local tag="$name-$2-$3"
    # shellcheck disable=SC2086
    timeout 120 "$WIREPATH" flood --path "$path" $flags --veth-napi --size "$2" --duration "$DURATION" \
        --warmup 0.5 --quiet --json "$OUT/$tag.json" >/dev/null 2>"$OUT/$tag.err" &
    CHILD=$!
    wait $CHILD || echo "warning: $tag exited $? (see $OUT/$tag.err)" >&2
    CHILD=
}

for ((r = 1; r <= ROUNDS; r++)); do
    for s in $SIZES; do
        for ((i = 0; i < N; i++)); do run "${CONFIGS[$(((i + r) % N))]}" "$s" "$r"; done
    done
done

python3 - "$OUT" "$ROUNDS" "$SIZES" "${CONFIGS[@]}" <<'PY'
import json, sys, statistics
out, rounds, sizes, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), [c.split("|")[0] for c in sys.argv[4:]]
def figures(name, size, r):
    try:
        d = json.load(open(f"{out}/{name}-{size}-{r}.json"))
        run = d["runs"][0]
        if run.get("status") != "ok": return None
        f = run["flood"]
        s, rc = f["sender"], f.get("receiver") or {}
        return dict(pps=f["rxPps"], scpu=(s.get("cost") or {}).get("cpuNsPerPacket"),
                    rcpu=(rc.get("cost") or {}).get("cpuNsPerPacket"),
                    ssys=(s.get("cost") or {}).get("syscallsPerPacket"),
                    rppc=rc.get("rxPacketsPerCall"), lost=f.get("lossRatio"),
                    sirq=softirq_per_packet(f.get("softirq")))
    except Exception:
        return None
def softirq_per_packet(sq):
    # /proc/stat's softirq time over the window, per received packet: on a
    # veth pair the receive work (and GRO's coalescing) runs here, in the
    # sender's CPU's softirq (or the receiver's with threaded NAPI).
    if not sq or not sq.get("packets"): return None
    return sum(c["ns"] for c in sq["cpus"]) / sq["packets"]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def fmt(x, d=0): return "-" if x is None else f"{x:.{d}f}"
print(f"loaded host; {rounds} round(s); flood --veth-napi; medians over rounds")
for size in sizes:
    rows = {}
    for c in configs:
        fs = [f for f in (figures(c, size, r) for r in range(1, rounds + 1)) if f]
        rows[c] = {k: med([f[k] for f in fs]) for k in ("pps", "scpu", "rcpu", "ssys", "rppc", "lost", "sirq")} if fs else None
    base = rows.get("socket")
    print(f"\n{size}-byte payload")
    print("| configuration | rx Mpps | × socket | sender CPU ns/pkt | × socket | receiver CPU ns/pkt | softirq ns/pkt | sender syscalls/pkt | receiver pkts/call | loss |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in configs:
        v = rows[c]
        if not v:
            print(f"| {c} | failed | | | | | | | | |"); continue
        rp = v["pps"] / base["pps"] if base and base["pps"] else None
        rc = v["scpu"] / base["scpu"] if base and base["scpu"] and v["scpu"] else None
        print(f"| {c} | {fmt(v['pps'] / 1e6, 3)} | {fmt(rp, 2)} | {fmt(v['scpu'])} | {fmt(rc, 2)} | {fmt(v['rcpu'])} | {fmt(v['sirq'])} | {fmt(v['ssys'], 3)} | {fmt(v['rppc'], 1)} | {fmt((v['lost'] or 0) * 100, 1)}% |")
PY
