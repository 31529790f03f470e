import Foundation
import Glibc
import XCTest
@testable import WirepathBench
@testable import WirepathUring
@testable import WirepathXDP
@testable import WirepathCapture
@testable import WirepathIO
@testable import WirepathModel
import WirepathTestSupport
@testable import WirepathRender

/// A directory for one test's files, removed afterwards.
func scratchDirectory(_ name: String) throws -> String {
    let dir = NSTemporaryDirectory() + "wirepath-\(getpid())-\(name)"
    try? FileManager.default.removeItem(atPath: dir)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Capture and verification on the real kernel: every path captured on the
/// middle hop with zero disagreement, faults injected on the client's link
/// and found again in the capture (nftables netdev egress rules and an HTB
/// class, not tc netem, which this kernel lacks: see `Fault`), foreign
/// traffic, and tshark's counts for the same file.
final class CaptureIntegrationTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = try scratchDirectory(name.filter { $0.isLetter || $0.isNumber })
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func request(_ paths: [PathKind], _ ms: [MeasurementKind], count: UInt64 = 2000, timeoutNs: UInt64 = 100_000_000,
                 file: String) -> RunRequest {
        var r = RunRequest(paths: paths, measurements: ms,
                           plan: MeasurementPlan(durationNs: nil, count: count, warmupNs: 200_000_000, timeoutNs: timeoutNs))
        r.floodDurationNs = 300_000_000
        r.capture = CaptureRequest(file: file)
        return r
    }

    /// The paths this host and build can run; xdp needs its compiled program.
    func capturablePaths() throws -> [PathKind] {
        var paths: [PathKind] = [.socket, .mmsg]
        if let why = availability(.uring) {
            if ciRequiresEveryTest() { XCTFail("uring unavailable under CI: \(why)") }
        } else {
            paths.append(.uring)
        }
        // xdp runs when its compiled program is there (`make test` builds it
        // with `make bpf`); otherwise the other paths run and the reason is
        // printed. Under CI=true a missing xdp is a failure, not a skip.
        if let why = availability(.xdp, xdpObject: xdpObject()) {
            let message = "capture test without xdp: \(why) (the AF_XDP path is issue #4)"
            if ciRequiresEveryTest() { XCTFail(message) } else { print(message) }
        } else {
            paths.append(.xdp)
        }
        return paths
    }

    /// The XDP program `make bpf` builds, or $WIREPATH_XDP_OBJECT.
    func xdpObject() -> String? {
        if let env = ProcessInfo.processInfo.environment["WIREPATH_XDP_OBJECT"], !env.isEmpty { return env }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent(".build/bpf/xsk_redirect.bpf.o").path
        return FileManager.default.isReadableFile(atPath: path) ? path : nil
    }

    func withXDPObject(_ r: inout RunRequest) {
        if let object = xdpObject() { r.template.xdp.objectPath = object }
    }

    /// Every path, ping-pong and flood, in one run with one capture on the
    /// middle hop: verification finds no disagreement, the topology says
    /// it had the hop, and nothing is left behind.
    func testEveryPathCapturedWithZeroDisagreement() throws {
        try requireRoot()
        let paths = try capturablePaths()
        let file = dir + "/run.pcap"
        var r = request(paths, [.pingpong, .flood], count: 1000, file: file)
        withXDPObject(&r)
        let report = try Runner.run(r)
        XCTAssertEqual(report.environment.topology.kind, "veth-bridge")
        XCTAssertNotNil(report.environment.topology.hop)
        XCTAssertEqual(report.environment.topology.namespaces.count, 3)
        let capture = try XCTUnwrap(report.capture)
        XCTAssertEqual(capture.dropped, 0, "the capture itself dropped frames: raise the buffer")
        XCTAssertEqual(capture.timestampPrecision, "ns")
        XCTAssertEqual(report.runs.map(\.path), paths)
        for run in report.runs {
            XCTAssertEqual(run.status, .ok, "\(run.path): \(run.reason ?? "")")
            let v = try XCTUnwrap(run.verification, "\(run.path)")
            XCTAssertEqual(v.runs.map(\.measurement), ["pingpong", "flood"], "\(run.path)")
            for m in v.runs {
                XCTAssertEqual(m.disagreements, [], "\(run.path) \(m.measurement): \(m.disagreements.map(\.message))")
                XCTAssertGreaterThanOrEqual(m.checks.count, 5)
                let w = try XCTUnwrap(m.wire)
                XCTAssertGreaterThan(w.clientToReflector.unique, 0)
                XCTAssertEqual(w.clientToReflector.damaged, 0)
            }
            let pp = try XCTUnwrap(v.runs.first?.wire)
            XCTAssertEqual(pp.clientToReflector.unique, 1000, "\(run.path)")
            XCTAssertEqual(pp.reflectorToClient.unique, 1000, "\(run.path)")
            XCTAssertEqual(pp.wireRTT?.count, 1000)
            // The wire's RTT is part of the program's.
            XCTAssertLessThan(pp.wireRTT?.p50Ns ?? .max, run.pingpong?.latency.p50Ns ?? 0)
        }
        XCTAssertTrue(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }.isEmpty)
        let topology = report.environment.topology
        try checkTsharkAgrees(file: file, client: topology.clientAddress, reflector: topology.reflectorAddress, port: 7000,
                              summary: try XCTUnwrap(capture.summary))
    }

    /// Faults on the client's veth, on egress, before the vantage point.
    ///
    /// tc netem is what one would reach for, but this kernel is built
    /// without it (CONFIG_NET_SCH_NETEM is not set; `tc qdisc add ... netem`
    /// answers "Specified qdisc kind is unknown"). So the faults are made
    /// with an nftables netdev egress chain instead (Linux 5.16+): `numgen
    /// random` picks the packets, `drop` loses them, `dup` duplicates them,
    /// a payload write corrupts them, and `meta priority` steers some into
    /// a slow HTB class, which reorders them.
    struct Fault {
        var rules: [String]
        /// HTB on the client's veth: class 1:10 for most, 1:20 (slow) for
        /// packets the rules steer there.
        var slowClassRate: String?
        /// Full UDP checksums from the client's stack (TX offload off), so a
        /// corrupted datagram has a checksum the receiving kernel rejects.
        var fullChecksums = false
    }

    /// nft matches for the measured window's data packets of the test flow:
    /// the Wirepath payload's kind byte (offset 5: 1 ping, 2 flood) and the
    /// top byte of its little-endian sequence number (offset 23) below 0x20,
    /// i.e. seq < 2^61. Control, warm-up and syscall-window packets pass.
    static func windowData(_ kind: UInt8, port: UInt16 = 7000) -> String { "udp dport \(port) @ih,40,8 \(kind) @ih,184,8 < 32" }

    /// The loss timeout is 20 ms: long enough that a loaded host does not
    /// turn a slow reply into a loss, short enough that 40 real losses
    /// cost under a second. A reply later than that still counts as lost
    /// and as reordered, which the assertions allow for.
    func runWithFault(_ path: PathKind, _ m: MeasurementKind, _ fault: Fault, count: UInt64 = 2000,
                      timeoutNs: UInt64 = 20_000_000) throws -> (WirepathReport, RunVerification) {
        try requireNFT()
        var r = request([path], [m], count: count, timeoutNs: timeoutNs, file: dir + "/fault.pcap")
        r.afterTopologyUp = { t in
            // Everything here lives in the run's client namespace and goes
            // with it when the run removes its namespaces.
            func run(_ args: [String], input: String? = nil) throws {
                let out: Ran
                if let input {
                    let f = NSTemporaryDirectory() + "wirepath-\(getpid())-fault.nft"
                    try input.write(toFile: f, atomically: true, encoding: .utf8)
                    defer { try? FileManager.default.removeItem(atPath: f) }
                    out = try runProgram("/usr/sbin/ip", ["netns", "exec", t.clientNamespace] + args + [f], timeout: 10)
                } else {
                    out = try runProgram("/usr/sbin/ip", ["netns", "exec", t.clientNamespace] + args, timeout: 10)
                }
                guard out.status == 0 else { throw ConfigError("\(args.joined(separator: " ")): \(out.stderr)") }
            }
            let dev = t.clientInterface
            if fault.fullChecksums { try run(["ethtool", "-K", dev, "tx", "off"]) }
            if let rate = fault.slowClassRate {
                try run(["tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10"])
                try run(["tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit"])
                try run(["tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:20", "htb", "rate", rate, "ceil", rate])
                // Leaf queues deep enough for a whole window, so that the
                // qdisc reorders and never drops; what is dropped is counted below.
                try run(["tc", "qdisc", "add", "dev", dev, "parent", "1:10", "handle", "10:", "pfifo", "limit", "20000"])
                try run(["tc", "qdisc", "add", "dev", dev, "parent", "1:20", "handle", "20:", "pfifo", "limit", "20000"])
            }
            let chain = """
                table netdev wirepath_fault {
                  chain egress {
                    type filter hook egress device "\(dev)" priority 0; policy accept;
                \(fault.rules.map { "    " + $0 }.joined(separator: "\n"))
                  }
                }
                """
            try run(["nft", "-f"], input: chain)
        }
        let drops = egressDrops
        drops.value = nil
        r.beforeTopologyDown = { t in drops.value = Self.egressDrops(t) }
        let report = try Runner.run(r)
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let v = try XCTUnwrap(run.verification?.runs.first)
        XCTAssertTrue(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }.isEmpty, "namespace (and its rules) left behind")
        return (report, v)
    }

    final class Drops: @unchecked Sendable { var value: UInt64? }
    /// What the client's egress dropped in the last `runWithFault`, read
    /// just before its namespaces went: the qdiscs' drops plus the veth's
    /// own (a full backlog on the far side), i.e. every packet lost between
    /// the client's socket and the capture's vantage point.
    let egressDrops = Drops()

    static func egressDrops(_ t: Topology) -> UInt64? {
        func json(_ args: [String]) -> Any? {
            guard let r = try? runProgram("/usr/sbin/ip", ["netns", "exec", t.clientNamespace] + args, timeout: 10), r.status == 0 else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        }
        guard let qdiscs = json(["tc", "-s", "-j", "qdisc", "show", "dev", t.clientInterface]) as? [[String: Any]],
              let links = json(["ip", "-s", "-j", "link", "show", "dev", t.clientInterface]) as? [[String: Any]],
              let tx = (links.first?["stats64"] as? [String: Any])?["tx"] as? [String: Any] else { return nil }
        // The root HTB counts its leaves' drops again: count the leaves (and a lone root).
        let leaves = qdiscs.filter { ($0["parent"] as? String) != nil || qdiscs.count == 1 }
        let qdiscDrops = leaves.reduce(0) { $0 + (($1["drops"] as? Int) ?? 0) }
        return UInt64(qdiscDrops) + UInt64((tx["dropped"] as? Int) ?? 0)
    }

    /// 2% loss before the wire: the wire's gaps are the program's losses,
    /// and the disagreement names them as packets that never left the host.
    func testLossGapsEqualProgramLost() throws {
        try requireRoot()
        let (report, v) = try runWithFault(.socket, .pingpong, Fault(rules: ["\(Self.windowData(1)) numgen random mod 50 0 drop"]))
        let p = try XCTUnwrap(report.runs.first?.pingpong)
        let w = try XCTUnwrap(v.wire)
        XCTAssertGreaterThan(p.lost, 0, "2% of 2000 lost nothing?")
        let missing = p.client.txPackets - w.clientToReflector.unique
        XCTAssertEqual(missing + p.reordered, p.lost, "every lost ping is missing on the wire (or its reply was late)")
        // A lost last ping is no gap below the highest sequence seen.
        XCTAssertTrue(w.clientToReflector.gaps == missing || w.clientToReflector.gaps + 1 == missing)
        XCTAssertEqual(w.reflectorToClient.unique, w.clientToReflector.unique, "every ping that crossed was answered")
        let sent = try XCTUnwrap(v.checks.first { $0.name == "client sent pings" })
        XCTAssertEqual(sent.status, .disagree)
        XCTAssertEqual(sent.message, "client counted \(p.client.txPackets) sent, wire shows \(w.clientToReflector.unique): \(missing) packets never left the host")
        // Everything else agrees: the reflector got exactly what crossed.
        XCTAssertEqual(v.disagreements.count, 1, "\(v.disagreements.map(\.message))")
        // And the client's own kernel counted each of those drops, before
        // its device (the egress hook's refusal, in SndbufErrors).
        let k = try XCTUnwrap(p.kernelLoss)
        XCTAssertEqual(k.counts.first { $0.end == "client" && $0.counter.hasPrefix("Udp SndbufErrors") }?.packets, missing, TextReport.kernelLoss(k))
        XCTAssertEqual(k.verdict, .accounted, TextReport.kernelLoss(k))
    }

    /// 5% duplication before the wire: the wire's duplicates are the
    /// program's, in both directions. The last ping (1999) is always
    /// duplicated: the echo of its duplicate arrives after the client has
    /// its reply and has left the window, and still counts.
    func testDuplicatesAgree() throws {
        try requireRoot()
        let dup = "\(Self.windowData(1)) meta mark 0 numgen random mod 20 0 meta mark set 1 dup to \"wpc0\""
        // seq is little-endian at payload offset 16: 1999 is 0xcf 0x07 then zeros.
        let last = "\(Self.windowData(1)) meta mark 0 @ih,128,16 0xcf07 @ih,144,48 0 meta mark set 1 dup to \"wpc0\""
        let (report, v) = try runWithFault(.mmsg, .pingpong, Fault(rules: [dup, last]), count: 2000, timeoutNs: 1_000_000_000)
        let p = try XCTUnwrap(report.runs.first?.pingpong)
        let w = try XCTUnwrap(v.wire)
        XCTAssertGreaterThan(w.clientToReflector.duplicates, 0)
        XCTAssertEqual(w.reflectorToClient.duplicates, w.clientToReflector.duplicates, "each duplicate request was echoed")
        XCTAssertEqual(p.duplicated, w.reflectorToClient.duplicates)
        XCTAssertEqual(p.lost, 0)
        XCTAssertEqual(v.disagreements, [], "\(v.disagreements.map(\.message))")
    }

    /// Reordering: the flood's sequence numbers 1024-1279 (and every control
    /// packet, so that the end request queues behind them) go through a
    /// 2 Mbit/s HTB class. Sent back to back, they exceed its rate and wait
    /// there (about 0.1 s) while the later ones overtake them, whatever the
    /// flood's own rate. The receiver's reordered count is the wire's.
    func testReorderAgrees() throws {
        try requireRoot()
        // seq is little-endian at payload offset 16: byte 17 is 4 and bytes
        // 18-23 are 0 exactly for 1024...1279.
        let rules = ["\(Self.windowData(2)) @ih,136,8 4 @ih,144,48 0 meta priority set 1:20",
                     "udp dport 7000 @ih,40,8 3 meta priority set 1:20"]
        let (report, v) = try runWithFault(.socket, .flood, Fault(rules: rules, slowClassRate: "2mbit"))
        let f = try XCTUnwrap(report.runs.first?.flood)
        let w = try XCTUnwrap(v.wire)
        XCTAssertGreaterThan(w.clientToReflector.reordered, 0)
        XCTAssertEqual(f.reordered, w.clientToReflector.reordered, "\(v.checks.map(\.message))")
        XCTAssertEqual(v.checks.first { $0.name == "reordered" }?.status, .agree)
        // Whatever did not reach the wire was dropped on the client's egress,
        // and counted there (the counters also hold drops of warm-up and
        // syscall-window packets, hence at most): the program and the capture
        // still agree, and with nothing dropped nothing may disagree.
        let drops = try XCTUnwrap(egressDrops.value, "the egress counters could not be read")
        XCTAssertLessThanOrEqual(f.sent - w.clientToReflector.dataPackets, drops, "\(v.disagreements.map(\.message))")
        XCTAssertTrue(v.disagreements.allSatisfy { $0.name == "sender sent" }, "\(v.disagreements.map(\.message))")
        if drops == 0 { XCTAssertEqual(v.disagreements, [], "\(v.disagreements.map(\.message))") }
    }

    /// 2% corruption (one payload byte) before the wire, with the UDP
    /// checksum left to offload as veth does: the receiving kernel cannot
    /// tell, delivers it, the reflector echoes it, and the client's
    /// integrity check catches it. The wire sees the same frames.
    func testCorruptionWithOffloadedChecksumIsAnIntegrityFailure() throws {
        try requireRoot()
        let (report, v) = try runWithFault(.socket, .pingpong, Fault(rules: ["\(Self.windowData(1)) numgen random mod 50 0 @ih,384,8 set 0"]))
        let p = try XCTUnwrap(report.runs.first?.pingpong)
        let w = try XCTUnwrap(v.wire)
        let c2r = w.clientToReflector
        XCTAssertGreaterThan(c2r.integrityFailures, 0)
        XCTAssertEqual(c2r.integrityFailuresKernelDrops, 0, "an offloaded checksum is not checked by the receiver")
        XCTAssertEqual(w.reflectorToClient.integrityFailures, c2r.integrityFailures, "the reflector echoes what it gets")
        XCTAssertEqual(p.integrityFailures, c2r.integrityFailures, "the client caught each one")
        XCTAssertEqual(p.lost, c2r.integrityFailures + p.reordered, "a reply that fails its check is no reply")
        XCTAssertEqual(v.disagreements, [], "\(v.disagreements.map(\.message))")
        XCTAssertTrue(v.notes.contains { $0.contains("delivered to the program") }, "\(v.notes)")
    }

    /// The same corruption with full UDP checksums (TX offload off on the
    /// client's veth): the reflector's kernel drops each one (UdpInCsumErrors)
    /// before any socket; the program sees losses, never an integrity
    /// failure, and the capture names the checksum drops.
    func testCorruptionWithFullChecksumIsAKernelDrop() throws {
        try requireRoot()
        // The byte is addressed from the link layer (14 + 20 + 8 + 48): nft
        // then writes it without touching the UDP checksum (it fixes the
        // checksum up for a write through @ih), so the checksum is now wrong.
        let (report, v) = try runWithFault(.socket, .pingpong, Fault(rules: ["\(Self.windowData(1)) numgen random mod 50 0 @ll,720,8 set 0"],
                                                                      fullChecksums: true))
        let p = try XCTUnwrap(report.runs.first?.pingpong)
        let w = try XCTUnwrap(v.wire)
        let c2r = w.clientToReflector
        XCTAssertGreaterThan(c2r.integrityFailures, 0)
        XCTAssertEqual(c2r.integrityFailuresKernelDrops, c2r.integrityFailures, "every corrupted datagram had a bad UDP checksum")
        XCTAssertEqual(p.integrityFailures, 0, "the kernel dropped them before the program")
        XCTAssertEqual(p.lost, c2r.integrityFailures + p.reordered)
        XCTAssertEqual(w.reflectorToClient.integrityFailures, 0)
        XCTAssertEqual(c2r.gaps + (c2r.highestSeq.map { $0 + 1 < p.sent ? 1 : 0 } ?? 0), c2r.integrityFailures)
        XCTAssertEqual(v.checks.first { $0.name.hasPrefix("reflector received") }?.status, .agree)
        XCTAssertEqual(v.disagreements, [], "\(v.disagreements.map(\.message))")
        XCTAssertTrue(v.notes.contains { $0.contains("UdpInCsumErrors") }, "\(v.notes)")
        // The reflector's kernel counted each one (InErrors, InCsumErrors
        // among them): the program's loss, located by the kernel.
        let k = try XCTUnwrap(p.kernelLoss)
        XCTAssertEqual(k.counts.first { $0.end == "reflector" && $0.counter == "Udp InErrors - RcvbufErrors" }?.packets, c2r.integrityFailures,
                       TextReport.kernelLoss(k))
        XCTAssertEqual(k.verdict, .accounted, TextReport.kernelLoss(k))
    }

    /// Traffic that is not the measured run, mixed into a real capture,
    /// never mixes into it:
    /// - ARP, IPv6, ICMP and UDP to another port, before every 50th frame:
    ///   counted as foreign, by kind;
    /// - a VLAN-tagged (802.1Q) copy of the run's first frame, a warm-up
    ///   ping, before the reflector's window opens: parsed through its tag
    ///   and counted in the run's warm-up column, 4 bytes longer;
    /// - after the last frame, once every window has closed, a whole run of
    ///   another run id (begin, warm-up, 10 pings and echoes, end): its own
    ///   row in the table, with its own counts, never the measured run's.
    /// The measured run's counts are otherwise unchanged and it still
    /// verifies against the saved result.
    func testForeignTrafficMixedInVerifies() throws {
        try requireRoot()
        let file = dir + "/clean.pcap", json = dir + "/clean.json"
        var r = request([.socket], [.pingpong], count: 500, file: file)
        r.command = "pingpong"
        let report = try Runner.run(r)
        let enc = JSONEncoder()
        try enc.encode(report).write(to: URL(fileURLWithPath: json))
        XCTAssertEqual(report.runs.first?.verification?.disagreements, 0)
        let id = try XCTUnwrap(report.runs.first?.pingpong?.runID)
        let before = try XCTUnwrap(report.capture?.summary?.run(id))

        let mixed = dir + "/mixed.pcap"
        var reader = try CaptureFileReader(file)
        let writer = try CaptureFileWriter(mixed)
        var n = 0
        var injected: [String: UInt64] = [:]
        var other = ForeignFrames()
        var macs: [Bool: [UInt8]] = [:] // toward the reflector → the capture's 12 MAC bytes
        var lastNs: UInt64 = 0
        var tagged: [UInt8] = []
        func toReflector(_ f: [UInt8]) -> Bool { f.count >= 38 && (UInt16(f[36]) << 8 | UInt16(f[37])) == 7000 }
        try reader.forEach { ts, len, bytes in
            if n % 50 == 0 {
                for (kind, f) in other.next() {
                    writer.write(f, timestampNs: ts)
                    injected[kind, default: 0] += 1
                }
            }
            writer.write(bytes, timestampNs: ts, wireLength: len)
            let frame = Array(bytes)
            if macs[toReflector(frame)] == nil { macs[toReflector(frame)] = Array(frame[0..<12]) }
            if n == 0 {
                // The run's first frame is a warm-up ping, sent before the begin request.
                guard case .test(let t) = frame.withUnsafeBytes({ WireFrame.parse($0, wireLength: len) }) else {
                    return XCTFail("the capture's first frame is not a test packet")
                }
                XCTAssertGreaterThanOrEqual(t.header.seq, SequenceSpace.warmup)
                XCTAssertEqual(t.destination.port, 7000)
                tagged = frame
                tagged.insert(contentsOf: [0x81, 0x00, 0x00, 0x64], at: 12) // 802.1Q, VLAN 100
                writer.write(tagged, timestampNs: ts)
            }
            lastNs = ts
            n += 1
        }
        // A run the result knows nothing of, with the capture's MAC
        // addresses (a frame to another MAC would count as misaddressed).
        let otherID: UInt64 = 0x0DD
        var otherRun = FrameFactory(runID: otherID)
        for (i, var f) in otherRun.pingpong(count: 10).enumerated() {
            f.replaceSubrange(0..<12, with: try XCTUnwrap(macs[toReflector(f)]))
            writer.write(f, timestampNs: lastNs + UInt64(i + 1) * 10_000)
        }
        _ = consume writer

        let bin = try wirepathBinary()
        let out = try runProgram(bin, ["verify", mixed, "--expect", json])
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("verify socket pingpong (run 0x\(String(id, radix: 16))): agrees"), out.stdout)
        XCTAssertTrue(out.stdout.contains("pingpong 0xdd "), "the other run has its own row: \(out.stdout)")

        let s = try CaptureAudit.audit(mixed, reflectorPort: 7000)
        XCTAssertEqual(s.foreign["ARP"], injected["ARP"])
        XCTAssertEqual(s.foreign["ICMP"], injected["ICMP"])
        XCTAssertEqual(s.foreign["UDP, other port"], injected["UDP, other port"])
        XCTAssertEqual(s.foreign["ICMPv6"], injected["ICMPv6"])
        XCTAssertEqual(s.foreignTotal, injected.values.reduce(0, +), "\(s.foreign)")
        XCTAssertEqual(s.malformedTotal, 0)
        XCTAssertEqual(s.runs.map(\.runID), [id, otherID])
        // The tagged copy: one more warm-up frame of the run, 4 bytes longer than its original.
        let run = try XCTUnwrap(s.run(id))
        XCTAssertEqual(run.clientToReflector.packets, before.clientToReflector.packets + 1)
        XCTAssertEqual(run.clientToReflector.warmupPackets, before.clientToReflector.warmupPackets + 1)
        XCTAssertEqual(run.clientToReflector.bytes, before.clientToReflector.bytes + UInt64(tagged.count))
        XCTAssertEqual(run.clientToReflector.unique, 500)
        XCTAssertEqual(run.clientToReflector.duplicates, 0)
        XCTAssertEqual(run.reflectorToClient, before.reflectorToClient)
        XCTAssertEqual(run.reflectorRxInWindow, before.reflectorRxInWindow, "the copy came before the window")
        // The other run: its own counts.
        let o = try XCTUnwrap(s.run(otherID))
        XCTAssertEqual(o.kind, "pingpong")
        for d in WireDirection.allCases {
            XCTAssertEqual(o.stats(d).unique, 10, "\(d)")
            XCTAssertEqual(o.stats(d).packets, 15, "\(d): 3 warm-up, 10 pings, 2 control")
            XCTAssertEqual(o.stats(d).damaged, 0, "\(d)")
        }
    }

    /// `--quiet` still names the topology, the direct pair or the capture's
    /// bridge, right after the tables: a quiet figure from one cannot pass
    /// for the other.
    func testQuietOutputNamesTheTopology() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let common = ["pingpong", "--path", "socket", "--count", "200", "--warmup", "0.1", "--quiet"]
        let direct = try runProgram(bin, common, timeout: 60)
        XCTAssertEqual(direct.status, 0, direct.stdout + direct.stderr)
        let captured = try runProgram(bin, common + ["--capture", dir + "/quiet.pcap"], timeout: 60)
        XCTAssertEqual(captured.status, 0, captured.stdout + captured.stderr)
        for (out, kind) in [(direct.stdout, "veth-pair"), (captured.stdout, "veth-bridge")] {
            let lines = out.split(separator: "\n")
            let topo = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("topology: \(kind) wirepath-") }, out)
            // Just after the table (its header, rule and the socket row).
            XCTAssertTrue(lines[topo - 1].hasPrefix("socket "), out)
            XCTAssertFalse(out.contains("syscalls: "), "--quiet keeps the rest out: \(out)")
        }
        XCTAssertFalse(direct.stdout.contains("veth-bridge"), direct.stdout)
        XCTAssertTrue(captured.stdout.contains("<-> wirepath-"), captured.stdout)
    }

    /// Open-loop runs are verified like ping-pong runs: `pingpong --rate`
    /// and `compare --load` (its capacity flood and each load) under
    /// --verify strict exit 0 with a line that agrees for each, and
    /// `wirepath verify --expect` checks the saved open-loop result again.
    func testOpenLoopRunsAreVerified() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let file = dir + "/rate.pcap", json = dir + "/rate.json"
        let rate = try runProgram(bin, ["pingpong", "--path", "socket", "--rate", "5000", "--count", "2000", "--warmup", "0.2",
                                        "--capture", file, "--verify", "strict", "--json", json], timeout: 120)
        XCTAssertEqual(rate.status, 0, rate.stdout + rate.stderr)
        let line = try XCTUnwrap(rate.stdout.split(separator: "\n").first { $0.hasPrefix("verify socket open-loop 5000 pps (run 0x") }, rate.stdout)
        XCTAssertTrue(line.contains(": agrees, "), String(line))
        XCTAssertTrue(line.contains("wire RTT p50"), String(line))
        XCTAssertFalse(rate.stdout.contains("no result to verify"), rate.stdout)
        XCTAssertFalse(rate.stdout.contains("NOT VERIFIED"), rate.stdout)
        let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let o = try XCTUnwrap(report.runs.first?.openLoop.first)
        let v = try XCTUnwrap(report.runs.first?.verification?.runs.first)
        XCTAssertEqual(v.runID, o.runID)
        XCTAssertEqual(v.wire?.clientToReflector.unique, o.sent)
        XCTAssertEqual(v.wire?.reflectorToClient.unique, o.received)
        // The achieved rate, not the input: what was sent over the window's
        // own duration, near the rate asked for (generous bounds: a loaded
        // 2-core host may fall behind, never ahead).
        XCTAssertEqual(o.achievedPps, Double(o.sent) / (Double(o.durationNs) / 1e9), accuracy: o.achievedPps * 0.001)
        XCTAssertGreaterThan(o.achievedPps, 5000 * 0.5, "the open loop fell far behind its schedule")
        XCTAssertLessThan(o.achievedPps, 5000 * 1.05, "the open loop sent faster than its schedule")
        // And by the capture's clock: the window's 2000 requests cannot have
        // crossed the wire in less time than the schedule allows (the span
        // also holds the warm-up before them, so it bounds from below only
        // loosely from above).
        let c2r = try XCTUnwrap(v.wire?.clientToReflector)
        let span = Double(try XCTUnwrap(c2r.lastNs) - (try XCTUnwrap(c2r.firstNs))) / 1e9
        XCTAssertGreaterThan(span, Double(o.sent - 1) / 5000 * 0.9, "the requests crossed the wire faster than 5000 pps")
        XCTAssertLessThan(span, Double(o.durationNs) / 1e9 + 0.2 + 5, "the capture's span is far longer than the run")
        let audit = try runProgram(bin, ["verify", file, "--expect", json])
        XCTAssertEqual(audit.status, 0, audit.stdout + audit.stderr)
        XCTAssertTrue(audit.stdout.contains("socket open-loop 5000 pps 0x"), audit.stdout)

        let load = try runProgram(bin, ["compare", "--paths", "socket", "--measurements", "pingpong", "--load", "10%,20%",
                                        "--count", "1000", "--warmup", "0.1", "--flood-duration", "0.2",
                                        "--capture", dir + "/load.pcap", "--verify", "strict"], timeout: 180)
        XCTAssertEqual(load.status, 0, load.stdout + load.stderr)
        for m in ["pingpong", "flood", "open-loop 10%", "open-loop 20%"] {
            let l = load.stdout.split(separator: "\n").first { $0.hasPrefix("verify socket \(m) (run 0x") }
            XCTAssertTrue(l?.contains(": agrees, ") == true, "\(m): \(load.stdout)")
        }
    }

    /// `compare --capture --verify strict` on every path exits 0 and prints
    /// a verification line per path and measurement; `wirepath verify`
    /// prints the same wire table from the file alone; pcapng works too.
    func testCLICompareStrictThenVerifyFile() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let paths = try capturablePaths().map(\.rawValue).joined(separator: ",")
        let file = dir + "/cli.pcap", json = dir + "/cli.json"
        let args = ["compare", "--paths", paths, "--count", "500", "--warmup", "0.2", "--flood-duration", "0.2",
                    "--capture", file, "--verify", "strict", "--json", json]
        // The child finds the XDP program where this process found it.
        if let object = xdpObject() { setenv("WIREPATH_XDP_OBJECT", object, 1) }
        let run = try runProgram(bin, args, timeout: 300)
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        for p in paths.split(separator: ",") {
            XCTAssertTrue(run.stdout.contains("verify \(p) pingpong"), run.stdout)
            XCTAssertTrue(run.stdout.contains("verify \(p) flood"), run.stdout)
        }
        let audit = try runProgram(bin, ["verify", file, "--expect", json])
        XCTAssertEqual(audit.status, 0, audit.stdout + audit.stderr)
        // Plain `wirepath verify run.pcap`, from the file alone (no result,
        // default port): the same numbers per run and direction, and the
        // same totals, as the run printed; only the labels name less.
        let plain = try runProgram(bin, ["verify", file])
        XCTAssertEqual(plain.status, 0, plain.stdout + plain.stderr)
        let fromRun = wireTableRows(run.stdout), fromFile = wireTableRows(plain.stdout)
        XCTAssertEqual(fromRun.rows.count, 2 * 2 * paths.split(separator: ",").count, run.stdout)
        XCTAssertEqual(fromFile.rows, fromRun.rows)
        XCTAssertNotNil(fromRun.totals)
        XCTAssertEqual(fromFile.totals, fromRun.totals)
        // The wire table is the same, from the run and from the file.
        func table(_ s: String) -> String {
            let lines = s.split(separator: "\n", omittingEmptySubsequences: false)
            guard let start = lines.firstIndex(where: { $0.hasPrefix("run ") }),
                  let end = lines[start...].firstIndex(where: { $0.hasPrefix("data = ") }) else { return "" }
            return lines[start...end].joined(separator: "\n")
        }
        XCTAssertFalse(table(run.stdout).isEmpty, run.stdout)
        XCTAssertEqual(table(run.stdout), table(audit.stdout))
        // pcapng, written by tshark from the same file, gives the same table.
        // Without tshark the test ends through `Missing` (a failure under CI).
        do {
            let tshark = try requireTool("tshark", "`make deps` installs it")
            let ng = dir + "/cli.pcapng"
            let conv = try runProgram(tshark, ["-r", file, "-F", "pcapng", "-w", ng], timeout: 120)
            XCTAssertEqual(conv.status, 0, conv.stderr)
            let ngAudit = try runProgram(bin, ["verify", ng, "--expect", json])
            XCTAssertEqual(ngAudit.status, 0, ngAudit.stdout + ngAudit.stderr)
            XCTAssertEqual(table(ngAudit.stdout), table(run.stdout))
        }
    }
}

