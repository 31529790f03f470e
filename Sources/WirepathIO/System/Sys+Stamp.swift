// Sys+Stamp.swift — the kernel's packet timestamps: the socket option that
// turns them on, recvmsg(2) for a stamped receive and the error queue, and
// CLOCK_REALTIME (the clock software stamps are taken on). Wrapped once
// (rules in Sys.swift).
import Glibc

extension Sys {
    /// recvmsg(2). Expected errnos (EAGAIN: nothing queued, or an empty
    /// error queue) are counted by the caller.
    @inline(__always)
    package static func recvmsg(_ fd: CInt, _ msg: UnsafeMutablePointer<msghdr>, flags: CInt) -> Result<Int, Errno> {
        retryEINTR { Glibc.recvmsg(fd, msg, flags) }
    }

    /// setsockopt(SO_TIMESTAMPING) with `flags` (SOF_TIMESTAMPING_*).
    package static func enableTimestamping(_ fd: CInt, flags: UInt32) throws(PathError) {
        try setOption(fd, SOL_SOCKET, KernelStamp.soTimestamping, CInt(bitPattern: flags), "setsockopt(SO_TIMESTAMPING)")
    }

    /// CLOCK_REALTIME in ns (vDSO; no syscall): the clock of the kernel's
    /// software packet stamps.
    @inline(__always)
    package static func realtimeNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
