import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// The XDP program on one interface, and the maps Wirepath uses: the one
/// owner of the attachment. Loaded with libbpf and attached through a BPF
/// link (Linux 5.9+), whose fd this type owns: the kernel detaches the
/// program when the last fd of the link closes, so any exit, kill -9 and a
/// trap included, leaves nothing on the interface. Where the link is refused
/// (EINVAL or EOPNOTSUPP: a kernel before 5.9, or a driver that refuses), the
/// program is attached through netlink instead, `deinit` detaches it if it is
/// still ours, and after a kill -9 `topo down` sweeps it. Must be released in
/// the network namespace it was attached in (the path lives and dies on one
/// thread). A threaded run's program (`XDPQueueGroup`) takes a link or
/// nothing (`linkOnly`), so its release is a close in any namespace.
struct XDPProgram: ~Copyable {
    enum Attachment: String { case link = "bpf-link", netlink }

    let object: OpaquePointer
    let ifindex: Int32
    let skb: Bool
    let programFD: CInt
    /// The BPF link's fd (nil: attached through netlink).
    let linkFD: CInt?
    let xskMapFD: CInt
    let countersFD: CInt
    /// The per-queue redirect counters (`wp_queue_redirected`).
    let queueCountersFD: CInt
    let cpus: Int
    let values: UnsafeMutablePointer<UInt64>

    var attachment: Attachment { linkFD == nil ? .netlink : .link }

    init(objectPath: String, ifname: String, ifindex: Int32, attach: XDPAttachMode, flow: wp_xdp_config,
         linkOnly: Bool = false) throws(PathError) {
        _ = XDPLibrary.takeLog()
        // The object is read from the descriptor checked here (O_NOFOLLOW,
        // owner and mode), not from the name, which could change in between.
        let fd = try XDPObject.openTrusted(objectPath)
        defer { Sys.close(fd) }
        let obj: OpaquePointer
        do throws(PathError) {
            obj = try Sys.bpfObjectOpen("/proc/self/fd/\(fd)", name: String(XDPObject.fileName.prefix { $0 != "." }))
        } catch {
            throw Sys.error("bpf_object__open_file(\(objectPath))", error.errno,
                            hint: "not a loadable XDP object; rebuild it with `make bpf`\(XDPLibrary.logSuffix())")
        }
        // The flow goes into the program's .rodata before load, so the
        // verifier sees constants.
        var cfg = flow
        guard Sys.bpfSetRodata(obj, &cfg, size: MemoryLayout<wp_xdp_config>.size) else {
            Sys.bpfObjectClose(obj)
            throw PathError(operation: "xdp program \(objectPath)", errno: .invalidArgument,
                            hint: "its .rodata does not hold struct wp_xdp_config; rebuild it from bpf/ with `make bpf`")
        }
        let progFD: CInt
        do throws(PathError) {
            try Sys.bpfObjectLoad(obj)
            progFD = try Sys.bpfProgramFD(obj, name: WP_XDP_PROGRAM_NAME)
        } catch {
            Sys.bpfObjectClose(obj)
            let hint = error.errno.rawValue == EPERM || error.errno.rawValue == EACCES
                ? "loading XDP programs needs CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN: run as root"
                : "the kernel refused the program; rebuild it from bpf/ with `make bpf`"
            throw Sys.error("\(error.operation) (\(objectPath))", error.errno, hint: hint + XDPLibrary.logSuffix())
        }
        let xsks = Sys.bpfMapFD(obj, name: WP_XDP_XSKMAP_NAME)
        let counters = Sys.bpfMapFD(obj, name: WP_XDP_COUNTERS_NAME)
        let queueCounters = Sys.bpfMapFD(obj, name: WP_XDP_QUEUE_COUNTERS_NAME)
        guard xsks >= 0, counters >= 0, queueCounters >= 0 else {
            Sys.bpfObjectClose(obj)
            throw PathError(operation: "xdp program \(objectPath)", errno: .noSuchFileOrDirectory,
                            hint: "it has no \(WP_XDP_XSKMAP_NAME), \(WP_XDP_COUNTERS_NAME) or \(WP_XDP_QUEUE_COUNTERS_NAME) map; rebuild it from bpf/ with `make bpf`")
        }
        let skb = attach == .skb
        var link: CInt?
        do throws(PathError) {
            do throws(PathError) {
                link = try Sys.xdpLinkCreate(progFD: progFD, ifindex: ifindex, skb: skb)
            } catch where !linkOnly && (error.errno == .invalidArgument || error.errno == .notSupportedOnSocket) {
                // No XDP links here (before 5.9), or the driver refuses one
                // in this mode; netlink may still work, and then it is the
                // fallback. A driver with no native XDP refuses both, and the
                // netlink call's errno says so.
                try Sys.xdpAttachNetlink(progFD: progFD, ifindex: ifindex, skb: skb)
            }
        } catch {
            Sys.bpfObjectClose(obj)
            let err = error.errno
            let hint: String
            switch err.rawValue {
            case EEXIST, EBUSY: hint = "\(ifname) already has an XDP program (one per interface here); if a killed wirepath left it, `wirepath topo down` removes it from the tool's interfaces, or run `ip link set dev \(ifname) xdp off`"
            case EOPNOTSUPP: hint = "the driver of \(ifname) has no native XDP; run with `--xdp-attach skb`"
            case EPERM, EACCES: hint = "loading XDP programs needs CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN: run as root"
            case EINVAL where linkOnly: hint = "a threaded xdp run attaches its program through a BPF link only (Linux 5.9+), so that no exit leaves it behind; this kernel or driver refused one"
            default: hint = "attaching in \(attach) mode failed"
            }
            throw Sys.error("\(error.operation) (\(ifname), \(attach))", err, hint: hint + XDPLibrary.logSuffix())
        }
        object = obj
        self.ifindex = ifindex
        self.skb = skb
        programFD = progFD
        linkFD = link
        xskMapFD = xsks
        countersFD = counters
        queueCountersFD = queueCounters
        cpus = max(Int(libbpf_num_possible_cpus()), 1)
        values = .allocate(capacity: cpus)
        values.initialize(repeating: 0, count: cpus)
    }

