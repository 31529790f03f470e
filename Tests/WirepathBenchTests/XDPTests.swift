import Foundation
import Glibc
import XCTest
@testable import WirepathBench
@testable import WirepathUring
@testable import WirepathXDP
@testable import WirepathIO
@testable import WirepathModel
import WirepathRender

/// The compiled XDP program, built by `make bpf` (which `make test` runs
/// first) into .build/bpf/, or $WIREPATH_XDP_OBJECT. Missing, the xdp tests
/// skip; under CI=true a missing object is a failure, as a missing root is.
func requireXDPObject(file: StaticString = #filePath, line: UInt = #line) throws -> String {
    if let env = ProcessInfo.processInfo.environment["WIREPATH_XDP_OBJECT"], FileManager.default.isReadableFile(atPath: env) { return env }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let path = root.appendingPathComponent(".build/bpf/xsk_redirect.bpf.o").path
    if FileManager.default.isReadableFile(atPath: path) { return path }
    try Missing("the XDP program \(path) is missing; `make test` builds it with `make bpf`").end(file: file, line: line)
}

/// The AF_XDP path on the real kernel, in copy mode on veth, inside
/// namespaces each test makes and removes. Short runs: 2 cores.
final class XDPTests: XCTestCase {
    func request(_ ms: [MeasurementKind], count: UInt64? = nil, wait: WaitMode = .block, mode: XDPMode = .copy,
                 object: String) -> RunRequest {
        var r = RunRequest(paths: [.xdp], measurements: ms,
                           plan: MeasurementPlan(durationNs: nil, count: count, warmupNs: 200_000_000, timeoutNs: 1_000_000_000))
        r.template.wait = wait
        r.floodDurationNs = 1_000_000_000
        r.template.xdp.mode = mode
        r.template.xdp.objectPath = object
        return r
    }

