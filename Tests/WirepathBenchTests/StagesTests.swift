import Foundation
import Glibc
import XCTest
@testable import WirepathBench
@testable import WirepathIO
@testable import WirepathModel
import WirepathRender

/// `--stages`: each ping's round trip split into stages from the kernel's
/// own stamps, on the built-in topology (issue 14).
final class StagesTests: XCTestCase {
    func request(_ paths: [PathKind], count: UInt64, stamping: StampMode = .software, delayNs: UInt64 = 0) -> RunRequest {
        var r = RunRequest(paths: paths, measurements: [.pingpong],
                           plan: MeasurementPlan(durationNs: nil, count: count, warmupNs: 200_000_000, timeoutNs: 1_000_000_000))
        r.template.payloadSize = PathConfig.minStagesPayload
        r.template.stamping = stamping
        if delayNs > 0 { r.reflectorFault = ReflectorFault(afterEchoes: .max, stallNs: 0, everyPingNs: delayNs) }
        return r
    }

    func stages(_ run: PathRun, file: StaticString = #filePath, line: UInt = #line) throws -> StageReport {
        XCTAssertEqual(run.status, .ok, run.reason ?? "", file: file, line: line)
        return try XCTUnwrap(run.pingpong?.stages, "no stage report for \(run.path)", file: file, line: line)
    }

    func p50(_ s: StageReport, _ stage: Stage) -> UInt64 { s.rows.first { $0.stage == stage }?.latency?.p50Ns ?? 0 }

    /// Every stage has samples, from (nearly) every reply, and the stage
    /// p50s add up to the RTT p50 within the stated tolerance.
    func testEveryStageHasSamplesAndTheyAddUpToTheRTT() throws {
        try requireRoot()
        let count: UInt64 = 2000
        var paths: [PathKind] = [.socket, .mmsg]
        if let why = availability(.uring) {
            try Missing("uring unavailable: \(why)").end()
        } else {
            paths.append(.uring)
        }
        let report = try Runner.run(request(paths, count: count))
        XCTAssertEqual(report.runs.map(\.path), paths)
        for run in report.runs { try checkEveryStage(run, count: count) }
        // The latency verdict quotes each path's dominant stage (block
        // waits: the two wake-ups, which spin removes).
        let latency = try XCTUnwrap(Recommendation.make(report).first { $0.goal == .latency })
        for path in paths {
            XCTAssertTrue(latency.reasons.contains { $0.hasPrefix("\(path) block: ") && $0.contains("of the p50 RTT") }, "\(path): \(latency.reasons)")
        }
        // The text report has a stage table per path, the HTML report a
        // stacked bar per path with every stage as a segment.
        let text = TextReport.details(report)
        for path in paths { XCTAssertTrue(text.contains("stages (\(path), --stages"), text) }
        XCTAssertTrue(text.contains("reflector turnaround: app -> send call"), text)
        let html = HTMLReport.render(report)
        XCTAssertTrue(html.contains("id=\"stages\""))
        for stage in Stage.allCases {
            XCTAssertEqual(html.components(separatedBy: "data-stage=\"\(stage.rawValue)\"").count - 1, paths.count, "\(stage) segments in the HTML")
        }
        // And every stage as its own .hgrm file.
        let files = Hgrm.files(report).map(\.name)
        for path in paths { for stage in Stage.allCases { XCTAssertTrue(files.contains("\(path)-stage-\(stage.rawValue).hgrm"), "\(files)") } }
    }

    func checkEveryStage(_ run: PathRun, count: UInt64) throws {
        let s = try stages(run)
        let received = try XCTUnwrap(run.pingpong?.received)
        XCTAssertEqual(received, count)
        for row in s.rows {
            let n = row.latency?.count ?? 0
            XCTAssertNil(row.unavailable, "\(run.path) \(row.stage)")
            // The reflector's transmit stages of the last reply never come back.
            XCTAssertGreaterThanOrEqual(n, received * 9 / 10, "\(run.path) \(row.stage): \(n) samples of \(received) replies")
            XCTAssertNotNil(row.hgrm, "\(run.path) \(row.stage)")
        }
        XCTAssertEqual(s.rxStampMissing, 0)
        XCTAssertEqual(s.reflectorMissing, 0)
        XCTAssertLessThanOrEqual(s.txStampMissing, received / 10, "the OPT_ID key must match the ping's own transmit stamps")
        XCTAssertLessThan(s.clock.uncertaintyNs, 100_000, "the tightest clock read-back pair")
        XCTAssertTrue(s.withinTolerance, "\(run.path): RTT p50 \(s.rttP50Ns) ns, stage sum \(s.sumP50Ns) ns, residual \(s.residualNs), tolerance \(s.toleranceNs)")
        // The JSON carries every stage.
        let json = String(decoding: try JSONEncoder().encode(run), as: UTF8.self)
        for stage in Stage.allCases { XCTAssertTrue(json.contains("\"\(stage.rawValue)\""), "\(stage) not in the JSON") }
    }

