#!/usr/bin/env bash
# sockperf_vs_wirepath.sh — RTT p50 of `sockperf ping-pong` against
# `wirepath pingpong --path socket`, on the same two network namespaces,
# alternately (sockperf, wirepath, sockperf, wirepath, …) in one run.
#
# Prints, per configuration, the median over rounds of each tool's p50 RTT and
# the ratio wirepath_p50_RTT / sockperf_p50_RTT; the goal is ratio <= 1.05.
# sockperf reports one-way latency (RTT/2 per sample), so its figures are
# multiplied by 2. See bench/README.md.
#
# Needs root (network namespaces), sockperf, taskset, python3, iproute2.
# Environment:
#   WIREPATH  wirepath binary        (default: <repo>/.build/release/wirepath)
#   ROUNDS    rounds per config      (default 3; 1-50)
#   DURATION  measured seconds/run   (default 5; whole seconds, 1-600)
#   OUT       output directory       (default: <repo>/bench/out)
#   CLI_CPU / REF_CPU  CPUs for client / reflector (default 0 / 1)
# Exit status: 0 when the comparison ran (PASS or MISS), non-zero on errors.

set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
WIREPATH=${WIREPATH:-$SCRIPT_DIR/../.build/release/wirepath}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
OUT=${OUT:-$SCRIPT_DIR/out}
CLI_CPU=${CLI_CPU:-0}
REF_CPU=${REF_CPU:-1}

GOAL=1.05
SIZE=64                      # UDP payload bytes, both tools
WARMUP=1                     # wirepath --warmup seconds
BUSY_POLL=50                 # µs, config "napi-busypoll"
CLI_NS=wirepath-topo-cli
REF_NS=wirepath-topo-ref
REF_ADDR=198.18.0.2
WP_PORT=7000
SP_PORT=11111

SERVER_PID=
CLIENT_PID=
OWN_TOPO=0                   # 1 while namespaces this script created exist

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

# ---------------------------------------------------------------- cleanup

# Stops one of our background processes by pid: TERM, up to 5 s, then KILL.
stop_pid() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

