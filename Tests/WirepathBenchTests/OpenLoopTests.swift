import Foundation
import Glibc
import XCTest
@testable import WirepathBench
@testable import WirepathUring
@testable import WirepathXDP
@testable import WirepathIO
@testable import WirepathModel
import WirepathRender

/// Coordinated omission, shown on the real kernel: the reflector stalls
/// once; the open loop sees it in its percentiles, the closed loop hides it,
/// and the closed loop's corrected histogram brings it back.
final class OpenLoopTests: XCTestCase {
    let stallNs: UInt64 = 100_000_000

    func request(rate: Double?) -> RunRequest {
        var r = RunRequest(paths: [.socket], measurements: [.pingpong],
                           plan: MeasurementPlan(durationNs: 1_500_000_000, count: nil, warmupNs: 200_000_000, timeoutNs: 500_000_000))
        r.rate = rate
        r.reflectorFault = ReflectorFault(afterEchoes: 500, stallNs: stallNs)
        return r
    }

    func testOpenLoopShowsAStallThatTheClosedLoopHides() throws {
        try requireRoot()
        let open = try Runner.run(request(rate: 2000)).runs[0]
        XCTAssertEqual(open.status, .ok, open.reason ?? "")
        let o = try XCTUnwrap(open.openLoop.first)
        XCTAssertEqual(o.lost, 0)
        // And the kernel counted no drop at either end: the stall delayed
        // the replies, it lost none.
        let k = try XCTUnwrap(o.kernelLoss)
        XCTAssertEqual(k.unread, [])
        XCTAssertEqual(k.located, 0, TextReport.kernelLoss(k))
        XCTAssertEqual(k.verdict, .accounted)
        XCTAssertEqual(o.targetPps, 2000)
        // 100 ms at 2000 pps delays ~200 of ~3000 requests by up to 100 ms.
        XCTAssertGreaterThan(o.latency.p99Ns, 30_000_000, "open loop p99 must show the stall")
        XCTAssertGreaterThan(o.latency.maxNs, 80_000_000)

        let closed = try Runner.run(request(rate: nil)).runs[0]
        let p = try XCTUnwrap(closed.pingpong)
        XCTAssertEqual(p.lost, 0)
        // The closed loop waited politely: one slow sample among tens of thousands.
        XCTAssertLessThan(p.latency.p99Ns, stallNs / 3, "closed loop p99 hides the stall")
        XCTAssertGreaterThan(p.latency.maxNs, 80_000_000, "the one stalled sample is still the max")
        let c = try XCTUnwrap(p.latencyCorrected)
        XCTAssertGreaterThan(c.p99Ns, 10_000_000, "corrected closed loop brings the stall back")
    }

    /// The report prints both sides of the same fault: one run, the closed
    /// loop and an open loop at a fixed rate, each with its own reflector
    /// that stalls once; the text shows the closed loop's corrected figures
    /// and the open loop's percentiles, and the stall in both.
    func testReportPrintsTheStallInTheOpenLoopAndWhatTheClosedLoopHid() throws {
        try requireRoot()
        var r = request(rate: nil)
        r.rates = [2000]
        let report = try Runner.run(r)
        let run = report.runs[0]
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let p = try XCTUnwrap(run.pingpong)
        let o = try XCTUnwrap(run.openLoop.first)
        XCTAssertNil(o.loadFraction)
        XCTAssertGreaterThan(o.latency.p99Ns, 30_000_000, "open loop p99 shows the stall")
        XCTAssertLessThan(p.latency.p99Ns, stallNs / 3, "closed loop p99 hides it")
        let text = TextReport.details(report)
        XCTAssertTrue(text.contains("closed loop hid stalls: corrected for coordinated omission"), text)
        XCTAssertTrue(text.contains("open loop (2000 pps offered"), text)
        let table = TextReport.loadTable(report)
        XCTAssertTrue(table.contains("socket") && table.contains("0.002"), table)
    }

    func testRateListParsing() throws {
        XCTAssertEqual(try RateList.parse("1000,20k"), [1000, 20000])
        XCTAssertEqual(try RateList.parse("2.5K"), [2500])
        for bad in ["fast", "0", "-5", "1e9", "", "nan"] {
            XCTAssertThrowsError(try RateList.parse(bad), bad)
        }
    }

