import Glibc

/// An IPv6 address as two 64-bit words in host byte order (`high` holds
/// the first eight bytes on the wire). A plain value, no allocation.
public struct IPv6Address: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64

    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static let unspecified = IPv6Address(high: 0, low: 0)

    /// The 16 bytes as the wire carries them.
    @inlinable
    public init(bytes: UnsafeRawPointer) {
        high = UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
        low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// Writes the 16 bytes in wire order at `bytes`.
    @inlinable
    public func store(to bytes: UnsafeMutableRawPointer) {
        bytes.storeBytes(of: high.bigEndian, as: UInt64.self)
        bytes.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
    }

    /// inet_pton(3) of AF_INET6; nil for anything else. A zone id
    /// ("fe80::1%eth0") is not accepted here: the caller says why.
    public static func parse(_ text: String) -> IPv6Address? {
        guard text.utf8.count <= 45 else { return nil } // INET6_ADDRSTRLEN - 1
        var a = in6_addr()
        let ok = text.withCString { inet_pton(AF_INET6, $0, &a) }
        guard ok == 1 else { return nil }
        return withUnsafeBytes(of: &a) { IPv6Address(bytes: $0.baseAddress!) }
    }

    /// inet_ntop(3): the canonical text form (RFC 5952), "2001:2::1".
    public var text: String {
        var raw = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &raw) { store(to: $0.baseAddress!) }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = withUnsafeBytes(of: &raw) { inet_ntop(AF_INET6, $0.baseAddress, &buf, socklen_t(buf.count)) }
        guard ok != nil else { return "::" }
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// ff00::/8.
    public var isMulticast: Bool { high >> 56 == 0xFF }
    /// fe80::/10.
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }
}

