// Sys.swift — the rules of the syscall layer, the EINTR retry, and how a
// failed call becomes an error. The calls themselves are wrapped once, by
// subject: Sys+File, Sys+Socket, Sys+Epoll, Sys+Memory, Sys+Time here;
// Sys+Uring, Sys+XDP and Sys+Process in the modules that need them.
//
// Rules (after swift-system and swift-nio):
// - `retryEINTR` is the one place EINTR is retried.
// - errno is read right after the call, before any other Swift code can run
//   and overwrite it, and becomes a typed `Errno` (System/Errno.swift).
//   Only this layer sees a -1/errno or -errno integer.
// - Two shapes, one per kind of call:
//   * a data-path call whose errnos are counted (EAGAIN, ENOBUFS, …)
//     returns `Result<Int, Errno>`: the expected errno is a value, built and
//     matched without allocating (DataPathErrno.swift's `classify` counts it);
//   * a setup call throws `PathError`: operation, errno and a hint.
// - `close` is never retried: after EINTR the descriptor is already gone.
// - An errno that can only mean a bug (EBADF, EFAULT, EINVAL on a data call)
//   is a precondition failure.
import CWirepath
import Glibc

package enum Sys {
    /// Runs `body` (one C call), retrying on EINTR. Returns the call's
    /// result, or its errno. The call reports failure as -1 with errno set
    /// (libc), or with `returnsNegativeErrno` as `-errno` itself (liburing,
    /// which leaves errno alone).
    ///
    /// Inlinable: the uring and xdp wrappers call it from their own modules
    /// on the data path, and inline it there as the socket ones do here.
    ///
    /// No `unless` here: a closure default argument is built by a generator
    /// function and released after each call that the optimizer does not
    /// inline (measured: one swift_release per io_uring_enter from
    /// WirepathUring), which the data path must not pay.
    @inlinable @inline(__always)
    package static func retryEINTR(returnsNegativeErrno: Bool = false, _ body: () -> Int) -> Result<Int, Errno> {
        while true {
            let r = body()
            if r >= 0 { return .success(r) }
            let e = returnsNegativeErrno ? Int32(truncatingIfNeeded: -r) : Glibc.errno
            if e != EINTR { return .failure(Errno(rawValue: e)) }
        }
    }

    /// `retryEINTR` that asks `giveUp` after each EINTR and, when it says so,
    /// returns EINTR instead of retrying (a sleep that SIGINT cuts short).
    @inlinable
    package static func retryEINTR(returnsNegativeErrno: Bool, unless giveUp: () -> Bool,
                                   _ body: () -> Int) -> Result<Int, Errno> {
        while true {
            let r = body()
            if r >= 0 { return .success(r) }
            let e = returnsNegativeErrno ? Int32(truncatingIfNeeded: -r) : Glibc.errno
            if e != EINTR || giveUp() { return .failure(Errno(rawValue: e)) }
        }
    }

    /// A call that returns `-errno` itself and is never retried (libxdp,
    /// libbpf, io_uring_queue_init): its result as the layer's one shape.
    @inlinable @inline(__always)
    package static func negativeErrno(_ r: Int) -> Result<Int, Errno> {
        r >= 0 ? .success(r) : .failure(Errno(rawValue: Int32(truncatingIfNeeded: -r)))
    }

    /// The errno's symbol, "EAGAIN" (strerrorname_np(3)).
    package static func errnoName(_ e: Errno) -> String { String(cString: wp_errno_name(e.rawValue)) }

    /// Builds the error for a failed call: operation, errno name and a hint.
    package static func error(_ op: String, _ e: Errno, hint: String? = nil) -> PathError {
        PathError(operation: op, errno: e, errnoName: "\(errnoName(e)) (\(String(cString: strerror(e.rawValue))))", hint: hint ?? defaultHint(e))
    }

    package static func defaultHint(_ e: Errno) -> String? {
        switch e.rawValue {
        case EPERM, EACCES: "run as root or grant CAP_NET_ADMIN (and CAP_PERFMON for syscall counting)"
        case EADDRINUSE: "another process holds this port; stop it or choose another with --port"
        case EADDRNOTAVAIL: "the address is not configured on any interface in this namespace; check --bind/--peer"
        case ENETUNREACH: "no route to the peer from this namespace; check the address and the topology"
        case ENOSYS: "this kernel does not implement the call"
        default: nil
        }
    }

    /// A setup call's result, or the `PathError` for `op`; `hint` may name
    /// the fix for a particular errno (nil: the default hint).
    @discardableResult
    package static func check(_ r: Result<Int, Errno>, _ op: @autoclosure () -> String,
                              hint: (Errno) -> String? = { _ in nil }) throws(PathError) -> Int {
        switch r {
        case .success(let v): return v
        case .failure(let e): throw error(op(), e, hint: hint(e))
        }
    }
}
