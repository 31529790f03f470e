import Foundation
import Glibc
import XCTest
@testable import WirepathBench
import WirepathIO
import WirepathModel

/// `--threads 2 --queues 2` on the xdp path: one AF_XDP socket per queue at
/// each end, each owned by its thread, on a shared UMEM or one each. Where
/// each flow landed is read from instruments the path does not keep: veth's
/// per-queue counters (packets, and its redirects to AF_XDP sockets), the
/// XDP program's per-queue redirect counters, and each socket's
/// XDP_STATISTICS; a mis-steered run must be flagged. 2 CPUs: contended.
final class XDPThreadsTests: XCTestCase {
    func request(_ umem: XDPUMEMMode, _ measurements: [MeasurementKind] = [.pingpong, .flood]) throws -> RunRequest {
        var r = RunRequest(paths: [.xdp], measurements: measurements,
                           plan: MeasurementPlan(durationNs: 400_000_000, count: nil, warmupNs: 100_000_000, timeoutNs: 200_000_000))
        r.floodDurationNs = 400_000_000
        r.scaling.threads = 2
        r.scaling.queues = 2
        r.template.xdp.mode = .copy
        r.template.xdp.umem = umem
        r.template.xdp.objectPath = try requireXDPObject()
        return r
    }

    func requireXDP() throws {
        try requireRoot()
        if sysconf(Int32(_SC_NPROCESSORS_ONLN)) < 2 { try Missing("two threads per end need 2 online CPUs").end() }
        if let why = availability(.xdp, xdpObject: try requireXDPObject()) { try Missing("xdp unavailable: \(why)").end() }
    }

