import WirepathIO
/// The Wirepath test header, at the start of every UDP payload.
///
/// Layout (little-endian, 40 bytes):
///
///     0  magic     u32  "WPTH"
///     4  version   u8   1
///     5  kind      u8   1 ping, 2 flood, 3 control
///     6  op        u16  control opcode (0 for data)
///     8  runID     u64  identifies one run: foreign packets are counted, never mixed in
///    16  seq       u64
///    24  timestamp u64  sender's CLOCK_MONOTONIC, ns
///    32  check     u64  integrity over the whole payload (see `Integrity`)
///    40  body      …    deterministic filler up to the payload size
public struct PayloadHeader: Equatable, Sendable {
    public static let size = PathConfig.minPayload
    public static let magic: UInt32 = 0x4854_5057 // "WPTH" as little-endian bytes
    public static let version: UInt8 = 1

    public enum Kind: UInt8, Sendable { case ping = 1, flood = 2, control = 3 }

    public var kind: Kind
    public var op: UInt16
    public var runID: UInt64
    public var seq: UInt64
    public var timestamp: UInt64
    public var check: UInt64

    public init(kind: Kind, op: UInt16 = 0, runID: UInt64, seq: UInt64, timestamp: UInt64, check: UInt64 = 0) {
        self.kind = kind
        self.op = op
        self.runID = runID
        self.seq = seq
        self.timestamp = timestamp
        self.check = check
    }

    /// Why a payload is not a Wirepath packet.
    public enum Rejection: String, Sendable, Codable, CaseIterable {
        case truncated = "shorter than the 40-byte header"
        case badMagic = "bad magic (not a Wirepath packet)"
        case badVersion = "unknown header version"
        case badKind = "unknown packet kind"
    }

    public enum Parsed: Equatable, Sendable {
        case header(PayloadHeader)
        case rejected(Rejection)
    }

    /// Parses the header; never traps on short or foreign input.
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Parsed {
        guard bytes.count >= size else { return .rejected(.truncated) }
        guard bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian == magic else { return .rejected(.badMagic) }
        guard bytes[4] == version else { return .rejected(.badVersion) }
        guard let kind = Kind(rawValue: bytes[5]) else { return .rejected(.badKind) }
        return .header(PayloadHeader(
            kind: kind,
            op: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self)),
            runID: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            seq: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            timestamp: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)),
            check: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 32, as: UInt64.self))))
    }

    /// Writes the header fields (not `check`) into `bytes`.
    @inlinable
    public func write(to bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= PayloadHeader.size)
        bytes.storeBytes(of: PayloadHeader.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        bytes[4] = PayloadHeader.version
        bytes[5] = kind.rawValue
        bytes.storeBytes(of: op.littleEndian, toByteOffset: 6, as: UInt16.self)
        bytes.storeBytes(of: runID.littleEndian, toByteOffset: 8, as: UInt64.self)
        bytes.storeBytes(of: seq.littleEndian, toByteOffset: 16, as: UInt64.self)
        bytes.storeBytes(of: timestamp.littleEndian, toByteOffset: 24, as: UInt64.self)
        bytes.storeBytes(of: check.littleEndian, toByteOffset: 32, as: UInt64.self)
    }
}

/// How the 64-bit sequence space of a run is split, so that the clients
/// that stamp packets and the wire audit that reads them agree: the measured
/// window counts from 0, the syscall-counting window from `syscallWindow`,
/// and warm-up from `warmup`. Packets at or above `syscallWindow` are never
/// part of the measured window.
public enum SequenceSpace {
    public static let syscallWindow: UInt64 = 1 << 61
    public static let warmup: UInt64 = 1 << 62
}

