import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathCapture
import WirepathIO
import WirepathModel
import WirepathUring
import WirepathXDP

/// The XDP features the kernel reports for one device:
/// NETDEV_A_DEV_XDP_FEATURES (NETDEV_XDP_ACT_* bits) and, for a zero-copy
/// driver on 6.6+, NETDEV_A_DEV_XDP_ZC_MAX_SEGS.
public struct XDPFeatures: Codable, Sendable, Equatable {
    public var bits: UInt64
    public var zeroCopyMaxSegments: UInt32?

    public init(bits: UInt64, zeroCopyMaxSegments: UInt32? = nil) {
        self.bits = bits
        self.zeroCopyMaxSegments = zeroCopyMaxSegments
    }

    /// The names `ynl`/`xdp-loader features` print, in bit order.
    static let names: [(UInt64, String)] = [
        (WP_NETDEV_XDP_ACT_BASIC, "basic"), (WP_NETDEV_XDP_ACT_REDIRECT, "redirect"),
        (WP_NETDEV_XDP_ACT_NDO_XMIT, "ndo-xmit"), (WP_NETDEV_XDP_ACT_XSK_ZEROCOPY, "xsk-zerocopy"),
        (WP_NETDEV_XDP_ACT_HW_OFFLOAD, "hw-offload"), (WP_NETDEV_XDP_ACT_RX_SG, "rx-sg"),
        (WP_NETDEV_XDP_ACT_NDO_XMIT_SG, "ndo-xmit-sg"),
    ]

    /// "basic" in the features means the driver runs XDP programs itself
    /// (native mode); without it only generic (skb) mode attaches.
    public var native: Bool { bits & WP_NETDEV_XDP_ACT_BASIC != 0 }
    /// XDP_REDIRECT in native mode, which AF_XDP needs (the program
    /// redirects into an XSKMAP).
    public var redirect: Bool { bits & WP_NETDEV_XDP_ACT_REDIRECT != 0 }
    public var zeroCopy: Bool { bits & WP_NETDEV_XDP_ACT_XSK_ZEROCOPY != 0 }

    public var list: [String] { Self.names.filter { bits & $0.0 != 0 }.map(\.1) }
    public var summary: String { list.isEmpty ? "none (0x0)" : "\(list.joined(separator: " ")) (0x\(String(bits, radix: 16)))" }
}

/// What the doctor learned about the interface a run would use.
struct DeviceProbe {
    var interface: String
    var namespace: String?
    var captureInterface: String
    var driver: DriverIdentity
    var features: Result<XDPFeatures, PathError>
    var pcap: Result<String?, CaptureError>
    /// napi_defer_hard_irqs and gro_flush_timeout, from the device's sysfs.
    var knobs: [(String, String?)]
    var dispatcher: DispatcherProbe?
    /// `ethtool -T`: the device's timestamping capabilities (--stages).
    var timestamping: Result<TimestampingCapabilities, PathError> = .failure(PathError(operation: "ETHTOOL_GET_TS_INFO", errno: .invalidArgument, hint: "not probed"))

