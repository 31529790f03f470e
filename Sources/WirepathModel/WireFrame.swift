import WirepathIO
/// Parsing of captured frames for verification: Ethernet II (or a Linux
/// cooked capture), up to two 802.1Q/802.1ad VLAN tags, IPv4 or IPv6 (its
/// hop-by-hop, routing and destination-options headers followed, at most
/// `maxIPv6Extensions` of them), UDP and the Wirepath test header. Pure functions over raw bytes: no syscalls, and no
/// input, however short or malformed, can make them trap.
///
/// `Framing.parseUDP` (the AF_XDP path's parser) answers only "a plain
/// Ethernet/IPv4/UDP frame or nil"; verification also needs VLAN tags, the
/// reason a frame was rejected, and frames cut short by a capture's snaplen,
/// so it has its own parser here and reuses `Framing`'s checksum arithmetic.
public enum WireFrame {
    /// The link-layer header types (pcap LINKTYPE_*) this parser reads.
    public enum LinkType: Int32, Sendable, Codable {
        /// LINKTYPE_ETHERNET (DLT_EN10MB).
        case ethernet = 1
        /// LINKTYPE_LINUX_SLL: a 16-byte cooked header (captures on "any").
        case linuxSLL = 113
        /// LINKTYPE_LINUX_SLL2: a 20-byte cooked header.
        case linuxSLL2 = 276
    }

    /// Why a frame is not a test packet although it could be read: counted,
    /// never mixed in.
    public enum Foreign: String, Codable, Sendable, CaseIterable {
        case arp = "ARP"
        case otherEtherType = "other EtherType"
        case icmp = "ICMP"
        case tcp = "TCP"
        case otherIPProtocol = "other IP protocol"
        case ipFragment = "IPv4 fragment"
        case icmpv6 = "ICMPv6"
        case ipv6Fragment = "IPv6 fragment"
        /// More IPv6 extension headers than `maxIPv6Extensions`, or one this
        /// parser does not walk (AH, ESP): counted, not followed.
        case ipv6ExtensionsNotFollowed = "IPv6 extension headers not followed"
        case otherPort = "UDP, other port"
        case notWirepath = "UDP, not a Wirepath payload"
        case otherRun = "Wirepath, other run id"
    }

    /// Why a frame could not be read: counted with the reason.
    public enum Malformed: String, Codable, Sendable, CaseIterable {
        case truncatedLinkHeader = "shorter than its link-layer header"
        case truncatedVLAN = "cut inside a VLAN tag"
        case tooManyVLANTags = "more than two VLAN tags"
        case truncatedIPv4 = "cut inside the IPv4 header"
        case badIPv4Header = "bad IPv4 version or header length"
        case ipv4LengthMismatch = "IPv4 total length disagrees with the frame"
        case truncatedIPv6 = "cut inside the IPv6 header"
        case badIPv6Header = "bad IPv6 version"
        case ipv6LengthMismatch = "IPv6 payload length disagrees with the frame"
        case truncatedIPv6Extension = "cut inside an IPv6 extension header"
        case truncatedUDP = "cut inside the UDP header"
        case badUDPLength = "UDP length disagrees with the IPv4 length"
        case snappedBeforeTestHeader = "cut by the capture's snaplen before the end of the test header"
        case capturedLongerThanWire = "captured length larger than the frame's length on the wire"
    }

    /// The UDP checksum as it crossed the vantage point.
    public enum UDPChecksum: String, Codable, Sendable {
        /// Complete and correct.
        case valid
        /// The sender's stack left checksum offload to the device (veth does
        /// not compute it): the field holds only the pseudo-header sum and
        /// cannot be checked here. The receiving kernel trusts it.
        case offloaded
        /// Complete and wrong: the receiving kernel drops the datagram
        /// (UdpInCsumErrors) before any socket sees it.
        case bad
        /// 0: the sender sent none (legal for IPv4; over IPv6 a 0 is `bad`,
        /// since the checksum is mandatory there and the kernel drops it).
        case none
        /// The payload was cut by the snaplen; nothing to check.
        case unchecked
    }

    /// Whether the payload's own integrity check verified.
    public enum PayloadIntegrity: String, Codable, Sendable {
        case ok, failed
        /// The payload was cut by the snaplen; the header fields are there,
        /// the check cannot be computed.
        case unchecked
    }

