// Sys+XDP.swift — AF_XDP, libxdp, libbpf and the netdev queries, wrapped once
// (rules in WirepathIO/System/Sys.swift). Setup calls throw `PathError`; the
// data-path kicks and poll return `Result<Int, Errno>`.
import CWirepath
import CXDP
import Glibc
import WirepathIO

// MARK: AF_XDP (libxdp and libbpf, which return -errno themselves)

extension Sys {
    /// socket(2) of AF_XDP, closed at once: 0 when this kernel has AF_XDP
    /// sockets and we may open one, else throws (EAFNOSUPPORT: no
    /// CONFIG_XDP_SOCKETS; EPERM: no CAP_NET_RAW).
    package static func probeAFXDP() throws(PathError) {
        let r = retryEINTR { Int(Glibc.socket(WP_AF_XDP, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)) }
        close(CInt(try check(r, "socket(AF_XDP)")))
    }

    /// The AF_XDP TX kick: sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0). In copy
    /// mode the kernel transmits up to 32 descriptors of the TX ring in this
    /// call and returns -EAGAIN when more are left. Expected errnos: EAGAIN,
    /// ENOBUFS, EBUSY, ENETDOWN. MSG_DONTWAIT is required: a blocking send on
    /// an XSK fails with EOPNOTSUPP.
    @inline(__always)
    package static func xskKickTX(_ fd: CInt) -> Result<Int, Errno> {
        retryEINTR { Glibc.sendto(fd, nil, 0, WP_MSG_DONTWAIT, nil, 0) }
    }

    /// The AF_XDP RX kick: recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL),
    /// which wakes the kernel to take frames from the fill ring (and busy
    /// polls, where the socket has a NAPI id).
    @inline(__always)
    package static func xskKickRX(_ fd: CInt) -> Result<Int, Errno> {
        retryEINTR { Glibc.recvfrom(fd, nil, 0, WP_MSG_DONTWAIT, nil, nil) }
    }

    /// poll(2) on one descriptor: the ready count (0 on timeout).
    @inline(__always)
    package static func poll(_ fd: CInt, events: Int16, timeoutMillis: CInt) -> Result<Int, Errno> {
        var p = pollfd(fd: fd, events: events, revents: 0)
        return retryEINTR { Int(Glibc.poll(&p, 1, timeoutMillis)) }
    }

    /// getsockopt(SOL_XDP, XDP_STATISTICS).
    package static func xdpStatistics(_ fd: CInt) throws(PathError) -> xdp_statistics {
        var s = xdp_statistics()
        var len = socklen_t(MemoryLayout<xdp_statistics>.size)
        try check(retryEINTR { Int(getsockopt(fd, WP_SOL_XDP, WP_XDP_STATISTICS, &s, &len)) }, "getsockopt(XDP_STATISTICS)")
        return s
    }

    /// getsockopt(SOL_XDP, XDP_OPTIONS): whether the bound socket is zero-copy.
    package static func xdpIsZeroCopy(_ fd: CInt) throws(PathError) -> Bool {
        var o = xdp_options()
        var len = socklen_t(MemoryLayout<xdp_options>.size)
        try check(retryEINTR { Int(getsockopt(fd, WP_SOL_XDP, WP_XDP_OPTIONS, &o, &len)) }, "getsockopt(XDP_OPTIONS)")
        return o.flags & WP_XDP_OPTIONS_ZEROCOPY != 0
    }


