/// Ethernet II, IPv4 and UDP framing for paths that send and receive whole
/// frames (AF_XDP): pure functions over raw bytes, no syscalls, no allocation.
///
/// A frame here is always 14 bytes of Ethernet header, a 20-byte IPv4 header
/// (no options on send; options are skipped on receive) and an 8-byte UDP
/// header in front of the payload. Checksums are computed in full in
/// software: on veth, the kernel's TX checksum offload would otherwise leave
/// an AF_XDP frame with a partial UDP checksum, which the peer's stack drops
/// (UdpInCsumErrors).
public enum Framing {
    public static let ethernetHeaderSize = 14
    public static let ipv4HeaderSize = 20
    public static let udpHeaderSize = 8
    /// Bytes in front of the UDP payload of a frame this module writes.
    public static let headerSize = ethernetHeaderSize + ipv4HeaderSize + udpHeaderSize
    public static let etherTypeIPv4: UInt16 = 0x0800
    public static let ipv6HeaderSize = 40
    /// Bytes in front of the UDP payload of an IPv6 frame this module writes.
    public static let headerSize6 = ethernetHeaderSize + ipv6HeaderSize + udpHeaderSize
    public static let etherTypeIPv6: UInt16 = 0x86DD
    public static let protocolUDP: UInt8 = 17
    public static let defaultTTL: UInt8 = 64

    // MARK: RFC 1071 checksum

