import Foundation
import Glibc
import XCTest
import CWirepath
@testable import WirepathBench
import WirepathModel
import WirepathTestSupport
@testable import WirepathIO

/// UDP GSO and GRO (issue 17, items 1-3) on the real kernel: the sender's
/// syscalls counted by the kernel (its raw_syscalls tracepoint), every
/// datagram found by the receiver, by the kernel's drop counters and by a
/// capture on the middle hop; and the limits refused with their fix.
final class GSOTests: XCTestCase {
    static let segments = 16

    func request(_ paths: [PathKind], gso: Int?, gro: Bool = false, vethNAPI: Bool = false,
                 capture: String? = nil, batch: Int = PathConfig.defaultBatch) -> RunRequest {
        var r = RunRequest(paths: paths, measurements: [.flood],
                           plan: MeasurementPlan(durationNs: nil, count: nil, warmupNs: 100_000_000, timeoutNs: 1_000_000_000))
        r.template.payloadSize = 1400
        r.template.batchSize = batch
        r.template.socket.gsoSegments = gso
        r.template.socket.gro = gro
        // Room for the whole flood in the receiver's socket buffer, so that
        // a fast GSO sender does not simply overrun a slower receiver.
        r.template.socket.receiveBufferBytes = 64 << 20
        r.floodCount = 8000
        r.floodDurationNs = 2_000_000_000
        r.vethNAPI = vethNAPI
        if let capture { r.capture = CaptureRequest(file: capture) }
        return r
    }

    func paths() -> [PathKind] {
        var p: [PathKind] = [.socket, .mmsg]
        if let why = availability(.uring) {
            if ciRequiresEveryTest() { XCTFail("uring unavailable under CI: \(why)") }
        } else {
            p.append(.uring)
        }
        return p
    }

    /// Every datagram of the flood is accounted for: received, or located
    /// by the kernel's counters; none arrived damaged; and the capture on the
    /// middle hop agrees with both ends.
    func checkEveryDatagram(_ run: PathRun, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(run.status, .ok, "\(what): \(run.reason ?? "")", file: file, line: line)
        let f = try XCTUnwrap(run.flood, what, file: file, line: line)
        XCTAssertEqual(f.sent, 8000, what, file: file, line: line)
        XCTAssertGreaterThan(f.received, 0, what, file: file, line: line)
        XCTAssertEqual(f.integrityFailures, 0, what, file: file, line: line)
        assertKernelAccounts(f, what, file: file, line: line)
        if let v = run.verification {
            for m in v.runs {
                XCTAssertEqual(m.disagreements, [], "\(what) \(m.measurement): \(m.disagreements.map(\.message))", file: file, line: line)
                if let w = m.wire { XCTAssertEqual(w.clientToReflector.damaged, 0, what, file: file, line: line) }
            }
        }
    }

