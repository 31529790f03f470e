// Sys+Time.swift — time, threads and /proc, wrapped once (rules in Sys.swift).
import CWirepath
import Glibc

extension Sys {
    // MARK: Time and threads

    /// clock_nanosleep(2) on CLOCK_MONOTONIC for `nanos`. The deadline is
    /// absolute (TIMER_ABSTIME), so a retry after EINTR sleeps only what is
    /// left. The only handlers Wirepath installs are SIGINT's and SIGTERM's
    /// (`Interrupt`, in WirepathBench): once one has run (`ProcessStop`) the
    /// sleep ends early, so teardown never waits for it. clock_nanosleep
    /// returns the error number itself.
    package static func sleep(nanos: UInt64) {
        let end = monotonicNanos() &+ nanos
        var deadline = timespec(tv_sec: Int(end / 1_000_000_000), tv_nsec: Int(end % 1_000_000_000))
        _ = retryEINTR(returnsNegativeErrno: true, unless: { ProcessStop.requested }) {
            -Int(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nil))
        }
    }

    /// gettid(2): the calling thread's id.
    package static func threadID() -> Int32 { Int32(wp_gettid()) }

    /// The CPU time, in ns, that thread `tid` of this process has run:
    /// clock_gettime(2) on its per-thread CPU clock (the clock id glibc's
    /// pthread_getcpuclockid builds: `(~tid << 3) | CPUCLOCK_SCHED |
    /// CPUCLOCK_PERTHREAD`), which reads the scheduler's sum_exec_runtime,
    /// current slice included. Falls back to the first field of
    /// /proc/self/task/TID/schedstat (the same runtime, updated at ticks).
    /// nil when the thread is gone.
    package static func threadCPUNanos(_ tid: Int32) -> UInt64? {
        var ts = timespec()
        let clock = clockid_t((~Int32(tid)) << 3 | 6)
        if clock_gettime(clock, &ts) == 0 {
            return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
        }
        guard let text = try? readSmallFile("/proc/self/task/\(tid)/schedstat"),
              let first = text.split(separator: " ").first else { return nil }
        return UInt64(first)
    }

    /// The names in a directory, without "." and ".." (opendir(3)/readdir(3)).
    /// Empty when it cannot be opened.
    package static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// CLOCK_MONOTONIC in ns (vDSO; no syscall).
    @inline(__always)
    package static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
