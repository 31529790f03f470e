import XCTest
@testable import WirepathIO
@testable import WirepathModel

final class PayloadTests: XCTestCase {
    func makePayload(size: Int, seq: UInt64 = 7, runID: UInt64 = 0xABCD) -> [UInt8] {
        let stamper = PayloadStamper(runID: runID, size: size)
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { slot in
            stamper.prepare(slot)
            stamper.stamp(slot, kind: .ping, seq: seq, timestamp: 123_456_789)
        }
        return bytes
    }

    func testRoundTrip() {
        let bytes = makePayload(size: 64)
        bytes.withUnsafeBytes { b in
            guard case .header(let h) = PayloadHeader.parse(b) else { return XCTFail("did not parse") }
            XCTAssertEqual(h.kind, .ping)
            XCTAssertEqual(h.runID, 0xABCD)
            XCTAssertEqual(h.seq, 7)
            XCTAssertEqual(h.timestamp, 123_456_789)
            XCTAssertTrue(Integrity.verify(b))
        }
    }

    func testStamperCachedBodyMatchesFullCompute() {
        for size in [40, 41, 47, 48, 64, 100, 1472] {
            let bytes = makePayload(size: size, seq: UInt64(size))
            bytes.withUnsafeBytes { b in
                let stored = b.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
                XCTAssertEqual(Integrity.compute(b), UInt64(littleEndian: stored), "size \(size)")
            }
        }
    }

    func testEverySingleBitFlipIsDetected() {
        for size in [40, 64, 1472] {
            let good = makePayload(size: size)
            for byte in 0..<size where !(32..<40).contains(byte) {
                for bit in 0..<8 {
                    var bad = good
                    bad[byte] ^= UInt8(1 << bit)
                    let ok = bad.withUnsafeBytes { Integrity.verify($0) }
                    XCTAssertFalse(ok, "flip of bit \(bit) in byte \(byte) of \(size) undetected")
                }
            }
            // Changing the stored check itself is also a mismatch.
            var bad = good
            bad[33] ^= 0x10
            XCTAssertFalse(bad.withUnsafeBytes { Integrity.verify($0) })
        }
    }

    func testTruncationIsDetected() {
        let good = makePayload(size: 64)
        let cut = Array(good[0..<56])
        XCTAssertFalse(cut.withUnsafeBytes { Integrity.verify($0) })
    }

    func testRejections() {
        XCTAssertEqual([UInt8](repeating: 0, count: 10).withUnsafeBytes { PayloadHeader.parse($0) }, .rejected(.truncated))
        XCTAssertEqual([UInt8](repeating: 0, count: 64).withUnsafeBytes { PayloadHeader.parse($0) }, .rejected(.badMagic))
        var v = makePayload(size: 64)
        v[4] = 9
        XCTAssertEqual(v.withUnsafeBytes { PayloadHeader.parse($0) }, .rejected(.badVersion))
        var k = makePayload(size: 64)
        k[5] = 0
        XCTAssertEqual(k.withUnsafeBytes { PayloadHeader.parse($0) }, .rejected(.badKind))
    }

    func testRandomBytesNeverTrap() {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let n = Int.random(in: 0...200, using: &g)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
            bytes.withUnsafeBytes { b in
                _ = PayloadHeader.parse(b)
                _ = Integrity.verify(b)
            }
        }
    }
}

final class SequenceTrackerTests: XCTestCase {
    func testInOrderDuplicateReorder() {
        var t = SequenceTracker(window: 1024)
        XCTAssertEqual(t.record(0), .inOrder)
        XCTAssertEqual(t.record(1), .inOrder)
        XCTAssertEqual(t.record(3), .inOrder)
        XCTAssertEqual(t.record(2), .reordered)
        XCTAssertEqual(t.record(3), .duplicate)
        XCTAssertEqual(t.unique, 4)
        XCTAssertEqual(t.duplicates, 1)
        XCTAssertEqual(t.reordered, 1)
        XCTAssertEqual(t.highest, 3)
        t.reset()
        XCTAssertEqual(t.unique, 0)
        XCTAssertEqual(t.record(3), .inOrder)
    }
}

/// The flood sink's integrity failures cross the wire to the client.
final class FloodIntegrityReportTests: XCTestCase {
    func testPeerReportCarriesFloodIntegrityFailuresAtTheEnd() {
        var r = PeerReport(path: .mmsg)
        r.floodUnique = 990
        r.floodIntegrityFailures = 10
        let f = r.encode()
        XCTAssertEqual(f.count, PeerReport.fieldCount)
        // Appended after every older field; only the reflector's drop and
        // send-failure counts (issue 11) come after it.
        let beforeDrops = Array(f.dropLast(PeerReport.packedFieldCount))
        XCTAssertEqual(beforeDrops.last, 10, "appended after every older field")
        XCTAssertEqual(PeerReport.decode(f), r)
        // A reflector from before the drop counts: decodes, with the failures.
        XCTAssertEqual(PeerReport.decode(beforeDrops)?.floodIntegrityFailures, 10)
        // A reflector from before the check: decodes, with none.
        let older = PeerReport.decode(Array(beforeDrops.dropLast()))
        XCTAssertEqual(older?.floodUnique, 990)
        XCTAssertEqual(older?.floodIntegrityFailures, 0)
    }
}
