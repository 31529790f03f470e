import Histogram
import WirepathIO

/// A run with `--threads N` (N > 1, or `--queues` > 1): each thread's own
/// figures, and where its traffic was shown to land. The path's
/// `pingpong` and `flood` then hold the aggregate (`merged`).
public struct ThreadedRecord: Codable, Sendable, Equatable {
    public var threads: Int
    public var flows: Int
    /// RX and TX queues per veth end (the built-in topology).
    public var queues: Int
    /// The CPU of thread i at each end (the same list at both ends).
    public var cpus: [Int]
    /// Client and reflector threads share CPUs: each thread's rate is then
    /// not what a core of its own would give, and efficiency is marked so.
    public var contended: Bool
    public var perThread: [ThreadRun]
    /// Per measurement: the per-queue counters and the per-flow verdict.
    public var placement: [Placement]

    public init(threads: Int, flows: Int, queues: Int, cpus: [Int], contended: Bool,
                perThread: [ThreadRun] = [], placement: [Placement] = []) {
        self.threads = threads; self.flows = flows; self.queues = queues; self.cpus = cpus
        self.contended = contended; self.perThread = perThread; self.placement = placement
    }

    /// Every placement problem of every measurement, or empty.
    public var problems: [String] { placement.flatMap { p in p.problems.map { "\(p.measurement): \($0)" } } }
}

/// One thread of a threaded run: its flow, the CPUs at both ends, what
/// it measured, and what its sockets said about where packets came in.
public struct ThreadRun: Codable, Sendable, Equatable {
    public var index: Int
    public var flow: Int
    public var clientCPU: Int?
    public var reflectorCPU: Int?
    /// The queue its flow was steered to (XPS on the sending CPU).
    public var steeredQueue: Int
    public var pingpong: PingPongResult?
    public var flood: FloodResult?
    /// SO_INCOMING_CPU and SO_INCOMING_NAPI_ID of the client's socket
    /// after its last measurement, and of the reflector thread's socket.
    public var clientIncomingCPU: Int?
    public var clientNAPIID: UInt32?
    public var reflectorIncomingCPU: Int?
    public var reflectorNAPIID: UInt32?

    public init(index: Int, flow: Int, clientCPU: Int?, reflectorCPU: Int?, steeredQueue: Int) {
        self.index = index; self.flow = flow; self.clientCPU = clientCPU; self.reflectorCPU = reflectorCPU
        self.steeredQueue = steeredQueue
    }
}

/// One queue's receive counter over a measurement.
public struct QueueCount: Codable, Sendable, Equatable {
    public var queue: Int
    public var rxPackets: UInt64
    public init(queue: Int, rxPackets: UInt64) { self.queue = queue; self.rxPackets = rxPackets }
}

/// xdp: one queue's AF_XDP socket over a measurement, and the counters
/// that say what reached it, each from a different instrument.
public struct XSKQueueCount: Codable, Sendable, Equatable {
    public var queue: Int
    /// The thread whose path owned the socket bound to this queue.
    public var thread: Int
    /// The XDP program's per-queue counter (`wp_queue_redirected`): test-flow
    /// packets it handed to this queue's socket.
    public var programRedirected: UInt64
    /// The device's own count of XDP redirects on this queue (veth:
    /// rx_queue_N_xdp_redirect), which counts only redirects the socket took;
    /// nil where the driver has none.
    public var deviceRedirected: UInt64?
    /// UDP frames the socket's RX ring delivered to its thread.
    public var socketReceived: UInt64
    /// XDP_STATISTICS: dropped (no fill-ring frame), RX ring full, fill ring empty.
    public var socketRxDropped: UInt64
    public var socketRxRingFull: UInt64
    public var fillRingEmpty: UInt64

    public init(queue: Int, thread: Int, programRedirected: UInt64, deviceRedirected: UInt64?, socketReceived: UInt64,
                socketRxDropped: UInt64, socketRxRingFull: UInt64, fillRingEmpty: UInt64) {
        self.queue = queue; self.thread = thread; self.programRedirected = programRedirected
        self.deviceRedirected = deviceRedirected; self.socketReceived = socketReceived
        self.socketRxDropped = socketRxDropped; self.socketRxRingFull = socketRxRingFull; self.fillRingEmpty = fillRingEmpty
    }

    /// The program's redirects are the socket's: received, or dropped by it.
    public var accountedFor: Bool { programRedirected == socketReceived &+ socketRxDropped &+ socketRxRingFull }
    /// The device's redirect count is the socket's received count (nil: no device counter).
    public var matchesDevice: Bool? { deviceRedirected.map { $0 == socketReceived } }
}

