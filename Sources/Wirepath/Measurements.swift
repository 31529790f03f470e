import Histogram
@_spi(Ring) import WirepathCore

/// How long a measurement runs. Every loop is bounded by time and by count.
public struct MeasurementPlan: Sendable, Equatable {
    /// Measured window length; nil when `count` bounds the run.
    public var durationNs: UInt64?
    /// Packets (ping-pong round trips) in the measured window.
    public var count: UInt64?
    public var warmupNs: UInt64
    /// A ping with no reply after this long is lost.
    public var timeoutNs: UInt64
    public var runID: UInt64
    /// Hard bound on the window even when only `count` is given.
    public var maxDurationNs: UInt64 = 600_000_000_000

    public init(durationNs: UInt64?, count: UInt64?, warmupNs: UInt64 = 1_000_000_000,
                timeoutNs: UInt64 = 100_000_000, runID: UInt64 = MeasurementPlan.newRunID()) {
        self.durationNs = durationNs
        self.count = count
        self.warmupNs = warmupNs
        self.timeoutNs = timeoutNs
        self.runID = runID
    }

    public static func newRunID() -> UInt64 {
        var g = SystemRandomNumberGenerator()
        return g.next() | 1
    }
}

/// Closed-loop ping-pong client: one request in flight, RTT into HdrHistogram.
struct PingPongClient<P: PacketPath & ~Copyable>: ~Copyable {
    var path: P
    let config: PathConfig
    let peer: Endpoint
    let plan: MeasurementPlan
    let stop: StopSignal
    let stamper: PayloadStamper
    var tx: PacketBatch
    var rx: PacketBatch
    var ctlTx = PacketBatch(capacity: 1, slotSize: ControlMessage.slotSize)
    var histogram = LatencyHistogram.make()
    var replies = SequenceTracker()
    var lost: UInt64 = 0
    var late: UInt64 = 0
    var duplicated: UInt64 = 0
    var integrityFailures: UInt64 = 0
    var foreign: UInt64 = 0

    init(path: consuming P, config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal) {
        self.path = path
        self.config = config
        self.peer = peer
        self.plan = plan
        self.stop = stop
        stamper = PayloadStamper(runID: plan.runID, size: config.payloadSize)
        tx = PacketBatch(capacity: 1, slotSize: config.payloadSize)
        rx = PacketBatch(capacity: config.batchSize, slotSize: max(config.mtu, ControlMessage.slotSize))
        tx.withMutableBytes(0) { stamper.prepare($0) }
        tx.setLength(0, config.payloadSize)
        tx.setEndpoint(0, peer)
    }

    enum Exchange { case reply, lost }
    static var warmupSeqBase: UInt64 { 1 << 62 }

    /// One round trip: stamp, send, wait for the matching reply or the timeout.
    @inline(__always)
    mutating func exchange(seq: UInt64, record: Bool) throws(PathError) -> Exchange {
        let t0 = Sys.monotonicNanos()
        tx.withMutableBytes(0) { stamper.stamp($0, kind: .ping, seq: seq, timestamp: t0) }
        tx.count = 1
        while try path.send(&tx) == 0 {
            if Sys.monotonicNanos() - t0 > plan.timeoutNs || stop.requested { if record { lost &+= 1 }; return .lost }
        }
        let deadline = t0 &+ plan.timeoutNs
        while true {
            let n = try path.receive(into: &rx)
            if n > 0 {
                let t1 = Sys.monotonicNanos()
                var got = false
                for i in 0..<n {
                    rx.withBytes(i) { bytes in
                        guard case .header(let h) = PayloadHeader.parse(bytes), h.kind == .ping, h.runID == plan.runID else {
                            if record { foreign &+= 1 }
                            return
                        }
                        guard Integrity.verify(bytes) else {
                            if record { integrityFailures &+= 1 }
                            return
                        }
                        guard record else { if h.seq == seq { got = true }; return }
                        // A late answer to a warm-up ping: not part of the window.
                        if h.seq >= PingPongClient.warmupSeqBase { return }
                        switch replies.record(h.seq) {
                        case .duplicate: duplicated &+= 1
                        case .reordered: late &+= 1
                        case .inOrder:
                            if h.seq == seq {
                                // The RTT uses the timestamp that crossed the wire and
                                // came back intact (the integrity check covers it).
                                _ = histogram.record(t1 &- h.timestamp)
                                got = true
                            } else {
                                late &+= 1 // an answer from the future cannot happen; count it as misordered
                            }
                        }
                    }
                }
                if got { return .reply }
            }
            if Sys.monotonicNanos() >= deadline || stop.requested {
                if record { lost &+= 1 }
                return .lost
            }
        }
    }

