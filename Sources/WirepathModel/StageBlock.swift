import WirepathIO

/// The reflector's own stage durations, carried back in the echo of a ping
/// that asked for them (`--stages`): durations taken on one host, so they
/// need no clock sync between the hosts.
///
/// A stage-requesting ping has `op == requestOp` and at least `minPayload`
/// bytes; the reflector writes this block over the body's first 32 bytes,
/// in place (the echo is never larger than the ping), after checking the
/// ping's integrity, and then recomputes the check. A ping that arrived
/// corrupted is echoed untouched, so the client still sees the corruption.
///
/// Layout (little-endian, at payload offset 40):
///
///     40  magic      u32  "WPSG"
///     44  flags      u32  bit 0: wake and turnaround valid; bit 1: prev valid
///     48  wakeNs     u32  this ping: kernel RX stamp -> application receive
///     52  turnNs     u32  this ping: application receive -> send call
///     56  prevSeq    u64  the ping the next two fields are for
///     64  prevSendNs u32  send call -> TX_SCHED stamp (before the qdisc)
///     68  prevQdiscNs u32 TX_SCHED -> TX_SOFTWARE (driver) stamp
///
/// The reflector's transmit stamps arrive on its error queue after its send,
/// so they travel in the next echo ("prev"). Durations saturate at 4.29 s.
public struct StageBlock: Equatable, Sendable {
    public static let offset = PayloadHeader.size
    public static let size = 32
    /// The smallest payload that carries the block.
    public static let minPayload = PathConfig.minStagesPayload
    public static let magic: UInt32 = 0x4753_5057 // "WPSG"
    /// The header `op` of a ping that asks the reflector for its stages.
    public static let requestOp: UInt16 = 1

    public var wakeNs: UInt32?
    public var turnNs: UInt32?
    public var prev: ReflectorTx?

    /// The reflector's transmit stages for one earlier ping.
    public struct ReflectorTx: Equatable, Sendable {
        public var seq: UInt64
        public var sendNs: UInt32
        public var qdiscNs: UInt32
        public init(seq: UInt64, sendNs: UInt32, qdiscNs: UInt32) { self.seq = seq; self.sendNs = sendNs; self.qdiscNs = qdiscNs }
    }

    public init(wakeNs: UInt32? = nil, turnNs: UInt32? = nil, prev: ReflectorTx? = nil) {
        self.wakeNs = wakeNs; self.turnNs = turnNs; self.prev = prev
    }

    /// A duration in the block's u32, saturated.
    @inline(__always)
    public static func clamp(_ ns: UInt64) -> UInt32 { ns > UInt64(UInt32.max) ? .max : UInt32(ns) }

    /// The block of a payload, or nil (no block, short, foreign bytes).
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> StageBlock? {
        guard bytes.count >= minPayload,
              UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) == magic else { return nil }
        let flags = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        var b = StageBlock()
        if flags & 1 != 0 {
            b.wakeNs = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
            b.turnNs = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
        }
        if flags & 2 != 0 {
            b.prev = ReflectorTx(seq: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)),
                                 sendNs: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 24, as: UInt32.self)),
                                 qdiscNs: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 28, as: UInt32.self)))
        }
        return b
    }

    /// Writes the block into an echo whose ping asked for it, and reseals
    /// the integrity check. False (nothing written) when the payload did
    /// not ask, is too short, or arrived corrupted.
    @inlinable
    public func write(into bytes: UnsafeMutableRawBufferPointer) -> Bool {
        let view = UnsafeRawBufferPointer(bytes)
        guard bytes.count >= StageBlock.minPayload, case .header(let h) = PayloadHeader.parse(view), h.kind == .ping,
              h.op == StageBlock.requestOp, Integrity.verify(view) else { return false }
        let o = StageBlock.offset
        var flags: UInt32 = 0
        if wakeNs != nil && turnNs != nil { flags |= 1 }
        if prev != nil { flags |= 2 }
        bytes.storeBytes(of: StageBlock.magic.littleEndian, toByteOffset: o, as: UInt32.self)
        bytes.storeBytes(of: flags.littleEndian, toByteOffset: o + 4, as: UInt32.self)
        bytes.storeBytes(of: (wakeNs ?? 0).littleEndian, toByteOffset: o + 8, as: UInt32.self)
        bytes.storeBytes(of: (turnNs ?? 0).littleEndian, toByteOffset: o + 12, as: UInt32.self)
        bytes.storeBytes(of: (prev?.seq ?? 0).littleEndian, toByteOffset: o + 16, as: UInt64.self)
        bytes.storeBytes(of: (prev?.sendNs ?? 0).littleEndian, toByteOffset: o + 24, as: UInt32.self)
        bytes.storeBytes(of: (prev?.qdiscNs ?? 0).littleEndian, toByteOffset: o + 28, as: UInt32.self)
        bytes.storeBytes(of: Integrity.compute(view).littleEndian, toByteOffset: 32, as: UInt64.self)
        return true
    }
}
