// Sys+XDP.swift — AF_XDP, libxdp, libbpf and the netdev queries, wrapped once
// (rules in WirepathIO/System/Sys.swift).
import CWirepath
import CXDP
import Glibc
import WirepathIO

// MARK: AF_XDP (libxdp and libbpf; each call returns its result or -errno)

extension Sys {
    /// socket(2) of AF_XDP, closed at once: 0 when this kernel has AF_XDP
    /// sockets and we may open one, else -errno (EAFNOSUPPORT: no
    /// CONFIG_XDP_SOCKETS; EPERM: no CAP_NET_RAW).
    package static func probeAFXDP() -> Int {
        let r = retryEINTR { Int(Glibc.socket(WP_AF_XDP, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)) }
        if r >= 0 { close(CInt(r)); return 0 }
        return r
    }

    /// The AF_XDP TX kick: sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0). In copy
    /// mode the kernel transmits up to 32 descriptors of the TX ring in this
    /// call and returns -EAGAIN when more are left. Expected errnos: EAGAIN,
    /// ENOBUFS, EBUSY, ENETDOWN. MSG_DONTWAIT is required: a blocking send on
    /// an XSK fails with EOPNOTSUPP.
    @inline(__always)
    package static func xskKickTX(_ fd: CInt) -> Int {
        retryEINTR { Glibc.sendto(fd, nil, 0, WP_MSG_DONTWAIT, nil, 0) }
    }

    /// The AF_XDP RX kick: recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL),
    /// which wakes the kernel to take frames from the fill ring (and busy
    /// polls, where the socket has a NAPI id). Returns 0 or -errno.
    @inline(__always)
    package static func xskKickRX(_ fd: CInt) -> Int {
        retryEINTR { Glibc.recvfrom(fd, nil, 0, WP_MSG_DONTWAIT, nil, nil) }
    }

    /// poll(2) on one descriptor; returns the ready count (0 on timeout) or -errno.
    @inline(__always)
    package static func poll(_ fd: CInt, events: Int16, timeoutMillis: CInt) -> Int {
        var p = pollfd(fd: fd, events: events, revents: 0)
        return retryEINTR { Int(Glibc.poll(&p, 1, timeoutMillis)) }
    }

    /// getsockopt(SOL_XDP, XDP_STATISTICS); nil if the kernel refuses.
    package static func xdpStatistics(_ fd: CInt) -> xdp_statistics? {
        var s = xdp_statistics()
        var len = socklen_t(MemoryLayout<xdp_statistics>.size)
        let r = retryEINTR { Int(getsockopt(fd, WP_SOL_XDP, WP_XDP_STATISTICS, &s, &len)) }
        return r < 0 ? nil : s
    }

    /// getsockopt(SOL_XDP, XDP_OPTIONS): whether the bound socket is zero-copy.
    package static func xdpIsZeroCopy(_ fd: CInt) -> Bool {
        var o = xdp_options()
        var len = socklen_t(MemoryLayout<xdp_options>.size)
        let r = retryEINTR { Int(getsockopt(fd, WP_SOL_XDP, WP_XDP_OPTIONS, &o, &len)) }
        return r >= 0 && o.flags & WP_XDP_OPTIONS_ZEROCOPY != 0
    }


