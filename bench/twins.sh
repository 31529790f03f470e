#!/usr/bin/env bash
# twins.sh — every Wirepath ping-pong variant against a minimal C loop of its
# own kind (bench/c/), on the same pair of namespaces, alternately in one run
# (C, Wirepath, C, Wirepath, …), so drift hits both alike.
#
# For each variant and round: the C reflector + C client, then `wirepath
# serve` + `wirepath pingpong --peer` with the same path and wait, the same
# pinning (client CLI_CPU, reflector REF_CPU), the same 64-byte payload.
# Prints per variant the median of each side's p50 and p99 RTT and the median
# of the per-round ratios Wirepath/C with their spread [min–max]; then the
# same for floods (received packets per second: C sender and sink against
# `wirepath flood --peer` and serve). Goals (issue 15): ping-pong ratio
# <= 1.05, flood ratio >= 0.95. Build the loops first with `make bench-c`.
#
# Needs root. Environment:
#   WIREPATH   wirepath binary (default <repo>/.build/release/wirepath)
#   ROUNDS     rounds per variant (default 3, 1-50)
#   DURATION   measured seconds per run (default 3, 1-600)
#   VARIANTS   space-separated subset of the names below (default: all)
#   CLI_CPU / REF_CPU   CPUs for the client / reflector (default 0 / 1)
#   OUT        output directory (default <repo>/bench/out)
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$SCRIPT_DIR/..
WIREPATH=${WIREPATH:-$ROOT/.build/release/wirepath}
LOOPS=${LOOPS:-$ROOT/.build/bench-c}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
CLI_CPU=${CLI_CPU:-0}
REF_CPU=${REF_CPU:-1}
OUT=${OUT:-$SCRIPT_DIR/out}
WARMUP=1
SIZE=64
BUSY_POLL=50
CLI_NS=wirepath-twins-$$-cli
REF_NS=wirepath-twins-$$-ref
CLI_ADDR=198.18.200.1
REF_ADDR=198.18.200.2
PORT=7000

# name | C loop | C mode | wirepath path options | needs veth NAPI (0/1)
VARIANT_TABLE=(
  "socket-block|socket_pp|block|--path socket --wait block|0"
  "socket-epoll|socket_pp|epoll|--path socket --wait epoll|0"
  "socket-spin|socket_pp|spin|--path socket --wait spin|0"
  "socket-busypoll|socket_pp|busypoll|--path socket --wait block --busy-poll $BUSY_POLL|1"
  "mmsg-block|mmsg_pp|block|--path mmsg --wait block|0"
  "mmsg-spin|mmsg_pp|spin|--path mmsg --wait spin|0"
  "uring-block|uring_pp|block|--path uring --wait block|0"
  "uring-spin|uring_pp|spin|--path uring --wait spin|0"
  "uring-sqpoll|uring_pp|sqpoll|--path uring --wait block --uring-sqpoll=50|0"
  "uring-napi|uring_pp|napi|--path uring --wait block --uring-napi $BUSY_POLL|1"
  "xdp-poll|xdp_pp|poll|--path xdp --wait block|0"
  "xdp-spin|xdp_pp|spin|--path xdp --wait spin|0"
)

# Floods: name | C loop | C mode | wirepath path options. Received packets
# per second at the sink (from its first to its last measured packet, as
# Wirepath's rxPps), -n/--batch 32 at both ends.
FLOOD_TABLE=(
  "flood-socket|socket_pp|block|--path socket --wait block"
  "flood-mmsg|mmsg_pp|block|--path mmsg --wait block"
  "flood-uring|uring_pp|block|--path uring --wait block"
  "flood-xdp-poll|xdp_pp|poll|--path xdp --wait block"
  "flood-xdp-spin|xdp_pp|spin|--path xdp --wait spin"
)

PIDS=()
log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    for ns in "$CLI_NS" "$REF_NS"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