    /// The ones' complement sum of `bytes` as 16-bit big-endian words (a last
    /// odd byte is padded with zero), added to `initial` and folded to 16 bits;
    /// not complemented. RFC 1071's example, 00 01 f2 03 f4 f5 f6 f7, sums to
    /// 0xddf2.
    ///
    /// The loop adds 32-bit little-endian halves of 64-bit loads into a
    /// 64-bit accumulator and swaps bytes once at the end: the ones'
    /// complement sum does not depend on byte order (RFC 1071, section 2(B)).
    @inlinable
    public static func onesComplementSum(_ bytes: UnsafeRawBufferPointer, initial: UInt16 = 0) -> UInt16 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return initial }
        let n = bytes.count
        var sum: UInt64 = 0
        var i = 0
        while i + 8 <= n {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            sum &+= (w & 0xFFFF_FFFF) &+ (w >> 32)
            i += 8
        }
        if i + 4 <= n { sum &+= UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt32.self)); i += 4 }
        if i + 2 <= n { sum &+= UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt16.self)); i += 2 }
        // A last odd byte is the high byte of a big-endian word: in the
        // little-endian sum it is the low byte, swapped into place below.
        if i < n { sum &+= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) }
        let littleEndianSum = fold(sum)
        return add(littleEndianSum.byteSwapped, initial)
    }

    /// Folds a wide sum of 16-bit words to 16 bits with end-around carry.
    @inlinable
    public static func fold(_ wide: UInt64) -> UInt16 {
        var s = wide
        while s >> 16 != 0 { s = (s & 0xFFFF) &+ (s >> 16) }
        return UInt16(s)
    }

    /// Ones' complement addition of two 16-bit sums.
    @inlinable
    public static func add(_ a: UInt16, _ b: UInt16) -> UInt16 { fold(UInt64(a) &+ UInt64(b)) }

    /// The Internet checksum of `bytes` (the complement of their sum).
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 { ~onesComplementSum(bytes) }

    /// The sum of the UDP pseudo-header: source and destination address,
    /// protocol 17 and the UDP length (RFC 768).
    @inlinable
    public static func pseudoHeaderSum(source: UInt32, destination: UInt32, udpLength: Int) -> UInt16 {
        let wide = UInt64(source >> 16) &+ UInt64(source & 0xFFFF) &+ UInt64(destination >> 16)
            &+ UInt64(destination & 0xFFFF) &+ UInt64(protocolUDP) &+ UInt64(udpLength)
        return fold(wide)
    }

    /// The sum of the IPv6 UDP pseudo-header (RFC 8200, section 8.1):
    /// source and destination address, the upper-layer length as 32 bits,
    /// three zero bytes and next header 17. Over IPv6 the UDP checksum is
    /// mandatory, so a frame built in software needs this.
    @inlinable
    public static func pseudoHeaderSum6(source: IPv6Address, destination: IPv6Address, udpLength: Int) -> UInt16 {
        @inline(__always) func words(_ v: UInt64) -> UInt64 { (v >> 48) &+ (v >> 32 & 0xFFFF) &+ (v >> 16 & 0xFFFF) &+ (v & 0xFFFF) }
        let wide = words(source.high) &+ words(source.low) &+ words(destination.high) &+ words(destination.low)
            &+ UInt64(UInt32(udpLength) >> 16) &+ UInt64(udpLength & 0xFFFF) &+ UInt64(protocolUDP)
        return fold(wide)
    }

    // MARK: Building

    /// Writes the Ethernet, IPv4 and UDP headers in front of a payload that
    /// is already at `frame[headerSize...]`, with both checksums computed in
    /// full, and returns the frame length. `frame` must hold the whole frame.
    /// IPv4: version 4, no options, DSCP 0, DF set, TTL 64, the given id.
    @inlinable
    public static func writeUDPHeaders(
        _ frame: UnsafeMutableRawPointer, capacity: Int,
        sourceMAC: MACAddress, destinationMAC: MACAddress,
        source: Endpoint, destination: Endpoint, payloadLength: Int, ipID: UInt16
    ) -> Int {
        let udpLength = udpHeaderSize + payloadLength
        let ipLength = ipv4HeaderSize + udpLength
        precondition(ipLength <= 0xFFFF && ethernetHeaderSize + ipLength <= capacity, "frame does not fit")
        // Ethernet II
        destinationMAC.store(to: frame)
        sourceMAC.store(to: frame + 6)
        frame.storeBytes(of: etherTypeIPv4.bigEndian, toByteOffset: 12, as: UInt16.self)
        // IPv4
        let ip = frame + ethernetHeaderSize
        ip.storeBytes(of: 0x45, toByteOffset: 0, as: UInt8.self)
        ip.storeBytes(of: 0, toByteOffset: 1, as: UInt8.self)
        ip.storeBytes(of: UInt16(ipLength).bigEndian, toByteOffset: 2, as: UInt16.self)
        ip.storeBytes(of: ipID.bigEndian, toByteOffset: 4, as: UInt16.self)
        ip.storeBytes(of: UInt16(0x4000).bigEndian, toByteOffset: 6, as: UInt16.self) // DF, offset 0
        ip.storeBytes(of: defaultTTL, toByteOffset: 8, as: UInt8.self)
        ip.storeBytes(of: protocolUDP, toByteOffset: 9, as: UInt8.self)
        ip.storeBytes(of: 0, toByteOffset: 10, as: UInt16.self)
        ip.storeBytes(of: source.address.bigEndian, toByteOffset: 12, as: UInt32.self)
        ip.storeBytes(of: destination.address.bigEndian, toByteOffset: 16, as: UInt32.self)
        let ipSum = checksum(UnsafeRawBufferPointer(start: ip, count: ipv4HeaderSize))
        ip.storeBytes(of: ipSum.bigEndian, toByteOffset: 10, as: UInt16.self)
        // UDP
        let udp = ip + ipv4HeaderSize
        udp.storeBytes(of: source.port.bigEndian, toByteOffset: 0, as: UInt16.self)
        udp.storeBytes(of: destination.port.bigEndian, toByteOffset: 2, as: UInt16.self)
        udp.storeBytes(of: UInt16(udpLength).bigEndian, toByteOffset: 4, as: UInt16.self)
        udp.storeBytes(of: 0, toByteOffset: 6, as: UInt16.self)
        let pseudo = pseudoHeaderSum(source: source.address, destination: destination.address, udpLength: udpLength)
        var udpSum = ~onesComplementSum(UnsafeRawBufferPointer(start: udp, count: udpLength), initial: pseudo)
        // A computed 0 is sent as 0xFFFF: 0 means "no checksum" (RFC 768).
        if udpSum == 0 { udpSum = 0xFFFF }
        udp.storeBytes(of: udpSum.bigEndian, toByteOffset: 6, as: UInt16.self)
        return ethernetHeaderSize + ipLength
    }

    /// The IPv6 twin of `writeUDPHeaders`: Ethernet, a 40-byte IPv6 header
    /// (traffic class 0, flow label 0, hop limit 64, no extension headers)
    /// and UDP in front of a payload already at `frame[headerSize6...]`.
    /// The UDP checksum, mandatory over IPv6, is computed in full over the
    /// IPv6 pseudo-header. Returns the frame length.
    @inlinable
    public static func writeUDP6Headers(
        _ frame: UnsafeMutableRawPointer, capacity: Int,
        sourceMAC: MACAddress, destinationMAC: MACAddress,
        source: Endpoint, destination: Endpoint, payloadLength: Int
    ) -> Int {
        let udpLength = udpHeaderSize + payloadLength
        precondition(udpLength <= 0xFFFF && headerSize6 + payloadLength <= capacity, "frame does not fit")
        destinationMAC.store(to: frame)
        sourceMAC.store(to: frame + 6)
        frame.storeBytes(of: etherTypeIPv6.bigEndian, toByteOffset: 12, as: UInt16.self)
        let ip = frame + ethernetHeaderSize
        ip.storeBytes(of: UInt32(0x6000_0000).bigEndian, toByteOffset: 0, as: UInt32.self) // version 6, class 0, label 0
        ip.storeBytes(of: UInt16(udpLength).bigEndian, toByteOffset: 4, as: UInt16.self)
        ip.storeBytes(of: protocolUDP, toByteOffset: 6, as: UInt8.self)
        ip.storeBytes(of: defaultTTL, toByteOffset: 7, as: UInt8.self)
        source.address6.store(to: ip + 8)
        destination.address6.store(to: ip + 24)
        let udp = ip + ipv6HeaderSize
        udp.storeBytes(of: source.port.bigEndian, toByteOffset: 0, as: UInt16.self)
        udp.storeBytes(of: destination.port.bigEndian, toByteOffset: 2, as: UInt16.self)
        udp.storeBytes(of: UInt16(udpLength).bigEndian, toByteOffset: 4, as: UInt16.self)
        udp.storeBytes(of: 0, toByteOffset: 6, as: UInt16.self)
        let pseudo = pseudoHeaderSum6(source: source.address6, destination: destination.address6, udpLength: udpLength)
        var udpSum = ~onesComplementSum(UnsafeRawBufferPointer(start: udp, count: udpLength), initial: pseudo)
        // 0 would mean "no checksum", which IPv6 forbids: sent as 0xFFFF.
        if udpSum == 0 { udpSum = 0xFFFF }
        udp.storeBytes(of: udpSum.bigEndian, toByteOffset: 6, as: UInt16.self)
        return headerSize6 + payloadLength
    }

    // MARK: Parsing

    /// What `parseUDP` found in a frame.
    public struct UDPFrame: Equatable, Sendable {
        public var sourceMAC: MACAddress
        public var destinationMAC: MACAddress
        public var source: Endpoint
        public var destination: Endpoint
        /// Offset of the UDP header, and of the payload, in the frame.
        public var udpOffset: Int
        public var payloadOffset: Int
        public var payloadLength: Int

        @inlinable
        public init(sourceMAC: MACAddress, destinationMAC: MACAddress, source: Endpoint, destination: Endpoint,
                    udpOffset: Int, payloadOffset: Int, payloadLength: Int) {
            self.sourceMAC = sourceMAC; self.destinationMAC = destinationMAC
            self.source = source; self.destination = destination
            self.udpOffset = udpOffset; self.payloadOffset = payloadOffset; self.payloadLength = payloadLength
        }
    }

    /// Parses an Ethernet II / IPv4 / UDP frame. Returns nil for anything
    /// else, for fragments and for lengths that do not add up; never traps.
    /// Checksums are not verified here (see `checksumsValid`): a frame from
    /// the local stack over veth may carry a partial UDP checksum that the
    /// kernel would accept (CHECKSUM_PARTIAL), and the payload has its own
    /// integrity check.
    @inlinable
    public static func parseUDP(_ frame: UnsafeRawBufferPointer) -> UDPFrame? {
        guard let base = frame.baseAddress, frame.count >= headerSize else { return nil }
        let etherType = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        if etherType == etherTypeIPv6 { return parseUDP6(frame) }
        guard etherType == etherTypeIPv4 else { return nil }
        let ip = ethernetHeaderSize
        let versionIHL = base.load(fromByteOffset: ip, as: UInt8.self)
        let ihl = Int(versionIHL & 0x0F) * 4
        guard versionIHL >> 4 == 4, ihl >= ipv4HeaderSize else { return nil }
        guard base.load(fromByteOffset: ip + 9, as: UInt8.self) == protocolUDP else { return nil }
        let fragment = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: ip + 6, as: UInt16.self))
        guard fragment & 0x3FFF == 0 else { return nil }
        let ipLength = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: ip + 2, as: UInt16.self)))
        // Short frames are padded to 60 bytes, so the IP length may be less
        // than what follows the Ethernet header, never more.
        guard ipLength >= ihl + udpHeaderSize, ip + ipLength <= frame.count else { return nil }
        let udp = ip + ihl
        let udpLength = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: udp + 4, as: UInt16.self)))
        guard udpLength >= udpHeaderSize, udpLength <= ipLength - ihl else { return nil }
        return UDPFrame(
            sourceMAC: MACAddress(loadingFrom: base + 6),
            destinationMAC: MACAddress(loadingFrom: base),
            source: Endpoint(address: UInt32(bigEndian: base.loadUnaligned(fromByteOffset: ip + 12, as: UInt32.self)),
                             port: UInt16(bigEndian: base.loadUnaligned(fromByteOffset: udp, as: UInt16.self))),
            destination: Endpoint(address: UInt32(bigEndian: base.loadUnaligned(fromByteOffset: ip + 16, as: UInt32.self)),
                                  port: UInt16(bigEndian: base.loadUnaligned(fromByteOffset: udp + 2, as: UInt16.self))),
            udpOffset: udp, payloadOffset: udp + udpHeaderSize, payloadLength: udpLength - udpHeaderSize)
    }

    /// An Ethernet II / IPv6 / UDP frame with UDP as the fixed header's
    /// next header (the XDP program redirects only those; a frame with
    /// extension headers goes to the kernel). nil for anything else; never traps.
    @inlinable
    public static func parseUDP6(_ frame: UnsafeRawBufferPointer) -> UDPFrame? {
        guard let base = frame.baseAddress, frame.count >= headerSize6 else { return nil }
        let ip = ethernetHeaderSize
        guard base.load(fromByteOffset: ip, as: UInt8.self) >> 4 == 6,
              base.load(fromByteOffset: ip + 6, as: UInt8.self) == protocolUDP else { return nil }
        let payloadLength = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: ip + 4, as: UInt16.self)))
        guard payloadLength >= udpHeaderSize, ip + ipv6HeaderSize + payloadLength <= frame.count else { return nil }
        let udp = ip + ipv6HeaderSize
        let udpLength = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: udp + 4, as: UInt16.self)))
        guard udpLength >= udpHeaderSize, udpLength <= payloadLength else { return nil }
        return UDPFrame(
            sourceMAC: MACAddress(loadingFrom: base + 6),
            destinationMAC: MACAddress(loadingFrom: base),
            source: Endpoint(ipv6: IPv6Address(bytes: base + ip + 8),
                             port: UInt16(bigEndian: base.loadUnaligned(fromByteOffset: udp, as: UInt16.self))),
            destination: Endpoint(ipv6: IPv6Address(bytes: base + ip + 24),
                                  port: UInt16(bigEndian: base.loadUnaligned(fromByteOffset: udp + 2, as: UInt16.self))),
            udpOffset: udp, payloadOffset: udp + udpHeaderSize, payloadLength: udpLength - udpHeaderSize)
    }

    /// Whether the IPv4 header checksum and the UDP checksum (over the
    /// pseudo-header, header and payload) of a parsed frame verify. A UDP
    /// checksum of 0 means none was sent and counts as valid.
    public static func checksumsValid(_ frame: UnsafeRawBufferPointer, _ parsed: UDPFrame) -> (ipv4: Bool, udp: Bool) {
        if parsed.source.isIPv6 {
            // No header checksum; a UDP checksum of 0 is invalid over IPv6.
            let udpLength = udpHeaderSize + parsed.payloadLength
            let pseudo = pseudoHeaderSum6(source: parsed.source.address6, destination: parsed.destination.address6, udpLength: udpLength)
            let sum = onesComplementSum(UnsafeRawBufferPointer(rebasing: frame[parsed.udpOffset..<(parsed.udpOffset + udpLength)]), initial: pseudo)
            return (true, sum == 0xFFFF)
        }
        let ihl = parsed.udpOffset - ethernetHeaderSize
        let ipOK = onesComplementSum(UnsafeRawBufferPointer(rebasing: frame[ethernetHeaderSize..<parsed.udpOffset])) == 0xFFFF && ihl >= 20
        let udpLength = udpHeaderSize + parsed.payloadLength
        let stored = UInt16(bigEndian: frame.loadUnaligned(fromByteOffset: parsed.udpOffset + 6, as: UInt16.self))
        if stored == 0 { return (ipOK, true) }
        let pseudo = pseudoHeaderSum(source: parsed.source.address, destination: parsed.destination.address, udpLength: udpLength)
        let sum = onesComplementSum(UnsafeRawBufferPointer(rebasing: frame[parsed.udpOffset..<(parsed.udpOffset + udpLength)]), initial: pseudo)
        return (ipOK, sum == 0xFFFF)
    }
}

