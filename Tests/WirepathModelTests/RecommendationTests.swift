import Histogram
import XCTest
@testable import WirepathIO
@testable import WirepathModel
@testable import WirepathRender

final class RecommendationTests: XCTestCase {
    func latency(_ ns: UInt64) -> LatencySummary {
        var h = LatencyHistogram.make()
        for _ in 0..<100 { _ = h.record(ns) }
        return LatencySummary(h)
    }

    func end(_ cpu: UInt64, syscalls: UInt64) -> EndReport {
        let cost = ThreadCost(syscalls: nil, syscallsUnavailable: nil, userNs: cpu, systemNs: 0,
                              voluntaryContextSwitches: 0, involuntaryContextSwitches: 0, wallNs: 1)
        let sys = ThreadCost(syscalls: syscalls, syscallsUnavailable: nil, userNs: 0, systemNs: 0,
                             voluntaryContextSwitches: 0, involuntaryContextSwitches: 0, wallNs: 1)
        return EndReport(role: "x", cost: PerPacketCost(cost, packets: 1, syscallWindow: sys, syscallPackets: 1), counters: PathCounters(), napiID: 0)
    }

    func run(_ path: PathKind, p99: UInt64, pps: Double, cpu: UInt64) -> PathRun {
        let opts = PathOptionsRecord(payloadSize: 64, batchSize: 32, wait: .block, busyPollMicros: nil, napiID: 0)
        let pp = PingPongResult(latency: latency(p99), sent: 100, received: 100, lost: 0, duplicated: 0, reordered: 0,
                                integrityFailures: 0, foreign: 0, timeoutNs: 1, warmupNs: 0, durationNs: 1,
                                client: end(cpu, syscalls: 2), reflector: nil)
        let f = FloodResult(payloadSize: 64, sent: UInt64(pps), received: UInt64(pps), duplicated: 0, reordered: 0,
                            senderDurationNs: 1_000_000_000, receiverSpanNs: 1_000_000_000,
                            sender: end(cpu, syscalls: 1), receiver: end(cpu, syscalls: 1))
        return PathRun(path: path, status: .ok, options: opts, pingpong: pp, flood: f)
    }

    func report(_ runs: [PathRun]) -> WirepathReport {
        let topo = TopologyRecord(kind: "veth-pair", namespaces: [], clientInterface: nil, reflectorInterface: nil, clientAddress: "a",
                                  reflectorAddress: "b", mtu: 1500, vethNAPI: false, clientCPU: nil, reflectorCPU: nil)
        return WirepathReport(command: "compare", startedAt: "", environment: EnvironmentRecord(kernel: "k", cpuModel: "c", cpus: 2,
                              wirepathVersion: "v", syscallCounter: "s", topology: topo),
                              settings: RunSettings(durationNs: nil, count: nil, warmupNs: 0, timeoutNs: 0, payloadSize: 64, batchSize: 32,
                                                    wait: .block, busyPollMicros: nil, measurements: []), runs: runs)
    }

    func testPicksWithNumbersAndExcludesUnavailable() {
        var xdp = run(.xdp, p99: 1, pps: 1, cpu: 1)
        xdp.status = .unavailable
        xdp.reason = "copy mode on veth"
        let r = report([run(.socket, p99: 12_000, pps: 500_000, cpu: 3000), run(.uring, p99: 9_000, pps: 600_000, cpu: 2000), xdp])
        let v = Recommendation.make(r)
        XCTAssertEqual(v.map(\.pick), [.uring, .uring, .uring])
        let lat = v[0]
        XCTAssertTrue(lat.reasons[0].contains("uring: p99 closed loop 9.0 µs vs socket 12.0 µs"), lat.reasons[0])
        // Each goal quotes the syscalls of the measurement it ranks by.
        XCTAssertTrue(lat.reasons[0].contains("2.00 syscalls/round trip vs 2.00 (client)"), lat.reasons[0])
        XCTAssertTrue(v[1].reasons[0].contains("syscalls/pkt vs") && v[1].reasons[0].contains("(flood sender)"), v[1].reasons[0])
        XCTAssertTrue(lat.reasons.contains { $0.contains("xdp excluded: copy mode on veth") })
        XCTAssertTrue(lat.reasons.contains { $0.contains("--repeat") }, "says the uncertainty was not measured")
    }