((EUID == 0)) || die "needs root (creates network namespaces); run with sudo"
[[ -x $WIREPATH ]] || die "wirepath not found at $WIREPATH; run \`make build\` (or set WIREPATH)"
for l in socket_pp mmsg_pp uring_pp xdp_pp; do [[ -x $LOOPS/$l ]] || die "$LOOPS/$l missing; run \`make bench-c\`"; done
[[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 50)) || die "ROUNDS must be 1-50 (got '$ROUNDS')"
[[ $DURATION =~ ^[0-9]+$ ]] && ((DURATION >= 1 && DURATION <= 600)) || die "DURATION must be whole seconds 1-600 (got '$DURATION')"
for c in "$CLI_CPU" "$REF_CPU"; do taskset -c "$c" true 2>/dev/null || die "cannot pin to CPU '$c'; set CLI_CPU/REF_CPU"; done
command -v python3 >/dev/null && command -v ethtool >/dev/null || die "needs python3 and ethtool (make deps)"
mkdir -p "$OUT" || die "cannot create $OUT"
RESULTS=$OUT/twins.jsonl; : >"$RESULTS"

ip netns add "$CLI_NS" && ip netns add "$REF_NS" || die "cannot create namespaces"
ip link add wpt0 netns "$CLI_NS" type veth peer name wpt1 netns "$REF_NS" || die "cannot create the veth pair"
ip -n "$CLI_NS" addr add $CLI_ADDR/24 dev wpt0 && ip -n "$REF_NS" addr add $REF_ADDR/24 dev wpt1
for n in "$CLI_NS:wpt0" "$REF_NS:wpt1"; do ip -n "${n%%:*}" link set "${n#*:}" up; ip -n "${n%%:*}" link set lo up; done
REF_MAC=$(ip -n "$REF_NS" -br link show wpt1 | awk '{print $3}')

# Sockets on veth get a NAPI id (and busy polling has something to poll)
# only with GRO on; the variants that busy-poll turn it on, the others off.
veth_napi() { # on|off
    local g=$1 t=on; [[ $g == on ]] && t=off
    ip netns exec "$CLI_NS" ethtool -K wpt0 gro "$g" tso "$t" >/dev/null 2>&1
    ip netns exec "$REF_NS" ethtool -K wpt1 gro "$g" tso "$t" >/dev/null 2>&1
}

# Runs one side of one round and appends a JSON line to RESULTS.
run_c() { # variant loop mode
    local v=$1 loop=$2 mode=$3 out rc ri=() ci=()
    # AF_XDP loops bind to the veth end and address frames to the peer's MAC.
    [[ $loop == xdp_pp ]] && ri=(-i wpt1) && ci=(-i wpt0)
    ip netns exec "$REF_NS" "$LOOPS/$loop" reflector $REF_ADDR $PORT -m "$mode" -b $BUSY_POLL -c "$REF_CPU" "${ri[@]}" \
        -d $((DURATION + WARMUP + 10)) 2>>"$OUT/twins-c-reflector.log" &
    local rpid=$!; PIDS+=("$rpid")
    sleep 0.3
    out=$(WP_PEER_MAC=$REF_MAC ip netns exec "$CLI_NS" timeout $((DURATION + WARMUP + 20)) "$LOOPS/$loop" client \
        $REF_ADDR $PORT -m "$mode" -b $BUSY_POLL -c "$CLI_CPU" -s $SIZE -w $WARMUP -d "$DURATION" "${ci[@]}"); rc=$?
    kill -TERM "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null
    ((rc == 0)) || { log "$v: C client failed (rc $rc)"; return 1; }
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(json.dumps(dict(variant=sys.argv[2], side="c", p50Ns=d["p50Ns"], p99Ns=d["p99Ns"], count=d["count"], lost=d["sent"]-d["received"])))' "$out" "$v" >>"$RESULTS"
}

