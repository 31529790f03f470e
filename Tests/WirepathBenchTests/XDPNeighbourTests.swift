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

/// The same table for IPv6 (issue 11's weakness, left on the IPv6 table
/// until it was folded into the IPv4 one): keyed and set-associative over
/// the whole address, with the last batch's list shared by both families.
final class XDPNeighbour6Tests: XCTestCase {
    static func mac(_ i: Int) -> MACAddress { XDPNeighbourTests.mac(i) }
    static func v6(_ low: UInt64, high: UInt64 = 0x2001_0002_0000_0000) -> IPv6Address { IPv6Address(high: high, low: low) }

    func testIPv6AddressesEqualInTheirLowBitsAreAllKept() {
        let f = FrameState(ringSize: 64, frameSize: 4096)
        // Four addresses whose last word is equal modulo 256 (one slot of the
        // old direct-mapped table), and four equal in the whole low half,
        // differing only in the prefix.
        let addresses = (0..<4).map { Self.v6(1 + UInt64($0) * 256) } + (1...4).map { Self.v6(1, high: 0x2001_0002_0000_0000 | UInt64($0)) }
        for (i, a) in addresses.enumerated() { f.learn(a, Self.mac(i)) }
        for (i, a) in addresses.enumerated() {
            XCTAssertEqual(f.mac(for: a), Self.mac(i), a.text)
        }
    }

    func testEverySourceOfAMixedBatchResolves() {
        let f = FrameState(ringSize: 128, frameSize: 4096)
        // Five batches of 128 sources, IPv4 and IPv6 alternating: more than
        // the table holds; each batch just received is answered, each source
        // at its own MAC (the old per-family lists shared one MAC array and
        // could answer an IPv6 source at the MAC of an IPv4 one).
        for b in 0..<5 {
            f.beginBatch()
            for k in 0..<128 {
                let n = b * 128 + k
                if k % 2 == 0 { f.learn(Self.v6(UInt64(n) * 256 + 1), Self.mac(n), slot: k) } else { f.learn(0xC612_0001 + UInt32(n) * 64, Self.mac(n), slot: k) }
            }
            for k in 0..<128 {
                let n = b * 128 + k
                let got = k % 2 == 0 ? f.mac(for: Self.v6(UInt64(n) * 256 + 1)) : f.mac(for: 0xC612_0001 + UInt32(n) * 64)
                XCTAssertEqual(got, Self.mac(n), "batch \(b) slot \(k)")
            }
        }
        f.beginBatch()
        XCTAssertNil(f.mac(for: Self.v6(0xFFFF_FFFF)), "a destination never seen misses")
    }

    func testUnspecifiedAndFamiliesApart() {
        let f = FrameState(ringSize: 8, frameSize: 4096)
        f.learn(IPv6Address.unspecified, Self.mac(1))
        XCTAssertNil(f.mac(for: IPv6Address.unspecified))
        // 198.18.0.1 and 2001:2::c612:1 (the same low 32 bits) are two hosts.
        f.learn(0xC612_0001, Self.mac(2))
        f.learn(Self.v6(0xC612_0001), Self.mac(3))
        XCTAssertEqual(f.mac(for: 0xC612_0001), Self.mac(2))
        XCTAssertEqual(f.mac(for: Self.v6(0xC612_0001)), Self.mac(3))
        f.learn(Self.v6(0xC612_0001), Self.mac(4))
        XCTAssertEqual(f.mac(for: Self.v6(0xC612_0001)), Self.mac(4), "a source that changed its MAC is answered at the new one")
    }
}
