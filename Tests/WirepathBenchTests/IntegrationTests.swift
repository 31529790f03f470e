import Foundation
import Glibc
import XCTest
@testable import WirepathBench
@testable import WirepathUring
@testable import WirepathXDP
@testable import WirepathIO
@testable import WirepathModel
import WirepathRender

/// Real sockets in real namespaces. Each test makes its own topology and
/// checks that nothing is left behind.
final class TopologyTests: XCTestCase {
    func testUpDownLeavesNothing() throws {
        try requireRoot()
        // Only this test's own namespaces are checked: other runs on the host
        // may come and go meanwhile.
        let t = try Topology.up(tag: "\(getpid())t1")
        let mine = { wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())t1-") } }
        XCTAssertTrue(wirepathNamespaces().contains(t.clientNamespace))
        XCTAssertTrue(wirepathNamespaces().contains(t.reflectorNamespace))
        XCTAssertEqual(t.clientMAC.count, 17)
        // One RX and one TX queue per veth end.
        let q = try ip("-n", t.clientNamespace, "-d", "link", "show", "dev", t.clientInterface)
        XCTAssertTrue(q.stdout.contains("numtxqueues 1 numrxqueues 1"), q.stdout)
        // The link works: the kernel answers a ping across the pair (no
        // ping on PATH is a skip, and under CI a failure, never a pass).
        let pingTool = Result { try requireTool("ping", "iputils-ping answers across the pair") }
        if case .success(let pingBinary) = pingTool {
            let ping = try runProgram("/usr/sbin/ip", ["netns", "exec", t.clientNamespace, pingBinary, "-c", "1", "-W", "2", "198.18.0.2"], timeout: 10)
            XCTAssertEqual(ping.status, 0, ping.stdout + ping.stderr)
        }
        XCTAssertEqual(mine().count, 2)
        t.down()
        XCTAssertEqual(mine(), [])
        // The topology is gone before the missing tool ends the test.
        _ = try pingTool.get()
    }

    /// `--veth-threaded-napi`: each end's NAPI runs in a kernel thread that
    /// the topology finds, pins to that end's CPU and leaves nothing of when
    /// it goes; a flood over it is counted as on the default topology.
    func testThreadedNAPIThreadsArePinnedAndGoWithTheTopology() throws {
        try requireRoot()
        let t = try Topology.up(tag: "\(getpid())tn", threadedNAPI: true)
        XCTAssertTrue(t.vethNAPI, "threaded NAPI implies NAPI mode")
        let threads = t.clientNAPIThreads + t.reflectorNAPIThreads
        XCTAssertFalse(t.clientNAPIThreads.isEmpty)
        XCTAssertFalse(t.reflectorNAPIThreads.isEmpty)
        let threaded = try ip("netns", "exec", t.reflectorNamespace, "cat", "/sys/class/net/\(t.reflectorInterface)/threaded")
        XCTAssertEqual(threaded.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "1")
        // Pinning needs two CPUs; with one, the rest still runs and the test
        // then ends through `Missing` (a failure under CI), never a pass.
        let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        if cpus >= 2 {
            let notes = t.pinNAPIThreads(clientCPU: 0, reflectorCPU: 1)
            XCTAssertFalse(notes.contains { $0.contains("could not pin") }, "\(notes)")
            func allowed(_ tid: Int32) -> String {
                let status = (try? String(contentsOfFile: "/proc/\(tid)/status", encoding: .utf8)) ?? ""
                return status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
                    .map { $0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces) } ?? "?"
            }
            for tid in t.clientNAPIThreads { XCTAssertEqual(allowed(tid), "0", "client NAPI thread \(tid)") }
            for tid in t.reflectorNAPIThreads { XCTAssertEqual(allowed(tid), "1", "reflector NAPI thread \(tid)") }
        }
        t.down()
        // The threads go with their devices (the kernel stops them when the
        // namespace's veth is deleted, which may take a moment).
        var left = threads
        for _ in 0..<50 where !left.isEmpty {
            usleep(20_000)
            left = left.filter { FileManager.default.fileExists(atPath: "/proc/\($0)") }
        }
        XCTAssertEqual(left, [], "NAPI threads outlived the topology")
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())tn-") }, [])
        if cpus < 2 { try Missing("pinning NAPI threads to each end's CPU needs 2 CPUs; this host has \(cpus)").end() }
    }

    /// A flood over threaded NAPI: every packet is accounted for, and the
    /// result says which topology it ran on.
    func testFloodOverThreadedNAPI() throws {
        try requireRoot()
        var r = RunRequest(paths: [.mmsg], measurements: [.flood],
                           plan: MeasurementPlan(durationNs: nil, count: nil, warmupNs: 100_000_000, timeoutNs: 1_000_000_000))
        r.vethThreadedNAPI = true
        r.floodDurationNs = 500_000_000
        let report = try Runner.run(r)
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let f = try XCTUnwrap(run.flood)
        XCTAssertGreaterThan(f.received, 0)
        assertKernelAccounts(f, "mmsg over threaded NAPI")
        XCTAssertEqual(report.environment.topology.threadedNAPI, true)
        XCTAssertEqual(report.environment.topology.vethNAPI, true)
        XCTAssertTrue(run.notes.contains { $0.contains("threaded NAPI") }, "\(run.notes)")
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }, [])
    }

    func testStaleSweepRemovesDeadRunsOnly() throws {
        try requireRoot()
        // A pid that cannot exist (above pid_max) stands for a killed run.
        XCTAssertEqual(try ip("netns", "add", "wirepath-4194399-cli").status, 0)
        XCTAssertEqual(try ip("netns", "add", "wirepath-\(getpid())-keep").status, 0)
        let removed = Topology.sweepStale()
        XCTAssertEqual(removed, ["wirepath-4194399-cli"])
        XCTAssertTrue(wirepathNamespaces().contains("wirepath-\(getpid())-keep"))
        _ = try ip("netns", "del", "wirepath-\(getpid())-keep")
    }
}