    /// Off by default: no stamps asked for, no stage report.
    func testStagesAreOffByDefault() throws {
        try requireRoot()
        var r = request([.socket], count: 200, stamping: .off)
        r.template.payloadSize = PathConfig.defaultPayload
        let run = try Runner.run(r).runs[0]
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        XCTAssertNil(run.pingpong?.stages)
    }

    /// A reflector that sleeps between receive and send: its turnaround,
    /// and only its turnaround, grows by the delay (generous bounds: a
    /// loaded 2-core host).
    func testReflectorDelayShowsInTheTurnaroundOnly() throws {
        try requireRoot()
        // 20 ms: on a loaded 2-core host a woken thread can wait a
        // scheduler slice (a few ms) for its CPU, which a 2 ms delay did
        // not stand above.
        let delay: UInt64 = 20_000_000
        let base = try stages(Runner.run(request([.socket], count: 400)).runs[0])
        let slow = try stages(Runner.run(request([.socket], count: 100, delayNs: delay)).runs[0])
        let grew = Int64(bitPattern: p50(slow, .reflectorTurnaround) &- p50(base, .reflectorTurnaround))
        XCTAssertGreaterThan(grew, Int64(delay) * 9 / 10, "turnaround p50 \(p50(base, .reflectorTurnaround)) -> \(p50(slow, .reflectorTurnaround)) ns")
        XCTAssertLessThan(grew, Int64(delay) * 3, "turnaround p50 \(p50(base, .reflectorTurnaround)) -> \(p50(slow, .reflectorTurnaround)) ns")
        for stage in Stage.allCases where stage != .reflectorTurnaround {
            let d = Int64(bitPattern: p50(slow, stage) &- p50(base, stage))
            XCTAssertLessThan(d, Int64(delay) / 2, "\(stage) p50 \(p50(base, stage)) -> \(p50(slow, stage)) ns: only the turnaround should grow")
        }
        XCTAssertTrue(slow.withinTolerance, "residual \(slow.residualNs) ns, tolerance \(slow.toleranceNs)")
    }

