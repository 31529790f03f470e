import Histogram
import WirepathIO

/// The stages one round trip is split into (`--stages`), in the order a
/// ping lives them. Each is a difference of two stamps taken on one host:
/// the client's on the client, the reflector's on the reflector, so none
/// needs the hosts' clocks to agree. The wire is what is left of the
/// client's driver-to-receive interval once the reflector's own time is
/// taken out: both directions together.
public enum Stage: String, CaseIterable, Codable, Sendable {
    case clientSend = "client_send"
    case clientQdisc = "client_qdisc"
    case wire = "wire"
    case reflectorWake = "reflector_wake"
    case reflectorTurnaround = "reflector_turnaround"
    case reflectorSend = "reflector_send"
    case reflectorQdisc = "reflector_qdisc"
    case clientWake = "client_wake"

    /// What the stage spans, stamp to stamp.
    public var title: String {
        switch self {
        case .clientSend: "client send: send call -> TX_SCHED"
        case .clientQdisc: "client qdisc: TX_SCHED -> driver TX"
        case .wire: "wire, both ways: driver TX -> peer RX stamp"
        case .reflectorWake: "reflector wake-up: RX stamp -> app"
        case .reflectorTurnaround: "reflector turnaround: app -> send call"
        case .reflectorSend: "reflector send: send call -> TX_SCHED"
        case .reflectorQdisc: "reflector qdisc: TX_SCHED -> driver TX"
        case .clientWake: "client wake-up: RX stamp -> app"
        }
    }

    /// Its place in `StageTally.histograms` (the declaration order).
    @inline(__always) public var index: Int {
        switch self {
        case .clientSend: 0
        case .clientQdisc: 1
        case .wire: 2
        case .reflectorWake: 3
        case .reflectorTurnaround: 4
        case .reflectorSend: 5
        case .reflectorQdisc: 6
        case .clientWake: 7
        }
    }

    /// Both ends' wake-ups: what a spinning wait removes.
    public var isWakeUp: Bool { self == .clientWake || self == .reflectorWake }
}

/// The client's per-ping stage accounting: one histogram per stage, filled
/// as replies come back. Preallocated; `record` allocates nothing.
///
/// A ping's client stamps (send call, TX_SCHED, driver TX, RX, app receive)
/// and the reflector's wake and turnaround come with its reply; the
/// reflector's transmit stages come with the next reply, so the ping waits
/// in `pending` for them and only then are the wire and the reflector's
/// send stages recorded.
public struct StageTally: ~Copyable {
    public let clock: ClockOffset
    public var histograms: [Histogram<UInt64>]
    /// Replies whose client stamps were all present.
    public var complete: UInt64 = 0
    /// Replies without a kernel receive stamp.
    public var rxStampMissing: UInt64 = 0
    /// Replies whose transmit stamps did not come (or not with its OPT_ID).
    public var txStampMissing: UInt64 = 0
    /// Replies without the reflector's block (a reflector without --stages).
    public var reflectorMissing: UInt64 = 0
    /// Differences below zero (clock conversion within its uncertainty),
    /// recorded as 0.
    public var negative: UInt64 = 0

    struct Pending {
        var valid = false
        var seq: UInt64 = 0
        /// Client driver TX -> client RX stamp, minus the reflector's wake
        /// and turnaround: the wire plus the reflector's send stages.
        var outerNs: Int64 = 0
    }
    var pending = Pending()
    /// Whether the path reports transmit stamps. Without them (xdp) the
    /// client's and the reflector's send stages cannot be seen, and the
    /// wire stage spans both send calls: send call -> peer RX stamp, both
    /// ways, less the reflector's wake-up and turnaround.
    public let transmitStamps: Bool
    /// The first `sampleLimit` complete pings' absolute stamps, for the
    /// capture cross-check (`StageCaptureCheck`). Capacity reserved at
    /// init: appending never allocates.
    public var samples: [StampSample] = []
    public static let sampleLimit = 1024
    /// Test hook: added to every sample's send stamp, so that a test can
    /// see the capture cross-check fail. 0 in every real run.
    public var sampleSkewNs: Int64 = 0