    /// A test packet: the fields verification needs.
    public struct TestPacket: Equatable, Sendable {
        public var sourceMAC: UInt64
        public var destinationMAC: UInt64
        public var vlanTags: Int
        public var source: Endpoint
        public var destination: Endpoint
        public var header: PayloadHeader
        /// UDP payload bytes according to the UDP header.
        public var payloadLength: Int
        /// Frame bytes on the wire (pcap `len`).
        public var wireLength: Int
        /// The IPv4 header checksum verified (always true over IPv6, which
        /// has none).
        public var ipv4ChecksumOK: Bool
        public var udpChecksum: UDPChecksum
        public var integrity: PayloadIntegrity
        /// Control packets: the first body word (protocol 2: the version
        /// word, `ControlWire.Word`; protocol 1's begin: the flags, bit 0 =
        /// the syscall-counting window). nil when absent or cut.
        public var firstBodyWord: UInt64?

        /// True when the receiving kernel delivers it to a socket: its
        /// checksums do not give it away as damaged.
        public var deliverable: Bool { ipv4ChecksumOK && udpChecksum != .bad }
    }

    /// A UDP datagram that is not a test packet, with what the receiving
    /// kernel would do with it (a socket on its port receives it).
    public struct OtherUDP: Equatable, Sendable {
        public var source: Endpoint
        public var destination: Endpoint
        public var deliverable: Bool
    }

    public enum Parsed: Equatable, Sendable {
        case test(TestPacket)
        /// A UDP datagram without a valid Wirepath header.
        case udp(OtherUDP, Foreign)
        case foreign(Foreign)
        case malformed(Malformed)
    }

    static let etherTypeIPv4: UInt16 = 0x0800
    static let etherTypeARP: UInt16 = 0x0806
    static let etherTypeIPv6: UInt16 = 0x86DD
    static let etherTypeVLAN: UInt16 = 0x8100
    static let etherTypeQinQ: UInt16 = 0x88A8

    /// Bytes a snaplen must cover for the test header of an untagged
    /// Ethernet frame with a 20-byte IPv4 header.
    public static let minimumSnaplen = 14 + 20 + 8 + PayloadHeader.size
    /// Extension headers followed in front of an IPv6 packet's payload.
    public static let maxIPv6Extensions = 8

    /// Parses one captured frame. `bytes` is what was captured (pcap
    /// `caplen`), `wireLength` the frame's length on the wire (pcap `len`).
    public static func parse(_ bytes: UnsafeRawBufferPointer, wireLength: Int, linkType: LinkType = .ethernet) -> Parsed {
        let n = bytes.count
        guard n <= wireLength else { return .malformed(.capturedLongerThanWire) }
        var srcMAC: UInt64 = 0, dstMAC: UInt64 = 0
        var off: Int
        var etherType: UInt16
        switch linkType {
        case .ethernet:
            guard n >= 14 else { return .malformed(.truncatedLinkHeader) }
            dstMAC = mac(bytes, 0)
            srcMAC = mac(bytes, 6)
            etherType = be16(bytes, 12)
            off = 14
        case .linuxSLL:
            guard n >= 16 else { return .malformed(.truncatedLinkHeader) }
            // The sender's link-layer address when it has 6 bytes.
            if be16(bytes, 4) == 6 { srcMAC = mac(bytes, 6) }
            etherType = be16(bytes, 14)
            off = 16
        case .linuxSLL2:
            guard n >= 20 else { return .malformed(.truncatedLinkHeader) }
            if bytes[11] == 6 { srcMAC = mac(bytes, 12) }
            etherType = be16(bytes, 0)
            off = 20
        }
        var tags = 0
        while etherType == etherTypeVLAN || etherType == etherTypeQinQ {
            guard tags < 2 else { return .malformed(.tooManyVLANTags) }
            guard n >= off + 4 else { return .malformed(.truncatedVLAN) }
            etherType = be16(bytes, off + 2)
            off += 4
            tags += 1
        }
        switch etherType {
        case etherTypeIPv4: break
        case etherTypeARP: return .foreign(.arp)
        case etherTypeIPv6: return parseIPv6(bytes, at: off, wireLength: wireLength, srcMAC: srcMAC, dstMAC: dstMAC, tags: tags)
        default: return .foreign(.otherEtherType)
        }
        // The link header's share of the wire length; the rest is the packet.
        let wirePacket = wireLength - off
        guard n >= off + 20 else { return .malformed(.truncatedIPv4) }
        let ip = off
        let versionIHL = bytes[ip]
        let ihl = Int(versionIHL & 0x0F) * 4
        guard versionIHL >> 4 == 4, ihl >= 20 else { return .malformed(.badIPv4Header) }
        guard n >= ip + ihl else { return .malformed(.truncatedIPv4) }
        let totalLength = Int(be16(bytes, ip + 2))
        // Ethernet pads short frames, so the wire may carry more than the
        // IPv4 total length, never less.
        guard totalLength >= ihl, totalLength <= wirePacket else { return .malformed(.ipv4LengthMismatch) }
        let ipOK = Framing.onesComplementSum(UnsafeRawBufferPointer(rebasing: bytes[ip..<(ip + ihl)])) == 0xFFFF
        let proto = bytes[ip + 9]
        let fragment = be16(bytes, ip + 6)
        switch proto {
        case 17: break
        case 1: return .foreign(.icmp)
        case 6: return .foreign(.tcp)
        default: return .foreign(.otherIPProtocol)
        }
        guard fragment & 0x3FFF == 0 else { return .foreign(.ipFragment) }
        let udp = ip + ihl
        guard n >= udp + 8 else { return .malformed(.truncatedUDP) }
        let udpLength = Int(be16(bytes, udp + 4))
        guard udpLength >= 8, udpLength <= totalLength - ihl else { return .malformed(.badUDPLength) }
        let srcIP = be32(bytes, ip + 12), dstIP = be32(bytes, ip + 16)
        let source = Endpoint(address: srcIP, port: be16(bytes, udp))
        let destination = Endpoint(address: dstIP, port: be16(bytes, udp + 2))
        return parseUDP(bytes, udp: udp, udpLength: udpLength, source: source, destination: destination,
                        pseudo: Framing.pseudoHeaderSum(source: srcIP, destination: dstIP, udpLength: udpLength),
                        ipOK: ipOK, srcMAC: srcMAC, dstMAC: dstMAC, tags: tags, wireLength: wireLength)
    }

