import Histogram
import WirepathIO
import WirepathModel

/// Open-loop client: requests leave on a fixed schedule (one every
/// 1/rate s) whatever the replies do; each carries its *due* time as its
/// timestamp, so its latency runs from when it should have left. A sender
/// that falls behind sends the overdue requests at once (each still stamped
/// with its own due time), which is exactly how a stall shows up.
///
/// The client polls without sleeping (`Measure.openLoop` opens its path in
/// `spin` mode whatever the configured wait): a blocking receive would hold
/// the schedule hostage to the replies, which is the closed loop this
/// replaces. The reflector keeps the configured wait mode.
struct OpenLoop: PathClient {
    let peer: Endpoint
    let plan: MeasurementPlan
    let ratePps: Double
    let loadFraction: Double?
    let stop: StopSignal
    let progress: RunProgress
    var kernel: KernelProbe? = nil

    func run<P: PacketPath & ~Copyable>(_ path: consuming P, config: PathConfig) throws -> (OpenLoopResult, PathInfo) {
        var end = ClientEnd(path: path, config: config, peer: peer, plan: plan, stop: stop, progress: progress,
                            sendSlots: config.batchSize, receiveSlots: config.batchSize, kernel: kernel)
        let result = try end.openLoop(ratePps: ratePps, loadFraction: loadFraction)
        return (result, end.path.info)
    }
}

/// The open loop's account of the replies to its window.
struct OpenLoopTally: ~Copyable {
    var histogram = LatencyHistogram.make()
    var replies = SequenceTracker()
    var duplicated: UInt64 = 0
}

extension ClientEnd where P: ~Copyable {
    /// Drains the replies that are there now; records them into `tally` when `record`.
    @inline(__always)
    mutating func harvest(record: Bool, tally: inout OpenLoopTally) throws(PathError) {
        let n = try path.receive(into: &rx)
        guard n > 0 else { return }
        let now = Sys.monotonicNanos()
        for i in 0..<n {
            rx.withBytes(i) { bytes in
                guard case .header(let h) = PayloadHeader.parse(bytes), h.kind == .ping, h.runID == plan.runID,
                      record, h.seq < SequenceSpace.warmup, Integrity.verify(bytes) else { return }
                if tally.replies.record(h.seq) == .duplicate { tally.duplicated &+= 1; return }
                _ = tally.histogram.record(now &- h.timestamp)
            }
        }
    }

    /// Runs the schedule at `ratePps` from sequence `first` for `durationNs`
    /// (or `count` requests). Returns requests sent, the window's length and
    /// the worst lag.
    mutating func schedule(ratePps: Double, first: UInt64, count: UInt64, durationNs: UInt64, record: Bool,
                           tally: inout OpenLoopTally) throws(PathError) -> (UInt64, UInt64, UInt64) {
        let interval = 1e9 / ratePps
        let start = Sys.monotonicNanos()
        let limit = start &+ durationNs
        var i: UInt64 = 0
        var maxLag: UInt64 = 0
        var now = start
        progress.reset()
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
                progress.publish(i & ~255)
                if now - due > maxLag { maxLag = now - due }
            }
            try harvest(record: record, tally: &tally)
            now = Sys.monotonicNanos()
        }
        return (i, now - start, maxLag)
    }

    mutating func openLoop(ratePps: Double, loadFraction: Double?) throws(PathError) -> OpenLoopResult {
        var tally = OpenLoopTally()
        // Warm-up on the same schedule, not recorded.
        _ = try schedule(ratePps: ratePps, first: SequenceSpace.warmup, count: .max, durationNs: plan.warmupNs, record: false, tally: &tally)
        try openWindow()
        let (sent, elapsed, maxLag) = try schedule(ratePps: ratePps, first: 0, count: plan.count ?? .max,
                                                   durationNs: windowNs, record: true, tally: &tally)
        // Late replies: wait up to the loss timeout for the stragglers.
        let drainEnd = Sys.monotonicNanos() + plan.timeoutNs
        while tally.replies.unique + tally.duplicated < sent && Sys.monotonicNanos() < drainEnd && !stop.requested {
            try harvest(record: true, tally: &tally)
        }
        let (cost, counters) = closeWindow()
        let info = path.info
        let main = try report()
        let kernelWindow = kernelWindow()
        let received = tally.replies.unique
        var result = OpenLoopResult(
            targetPps: ratePps, loadFraction: loadFraction, latency: LatencySummary(tally.histogram),
            sent: sent, received: received, duplicated: tally.duplicated, maxSendLagNs: maxLag, durationNs: elapsed,
            client: EndReport(role: "client", cost: PerPacketCost(cost, packets: max(received, 1)), counters: counters, napiID: info.napiID),
            reflector: main.map { EndReport(reflector: $0, packets: max($0.echoed, 1)) })
        result.hgrm = tally.histogram.percentileDistribution
        result.runID = plan.runID
        if let w = kernelWindow {
            result.kernelLoss = .pingpong(lost: result.lost, late: 0, client: w.0.client, reflector: w.0.reflector, hop: w.0.hop,
                                          clientXDP: result.client.xdp, reflectorXDP: result.reflector?.xdp,
                                          controlResends: w.resends, unread: w.unread)
        }
        return result
    }
}