    public init(clock: ClockOffset, transmitStamps: Bool = true) {
        self.clock = clock
        self.transmitStamps = transmitStamps
        histograms = Stage.allCases.map { _ in LatencyHistogram.make() }
        samples.reserveCapacity(Self.sampleLimit)
    }

    @inline(__always)
    mutating func keep(seq: UInt64, sentRT: UInt64, rxRT: UInt64, reflectorNs: UInt64) {
        guard samples.count < Self.sampleLimit else { return }
        samples.append(StampSample(seq: seq, sentRT: sentRT &+ UInt64(bitPattern: sampleSkewNs), receivedRT: rxRT, reflectorNs: reflectorNs))
    }

    @inline(__always)
    mutating func add(_ stage: Stage, _ ns: Int64) {
        if ns < 0 { negative &+= 1 }
        _ = histograms[stage.index].record(ns < 0 ? 0 : UInt64(ns))
    }

    /// One reply: the app's send (`t0`) and receive (`t1`) on the monotonic
    /// clock; the kernel's TX_SCHED, driver TX and RX stamps in realtime ns
    /// (0 = missing); the reply's bytes (its stage block).
    @inline(__always)
    public mutating func record(seq: UInt64, t0: UInt64, t1: UInt64, schedRT: UInt64, driverRT: UInt64, rxRT: UInt64,
                                reply: UnsafeRawBufferPointer) {
        let block = StageBlock.parse(reply)
        if block == nil { reflectorMissing &+= 1 }
        // The previous ping's reflector transmit stages complete it.
        if pending.valid, let p = block?.prev, p.seq == pending.seq {
            let send = Int64(p.sendNs), qdisc = Int64(p.qdiscNs)
            add(.reflectorSend, send)
            add(.reflectorQdisc, qdisc)
            add(.wire, pending.outerNs &- send &- qdisc)
        }
        pending.valid = false
        if let w = block?.wakeNs, let t = block?.turnNs {
            add(.reflectorWake, Int64(w))
            add(.reflectorTurnaround, Int64(t))
        }
        guard rxRT != 0 else { rxStampMissing &+= 1; return }
        let rx = Int64(bitPattern: clock.monotonic(rxRT))
        add(.clientWake, Int64(bitPattern: t1) &- rx)
        guard transmitStamps else {
            if let w = block?.wakeNs, let t = block?.turnNs {
                add(.wire, (rx &- Int64(bitPattern: t0)) &- Int64(w) &- Int64(t))
                complete &+= 1
                keep(seq: seq, sentRT: clock.realtime(t0), rxRT: rxRT, reflectorNs: UInt64(w) &+ UInt64(t))
            }
            return
        }
        guard schedRT != 0, driverRT != 0 else { txStampMissing &+= 1; return }
        let sched = Int64(bitPattern: clock.monotonic(schedRT))
        let driver = Int64(bitPattern: clock.monotonic(driverRT))
        add(.clientSend, sched &- Int64(bitPattern: t0))
        add(.clientQdisc, driver &- sched)
        complete &+= 1
        if let w = block?.wakeNs, let t = block?.turnNs {
            pending = Pending(valid: true, seq: seq, outerNs: (rx &- driver) &- Int64(w) &- Int64(t))
            keep(seq: seq, sentRT: driverRT, rxRT: rxRT, reflectorNs: UInt64(w) &+ UInt64(t))
        }
    }

    /// The stages against the RTT histogram of the same replies.
    public func report(rtt: LatencySummary, path: PathKind, unavailable: [Stage: String] = [:], notes: [String] = []) -> StageReport {
        var rows: [StageReport.Row] = []
        for (i, stage) in Stage.allCases.enumerated() {
            let h = histograms[i]
            rows.append(StageReport.Row(stage: stage, latency: h.totalCount > 0 ? LatencySummary(h) : nil,
                                        hgrm: h.totalCount > 0 ? h.percentileDistribution : nil,
                                        unavailable: h.totalCount == 0 ? (unavailable[stage] ?? "no stamps arrived for it") : nil))
        }
        var r = StageReport(rows: rows, rttP50Ns: rtt.p50Ns, clock: clock, complete: complete, rxStampMissing: rxStampMissing,
                            txStampMissing: txStampMissing, reflectorMissing: reflectorMissing, negative: negative, notes: notes)
        r.samples = samples
        return r
    }
}

