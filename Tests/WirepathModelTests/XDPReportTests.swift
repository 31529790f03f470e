import Foundation
import XCTest
@testable import WirepathIO
@testable import WirepathModel
@testable import WirepathRender

/// What the xdp path adds to the shared value types: its counters in the
/// reflector's report (appended at the end of the encoding) and the lines
/// of the text report.
final class XDPReportTests: XCTestCase {
    func sample() -> XDPCounters {
        var x = XDPCounters()
        x.txKicks = 101; x.rxKicks = 2; x.redirected = 100; x.passed = 7; x.passedNoSocket = 1
        x.socketRxDropped = 3; x.socketRxRingFull = 0; x.fillRingEmpty = 3; x.dropped = 0
        return x
    }

    func testPeerReportCarriesXDPCountersAtTheEnd() {
        var r = PeerReport(path: .xdp)
        r.rxPackets = 97
        r.sqpollWakeups = 0
        r.xdp = sample()
        let f = r.encode()
        XCTAssertEqual(f.count, PeerReport.fieldCount)
        // After them: the flood integrity failures, then the dropped
        // sources and the send failures, packed two to a field.
        let after = 1 + PeerReport.packedFieldCount
        XCTAssertEqual(Array(f.dropLast(after).suffix(XDPCounters.wireFieldCount + 1)), [1, 101, 2, 100, 7, 1, 3, 0, 3, 0], "a presence flag, then the counters")
        XCTAssertEqual(PeerReport.decode(f), r)
        // Older, shorter encodings decode, without xdp counters.
        for n in PeerReport.baseFieldCount..<(f.count - after) {
            let d = PeerReport.decode(Array(f.prefix(n)))
            XCTAssertEqual(d?.rxPackets, 97, "\(n) fields")
            XCTAssertNil(d?.xdp, "\(n) fields")
        }
        // Another path's report carries none.
        var other = PeerReport(path: .socket)
        other.rxPackets = 5
        XCTAssertNil(PeerReport.decode(other.encode())?.xdp)
        XCTAssertEqual(PeerReport.decode(other.encode()), other)
        let end = EndReport(reflector: r, packets: 97)
        XCTAssertEqual(end.xdp, sample())
        XCTAssertEqual(end.xdpKicksPerPacket ?? 0, 103.0 / 97, accuracy: 1e-9)
    }

    func testCountersWindow() {
        var a = PathCounters(), b = PathCounters()
        a.xdp.txKicks = 10; a.xdp.redirected = 50
        b.xdp.txKicks = 25; b.xdp.redirected = 80; b.xdp.fillRingEmpty = 4
        let d = b.since(a)
        XCTAssertEqual(d.xdp.txKicks, 15)
        XCTAssertEqual(d.xdp.redirected, 30)
        XCTAssertEqual(d.xdp.fillRingEmpty, 4)
        XCTAssertNil(EndReport(role: "client", cost: nil, counters: PathCounters(), napiID: 0).xdp, "no xdp counters for other paths")
        XCTAssertEqual(EndReport(role: "client", cost: nil, counters: d, napiID: 0).xdp?.kicks, 15)
    }