    /// The IPv6 packet at `ip`: its fixed header, then the hop-by-hop (0),
    /// routing (43) and destination-options (60) headers in front of UDP,
    /// each bounds-checked, at most `maxIPv6Extensions` of them.
    static func parseIPv6(_ bytes: UnsafeRawBufferPointer, at ip: Int, wireLength: Int, srcMAC: UInt64, dstMAC: UInt64,
                          tags: Int) -> Parsed {
        let n = bytes.count
        guard n >= ip + 40 else { return .malformed(.truncatedIPv6) }
        guard bytes[ip] >> 4 == 6 else { return .malformed(.badIPv6Header) }
        // Ethernet pads short frames, so the wire may carry more than the
        // header and payload length, never less. (A jumbogram's length 0
        // with its hop-by-hop option never fits an Ethernet frame.)
        let end = ip + 40 + Int(be16(bytes, ip + 4))
        guard end <= wireLength else { return .malformed(.ipv6LengthMismatch) }
        var next = bytes[ip + 6]
        var at = ip + 40
        var followed = 0
        while next == 0 || next == 43 || next == 60 {
            guard followed < maxIPv6Extensions else { return .foreign(.ipv6ExtensionsNotFollowed) }
            guard n >= at + 2 else { return .malformed(.truncatedIPv6Extension) }
            let length = (Int(bytes[at + 1]) + 1) * 8
            guard at + length <= end else { return .malformed(.ipv6LengthMismatch) }
            next = bytes[at]
            at += length
            followed += 1
        }
        switch next {
        case 17: break
        case 58: return .foreign(.icmpv6)
        case 6: return .foreign(.tcp)
        case 44: return .foreign(.ipv6Fragment)
        case 51, 50: return .foreign(.ipv6ExtensionsNotFollowed)
        default: return .foreign(.otherIPProtocol)
        }
        let udp = at
        guard n >= udp + 8 else { return .malformed(.truncatedUDP) }
        let udpLength = Int(be16(bytes, udp + 4))
        guard udpLength >= 8, udpLength <= end - udp else { return .malformed(.badUDPLength) }
        let src = IPv6Address(bytes: bytes.baseAddress! + ip + 8), dst = IPv6Address(bytes: bytes.baseAddress! + ip + 24)
        let source = Endpoint(ipv6: src, port: be16(bytes, udp))
        let destination = Endpoint(ipv6: dst, port: be16(bytes, udp + 2))
        return parseUDP(bytes, udp: udp, udpLength: udpLength, source: source, destination: destination,
                        pseudo: Framing.pseudoHeaderSum6(source: src, destination: dst, udpLength: udpLength),
                        ipOK: true, srcMAC: srcMAC, dstMAC: dstMAC, tags: tags, wireLength: wireLength)
    }

