import CLiburing
import CWirepath
import Foundation
import Glibc
import WirepathCapture
import WirepathIO
import WirepathModel
import WirepathUring
import WirepathXDP

/// `wirepath doctor`: what this host can run, and why not, with the fix.
/// Every check is a probe of the real kernel (open a ring, a socket, read a
/// sysctl, ask netlink what a device's driver supports, open the device
/// with libpcap), never a guess from the version or the driver's name; the
/// version only names the release a missing feature needs. The built-in
/// topology is probed on a veth the doctor makes for the purpose and removes.
public enum Doctor {
    /// Checks the host for `interface` (nil: the built-in veth topology,
    /// probed on a temporary veth in a `wirepath-<pid>-doctor` namespace
    /// that is removed before this returns, also after SIGINT/SIGTERM).
    /// `holdNs` keeps that namespace a while after the probes (for the test
    /// that interrupts a doctor), ending early on a signal.
    public static func run(interface: String? = nil, holdNs: UInt64 = 0) -> DoctorReport {
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
        checks += sandboxChecks()

        for (key, path) in [("net.core.busy_poll", "/proc/sys/net/core/busy_poll"),
                            ("net.core.busy_read", "/proc/sys/net/core/busy_read")] {
            let v = readTrimmed(path) ?? "unreadable"
            checks.append(.init(name: key, value: v, ok: true,
                                note: v == "0" ? "0: sockets busy-poll only when they set SO_BUSY_POLL (wirepath --busy-poll does)" : nil))
        }
        checks.append(cpuCheck())
        checks.append(governorCheck())

        // The device: the one named, or a veth made as the topology makes
        // its own, probed and removed at once.
        var probe: DeviceProbe?
        var probeFailure: String?
        var offload: [DoctorReport.Check]?
        var ipv6: [DoctorReport.Check]?
        // Read while the device exists (the probe veth goes at once).
        var scaling: [DoctorReport.Check] = []
        let dev: String
        if let interface {
            dev = interface
            probe = DeviceProbe.run(interface: interface, captureInterface: interface, namespace: nil)
            offload = offloadChecks(interface: interface, namespace: nil)
            ipv6 = ipv6Checks(interface: interface, namespace: nil)
            scaling = scalingChecks(interface, namespace: nil)
        } else {
            let started = Sys.monotonicNanos()
            do {
                let veth = try DoctorVeth.up()
                defer { veth.down() }
                dev = "\(DoctorVeth.interface) (a temporary veth in \(veth.namespace), made as the built-in topology makes it, then removed)"
                if !Interrupt.requested {
                    probe = DeviceProbe.run(interface: DoctorVeth.interface, captureInterface: DoctorVeth.capturePort,
                                            namespace: veth.namespace, dispatcher: true)
                    offload = offloadChecks(interface: DoctorVeth.interface, namespace: veth.namespace)
                    ipv6 = ipv6Checks(interface: DoctorVeth.interface, namespace: veth.namespace)
                    scaling = scalingChecks(DoctorVeth.interface, namespace: veth.namespace)
                }
                let probed = Sys.monotonicNanos()
                let end = probed + holdNs
                while !Interrupt.requested && Sys.monotonicNanos() < end { Sys.sleep(nanos: 10_000_000) }
                let removing = Sys.monotonicNanos()
                veth.down()
                let ms = (probed - started + Sys.monotonicNanos() - removing) / 1_000_000
                checks.append(.init(name: "probe veth", value: "\(DoctorVeth.interface)/\(DoctorVeth.capturePort) in \(veth.namespace)", ok: true,
                                    note: "made, probed and removed in \(ms) ms"))
            } catch {
                dev = "veth (built-in; not probed)"
                probeFailure = "\(error)"
            }
        }
        checks += deviceChecks(probe, failure: probeFailure)
        checks += offload ?? offloadChecks(interface: nil, namespace: nil)
        checks += ipv6 ?? ipv6Checks(interface: nil, namespace: nil)
        checks += scaling

        var paths: [DoctorReport.PathState] = []
        let udp = udpProbe()
        for kind in [PathKind.socket, .mmsg] {
            paths.append(udp.map { .init(path: kind, state: .unavailable, reason: $0, fix: "check seccomp/LSM policy for UDP sockets") }
                         ?? .init(path: kind, state: .available, reason: kind == .socket ? "UDP sockets work" : "sendmmsg/recvmmsg (Linux 3.0+)", fix: nil))
        }
        paths.append(uringState())
        paths.append(xdpState(probe))
        let device = probe.map { p in
            DoctorReport.Device(name: p.interface, namespace: p.namespace, driver: p.driver,
                                xdpFeatures: (try? p.features.get())?.list, xdpZeroCopyMaxSegments: (try? p.features.get())?.zeroCopyMaxSegments,
                                captureInterface: p.captureInterface, pcapOpens: { if case .success = p.pcap { true } else { false } }())
        }
        return DoctorReport(kernel: HostInfo.kernel, interface: dev, device: device, paths: paths, checks: checks)
    }

