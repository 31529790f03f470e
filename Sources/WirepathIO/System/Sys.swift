// System.swift — every raw syscall Wirepath makes, wrapped once.
//
// Rules (after swift-system and swift-nio):
// - `retryEINTR` is the one place EINTR is retried.
// - Calls return the result or `-errno`; errno is read right after the call,
//   before any other Swift code can run and overwrite it.
// - EAGAIN and friends are values for the data path to count, not errors.
// - `close` is never retried: after EINTR the descriptor is already gone.
// - An errno that can only mean a bug (EBADF, EFAULT, EINVAL on a data call)
//   is a precondition failure.
import CWirepath
import Glibc

package enum Sys {
    /// Runs `body` (one C call), retrying on EINTR. Returns the call's
    /// result, or `-errno`. The call reports failure as -1 with errno set
    /// (libc), or with `returnsNegativeErrno` as `-errno` itself (liburing,
    /// which leaves errno alone). `unless` is asked after each EINTR; when it
    /// says so the call is not retried and -EINTR is returned (a sleep that
    /// SIGINT should cut short).
    @inline(__always)
    package static func retryEINTR(returnsNegativeErrno: Bool = false, unless giveUp: () -> Bool = { false },
                           _ body: () -> Int) -> Int {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = returnsNegativeErrno ? Int32(-r) : Glibc.errno
            if e != EINTR || giveUp() { return -Int(e) }
        }
    }

    package static func errnoName(_ e: Int32) -> String { String(cString: wp_errno_name(e)) }

    /// Builds the error for a failed call: operation, errno name and a hint.
    package static func error(_ op: String, _ e: Int32, hint: String? = nil) -> PathError {
        PathError(operation: op, errno: e, errnoName: "\(errnoName(e)) (\(String(cString: strerror(e))))", hint: hint ?? defaultHint(e))
    }

    package static func defaultHint(_ e: Int32) -> String? {
        switch e {
        case EPERM, EACCES: "run as root or grant CAP_NET_ADMIN (and CAP_PERFMON for syscall counting)"
        case EADDRINUSE: "another process holds this port; stop it or choose another with --port"
        case EADDRNOTAVAIL: "the address is not configured on any interface in this namespace; check --bind/--peer"
        case ENETUNREACH: "no route to the peer from this namespace; check the address and the topology"
        case ENOSYS: "this kernel does not implement the call"
        default: nil
        }
    }

    package static func check(_ r: Int, _ op: @autoclosure () -> String) throws(PathError) -> Int {
        if r < 0 { throw error(op(), Int32(-r)) }
        return r
    }

    // MARK: Descriptors

    /// close(2). Never retried: on Linux the descriptor is released even when
    /// close reports EINTR, and a retry could close a reused number.
    package static func close(_ fd: CInt) {
        let r = Glibc.close(fd)
        precondition(r == 0 || Glibc.errno != EBADF, "close(\(fd)): EBADF, a descriptor was closed twice")
    }

    package static func open(_ path: String, flags: CInt) throws(PathError) -> CInt {
        let r = retryEINTR { Int(Glibc.open(path, flags | O_CLOEXEC)) }
        return CInt(try check(r, "open \(path)"))
    }

    package static func read(_ fd: CInt, _ buf: UnsafeMutableRawPointer, _ n: Int) -> Int {
        retryEINTR { Glibc.read(fd, buf, n) }
    }

    // MARK: Sockets

    package static func udpSocket(nonBlocking: Bool) throws(PathError) -> CInt {
        var type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let r = retryEINTR { Int(Glibc.socket(AF_INET, type, 0)) }
        return CInt(try check(r, "socket(AF_INET, SOCK_DGRAM)"))
    }

    package static func bind(_ fd: CInt, _ ep: Endpoint) throws(PathError) {
        var sa = sockaddr(ep)
        let r = retryEINTR {
            withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Int(Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))) }
            }
        }
        if r < 0 {
            let e = Int32(-r)
            throw error("bind UDP \(ep)", e, hint: e == EADDRINUSE ? "port \(ep.port) is busy: another wirepath or program holds it; stop it or pick another with --port" : nil)
        }
    }

    package static func localEndpoint(_ fd: CInt) throws(PathError) -> Endpoint {
        var sa = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let r = retryEINTR {
            withUnsafeMutablePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Int(getsockname(fd, $0, &len)) }
            }
        }
        _ = try check(r, "getsockname")
        return Endpoint(sa)
    }

    package static func setOption(_ fd: CInt, _ level: CInt, _ name: CInt, _ value: CInt, _ op: @autoclosure () -> String) throws(PathError) {
        var v = value
        let r = retryEINTR { Int(setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<CInt>.size))) }
        _ = try check(r, op())
    }

    package static func setOption(_ fd: CInt, _ level: CInt, _ name: CInt, timeval tv: timeval, _ op: @autoclosure () -> String) throws(PathError) {
        var v = tv
        let r = retryEINTR { Int(setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<timeval>.size))) }
        _ = try check(r, op())
    }

    /// setsockopt(SO_BINDTODEVICE): the socket sends and receives only
    /// through interface `name` (its routes and its packets only). EPERM:
    /// binding needs CAP_NET_RAW; ENODEV: no such interface here.
    package static func bindToDevice(_ fd: CInt, _ name: String) throws(PathError) {
        let r = retryEINTR {
            name.withCString { Int(setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1))) }
        }
        if r < 0 {
            let e = Int32(-r)
            throw error("setsockopt(SO_BINDTODEVICE, \(name))", e,
                        hint: e == EPERM ? "binding a socket to an interface needs CAP_NET_RAW before Linux 5.7 (and to change an existing binding): run as root, or leave out --interface" : nil)
        }
    }

    /// getsockopt(SO_BINDTODEVICE): the interface the socket is bound to,
    /// or nil when it is not bound (or the kernel refuses).
    package static func boundDevice(_ fd: CInt) -> String? {
        var name = [CChar](repeating: 0, count: Int(IFNAMSIZ))
        var len = socklen_t(name.count)
        let r = retryEINTR { Int(getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, &name, &len)) }
        guard r == 0, len > 0 else { return nil }
        return String(decoding: name.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// getsockopt for an int-sized option; returns the value or -errno.
    package static func getOption(_ fd: CInt, _ level: CInt, _ name: CInt) -> Int {
        var v: CInt = 0
        var len = socklen_t(MemoryLayout<CInt>.size)
        let r = retryEINTR { Int(getsockopt(fd, level, name, &v, &len)) }
        return r < 0 ? r : Int(v)
    }

    /// sendto(2); returns bytes sent or -errno.
    @inline(__always)
    package static func sendto(_ fd: CInt, _ buf: UnsafeRawPointer, _ n: Int, _ sa: UnsafePointer<sockaddr_in>, flags: CInt) -> Int {
        retryEINTR {
            sa.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.sendto(fd, buf, n, flags, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// recvfrom(2); returns bytes received or -errno.
    @inline(__always)
    package static func recvfrom(_ fd: CInt, _ buf: UnsafeMutableRawPointer, _ n: Int, _ sa: UnsafeMutablePointer<sockaddr_in>, flags: CInt) -> Int {
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        return retryEINTR {
            sa.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.recvfrom(fd, buf, n, flags, $0, &len)
            }
        }
    }

    /// sendmmsg(2); returns messages sent or -errno.
    @inline(__always)
    package static func sendmmsg(_ fd: CInt, _ msgs: UnsafeMutablePointer<wp_mmsghdr>, _ n: Int, flags: CInt) -> Int {
        retryEINTR { Int(wp_sendmmsg(fd, msgs, UInt32(n), flags)) }
    }

    /// recvmmsg(2); returns messages received or -errno.
    @inline(__always)
    package static func recvmmsg(_ fd: CInt, _ msgs: UnsafeMutablePointer<wp_mmsghdr>, _ n: Int, flags: CInt) -> Int {
        retryEINTR { Int(wp_recvmmsg(fd, msgs, UInt32(n), flags)) }
    }

    /// if_nametoindex(3) in the calling thread's network namespace; 0 if none.
    package static func interfaceIndex(_ name: String) -> UInt32 { if_nametoindex(name) }

    // MARK: epoll

    package static func epollCreate() throws(PathError) -> CInt {
        let r = retryEINTR { Int(epoll_create1(CInt(EPOLL_CLOEXEC))) }
        return CInt(try check(r, "epoll_create1"))
    }

    /// eventfd(2), non-blocking and close-on-exec.
    package static func eventFD() throws(PathError) -> CInt {
        let r = retryEINTR { Int(wp_eventfd()) }
        return CInt(try check(r, "eventfd"))
    }
    package static func epollAdd(_ ep: CInt, _ fd: CInt, events: UInt32) throws(PathError) {
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        let r = retryEINTR { Int(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) }
        _ = try check(r, "epoll_ctl(ADD)")
    }

    /// epoll_wait(2); returns ready count (0 on timeout) or -errno.
    @inline(__always)
    package static func epollWait(_ ep: CInt, _ events: UnsafeMutablePointer<epoll_event>, _ max: Int, timeoutMillis: CInt) -> Int {
        retryEINTR { Int(epoll_wait(ep, events, CInt(max), timeoutMillis)) }
    }

    // MARK: Memory

    /// mmap(2) of `bytes` of private, anonymous, zero-filled read-write memory
    /// (page-aligned, as a provided-buffer ring must be).
    package static func mapAnonymous(_ bytes: Int, _ op: @autoclosure () -> String) throws(PathError) -> UnsafeMutableRawPointer {
        let p = Glibc.mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        // MAP_FAILED is ((void *) -1), a macro Swift does not import.
        guard let p, UInt(bitPattern: p) != UInt.max else { throw error(op(), Glibc.errno) }
        return p
    }

    /// munmap(2). Fails only for a range that was never mapped: a bug.
    package static func unmap(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
        let r = Glibc.munmap(p, bytes)
        precondition(r == 0, "munmap: \(errnoName(Glibc.errno)), a mapping was released twice")
    }

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
