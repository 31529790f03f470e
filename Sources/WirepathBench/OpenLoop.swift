import Histogram
import WirepathIO
import WirepathModel

/// Open-loop client: requests leave on a fixed schedule (one every
/// 1/rate s) whatever the replies do; each carries its *due* time as its
/// timestamp, so its latency runs from when it should have left. A sender
/// that falls behind sends the overdue requests at once (each still stamped
/// with its own due time), which is exactly how a stall shows up.
///
/// The client polls without sleeping (its path is opened in `spin` mode
/// whatever the configured wait): a blocking receive would hold the schedule
/// hostage to the replies, which is the closed loop this replaces. The
/// reflector keeps the configured wait mode.
struct OpenLoopClient<P: PacketPath & ~Copyable>: ~Copyable {
    var path: P
    let config: PathConfig
    let peer: Endpoint
    let plan: MeasurementPlan
    let ratePps: Double
    let stop: StopSignal
    let stamper: PayloadStamper
    var tx: PacketBatch
    var rx: PacketBatch
    var ctlTx = PacketBatch(capacity: 1, slotSize: ControlMessage.slotSize)
    var histogram = LatencyHistogram.make()
    var replies = SequenceTracker()
    var duplicated: UInt64 = 0

    init(path: consuming P, config: PathConfig, peer: Endpoint, plan: MeasurementPlan, ratePps: Double, stop: StopSignal) {
        self.path = path
        self.config = config
        self.peer = peer
        self.plan = plan
        self.ratePps = ratePps
        self.stop = stop
        stamper = PayloadStamper(runID: plan.runID, size: config.payloadSize)
        tx = stamper.makeBatch(capacity: config.batchSize, to: peer)
        rx = PacketBatch(capacity: config.batchSize, slotSize: max(config.mtu, ControlMessage.slotSize))
    }

    /// Drains the replies that are there now; records when `record`.
    @inline(__always)
    mutating func harvest(record: Bool) throws(PathError) {
        let n = try path.receive(into: &rx)
        guard n > 0 else { return }
        let now = Sys.monotonicNanos()
        for i in 0..<n {
            rx.withBytes(i) { bytes in
                guard case .header(let h) = PayloadHeader.parse(bytes), h.kind == .ping, h.runID == plan.runID,
                      record, h.seq < SequenceSpace.warmup, Integrity.verify(bytes) else { return }
                if replies.record(h.seq) == .duplicate { duplicated &+= 1; return }
                _ = histogram.record(now &- h.timestamp)
            }
        }
    }

    /// Runs the schedule from sequence `first` for `durationNs` (or `count`
    /// requests). Returns requests sent, the window's length and the worst lag.
    mutating func schedule(first: UInt64, count: UInt64, durationNs: UInt64, record: Bool) throws(PathError) -> (UInt64, UInt64, UInt64) {
        let interval = 1e9 / ratePps
        let start = Sys.monotonicNanos()
        let limit = start &+ durationNs
        var i: UInt64 = 0
        var maxLag: UInt64 = 0
        var now = start
        LiveProgress.reset()
        while i < count && now < limit && !stop.requested {
            let due = start &+ UInt64(Double(i) * interval)
            if now >= due {
                // Every request that is due by now goes, each with its own due time.
                var n = 0
                while n < config.batchSize && i + UInt64(n) < count {
                    let d = start &+ UInt64(Double(i + UInt64(n)) * interval)
                    if d > now { break }
                    tx.withMutableBytes(n) { stamper.stamp($0, kind: .ping, seq: first &+ i &+ UInt64(n), timestamp: d) }
                    n += 1
                }
                tx.count = n
                let sent = try path.send(&tx)
                i &+= UInt64(sent)
                LiveProgress.publish(i & ~255)
                if now - due > maxLag { maxLag = now - due }
            }
            try harvest(record: record)
            now = Sys.monotonicNanos()
        }
        return (i, now - start, maxLag)
    }

    mutating func run(loadFraction: Double?) throws(PathError) -> OpenLoopResult {
        var meter = CostMeter()
        // Warm-up on the same schedule, not recorded.
        _ = try schedule(first: SequenceSpace.warmup, count: .max, durationNs: plan.warmupNs, record: false)
        var control = ControlClient(runID: plan.runID, peer: peer)
        _ = try control.request(.begin, expect: .beginAck, body: [0], path: &path, tx: &ctlTx, rx: &rx, stop: stop)
        let countersAtStart = path.counters
        meter.start(countSyscalls: false)
        let (sent, elapsed, maxLag) = try schedule(first: 0, count: plan.count ?? .max,
                                                   durationNs: min(plan.durationNs ?? plan.maxDurationNs, plan.maxDurationNs), record: true)
        // Late replies: wait up to the loss timeout for the stragglers.
        let drainEnd = Sys.monotonicNanos() + plan.timeoutNs
        while replies.unique + duplicated < sent && Sys.monotonicNanos() < drainEnd && !stop.requested {
            try harvest(record: true)
        }
        let cost = meter.stop()
        let counters = path.counters.since(countersAtStart)
        let info = path.info
        let main = PeerReport.decode(try control.request(.end, expect: .report, path: &path, tx: &ctlTx, rx: &rx, stop: stop))
        var result = OpenLoopResult(
            targetPps: ratePps, loadFraction: loadFraction, latency: LatencySummary(histogram),
            sent: sent, received: replies.unique, duplicated: duplicated, maxSendLagNs: maxLag, durationNs: elapsed,
            client: EndReport(role: "client", cost: PerPacketCost(cost, packets: max(replies.unique, 1)), counters: counters, napiID: info.napiID),
            reflector: main.map { EndReport(reflector: $0, packets: max($0.echoed, 1)) })
        result.hgrm = histogram.percentileDistribution
        result.runID = plan.runID
        return result
    }
}

extension Shim {
    /// Open-loop ping-pong at `ratePps` against a reflector at `peer`.
    public static func openLoop(_ config: PathConfig, peer: Endpoint, plan: MeasurementPlan, ratePps: Double,
                                loadFraction: Double? = nil, stop: StopSignal) throws -> (OpenLoopResult, PathInfo) {
        struct V: PathVisitor {
            let config: PathConfig, peer: Endpoint, plan: MeasurementPlan, rate: Double, fraction: Double?, stop: StopSignal
            func visit<P: PacketPath & ~Copyable>(_ type: P.Type) throws -> (OpenLoopResult, PathInfo) {
                var c = OpenLoopClient(path: try P(config), config: config, peer: peer, plan: plan, ratePps: rate, stop: stop)
                let result = try c.run(loadFraction: fraction)
                return (result, c.path.info)
            }
        }
        guard ratePps > 0 && ratePps <= 50_000_000 else { throw ConfigError("bad rate \(ratePps) pps: expected 1-50000000") }
        var c = config
        c.wait = .spin
        return try visitPath(config.path, V(config: c, peer: peer, plan: plan, rate: ratePps, fraction: loadFraction, stop: stop), xdpObject: config.xdp.objectPath)
    }
}
