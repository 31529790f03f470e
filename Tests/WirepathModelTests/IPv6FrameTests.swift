import Foundation
import XCTest
import WirepathTestSupport
@testable import WirepathIO
@testable import WirepathModel

/// IPv6 addresses, the IPv6 UDP checksum, frames built by `Framing` and
/// parsed by the AF_XDP path's parser and by the wire audit's (plain,
/// VLAN-tagged, cooked, with extension headers, damaged), and the audit
/// of a whole IPv6 run.
final class IPv6FrameTests: XCTestCase {
    // MARK: Addresses

    func testBracketedIPv6EndpointsParse() throws {
        let e = try Endpoint.parse("[2001:2::1]:7000")
        XCTAssertTrue(e.isIPv6)
        XCTAssertEqual(e.address6, IPv6Address(high: 0x2001_0002_0000_0000, low: 1))
        XCTAssertEqual(e.port, 7000)
        XCTAssertEqual(e.address, 0)
        XCTAssertEqual(e.description, "[2001:2::1]:7000")
        XCTAssertEqual(e.addressString, "2001:2::1")
        XCTAssertTrue(e.isBenchmarkRange)
        XCTAssertFalse(try Endpoint.parse("[2001:3::1]:1").isBenchmarkRange)
        XCTAssertFalse(try Endpoint.parse("[2001:db8::2]:7000").isBenchmarkRange)
        XCTAssertEqual(try Endpoint.parse("[2001:2:0:ffff::2]", defaultPort: 9), Endpoint(ipv6: IPv6Address(high: 0x2001_0002_0000_FFFF, low: 2), port: 9))
        XCTAssertEqual(try Endpoint.parse("[::]:5"), Endpoint.any6.with(port: 5))
        // Round trip through the text form, and through JSON.
        let text = "[2001:2:ab:cd:ef01:2345:6789:abcd]:65535"
        XCTAssertEqual(try Endpoint.parse(text).description, text)
        let json = try JSONEncoder().encode(e)
        XCTAssertEqual(try JSONDecoder().decode(Endpoint.self, from: json), e)
        // An IPv4 endpoint still encodes as it did.
        let v4 = try JSONEncoder().encode(Endpoint(address: 0xC612_0002, port: 7000))
        XCTAssertEqual(String(decoding: v4, as: UTF8.self).contains("address6"), false)
        XCTAssertEqual(try JSONDecoder().decode(Endpoint.self, from: v4), Endpoint(address: 0xC612_0002, port: 7000))
    }

    func testBadIPv6EndpointsNameTheProblem() {
        let cases: [(String, String)] = [
            ("[2001:2::1:7000", "missing ']'"),
            ("[2001:2::1]", "missing port"),
            ("[2001:2::1]7000", "expected ':PORT'"),
            ("[2001:2::1]:0", "bad port"),
            ("[2001:2::1]:65536", "bad port"),
            ("2001:2::1:7000", "in brackets"),
            ("2001:2::1", "in brackets"),
            ("[fe80::1%wpc0]:7000", "zone ids"),
            ("[2001:2::g]:7000", "bad IPv6 address"),
            ("[198.18.0.1]:7000", "bad IPv6 address"),
            ("[]:7000", "bad IPv6 address"),
            ("2001:2::1]:7000", "']' without '['"),
            (String(repeating: "1", count: 200), "characters"),
        ]
        for (text, words) in cases {
            XCTAssertThrowsError(try Endpoint.parse(text), text) { e in
                XCTAssertTrue("\(e)".contains(words), "\(text): \(e)")
            }
        }
    }

    func testLocalWildcardTakesThePeersFamily() {
        let peer = Endpoint(ipv6: IPv6Address(high: 0x2001_0002_0000_0000, low: 2), port: 7000)
        XCTAssertEqual(Endpoint.any.wildcard(matching: peer), Endpoint.any6)
        XCTAssertEqual(Endpoint.any.with(port: 5).wildcard(matching: peer), Endpoint.any6.with(port: 5))
        let bound = Endpoint(address: 0xC612_0001, port: 0)
        XCTAssertEqual(bound.wildcard(matching: peer), bound, "a bound address is kept (and refused later if the family differs)")
        XCTAssertThrowsError(try PathConfig.validated(path: .socket, local: bound, peer: peer)) { e in
            XCTAssertTrue("\(e)".contains("address families differ"), "\(e)")
        }
        // IPv6's 40-byte header bounds the payload 20 bytes lower.
        XCTAssertNoThrow(try PathConfig.validated(path: .socket, local: .any6, payloadSize: 1452))
        XCTAssertThrowsError(try PathConfig.validated(path: .socket, local: .any6, payloadSize: 1453))
        XCTAssertNoThrow(try PathConfig.validated(path: .socket, local: .any, payloadSize: 1472))
    }