run_wp() { # variant "path options"
    local v=$1 opts=$2 rc si=() ci=()
    [[ $opts == *"--path xdp"* ]] && si=(--interface wpt1) && ci=(--interface wpt0)
    # shellcheck disable=SC2086
    ip netns exec "$REF_NS" taskset -c "$REF_CPU" "$WIREPATH" serve $opts "${si[@]}" --bind $REF_ADDR:$PORT \
        --duration $((DURATION + WARMUP + 30)) >>"$OUT/twins-wp-serve.log" 2>&1 &
    local spid=$!; PIDS+=("$spid")
    local i; for ((i = 0; i < 50; i++)); do
        [[ -n $(ip netns exec "$REF_NS" ss -Hlun "sport = :$PORT" 2>/dev/null) ]] && break; sleep 0.1
    done
    # shellcheck disable=SC2086
    ip netns exec "$CLI_NS" taskset -c "$CLI_CPU" timeout $((DURATION + WARMUP + 40)) "$WIREPATH" pingpong $opts "${ci[@]}" \
        --peer $REF_ADDR:$PORT --size $SIZE --warmup $WARMUP --duration "$DURATION" --json "$OUT/twins-wp.json" \
        --quiet >>"$OUT/twins-wp-client.log" 2>&1; rc=$?
    kill -TERM "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    ((rc == 0)) || { log "$v: wirepath failed (rc $rc; see $OUT/twins-wp-client.log)"; return 1; }
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"][0]; p=r["pingpong"]; l=p["latency"]; print(json.dumps(dict(variant=sys.argv[2], side="wirepath", p50Ns=l["p50Ns"], p99Ns=l["p99Ns"], count=l["count"], lost=p.get("lost"))))' \
        "$OUT/twins-wp.json" "$v" >>"$RESULTS"
}

run_c_flood() { # variant loop mode
    local v=$1 loop=$2 mode=$3 sink rc ri=() ci=() spid
    [[ $loop == xdp_pp ]] && ri=(-i wpt1) && ci=(-i wpt0)
    ip netns exec "$REF_NS" "$LOOPS/$loop" sink $REF_ADDR $PORT -m "$mode" -n 32 -c "$REF_CPU" "${ri[@]}" \
        -d $((DURATION + WARMUP + 2)) >"$OUT/twins-sink.json" 2>>"$OUT/twins-c-reflector.log" &
    spid=$!; PIDS+=("$spid")
    sleep 0.5
    WP_PEER_MAC=$REF_MAC ip netns exec "$CLI_NS" timeout $((DURATION + WARMUP + 20)) "$LOOPS/$loop" sender \
        $REF_ADDR $PORT -m "$mode" -n 32 -c "$CLI_CPU" -s $SIZE -w $WARMUP -d "$DURATION" "${ci[@]}" >/dev/null; rc=$?
    wait "$spid" 2>/dev/null
    ((rc == 0)) || { log "$v: C sender failed (rc $rc)"; return 1; }
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(dict(variant=sys.argv[2], side="c", rxPps=d["rxPps"])))' \
        "$OUT/twins-sink.json" "$v" >>"$RESULTS"
}

run_wp_flood() { # variant "path options"
    local v=$1 opts=$2 rc si=() ci=() spid i
    [[ $opts == *"--path xdp"* ]] && si=(--interface wpt1) && ci=(--interface wpt0)
    # shellcheck disable=SC2086
    ip netns exec "$REF_NS" taskset -c "$REF_CPU" "$WIREPATH" serve $opts "${si[@]}" --batch 32 --bind $REF_ADDR:$PORT \
        --duration $((DURATION + WARMUP + 30)) >>"$OUT/twins-wp-serve.log" 2>&1 &
    spid=$!; PIDS+=("$spid")
    for ((i = 0; i < 50; i++)); do
        [[ -n $(ip netns exec "$REF_NS" ss -Hlun "sport = :$PORT" 2>/dev/null) ]] && break; sleep 0.1
    done
    # shellcheck disable=SC2086
    ip netns exec "$CLI_NS" taskset -c "$CLI_CPU" timeout $((DURATION + WARMUP + 40)) "$WIREPATH" flood $opts "${ci[@]}" \
        --batch 32 --peer $REF_ADDR:$PORT --size $SIZE --warmup $WARMUP --duration "$DURATION" --json "$OUT/twins-wp.json" \
        --quiet >>"$OUT/twins-wp-client.log" 2>&1; rc=$?
    kill -TERM "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    ((rc == 0)) || { log "$v: wirepath flood failed (rc $rc; see $OUT/twins-wp-client.log)"; return 1; }
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"][0]; print(json.dumps(dict(variant=sys.argv[2], side="wirepath", rxPps=r["flood"]["rxPps"])))' \
        "$OUT/twins-wp.json" "$v" >>"$RESULTS"
}