    /// `--stages hw` on veth is refused before anything is set up, naming why.
    func testHardwareStagesAreRefusedOnVeth() throws {
        XCTAssertThrowsError(try Runner.run(request([.socket], count: 10, stamping: .hardware))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("--stages hw") && text.contains("veth") && text.contains("no hardware timestamping"), text)
        }
        let ran = try runProgram(try wirepathBinary(), ["pingpong", "--stages", "hw", "--size", "72", "--count", "10"], timeout: 60)
        XCTAssertNotEqual(ran.status, 0)
        XCTAssertTrue(ran.stderr.contains("no hardware timestamping"), ran.stderr)
    }

    /// `doctor` reports the probed veth's timestamping capabilities as
    /// `ethtool -T` does: software stamps, no hardware ones, no PTP clock.
    func testDoctorReportsTimestampingCapabilities() throws {
        try requireRoot()
        let ran = try runProgram(try wirepathBinary(), ["doctor", "--json"], timeout: 90)
        XCTAssertEqual(ran.status, 0, ran.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(ran.stdout.utf8)) as? [String: Any])
        let checks = try XCTUnwrap(json["checks"] as? [[String: Any]])
        let check = try XCTUnwrap(checks.first { ($0["name"] as? String)?.hasSuffix(" timestamping") == true }, "\(checks.map { $0["name"] ?? "" })")
        XCTAssertEqual(check["value"] as? String, "software rx/tx yes, hardware rx/tx no, PTP clock none")
    }

    /// The CLI: bare --stages (sw) takes the next option as an option, and
    /// a payload too small for the stage block is refused with the fix.
    func testStagesOptionParsing() throws {
        let ran = try runProgram(try wirepathBinary(), ["pingpong", "--stages", "--count", "10"], timeout: 60)
        XCTAssertNotEqual(ran.status, 0)
        XCTAssertTrue(ran.stderr.contains("--size 72"), ran.stderr)
    }

    // MARK: The stage block (no kernel)

    func stampedPing(size: Int = PathConfig.minStagesPayload, op: UInt16 = StageBlock.requestOp) -> [UInt8] {
        let stamper = PayloadStamper(runID: 7, size: size)
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { b in
            stamper.prepare(b)
            stamper.stamp(b, kind: .ping, seq: 3, timestamp: 99, op: op)
        }
        return bytes
    }

    func testStageBlockRoundTripsAndKeepsTheCheck() {
        var bytes = stampedPing()
        let block = StageBlock(wakeNs: 1234, turnNs: 567, prev: .init(seq: 2, sendNs: 89, qdiscNs: 10))
        XCTAssertTrue(bytes.withUnsafeMutableBytes { block.write(into: $0) })
        bytes.withUnsafeBytes { b in
            XCTAssertTrue(Integrity.verify(b), "the echo is resealed")
            XCTAssertEqual(StageBlock.parse(b), block)
        }
    }

    func testStageBlockIsNotWrittenIntoWhatDidNotAskOrArrivedCorrupted() {
        let block = StageBlock(wakeNs: 1, turnNs: 2)
        var plain = stampedPing(op: 0)
        XCTAssertFalse(plain.withUnsafeMutableBytes { block.write(into: $0) })
        var short = stampedPing(size: 64)
        XCTAssertFalse(short.withUnsafeMutableBytes { block.write(into: $0) })
        var corrupted = stampedPing()
        corrupted[60] ^= 1
        let before = corrupted
        XCTAssertFalse(corrupted.withUnsafeMutableBytes { block.write(into: $0) })
        XCTAssertEqual(corrupted, before, "a corrupted ping is echoed untouched, so the client still sees it")
        corrupted.withUnsafeBytes { XCTAssertNil(StageBlock.parse($0)) }
    }

    /// Per ping the stages telescope to the RTT exactly (the clock offset
    /// cancels); hostile durations never trap.
    func testStageTallyTelescopesToTheRTT() {
        let clock = ClockOffset(realtimeMinusMonotonicNs: 1_000_000_000_000, uncertaintyNs: 10)
        var tally = StageTally(clock: clock)
        let rt: (UInt64) -> UInt64 = { $0 &+ 1_000_000_000_000 }
        var rtt = LatencyHistogram.make()
        for seq in UInt64(0)..<100 {
            let t0: UInt64 = 5_000_000 + seq * 1_000_000
            var bytes = stampedPing()
            let block = StageBlock(wakeNs: 20_000, turnNs: 1_000, prev: seq > 0 ? .init(seq: seq - 1, sendNs: 4_000, qdiscNs: 1_000) : nil)
            _ = bytes.withUnsafeMutableBytes { block.write(into: $0) }
            // client send 5 µs, qdisc 1 µs, wire 2+2 µs, reflector 26 µs, client wake 30 µs: 66 µs
            bytes.withUnsafeBytes { b in
                tally.record(seq: seq, t0: t0, t1: t0 + 66_000, schedRT: rt(t0 + 5_000), driverRT: rt(t0 + 6_000), rxRT: rt(t0 + 36_000), reply: b)
            }
            _ = rtt.record(66_000)
        }
        let report = tally.report(rtt: LatencySummary(rtt), path: .socket)
        XCTAssertEqual(report.complete, 100)
        XCTAssertEqual(report.negative, 0)
        XCTAssertEqual(p50(report, .wire), 4_000)
        XCTAssertTrue(report.withinTolerance, "residual \(report.residualNs)")
        XCTAssertLessThan(report.residualNs.magnitude, 200)
        // A reply whose stamps are nonsense is recorded without trapping.
        var bytes = stampedPing()
        _ = bytes.withUnsafeMutableBytes { StageBlock(wakeNs: .max, turnNs: .max, prev: .init(seq: 99, sendNs: .max, qdiscNs: .max)).write(into: $0) }
        bytes.withUnsafeBytes { b in
            tally.record(seq: 100, t0: .max, t1: 0, schedRT: .max, driverRT: 1, rxRT: .max, reply: b)
        }
        XCTAssertGreaterThan(tally.negative, 0)
    }
}