    // MARK: Checksum

    /// A known vector, computed apart from this code (Python's struct and
    /// ipaddress, following RFC 8200 section 8.1 word by word) for
    /// 2001:2::1 port 40000 to 2001:2::2 port 7000 with the payload
    /// "wirepath": pseudo-header sum 0x402a, checksum 0x3994.
    func testIPv6UDPChecksumMatchesAKnownVector() {
        let src = IPv6Address(high: 0x2001_0002_0000_0000, low: 1), dst = IPv6Address(high: 0x2001_0002_0000_0000, low: 2)
        var udp: [UInt8] = [0x9c, 0x40, 0x1b, 0x58, 0x00, 0x10, 0x00, 0x00] + Array("wirepath".utf8)
        let pseudo = Framing.pseudoHeaderSum6(source: src, destination: dst, udpLength: udp.count)
        XCTAssertEqual(pseudo, 0x402a)
        let sum = ~udp.withUnsafeBytes { Framing.onesComplementSum($0, initial: pseudo) }
        XCTAssertEqual(sum, 0x3994)
        udp[6] = 0x39; udp[7] = 0x94
        XCTAssertEqual(udp.withUnsafeBytes { Framing.onesComplementSum($0, initial: pseudo) }, 0xFFFF)
        // The 32-bit length of the pseudo-header: a length above 65535
        // (a jumbogram's) carries into the high word.
        XCTAssertEqual(Framing.pseudoHeaderSum6(source: .unspecified, destination: .unspecified, udpLength: 0x1_0000), 17 + 1)
    }

    // MARK: Frames

    func testBuiltFrameParsesInBothParsers() throws {
        var ff = FrameFactory(runID: 0x66, size: 100)
        ff.ipv6 = true
        let f = ff.frame(kind: .flood, seq: 7)
        XCTAssertEqual(f.count, Framing.headerSize6 + 100)
        XCTAssertEqual(Array(f[12..<14]), [0x86, 0xDD])
        let p = try XCTUnwrap(f.withUnsafeBytes { Framing.parseUDP($0) })
        XCTAssertEqual(p.source, FrameFactory.client6)
        XCTAssertEqual(p.destination, FrameFactory.reflector6)
        XCTAssertEqual(p.payloadOffset, Framing.headerSize6)
        XCTAssertEqual(p.payloadLength, 100)
        XCTAssertEqual(p.sourceMAC, FrameFactory.clientMAC)
        let sums = f.withUnsafeBytes { Framing.checksumsValid($0, p) }
        XCTAssertTrue(sums.ipv4 && sums.udp)
        guard case .test(let t) = f.withUnsafeBytes({ WireFrame.parse($0, wireLength: f.count) }) else { return XCTFail() }
        XCTAssertEqual(t.source, FrameFactory.client6)
        XCTAssertEqual(t.destination, FrameFactory.reflector6)
        XCTAssertEqual(t.header.seq, 7)
        XCTAssertEqual(t.udpChecksum, .valid)
        XCTAssertEqual(t.integrity, .ok)
        XCTAssertTrue(t.deliverable)
        // One flipped payload bit: the checksum and the integrity both fail.
        var bad = f
        bad[Framing.headerSize6 + 60] ^= 1
        guard case .test(let b) = bad.withUnsafeBytes({ WireFrame.parse($0, wireLength: bad.count) }) else { return XCTFail() }
        XCTAssertEqual(b.udpChecksum, .bad)
        XCTAssertEqual(b.integrity, .failed)
        XCTAssertFalse(bad.withUnsafeBytes { Framing.checksumsValid($0, p) }.udp)
        // A zero checksum is not "none" over IPv6: the kernel drops it.
        var zero = f
        zero[Framing.headerSize6 - 2] = 0; zero[Framing.headerSize6 - 1] = 0
        guard case .test(let z) = zero.withUnsafeBytes({ WireFrame.parse($0, wireLength: zero.count) }) else { return XCTFail() }
        XCTAssertEqual(z.udpChecksum, .bad)
        XCTAssertFalse(z.deliverable)
    }

