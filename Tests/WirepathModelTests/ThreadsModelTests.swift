import Histogram
import XCTest
@testable import WirepathIO
@testable import WirepathModel

/// The threaded run's values: histograms added, ends merged, placement
/// checked from per-queue counters, the reuseport program's shape.
final class ThreadsModelTests: XCTestCase {
    func histogram(_ values: [UInt64]) -> Histogram<UInt64> {
        var h = LatencyHistogram.make()
        for v in values { _ = h.record(v) }
        return h
    }

    /// Merged percentiles are those of every sample together (HdrHistogram
    /// addition), not an average of the threads' percentiles.
    func testMergedLatencyIsTheHistogramsAdded() {
        let a = (0..<900).map { UInt64(10_000 + $0) }
        let b = (0..<100).map { UInt64(500_000 + $0 * 10) }
        let merged = LatencyHistogram.merged([histogram(a), histogram(b)])
        XCTAssertEqual(LatencySummary(merged), LatencySummary(histogram(a + b)))
        // The p99 sits in b's range; an average of the two p99s would not.
        XCTAssertGreaterThan(LatencySummary(merged).p99Ns, 500_000)
        XCTAssertNotEqual(LatencySummary(merged).p50Ns, (LatencySummary(histogram(a)).p50Ns + LatencySummary(histogram(b)).p50Ns) / 2)
    }

    func end(_ role: String, packets: UInt64, user: UInt64, syscalls: UInt64?) -> EndReport {
        var c = PathCounters()
        c.rxPackets = packets; c.txPackets = packets; c.rxCalls = packets; c.txCalls = packets
        let cost = ThreadCost(syscalls: syscalls, syscallsUnavailable: nil, userNs: user, systemNs: user, voluntaryContextSwitches: 1,
                              involuntaryContextSwitches: 0, wallNs: 1_000_000_000)
        return EndReport(role: role, cost: PerPacketCost(cost, packets: packets), counters: c, napiID: 1)
    }

    func testMergedFloodSumsRatesAndCosts() throws {
        let f1 = FloodResult(payloadSize: 64, sent: 1000, received: 900, duplicated: 0, reordered: 1, senderDurationNs: 1_000_000_000,
                             receiverSpanNs: 1_000_000_000, sender: end("sender", packets: 1000, user: 1000, syscalls: 1000), receiver: nil)
        let f2 = FloodResult(payloadSize: 64, sent: 3000, received: 3000, duplicated: 2, reordered: 0, senderDurationNs: 900_000_000,
                             receiverSpanNs: 900_000_000, sender: end("sender", packets: 3000, user: 9000, syscalls: 1500), receiver: nil)
        let m = try XCTUnwrap(FloodResult.merged([f1, f2]))
        XCTAssertEqual(m.sent, 4000)
        XCTAssertEqual(m.received, 3900)
        XCTAssertEqual(m.lost, 100)
        XCTAssertEqual(m.rxPps, f1.rxPps + f2.rxPps, accuracy: 1e-6)
        XCTAssertEqual(m.sender.txPackets, 4000)
        let cost = try XCTUnwrap(m.sender.cost)
        XCTAssertEqual(cost.raw.userNs, 10_000)
        XCTAssertEqual(cost.raw.syscalls, 2500)
        XCTAssertEqual(cost.cpuNsPerPacket, 20_000.0 / 4000, accuracy: 1e-9)
        // A thread whose syscalls were not counted: the sum is unknown, not partial.
        let f3 = FloodResult(payloadSize: 64, sent: 10, received: 10, duplicated: 0, reordered: 0, senderDurationNs: 1, receiverSpanNs: 1,
                             sender: end("sender", packets: 10, user: 1, syscalls: nil), receiver: nil)
        XCTAssertNil(FloodResult.merged([f1, f3])?.sender.cost?.raw.syscalls)
    }

    func flows(_ packets: [UInt64]) -> [(flow: Int, thread: Int, queue: Int, packets: UInt64)] {
        packets.enumerated().map { (flow: $0.offset, thread: $0.offset, queue: $0.offset, packets: $0.element) }
    }

    func testPlacementPassesWhenEachQueueCarriesItsFlows() {
        let p = Placement.check(measurement: "flood", device: "wpr0", source: "test", queueRx: [1010, 2020],
                                flows: flows([1000, 2000]), served: [0, 1])
        XCTAssertEqual(p.problems, [])
        XCTAssertTrue(p.flows.allSatisfy(\.ok))
    }

    func testPlacementFlagsAFlowOnTheWrongQueue() {
        // Flow 1 sent 1000 but queue 1 took only 600 of 2000: 40% went to queue 0.
        let p = Placement.check(measurement: "flood", device: "wpr0", source: "test", queueRx: [1400, 600],
                                flows: flows([1000, 1000]), served: [0, 1])
        XCTAssertEqual(p.problems.count, 1, "\(p.problems)")
        XCTAssertTrue(p.problems[0].hasPrefix("flow 1 was steered to queue 1 but 40% arrived on queue 0"), p.problems[0])
        XCTAssertTrue(p.flows[0].ok)
        XCTAssertFalse(p.flows[1].ok)
    }

    func testPlacementFlagsAFloodFlowThatNeverReachedItsThread() {
        // The mis-steered flood: flow 1 left on queue 0, so the reuseport
        // group handed it to thread 0's socket; its own thread counted none.
        let p = Placement.check(measurement: "flood", device: "wpr0", source: "test", queueRx: [75380, 0],
                                flows: flows([37000, 0]), served: [0, 1])
        XCTAssertEqual(p.problems, ["flow 1 was steered to queue 1 and thread 1 but none of its packets reached that thread while wpr0 received 75380 (q0 75380, q1 0)"])
        XCTAssertTrue(p.flows[0].ok)
        XCTAssertFalse(p.flows[1].ok)
    }

