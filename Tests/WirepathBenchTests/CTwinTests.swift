import Foundation
import XCTest
@testable import WirepathBench
@testable import WirepathIO

/// Issue 15: the minimal C loops of bench/c are the references Wirepath's
/// variants are measured against (bench/twins.sh), so they must speak
/// Wirepath's payload exactly. Each loop's client runs a short ping-pong
/// against a real `wirepath serve` of its kind: the C client counts every
/// reply as its own (run id, sequence, size), and serve's summary echoed
/// exactly the pings the C client sent. Correctness only; no timing.
final class CTwinTests: XCTestCase {

    func testSocketLoopFacesWirepathReflector() throws { try twin(loop: "socket_pp", path: "socket", mode: "spin", subnet: 90) }
    func testMmsgLoopFacesWirepathReflector() throws { try twin(loop: "mmsg_pp", path: "mmsg", mode: "block", subnet: 91) }
    func testUringLoopFacesWirepathReflector() throws {
        if let why = availability(.uring) { throw XCTSkip("uring: \(why)") }
        try twin(loop: "uring_pp", path: "uring", mode: "block", subnet: 92)
    }
    /// AF_XDP at both ends: Wirepath's xdp reflector on `cb`, the C loop's
    /// own XSK (and its own attachment of Wirepath's program) on `ca`.
    func testXDPLoopFacesWirepathReflector() throws {
        if let why = availability(.xdp) { throw XCTSkip("xdp: \(why)") }
        try twin(loop: "xdp_pp", path: "xdp", mode: "spin", subnet: 93)
    }

    /// Builds the loops with `make -C bench/c` (clang, liburing-dev, libxdp-dev: `make deps`).
    private func loops() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let made = try runProgram("/usr/bin/make", ["-s", "-C", root + "/bench/c"], timeout: 120)
        if made.status != 0 {
            try Missing("the C loops of bench/c do not build (`make bench-c`; cc and liburing-dev come from `make deps`): \(made.stderr)").end()
        }
        return root + "/.build/bench-c"
    }

    private func twin(loop: String, path: String, mode: String, subnet: Int) throws {
        try requireRoot()
        let dir = try loops()
        let bin = try wirepathBinary()
        let port: UInt16 = 7400 + UInt16(subnet)
        let ns = try PeerNamespaces(tag: "tw\(subnet)", subnet: subnet, port: port, serve: false)
        defer { ns.close() }
        let xdp = path == "xdp"
        let serveInterface = xdp ? ["--interface", ns.reflectorInterface] : []
        let loopInterface = xdp ? ["-i", ns.clientInterface] : []
        var env = ""
        if xdp {
            let link = try runProgram("/usr/sbin/ip", ["-n", ns.reflector, "-br", "link", "show", ns.reflectorInterface], timeout: 10)
            let mac = try XCTUnwrap(link.stdout.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first, link.stdout)
            env = "WP_PEER_MAC=\(mac)"
        }

        final class Box: @unchecked Sendable { var ran: Ran? }
        let served = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            served.ran = try? runProgram("/usr/sbin/ip", ["netns", "exec", ns.reflector, bin, "serve", "--path", path,
                                                          "--bind", "\(ns.reflectorAddress):\(port)", "--duration", "5"] + serveInterface, timeout: 60)
            done.signal()
        }
        // Ready once serve's socket is bound (bounded poll, not a fixed sleep).
        let until = Date().addingTimeInterval(10)
        while Date() < until {
            let ss = try runProgram("/usr/sbin/ip", ["netns", "exec", ns.reflector, "ss", "-Hunl", "sport", "= :\(port)"], timeout: 10)
            if !ss.stdout.isEmpty { break }
            usleep(50_000)
        }
        let c = try runProgram("/usr/bin/env", (env.isEmpty ? [] : [env]) + ["/usr/sbin/ip", "netns", "exec", ns.client, "\(dir)/\(loop)",
                                "client", ns.reflectorAddress, "\(port)", "-m", mode, "-w", "0", "-d", "1", "-s", "100"] + loopInterface, timeout: 30)
        XCTAssertEqual(c.status, 0, "\(loop) client: \(c.stderr)")
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        let s = try XCTUnwrap(served.ran)
        XCTAssertEqual(s.status, 0, "serve: \(s.stderr)")

        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(c.stdout.utf8)) as? [String: Any], c.stdout)
        let sent = try XCTUnwrap(report["sent"] as? Int), received = try XCTUnwrap(report["received"] as? Int)
        XCTAssertGreaterThan(sent, 100, "the C client ran a real ping-pong: \(c.stdout)")
        // Every ping came back: in time, or (on a loaded host, after the C
        // loop's per-ping timeout) late, which the loop counts as foreign.
        // Nothing else may arrive, so the two add up to what was sent.
        let foreign = try XCTUnwrap(report["foreign"] as? Int, c.stdout)
        XCTAssertEqual(received + foreign, sent, "every ping came back as the C client's own reply: \(c.stdout)")
        XCTAssertLessThanOrEqual(foreign, sent / 100, "at most 1% late: \(c.stdout)")
        // serve's own count, independent of the C client's.
        let line = try XCTUnwrap(s.stderr.split(separator: "\n").first { $0.contains("echoed ") }.map(String.init), s.stderr)
        let echoed = try XCTUnwrap(line.components(separatedBy: "echoed ").dropFirst().first
            .flatMap { Int($0.prefix { $0.isNumber }) }, line)
        XCTAssertEqual(echoed, sent, "serve echoed exactly the C client's pings: \(line)")
    }
}
