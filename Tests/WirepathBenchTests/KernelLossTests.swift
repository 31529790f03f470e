import Foundation
import Glibc
import XCTest
@testable import WirepathBench
import WirepathIO
import WirepathModel
import WirepathRender
import WirepathTestSupport

/// The program's loss checked against counters it does not control: the
/// kernel's own (`/proc/net/snmp`, `/proc/net/dev`, XDP_STATISTICS) and an
/// nftables counter, on the real kernel in the run's own namespaces.
final class KernelLossTests: XCTestCase {
    func request(_ paths: [PathKind], _ ms: [MeasurementKind]) -> RunRequest {
        var r = RunRequest(paths: paths, measurements: ms,
                           plan: MeasurementPlan(durationNs: nil, count: nil, warmupNs: 100_000_000, timeoutNs: 1_000_000_000))
        r.floodDurationNs = 400_000_000
        r.template.wait = .block
        r.template.xdp.mode = .copy
        return r
    }

    func count(_ k: KernelLossAccount, _ counter: String, end: String, file: StaticString = #filePath, line: UInt = #line) throws -> UInt64 {
        try XCTUnwrap(k.counts.first { $0.counter == counter && $0.end == end }, "no \(end) \(counter) in \(k.counts)", file: file, line: line).packets
    }

    /// A flood on every path into a receive buffer shrunk on purpose (4 KiB
    /// asked, the kernel doubles it; xdp: rings of 32): the loss is located
    /// by the kernel in the receiver's socket buffer (`RcvbufErrors`) or,
    /// for xdp, its AF_XDP ring (XDP_STATISTICS), and that counter equals
    /// the program's loss (up to the control requests sent again, each of
    /// which may be one more drop; with none, exactly).
    func testShrunkReceiveBufferLossIsLocatedByTheKernel() throws {
        try requireRoot()
        var paths: [PathKind] = [.socket, .mmsg]
        if let why = availability(.uring) { try Missing("uring: \(why)").end() }
        paths.append(.uring)
        let object = try requireXDPObject()
        paths.append(.xdp)
        var r = request(paths, [.flood])
        r.template.socket.receiveBufferBytes = 4096
        r.template.xdp.ringSize = 32
        r.template.xdp.objectPath = object
        let report = try Runner.run(r)
        XCTAssertEqual(report.runs.map(\.path), paths)
        for run in report.runs {
            XCTAssertEqual(run.status, .ok, "\(run.path): \(run.reason ?? "")")
            let f = try XCTUnwrap(run.flood, "\(run.path)")
            let k = try XCTUnwrap(f.kernelLoss, "\(run.path): no kernel account")
            XCTAssertEqual(k.lost, f.lost)
            XCTAssertEqual(k.unread, [], "\(run.path)")
            XCTAssertGreaterThan(f.lost, 0, "\(run.path): a 4 KiB receive buffer (xdp: 32-entry rings) should overflow under a flood")
            let located = run.path == .xdp
                ? try count(k, "XDP_STATISTICS rx_dropped + rx_ring_full", end: "receiver")
                : try count(k, "Udp RcvbufErrors", end: "receiver")
            // The program's loss, every packet of it, is where the kernel says.
            XCTAssertGreaterThanOrEqual(located, f.lost, "\(run.path): \(TextReport.kernelLoss(k))")
            XCTAssertLessThanOrEqual(located, f.lost + k.controlResends, "\(run.path): \(TextReport.kernelLoss(k))")
            if k.controlResends == 0 { XCTAssertEqual(located, f.lost, "\(run.path)") }
            XCTAssertEqual(k.verdict, .accounted, "\(run.path): \(TextReport.kernelLoss(k))")
            // Nothing was dropped anywhere else on the way.
            XCTAssertEqual(k.located, located, "\(run.path): \(TextReport.kernelLoss(k))")
            let text = TextReport.details(report)
            XCTAssertTrue(text.contains(run.path == .xdp ? "in the receiver's AF_XDP ring" : "in the receiver's socket buffer (Udp RcvbufErrors)"), text)
            print("\(run.path) flood into a shrunk buffer: " + TextReport.kernelLoss(k), terminator: "")
        }
        XCTAssertNil(report.kernelLossDisagreements.first.map { "\($0.label): \($0.reason)" })
    }