    func noNamespacesLeft(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())") }.isEmpty, "\(wirepathNamespaces())", file: file, line: line)
    }

    /// Interfaces in `namespace` (nil: the host's) with an XDP program of ours.
    func interfacesWithOurProgram(_ namespace: String?) throws -> [String] {
        let r = try ip(namespace.map { ["-n", $0] } ?? [], "-d", "-o", "link", "show")
        return r.stdout.split(separator: "\n").filter { $0.contains("prog/xdp") && $0.contains("wp_xsk_redirect") }.map { String($0.prefix(40)) }
    }

    func ip(_ pre: [String], _ args: String...) throws -> Ran { try runProgram("/usr/sbin/ip", pre + args, timeout: 30) }

    func testAvailableHere() throws {
        try requireRoot()
        let object = try requireXDPObject()
        XCTAssertNil(availability(.xdp, xdpObject: object))
        XCTAssertTrue(PathKind.implemented.contains(.xdp))
        let missing = try XCTUnwrap(availability(.xdp, xdpObject: "/nonexistent/xsk_redirect.bpf.o"))
        XCTAssertTrue(missing.contains("make bpf"), missing)
    }

    /// 10,000 round trips xdp to xdp in copy mode, none lost; both ends
    /// agree, and each end's XDP program redirected exactly what its socket
    /// received.
    func testPingPong10kCopyModeNoLoss() throws {
        try requireRoot()
        let report = try Runner.run(request([.pingpong], count: 10_000, object: try requireXDPObject()))
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let p = try XCTUnwrap(run.pingpong)
        XCTAssertEqual(p.sent, 10_000)
        XCTAssertEqual(p.received, 10_000)
        XCTAssertEqual(p.lost, 0)
        XCTAssertEqual(p.duplicated, 0)
        XCTAssertEqual(p.integrityFailures, 0)
        let r = try XCTUnwrap(p.reflector)
        XCTAssertEqual(r.rxPackets, 10_001, "the window's pings plus the end request")
        XCTAssertEqual(r.txPackets, 10_001, "the echoes plus the begin ack")
        XCTAssertEqual(p.client.txPackets, 10_000)
        XCTAssertEqual(p.client.rxPackets, 10_000)
        // The program's count and the rings' count agree at both ends.
        let cx = try XCTUnwrap(p.client.xdp)
        let rx = try XCTUnwrap(r.xdp, "the reflector sends its xdp counters in its report")
        XCTAssertEqual(cx.redirected, p.client.rxPackets)
        XCTAssertEqual(rx.redirected, r.rxPackets)
        XCTAssertEqual(cx.passedNoSocket + rx.passedNoSocket, 0)
        XCTAssertEqual(rx.socketRxDropped + cx.socketRxDropped, 0)
        // Copy mode: one TX kick per send (TX always needs waking), no RX
        // kicks. In block mode the kick is the poll() that waits for the
        // next packet: copy mode's poll transmits the TX ring first.
        XCTAssertEqual(cx.txKicks, 10_000)
        XCTAssertEqual(rx.txKicks, 10_001)
        XCTAssertEqual(cx.rxKicks + rx.rxKicks, 0)
        XCTAssertTrue(p.client.errnos.isEmpty, "\(p.client.errnos)")
        XCTAssertTrue(r.errnos.isEmpty, "\(r.errnos)")
        // The kernel's count: one poll per round trip at each end, which
        // both sends and waits.
        for (end, cost) in [("client", p.client.cost), ("reflector", r.cost)] {
            let spp = try XCTUnwrap(cost?.syscallsPerPacket, "\(end): \(cost?.syscallsUnavailable ?? "no cost")")
            XCTAssertEqual(spp, 1.0, accuracy: 0.1, end)
        }
        XCTAssertEqual(p.client.txCalls, 0, "no sendto: every send rode in a poll")
        XCTAssertGreaterThanOrEqual(p.client.waitCalls, 10_000)
        let x = try XCTUnwrap(run.options.xdp)
        XCTAssertEqual(x.bindMode, "copy")
        XCTAssertEqual(x.attachMode, "native")
        XCTAssertEqual(x.driver, "veth")
        XCTAssertNil(x.fallback, "copy was asked for")
        let text = TextReport.comparison(report) + TextReport.details(report)
        XCTAssertTrue(text.contains("xdp copy/native"), text)
        XCTAssertTrue(text.contains("program redirected 10001 = 10001 received"), text)
        noNamespacesLeft()
    }

    func testSpinAndEpollWaitModes() throws {
        try requireRoot()
        let object = try requireXDPObject()
        for wait in [WaitMode.spin, .epoll] {
            let report = try Runner.run(request([.pingpong], count: 2000, wait: wait, object: object))
            let run = try XCTUnwrap(report.runs.first)
            XCTAssertEqual(run.status, .ok, "\(wait): \(run.reason ?? "")")
            XCTAssertEqual(run.pingpong?.received, 2000, "\(wait)")
            XCTAssertEqual(run.pingpong?.lost, 0, "\(wait)")
            if wait == .spin {
                // Spinning never waits in the kernel: the only syscall of a
                // round trip is the TX kick.
                XCTAssertEqual(run.pingpong?.client.waitCalls, 0)
                let spp = try XCTUnwrap(run.pingpong?.client.cost?.syscallsPerPacket)
                XCTAssertEqual(spp, 1.0, accuracy: 0.05)
            } else {
                XCTAssertGreaterThan(run.pingpong?.client.waitCalls ?? 0, 0)
            }
        }
        noNamespacesLeft()
    }

    /// A zero-copy request on veth fails and names the fix; auto falls back
    /// to copy and says why.
    func testZeroCopyOnVethFailsClearlyAndAutoFallsBack() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let zc = try Runner.run(request([.pingpong], count: 100, mode: .zerocopy, object: object))
        let failed = try XCTUnwrap(zc.runs.first)
        XCTAssertEqual(failed.status, .failed)
        let reason = failed.reason ?? ""
        XCTAssertTrue(reason.contains("XDP_ZEROCOPY") && reason.contains("EOPNOTSUPP") && reason.contains("--xdp-mode copy"), reason)
        let auto = try Runner.run(request([.pingpong], count: 500, mode: .auto, object: object))
        let run = try XCTUnwrap(auto.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        XCTAssertEqual(run.pingpong?.lost, 0)
        let x = try XCTUnwrap(run.options.xdp)
        XCTAssertEqual(x.bindMode, "copy")
        XCTAssertEqual(x.fallback?.contains("veth: zero-copy not supported by driver"), true, "\(x)")
        XCTAssertTrue(TextReport.details(auto).contains("fell back: veth: zero-copy not supported by driver"))
        noNamespacesLeft()
    }

    /// Busy polling is accepted on a copy-mode XSK but has nothing to poll:
    /// the result says so and claims nothing.
    func testBusyPollOnCopyModeSaysItHasNoEffect() throws {
        try requireRoot()
        var r = request([.pingpong], count: 500, wait: .spin, object: try requireXDPObject())
        r.template.socket.busyPollMicros = 50
        let report = try Runner.run(r)
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        XCTAssertEqual(run.options.xdp?.napiID, 0)
        XCTAssertEqual(run.options.hadNAPIID, false)
        XCTAssertTrue(run.notes.contains { $0.contains("busy-poll has no effect here: copy-mode socket has no NAPI id") }, "\(run.notes)")
        XCTAssertEqual(run.pingpong?.client.xdp?.rxKicks, 0, "no busy-poll kicks without a NAPI id")
        noNamespacesLeft()
    }

    /// A flood: every packet the sender put on the wire is accounted for at
    /// the receiver, by the program and by the rings; the sender kicks once
    /// per 32 packets.
    func testFloodIsAccountedForByProgramAndRings() throws {
        try requireRoot()
        let report = try Runner.run(request([.flood], object: try requireXDPObject()))
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let f = try XCTUnwrap(run.flood)
        let rx = try XCTUnwrap(f.receiver)
        let x = try XCTUnwrap(rx.xdp)
        XCTAssertGreaterThan(f.sent, 10_000)
        assertKernelAccounts(f, "xdp flood")
        XCTAssertEqual(f.duplicated, 0)
        // Redirected = received by the socket + dropped by the socket.
        XCTAssertEqual(x.redirected, rx.rxPackets + x.socketRxDropped, "\(x)")
        XCTAssertEqual(f.sender.txPacketsPerCall, 32, accuracy: 1, "one TX kick per 32 frames")
        let kicks = try XCTUnwrap(f.sender.xdpKicksPerPacket)
        XCTAssertEqual(kicks, 1.0 / 32, accuracy: 0.01)
        noNamespacesLeft()
        print("xdp flood: sent \(f.sent), received \(f.received) (\(String(format: "%.3f", f.rxPps / 1e6)) Mpps), lost \(f.lost); receiver \(x)")
    }

    /// Ceiling mode: the receiver's program drops the flood in XDP; control
    /// packets still reach the socket, so both ends still report.
    func testCeilingModeDropsTheFloodInXDP() throws {
        try requireRoot()
        var r = request([.flood], wait: .spin, object: try requireXDPObject())
        r.template.xdp.dropFlood = true
        let report = try Runner.run(r)
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        let f = try XCTUnwrap(run.flood)
        let x = try XCTUnwrap(f.receiver?.xdp)
        XCTAssertEqual(f.received, 0, "the socket sees no flood packet")
        XCTAssertGreaterThan(x.dropped, 0)
        XCTAssertLessThanOrEqual(x.dropped, f.sent)
        XCTAssertEqual(f.receiver?.rxPackets, 1, "only the end request reached the socket")
        XCTAssertTrue(TextReport.details(report).contains("ceiling mode: the receiver's XDP program dropped"), TextReport.details(report))
        noNamespacesLeft()
    }

    /// xdp against socket, both ways: frames built in Swift are valid for
    /// the kernel stack, and the kernel's frames parse here.
    func testInteropWithSocketPath() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let topology = try Topology.up(tag: "\(getpid())x")
        defer { topology.down() }
        for (client, reflector) in [(PathKind.xdp, PathKind.socket), (.socket, .xdp)] {
            let (p, _) = try pingpong(topology, client: client, reflector: reflector, count: 2000, object: object)
            XCTAssertEqual(p.received, 2000, "\(client) -> \(reflector)")
            XCTAssertEqual(p.lost, 0, "\(client) -> \(reflector)")
            XCTAssertEqual(p.integrityFailures, 0)
            XCTAssertEqual(p.reflector?.rxPackets, 2001, "\(client) -> \(reflector)")
            XCTAssertEqual(p.reflector?.txPackets, 2001, "\(client) -> \(reflector)")
        }
        // The kernel saw no bad checksum from our frames.
        let snmp = try runProgram("/usr/sbin/ip", ["netns", "exec", topology.clientNamespace, "cat", "/proc/net/snmp"], timeout: 10)
        let udp = snmp.stdout.split(separator: "\n").filter { $0.hasPrefix("Udp:") }
        if udp.count == 2 {
            let names = udp[0].split(separator: " "), values = udp[1].split(separator: " ")
            if let i = names.firstIndex(of: "InCsumErrors") { XCTAssertEqual(values[i], "0", "\(udp)") }
        }
        topology.down()
        noNamespacesLeft()
    }

    func configs(_ t: Topology, client: PathKind, reflector: PathKind, port: UInt16, object: String) throws -> (PathConfig, PathConfig, Endpoint) {
        var x = XDPOptions()
        x.mode = .copy
        x.objectPath = object
        let reflectorEP = Endpoint(address: t.reflectorAddress.address, port: port)
        var rc = try PathConfig.validated(path: reflector, local: reflectorEP)
        var cc = try PathConfig.validated(path: client, local: Endpoint(address: t.clientAddress.address, port: 0), peer: reflectorEP)
        if reflector == .xdp { rc = try rc.with(xdp: x, interface: t.reflectorInterface) }
        if client == .xdp { cc = try cc.with(xdp: x, interface: t.clientInterface) } // MAC from the neighbour table
        return (rc, cc, reflectorEP)
    }

    func pingpong(_ t: Topology, client: PathKind, reflector: PathKind, count: UInt64, object: String) throws -> (PingPongResult, PathInfo) {
        let (reflectorConfig, clientConfig, reflectorEP) = try configs(t, client: client, reflector: reflector, port: 7200, object: object)
        return try pingpongAcross(t, reflector: reflectorConfig, client: clientConfig, peer: reflectorEP, count: count)
    }

    /// While the program is attached, everything that is not the test flow
    /// still reaches the kernel stack: ICMP echo, ARP (the static neighbour
    /// entry removed first) and UDP to another port.
    func testKernelStackStillWorksWhileAttached() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let t = try Topology.up(tag: "\(getpid())k")
        defer { t.down() }
        let (config, _, _) = try configs(t, client: .socket, reflector: .xdp, port: 7300, object: object)
        let attached = Latch()
        let done = StopSignal()
        let other = Endpoint(address: t.reflectorAddress.address, port: 7301)
        // The reflector's namespace: the xdp path attached on port 7300, and
        // a kernel UDP socket on 7301 that must still get its datagram.
        let holder = try OSThread(name: "xdp-holder", netns: t.reflectorNamespace, cpu: nil) { () throws -> (Bool, XDPCounters) in
            var path = try XDPPath(config)
            let fd = try Sys.udpSocket(nonBlocking: true)
            defer { Sys.close(fd) }
            try Sys.bind(fd, other)
            attached.open()
            var got = false
            var buf = [UInt8](repeating: 0, count: 64)
            var from = SocketAddress()
            var batch = PacketBatch(capacity: 4, slotSize: 1500)
            let end = Sys.monotonicNanos() + 15_000_000_000
            while Sys.monotonicNanos() < end && !done.requested {
                if !got, case .success(let n) = Sys.recvfrom(fd, &buf, buf.count, &from, flags: 0), n > 0 { got = true }
                _ = try path.receive(into: &batch)
            }
            return (got, path.counters.xdp)
        }
        XCTAssertTrue(attached.wait(timeoutNs: 5_000_000_000))
        let shown = try interfacesWithOurProgram(t.reflectorNamespace)
        XCTAssertEqual(shown.count, 1, "the program is attached to \(t.reflectorInterface)")
        // ICMP echo, with the static entry in place (ping(8) need not be
        // installed: a raw ICMP socket in the client's namespace).
        let echo = { () throws -> Int in
            try OSThread(name: "icmp", netns: t.clientNamespace, cpu: nil) { () throws -> Int in
                var replies = 0
                for seq in 1...2 where icmpEcho(to: t.reflectorAddress.address, seq: UInt16(seq)) { replies += 1 }
                return replies
            }.join()
        }
        XCTAssertEqual(try echo(), 2, "ICMP echo replies")
        // ARP: without the static entry the client must resolve the reflector.
        XCTAssertEqual(try ip(["-n", t.clientNamespace], "neigh", "del", "198.18.0.2", "dev", t.clientInterface).status, 0)
        XCTAssertEqual(try echo(), 2, "ICMP echo replies after ARP")
        let neigh = try ip(["-n", t.clientNamespace], "neigh", "show", "198.18.0.2")
        XCTAssertTrue(neigh.stdout.contains(t.reflectorMAC), neigh.stdout)
        // UDP to another port, from the client's kernel stack.
        let sender = try OSThread(name: "udp", netns: t.clientNamespace, cpu: nil) { () throws -> Int in
            let fd = try Sys.udpSocket(nonBlocking: false)
            defer { Sys.close(fd) }
            var sa = SocketAddress(other)
            var sent = 0
            for _ in 0..<3 {
                var b: [UInt8] = Array("not the test flow".utf8)
                if case .success(let n) = Sys.sendto(fd, &b, b.count, &sa, flags: 0), n > 0 { sent += 1 }
                usleep(100_000)
            }
            return sent
        }
        XCTAssertEqual(try sender.join(), 3)
        usleep(300_000)
        done.request()
        let (got, counters) = try holder.join()
        XCTAssertTrue(got, "the kernel socket on 7301 received its datagram")
        XCTAssertEqual(counters.redirected, 0, "nothing of the test flow was sent")
        XCTAssertGreaterThanOrEqual(counters.passed, 2 + 1 + 1 + 3, "echo requests, ARP and UDP passed: \(counters)")
        // Dropping the path detached the program.
        XCTAssertEqual(try interfacesWithOurProgram(t.reflectorNamespace), [])
        t.down()
        noNamespacesLeft()
    }

    /// Opening and dropping the path releases every descriptor and mapping
    /// it took and detaches the program, in every mode.
    func testOpenAndCloseLeavesNothing() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let t = try Topology.up(tag: "\(getpid())o")
        defer { t.down() }
        let (_, base, _) = try configs(t, client: .xdp, reflector: .socket, port: 7400, object: object)
        let thread = try OSThread(name: "open-close", netns: t.clientNamespace, cpu: nil) { () throws -> (Int, Int, Int, Int) in
            func fds() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count ?? -1 }
            func maps() -> Int { ((try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? "").split(separator: "\n").count }
            do { _ = try XDPPath(base) }
            let (fd0, map0) = (fds(), maps())
            for ring in [32, 2048] {
                for wait in WaitMode.allCases {
                    var x = base.xdp
                    x.ringSize = ring
                    var c = try base.with(xdp: x)
                    c.wait = wait
                    var path = try XDPPath(c)
                    var batch = PacketBatch(capacity: 4, slotSize: 1500)
                    XCTAssertEqual(try path.receive(into: &batch), 0, "nothing was sent")
                }
            }
            return (fd0, fds(), map0, maps())
        }
        let (fdBefore, fdAfter, mapsBefore, mapsAfter) = try thread.join()
        XCTAssertEqual(fdAfter, fdBefore)
        XCTAssertEqual(mapsAfter, mapsBefore)
        XCTAssertEqual(try interfacesWithOurProgram(t.clientNamespace), [])
        t.down()
    }

    /// Two namespaces the test makes, as two hosts would be: `serve --path
    /// xdp --interface` in one, `pingpong --path xdp --interface --peer` in
    /// the other, with no static neighbour entry (the client resolves the
    /// peer's MAC through the kernel) and no --peer-mac.
    func testServeAndPeerOnInterfacesTheUserNames() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let bin = try wirepathBinary()
        let a = "wirepath-\(getpid())-xpA", b = "wirepath-\(getpid())-xpB"
        defer { _ = try? ip([], "netns", "del", a); _ = try? ip([], "netns", "del", b) }
        for args in [["netns", "add", a], ["netns", "add", b],
                     ["link", "add", "xa", "netns", a, "numtxqueues", "1", "numrxqueues", "1", "type", "veth",
                      "peer", "name", "xb", "netns", b, "numtxqueues", "1", "numrxqueues", "1"],
                     ["-n", a, "addr", "add", "198.19.2.1/24", "dev", "xa"], ["-n", b, "addr", "add", "198.19.2.2/24", "dev", "xb"],
                     ["-n", a, "link", "set", "xa", "up"], ["-n", b, "link", "set", "xb", "up"],
                     ["-n", a, "link", "set", "lo", "up"], ["-n", b, "link", "set", "lo", "up"]] {
            let r = try runProgram("/usr/sbin/ip", args, timeout: 10)
            XCTAssertEqual(r.status, 0, "ip \(args): \(r.stderr)")
        }
        // Without --interface, serve refuses to pick an interface itself.
        let refused = try runProgram("/usr/sbin/ip", ["netns", "exec", b, bin, "serve", "--path", "xdp", "--xdp-object", object,
                                                       "--bind", "198.19.2.2:7100", "--duration", "2"], timeout: 20)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--interface"), refused.stderr)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = ["netns", "exec", b, bin, "serve", "--path", "xdp", "--xdp-object", object, "--xdp-mode", "copy",
                            "--interface", "xb", "--bind", "198.19.2.2:7100", "--duration", "30"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.interrupt(); server.waitUntilExit() }
        let until = Date().addingTimeInterval(10)
        while Date() < until, (try? interfacesWithOurProgram(b).isEmpty) ?? true { usleep(50_000) }
        let json = NSTemporaryDirectory() + "wp-xdp-peer-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let r = try runProgram("/usr/sbin/ip", ["netns", "exec", a, bin, "pingpong", "--path", "xdp", "--xdp-object", object,
                                                 "--xdp-mode", "copy", "--interface", "xa", "--peer", "198.19.2.2:7100",
                                                 "--count", "2000", "--warmup", "0.2", "--json", json], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        let pp = ((obj?["runs"] as? [[String: Any]])?.first)?["pingpong"] as? [String: Any]
        XCTAssertEqual(pp?["received"] as? Int, 2000)
        XCTAssertEqual(pp?["lost"] as? Int, 0)
        XCTAssertEqual((pp?["reflector"] as? [String: Any])?["rxPackets"] as? Int, 2001)
        server.interrupt()
        server.waitUntilExit()
        XCTAssertEqual(try interfacesWithOurProgram(b), [], "serve detached its program on SIGINT")
        XCTAssertEqual(try interfacesWithOurProgram(a), [])
    }

    /// The command line: a bad option names its range; `--xdp-mode zerocopy`
    /// on veth exits non-zero with the fix.
    func testCommandLine() throws {
        let bin = try wirepathBinary()
        let ring = try runProgram(bin, ["pingpong", "--path", "xdp", "--xdp-ring-size", "100"])
        XCTAssertNotEqual(ring.status, 0)
        XCTAssertTrue(ring.stderr.contains("power of two from 32 to 16384"), ring.stderr)
        let frame = try runProgram(bin, ["pingpong", "--path", "xdp", "--xdp-frame-size", "1024"])
        XCTAssertTrue(frame.stderr.contains("2048 to 4096"), frame.stderr)
        let mode = try runProgram(bin, ["pingpong", "--path", "xdp", "--xdp-mode", "fast"])
        XCTAssertTrue(mode.stderr.contains("auto, zerocopy, copy"), mode.stderr)
        try requireRoot()
        let object = try requireXDPObject()
        let zc = try runProgram(bin, ["pingpong", "--path", "xdp", "--xdp-mode", "zerocopy", "--xdp-object", object, "--count", "10", "--warmup", "0"], timeout: 60)
        XCTAssertEqual(zc.status, 1)
        XCTAssertTrue(zc.stderr.contains("EOPNOTSUPP") && zc.stderr.contains("--xdp-mode copy"), zc.stderr)
    }
}

