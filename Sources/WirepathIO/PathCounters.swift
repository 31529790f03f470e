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
    /// `--gro`: received buffers the kernel had coalesced (a UDP_GRO cmsg),
    /// and buffers dropped whole for a bad segment size or truncation.
    public var groCoalesced: UInt64 = 0
    public var groDropped: UInt64 = 0
    public var errnos = ErrnoTally<ExpectedErrno>()
    /// Packets dropped because their send failed for their destination
    /// (`SendFailurePolicy.countAndSkip`; a throwing path never counts here).
    public var sendFailures = SendFailureTally()
    /// uring: multishot re-arms, SQPOLL wakeups, send_zc notifications.
    public var uring = UringCounters()
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
        d.groCoalesced = groCoalesced &- start.groCoalesced
        d.groDropped = groDropped &- start.groDropped
        d.uring = uring.since(start.uring)
        d.xdp = xdp.since(start.xdp)
        d.errnos = errnos.since(start.errnos)
        d.sendFailures = sendFailures.since(start.sendFailures)
        return d
    }
}
