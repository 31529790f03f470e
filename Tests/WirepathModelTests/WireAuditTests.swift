import XCTest
import WirepathTestSupport
@testable import WirepathIO
@testable import WirepathModel
@testable import WirepathRender

extension WireAudit {
    /// Both passes over in-memory frames, 10 µs apart.
    static func run(_ frames: [[UInt8]], port: UInt16 = 7000) -> WireSummary {
        let a = WireAudit(reflectorPort: port, linkType: .ethernet, snaplen: 65535)
        for f in frames { f.withUnsafeBytes { a.learn($0, wireLength: f.count) } }
        a.endLearning()
        for (i, f) in frames.enumerated() { f.withUnsafeBytes { a.add($0, wireLength: f.count, timestampNs: UInt64(i) * 10_000) } }
        return a.finish()
    }
}

final class WireFrameTests: XCTestCase {
    func testParsesATestFrameWithAndWithoutVLANTags() throws {
        for tags in 0...2 {
            var ff = FrameFactory(runID: 0xABC)
            let f = ff.frame(kind: .flood, seq: 42, vlanTags: tags)
            let parsed = f.withUnsafeBytes { WireFrame.parse($0, wireLength: f.count) }
            guard case .test(let t) = parsed else { return XCTFail("tags \(tags): \(parsed)") }
            XCTAssertEqual(t.vlanTags, tags)
            XCTAssertEqual(t.header.seq, 42)
            XCTAssertEqual(t.header.runID, 0xABC)
            XCTAssertEqual(t.destination, FrameFactory.reflector)
            XCTAssertEqual(t.integrity, .ok)
            XCTAssertEqual(t.udpChecksum, .valid)
            XCTAssertTrue(t.ipv4ChecksumOK)
            XCTAssertEqual(t.sourceMAC, FrameFactory.clientMAC.value)
        }
        var ff = FrameFactory(runID: 1)
        let three = ff.frame(kind: .flood, seq: 1, vlanTags: 3)
        XCTAssertEqual(three.withUnsafeBytes { WireFrame.parse($0, wireLength: three.count) }, .malformed(.tooManyVLANTags))
    }

    /// Linux cooked captures (`tcpdump -i any`: SLL, and SLL2 since
    /// libpcap 1.10) carry the same frame behind another link header: the
    /// test header, the flow and the sender's MAC parse as from Ethernet.
    func testCookedCapturesParseLikeEthernet() throws {
        var ff = FrameFactory(runID: 0x5C11)
        let eth = ff.frame(kind: .ping, seq: 9, vlanTags: 1)
        guard case .test(let want) = eth.withUnsafeBytes({ WireFrame.parse($0, wireLength: eth.count) }) else { return XCTFail() }
        let src = Array(eth[6..<12]), proto = Array(eth[12..<14]), rest = Array(eth[14...])
        // SLL: packet type, ARPHRD_ETHER, address length 6, address (8, padded), protocol.
        let sll: [UInt8] = [0, 4, 0, 1, 0, 6] + src + [0, 0] + proto + rest
        // SLL2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length 6, address (8).
        let sll2: [UInt8] = proto + [0, 0] + [0, 0, 0, 3] + [0, 1] + [4, 6] + src + [0, 0] + rest
        for (link, frame) in [(WireFrame.LinkType.linuxSLL, sll), (.linuxSLL2, sll2)] {
            guard case .test(let t) = frame.withUnsafeBytes({ WireFrame.parse($0, wireLength: frame.count, linkType: link) }) else {
                return XCTFail("\(link): not parsed as a test frame")
            }
            XCTAssertEqual(t.header, want.header, "\(link)")
            XCTAssertEqual(t.vlanTags, 1, "\(link)")
            XCTAssertEqual(t.destination, want.destination, "\(link)")
            XCTAssertEqual(t.sourceMAC, want.sourceMAC, "\(link)")
            XCTAssertEqual(t.integrity, .ok, "\(link)")
            XCTAssertEqual(t.udpChecksum, .valid, "\(link)")
            let cut = Array(frame.prefix(link == .linuxSLL ? 15 : 19))
            XCTAssertEqual(cut.withUnsafeBytes { WireFrame.parse($0, wireLength: cut.count, linkType: link) }, .malformed(.truncatedLinkHeader))
        }
    }