    deinit {
        if let linkFD {
            // The last fd of the link: closing it detaches the program.
            Sys.close(linkFD)
        } else {
            // Netlink: detach only if it is still ours. ENOENT/ENODEV: the
            // interface went, and the program with it. Any other failure
            // leaves nothing to act on here: `topo down` sweeps the tool's
            // interfaces.
            try? Sys.xdpDetachIfOurs(progFD: programFD, ifindex: ifindex, skb: skb)
        }
        Sys.bpfObjectClose(object)
        values.deallocate()
    }

    /// The counter maps, for reading (`XDPProgramCounters`).
    var counters: XDPProgramCounters {
        XDPProgramCounters(countersFD: countersFD, queueCountersFD: queueCountersFD, cpus: cpus)
    }

    /// The program's counters through its own scratch (the one thread that owns it).
    func read() -> (redirected: UInt64, passed: UInt64, passedNoSocket: UInt64, dropped: UInt64) {
        counters.read(scratch: values)
    }
}

/// The program's counter maps, valid while the program (`XDPProgram`, or a
/// threaded run's `XDPQueueGroup`) is: a copyable view, so each thread
/// reads through scratch of its own.
struct XDPProgramCounters {
    let countersFD: CInt
    let queueCountersFD: CInt
    let cpus: Int

    /// The program's counters, summed over CPUs (four map lookups), through
    /// `scratch` (one u64 per possible CPU).
    func read(scratch v: UnsafeMutablePointer<UInt64>) -> (redirected: UInt64, passed: UInt64, passedNoSocket: UInt64, dropped: UInt64) {
        (sum(countersFD, WP_XDP_REDIRECTED.rawValue, v), sum(countersFD, WP_XDP_PASSED.rawValue, v),
         sum(countersFD, WP_XDP_PASSED_NO_SOCKET.rawValue, v), sum(countersFD, WP_XDP_DROPPED.rawValue, v))
    }

    /// Test-flow packets redirected from RX queue `queue` (one map lookup),
    /// summed over CPUs through `scratch`.
    func redirected(queue: UInt32, scratch: UnsafeMutablePointer<UInt64>) -> UInt64 {
        sum(queueCountersFD, queue, scratch)
    }

    private func sum(_ fd: CInt, _ key: UInt32, _ v: UnsafeMutablePointer<UInt64>) -> UInt64 {
        guard (try? Sys.bpfLookupPerCPU(fd, key: key, v)) != nil else { return 0 }
        var s: UInt64 = 0
        for i in 0..<cpus { s &+= v[i] }
        return s
    }
}
