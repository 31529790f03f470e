import WirepathIO

/// The layout of a control packet (protocol 2), shared by the client, the
/// reflector and the tests. Data packets (ping, flood) do not change.
///
///      0  PayloadHeader     kind control, op, run id, sequence; `timestamp`
///                           carries the address-validation cookie, `check`
///                           the integrity check over everything else
///     40  word  u64         version u16 | flags u8 << 16 | status u8 << 24 | value u32 << 32
///     48  MAC   32 bytes    HMAC-SHA256 over the packet with `check` and the
///                           MAC itself as zeros; zeros when no key is set
///     80  body  u64 …       the report's fields (`PeerReport.encode`), else nothing
///
/// A request is padded to `slot` bytes (as QUIC pads its Initial) so that
/// every reply, the report included, is no larger than the request that
/// asked for it.
public enum ControlWire {
    /// Protocol 1 had no word at 40: a `begin` body was one flag word.
    public static let version: UInt16 = 2
    public static let wordOffset = PayloadHeader.size
    public static let macOffset = 48
    public static let macSize = 32
    /// The smallest control packet of protocol 2.
    public static let prefix = 80
    /// The size a client pads every request to, and the largest control packet.
    public static let slot = PathConfig.minSendSlot
    /// The most u64 fields a reply's body holds.
    public static let maxBodyFields = (slot - prefix) / 8

    /// Request flags.
    public static let countSyscalls: UInt8 = 1
    public static let hasMAC: UInt8 = 2

    /// Whether a `begin` seen on the wire opens the measured window as the
    /// reflector counts it (the wire audit's rule): in protocol 2, the begin
    /// that carries a cookie (the first one only asks for it) without the
    /// count-syscalls flag; in protocol 1 (body word 0 or 1), one whose word
    /// is 0.
    public static func opensMeasuredWindow(cookie: UInt64, firstBodyWord: UInt64?) -> Bool {
        let w = firstBodyWord ?? 0
        if w & 0xFFFF == UInt64(version) {
            return cookie != 0 && Word(raw: w).flags & countSyscalls == 0
        }
        return w & 1 == 0
    }

    /// The word at offset 40.
    public struct Word: Equatable, Sendable {
        public var version: UInt16
        public var flags: UInt8
        public var status: UInt8
        public var value: UInt32

        public init(version: UInt16 = ControlWire.version, flags: UInt8 = 0, status: UInt8 = 0, value: UInt32 = 0) {
            self.version = version; self.flags = flags; self.status = status; self.value = value
        }

        public init(raw: UInt64) {
            version = UInt16(truncatingIfNeeded: raw)
            flags = UInt8(truncatingIfNeeded: raw >> 16)
            status = UInt8(truncatingIfNeeded: raw >> 24)
            value = UInt32(truncatingIfNeeded: raw >> 32)
        }

        public var raw: UInt64 { UInt64(version) | UInt64(flags) << 16 | UInt64(status) << 24 | UInt64(value) << 32 }
    }

    /// Why a `refused` reply refuses.
    public enum Refusal: UInt8, Sendable {
        /// --max-sessions sessions are open; `value` is the limit.
        case busy = 1
        /// The request speaks another protocol version; `value` is the reflector's.
        case version = 2
        /// The reflector has a key and the request carries no valid MAC.
        case unauthenticated = 3
    }

    /// Why a `beginAck` says the reflector will not count syscalls (its `value`).
    public enum SyscallsUnavailable: UInt32, Sendable, CaseIterable {
        case counted = 0
        case notEnabled = 1
        case anotherSession = 2
        case tracepoint = 3
        /// The window kept the tracepoint open past serve's cap.
        case capped = 4

        /// The case whose `reason` is `text` (nil for any other text).
        public init?(reason text: String?) {
            guard let text, let c = Self.allCases.first(where: { $0.reason == text }) else { return nil }
            self = c
        }

        public var reason: String {
            switch self {
            case .counted: "counted"
            case .capped: "the window kept the tracepoint open longer than serve allows (10 s), so serve closed it"
            case .notEnabled: "serve was started without --count-syscalls (the tracepoint slows every thread on its host, so it is opt-in)"
            case .anotherSession: "another session at the reflector was counting syscalls"
            case .tracepoint: "the reflector could not open the raw_syscalls:sys_enter tracepoint (needs root or CAP_PERFMON, and tracefs)"
            }
        }
    }
}