    /// Ping-pong and flood: both queues receive, each flow's window is
    /// served by its own reflector thread, each queue's socket is its
    /// thread's and took what the program and veth say was redirected to it.
    func checkThreads(_ umem: XDPUMEMMode) throws {
        try requireXDP()
        var r = try request(umem)
        // Shared, in the default mode: the UMEM's first bind tries zero-copy,
        // which veth refuses, and falls back to copy on a fresh UMEM (a UMEM
        // whose first bind failed is not reusable; libxdp crashed on one).
        if umem == .shared { r.template.xdp.mode = .auto }
        let report = try Runner.run(r)
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let t = try XCTUnwrap(run.threaded, "a threaded run records its threads")
        XCTAssertEqual(t.threads, 2)
        XCTAssertEqual(run.options.xdp?.umem, umem.rawValue)
        XCTAssertEqual(run.options.xdp?.queues, [0, 1])
        XCTAssertEqual(run.options.xdp?.attachment, "bpf-link")
        XCTAssertEqual(run.options.xdp?.bindMode, "copy")
        XCTAssertEqual(t.placement.map(\.measurement), ["pingpong", "pingpong replies", "flood"])
        for p in t.placement {
            XCTAssertEqual(p.problems, [], "\(umem) \(p.measurement)")
            for q in p.queues { XCTAssertGreaterThan(q.rxPackets, 0, "\(p.measurement): queue \(q.queue) received nothing") }
            XCTAssertEqual(p.flows.map(\.servedByThread), [0, 1], "\(p.measurement): each flow's window on its own reflector thread")
            let sockets = try XCTUnwrap(p.sockets, "\(p.measurement): the xdp proof names each queue's socket")
            XCTAssertEqual(sockets.map(\.queue), [0, 1])
            XCTAssertEqual(sockets.map(\.thread), [0, 1], "\(p.measurement): queue i's socket is thread i's")
            for s in sockets {
                XCTAssertGreaterThan(s.socketReceived, 0, "\(p.measurement): queue \(s.queue)'s socket received nothing")
                // The kernel's counts and the socket's agree per queue: the
                // program's redirects are what the socket received plus what
                // XDP_STATISTICS says it dropped; veth's redirects what it received.
                XCTAssertTrue(s.accountedFor, "\(p.measurement) queue \(s.queue): \(s)")
                XCTAssertEqual(s.deviceRedirected, s.socketReceived, "\(p.measurement) queue \(s.queue): \(s)")
            }
        }
        // The flood: each flow's packets as its reflector thread counted them
        // arrived on its queue's socket (which also took the control packets).
        let flood = try XCTUnwrap(t.placement.last?.sockets)
        for (i, thread) in t.perThread.enumerated() {
            let f = try XCTUnwrap(thread.flood)
            XCTAssertGreaterThan(f.received, 0)
            XCTAssertGreaterThanOrEqual(flood[i].socketReceived, f.received, "flow \(i) on queue \(i)'s socket")
            XCTAssertGreaterThan(try XCTUnwrap(thread.pingpong).received, 0)
        }
        XCTAssertEqual(run.flood?.received, t.perThread.compactMap(\.flood).reduce(0) { $0 + $1.received })
        XCTAssertTrue(run.notes.contains { $0.contains(umem == .shared ? "shared by 2 sockets" : "one UMEM of") }, "\(run.notes)")
        XCTAssertNil(report.placementFailure)
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }, [])
    }

    func testPerQueueUMEM() throws { try checkThreads(.perQueue) }
    func testSharedUMEM() throws { try checkThreads(.shared) }

    /// The hook moves flow 1 to queue 0 (on xdp by binding: flow 1's client
    /// socket takes queue 0, flow 0's queue 1): the reflector thread of
    /// queue 0 serves flow 1, queue 1's socket at the client is thread 0's,
    /// and the run is flagged in words and fails strict.
    func testMisSteeredFlowIsFlagged() throws {
        try requireXDP()
        var r = try request(.perQueue)
        r.scaling.misSteerFlow = 1
        let report = try Runner.run(r)
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let p = try XCTUnwrap(run.threaded?.placement.first)
        XCTAssertTrue(p.problems.contains("flow 1 was steered to thread 1 but reflector thread 0 served its window"), "\(p.problems)")
        XCTAssertFalse(p.flows[1].ok)
        let replies = try XCTUnwrap(run.threaded?.placement.first { $0.measurement == "pingpong replies" })
        XCTAssertTrue(replies.problems.contains { $0.hasPrefix("flow 1 was steered to queue 1, whose AF_XDP socket at wpc0 is thread 0's") }, "\(replies.problems)")
        XCTAssertTrue(try XCTUnwrap(report.placementFailure).contains("flow 1"))
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }, [])
    }

    /// The command line: the hooked xdp flood fails `--verify strict` (exit 3).
    func testMisSteeredRunFailsVerifyStrict() throws {
        try requireXDP()
        let exe = try wirepathBinary()
        let args = ["flood", "--path", "xdp", "--xdp-mode", "copy", "--xdp-object", try requireXDPObject(), "--threads", "2", "--queues", "2",
                    "--duration", "0.3", "--warmup", "0.1", "--verify", "strict"]
        let strict = try runProgram("/usr/bin/env", ["WIREPATH_TEST_MISSTEER_FLOW=1", exe] + args, timeout: 60)
        XCTAssertEqual(strict.status, 3, strict.stderr)
        XCTAssertTrue(strict.stderr.contains("--verify strict: traffic did not land where it was steered"), strict.stderr)
        let clean = try runProgram("/usr/bin/env", ["-u", "WIREPATH_TEST_MISSTEER_FLOW", exe] + args + ["--xdp-umem", "shared"], timeout: 60)
        XCTAssertEqual(clean.status, 0, clean.stderr)
        XCTAssertTrue(clean.stdout.contains("every flow on its steered queue and thread"), clean.stdout)
        XCTAssertTrue(clean.stdout.contains("queue 1 AF_XDP socket (thread 1)"), clean.stdout)
    }

    /// Two hosts: `serve --threads 2 --path xdp` on a 2-queue veth end and
    /// `compare --threads 2 --peer` from the other: client thread i's socket
    /// sends on queue i, so serve's thread i (its socket on queue i) serves
    /// its flow's windows (a measurement opens two per flow).
    func testServeThreadsAgainstPeer() throws {
        try requireXDP()
        let object = try requireXDPObject()
        let log = NSTemporaryDirectory() + "wirepath-\(getpid())-xdp-threads-serve.log"
        let json = NSTemporaryDirectory() + "wirepath-\(getpid())-xdp-threads-peer.json"
        defer { try? FileManager.default.removeItem(atPath: log); try? FileManager.default.removeItem(atPath: json) }
        let pair = try PeerNamespaces(tag: "xq", subnet: 117, port: 7117, serve: false)
        defer { pair.close() }
        for (ns, dev) in [(pair.client, pair.clientInterface), (pair.reflector, pair.reflectorInterface)] {
            let r = try runProgram("/usr/sbin/ip", ["netns", "exec", ns, "ethtool", "-L", dev, "rx", "2", "tx", "2"], timeout: 10)
            XCTAssertEqual(r.status, 0, "ethtool -L \(dev): \(r.stderr)")
        }
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = ["netns", "exec", pair.reflector, try wirepathBinary(), "serve", "--path", "xdp", "--interface", pair.reflectorInterface,
                            "--xdp-mode", "copy", "--xdp-object", object, "--bind", pair.peer, "--threads", "2", "--duration", "60"]
        FileManager.default.createFile(atPath: log, contents: nil)
        server.standardError = FileHandle(forWritingAtPath: log)
        server.standardOutput = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) }; server.waitUntilExit() }
        XCTAssertTrue(eventually(10) { (try? String(contentsOfFile: log, encoding: .utf8))?.contains("with 2 threads") ?? false }, "serve started")
        let ran = try pair.runClient(["compare", "--paths", "xdp", "--interface", pair.clientInterface, "--xdp-mode", "copy", "--xdp-object", object,
                                      "--peer", pair.peer, "--threads", "2", "--repeat", "1", "--duration", "0.3", "--flood-duration", "0.3",
                                      "--warmup", "0.1", "--json", json])
        server.interrupt()
        server.waitUntilExit()
        XCTAssertEqual(ran.status, 0, ran.stderr)
        let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let t = try XCTUnwrap(run.threaded)
        for thread in t.perThread {
            XCTAssertGreaterThan(try XCTUnwrap(thread.flood).received, 0)
            XCTAssertGreaterThan(try XCTUnwrap(thread.pingpong).received, 0)
        }
        XCTAssertEqual(server.terminationStatus, 0)
        let served = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(served.contains("one AF_XDP socket each"), served)
        // Each serve thread opened its flow's windows of both measurements.
        XCTAssertTrue(served.contains("thread 0 (CPU 0): served 4 measured windows"), served)
        XCTAssertTrue(served.contains("thread 1 (CPU 1): served 4 measured windows"), served)
        XCTAssertEqual(try interfacesWithXDP(pair.reflector), [], "serve's program went with it")
    }

    /// `compare --paths socket,xdp --threads 1,2 --queues 2 --json` (the
    /// flood, which the table is made of): the scaling table has xdp's rows
    /// beside socket's, the 2-thread xdp run with its placement proven.
    func testCompareScalingTableIncludesXDP() throws {
        try requireXDP()
        let json = NSTemporaryDirectory() + "wirepath-\(getpid())-xdp-scaling.json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let ran = try runProgram(try wirepathBinary(), ["compare", "--paths", "socket,xdp", "--xdp-mode", "copy", "--xdp-object", try requireXDPObject(),
                                                        "--threads", "1,2", "--queues", "2", "--measurements", "flood", "--repeat", "1", "--duration", "0.3",
                                                        "--flood-duration", "0.3", "--warmup", "0.1", "--json", json], timeout: 180)
        XCTAssertEqual(ran.status, 0, ran.stderr)
        let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let rows = try XCTUnwrap(report.scaling)
        XCTAssertEqual(rows.filter { $0.path == .xdp }.map(\.threads), [1, 2], "\(rows)")
        XCTAssertEqual(rows.filter { $0.path == .socket }.map(\.threads), [1, 2], "\(rows)")
        for r in rows where r.path == .xdp { XCTAssertGreaterThan(r.aggregatePps, 0); XCTAssertNotNil(r.efficiency) }
        let xdp2 = try XCTUnwrap(report.runs.first { $0.path == .xdp && $0.threaded?.threads == 2 })
        XCTAssertEqual(xdp2.threaded?.placement.flatMap(\.problems), [])
        XCTAssertEqual(xdp2.threaded?.placement.compactMap(\.sockets).count, 1)
        XCTAssertTrue(ran.stdout.contains("scaling (flood, receiver's rate)"), ran.stdout)
        XCTAssertTrue(ran.stdout.contains("\nxdp    "), ran.stdout)
    }

    /// One socket per queue: more threads than queues is refused, naming the fix.
    func testMoreThreadsThanQueuesIsRefused() throws {
        try requireXDP()
        var r = try request(.perQueue, [.flood])
        r.scaling.queues = 1
        let run = try XCTUnwrap(try Runner.run(r).runs.first)
        XCTAssertEqual(run.status, .failed)
        XCTAssertTrue(run.reason?.contains("--threads 2 needs --queues 2 or more") ?? false, run.reason ?? "")
    }

    /// kill -9 of a threaded xdp run: each end's one program (attached by a
    /// BPF link) is gone with the process, without `topo down`.
    func testKill9OfAThreadedRunLeavesNoProgram() throws {
        try requireXDP()
        let p = try start(in: nil, ["pingpong", "--path", "xdp", "--xdp-mode", "copy", "--xdp-object", try requireXDPObject(),
                                    "--threads", "2", "--queues", "2", "--xdp-umem", "shared", "--duration", "30", "--warmup", "0.2", "--quiet"])
        let pid = p.processIdentifier
        let cli = "wirepath-\(pid)-cli", ref = "wirepath-\(pid)-ref"
        defer { Topology.sweepStale() }
        let attached = eventually(20) { ((try? interfacesWithXDP(cli).count) == 1) && ((try? interfacesWithXDP(ref).count) == 1) }
        XCTAssertTrue(attached, "the run attached its programs")
        usleep(500_000)
        kill(pid, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/run/netns/\(cli)"), "the killed run's namespaces stay until swept")
        XCTAssertEqual(try interfacesWithXDP(cli), [], "kill -9 left an XDP program on the client's interface")
        XCTAssertEqual(try interfacesWithXDP(ref), [], "kill -9 left an XDP program on the reflector's interface")
        Topology.sweepStale()
        XCTAssertFalse(wirepathNamespaces().contains { $0.hasPrefix("wirepath-\(pid)-") })
    }
}
