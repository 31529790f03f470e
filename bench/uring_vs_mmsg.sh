#!/usr/bin/env bash
# uring_vs_mmsg.sh — flood throughput of wirepath's uring path against its
# mmsg path, measured in the same run on the same topology, and what each
# costs in syscalls per packet at both ends.
#
# Each round is one `wirepath compare --paths mmsg,uring --measurements flood`
# (the order alternates between rounds, so drift in the machine hits both
# paths alike): both paths flood on one built-in topology that wirepath makes
# and removes. Two variants run, round by round:
#   default  the uring path as it comes (DEFER_TASKRUN, sends with CQE_SKIP_SUCCESS)
#   sqpoll   uring with --uring-sqpoll: the sending thread should make next to
#            no syscalls; the SQPOLL thread's CPU is shown beside that figure
# Prints, per variant, the median over rounds of each path's received pps,
# the ratio uring/mmsg and syscalls per packet at the sender and the
# receiver. Goal (reported, not asserted): ratio >= 1.0. See bench/README.md.
#
# Needs root (network namespaces), python3, iproute2, timeout.
# Environment:
#   WIREPATH     wirepath binary           (default: <repo>/.build/release/wirepath)
#   ROUNDS       rounds per variant        (default 3; 1-20)
#   DURATION     flood seconds per path    (default 2; whole seconds, 1-60)
#   BATCH        packets per send call     (default 32; 1-1024)
#   SQPOLL_IDLE  sq_thread_idle ms, sqpoll (default 1000)
#   OUT          output directory          (default: <repo>/bench/out)
# Exit status: 0 when the comparison ran (PASS or MISS), non-zero on errors.

set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
WIREPATH=${WIREPATH:-$SCRIPT_DIR/../.build/release/wirepath}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-2}
BATCH=${BATCH:-32}
SQPOLL_IDLE=${SQPOLL_IDLE:-1000}
OUT=${OUT:-$SCRIPT_DIR/out}

GOAL=1.0                     # uring rx pps / mmsg rx pps
SIZE=64                      # UDP payload bytes

CHILD_PID=
OWN_PIDS=()                  # every wirepath this script started

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

# ---------------------------------------------------------------- cleanup

# Stops one of our background processes by pid: TERM (wirepath then removes
# its namespaces itself), up to 5 s, then KILL.
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

