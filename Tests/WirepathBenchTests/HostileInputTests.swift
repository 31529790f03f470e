import Foundation
import Glibc
import XCTest
@testable import WirepathBench
@testable import WirepathRender
@testable import WirepathIO
@testable import WirepathModel

/// Issue 11, items 1 and 7: no packet stops the reflector, and no number
/// from outside traps. The integration tests run a real `serve` in a
/// namespace of their own while a real client measures, and send it what a
/// network may: pings from source port 0, from 0.0.0.0 (to the limited
/// broadcast, the one way such a packet reaches a socket), and pings whose
/// replies a firewall in the reflector's output hook drops (sendto: EPERM).
final class HostileInputTests: XCTestCase {

    // MARK: Unit: options and peer reports

    /// `serve --idle-exit` and `--duration` refuse what their conversion to
    /// nanoseconds would trap on, and name the range.
    func testServeRefusesBadIdleExitAndDuration() throws {
        let bin = try wirepathBinary()
        for bad in ["-1", "0", "nan", "inf", "-inf", "1e30", "604801"] {
            let r = try runProgram(bin, ["serve", "--bind", "127.0.0.1:7399", "--idle-exit=\(bad)"], timeout: 20)
            XCTAssertNotEqual(r.status, 0, "--idle-exit \(bad) was accepted")
            XCTAssertTrue(r.stderr.contains("--idle-exit must be in (0, 604800] seconds"), "--idle-exit \(bad): \(r.stderr)")
            let d = try runProgram(bin, ["serve", "--bind", "127.0.0.1:7399", "--duration=\(bad)"], timeout: 20)
            XCTAssertNotEqual(d.status, 0, "--duration \(bad) was accepted")
            XCTAssertTrue(d.stderr.contains("--duration must be in (0, 604800] seconds"), "--duration \(bad): \(d.stderr)")
        }
        for (option, bad, message) in [("--max-sessions", "0", "--max-sessions must be in [1, 64]"), ("--max-sessions", "65", "--max-sessions must be in [1, 64]"),
                                       ("--session-timeout", "0", "--session-timeout must be in [1, 3600] seconds"),
                                       ("--session-timeout", "nan", "--session-timeout must be in [1, 3600] seconds"),
                                       ("--session-timeout", "1e30", "--session-timeout must be in [1, 3600] seconds")] {
            let r = try runProgram(bin, ["serve", "--bind", "127.0.0.1:7399", "\(option)=\(bad)"], timeout: 20)
            XCTAssertNotEqual(r.status, 0, "\(option) \(bad) was accepted")
            XCTAssertTrue(r.stderr.contains(message), "\(option) \(bad): \(r.stderr)")
        }
    }

    /// A reflector's report with every field at its largest decodes and
    /// renders without trapping: the sums that take its figures saturate.
    func testPeerReportWithHugeValuesRendersWithoutTrapping() throws {
        var r = PeerReport(path: .uring)
        r.cost = ThreadCost(syscalls: .max - 1, syscallsUnavailable: nil, userNs: .max, systemNs: .max,
                            voluntaryContextSwitches: .max, involuntaryContextSwitches: .max, wallNs: .max)
        r.cost?.kernelThreadNs = .max
        r.cost?.extraThreads = ["iou-sqp-1"]
        var fields = r.encode()
        // Every count at its largest (the path, flags and the window's first
        // and last packet stay consistent: those are range-checked).
        for i in fields.indices where ![0, 8, 9, 16, PeerReport.baseFieldCount + 6].contains(i) { fields[i] = .max }
        fields[8] = 0
        fields[9] = .max
        let decoded = try XCTUnwrap(PeerReport.decode(fields), "a report of huge counts is still a report")
        XCTAssertEqual(decoded.zcCopied, .max)
        XCTAssertEqual(decoded.cost?.cpuNs, .max, "CPU time saturates")
        for packets: UInt64 in [1, .max] {
            let end = EndReport(reflector: decoded, packets: packets, syscallWindow: decoded, syscallPackets: packets)
            XCTAssertFalse(TextReport.costLine(end.cost).isEmpty)
            XCTAssertFalse(TextReport.perPacket(end.cost).isEmpty)
            XCTAssertTrue(TextReport.zeroCopyLine(end).contains("\(UInt64.max) notifications"))
            XCTAssertFalse(TextReport.zeroCopyVerdict([end, end]).isEmpty)
            XCTAssertNotNil(TextReport.reflectorDropsLine(end))
        }
        XCTAssertLessThanOrEqual(fields.count, PeerReport.maxFieldCount, "the report fits one control packet")
        // The drop and send-failure counts cross the wire (saturating at 2^32 - 1).
        var counted = PeerReport(path: .socket)
        counted.droppedSources.portZero = 3; counted.droppedSources.multicast = 1 << 40
        counted.sendFailures = ["EPERM": 7, "other": 2]
        let back = try XCTUnwrap(PeerReport.decode(counted.encode()))
        XCTAssertEqual(back.droppedSources.portZero, 3)
        XCTAssertEqual(back.droppedSources.multicast, UInt64(UInt32.max))
        XCTAssertEqual(back.sendFailures, ["EPERM": 7, "other": 2])
        // Inconsistent reports are refused, not rendered.
        var backwards = fields
        backwards[8] = 10; backwards[9] = 5
        XCTAssertNil(PeerReport.decode(backwards), "last packet before first")
        var flag = fields
        flag[16] = 2
        XCTAssertNil(PeerReport.decode(flag), "cost flag other than 0 or 1")
    }

