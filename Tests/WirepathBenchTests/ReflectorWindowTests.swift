import Foundation
import Glibc
import XCTest
@testable import WirepathBench
import WirepathIO
import WirepathModel
import WirepathTestSupport

/// The reflector's window is what the wire audit counts: the packets after
/// its `begin` up to and including its `end`. A batched path (mmsg, uring,
/// xdp) counts a whole receive batch at once, so a control packet's place in
/// its batch decides the edge. Under load a resent `end` (and whatever
/// follows) shared the `end`'s batch, and the reflector counted one packet
/// more than the capture showed (GSOTests, once, in a loaded run).
final class ReflectorWindowTests: XCTestCase {
    /// A mmsg reflector that sleeps 50 ms after each batch of pings: the
    /// `end`, a resent `end` and two pings sent during that sleep arrive in
    /// one recvmmsg batch. The window holds the four pings and the first
    /// `end` (5 packets), not what came behind it in the batch (8).
    func testAnEndSharingItsBatchClosesTheWindowAtItsOwnPlace() throws {
        try requireRoot()
        let topology = try Topology.up(tag: "\(getpid())-rw")
        defer { topology.down() }
        let port: UInt16 = 7460
        let reflectorEP = Endpoint(address: topology.reflectorAddress.address, port: port)
        var r = RunRequest(paths: [.mmsg], measurements: [.pingpong], plan: MeasurementPlan(durationNs: nil, count: 10, warmupNs: 0, timeoutNs: 100_000_000))
        r.port = port
        let config = try Runner.config(.mmsg, r, local: reflectorEP, peer: nil)
        let stop = StopSignal()
        let ready = Latch()
        let fault = ReflectorFault(afterEchoes: .max, stallNs: 0, everyPingNs: 50_000_000)
        let server = try OSThread(name: "reflector", netns: topology.reflectorNamespace, cpu: nil) { () throws -> ServeSummary in
            do {
                return try Measure.serve(config, stop: stop, options: ServeOptions(), fault: fault, ready: { ready.open() })
            } catch {
                ready.fail()
                throw error
            }
        }
        defer {
            stop.request()
            _ = try? server.join()
        }
        XCTAssertTrue(ready.wait(timeoutNs: 5_000_000_000), "the reflector did not start")
        let probe = try OSThread(name: "probe", netns: topology.clientNamespace, cpu: nil) { () throws -> ControlProbe in
            try ControlProbe(bind: topology.clientAddress.address, peer: reflectorEP)
        }.join()
        defer { probe.close() }

        let run: UInt64 = 0x3E1D_0B47
        probe.send(ControlProbe.control(.begin, runID: run, seq: probe.nextSeq()))
        probe.drain(ms: 300)
        let retry = try XCTUnwrap(probe.replies.first { $0.op == ControlOp.retry.rawValue }, "no cookie: \(probe.replies)")
        probe.send(ControlProbe.control(.begin, runID: run, seq: probe.nextSeq(), cookie: retry.cookie))
        probe.drain(ms: 300)
        XCTAssertEqual(probe.replies.last?.op, ControlOp.beginAck.rawValue, "\(probe.replies)")

        // Three pings, each in a batch of its own (the reflector sleeps 50 ms after each).
        for seq in 0..<3 as Range<UInt64> {
            probe.send(HostilePeerTests.ping(runID: run, seq: seq), record: false)
            probe.drain(ms: 120)
        }
        // The fourth ping; while the reflector sleeps after echoing it, the
        // end, the same end again, and two pings queue on its socket.
        probe.send(HostilePeerTests.ping(runID: run, seq: 3), record: false)
        usleep(10_000)
        let endSeq = probe.nextSeq()
        let end = ControlProbe.control(.end, runID: run, seq: endSeq)
        probe.send(end)
        probe.send(end)
        probe.send(HostilePeerTests.ping(runID: run, seq: 4), record: false)
        probe.send(HostilePeerTests.ping(runID: run, seq: 5), record: false)
        probe.drain(ms: 400)

        let reports = probe.replies.filter { $0.op == ControlOp.report.rawValue }
        XCTAssertEqual(reports.count, 2, "each end is answered (the second from the cached report): \(probe.replies)")
        let report = try XCTUnwrap(reports.first.flatMap { PeerReport.decode($0.body) }, "the report did not decode: \(reports)")
        XCTAssertEqual(report.echoed, 4, "the window's pings")
        XCTAssertEqual(report.rxPackets, 5, "four pings and the end that closed the window, nothing behind it in its batch")
        XCTAssertEqual(reports.last.flatMap { PeerReport.decode($0.body) }?.rxPackets, 5, "the resent end gets the same report")
    }
}
