import Histogram
import XCTest
@testable import WirepathIO
@testable import WirepathModel
@testable import WirepathRender

final class HistogramTests: XCTestCase {
    func testPercentilesOfKnownUniformData() {
        var h = LatencyHistogram.make()
        for v in 1...100_000 { _ = h.record(UInt64(v) * 10) } // 10 ns .. 1 ms
        let s = LatencySummary(h)
        XCTAssertEqual(s.count, 100_000)
        XCTAssertEqual(s.minNs, 10)
        // 3 significant digits: each value within 0.1% of the exact percentile.
        func near(_ got: UInt64, _ want: Double, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertLessThanOrEqual(abs(Double(got) - want) / want, 0.001, "got \(got), want \(want)", file: file, line: line)
        }
        near(s.p50Ns, 500_000)
        near(s.p90Ns, 900_000)
        near(s.p99Ns, 990_000)
        near(s.p999Ns, 999_000)
        near(s.p9999Ns, 999_900)
        near(s.maxNs, 1_000_000)
        XCTAssertEqual(s.meanNs, 500_005, accuracy: 500)
    }

    func testTailIsVisible() {
        var h = LatencyHistogram.make()
        for _ in 0..<9990 { _ = h.record(5_000) }
        for _ in 0..<10 { _ = h.record(2_000_000) }
        let s = LatencySummary(h)
        XCTAssertEqual(Double(s.p99Ns), 5_000, accuracy: 5)
        XCTAssertEqual(Double(s.p9999Ns), 2_000_000, accuracy: 2_000)
        XCTAssertEqual(Double(s.maxNs), 2_000_000, accuracy: 2_000)
    }

    func testRangeIsOneNanosecondToTenSeconds() {
        var h = LatencyHistogram.make()
        XCTAssertTrue(h.record(1))
        XCTAssertTrue(h.record(10_000_000_000))
        XCTAssertEqual(h.min, 1)
    }

    func testEmptySummary() {
        let s = LatencySummary(LatencyHistogram.make())
        XCTAssertEqual(s.count, 0)
        XCTAssertEqual(s.p99Ns, 0)
    }
}

final class ConfigTests: XCTestCase {
    let local = Endpoint(address: 0xC612_0001, port: 0)

    func testPayloadRangeNamesTheRange() {
        XCTAssertThrowsError(try PathConfig.validated(path: .socket, local: local, payloadSize: 39)) { e in
            XCTAssertTrue("\(e)".contains("40-1472"), "\(e)")
        }
        XCTAssertThrowsError(try PathConfig.validated(path: .socket, local: local, payloadSize: 1473)) { e in
            XCTAssertTrue("\(e)".contains("40-1472"), "\(e)")
        }
        XCTAssertNoThrow(try PathConfig.validated(path: .socket, local: local, payloadSize: 40))
        XCTAssertNoThrow(try PathConfig.validated(path: .socket, local: local, payloadSize: 1472))
        XCTAssertThrowsError(try PathConfig.validated(path: .socket, local: local, payloadSize: 9000, mtu: 1500))
        XCTAssertNoThrow(try PathConfig.validated(path: .socket, local: local, payloadSize: 8972, mtu: 9000))
    }

    func testBatchAndBusyPollRanges() {
        XCTAssertThrowsError(try PathConfig.validated(path: .mmsg, local: local, batchSize: 0)) { e in
            XCTAssertTrue("\(e)".contains("1-1024"))
        }
        XCTAssertThrowsError(try PathConfig.validated(path: .mmsg, local: local, socket: SocketOptions(busyPollMicros: -1)))
        XCTAssertThrowsError(try PathConfig.validated(path: .mmsg, local: local, interface: "an-interface-name-too-long"))
    }

    func testUnknownPathListsValidOnes() {
        XCTAssertThrowsError(try PathKind.parse("dpdk")) { e in
            XCTAssertTrue("\(e)".contains("socket, mmsg, uring, xdp"), "\(e)")
        }
        XCTAssertEqual(try PathKind.parse("MMSG"), .mmsg)
        XCTAssertThrowsError(try WaitMode.parse("sleep")) { e in
            XCTAssertTrue("\(e)".contains("block, epoll, spin"))
        }
    }

    func testEndpointParsing() throws {
        let e = try Endpoint.parse("198.18.0.2:7000")
        XCTAssertEqual(e.address, 0xC612_0002)
        XCTAssertEqual(e.port, 7000)
        XCTAssertTrue(e.isBenchmarkRange)
        XCTAssertEqual(e.description, "198.18.0.2:7000")
        XCTAssertFalse(try Endpoint.parse("10.0.0.1:1").isBenchmarkRange)
        XCTAssertEqual(try Endpoint.parse("198.19.255.1", defaultPort: 9).port, 9)
        for bad in ["198.18.0.2", "198.18.0:7000", "198.18.0.256:1", "198.18.0.2:0", "198.18.0.2:70000", "x:1", ""] {
            XCTAssertThrowsError(try Endpoint.parse(bad), bad)
        }
    }
}

final class ReportTests: XCTestCase {
    func testPeerReportRoundTrip() {
        var r = PeerReport(path: .mmsg)
        r.rxPackets = 10; r.echoed = 9; r.floodUnique = 8; r.foreign = 1; r.napiID = 8193
        r.errnos = ["EAGAIN": 5]
        r.cost = ThreadCost(syscalls: 42, syscallsUnavailable: nil, userNs: 1000, systemNs: 2000,
                            voluntaryContextSwitches: 3, involuntaryContextSwitches: 4, wallNs: 5000)
        XCTAssertEqual(PeerReport.decode(r.encode()), r)
        var noSys = r
        noSys.cost?.syscalls = nil
        XCTAssertNil(PeerReport.decode(noSys.encode())?.cost?.syscalls)
        XCTAssertNil(PeerReport.decode([1, 2, 3]))
    }

    func testTableAlignsAndShowsUnavailableReason() {
        let rows = [["path", "p50"], ["socket", "12.00"], ["mmsg", "9.5"]]
        let t = TextReport.table(rows)
        let lines = t.split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        XCTAssertEqual(lines[2].count, lines[3].count)
        XCTAssertTrue(lines[3].hasSuffix("  9.5"))
    }

    func testPerPacketCost() {
        let c = PerPacketCost(ThreadCost(syscalls: 100, syscallsUnavailable: nil, userNs: 1000, systemNs: 3000,
                                         voluntaryContextSwitches: 0, involuntaryContextSwitches: 0, wallNs: 1), packets: 50)
        XCTAssertEqual(c.syscallsPerPacket, 2)
        XCTAssertEqual(c.cpuNsPerPacket, 80)
    }

    func testFloodResultDerivedFigures() {
        let end = EndReport(role: "sender", cost: nil, counters: PathCounters(), napiID: 0)
        let f = FloodResult(payloadSize: 64, sent: 1000, received: 990, duplicated: 0, reordered: 0,
                            senderDurationNs: 1_000_000_000, receiverSpanNs: 500_000_000, sender: end, receiver: nil)
        XCTAssertEqual(f.lost, 10)
        XCTAssertEqual(f.txPps, 1000)
        XCTAssertEqual(f.rxPps, 1980)
        XCTAssertEqual(f.txPayloadBps, 1000 * 64 * 8)
        XCTAssertEqual(f.lossRatio, 0.01, accuracy: 1e-9)
    }
}
