/// What the xdp path and its XDP program counted. A plain value with no
/// allocation; `since` gives a window's share.
public struct XDPCounters: Codable, Sendable, Equatable {
    /// sendto(2) kicks that asked the kernel to transmit the TX ring (copy
    /// mode sends at most 32 frames per kick).
    public var txKicks: UInt64 = 0
    /// recvfrom(2) kicks that woke the kernel to refill from the fill ring.
    public var rxKicks: UInt64 = 0
    /// The XDP program's per-CPU counters, summed (see bpf/wirepath_xdp.h):
    /// test-flow packets redirected to the socket, other packets passed to
    /// the stack, and test-flow packets passed because no socket was bound.
    public var redirected: UInt64 = 0
    public var passed: UInt64 = 0
    public var passedNoSocket: UInt64 = 0
    /// The socket's XDP_STATISTICS: packets the kernel redirected but dropped
    /// (no fill-ring frame, RX ring full), and frames the RX ring had no room for.
    public var socketRxDropped: UInt64 = 0
    public var socketRxRingFull: UInt64 = 0
    public var fillRingEmpty: UInt64 = 0
    /// Ceiling mode: flood packets the program dropped (`XDPOptions.dropFlood`).
    public var dropped: UInt64 = 0

    public init() {}

    public var kicks: UInt64 { txKicks &+ rxKicks }
    public var isZero: Bool { self == XDPCounters() }

    public func since(_ s: XDPCounters) -> XDPCounters {
        var d = XDPCounters()
        d.txKicks = txKicks &- s.txKicks
        d.rxKicks = rxKicks &- s.rxKicks
        d.redirected = redirected &- s.redirected
        d.passed = passed &- s.passed
        d.passedNoSocket = passedNoSocket &- s.passedNoSocket
        d.socketRxDropped = socketRxDropped &- s.socketRxDropped
        d.socketRxRingFull = socketRxRingFull &- s.socketRxRingFull
        d.fillRingEmpty = fillRingEmpty &- s.fillRingEmpty
        d.dropped = dropped &- s.dropped
        return d
    }

    /// The wire form in a PeerReport: a fixed number of u64 fields.
    package static let wireFieldCount = 9
    package var wire: [UInt64] {
        [txKicks, rxKicks, redirected, passed, passedNoSocket, socketRxDropped, socketRxRingFull, fillRingEmpty, dropped]
    }
    package init(wire f: ArraySlice<UInt64>) {
        let a = Array(f)
        txKicks = a[0]; rxKicks = a[1]; redirected = a[2]; passed = a[3]; passedNoSocket = a[4]
        socketRxDropped = a[5]; socketRxRingFull = a[6]; fillRingEmpty = a[7]; dropped = a[8]
    }
}