/// A 48-bit Ethernet address, stored in the low 48 bits in transmission
/// order (first octet most significant). A plain value: no allocation.
public struct MACAddress: Hashable, Sendable, Codable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value & 0xFFFF_FFFF_FFFF }

    public static let zero = MACAddress(0)
    public static let broadcast = MACAddress(0xFFFF_FFFF_FFFF)

    /// Reads 6 bytes in transmission order.
    @inlinable
    public init(loadingFrom p: UnsafeRawPointer) {
        var v: UInt64 = 0
        for i in 0..<6 { v = v << 8 | UInt64(p.load(fromByteOffset: i, as: UInt8.self)) }
        value = v
    }

    /// Writes 6 bytes in transmission order.
    @inlinable
    public func store(to p: UnsafeMutableRawPointer) {
        for i in 0..<6 { p.storeBytes(of: UInt8(truncatingIfNeeded: value >> UInt64(40 - 8 * i)), toByteOffset: i, as: UInt8.self) }
    }

    /// Parses "aa:bb:cc:dd:ee:ff" (or with dashes).
    public static func parse(_ text: String) throws(ConfigError) -> MACAddress {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" }).map(String.init)
        guard parts.count == 6 else { throw ConfigError("bad MAC address '\(text)': expected six hex octets, for example 02:00:00:00:00:01") }
        var v: UInt64 = 0
        for part in parts {
            guard part.count <= 2, let byte = UInt8(part, radix: 16) else {
                throw ConfigError("bad MAC address '\(text)': expected six hex octets, for example 02:00:00:00:00:01")
            }
            v = v << 8 | UInt64(byte)
        }
        return MACAddress(v)
    }

    public var description: String {
        (0..<6).map { i -> String in
            let b = UInt8(truncatingIfNeeded: value >> UInt64(40 - 8 * i))
            return (b < 16 ? "0" : "") + String(b, radix: 16)
        }.joined(separator: ":")
    }
}