/// Where one flow was steered and where it was shown to arrive.
public struct FlowPlacement: Codable, Sendable, Equatable {
    public var flow: Int
    public var steeredQueue: Int
    public var steeredThread: Int
    /// The flow's packets in the measured window as its reflector thread
    /// counted them (a flood: veth drops what its ring cannot take before
    /// the queue counter sees it), or the requests sent (a ping-pong).
    public var packets: UInt64
    /// Share (0-1) of the flow's traffic its steered queue accounts for:
    /// the queue's share of all received packets over the flows' share of
    /// all sent (capped at 1).
    public var onSteeredQueue: Double
    /// The reflector thread that served the flow's window (its control
    /// exchange carries the flow's run id); nil when none reported it.
    public var servedByThread: Int?
    public var ok: Bool
}

/// The proof of placement for one measurement at one receiving device.
public struct Placement: Codable, Sendable, Equatable {
    /// "pingpong" or "flood".
    public var measurement: String
    /// The receiving device whose per-queue counters were read.
    public var device: String
    /// Where the counters come from (`ethtool -S DEV`: rx_queue_N_xdp_packets).
    public var source: String
    public var queues: [QueueCount]
    public var flows: [FlowPlacement]
    /// What did not land where it was steered, in words; empty when all did.
    public var problems: [String]
    /// xdp: each queue's AF_XDP socket and what it accounted for (nil on
    /// the other paths, and in reports from before it).
    public var sockets: [XSKQueueCount]?

    /// A flow may miss its queue by this share before it is flagged: a few
    /// packets outside the flows' windows (warm-up, control) are not
    /// counted in `sent` but are on the queues.
    public static let tolerance = 0.10

    /// Checks per-queue receive counters against where each flow was
    /// steered. `served[f]` is the reflector thread that served flow f's
    /// window (nil: none did). Queue counters cannot tell flows apart, so
    /// each queue's share of what arrived is compared with its flows'
    /// share of `packets`.
    public static func check(measurement: String, device: String, source: String, queueRx: [UInt64],
                             flows: [(flow: Int, thread: Int, queue: Int, packets: UInt64)], served: [Int?]) -> Placement {
        var problems: [String] = []
        let totalRx = queueRx.reduce(0, &+)
        let totalSent = flows.reduce(UInt64(0)) { $0 &+ $1.packets }
        var expected = [Double](repeating: 0, count: queueRx.count)
        for f in flows where f.queue < queueRx.count && totalSent > 0 {
            expected[f.queue] += Double(f.packets) / Double(totalSent)
        }
        let observed = queueRx.map { totalRx == 0 ? 0 : Double($0) / Double(totalRx) }
        if totalRx == 0 {
            problems.append("no per-queue receive counter on \(device) moved (\(source)), so where the flows landed is not shown")
        }
        var placements: [FlowPlacement] = []
        for (i, f) in flows.enumerated() {
            var ok = true
            var on = 0.0
            if f.queue >= queueRx.count {
                problems.append("flow \(f.flow) was steered to queue \(f.queue), which \(device) does not have")
                ok = false
            } else if totalRx > 0 && f.packets == 0 {
                // A flood's flow counted by its reflector thread: none of it
                // reached that thread (it went to another queue's CPU and so
                // to another thread's socket), while the device received.
                let queues = queueRx.enumerated().map { "q\($0.offset) \($0.element)" }.joined(separator: ", ")
                problems.append("flow \(f.flow) was steered to queue \(f.queue) and thread \(f.thread) but none of its packets reached that thread while \(device) received \(totalRx) (\(queues))")
                ok = false
            } else if totalRx > 0 && expected[f.queue] > 0 {
                on = min(1, observed[f.queue] / expected[f.queue])
                if on < 1 - tolerance {
                    // The queue that took more than its flows sent.
                    let excess = observed.indices.filter { $0 != f.queue }.max { observed[$0] - expected[$0] < observed[$1] - expected[$1] }
                    let whereTo = excess.map { "on queue \($0)" } ?? "elsewhere"
                    problems.append("flow \(f.flow) was steered to queue \(f.queue) but \(percent(1 - on)) arrived \(whereTo) (queue \(f.queue) took \(percent(observed[f.queue])) of \(device)'s packets, its flows had \(percent(expected[f.queue])))")
                    ok = false
                }
            }
            let by = i < served.count ? served[i] : nil
            if by != f.thread {
                problems.append("flow \(f.flow) was steered to thread \(f.thread) but " + (by.map { "reflector thread \($0) served its window" } ?? "no reflector thread reported its window"))
                ok = false
            }
            placements.append(FlowPlacement(flow: f.flow, steeredQueue: f.queue, steeredThread: f.thread, packets: f.packets,
                                            onSteeredQueue: on, servedByThread: by, ok: ok))
        }
        return Placement(measurement: measurement, device: device, source: source,
                         queues: queueRx.enumerated().map { QueueCount(queue: $0.offset, rxPackets: $0.element) },
                         flows: placements, problems: problems)
    }