    func testOffloadedChecksumIsRecognisedNotBlamed() {
        var ff = FrameFactory(runID: 7)
        var f = ff.frame(kind: .ping, seq: 1)
        // What the stack leaves for the device under CHECKSUM_PARTIAL: the
        // folded pseudo-header sum.
        let pseudo = Framing.pseudoHeaderSum(source: FrameFactory.client.address, destination: FrameFactory.reflector.address, udpLength: 8 + 64)
        f[40] = UInt8(pseudo >> 8); f[41] = UInt8(pseudo & 0xFF)
        guard case .test(let t) = f.withUnsafeBytes({ WireFrame.parse($0, wireLength: f.count) }) else { return XCTFail() }
        XCTAssertEqual(t.udpChecksum, .offloaded)
        XCTAssertTrue(t.deliverable)
    }

    func testForeignAndMalformedAreNamed() {
        var ff = FrameFactory(runID: 7)
        var arp = ff.frame(kind: .ping, seq: 1); arp[12] = 0x08; arp[13] = 0x06
        var icmp = ff.frame(kind: .ping, seq: 1); icmp[23] = 1
        var other = ff.frame(kind: .ping, seq: 1); other[42] = 0x00 // magic broken
        let cases: [([UInt8], WireFrame.Parsed)] = [
            (Array(arp), .foreign(.arp)),
            (icmp, .foreign(.icmp)),
            (Array(ff.frame(kind: .ping, seq: 1)[0..<20]), .malformed(.truncatedIPv4)),
            (Array(ff.frame(kind: .ping, seq: 1)[0..<10]), .malformed(.truncatedLinkHeader)),
            (Array(ff.frame(kind: .ping, seq: 1)[0..<38]), .malformed(.truncatedUDP)),
        ]
        // The cut ones were longer on the wire (a capture's snaplen cut them).
        for (f, want) in cases {
            XCTAssertEqual(f.withUnsafeBytes { WireFrame.parse($0, wireLength: max(f.count, 106)) }, want)
        }
        guard case .udp(_, .notWirepath) = other.withUnsafeBytes({ WireFrame.parse($0, wireLength: other.count) }) else { return XCTFail() }
        // Cut by a snaplen inside the test header, but the wire length says more.
        let full = ff.frame(kind: .ping, seq: 1)
        let cut = Array(full[0..<60])
        XCTAssertEqual(cut.withUnsafeBytes { WireFrame.parse($0, wireLength: full.count) }, .malformed(.snappedBeforeTestHeader))
        // Cut after the test header: parsed, integrity unchecked.
        let cut2 = Array(full[0..<90])
        guard case .test(let t) = cut2.withUnsafeBytes({ WireFrame.parse($0, wireLength: full.count) }) else { return XCTFail() }
        XCTAssertEqual(t.integrity, .unchecked)
        XCTAssertEqual(t.udpChecksum, .unchecked)
        // A captured length over the wire length is impossible.
        XCTAssertEqual(full.withUnsafeBytes { WireFrame.parse($0, wireLength: 10) }, .malformed(.capturedLongerThanWire))
    }

