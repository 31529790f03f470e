#!/usr/bin/env bash
# alloc_check.sh — proves the data path allocates nothing and does no ARC
# traffic per packet: counts malloc, swift_retain and swift_release with
# perf uprobes over two runs of each path that differ only in packet count.
# If the counts do not grow with the packets, the per-packet loop is clean.
# Ping-pong (client and reflector, block and spin) and flood (sender and
# sink, packets counted as round trips are: N1 and N2 of them).
#
# Needs root and linux-perf. Environment: WIREPATH (default: release build),
# N1/N2 round trips (default 2000/6000). Exit 0 when every path is clean,
# 1 when one allocates per packet, 2 on errors.
set -uo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
WIREPATH=${WIREPATH:-$SCRIPT_DIR/../.build/release/wirepath}
N1=${N1:-2000}
N2=${N2:-12000}
[[ -x $WIREPATH ]] || { echo "error: $WIREPATH not found; run \`make build\`" >&2; exit 2; }
command -v perf >/dev/null || { echo "error: perf not found; run \`make deps\` (linux-perf)" >&2; exit 2; }
LIBC=$(ldd "$WIREPATH" | grep -o '/[^ ]*libc.so.6' | head -1)
SWIFTCORE=$(ldd "$WIREPATH" | grep -o '/[^ ]*libswiftCore.so' | head -1)
# perf mounts tracefs at /sys/kernel/tracing for its probes when it is not
# mounted, and leaves it: take it down again if it was not there before.
TRACEFS_WAS_MOUNTED=0
findmnt -n /sys/kernel/tracing >/dev/null 2>&1 && TRACEFS_WAS_MOUNTED=1
cleanup() {
    perf probe -q -d 'probe_libc:malloc' -d 'probe_libswiftCore:*' 2>/dev/null || true
    if [[ $TRACEFS_WAS_MOUNTED == 0 ]] && findmnt -n /sys/kernel/tracing >/dev/null 2>&1; then
        umount /sys/kernel/tracing 2>/dev/null || umount -l /sys/kernel/tracing 2>/dev/null || true
    fi
}
trap cleanup EXIT
perf probe -q -x "$LIBC" malloc 2>/dev/null || true
perf probe -q -x "$SWIFTCORE" swift_retain 2>/dev/null || true
perf probe -q -x "$SWIFTCORE" swift_release 2>/dev/null || true
EVENTS=probe_libc:malloc,probe_libswiftCore:swift_retain,probe_libswiftCore:swift_release

count() { # path n wait measurement [flags...] -> "malloc retain release"
    timeout 120 perf stat -x, -e "$EVENTS" "$WIREPATH" "$4" --path "$1" --count "$2" --wait "$3" --warmup 0 --timeout 1000 --quiet "${@:5}" 2>&1 >/dev/null \
        | awk -F, '/probe/ {printf "%s ", $1}'
}

status=0
printf '%-12s %-28s %-28s %s\n' path "calls at $N1 RTT/pkt" "calls at $N2 RTT/pkt" "per extra RTT or packet (malloc retain release)"
# block sleeps in the kernel; spin polls, so every empty poll is a counted EAGAIN.
# STAGES=1 adds the ping-pong with --stages (docs/stages.md). Its counts
# grow with N (about 0.09 malloc per extra RTT from 2000 to 12000) but
# sublinearly (+888 mallocs for 2000->12000, +373 for 12000->32000, socket,
# spin): the eight stage .hgrm texts of the result get longer as the
# histograms fill, which this two-point rule cannot tell from a per-packet
# allocation, so those rows are opt-in until the rule takes three points.
STAGE_ROWS=""; [[ ${STAGES:-0} == 1 ]] && STAGE_ROWS="socket:stages mmsg:stages uring:stages xdp:stages"
for path in socket mmsg uring xdp socket:spin mmsg:spin uring:spin xdp:spin \
            socket:flood mmsg:flood uring:flood xdp:flood socket:gso mmsg:gso uring:gso $STAGE_ROWS; do
    wait=block; [[ $path == *:spin ]] && wait=spin
    m=pingpong; [[ $path == *:flood || $path == *:gso ]] && m=flood
    # GSO sends and GRO receives (docs/gso-gro.md): veth coalesces with NAPI.
    extra=(); [[ $path == *:gso ]] && extra=(--gso 16 --gro --veth-napi)
    [[ $path == *:stages ]] && extra=(--stages --size 72)
    p=${path%%:*}
    a=($(count $p $N1 $wait $m "${extra[@]}")); b=($(count $p $N2 $wait $m "${extra[@]}"))
    if [[ ${#a[@]} -ne 3 || ${#b[@]} -ne 3 ]]; then printf '%-12s unavailable or failed\n' $path; continue; fi
    per=""
    for i in 0 1 2; do
        d=$(( b[i] - a[i] ))
        per+=$(awk -v d=$d -v n=$((N2 - N1)) 'BEGIN { printf "%.3f ", d / n }')
        # The control plane (ip, argument parsing, pipes) varies by a few
        # dozen calls between runs; a per-packet cost adds thousands.
        (( d * 10 > N2 - N1 )) && status=1
    done
    printf '%-12s %-28s %-28s %s\n' $path "${a[*]}" "${b[*]}" "$per"
done
[[ $status -eq 0 ]] && echo "clean: no allocation or retain/release per packet" || echo "NOT clean: see the per-RTT column"
exit $status