/// tshark's packet counts for a capture equal those `wirepath verify FILE
/// --json -` prints, for each run and direction: tshark's display filters
/// pick the direction by source and destination address and the
/// reflector's port, and the run by its id in the payload (bytes 8-15,
/// little-endian); the totals per direction, by address and port alone,
/// hold every run. The CLI's counts also equal `summary`, the run's own
/// audit of the file. All in one pass of tshark (`-z io,stat`).
func checkTsharkAgrees(file: String, client: String, reflector: String, port: UInt16, summary: WireSummary,
                       line: UInt = #line) throws {
    let tshark = try requireTool("tshark", "`make deps` installs it", line: line)
    let out = try runProgram(try wirepathBinary(), ["verify", file, "--port", String(port), "--json", "-"])
    XCTAssertEqual(out.status, 0, out.stderr, line: line)
    let audit = try JSONDecoder().decode(CaptureAuditReport.self, from: Data(out.stdout.utf8))
    XCTAssertEqual(audit.schema, "wirepath.verify/1", line: line)
    XCTAssertEqual(audit.reflectorPort, port, line: line)
    let cli = audit.summary
    XCTAssertEqual(cli.runs.map(\.runID), summary.runs.map(\.runID), line: line)
    for (a, b) in zip(cli.runs, summary.runs) {
        for d in WireDirection.allCases {
            XCTAssertEqual(a.stats(d).packets, b.stats(d).packets, "\(a.runIDHex) \(d)", line: line)
            XCTAssertEqual(a.stats(d).unique, b.stats(d).unique, "\(a.runIDHex) \(d)", line: line)
        }
    }
    XCTAssertGreaterThan(cli.runs.count, 0, line: line)

    // tshark names IPv6 addresses' fields ipv6.src and ipv6.dst.
    let ipField = client.contains(":") ? "ipv6" : "ip"
    let toReflector = "\(ipField).src==\(client) && \(ipField).dst==\(reflector) && udp.dstport==\(port)"
    let fromReflector = "\(ipField).src==\(reflector) && \(ipField).dst==\(client) && udp.srcport==\(port)"
    var filters: [String] = [toReflector, fromReflector, "frame"]
    var expected: [Int] = [
        Int(cli.runs.reduce(0) { $0 + $1.clientToReflector.packets } + (cli.foreign[WireFrame.Foreign.notWirepath.rawValue] ?? 0)),
        Int(cli.runs.reduce(0) { $0 + $1.reflectorToClient.packets }),
        Int(cli.frames),
    ]
    for run in cli.runs {
        let id = withUnsafeBytes(of: run.runID.littleEndian) { $0.map { String(format: "%02x", $0) }.joined(separator: ":") }
        filters += ["\(toReflector) && udp.payload[8:8]==\(id)", "\(fromReflector) && udp.payload[8:8]==\(id)"]
        expected += [Int(run.clientToReflector.packets), Int(run.reflectorToClient.packets)]
    }
    let stat = try runProgram(tshark, ["-n", "-q", "-r", file, "-z", "io,stat,0," + filters.joined(separator: ",")], timeout: 300)
    XCTAssertEqual(stat.status, 0, stat.stderr, line: line)
    // The one interval's row: "| 0.000 <> 0.850 | frames | bytes | frames | bytes | ...".
    let row = try XCTUnwrap(stat.stdout.split(separator: "\n").first { $0.contains("<>") }, stat.stdout, line: line)
    let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.dropFirst()
    let frames = cells.enumerated().filter { $0.offset % 2 == 0 }.map { Int($0.element) ?? -1 }
    XCTAssertEqual(frames.count, filters.count, stat.stdout, line: line)
    for (i, f) in filters.enumerated() where i < frames.count {
        XCTAssertEqual(frames[i], expected[i], "tshark -Y '\(f)'", line: line)
    }
}

