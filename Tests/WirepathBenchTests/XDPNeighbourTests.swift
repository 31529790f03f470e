import XCTest
import WirepathIO
@testable import WirepathXDP

/// The xdp path's learned MACs (FrameState): a reflector must be able to
/// answer every source of the batch it received, whatever their addresses
/// (issue 11: a direct-mapped table keyed by the low 6 bits lost one of two
/// clients whose addresses were equal modulo 64).
final class XDPNeighbourTests: XCTestCase {
    static func mac(_ i: Int) -> MACAddress { MACAddress(0x02_00_00_00_00_00 | UInt64(i)) }

    func testAddressesEqualModulo64AreAllKept() {
        let f = FrameState(ringSize: 64, frameSize: 4096)
        // 198.19.0.1, 198.19.0.65, 198.19.0.129, 198.19.0.193: one slot of
        // the old table.
        let addresses = (0..<4).map { 0xC613_0001 + UInt32($0) * 64 }
        for (i, a) in addresses.enumerated() { f.learn(a, Self.mac(i)) }
        for (i, a) in addresses.enumerated() {
            XCTAssertEqual(f.mac(for: a), Self.mac(i), "\(Endpoint(address: a, port: 0).addressString)")
        }
    }

    func testEverySourceOfTheLastBatchResolves() {
        let f = FrameState(ringSize: 128, frameSize: 4096)
        // Five batches of 128 distinct sources, all equal modulo 64: more than
        // the table holds, so it evicts; the batch just received is answered.
        for b in 0..<5 {
            f.beginBatch()
            let addresses = (0..<128).map { 0xC612_0001 + UInt32(b * 128 + $0) * 64 }
            for (k, a) in addresses.enumerated() { f.learn(a, Self.mac(b * 128 + k), slot: k) }
            for (k, a) in addresses.enumerated() {
                XCTAssertEqual(f.mac(for: a), Self.mac(b * 128 + k), "batch \(b) slot \(k)")
            }
        }
        // A new batch replaces the list: an old source may now miss, and a
        // destination never seen misses (counted as EHOSTUNREACH by send).
        f.beginBatch()
        f.learn(0xC612_0002, Self.mac(9999), slot: 0)
        XCTAssertEqual(f.mac(for: 0xC612_0002), Self.mac(9999))
        XCTAssertNil(f.mac(for: 0xC613_FFFE))
    }

    func testUnspecifiedSourceIsNeverLearned() {
        let f = FrameState(ringSize: 8, frameSize: 4096)
        f.learn(0, Self.mac(1))
        XCTAssertNil(f.mac(for: 0))
        f.learn(0xC612_0001, Self.mac(2))
        f.learn(0xC612_0001, Self.mac(3))
        XCTAssertEqual(f.mac(for: 0xC612_0001), Self.mac(3), "a source that changed its MAC is answered at the new one")
    }
}