    /// SIOCGIFHWADDR; returns the MAC or -errno.
    package static func hardwareAddress(_ name: String) -> Result<MACAddress, PathError> {
        var mac = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        let r = withUnsafeMutableBytes(of: &mac) { wp_if_hwaddr(name, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        if r < 0 { return .failure(error("ioctl(SIOCGIFHWADDR, \(name))", -r)) }
        return .success(withUnsafeBytes(of: &mac) { MACAddress(loadingFrom: $0.baseAddress!) })
    }

    /// SIOCGIFADDR; the interface's IPv4 address or -errno.
    package static func interfaceIPv4(_ name: String) -> Result<UInt32, PathError> {
        var a: UInt32 = 0
        let r = wp_if_ipv4(name, &a)
        if r < 0 { return .failure(error("ioctl(SIOCGIFADDR, \(name))", -r, hint: "the interface has no IPv4 address; give one with --bind")) }
        return .success(a)
    }

    /// ETHTOOL_GDRVINFO (SIOCETHTOOL) in the calling thread's network
    /// namespace: the driver's name, or -errno (EOPNOTSUPP: a device with no
    /// ethtool driver info, such as lo; ENODEV: no such interface).
    package static func interfaceDriver(_ name: String) -> Result<String, PathError> {
        var buf = [CChar](repeating: 0, count: 64)
        let r = retryEINTR(returnsNegativeErrno: true, { Int(wp_if_driver(name, &buf, buf.count)) })
        if r < 0 { return .failure(error("ioctl(SIOCETHTOOL, ETHTOOL_GDRVINFO, \(name))", Int32(-r))) }
        return .success(String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// What the kernel says device `ifindex` (in the calling thread's network
    /// namespace) can do with XDP: the generic-netlink "netdev" family's
    /// NETDEV_CMD_DEV_GET (Linux 6.3+), through `wp_netdev_xdp_features`.
    /// Fails with ENOENT on a kernel without that family, ENODEV for a
    /// missing device, EAGAIN when the kernel does not answer within 1 s.
    package static func netdevXDPFeatures(ifindex: UInt32) -> Result<wp_netdev_xdp, PathError> {
        var out = wp_netdev_xdp()
        let r = retryEINTR(returnsNegativeErrno: true, { Int(wp_netdev_xdp_features(ifindex, &out)) })
        if r < 0 {
            let e = Int32(-r)
            return .failure(error("generic netlink \"netdev\" NETDEV_CMD_DEV_GET (ifindex \(ifindex))", e,
                                  hint: e == ENOENT ? "this kernel has no \"netdev\" netlink family, which reports XDP features from Linux 6.3 on" : nil))
        }
        return .success(out)
    }

    /// xdp_program__open_file(3): opens (not loads) the program `section` of
    /// an object file. Returns the program or -errno (libxdp returns error
    /// pointers, decoded with libxdp_get_error).
    package static func xdpProgramOpen(_ path: String, section: String) -> (OpaquePointer?, Int) {
        let p = xdp_program__open_file(path, section, nil)
        let e = libxdp_get_error(UnsafeRawPointer(p))
        guard e == 0, let p else { return (nil, e == 0 ? -Int(ENOMEM) : e) }
        return (p, 0)
    }

    /// xdp_program__attach(3): loads the program if needed and attaches it to
    /// `ifindex` in `mode`. Returns 0 or -errno.
    package static func xdpProgramAttach(_ prog: OpaquePointer, ifindex: Int32, mode: xdp_attach_mode) -> Int {
        Int(xdp_program__attach(prog, ifindex, mode, 0))
    }

    /// Detaches `prog` from `ifindex` only if it is still the program
    /// attached there: bpf_xdp_detach(3) with XDP_FLAGS_REPLACE and the
    /// program's fd as the expected old one. Returns 0 or -errno.
    ///
    /// Why not xdp_program__detach: libxdp 1.3.1 opens the attached program
    /// by id to detach it (xdp_multiprog__get_from_ifindex) and never closes
    /// that fd, so every detach leaked one descriptor (measured: a loop of
    /// attach and detach grows /proc/self/fd by one per round).
    /// The call is in CXDP (wp_xdp_detach_if_ours) for its options struct.
    package static func xdpProgramDetach(_ prog: OpaquePointer, ifindex: Int32, mode: xdp_attach_mode) -> Int {
        Int(wp_xdp_detach_if_ours(ifindex, xdp_program__fd(prog), mode == XDP_MODE_SKB ? 1 : 0))
    }

    /// xdp_program__detach(3): removes `prog` from `ifindex` (with a
    /// dispatcher, the dispatcher too when it was the last program, and its
    /// bpffs pins). Returns 0 or -errno. Only for the doctor's dispatcher
    /// probe: it leaks one fd per call in libxdp 1.3.1 (see xdpProgramDetach).
    package static func xdpProgramDetachAny(_ prog: OpaquePointer, ifindex: Int32, mode: xdp_attach_mode) -> Int {
        Int(xdp_program__detach(prog, ifindex, mode, 0))
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

    /// unshare(2) of the calling thread's mount namespace, with every mount
    /// in it made private (`wp_unshare_private_mounts`). Returns 0 or -errno.
    package static func unsharePrivateMounts() -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(wp_unshare_private_mounts()) })
    }

    /// mount(2) of a new bpffs at `path`. Returns 0 or -errno.
    package static func mountBPFFS(_ path: String) -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(wp_mount_bpffs(path)) })
    }

    /// xdp_program__close(3): closes the program and its object's map fds.
    package static func xdpProgramClose(_ prog: OpaquePointer) { xdp_program__close(prog) }

    /// xsk_umem__create(3): registers `size` bytes at `area` as a UMEM and
    /// maps its fill and completion rings into `fill`/`comp`. Returns 0 or -errno.
    package static func xskUmemCreate(_ umem: UnsafeMutablePointer<OpaquePointer?>, _ area: UnsafeMutableRawPointer, _ size: Int,
                              _ fill: UnsafeMutablePointer<xsk_ring_prod>, _ comp: UnsafeMutablePointer<xsk_ring_cons>,
                              _ config: UnsafePointer<xsk_umem_config>) -> Int {
        Int(xsk_umem__create(umem, area, UInt64(size), fill, comp, config))
    }

    /// xsk_umem__delete(3): unmaps the fill and completion rings and closes
    /// the UMEM's fd. Returns 0, or -EBUSY while a socket still uses it.
    package static func xskUmemDelete(_ umem: OpaquePointer) -> Int { Int(xsk_umem__delete(umem)) }

    /// xsk_socket__create(3): an AF_XDP socket bound to `ifname` queue
    /// `queue` on `umem`, with its RX and TX rings mapped. Returns 0 or -errno
    /// (EOPNOTSUPP for XDP_ZEROCOPY on a driver without it).
    package static func xskSocketCreate(_ xsk: UnsafeMutablePointer<OpaquePointer?>, _ ifname: String, _ queue: UInt32, _ umem: OpaquePointer,
                                _ rx: UnsafeMutablePointer<xsk_ring_cons>, _ tx: UnsafeMutablePointer<xsk_ring_prod>,
                                _ config: UnsafePointer<xsk_socket_config>) -> Int {
        Int(xsk_socket__create(xsk, ifname, queue, umem, rx, tx, config))
    }

    /// xsk_socket__delete(3): unmaps the RX and TX rings and closes the socket
    /// (which also removes it from any XSKMAP). Never retried, like close.
    package static func xskSocketDelete(_ xsk: OpaquePointer) { xsk_socket__delete(xsk) }

    /// xsk_socket__update_xskmap(3): puts the socket in `mapFD` at its queue id.
    package static func xskUpdateMap(_ xsk: OpaquePointer, _ mapFD: CInt) -> Int { Int(xsk_socket__update_xskmap(xsk, mapFD)) }

    /// bpf_map_lookup_elem(3) on a per-CPU array; `values` holds one u64 per
    /// possible CPU. Returns 0 or -errno.
    package static func bpfLookupPerCPU(_ fd: CInt, key: UInt32, _ values: UnsafeMutablePointer<UInt64>) -> Int {
        var k = key
        // libbpf 1.x returns -errno itself.
        return Int(bpf_map_lookup_elem(fd, &k, values))
    }
}