    /// Flood verdicts on the default veth pair name the topology's bias and
    /// the option that removes it; with threaded NAPI they do not.
    func testFloodOnTheDefaultVethPairNamesThreadedNAPI() {
        var r = report([run(.socket, p99: 12_000, pps: 500_000, cpu: 3000), run(.uring, p99: 9_000, pps: 600_000, cpu: 2000)])
        var text = Recommendation.render(Recommendation.make(r), report: r)
        XCTAssertTrue(text.contains("--veth-threaded-napi"), text)
        r.environment.topology.threadedNAPI = true
        text = Recommendation.render(Recommendation.make(r), report: r)
        XCTAssertFalse(text.contains("--veth-threaded-napi"), text)
        r.environment.topology.threadedNAPI = nil
        r.environment.topology.kind = "peer"
        text = Recommendation.render(Recommendation.make(r), report: r)
        XCTAssertFalse(text.contains("--veth-threaded-napi"), "two real hosts have no veth to thread: \(text)")
    }

    /// Each path's configuration line names its levers (uring: SQPOLL)
    /// and, when nothing measured them, the flags that would.
    func testConfigurationNamesSQPOLLAndTheUntriedLevers() {
        var uring = run(.uring, p99: 9_000, pps: 600_000, cpu: 2000)
        uring.options.uring = UringOptions(batchWaitMicros: 50)
        var r = report([run(.socket, p99: 12_000, pps: 500_000, cpu: 3000), uring])
        var lines = Recommendation.configurationLines(r)
        XCTAssertTrue(lines[0].hasPrefix("socket ran with wait block, busy-poll off (untried here: --tune measures busy waiting; --busy-poll 50 --veth-napi"), lines[0])
        XCTAssertTrue(lines[1].contains("SQPOLL off, batch wait 50 µs (untried here:"), lines[1])
        XCTAssertTrue(lines[1].contains("--uring-sqpoll=1000"), lines[1])
        r.runs[1].options.uring?.sqPollIdleMillis = 1000
        lines = Recommendation.configurationLines(r)
        XCTAssertTrue(lines[1].contains("SQPOLL on (idle 1000 ms)"), lines[1])
        XCTAssertFalse(lines[1].contains("--uring-sqpoll="), "a lever that was pulled is not offered again: \(lines[1])")
    }

    /// With --tune, each verdict says whether the tuned rows change it, and
    /// each configuration line quotes what tuning measured; the runner-up
    /// in a reason is another path, never the winner's own default.
    func testTuningSaysWhetherItChangesTheVerdict() {
        var spin = run(.socket, p99: 5_000, pps: 400_000, cpu: 5000)
        spin.variant = "tuned: wait spin"
        var r = report([run(.socket, p99: 12_000, pps: 500_000, cpu: 3000), spin, run(.uring, p99: 9_000, pps: 600_000, cpu: 2000)])
        var v = Recommendation.make(r)
        XCTAssertEqual(v[0].pick, .socket)
        XCTAssertEqual(v[0].pickLabel, "socket+wait-spin")
        XCTAssertTrue(v[0].reasons[0].hasPrefix("socket+wait-spin: p99 closed loop 5.0 µs vs uring 9.0 µs"), v[0].reasons[0])
        XCTAssertTrue(v[0].reasons.contains("tuning changes this verdict: with the default configurations alone it would be uring, with the tuned rows it is socket (socket+wait-spin)"),
                      "\(v[0].reasons)")
        XCTAssertTrue(v[1].reasons.contains { $0.hasPrefix("tuning does not change this verdict") }, "throughput: \(v[1].reasons)")
        let lines = Recommendation.configurationLines(r)
        XCTAssertTrue(lines[0].contains("tuned (socket+wait-spin): p99 closed loop 5.0 µs vs 12.0 µs, rx 0.400 vs 0.500 Mpps"), lines[0])
        XCTAssertTrue(lines[1].contains("untried here"), "uring had no tuned row: \(lines[1])")

        r.runs[1].path = .uring
        r.runs[1].variant = "tuned: wait spin"
        v = Recommendation.make(r)
        XCTAssertEqual(v[0].pickLabel, "uring+wait-spin")
        XCTAssertTrue(v[0].reasons.contains("tuning does not change the path: uring+wait-spin leads, and uring leads among the default configurations too"),
                      "\(v[0].reasons)")
        XCTAssertTrue(v[0].reasons[0].contains("vs socket 12.0 µs"), v[0].reasons[0])
    }

