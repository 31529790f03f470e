import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// The XDP program on one interface, and the maps Wirepath uses: the one
/// owner of the attachment. `deinit` detaches and closes, once. Must be
/// released in the network namespace it was attached in (the path lives and
/// dies on one thread).
struct XDPProgram: ~Copyable {
    let program: OpaquePointer
    let ifindex: Int32
    let mode: xdp_attach_mode
    let xskMapFD: CInt
    let countersFD: CInt
    let cpus: Int
    let values: UnsafeMutablePointer<UInt64>

    init(objectPath: String, ifname: String, ifindex: Int32, attach: XDPAttachMode, flow: wp_xdp_config) throws(PathError) {
        _ = XDPLibrary.takeLog()
        let p: OpaquePointer
        do throws(PathError) { p = try Sys.xdpProgramOpen(objectPath, section: "xdp") } catch {
            throw Sys.error("xdp_program__open_file(\(objectPath))", error.errno,
                            hint: "not a loadable XDP object; rebuild it with `make bpf`\(XDPLibrary.logSuffix())")
        }
        // The flow goes into the program's .rodata before load, so the
        // verifier sees constants.
        var rodata = false
        if let obj = xdp_program__bpf_obj(p) {
            var map: OpaquePointer? = nil
            while let m = bpf_object__next_map(obj, map) {
                if let name = bpf_map__name(m), String(cString: name).hasSuffix(".rodata") {
                    var cfg = flow
                    rodata = bpf_map__set_initial_value(m, &cfg, MemoryLayout<wp_xdp_config>.size) == 0
                }
                map = m
            }
        }
        guard rodata else {
            Sys.xdpProgramClose(p)
            throw PathError(operation: "xdp program \(objectPath)", errno: .invalidArgument,
                            hint: "its .rodata does not hold struct wp_xdp_config; rebuild it from bpf/ with `make bpf`")
        }
        let mode = attach == .native ? XDP_MODE_NATIVE : XDP_MODE_SKB
        do throws(PathError) { try Sys.xdpProgramAttach(p, ifindex: ifindex, mode: mode) } catch {
            let err = error.errno
            Sys.xdpProgramClose(p)
            let hint: String
            switch err.rawValue {
            case EEXIST, EBUSY: hint = "\(ifname) already has an XDP program (one per interface here); if a killed wirepath left it, `wirepath topo down` removes it from the tool's interfaces, or run `ip link set dev \(ifname) xdp off`"
            case EOPNOTSUPP: hint = "the driver of \(ifname) has no native XDP; run with `--xdp-attach skb`"
            case EPERM, EACCES: hint = "loading XDP programs needs CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN: run as root"
            default: hint = "attaching in \(attach) mode failed"
            }
            throw Sys.error("xdp_program__attach(\(ifname), \(attach))", err, hint: hint + XDPLibrary.logSuffix())
        }
        let obj = xdp_program__bpf_obj(p)
        let xsks = bpf_object__find_map_fd_by_name(obj, WP_XDP_XSKMAP_NAME)
        let counters = bpf_object__find_map_fd_by_name(obj, WP_XDP_COUNTERS_NAME)
        guard xsks >= 0, counters >= 0 else {
            try? Sys.xdpProgramDetach(p, ifindex: ifindex, mode: mode)
            Sys.xdpProgramClose(p)
            throw PathError(operation: "xdp program \(objectPath)", errno: .noSuchFileOrDirectory,
                            hint: "it has no \(WP_XDP_XSKMAP_NAME) or \(WP_XDP_COUNTERS_NAME) map; rebuild it from bpf/ with `make bpf`")
        }
        program = p
        self.ifindex = ifindex
        self.mode = mode
        xskMapFD = xsks
        countersFD = counters
        cpus = max(Int(libbpf_num_possible_cpus()), 1)
        values = .allocate(capacity: cpus)
        values.initialize(repeating: 0, count: cpus)
    }

    deinit {
        // ENOENT: nothing attached any more (the interface went). Any other
        // failure: try libxdp's own detach (it leaks an fd, see
        // Sys.xdpProgramDetach, but a program left attached is worse). What
        // still fails leaves nothing to act on here: the program goes with
        // the interface or its namespace, and `topo down` sweeps.
        do throws(PathError) { try Sys.xdpProgramDetach(program, ifindex: ifindex, mode: mode) } catch {
            if error.errno != .noSuchFileOrDirectory && error.errno != .noSuchDevice {
                try? Sys.xdpProgramDetachAny(program, ifindex: ifindex, mode: mode)
            }
        }
        Sys.xdpProgramClose(program)
        values.deallocate()
    }

    /// The program's counters, summed over CPUs (four map lookups).
    func read() -> (redirected: UInt64, passed: UInt64, passedNoSocket: UInt64, dropped: UInt64) {
        func sum(_ key: wp_xdp_counter) -> UInt64 {
            guard (try? Sys.bpfLookupPerCPU(countersFD, key: key.rawValue, values)) != nil else { return 0 }
            var s: UInt64 = 0
            for i in 0..<cpus { s &+= values[i] }
            return s
        }
        return (sum(WP_XDP_REDIRECTED), sum(WP_XDP_PASSED), sum(WP_XDP_PASSED_NO_SOCKET), sum(WP_XDP_DROPPED))
    }
}
