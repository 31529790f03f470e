import Foundation
import XCTest
import Glibc
@testable import WirepathBench
import WirepathIO
import WirepathModel
import WirepathRender
import WirepathTestSupport

/// `--threads`, `--queues`: two threads per end over two veth queues on
/// every socket-backed path, with the proof of where each flow landed read
/// from instruments the program does not control (veth's per-queue
/// counters, each socket's NAPI id), and a mis-steered run that must be
/// flagged. This host has 2 CPUs, so 2 threads per end share them with
/// the other end (contended), which the record must say.
final class ScalingTests: XCTestCase {
    func request(_ kind: PathKind, _ measurements: [MeasurementKind] = [.pingpong, .flood]) -> RunRequest {
        var r = RunRequest(paths: [kind], measurements: measurements,
                           plan: MeasurementPlan(durationNs: 400_000_000, count: nil, warmupNs: 100_000_000, timeoutNs: 200_000_000))
        r.floodDurationNs = 400_000_000
        r.scaling.threads = 2
        r.scaling.queues = 2
        return r
    }

    func requireTwoCPUs() throws {
        if sysconf(Int32(_SC_NPROCESSORS_ONLN)) < 2 { try Missing("two threads per end need 2 online CPUs").end() }
    }

    /// One path, ping-pong and flood: both queues receive, each flow lands
    /// on its steered queue and reflector thread, the aggregate is the sum
    /// of the threads, and nothing is left behind.
    func checkPath(_ kind: PathKind) throws {
        try requireRoot()
        try requireTwoCPUs()
        if let why = availability(kind) { try Missing("\(kind) unavailable: \(why)").end() }
        let report = try Runner.run(request(kind))
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let t = try XCTUnwrap(run.threaded, "a threaded run records its threads")
        XCTAssertEqual(t.threads, 2)
        XCTAssertEqual(t.queues, 2)
        XCTAssertTrue(t.contended, "2 threads per end on 2 CPUs share them")
        XCTAssertTrue(run.notes.contains { $0.hasPrefix("contended") }, "\(run.notes)")
        XCTAssertEqual(t.perThread.map(\.clientCPU), [0, 1])
        // ping-pong requests, its replies, and the flood.
        XCTAssertEqual(t.placement.map(\.measurement), ["pingpong", "pingpong replies", "flood"])
        for p in t.placement {
            XCTAssertEqual(p.problems, [], "\(kind) \(p.measurement)")
            XCTAssertEqual(p.queues.count, 2)
            for q in p.queues { XCTAssertGreaterThan(q.rxPackets, 0, "\(kind) \(p.measurement): queue \(q.queue) received nothing") }
            XCTAssertEqual(p.flows.map(\.servedByThread), [0, 1], "\(kind) \(p.measurement): each flow's window on its own reflector thread")
            XCTAssertEqual(p.flows.map(\.steeredQueue), [0, 1])
            XCTAssertTrue(p.flows.allSatisfy(\.ok))
        }
        // The reflector threads' sockets were fed by two different NAPI
        // contexts: veth has one per RX queue.
        let napi = t.perThread.compactMap(\.reflectorNAPIID)
        XCTAssertEqual(napi.count, 2)
        XCTAssertEqual(Set(napi).count, 2, "each reflector thread's socket saw its own queue's NAPI id: \(napi)")
        XCTAssertFalse(napi.contains(0))

        // The aggregate is the threads' sum; latency is their histograms added.
        let pings = t.perThread.compactMap(\.pingpong)
        XCTAssertEqual(pings.count, 2)
        let p = try XCTUnwrap(run.pingpong)
        XCTAssertEqual(p.received, pings.reduce(0) { $0 + $1.received })
        XCTAssertEqual(p.sent, pings.reduce(0) { $0 + $1.sent })
        XCTAssertEqual(p.latency.count, pings.reduce(0) { $0 + $1.latency.count })
        XCTAssertEqual(p.latency.minNs, pings.map(\.latency.minNs).min())
        XCTAssertEqual(p.latency.maxNs, pings.map(\.latency.maxNs).max())
        XCTAssertGreaterThanOrEqual(p.latency.p50Ns, pings.map(\.latency.p50Ns).min()!)
        XCTAssertLessThanOrEqual(p.latency.p50Ns, pings.map(\.latency.p50Ns).max()!)
        for ping in pings { XCTAssertGreaterThan(ping.received, 0) }
        let floods = t.perThread.compactMap(\.flood)
        XCTAssertEqual(floods.count, 2)
        let f = try XCTUnwrap(run.flood)
        XCTAssertEqual(f.sent, floods.reduce(0) { $0 + $1.sent })
        XCTAssertEqual(f.received, floods.reduce(0) { $0 + $1.received })
        XCTAssertEqual(f.rxPps, floods.reduce(0) { $0 + $1.rxPps }, accuracy: 1)
        for fl in floods { XCTAssertGreaterThan(fl.received, 0) }
        XCTAssertNil(report.placementFailure)
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }, [])
    }

    /// `--capture` with `--threads 2 --queues 2`: captured on the client's
    /// veth (no middle hop, which would undo the queues), each flow
    /// verified on its own run id against the wire, with the wire's counts
    /// equal to that flow's, not the aggregate's.
    func testCaptureVerifiesEachFlow() throws {
        try requireRoot()
        try requireTwoCPUs()
        let dir = try scratchDirectory("scalingcapture")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var r = request(.socket)
        r.capture = CaptureRequest(file: dir + "/threads.pcap")
        let report = try Runner.run(r)
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        XCTAssertEqual(report.environment.topology.kind, "veth-pair", "a threaded capture has no middle hop")
        let capture = try XCTUnwrap(report.capture)
        XCTAssertEqual(capture.interface, "wpc0")
        XCTAssertEqual(capture.dropped, 0, "the capture itself dropped frames")
        let t = try XCTUnwrap(run.threaded)
        XCTAssertEqual(t.placement.flatMap(\.problems), [], "the capture must not move traffic off its queue")
        let v = try XCTUnwrap(run.verification)
        XCTAssertEqual(v.runs.map(\.measurement), ["pingpong", "flood", "pingpong", "flood"])
        XCTAssertEqual(v.runs.map(\.flow), [0, 0, 1, 1])
        for m in v.runs {
            XCTAssertEqual(m.disagreements, [], "flow \(m.flow ?? -1) \(m.measurement): \(m.disagreements.map(\.message))")
            XCTAssertGreaterThanOrEqual(m.checks.count, 4)
        }
        for thread in t.perThread {
            let ping = try XCTUnwrap(thread.pingpong)
            let flood = try XCTUnwrap(thread.flood)
            let pv = try XCTUnwrap(v.runs.first { $0.flow == thread.flow && $0.measurement == "pingpong" })
            let fv = try XCTUnwrap(v.runs.first { $0.flow == thread.flow && $0.measurement == "flood" })
            XCTAssertEqual(pv.runID, ping.runID)
            XCTAssertEqual(fv.runID, flood.runID)
            // The wire's count of this flow alone (libpcap's, not the program's).
            let pw = try XCTUnwrap(pv.wire)
            XCTAssertEqual(pw.clientToReflector.unique, ping.client.txPackets, "flow \(thread.flow)")
            XCTAssertEqual(pw.reflectorToClient.unique, ping.received + ping.reordered, "flow \(thread.flow)")
            let fw = try XCTUnwrap(fv.wire)
            XCTAssertEqual(fw.clientToReflector.unique + fw.clientToReflector.damaged, flood.sent, "flow \(thread.flow)")
            XCTAssertLessThan(fw.clientToReflector.unique, try XCTUnwrap(run.flood).sent, "a flow's wire count is its own, not the aggregate's")
        }
        XCTAssertTrue(report.unverifiedMeasurements.isEmpty, "\(report.unverifiedMeasurements)")
        XCTAssertNil(report.strictVerificationFailure)
        let text = TextReport.verification(report)
        XCTAssertTrue(text.contains("socket flood flow 1"), text)
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }, [])
    }

    func testSocketTwoThreadsTwoQueues() throws { try checkPath(.socket) }
    func testMmsgTwoThreadsTwoQueues() throws { try checkPath(.mmsg) }
    func testUringTwoThreadsTwoQueues() throws { try checkPath(.uring) }

    /// The test hook sends flow 1 on queue 0: the per-queue counters show
    /// it, the run is flagged in words, and the report fails strict.
    func testMisSteeredFlowIsFlagged() throws {
        try requireRoot()
        try requireTwoCPUs()
        var r = request(.socket, [.flood])
        r.scaling.misSteerFlow = 1
        let report = try Runner.run(r)
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let p = try XCTUnwrap(run.threaded?.placement.first)
        XCTAssertEqual(p.queues.count, 2)
        XCTAssertLessThan(p.queues[1].rxPackets, p.queues[0].rxPackets / 10, "flow 1 left on queue 0: \(p.queues)")
        XCTAssertTrue(p.problems.contains { $0.hasPrefix("flow 1 was steered to queue 1 but") && $0.contains("arrived on queue 0") }, "\(p.problems)")
        XCTAssertFalse(p.flows[1].ok)
        XCTAssertTrue(p.flows[0].ok)
        let why = try XCTUnwrap(report.placementFailure)
        XCTAssertTrue(why.contains("flow 1"), why)
        XCTAssertTrue(run.notes.contains { $0.hasPrefix("traffic did not land where it was steered") })
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }, [])
    }

    /// The command line: a mis-steered run fails `--verify strict` (exit 3,
    /// the reason on stderr) and only warns without it.
    func testMisSteeredRunFailsVerifyStrict() throws {
        try requireRoot()
        try requireTwoCPUs()
        let exe = try wirepathBinary()
        let args = ["flood", "--path", "socket", "--threads", "2", "--queues", "2", "--duration", "0.3", "--warmup", "0.1"]
        // Through env(1): the child's environment, whatever this process's is.
        let hooked = ["WIREPATH_TEST_MISSTEER_FLOW=1", exe] + args
        let strict = try runProgram("/usr/bin/env", hooked + ["--verify", "strict"])
        XCTAssertEqual(strict.status, 3, strict.stderr)
        XCTAssertTrue(strict.stderr.contains("--verify strict: traffic did not land where it was steered"), strict.stderr)
        XCTAssertTrue(strict.stderr.contains("flow 1 was steered to queue 1"), strict.stderr)
        let report = try runProgram("/usr/bin/env", hooked)
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssertTrue(report.stderr.contains("warning: traffic did not land"), report.stderr)
        let clean = try runProgram("/usr/bin/env", ["-u", "WIREPATH_TEST_MISSTEER_FLOW", exe] + args + ["--verify", "strict"])
        XCTAssertEqual(clean.status, 0, clean.stderr)
        XCTAssertTrue(clean.stdout.contains("every flow on its steered queue and thread"), clean.stdout)
    }

    /// `compare --threads 1,2 --queues 2 --json` writes the scaling table
    /// (one row per path and count, efficiency against 1 thread, the
    /// 2-thread row contended on 2 CPUs), and the HTML report draws it.
    func testCompareWritesTheScalingTable() throws {
        try requireRoot()
        try requireTwoCPUs()
        let exe = try wirepathBinary()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wirepath-scaling-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("r.json").path
        let ran = try runProgram(exe, ["compare", "--paths", "socket", "--threads", "1,2", "--queues", "2", "--repeat", "1",
                                       "--duration", "0.3", "--flood-duration", "0.3", "--warmup", "0.1",
                                       "--json", json, "--report", dir.appendingPathComponent("html").path], timeout: 180)
        XCTAssertEqual(ran.status, 0, ran.stderr)
        let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let rows = try XCTUnwrap(report.scaling)
        XCTAssertEqual(rows.map(\.threads), [1, 2])
        XCTAssertEqual(rows.map(\.path), [.socket, .socket])
        for r in rows { XCTAssertGreaterThan(r.aggregatePps, 0); XCTAssertNotNil(r.efficiency) }
        XCTAssertEqual(rows[0].efficiency ?? 0, 1, accuracy: 1e-9)
        XCTAssertEqual(rows[1].ppsPerCore, rows[1].aggregatePps / 2, accuracy: 1e-6)
        XCTAssertTrue(rows[1].contended)
        XCTAssertEqual(report.runs.map(\.label), ["socket+threads-1", "socket+threads-2"])
        XCTAssertTrue(ran.stdout.contains("scaling (flood, receiver's rate)"), ran.stdout)
        // The recommendation weighs the table: the lead per measured count, no extrapolation claimed.
        let verdicts = try XCTUnwrap(report.recommendation)
        for v in verdicts {
            XCTAssertTrue(v.reasons.contains { $0.contains("1 thread: socket") && $0.contains("2 threads: socket") && $0.contains("beyond 2 threads per end is extrapolation") }, "\(v.reasons)")
            XCTAssertFalse(v.reasons.contains { $0.contains("tuning") }, "\(v.reasons)")
        }
        XCTAssertEqual(verdicts.first { $0.goal == .throughput }?.pick, .socket)
        let html = try String(contentsOfFile: dir.appendingPathComponent("html/index.html").path, encoding: .utf8)
        XCTAssertTrue(html.contains("data-chart=\"scaling-chart\""), "the HTML report draws the scaling chart")
        XCTAssertTrue(html.contains("Scaling with threads"))
        // A list is compare's: flood takes one count.
        let flood = try runProgram(exe, ["flood", "--path", "socket", "--threads", "1,2", "--duration", "0.1"], timeout: 30)
        XCTAssertNotEqual(flood.status, 0)
        XCTAssertTrue(flood.stderr.contains("is for compare"), flood.stderr)
    }

    /// Two hosts: `serve --threads 2` and `flood`/`pingpong --threads 2
    /// --peer`: each client thread's flow is served by its own serve thread
    /// (each serve thread opened windows: 2 per measurement), and the
    /// aggregate is the client threads' sum.
    func testThreadsAgainstPeer() throws {
        try requireRoot()
        try requireTwoCPUs()
        let log = NSTemporaryDirectory() + "wirepath-\(getpid())-scaling-serve.log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let pair = try PeerNamespaces(tag: "thr", subnet: 113, port: 7113, path: "mmsg", serveArgs: ["--threads", "2"], serveLog: log)
        let json = NSTemporaryDirectory() + "wirepath-\(getpid())-scaling-peer.json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let ran = try pair.runClient(["compare", "--paths", "mmsg", "--peer", pair.peer, "--threads", "2", "--repeat", "1", "--duration", "0.3",
                                      "--flood-duration", "0.3", "--warmup", "0.1", "--json", json])
        // --queues is the built-in topology's; a NIC's are set with ethtool.
        let queues = try pair.runClient(["flood", "--path", "mmsg", "--peer", pair.peer, "--queues", "2", "--duration", "0.1"], timeout: 30)
        XCTAssertNotEqual(queues.status, 0)
        XCTAssertTrue(queues.stderr.contains("--queues 2 shapes the built-in topology"), queues.stderr)
        pair.close()
        XCTAssertEqual(ran.status, 0, ran.stderr)
        let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let run = try XCTUnwrap(report.runs.first)
        let t = try XCTUnwrap(run.threaded)
        XCTAssertEqual(t.perThread.count, 2)
        let floods = t.perThread.compactMap(\.flood)
        XCTAssertEqual(floods.count, 2)
        XCTAssertEqual(run.flood?.received, floods.reduce(0) { $0 + $1.received })
        for f in floods { XCTAssertGreaterThan(f.received, 0) }
        XCTAssertEqual(run.pingpong?.received, t.perThread.compactMap(\.pingpong).reduce(0) { $0 + $1.received })
        let served = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(served.contains("with 2 threads"), served)
        // Each serve thread opened a window of each measurement: both flows did not land on one.
        XCTAssertTrue(served.contains("thread 0 (CPU 0): served 4 measured windows"), served)
        XCTAssertTrue(served.contains("thread 1 (CPU 1): served 4 measured windows"), served)
    }

    /// The doctor says what scaling needs, read from the probe veth while
    /// it exists: its queues (ethtool -l), and XPS/RPS per queue.
    func testDoctorReportsQueuesAndSteering() throws {
        try requireRoot()
        let exe = try wirepathBinary()
        let ran = try runProgram(exe, ["doctor", "--json"], timeout: 60)
        XCTAssertEqual(ran.status, 0, ran.stderr)
        let report = try JSONDecoder().decode(DoctorReport.self, from: Data(ran.stdout.utf8))
        let byName = Dictionary(report.checks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(byName["wpc0 queues"]?.value, "RX 1, TX 1", "\(report.checks.map(\.name))")
        XCTAssertTrue(byName["wpc0 XPS/RPS"]?.value.contains("tx-0/xps_cpus") ?? false, "\(String(describing: byName["wpc0 XPS/RPS"]))")
        for name in ["wpc0 RSS indirection", "wpc0 RSS hash fields (udp4)", "wpc0 flow steering rules", "wpc0 IRQs per queue"] {
            XCTAssertNotNil(byName[name], name)
        }
    }

    /// Bad values are refused with the option and the fix, before anything runs.
    func testBadScalingValuesAreRefused() throws {
        let exe = try wirepathBinary()
        for (args, words) in [(["--threads", "0"], "--threads 0"), (["--queues", "65"], "--queues 65"),
                              (["--threads", "2", "--cpus", "0,4095"], "CPU 4095, which does not exist"),
                              (["--threads", "2", "--cpus", "1,1"], "a CPU appears twice"),
                              (["--threads", "2", "--cpus", "0,x"], "'x' is not a CPU number"),
                              (["--threads", "2", "--flows", "3"], "--flows 3")] {
            let ran = try runProgram(exe, ["flood", "--path", "socket", "--duration", "0.1"] + args, timeout: 30)
            XCTAssertNotEqual(ran.status, 0, "\(args)")
            XCTAssertTrue(ran.stderr.contains(words), "\(args): \(ran.stderr)")
        }
    }
}