    /// `--gso 16` on socket, mmsg and uring: the sender makes 1/16 of the
    /// send syscalls of the same flood without it (kernel-counted), and the
    /// receiver, the kernel and the capture account for every datagram.
    func testGSOFloodSendsOneSixteenthTheSyscalls() throws {
        try requireRoot()
        let dir = try scratchDirectory("gso")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = paths()
        let plain = try Runner.run(request(paths, gso: nil))
        let gso = try Runner.run(request(paths, gso: Self.segments, capture: dir + "/gso.pcap"))
        XCTAssertEqual(gso.runs.map(\.path), paths)
        for (p, g) in zip(plain.runs, gso.runs) {
            try checkEveryDatagram(p, "\(p.path) plain")
            try checkEveryDatagram(g, "\(g.path) --gso 16")
            XCTAssertNotNil(g.verification, "\(g.path): the capture verified the GSO flood")
            XCTAssertEqual(g.options.gsoSegments, Self.segments)
            let before = try XCTUnwrap(p.flood?.sender.cost?.syscallsPerPacket, "\(p.path): syscalls not counted")
            let after = try XCTUnwrap(g.flood?.sender.cost?.syscallsPerPacket, "\(g.path): syscalls not counted")
            // 16 datagrams per send: the ratio is 16 up to the window's edges.
            // uring's syscalls are enters, not sends: one enter carries a
            // batch of SQEs either way, and with GSO fewer enters reclaim
            // send slots, so it saves at least the 16.
            if g.path == .uring {
                XCTAssertGreaterThanOrEqual(before / after, Double(Self.segments) - 3, "\(g.path): \(before) → \(after) syscalls per packet")
            } else {
                XCTAssertEqual(before / after, Double(Self.segments), accuracy: 3, "\(g.path): \(before) → \(after) syscalls per packet")
            }
        }
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }, [])
    }

    /// `--gro` on veth with NAPI: a receive returns more than one datagram
    /// (socket: more than 1 per call; mmsg: more than its batch of 8 messages
    /// per call), and every datagram is accounted for and verified.
    func testGROReceivesCoalescedBuffersOnVethNAPI() throws {
        try requireRoot()
        let dir = try scratchDirectory("gro")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = paths()
        // The host's softirq time around the whole run, read here: each
        // flood's window is inside it, so no CPU's share can exceed it.
        let before = try softirqNow()
        let report = try Runner.run(request(paths, gso: Self.segments, gro: true, vethNAPI: true, capture: dir + "/gro.pcap", batch: 8))
        let after = try softirqNow()
        XCTAssertEqual(report.runs.map(\.path), paths)
        for run in report.runs {
            try checkEveryDatagram(run, "\(run.path) --gso 16 --gro")
            let f = try XCTUnwrap(run.flood)
            // Where the receive work ran: every CPU, the ends labelled.
            let sq = try XCTUnwrap(f.softirq, "\(run.path): the flood reads /proc/stat's softirq time")
            XCTAssertEqual(sq.cpus.map(\.cpu), before.keys.sorted(), "\(run.path)")
            XCTAssertEqual(sq.packets, f.received)
            if sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2 {
                XCTAssertEqual(sq.cpus.first { $0.cpu == 0 }?.pinned, "sender", "\(run.path)")
                XCTAssertEqual(sq.cpus.first { $0.cpu == 1 }?.pinned, "receiver", "\(run.path)")
            }
            let hz = UInt64(sysconf(Int32(_SC_CLK_TCK)))
            for c in sq.cpus {
                let outer = (after[c.cpu] ?? 0) - (before[c.cpu] ?? 0)
                XCTAssertLessThanOrEqual(c.ns, outer * (1_000_000_000 / hz), "\(run.path) cpu\(c.cpu): more softirq time than the host had around the run")
            }
            XCTAssertEqual(f.lost, 0, "\(run.path): a lossless flood (GRO drops count once per coalesced buffer in the kernel's counters)")
            let receiver = try XCTUnwrap(f.receiver)
            // uring's receive call is a batch of completions, not a syscall:
            // its buffers are checked by the accounting above.
            if run.path != .uring {
                let limit = run.path == .socket ? 1.0 : 8.0
                XCTAssertGreaterThan(receiver.rxPacketsPerCall, limit, "\(run.path): GRO coalesced nothing")
            }
            XCTAssertEqual(run.options.gro, true)
        }
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }, [])
    }

    /// Each CPU's softirq ticks now, read by the test itself.
    func softirqNow() throws -> [Int: UInt64] {
        try XCTUnwrap(CPUStatFile.parseSoftirq(try String(contentsOfFile: "/proc/stat", encoding: .utf8)))
    }

    /// /proc/stat's cpuN lines, the softirq field (the seventh), the sum
    /// line skipped; lines that do not parse are skipped, never trapped on.
    func testSoftirqParse() {
        let text = """
        cpu  3368352 268274 878935 3729217 76356 0 209944 158170 0 0
        cpu0 1590722 113506 446702 1942129 29196 0 153615 75103 0 0
        cpu1 1777630 154768 432233 1787088 47160 0 56329 83066 0 0
        cpux 1 2 3 4 5 6 7 8
        cpu2 1 2 3
        intr 123 0 0
        """
        XCTAssertEqual(CPUStatFile.parseSoftirq(text), [0: 153615, 1: 56329])
        XCTAssertNil(CPUStatFile.parseSoftirq("intr 1 2 3\n"))
        XCTAssertNil(CPUStatFile.parseSoftirq(""))
    }

    /// The kernel's segment limit is probed (128 on Linux 5.5+), and a
    /// count over it, or over 64 KB per send, is refused with the fix.
    func testLimitsRefusedWithTheFix() throws {
        let limit = try XCTUnwrap(Sys.udpSegmentLimit, "this kernel has UDP_SEGMENT")
        XCTAssertEqual(limit, 128, "UDP_MAX_SEGMENTS on Linux 5.5+")
        var c = PathConfig(path: .socket, local: .any, payloadSize: 1472)
        c.socket.gsoSegments = 44
        XCTAssertNoThrow(try c.validate())
        c.socket.gsoSegments = 45
        XCTAssertThrowsError(try c.validate()) { e in
            XCTAssertTrue("\(e)".contains("65507") && "\(e)".contains("--gso 44"), "\(e)")
        }
        c.payloadSize = 64
        c.socket.gsoSegments = limit + 1
        XCTAssertThrowsError(try c.validate()) { e in
            XCTAssertTrue("\(e)".contains("1-\(limit)") && "\(e)".contains("--gso \(limit)"), "\(e)")
        }
        c.socket.gsoSegments = limit
        XCTAssertNoThrow(try c.validate())

        let exe = try wirepathBinary()
        let ran = try runProgram(exe, ["flood", "--path", "socket", "--size", "1472", "--gso", "64", "--duration", "0.1"], timeout: 30)
        XCTAssertNotEqual(ran.status, 0)
        XCTAssertTrue(ran.stderr.contains("--gso 44"), ran.stderr)
    }

    /// `--stages` with `--gro` is refused on every receiving path, the
    /// command line saying which flag to drop (issue 17: uring's stamp walk
    /// read 64 bytes of control data, which the GRO cmsg could fill first;
    /// and one stamp for a coalesced buffer is no packet's stamp).
    func testStagesWithGRORefusedWithTheFix() throws {
        for path in [PathKind.socket, .mmsg, .uring] {
            var c = PathConfig(path: path, local: .any, payloadSize: PathConfig.minStagesPayload)
            c.stamping = .software
            XCTAssertNoThrow(try c.validate(), "\(path): --stages alone")
            c.socket.gro = true
            XCTAssertThrowsError(try c.validate(), "\(path)") { e in
                XCTAssertTrue("\(e)".contains("--stages with --gro") && "\(e)".contains("drop --gro"), "\(e)")
            }
            c.stamping = .off
            XCTAssertNoThrow(try c.validate(), "\(path): --gro alone")
        }
        let exe = try wirepathBinary()
        let ran = try runProgram(exe, ["pingpong", "--path", "uring", "--stages", "--gro", "--size", "\(PathConfig.minStagesPayload)", "--count", "10"], timeout: 30)
        XCTAssertNotEqual(ran.status, 0)
        XCTAssertTrue(ran.stderr.contains("--stages with --gro") && ran.stderr.contains("drop --gro"), ran.stderr)
        let serve = try runProgram(exe, ["serve", "--path", "uring", "--stages", "--gro", "--bind", "198.18.0.2:7000", "--duration", "1"], timeout: 30)
        XCTAssertNotEqual(serve.status, 0)
        XCTAssertTrue(serve.stderr.contains("drop --gro"), serve.stderr)
    }

    /// The split of a coalesced buffer, with the segment size as hostile
    /// input: a batch smaller than the buffer gets the rest on the next call;
    /// a size of 0 means one datagram; a size larger than a slot is dropped
    /// and counted; a truncated buffer is dropped and counted.
    func testGROSplitIsBoundedAndValidated() {
        var gro = GROBuffers(messages: 2, slotBytes: 1500)
        var counters = PathCounters()
        var batch = PacketBatch(capacity: 4, slotSize: 1500)
        func control(_ i: Int, segment: Int32) -> Int {
            // One UDP_GRO cmsg as the kernel writes it.
            let p = gro.control(i)
            p.initializeMemory(as: UInt8.self, repeating: 0, count: gro.controlSpace)
            let header = MemoryLayout<cmsghdr>.size
            p.storeBytes(of: header + 4, as: Int.self)
            p.storeBytes(of: WP_SOL_UDP, toByteOffset: MemoryLayout<Int>.size, as: Int32.self)
            p.storeBytes(of: WP_UDP_GRO, toByteOffset: MemoryLayout<Int>.size + 4, as: Int32.self)
            p.storeBytes(of: segment, toByteOffset: header, as: Int32.self)
            return gro.controlSpace
        }
        for i in 0..<1000 { gro.buffer(0).storeBytes(of: UInt8(i & 0xff), toByteOffset: i, as: UInt8.self) }
        gro.reset()
        gro.record(0, length: 1000, source: .any, controlLength: control(0, segment: 100), flags: 0, counters: &counters)
        gro.record(1, length: 300, source: .any, controlLength: control(1, segment: 0), flags: 0, counters: &counters)
        gro.begin()
        var lengths: [Int] = []
        for _ in 0..<5 {
            batch.count = 0
            _ = gro.drain(into: &batch, counters: &counters)
            // In place: slot 1 of the first call is the buffer, 100 bytes in.
            if lengths.isEmpty { XCTAssertEqual(batch.slotPointer(1), gro.buffer(0) + 100) }
            for i in 0..<batch.count { lengths.append(batch.length(i)) }
            if !gro.pending { break }
        }
        XCTAssertEqual(lengths, Array(repeating: 100, count: 10) + [300])
        XCTAssertEqual(counters.rxPackets, 11)
        XCTAssertEqual(counters.groCoalesced, 1)

        gro.reset()
        gro.record(0, length: 3000, source: .any, controlLength: control(0, segment: 2000), flags: 0, counters: &counters)
        gro.record(1, length: 500, source: .any, controlLength: control(1, segment: 100), flags: WP_MSG_TRUNC, counters: &counters)
        gro.begin()
        batch.count = 0
        XCTAssertEqual(gro.drain(into: &batch, counters: &counters), 0)
        XCTAssertEqual(counters.groDropped, 2)
        XCTAssertFalse(gro.pending)
    }
}