    /// The reflector's source check, one case per reason.
    func testSourceDropReasons() {
        XCTAssertEqual(SourceDrops.reason(Endpoint(address: 0xC613_0101, port: 0)), .portZero)
        XCTAssertEqual(SourceDrops.reason(Endpoint(address: 0, port: 5555)), .unspecified)
        XCTAssertEqual(SourceDrops.reason(Endpoint(address: 0x0001_0203, port: 5555)), .unspecified)
        XCTAssertEqual(SourceDrops.reason(Endpoint(address: 0xFFFF_FFFF, port: 5555)), .broadcast)
        XCTAssertEqual(SourceDrops.reason(Endpoint(address: 0xE000_00FB, port: 5353)), .multicast)
        XCTAssertEqual(SourceDrops.reason(Endpoint(address: 0xEFFF_FFFF, port: 5353)), .multicast)
        XCTAssertNil(SourceDrops.reason(Endpoint(address: 0xC613_0101, port: 5555)))
        XCTAssertEqual(SendFailure(Errno(rawValue: EPERM)), .eperm)
        XCTAssertEqual(SendFailure(Errno(rawValue: EIO)), .other)
    }

    // MARK: Integration: a real serve under hostile input

    func testSocketReflectorSurvivesHostileInput() throws { try hostile(path: "socket", subnet: 41, port: 7411) }
    func testMmsgReflectorSurvivesHostileInput() throws { try hostile(path: "mmsg", subnet: 42, port: 7412) }
    func testUringReflectorSurvivesHostileInput() throws {
        if let why = availability(.uring) { try Missing("uring: \(why)").end() }
        try hostile(path: "uring", subnet: 43, port: 7413)
    }

    /// How many of each hostile packet the test sends.
    static let each = 20
    /// The source port of the pings whose replies the firewall drops.
    static let firewalledPort: UInt16 = 5555

