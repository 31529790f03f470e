import Glibc

// The data-path errno policy, shared by every path: a data-path call returns
// `Result<Int, Errno>` (Sys.swift); its expected errnos (ExpectedErrno: EAGAIN,
// ENOBUFS, EBUSY, …, the ones each call lists beside it) are counted in the
// path's counters and mean "no progress this call"; anything else is an error.

/// Counts an expected errno and returns; throws any other as `PathError`.
/// Nothing here allocates for an expected errno: the error text is built
/// only on the throwing branch.
@inline(__always)
package func classify(_ e: Errno, _ counters: inout PathCounters, _ op: StaticString) throws(PathError) {
    if let expected = ExpectedErrno(e) {
        counters.errnos.add(expected)
        return
    }
    precondition(e.rawValue != EBADF && e.rawValue != EFAULT, "\(op): \(Sys.errnoName(e)) is a Wirepath bug")
    throw Sys.error("\(op)", e)
}

/// A data-path call's result: its value, or nil once an expected errno was
/// counted (`classify`); an unexpected errno throws. For this module's own
/// paths, where it inlines; the uring and xdp paths (other modules, where
/// this call would stay out of line) call `classify` on the failure branch
/// only, so nothing out of line runs when a call succeeds.
@inline(__always)
package func counted(_ r: Result<Int, Errno>, _ counters: inout PathCounters, _ op: StaticString) throws(PathError) -> Int? {
    switch r {
    case .success(let v): return v
    case .failure(let e):
        try classify(e, &counters, op)
        return nil
    }
}

/// The reflector's variant of `classify` for a send (`SendFailurePolicy.countAndSkip`):
/// never throws. A full queue (EAGAIN, ENOBUFS, EBUSY, EINTR, ENOMEM) is
/// counted in `counters.errnos` and returns false: nothing was sent, the
/// caller resends. Any other errno is that packet's destination failing
/// (EINVAL for source port 0, EPERM from a firewall's output hook,
/// EHOSTUNREACH, EMSGSIZE, …): it is counted in `counters.sendFailures` and
/// returns true, the packet is dropped and the send goes on with the next.
/// Nothing allocates on either branch.
@inline(__always)
package func countSendFailure(_ e: Errno, _ counters: inout PathCounters) -> Bool {
    precondition(e.rawValue != EBADF && e.rawValue != EFAULT, "send: \(Sys.errnoName(e)) is a Wirepath bug")
    switch e.rawValue {
    case EAGAIN, ENOBUFS, EBUSY, EINTR, ENOMEM:
        if let expected = ExpectedErrno(e) { counters.errnos.add(expected) }
        return false
    default:
        counters.sendFailures.add(SendFailure(e))
        return true
    }
}
