import XCTest
@testable import WirepathIO
@testable import WirepathModel

/// Ethernet/IPv4/UDP framing and the RFC 1071 checksum, against values
/// computed independently: RFC 1071's own example, a textbook IPv4 header,
/// and two frames the kernel sent over veth (TX checksum offload off, so the
/// kernel computed both checksums in software), captured with tcpdump and
/// checked by tshark (`-o udp.check_checksum:TRUE`: both "[correct]").
final class FramingTests: XCTestCase {
    /// 34-byte payload "WPTH wirepath checksum test frame!", 198.18.5.1:40000
    /// -> 198.18.5.2:7000, IPv4 id 0x7d31, DF, TTL 64. IPv4 checksum 0x2756,
    /// UDP checksum 0x7c9c (tshark: both correct).
    static let evenFrame: [UInt8] = hex("""
        56 b2 97 5a ae fb 3e 58 37 4c 9f e3 08 00 45 00 00 3e 7d 31 40 00 40 11 27 56 c6 12 05 01 c6 12
        05 02 9c 40 1b 58 00 2a 7c 9c 57 50 54 48 20 77 69 72 65 70 61 74 68 20 63 68 65 63 6b 73 75 6d
        20 74 65 73 74 20 66 72 61 6d 65 21
        """)
    /// 37-byte (odd) payload, 198.18.5.1:40001 -> 198.18.5.2:7000, id 0x7e9f.
    /// IPv4 checksum 0x25e5, UDP checksum 0x998f (tshark: both correct).
    static let oddFrame: [UInt8] = hex("""
        56 b2 97 5a ae fb 3e 58 37 4c 9f e3 08 00 45 00 00 41 7e 9f 40 00 40 11 25 e5 c6 12 05 01 c6 12
        05 02 9c 41 1b 58 00 2d 99 8f 6f 64 64 2d 6c 65 6e 67 74 68 20 70 61 79 6c 6f 61 64 3a 20 33 37
        20 62 79 74 65 73 20 6c 6f 6e 67 21 21 21 21
        """)

    static func hex(_ s: String) -> [UInt8] {
        s.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { UInt8($0, radix: 16)! }
    }

    func testRFC1071Example() {
        // RFC 1071, section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
        let bytes: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
        bytes.withUnsafeBytes { b in
            XCTAssertEqual(Framing.onesComplementSum(b), 0xddf2)
            XCTAssertEqual(Framing.checksum(b), 0x220d)
            // Every split of the input gives the same sum (the 64-bit, 32-bit,
            // 16-bit and odd-byte steps of the loop agree with each other).
            for cut in stride(from: 0, through: 8, by: 2) {
                let a = Framing.onesComplementSum(UnsafeRawBufferPointer(rebasing: b[0..<cut]))
                XCTAssertEqual(Framing.onesComplementSum(UnsafeRawBufferPointer(rebasing: b[cut...]), initial: a), 0xddf2, "cut at \(cut)")
            }
        }
    }

