/// The errnos a path expects on its data path. They are counted, not thrown.
public enum ExpectedErrno: Int, CaseIterable, Sendable {
    case eagain, enobufs, ebusy, enetdown, econnrefused, eintr, enomem, emsgsize

    public var value: Int32 {
        switch self {
        case .eagain: 11
        case .enobufs: 105
        case .ebusy: 16
        case .enetdown: 100
        case .econnrefused: 111
        case .eintr: 4
        case .enomem: 12
        case .emsgsize: 90
        }
    }

    public var name: String {
        switch self {
        case .eagain: "EAGAIN"
        case .enobufs: "ENOBUFS"
        case .ebusy: "EBUSY"
        case .enetdown: "ENETDOWN"
        case .econnrefused: "ECONNREFUSED"
        case .eintr: "EINTR"
        case .enomem: "ENOMEM"
        case .emsgsize: "EMSGSIZE"
        }
    }

    /// A switch, not a search of `allCases`: that builds an array, and this
    /// runs on the data path for every EAGAIN of a spinning receive.
    @inlinable
    public init?(errno: Int32) {
        switch errno {
        case 11: self = .eagain
        case 105: self = .enobufs
        case 16: self = .ebusy
        case 100: self = .enetdown
        case 111: self = .econnrefused
        case 4: self = .eintr
        case 12: self = .enomem
        case 90: self = .emsgsize
        default: return nil
        }
    }
}

/// A fixed-size tally of expected errnos: updating it never allocates.
public struct ErrnoTally: Sendable, Equatable {
    @usableFromInline var counts = InlineArray<8, UInt64>(repeating: 0)

    public init() {}

    @inlinable
    public mutating func add(_ e: ExpectedErrno) { counts[e.rawValue] &+= 1 }

    public subscript(_ e: ExpectedErrno) -> UInt64 { counts[e.rawValue] }

    /// Non-zero counts by errno name, for reports.
    public var byName: [String: UInt64] {
        var out: [String: UInt64] = [:]
        for e in ExpectedErrno.allCases where counts[e.rawValue] > 0 { out[e.name] = counts[e.rawValue] }
        return out
    }

    public static func == (a: ErrnoTally, b: ErrnoTally) -> Bool {
        ExpectedErrno.allCases.allSatisfy { a[$0] == b[$0] }
    }
}

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

extension ErrnoTally {
    public mutating func addMany(_ e: ExpectedErrno, _ n: UInt64) { counts[e.rawValue] &+= n }
}