    func testTieWithinSpreadIsNotAPick() {
        let runs = [run(.socket, p99: 10_000, pps: 500_000, cpu: 3000), run(.mmsg, p99: 10_500, pps: 510_000, cpu: 3000)]
        var spreads: [PathKind: RunSpread] = [:]
        spreads[.socket] = RunSpread([run(.socket, p99: 9_000, pps: 480_000, cpu: 2900), run(.socket, p99: 12_000, pps: 520_000, cpu: 3100)])
        spreads[.mmsg] = RunSpread([run(.mmsg, p99: 9_500, pps: 490_000, cpu: 2900), run(.mmsg, p99: 11_000, pps: 530_000, cpu: 3100)])
        let v = Recommendation.verdict(report(runs), goal: .latency, spreads: spreads)
        XCTAssertNil(v.pick)
        XCTAssertEqual(Set(v.tie), [.socket, .mmsg])
        XCTAssertTrue(v.summary.contains("tie"), v.summary)
        let t = Recommendation.verdict(report(runs), goal: .throughput, spreads: spreads)
        XCTAssertNil(t.pick, "10 kpps apart with a 40 kpps spread is a tie")
    }

    func testSpreadAndRepresentativeRun() {
        let runs = [run(.socket, p99: 30_000, pps: 1, cpu: 1), run(.socket, p99: 10_000, pps: 1, cpu: 1), run(.socket, p99: 20_000, pps: 1, cpu: 1)]
        let s = RunSpread(runs)
        XCTAssertEqual(s.repeats, 3)
        XCTAssertEqual(s.p99Ns?.median ?? 0, 20_000, accuracy: 20)
        XCTAssertEqual(s.p99Ns?.width ?? 0, 20_000, accuracy: 40)
        XCTAssertEqual(RunSpread.representative(runs), 2, "the median run stands for the path")
    }

    func testCSVHasOneRowPerPathAndMeasurementAndQuotes() {
        var bad = run(.xdp, p99: 1, pps: 1, cpu: 1)
        bad.status = .unavailable
        bad.reason = "needs CAP_BPF, \"really\""
        let csv = CSVReport.render(report([run(.socket, p99: 12_000, pps: 500_000, cpu: 3000), bad]))
        let lines = csv.split(separator: "\n")
        XCTAssertEqual(lines.count, 1 + 2 + 1)
        XCTAssertEqual(lines[0].split(separator: ",").count, CSVReport.header.count)
        XCTAssertTrue(lines[1].hasPrefix("socket,pingpong,ok,64,32,block"))
        XCTAssertTrue(lines[2].hasPrefix("socket,flood,ok"))
        XCTAssertTrue(lines[3].hasSuffix("\"needs CAP_BPF, \"\"really\"\"\""), String(lines[3]))
    }

    func testCSVNamesEachEndsSandbox() throws {
        var r = run(.socket, p99: 12_000, pps: 500_000, cpu: 3000)
        r.options.sandbox = .on
        r.options.reflectorSandbox = .log
        var peer = run(.mmsg, p99: 12_000, pps: 500_000, cpu: 3000)
        peer.options.sandbox = .off
        peer.options.reflectorSandbox = nil
        let lines = CSVReport.render(report([r, peer])).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let col = try XCTUnwrap(CSVReport.header.firstIndex(of: "sandbox"))
        XCTAssertEqual(CSVReport.header[col + 1], "reflector_sandbox")
        XCTAssertEqual(lines[1][col], "on")
        XCTAssertEqual(lines[1][col + 1], "log")
        let peerRow = try XCTUnwrap(lines.first { $0[0] == "mmsg" })
        XCTAssertEqual(peerRow[col], "off")
        XCTAssertEqual(peerRow[col + 1], "", "a --peer's serve applies its own --sandbox")
    }

    func testHgrmIsHdrHistogramText() {
        var h = LatencyHistogram.make()
        for v in 1...1000 { _ = h.record(UInt64(v) * 1000) }
        let text = h.percentileDistribution
        XCTAssertTrue(text.hasPrefix("       Value     Percentile TotalCount 1/(1-Percentile)"))
        XCTAssertTrue(text.contains("#[Mean"))
        var r = run(.socket, p99: 1, pps: 1, cpu: 1)
        r.pingpong?.hgrm = text
        XCTAssertEqual(Hgrm.files(report([r])).map(\.name), ["socket-pingpong.hgrm"])
    }
}