    /// The UDP datagram at `udp` (its length checked against the IP
    /// packet's), with `pseudo` its family's pseudo-header sum.
    static func parseUDP(_ bytes: UnsafeRawBufferPointer, udp: Int, udpLength: Int, source: Endpoint, destination: Endpoint,
                         pseudo: UInt16, ipOK: Bool, srcMAC: UInt64, dstMAC: UInt64, tags: Int, wireLength: Int) -> Parsed {
        let n = bytes.count
        let payload = udp + 8
        let payloadLength = udpLength - 8
        let available = min(n, payload + payloadLength) - payload
        let complete = available == payloadLength

        // The UDP checksum, when the whole datagram was captured.
        let stored = be16(bytes, udp + 6)
        var udpSum = UDPChecksum.unchecked
        if stored == 0 {
            // Mandatory over IPv6 (RFC 8200, 8.1): the kernel drops a 0.
            udpSum = source.isIPv6 ? .bad : .none
        } else if complete {
            let sum = Framing.onesComplementSum(UnsafeRawBufferPointer(rebasing: bytes[udp..<(udp + udpLength)]), initial: pseudo)
            if sum == 0xFFFF {
                udpSum = .valid
            } else if stored == pseudo || stored == ~pseudo {
                // CHECKSUM_PARTIAL: the stack stored the pseudo-header sum
                // for the device to finish (udp4_hwcsum / veth).
                udpSum = .offloaded
            } else {
                udpSum = .bad
            }
        }
        let deliverable = ipOK && udpSum != .bad

        guard payloadLength >= PayloadHeader.size else {
            return .udp(OtherUDP(source: source, destination: destination, deliverable: deliverable), .notWirepath)
        }
        guard available >= PayloadHeader.size else {
            // A cut frame: we cannot tell whether it is ours.
            return .malformed(.snappedBeforeTestHeader)
        }
        let head = UnsafeRawBufferPointer(rebasing: bytes[payload..<(payload + PayloadHeader.size)])
        guard case .header(let h) = PayloadHeader.parse(head) else {
            return .udp(OtherUDP(source: source, destination: destination, deliverable: deliverable), .notWirepath)
        }
        var integrity = PayloadIntegrity.unchecked
        if complete {
            integrity = Integrity.verify(UnsafeRawBufferPointer(rebasing: bytes[payload..<(payload + payloadLength)])) ? .ok : .failed
        }
        var word: UInt64?
        if available >= PayloadHeader.size + 8 {
            word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: payload + PayloadHeader.size, as: UInt64.self))
        }
        return .test(TestPacket(
            sourceMAC: srcMAC, destinationMAC: dstMAC, vlanTags: tags, source: source, destination: destination,
            header: h, payloadLength: payloadLength, wireLength: wireLength, ipv4ChecksumOK: ipOK,
            udpChecksum: udpSum, integrity: integrity, firstBodyWord: word))
    }

    @inline(__always)
    static func be16(_ b: UnsafeRawBufferPointer, _ off: Int) -> UInt16 {
        UInt16(b[off]) << 8 | UInt16(b[off + 1])
    }

    @inline(__always)
    static func be32(_ b: UnsafeRawBufferPointer, _ off: Int) -> UInt32 {
        UInt32(be16(b, off)) << 16 | UInt32(be16(b, off + 2))
    }

    @inline(__always)
    static func mac(_ b: UnsafeRawBufferPointer, _ off: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<6 { v = v << 8 | UInt64(b[off + i]) }
        return v
    }

    /// "aa:bb:cc:dd:ee:ff" for a 48-bit address.
    public static func macString(_ v: UInt64) -> String {
        (0..<6).map { i -> String in
            let b = UInt8(truncatingIfNeeded: v >> UInt64(40 - 8 * i))
            return (b < 16 ? "0" : "") + String(b, radix: 16)
        }.joined(separator: ":")
    }
}
