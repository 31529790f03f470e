import Histogram
import WirepathIO
import WirepathModel

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
    var tally: ReplyTally

    init(path: consuming P, config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal) {
        self.path = path
        self.config = config
        self.peer = peer
        self.plan = plan
        self.stop = stop
        stamper = PayloadStamper(runID: plan.runID, size: config.payloadSize)
        tally = ReplyTally(runID: plan.runID)
        tx = stamper.makeBatch(capacity: 1, to: peer)
        rx = PacketBatch(capacity: config.batchSize, slotSize: max(config.mtu, ControlMessage.slotSize))
    }

    enum Exchange: Equatable { case reply, lost }

    /// One round trip: stamp, send, wait for the matching reply or the timeout.
    @inline(__always)
    mutating func exchange(seq: UInt64, record: Bool) throws(PathError) -> Exchange {
        let t0 = Sys.monotonicNanos()
        tx.withMutableBytes(0) { stamper.stamp($0, kind: .ping, seq: seq, timestamp: t0) }
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
                for i in 0..<n {
                    rx.withBytes(i) { bytes in
                        if record {
                            if tally.account(bytes, awaiting: seq, at: t1) { got = true }
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

    mutating func run() throws(PathError) -> PingPongResult {
        var meter = CostMeter()
        // Warm-up: same exchanges, nothing recorded (ARP, caches, frequency).
        let warmEnd = Sys.monotonicNanos() + plan.warmupNs
        var seq = SequenceSpace.warmup // never collides with the window's sequence numbers
        while Sys.monotonicNanos() < warmEnd && !stop.requested {
            _ = try exchange(seq: seq, record: false)
            seq += 1
        }
        var control = ControlClient(runID: plan.runID, peer: peer)

        // Window 1: latency and CPU, with no tracepoint attached anywhere.
        _ = try control.request(.begin, expect: .beginAck, body: [0], path: &path, tx: &ctlTx, rx: &rx, stop: stop)
        let countersAtStart = path.counters
        meter.start(countSyscalls: false)
        let start = Sys.monotonicNanos()
        let limit = start + min(plan.durationNs ?? plan.maxDurationNs, plan.maxDurationNs)
        let count = plan.count ?? .max
        var sent: UInt64 = 0
        LiveProgress.reset()
        while sent < count && !stop.requested && Sys.monotonicNanos() < limit {
            _ = try exchange(seq: sent, record: true)
            sent += 1
            LiveProgress.publish(sent)
        }
        let elapsed = Sys.monotonicNanos() - start
        let cost = meter.stop()
        let clientCounters = path.counters.since(countersAtStart)
        let info = path.info
        // Replies still on their way (the echo of a duplicate of the last
        // ping, a late reply) crossed the wire: the end exchange counts them.
        let main = PeerReport.decode(try control.request(.end, expect: .report, path: &path, tx: &ctlTx, rx: &rx, stop: stop,
                                                         strays: &tally))

        // Window 2: the same exchanges with the kernel's syscall counter on.
        let w2 = SyscallWindow(mainElapsedNs: elapsed, mainPackets: sent)
        _ = try control.request(.begin, expect: .beginAck, body: [1], path: &path, tx: &ctlTx, rx: &rx, stop: stop)
        meter.start(countSyscalls: true)
        let start2 = Sys.monotonicNanos()
        var replies2: UInt64 = 0
        var seq2 = SequenceSpace.syscallWindow
        while seq2 - SequenceSpace.syscallWindow < w2.packets && !stop.requested && Sys.monotonicNanos() - start2 < w2.durationNs {
            if try exchange(seq: seq2, record: false) == .reply { replies2 += 1 }
            seq2 += 1
        }
        let cost2 = meter.stop()
        let second = PeerReport.decode(try control.request(.end, expect: .report, path: &path, tx: &ctlTx, rx: &rx, stop: stop))

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
        return result
    }
}

/// Sizing of the syscall-counting window: a quarter of the main window,
/// from 0.2 s to 2 s, and at most a quarter of its packets (at least 100).
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

    init(runID: UInt64) { self.runID = runID }

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

struct SyscallWindow {
    let durationNs: UInt64
    let packets: UInt64
    init(mainElapsedNs: UInt64, mainPackets: UInt64) {
        durationNs = min(max(mainElapsedNs / 4, 200_000_000), 2_000_000_000)
        packets = max(mainPackets / 4, 100)
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
        tx = stamper.makeBatch(capacity: config.batchSize, to: peer)
        rx = PacketBatch(capacity: 8, slotSize: max(config.mtu, ControlMessage.slotSize))
    }

    /// Floods for up to `durationNs` or `count` packets, from sequence `seq`.
    /// Only accepted packets advance the sequence; a short send is restamped
    /// and retried in the next round. Returns packets sent and elapsed ns.
    mutating func blast(from first: UInt64, count: UInt64, durationNs: UInt64) throws(PathError) -> (UInt64, UInt64) {
        let batch = UInt64(config.batchSize)
        let start = Sys.monotonicNanos()
        let limit = start + durationNs
        var seq = first
        // Saturating: `count` may be .max (a window bounded by time alone).
        let end = count > UInt64.max - first ? UInt64.max : first + count
        var now = start
        LiveProgress.reset()
        while seq < end && now < limit && !stop.requested {
            let n = Int(min(batch, end - seq))
            for i in 0..<n {
                tx.withMutableBytes(i) { stamper.stamp($0, kind: .flood, seq: seq &+ UInt64(i), timestamp: now) }
            }
            tx.count = n
            seq &+= UInt64(try path.send(&tx))
            now = Sys.monotonicNanos()
            LiveProgress.publish(seq & ~255)
        }
        return (seq - first, now - start)
    }

    mutating func run() throws(PathError) -> FloodResult {
        var meter = CostMeter()
        var control = ControlClient(runID: plan.runID, peer: peer)

        // Warm-up: the same flood before any window opens, in its own
        // sequence range. The sink counts only an open window, and a capture
        // files these under warm-up, so they are discarded at both ends; the
        // measured window then starts with rings, caches, neighbour entries
        // and the receiver's buffers warm, as the ping-pong's does.
        if plan.warmupNs > 0 {
            _ = try blast(from: SequenceSpace.warmup, count: .max, durationNs: plan.warmupNs)
        }

        // Window 1: rate and CPU, no tracepoint attached.
        _ = try control.request(.begin, expect: .beginAck, body: [0], path: &path, tx: &ctlTx, rx: &rx, stop: stop)
        let countersAtStart = path.counters
        meter.start(countSyscalls: false)
        let (sent, elapsed) = try blast(from: 0, count: plan.count ?? .max, durationNs: min(plan.durationNs ?? plan.maxDurationNs, plan.maxDurationNs))
        let cost = meter.stop()
        let senderCounters = path.counters.since(countersAtStart)
        // The end request queues behind the flood on the same socket and
        // path, so the receiver closes its window after the last data packet.
        let main = PeerReport.decode(try control.request(.end, expect: .report, path: &path, tx: &ctlTx, rx: &rx, stop: stop))

        // Window 2: a shorter flood with the kernel's syscall counter on.
        let w2 = SyscallWindow(mainElapsedNs: elapsed, mainPackets: sent)
        _ = try control.request(.begin, expect: .beginAck, body: [1], path: &path, tx: &ctlTx, rx: &rx, stop: stop)
        meter.start(countSyscalls: true)
        // Its own sequence range, as the ping-pong's: on the wire (and in a
        // capture) it never looks like a repeat of the measured window.
        let (sent2, _) = try blast(from: SequenceSpace.syscallWindow, count: w2.packets, durationNs: w2.durationNs)
        let cost2 = meter.stop()
        let second = PeerReport.decode(try control.request(.end, expect: .report, path: &path, tx: &ctlTx, rx: &rx, stop: stop))

        let info = path.info
        var result = FloodResult(
            payloadSize: config.payloadSize, sent: sent,
            received: main?.floodUnique ?? 0,
            duplicated: main?.floodDuplicates ?? 0,
            reordered: main?.floodReordered ?? 0,
            senderDurationNs: elapsed,
            receiverSpanNs: main.map { $0.lastRxNs &- $0.firstRxNs } ?? 0,
            sender: EndReport(role: "sender", cost: PerPacketCost(cost, packets: max(sent, 1), syscallWindow: cost2, syscallPackets: sent2),
                              counters: senderCounters, napiID: info.napiID),
            receiver: main.map { EndReport(reflector: $0, packets: max($0.floodUnique, 1), syscallWindow: second, syscallPackets: second?.floodUnique ?? 0) })
        result.integrityFailures = main?.floodIntegrityFailures
        return result
    }
}
