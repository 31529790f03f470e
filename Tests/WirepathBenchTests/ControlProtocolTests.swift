import Foundation
import Glibc
import XCTest
@testable import WirepathBench
@testable import WirepathIO
@testable import WirepathModel

/// The control protocol's pieces, without a network: MACs, cookies, the
/// reply limiter, key files, and a client meeting a protocol-1 reflector.
final class ControlProtocolTests: XCTestCase {

    private func packet(_ op: ControlOp = .begin, key: ControlKey?, body: [UInt64] = []) -> [UInt8] {
        let batch = PacketBatch.control()
        ControlMessage.write(batch, op: op, runID: 42, seq: 7, to: .any, word: ControlWire.Word(value: UInt32(body.count)), body: body,
                             mac: key.map(ControlMAC.init), padTo: ControlWire.slot)
        return batch.withBytes(0) { Array($0[0..<batch.length(0)]) }
    }

    func testMACCoversHeaderAndBody() {
        let key = ControlKey(bytes: Array(repeating: 0x5A, count: 32))
        let mac = ControlMAC(key)
        let good = packet(key: key, body: [1, 2, 3])
        XCTAssertEqual(good.count, ControlWire.slot, "requests are padded to the slot")
        XCTAssertTrue(good.withUnsafeBytes { mac.verify($0) })
        XCTAssertTrue(good.withUnsafeBytes { Integrity.verify($0) })
        // Any byte but the check field changes the MAC's verdict.
        for offset in [0, 8, 16, 24, ControlWire.wordOffset, ControlWire.macOffset, ControlWire.prefix, ControlWire.slot - 1] {
            var bad = good
            bad[offset] ^= 1
            XCTAssertFalse(bad.withUnsafeBytes { mac.verify($0) }, "a flipped byte at \(offset) still verified")
        }
        XCTAssertFalse(good.withUnsafeBytes { ControlMAC(ControlKey(bytes: Array(repeating: 0x5B, count: 32))).verify($0) }, "another key")
        XCTAssertFalse(packet(key: nil).withUnsafeBytes { mac.verify($0) }, "no MAC")
        XCTAssertEqual(good.withUnsafeBytes { ControlMessage.word($0)?.flags }, ControlWire.hasMAC)
    }

    /// The wire audit's window opens where the reflector's does: at the
    /// begin that carries a cookie, not the one that asks for it (and, in
    /// an older capture, at protocol 1's begin with word 0).
    func testTheWireAuditsWindowOpensAtTheValidatedBegin() {
        let plain = ControlWire.Word().raw, counting = ControlWire.Word(flags: ControlWire.countSyscalls).raw
        XCTAssertFalse(ControlWire.opensMeasuredWindow(cookie: 0, firstBodyWord: plain), "asks for a cookie")
        XCTAssertTrue(ControlWire.opensMeasuredWindow(cookie: 0x1234_5679, firstBodyWord: plain))
        XCTAssertFalse(ControlWire.opensMeasuredWindow(cookie: 0x1234_5679, firstBodyWord: counting), "the syscall window")
        XCTAssertTrue(ControlWire.opensMeasuredWindow(cookie: 0, firstBodyWord: 0), "protocol 1")
        XCTAssertFalse(ControlWire.opensMeasuredWindow(cookie: 0, firstBodyWord: 1), "protocol 1's syscall window")
    }

    func testCookiesAreBoundToRunSourceAndTime() {
        let jar = CookieJar()
        let from = Endpoint(address: 0xC613_0101, port: 5000)
        let now: UInt64 = 1_000 * CookieJar.epochNs
        let c = jar.cookie(runID: 9, from: from, nowNs: now)
        XCTAssertNotEqual(c, 0)
        XCTAssertTrue(jar.valid(c, runID: 9, from: from, nowNs: now))
        XCTAssertTrue(jar.valid(c, runID: 9, from: from, nowNs: now + CookieJar.epochNs), "valid in the next epoch")
        XCTAssertFalse(jar.valid(c, runID: 9, from: from, nowNs: now + 2 * CookieJar.epochNs), "stale after two")
        XCTAssertFalse(jar.valid(c, runID: 10, from: from, nowNs: now), "another run")
        XCTAssertFalse(jar.valid(c, runID: 9, from: Endpoint(address: from.address, port: 5001), nowNs: now), "another port")
        XCTAssertFalse(jar.valid(c, runID: 9, from: Endpoint(address: 0xC613_0102, port: 5000), nowNs: now), "another address")
        XCTAssertFalse(CookieJar().valid(c, runID: 9, from: from, nowNs: now), "another serve's secret")
    }

