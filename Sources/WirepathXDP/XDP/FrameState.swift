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
/// The learned MACs are a 4-way set-associative table of 64 sets (256
/// entries), indexed by a hash of the address under a key drawn at start-up.
/// A reflector learns a batch's sources on receive and answers them on
/// send, so a source must not be evicted by the others of its own batch: a
/// direct-mapped table keyed by the address's low bits lost one of two
/// clients whose addresses are equal modulo 64 (issue 11), and an unkeyed
/// index would let a sender choose addresses that collide. With a key, the
/// at most 64 sessions serve allows fit with room to spare. The sources of
/// the last receive batch are also kept in order, and a lookup the table
/// misses searches them: every source of the batch a reflector answers is
/// found whatever the table evicted. A miss (counted as EHOSTUNREACH, never
/// fatal) is left for a destination that sent nothing recently.
///
/// IPv6 sources have a table of their own, direct-mapped by the low bits of
/// the address's last word with the whole address as the key, and the same
/// list of the last batch's sources behind it.
struct FrameState: ~Copyable {
    static let macSets = 64
    static let macWays = 4
    static let macSlots = macSets * macWays
    let ringSize: Int
    let frameSize: Int
    let txFree: UnsafeMutablePointer<UInt64>
    let scratch: UnsafeMutablePointer<UInt64>
    let destinationMACs: UnsafeMutablePointer<UInt64>
    let macKeys: UnsafeMutablePointer<UInt32>
    let macValues: UnsafeMutablePointer<UInt64>
    /// Per set, the way the next new address replaces (oldest first).
    let macNext: UnsafeMutablePointer<UInt8>
    /// The index hash's key, from the system's random source at start-up.
    let macKey: UInt32
    /// The last receive batch's sources and their MACs, `recentCount[0]` of them.
    let recentAddresses: UnsafeMutablePointer<UInt32>
    let recentMACs: UnsafeMutablePointer<UInt64>
    let recentCount: UnsafeMutablePointer<Int>
    let macKeys6: UnsafeMutablePointer<IPv6Address>
    let macValues6: UnsafeMutablePointer<UInt64>
    let recentAddresses6: UnsafeMutablePointer<IPv6Address>

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
        macKeys.initialize(repeating: 0, count: Self.macSlots)
        macValues = .allocate(capacity: Self.macSlots)
        macValues.initialize(repeating: 0, count: Self.macSlots)
        macNext = .allocate(capacity: Self.macSets)
        macNext.initialize(repeating: 0, count: Self.macSets)
        var rng = SystemRandomNumberGenerator()
        macKey = UInt32.random(in: 0...UInt32.max, using: &rng) | 1
        recentAddresses = .allocate(capacity: ringSize)
        recentAddresses.initialize(repeating: 0, count: ringSize)
        recentMACs = .allocate(capacity: ringSize)
        recentMACs.initialize(repeating: 0, count: ringSize)
        recentCount = .allocate(capacity: 1)
        recentCount.initialize(to: 0)
        macKeys6 = .allocate(capacity: Self.macSlots)
        macKeys6.initialize(repeating: .unspecified, count: Self.macSlots)
        macValues6 = .allocate(capacity: Self.macSlots)
        macValues6.initialize(repeating: 0, count: Self.macSlots)
        recentAddresses6 = .allocate(capacity: ringSize)
        recentAddresses6.initialize(repeating: .unspecified, count: ringSize)
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
        macKeys6.deallocate()
        macValues6.deallocate()
        recentAddresses6.deallocate()
    }

    /// The first slot of `address`'s set: a multiplicative hash of the
    /// address under the key, its top bits.
    @inline(__always)
    func set(_ address: UInt32) -> Int {
        let h = (address ^ macKey) &* 0x9E37_79B1
        return Int(h >> 26) * Self.macWays
    }

    /// Learns slot `k` of a receive batch (k counts from 0 in each batch, at
    /// most `ringSize`): the table, and the batch's list.
    @inline(__always)
    func learn(_ address: UInt32, _ mac: MACAddress, slot k: Int) {
        recentAddresses[k] = address
        recentMACs[k] = mac.value
        recentCount.pointee = k + 1
        learn(address, mac)
    }

    /// A receive batch begins: its list starts empty.
    @inline(__always)
    func beginBatch() { recentCount.pointee = 0 }

    @inline(__always)
    func learn(_ address: UInt32, _ mac: MACAddress) {
        guard address != 0 else { return }
        let base = set(address)
        for w in 0..<Self.macWays where macKeys[base + w] == address {
            if macValues[base + w] != mac.value { macValues[base + w] = mac.value }
            return
        }
        let s = base / Self.macWays
        let w = Int(macNext[s])
        macKeys[base + w] = address
        macValues[base + w] = mac.value
        macNext[s] = UInt8((w + 1) % Self.macWays)
    }

    @inline(__always)
    func mac(for address: UInt32) -> MACAddress? {
        guard address != 0 else { return nil }
        let base = set(address)
        for w in 0..<Self.macWays where macKeys[base + w] == address {
            return MACAddress(macValues[base + w])
        }
        for i in 0..<recentCount.pointee where recentAddresses[i] == address {
            return MACAddress(recentMACs[i])
        }
        return nil
    }

    /// Learns slot `k` of an IPv6 receive batch: the table, and the batch's list.
    @inline(__always)
    func learn6(_ address: IPv6Address, _ mac: MACAddress, slot k: Int) {
        recentAddresses6[k] = address
        recentMACs[k] = mac.value
        recentCount.pointee = k + 1
        learn6(address, mac)
    }

    @inline(__always)
    func learn6(_ address: IPv6Address, _ mac: MACAddress) {
        guard address != .unspecified else { return }
        let s = Int(truncatingIfNeeded: address.low) & (Self.macSlots - 1)
        if macKeys6[s] != address || macValues6[s] != mac.value {
            macKeys6[s] = address
            macValues6[s] = mac.value
        }
    }

    @inline(__always)
    func mac6(for address: IPv6Address) -> MACAddress? {
        guard address != .unspecified else { return nil }
        let s = Int(truncatingIfNeeded: address.low) & (Self.macSlots - 1)
        if macKeys6[s] == address { return MACAddress(macValues6[s]) }
        for i in 0..<recentCount.pointee where recentAddresses6[i] == address {
            return MACAddress(recentMACs[i])
        }
        return nil
    }
}
