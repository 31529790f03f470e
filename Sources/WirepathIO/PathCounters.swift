/// A path's own tally of what it did. Measurement code compares these with
/// the kernel's independent counts; they are never the only source.
public struct PathCounters: Sendable, Equatable {
    public var txPackets: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var rxPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0
    /// Send and receive calls made (syscalls or ring submissions).
    public var txCalls: UInt64 = 0
    public var rxCalls: UInt64 = 0
    /// Receive calls that returned at least one packet.
    public var rxNonEmptyCalls: UInt64 = 0
    /// Wait calls (epoll_wait, poll) made.
    public var waitCalls: UInt64 = 0
    /// Multishot receives re-armed after the kernel ended them (a CQE without
    /// IORING_CQE_F_MORE, usually -ENOBUFS when the buffer ring ran dry).
    public var multishotRearms: UInt64 = 0
    /// uring with SQPOLL: io_uring_enter calls made only to wake the kernel's
    /// SQ poll thread, which had set IORING_SQ_NEED_WAKEUP and gone to sleep.
    public var sqpollWakeups: UInt64 = 0
    /// uring with send_zc: notifications (IORING_CQE_F_NOTIF) whose usage
    /// report said the kernel copied the data after all
    /// (IORING_NOTIF_USAGE_ZC_COPIED), and those that said it sent from the
    /// caller's pages.
    public var zcCopied: UInt64 = 0
    public var zcZeroCopy: UInt64 = 0
    public var errnos = ErrnoTally()
    /// xdp: kicks, the XDP program's verdicts and the socket's drops.
    public var xdp = XDPCounters()

    public init() {}

    /// Packets per receive call that returned data: how much batching the
    /// receive side actually got.
    public var rxPacketsPerCall: Double {
        rxNonEmptyCalls == 0 ? 0 : Double(rxPackets) / Double(rxNonEmptyCalls)
    }

    public var txPacketsPerCall: Double {
        txCalls == 0 ? 0 : Double(txPackets) / Double(txCalls)
    }

    /// The difference `self - start`, for a measured window.
    public func since(_ start: PathCounters) -> PathCounters {
        var d = PathCounters()
        d.txPackets = txPackets &- start.txPackets
        d.txBytes = txBytes &- start.txBytes
        d.rxPackets = rxPackets &- start.rxPackets
        d.rxBytes = rxBytes &- start.rxBytes
        d.txCalls = txCalls &- start.txCalls
        d.rxCalls = rxCalls &- start.rxCalls
        d.rxNonEmptyCalls = rxNonEmptyCalls &- start.rxNonEmptyCalls
        d.waitCalls = waitCalls &- start.waitCalls
        d.multishotRearms = multishotRearms &- start.multishotRearms
        d.sqpollWakeups = sqpollWakeups &- start.sqpollWakeups
        d.xdp = xdp.since(start.xdp)
        d.zcCopied = zcCopied &- start.zcCopied
        d.zcZeroCopy = zcZeroCopy &- start.zcZeroCopy
        var e = ErrnoTally()
        for k in ExpectedErrno.allCases {
            e.addMany(k, errnos[k] &- start.errnos[k])
        }
        d.errnos = e
        return d
    }
}
