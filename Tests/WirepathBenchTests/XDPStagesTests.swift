import Foundation
import Glibc
import XCTest
@testable import WirepathBench
@testable import WirepathIO
@testable import WirepathModel
import WirepathRender

/// `--stages` on xdp (the XDP program's receive stamp in the frame's
/// metadata), the capture cross-check on every stamping path, and the CSV's
/// stage columns, on the built-in topology (issue 14).
final class XDPStagesTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = try scratchDirectory(name.filter { $0.isLetter || $0.isNumber })
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// The XDP program `make bpf` builds, or $WIREPATH_XDP_OBJECT.
    func xdpObject() -> String? {
        if let env = ProcessInfo.processInfo.environment["WIREPATH_XDP_OBJECT"], !env.isEmpty { return env }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent(".build/bpf/xsk_redirect.bpf.o").path
        return FileManager.default.isReadableFile(atPath: path) ? path : nil
    }

    func requireXDP() throws {
        try requireRoot()
        if let why = availability(.xdp, xdpObject: xdpObject()) { try Missing("xdp unavailable: \(why)").end() }
    }

    func request(_ paths: [PathKind], count: UInt64, delayNs: UInt64 = 0, capture: String? = nil, skewNs: Int64 = 0) -> RunRequest {
        var plan = MeasurementPlan(durationNs: nil, count: count, warmupNs: 200_000_000, timeoutNs: 1_000_000_000)
        plan.stampSkewNs = skewNs
        var r = RunRequest(paths: paths, measurements: [.pingpong], plan: plan)
        r.template.payloadSize = PathConfig.minStagesPayload
        r.template.stamping = .software
        if let object = xdpObject() { r.template.xdp.objectPath = object }
        if delayNs > 0 { r.reflectorFault = ReflectorFault(afterEchoes: .max, stallNs: 0, everyPingNs: delayNs) }
        if let capture { r.capture = CaptureRequest(file: capture) }
        return r
    }

    func stages(_ run: PathRun, file: StaticString = #filePath, line: UInt = #line) throws -> StageReport {
        XCTAssertEqual(run.status, .ok, run.reason ?? "", file: file, line: line)
        return try XCTUnwrap(run.pingpong?.stages, "no stage report for \(run.path)", file: file, line: line)
    }

    func row(_ s: StageReport, _ stage: Stage) -> StageReport.Row? { s.rows.first { $0.stage == stage } }
    func p50(_ s: StageReport, _ stage: Stage) -> UInt64 { row(s, stage)?.latency?.p50Ns ?? 0 }

    static let xdpStages: [Stage] = [.wire, .reflectorWake, .reflectorTurnaround, .clientWake]

    /// xdp: the program's stamp comes with every reply at both ends; each
    /// wake-up is positive (the kernel stamp is no later than the
    /// application's receive); the transmit stages are exactly the ones
    /// reported unavailable, with why; the stages add up to the RTT. The
    /// CSV carries the measured stages' p50/p99 and leaves the others empty.
    func testXDPStampsArePresentAndAddUpToTheRTT() throws {
        try requireXDP()
        let count: UInt64 = 1000
        let report = try Runner.run(request([.xdp], count: count))
        let run = report.runs[0]
        let s = try stages(run)
        let received = try XCTUnwrap(run.pingpong?.received)
        XCTAssertEqual(received, count)
        XCTAssertEqual(s.rxStampMissing, 0, "every reply carries the XDP program's stamp")
        XCTAssertEqual(s.reflectorMissing, 0)
        XCTAssertEqual(s.txStampMissing, 0, "xdp has no transmit stamps to miss")
        XCTAssertEqual(s.negative, 0, "no stage below zero: each kernel stamp precedes its application receive")
        for stage in Self.xdpStages {
            let r = try XCTUnwrap(row(s, stage))
            XCTAssertNil(r.unavailable, "\(stage)")
            XCTAssertGreaterThanOrEqual(r.latency?.count ?? 0, received * 9 / 10, "\(stage)")
        }
        // The wake-ups' smallest sample is above zero at both ends: the
        // stamp is taken in the XDP program, before the application.
        XCTAssertGreaterThan(row(s, .clientWake)?.latency?.minNs ?? 0, 0)
        XCTAssertGreaterThan(row(s, .reflectorWake)?.latency?.minNs ?? 0, 0)
        for stage in [Stage.clientSend, .clientQdisc, .reflectorSend, .reflectorQdisc] {
            let r = try XCTUnwrap(row(s, stage))
            XCTAssertNil(r.latency, "\(stage)")
            XCTAssertTrue(r.unavailable?.contains("no transmit stamps") == true, "\(stage): \(r.unavailable ?? "nil")")
        }
        XCTAssertTrue(s.withinTolerance, "RTT p50 \(s.rttP50Ns) ns, stage sum \(s.sumP50Ns) ns, residual \(s.residualNs), tolerance \(s.toleranceNs)")
        XCTAssertTrue(s.cost?.contains("bench/stages.sh") == true, s.cost ?? "nil")
        let text = TextReport.details(report)
        XCTAssertTrue(text.contains("stages (xdp, --stages"), text)
        XCTAssertTrue(text.contains("cost: --stages changes the measured path"), text)
        let json = String(decoding: try JSONEncoder().encode(run), as: UTF8.self)
        XCTAssertTrue(json.contains("\"cost\""), "the cost line is in the JSON")
        XCTAssertFalse(json.contains("\"samples\""), "the cross-check's samples stay out of the JSON")

        // CSV: the stage columns parse as numbers where measured, empty
        // where not.
        let lines = CSVReport.render(report).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines[1].count, CSVReport.header.count)
        for stage in Stage.allCases {
            for q in ["p50", "p99"] {
                let col = try XCTUnwrap(CSVReport.header.firstIndex(of: "stage_\(stage.rawValue)_\(q)_us"))
                let cell = lines[1][col]
                if Self.xdpStages.contains(stage) {
                    let v = try XCTUnwrap(Double(cell), "\(stage) \(q): '\(cell)'")
                    XCTAssertGreaterThan(v, 0, "\(stage) \(q)")
                } else {
                    XCTAssertEqual(cell, "", "\(stage) \(q): not measured on xdp")
                }
            }
        }
    }

    /// A reflector that sleeps between receive and send: on xdp too, its
    /// turnaround, and only its turnaround, grows by the delay (generous
    /// bounds: a loaded 2-core host).
    func testReflectorDelayShowsInTheTurnaroundOnlyOnXDP() throws {
        try requireXDP()
        // 20 ms: on a loaded 2-core host a woken thread can wait a
        // scheduler slice (a few ms) for its CPU, which a 2 ms delay did
        // not stand above (the client's wake-up grew 1.6 ms under four builds).
        let delay: UInt64 = 20_000_000
        let base = try stages(Runner.run(request([.xdp], count: 400)).runs[0])
        let slow = try stages(Runner.run(request([.xdp], count: 100, delayNs: delay)).runs[0])
        let grew = Int64(bitPattern: p50(slow, .reflectorTurnaround) &- p50(base, .reflectorTurnaround))
        XCTAssertGreaterThan(grew, Int64(delay) * 9 / 10, "turnaround p50 \(p50(base, .reflectorTurnaround)) -> \(p50(slow, .reflectorTurnaround)) ns")
        XCTAssertLessThan(grew, Int64(delay) * 3, "turnaround p50 \(p50(base, .reflectorTurnaround)) -> \(p50(slow, .reflectorTurnaround)) ns")
        for stage in Self.xdpStages where stage != .reflectorTurnaround {
            let d = Int64(bitPattern: p50(slow, stage) &- p50(base, stage))
            XCTAssertLessThan(d, Int64(delay) / 2, "\(stage) p50 \(p50(base, stage)) -> \(p50(slow, stage)) ns: only the turnaround should grow")
        }
        XCTAssertTrue(slow.withinTolerance, "residual \(slow.residualNs) ns, tolerance \(slow.toleranceNs); RTT p50 \(base.rttP50Ns) -> \(slow.rttP50Ns), stage p50s \(Self.xdpStages.map { "\($0): \(p50(slow, $0))" })")
    }

    /// With --capture, every sampled ping's stamps fall in order with the
    /// capture's times of it (socket: driver TX stamp; xdp: the send call),
    /// and the check is one of the verification's; a test hook that skews
    /// the client's send stamps by 50 ms breaks it, and --verify strict
    /// fails on it.
    func testCaptureCrossCheckAgreesAndFailsOnASkewedStamp() throws {
        try requireRoot()
        var paths: [PathKind] = [.socket]
        if let why = availability(.xdp, xdpObject: xdpObject()) {
            try Missing("xdp unavailable: \(why)").end()
        } else {
            paths.append(.xdp)
        }
        let clean = try Runner.run(request(paths, count: 300, capture: dir + "/clean.pcap"))
        XCTAssertEqual(clean.capture?.dropped, 0)
        for run in clean.runs {
            let c = try XCTUnwrap(try stages(run).captureCheck, "\(run.path): no cross-check")
            XCTAssertGreaterThanOrEqual(c.checked, 250, "\(run.path): \(c)")
            XCTAssertEqual(c.violations, 0, "\(run.path): \(c.wireCheck.message)")
            XCTAssertNotNil(c.captureWireP50Ns)
            let v = try XCTUnwrap(run.verification?.runs.first { $0.measurement == "pingpong" })
            XCTAssertEqual(v.checks.first { $0.name == "stage stamps within the capture's" }?.status, .agree, "\(run.path)")
        }
        XCTAssertNil(clean.strictVerificationFailure, clean.strictVerificationFailure ?? "")

        // 50 ms: far beyond any send-to-wire delay of a loaded host (with
        // 1 ms, one ping of 300 once left its thread preempted longer).
        let skewed = try Runner.run(request(paths, count: 300, capture: dir + "/skewed.pcap", skewNs: 50_000_000))
        for run in skewed.runs {
            let c = try XCTUnwrap(try stages(run).captureCheck, "\(run.path): no cross-check")
            XCTAssertGreaterThan(c.checked, 0)
            XCTAssertEqual(c.sendAfterCapture, c.checked, "\(run.path): every skewed send stamp is after the capture's ping")
            let v = try XCTUnwrap(run.verification?.runs.first { $0.measurement == "pingpong" })
            XCTAssertEqual(v.disagreements.map(\.name), ["stage stamps within the capture's"], "\(run.path): only the cross-check fails")
        }
        XCTAssertNotNil(skewed.strictVerificationFailure, "--verify strict fails on it")
        XCTAssertTrue(TextReport.details(skewed).contains("capture cross-check:"))
    }

    /// The cross-check alone (no kernel): orderings, tolerance, and a ping
    /// the capture missed left unchecked.
    func testCrossCheckOrderingsAndTolerance() {
        let clock = ClockOffset(realtimeMinusMonotonicNs: 0, uncertaintyNs: 50)
        let tol = StageCaptureCheck.tolerance(clock)
        XCTAssertEqual(tol, 1_100)
        let samples = [StampSample(seq: 0, sentRT: 1_000, receivedRT: 9_000, reflectorNs: 3_000),
                       StampSample(seq: 1, sentRT: 2_000 + tol, receivedRT: 9_000, reflectorNs: 3_000),
                       StampSample(seq: 2, sentRT: 1_000, receivedRT: 9_000, reflectorNs: 3_000),
                       StampSample(seq: 3, sentRT: 1_000, receivedRT: 9_000, reflectorNs: 9_000)]
        let ping: [UInt64: UInt64] = [0: 2_000, 1: 2_000, 3: 2_000]
        let echo: [UInt64: UInt64] = [0: 8_000, 1: 8_000, 2: 8_000, 3: 8_000]
        let c = StageCaptureCheck.check(samples, clock: clock, ping: ping, echo: echo)
        XCTAssertEqual(c.sampled, 4)
        XCTAssertEqual(c.checked, 3, "seq 2 was not seen both ways")
        XCTAssertEqual(c.violations, 1, "seq 1 is just within the tolerance; seq 3's reflector took longer than the capture's interval")
        XCTAssertEqual(c.sendAfterCapture, 0)
        XCTAssertEqual(c.reflectorLongerThanWire, 1)
        XCTAssertEqual(c.wireCheck.status, .disagree)
        XCTAssertEqual(StageCaptureCheck.check(samples, clock: clock, ping: [:], echo: [:]).wireCheck.status, .unverifiable)
    }
}
