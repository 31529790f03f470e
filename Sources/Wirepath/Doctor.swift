import CLiburing
import CWirepath
import Foundation
import Glibc
import WirepathCapture
import WirepathCore

/// `wirepath doctor`: what this host can run, and why not, with the fix.
/// Every check is a probe of the real kernel (open a ring, a socket, read a
/// sysctl), never a guess from the version alone; the version only names the
/// release a missing feature needs.
public struct DoctorReport: Codable, Sendable {
    public enum State: String, Codable, Sendable {
        case available
        case limited = "available with limits"
        case unavailable
    }

    public struct PathState: Codable, Sendable {
        public var path: PathKind
        public var state: State
        public var reason: String
        public var fix: String?
    }

    public struct Check: Codable, Sendable {
        public var name: String
        public var value: String
        public var ok: Bool
        public var note: String?
    }

    public var schema = "wirepath.doctor/1"
    public var kernel: String
    public var interface: String
    public var paths: [PathState]
    public var checks: [Check]
}

public enum Doctor {
    /// Checks the host for `interface` (nil: the built-in veth topology).
    public static func run(interface: String? = nil) -> DoctorReport {
        var checks: [DoctorReport.Check] = []
        let caps = Privileges.effectiveCapabilities()
        func cap(_ bit: UInt64, _ name: String, _ needed: String) {
            let has = caps & (1 << bit) != 0
            checks.append(.init(name: name, value: has ? "yes" : "no", ok: has, note: has ? nil : "needed for \(needed); run as root"))
        }
        checks.append(.init(name: "kernel", value: HostInfo.kernel, ok: true, note: nil))
        checks.append(.init(name: "euid", value: "\(geteuid())", ok: geteuid() == 0, note: geteuid() == 0 ? nil : "most checks and the built-in topology need root"))
        cap(12, "CAP_NET_ADMIN", "namespaces, veth, XDP attach, SO_BUSY_POLL above busy_read")
        cap(21, "CAP_SYS_ADMIN", "setns into the topology's namespaces, mounting tracefs/bpffs")
        cap(39, "CAP_BPF", "loading the XDP program")
        cap(38, "CAP_PERFMON", "counting syscalls with perf_event_open")
        checks.append(syscallCounterCheck())

        for (key, path) in [("net.core.busy_poll", "/proc/sys/net/core/busy_poll"),
                            ("net.core.busy_read", "/proc/sys/net/core/busy_read")] {
            let v = readTrimmed(path) ?? "unreadable"
            checks.append(.init(name: key, value: v, ok: true,
                                note: v == "0" ? "0: sockets busy-poll only when they set SO_BUSY_POLL (wirepath --busy-poll does)" : nil))
        }
        let dev = interface ?? "veth (built-in)"
        if let interface {
            for knob in ["napi_defer_hard_irqs", "gro_flush_timeout"] {
                let v = readTrimmed("/sys/class/net/\(interface)/\(knob)") ?? "unreadable"
                checks.append(.init(name: "\(interface) \(knob)", value: v, ok: true,
                                    note: knob == "napi_defer_hard_irqs" && v == "0" ? "0: SO_PREFER_BUSY_POLL has nothing to defer" : nil))
            }
        } else {
            checks.append(.init(name: "veth napi_defer_hard_irqs, gro_flush_timeout", value: "0 (new veth)", ok: true,
                                note: "the built-in topology leaves both at 0; --veth-napi turns on NAPI receive (GRO on, TSO off) so busy polling has a NAPI id"))
        }
        checks.append(cpuCheck())
        checks.append(governorCheck())
        checks.append(bpffsCheck())
        checks.append(.init(name: "libpcap capture", value: pcapVersion(), ok: true,
                            note: "--capture FILE records and verifies every path on a middle hop; `wirepath verify FILE` audits a capture"))

        var paths: [DoctorReport.PathState] = []
        let udp = udpProbe()
        for kind in [PathKind.socket, .mmsg] {
            paths.append(udp.map { .init(path: kind, state: .unavailable, reason: $0, fix: "check seccomp/LSM policy for UDP sockets") }
                         ?? .init(path: kind, state: .available, reason: kind == .socket ? "UDP sockets work" : "sendmmsg/recvmmsg (Linux 3.0+)", fix: nil))
        }
        paths.append(uringState())
        paths.append(xdpState(interface: interface))
        return DoctorReport(kernel: HostInfo.kernel, interface: dev, paths: paths, checks: checks)
    }

