import CWirepath
import Foundation
import Glibc
import WirepathCore

/// Counts a thread's syscalls with the kernel's `raw_syscalls:sys_enter`
/// tracepoint (perf_event_open, counting mode), independently of what a path
/// says it did, and its CPU time and context switches with
/// getrusage(RUSAGE_THREAD). Must be created and used on the measured thread.
struct CostMeter: ~Copyable {
    private let perfFD: CInt
    private let unavailable: String?
    private var startUsage = rusage()
    private var startWall: UInt64 = 0

    init() {
        switch SyscallTracepoint.id {
        case .success(let id):
            let r = Sys.perfTracepointOpen(id: id)
            if r < 0 {
                perfFD = -1
                let e = Int32(-r)
                unavailable = "perf_event_open(raw_syscalls:sys_enter): \(Sys.errnoName(e)); needs root or CAP_PERFMON, or kernel.perf_event_paranoid <= 1"
            } else {
                perfFD = CInt(r)
                unavailable = nil
            }
        case .failure(let reason):
            perfFD = -1
            unavailable = reason.message
        }
    }

    deinit { if perfFD >= 0 { Sys.close(perfFD) } }

    var syscallsAvailable: Bool { perfFD >= 0 }

    /// Starts the window. The ENABLE ioctl enters the kernel before the
    /// counter is on, so it is not counted.
    mutating func start() {
        startUsage = Sys.threadUsage()
        startWall = Sys.monotonicNanos()
        if perfFD >= 0 {
            _ = wp_perf_reset(perfFD)
            try? Sys.perfControl(perfFD, enable: true)
        }
    }

    /// Ends the window. The DISABLE ioctl is counted (its sys_enter fires while
    /// the counter is on), so one syscall is subtracted.
    mutating func stop() -> ThreadCost {
        var syscalls: UInt64?
        if perfFD >= 0 {
            try? Sys.perfControl(perfFD, enable: false)
            var value: UInt64 = 0
            let r = Sys.read(perfFD, &value, 8)
            if r == 8 { syscalls = value > 0 ? value - 1 : 0 }
        }
        let wall = Sys.monotonicNanos() - startWall
        let end = Sys.threadUsage()
        func ns(_ tv: timeval) -> UInt64 { UInt64(tv.tv_sec) * 1_000_000_000 + UInt64(tv.tv_usec) * 1000 }
        return ThreadCost(
            syscalls: syscalls,
            syscallsUnavailable: syscalls == nil ? (unavailable ?? "perf counter read failed") : nil,
            userNs: ns(end.ru_utime) &- ns(startUsage.ru_utime),
            systemNs: ns(end.ru_stime) &- ns(startUsage.ru_stime),
            voluntaryContextSwitches: UInt64(end.ru_nvcsw &- startUsage.ru_nvcsw),
            involuntaryContextSwitches: UInt64(end.ru_nivcsw &- startUsage.ru_nivcsw),
            wallNs: wall)
    }
}

/// The id of the `raw_syscalls:sys_enter` tracepoint, from tracefs. Mounts
/// tracefs at /sys/kernel/tracing when it is not mounted yet.
enum SyscallTracepoint {
    static let description = "raw_syscalls:sys_enter tracepoint via perf_event_open, per thread"

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
        // tracefs may not be mounted (the brief says so): mount it once.
        if mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nil) != 0 {
            let e = Glibc.errno
            return .failure(ConfigError("tracefs not mounted and mount failed (\(Sys.errnoName(e))); run as root or `mount -t tracefs tracefs /sys/kernel/tracing`"))
        }
        if let v = readID() { return .success(v) }
        return .failure(ConfigError("raw_syscalls:sys_enter tracepoint not found in tracefs; the kernel needs CONFIG_FTRACE_SYSCALLS"))
    }()
}

/// Reads a small text file (procfs, sysfs) without Foundation's file APIs.
func readSmallFile(_ path: String) throws(PathError) -> String {
    let fd = try Sys.open(path, flags: O_RDONLY)
    defer { Sys.close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { Sys.read(fd, $0.baseAddress!, $0.count) }
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