    /// xdp: adds each queue's socket to the record and checks it against
    /// the flows: the socket on a flow's steered queue must be its
    /// thread's (`sockets[].thread`, the thread whose path owned it), and
    /// must have received something when the flows steered there sent.
    /// Whether the counts agree (`XSKQueueCount.accountedFor`, `matchesDevice`)
    /// is shown, not flagged: a socket's drops are loss, not misplacement.
    public mutating func addSockets(_ sockets: [XSKQueueCount], flows: [(flow: Int, thread: Int, queue: Int, packets: UInt64)]) {
        self.sockets = sockets
        for (i, f) in flows.enumerated() {
            guard let s = sockets.first(where: { $0.queue == f.queue }) else {
                problems.append("flow \(f.flow) was steered to queue \(f.queue), which has no AF_XDP socket at \(device)")
                self.flows[i].ok = false
                continue
            }
            if s.thread != f.thread {
                problems.append("flow \(f.flow) was steered to queue \(f.queue), whose AF_XDP socket at \(device) is thread \(s.thread)'s, not thread \(f.thread)'s")
                self.flows[i].ok = false
            } else if f.packets > 0 && s.socketReceived == 0 {
                problems.append("flow \(f.flow) was steered to queue \(f.queue), whose AF_XDP socket at \(device) (thread \(s.thread)) received none of its \(f.packets) packets")
                self.flows[i].ok = false
            }
        }
    }

    static func percent(_ x: Double) -> String {
        let p = (x * 100).rounded()
        return "\(Int(max(0, min(100, p))))%"
    }
}

// MARK: Aggregates of the threads' results

extension LatencyHistogram {
    /// The histograms added (HdrHistogram addition): the distribution of
    /// every thread's samples together, not an average of percentiles.
    public static func merged(_ parts: [Histogram<UInt64>]) -> Histogram<UInt64> {
        var h = make()
        for p in parts { h.add(p) }
        return h
    }
}

extension ThreadCost {
    /// The threads' costs together: CPU, switches and syscalls summed (nil
    /// when any thread's were not counted), wall time the longest.
    public static func sum(_ parts: [ThreadCost]) -> ThreadCost {
        let syscalls: UInt64? = parts.allSatisfy { $0.syscalls != nil } ? parts.reduce(UInt64(0)) { $0.saturatingAdd($1.syscalls!) } : nil
        var c = ThreadCost(syscalls: parts.isEmpty ? nil : syscalls,
                           syscallsUnavailable: parts.compactMap(\.syscallsUnavailable).first,
                           userNs: parts.reduce(0) { $0.saturatingAdd($1.userNs) },
                           systemNs: parts.reduce(0) { $0.saturatingAdd($1.systemNs) },
                           voluntaryContextSwitches: parts.reduce(0) { $0.saturatingAdd($1.voluntaryContextSwitches) },
                           involuntaryContextSwitches: parts.reduce(0) { $0.saturatingAdd($1.involuntaryContextSwitches) },
                           wallNs: parts.map(\.wallNs).max() ?? 0)
        c.extraThreads = parts.flatMap(\.extraThreads)
        let k = parts.compactMap(\.kernelThreadNs)
        c.kernelThreadNs = k.isEmpty ? nil : k.reduce(0) { $0.saturatingAdd($1) }
        return c
    }
}