/// Builds a transmit batch whose slots are prepared once: body filler,
/// length and destination. Only the header is stamped per packet.
extension PayloadStamper {
    public func makeBatch(capacity: Int, to peer: Endpoint) -> PacketBatch {
        let batch = PacketBatch(capacity: capacity, slotSize: size)
        for i in 0..<capacity {
            batch.withMutableBytes(i) { prepare($0) }
            batch.setLength(i, size)
            batch.setEndpoint(i, peer)
        }
        return batch
    }
}

/// The payload integrity check.
///
/// A 64-bit multiply–xorshift chain over the payload's 8-byte words: each step
/// is a bijection of the running state, so any change confined to one word is
/// always detected, and others are missed with probability about 2^-64. It is
/// not CRC32C because Swift has no portable access to the CRC instruction and
/// a table CRC costs ~1 cycle per byte, which would show up in a 1472-byte RTT.
///
/// The body is hashed first and the header last, so a sender whose body never
/// changes hashes it once (`bodyState`) and finishes per packet with five words.
/// The receiver computes the same function over what it received.
public enum Integrity {
    @usableFromInline static let k1: UInt64 = 0x9E37_79B9_7F4A_7C15
    @usableFromInline static let k2: UInt64 = 0xBF58_476D_1CE4_E5B9

    @inlinable @inline(__always)
    static func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
        var x = (h ^ w) &* k1
        x ^= x >> 29
        return x
    }

    /// State after the body bytes `[40..<count]`.
    @inlinable
    public static func bodyState(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let n = bytes.count
        var h = k2 ^ UInt64(n)
        var off = PayloadHeader.size
        while off + 8 <= n {
            h = mix(h, UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: off, as: UInt64.self)))
            off += 8
        }
        if off < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while off < n { tail |= UInt64(bytes[off]) << shift; shift += 8; off += 1 }
            h = mix(h, tail)
        }
        return h
    }

    /// Finishes the check from the body state and the header words 0..<32.
    @inlinable
    public static func finish(_ body: UInt64, header bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = body
        h = mix(h, bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        h = mix(h, bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        h = mix(h, bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        h = mix(h, bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        h ^= h >> 32
        h &*= k2
        h ^= h >> 31
        return h
    }

    /// The check of a whole payload (the stored check field is not an input).
    @inlinable
    public static func compute(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        finish(bodyState(bytes), header: bytes)
    }

    /// True when the payload's stored check matches its contents.
    @inlinable
    public static func verify(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= PayloadHeader.size else { return false }
        let stored = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        return compute(bytes) == stored
    }
}

/// Builds payloads for one run: the body is filled once, the header per packet.
public struct PayloadStamper: Sendable {
    public let runID: UInt64
    public let size: Int
    /// Body hash state, computed once because the body never changes.
    @usableFromInline let bodyState: UInt64

    public init(runID: UInt64, size: Int) {
        precondition(size >= PayloadHeader.size)
        self.runID = runID
        self.size = size
        var probe = [UInt8](repeating: 0, count: size)
        PayloadStamper.fillBody(&probe)
        bodyState = probe.withUnsafeBytes { Integrity.bodyState($0) }
    }

    /// The deterministic filler after the header: easy to recognise in a hex dump.
    public static func fillBody(_ bytes: inout [UInt8]) {
        for i in PayloadHeader.size..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
    }

    /// Writes the body filler into a slot; done once per slot at setup.
    public func prepare(_ slot: UnsafeMutableRawBufferPointer) {
        for i in PayloadHeader.size..<size { slot[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
    }

    /// Writes the header and its check into a prepared slot. No allocation.
    @inlinable
    public func stamp(_ slot: UnsafeMutableRawBufferPointer, kind: PayloadHeader.Kind, seq: UInt64, timestamp: UInt64, op: UInt16 = 0) {
        PayloadHeader(kind: kind, op: op, runID: runID, seq: seq, timestamp: timestamp).write(to: slot)
        let check = Integrity.finish(bodyState, header: UnsafeRawBufferPointer(slot))
        slot.storeBytes(of: check.littleEndian, toByteOffset: 32, as: UInt64.self)
    }
}