final class PathIntegrationTests: XCTestCase {
    func request(_ paths: [PathKind], _ ms: [MeasurementKind], count: UInt64? = nil, durationNs: UInt64? = nil, wait: WaitMode = .block) -> RunRequest {
        var r = RunRequest(paths: paths, measurements: ms,
                           plan: MeasurementPlan(durationNs: durationNs, count: count, warmupNs: 200_000_000, timeoutNs: 1_000_000_000))
        r.template.wait = wait
        r.floodDurationNs = 1_000_000_000
        return r
    }

    func checkPingPong(_ run: PathRun, count: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.status, .ok, run.reason ?? "", file: file, line: line)
        guard let p = run.pingpong else { return XCTFail("no ping-pong result", file: file, line: line) }
        XCTAssertEqual(p.sent, count, file: file, line: line)
        XCTAssertEqual(p.received, count, file: file, line: line)
        XCTAssertEqual(p.lost, 0, file: file, line: line)
        XCTAssertEqual(p.duplicated, 0, file: file, line: line)
        XCTAssertEqual(p.integrityFailures, 0, file: file, line: line)
        XCTAssertEqual(p.latency.count, count, file: file, line: line)
        XCTAssertGreaterThan(p.latency.minNs, 0, file: file, line: line)
        XCTAssertLessThanOrEqual(p.latency.p50Ns, p.latency.p99Ns, file: file, line: line)
        // Both ends agree: the reflector echoed exactly what the client sent.
        guard let r = p.reflector else { return XCTFail("no reflector report", file: file, line: line) }
        XCTAssertEqual(r.rxPackets, count + 1, "reflector received the window's pings plus the end request", file: file, line: line)
        XCTAssertEqual(r.txPackets, count + 1, "reflector sent the echoes plus the begin ack", file: file, line: line)
        XCTAssertEqual(p.client.txPackets, count, "the client window holds exactly its pings", file: file, line: line)
        // The kernel's syscall count (its own window): a blocking round trip is
        // one send and one receive at each end.
        for (end, cost) in [("client", p.client.cost), ("reflector", r.cost)] {
            guard let spp = cost?.syscallsPerPacket else {
                XCTFail("\(end) syscalls not counted: \(cost?.syscallsUnavailable ?? "no cost")", file: file, line: line)
                continue
            }
            XCTAssertEqual(spp, 2.0, accuracy: 0.05, end, file: file, line: line)
            XCTAssertGreaterThanOrEqual(cost?.syscallPackets ?? 0, 100, file: file, line: line)
            // CPU comes from the main window, with no tracepoint attached.
            XCTAssertNil(cost?.raw.syscalls, file: file, line: line)
            XCTAssertGreaterThan(cost?.cpuNsPerPacket ?? 0, 0, file: file, line: line)
        }
    }

    func testSocketAndMmsgPingPong10k() throws {
        try requireRoot()
        let report = try Runner.run(request([.socket, .mmsg], [.pingpong], count: 10_000))
        XCTAssertEqual(report.runs.count, 2)
        for run in report.runs { checkPingPong(run, count: 10_000) }
        XCTAssertEqual(report.environment.topology.kind, "veth-pair")
        XCTAssertTrue(wirepathNamespaces().filter { $0.contains("-\(getpid())-") || $0.hasPrefix("wirepath-\(getpid())-") }.isEmpty)
    }

    func testSpinAndEpollWaitModes() throws {
        try requireRoot()
        for wait in [WaitMode.spin, .epoll] {
            let report = try Runner.run(request([.socket, .mmsg], [.pingpong], count: 2000, wait: wait))
            for run in report.runs {
                XCTAssertEqual(run.status, .ok, "\(wait) \(run.reason ?? "")")
                // A loaded host may drop or delay a ping past its timeout
                // (the stress run lost 1 of 2000 in spin); the kernel's
                // account of such losses is KernelLossTests' to check.
                XCTAssertLessThanOrEqual(run.pingpong?.lost ?? .max, 4, "\(wait)")
                XCTAssertGreaterThanOrEqual(run.pingpong?.received ?? 0, 1996, "\(wait)")
                if wait == .epoll { XCTAssertGreaterThan(run.pingpong?.client.waitCalls ?? 0, 0) }
            }
        }
    }

    /// `--busy-poll 50`: with `--veth-napi` the socket and mmsg sockets get
    /// a NAPI id (both ends) and the result records it; without, they have
    /// none and the note says busy-poll had no effect.
    func testBusyPollReportsWhetherTheSocketHadANAPIID() throws {
        try requireRoot()
        for vethNAPI in [false, true] {
            var r = request([.socket, .mmsg], [.pingpong], count: 1000)
            r.template.socket.busyPollMicros = 50
            r.vethNAPI = vethNAPI
            let report = try Runner.run(r)
            XCTAssertEqual(report.runs.map(\.path), [.socket, .mmsg])
            XCTAssertEqual(report.environment.topology.vethNAPI, vethNAPI)
            for run in report.runs {
                let what = "\(run.path), veth-napi \(vethNAPI)"
                XCTAssertEqual(run.status, .ok, "\(what): \(run.reason ?? "")")
                let p = try XCTUnwrap(run.pingpong, what)
                XCTAssertEqual(p.received, 1000, what)
                XCTAssertEqual(p.lost, 0, what)
                XCTAssertEqual(run.options.busyPollMicros, 50, what)
                XCTAssertEqual(run.options.hadNAPIID, vethNAPI, "\(what): NAPI id \(run.options.napiID)")
                XCTAssertEqual(run.options.napiID != 0, vethNAPI, what)
                XCTAssertEqual(p.client.napiID != 0, vethNAPI, "\(what): client")
                XCTAssertEqual((p.reflector?.napiID ?? 0) != 0, vethNAPI, "\(what): reflector")
                XCTAssertEqual(run.notes.contains { $0.contains("busy-poll 50 µs has no effect here") }, !vethNAPI, "\(what): \(run.notes)")
            }
        }
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }, [])
    }

    /// `interface` on the socket paths: a name that is not in the namespace
    /// is an error naming it and the fix; one that is binds the socket to it.
    func testInterfaceIsCheckedAndBound() throws {
        try requireRoot()
        let t = try Topology.up(tag: "\(getpid())if")
        defer { t.down() }
        let local = Endpoint(address: t.clientAddress.address, port: 0)
        let thread = try OSThread(name: "interface", netns: t.clientNamespace, cpu: nil) { () throws -> [String] in
            var bound: [String] = []
            for kind in [PathKind.socket, .mmsg] {
                let missing = try PathConfig.validated(path: kind, local: local, interface: "nosuch0")
                let bad = kind == .socket ? Result { _ = try SocketPath(missing) } : Result { _ = try MmsgPath(missing) }
                guard case .failure(let e as PathError) = bad else { XCTFail("\(kind): opened on a missing interface"); continue }
                XCTAssertEqual(e.errno.rawValue, ENODEV, "\(kind)")
                XCTAssertTrue(e.description.contains("no interface 'nosuch0'") && e.description.contains("ip link"), e.description)
                let on = try PathConfig.validated(path: kind, local: local, interface: t.clientInterface)
                let plain = try PathConfig.validated(path: kind, local: local)
                if kind == .socket {
                    let p = try SocketPath(on)
                    bound.append(Sys.boundDevice(p.socket.fd) ?? "")
                    XCTAssertTrue(p.info.notes.contains { $0.contains("bound to \(t.clientInterface)") }, "\(p.info.notes)")
                    XCTAssertEqual(Sys.boundDevice(try SocketPath(plain).socket.fd) ?? "", "", "no --interface, no binding")
                } else {
                    let p = try MmsgPath(on)
                    bound.append(Sys.boundDevice(p.socket.fd) ?? "")
                    XCTAssertEqual(Sys.boundDevice(try MmsgPath(plain).socket.fd) ?? "", "", "no --interface, no binding")
                }
            }
            return bound
        }
        XCTAssertEqual(try thread.join(), [t.clientInterface, t.clientInterface])
        t.down()
    }

    /// The flood sink checks each packet's integrity, as the ping-pong client
    /// does: flood packets of the run that the test itself corrupts and sends
    /// are counted as integrity failures, never as received. They go out as
    /// raw frames from the flood client's own address and port (fixed here):
    /// the run's packets from any other source are foreign to its session.
    func testFloodSinkCountsCorruptedPacketsApart() throws {
        try requireRoot()
        let t = try Topology.up(tag: "\(getpid())fi")
        defer { t.down() }
        for kind in [PathKind.socket, .mmsg] {
            let reflectorEP = Endpoint(address: t.reflectorAddress.address, port: 7240)
            let reflectorConfig = try PathConfig.validated(path: kind, local: reflectorEP)
            let clientEP = Endpoint(address: t.clientAddress.address, port: 7241)
            let clientConfig = try PathConfig.validated(path: kind, local: clientEP, peer: reflectorEP)
            let reflectorMAC = t.reflectorMAC.split(separator: ":").compactMap { UInt8($0, radix: 16) }
            let plan = MeasurementPlan(durationNs: 600_000_000, count: nil, warmupNs: 0, timeoutNs: 1_000_000_000)
            let serverStop = StopSignal(), injectorStop = StopSignal()
            let ready = Latch()
            let server = try OSThread(name: "sink", netns: t.reflectorNamespace, cpu: nil) { () throws -> ServeSummary in
                do { return try Measure.serve(reflectorConfig, stop: serverStop, options: ServeOptions(countSyscalls: true), ready: { ready.open() }) } catch { ready.fail(); throw error }
            }
            XCTAssertTrue(ready.wait(timeoutNs: 5_000_000_000), "\(kind) sink did not start")
            // Flood packets of this very run, stamped as the sender does and
            // then corrupted in the body, every 2 ms while the flood runs.
            let clientInterface = t.clientInterface
            let injector = try OSThread(name: "corrupter", netns: t.clientNamespace, cpu: nil) { () -> Int in
                let stamper = PayloadStamper(runID: plan.runID, size: 64)
                var packet = [UInt8](repeating: 0, count: 64)
                var sent = 0
                while !injectorStop.requested {
                    packet.withUnsafeMutableBytes { b in
                        stamper.prepare(b)
                        // Its own sequence range: if it were counted it would add to `received`.
                        stamper.stamp(b, kind: .flood, seq: (1 << 40) + UInt64(sent), timestamp: Sys.monotonicNanos())
                        b[50] ^= 0x5A
                    }
                    if (try? HostileInputTests.sendFrame(interface: clientInterface, destinationMAC: reflectorMAC, source: clientEP.address,
                                                         destination: reflectorEP.address, sourcePort: clientEP.port,
                                                         destinationPort: reflectorEP.port, payload: packet)) != nil { sent += 1 }
                    usleep(2_000)
                }
                return sent
            }
            let client = try OSThread(name: "flood", netns: t.clientNamespace, cpu: nil) { () throws -> FloodResult in
                try Measure.flood(clientConfig, peer: reflectorEP, plan: plan, stop: StopSignal(),
                                  kernel: KernelProbe.local(client: t.clientNamespace, reflector: t.reflectorNamespace)).0
            }
            let outcome = Result { try client.join() }
            injectorStop.request()
            let injected = try injector.join()
            serverStop.request()
            _ = try server.join()
            let f = try outcome.get()
            XCTAssertGreaterThan(injected, 20, "\(kind)")
            let bad = try XCTUnwrap(f.integrityFailures, "\(kind): the sink reports integrity failures")
            XCTAssertGreaterThan(bad, 0, "\(kind): the corrupted packets were not counted as integrity failures")
            XCTAssertLessThanOrEqual(bad, UInt64(injected), "\(kind)")
            XCTAssertLessThanOrEqual(f.received, f.sent, "\(kind): corrupted packets counted as received")
            // The injected packets are extra, in their own sequence range:
            // what the program lost is exactly what the kernel dropped.
            let k = try XCTUnwrap(f.kernelLoss, "\(kind)")
            XCTAssertEqual(k.unread, [], "\(kind)")
            XCTAssertGreaterThanOrEqual(k.located, f.lost, "\(kind): \(TextReport.kernelLoss(k))")
            // The injected packets cross the same receive buffer: when a
            // starved receiver overflows it (a loaded host), the kernel's
            // count takes in the injected ones it dropped too, which are no
            // loss of the run's.
            let injectedDropped = UInt64(injected) - min(UInt64(injected), bad)
            XCTAssertLessThanOrEqual(k.located, f.lost + k.controlResends + injectedDropped, "\(kind): \(TextReport.kernelLoss(k))")
            XCTAssertTrue(TextReport.details(WirepathReport(
                command: "flood", startedAt: "", environment: EnvironmentRecord(kernel: "", cpuModel: "", cpus: 1, wirepathVersion: "", syscallCounter: "", topology: t.record(clientCPU: nil, reflectorCPU: nil)),
                settings: RunSettings(durationNs: nil, count: nil, warmupNs: 0, timeoutNs: 0, payloadSize: 64, batchSize: 32, wait: .block, busyPollMicros: nil, measurements: []),
                runs: [PathRun(path: kind, status: .ok, options: PathOptionsRecord(clientConfig, napiID: 0), flood: f)])).contains("arrived corrupted"))
        }
        t.down()
    }

    /// Opening and dropping socket and mmsg paths many times, in every wait
    /// mode, and failing to open them (busy port, missing interface),
    /// leaves no descriptor or mapping: each owner releases once.
    func testOpenAndCloseLeavesNoDescriptor() throws {
        try requireRoot()
        let t = try Topology.up(tag: "\(getpid())fd")
        defer { t.down() }
        let local = Endpoint(address: t.clientAddress.address, port: 0)
        let sink = Endpoint(address: t.reflectorAddress.address, port: 9)
        let thread = try OSThread(name: "open-close", netns: t.clientNamespace, cpu: nil) { () throws -> (Int, Int, Int, Int) in
            func fds() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count ?? -1 }
            func maps() -> Int { ((try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? "").split(separator: "\n").count }
            // One of each first, so lazily loaded libraries do not count as leaks.
            do { _ = try SocketPath(PathConfig.validated(path: .socket, local: local)); _ = try MmsgPath(PathConfig.validated(path: .mmsg, local: local)) }
            let (fd0, map0) = (fds(), maps())
            for round in 0..<20 {
                for wait in WaitMode.allCases {
                    for busyPoll in [nil, 50] as [Int?] {
                        let c = try PathConfig.validated(path: .socket, local: local, batchSize: [1, 32, 1024][round % 3], wait: wait, socket: SocketOptions(busyPollMicros: busyPoll))
                        var batch = PacketBatch(capacity: 4, slotSize: 1500)
                        for i in 0..<4 { batch.setLength(i, 64); batch.setEndpoint(i, sink) }
                        do {
                            var p = try SocketPath(c)
                            // epoll adds its instance to the socket.
                            XCTAssertEqual(fds(), fd0 + (wait == .epoll ? 2 : 1), "socket \(wait)")
                            XCTAssertEqual(try p.receive(into: &batch), 0, "nothing was sent")
                            batch.count = 4
                            XCTAssertEqual(try p.send(&batch), 4)
                        }
                        do {
                            var c = c
                            c.path = .mmsg
                            var p = try MmsgPath(c)
                            XCTAssertEqual(fds(), fd0 + (wait == .epoll ? 2 : 1), "mmsg \(wait)")
                            XCTAssertEqual(try p.receive(into: &batch), 0, "nothing was sent")
                            batch.count = 4
                            XCTAssertEqual(try p.send(&batch), 4)
                        }
                        XCTAssertEqual(fds(), fd0, "round \(round), \(wait), busy-poll \(String(describing: busyPoll))")
                    }
                }
            }
            // Failed opens release what they took: a busy port, a missing interface.
            do {
                let held = try SocketPath(PathConfig.validated(path: .socket, local: Endpoint(address: local.address, port: 7250)))
                for wait in WaitMode.allCases {
                    let busy = try PathConfig.validated(path: .mmsg, local: Endpoint(address: local.address, port: 7250), wait: wait)
                    XCTAssertThrowsError(try { _ = try MmsgPath(busy) }())
                    XCTAssertThrowsError(try { _ = try SocketPath(busy) }())
                    let missing = try PathConfig.validated(path: .socket, local: local, interface: "nosuch0", wait: wait)
                    XCTAssertThrowsError(try { _ = try SocketPath(missing) }())
                }
                XCTAssertEqual(fds(), fd0 + 1, "only the socket holding the port")
                _ = held.socket.fd
            }
            return (fd0, fds(), map0, maps())
        }
        let (fdBefore, fdAfter, mapsBefore, mapsAfter) = try thread.join()
        XCTAssertEqual(fdAfter, fdBefore)
        XCTAssertEqual(mapsAfter, mapsBefore)
        t.down()
    }

    func testFloodBatchingShowsInKernelSyscallCount() throws {
        try requireRoot()
        let report = try Runner.run(request([.socket, .mmsg], [.flood]))
        guard report.runs.count == 2, let sock = report.runs[0].flood, let mmsg = report.runs[1].flood else {
            return XCTFail("missing flood results: \(report.runs.map { $0.reason ?? "ok" })")
        }
        for f in [sock, mmsg] {
            XCTAssertGreaterThan(f.sent, 1000)
            XCTAssertGreaterThan(f.received, 0)
            assertKernelAccounts(f)
        }
        let sockSys = try XCTUnwrap(sock.sender.cost?.syscallsPerPacket)
        let mmsgSys = try XCTUnwrap(mmsg.sender.cost?.syscallsPerPacket)
        // sendto: one syscall per packet; sendmmsg with batch 32: about 1/32.
        XCTAssertEqual(sockSys, 1.0, accuracy: 0.05)
        XCTAssertEqual(mmsgSys, 1.0 / 32, accuracy: 0.01)
        XCTAssertEqual(mmsg.sender.txPacketsPerCall, 32, accuracy: 0.5)
    }

    func testUnavailablePathsAreRowsNotCrashes() throws {
        try requireRoot()
        // Every path is built now; an xdp run without its compiled program
        // is a row that says how to build it.
        var r = request([.xdp], [.pingpong], count: 10)
        r.template.xdp.objectPath = "/nonexistent/xsk_redirect.bpf.o"
        let report = try Runner.run(r)
        XCTAssertEqual(report.runs.map(\.status), [.unavailable])
        XCTAssertTrue(report.runs.allSatisfy { ($0.reason ?? "").contains("make bpf") }, "\(report.runs.map { $0.reason ?? "" })")
        XCTAssertNil(report.runs[0].pingpong)
    }

    func testJSONHasEveryFigureForBothEnds() throws {
        try requireRoot()
        let report = try Runner.run(request([.mmsg], [.pingpong, .flood], count: 500))
        let data = try JSONEncoder().encode(report)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(obj["schema"] as? String, "wirepath.report/1")
        let env = try XCTUnwrap(obj["environment"] as? [String: Any])
        XCTAssertNotNil(env["kernel"])
        XCTAssertNotNil(env["topology"])
        let run = try XCTUnwrap((obj["runs"] as? [[String: Any]])?.first)
        let pp = try XCTUnwrap(run["pingpong"] as? [String: Any])
        let lat = try XCTUnwrap(pp["latency"] as? [String: Any])
        for k in ["minNs", "p50Ns", "p90Ns", "p99Ns", "p999Ns", "p9999Ns", "maxNs", "meanNs", "stddevNs", "count"] {
            XCTAssertNotNil(lat[k], k)
        }
        for end in ["client", "reflector"] {
            let e = try XCTUnwrap(pp[end] as? [String: Any], end)
            let cost = try XCTUnwrap(e["cost"] as? [String: Any], end)
            for k in ["syscallsPerPacket", "userNsPerPacket", "systemNsPerPacket", "cpuNsPerPacket"] { XCTAssertNotNil(cost[k], "\(end).\(k)") }
        }
        let fl = try XCTUnwrap(run["flood"] as? [String: Any])
        for k in ["txPps", "rxPps", "txPayloadBps", "rxPayloadBps", "lost", "sender", "receiver"] { XCTAssertNotNil(fl[k], k) }
    }
}