/// Where each microsecond of the round trip went: one row per stage, their
/// p50s against the RTT's, and the residual.
public struct StageReport: Codable, Sendable, Equatable {
    public struct Row: Codable, Sendable, Equatable {
        public var stage: Stage
        public var latency: LatencySummary?
        /// The stage's HdrHistogram percentile distribution (µs).
        public var hgrm: String?
        /// Why the stage has no samples, when it has none.
        public var unavailable: String?
    }
    public var rows: [Row]
    public var rttP50Ns: UInt64
    public var clock: ClockOffset
    public var complete: UInt64
    public var rxStampMissing: UInt64
    public var txStampMissing: UInt64
    public var reflectorMissing: UInt64
    public var negative: UInt64
    public var notes: [String]
    /// What `--stages` changed in the measured path, and where its cost
    /// is measured: the RTT above is of the stamped path, not the plain one.
    public var cost: String?
    /// With --capture: the stamps checked against the capture's own.
    public var captureCheck: StageCaptureCheck?
    /// The pings the cross-check uses (not in the JSON: up to 1024 rows).
    public var samples: [StampSample] = []

    enum CodingKeys: String, CodingKey {
        case rows, rttP50Ns, clock, complete, rxStampMissing, txStampMissing, reflectorMissing, negative, notes, cost, captureCheck
    }

    public init(rows: [Row], rttP50Ns: UInt64, clock: ClockOffset, complete: UInt64, rxStampMissing: UInt64, txStampMissing: UInt64,
                reflectorMissing: UInt64, negative: UInt64, notes: [String]) {
        self.rows = rows; self.rttP50Ns = rttP50Ns; self.clock = clock; self.complete = complete
        self.rxStampMissing = rxStampMissing; self.txStampMissing = txStampMissing; self.reflectorMissing = reflectorMissing
        self.negative = negative; self.notes = notes
    }

    /// The sum of the stage p50s.
    public var sumP50Ns: UInt64 { rows.reduce(0) { $0 &+ ($1.latency?.p50Ns ?? 0) } }
    /// RTT p50 minus the sum of the stage p50s.
    public var residualNs: Int64 { Int64(bitPattern: rttP50Ns &- sumP50Ns) }
    /// The stated tolerance: a p50 of a sum is not the sum of p50s, so a
    /// quarter of the RTT p50, plus four clock uncertainties (two stages
    /// convert one realtime stamp each, at both ends), at least 2 µs.
    public var toleranceNs: UInt64 {
        max(rttP50Ns / 4 &+ 4 &* min(clock.uncertaintyNs, 1_000_000), 2_000)
    }
    public var withinTolerance: Bool { residualNs.magnitude <= toleranceNs }

    /// A stage's share of the RTT p50 (its p50 over the RTT's).
    public func share(_ row: Row) -> Double {
        guard rttP50Ns > 0, let p = row.latency?.p50Ns else { return 0 }
        return Double(p) / Double(rttP50Ns)
    }

    /// The row with the largest p50.
    public var dominant: Row? { rows.filter { $0.latency != nil }.max { ($0.latency?.p50Ns ?? 0) < ($1.latency?.p50Ns ?? 0) } }
    /// Both wake-ups' share of the RTT p50.
    public var wakeShare: Double { rows.filter { $0.stage.isWakeUp }.reduce(0) { $0 + share($1) } }
}

/// One ping's absolute stamps (CLOCK_REALTIME ns, the capture's clock),
/// kept for the capture cross-check.
public struct StampSample: Sendable, Equatable {
    public var seq: UInt64
    /// The client's last stamp before the ping left its host: the driver TX
    /// stamp, or (a path with no transmit stamps: xdp) the send call.
    public var sentRT: UInt64
    /// The client's kernel receive stamp of the echo.
    public var receivedRT: UInt64
    /// The reflector's own time for the ping (its wake-up and turnaround):
    /// the capture's ping-to-echo interval can be no shorter.
    public var reflectorNs: UInt64
    public init(seq: UInt64, sentRT: UInt64, receivedRT: UInt64, reflectorNs: UInt64) {
        self.seq = seq; self.sentRT = sentRT; self.receivedRT = receivedRT; self.reflectorNs = reflectorNs
    }
}