    func testReplyLimiterBurstsThenRefillsPerAddress() {
        let limiter = ReplyLimiter()
        let t: UInt64 = 5_000_000_000
        var allowed = 0
        for _ in 0..<1000 where limiter.allow(1, nowNs: t) { allowed += 1 }
        XCTAssertEqual(allowed, Int(ReplyLimiter.burst))
        XCTAssertTrue(limiter.allow(2, nowNs: t), "another address has its own bucket")
        // Sub-millisecond calls earn nothing; a second earns `perSecond`.
        for k in 0..<1000 { XCTAssertFalse(limiter.allow(1, nowNs: t + UInt64(k) * 1_000)) }
        allowed = 0
        for _ in 0..<100 where limiter.allow(1, nowNs: t + 1_000_000_000) { allowed += 1 }
        XCTAssertEqual(allowed, Int(ReplyLimiter.perSecond))
        // Many sources: the table stays its size, and each new one gets a burst.
        for a in 0..<UInt64(10_000) { _ = limiter.allow(100 + a, nowNs: t) }
        XCTAssertTrue(limiter.allow(200_000, nowNs: t))
    }

    func testKeyFileChecks() throws {
        let dir = NSTemporaryDirectory() + "wirepath-\(getpid())-keys"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ name: String, _ bytes: Int, mode: mode_t) throws -> String {
            let p = dir + "/" + name
            try Data(repeating: 0x41, count: bytes).write(to: URL(fileURLWithPath: p))
            chmod(p, mode)
            return p
        }
        let good = try write("good", 32, mode: 0o600)
        XCTAssertEqual(try ControlKey.load(path: good).bytes.count, 32)
        func refused(_ path: String, _ text: String, file: StaticString = #filePath, line: UInt = #line) {
            do { _ = try ControlKey.load(path: path); XCTFail("\(path) accepted", file: file, line: line) } catch {
                XCTAssertTrue(error.message.contains(text), error.message, file: file, line: line)
            }
        }
        refused(try write("group", 32, mode: 0o640), "chmod 600")
        refused(try write("world", 32, mode: 0o604), "chmod 600")
        refused(try write("short", 8, mode: 0o600), "8 bytes, expected 16 to 4096")
        refused(try write("long", 5000, mode: 0o600), "expected 16 to 4096")
        refused(dir + "/missing", "ENOENT")
        refused(dir, "not a regular file")
        let link = dir + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: good)
        refused(link, "symbolic link")
        // The option wins over the environment; the environment is used alone.
        XCTAssertNil(try ControlKey.load(option: nil, environment: [:]))
        XCTAssertNotNil(try ControlKey.load(option: nil, environment: [ControlKey.environment: good]))
        do { _ = try ControlKey.load(option: dir + "/missing", environment: [ControlKey.environment: good]); XCTFail("option ignored") } catch {
            XCTAssertTrue(error.message.hasPrefix("--key-file"), error.message)
        }
    }

    /// A client with a key takes a reply only from its peer's address and
    /// port, and only with a valid MAC: a well-signed beginAck from another
    /// port of the same host, and one from the peer signed with another key,
    /// are both ignored, and the client says why it gave up.
    func testClientTakesRepliesOnlyFromItsPeerWithAValidMAC() throws {
        func udp() -> (Int32, UInt16) {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var a = HostileInputTests.socketAddress(0x7F00_0001, 0)
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
            _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            var tv = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            return (fd, UInt16(bigEndian: a.sin_port))
        }
        let (peerFD, peerPort) = udp(), (otherFD, _) = udp()
        defer { close(peerFD); close(otherFD) }
        let key = ControlKey(bytes: Array(repeating: 7, count: 32)), wrong = ControlKey(bytes: Array(repeating: 8, count: 32))
        let fake = try OSThread(name: "impostor", netns: nil, cpu: nil) { () -> Int in
            var answered = 0
            var buf = [UInt8](repeating: 0, count: 2048)
            let reply = PacketBatch.control()
            for _ in 0..<40 {
                var from = sockaddr_in()
                var fromLen = socklen_t(MemoryLayout<sockaddr_in>.size)
                let n = withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(peerFD, &buf, buf.count, 0, $0, &fromLen) } }
                guard n >= ControlWire.prefix, case .header(let h) = buf.withUnsafeBytes({ PayloadHeader.parse($0) }), h.kind == .control else { continue }
                for (fd, signer) in [(otherFD, key), (peerFD, wrong)] {
                    ControlMessage.write(reply, op: .beginAck, runID: h.runID, seq: h.seq, to: .any, mac: ControlMAC(signer))
                    _ = reply.withBytes(0) { b in
                        withUnsafePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, b.baseAddress, reply.length(0), 0, $0, fromLen) } }
                    }
                }
                answered += 1
                if answered == 10 { break }
            }
            return answered
        }
        let peer = Endpoint(address: 0x7F00_0001, port: peerPort)
        let config = PathConfig(path: .socket, local: Endpoint(address: 0x7F00_0001, port: 0), peer: peer)
        var plan = MeasurementPlan(durationNs: nil, count: 10, warmupNs: 0, timeoutNs: 10_000_000)
        plan.controlKey = key
        XCTAssertThrowsError(try Measure.pingpong(config, peer: peer, plan: plan, stop: StopSignal())) { e in
            XCTAssertTrue("\(e)".contains("control begin to \(peer)"), "the window never opened: \(e)")
            XCTAssertTrue("\(e)".contains("did not answer after 10 tries"), "\(e)")
            XCTAssertTrue("\(e)".contains("replies with a MAC that did not verify were ignored"), "\(e)")
        }
        XCTAssertEqual(try fake.join(), 10, "every try was answered, twice, and never taken")
    }

    /// A reflector of protocol 1 answers a begin with a bare 40-byte
    /// beginAck; the client stops at once and says to run one version.
    func testClientNamesAnOlderReflector() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var local = HostileInputTests.socketAddress(0x7F00_0001, 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = UInt16(bigEndian: local.sin_port)
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let old = try OSThread(name: "protocol-1", netns: nil, cpu: nil) { () -> Int in
            var answered = 0
            var buf = [UInt8](repeating: 0, count: 2048)
            for _ in 0..<50 {
                var from = sockaddr_in()
                var fromLen = socklen_t(MemoryLayout<sockaddr_in>.size)
                let n = withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, 0, $0, &fromLen) } }
                guard n >= 40, buf[5] == PayloadHeader.Kind.control.rawValue else { continue }
                // Protocol 1's beginAck: the header alone, check over it.
                buf[6] = UInt8(ControlOp.beginAck.rawValue)
                let check = buf.withUnsafeBytes { Integrity.compute(UnsafeRawBufferPointer(rebasing: $0[0..<40])) }
                buf.withUnsafeMutableBytes { $0.storeBytes(of: check.littleEndian, toByteOffset: 32, as: UInt64.self) }
                _ = withUnsafePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buf, 40, 0, $0, fromLen) } }
                answered += 1
                if answered == 1 { break }
            }
            return answered
        }
        let config = PathConfig(path: .socket, local: Endpoint(address: 0x7F00_0001, port: 0), peer: Endpoint(address: 0x7F00_0001, port: port))
        let plan = MeasurementPlan(durationNs: nil, count: 10, warmupNs: 0, timeoutNs: 10_000_000)
        XCTAssertThrowsError(try Measure.pingpong(config, peer: Endpoint(address: 0x7F00_0001, port: port), plan: plan, stop: StopSignal())) { e in
            XCTAssertTrue("\(e)".contains("speaks an older control protocol (1) than this client (2)"), "\(e)")
        }
        XCTAssertEqual(try old.join(), 1)
    }
}
