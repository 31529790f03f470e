import Foundation
import Histogram
import WirepathIO
import WirepathModel

/// A comparison built in code: no network, no privileges. socket and mmsg
/// ran everything, uring ran only the flood, xdp was unavailable with a
/// reason full of markup that the report must escape.
enum Fixture {
    static let hostileReason = #"no AF_XDP here: <script>alert("x")</script> & <b>bold</b> 'quoted'"#

    /// A repeatable RTT distribution: most samples near `medianNs`, a
    /// spread tail, and a few stalls of `stallNs`.
    static func histogram(medianNs: UInt64, samples: Int = 20_000, stallNs: UInt64 = 0) -> Histogram<UInt64> {
        var h = LatencyHistogram.make()
        for i in 0..<samples {
            let spread = UInt64((i &* 7919) % 1000)            // 0...999, spread evenly
            var v = medianNs / 2 + spread * medianNs / 1000    // 0.5x ... 1.5x the median
            if i % 100 == 0 { v += medianNs * UInt64(i % 700) / 100 }  // a 1% tail up to 7x
            if stallNs > 0 && i % 5000 == 4999 { v = stallNs }
            h.record(v)
        }
        return h
    }

    static func hgrm(_ h: Histogram<UInt64>, scalingToUnit ratio: Double = 1000) -> String {
        var text = ""
        h.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: ratio)
        return text
    }

    static func end(_ role: String, syscalls: UInt64, cpuNs: UInt64, packets: UInt64) -> EndReport {
        let cost = ThreadCost(syscalls: syscalls, syscallsUnavailable: nil, userNs: cpuNs / 3, systemNs: cpuNs - cpuNs / 3,
                              voluntaryContextSwitches: 3, involuntaryContextSwitches: 1, wallNs: 2_000_000_000)
        var c = PathCounters()
        c.txPackets = packets; c.rxPackets = packets; c.txCalls = packets; c.rxCalls = packets; c.rxNonEmptyCalls = packets
        return EndReport(role: role, cost: PerPacketCost(cost, packets: packets), counters: c, napiID: 0)
    }

    static func pingpong(medianNs: UInt64, stallNs: UInt64 = 0, syscallsPerRTT: UInt64) -> PingPongResult {
        let h = histogram(medianNs: medianNs, stallNs: stallNs)
        var p = PingPongResult(latency: LatencySummary(h), sent: 20_000, received: 20_000, lost: 0, duplicated: 0, reordered: 0,
                               integrityFailures: 0, foreign: 0, timeoutNs: 100_000_000, warmupNs: 1_000_000_000,
                               durationNs: 2_000_000_000,
                               client: end("client", syscalls: 20_000 * syscallsPerRTT, cpuNs: 20_000 * 4000, packets: 20_000),
                               reflector: end("reflector", syscalls: 20_000 * syscallsPerRTT, cpuNs: 20_000 * 3000, packets: 20_000))
        p.latencyCorrected = .correctedForCoordinatedOmission(h, expectedIntervalNs: LatencySummary(h).p50Ns)
        return p
    }

    static func flood(pps: Double, txSyscallsPerPacket: Double, rxSyscallsPerPacket: Double, cpuNs: UInt64) -> FloodResult {
        let sent = UInt64(pps * 2), received = sent - sent / 1000
        return FloodResult(payloadSize: 64, sent: sent, received: received, duplicated: 0, reordered: 0,
                           senderDurationNs: 2_000_000_000, receiverSpanNs: 2_000_000_000,
                           sender: end("sender", syscalls: UInt64(Double(sent) * txSyscallsPerPacket), cpuNs: sent * cpuNs, packets: sent),
                           receiver: end("receiver", syscalls: UInt64(Double(received) * rxSyscallsPerPacket), cpuNs: received * cpuNs, packets: received))
    }

    static func openLoop(medianNs: UInt64, capacity: Double) -> [OpenLoopResult] {
        [0.1, 0.5, 0.9].map { f in
            let h = histogram(medianNs: UInt64(Double(medianNs) * (1 + f * f * 3)), samples: 5000)
            return OpenLoopResult(targetPps: capacity * f, loadFraction: f, latency: LatencySummary(h), sent: 5000, received: 5000,
                                  duplicated: 0, maxSendLagNs: 2000, durationNs: UInt64(5000 / (capacity * f) * 1e9),
                                  client: end("client", syscalls: 10_000, cpuNs: 5000 * 1000, packets: 5000), reflector: nil)
        }
    }

    static let mmsgHistogram = histogram(medianNs: 14_000)

    static func report() -> WirepathReport {
        let options = PathOptionsRecord(payloadSize: 64, batchSize: 32, wait: .block, busyPollMicros: nil, napiID: 0)
        var socket = PathRun(path: .socket, status: .ok, options: options, notes: ["busy-poll had nothing to poll & said so"],
                             pingpong: pingpong(medianNs: 18_000, stallNs: 2_000_000, syscallsPerRTT: 2),
                             flood: flood(pps: 450_000, txSyscallsPerPacket: 1, rxSyscallsPerPacket: 1.02, cpuNs: 2100))
        socket.openLoop = openLoop(medianNs: 18_000, capacity: 450_000)
        var mmsg = PathRun(path: .mmsg, status: .ok, options: options,
                           pingpong: pingpong(medianNs: 14_000, syscallsPerRTT: 2),
                           flood: flood(pps: 1_250_000, txSyscallsPerPacket: 0.031, rxSyscallsPerPacket: 0.2, cpuNs: 700))
        // mmsg's full curve comes with the result, as the runner records it.
        mmsg.pingpong?.latency = LatencySummary(mmsgHistogram)
        mmsg.pingpong?.hgrm = mmsgHistogram.percentileDistribution
        mmsg.openLoop = openLoop(medianNs: 14_000, capacity: 1_250_000)
        let uring = PathRun(path: .uring, status: .ok, options: options,
                            flood: flood(pps: 1_600_000, txSyscallsPerPacket: 0.03, rxSyscallsPerPacket: 0.05, cpuNs: 520))
        let xdp = PathRun(path: .xdp, status: .unavailable, reason: hostileReason, options: options)
        // compare --tune: socket again, busy waiting; ping-pong only, its
        // curve passed to the writer by label.
        var tuned = PathRun(path: .socket, status: .ok, options: options, pingpong: pingpong(medianNs: 9_000, syscallsPerRTT: 40))
        tuned.variant = "tuned: spin"
        tuned.pingpong?.latency = LatencySummary(tunedHistogram)
        // compare --repeat 3: the spread of socket's figures.
        var slower = socket, faster = socket
        slower.pingpong?.latency.p50Ns += 900
        faster.pingpong?.latency.p50Ns -= 700
        socket.spread = RunSpread([faster, socket, slower])
        let topology = TopologyRecord(kind: "veth-pair", namespaces: ["wirepath-1-cli", "wirepath-1-ref"], clientInterface: "wpc0",
                                      reflectorInterface: "wpr0", clientAddress: "198.18.0.1:7000", reflectorAddress: "198.18.0.2:7000",
                                      mtu: 1500, vethNAPI: true, clientCPU: 0, reflectorCPU: 1)
        let env = EnvironmentRecord(kernel: "Linux 6.1.0-test", cpuModel: "Test CPU @ 2.0GHz", cpus: 2, wirepathVersion: "test",
                                    syscallCounter: "perf_event_open raw_syscalls:sys_enter", topology: topology)
        let settings = RunSettings(durationNs: 2_000_000_000, count: nil, warmupNs: 1_000_000_000, timeoutNs: 100_000_000,
                                   payloadSize: 64, batchSize: 32, wait: .block, busyPollMicros: nil, measurements: ["pingpong", "flood"])
        var report = WirepathReport(command: "compare", startedAt: "2026-11-26T12:00:00Z", environment: env, settings: settings,
                                    runs: [socket, mmsg, uring, xdp, tuned])
        report.recommendation = verdicts
        return report
    }

    static let tunedHistogram = histogram(medianNs: 9_000)

    /// Histograms handed to the writer rather than carried by the result:
    /// the tuned socket's, in ns, so the writer must find the unit.
    static func histograms() -> [String: String] { ["socket+spin": hgrm(tunedHistogram, scalingToUnit: 1)] }

    /// Verdict has no public initialiser: made as the JSON report holds it.
    static var verdicts: [Verdict] {
        let json = #"""
        [{"goal": "latency", "pick": "mmsg", "tie": [], "summary": "latency: mmsg <fastest>",
          "reasons": ["mmsg: p99 20.98 µs vs socket 26.98 µs & more"]},
         {"goal": "throughput", "tie": ["uring", "mmsg"], "summary": "throughput: uring and mmsg tie within the spread",
          "reasons": []}]
        """#
        return try! JSONDecoder().decode([Verdict].self, from: Data(json.utf8))
    }

    static func temporaryDirectory(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wirepath-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