# Removes what a wirepath this script started left behind (it only can after
# a KILL): the namespaces named after its pid, wirepath-PID-*, and no others,
# so runs and tests of other people are left alone. An interrupted run's pid
# is read from the pid file.
sweep_namespaces() {
    local pid ns
    [[ -n ${RAW:-} && -s $RAW/pid ]] && OWN_PIDS+=("$(cat "$RAW/pid")")
    for pid in "${OWN_PIDS[@]}"; do
        for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^wirepath-${pid}-" || true); do
            ip netns del "$ns" && log "removed leftover namespace $ns" || log "warning: could not delete namespace $ns"
        done
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$CHILD_PID"; CHILD_PID=
    sweep_namespaces
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# ---------------------------------------------------------------- checks

[[ -x $WIREPATH ]] || die "wirepath binary not found at $WIREPATH; run \`make build\` (or set WIREPATH=/path/to/wirepath)"
[[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 20)) || die "ROUNDS must be an integer in 1-20 (got '$ROUNDS')"
[[ $DURATION =~ ^[0-9]+$ ]] && ((DURATION >= 1 && DURATION <= 60)) || die "DURATION must be whole seconds in 1-60 (got '$DURATION')"
[[ $BATCH =~ ^[0-9]+$ ]] && ((BATCH >= 1 && BATCH <= 1024)) || die "BATCH must be an integer in 1-1024 (got '$BATCH')"
[[ $SQPOLL_IDLE =~ ^[0-9]+$ ]] && ((SQPOLL_IDLE >= 1 && SQPOLL_IDLE <= 60000)) || die "SQPOLL_IDLE must be ms in 1-60000 (got '$SQPOLL_IDLE')"
((EUID == 0)) || die "needs root (wirepath creates network namespaces); run with sudo"
for tool in ip python3 timeout; do
    command -v "$tool" >/dev/null || die "\`$tool\` not found (install with \`make deps\`)"
done
mkdir -p "$OUT" || die "cannot create $OUT"
RAW="$OUT/uring_vs_mmsg-raw"
rm -rf -- "$RAW" && mkdir -p "$RAW" || die "cannot create $RAW"
SUMMARY="$OUT/uring_vs_mmsg.json"
RESULTS="$RAW/results.jsonl"
: >"$RESULTS"
WP_VERSION=$("$WIREPATH" --version 2>/dev/null || echo unknown)
# One compare: topology, two floods with their syscall windows, control;
# a generous bound that still ends a hung run.
LIMIT=$((DURATION * 4 + 60))

PY=$(cat <<'PYEOF'
import json, re, statistics, sys

def cost(end, key):
    return ((end or {}).get("cost") or {}).get(key)

def round_(path, variant, rnd, order):
    d = json.load(open(path))
    if d.get("schema") != "wirepath.report/1":
        sys.exit(f"{path}: unexpected schema {d.get('schema')!r}")
    out = dict(variant=variant, round=int(rnd), order=order)
    for r in d["runs"]:
        if r.get("status") != "ok":
            sys.exit(f"{path}: {r['path']}: {r.get('status')}: {r.get('reason')}")
        f = r.get("flood")
        if not f:
            sys.exit(f"{path}: {r['path']}: no flood result")
        s, rc = f["sender"], f.get("receiver") or {}
        out[r["path"]] = dict(
            rxPps=f["rxPps"], txPps=f["txPps"], sent=f["sent"], received=f["received"], lost=f["lost"],
            txSyscallsPerPacket=cost(s, "syscallsPerPacket"), rxSyscallsPerPacket=cost(rc, "syscallsPerPacket"),
            txCpuNsPerPacket=cost(s, "cpuNsPerPacket"), rxCpuNsPerPacket=cost(rc, "cpuNsPerPacket"),
            txSqpollThreadNsPerPacket=cost(s, "kernelThreadNsPerPacket"),
            rxSqpollThreadNsPerPacket=cost(rc, "kernelThreadNsPerPacket"),
            txPacketsPerCall=s.get("txPacketsPerCall"), rxPacketsPerCall=rc.get("rxPacketsPerCall"),
            txSqpollWakeups=s.get("sqpollWakeups"), rxSqpollWakeups=rc.get("sqpollWakeups"),
            multishotRearms=rc.get("multishotRearms"), rxErrnos=rc.get("errnos"),
            notes=r.get("notes", []))
    for p in ("mmsg", "uring"):
        if p not in out:
            sys.exit(f"{path}: no {p} run")
    print(json.dumps(out))

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def fmt(x, digits=3, scale=1.0):
    return "-" if x is None else f"{x / scale:.{digits}f}"

def summary(results, out, meta):
    rows = [json.loads(l) for l in open(results) if l.strip()]
    meta = json.loads(meta)
    goal = meta["goalRatio"]
    doc = dict(schema="wirepath.bench.uring_vs_mmsg/1", **{k: x for k, x in meta.items() if k != "variants"}, variants=[])
    for v in meta["variants"]:
        name = v["name"]
        rs = [r for r in rows if r["variant"] == name]
        per = {}
        for p in ("mmsg", "uring"):
            keys = ("rxPps", "txPps", "txSyscallsPerPacket", "rxSyscallsPerPacket", "txCpuNsPerPacket",
                    "rxCpuNsPerPacket", "txSqpollThreadNsPerPacket", "rxSqpollThreadNsPerPacket", "lost")
            per[p] = {"median" + k[0].upper() + k[1:]: med([r[p][k] for r in rs]) for k in keys}
            per[p]["rxPpsPerRound"] = [r[p]["rxPps"] for r in rs]
        ratios = [r["uring"]["rxPps"] / r["mmsg"]["rxPps"] if r["mmsg"]["rxPps"] else None for r in rs]
        ratio = med(ratios)
        verdict = "NO-DATA" if ratio is None else ("PASS" if ratio >= goal else "MISS")
        u_tx, m_tx = per["uring"]["medianTxSyscallsPerPacket"], per["mmsg"]["medianTxSyscallsPerPacket"]
        sys_verdict = "NO-DATA" if u_tx is None or m_tx is None else ("PASS" if u_tx <= m_tx else "MISS")
        print(f"\n== {name}: {v['description']} ==")
        print(f"{'path':<6} {'median rx Mpps':>14}  {'per round (rx Mpps)':<26} {'sys/pkt tx':>10} {'sys/pkt rx':>10} "
              f"{'CPU ns/pkt tx':>13} {'CPU ns/pkt rx':>13}  sqpoll thread ns/pkt tx, rx")
        for p in ("mmsg", "uring"):
            t = per[p]
            rounds = " ".join(fmt(x, 3, 1e6) for x in t["rxPpsPerRound"])
            sq = "-" if t["medianTxSqpollThreadNsPerPacket"] is None and t["medianRxSqpollThreadNsPerPacket"] is None else \
                f"{fmt(t['medianTxSqpollThreadNsPerPacket'], 0)}, {fmt(t['medianRxSqpollThreadNsPerPacket'], 0)}"
            print(f"{p:<6} {fmt(t['medianRxPps'], 3, 1e6):>14}  {rounds:<26} {fmt(t['medianTxSyscallsPerPacket'], 4):>10} "
                  f"{fmt(t['medianRxSyscallsPerPacket'], 4):>10} {fmt(t['medianTxCpuNsPerPacket'], 0):>13} "
                  f"{fmt(t['medianRxCpuNsPerPacket'], 0):>13}  {sq}")
        rr = " ".join(fmt(x, 3) for x in ratios)
        print(f"ratio uring/mmsg rx pps = {fmt(ratio)} (per round: {rr})   goal >= {goal}   {verdict}")
        print(f"sender syscalls/pkt: uring {fmt(u_tx, 4)} vs mmsg {fmt(m_tx, 4)} at batch {meta['batch']}   "
              f"(uring no more than mmsg: {sys_verdict})")
        if v.get("sqpoll"):
            print(f"SQPOLL: the uring sender made {fmt(u_tx, 4)} syscalls/pkt, and its SQPOLL thread used "
                  f"{fmt(per['uring']['medianTxSqpollThreadNsPerPacket'], 0)} ns CPU/pkt (included in CPU ns/pkt tx)")
        # Thread names and ids differ between rounds; the notes do not otherwise.
        notes = sorted({re.sub(r"iou-sqp-\d+, TID \d+", "iou-sqp-N, TID N", n) for r in rs for n in r["uring"].get("notes", [])})
        for n in notes:
            print(f"note: {n}")
        doc["variants"].append(dict(name=name, description=v["description"], args=v["args"], rounds=rs,
                                    mmsg=per["mmsg"], uring=per["uring"], ratioPerRound=ratios, ratio=ratio,
                                    goalRatio=goal, verdict=verdict,
                                    senderSyscallsPerPacket=dict(uring=u_tx, mmsg=m_tx, uringNoMoreThanMmsg=sys_verdict),
                                    notes=notes))
    with open(out, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"\nsummary: {out}")

def progress(line):
    d = json.loads(line)
    m, u = d["mmsg"]["rxPps"], d["uring"]["rxPps"]
    ratio = f"{u / m:.3f}" if m else "-"
    print(f"  round {d['round']} {d['variant']} ({d['order']}): mmsg {m / 1e6:.3f} Mpps, uring {u / 1e6:.3f} Mpps, ratio {ratio}")

cmd = sys.argv[1]
if cmd == "round": round_(*sys.argv[2:6])
elif cmd == "progress": progress(sys.argv[2])
elif cmd == "summary": summary(*sys.argv[2:5])
else: sys.exit(f"unknown helper command {cmd}")
PYEOF
)
py() { python3 -c "$PY" "$@"; }

# One round of one variant. Usage: run_round VARIANT ROUND ORDER EXTRA_ARGS...
run_round() {
    local variant=$1 r=$2 order=$3 rc res
    shift 3
    local logf="$RAW/$variant-r$r.txt" jsonf="$RAW/$variant-r$r.json"
    # wirepath names its namespaces after its own pid, which is not
    # timeout's: the shell writes its pid, then becomes wirepath.
    : >"$RAW/pid"
    timeout -k 5 "$LIMIT" bash -c 'echo $$ >"$0"; exec "$@"' "$RAW/pid" \
        "$WIREPATH" compare --paths "$order" --measurements flood \
        --flood-duration "$DURATION" --warmup 0 --batch "$BATCH" --size "$SIZE" \
        --json "$jsonf" "$@" >"$logf" 2>&1 &
    CHILD_PID=$!
    wait "$CHILD_PID"; rc=$?
    CHILD_PID=
    [[ -s $RAW/pid ]] && OWN_PIDS+=("$(cat "$RAW/pid")")
    sweep_namespaces
    ((rc == 0)) || { tail -n 20 "$logf" >&2; die "wirepath compare failed (exit $rc), see $logf"; }
    res=$(py round "$jsonf" "$variant" "$r" "$order") || die "could not read $jsonf"
    printf '%s\n' "$res" >>"$RESULTS"
    py progress "$res" >&2
}

# ---------------------------------------------------------------- run

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "uring vs mmsg flood: $ROUNDS round(s) x ${DURATION}s per path, batch $BATCH, payload $SIZE B; $WP_VERSION ($WIREPATH)"
for ((r = 1; r <= ROUNDS; r++)); do
    # Alternate which path floods first.
    if ((r % 2)); then order=mmsg,uring; else order=uring,mmsg; fi
    run_round default "$r" "$order"
    run_round sqpoll "$r" "$order" "--uring-sqpoll=$SQPOLL_IDLE"
done

META=$(python3 -c 'import json,sys; a=sys.argv; print(json.dumps(dict(startedAt=a[1], rounds=int(a[2]), durationSeconds=int(a[3]), batch=int(a[4]), payloadBytes=int(a[5]), goalRatio=float(a[6]), wirepath=dict(binary=a[7], version=a[8]), kernel=a[9], rawDir=a[10], ratio="uring rx pps / mmsg rx pps, per round, median over rounds", variants=[dict(name="default", sqpoll=False, args="", description="uring as it comes (SINGLE_ISSUER|DEFER_TASKRUN, sends with CQE_SKIP_SUCCESS) vs mmsg"), dict(name="sqpoll", sqpoll=True, args="--uring-sqpoll=" + a[11], description="uring with SQPOLL (sq_thread_idle " + a[11] + " ms, sends from owned slots) vs mmsg")])))' \
    "$STARTED" "$ROUNDS" "$DURATION" "$BATCH" "$SIZE" "$GOAL" "$WIREPATH" "$WP_VERSION" "$(uname -r)" "$RAW" "$SQPOLL_IDLE") \
    || die "could not build summary metadata"
py summary "$RESULTS" "$SUMMARY" "$META" || die "could not write the summary"
exit 0