    private func hostile(path: String, subnet: Int, port: UInt16) throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let a = "wirepath-\(getpid())-h\(subnet)A"
        let b = "wirepath-\(getpid())-h\(subnet)B"
        let clientAddress = "198.19.\(subnet).1", reflectorAddress = "198.19.\(subnet).2"
        defer { _ = try? ip("netns", "del", a); _ = try? ip("netns", "del", b) }
        for args in [["netns", "add", a], ["netns", "add", b],
                     ["link", "add", "ha", "netns", a, "type", "veth", "peer", "name", "hb", "netns", b],
                     ["-n", a, "addr", "add", "\(clientAddress)/24", "dev", "ha"],
                     ["-n", b, "addr", "add", "\(reflectorAddress)/24", "dev", "hb"],
                     ["-n", a, "link", "set", "ha", "up"], ["-n", b, "link", "set", "hb", "up"],
                     ["-n", a, "link", "set", "lo", "up"], ["-n", b, "link", "set", "lo", "up"]] {
            let r = try runProgram("/usr/sbin/ip", args, timeout: 10)
            guard r.status == 0 else { throw ConfigError("ip \(args.joined(separator: " ")): \(r.stderr)") }
        }
        // The firewall: replies to the firewalled port die in the output hook (sendto: EPERM).
        let rules = NSTemporaryDirectory() + "wirepath-\(getpid())-h\(subnet).nft"
        try """
        table ip wirepath_hostile {
            chain out {
                type filter hook output priority 0; policy accept;
                udp sport \(port) udp dport \(Self.firewalledPort) drop
            }
        }
        """.write(toFile: rules, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: rules) }
        let nft = try runProgram("/usr/sbin/ip", ["netns", "exec", b, "nft", "-f", rules], timeout: 10)
        guard nft.status == 0 else { throw ConfigError("nft: \(nft.stderr)") }
        let mac = try macAddress(namespace: b, interface: "hb")

        // serve on 0.0.0.0, so that the limited broadcast reaches it too.
        final class Box: @unchecked Sendable { var ran: Ran? }
        let served = Box()
        let serveDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            served.ran = try? runProgram("/usr/sbin/ip", ["netns", "exec", b, bin, "serve", "--path", path,
                                                          "--bind", "0.0.0.0:\(port)", "--duration", "60", "--idle-exit", "5"], timeout: 90)
            serveDone.signal()
        }
        // Polled up to 60 s: on a loaded host serve took more than 10 s to
        // bind, and a client started before it timed out on its begin.
        let until = Date().addingTimeInterval(60)
        var bound = false
        while Date() < until && !bound {
            let ss = try runProgram("/usr/sbin/ip", ["netns", "exec", b, "ss", "-Hunl", "sport", "= :\(port)"], timeout: 10)
            bound = !ss.stdout.isEmpty
            if !bound { usleep(50_000) }
        }
        XCTAssertTrue(bound, "serve did not bind :\(port) within 60 s")

        let client = Box()
        let clientDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            client.ran = try? runProgram("/usr/sbin/ip", ["netns", "exec", a, bin, "pingpong", "--path", path,
                                                          "--peer", "\(reflectorAddress):\(port)", "--duration", "2",
                                                          "--warmup", "0.2", "--quiet"], timeout: 60)
            clientDone.signal()
        }
        usleep(700_000) // inside the client's measured window

        let src = try Endpoint.parseIPv4(clientAddress), dst = try Endpoint.parseIPv4(reflectorAddress)
        let sender = try OSThread(name: "hostile", netns: a, cpu: nil) { () throws -> Void in
            let ping = Self.ping()
            for i in 0..<Self.each {
                // Source port 0, to the reflector.
                try Self.sendFrame(interface: "ha", destinationMAC: mac, source: src, destination: dst,
                                   sourcePort: 0, destinationPort: port, payload: ping)
                // Source 0.0.0.0, to the limited broadcast.
                try Self.sendFrame(interface: "ha", destinationMAC: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], source: 0,
                                   destination: 0xFFFF_FFFF, sourcePort: 6000 + UInt16(i), destinationPort: port, payload: ping)
                usleep(5_000)
            }
            // Pings from the firewalled port: their replies fail with EPERM.
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { throw ConfigError("socket: errno \(errno)") }
            defer { close(fd) }
            var local = Self.socketAddress(src, Self.firewalledPort)
            let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0 else { throw ConfigError("bind: errno \(errno)") }
            var peer = Self.socketAddress(dst, port)
            for _ in 0..<Self.each {
                let n = ping.withUnsafeBytes { p in
                    withUnsafePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, p.baseAddress, p.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    } }
                }
                guard n == ping.count else { throw ConfigError("sendto: errno \(errno)") }
                usleep(5_000)
            }
        }
        try sender.join()

        XCTAssertEqual(clientDone.wait(timeout: .now() + 60), .success)
        let c = try XCTUnwrap(client.ran)
        XCTAssertEqual(c.status, 0, "the client's run did not complete: \(c.stderr)")
        // serve ends 5 s after the last packet, however long a loaded host
        // took to run the client.
        XCTAssertEqual(serveDone.wait(timeout: .now() + 90), .success)
        let s = try XCTUnwrap(served.ran)
        XCTAssertEqual(s.status, 0, "serve did not stay up: \(s.stderr)")
        let line = try XCTUnwrap(s.stderr.split(separator: "\n").first { $0.contains("served ") }.map(String.init), s.stderr)
        XCTAssertFalse(line.contains("served 0 measured windows"), line)
        XCTAssertTrue(line.contains("port 0: \(Self.each)"), line)
        XCTAssertTrue(line.contains("0.0.0.0/8: \(Self.each)"), line)
        XCTAssertTrue(line.contains("send failures \(Self.each) (EPERM \(Self.each))"), line)
    }

    /// A ping as a client sends it (any run id: the reflector echoes pings
    /// of every run).
    static func ping() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 64)
        let stamper = PayloadStamper(runID: 0xBAD_BAD, size: bytes.count)
        bytes.withUnsafeMutableBytes { slot in
            stamper.prepare(slot)
            stamper.stamp(slot, kind: .ping, seq: 1, timestamp: 1)
        }
        return bytes
    }

    static func socketAddress(_ address: UInt32, _ port: UInt16) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = address.bigEndian
        return a
    }

    /// The interface's MAC address in a namespace, from `ip -o link`.
    private func macAddress(namespace: String, interface: String) throws -> [UInt8] {
        let r = try runProgram("/usr/sbin/ip", ["-n", namespace, "-o", "link", "show", interface], timeout: 10)
        let words = r.stdout.split(separator: " ")
        guard let i = words.firstIndex(of: "link/ether"), i + 1 < words.count else { throw ConfigError("no MAC in: \(r.stdout)") }
        return words[i + 1].split(separator: ":").compactMap { UInt8($0, radix: 16) }
    }

    /// Sends one IPv4/UDP datagram built by hand through an AF_PACKET
    /// socket: the only way to send from port 0 or from 0.0.0.0 (a UDP
    /// socket cannot bind port 0, and a raw IP socket fills in a zero
    /// source address). The UDP checksum is 0 (none, as IPv4 allows).
    static func sendFrame(interface: String, destinationMAC: [UInt8], source: UInt32, destination: UInt32,
                          sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8]) throws {
        let ethIP: UInt16 = 0x0800
        let fd = socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue), Int32(ethIP.bigEndian))
        guard fd >= 0 else { throw ConfigError("socket(AF_PACKET): errno \(errno)") }
        defer { close(fd) }
        var ip = [UInt8](repeating: 0, count: 20)
        let total = 20 + 8 + payload.count
        ip[0] = 0x45; ip[2] = UInt8(total >> 8); ip[3] = UInt8(total & 0xff)
        ip[6] = 0x40; ip[8] = 64; ip[9] = UInt8(IPPROTO_UDP)
        for k in 0..<4 {
            ip[12 + k] = UInt8(truncatingIfNeeded: source >> (24 - 8 * UInt32(k)))
            ip[16 + k] = UInt8(truncatingIfNeeded: destination >> (24 - 8 * UInt32(k)))
        }
        var sum: UInt32 = 0
        for k in stride(from: 0, to: 20, by: 2) { sum += UInt32(ip[k]) << 8 | UInt32(ip[k + 1]) }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        let check = ~UInt16(sum)
        ip[10] = UInt8(check >> 8); ip[11] = UInt8(check & 0xff)
        let udpLength = 8 + payload.count
        let udp: [UInt8] = [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff), UInt8(destinationPort >> 8), UInt8(destinationPort & 0xff),
                            UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 0, 0]
        let packet = ip + udp + payload
        // struct sockaddr_ll, which Glibc's module does not import: family,
        // protocol (network order), ifindex, hatype, pkttype, halen, addr[8].
        var to = [UInt8](repeating: 0, count: 20)
        to.withUnsafeMutableBytes { b in
            b.storeBytes(of: UInt16(AF_PACKET), toByteOffset: 0, as: UInt16.self)
            b.storeBytes(of: ethIP.bigEndian, toByteOffset: 2, as: UInt16.self)
            b.storeBytes(of: Int32(if_nametoindex(interface)), toByteOffset: 4, as: Int32.self)
            b[11] = 6
            for k in 0..<6 { b[12 + k] = destinationMAC[k] }
        }
        let n = packet.withUnsafeBytes { p in
            to.withUnsafeBytes { a in
                sendto(fd, p.baseAddress, p.count, 0, a.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
            }
        }
        guard n == packet.count else { throw ConfigError("sendto(AF_PACKET on \(interface)): errno \(errno)") }
    }
}