/// The per-direction table in a command's output, as numbers: for each
/// "RUNID direction", the cells after the direction (packets, bytes, ...,
/// wire p50, wire p99), whatever the run's label (a run names its paths,
/// `wirepath verify` without --expect only the kind); and the totals line
/// under it ("N frames, M bytes over S s; foreign ...").
func wireTableRows(_ output: String) -> (rows: [String: [String]], totals: String?) {
    var rows: [String: [String]] = [:]
    var run: String?
    var totals: String?
    var inTable = false
    for line in output.split(separator: "\n") {
        let words = line.split(separator: " ").map(String.init)
        if words.first == "run" && words.contains("direction") { inTable = true; continue }
        guard inTable else { continue }
        if line.hasPrefix("---") { continue }
        guard let d = words.firstIndex(where: { $0 == "client→reflector" || $0 == "reflector→client" }) else {
            if totals == nil { totals = String(line) }
            inTable = false
            continue
        }
        if let id = words[..<d].first(where: { $0.hasPrefix("0x") }) { run = id }
        rows["\(run ?? "?") \(words[d])"] = Array(words[(d + 1)...])
    }
    return (rows, totals)
}

/// `--capture` with `--peer`: two namespaces the test makes, `wirepath
/// serve` in one on a port that is not the default, and the client in the
/// other capturing on its own interface (`--capture-interface`).
final class PeerCaptureTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        try requireRoot()
        dir = try scratchDirectory(name.filter { $0.isLetter || $0.isNumber })
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }


    /// A ping-pong of 2000 against the pair's reflector, captured on the
    /// client's interface, with `extra` arguments.
    func pingpong(_ pair: PeerNamespaces, file: String, _ extra: [String]) throws -> Ran {
        try pair.runClient(["pingpong", "--path", "socket", "--peer", pair.peer, "--count", "2000", "--warmup", "0.2",
                            "--timeout", "50", "--capture", file, "--capture-interface", pair.clientInterface] + extra)
    }

    /// The capture filters on the peer's port (7301 here), not on --port's
    /// default 7000: the run verifies under --verify strict, and the output
    /// names the vantage point and the two directions it sees.
    func testCaptureWithPeerFiltersOnThePeersPort() throws {
        let pair = try PeerNamespaces(tag: "pcp", subnet: 5, port: 7301)
        defer { pair.close() }
        let file = dir + "/peer.pcap", json = dir + "/peer.json"
        let r = try pingpong(pair, file: file, ["--verify", "strict", "--json", json])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("capture: \(file) on ca, filter \"udp port 7301 or (vlan and udp port 7301)\""), r.stdout)
        XCTAssertTrue(r.stdout.contains("  vantage point: ca on this host (the client's): it sees client→reflector frames as this host sends them and reflector→client frames as this host receives them"), r.stdout)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("verify socket pingpong") }, r.stdout)
        XCTAssertTrue(line.contains(": agrees, "), String(line))
        XCTAssertFalse(r.stdout.contains("no client→reflector frame"), r.stdout)
        let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        XCTAssertEqual(report.capture?.directions, ["client→reflector", "reflector→client"])
        let w = try XCTUnwrap(report.runs.first?.verification?.runs.first?.wire)
        XCTAssertEqual(w.clientToReflector.unique, 2000)
        XCTAssertEqual(w.reflectorToClient.unique, 2000)
        // The saved capture checks against the saved result, on the port its filter names.
        let audit = try runProgram(try wirepathBinary(), ["verify", file, "--expect", json])
        XCTAssertEqual(audit.status, 0, audit.stdout + audit.stderr)
        XCTAssertTrue(audit.stdout.contains("capture \(file): reflector port 7301"), audit.stdout)
        // Without --expect, from the file and the port alone: the numbers the run printed.
        let plain = try runProgram(try wirepathBinary(), ["verify", file, "--port", "7301"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let fromRun = wireTableRows(r.stdout), fromFile = wireTableRows(plain.stdout)
        XCTAssertEqual(fromRun.rows.count, 2, r.stdout)
        XCTAssertEqual(fromFile.rows, fromRun.rows)
        XCTAssertEqual(fromFile.totals, fromRun.totals)
        try checkTsharkAgrees(file: file, client: "198.19.5.1", reflector: pair.reflectorAddress, port: 7301,
                              summary: try XCTUnwrap(report.capture?.summary))
    }

    /// Verdicts and exit codes on a real disagreement: 2% of the measured
    /// pings dropped on the client's egress (an nftables netdev egress
    /// chain runs before the packet tap libpcap reads, so the capture never
    /// sees them): the client counted them sent, the wire shows them
    /// missing. `--verify strict` exits 3 and says why; the default prints
    /// the same disagreement and exits 0; `wirepath verify --expect` on the
    /// saved pair exits 3 too.
    func testStrictExitsThreeOnADisagreementAndReportExitsZero() throws {
        try requireNFT()
        let pair = try PeerNamespaces(tag: "pcd", subnet: 6, port: 7302)
        defer { pair.close() }
        try pair.dropTwoPercentOfPings(.clientEgress)
        let strict = try pingpong(pair, file: dir + "/strict.pcap", ["--verify", "strict"])
        XCTAssertEqual(strict.status, 3, strict.stdout + strict.stderr)
        XCTAssertTrue(strict.stdout.contains("DISAGREE"), strict.stdout)
        XCTAssertTrue(strict.stdout.contains("packets never left the host"), strict.stdout)
        XCTAssertTrue(strict.stderr.contains("error: --verify strict:") && strict.stderr.contains("disagreements between the program's counters and the wire"), strict.stderr)

        let file = dir + "/report.pcap", json = dir + "/report.json"
        let report = try pingpong(pair, file: file, ["--json", json])
        XCTAssertEqual(report.status, 0, report.stdout + report.stderr)
        XCTAssertTrue(report.stdout.contains("DISAGREE"), report.stdout)
        XCTAssertTrue(report.stdout.contains("  disagree: client counted 2000 sent, wire shows "), report.stdout)
        XCTAssertFalse(report.stderr.contains("--verify strict"), report.stderr)

        let audit = try runProgram(try wirepathBinary(), ["verify", file, "--expect", json])
        XCTAssertEqual(audit.status, 3, audit.stdout + audit.stderr)
        XCTAssertTrue(audit.stdout.contains("packets never left the host"), audit.stdout)
        XCTAssertTrue(audit.stderr.contains("disagreements between \(json) and the capture"), audit.stderr)
    }

    /// Requests dropped at the reflector's ingress cross the client's wire
    /// and are lost in the reflector's host: the capture locates that loss,
    /// which is no disagreement, so --verify strict exits 0 and says where
    /// the loss was.
    func testLossLocatedInTheReflectorsHostPassesStrict() throws {
        try requireNFT()
        let pair = try PeerNamespaces(tag: "pcl", subnet: 7, port: 7303)
        defer { pair.close() }
        try pair.dropTwoPercentOfPings(.reflectorIngress)
        let r = try pingpong(pair, file: dir + "/located.pcap", ["--verify", "strict"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("loss located: wire shows "), r.stdout)
        XCTAssertTrue(r.stdout.contains("lost in the reflector's host"), r.stdout)
    }

    /// A clean saved result checks against its capture (exit 0); the same
    /// result edited to claim more sent pings than crossed does not (exit 3),
    /// and a result edited to drop its run ids cannot be checked (exit 1).
    func testVerifyExpectExitCodes() throws {
        let pair = try PeerNamespaces(tag: "pce", subnet: 8, port: 7304)
        defer { pair.close() }
        let file = dir + "/clean.pcap", json = dir + "/clean.json"
        let r = try pingpong(pair, file: file, ["--json", json])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let bin = try wirepathBinary()
        XCTAssertEqual(try runProgram(bin, ["verify", file, "--expect", json]).status, 0)

        var report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        report.runs[0].pingpong?.client.txPackets += 5
        let edited = dir + "/edited.json"
        try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: edited))
        let bad = try runProgram(bin, ["verify", file, "--expect", edited])
        XCTAssertEqual(bad.status, 3, bad.stdout + bad.stderr)
        XCTAssertTrue(bad.stdout.contains("client counted 2005 sent, wire shows 2000: 5 packets never left the host"), bad.stdout)
        // The same verdict as JSON, for scripts: stdout holds the JSON alone.
        let js = try runProgram(bin, ["verify", file, "--expect", edited, "--json", "-"])
        XCTAssertEqual(js.status, 3, js.stderr)
        let audit = try JSONDecoder().decode(CaptureAuditReport.self, from: Data(js.stdout.utf8))
        XCTAssertEqual(audit.findings, 1)
        XCTAssertEqual(audit.unverified, [])
        XCTAssertEqual(audit.verifications?.map(\.path), ["socket"])
        XCTAssertEqual(audit.verifications?.first?.verification.disagreements.map(\.name), ["client sent pings"])

        report.runs[0].pingpong?.runID = nil
        try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: edited))
        let none = try runProgram(bin, ["verify", file, "--expect", edited])
        XCTAssertEqual(none.status, 1, none.stdout + none.stderr)
        XCTAssertTrue(none.stderr.contains("no run ids"), none.stderr)
    }
}