    /// Probes `interface` (and libpcap on `captureInterface`) in `namespace`,
    /// or in this thread's namespace when nil.
    static func run(interface: String, captureInterface: String, namespace: String?,
                    dispatcher: Bool = false) -> DeviceProbe {
        // Netlink, ioctl and packet sockets belong to the network namespace
        // of the thread that opens them, so these run on a thread inside it.
        typealias InNS = (Result<String, PathError>, Result<XDPFeatures, PathError>, Result<String?, CaptureError>, Result<TimestampingCapabilities, PathError>)
        let inNamespace = { () -> InNS in
            let ethtool = Result { () throws(PathError) in try Sys.interfaceDriver(interface) }
            let index = Sys.interfaceIndex(interface)
            let features: Result<XDPFeatures, PathError> = index == 0
                ? .failure(PathError(operation: "if_nametoindex(\(interface))", errno: .noSuchDevice))
                : Result { () throws(PathError) in try Sys.netdevXDPFeatures(ifindex: index) }.map {
                    XDPFeatures(bits: $0.xdp_features, zeroCopyMaxSegments: $0.has_zc_max_segs != 0 ? $0.zc_max_segs : nil)
                }
            let pcap: Result<String?, CaptureError> = Result { () throws(CaptureError) -> String? in try pcapProbeOpen(captureInterface) }
            let stamps = Result { () throws(PathError) in try Sys.interfaceTimestamping(interface) }.map { TimestampingCapabilities(bits: $0.capabilities, phcIndex: $0.phcIndex) }
            return (ethtool, features, pcap, stamps)
        }
        let threadFailure = { (e: Error) -> InNS in
            let pe = e as? PathError ?? PathError(operation: "entering \(namespace ?? "")", errno: .invalidArgument, errnoName: "\(e)")
            return (.failure(pe), .failure(pe), .failure(CaptureError("entering \(namespace ?? "")", "\(e)")), .failure(pe))
        }
        let (ethtool, features, pcap, stamps): InNS
        if let namespace {
            do {
                (ethtool, features, pcap, stamps) = try OSThread(name: "doctor", netns: namespace, cpu: nil, inNamespace).join()
            } catch {
                (ethtool, features, pcap, stamps) = threadFailure(error)
            }
        } else {
            (ethtool, features, pcap, stamps) = inNamespace()
        }
        let (sys, kind, linkType) = readSysfs(interface, namespace: namespace)
        let driver = DriverIdentity.identify(sysfsDriver: sys["driver"], ethtool: ethtool, kind: kind, linkType: linkType)
        return DeviceProbe(interface: interface, namespace: namespace, captureInterface: captureInterface, driver: driver,
                           features: features, pcap: pcap,
                           knobs: [("napi_defer_hard_irqs", sys["napi_defer_hard_irqs"]),
                                   ("gro_flush_timeout", sys["gro_flush_timeout"])],
                           dispatcher: dispatcher ? DispatcherProbe.run(interface: interface, namespace: namespace) : nil,
                           timestamping: stamps)
    }

    /// The device's driver link and busy-poll knobs from sysfs, and its
    /// link kind ("veth", "bridge"; none for lo or a NIC) and link type
    /// ("ether", "loopback") from `ip -d -j link show`. A sysfs mount shows
    /// the devices of the namespace it was mounted in, not the reading
    /// thread's, so for another namespace the reads go through `ip netns
    /// exec`, which mounts that namespace's sysfs: one exec for all of them.
    static func readSysfs(_ interface: String, namespace: String?) -> (values: [String: String], kind: String?, linkType: String?) {
        let dir = "/sys/class/net/\(interface)"
        var values: [String: String] = [:]
        var linkJSON: String?
        if let ns = namespace {
            let script = "d=/sys/class/net/$1; l=$(readlink $d/device/driver 2>/dev/null); echo \"driver=${l##*/}\"; " +
                "for k in napi_defer_hard_irqs gro_flush_timeout; do echo \"$k=$(cat $d/$k 2>/dev/null)\"; done; " +
                "echo \"link=$(ip -d -j link show dev $1)\""
            let out = (try? IP.command("ip", ["netns", "exec", ns, "sh", "-c", script, "sh", interface])) ?? ""
            for line in out.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                let v = String(line[line.index(after: eq)...])
                if line[..<eq] == "link" { linkJSON = v } else if !v.isEmpty { values[String(line[..<eq])] = v }
            }
        } else {
            if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/device/driver") {
                values["driver"] = URL(fileURLWithPath: link).lastPathComponent
            }
            for k in ["napi_defer_hard_irqs", "gro_flush_timeout"] { values[k] = Doctor.readTrimmed("\(dir)/\(k)") }
            linkJSON = try? IP.command("ip", ["-d", "-j", "link", "show", "dev", interface])
        }
        guard let json = linkJSON,
              let links = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]],
              let link = links.first else { return (values, nil, nil) }
        let kind = (link["linkinfo"] as? [String: Any])?["info_kind"] as? String
        return (values, kind, link["link_type"] as? String)
    }
}

