// Sys+Process.swift — the benchmark's own calls: namespaces, CPU pinning,
// mounts, thread usage and the perf counter, wrapped once (rules in
// WirepathIO/System/Sys.swift).
import CWirepath
import Glibc
import WirepathIO

extension Sys {

    /// kill(2) with signal 0: whether process `pid` exists. EPERM means it
    /// does (it belongs to someone else); only ESRCH means it is gone.
    package static func processExists(_ pid: pid_t) -> Bool {
        let r = retryEINTR { Int(Glibc.kill(pid, 0)) }
        return r != -Int(ESRCH)
    }

    /// mount(2) of a pseudo filesystem (`source` of type `type`, no data) at
    /// `target`. Returns 0 or -errno (EPERM: no CAP_SYS_ADMIN; EBUSY:
    /// mounted there already; ENODEV: the kernel lacks the filesystem).
    package static func mount(_ source: String, at target: String, type: String) -> Int {
        retryEINTR { Int(Glibc.mount(source, target, type, 0, nil)) }
    }

    package static func setns(_ fd: CInt, _ type: CInt) throws(PathError) {
        let r = retryEINTR { Int(wp_setns(fd, type)) }
        _ = try check(r, "setns")
    }

    package static func pinSelf(cpu: Int) throws(PathError) {
        let r = Int(wp_pin_self(CInt(cpu)))
        _ = try check(r, "sched_setaffinity(cpu \(cpu))")
    }

    package static func threadUsage() -> rusage {
        var ru = rusage()
        // RUSAGE_THREAD (1) is Linux-specific and not exported by Glibc's module.
        let r = getrusage(1, &ru)
        precondition(r == 0, "getrusage(RUSAGE_THREAD) failed")
        return ru
    }

    package static func perfTracepointOpen(id: UInt64) -> Int {
        retryEINTR { Int(wp_perf_tracepoint_open(id)) }
    }

    package static func perfControl(_ fd: CInt, enable: Bool) throws(PathError) {
        let r = retryEINTR { Int(enable ? wp_perf_enable(fd) : wp_perf_disable(fd)) }
        _ = try check(r, "ioctl(PERF_EVENT_IOC_\(enable ? "ENABLE" : "DISABLE"))")
    }
}
