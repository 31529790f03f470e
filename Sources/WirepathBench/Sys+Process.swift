// Sys+Process.swift — the benchmark's own calls: namespaces, CPU pinning,
// mounts, thread usage, the perf counter and a signal handler's exit, wrapped once (rules in
// WirepathIO/System/Sys.swift).
import CWirepath
import Glibc
import WirepathIO

extension Sys {

    /// For a signal handler: write(2) of `message` to stderr, once (a short
    /// fixed text; no retry, nothing allocated), then _exit(2) with `code`.
    /// Both calls are async-signal-safe; a StaticString is constant data.
    @inline(__always)
    package static func signalSafeExit(_ code: Int32, message: StaticString) -> Never {
        _ = Glibc.write(2, message.utf8Start, message.utf8CodeUnitCount)
        _exit(code)
    }

    /// kill(2) with signal 0: whether process `pid` exists. EPERM means it
    /// does (it belongs to someone else); only ESRCH means it is gone.
    package static func processExists(_ pid: pid_t) -> Bool {
        if case .failure(let e) = retryEINTR({ Int(Glibc.kill(pid, 0)) }), e == .noSuchProcess { return false }
        return true
    }

    /// mount(2) of a pseudo filesystem (`source` of type `type`, no data) at
    /// `target`. Throws EPERM (no CAP_SYS_ADMIN), EBUSY (mounted there
    /// already), ENODEV (the kernel lacks the filesystem).
    package static func mount(_ source: String, at target: String, type: String) throws(PathError) {
        try check(retryEINTR { Int(Glibc.mount(source, target, type, 0, nil)) }, "mount -t \(type) \(source) \(target)")
    }

    /// umount2(2) with MNT_DETACH: the mount leaves the mount table at once,
    /// whoever still holds a file in it.
    package static func detach(_ target: String) throws(PathError) {
        try check(retryEINTR { Int(Glibc.umount2(target, CInt(MNT_DETACH))) }, "umount2(\(target), MNT_DETACH)")
    }

    package static func setns(_ fd: CInt, _ type: CInt) throws(PathError) {
        try check(retryEINTR { Int(wp_setns(fd, type)) }, "setns")
    }

    package static func pinSelf(cpu: Int) throws(PathError) {
        // wp_pin_self returns -errno itself.
        try check(negativeErrno(Int(wp_pin_self(CInt(cpu)))), "sched_setaffinity(cpu \(cpu))")
    }

    package static func threadUsage() -> rusage {
        var ru = rusage()
        // RUSAGE_THREAD (1) is Linux-specific and not exported by Glibc's module.
        let r = getrusage(1, &ru)
        precondition(r == 0, "getrusage(RUSAGE_THREAD) failed")
        return ru
    }

    /// perf_event_open(2) of tracepoint `id` on this thread, disabled:
    /// the counter's descriptor.
    package static func perfTracepointOpen(id: UInt64) throws(PathError) -> CInt {
        CInt(try check(retryEINTR { Int(wp_perf_tracepoint_open(id)) }, "perf_event_open"))
    }

    package static func perfControl(_ fd: CInt, enable: Bool) throws(PathError) {
        try check(retryEINTR { Int(enable ? wp_perf_enable(fd) : wp_perf_disable(fd)) }, "ioctl(PERF_EVENT_IOC_\(enable ? "ENABLE" : "DISABLE"))")
    }
}