/// One ICMP echo request to `address` over a raw socket (CAP_NET_RAW) in the
/// calling thread's namespace; true when the matching reply came within 2 s.
func icmpEcho(to address: UInt32, seq: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMP))
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var tv = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let id = UInt16(truncatingIfNeeded: getpid())
    var packet: [UInt8] = [8, 0, 0, 0, UInt8(id >> 8), UInt8(id & 0xff), UInt8(seq >> 8), UInt8(seq & 0xff)] + Array("wirepath".utf8)
    let sum = packet.withUnsafeBytes { Framing.checksum($0) }
    packet[2] = UInt8(sum >> 8); packet[3] = UInt8(sum & 0xff)
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_addr = in_addr(s_addr: address.bigEndian)
    let sent = withUnsafePointer(to: &sa) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, packet, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard sent == packet.count else { return false }
    var buf = [UInt8](repeating: 0, count: 256)
    let end = Date().addingTimeInterval(2)
    while Date() < end {
        let n = recv(fd, &buf, buf.count, 0)
        guard n >= 28 else { return false }
        // The raw socket hands over the IPv4 header too.
        let icmp = Int(buf[0] & 0x0f) * 4
        if buf[icmp] == 0, buf[icmp + 4] == UInt8(id >> 8), buf[icmp + 5] == UInt8(id & 0xff), buf[icmp + 7] == UInt8(seq & 0xff) { return true }
    }
    return false
}