    func testLoadListParsing() throws {
        XCTAssertEqual(try LoadList.parse("10%,50%,90%"), [0.1, 0.5, 0.9])
        XCTAssertEqual(try LoadList.parse("0.25"), [0.25])
        XCTAssertThrowsError(try LoadList.parse("fast"))
        XCTAssertThrowsError(try LoadList.parse("0%"))
        XCTAssertThrowsError(try LoadList.parse("300%"))
    }

    func testCompareLoadScalesToEachPathsCapacity() throws {
        try requireRoot()
        var r = RunRequest(paths: [.mmsg], measurements: [.flood],
                           plan: MeasurementPlan(durationNs: 500_000_000, count: nil, warmupNs: 100_000_000, timeoutNs: 100_000_000))
        r.floodDurationNs = 500_000_000
        r.loads = [0.1, 0.5]
        let run = try Runner.run(r).runs[0]
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let capacity = try XCTUnwrap(run.flood?.rxPps)
        XCTAssertEqual(run.openLoop.count, 2)
        for (o, f) in zip(run.openLoop, [0.1, 0.5]) {
            XCTAssertEqual(o.loadFraction, f)
            XCTAssertEqual(o.targetPps, capacity * f, accuracy: 1)
            XCTAssertGreaterThan(o.received, 0)
        }
    }
}

final class CompareArtifactsTests: XCTestCase {
    /// The issue's command on two paths: --load 10%,50%,90% --repeat 3 with
    /// --csv and --hgrm (the four-path run with --report is rendered in
    /// Chromium by WirepathReportTests).
    func testCompareWritesCSVAndHgrmAndRecommends() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let dir = NSTemporaryDirectory() + "wp-artifacts-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runProgram(bin, ["compare", "--paths", "socket,mmsg", "--duration", "0.3", "--flood-duration", "0.3", "--warmup", "0.1",
                                     "--load", "10%,50%,90%", "--repeat", "3", "--csv", dir + "/r.csv", "--hgrm", dir], timeout: 180)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("recommendation:"), r.stdout)
        XCTAssertFalse(r.stderr.contains("\u{1B}[K"), "no progress line when stderr is not a terminal")
        XCTAssertTrue(r.stdout.contains("run-to-run spread"), r.stdout)
        XCTAssertTrue(r.stdout.contains("latency under load"), r.stdout)
        let csv = try String(contentsOfFile: dir + "/r.csv", encoding: .utf8)
        // Per path: pingpong, flood and three loads.
        XCTAssertEqual(csv.split(separator: "\n").count, 1 + 2 * 5, csv)
        for path in ["socket", "mmsg"] {
            for m in ["pingpong", "load-10", "load-50", "load-90"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/\(path)-\(m).hgrm"), "\(path)-\(m).hgrm")
            }
        }
        // Each verdict carries its numbers, and the spread of the 3 runs.
        XCTAssertTrue(r.stdout.contains("p99 at 50% load"), r.stdout)
        XCTAssertTrue(r.stdout.range(of: #"(socket|mmsg)\s+3\s"#, options: .regularExpression) != nil, "3 runs in the spread table: \(r.stdout)")
    }
}

final class TuneTests: XCTestCase {
    /// The tuned configuration per path: busy polling where the veth gives
    /// sockets a NAPI id, spinning otherwise and always for xdp (copy mode
    /// has no NAPI id) and against --peer (the NIC is unknown); nil when the
    /// request already runs it.
    func testTunedConfigurationFollowsTheTopology() throws {
        var r = RunRequest(paths: [.socket], measurements: [.pingpong], plan: MeasurementPlan(durationNs: 1, count: nil, warmupNs: 0, timeoutNs: 1))
        for kind in PathKind.allCases {
            let (t, what) = try XCTUnwrap(Runner.tuned(kind, r))
            XCTAssertEqual(t.template.wait, .spin, "\(kind)")
            XCTAssertEqual(what, "wait spin")
        }
        r.vethNAPI = true
        for kind in [PathKind.socket, .mmsg] {
            let (t, what) = try XCTUnwrap(Runner.tuned(kind, r))
            XCTAssertEqual(t.template.wait, .block)
            XCTAssertEqual(t.template.socket.busyPollMicros, 50)
            XCTAssertEqual(what, "busy-poll 50")
        }
        let (u, uwhat) = try XCTUnwrap(Runner.tuned(.uring, r))
        XCTAssertEqual(u.template.uring.napiMicros, 50)
        XCTAssertNil(u.template.socket.busyPollMicros)
        XCTAssertEqual(uwhat, "uring-napi 50")
        XCTAssertEqual(try XCTUnwrap(Runner.tuned(.xdp, r)).0.template.wait, .spin)
        r.peer = Endpoint(address: 0xC612_0002, port: 7000)
        XCTAssertEqual(try XCTUnwrap(Runner.tuned(.socket, r)).0.template.wait, .spin, "against --peer the NIC's NAPI id is unknown")
        r.peer = nil
        r.vethNAPI = false
        r.template.wait = .spin
        XCTAssertNil(Runner.tuned(.socket, r), "already the tuned configuration")
    }