    /// Every 50th packet of the measured window dropped by nftables on the
    /// client's egress (an nft counter beside the drop): the kernel locates
    /// the loss before the sender's device (Udp SndbufErrors, which the
    /// kernel counts for a packet its egress hook or qdisc refused), and
    /// the nft counter, the kernel's counter and the program's loss are one
    /// number. xdp's copy-mode transmit skips the egress hook, so it is not
    /// in this test.
    func testLossInjectedAtTheSenderEqualsTheNftCounter() throws {
        try requireRoot()
        _ = try requireTool("nft", "`make deps` installs nftables")
        var paths: [PathKind] = [.socket, .mmsg]
        if let why = availability(.uring) { try Missing("uring: \(why)").end() }
        paths.append(.uring)
        for path in paths {
            var r = request([path], [.flood])
            let nftDrops = CaptureIntegrationTests.Drops()
            r.afterTopologyUp = { t in
                let f = NSTemporaryDirectory() + "wirepath-\(getpid())-kl.nft"
                try """
                    table netdev wirepath_kl {
                      chain egress {
                        type filter hook egress device "\(t.clientInterface)" priority 0; policy accept;
                        \(CaptureIntegrationTests.windowData(2)) numgen inc mod 50 0 counter drop
                      }
                    }
                    """.write(toFile: f, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: f) }
                let out = try runProgram("/usr/sbin/ip", ["netns", "exec", t.clientNamespace, "nft", "-f", f], timeout: 10)
                guard out.status == 0 else { throw ConfigError("nft: \(out.stderr)") }
            }
            r.beforeTopologyDown = { t in
                // "counter packets N bytes M drop"
                guard let out = try? runProgram("/usr/sbin/ip", ["netns", "exec", t.clientNamespace, "nft", "list", "table", "netdev", "wirepath_kl"], timeout: 10),
                      let range = out.stdout.range(of: "counter packets ") else { return }
                nftDrops.value = UInt64(out.stdout[range.upperBound...].prefix { $0.isNumber })
            }
            let report = try Runner.run(r)
            let run = try XCTUnwrap(report.runs.first)
            XCTAssertEqual(run.status, .ok, "\(path): \(run.reason ?? "")")
            let f = try XCTUnwrap(run.flood)
            let k = try XCTUnwrap(f.kernelLoss)
            let nft = try XCTUnwrap(nftDrops.value, "\(path): the nft counter could not be read")
            XCTAssertGreaterThan(nft, 0, "\(path)")
            XCTAssertEqual(try count(k, "Udp SndbufErrors less the device's tx_dropped", end: "sender"), nft, "\(path): \(TextReport.kernelLoss(k))")
            // On a loaded host a starved receiver may also overflow its
            // socket buffer (the stress run saw 9,165 RcvbufErrors beside
            // 756 nft drops): the kernel locates those too, so the program's
            // loss is the nft counter plus the receiver's counted drops.
            let receiverDrops = k.counts.first { $0.counter == "Udp RcvbufErrors" && $0.end == "receiver" }?.packets ?? 0
            XCTAssertEqual(f.lost, nft + receiverDrops, "\(path): the program's loss is the nft counter (and any receive-buffer drops): \(TextReport.kernelLoss(k))")
            XCTAssertEqual(k.located, f.lost, "\(path): nothing else dropped: \(TextReport.kernelLoss(k))")
            XCTAssertEqual(k.verdict, .accounted)
            // The text names the place with the nft counter's number (read
            // back from the text, not formatted by the report's own code).
            let text = TextReport.details(report)
            let phrase = " dropped before the sender's device (qdisc, egress hook or send buffer) (Udp SndbufErrors less the device's tx_dropped)"
            let at = try XCTUnwrap(text.range(of: phrase), text)
            let number = text[..<at.lowerBound].split(separator: " ").last.map { $0.filter(\.isNumber) }
            XCTAssertEqual(number.flatMap { UInt64($0) }, nft, text)
        }
        XCTAssertEqual(wirepathNamespaces().filter { $0.hasPrefix("wirepath-\(getpid())-") }, [], "namespace (and its rules) left behind")
    }

    /// A ping-pong with no loss: the kernel counted no drop at either end,
    /// and the report says so.
    func testPingPongWithoutLossHasNoKernelDrops() throws {
        try requireRoot()
        var r = request([.socket], [.pingpong])
        r.plan.count = 2000
        let report = try Runner.run(r)
        let p = try XCTUnwrap(report.runs.first?.pingpong)
        let k = try XCTUnwrap(p.kernelLoss)
        XCTAssertEqual(p.lost, 0)
        XCTAssertEqual(k.located, 0, TextReport.kernelLoss(k))
        XCTAssertEqual(k.verdict, .accounted)
        // Both directions were read: each end's stack, devices and socket.
        XCTAssertEqual(Set(k.counts.map(\.end)), ["client", "reflector"])
        XCTAssertTrue(TextReport.details(report).contains("the kernel counted no drop, and the program lost none"))
    }
}