    /// SIOCGIFHWADDR: the interface's MAC address.
    package static func hardwareAddress(_ name: String) throws(PathError) -> MACAddress {
        var mac = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        let r = withUnsafeMutableBytes(of: &mac) { wp_if_hwaddr(name, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        try check(negativeErrno(Int(r)), "ioctl(SIOCGIFHWADDR, \(name))")
        return withUnsafeBytes(of: &mac) { MACAddress(loadingFrom: $0.baseAddress!) }
    }

    /// SIOCGIFADDR: the interface's IPv4 address.
    package static func interfaceIPv4(_ name: String) throws(PathError) -> UInt32 {
        var a: UInt32 = 0
        let r = wp_if_ipv4(name, &a)
        try check(negativeErrno(Int(r)), "ioctl(SIOCGIFADDR, \(name))") { _ in "the interface has no IPv4 address; give one with --bind" }
        return a
    }

    /// The interface's first global IPv6 address that is not tentative,
    /// from /proc/thread-self/net/if_inet6 (the calling thread's
    /// namespace): "ADDR32HEX IFINDEX PLEN SCOPE FLAGS NAME" per line.
    package static func interfaceIPv6(_ name: String) throws(PathError) -> IPv6Address {
        let text = (try? String(contentsOfFile: "/proc/thread-self/net/if_inet6", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n").prefix(4096) {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // Scope 00 is global; flag 0x40 is IFA_F_TENTATIVE (still in DAD).
            guard f.count == 6, f[5] == name, f[0].utf8.count == 32, f[3] == "00",
                  let flags = UInt32(f[4], radix: 16), flags & 0x40 == 0,
                  let high = UInt64(f[0].prefix(16), radix: 16), let low = UInt64(f[0].suffix(16), radix: 16) else { continue }
            return IPv6Address(high: high, low: low)
        }
        throw PathError(operation: "IPv6 address of \(name)", errno: .addressNotAvailable,
                        hint: "the interface has no global IPv6 address that has finished duplicate address detection; add one (with nodad), or give one with --bind")
    }

    /// The MAC address of IPv6 neighbour `address` on `ifindex`, or nil
    /// when the table has no usable entry (netlink, `wp_neigh6_lookup`).
    package static func neighbour6(_ address: IPv6Address, ifindex: UInt32) throws(PathError) -> MACAddress? {
        var a = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &a) { address.store(to: $0.baseAddress!) }
        var mac = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        let r = withUnsafeBytes(of: &a) { ab in
            withUnsafeMutableBytes(of: &mac) { mb in
                wp_neigh6_lookup(Int32(ifindex), ab.baseAddress!.assumingMemoryBound(to: UInt8.self), mb.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        if r == -ENOENT { return nil }
        try check(negativeErrno(Int(r)), "netlink RTM_GETNEIGH (IPv6, ifindex \(ifindex))")
        return withUnsafeBytes(of: &mac) { MACAddress(loadingFrom: $0.baseAddress!) }
    }

    /// ETHTOOL_GDRVINFO (SIOCETHTOOL) in the calling thread's network
    /// namespace: the driver's name. Throws EOPNOTSUPP for a device with no
    /// ethtool driver info, such as lo; ENODEV for no such interface.
    package static func interfaceDriver(_ name: String) throws(PathError) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        let r = retryEINTR(returnsNegativeErrno: true, { Int(wp_if_driver(name, &buf, buf.count)) })
        try check(r, "ioctl(SIOCETHTOOL, ETHTOOL_GDRVINFO, \(name))")
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// What the kernel says device `ifindex` (in the calling thread's network
    /// namespace) can do with XDP: the generic-netlink "netdev" family's
    /// NETDEV_CMD_DEV_GET (Linux 6.3+), through `wp_netdev_xdp_features`.
    /// Fails with ENOENT on a kernel without that family, ENODEV for a
    /// missing device, EAGAIN when the kernel does not answer within 1 s.
    package static func netdevXDPFeatures(ifindex: UInt32) throws(PathError) -> wp_netdev_xdp {
        var out = wp_netdev_xdp()
        let r = retryEINTR(returnsNegativeErrno: true, { Int(wp_netdev_xdp_features(ifindex, &out)) })
        try check(r, "generic netlink \"netdev\" NETDEV_CMD_DEV_GET (ifindex \(ifindex))") { e in
            e == .noSuchFileOrDirectory ? "this kernel has no \"netdev\" netlink family, which reports XDP features from Linux 6.3 on" : nil
        }
        return out
    }

    /// xdp_program__open_file(3): opens (not loads) the program `section` of
    /// an object file. libxdp returns error pointers, decoded with
    /// libxdp_get_error into -errno (ENOMEM when it returns no pointer).
    package static func xdpProgramOpen(_ path: String, section: String) throws(PathError) -> OpaquePointer {
        let p = xdp_program__open_file(path, section, nil)
        let e = libxdp_get_error(UnsafeRawPointer(p))
        guard e == 0, let p else { throw error("xdp_program__open_file(\(path))", e == 0 ? .noMemory : Errno(rawValue: CInt(-e))) }
        return p
    }

    /// xdp_program__attach(3): loads the program if needed and attaches it to
    /// `ifindex` in `mode`, through netlink. Only for the doctor's dispatcher
    /// probe; the xdp path loads with libbpf and attaches through a BPF link
    /// (`xdpLinkCreate`).
    package static func xdpProgramAttach(_ prog: OpaquePointer, ifindex: Int32, mode: xdp_attach_mode) throws(PathError) {
        try check(negativeErrno(Int(xdp_program__attach(prog, ifindex, mode, 0))), "xdp_program__attach")
    }

    /// xdp_program__detach(3): removes `prog` from `ifindex` (with a
    /// dispatcher, the dispatcher too when it was the last program, and its
    /// bpffs pins). Only for the doctor's dispatcher
    /// probe: it leaks one fd per call in libxdp 1.3.1 (see xdpDetachIfOurs).
    package static func xdpProgramDetachAny(_ prog: OpaquePointer, ifindex: Int32, mode: xdp_attach_mode) throws(PathError) {
        try check(negativeErrno(Int(xdp_program__detach(prog, ifindex, mode, 0))), "xdp_program__detach")
    }

    /// Whether what is attached to `ifindex` is libxdp's multi-program
    /// dispatcher (true), a single program (false), or nothing / unreadable
    /// (nil): xdp_multiprog__get_from_ifindex(3), xdp_multiprog__is_legacy(3).
    package static func xdpDispatcherAttached(ifindex: Int32) -> Bool? {
        let mp = xdp_multiprog__get_from_ifindex(ifindex)
        guard libxdp_get_error(UnsafeRawPointer(mp)) == 0, let mp else { return nil }
        defer { xdp_multiprog__close(mp) }
        guard xdp_multiprog__main_prog(mp) != nil || xdp_multiprog__is_legacy(mp) else { return nil }
        return !xdp_multiprog__is_legacy(mp)
    }

    /// bpf_object__open_file(3) (through `wp_bpf_object_open`, for its
    /// options): opens, without loading, the object at `path` under the name
    /// `name`. libbpf 1.x returns NULL with errno set.
    package static func bpfObjectOpen(_ path: String, name: String) throws(PathError) -> OpaquePointer {
        guard let obj = wp_bpf_object_open(path, name) else { throw error("bpf_object__open_file(\(path))", Errno(rawValue: Glibc.errno)) }
        return obj
    }

    /// bpf_object__load(3): loads the object's maps and programs into the
    /// kernel (the verifier runs here).
    package static func bpfObjectLoad(_ obj: OpaquePointer) throws(PathError) {
        try check(negativeErrno(Int(bpf_object__load(obj))), "bpf_object__load")
    }

    /// bpf_object__find_program_by_name(3), then bpf_program__fd(3): the fd
    /// of the loaded program `name` (ENOENT when the object has none).
    package static func bpfProgramFD(_ obj: OpaquePointer, name: String) throws(PathError) -> CInt {
        guard let prog = bpf_object__find_program_by_name(obj, name) else {
            throw error("bpf_object__find_program_by_name(\(name))", .noSuchFileOrDirectory)
        }
        return CInt(try check(negativeErrno(Int(bpf_program__fd(prog))), "bpf_program__fd(\(name))"))
    }

    /// bpf_object__find_map_fd_by_name(3): the fd of the loaded map `name`,
    /// or -1 when the object has none.
    package static func bpfMapFD(_ obj: OpaquePointer, name: String) -> CInt { bpf_object__find_map_fd_by_name(obj, name) }

    /// bpf_object__next_map(3) and bpf_map__set_initial_value(3): sets the
    /// initial value of the object's `.rodata` map to `value` before load.
    /// False when the object has no `.rodata` of that size.
    package static func bpfSetRodata(_ obj: OpaquePointer, _ value: UnsafeRawPointer, size: Int) -> Bool {
        var map: OpaquePointer? = nil
        while let m = bpf_object__next_map(obj, map) {
            if let name = bpf_map__name(m), String(cString: name).hasSuffix(".rodata") {
                return bpf_map__set_initial_value(m, value, size) == 0
            }
            map = m
        }
        return false
    }

    /// bpf_object__close(3): closes the object's program and map fds (a
    /// program attached through a link stays attached while the link's fd
    /// is open). Never retried, like close.
    package static func bpfObjectClose(_ obj: OpaquePointer) { bpf_object__close(obj) }

    /// bpf_link_create(3) of BPF_XDP (`wp_xdp_link_create`): attaches `progFD`
    /// to `ifindex` through a BPF link (Linux 5.9+) and returns the link's
    /// fd, which owns the attachment. EINVAL or EOPNOTSUPP: no XDP links
    /// here, or the driver refuses them (fall back to netlink); EBUSY or
    /// EEXIST: the interface already has a program.
    package static func xdpLinkCreate(progFD: CInt, ifindex: Int32, skb: Bool) throws(PathError) -> CInt {
        CInt(try check(negativeErrno(Int(wp_xdp_link_create(progFD, ifindex, skb ? 1 : 0))), "bpf_link_create(BPF_XDP)"))
    }

    /// bpf_xdp_attach(3) through netlink, only where no program is attached
    /// (`wp_xdp_attach_netlink`): the fallback where a link is refused.
    package static func xdpAttachNetlink(progFD: CInt, ifindex: Int32, skb: Bool) throws(PathError) {
        try check(negativeErrno(Int(wp_xdp_attach_netlink(ifindex, progFD, skb ? 1 : 0))), "bpf_xdp_attach")
    }

    /// Detaches the netlink-attached program `progFD` from `ifindex` only if
    /// it is still the one attached there (`wp_xdp_detach_if_ours`:
    /// bpf_xdp_detach(3) with XDP_FLAGS_REPLACE and the program as the
    /// expected old one).
    ///
    /// Why not libxdp's xdp_program__detach: 1.3.1 opens the attached
    /// program by id to detach it (xdp_multiprog__get_from_ifindex) and never
    /// closes that fd, so every detach leaked one descriptor (measured: a
    /// loop of attach and detach grew /proc/self/fd by one per round).
    package static func xdpDetachIfOurs(progFD: CInt, ifindex: Int32, skb: Bool) throws(PathError) {
        try check(negativeErrno(Int(wp_xdp_detach_if_ours(ifindex, progFD, skb ? 1 : 0))), "bpf_xdp_detach")
    }

    /// unshare(2) of the calling thread's mount namespace, with every mount
    /// in it made private (`wp_unshare_private_mounts`).
    package static func unsharePrivateMounts() throws(PathError) {
        try check(retryEINTR(returnsNegativeErrno: true, { Int(wp_unshare_private_mounts()) }), "unshare(CLONE_NEWNS)")
    }

    /// mount(2) of a new bpffs at `path`.
    package static func mountBPFFS(_ path: String) throws(PathError) {
        try check(retryEINTR(returnsNegativeErrno: true, { Int(wp_mount_bpffs(path)) }), "mount -t bpf \(path)")
    }

    /// xdp_program__close(3): closes the program and its object's map fds.
    package static func xdpProgramClose(_ prog: OpaquePointer) { xdp_program__close(prog) }

    /// xsk_umem__create(3): registers `size` bytes at `area` as a UMEM and
    /// maps its fill and completion rings into `fill`/`comp`: the UMEM
    /// (EINVAL when libxdp gives none without an errno).
    package static func xskUmemCreate(_ area: UnsafeMutableRawPointer, _ size: Int,
                                      _ fill: UnsafeMutablePointer<xsk_ring_prod>, _ comp: UnsafeMutablePointer<xsk_ring_cons>,
                                      _ config: UnsafePointer<xsk_umem_config>) throws(PathError) -> OpaquePointer {
        var umem: OpaquePointer?
        let r = Int(xsk_umem__create(&umem, area, UInt64(size), fill, comp, config))
        guard r == 0, let umem else { throw error("xsk_umem__create(\(size) B)", r < 0 ? Errno(rawValue: CInt(-r)) : .invalidArgument) }
        return umem
    }

    /// xsk_umem__delete(3): unmaps the fill and completion rings and closes
    /// the UMEM's fd. Throws EBUSY while a socket still uses it.
    package static func xskUmemDelete(_ umem: OpaquePointer) throws(PathError) {
        try check(negativeErrno(Int(xsk_umem__delete(umem))), "xsk_umem__delete")
    }

    /// xsk_socket__create(3): an AF_XDP socket bound to `ifname` queue
    /// `queue` on `umem`, with its RX and TX rings mapped: the socket. Throws
    /// EOPNOTSUPP for XDP_ZEROCOPY on a driver without it (EINVAL when libxdp
    /// gives no socket without an errno).
    package static func xskSocketCreate(_ ifname: String, _ queue: UInt32, _ umem: OpaquePointer,
                                        _ rx: UnsafeMutablePointer<xsk_ring_cons>, _ tx: UnsafeMutablePointer<xsk_ring_prod>,
                                        _ config: UnsafePointer<xsk_socket_config>) throws(PathError) -> OpaquePointer {
        var xsk: OpaquePointer?
        let r = Int(xsk_socket__create(&xsk, ifname, queue, umem, rx, tx, config))
        guard r == 0, let xsk else { throw error("xsk_socket__create(\(ifname), queue \(queue))", r < 0 ? Errno(rawValue: CInt(-r)) : .invalidArgument) }
        return xsk
    }

    /// xsk_socket__create_shared(3): an AF_XDP socket bound to `ifname` queue
    /// `queue` on `umem`, which other sockets may use too: the first socket
    /// on the UMEM binds with the config's flags and takes over the UMEM's
    /// fill and completion rings (copied into `fill`/`comp`); each further
    /// one binds with XDP_SHARED_UMEM and gets new fill and completion rings
    /// mapped into `fill`/`comp` (a socket on another queue needs Linux
    /// 5.10+; EINVAL before). Not thread-safe for one UMEM: callers
    /// serialize creation and deletion of its sockets.
    package static func xskSocketCreateShared(_ ifname: String, _ queue: UInt32, _ umem: OpaquePointer,
                                              _ rx: UnsafeMutablePointer<xsk_ring_cons>, _ tx: UnsafeMutablePointer<xsk_ring_prod>,
                                              _ fill: UnsafeMutablePointer<xsk_ring_prod>, _ comp: UnsafeMutablePointer<xsk_ring_cons>,
                                              _ config: UnsafePointer<xsk_socket_config>) throws(PathError) -> OpaquePointer {
        var xsk: OpaquePointer?
        let r = Int(xsk_socket__create_shared(&xsk, ifname, queue, umem, rx, tx, fill, comp, config))
        guard r == 0, let xsk else { throw error("xsk_socket__create_shared(\(ifname), queue \(queue))", r < 0 ? Errno(rawValue: CInt(-r)) : .invalidArgument) }
        return xsk
    }

    /// xsk_socket__delete(3): unmaps the RX and TX rings and closes the socket
    /// (which also removes it from any XSKMAP). Never retried, like close.
    package static func xskSocketDelete(_ xsk: OpaquePointer) { xsk_socket__delete(xsk) }

    /// xsk_socket__update_xskmap(3): puts the socket in `mapFD` at its queue id.
    package static func xskUpdateMap(_ xsk: OpaquePointer, _ mapFD: CInt) throws(PathError) {
        try check(negativeErrno(Int(xsk_socket__update_xskmap(xsk, mapFD))), "xsk_socket__update_xskmap")
    }

    /// bpf_map_lookup_elem(3) on a per-CPU array; `values` holds one u64 per
    /// possible CPU.
    package static func bpfLookupPerCPU(_ fd: CInt, key: UInt32, _ values: UnsafeMutablePointer<UInt64>) throws(PathError) {
        var k = key
        // libbpf 1.x returns -errno itself.
        try check(negativeErrno(Int(bpf_map_lookup_elem(fd, &k, values))), "bpf_map_lookup_elem")
    }
}