/// The doctor's own veth, made as the built-in topology makes its client
/// end and its capture port, so that the probes ask the kernel about the
/// same kind of device instead of assuming:
///
///     wirepath-<pid>-doctor
///       wpc0 <== veth ==> wpwc0 --[ bridge wpbr0 ]
///       (xdp path)        (where --capture listens)
///
/// One namespace, named like a run's (so `Topology.sweepStale` removes it if
/// this process dies), owned here: `down()` and `deinit` remove it, which
/// deletes the veth pair and the bridge and detaches anything attached.
final class DoctorVeth {
    /// The names the built-in topology gives these devices.
    static let interface = "wpc0"
    static let capturePort = "wpwc0"
    static let bridge = "wpbr0"

    let namespace: String
    private var isUp = false

    private init(namespace: String) { self.namespace = namespace }

    static func up(tag: String = "\(getpid())") throws -> DoctorVeth {
        try Privileges.requireNetAdmin(for: "the doctor's temporary veth")
        let v = DoctorVeth(namespace: "\(Topology.prefix)\(tag)-doctor")
        if Topology.list().contains(v.namespace) {
            // Its pid is ours, so the stale sweep keeps it: a doctor of an
            // earlier process that had this pid and was killed left it.
            throw ConfigError("namespace \(v.namespace) already exists: left over from a killed doctor whose pid this process now has; remove it with `ip netns del \(v.namespace)` and run doctor again")
        }
        v.isUp = true
        do {
            try IP.run(["netns", "add", v.namespace])
            // One `ip -batch` for the devices: each process costs tens of ms
            // from Foundation's Process here. One queue per direction, as
            // the topology makes them; the bridge as its middle hop has it.
            try IP.command("ip", ["-n", v.namespace, "-batch", "-"], input: """
                link add \(interface) numtxqueues 1 numrxqueues 1 type veth peer name \(capturePort) numtxqueues 1 numrxqueues 1
                link add \(bridge) type bridge stp_state 0 forward_delay 0
                link set \(capturePort) master \(bridge) up
                link set \(bridge) up
                link set \(interface) up

                """)
        } catch {
            v.down()
            throw error
        }
        return v
    }

    /// Removes the namespace (and so everything in it). Idempotent.
    func down() {
        guard isUp else { return }
        isUp = false
        if Topology.list().contains(namespace) { try? IP.run(["netns", "del", namespace]) }
    }

    deinit { down() }
}

/// Whether libxdp could put its multi-program dispatcher on the doctor's
/// own veth. Wirepath itself never uses it (LIBXDP_SKIP_DISPATCHER: see
/// `XDPLibrary`), so this only tells whether other libxdp tools would share
/// the interface with it.
///
/// The dispatcher pins to a bpffs, and mounting one on the host would leave
/// state behind for other users of this machine. So the probe runs on a
/// thread of its own inside the doctor's namespace, which unshares its mount
/// namespace (every mount private, so nothing propagates to the host) and
/// mounts a fresh bpffs at /sys/fs/bpf there. The pins live in that bpffs,
/// which goes when the thread exits; the program goes with the namespace.
struct DispatcherProbe {
    /// "loaded", "not loaded" or "not probed".
    var outcome: String
    var detail: String
    /// Whether wirepath's program attaches through a BPF link on the probe
    /// veth (`linkProbe`): nil when not probed.
    var bpfLink: Result<Void, PathError>?

