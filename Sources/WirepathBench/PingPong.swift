import Histogram
import WirepathIO
import WirepathModel

/// Closed-loop ping-pong against a reflector at `peer`: one request in
/// flight, RTT into HdrHistogram.
struct PingPong: PathClient {
    let peer: Endpoint
    let plan: MeasurementPlan
    let stop: StopSignal
    let progress: RunProgress
    var kernel: KernelProbe? = nil
    /// A threaded run keeps each thread's histogram, to add them up.
    var keep: HistogramKeeper? = nil

    func run<P: PacketPath & ~Copyable>(_ path: consuming P, config: PathConfig) throws -> (PingPongResult, PathInfo) {
        try config.validateStages()
        var end = ClientEnd(path: path, config: config, peer: peer, plan: plan, stop: stop, progress: progress,
                            sendSlots: 1, receiveSlots: config.batchSize, kernel: kernel)
        var result = try end.pingpong(keep: keep)
        result.runID = plan.runID
        return (result, end.path.info)
    }
}

/// Where a ping-pong leaves its RTT histogram, after the window.
final class HistogramKeeper: @unchecked Sendable {
    var histogram: Histogram<UInt64>?
}

/// How one round trip ended.
enum Exchange: Equatable { case reply, lost }

extension ClientEnd where P: ~Copyable {
    /// One round trip: stamp, send, wait for the matching reply or the
    /// timeout. With `record`, the reply (and anything else that arrives)
    /// goes into `tally`.
    @inline(__always)
    mutating func exchange(seq: UInt64, record: Bool, tally: inout ReplyTally) throws(PathError) -> Exchange {
        let stagesOn = tally.stagesOn
        // --stages: this datagram's OPT_ID key is the count of datagrams
        // the socket sent before it. Read only with --stages: a path's
        // `counters` may be computed (xdp's reads its BPF map and socket).
        // A path with no transmit stamps (xdp, whose `counters` costs a map
        // lookup and a getsockopt) has no key to read.
        let key = stagesOn && P.stampSupport.transmit ? UInt32(truncatingIfNeeded: path.counters.txPackets) : 0
        let t0 = Sys.monotonicNanos()
        tx.withMutableBytes(0) { stamper.stamp($0, kind: .ping, seq: seq, timestamp: t0, op: stagesOn ? StageBlock.requestOp : 0) }
        tx.count = 1
        while try path.send(&tx) == 0 {
            if Sys.monotonicNanos() - t0 > plan.timeoutNs || stop.requested { if record { tally.lost &+= 1 }; return .lost }
        }
        let deadline = t0 &+ plan.timeoutNs
        while true {
            let n = try path.receive(into: &rx)
            if n > 0 {
                let t1 = Sys.monotonicNanos()
                var got = false
                // --stages: the transmit stamps are on the error queue by
                // now; read them after the receive, off the measured interval.
                var sched: UInt64 = 0
                var driver: UInt64 = 0
                if stagesOn && P.stampSupport.transmit { drainTxStamps(key: key, sched: &sched, driver: &driver) }
                for i in 0..<n {
                    // The tally takes realtime receive stamps; an XDP
                    // program's monotonic one goes through the exact
                    // inverse of its conversion (no error added).
                    let raw = rx.rxStamp(i)
                    let rxStamp = P.stampSupport.rxClock == .monotonic && raw != 0 ? tally.stages.clock.realtime(raw) : raw
                    rx.withBytes(i) { bytes in
                        if record {
                            if tally.account(bytes, awaiting: seq, at: t1) {
                                got = true
                                if stagesOn {
                                    tally.stages.record(seq: seq, t0: t0, t1: t1, schedRT: sched, driverRT: driver, rxRT: rxStamp, reply: bytes)
                                }
                            }
                        } else if case .header(let h) = PayloadHeader.parse(bytes), h.kind == .ping, h.runID == plan.runID,
                                  h.seq == seq, Integrity.verify(bytes) {
                            got = true
                        }
                    }
                }
                if got { return .reply }
            }
            if Sys.monotonicNanos() >= deadline || stop.requested {
                if record { tally.lost &+= 1 }
                return .lost
            }
        }
    }

    /// Reads at most 16 transmit stamps; keeps those of datagram `key`.
    mutating func drainTxStamps(key: UInt32, sched: inout UInt64, driver: inout UInt64) {
        var budget = 16
        while budget > 0, let s = path.nextTxStamp() {
            budget -= 1
            guard s.key == key else { continue }
            if s.point == .sched { sched = s.realtimeNs } else { driver = s.realtimeNs }
        }
    }