    /// The checks that come from the probed device: its driver, its XDP
    /// features, its busy-poll knobs, libpcap, bpffs and the dispatcher.
    static func deviceChecks(_ probe: DeviceProbe?, failure: String?) -> [DoctorReport.Check] {
        var checks: [DoctorReport.Check] = []
        guard let p = probe else {
            checks.append(.init(name: "probe veth", value: "not made", ok: false,
                                note: failure.map { "\($0); the device checks below were not run" } ?? "interrupted"))
            checks.append(bpffsCheck())
            return checks
        }
        let where_ = p.namespace.map { " in \($0)" } ?? ""
        checks.append(.init(name: "\(p.interface) driver", value: p.driver.name, ok: true,
                            note: p.driver.known ? "from \(p.driver.source)" : p.driver.detail))
        switch p.features {
        case .success(let f):
            checks.append(.init(name: "\(p.interface) XDP features", value: f.summary, ok: true,
                                note: "netdev netlink (NETDEV_CMD_DEV_GET): native XDP \(f.native ? "yes" : "no (generic/skb mode only)"), redirect \(f.redirect ? "yes" : "no"), XSK zero-copy \(f.zeroCopy ? "yes" + (f.zeroCopyMaxSegments.map { " (max \($0) segments)" } ?? "") : "no")"))
        case .failure(let e):
            checks.append(.init(name: "\(p.interface) XDP features", value: "not reported", ok: false, note: e.description))
        }
        switch p.timestamping {
        case .success(let t):
            checks.append(.init(name: "\(p.interface) timestamping", value: t.summary, ok: true,
                                note: "ethtool -T (ETHTOOL_GET_TS_INFO): --stages needs software stamps; --stages hw needs hardware ones" + (t.hardware ? "" : ", which this device has not")))
        case .failure(let e):
            checks.append(.init(name: "\(p.interface) timestamping", value: "not reported", ok: false, note: e.description))
        }
        for (knob, value) in p.knobs {
            checks.append(.init(name: "\(p.interface) \(knob)", value: value ?? "unreadable", ok: true,
                                note: knob == "napi_defer_hard_irqs" && value == "0" ? "0: SO_PREFER_BUSY_POLL has nothing to defer" + (p.namespace != nil ? "; --veth-napi turns on NAPI receive (GRO on, TSO off) so busy polling has a NAPI id" : "") : nil))
        }
        switch p.pcap {
        case .success(let warning):
            checks.append(.init(name: "libpcap open \(p.captureInterface)", value: "opens (\(pcapVersion()))", ok: true,
                                note: (warning.map { "\($0); " } ?? "") + "pcap_create + pcap_activate\(where_) worked; --capture FILE records and verifies every path there"))
        case .failure(let e):
            checks.append(.init(name: "libpcap open \(p.captureInterface)", value: "fails (\(pcapVersion()))", ok: false,
                                note: e.description + (e.hint == nil ? "; --capture cannot record on this interface" : "")))
        }
        checks.append(bpffsCheck())
        checks.append(dispatcherCheck(p.dispatcher))
        checks.append(bpfLinkCheck(p.dispatcher?.bpfLink))
        return checks
    }

    /// libxdp's multi-program dispatcher: what wirepath does without it, and
    /// what the probe found.
    static func dispatcherCheck(_ d: DispatcherProbe?) -> DoctorReport.Check {
        let why = "wirepath does not use it: it attaches its one XDP program directly (LIBXDP_SKIP_DISPATCHER), so it needs no bpffs and pins nothing"
        guard let d else {
            return .init(name: "libxdp dispatcher", value: "not probed", ok: true,
                         note: "\(why); the doctor attaches nothing to an interface it did not create")
        }
        return .init(name: "libxdp dispatcher", value: d.outcome, ok: true, note: "\(d.detail); \(why)")
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
        do throws(PathError) { try Sys.uringQueueInit(4, ring, &p) } catch { return "no (\(Sys.errnoName(error.errno)))" }
        Sys.uringQueueExit(ring)
        return nil
    }