    func testPlacementFlagsTheWrongThreadAndUnreadCounters() {
        let p = Placement.check(measurement: "flood", device: "wpr0", source: "test", queueRx: [],
                                flows: flows([10, 10]), served: [1, nil])
        XCTAssertTrue(p.problems.contains { $0.hasPrefix("no per-queue receive counter on wpr0 moved") })
        XCTAssertTrue(p.problems.contains("flow 0 was steered to thread 0 but reflector thread 1 served its window"))
        XCTAssertTrue(p.problems.contains("flow 1 was steered to thread 1 but no reflector thread reported its window"))
        XCTAssertTrue(p.problems.contains { $0.contains("queue 0, which wpr0 does not have") })
    }

    /// xdp: each queue's socket must be its flow's thread's and have
    /// received some of it; the counts' agreement is computed, not flagged.
    func testPlacementChecksEachQueuesXDPSocket() {
        func socket(_ q: Int, thread: Int, received: UInt64, program: UInt64, device: UInt64?, dropped: UInt64 = 0) -> XSKQueueCount {
            XSKQueueCount(queue: q, thread: thread, programRedirected: program, deviceRedirected: device, socketReceived: received,
                          socketRxDropped: dropped, socketRxRingFull: 0, fillRingEmpty: 0)
        }
        var ok = Placement.check(measurement: "flood", device: "wpr0", source: "test", queueRx: [1010, 2020], flows: flows([1000, 2000]), served: [0, 1])
        let good = [socket(0, thread: 0, received: 1005, program: 1010, device: 1005, dropped: 5), socket(1, thread: 1, received: 2010, program: 2010, device: 2010)]
        ok.addSockets(good, flows: flows([1000, 2000]))
        XCTAssertEqual(ok.problems, [])
        XCTAssertEqual(ok.sockets, good)
        XCTAssertTrue(good.allSatisfy(\.accountedFor))
        XCTAssertEqual(good.map(\.matchesDevice), [true, true])
        XCTAssertFalse(socket(0, thread: 0, received: 5, program: 9, device: nil).accountedFor)
        XCTAssertNil(socket(0, thread: 0, received: 5, program: 5, device: nil).matchesDevice)

        // The mis-steer hook's swap, at the client: queue 1's socket is thread 0's.
        var swapped = Placement.check(measurement: "pingpong replies", device: "wpc0", source: "test", queueRx: [500, 500], flows: flows([500, 500]), served: [0, 1])
        swapped.addSockets([socket(0, thread: 1, received: 500, program: 500, device: 500), socket(1, thread: 0, received: 500, program: 500, device: 500)],
                           flows: flows([500, 500]))
        XCTAssertEqual(swapped.problems, ["flow 0 was steered to queue 0, whose AF_XDP socket at wpc0 is thread 1's, not thread 0's",
                                          "flow 1 was steered to queue 1, whose AF_XDP socket at wpc0 is thread 0's, not thread 1's"])
        XCTAssertFalse(swapped.flows.contains(where: \.ok))

        var empty = Placement.check(measurement: "flood", device: "wpr0", source: "test", queueRx: [1010, 1010], flows: flows([1000, 1000]), served: [0, 1])
        empty.addSockets([socket(0, thread: 0, received: 1000, program: 1000, device: 1000), socket(1, thread: 1, received: 0, program: 0, device: 0)],
                         flows: flows([1000, 1000]))
        XCTAssertEqual(empty.problems, ["flow 1 was steered to queue 1, whose AF_XDP socket at wpr0 (thread 1) received none of its 1000 packets"])
        var missing = Placement.check(measurement: "flood", device: "wpr0", source: "test", queueRx: [1010, 1010], flows: flows([1000, 1000]), served: [0, 1])
        missing.addSockets([socket(0, thread: 0, received: 1000, program: 1000, device: 1000)], flows: flows([1000, 1000]))
        XCTAssertEqual(missing.problems, ["flow 1 was steered to queue 1, which has no AF_XDP socket at wpr0"])
    }

    /// ld cpu; (jeq cpu_i; ret i)*; mod n; ret a.
    func testReusePortProgramMapsEachCPUToItsSocket() {
        let p = ReusePortSteering.program(cpus: [3, 1])
        XCTAssertEqual(p.count, 1 + 2 * 2 + 2)
        XCTAssertEqual(p[0].code, 0x20)
        XCTAssertEqual(p[0].k, 0xFFFF_F000 + 36)
        XCTAssertEqual([p[1].code, p[3].code], [0x15, 0x15])
        XCTAssertEqual([p[1].k, p[3].k], [3, 1])
        XCTAssertEqual([p[1].jf, p[3].jf], [1, 1])
        XCTAssertEqual([p[2].k, p[4].k], [0, 1])
        XCTAssertEqual(p[5].code, 0x94)
        XCTAssertEqual(p[5].k, 2)
        XCTAssertEqual(p[6].code, 0x16)
    }

    func testReusePortGroupIsBounded() {
        var s = SocketOptions()
        s.reusePortCPUs = Array(0..<65)
        XCTAssertThrowsError(try s.validate())
        s.reusePortCPUs = [0, 5000]
        XCTAssertThrowsError(try s.validate())
        s.reusePortCPUs = [0, 1]
        XCTAssertNoThrow(try s.validate())
    }
}