/// The pure parts of the threaded run: CPU shares, masks, counter parsing.
final class ScalingUnitTests: XCTestCase {
    /// A reflector thread that served two flows (one mis-steered to it)
    /// is found for both, whichever `begin` it saw last: CI once saw flow
    /// 0 reported unserved because only the last window opened was kept.
    func testAThreadThatOpenedTwoWindowsServedBoth() {
        var s = ServeSummary()
        s.noteOpened(7)
        s.noteOpened(9)
        XCTAssertEqual(s.openedRunIDs, [7, 9])
        for id: UInt64 in 100..<200 { s.noteOpened(id) }
        XCTAssertEqual(s.openedRunIDs.count, ServeSummary.openedRunIDLimit, "bounded")
        XCTAssertEqual(s.openedRunIDs.last, 199)
        XCTAssertFalse(s.openedRunIDs.contains(7), "the oldest go first")
    }

    func testCPUSharesAndContention() throws {
        var s = ScalingRequest()
        s.threads = 2
        let two = s.cpus(online: 2)
        XCTAssertEqual(two.client, [0, 1]); XCTAssertEqual(two.reflector, [0, 1]); XCTAssertTrue(two.contended)
        let four = s.cpus(online: 4)
        XCTAssertEqual(four.client, [0, 1]); XCTAssertEqual(four.reflector, [2, 3]); XCTAssertFalse(four.contended)
        s.threads = 3
        XCTAssertThrowsError(try s.validate(online: 2))
        s.queues = 2
        XCTAssertEqual((0..<3).map { s.queue(ofFlow: $0) }, [0, 1, 0])
    }

    func testCPUMask() {
        XCTAssertEqual(Topology.cpuMask([]), "0")
        XCTAssertEqual(Topology.cpuMask([0]), "1")
        XCTAssertEqual(Topology.cpuMask([1, 3]), "a")
        XCTAssertEqual(Topology.cpuMask([33]), "2,0")
    }

    func testRxQueueCountersParse() {
        let text = """
        NIC statistics:
             peer_ifindex: 2
             rx_queue_0_xdp_packets: 17
             rx_queue_0_xdp_bytes: 900
             rx_queue_1_xdp_packets: 5
             tx_queue_0_xdp_xmit: 0
        """
        XCTAssertEqual(Topology.parseRxQueuePackets(text, queues: 2), [17, 5])
        XCTAssertNil(Topology.parseRxQueuePackets(text, queues: 3), "a queue without its counter is unread, not zero")
        XCTAssertNil(Topology.parseRxQueuePackets("rx_queue_0_xdp_packets: -1", queues: 1))
    }
}
