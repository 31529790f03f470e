import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// The data path's scratch memory, allocated once: the free TX frame stack,
/// the addresses of a receive batch on their way back to the fill ring, the
/// destination MACs of a send chunk, and the MACs learned from received
/// frames.
///
/// The learned MACs are one 4-way set-associative table of 64 sets (256
/// entries) for both families, keyed by 128 bits: an IPv6 address as it is,
/// an IPv4 address mapped into ::ffff:0:0/96 (RFC 4291 §2.5.5.2), so the two
/// can never collide. The set is a hash of the key under a key drawn at
/// start-up. A reflector learns a batch's sources on receive and answers
/// them on send, so a source must not be evicted by the others of its own
/// batch: a direct-mapped table indexed by the address's low bits lost one of
/// two clients whose addresses are equal modulo 64 (issue 11; the IPv6 table
/// had the same weakness until it was folded in here), and an unkeyed index
/// would let a sender choose addresses that collide. With a key, the at most
/// 64 sessions serve allows fit with room to spare. The sources of the last
/// receive batch are also kept in order, one list for both families, and a
/// lookup the table misses searches them: every source of the batch a
/// reflector answers is found whatever the table evicted. A miss (counted as
/// EHOSTUNREACH, never fatal) is left for a destination that sent nothing
/// recently.
struct FrameState: ~Copyable {
    static let macSets = 64
    static let macWays = 4
    static let macSlots = macSets * macWays
    let ringSize: Int
    let frameSize: Int
    let txFree: UnsafeMutablePointer<UInt64>
    let scratch: UnsafeMutablePointer<UInt64>
    let destinationMACs: UnsafeMutablePointer<UInt64>
    let macKeys: UnsafeMutablePointer<IPv6Address>
    let macValues: UnsafeMutablePointer<UInt64>
    /// Per set, the way the next new address replaces (oldest first).
    let macNext: UnsafeMutablePointer<UInt8>
    /// The index hash's key, from the system's random source at start-up.
    let hashKey: IPv6Address
    /// The last receive batch's sources and their MACs, `recentCount[0]` of them.
    let recentAddresses: UnsafeMutablePointer<IPv6Address>
    let recentMACs: UnsafeMutablePointer<UInt64>
    let recentCount: UnsafeMutablePointer<Int>

    init(ringSize: Int, frameSize: Int) {
        self.ringSize = ringSize
        self.frameSize = frameSize
        txFree = .allocate(capacity: ringSize)
        txFree.initialize(repeating: 0, count: ringSize)
        scratch = .allocate(capacity: ringSize)
        scratch.initialize(repeating: 0, count: ringSize)
        destinationMACs = .allocate(capacity: ringSize)
        destinationMACs.initialize(repeating: 0, count: ringSize)
        macKeys = .allocate(capacity: Self.macSlots)
        macKeys.initialize(repeating: .unspecified, count: Self.macSlots)
        macValues = .allocate(capacity: Self.macSlots)
        macValues.initialize(repeating: 0, count: Self.macSlots)
        macNext = .allocate(capacity: Self.macSets)
        macNext.initialize(repeating: 0, count: Self.macSets)
        var rng = SystemRandomNumberGenerator()
        hashKey = IPv6Address(high: rng.next(), low: rng.next())
        recentAddresses = .allocate(capacity: ringSize)
        recentAddresses.initialize(repeating: .unspecified, count: ringSize)
        recentMACs = .allocate(capacity: ringSize)
        recentMACs.initialize(repeating: 0, count: ringSize)
        recentCount = .allocate(capacity: 1)
        recentCount.initialize(to: 0)
    }

    deinit {
        txFree.deallocate()
        scratch.deallocate()
        destinationMACs.deallocate()
        macKeys.deallocate()
        macValues.deallocate()
        macNext.deallocate()
        recentAddresses.deallocate()
        recentMACs.deallocate()
        recentCount.deallocate()
    }

    /// The table's key for an IPv4 address: ::ffff:a.b.c.d. An IPv6 frame
    /// whose source is that mapped address (never a valid source on the
    /// wire, RFC 4291) shares the key: it names the same host, and a sender
    /// on the link that lies could as well forge the IPv4 source itself.
    @inline(__always)
    static func key(_ address: UInt32) -> IPv6Address {
        IPv6Address(high: 0, low: 0x0000_FFFF_0000_0000 | UInt64(address))
    }

    /// The first slot of `key`'s set: a multiplicative hash of both halves
    /// under the hash key, its top 6 bits.
    @inline(__always)
    func set(_ key: IPv6Address) -> Int {
        let m: UInt64 = 0x9E37_79B9_7F4A_7C15
        let h = (((key.high ^ hashKey.high) &* m) ^ key.low ^ hashKey.low) &* m
        return Int(truncatingIfNeeded: h >> 58) * Self.macWays
    }

    /// A receive batch begins: its list starts empty.
    @inline(__always)
    func beginBatch() { recentCount.pointee = 0 }

    /// Learns slot `k` of a receive batch (k counts from 0 in each batch, at
    /// most `ringSize`): the table, and the batch's list.
    @inline(__always)
    func learn(_ key: IPv6Address, _ mac: MACAddress, slot k: Int) {
        recentAddresses[k] = key
        recentMACs[k] = mac.value
        recentCount.pointee = k + 1
        learn(key, mac)
    }

    @inline(__always)
    func learn(_ key: IPv6Address, _ mac: MACAddress) {
        // The unspecified address (or 0.0.0.0, mapped) is no one to answer.
        guard key != .unspecified && key != Self.key(0) else { return }
        let base = set(key)
        for w in 0..<Self.macWays where macKeys[base + w] == key {
            if macValues[base + w] != mac.value { macValues[base + w] = mac.value }
            return
        }
        let s = base / Self.macWays
        let w = Int(macNext[s])
        macKeys[base + w] = key
        macValues[base + w] = mac.value
        macNext[s] = UInt8((w + 1) % Self.macWays)
    }

    @inline(__always)
    func mac(for key: IPv6Address) -> MACAddress? {
        guard key != .unspecified && key != Self.key(0) else { return nil }
        let base = set(key)
        for w in 0..<Self.macWays where macKeys[base + w] == key {
            return MACAddress(macValues[base + w])
        }
        for i in 0..<recentCount.pointee where recentAddresses[i] == key {
            return MACAddress(recentMACs[i])
        }
        return nil
    }

    /// IPv4: the same table, under the mapped key.
    @inline(__always)
    func learn(_ address: UInt32, _ mac: MACAddress, slot k: Int) { learn(Self.key(address), mac, slot: k) }

    @inline(__always)
    func learn(_ address: UInt32, _ mac: MACAddress) { learn(Self.key(address), mac) }

    @inline(__always)
    func mac(for address: UInt32) -> MACAddress? { mac(for: Self.key(address)) }
}