extension EndReport {
    /// One end's threads as one: packets, calls and CPU summed, per-packet
    /// figures over the sum. The xdp counters and the reflector's drop
    /// tallies stay per thread (`ThreadedRecord.perThread`).
    public static func merged(_ parts: [EndReport]) -> EndReport? {
        guard var m = parts.first else { return nil }
        guard parts.count > 1 else { return m }
        m.rxPackets = parts.reduce(0) { $0.saturatingAdd($1.rxPackets) }
        m.txPackets = parts.reduce(0) { $0.saturatingAdd($1.txPackets) }
        m.rxCalls = parts.reduce(0) { $0.saturatingAdd($1.rxCalls) }
        m.txCalls = parts.reduce(0) { $0.saturatingAdd($1.txCalls) }
        m.waitCalls = parts.reduce(0) { $0.saturatingAdd($1.waitCalls) }
        // Weighted by each thread's calls that carried packets.
        let rxNonEmpty = parts.reduce(0.0) { $0 + ($1.rxPacketsPerCall > 0 ? Double($1.rxPackets) / $1.rxPacketsPerCall : 0) }
        m.rxPacketsPerCall = rxNonEmpty == 0 ? 0 : Double(m.rxPackets) / rxNonEmpty
        m.txPacketsPerCall = m.txCalls == 0 ? 0 : Double(m.txPackets) / Double(m.txCalls)
        m.errnos = parts.reduce(into: [:]) { acc, p in for (k, v) in p.errnos { acc[k, default: 0] = acc[k, default: 0].saturatingAdd(v) } }
        m.multishotRearms = parts.reduce(0) { $0.saturatingAdd($1.multishotRearms) }
        m.sqpollWakeups = parts.reduce(0) { $0.saturatingAdd($1.sqpollWakeups) }
        m.zcCopied = parts.reduce(0) { $0.saturatingAdd($1.zcCopied) }
        m.zcZeroCopy = parts.reduce(0) { $0.saturatingAdd($1.zcZeroCopy) }
        m.xdp = nil
        m.droppedSources = nil
        let failures = parts.compactMap(\.sendFailures)
        m.sendFailures = failures.isEmpty ? nil : failures.reduce(into: [:]) { acc, p in for (k, v) in p { acc[k, default: 0] = acc[k, default: 0].saturatingAdd(v) } }
        let costs = parts.compactMap(\.cost)
        if costs.count == parts.count {
            let windows = costs.compactMap(\.syscallWindow)
            m.cost = PerPacketCost(ThreadCost.sum(costs.map(\.raw)), packets: costs.reduce(0) { $0.saturatingAdd($1.packets) },
                                   syscallWindow: windows.count == costs.count ? ThreadCost.sum(windows) : nil,
                                   syscallPackets: costs.reduce(0) { $0.saturatingAdd($1.syscallPackets) })
        } else {
            m.cost = nil
        }
        return m
    }
}

extension PingPongResult {
    /// The threads' ping-pongs as one: latency from the threads' histograms
    /// added (`histogram`), counts summed, the longest window.
    public static func merged(_ parts: [PingPongResult], histogram: Histogram<UInt64>) -> PingPongResult? {
        guard let first = parts.first, let client = EndReport.merged(parts.map(\.client)) else { return nil }
        let reflectors = parts.compactMap(\.reflector)
        var m = PingPongResult(
            latency: LatencySummary(histogram),
            sent: parts.reduce(0) { $0.saturatingAdd($1.sent) },
            received: parts.reduce(0) { $0.saturatingAdd($1.received) },
            lost: parts.reduce(0) { $0.saturatingAdd($1.lost) },
            duplicated: parts.reduce(0) { $0.saturatingAdd($1.duplicated) },
            reordered: parts.reduce(0) { $0.saturatingAdd($1.reordered) },
            integrityFailures: parts.reduce(0) { $0.saturatingAdd($1.integrityFailures) },
            foreign: parts.reduce(0) { $0.saturatingAdd($1.foreign) },
            timeoutNs: first.timeoutNs, warmupNs: first.warmupNs,
            durationNs: parts.map(\.durationNs).max() ?? 0,
            client: client,
            reflector: reflectors.count == parts.count ? EndReport.merged(reflectors) : nil)
        m.latencyCorrected = LatencySummary.correctedForCoordinatedOmission(histogram, expectedIntervalNs: m.latency.p50Ns)
        m.hgrm = histogram.percentileDistribution
        return m
    }
}

extension FloodResult {
    /// The threads' floods as one. Their windows run at once, so the
    /// aggregate rate is the sum of the threads' rates (not the packets
    /// over the longest window, which would charge each thread for the
    /// others' start-up skew).
    public static func merged(_ parts: [FloodResult]) -> FloodResult? {
        guard let first = parts.first, let sender = EndReport.merged(parts.map(\.sender)) else { return nil }
        let receivers = parts.compactMap(\.receiver)
        var m = FloodResult(payloadSize: first.payloadSize,
                            sent: parts.reduce(0) { $0.saturatingAdd($1.sent) },
                            received: parts.reduce(0) { $0.saturatingAdd($1.received) },
                            duplicated: parts.reduce(0) { $0.saturatingAdd($1.duplicated) },
                            reordered: parts.reduce(0) { $0.saturatingAdd($1.reordered) },
                            senderDurationNs: parts.map(\.senderDurationNs).max() ?? 0,
                            receiverSpanNs: parts.map(\.receiverSpanNs).max() ?? 0,
                            sender: sender,
                            receiver: receivers.count == parts.count ? EndReport.merged(receivers) : nil)
        m.txPps = parts.reduce(0) { $0 + $1.txPps }
        m.rxPps = parts.reduce(0) { $0 + $1.rxPps }
        m.txPayloadBps = parts.reduce(0) { $0 + $1.txPayloadBps }
        m.rxPayloadBps = parts.reduce(0) { $0 + $1.rxPayloadBps }
        m.txFrameBps = parts.reduce(0) { $0 + $1.txFrameBps }
        m.rxFrameBps = parts.reduce(0) { $0 + $1.rxFrameBps }
        let integrity = parts.compactMap(\.integrityFailures)
        m.integrityFailures = integrity.count == parts.count ? integrity.reduce(0) { $0.saturatingAdd($1) } : nil
        return m
    }
}