    func testTuneAddsTheBestKnownConfigurationBesideTheDefault() throws {
        try requireRoot()
        var r = RunRequest(paths: [.socket], measurements: [.pingpong],
                           plan: MeasurementPlan(durationNs: nil, count: 2000, warmupNs: 100_000_000, timeoutNs: 1_000_000_000))
        r.tune = true
        let report = try Runner.run(r)
        XCTAssertEqual(report.runs.map(\.label), ["socket", "socket+wait-spin"])
        XCTAssertEqual(report.runs.map(\.options.wait), [.block, .spin])
        XCTAssertTrue(report.runs.allSatisfy { $0.pingpong?.received == 2000 })
        let latency = try XCTUnwrap(report.recommendation?.first { $0.goal == .latency })
        XCTAssertTrue(latency.reasons.first?.contains("socket") ?? false)
    }
}

/// What a person sees on a terminal, and what `--peer` runs can do.
final class CompareTerminalAndPeerTests: XCTestCase {
    /// On a terminal (a pty from util-linux `script`), a run redraws one
    /// progress line with the path and measurement, the time left and the
    /// packet rate; `--quiet` draws none.
    func testProgressLineOnATerminalAndNoneWithQuiet() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let args = "compare --paths socket --measurements pingpong --duration 1.5 --warmup 0.2 --repeat 1"
        let shown = try runProgram("/usr/bin/script", ["-qec", "\(bin) \(args)", "/dev/null"], timeout: 60)
        XCTAssertEqual(shown.status, 0, shown.stdout)
        let redraws = shown.stdout.components(separatedBy: "\r\u{1B}[K[").dropFirst()
        XCTAssertGreaterThanOrEqual(redraws.count, 2, "a line redrawn about every 0.25 s: \(shown.stdout.debugDescription)")
        XCTAssertTrue(redraws.contains { $0.hasPrefix("socket: pingpong]") && $0.contains("s left") && $0.contains("run ~") && $0.contains("pkt/s") },
                      shown.stdout.debugDescription)
        let quiet = try runProgram("/usr/bin/script", ["-qec", "\(bin) \(args) --quiet", "/dev/null"], timeout: 60)
        XCTAssertEqual(quiet.status, 0, quiet.stdout)
        XCTAssertFalse(quiet.stdout.contains("\u{1B}[K"), quiet.stdout.debugDescription)
        XCTAssertTrue(quiet.stdout.contains("socket"), "the table is still printed")
    }

    /// Against a `serve` at --peer, --load, --rate and --tune run as they do
    /// on the built-in topology: the same measurement sequence.
    func testPeerRunsLoadRateAndTune() throws {
        try requireRoot()
        let pair = try PeerNamespaces(tag: "olpeer", subnet: 17, port: 7310)
        defer { pair.close() }
        let json = NSTemporaryDirectory() + "wp-olpeer-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let r = try pair.runClient(["compare", "--paths", "socket", "--peer", pair.peer,
                                    "--duration", "0.5", "--warmup", "0.1", "--flood-duration", "0.5",
                                    "--load", "50%", "--rate", "1000", "--repeat", "1", "--tune", "--quiet", "--json", json])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        XCTAssertEqual(report.environment.topology.kind, "peer")
        XCTAssertEqual(report.runs.map(\.label), ["socket", "socket+wait-spin"])
        for run in report.runs {
            XCTAssertEqual(run.status, .ok, run.reason ?? "")
            XCTAssertNotNil(run.pingpong)
            XCTAssertNotNil(run.flood)
            XCTAssertEqual(run.openLoop.map(\.loadFraction), [0.5, nil], run.label)
            XCTAssertEqual(run.openLoop.last?.targetPps, 1000)
            XCTAssertTrue(run.openLoop.allSatisfy { $0.received > 0 }, run.label)
        }
        XCTAssertTrue(report.runs[1].notes.contains { $0.contains("tuned at this end only") })
    }
}
