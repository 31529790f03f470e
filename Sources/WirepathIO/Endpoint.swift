/// An IPv4 address and UDP port, in host byte order. A plain value: no
/// allocation, so it can live in per-packet slot arrays.
public struct Endpoint: Hashable, Sendable, Codable, CustomStringConvertible {
    public var address: UInt32
    public var port: UInt16

    public init(address: UInt32, port: UInt16) {
        self.address = address
        self.port = port
    }

    public static let any = Endpoint(address: 0, port: 0)

    /// Parses "a.b.c.d:port" (or "a.b.c.d" with `defaultPort`).
    public static func parse(_ text: String, defaultPort: UInt16? = nil) throws(ConfigError) -> Endpoint {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else {
            throw ConfigError("bad address '\(text)': expected IPV4:PORT, for example 198.18.0.2:7000")
        }
        let address = try parseIPv4(String(parts[0]))
        var port = defaultPort
        if parts.count == 2 {
            guard let p = UInt16(parts[1]), p != 0 else {
                throw ConfigError("bad port in '\(text)': expected 1-65535")
            }
            port = p
        }
        guard let port else {
            throw ConfigError("missing port in '\(text)': expected IPV4:PORT, for example 198.18.0.2:7000")
        }
        return Endpoint(address: address, port: port)
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

    public var addressString: String {
        "\(address >> 24).\((address >> 16) & 0xff).\((address >> 8) & 0xff).\(address & 0xff)"
    }

    public var description: String { "\(addressString):\(port)" }

    /// True for 198.18.0.0/15, the RFC 2544 benchmarking range.
    public var isBenchmarkRange: Bool { address & 0xFFFE_0000 == 0xC612_0000 }
}