    /// Random mutations of valid frames (bit flips, truncation, random
    /// bytes, VLAN headers) never trap, and a damaged payload is never
    /// taken for an intact one. Every 200 mutated frames also go through the
    /// audit, with timestamps in random order, and the audit's table and a
    /// verification line are rendered: the report must not trap either.
    func testMutationsNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        var ff = FrameFactory(runID: 99)
        let seeds = [ff.frame(kind: .ping, seq: 5), ff.frame(kind: .flood, seq: 9, vlanTags: 1),
                     ff.frame(kind: .control, seq: 2, op: .begin, body: [0])]
        var intactButChanged = 0
        var batch: [([UInt8], Int)] = []
        var rendered = 0
        for i in 0..<20_000 {
            var f = seeds[i % seeds.count]
            let original = f
            switch i % 5 {
            case 0: f[Int.random(in: 0..<f.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            case 1: f = Array(f[0..<Int.random(in: 0...f.count, using: &rng)])
            case 2: for _ in 0..<Int.random(in: 1...8, using: &rng) { f[Int.random(in: 0..<f.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 3: f = (0..<Int.random(in: 0...120, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default: f.insert(contentsOf: [0x81, 0x00, UInt8.random(in: 0...255, using: &rng), 0x08], at: min(12, f.count))
            }
            let wire = Int.random(in: 0...3, using: &rng) == 0 ? f.count + Int.random(in: 0...64, using: &rng) : f.count
            let parsed = f.withUnsafeBytes { WireFrame.parse($0, wireLength: wire) }
            batch.append((f, wire))
            if batch.count == 200 {
                // Seeds first, so the run is learned and the mutants count against it.
                let a = WireAudit(reflectorPort: 7000, linkType: .ethernet, snaplen: 65535, timeoutNs: 1_000_000)
                for s in seeds { s.withUnsafeBytes { a.learn($0, wireLength: s.count) } }
                for (m, w) in batch { m.withUnsafeBytes { a.learn($0, wireLength: w) } }
                a.endLearning()
                for (m, w) in batch {
                    m.withUnsafeBytes { a.add($0, wireLength: w, timestampNs: UInt64.random(in: 0...UInt64.max, using: &rng)) }
                }
                let summary = a.finish()
                XCTAssertFalse(TextReport.wireTable(summary).isEmpty)
                let v = Verification.verify(FrameFactory.pingpongResult(sent: 3, received: 2), runID: 99, wire: summary.run(99), captureDropped: 0)
                XCTAssertFalse(TextReport.verificationLine("socket pingpong", v).isEmpty)
                rendered += 1
                batch = []
            }
            if case .test(let t) = parsed, t.integrity == .ok, t.deliverable, f != original, i % 5 == 0 {
                // A one-bit flip that leaves payload and checksums valid can
                // only be in the Ethernet header (MACs are not checksummed).
                if t.header.seq != 5 && t.header.seq != 9 && t.header.seq != 2 { intactButChanged += 1 }
            }
        }
        XCTAssertEqual(intactButChanged, 0, "a changed sequence number passed every check")
        XCTAssertEqual(rendered, 100)
    }

    /// A capture whose last frame is older than its first (a clock stepped
    /// back, merged files): the table renders, says so, and the run counts.
    func testBackwardsTimestampsRender() throws {
        var ff = FrameFactory(runID: 0xB4C)
        let frames = ff.pingpong(count: 10)
        let a = WireAudit(reflectorPort: 7000, linkType: .ethernet, snaplen: 65535, timeoutNs: 1_000_000)
        for f in frames { f.withUnsafeBytes { a.learn($0, wireLength: f.count) } }
        a.endLearning()
        // From 10 s down to just over 9 s: every frame older than the one before.
        for (i, f) in frames.enumerated() {
            f.withUnsafeBytes { a.add($0, wireLength: f.count, timestampNs: 10_000_000_000 - UInt64(i) * 20_000_000) }
        }
        let s = a.finish()
        XCTAssertLessThan(try XCTUnwrap(s.lastNs), try XCTUnwrap(s.firstNs))
        let table = TextReport.wireTable(s)
        XCTAssertTrue(table.contains("over -0.580 s (the last frame's timestamp is before the first's"), table)
        let r = try XCTUnwrap(s.run(0xB4C))
        XCTAssertEqual(r.clientToReflector.unique, 10)
        // Each reply is older than its request: no wire RTT, never a wrapped one.
        XCTAssertNil(r.wireRTT)
        let v = Verification.verify(FrameFactory.pingpongResult(sent: 10, received: 10), runID: 0xB4C, wire: r, captureDropped: 0)
        XCTAssertFalse(TextReport.verificationLine("socket pingpong", v).isEmpty)
    }
}

final class WireAuditTests: XCTestCase {
    func testCleanPingPongRun() throws {
        var ff = FrameFactory(runID: 0x1234)
        let s = WireAudit.run(ff.pingpong(count: 100))
        let r = try XCTUnwrap(s.run(0x1234))
        XCTAssertEqual(r.kind, "pingpong")
        for d in WireDirection.allCases {
            let x = r.stats(d)
            XCTAssertEqual(x.unique, 100, "\(d)")
            XCTAssertEqual(x.dataPackets, 100)
            XCTAssertEqual(x.gaps, 0)
            XCTAssertEqual(x.duplicates, 0)
            XCTAssertEqual(x.warmupPackets, 3)
            XCTAssertEqual(x.controlPackets, 2)
            XCTAssertEqual(x.packets, 105)
        }
        XCTAssertEqual(r.wireRTT?.count, 100)
        // The reflector's window: 100 pings + the end request in; the ack
        // and 100 echoes out.
        XCTAssertEqual(r.reflectorRxInWindow, 101)
        XCTAssertEqual(r.reflectorTxInWindow, 101)
        XCTAssertEqual(s.foreignTotal, 0)
        XCTAssertEqual(s.malformedTotal, 0)
    }

    func testGapsDuplicatesAndVLAN() throws {
        var ff = FrameFactory(runID: 0x55)
        let s = WireAudit.run(ff.pingpong(count: 50, drop: [3, 10, 49], duplicate: [7], vlanTags: 1))
        let r = try XCTUnwrap(s.run(0x55))
        let c2r = r.clientToReflector
        XCTAssertEqual(c2r.unique, 47)
        XCTAssertEqual(c2r.gaps, 2, "49 is missing at the end: a gap only against the program's count")
        XCTAssertEqual(c2r.duplicates, 1)
        XCTAssertEqual(r.reflectorToClient.duplicates, 1)
    }

    func testForeignTrafficIsCountedNotMixedIn() throws {
        var ff = FrameFactory(runID: 0x77)
        var other = FrameFactory(runID: 0x88)
        var frames = ff.pingpong(count: 20)
        var arp = ff.frame(kind: .ping, seq: 1); arp[12] = 0x08; arp[13] = 0x06
        var icmp = ff.frame(kind: .ping, seq: 1); icmp[23] = 1
        frames.insert(arp, at: 5)
        frames.insert(icmp, at: 9)
        frames.insert(other.frame(kind: .ping, seq: 3), at: 12)
        var otherPort = ff.frame(kind: .ping, seq: 1)
        otherPort[36] = 0x30; otherPort[37] = 0x39 // 12345
        otherPort[40] = 0; otherPort[41] = 0 // no UDP checksum
        frames.insert(otherPort, at: 13)
        let s = WireAudit.run(frames)
        let r = try XCTUnwrap(s.run(0x77))
        XCTAssertEqual(r.clientToReflector.unique, 20)
        XCTAssertEqual(s.foreign["ARP"], 1)
        XCTAssertEqual(s.foreign["ICMP"], 1)
        XCTAssertEqual(s.foreign["UDP, other port"], 1)
        // A run with intact packets is its own run, not foreign.
        XCTAssertNotNil(s.run(0x88))
    }

    func testDamageIsClassified() throws {
        var ff = FrameFactory(runID: 0x99)
        var frames = ff.pingpong(count: 30)
        // Index of the request with seq 10: 6 warm-up + 2 control + 2 per ping.
        let i10 = 6 + 2 + 2 * 10
        frames[i10][60] ^= 0x01 // payload bit: integrity and UDP checksum fail
        let i11 = i10 + 2
        frames[i11][22] ^= 0x01 // IPv4 TTL: header checksum fails
        let i12 = i11 + 2
        frames[i12][0] ^= 0x02 // destination MAC
        let s = WireAudit.run(frames)
        let r = try XCTUnwrap(s.run(0x99))
        let c2r = r.clientToReflector
        XCTAssertEqual(c2r.integrityFailures, 1)
        XCTAssertEqual(c2r.integrityFailuresKernelDrops, 1)
        XCTAssertEqual(c2r.checksumFailures, 1)
        XCTAssertEqual(c2r.misaddressed, 1)
        XCTAssertEqual(c2r.unique, 27)
        XCTAssertEqual(c2r.gaps, 3)
        XCTAssertEqual(c2r.dataPackets, 30)
        // The reflector never receives the three: its window shows 27 + end.
        XCTAssertEqual(r.reflectorRxInWindow, 28)
    }

    /// An open-loop result (`pingpong --rate`, `compare --load`) is checked
    /// like a ping-pong: requests sent, replies taken, duplicates; a
    /// measurement that carries no run id is listed as not verified, and
    /// strict verification fails on it instead of passing.
    func testOpenLoopIsVerifiedAndStrictFailsOnAnUnverifiedOne() throws {
        var ff = FrameFactory(runID: 0x0E11)
        let s = WireAudit.run(ff.pingpong(count: 100))
        var client = EndReport(role: "client", cost: nil, counters: PathCounters(), napiID: 0)
        client.txPackets = 100
        func open(received: UInt64, fraction: Double?, id: UInt64?) -> OpenLoopResult {
            var o = OpenLoopResult(targetPps: 1000, loadFraction: fraction, latency: LatencySummary(LatencyHistogram.make()),
                                   sent: 100, received: received, duplicated: 0, maxSendLagNs: 0, durationNs: 100_000_000,
                                   client: client, reflector: nil)
            o.runID = id
            return o
        }
        let clean = Verification.verify(open(received: 100, fraction: nil, id: 0x0E11), runID: 0x0E11, wire: s.run(0x0E11), captureDropped: 0)
        XCTAssertEqual(clean.measurement, "open-loop 1000 pps")
        XCTAssertEqual(clean.disagreements, [], "\(clean.checks.map(\.message))")
        XCTAssertEqual(clean.checks.map(\.name), ["client sent requests", "client received replies", "duplicate replies"])
        XCTAssertNotNil(clean.wireRTT)
        // One reply crossed the wire but the client never took it: located in its host.
        let late = Verification.verify(open(received: 99, fraction: 0.5, id: 0x0E11), runID: 0x0E11, wire: s.run(0x0E11), captureDropped: 0)
        XCTAssertEqual(late.measurement, "open-loop 50%")
        XCTAssertEqual(late.disagreements, [])
        XCTAssertEqual(late.located.map(\.name), ["client received replies"])
        XCTAssertTrue(late.notes.contains { $0.hasPrefix("lost 1: 0 request gaps") }, "\(late.notes)")

        let opts = PathOptionsRecord(payloadSize: 64, batchSize: 32, wait: .block, busyPollMicros: nil, napiID: 0)
        var run = PathRun(path: .socket, status: .ok, options: opts)
        run.openLoop = [open(received: 100, fraction: nil, id: 0x0E11), open(received: 100, fraction: 0.5, id: nil)]
        let topo = TopologyRecord(kind: "veth-bridge", namespaces: [], clientInterface: nil, reflectorInterface: nil, clientAddress: "a",
                                  reflectorAddress: "b", mtu: 1500, vethNAPI: false, clientCPU: nil, reflectorCPU: nil)
        var report = WirepathReport(command: "pingpong", startedAt: "", environment: EnvironmentRecord(kernel: "k", cpuModel: "c", cpus: 2,
                                    wirepathVersion: "v", syscallCounter: "s", topology: topo),
                                    settings: RunSettings(durationNs: nil, count: nil, warmupNs: 0, timeoutNs: 0, payloadSize: 64, batchSize: 32,
                                                          wait: .block, busyPollMicros: nil, measurements: ["pingpong"]), runs: [run])
        report.capture = CaptureRecord(file: "f", interface: "i", namespace: nil, vantagePoint: "v", directions: [], filter: "udp port 7000",
                                       snaplen: 1522, bufferBytes: 1 << 26, timestampPrecision: "ns", written: 0, received: 0,
                                       dropped: 0, interfaceDropped: 0, summary: s)
        Verification.verify(&report.runs, against: s, captureDropped: 0)
        XCTAssertEqual(report.runs[0].verification?.runs.map(\.measurement), ["open-loop 1000 pps"])
        XCTAssertEqual(report.verificationFindings, 0)
        XCTAssertEqual(report.unverifiedMeasurements.map(\.label), ["socket open-loop 50%"])
        let text = TextReport.verification(report)
        XCTAssertTrue(text.contains("verify socket open-loop 1000 pps (run 0xe11): agrees, 3 checks"), text)
        XCTAssertTrue(text.contains("verify socket open-loop 50%: NOT VERIFIED: the result carries no run id"), text)
        XCTAssertEqual(report.strictVerificationFailure, "1 measurements ran but were not verified (socket open-loop 50%)")
        // With every measurement verified, strict passes.
        report.runs[0].openLoop.removeLast()
        Verification.verify(&report.runs, against: s, captureDropped: 0)
        XCTAssertNil(report.strictVerificationFailure)
        XCTAssertEqual(TextReport.runLabels(report)[0x0E11], "socket open-loop 1000 pps")
    }

    func testVerificationNamesTheDisagreement() throws {
        var ff = FrameFactory(runID: 0xAB)
        let s = WireAudit.run(ff.pingpong(count: 100, drop: [4, 5]))
        let w = try XCTUnwrap(s.run(0xAB))
        var client = EndReport(role: "client", cost: nil, counters: PathCounters(), napiID: 0)
        client.txPackets = 100
        let p = PingPongResult(latency: LatencySummary(LatencyHistogram.make()), sent: 100, received: 98, lost: 2, duplicated: 0,
                               reordered: 0, integrityFailures: 0, foreign: 0, timeoutNs: 100_000_000, warmupNs: 0,
                               durationNs: 1, client: client, reflector: nil)
        let v = Verification.verify(p, runID: 0xAB, wire: w, captureDropped: 0)
        let bad = v.disagreements
        XCTAssertEqual(bad.count, 1, "\(bad)")
        XCTAssertEqual(bad.first?.message, "client counted 100 sent, wire shows 98: 2 packets never left the host")
        // The same shortfall with capture drops is unverifiable, not the path's.
        let v2 = Verification.verify(p, runID: 0xAB, wire: w, captureDropped: 5)
        XCTAssertEqual(v2.disagreements.map(\.status), [.unverifiable])
    }
}