selected() { [[ -z ${VARIANTS:-} ]] || [[ " $VARIANTS " == *" $1 "* ]]; }

log "twins: $ROUNDS round(s) of ${DURATION}s per side; client CPU $CLI_CPU, reflector CPU $REF_CPU; $(uname -r)"
for row in "${VARIANT_TABLE[@]}"; do
    IFS='|' read -r name loop mode opts napi <<<"$row"
    selected "$name" || continue
    if ((napi)); then veth_napi on; else veth_napi off; fi
    for ((r = 1; r <= ROUNDS; r++)); do
        log "$name round $r/$ROUNDS"
        run_c "$name" "$loop" "$mode"
        run_wp "$name" "$opts"
    done
done

veth_napi off
for row in "${FLOOD_TABLE[@]}"; do
    IFS='|' read -r name loop mode opts <<<"$row"
    selected "$name" || continue
    for ((r = 1; r <= ROUNDS; r++)); do
        log "$name round $r/$ROUNDS"
        run_c_flood "$name" "$loop" "$mode"
        run_wp_flood "$name" "$opts"
    done
done

python3 - "$RESULTS" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
floods = [r for r in rows if "rxPps" in r]
rows = [r for r in rows if "p50Ns" in r]
names = list(dict.fromkeys(r["variant"] for r in rows))
if names:
    print(f"\n{'variant':<16} {'C p50 µs':>9} {'WP p50 µs':>9} {'C p99 µs':>9} {'WP p99 µs':>9}  ratio p50 [min–max]")
for n in names:
    c = [r for r in rows if r["variant"] == n and r["side"] == "c"]
    w = [r for r in rows if r["variant"] == n and r["side"] == "wirepath"]
    k = min(len(c), len(w))
    if k == 0:
        print(f"{n:<16} (no complete round)"); continue
    ratios = [w[i]["p50Ns"] / c[i]["p50Ns"] for i in range(k) if c[i]["p50Ns"]]
    med = lambda xs, f: statistics.median(x[f] for x in xs) / 1000
    print(f"{n:<16} {med(c,'p50Ns'):9.2f} {med(w,'p50Ns'):9.2f} {med(c,'p99Ns'):9.2f} {med(w,'p99Ns'):9.2f}  "
          f"{statistics.median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}]  ({k} rounds)")
fnames = list(dict.fromkeys(r["variant"] for r in floods))
if fnames:
    print(f"\n{'flood':<16} {'C Mpps':>9} {'WP Mpps':>9}  ratio WP/C rx pps [min–max]   (goal >= 0.95)")
for n in fnames:
    c = [r["rxPps"] for r in floods if r["variant"] == n and r["side"] == "c"]
    w = [r["rxPps"] for r in floods if r["variant"] == n and r["side"] == "wirepath"]
    k = min(len(c), len(w))
    if k == 0:
        print(f"{n:<16} (no complete round)"); continue
    ratios = [w[i] / c[i] for i in range(k) if c[i]]
    print(f"{n:<16} {statistics.median(c)/1e6:9.3f} {statistics.median(w)/1e6:9.3f}  "
          f"{statistics.median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}]  ({k} rounds)")
PYEOF
