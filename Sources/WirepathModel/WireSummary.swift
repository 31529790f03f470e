import WirepathIO

/// Which way a packet crossed the vantage point.
public enum WireDirection: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case clientToReflector, reflectorToClient
    public var description: String { self == .clientToReflector ? "client→reflector" : "reflector→client" }
}

/// What one direction of one run looked like on the wire.
///
/// Test packets fall into four classes by their header: the measured
/// window's data packets (sequence numbers below 2^61), the warm-up pings
/// (2^62 and up), the syscall-counting window's data packets (2^61 up to
/// 2^62) and control packets (kind 3: begin, ack, end, report). Sequence
/// accounting (unique, gaps, duplicates, reordering) covers the measured
/// window's data packets that arrived intact; the other classes are counted.
public struct WireDirectionStats: Codable, Sendable, Equatable {
    public var direction: WireDirection
    /// Every frame of the run in this direction, and their bytes on the wire.
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    /// Measured-window data frames, intact or not.
    public var dataPackets: UInt64 = 0
    public var dataBytes: UInt64 = 0
    /// Distinct sequence numbers among the intact measured-window frames.
    public var unique: UInt64 = 0
    public var duplicates: UInt64 = 0
    /// Intact frames that came after a higher sequence number.
    public var reordered: UInt64 = 0
    /// Sequence numbers missing below the highest one seen.
    public var gaps: UInt64 = 0
    /// The highest measured-window sequence number seen, if any.
    public var highestSeq: UInt64?
    public var warmupPackets: UInt64 = 0
    public var syscallWindowPackets: UInt64 = 0
    public var controlPackets: UInt64 = 0
    /// Frames whose payload fails its integrity check; `integrityFailuresKernelDrops`
    /// of them also carry a bad checksum, so the receiving kernel drops them
    /// and the program never sees them.
    public var integrityFailures: UInt64 = 0
    public var integrityFailuresKernelDrops: UInt64 = 0
    /// Intact payload, bad IPv4 or UDP checksum: the kernel drops these too.
    public var checksumFailures: UInt64 = 0
    /// Ethernet destination is not the flow's usual one: the receiving
    /// device discards the frame (its bits were changed on the way).
    public var misaddressed: UInt64 = 0
    /// Warm-up, syscall-window or control frames damaged on the way.
    public var damagedOther: UInt64 = 0
    /// Frames whose UDP checksum was left to offload (not checkable here).
    public var offloadedChecksums: UInt64 = 0
    /// Frames cut by the snaplen: header read, integrity not checked.
    public var integrityUnchecked: UInt64 = 0
    public var firstNs: UInt64?
    public var lastNs: UInt64?

    public init(direction: WireDirection) { self.direction = direction }

    /// Measured-window frames damaged on the way (the three above).
    public var damaged: UInt64 { integrityFailures + checksumFailures + misaddressed }
}

/// One run (one run id) as the wire saw it.
public struct WireRun: Codable, Sendable, Equatable {
    public var runID: UInt64
    /// "pingpong" or "flood" from its data packets; "control" when only
    /// control packets were seen.
    public var kind: String
    public var clientToReflector: WireDirectionStats
    public var reflectorToClient: WireDirectionStats
    /// Request → reply time at the vantage point, per measured-window ping
    /// whose request and reply were both seen intact (first copy of each).
    public var wireRTT: LatencySummary?
    /// Frames to the reflector (any run, any kind, including non-Wirepath
    /// UDP to its port) that arrived while its measured window was open, as
    /// the reflector counts them: after the begin request, up to and
    /// including the end request. nil when the window's bounds were not seen.
    public var reflectorRxInWindow: UInt64?
    /// Frames from the reflector in its window: from the begin
    /// acknowledgement up to, not including, the report.
    public var reflectorTxInWindow: UInt64?
    /// Replies whose wire RTT exceeded the timeout given to the audit.
    public var lateReplies: UInt64 = 0

    public func stats(_ d: WireDirection) -> WireDirectionStats { d == .clientToReflector ? clientToReflector : reflectorToClient }
    public var runIDHex: String { "0x" + String(runID, radix: 16) }
}

/// Everything a capture held, by run and direction, plus what was not ours.
public struct WireSummary: Codable, Sendable, Equatable {
    public var linkType: Int32
    public var snaplen: Int
    public var frames: UInt64 = 0
    public var bytes: UInt64 = 0
    public var runs: [WireRun] = []
    /// Foreign traffic by kind, and malformed frames by reason.
    public var foreign: [String: UInt64] = [:]
    public var malformed: [String: UInt64] = [:]
    /// Test-header frames too damaged to say which run they belong to
    /// (their run id is not one the capture holds intact), by direction.
    public var unattributedDamaged: [String: UInt64] = [:]
    /// Frames whose UDP payload was cut by the snaplen.
    public var snapped: UInt64 = 0
    public var firstNs: UInt64?
    public var lastNs: UInt64?
    /// The reflector's UDP port that decides the direction.
    public var reflectorPort: UInt16
    /// How many runs the audit keeps in full (`runs`); the frames of every
    /// other run id are counted in `overflow`. nil in files from before
    /// the bound.
    public var fullRunLimit: Int?
    public var overflow: WireOverflow?

    public init(linkType: Int32, snaplen: Int, reflectorPort: UInt16) {
        self.linkType = linkType
        self.snaplen = snaplen
        self.reflectorPort = reflectorPort
    }

    public func run(_ id: UInt64) -> WireRun? { runs.first { $0.runID == id } }
    public var foreignTotal: UInt64 { foreign.values.reduce(0, +) }
    public var malformedTotal: UInt64 { malformed.values.reduce(0, +) }
}