# Removes the topology this script created. Only our two namespaces are
# deleted, by name (`wirepath topo down` would also sweep other runs' dead
# leftovers, which is not this script's business).
topo_down() {
    local ns pid
    [[ $OWN_TOPO == 1 ]] || return 0
    for ns in "$CLI_NS" "$REF_NS"; do
        ns_exists "$ns" || continue
        # Anything still running inside was started by this script.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do stop_pid "$pid"; done
        ip netns del "$ns" || log "warning: could not delete namespace $ns"
    done
    OWN_TOPO=0
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$CLIENT_PID"; CLIENT_PID=
    stop_pid "$SERVER_PID"; SERVER_PID=
    topo_down
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# ---------------------------------------------------------------- checks

[[ -x $WIREPATH ]] || die "wirepath binary not found at $WIREPATH; run \`make build\` (or set WIREPATH=/path/to/wirepath)"
[[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 50)) || die "ROUNDS must be an integer in 1-50 (got '$ROUNDS')"
[[ $DURATION =~ ^[0-9]+$ ]] && ((DURATION >= 1 && DURATION <= 600)) || die "DURATION must be whole seconds in 1-600 (got '$DURATION'; sockperf -t takes integers)"
[[ $CLI_CPU =~ ^[0-9]+$ && $REF_CPU =~ ^[0-9]+$ ]] || die "CLI_CPU and REF_CPU must be CPU numbers"
((EUID == 0)) || die "needs root (creates network namespaces); run with sudo"
for tool in ip sockperf taskset python3 timeout ss; do
    command -v "$tool" >/dev/null || die "\`$tool\` not found (install with \`make deps\`)"
done
for cpu in "$CLI_CPU" "$REF_CPU"; do
    taskset -c "$cpu" true 2>/dev/null || die "cannot pin to CPU $cpu; set CLI_CPU/REF_CPU to online CPUs"
done
[[ $CLI_CPU != "$REF_CPU" ]] || log "warning: client and reflector share CPU $CLI_CPU"
for ns in "$CLI_NS" "$REF_NS"; do
    ns_exists "$ns" && die "namespace $ns already exists (another run, or a leftover); remove it with \`ip netns del $ns\` (or \`wirepath topo down\`, which removes the topo-up topology and dead runs' leftovers) and retry"
done
mkdir -p "$OUT" || die "cannot create $OUT"
RAW="$OUT/sockperf_vs_wirepath-raw"
rm -rf -- "$RAW" && mkdir -p "$RAW" || die "cannot create $RAW"
SUMMARY="$OUT/sockperf_vs_wirepath.json"
RESULTS="$RAW/results.jsonl"
CONFIGS="$RAW/configs.jsonl"
: >"$RESULTS"; : >"$CONFIGS"

SP_HELP=$(sockperf ping-pong --help 2>&1; sockperf server --help 2>&1)
SP_VERSION=$(sockperf --version 2>&1 | head -n1 | sed 's/\x1b\[[0-9;]*m//g')
WP_VERSION=$("$WIREPATH" --version 2>&1 | head -n1)
SP_HAS_LLS=0
[[ $(grep -c -- '--lls' <<<"$SP_HELP") -ge 2 ]] && SP_HAS_LLS=1   # client and server

# A run is bounded: measured time + warm-up + generous slack.
CLIENT_LIMIT=$((DURATION + WARMUP + 30))
SP_TIME=$((DURATION + WARMUP))   # sockperf -t includes its own ~0.45 s warm-up/tail

# ---------------------------------------------------------------- helpers

PY=$(cat <<'PYEOF'
import json, re, statistics, sys

def sockperf(path):
    text = re.sub(r"\x1b\[[0-9;]*m", "", open(path, errors="replace").read())
    m = re.search(r"percentile\s+50(?:\.0*)?\s*=\s*([0-9]+(?:\.[0-9]+)?)", text)
    if not m:
        sys.exit(f"no 'percentile 50.000 =' line in sockperf output {path}")
    # Default output is one-way ("avg-latency", "Latency is"); --full-rtt
    # would print "avg-rtt" / "Round trip is" and must not be doubled.
    if "Round trip is" in text or "avg-rtt" in text or "Latency is" not in text:
        sys.exit(f"sockperf output {path} is not in one-way latency mode; cannot convert to RTT")
    one_way_us = float(m.group(1))
    v = re.search(r"\[Valid Duration\].*?SentMessages=(\d+);\s*ReceivedMessages=(\d+)", text)
    d = re.search(r"# dropped messages = (\d+)", text)
    obs = re.search(r"Total (\d+) observations", text)
    if v and int(v.group(2)) == 0:
        sys.exit(f"sockperf received no replies ({path})")
    print(json.dumps({
        "p50RttNs": round(one_way_us * 2000),          # one-way µs x 2 -> RTT ns
        "p50OneWayUs": one_way_us,
        "observations": int(obs.group(1)) if obs else None,
        "sent": int(v.group(1)) if v else None,
        "received": int(v.group(2)) if v else None,
        "dropped": int(d.group(1)) if d else None,
    }))

def wirepath(path):
    d = json.load(open(path))
    if d.get("schema") != "wirepath.report/1":
        sys.exit(f"{path}: unexpected schema {d.get('schema')!r}")
    r = d["runs"][0]
    if r.get("status") != "ok":
        sys.exit(f"{path}: wirepath run {r.get('status')}: {r.get('reason')}")
    pp = r["pingpong"]
    lat = pp["latency"]
    if not lat.get("count"):
        sys.exit(f"{path}: no round trips measured")
    refl = pp.get("reflector") or {}
    print(json.dumps({
        "p50RttNs": int(lat["p50Ns"]),
        "observations": lat.get("count"),
        "sent": pp.get("sent"), "received": pp.get("received"), "lost": pp.get("lost"),
        "hadNAPIID": r["options"].get("hadNAPIID"),
        "reflectorNAPIID": refl.get("napiID"),
        "busyPollMicros": r["options"].get("busyPollMicros"),
        "notes": r.get("notes", []),
    }))

def summary(results, configs, out, meta):
    rows = [json.loads(l) for l in open(results) if l.strip()]
    cfgs = [json.loads(l) for l in open(configs) if l.strip()]
    meta = json.loads(meta)
    goal = meta["goalRatio"]
    doc = dict(schema="wirepath.bench.sockperf_vs_wirepath/1", **meta, configs=[])
    for c in cfgs:
        name = c["name"]
        per = {}
        for tool in ("sockperf", "wirepath"):
            rs = [r for r in rows if r["config"] == name and r["tool"] == tool]
            vals = [r["p50RttNs"] for r in rs]
            per[tool] = dict(args=c[tool + "Args"], p50RttNsPerRound=vals,
                             medianP50RttNs=statistics.median(vals) if vals else None, rounds=rs)
        s, w = per["sockperf"]["medianP50RttNs"], per["wirepath"]["medianP50RttNs"]
        ratio = (w / s) if (s and w) else None
        if not c["comparable"]:
            verdict = "NOT-COMPARABLE"
        elif ratio is None:
            verdict = "NO-DATA"
        else:
            verdict = "PASS" if ratio <= goal else "MISS"
        print(f"\n== {name}: {c['description']} ==")
        print(f"{'tool':<9} {'median p50 RTT µs':>17}  per round (p50 RTT µs)  args")
        for tool in ("sockperf", "wirepath"):
            t = per[tool]
            med = "-" if t["medianP50RttNs"] is None else f"{t['medianP50RttNs'] / 1000:.2f}"
            rounds = " ".join(f"{v / 1000:.2f}" for v in t["p50RttNsPerRound"]) or "-"
            print(f"{tool:<9} {med:>17}  {rounds:<23} {t['args']}")
        notes = sorted({n for r in per["wirepath"]["rounds"] for n in r.get("notes", [])})
        napi = {r.get("hadNAPIID") for r in per["wirepath"]["rounds"]}
        if c.get("expectNAPI") and napi != {True}:
            notes.append("wirepath's socket had no NAPI id in some round: busy polling did nothing there")
        for n in notes:
            print(f"note: {n}")
        if c["comparable"]:
            rs = "-" if ratio is None else f"{ratio:.3f}"
            print(f"ratio wirepath/sockperf = {rs}   goal <= {goal}   {verdict}")
        else:
            rs = "" if ratio is None else f" (ratio {ratio:.3f}, information only)"
            print(f"not comparable: {c['reason']}{rs}")
        doc["configs"].append(dict(name=name, description=c["description"], vethNAPI=c["vethNAPI"],
                                   comparable=c["comparable"], reason=c.get("reason"),
                                   sockperf=per["sockperf"], wirepath=per["wirepath"],
                                   ratio=ratio, goalRatio=goal, verdict=verdict, notes=notes))
    with open(out, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"\nsummary: {out}")

cmd = sys.argv[1]
if cmd == "sockperf": sockperf(sys.argv[2])
elif cmd == "wirepath": wirepath(sys.argv[2])
elif cmd == "summary": summary(*sys.argv[2:6])
else: sys.exit(f"unknown helper command {cmd}")
PYEOF
)
py() { python3 -c "$PY" "$@"; }

topo_up() { # [--veth-napi]
    OWN_TOPO=1   # from here on, cleanup removes whatever part exists
    "$WIREPATH" topo up "$@" >"$RAW/topo-up.log" 2>&1 || { cat "$RAW/topo-up.log" >&2; die "wirepath topo up${*:+ $*} failed"; }
    ns_exists "$CLI_NS" && ns_exists "$REF_NS" || die "wirepath topo up did not create $CLI_NS/$REF_NS"
}

# Starts a reflector in the reflector namespace and waits (<= 5 s) until its
# UDP port is bound. Usage: start_server PORT LOG CMD...
start_server() {
    local port=$1 logf=$2 i
    shift 2
    ip netns exec "$REF_NS" taskset -c "$REF_CPU" "$@" >"$logf" 2>&1 &
    SERVER_PID=$!
    for ((i = 0; i < 50; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logf" >&2; die "server exited at start: $*"; }
        [[ -n $(ip netns exec "$REF_NS" ss -Hlun "sport = :$port" 2>/dev/null) ]] && return 0
        sleep 0.1
    done
    cat "$logf" >&2
    die "server did not bind UDP port $port within 5 s: $*"
}

# Runs a client in the client namespace, bounded by CLIENT_LIMIT seconds.
# In the background so a signal reaches the traps at once. Usage: run_client LOG CMD...
run_client() {
    local logf=$1 rc
    shift
    timeout -k 5 "$CLIENT_LIMIT" ip netns exec "$CLI_NS" taskset -c "$CLI_CPU" "$@" >"$logf" 2>&1 &
    CLIENT_PID=$!
    wait "$CLIENT_PID"; rc=$?
    CLIENT_PID=
    return $rc
}

stop_server() { stop_pid "$SERVER_PID"; SERVER_PID=; }

# One round of one tool; appends a result line. Usage: round_sockperf CONFIG ROUND EXTRA_ARGS...
round_sockperf() {
    local cfg=$1 r=$2 res
    shift 2
    local logf="$RAW/$cfg-r$r-sockperf.txt"
    start_server "$SP_PORT" "$RAW/$cfg-r$r-sockperf-server.txt" \
        sockperf server -i "$REF_ADDR" -p "$SP_PORT" "$@"
    run_client "$logf" sockperf ping-pong -i "$REF_ADDR" -p "$SP_PORT" -t "$SP_TIME" -m "$SIZE" "$@"
    local rc=$?
    stop_server
    ((rc == 0)) || { tail -n 20 "$logf" >&2; die "sockperf ping-pong failed (exit $rc), see $logf"; }
    res=$(py sockperf "$logf") || die "could not read sockperf's p50 from $logf"
    printf '{"config":"%s","round":%d,"tool":"sockperf",%s\n' "$cfg" "$r" "${res#\{}" >>"$RESULTS"
    log "  round $r sockperf: p50 one-way $(py_field "$res" p50OneWayUs) µs -> RTT $(py_us "$res") µs"
}

round_wirepath() {
    local cfg=$1 r=$2 res
    shift 2
    local logf="$RAW/$cfg-r$r-wirepath.txt" jsonf="$RAW/$cfg-r$r-wirepath.json"
    start_server "$WP_PORT" "$RAW/$cfg-r$r-wirepath-server.txt" \
        "$WIREPATH" serve --path socket --bind "$REF_ADDR:$WP_PORT" "$@"
    run_client "$logf" "$WIREPATH" pingpong --peer "$REF_ADDR:$WP_PORT" --path socket --size "$SIZE" \
        --duration "$DURATION" --warmup "$WARMUP" --json "$jsonf" --quiet "$@"
    local rc=$?
    stop_server
    ((rc == 0)) || { tail -n 20 "$logf" >&2; die "wirepath pingpong failed (exit $rc), see $logf"; }
    res=$(py wirepath "$jsonf") || die "could not read wirepath's p50 from $jsonf"
    printf '{"config":"%s","round":%d,"tool":"wirepath",%s\n' "$cfg" "$r" "${res#\{}" >>"$RESULTS"
    log "  round $r wirepath: p50 RTT $(py_us "$res") µs"
}

py_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
py_us() { python3 -c 'import json,sys; print("%.2f" % (json.loads(sys.argv[1])["p50RttNs"] / 1000))' "$1"; }

# Usage: run_config NAME VETH_NAPI(0|1) COMPARABLE(true|false) REASON DESCRIPTION
#        -- SOCKPERF_ARGS... -- WIREPATH_ARGS...
run_config() {
    local name=$1 napi=$2 comparable=$3 reason=$4 desc=$5 r
    shift 5
    [[ $1 == -- ]] || die "run_config: bad arguments"
    shift
    local -a sp_args=() wp_args=()
    while (($#)) && [[ $1 != -- ]]; do sp_args+=("$1"); shift; done
    (($#)) && shift
    wp_args=("$@")
    log "== $name: $desc"
    if ((napi)); then topo_up --veth-napi; else topo_up; fi
    python3 -c 'import json,sys; a=sys.argv; print(json.dumps(dict(name=a[1], vethNAPI=a[2]=="1", expectNAPI=a[2]=="1" and "--busy-poll" in a[7], comparable=a[3]=="true", reason=a[4] or None, description=a[5], sockperfArgs=a[6], wirepathArgs=a[7])))' \
        "$name" "$napi" "$comparable" "$reason" "$desc" "${sp_args[*]:-}" "${wp_args[*]:-}" >>"$CONFIGS"
    for ((r = 1; r <= ROUNDS; r++)); do
        round_sockperf "$name" "$r" "${sp_args[@]}"
        round_wirepath "$name" "$r" "${wp_args[@]}"
    done
    topo_down
}

# ---------------------------------------------------------------- run

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "sockperf vs wirepath: $ROUNDS round(s) x ${DURATION}s, payload $SIZE B, client CPU $CLI_CPU, reflector CPU $REF_CPU"
log "wirepath $WP_VERSION ($WIREPATH); $SP_VERSION"

# (a) default veth, blocking receive on both sides.
run_config default 0 true "" "default veth, blocking recv, no busy polling" \
    -- -- 

# (b) veth NAPI mode (GRO on, TSO off) with SO_BUSY_POLL on both tools.
if ((SP_HAS_LLS)); then
    run_config napi-busypoll 1 true "" \
        "veth NAPI mode (GRO on, TSO off), blocking recv, SO_BUSY_POLL ${BUSY_POLL} µs both ends (neither sets SO_PREFER_BUSY_POLL)" \
        -- --lls "$BUSY_POLL" -- --busy-poll "$BUSY_POLL"
else
    run_config napi-busypoll 1 false \
        "this sockperf has no busy-poll option (--lls); sockperf ran without busy polling, wirepath with --busy-poll $BUSY_POLL" \
        "veth NAPI mode (GRO on, TSO off); wirepath busy-poll ${BUSY_POLL} µs vs sockperf plain" \
        -- -- --busy-poll "$BUSY_POLL"
fi

META=$(python3 -c 'import json,sys; a=sys.argv; print(json.dumps(dict(startedAt=a[1], rounds=int(a[2]), durationSeconds=int(a[3]), payloadBytes=int(a[4]), clientCPU=int(a[5]), reflectorCPU=int(a[6]), goalRatio=float(a[7]), wirepath=dict(binary=a[8], version=a[9]), sockperf=dict(version=a[10], timeArgSeconds=int(a[11]), p50Conversion="one-way p50 x 2"), kernel=a[12], rawDir=a[13])))' \
    "$STARTED" "$ROUNDS" "$DURATION" "$SIZE" "$CLI_CPU" "$REF_CPU" "$GOAL" "$WIREPATH" "$WP_VERSION" \
    "$SP_VERSION" "$SP_TIME" "$(uname -r)" "$RAW") || die "could not build summary metadata"
py summary "$RESULTS" "$CONFIGS" "$SUMMARY" "$META" || die "could not write the summary"
exit 0
