import Foundation
import XCTest
import Glibc
@testable import WirepathBench
@testable import WirepathUring
@testable import WirepathXDP
import WirepathIO
import WirepathModel
import WirepathTestSupport

/// Every path over IPv6 on the built-in topology (`--ipv6`: 2001:2::1 and
/// 2001:2::2, from RFC 5180's 2001:2::/48): ping-pong and flood captured on
/// the middle hop and verified with no disagreement, tshark's counts per
/// direction equal to `wirepath verify --json`'s; and `serve --bind
/// [v6]:port` with `--peer [v6]:port` between two namespaces of the test.
final class IPv6Tests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        try requireRoot()
        dir = try scratchDirectory(name.filter { $0.isLetter || $0.isNumber })
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// The XDP program `make bpf` builds, or $WIREPATH_XDP_OBJECT.
    func xdpObject() -> String? {
        if let env = ProcessInfo.processInfo.environment["WIREPATH_XDP_OBJECT"], !env.isEmpty { return env }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent(".build/bpf/xsk_redirect.bpf.o").path
        return FileManager.default.isReadableFile(atPath: path) ? path : nil
    }

    /// The paths this host can run; under CI a missing one fails.
    func paths() throws -> [PathKind] {
        var paths: [PathKind] = [.socket, .mmsg]
        if let why = availability(.uring) {
            try Missing("uring unavailable: \(why)").end()
        }
        paths.append(.uring)
        if let why = availability(.xdp, xdpObject: xdpObject()) {
            try Missing("xdp unavailable: \(why)").end()
        }
        paths.append(.xdp)
        return paths
    }

    /// Every path, ping-pong and flood over IPv6, in one run captured on
    /// the middle hop: no disagreement, every request and reply on the
    /// wire, nothing counted as foreign IPv6, tshark agrees, nothing left.
    func testEveryPathOverIPv6CapturedWithZeroDisagreement() throws {
        let paths = try paths()
        let file = dir + "/v6.pcap"
        var r = RunRequest(paths: paths, measurements: [.pingpong, .flood],
                           plan: MeasurementPlan(durationNs: nil, count: 500, warmupNs: 200_000_000, timeoutNs: 200_000_000))
        r.floodDurationNs = 300_000_000
        r.capture = CaptureRequest(file: file)
        r.ipv6 = true
        if let object = xdpObject() { r.template.xdp.objectPath = object }
        let report = try Runner.run(r)
        let topology = report.environment.topology
        XCTAssertEqual(topology.clientAddress, "2001:2::1")
        XCTAssertEqual(topology.reflectorAddress, "2001:2::2")
        let capture = try XCTUnwrap(report.capture)
        XCTAssertEqual(capture.dropped, 0)
        XCTAssertEqual(report.runs.map(\.path), paths)
        for run in report.runs {
            XCTAssertEqual(run.status, .ok, "\(run.path): \(run.reason ?? "")")
            XCTAssertEqual(run.pingpong?.lost, 0, "\(run.path)")
            let v = try XCTUnwrap(run.verification, "\(run.path)")
            XCTAssertEqual(v.runs.map(\.measurement), ["pingpong", "flood"], "\(run.path)")
            for m in v.runs {
                XCTAssertEqual(m.disagreements, [], "\(run.path) \(m.measurement): \(m.disagreements.map(\.message))")
                let w = try XCTUnwrap(m.wire)
                XCTAssertGreaterThan(w.clientToReflector.unique, 0)
                XCTAssertEqual(w.clientToReflector.damaged, 0, "\(run.path) \(m.measurement)")
            }
            let pp = try XCTUnwrap(v.runs.first?.wire)
            XCTAssertEqual(pp.clientToReflector.unique, 500, "\(run.path)")
            XCTAssertEqual(pp.reflectorToClient.unique, 500, "\(run.path)")
            // The kernel's UDP counters (Udp6 over IPv6) locate every loss.
            if let k = run.flood?.kernelLoss { XCTAssertTrue(k.unread.isEmpty, "\(run.path): \(k.unread)") }
        }
        let summary = try XCTUnwrap(capture.summary)
        XCTAssertEqual(summary.malformedTotal, 0, "\(summary.malformed)")
        XCTAssertNil(summary.foreign[WireFrame.Foreign.otherPort.rawValue], "test packets counted as other UDP: \(summary.foreign)")
        XCTAssertTrue(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }.isEmpty)
        try checkTsharkAgrees(file: file, client: topology.clientAddress, reflector: topology.reflectorAddress, port: 7000,
                              summary: summary)
    }

    /// The command line: `pingpong --ipv6` and `flood --ipv6` on every path
    /// with `--capture --verify strict` exit 0 and name the IPv6 topology;
    /// `wirepath verify FILE --expect` agrees with the saved result.
    func testCLIPingpongAndFloodOverIPv6VerifyStrict() throws {
        let bin = try wirepathBinary()
        if let object = xdpObject() { setenv("WIREPATH_XDP_OBJECT", object, 1) }
        for path in try paths() {
            for command in ["pingpong", "flood"] {
                let file = dir + "/\(path)-\(command).pcap", json = dir + "/\(path)-\(command).json"
                let count = command == "pingpong" ? ["--count", "300"] : ["--duration", "0.3"]
                let run = try runProgram(bin, [command, "--path", path.rawValue, "--ipv6", "--warmup", "0.2"] + count
                                         + ["--capture", file, "--verify", "strict", "--json", json], timeout: 180)
                XCTAssertEqual(run.status, 0, "\(path) \(command): " + run.stdout + run.stderr)
                XCTAssertTrue(run.stdout.contains("verify \(path) \(command)"), run.stdout)
                let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
                XCTAssertEqual(report.environment.topology.reflectorAddress, "2001:2::2")
                let audit = try runProgram(bin, ["verify", file, "--expect", json])
                XCTAssertEqual(audit.status, 0, "\(path) \(command): " + audit.stdout + audit.stderr)
            }
        }
        XCTAssertTrue(wirepathNamespaces().filter { $0.hasPrefix("wirepath-") && !$0.hasPrefix("wirepath-topo-") }
            .allSatisfy { ns in !ns.contains("-\(getpid())-") })
    }

    /// `serve --bind [2001:2:0:7::2]:7311` and `pingpong --peer
    /// [2001:2:0:7::2]:7311` (and --bind [v6]) between two namespaces, on
    /// each socket path; a v4 --bind with a v6 --peer is refused by name.
    func testServeAndPeerOverIPv6() throws {
        for path in ["socket", "mmsg", "uring"] {
            let pair = try PeerNamespaces(tag: "v6\(path.prefix(2))", subnet: 7, port: 7311, path: path, ipv6: true)
            defer { pair.close() }
            XCTAssertEqual(pair.peer, "[2001:2:0:7::2]:7311")
            let r = try pair.runClient(["pingpong", "--path", path, "--peer", pair.peer, "--bind", "[\(pair.clientAddress)]",
                                        "--count", "300", "--warmup", "0.2", "--json", dir + "/peer-\(path).json"])
            XCTAssertEqual(r.status, 0, "\(path): " + r.stdout + r.stderr)
            let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/peer-\(path).json")))
            let run = try XCTUnwrap(report.runs.first)
            XCTAssertEqual(run.status, .ok, run.reason ?? "")
            XCTAssertEqual(run.pingpong?.lost, 0)
            XCTAssertEqual(run.pingpong?.latency.count, 300)
            let mixed = try pair.runClient(["pingpong", "--path", path, "--peer", pair.peer, "--bind", "198.19.7.1", "--count", "10"])
            XCTAssertNotEqual(mixed.status, 0)
            XCTAssertTrue((mixed.stdout + mixed.stderr).contains("address families differ"), mixed.stdout + mixed.stderr)
        }
    }

    /// xdp between two namespaces of the test over IPv6, as two hosts:
    /// `serve --path xdp --interface cb --bind [v6]:port` and `pingpong
    /// --path xdp --interface ca --peer [v6]:port` with no static neighbour
    /// entry and no --peer-mac: the client finds the reflector's MAC in the
    /// IPv6 neighbour table (netlink) after its trigger datagram.
    func testXDPServeAndPeerOverIPv6ResolveTheNeighbour() throws {
        guard let object = xdpObject() else { try Missing("the XDP program is not built (`make bpf`)").end() }
        let bin = try wirepathBinary()
        let pair = try PeerNamespaces(tag: "v6x", subnet: 8, port: 7312, serve: false, ipv6: true)
        defer { pair.close() }
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = ["netns", "exec", pair.reflector, bin, "serve", "--path", "xdp", "--xdp-object", object, "--xdp-mode", "copy",
                            "--interface", pair.reflectorInterface, "--bind", pair.peer, "--duration", "60"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { server.interrupt() }; server.waitUntilExit() }
        let until = Date().addingTimeInterval(15)
        while Date() < until {
            let ss = try runProgram("/usr/sbin/ip", ["netns", "exec", pair.reflector, "ss", "-Hunl", "sport", "= :\(pair.port)"], timeout: 10)
            if !ss.stdout.isEmpty { break }
            usleep(50_000)
        }
        usleep(300_000) // the program is attached after the port is held
        let json = dir + "/xdp6.json"
        let r = try pair.runClient(["pingpong", "--path", "xdp", "--xdp-object", object, "--xdp-mode", "copy",
                                    "--interface", pair.clientInterface, "--peer", pair.peer,
                                    "--count", "500", "--warmup", "0.2", "--json", json], timeout: 90)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let report = try JSONDecoder().decode(WirepathReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let run = try XCTUnwrap(report.runs.first)
        XCTAssertEqual(run.status, .ok, run.reason ?? "")
        XCTAssertEqual(run.pingpong?.lost, 0)
        XCTAssertEqual(run.pingpong?.latency.count, 500)
        let neigh = try ip("-n", pair.client, "-6", "neigh", "show", pair.reflectorAddress)
        XCTAssertTrue(neigh.stdout.contains("lladdr"), "the kernel resolved the reflector: \(neigh.stdout)")
    }

    /// Address errors name the problem: a missing bracket, a missing port,
    /// a zone id, an unbracketed IPv6 address.
    func testCLIRefusesBadIPv6Addresses() throws {
        let bin = try wirepathBinary()
        for (arg, words) in [("[2001:2::2:7000", "missing ']'"), ("[2001:2::2]", "missing port"),
                             ("[fe80::1%wpc0]:7000", "zone ids"), ("2001:2::2:7000", "in brackets")] {
            let r = try runProgram(bin, ["pingpong", "--peer", arg, "--count", "1"], timeout: 30)
            XCTAssertNotEqual(r.status, 0, arg)
            XCTAssertTrue(r.stderr.contains(words), "\(arg): \(r.stderr)")
        }
    }
}