    func testVLANAndCookedIPv6FramesParseLikeEthernet() throws {
        var ff = FrameFactory(runID: 0x5C)
        ff.ipv6 = true
        for tags in 0...2 {
            let f = ff.frame(kind: .ping, seq: 3, vlanTags: tags)
            guard case .test(let t) = f.withUnsafeBytes({ WireFrame.parse($0, wireLength: f.count) }) else { return XCTFail("tags \(tags)") }
            XCTAssertEqual(t.vlanTags, tags)
            XCTAssertEqual(t.destination, FrameFactory.reflector6)
            XCTAssertEqual(t.udpChecksum, .valid)
        }
        let eth = ff.frame(kind: .ping, seq: 9, vlanTags: 1)
        let src = Array(eth[6..<12]), proto = Array(eth[12..<14]), rest = Array(eth[14...])
        let sll: [UInt8] = [0, 4, 0, 1, 0, 6] + src + [0, 0] + proto + rest
        let sll2: [UInt8] = proto + [0, 0] + [0, 0, 0, 3] + [0, 1] + [4, 6] + src + [0, 0] + rest
        for (link, frame) in [(WireFrame.LinkType.linuxSLL, sll), (.linuxSLL2, sll2)] {
            guard case .test(let t) = frame.withUnsafeBytes({ WireFrame.parse($0, wireLength: frame.count, linkType: link) }) else {
                return XCTFail("\(link)")
            }
            XCTAssertEqual(t.header.seq, 9, "\(link)")
            XCTAssertEqual(t.vlanTags, 1, "\(link)")
            XCTAssertEqual(t.source, FrameFactory.client6, "\(link)")
            XCTAssertEqual(t.sourceMAC, FrameFactory.clientMAC.value, "\(link)")
            XCTAssertEqual(t.udpChecksum, .valid, "\(link)")
        }
    }

    /// `count` 8-byte extension headers of `type` inserted after the fixed
    /// header (the last one's next header is UDP), lengths fixed up.
    func withExtensions(_ f: [UInt8], type: UInt8, count: Int) -> [UInt8] {
        var out = Array(f[0..<54])
        out[20] = count > 0 ? type : 17
        for i in 0..<count { out += [i == count - 1 ? 17 : type, 0, 1, 4, 0, 0, 0, 0] }
        out += f[54...]
        let plen = Int(out[18]) << 8 | Int(out[19]) + 8 * count
        out[18] = UInt8(plen >> 8); out[19] = UInt8(plen & 0xFF)
        return out
    }

    func testExtensionHeadersAreFollowedOrCounted() throws {
        var ff = FrameFactory(runID: 0xE7)
        ff.ipv6 = true
        let f = ff.frame(kind: .flood, seq: 1)
        for type: UInt8 in [0, 43, 60] {
            let x = withExtensions(f, type: type, count: type == 0 ? 1 : 3)
            guard case .test(let t) = x.withUnsafeBytes({ WireFrame.parse($0, wireLength: x.count) }) else { return XCTFail("type \(type)") }
            XCTAssertEqual(t.header.seq, 1)
            XCTAssertEqual(t.udpChecksum, .valid, "the pseudo-header does not cover extension headers")
            // The AF_XDP parser takes only UDP right after the fixed header.
            XCTAssertNil(x.withUnsafeBytes { Framing.parseUDP($0) })
        }
        let many = withExtensions(f, type: 60, count: WireFrame.maxIPv6Extensions + 1)
        XCTAssertEqual(many.withUnsafeBytes { WireFrame.parse($0, wireLength: many.count) }, .foreign(.ipv6ExtensionsNotFollowed))
        // A fragment header, ICMPv6, AH: counted as what they are.
        var frag = f; frag[20] = 44
        XCTAssertEqual(frag.withUnsafeBytes { WireFrame.parse($0, wireLength: frag.count) }, .foreign(.ipv6Fragment))
        var icmp = f; icmp[20] = 58
        XCTAssertEqual(icmp.withUnsafeBytes { WireFrame.parse($0, wireLength: icmp.count) }, .foreign(.icmpv6))
        var ah = f; ah[20] = 51
        XCTAssertEqual(ah.withUnsafeBytes { WireFrame.parse($0, wireLength: ah.count) }, .foreign(.ipv6ExtensionsNotFollowed))
        // An extension header's length past the packet's end.
        var long = withExtensions(f, type: 60, count: 1)
        long[55] = 200
        XCTAssertEqual(long.withUnsafeBytes { WireFrame.parse($0, wireLength: long.count) }, .malformed(.ipv6LengthMismatch))
    }