extension WirepathReport {
    /// Every flow of every threaded run that did not land where it was
    /// steered, in words; nil when all did (or no run was threaded).
    /// `--verify strict` fails on it.
    public var placementFailure: String? {
        let why = runs.flatMap { r in (r.threaded?.problems ?? []).map { "\(r.label) \($0)" } }
        return why.isEmpty ? nil : why.joined(separator: "; ")
    }
}

/// One row of `compare --threads 1,2`'s scaling table: a path at a thread
/// count, from its flood.
public struct ScalingRow: Codable, Sendable, Equatable {
    public var path: PathKind
    public var threads: Int
    /// The receiver's aggregate packets per second.
    public var aggregatePps: Double
    public var aggregateBps: Double
    /// The aggregate over the threads per end.
    public var ppsPerCore: Double
    /// Rate at N over N × rate at 1 thread; nil without a 1-thread row.
    public var efficiency: Double?
    /// Client and reflector shared CPUs: efficiency below 1 is then the
    /// host's, not only the path's.
    public var contended: Bool
    /// The ping-pong's merged p50, when it ran.
    public var p50Ns: UInt64?

    /// The table from a report's runs: one row per path and thread count
    /// that ran (ok, with a flood), in the runs' order.
    public static func table(_ runs: [PathRun]) -> [ScalingRow] {
        var rows: [ScalingRow] = []
        for run in runs where run.status == .ok {
            guard let f = run.flood else { continue }
            let n = run.threaded?.threads ?? 1
            rows.append(ScalingRow(path: run.path, threads: n, aggregatePps: f.rxPps, aggregateBps: f.rxFrameBps,
                                   ppsPerCore: f.rxPps / Double(n), efficiency: nil,
                                   contended: run.threaded?.contended ?? false, p50Ns: run.pingpong?.latency.p50Ns))
        }
        for i in rows.indices {
            if let one = rows.first(where: { $0.path == rows[i].path && $0.threads == 1 }), one.aggregatePps > 0 {
                rows[i].efficiency = rows[i].aggregatePps / (Double(rows[i].threads) * one.aggregatePps)
            }
        }
        return rows
    }
}

extension Recommendation {
    /// With a scaling table: the verdicts over the rows of one thread count
    /// (`threads`, the largest measured), each with, per measured count,
    /// which path led the flood; a count not measured is extrapolation.
    public static func make(_ report: WirepathReport, scaling rows: [ScalingRow], spreads: [PathKind: RunSpread] = [:]) -> [Verdict] {
        guard let top = rows.map(\.threads).max() else { return make(report, spreads: spreads) }
        var at = report
        // The rows of the largest count, as if they were the only ones.
        at.runs = report.runs.filter { ($0.threaded?.threads ?? 1) == top }.map { var r = $0; r.variant = nil; return r }
        var verdicts = make(at, spreads: spreads)
        let counts = Array(Set(rows.map(\.threads))).sorted()
        let leaders = counts.compactMap { n -> String? in
            guard let best = rows.filter({ $0.threads == n }).max(by: { $0.aggregatePps < $1.aggregatePps }) else { return nil }
            let contended = rows.contains { $0.threads == n && $0.contended && n > 1 }
            return "\(n) thread\(n == 1 ? "" : "s"): \(best.path.rawValue) (\(NumberText.fixed(best.aggregatePps / 1e6, 3)) Mpps\(contended ? ", contended" : ""))"
        }
        let scalingLine = "the flood's lead per measured thread count, " + leaders.joined(separator: "; ")
            + "; these verdicts use the \(top)-thread rows, and beyond \(top) threads per end is extrapolation"
        for i in verdicts.indices { verdicts[i].reasons.append(scalingLine) }
        return verdicts
    }
}