    func testTextbookIPv4HeaderChecksum() {
        // 192.168.0.1 -> 192.168.0.199, total length 0x73, TTL 64, UDP:
        // the header checksum is b861.
        var header: [UInt8] = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                               0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7]
        XCTAssertEqual(header.withUnsafeBytes { Framing.checksum($0) }, 0xb861)
        header[10] = 0xb8; header[11] = 0x61
        XCTAssertEqual(header.withUnsafeBytes { Framing.onesComplementSum($0) }, 0xFFFF, "a header with its checksum sums to all ones")
    }

    func testOddLengthMatchesAWordByWordReference() {
        // A slow, obviously correct reference: big-endian 16-bit words.
        func reference(_ b: [UInt8]) -> UInt16 {
            var s: UInt32 = 0
            var i = 0
            while i < b.count {
                s += UInt32(b[i]) << 8 | UInt32(i + 1 < b.count ? b[i + 1] : 0)
                i += 2
            }
            while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
            return UInt16(s)
        }
        var g = SystemRandomNumberGenerator()
        for n in 0..<80 {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
            XCTAssertEqual(bytes.withUnsafeBytes { Framing.onesComplementSum($0) }, reference(bytes), "length \(n)")
        }
    }

    func testParsesCapturedFramesAndVerifiesTheirChecksums() throws {
        for (frame, payload, port, ipSum, udpSum) in [(Self.evenFrame, 34, UInt16(40000), UInt16(0x2756), UInt16(0x7c9c)),
                                                       (Self.oddFrame, 37, 40001, 0x25e5, 0x998f)] {
            try frame.withUnsafeBytes { b in
                let p = try XCTUnwrap(Framing.parseUDP(b))
                XCTAssertEqual(p.source, Endpoint(address: 0xC612_0501, port: port))
                XCTAssertEqual(p.destination, Endpoint(address: 0xC612_0502, port: 7000))
                XCTAssertEqual(p.sourceMAC.description, "3e:58:37:4c:9f:e3")
                XCTAssertEqual(p.destinationMAC.description, "56:b2:97:5a:ae:fb")
                XCTAssertEqual(p.payloadOffset, 42)
                XCTAssertEqual(p.payloadLength, payload)
                let v = Framing.checksumsValid(b, p)
                XCTAssertTrue(v.ipv4)
                XCTAssertTrue(v.udp)
                XCTAssertEqual(UInt16(b[24]) << 8 | UInt16(b[25]), ipSum)
                XCTAssertEqual(UInt16(b[40]) << 8 | UInt16(b[41]), udpSum)
            }
        }
    }

    /// Rebuilding the captured frames from their fields gives the kernel's
    /// bytes exactly, both checksums included.
    func testBuildsTheCapturedFramesByteForByte() throws {
        for (frame, port, id) in [(Self.evenFrame, UInt16(40000), UInt16(0x7d31)), (Self.oddFrame, 40001, 0x7e9f)] {
            var built = [UInt8](repeating: 0xAA, count: 128)
            let payload = frame[42...]
            let n = built.withUnsafeMutableBytes { b -> Int in
                for (i, byte) in payload.enumerated() { b[42 + i] = byte }
                return Framing.writeUDPHeaders(b.baseAddress!, capacity: b.count,
                                               sourceMAC: try! MACAddress.parse("3e:58:37:4c:9f:e3"),
                                               destinationMAC: try! MACAddress.parse("56:b2:97:5a:ae:fb"),
                                               source: Endpoint(address: 0xC612_0501, port: port),
                                               destination: Endpoint(address: 0xC612_0502, port: 7000),
                                               payloadLength: payload.count, ipID: id)
            }
            XCTAssertEqual(n, frame.count)
            XCTAssertEqual(Array(built[0..<n]), frame)
        }
    }

    func testCorruptionIsDetectedAndForeignFramesAreRejected() throws {
        var frame = Self.oddFrame
        frame[50] ^= 0x01 // one payload bit
        try frame.withUnsafeBytes { b in
            let p = try XCTUnwrap(Framing.parseUDP(b))
            XCTAssertFalse(Framing.checksumsValid(b, p).udp)
            XCTAssertTrue(Framing.checksumsValid(b, p).ipv4)
        }
        var arp = Self.evenFrame
        arp[12] = 0x08; arp[13] = 0x06
        XCTAssertNil(arp.withUnsafeBytes { Framing.parseUDP($0) })
        var tcp = Self.evenFrame
        tcp[23] = 6
        XCTAssertNil(tcp.withUnsafeBytes { Framing.parseUDP($0) })
        var fragment = Self.evenFrame
        fragment[20] = 0x20 // MF
        XCTAssertNil(fragment.withUnsafeBytes { Framing.parseUDP($0) })
        var long = Self.evenFrame
        long[17] = 0xff // IPv4 length beyond the frame
        XCTAssertNil(long.withUnsafeBytes { Framing.parseUDP($0) })
        XCTAssertNil(Array(Self.evenFrame[0..<41]).withUnsafeBytes { Framing.parseUDP($0) })
        // Ethernet padding after a short packet is allowed.
        XCTAssertNotNil((Self.evenFrame + [0, 0, 0, 0]).withUnsafeBytes { Framing.parseUDP($0) })
    }

    func testMACAddressParsing() throws {
        XCTAssertEqual(try MACAddress.parse("02:00:0a:0B:ff:01").description, "02:00:0a:0b:ff:01")
        XCTAssertEqual(try MACAddress.parse("02-00-00-00-00-01").value, 0x0200_0000_0001)
        for bad in ["", "02:00:00:00:00", "02:00:00:00:00:00:00", "zz:00:00:00:00:00", "123:0:0:0:0:0"] {
            XCTAssertThrowsError(try MACAddress.parse(bad)) { XCTAssertTrue("\($0)".contains("six hex octets"), "\($0)") }
        }
    }

    func testXDPOptionsValidationNamesRanges() throws {
        let local = Endpoint(address: 0xC612_0001, port: 0)
        let base = try PathConfig.validated(path: .xdp, local: local)
        XCTAssertEqual(base.xdp, XDPOptions())
        var s = XDPOptions()
        s.frameSize = 3000
        XCTAssertThrowsError(try base.with(xdp: s)) { XCTAssertTrue("\($0)".contains("power of two from 2048 to 4096"), "\($0)") }
        s.frameSize = 2048
        XCTAssertNoThrow(try base.with(xdp: s))
        s.ringSize = 100
        XCTAssertThrowsError(try base.with(xdp: s)) { XCTAssertTrue("\($0)".contains("power of two from 32 to 16384"), "\($0)") }
        s.ringSize = 32768
        XCTAssertThrowsError(try base.with(xdp: s))
        s.ringSize = 64
        let c = try base.with(xdp: s, interface: "wpc0")
        XCTAssertEqual(c.interface, "wpc0")
        XCTAssertEqual(c.xdp.ringSize, 64)
        // No frame holds the headroom and a 9000-byte MTU packet: the error
        // says the MTU is the problem and names the largest that fits.
        let jumbo = try PathConfig.validated(path: .xdp, local: local, mtu: 9000)
        XCTAssertThrowsError(try jumbo.with(xdp: XDPOptions())) {
            XCTAssertTrue("\($0)".contains("headroom") && "\($0)".contains("MTU to 3826 or less"), "\($0)")
        }
        // 3000 fits a 4096-byte frame but not a 2048-byte one.
        var small = XDPOptions()
        small.frameSize = 2048
        let mid = try PathConfig.validated(path: .xdp, local: local, mtu: 3000)
        XCTAssertNoThrow(try mid.with(xdp: XDPOptions()))
        XCTAssertThrowsError(try mid.with(xdp: small)) { XCTAssertTrue("\($0)".contains("use 4096"), "\($0)") }
        XCTAssertThrowsError(try XDPMode.parse("fast")) { XCTAssertTrue("\($0)".contains("auto, zerocopy, copy"), "\($0)") }
        XCTAssertThrowsError(try XDPAttachMode.parse("hw")) { XCTAssertTrue("\($0)".contains("native, skb"), "\($0)") }
    }
}