    func testDamagedIPv6FramesAreMalformedNeverATrap() throws {
        var ff = FrameFactory(runID: 0xBAD)
        ff.ipv6 = true
        let f = ff.frame(kind: .flood, seq: 1)
        var v4 = f; v4[14] = 0x45
        XCTAssertEqual(v4.withUnsafeBytes { WireFrame.parse($0, wireLength: v4.count) }, .malformed(.badIPv6Header))
        var big = f; big[18] = 0xFF
        XCTAssertEqual(big.withUnsafeBytes { WireFrame.parse($0, wireLength: big.count) }, .malformed(.ipv6LengthMismatch))
        var udpLong = f; udpLong[58] = 0xFF
        XCTAssertEqual(udpLong.withUnsafeBytes { WireFrame.parse($0, wireLength: udpLong.count) }, .malformed(.badUDPLength))
        XCTAssertNil(udpLong.withUnsafeBytes { Framing.parseUDP($0) })
        // Every prefix of the frame, as a snaplen would cut it, and every
        // single-byte change in the headers: a verdict, never a trap.
        for n in 0...f.count {
            let cut = Array(f[0..<n])
            _ = cut.withUnsafeBytes { WireFrame.parse($0, wireLength: f.count) }
            _ = cut.withUnsafeBytes { Framing.parseUDP($0) }
        }
        XCTAssertEqual(Array(f[0..<40]).withUnsafeBytes { WireFrame.parse($0, wireLength: f.count) }, .malformed(.truncatedIPv6))
        let withExt = withExtensions(f, type: 0, count: 1)
        XCTAssertEqual(Array(withExt[0..<55]).withUnsafeBytes { WireFrame.parse($0, wireLength: withExt.count) }, .malformed(.truncatedIPv6Extension))
        for i in 0..<Framing.headerSize6 {
            for v: UInt8 in [0, 0xFF, 0x3C, 0x2B] {
                var m = withExt; m[i] = v
                _ = m.withUnsafeBytes { WireFrame.parse($0, wireLength: m.count) }
                _ = m.withUnsafeBytes { Framing.parseUDP($0) }
            }
        }
    }

    /// A whole IPv6 run through the audit: every request and echo counted,
    /// none foreign, as for IPv4 (the same counts as the IPv4 run's).
    func testAuditOfAnIPv6RunMatchesTheIPv4Run() {
        var v4 = FrameFactory(runID: 0x4444)
        var v6 = FrameFactory(runID: 0x4444)
        v6.ipv6 = true
        let s4 = WireAudit.run(v4.pingpong(count: 100, drop: [5]))
        let s6 = WireAudit.run(v6.pingpong(count: 100, drop: [5]))
        XCTAssertEqual(s6.foreign, [:])
        XCTAssertEqual(s6.malformed, [:])
        XCTAssertEqual(s6.runs.count, 1)
        XCTAssertEqual(s6.runs.map(\.clientToReflector.packets), s4.runs.map(\.clientToReflector.packets))
        XCTAssertEqual(s6.runs.map(\.reflectorToClient.unique), s4.runs.map(\.reflectorToClient.unique))
        XCTAssertEqual(s6.runs.first?.clientToReflector.unique, 99)
        let tagged = WireAudit.run(v6.pingpong(count: 20, vlanTags: 2))
        XCTAssertEqual(tagged.runs.first?.reflectorToClient.unique, 20)
    }

    func testSourceDropsOfIPv6Sources() {
        XCTAssertEqual(SourceDrops.reason(.any6.with(port: 5)), .unspecified)
        XCTAssertEqual(SourceDrops.reason(Endpoint(ipv6: IPv6Address(high: 0xFF02_0000_0000_0000, low: 1), port: 5)), .multicast)
        XCTAssertEqual(SourceDrops.reason(FrameFactory.client6.with(port: 0)), .portZero)
        XCTAssertNil(SourceDrops.reason(FrameFactory.client6))
    }
}