    mutating func pingpong(keep: HistogramKeeper? = nil) throws(PathError) -> PingPongResult {
        var tally = ReplyTally(runID: plan.runID, stages: config.stamping != .off, transmitStamps: P.stampSupport.transmit)
        tally.stages.sampleSkewNs = plan.stampSkewNs
        // Warm-up: same exchanges, nothing recorded (ARP, caches, frequency).
        let warmEnd = Sys.monotonicNanos() + plan.warmupNs
        var seq = SequenceSpace.warmup // never collides with the window's sequence numbers
        while Sys.monotonicNanos() < warmEnd && !stop.requested {
            _ = try exchange(seq: seq, record: false, tally: &tally)
            seq += 1
        }

        // Window 1: latency and CPU, with no tracepoint attached anywhere.
        try openWindow()
        let start = Sys.monotonicNanos()
        let limit = start + windowNs
        let count = plan.count ?? .max
        var sent: UInt64 = 0
        progress.reset()
        while sent < count && !stop.requested && Sys.monotonicNanos() < limit {
            _ = try exchange(seq: sent, record: true, tally: &tally)
            sent += 1
            progress.publish(sent)
        }
        let elapsed = Sys.monotonicNanos() - start
        let (cost, clientCounters) = closeWindow()
        let info = path.info
        // Replies still on their way (the echo of a duplicate of the last
        // ping, a late reply) crossed the wire: the end exchange counts them.
        let main = try report(strays: &tally)
        let kernelWindow = kernelWindow()

        // Window 2: the same exchanges with the kernel's syscall counter on.
        let w2 = SyscallWindow(mainElapsedNs: elapsed, mainPackets: sent)
        try openSyscallWindow()
        let start2 = Sys.monotonicNanos()
        var replies2: UInt64 = 0
        var seq2 = SequenceSpace.syscallWindow
        while seq2 - SequenceSpace.syscallWindow < w2.packets && !stop.requested && Sys.monotonicNanos() - start2 < w2.durationNs {
            if try exchange(seq: seq2, record: false, tally: &tally) == .reply { replies2 += 1 }
            seq2 += 1
        }
        let (cost2, second) = try closeSyscallWindow()

        let histogram = tally.histogram
        let received = histogram.totalCount
        var result = PingPongResult(
            latency: LatencySummary(histogram),
            sent: sent, received: received, lost: tally.lost, duplicated: tally.duplicated, reordered: tally.late,
            integrityFailures: tally.integrityFailures, foreign: tally.foreign, timeoutNs: plan.timeoutNs,
            warmupNs: plan.warmupNs, durationNs: elapsed,
            client: EndReport(role: "client",
                              cost: PerPacketCost(cost, packets: max(received, 1), syscallWindow: cost2, syscallPackets: replies2),
                              counters: clientCounters, napiID: info.napiID),
            reflector: main.map { EndReport(reflector: $0, packets: max($0.echoed, 1), syscallWindow: second, syscallPackets: second?.echoed ?? 0) })
        result.latencyCorrected = LatencySummary.correctedForCoordinatedOmission(histogram, expectedIntervalNs: result.latency.p50Ns)
        result.hgrm = histogram.percentileDistribution
        keep?.histogram = histogram
        if tally.stagesOn {
            result.stages = tally.stages.report(rtt: result.latency, path: config.path, unavailable: StagesCoverage.unavailable(config.path),
                                                notes: StagesCoverage.notes(config.path))
            result.stages?.cost = StagesCoverage.cost(config.path)
        }
        if let w = kernelWindow {
            result.kernelLoss = .pingpong(lost: result.lost, late: result.reordered, corrupted: result.integrityFailures, client: w.0.client, reflector: w.0.reflector, hop: w.0.hop,
                                          clientXDP: result.client.xdp, reflectorXDP: result.reflector?.xdp,
                                          controlResends: w.resends, unread: w.unread)
        }
        return result
    }
}

/// The client's account of the replies to its measured window.
struct ReplyTally: StrayData, ~Copyable {
    let runID: UInt64
    var histogram = LatencyHistogram.make()
    var replies = SequenceTracker()
    var lost: UInt64 = 0
    /// Replies after their ping was given up (or out of order).
    var late: UInt64 = 0
    var duplicated: UInt64 = 0
    var integrityFailures: UInt64 = 0
    var foreign: UInt64 = 0
    /// --stages: per-stage histograms of the same replies.
    let stagesOn: Bool
    var stages: StageTally

    init(runID: UInt64, stages: Bool = false, transmitStamps: Bool = true) {
        self.runID = runID
        stagesOn = stages
        self.stages = StageTally(clock: stages ? ClockOffset.measure() : ClockOffset(realtimeMinusMonotonicNs: 0, uncertaintyNs: 0),
                                 transmitStamps: transmitStamps)
    }

    /// Accounts one received packet; true when it is the in-order reply to
    /// `awaiting`, whose RTT (from `now`) goes into the histogram.
    @inline(__always)
    mutating func account(_ bytes: UnsafeRawBufferPointer, awaiting seq: UInt64?, at now: UInt64) -> Bool {
        guard case .header(let h) = PayloadHeader.parse(bytes), h.kind == .ping, h.runID == runID else {
            foreign &+= 1
            return false
        }
        guard Integrity.verify(bytes) else {
            integrityFailures &+= 1
            return false
        }
        // A late answer to a warm-up or syscall-window ping: not part of the window.
        if h.seq >= SequenceSpace.syscallWindow { return false }
        switch replies.record(h.seq) {
        case .duplicate: duplicated &+= 1
        case .reordered: late &+= 1
        case .inOrder:
            if h.seq == seq {
                // The RTT uses the timestamp that crossed the wire and
                // came back intact (the integrity check covers it).
                _ = histogram.record(now &- h.timestamp)
                return true
            }
            // The reply to a ping already given up as lost.
            late &+= 1
        }
        return false
    }

    /// A data packet that arrived after the window, during the end exchange.
    mutating func stray(_ bytes: UnsafeRawBufferPointer) {
        _ = account(bytes, awaiting: nil, at: 0)
    }
}
