import Foundation
import Glibc
import XCTest
@testable import Wirepath
@testable import WirepathCore

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
        XCTAssertEqual(o.targetPps, 2000)
        // 100 ms at 2000 pps delays ~200 of ~3000 requests by up to 100 ms.
        XCTAssertGreaterThan(o.latency.p99Ns, 30_000_000, "open loop p99 must show the stall")
        XCTAssertGreaterThan(o.latency.maxNs, 80_000_000)

        let closed = try Runner.run(request(rate: nil)).runs[0]
        let p = try XCTUnwrap(closed.pingpong)
        XCTAssertEqual(p.lost, 0)
        // The closed loop waited politely: one slow sample among tens of thousands.
        XCTAssertLessThan(p.latency.p99Ns, 10_000_000, "closed loop p99 hides the stall")
        XCTAssertGreaterThan(p.latency.maxNs, 80_000_000, "the one stalled sample is still the max")
        let c = try XCTUnwrap(p.latencyCorrected)
        XCTAssertGreaterThan(c.p99Ns, 10_000_000, "corrected closed loop brings the stall back")
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
    /// The command a user runs: --load, --repeat, --csv and --hgrm together.
    func testCompareWritesCSVAndHgrmAndRecommends() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let dir = NSTemporaryDirectory() + "wp-artifacts-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runProgram(bin, ["compare", "--paths", "socket,mmsg", "--duration", "0.3", "--flood-duration", "0.3", "--warmup", "0.1",
                                     "--load", "50%", "--repeat", "2", "--csv", dir + "/r.csv", "--hgrm", dir], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("recommendation:"), r.stdout)
        XCTAssertFalse(r.stderr.contains("\u{1B}[K"), "no progress line when stderr is not a terminal")
        XCTAssertTrue(r.stdout.contains("run-to-run spread"), r.stdout)
        XCTAssertTrue(r.stdout.contains("latency under load"), r.stdout)
        let csv = try String(contentsOfFile: dir + "/r.csv", encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 1 + 2 * 3, csv)
        for name in ["socket-pingpong.hgrm", "mmsg-pingpong.hgrm", "socket-load-50.hgrm", "mmsg-load-50.hgrm"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + name), name)
        }
    }
}

final class TuneTests: XCTestCase {
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
