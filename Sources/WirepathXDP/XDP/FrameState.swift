import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// The data path's scratch memory, allocated once: the free TX frame stack,
/// the addresses of a receive batch on their way back to the fill ring, the
/// destination MACs of a send chunk, and the MACs learned from received
/// frames (direct-mapped by the low bits of the IPv4 address; for IPv6, of
/// the address's last word, the whole address as the key).
struct FrameState: ~Copyable {
    static let macSlots = 64
    let ringSize: Int
    let frameSize: Int
    let txFree: UnsafeMutablePointer<UInt64>
    let scratch: UnsafeMutablePointer<UInt64>
    let destinationMACs: UnsafeMutablePointer<UInt64>
    let macKeys: UnsafeMutablePointer<UInt32>
    let macValues: UnsafeMutablePointer<UInt64>
    let macKeys6: UnsafeMutablePointer<IPv6Address>
    let macValues6: UnsafeMutablePointer<UInt64>

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
        macKeys6 = .allocate(capacity: Self.macSlots)
        macKeys6.initialize(repeating: .unspecified, count: Self.macSlots)
        macValues6 = .allocate(capacity: Self.macSlots)
        macValues6.initialize(repeating: 0, count: Self.macSlots)
    }

    deinit {
        txFree.deallocate()
        scratch.deallocate()
        destinationMACs.deallocate()
        macKeys.deallocate()
        macValues.deallocate()
        macKeys6.deallocate()
        macValues6.deallocate()
    }

    @inline(__always)
    func learn(_ address: UInt32, _ mac: MACAddress) {
        let s = Int(address) & (Self.macSlots - 1)
        if macKeys[s] != address || macValues[s] != mac.value {
            macKeys[s] = address
            macValues[s] = mac.value
        }
    }

    @inline(__always)
    func mac(for address: UInt32) -> MACAddress? {
        let s = Int(address) & (Self.macSlots - 1)
        return macKeys[s] == address && address != 0 ? MACAddress(macValues[s]) : nil
    }

    @inline(__always)
    func learn6(_ address: IPv6Address, _ mac: MACAddress) {
        let s = Int(truncatingIfNeeded: address.low) & (Self.macSlots - 1)
        if macKeys6[s] != address || macValues6[s] != mac.value {
            macKeys6[s] = address
            macValues6[s] = mac.value
        }
    }

    @inline(__always)
    func mac6(for address: IPv6Address) -> MACAddress? {
        let s = Int(truncatingIfNeeded: address.low) & (Self.macSlots - 1)
        return macKeys6[s] == address && address != .unspecified ? MACAddress(macValues6[s]) : nil
    }
}