    mutating func run() throws(PathError) -> PingPongResult {
        var meter = CostMeter()
        // Warm-up: same exchanges, nothing recorded (ARP, caches, frequency).
        let warmEnd = Sys.monotonicNanos() + plan.warmupNs
        var seq = PingPongClient.warmupSeqBase // never collides with the window's sequence numbers
        while Sys.monotonicNanos() < warmEnd && !stop.requested {
            _ = try exchange(seq: seq, record: false)
            seq += 1
        }
        var control = ControlClient(runID: plan.runID, peer: peer)
        _ = try control.request(.begin, expect: .beginAck, path: &path, tx: &ctlTx, rx: &rx, stop: stop)

        let countersAtStart = path.counters
        meter.start()
        let start = Sys.monotonicNanos()
        let limit = start + min(plan.durationNs ?? plan.maxDurationNs, plan.maxDurationNs)
        let count = plan.count ?? .max
        var sent: UInt64 = 0
        while sent < count && !stop.requested {
            // One clock read per exchange is already taken inside; the window
            // bound is checked against the last reply time.
            if Sys.monotonicNanos() >= limit { break }
            _ = try exchange(seq: sent, record: true)
            sent += 1
        }
        let elapsed = Sys.monotonicNanos() - start
        let cost = meter.stop()
        let clientCounters = path.counters.since(countersAtStart)
        let info = path.info

        let replyFields = try control.request(.end, expect: .report, path: &path, tx: &ctlTx, rx: &rx, stop: stop)
        let peerReport = PeerReport.decode(replyFields)
        let received = histogram.totalCount
        return PingPongResult(
            latency: LatencySummary(histogram),
            sent: sent, received: received, lost: lost, duplicated: duplicated, reordered: late,
            integrityFailures: integrityFailures, foreign: foreign, timeoutNs: plan.timeoutNs,
            warmupNs: plan.warmupNs, durationNs: elapsed,
            client: EndReport(role: "client", cost: PerPacketCost(cost, packets: max(received, 1)), counters: clientCounters, napiID: info.napiID),
            reflector: peerReport.map { EndReport(reflector: $0, packets: max($0.echoed, 1)) })
    }
}

/// Flood sender: as fast as the path allows for the window.
struct FloodClient<P: PacketPath & ~Copyable>: ~Copyable {
    var path: P
    let config: PathConfig
    let peer: Endpoint
    let plan: MeasurementPlan
    let stop: StopSignal
    let stamper: PayloadStamper
    var tx: PacketBatch
    var rx: PacketBatch
    var ctlTx = PacketBatch(capacity: 1, slotSize: ControlMessage.slotSize)

    init(path: consuming P, config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal) {
        self.path = path
        self.config = config
        self.peer = peer
        self.plan = plan
        self.stop = stop
        stamper = PayloadStamper(runID: plan.runID, size: config.payloadSize)
        tx = PacketBatch(capacity: config.batchSize, slotSize: config.payloadSize)
        rx = PacketBatch(capacity: 8, slotSize: max(config.mtu, ControlMessage.slotSize))
        for i in 0..<config.batchSize {
            tx.withMutableBytes(i) { stamper.prepare($0) }
            tx.setLength(i, config.payloadSize)
            tx.setEndpoint(i, peer)
        }
    }

    mutating func run() throws(PathError) -> FloodResult {
        var meter = CostMeter()
        var control = ControlClient(runID: plan.runID, peer: peer)
        _ = try control.request(.begin, expect: .beginAck, path: &path, tx: &ctlTx, rx: &rx, stop: stop)

        let countersAtStart = path.counters
        let batch = config.batchSize
        meter.start()
        let start = Sys.monotonicNanos()
        let limit = start + min(plan.durationNs ?? plan.maxDurationNs, plan.maxDurationNs)
        let count = plan.count ?? .max
        var seq: UInt64 = 0
        var now = start
        while seq < count && now < limit && !stop.requested {
            let n = Int(min(UInt64(batch), count - seq))
            for i in 0..<n {
                tx.withMutableBytes(i) { stamper.stamp($0, kind: .flood, seq: seq &+ UInt64(i), timestamp: now) }
            }
            tx.count = n
            // Only accepted packets advance the sequence; a short send is
            // restamped and retried in the next round.
            seq &+= UInt64(try path.send(&tx))
            now = Sys.monotonicNanos()
        }
        let elapsed = now - start
        let cost = meter.stop()
        let senderCounters = path.counters.since(countersAtStart)
        // The end request queues behind the flood on the same socket and
        // path, so the receiver closes its window after the last data packet.
        let replyFields = try control.request(.end, expect: .report, path: &path, tx: &ctlTx, rx: &rx, stop: stop)
        let peerReport = PeerReport.decode(replyFields)
        let info = path.info
        return FloodResult(
            payloadSize: config.payloadSize, sent: seq,
            received: peerReport?.floodUnique ?? 0,
            duplicated: peerReport?.floodDuplicates ?? 0,
            reordered: peerReport?.floodReordered ?? 0,
            senderDurationNs: elapsed,
            receiverSpanNs: peerReport.map { $0.lastRxNs &- $0.firstRxNs } ?? 0,
            sender: EndReport(role: "sender", cost: PerPacketCost(cost, packets: max(seq, 1)), counters: senderCounters, napiID: info.napiID),
            receiver: peerReport.map { EndReport(reflector: $0, packets: max($0.floodUnique, 1)) })
    }
}
