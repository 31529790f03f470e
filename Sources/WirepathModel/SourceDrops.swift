import WirepathIO

/// Packets a reflector drops before looking at them, because no reply can
/// go to their source: the kernel refuses to send to port 0 or 0.0.0.0
/// (EINVAL), and a broadcast or multicast source is never a peer (an echo
/// would go to many hosts). Plain counters: adding never allocates.
public struct SourceDrops: Codable, Sendable, Equatable {
    /// Source port 0.
    public var portZero: UInt64 = 0
    /// Source address in 0.0.0.0/8 ("this network", never a sender's), or ::.
    public var unspecified: UInt64 = 0
    /// Source 255.255.255.255 (limited broadcast).
    public var broadcast: UInt64 = 0
    /// Source in 224.0.0.0/4 or ff00::/8.
    public var multicast: UInt64 = 0

    public init() {}

    public enum Reason: Sendable { case portZero, unspecified, broadcast, multicast }

    /// Why a packet from `source` is dropped, or nil when it may be answered.
    @inlinable
    public static func reason(_ source: Endpoint) -> Reason? {
        if source.isIPv6 {
            // IPv6 has no broadcast; :: and ff00::/8 are never a sender's.
            if source.address6 == .unspecified { return .unspecified }
            if source.address6.isMulticast { return .multicast }
            if source.port == 0 { return .portZero }
            return nil
        }
        if source.address >> 24 == 0 { return .unspecified }
        if source.address == 0xFFFF_FFFF { return .broadcast }
        if source.address >> 28 == 0xE { return .multicast }
        if source.port == 0 { return .portZero }
        return nil
    }

    @inlinable
    public mutating func add(_ r: Reason) {
        switch r {
        case .portZero: portZero &+= 1
        case .unspecified: unspecified &+= 1
        case .broadcast: broadcast &+= 1
        case .multicast: multicast &+= 1
        }
    }

    public var total: UInt64 { portZero &+ unspecified &+ broadcast &+ multicast }

    /// "port 0: 3, 0.0.0.0/8: 1"; "none" when nothing was dropped.
    public var summary: String {
        var parts: [String] = []
        if portZero > 0 { parts.append("port 0: \(portZero)") }
        if unspecified > 0 { parts.append("0.0.0.0/8: \(unspecified)") }
        if broadcast > 0 { parts.append("broadcast: \(broadcast)") }
        if multicast > 0 { parts.append("multicast: \(multicast)") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}