/// Foreign frames, one of each kind per call.
struct ForeignFrames {
    var n: UInt16 = 0
    mutating func next() -> [(String, [UInt8])] {
        n &+= 1
        let mac: [UInt8] = [2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8]
        let arp = mac + [0x08, 0x06] + [UInt8](repeating: 0, count: 28)
        // ICMPv6 echo request 2001:2::1 -> 2001:2::2 (IPv6 test packets are
        // the test flow now; other IPv6 is counted by its next header).
        let v6src: [UInt8] = [0x20, 0x01, 0, 2] + [UInt8](repeating: 0, count: 11) + [1]
        let v6dst: [UInt8] = [0x20, 0x01, 0, 2] + [UInt8](repeating: 0, count: 11) + [2]
        let ipv6 = mac + [0x86, 0xDD] + [0x60, 0, 0, 0, 0, 8, 58, 64] + v6src + v6dst + [128, 0, 0, 0, 0, 1, UInt8(n >> 8), UInt8(n & 0xFF)]
        func ipv4(proto: UInt8, payload: [UInt8]) -> [UInt8] {
            var ip: [UInt8] = [0x45, 0, 0, 0, UInt8(n >> 8), UInt8(n & 0xFF), 0x40, 0, 64, proto, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2]
            let total = 20 + payload.count
            ip[2] = UInt8(total >> 8); ip[3] = UInt8(total & 0xFF)
            let sum = ip.withUnsafeBytes { Framing.checksum($0) }
            ip[10] = UInt8(sum >> 8); ip[11] = UInt8(sum & 0xFF)
            return mac + [0x08, 0x00] + ip + payload
        }
        let icmp = ipv4(proto: 1, payload: [8, 0, 0, 0, 0, 1, 0, 1])
        // UDP 5353 -> 9999 without a checksum (0 is legal for IPv4).
        let udp = ipv4(proto: 17, payload: [0x14, 0xE9, 0x27, 0x0F, 0, 12, 0, 0, 1, 2, 3, 4])
        return [("ARP", arp), ("ICMPv6", ipv6), ("ICMP", icmp), ("UDP, other port", udp)]
    }
}

