// Sys+Epoll.swift — epoll and eventfd, wrapped once (rules in Sys.swift).
import CWirepath
import Glibc

extension Sys {
    /// epoll_create1(2), close-on-exec.
    package static func epollCreate() throws(PathError) -> CInt {
        let r = retryEINTR { Int(epoll_create1(CInt(EPOLL_CLOEXEC))) }
        return CInt(try check(r, "epoll_create1"))
    }

    /// eventfd(2), non-blocking and close-on-exec.
    package static func eventFD() throws(PathError) -> CInt {
        let r = retryEINTR { Int(wp_eventfd()) }
        return CInt(try check(r, "eventfd"))
    }

    /// epoll_ctl(2) EPOLL_CTL_ADD of `fd` for `events`.
    package static func epollAdd(_ ep: CInt, _ fd: CInt, events: UInt32) throws(PathError) {
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        let r = retryEINTR { Int(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) }
        try check(r, "epoll_ctl(ADD)")
    }

    /// epoll_wait(2): the ready count (0 on timeout).
    @inline(__always)
    package static func epollWait(_ ep: CInt, _ events: UnsafeMutablePointer<epoll_event>, _ max: Int, timeoutMillis: CInt) -> Result<Int, Errno> {
        retryEINTR { Int(epoll_wait(ep, events, CInt(max), timeoutMillis)) }
    }
}