/// An IPv4 or IPv6 address and UDP port, in host byte order. A plain value:
/// no allocation, so it can live in per-packet slot arrays.
///
/// `address` is the IPv4 address (0 for IPv6), so IPv4 code reads it as
/// before; `family` says which of `address` and `address6` is meant.
public struct Endpoint: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Family: UInt8, Hashable, Sendable { case ipv4, ipv6 }

    public var address: UInt32
    public var port: UInt16
    public var family: Family
    public var address6: IPv6Address

    /// An IPv4 endpoint.
    @inlinable
    public init(address: UInt32, port: UInt16) {
        self.address = address
        self.port = port
        family = .ipv4
        address6 = .unspecified
    }

    /// An IPv6 endpoint.
    @inlinable
    public init(ipv6: IPv6Address, port: UInt16) {
        address = 0
        self.port = port
        family = .ipv6
        address6 = ipv6
    }

    public static let any = Endpoint(address: 0, port: 0)
    /// `::`, port 0.
    public static let any6 = Endpoint(ipv6: .unspecified, port: 0)

    @inlinable public var isIPv6: Bool { family == .ipv6 }

    /// The unspecified address of this endpoint's family (0.0.0.0 or ::).
    public var isUnspecifiedAddress: Bool { isIPv6 ? address6 == .unspecified : address == 0 }

    /// The same address with another port.
    public func with(port: UInt16) -> Endpoint {
        var e = self
        e.port = port
        return e
    }

    /// The wildcard address of `other`'s family, with this port: a local
    /// end that was left as "any" takes the family of its peer.
    public func wildcard(matching other: Endpoint) -> Endpoint {
        guard isUnspecifiedAddress, family != other.family else { return self }
        return (other.isIPv6 ? Endpoint.any6 : Endpoint.any).with(port: port)
    }

    /// Bytes of the IP header in front of UDP (no options or extension
    /// headers, as Wirepath sends): 20 for IPv4, 40 for IPv6.
    public var ipHeaderBytes: Int { isIPv6 ? 40 : 20 }

    /// Parses "a.b.c.d:port" or "[v6]:port" (or the address alone with
    /// `defaultPort`). An IPv6 address needs its brackets whenever a port
    /// could follow; a zone id ("%eth0") is refused, since it names a
    /// link-local scope and Wirepath sends only to routable addresses.
    public static func parse(_ text: String, defaultPort: UInt16? = nil) throws(ConfigError) -> Endpoint {
        let example = "expected IPV4:PORT or [IPV6]:PORT, for example 198.18.0.2:7000 or [2001:2::2]:7000"
        guard text.utf8.count <= 64 else { throw ConfigError("bad address (\(text.utf8.count) characters): \(example)") }
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw ConfigError("bad address '\(text)': missing ']' after the IPv6 address; \(example)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { throw ConfigError("bad address '\(text)': expected ':PORT' after ']'; \(example)") }
                portText = rest.dropFirst()
            }
            if host.contains("%") {
                throw ConfigError("bad address '\(text)': zone ids ('%') are not accepted; Wirepath uses routable addresses only (on the built-in topology 2001:2::/48), not link-local ones")
            }
            guard let a = IPv6Address.parse(String(host)) else {
                throw ConfigError("bad IPv6 address '\(host)' in '\(text)': \(example)")
            }
            return try finish(Endpoint(ipv6: a, port: 0), portText, text, defaultPort, example)
        }
        if text.contains("]") { throw ConfigError("bad address '\(text)': ']' without '['; \(example)") }
        let colons = text.utf8.filter { $0 == UInt8(ascii: ":") }.count
        if colons > 1 {
            throw ConfigError("bad address '\(text)': an IPv6 address goes in brackets, as [\(text)]:PORT; \(example)")
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        host = parts[0]
        if parts.count == 2 { portText = parts[1] }
        let address = try parseIPv4(String(host))
        return try finish(Endpoint(address: address, port: 0), portText, text, defaultPort, example)
    }

    private static func finish(_ e: Endpoint, _ portText: Substring?, _ text: String, _ defaultPort: UInt16?,
                               _ example: String) throws(ConfigError) -> Endpoint {
        var port = defaultPort
        if let portText {
            guard let p = UInt16(portText), p != 0 else {
                throw ConfigError("bad port in '\(text)': expected 1-65535")
            }
            port = p
        }
        guard let port else {
            throw ConfigError("missing port in '\(text)': \(example)")
        }
        return e.with(port: port)
    }

    public static func parseIPv4(_ text: String) throws(ConfigError) -> UInt32 {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { throw ConfigError("bad IPv4 address '\(text)': expected a.b.c.d") }
        var value: UInt32 = 0
        for octet in octets {
            guard let byte = UInt8(octet) else { throw ConfigError("bad IPv4 address '\(text)': expected a.b.c.d with each part 0-255") }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    /// The address alone: "198.18.0.2" or "2001:2::2" (no brackets).
    public var addressString: String {
        if isIPv6 { return address6.text }
        return "\(address >> 24).\((address >> 16) & 0xff).\((address >> 8) & 0xff).\(address & 0xff)"
    }

    /// "198.18.0.2:7000" or "[2001:2::2]:7000", as `parse` reads it.
    public var description: String { isIPv6 ? "[\(addressString)]:\(port)" : "\(addressString):\(port)" }

    /// True for 198.18.0.0/15, the RFC 2544 benchmarking range, and for
    /// 2001:2::/48, its IPv6 counterpart (RFC 5180).
    public var isBenchmarkRange: Bool {
        isIPv6 ? address6.high >> 16 == 0x2001_0002_0000 : address & 0xFFFE_0000 == 0xC612_0000
    }

    /// A 64-bit key for per-source state (rate limits): the IPv4 address,
    /// or an IPv6 address's /64, the block one host is usually given.
    public var sourceKey: UInt64 { isIPv6 ? address6.high : UInt64(address) }

    // An IPv4 endpoint encodes as it always has ({"address", "port"}); an
    // IPv6 one adds "address6" in text form.
    private enum CodingKeys: String, CodingKey { case address, port, address6 }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let port = try c.decode(UInt16.self, forKey: .port)
        if let text = try c.decodeIfPresent(String.self, forKey: .address6) {
            guard let a = IPv6Address.parse(text) else {
                throw DecodingError.dataCorruptedError(forKey: .address6, in: c, debugDescription: "bad IPv6 address '\(text)'")
            }
            self.init(ipv6: a, port: port)
        } else {
            self.init(address: try c.decode(UInt32.self, forKey: .address), port: port)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(address, forKey: .address)
        try c.encode(port, forKey: .port)
        if isIPv6 { try c.encode(address6.text, forKey: .address6) }
    }
}