    static func uringState() -> DoctorReport.PathState {
        if let why = availability(.uring) {
            return .init(path: .uring, state: .unavailable, reason: why,
                         fix: readTrimmed("/proc/sys/kernel/io_uring_disabled").map { $0 == "0" ? "use a kernel with io_uring (6.0+)" : "sysctl kernel.io_uring_disabled=0" })
        }
        // Which opcodes answer: the kernel's own probe (IORING_REGISTER_PROBE).
        var answered: [String] = []
        var missing: [String] = []
        if let probe = io_uring_get_probe() {
            for (op, name) in [(IORING_OP_SENDMSG, "SENDMSG"), (IORING_OP_RECVMSG, "RECVMSG"), (IORING_OP_SEND, "SEND"),
                               (IORING_OP_SEND_ZC, "SEND_ZC"), (IORING_OP_SENDMSG_ZC, "SENDMSG_ZC")] {
                if io_uring_opcode_supported(probe, Int32(op.rawValue)) != 0 { answered.append(name) } else { missing.append(name) }
            }
            io_uring_free_probe(probe)
        }
        let sqpoll = ringProbe(flags: IORING_SETUP_SQPOLL)
        let defer_ = ringProbe(flags: IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN)
        var reason = "opcodes: \(answered.joined(separator: " "))"
        if !missing.isEmpty { reason += "; missing: \(missing.joined(separator: " "))" }
        reason += "; SQPOLL: \(sqpoll ?? "yes"); DEFER_TASKRUN: \(defer_ ?? "yes")"
        // Optional: without it a flood receiver is woken per packet (--uring-batch-wait).
        let minTimeout = ringFeatures().map { $0 & WP_IORING_FEAT_MIN_TIMEOUT != 0 } ?? false
        reason += "; batch wait (IORING_FEAT_MIN_TIMEOUT, 6.12+): \(minTimeout ? "yes" : "no")"
        let limited = !missing.isEmpty || sqpoll != nil || defer_ != nil
        return .init(path: .uring, state: limited ? .limited : .available, reason: reason,
                     fix: limited ? "a 6.1+ kernel has every opcode and flag the uring path uses" : nil)
    }

    /// The features a plain ring reports (IORING_FEAT_*), or nil.
    static func ringFeatures() -> UInt32? {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        defer { ring.deallocate() }
        ring.initialize(to: io_uring())
        var p = io_uring_params()
        guard io_uring_queue_init_params(4, ring, &p) >= 0 else { return nil }
        io_uring_queue_exit(ring)
        return p.features
    }

    /// nil when a ring with `flags` can be created; otherwise the errno name.
    static func ringProbe(flags: UInt32) -> String? {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        defer { ring.deallocate() }
        ring.initialize(to: io_uring())
        var p = io_uring_params()
        p.flags = flags
        let r = io_uring_queue_init_params(4, ring, &p)
        if r < 0 { return "no (\(Sys.errnoName(-r)))" }
        io_uring_queue_exit(ring)
        return nil
    }

