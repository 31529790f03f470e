#!/usr/bin/env bash
# Runs each libFuzzer target (built by `make fuzz-build` into .build-fuzz)
# for SECONDS, starting from the committed seeds in fuzz/corpus/TARGET and
# growing a working corpus in .build-fuzz/corpus/TARGET (never committed).
# Prints executions per second and corpus size per target; exits 1 on any
# finding (a crash, a trap, an ASan report, a leak of memory over the RSS
# limit), with the input saved under .build-fuzz/findings/.
#   fuzz/run.sh SECONDS TARGET...
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: fuzz/run.sh SECONDS TARGET...}; shift
bin=.build-fuzz/release
mkdir -p .build-fuzz/findings
# Swift's own crash reporter would symbolicate for 30 s per finding;
# libFuzzer's report (with ASan's) is the one wanted here. Swift's runtime
# keeps metadata caches for the life of the process: not leaks.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
failed=()
printf '%-12s %10s %10s %8s  %s\n' target "exec/s" runs corpus result
for t in "$@"; do
    exe=$bin/fuzz-$t
    [ -x "$exe" ] || { echo "fuzz/run.sh: $exe missing: run make fuzz-build" >&2; exit 2; }
    work=.build-fuzz/corpus/$t
    mkdir -p "$work" "fuzz/corpus/$t"
    # Per-target limits: the audit and the pcap reader must stay within
    # 512 MiB whatever the input (the audit's bound, docs/capture.md); a
    # whole file may be up to 64 KiB.
    opts=(-rss_limit_mb=2048 -max_len=4096 -timeout=10)
    case $t in
        audit) opts=(-rss_limit_mb=512 -max_len=16384 -timeout=10) ;;
        pcap)  opts=(-rss_limit_mb=512 -max_len=65536 -timeout=10) ;;
    esac
    log=.build-fuzz/fuzz-$t.log
    "$exe" "${opts[@]}" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix=.build-fuzz/findings/$t- "$work" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    rate=$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    corpus=$(ls "$work" | wc -l)
    if [ $rc -eq 0 ]; then result=ok; else result="FINDING (see $log)"; failed+=("$t"); fi
    printf '%-12s %10s %10s %8s  %s\n' "$t" "${rate:-?}" "${runs:-?}" "$corpus" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: findings in ${failed[*]}; the inputs are in .build-fuzz/findings/" >&2
    exit 1
fi