    func testTextReportShowsModesKicksAndTheProgramAgainstTheRings() throws {
        let config = try PathConfig.validated(path: .xdp, local: Endpoint(address: 0xC612_0001, port: 0))
        var options = PathOptionsRecord(config, napiID: 0)
        options.xdp = XDPRunInfo(interface: "wpc0", driver: "veth", queue: 0, bindMode: "copy", attachMode: "native",
                                 fallback: "veth: zero-copy not supported by driver (XDP_ZEROCOPY bind: EOPNOTSUPP)",
                                 frameSize: 4096, ringSize: 2048, napiID: 0,
                                 busyPoll: "busy-poll has no effect here: copy-mode socket has no NAPI id", object: "x.o")
        var c = PathCounters()
        c.rxPackets = 10; c.txPackets = 10
        c.xdp.txKicks = 10; c.xdp.redirected = 10
        var refl = PeerReport(path: .xdp)
        refl.rxPackets = 11; refl.txPackets = 11; refl.echoed = 10
        var rx = XDPCounters()
        rx.txKicks = 11; rx.redirected = 11; rx.passed = 2
        refl.xdp = rx
        var h = LatencyHistogram.make()
        for v in 1...10 { _ = h.record(UInt64(v) * 1000) }
        let p = PingPongResult(latency: LatencySummary(h),
                               sent: 10, received: 10, lost: 0, duplicated: 0, reordered: 0, integrityFailures: 0, foreign: 0,
                               timeoutNs: 1, warmupNs: 1, durationNs: 1,
                               client: EndReport(role: "client", cost: nil, counters: c, napiID: 0),
                               reflector: EndReport(reflector: refl, packets: 10))
        let run = PathRun(path: .xdp, status: .ok, options: options, pingpong: p)
        let details = TextReport.xdpDetails(run)
        XCTAssertTrue(details.contains("copy mode, program attached native on wpc0 (veth) queue 0"), details)
        XCTAssertTrue(details.contains("fell back: veth: zero-copy not supported by driver"), details)
        XCTAssertTrue(details.contains("busy-poll has no effect here: copy-mode socket has no NAPI id"), details)
        XCTAssertTrue(details.contains("kicks per packet client 1.000, reflector 1.000"), details)
        XCTAssertTrue(details.contains("reflector: program redirected 11 = 11 received by the socket, passed 2 other packets"), details)
        XCTAssertEqual(TextReport.pathCell(run), "xdp copy/native")
        XCTAssertEqual(TextReport.xdpDetails(PathRun(path: .socket, status: .ok, options: options)), "")
    }

    /// `attachment` is in the JSON and the xdp line; a report written before
    /// it existed still decodes, with none, and its line names no attachment.
    func testAttachmentIsEncodedShownAndOptionalForOldReports() throws {
        let info = XDPRunInfo(interface: "wpc0", driver: "veth", queue: 0, bindMode: "copy", attachMode: "native", fallback: nil,
                              frameSize: 4096, ringSize: 2048, napiID: 0, busyPoll: nil, object: "x.o", attachment: "bpf-link")
        let data = try JSONEncoder().encode(info)
        var old = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(old["attachment"] as? String, "bpf-link")
        XCTAssertEqual(try JSONDecoder().decode(XDPRunInfo.self, from: data), info)
        old["attachment"] = nil
        let decoded = try JSONDecoder().decode(XDPRunInfo.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertNil(decoded.attachment)
        let config = try PathConfig.validated(path: .xdp, local: Endpoint(address: 0xC612_0001, port: 0))
        var options = PathOptionsRecord(config, napiID: 0)
        options.xdp = info
        XCTAssertTrue(TextReport.xdpDetails(PathRun(path: .xdp, status: .ok, options: options)).contains("program attached native (bpf-link) on wpc0"))
        options.xdp = decoded
        XCTAssertTrue(TextReport.xdpDetails(PathRun(path: .xdp, status: .ok, options: options)).contains("program attached native on wpc0"))
    }

    /// Found by the peer-report fuzz target: a reflector's xdp counters are
    /// any values, and the drop line summed three of them, which trapped on
    /// overflow. The line now tests each.
    func testHugeReflectorDropCountsRenderWithoutTrapping() throws {
        var refl = PeerReport(path: .xdp)
        refl.rxPackets = 1; refl.txPackets = 1
        var x = XDPCounters()
        x.socketRxDropped = .max; x.socketRxRingFull = .max; x.fillRingEmpty = 1
        refl.xdp = x
        let decoded = try XCTUnwrap(PeerReport.decode(refl.encode()), "a reflector's counts may be any value")
        var client = EndReport(role: "client", cost: nil, counters: PathCounters(), napiID: 0)
        client.txPackets = 1
        let p = PingPongResult(latency: LatencySummary(LatencyHistogram.make()), sent: 1, received: 1, lost: 0, duplicated: 0,
                               reordered: 0, integrityFailures: 0, foreign: 0, timeoutNs: 1, warmupNs: 1, durationNs: 1,
                               client: client, reflector: EndReport(reflector: decoded, packets: 1))
        let config = try PathConfig.validated(path: .xdp, local: Endpoint(address: 0xC612_0001, port: 0))
        let run = PathRun(path: .xdp, status: .ok, options: PathOptionsRecord(config, napiID: 0), pingpong: p)
        let details = TextReport.xdpDetails(run)
        XCTAssertTrue(details.contains("socket dropped \(UInt64.max) (RX ring full \(UInt64.max), fill ring empty 1)"), details)
    }
}
