// Sys+Socket.swift — UDP sockets: setup, options and the data-path calls,
// wrapped once (rules in Sys.swift).
import CWirepath
import Glibc

extension Sys {
    /// socket(2) of AF_INET (or AF_INET6 with `ipv6`), SOCK_DGRAM,
    /// close-on-exec. An AF_INET6 socket is IPV6_V6ONLY: it never carries
    /// IPv4-mapped traffic, so each family's run stays in its family.
    /// EAFNOSUPPORT: IPv6 is disabled in this kernel or namespace.
    package static func udpSocket(nonBlocking: Bool, ipv6: Bool = false) throws(PathError) -> CInt {
        var type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let family = ipv6 ? AF_INET6 : AF_INET
        let r = retryEINTR { Int(Glibc.socket(family, type, 0)) }
        let fd = CInt(try check(r, ipv6 ? "socket(AF_INET6, SOCK_DGRAM)" : "socket(AF_INET, SOCK_DGRAM)") { e in
            e == .addressFamilyNotSupported ? "IPv6 is not available here (ipv6.disable=1, or disable_ipv6 set): enable it, or use an IPv4 address" : nil
        })
        if ipv6 {
            do throws(PathError) {
                try setOption(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, 1, "setsockopt(IPV6_V6ONLY)")
            } catch {
                Sys.close(fd)
                throw error
            }
        }
        return fd
    }

    /// bind(2) to `ep`, of either family. EADDRNOTAVAIL: the address is not
    /// on any interface here (for IPv6 also: still tentative, in DAD).
    package static func bind(_ fd: CInt, _ ep: Endpoint) throws(PathError) {
        var sa = SocketAddress(ep)
        let len = sa.length
        let r = retryEINTR {
            withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Int(Glibc.bind(fd, $0, len)) }
            }
        }
        try check(r, "bind UDP \(ep)") { e in
            if e == .addressInUse { return "port \(ep.port) is busy: another wirepath or program holds it; stop it or pick another with --port" }
            if e == .addressNotAvailable && ep.isIPv6 { return "\(ep.addressString) is not on an interface here, or is still tentative (duplicate address detection): add it with `nodad`, or wait" }
            return nil
        }
    }

    /// getsockname(2): the address the socket is bound to.
    package static func localEndpoint(_ fd: CInt) throws(PathError) -> Endpoint {
        var sa = SocketAddress()
        var len = socklen_t(MemoryLayout<SocketAddress>.size)
        let r = retryEINTR {
            withUnsafeMutablePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Int(getsockname(fd, $0, &len)) }
            }
        }
        try check(r, "getsockname")
        return sa.endpoint
    }

    /// setsockopt(2) of an int-sized option.
    package static func setOption(_ fd: CInt, _ level: CInt, _ name: CInt, _ value: CInt, _ op: @autoclosure () -> String) throws(PathError) {
        var v = value
        let r = retryEINTR { Int(setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<CInt>.size))) }
        try check(r, op())
    }

    /// setsockopt(2) of a timeval option (SO_RCVTIMEO).
    package static func setOption(_ fd: CInt, _ level: CInt, _ name: CInt, timeval tv: timeval, _ op: @autoclosure () -> String) throws(PathError) {
        var v = tv
        let r = retryEINTR { Int(setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<timeval>.size))) }
        try check(r, op())
    }

    /// setsockopt(SO_BINDTODEVICE): the socket sends and receives only
    /// through interface `name` (its routes and its packets only). EPERM:
    /// binding needs CAP_NET_RAW; ENODEV: no such interface here.
    package static func bindToDevice(_ fd: CInt, _ name: String) throws(PathError) {
        let r = retryEINTR {
            name.withCString { Int(setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1))) }
        }
        try check(r, "setsockopt(SO_BINDTODEVICE, \(name))") { e in
            e == .notPermitted ? "binding a socket to an interface needs CAP_NET_RAW before Linux 5.7 (and to change an existing binding): run as root, or leave out --interface" : nil
        }
    }

    /// getsockopt(SO_BINDTODEVICE): the interface the socket is bound to,
    /// or nil when it is not bound (or the kernel refuses).
    package static func boundDevice(_ fd: CInt) -> String? {
        var name = [CChar](repeating: 0, count: Int(IFNAMSIZ))
        var len = socklen_t(name.count)
        let r = retryEINTR { Int(getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, &name, &len)) }
        guard case .success = r, len > 0 else { return nil }
        return String(decoding: name.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// setsockopt(SO_ATTACH_REUSEPORT_CBPF): the classic BPF program that
    /// picks, for each packet, the index of the socket in the SO_REUSEPORT
    /// group (in the order the sockets joined it) that receives it. An index
    /// past the group's end falls back to the kernel's hash.
    package static func attachReusePortProgram(_ fd: CInt, _ program: [wp_sock_filter]) throws(PathError) {
        var insns = program
        let r = insns.withUnsafeMutableBufferPointer { buf in
            var prog = wp_sock_fprog(len: UInt16(buf.count), filter: buf.baseAddress)
            return retryEINTR { Int(setsockopt(fd, SOL_SOCKET, WP_SO_ATTACH_REUSEPORT_CBPF, &prog, socklen_t(MemoryLayout<wp_sock_fprog>.size))) }
        }
        try check(r, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)") { e in
            e == .invalidArgument ? "the kernel refused the reuseport program (Linux 4.5+ with SO_REUSEPORT set before bind)" : nil
        }
    }

    /// getsockopt(2) of an int-sized option: its value.
    package static func getOption(_ fd: CInt, _ level: CInt, _ name: CInt, _ op: @autoclosure () -> String) throws(PathError) -> CInt {
        var v: CInt = 0
        var len = socklen_t(MemoryLayout<CInt>.size)
        let r = retryEINTR { Int(getsockopt(fd, level, name, &v, &len)) }
        try check(r, op())
        return v
    }

    /// sendto(2): bytes sent. Expected errnos (EAGAIN, ENOBUFS, …) are counted.
    @inline(__always)
    package static func sendto(_ fd: CInt, _ buf: UnsafeRawPointer, _ n: Int, _ sa: UnsafePointer<SocketAddress>, flags: CInt) -> Result<Int, Errno> {
        let len = sa.pointee.length
        return retryEINTR {
            sa.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                // Not Glibc.sendto: see wp_sendto (no cancellation point).
                wp_sendto(fd, buf, n, flags, $0, len)
            }
        }
    }

    /// recvfrom(2): bytes received. Expected errnos (EAGAIN, …) are counted.
    @inline(__always)
    package static func recvfrom(_ fd: CInt, _ buf: UnsafeMutableRawPointer, _ n: Int, _ sa: UnsafeMutablePointer<SocketAddress>, flags: CInt) -> Result<Int, Errno> {
        var len = socklen_t(MemoryLayout<SocketAddress>.size)
        return retryEINTR {
            sa.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                // Not Glibc.recvfrom: see wp_recvfrom (no cancellation point).
                wp_recvfrom(fd, buf, n, flags, $0, &len)
            }
        }
    }

    /// sendmmsg(2): messages sent. Expected errnos are counted.
    @inline(__always)
    package static func sendmmsg(_ fd: CInt, _ msgs: UnsafeMutablePointer<wp_mmsghdr>, _ n: Int, flags: CInt) -> Result<Int, Errno> {
        retryEINTR { Int(wp_sendmmsg(fd, msgs, UInt32(n), flags)) }
    }

    /// recvmmsg(2): messages received. Expected errnos are counted.
    @inline(__always)
    package static func recvmmsg(_ fd: CInt, _ msgs: UnsafeMutablePointer<wp_mmsghdr>, _ n: Int, flags: CInt) -> Result<Int, Errno> {
        retryEINTR { Int(wp_recvmmsg(fd, msgs, UInt32(n), flags)) }
    }

    /// if_nametoindex(3) in the calling thread's network namespace; 0 if none.
    /// (0 is the C call's own "no such interface": callers name the fix.)
    package static func interfaceIndex(_ name: String) -> UInt32 { if_nametoindex(name) }
}

