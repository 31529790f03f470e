import XCTest
@testable import WirepathCore

/// The fields the uring path added to the shared value types.
final class UringReportTests: XCTestCase {
    func testPeerReportCarriesRearmsAtTheEnd() {
        var r = PeerReport(path: .uring)
        r.rxPackets = 100
        r.errnos = ["ENOBUFS": 7]
        r.multishotRearms = 9
        let f = r.encode()
        XCTAssertEqual(f.count, PeerReport.fieldCount)
        XCTAssertEqual(f.last, 9, "appended after every older field")
        XCTAssertEqual(PeerReport.decode(f), r)
        // A reflector built before the field existed sends one field fewer:
        // it still decodes, with no re-arms.
        let older = PeerReport.decode(Array(f.dropLast()))
        XCTAssertEqual(older?.rxPackets, 100)
        XCTAssertEqual(older?.errnos, ["ENOBUFS": 7])
        XCTAssertEqual(older?.multishotRearms, 0)
        let end = EndReport(reflector: r, packets: 100)
        XCTAssertEqual(end.multishotRearms, 9)
    }

    func testCountersWindowIncludesRearms() {
        var a = PathCounters()
        a.multishotRearms = 3
        var b = a
        b.multishotRearms = 10
        XCTAssertEqual(b.since(a).multishotRearms, 7)
        XCTAssertEqual(EndReport(role: "client", cost: nil, counters: b.since(a), napiID: 0).multishotRearms, 7)
    }

    func testUringBufferCountRange() {
        let local = Endpoint(address: 0xC612_0001, port: 0)
        XCTAssertEqual(try PathConfig.validated(path: .uring, local: local).uringBuffers, 256)
        XCTAssertThrowsError(try PathConfig.validated(path: .uring, local: local, uringBuffers: 48)) { e in
            XCTAssertTrue("\(e)".contains("power of two from 1 to 32768"), "\(e)")
        }
    }
}