    static func run(interface: String, namespace: String?) -> DispatcherProbe {
        guard let namespace else {
            return .init(outcome: "not probed", detail: "the doctor attaches nothing to an interface it did not create")
        }
        let objectPath: String
        switch XDPObject.locate(nil) {
        case .failure(let e): return .init(outcome: "not probed", detail: e.message)
        case .success(let p): objectPath = p
        }
        // libxdp reads LIBXDP_SKIP_DISPATCHER at each attach. Cleared and
        // restored here, while the doctor's own threads are idle (the probe
        // thread starts after and ends before), as setenv is not thread-safe.
        XDPLibrary.prepare()
        unsetenv("LIBXDP_SKIP_DISPATCHER")
        defer { setenv("LIBXDP_SKIP_DISPATCHER", "1", 1) }
        do {
            return try OSThread(name: "doctor-xdp", netns: namespace, cpu: nil) { () -> DispatcherProbe in
                probe(interface: interface, objectPath: objectPath)
            }.join()
        } catch {
            return .init(outcome: "not probed", detail: "\(error)")
        }
    }

    private static func probe(interface: String, objectPath: String) -> DispatcherProbe {
        do throws(PathError) { try Sys.unsharePrivateMounts() } catch {
            return .init(outcome: "not probed", detail: "unshare(CLONE_NEWNS): \(Sys.errnoName(error.errno)); a private bpffs needs CAP_SYS_ADMIN")
        }
        do throws(PathError) { try Sys.mountBPFFS("/sys/fs/bpf") } catch {
            return .init(outcome: "not probed", detail: "mount -t bpf (private): \(Sys.errnoName(error.errno))")
        }
        let ifindex = Int32(Sys.interfaceIndex(interface))
        let prog: OpaquePointer
        do throws(PathError) { prog = try Sys.xdpProgramOpen(objectPath, section: "xdp") } catch {
            return .init(outcome: "not probed", detail: "xdp_program__open_file(\(objectPath)): \(Sys.errnoName(error.errno))\(XDPLibrary.logSuffix())")
        }
        defer { Sys.xdpProgramClose(prog) }
        _ = XDPLibrary.takeLog()
        let attached = Result { () throws(PathError) in try Sys.xdpProgramAttach(prog, ifindex: ifindex, mode: XDP_MODE_NATIVE) }
        let log = XDPLibrary.takeLog()
        if case .failure(let error) = attached {
            return .init(outcome: "not loaded", detail: "xdp_program__attach: \(Sys.errnoName(error.errno))\(log.isEmpty ? "" : " (libxdp: \(log))")")
        }
        let dispatcher = Sys.xdpDispatcherAttached(ifindex: ifindex)
        try? Sys.xdpProgramDetachAny(prog, ifindex: ifindex, mode: XDP_MODE_NATIVE)
        _ = XDPLibrary.takeLog()
        let link = linkProbe(ifindex: ifindex, objectPath: objectPath)
        switch dispatcher {
        case true?:
            return .init(outcome: "loaded", detail: "libxdp attached its dispatcher (native mode, private bpffs) with wirepath's program under it", bpfLink: link)
        case false?:
            return .init(outcome: "not loaded", detail: "libxdp fell back to a single program\(log.isEmpty ? "" : ": \(log)")", bpfLink: link)
        case nil:
            return .init(outcome: "not loaded", detail: "nothing readable was attached\(log.isEmpty ? "" : " (libxdp: \(log))")", bpfLink: link)
        }
    }

    /// Loads wirepath's program with libbpf and attaches it to the probe
    /// veth through a BPF link (bpf_link_create, Linux 5.9+), then closes
    /// the link, which detaches it: what the xdp path does.
    private static func linkProbe(ifindex: Int32, objectPath: String) -> Result<Void, PathError> {
        Result { () throws(PathError) in
            let obj = try Sys.bpfObjectOpen(objectPath, name: "wirepath_probe")
            defer { Sys.bpfObjectClose(obj) }
            try Sys.bpfObjectLoad(obj)
            let prog = try Sys.bpfProgramFD(obj, name: WP_XDP_PROGRAM_NAME)
            Sys.close(try Sys.xdpLinkCreate(progFD: prog, ifindex: ifindex, skb: false))
        }
    }
}