extension sockaddr_in {
    package init(_ ep: Endpoint) {
        self.init()
        sin_family = sa_family_t(AF_INET)
        sin_port = ep.port.bigEndian
        sin_addr = in_addr(s_addr: ep.address.bigEndian)
    }
}

extension Endpoint {
    package init(_ sa: sockaddr_in) {
        self.init(address: UInt32(bigEndian: sa.sin_addr.s_addr), port: UInt16(bigEndian: sa.sin_port))
    }
}

package func sockaddr(_ ep: Endpoint) -> sockaddr_in { sockaddr_in(ep) }

/// A socket address of either family in one fixed-size slot: a
/// `sockaddr_in6`, which has room for a `sockaddr_in` (16 of its 28 bytes).
/// Per-packet address arrays hold these, so one array serves both families;
/// `length` is what the kernel is told, from the family stored.
package struct SocketAddress {
    package var storage = sockaddr_in6()

    package init() {}

    @inline(__always)
    package init(_ ep: Endpoint) {
        if ep.isIPv6 {
            storage.sin6_family = sa_family_t(AF_INET6)
            storage.sin6_port = ep.port.bigEndian
            withUnsafeMutableBytes(of: &storage.sin6_addr) { ep.address6.store(to: $0.baseAddress!) }
        } else {
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sockaddr_in(ep), as: sockaddr_in.self) }
        }
    }

    /// The length of the address stored (sizeof sockaddr_in or sockaddr_in6).
    @inline(__always)
    package var length: socklen_t {
        storage.sin6_family == sa_family_t(AF_INET6) ? socklen_t(MemoryLayout<sockaddr_in6>.size) : socklen_t(MemoryLayout<sockaddr_in>.size)
    }

    /// The endpoint stored; a family other than the two (never from a UDP
    /// socket) reads as `Endpoint.any`.
    @inline(__always)
    package var endpoint: Endpoint {
        var s = storage
        if s.sin6_family == sa_family_t(AF_INET6) {
            let a = withUnsafeBytes(of: &s.sin6_addr) { IPv6Address(bytes: $0.baseAddress!) }
            return Endpoint(ipv6: a, port: UInt16(bigEndian: s.sin6_port))
        }
        if s.sin6_family == sa_family_t(AF_INET) {
            return Endpoint(withUnsafeBytes(of: &s) { $0.loadUnaligned(as: sockaddr_in.self) })
        }
        return .any
    }
}

extension Endpoint {
    @inline(__always)
    package init(_ sa: SocketAddress) { self = sa.endpoint }
}
