/// The shim: one batch-oriented interface that every packet I/O path implements.
///
/// A path owns its kernel objects (socket, ring, UMEM, XSK, …) and releases each
/// exactly once in `deinit`: conforming types are `~Copyable`, so there is
/// exactly one owner and no double close.
///
/// The data path contract:
/// - `receive(into:)` fills `batch` from slot 0 and returns how many packets it
///   holds. It returns 0 when nothing arrived within one wait tick (`block`,
///   `epoll`) or at once (`spin`); the caller owns deadlines and stop flags.
/// - `send(_:)` transmits `batch[0..<batch.count]`, each to its slot endpoint,
///   and returns how many the kernel accepted. A full queue (EAGAIN, ENOBUFS) is
///   counted in `counters.errnos` and shows up as a short count, not an error.
/// - Neither call allocates or retains: buffers and descriptor arrays are set up
///   once in `init`, and measurement loops are generic over the path type, so
///   every call is statically dispatched.
public protocol PacketPath: ~Copyable {
    /// Which path this is.
    static var kind: PathKind { get }

    /// Opens the path's kernel objects for `config`, bound to `config.local`.
    init(_ config: PathConfig) throws(PathError)

    /// Receives up to `batch.capacity` packets into `batch`; returns `batch.count`.
    mutating func receive(into batch: inout PacketBatch) throws(PathError) -> Int

    /// Sends `batch[0..<batch.count]`; returns how many were accepted.
    mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int

    /// What `send` does when one packet's destination fails (an errno
    /// outside the queue-full set): `.throw` (the default, for clients) or
    /// `.countAndSkip` (the reflector). A stored property of each path, so
    /// that a new path has to decide.
    var sendFailurePolicy: SendFailurePolicy { get set }

    /// The path's own tally: packets, bytes, calls and expected errnos.
    var counters: PathCounters { get }

    /// Facts learned at run time (NAPI id, mode in effect, fallbacks).
    var info: PathInfo { get }

    /// Tells the path what the caller now receives, so that a path able to
    /// trade a little latency for fewer wakeups knows when it may. The
    /// default does nothing.
    mutating func expect(_ traffic: ReceiveTraffic)

    /// With `PathConfig.stamping` on: the next transmit stamp the kernel
    /// reported (the error queue, or the ring), nil when none is waiting.
    /// Never blocks; called after a send, off the measured interval. The
    /// default (a path that cannot stamp) returns nil.
    mutating func nextTxStamp() -> TxStamp?

    /// What the path's stamps are, with `PathConfig.stamping` on: the clock
    /// of `PacketBatch.rxStamp` and whether `nextTxStamp` ever gives one.
    /// The default is a kernel socket's (SO_TIMESTAMPING).
    static var stampSupport: StampSupport { get }
}

extension PacketPath where Self: ~Copyable {
    public mutating func expect(_ traffic: ReceiveTraffic) {}
    public mutating func nextTxStamp() -> TxStamp? { nil }
    public static var stampSupport: StampSupport { .socket }
}

/// What a path can stamp (`--stages`).
public struct StampSupport: Sendable, Equatable {
    /// The clock of the receive stamps.
    public enum Clock: Sendable, Equatable {
        /// CLOCK_REALTIME: the kernel's software stamps (SO_TIMESTAMPING).
        case realtime
        /// CLOCK_MONOTONIC: an XDP program's bpf_ktime_get_ns(), the
        /// application's own clock (no conversion).
        case monotonic
    }
    public var rxClock: Clock
    /// Whether the path reports transmit stamps (TX_SCHED, driver TX).
    public var transmit: Bool
    public init(rxClock: Clock, transmit: Bool) { self.rxClock = rxClock; self.transmit = transmit }
    /// SO_TIMESTAMPING on a kernel socket: realtime receive stamps, both
    /// transmit points from the error queue.
    public static let socket = StampSupport(rxClock: .realtime, transmit: true)
}

/// What a receiver is fed.
public enum ReceiveTraffic: Sendable, Equatable {
    /// Requests answered one by one (a ping-pong): wake at the first packet.
    case requests
    /// A flood: a packet may wait briefly for the ones behind it.
    case stream
}

/// The four packet I/O paths.
public enum PathKind: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case socket, mmsg, uring, xdp
    public var description: String { rawValue }

    /// The paths implemented in this build, in the order `compare` runs them.
    public static let implemented: [PathKind] = [.socket, .mmsg, .uring, .xdp]

    public static func parse(_ text: String) throws(ConfigError) -> PathKind {
        guard let kind = PathKind(rawValue: text.lowercased()) else {
            throw ConfigError("unknown path '\(text)'; valid paths are: \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return kind
    }
}

/// How a path waits for packets.
public enum WaitMode: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// Blocking calls; the thread sleeps in the kernel until a packet arrives.
    case block
    /// A non-blocking socket and `epoll_wait` (level-triggered).
    case epoll
    /// A non-blocking socket polled in a busy loop; never sleeps.
    case spin
    public var description: String { rawValue }

    public static func parse(_ text: String) throws(ConfigError) -> WaitMode {
        guard let mode = WaitMode(rawValue: text.lowercased()) else {
            throw ConfigError("unknown wait mode '\(text)'; valid modes are: \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return mode
    }
}

/// What a path learned about itself once open.
public struct PathInfo: Codable, Sendable, Equatable {
    /// `SO_INCOMING_NAPI_ID` of the socket after the last packet received; 0 = none.
    public var napiID: UInt32 = 0
    /// `SO_INCOMING_CPU` of the socket after the last packet received: the
    /// CPU whose receive delivered it. nil: none yet, or no socket (xdp).
    public var incomingCPU: Int?
    /// Whether `SO_BUSY_POLL` was set (and accepted).
    public var busyPollMicros: Int?
    /// Whether `SO_PREFER_BUSY_POLL` was accepted.
    public var preferBusyPoll: Bool = false
    /// Human-readable notes: fallbacks, modes in effect, limits.
    public var notes: [String] = []
    /// xdp: the modes in effect and why, busy-poll's state.
    public var xdp: XDPRunInfo?
    public init() {}
}