    static func xdpState(interface: String?) -> DoctorReport.PathState {
        // AF_XDP = 44; EAFNOSUPPORT means the kernel lacks CONFIG_XDP_SOCKETS.
        let fd = socket(44, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 {
            let e = Glibc.errno
            return .init(path: .xdp, state: .unavailable,
                         reason: e == EAFNOSUPPORT ? "the kernel has no AF_XDP (CONFIG_XDP_SOCKETS)" : "socket(AF_XDP): \(Sys.errnoName(e))",
                         fix: e == EAFNOSUPPORT ? "use a kernel built with CONFIG_XDP_SOCKETS=y" : "run as root (CAP_NET_RAW, CAP_BPF)")
        }
        Sys.close(fd)
        if let why = availability(.xdp) {
            return .init(path: .xdp, state: .unavailable, reason: why, fix: nil)
        }
        let driver = interface.flatMap { driverName($0) } ?? "veth"
        if driver == "veth" {
            return .init(path: .xdp, state: .limited, reason: "copy mode only (veth has no zero-copy); native XDP attach works",
                         fix: "zero-copy needs a NIC whose driver supports AF_XDP zero-copy (e.g. i40e, ice, mlx5)")
        }
        return .init(path: .xdp, state: .available, reason: "AF_XDP sockets work; driver \(driver): zero-copy is tried first and reported by `compare`", fix: nil)
    }

    /// The driver behind an interface in this namespace (ETHTOOL_GDRVINFO).
    static func driverName(_ interface: String) -> String? {
        // /sys/class/net/IF/device/driver is a link to the driver; virtual
        // devices have no device, so ask ethtool's ioctl through the binary.
        guard let out = try? IP.command("ethtool", ["-i", interface]),
              let line = out.split(separator: "\n").first(where: { $0.hasPrefix("driver:") }) else { return nil }
        return line.dropFirst("driver:".count).trimmingCharacters(in: .whitespaces)
    }

    static func udpProbe() -> String? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { return "socket(AF_INET, SOCK_DGRAM): \(Sys.errnoName(Glibc.errno))" }
        Sys.close(fd)
        return nil
    }

    static func syscallCounterCheck() -> DoctorReport.Check {
        switch SyscallTracepoint.id {
        case .failure(let e):
            return .init(name: "syscall counter", value: "unavailable", ok: false, note: e.message)
        case .success(let id):
            let r = Sys.perfTracepointOpen(id: id)
            if r < 0 {
                return .init(name: "syscall counter", value: "unavailable", ok: false,
                             note: "perf_event_open: \(Sys.errnoName(Int32(-r))); needs CAP_PERFMON or kernel.perf_event_paranoid <= 1")
            }
            Sys.close(CInt(r))
            return .init(name: "syscall counter", value: "raw_syscalls:sys_enter (tracepoint id \(id))", ok: true, note: nil)
        }
    }

    static func cpuCheck() -> DoctorReport.Check {
        let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return .init(name: "CPUs", value: "\(n) (\(HostInfo.cpuModel))", ok: n >= 2,
                     note: n >= 2 ? "client on CPU 0, reflector on CPU 1" : "one CPU: client and reflector share it, latency includes scheduling")
    }

    static func governorCheck() -> DoctorReport.Check {
        guard let g = readTrimmed("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") else {
            return .init(name: "CPU frequency governor", value: "not readable", ok: true, note: "no cpufreq here (typical of a VM)")
        }
        return .init(name: "CPU frequency governor", value: g, ok: g == "performance",
                     note: g == "performance" ? nil : "latency varies with frequency; `cpupower frequency-set -g performance` pins it")
    }

    static func bpffsCheck() -> DoctorReport.Check {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        if let line = mounts.split(separator: "\n").first(where: { $0.split(separator: " ").dropFirst(2).first == "bpf" }) {
            return .init(name: "bpffs", value: "mounted at \(line.split(separator: " ")[1])", ok: true, note: nil)
        }
        return .init(name: "bpffs", value: "not mounted", ok: true, note: "not needed: wirepath loads its one XDP program without libxdp's dispatcher (LIBXDP_SKIP_DISPATCHER), so nothing is pinned")
    }

    static func readTrimmed(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The doctor's table for people.
    public static func render(_ r: DoctorReport) -> String {
        var out = TextReport.table([["path", "state", "reason", "fix"]] + r.paths.map {
            [$0.path.rawValue, $0.state.rawValue, $0.reason, $0.fix ?? ""]
        }, rightAlignFrom: 99)
        out += "\n"
        out += TextReport.table([["check", "value", "", "note"]] + r.checks.map {
            [$0.name, $0.value, $0.ok ? "ok" : "!!", $0.note ?? ""]
        }, rightAlignFrom: 99)
        return out
    }
}