/// Files verification must refuse with a clear error and a non-zero exit,
/// and a mutation test of the whole reader and audit.
final class CaptureFileTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = try scratchDirectory(name.filter { $0.isLetter || $0.isNumber })
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A small valid capture of a ping-pong run, built frame by frame, 10 µs
    /// apart (or going back in time 10 µs a frame, with `backwards`).
    func writeValidCapture(_ path: String, snaplen: Int = 65535, cut: Int? = nil, count: UInt64 = 20,
                           backwards: Bool = false) throws -> UInt64 {
        let id: UInt64 = 0x5EED_0001
        var ff = FrameFactory(runID: id)
        let writer = try CaptureFileWriter(path, snaplen: snaplen)
        for (i, f) in ff.pingpong(count: count).enumerated() {
            let keep = cut.map { Array(f.prefix($0)) } ?? f
            let ts = backwards ? 2_000_000_000 - UInt64(i) * 10_000 : 1_000_000_000 + UInt64(i) * 10_000
            writer.write(keep, timestampNs: ts, wireLength: f.count)
        }
        return id
    }

    func verify(_ args: [String]) throws -> Ran {
        try runProgram(try wirepathBinary(), ["verify"] + args, timeout: 60)
    }

    func testValidFileReadsAndCounts() throws {
        let path = dir + "/ok.pcap"
        let id = try writeValidCapture(path)
        let s = try CaptureAudit.audit(path, reflectorPort: 7000)
        XCTAssertEqual(s.run(id)?.clientToReflector.unique, 20)
        XCTAssertEqual(s.run(id)?.reflectorToClient.unique, 20)
        let out = try verify([path])
        XCTAssertEqual(out.status, 0, out.stderr)
        XCTAssertTrue(out.stdout.contains("client→reflector"), out.stdout)
    }

    func testRandomBytesFileIsRefused() throws {
        let path = dir + "/random.pcap"
        var rng = SystemRandomNumberGenerator()
        try Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }).write(to: URL(fileURLWithPath: path))
        let out = try verify([path])
        XCTAssertEqual(out.status, 1)
        XCTAssertTrue(out.stderr.contains("unknown file format") || out.stderr.contains("not a pcap"), out.stderr)
        XCTAssertTrue(out.stderr.contains("pcap and pcapng"), out.stderr)
        let missing = try verify([dir + "/nope.pcap"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("No such file"), missing.stderr)
    }

    func testTruncatedFileIsRefusedWithTheFrameNumber() throws {
        let path = dir + "/ok.pcap"
        _ = try writeValidCapture(path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = dir + "/cut.pcap"
        try data.prefix(data.count - 30).write(to: URL(fileURLWithPath: cut))
        let out = try verify([cut])
        XCTAssertEqual(out.status, 1)
        XCTAssertTrue(out.stderr.contains("truncated"), out.stderr)
        XCTAssertTrue(out.stderr.contains("at frame"), out.stderr)
        // Cut inside the file header.
        try data.prefix(10).write(to: URL(fileURLWithPath: cut))
        let head = try verify([cut])
        XCTAssertEqual(head.status, 1)
        XCTAssertTrue(head.stderr.contains("truncated"), head.stderr)
    }

    func testSmallSnaplenIsRefused() throws {
        let path = dir + "/snap.pcap"
        _ = try writeValidCapture(path, snaplen: 60, cut: 60)
        let out = try verify([path])
        XCTAssertEqual(out.status, 1)
        XCTAssertTrue(out.stderr.contains("snaplen is 60"), out.stderr)
        XCTAssertTrue(out.stderr.contains("82"), out.stderr)
        // A snaplen that covers the header but not the payload is read: the
        // sequence numbers count, the integrity check is not made.
        let half = dir + "/half.pcap"
        let id = try writeValidCapture(half, snaplen: 90, cut: 90)
        let s = try CaptureAudit.audit(half, reflectorPort: 7000)
        XCTAssertEqual(s.run(id)?.clientToReflector.unique, 20)
        // Warm-up and measured pings are cut; the short control packets fit.
        XCTAssertEqual(s.run(id)?.clientToReflector.integrityUnchecked, 3 + 20)
        XCTAssertGreaterThan(s.snapped, 0)
    }

    func testUnknownLinkTypeIsRefused() throws {
        // A pcap header for LINKTYPE_IEEE802_11 (105) and one record.
        var file: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { file += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { file += $0 } }
        u32(0xA1B2_C3D4); u16(2); u16(4); u32(0); u32(0); u32(65535); u32(105)
        u32(1); u32(0); u32(4); u32(4); file += [1, 2, 3, 4]
        let path = dir + "/wifi.pcap"
        try Data(file).write(to: URL(fileURLWithPath: path))
        let out = try verify([path])
        XCTAssertEqual(out.status, 1)
        XCTAssertTrue(out.stderr.contains("link type 105"), out.stderr)
        XCTAssertTrue(out.stderr.contains("Ethernet"), out.stderr)
    }

    func testBadExpectFileIsRefused() throws {
        let path = dir + "/ok.pcap"
        _ = try writeValidCapture(path)
        let junk = dir + "/junk.json"
        try Data("{\"schema\": 3}".utf8).write(to: URL(fileURLWithPath: junk))
        let out = try verify([path, "--expect", junk])
        XCTAssertEqual(out.status, 1)
        XCTAssertTrue(out.stderr.contains("not a wirepath result"), out.stderr)
    }

    /// A valid capture whose last frame is older than its first (a clock
    /// stepped back, or merged files) verifies from the CLI, and its table
    /// says so instead of trapping on the span.
    func testBackwardsTimestampsVerify() throws {
        let path = dir + "/backwards.pcap"
        let id = try writeValidCapture(path, backwards: true)
        let out = try verify([path])
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("over -0.000"), out.stdout)
        XCTAssertTrue(out.stdout.contains("the last frame's timestamp is before the first's"), out.stdout)
        let json = try verify([path, "--json", "-"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let s = try JSONDecoder().decode(CaptureAuditReport.self, from: Data(json.stdout.utf8)).summary
        XCTAssertEqual(s.run(id)?.clientToReflector.unique, 20)
        XCTAssertNil(s.run(id)?.wireRTT, "every reply is older than its request: no RTT, never a wrapped one")
        XCTAssertGreaterThan(try XCTUnwrap(s.firstNs), try XCTUnwrap(s.lastNs))
    }

    /// A few thousand random mutations of a valid capture file (bytes
    /// flipped, overwritten, cut, lengths changed, timestamps rewritten) are
    /// read, audited and rendered (the per-direction table and a
    /// verification line, as `wirepath verify` prints them) in this process:
    /// each either audits or throws a CaptureError; none traps.
    func testMutatedCapturesNeverCrashTheReader() throws {
        let path = dir + "/ok.pcap"
        let id = try writeValidCapture(path, count: 8)
        let valid = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var rng = SystemRandomNumberGenerator()
        let target = dir + "/m.pcap"
        var audited = 0, refused = 0
        // Bounded in time as well as count, generously: a loaded 2-core
        // host (make test-stress) audits fewer per second.
        let deadline = Date().addingTimeInterval(150)
        for i in 0..<2000 where Date() < deadline {
            var m = valid
            switch i % 5 {
            case 0: for _ in 0..<Int.random(in: 1...4, using: &rng) { m[Int.random(in: 24..<m.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng)) }
            case 1: for _ in 0..<Int.random(in: 1...16, using: &rng) { m[Int.random(in: 0..<m.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 2: m = Array(m.prefix(Int.random(in: 0...m.count, using: &rng)))
            case 3:
                // The first record's timestamp (seconds, nanoseconds): often
                // after every later frame's, so the capture runs backwards.
                for off in 24..<32 { m[off] = UInt8.random(in: 0...255, using: &rng) }
            default:
                // A record length field (caplen or len of some record).
                let off = 24 + 8 + 4 * Int.random(in: 0...1, using: &rng)
                m[off] = UInt8.random(in: 0...255, using: &rng)
                m[off + 1] = UInt8.random(in: 0...255, using: &rng)
            }
            try Data(m).write(to: URL(fileURLWithPath: target))
            do {
                let s = try CaptureAudit.audit(target, reflectorPort: 7000, timeoutNs: 1_000_000)
                XCTAssertFalse(TextReport.wireTable(s).isEmpty)
                XCTAssertFalse(TextReport.verificationLine("socket pingpong", Verification.verify(
                    FrameFactory.pingpongResult(sent: 8, received: 8), runID: id, wire: s.run(id), captureDropped: 0)).isEmpty)
                audited += 1
            } catch {
                refused += 1
                XCTAssertFalse(error.description.isEmpty)
            }
        }
        XCTAssertGreaterThan(audited + refused, 1000)
        XCTAssertGreaterThan(audited, 0)
    }
}

/// The fault tests' nftables; missing, they skip, and under CI=true fail.
func requireNFT(file: StaticString = #filePath, line: UInt = #line) throws {
    _ = try requireTool("nft", "`make deps` installs nftables", file: file, line: line)
}

extension PeerNamespaces {
    enum DropPoint { case clientEgress, reflectorIngress }

    /// Drops 2% of the measured window's pings with an nftables netdev
    /// chain: on the client's egress (before the capture's tap there, so
    /// the wire never sees them) or on the reflector's ingress (after the
    /// wire, a loss the capture can locate).
    func dropTwoPercentOfPings(_ at: DropPoint) throws {
        let (namespace, hook, device) = at == .clientEgress ? (client, "egress", clientInterface) : (reflector, "ingress", reflectorInterface)
        try nft(in: namespace, """
            table netdev wirepath_fault {
              chain \(hook) {
                type filter hook \(hook) device "\(device)" priority 0; policy accept;
                \(CaptureIntegrationTests.windowData(1, port: port)) numgen random mod 50 0 drop
              }
            }
            """)
    }
}
