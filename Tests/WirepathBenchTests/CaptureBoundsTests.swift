import Foundation
import XCTest
@testable import WirepathModel
import WirepathRender

/// `--capture-max-size`: a capture's file stops growing at its bound, and the
/// capture and verification lines say that the audit covers only the part
/// written (issue 11, item 6).
final class CaptureBoundsTests: XCTestCase {
    /// A real flood on the built-in topology, far more than 1 MiB on the
    /// wire, captured with a 1 MiB bound.
    func testCaptureStopsWritingAtItsBoundAndSaysSo() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let dir = try scratchDirectory("capture-bound")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/bounded.pcap", json = dir + "/bounded.json"
        let r = try runProgram(bin, ["flood", "--path", "socket", "--duration", "1", "--warmup", "0.1",
                                     "--capture", file, "--capture-max-size", "1M", "--json", json], timeout: 120)
        XCTAssertEqual(r.status, 0, "--verify report exits 0 whatever the checks say: " + r.stdout + r.stderr)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        XCTAssertLessThanOrEqual(size, 1 << 20, "the file passed its bound")
        XCTAssertGreaterThan(size, (1 << 20) - 2_000, "the file stopped well short of its bound")
        XCTAssertTrue(r.stdout.contains("STOPPED WRITING at --capture-max-size 1048576 bytes"), r.stdout)
        XCTAssertTrue(r.stdout.contains("these checks cover only the written part"), r.stdout)
        let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let c = try XCTUnwrap(report.capture)
        XCTAssertEqual(c.maxFileBytes, 1 << 20)
        XCTAssertGreaterThan(c.notWritten ?? 0, 0)
        XCTAssertEqual(c.summary?.frames, c.written, "the audit read every frame written, and only those")
        // What the file lacks is the capture's own loss: unverifiable, never
        // blamed on the path.
        let checks = report.runs.flatMap { $0.verification?.runs ?? [] }.flatMap(\.checks)
        XCTAssertFalse(checks.isEmpty)
        XCTAssertFalse(checks.contains { $0.status == .disagree }, checks.map(\.message).joined(separator: "\n"))
    }

    func testMaxSizeIsValidated() throws {
        let bin = try wirepathBinary()
        for (args, message) in [
            (["--capture", "/tmp/x.pcap", "--capture-max-size", "10"], "--capture-max-size: expected a size from 1M to 16T, such as 1G, got '10'"),
            (["--capture", "/tmp/x.pcap", "--capture-max-size", "0"], "--capture-max-size: expected a size from 1M to 16T"),
            (["--capture", "/tmp/x.pcap", "--capture-max-size", "17T"], "--capture-max-size: expected a size from 1M to 16T"),
            (["--capture-max-size", "1G"], "--capture-buffer, --capture-max-size and --capture-interface need --capture FILE"),
        ] {
            let r = try runProgram(bin, ["flood", "--path", "socket"] + args, timeout: 30)
            XCTAssertEqual(r.status, 64, "\(args): " + r.stderr)
            XCTAssertTrue(r.stderr.contains(message), "\(args): " + r.stderr)
        }
    }

    /// The lines a bounded capture prints, from its record.
    func testCaptureAndVerificationLinesNameTheBound() {
        let topo = TopologyRecord(kind: "veth-bridge", namespaces: [], clientInterface: nil, reflectorInterface: nil, clientAddress: "a",
                                  reflectorAddress: "b", mtu: 1500, vethNAPI: false, clientCPU: nil, reflectorCPU: nil)
        var report = WirepathReport(command: "flood", startedAt: "", environment: EnvironmentRecord(kernel: "k", cpuModel: "c", cpus: 2,
                                    wirepathVersion: "v", syscallCounter: "s", topology: topo),
                                    settings: RunSettings(durationNs: nil, count: nil, warmupNs: 0, timeoutNs: 0, payloadSize: 64, batchSize: 32,
                                                          wait: .block, busyPollMicros: nil, measurements: ["flood"]), runs: [])
        report.capture = CaptureRecord(file: "f.pcap", interface: "veth", namespace: nil, vantagePoint: "v", directions: [],
                                       filter: "udp port 7000", snaplen: 1522, bufferBytes: 64 << 20, timestampPrecision: "ns",
                                       written: 10, received: 15, dropped: 1, interfaceDropped: 0)
        XCTAssertFalse(TextReport.captureLine(report.capture!).contains("STOPPED"))
        XCTAssertEqual(report.capture?.ownLoss, 1)
        report.capture?.maxFileBytes = 4096
        report.capture?.notWritten = 5
        XCTAssertEqual(report.capture?.ownLoss, 6)
        XCTAssertTrue(TextReport.captureLine(report.capture!).contains(
            "; STOPPED WRITING at --capture-max-size 4096 bytes: 5 later frames not written, the audit covers only the written part"))
        XCTAssertTrue(TextReport.verification(report).hasPrefix("verify: the capture file stopped at its size bound"))
    }
}
