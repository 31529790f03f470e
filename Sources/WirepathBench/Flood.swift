import WirepathIO
import WirepathModel

/// Flood from this end to a sink at `peer`: as fast as the path allows for
/// the window.
struct Flood: PathClient {
    let peer: Endpoint
    let plan: MeasurementPlan
    let stop: StopSignal
    let progress: RunProgress
    var kernel: KernelProbe? = nil

    func run<P: PacketPath & ~Copyable>(_ path: consuming P, config: PathConfig) throws -> (FloodResult, PathInfo) {
        var end = ClientEnd(path: path, config: config, peer: peer, plan: plan, stop: stop, progress: progress,
                            sendSlots: config.sendBatch, receiveSlots: 8, kernel: kernel)
        var result = try end.flood()
        result.runID = plan.runID
        return (result, end.path.info)
    }
}

extension ClientEnd where P: ~Copyable {
    /// Floods for up to `durationNs` or `count` packets, from sequence `seq`.
    /// Only accepted packets advance the sequence; a short send is restamped
    /// and retried in the next round. Returns packets sent and elapsed ns.
    mutating func blast(from first: UInt64, count: UInt64, durationNs: UInt64) throws(PathError) -> (UInt64, UInt64) {
        let batch = UInt64(config.sendBatch)
        let start = Sys.monotonicNanos()
        let limit = start + durationNs
        var seq = first
        // Saturating: `count` may be .max (a window bounded by time alone).
        let end = count > UInt64.max - first ? UInt64.max : first + count
        var now = start
        progress.reset()
        while seq < end && now < limit && !stop.requested {
            let n = Int(min(batch, end - seq))
            for i in 0..<n {
                tx.withMutableBytes(i) { stamper.stamp($0, kind: .flood, seq: seq &+ UInt64(i), timestamp: now) }
            }
            tx.count = n
            seq &+= UInt64(try path.send(&tx))
            now = Sys.monotonicNanos()
            progress.publish(seq & ~255)
        }
        return (seq - first, now - start)
    }

    mutating func flood() throws(PathError) -> FloodResult {
        // Warm-up: the same flood before any window opens, in its own
        // sequence range. The sink counts only an open window, and a capture
        // files these under warm-up, so they are discarded at both ends; the
        // measured window then starts with rings, caches, neighbour entries
        // and the receiver's buffers warm, as the ping-pong's does.
        if plan.warmupNs > 0 {
            _ = try blast(from: SequenceSpace.warmup, count: .max, durationNs: plan.warmupNs)
        }

        // Window 1: rate and CPU, no tracepoint attached.
        try openWindow()
        let (sent, elapsed) = try blast(from: 0, count: plan.count ?? .max, durationNs: windowNs)
        let (cost, senderCounters) = closeWindow()
        // The end request queues behind the flood on the same socket and
        // path, so the receiver closes its window after the last data packet.
        let main = try report()
        let kernelWindow = kernelWindow()

        // Window 2: a shorter flood with the kernel's syscall counter on.
        let w2 = SyscallWindow(mainElapsedNs: elapsed, mainPackets: sent)
        try openSyscallWindow()
        // Its own sequence range, as the ping-pong's: on the wire (and in a
        // capture) it never looks like a repeat of the measured window.
        let (sent2, _) = try blast(from: SequenceSpace.syscallWindow, count: w2.packets, durationNs: w2.durationNs)
        let (cost2, second) = try closeSyscallWindow()

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
        if let w = kernelWindow {
            result.kernelLoss = .flood(lost: result.lost, corrupted: result.integrityFailures ?? 0, client: w.0.client, reflector: w.0.reflector,
                                       hop: w.0.hop, receiverXDP: result.receiver?.xdp, controlResends: w.resends, unread: w.unread)
            result.softirq = kernel?.softirq(w.0, packets: result.received)
        }
        return result
    }
}
