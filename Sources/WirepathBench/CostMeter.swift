import CWirepath
import Foundation
import Glibc
import WirepathIO
import WirepathModel

/// Measures one thread's cost over a window: CPU time and context switches
/// with getrusage(RUSAGE_THREAD), and, when asked, its syscalls with the
/// kernel's `raw_syscalls:sys_enter` tracepoint (perf_event_open, counting
/// mode, this thread only), independently of what the path says it did.
///
/// Why syscalls are counted in their own window: attaching anything to the
/// sys_enter tracepoint switches every thread on the host to the slow syscall
/// entry path, from perf_event_open until close. On this kind of VM that added
/// about 6 µs to a 22 µs socket round trip. So latency and CPU are measured
/// with no tracepoint attached, and the counter exists only while a separate,
/// shorter window runs. Must be used on the measured thread.
///
/// Kernel threads: an io_uring SQPOLL thread does the submitting (and the
/// sends) that the measured thread no longer makes syscalls for. If this
/// thread created such a ring, its `iou-sqp-TID` thread is found at `start`,
/// and its CPU time over the window is added to the cost
/// (`ThreadCost.kernelThreadNs`), so that the syscalls it saves do not look free.
struct CostMeter: ~Copyable {
    private var perfFD: CInt = -1
    private var unavailable: String?
    private var startUsage = rusage()
    private var startWall: UInt64 = 0
    private var kernelThread: KernelThread?
    private var kernelThreadStartNs: UInt64 = 0

    init() {}

    deinit { if perfFD >= 0 { Sys.close(perfFD) } }

    /// Starts a window. With `countSyscalls`, opens the tracepoint counter; its
    /// ENABLE ioctl enters the kernel before the counter is on, so it is not counted.
    mutating func start(countSyscalls: Bool) {
        closeCounter()
        unavailable = nil
        // Before the counter opens: the look-up's own syscalls are not the path's.
        kernelThread = KernelThread.sqpoll(createdBy: Sys.threadID())
        if let k = kernelThread { kernelThreadStartNs = Sys.threadCPUNanos(k.tid) ?? 0 }
        if countSyscalls { openCounter() }
        startUsage = Sys.threadUsage()
        startWall = Sys.monotonicNanos()
        if perfFD >= 0 { try? Sys.perfControl(perfFD, enable: true) }
    }

    private mutating func openCounter() {
        switch SyscallTracepoint.enabled ? SyscallTracepoint.id : .failure(ConfigError("syscall counting turned off (WIREPATH_NO_SYSCALL_COUNT)")) {
        case .success(let id):
            do throws(PathError) { perfFD = try Self.withPerfmon { () throws(PathError) in try Sys.perfTracepointOpen(id: id) } } catch {
                unavailable = "perf_event_open(raw_syscalls:sys_enter): \(Sys.errnoName(error.errno)); needs root or CAP_PERFMON, or kernel.perf_event_paranoid <= 1"
            }
        case .failure(let reason):
            unavailable = reason.message
        }
    }

    /// Runs `body` (the perf_event_open) with CAP_PERFMON effective. On a
    /// sandboxed data thread it is permitted but not effective (issue 12):
    /// raised for this one call and lowered at once, so the thread runs its
    /// measured window without it. Enabling, reading and closing an open
    /// counter need no capability (perf_ioctl and perf_read check none:
    /// verified on Linux 6.18 with an empty CapEff, while a second
    /// perf_event_open there fails with EACCES). Where the thread holds it
    /// effective already (`--sandbox off`) or not at all (an ordinary user),
    /// its sets are left alone.
    private static func withPerfmon<T>(_ body: () throws(PathError) -> T) throws(PathError) -> T {
        let perfmon = DataSandbox.capPerfmon
        guard let caps = try? Sys.threadCapabilities(), caps.effective & perfmon == 0, caps.permitted & perfmon != 0,
              (try? Sys.setEffectiveCapabilities(caps.effective | perfmon)) != nil
        else { return try body() }
        defer {
            // Lowering within the permitted set cannot fail but for a bug;
            // were it to, the window would run with CAP_PERFMON.
            do throws(PathError) { try Sys.setEffectiveCapabilities(caps.effective) } catch {
                preconditionFailure("lowering CAP_PERFMON after perf_event_open: \(error)")
            }
        }
        return try body()
    }

    /// True while the tracepoint counter is open.
    var counting: Bool { perfFD >= 0 }