    static func xdpState(_ probe: DeviceProbe?) -> DoctorReport.PathState {
        // EAFNOSUPPORT means the kernel lacks CONFIG_XDP_SOCKETS.
        do throws(PathError) { try Sys.probeAFXDP() } catch {
            let e = error.errno
            return .init(path: .xdp, state: .unavailable,
                         reason: e == .addressFamilyNotSupported ? "the kernel has no AF_XDP (CONFIG_XDP_SOCKETS)" : "socket(AF_XDP): \(Sys.errnoName(e))",
                         fix: e == .addressFamilyNotSupported ? "use a kernel built with CONFIG_XDP_SOCKETS=y" : "run as root (CAP_NET_RAW, CAP_BPF)")
        }
        if let why = availability(.xdp) {
            return .init(path: .xdp, state: .unavailable, reason: why, fix: nil)
        }
        guard let probe else {
            return .init(path: .xdp, state: .available, reason: "AF_XDP sockets work; the device was not probed, so the attach mode and zero-copy are unknown (`compare` reports what it got)", fix: nil)
        }
        return xdpState(interface: probe.interface, driver: probe.driver, features: probe.features)
    }

    /// The xdp path's state from what the kernel reported for the device.
    static func xdpState(interface: String, driver: DriverIdentity, features: Result<XDPFeatures, PathError>) -> DoctorReport.PathState {
        let who = driver.phrase(interface)
        let zcFix = "zero-copy needs a NIC whose driver supports AF_XDP zero-copy (e.g. i40e, ice, mlx5, virtio_net on 6.11+)"
        switch features {
        case .success(let f):
            let native = f.native ? "native XDP: yes" : "native XDP: no (generic/skb mode only: --xdp-attach skb)"
            let facts = "\(native); redirect: \(f.redirect ? "yes" : "no"); XSK zero-copy: \(f.zeroCopy ? "yes" : "no")"
            if !f.native {
                return .init(path: .xdp, state: .limited, reason: "copy mode only, generic (skb) attach (\(who) has no native XDP and no zero-copy); \(facts)",
                             fix: "run with --xdp-attach skb here; \(zcFix)")
            }
            if !f.redirect {
                // The XDP program hands frames to the socket with
                // bpf_redirect_map into an XSKMAP: without native redirect
                // only the generic hook can do it.
                return .init(path: .xdp, state: .limited, reason: "copy mode only, generic (skb) attach (\(who) runs XDP natively but cannot redirect, which AF_XDP needs); \(facts)",
                             fix: "run with --xdp-attach skb here; \(zcFix)")
            }
            if !f.zeroCopy {
                return .init(path: .xdp, state: .limited, reason: "copy mode only (\(who) has no zero-copy); \(facts)", fix: zcFix)
            }
            return .init(path: .xdp, state: .available, reason: "zero-copy (\(who)); \(facts)", fix: nil)
        case .failure(let e):
            let why = e.errno == .noSuchFileOrDirectory
                ? "this kernel has no netdev netlink family (Linux 6.3+), so \(who)'s XDP features were not probed"
                : "the kernel did not report \(who)'s XDP features (\(e.operation): \(e.errnoName))"
            // What is known without asking: veth has native XDP and no zero-copy.
            if driver.name == "veth" {
                return .init(path: .xdp, state: .limited, reason: "copy mode only (veth has no zero-copy: known for veth); \(why)", fix: zcFix)
            }
            return .init(path: .xdp, state: .available, reason: "AF_XDP sockets work; \(why): zero-copy is tried first and `compare` reports which mode it got", fix: nil)
        }
    }

    static func udpProbe() -> String? {
        do {
            Sys.close(try Sys.udpSocket(nonBlocking: false))
            return nil
        } catch {
            return error.description
        }
    }

    static func syscallCounterCheck() -> DoctorReport.Check {
        switch SyscallTracepoint.id {
        case .failure(let e):
            return .init(name: "syscall counter", value: "unavailable", ok: false, note: e.message)
        case .success(let id):
            let fd: CInt
            do throws(PathError) { fd = try Sys.perfTracepointOpen(id: id) } catch {
                return .init(name: "syscall counter", value: "unavailable", ok: false,
                             note: "perf_event_open: \(Sys.errnoName(error.errno)); needs CAP_PERFMON or kernel.perf_event_paranoid <= 1")
            }
            Sys.close(fd)
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
        return .init(name: "bpffs", value: "not mounted", ok: true, note: "wirepath does not need it; libxdp's dispatcher does (to pin to /sys/fs/bpf)")
    }

    static func readTrimmed(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