    /// Closes the counter before the window ends (a reflector's cap on how
    /// long a remote window may keep the host on the slow syscall path);
    /// `stop` then reports the syscalls as unavailable, for `reason`.
    mutating func abandonCounter(_ reason: String) {
        guard perfFD >= 0 else { return }
        closeCounter()
        unavailable = reason
    }

    private mutating func closeCounter() {
        if perfFD >= 0 { Sys.close(perfFD); perfFD = -1 }
    }

    /// Ends the window and closes the counter. The DISABLE ioctl is counted
    /// (its sys_enter fires while the counter is on), so one is subtracted.
    mutating func stop() -> ThreadCost {
        var syscalls: UInt64?
        if perfFD >= 0 {
            try? Sys.perfControl(perfFD, enable: false)
            var value: UInt64 = 0
            let r = try? Sys.read(perfFD, &value, 8)
            if r == 8 { syscalls = value > 0 ? value - 1 : 0 } else { unavailable = "perf counter read failed" }
        }
        let wall = Sys.monotonicNanos() - startWall
        let end = Sys.threadUsage()
        let kernelThreadEndNs = kernelThread.flatMap { Sys.threadCPUNanos($0.tid) }
        closeCounter()
        func ns(_ tv: timeval) -> UInt64 { UInt64(tv.tv_sec) * 1_000_000_000 + UInt64(tv.tv_usec) * 1000 }
        var cost = ThreadCost(
            syscalls: syscalls,
            syscallsUnavailable: syscalls == nil ? (unavailable ?? "not counted in this window") : nil,
            userNs: ns(end.ru_utime) &- ns(startUsage.ru_utime),
            systemNs: ns(end.ru_stime) &- ns(startUsage.ru_stime),
            voluntaryContextSwitches: UInt64(end.ru_nvcsw &- startUsage.ru_nvcsw),
            involuntaryContextSwitches: UInt64(end.ru_nivcsw &- startUsage.ru_nivcsw),
            wallNs: wall)
        if let k = kernelThread {
            cost.extraThreads = [k.name]
            // A thread that exited within the window (its ring closed) ran at
            // least until its last reading; count what was seen.
            cost.kernelThreadNs = (kernelThreadEndNs ?? kernelThreadStartNs) &- kernelThreadStartNs
        }
        return cost
    }
}

/// The id of the `raw_syscalls:sys_enter` tracepoint, from tracefs. When no
/// tracefs is mounted, it mounts one on a private temporary directory, reads
/// the id and detaches it at once: nothing host-wide is left mounted (an
/// earlier version mounted /sys/kernel/tracing and left it there).
public enum SyscallTracepoint {
    static let description = "raw_syscalls:sys_enter tracepoint via perf_event_open, per thread, in a separate window after the latency/throughput window"
    /// Off only for measuring the counter's own overhead.
    nonisolated(unsafe) public static var enabled = ProcessInfo.processInfo.environment["WIREPATH_NO_SYSCALL_COUNT"] == nil

    static let id: Result<UInt64, ConfigError> = {
        let candidates = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        func readID() -> UInt64? {
            for dir in candidates {
                if let text = try? readSmallFile("\(dir)/events/raw_syscalls/sys_enter/id"),
                   let v = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return v }
            }
            return nil
        }
        if let v = readID() { return .success(v) }
        // tracefs may not be mounted: mount it privately, read, detach.
        var template = Array("/tmp/wirepath-tracefs-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            return .failure(ConfigError("tracefs not mounted, and no temporary directory to mount it on (mkdtemp: \(Sys.errnoName(Errno(rawValue: errno)))); mount it with `mount -t tracefs tracefs /sys/kernel/tracing`"))
        }
        let dir = String(cString: made)
        defer { rmdir(dir) }
        do throws(PathError) { try Sys.mount("tracefs", at: dir, type: "tracefs") } catch {
            return .failure(ConfigError("tracefs not mounted and mount failed (\(Sys.errnoName(error.errno))); run as root or `mount -t tracefs tracefs /sys/kernel/tracing`"))
        }
        let text = try? readSmallFile("\(dir)/events/raw_syscalls/sys_enter/id")
        try? Sys.detach(dir)
        if let text, let v = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return .success(v) }
        return .failure(ConfigError("raw_syscalls:sys_enter tracepoint not found in tracefs; the kernel needs CONFIG_FTRACE_SYSCALLS"))
    }()
}
