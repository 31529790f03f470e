import Foundation
import XCTest
@testable import WirepathIO
@testable import WirepathModel
@testable import WirepathRender

/// The fields the uring path added to the shared value types.
final class UringReportTests: XCTestCase {
    func testPeerReportCarriesRearmsAtTheEnd() {
        var r = PeerReport(path: .uring)
        r.rxPackets = 100
        r.errnos = ["ENOBUFS": 7]
        r.multishotRearms = 9
        let f = r.encode()
        XCTAssertEqual(f.count, PeerReport.fieldCount)
        XCTAssertEqual(f[PeerReport.baseFieldCount], 9, "appended after every older field")
        XCTAssertEqual(PeerReport.decode(f), r)
        // A reflector built before the field existed sends the base fields
        // only: it still decodes, with no re-arms.
        let older = PeerReport.decode(Array(f.prefix(PeerReport.baseFieldCount)))
        XCTAssertEqual(older?.rxPackets, 100)
        XCTAssertEqual(older?.errnos, ["ENOBUFS": 7])
        XCTAssertEqual(older?.multishotRearms, 0)
        let end = EndReport(reflector: r, packets: 100)
        XCTAssertEqual(end.multishotRearms, 9)
    }

    func testCountersWindowIncludesRearms() {
        var a = PathCounters()
        a.uring.multishotRearms = 3
        var b = a
        b.uring.multishotRearms = 10
        XCTAssertEqual(b.since(a).uring.multishotRearms, 7)
        XCTAssertEqual(EndReport(role: "client", cost: nil, counters: b.since(a), napiID: 0).multishotRearms, 7)
    }

    /// The SQPOLL thread's CPU and the wakeups travel from the reflector in
    /// fields appended at the end; every shorter, older encoding still decodes.
    func testPeerReportCarriesTheSQPollThreadAtTheEnd() {
        var r = PeerReport(path: .uring)
        r.rxPackets = 500
        r.multishotRearms = 2
        r.sqpollWakeups = 3
        var c = ThreadCost(syscalls: 10, syscallsUnavailable: nil, userNs: 1000, systemNs: 2000,
                           voluntaryContextSwitches: 4, involuntaryContextSwitches: 5, wallNs: 1_000_000)
        c.extraThreads = ["iou-sqp-4242"]
        c.kernelThreadNs = 700_000
        r.cost = c
        let f = r.encode()
        XCTAssertEqual(f.count, PeerReport.fieldCount)
        XCTAssertEqual(PeerReport.decode(f), r)
        // By position: fields of later paths (xdp) follow these.
        XCTAssertEqual(Array(f[(PeerReport.baseFieldCount + 1)..<(PeerReport.baseFieldCount + 6)]), [700_000, 4242, 3, 0, 0])
        // Each older length decodes, with what it lacks left out.
        for n in PeerReport.baseFieldCount..<f.count {
            let d = PeerReport.decode(Array(f.prefix(n)))
            XCTAssertEqual(d?.rxPackets, 500, "\(n) fields")
            XCTAssertEqual(d?.cost?.userNs, 1000, "\(n) fields")
            XCTAssertEqual(d?.multishotRearms, n > PeerReport.baseFieldCount ? 2 : 0, "\(n) fields")
            XCTAssertEqual(d?.cost?.kernelThreadNs, n >= PeerReport.baseFieldCount + 3 ? 700_000 : nil, "\(n) fields")
            XCTAssertEqual(d?.sqpollWakeups, n >= PeerReport.baseFieldCount + 4 ? 3 : 0, "\(n) fields")
        }
        // Without a kernel thread, nothing is invented.
        var plain = r
        plain.cost?.kernelThreadNs = nil
        plain.cost?.extraThreads = []
        XCTAssertEqual(PeerReport.decode(plain.encode()), plain)
        let end = EndReport(reflector: r, packets: 100)
        XCTAssertEqual(end.sqpollWakeups, 3)
        XCTAssertEqual(end.cost?.kernelThreadNsPerPacket, 7000)
    }

    /// send_zc's notification counts come from the reflector at the very end.
    func testPeerReportCarriesZeroCopyNotifications() {
        var r = PeerReport(path: .uring)
        r.zcCopied = 40
        r.zcZeroCopy = 2
        let f = r.encode()
        XCTAssertEqual(f.count, PeerReport.fieldCount)
        XCTAssertEqual(Array(f[(PeerReport.baseFieldCount + 4)..<(PeerReport.baseFieldCount + 6)]), [40, 2])
        XCTAssertEqual(PeerReport.decode(f), r)
        let older = PeerReport.decode(Array(f.prefix(PeerReport.baseFieldCount + 4)))
        XCTAssertEqual(older?.zcCopied, 0)
        XCTAssertEqual(older?.zcZeroCopy, 0)
        let end = EndReport(reflector: r, packets: 42)
        XCTAssertEqual(end.zcCopied, 40)
        XCTAssertEqual(end.zcZeroCopy, 2)
        var a = PathCounters(), b = PathCounters()
        a.uring.zcCopied = 5; b.uring.zcCopied = 9; b.uring.zcZeroCopy = 1
        XCTAssertEqual(b.since(a).uring.zcCopied, 4)
        XCTAssertEqual(b.since(a).uring.zcZeroCopy, 1)
        XCTAssertEqual(TextReport.zeroCopyLine(end), "42 notifications: 40 copied by the kernel, 2 zero-copy")
        XCTAssertEqual(TextReport.zeroCopyVerdict([end]), "  send_zc: 2 of 42 sends left from user pages without a copy\n")
        var all = end
        all.zcZeroCopy = 0
        XCTAssertTrue(TextReport.zeroCopyVerdict([all]).contains("the kernel copied every packet"))
        XCTAssertTrue(try PathConfig.validated(path: .uring, local: .any, uring: UringOptions(zeroCopy: true)).uring.zeroCopy)
    }

    /// The kernel thread's CPU is part of the end's CPU, and the report says
    /// how much of it there is, beside the syscall figure it makes small.
    func testKernelThreadCPUIsInTheCostAndTheReport() {
        var c = ThreadCost(syscalls: 2, syscallsUnavailable: nil, userNs: 100_000, systemNs: 50_000,
                           voluntaryContextSwitches: 0, involuntaryContextSwitches: 0, wallNs: 1_000_000)
        XCTAssertEqual(c.cpuNs, 150_000)
        c.kernelThreadNs = 850_000
        c.extraThreads = ["iou-sqp-7"]
        XCTAssertEqual(c.cpuNs, 1_000_000)
        XCTAssertEqual(c.utilisation, 1.0)
        let per = PerPacketCost(c, packets: 1000)
        XCTAssertEqual(per.cpuNsPerPacket, 1000)
        XCTAssertEqual(per.kernelThreadNsPerPacket, 850)
        XCTAssertEqual(per.syscallsPerPacket, 0.002)
        XCTAssertNil(PerPacketCost(ThreadCost(syscalls: 1, syscallsUnavailable: nil, userNs: 1, systemNs: 1, voluntaryContextSwitches: 0,
                                              involuntaryContextSwitches: 0, wallNs: 1), packets: 1).kernelThreadNsPerPacket)

        var counters = PathCounters()
        counters.txPackets = 1000
        counters.uring.sqpollWakeups = 4
        let sender = EndReport(role: "sender", cost: per, counters: counters, napiID: 0)
        XCTAssertEqual(sender.sqpollWakeups, 4)
        let flood = FloodResult(payloadSize: 64, sent: 1000, received: 1000, duplicated: 0, reordered: 0,
                                senderDurationNs: 1_000_000, receiverSpanNs: 1_000_000, sender: sender, receiver: nil)
        var options = PathOptionsRecord(payloadSize: 64, batchSize: 32, wait: .block, busyPollMicros: nil, napiID: 0)
        options.uring = UringOptions(sqPollIdleMillis: 1000)
        let run = PathRun(path: .uring, status: .ok, options: options, flood: flood)
        let env = EnvironmentRecord(kernel: "Linux", cpuModel: "cpu", cpus: 2, wirepathVersion: "0", syscallCounter: "perf",
                                    topology: TopologyRecord(kind: "veth-pair", namespaces: [], clientInterface: nil, reflectorInterface: nil,
                                                             clientAddress: "a", reflectorAddress: "b", mtu: 1500, vethNAPI: false,
                                                             clientCPU: nil, reflectorCPU: nil))
        let report = WirepathReport(command: "flood", startedAt: "now", environment: env,
                                    settings: RunSettings(durationNs: nil, count: nil, warmupNs: 0, timeoutNs: 0, payloadSize: 64,
                                                          batchSize: 32, wait: .block, busyPollMicros: nil, measurements: ["flood"]),
                                    runs: [run])
        let table = TextReport.comparison(report)
        XCTAssertTrue(table.contains("flood tx 0.002 sys/pkt + sqpoll thread 850 ns/pkt"), table)
        let details = TextReport.details(report)
        XCTAssertTrue(details.contains("SQPOLL excludes DEFER_TASKRUN"), details)
        XCTAssertTrue(details.contains("+ 850 ns iou-sqp-7"), details)
        XCTAssertTrue(details.contains("SQPOLL wakeups: sender 4"), details)
    }

    func testNAPIRangeAndReport() {
        let local = Endpoint(address: 0xC612_0001, port: 0)
        XCTAssertEqual(try PathConfig.validated(path: .uring, local: local, uring: UringOptions(napiMicros: 50)).uring.napiMicros, 50)
        for bad in [0, -5, 1_000_001] {
            XCTAssertThrowsError(try PathConfig.validated(path: .uring, local: local, uring: UringOptions(napiMicros: bad))) { e in
                XCTAssertTrue("\(e)".contains("--uring-napi"), "\(e)")
            }
        }
        let c = try! PathConfig.validated(path: .uring, local: local, uring: UringOptions(napiMicros: 50))
        XCTAssertEqual(PathOptionsRecord(c, napiID: 0).uringNAPIMicros, 50)
        XCTAssertNil(PathOptionsRecord(try! PathConfig.validated(path: .socket, local: local, uring: UringOptions(napiMicros: 50)), napiID: 0).uringNAPIMicros)
    }

    func testSQPollIdleRange() {
        let local = Endpoint(address: 0xC612_0001, port: 0)
        XCTAssertNil(try PathConfig.validated(path: .uring, local: local).uring.sqPollIdleMillis)
        XCTAssertEqual(try PathConfig.validated(path: .uring, local: local, uring: UringOptions(sqPollIdleMillis: 1)).uring.sqPollIdleMillis, 1)
        for bad in [0, -1, 60_001] {
            XCTAssertThrowsError(try PathConfig.validated(path: .uring, local: local, uring: UringOptions(sqPollIdleMillis: bad))) { e in
                XCTAssertTrue("\(e)".contains("1-60000"), "\(e)")
            }
        }
    }

    func testUringBufferCountRange() {
        let local = Endpoint(address: 0xC612_0001, port: 0)
        XCTAssertEqual(try PathConfig.validated(path: .uring, local: local).uring.buffers, 256)
        XCTAssertThrowsError(try PathConfig.validated(path: .uring, local: local, uring: UringOptions(buffers: 48))) { e in
            XCTAssertTrue("\(e)".contains("power of two from 1 to 32768"), "\(e)")
        }
    }

    /// The path options keep the keys of wirepath.report/1: uring's options
    /// sit flattened beside the common ones, as before they had a struct.
    func testPathOptionsRecordKeepsItsJSONKeys() throws {
        func keys(_ o: PathOptionsRecord) throws -> Set<String> {
            let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(o)) as? [String: Any]
            return Set(try XCTUnwrap(object).keys)
        }
        let local = Endpoint(address: 0xC612_0001, port: 0)
        let common: Set = ["payloadSize", "batchSize", "wait", "hadNAPIID", "napiID", "sandbox", "reflectorSandbox"]
        let socket = PathOptionsRecord(try PathConfig.validated(path: .socket, local: local, socket: SocketOptions(busyPollMicros: 50)), napiID: 3)
        XCTAssertEqual(try keys(socket), common.union(["busyPollMicros"]))
        let uring = PathOptionsRecord(try PathConfig.validated(path: .uring, local: local), napiID: 0)
        XCTAssertEqual(try keys(uring), common.union(["uringBuffers", "uringZeroCopy", "uringBatchWaitMicros"]))
        var all = uring
        all.uring?.sqPollIdleMillis = 1000
        all.uring?.napiMicros = 50
        all.xdp = XDPRunInfo(interface: "wpc0", driver: "veth", queue: 0, bindMode: "copy", attachMode: "native", fallback: nil,
                             frameSize: 4096, ringSize: 2048, napiID: 0, busyPoll: nil, object: "x")
        XCTAssertEqual(try keys(all), common.union(["uringBuffers", "uringZeroCopy", "uringBatchWaitMicros",
                                                    "uringSQPollIdleMillis", "uringNAPIMicros", "xdp"]))
        var remote = socket
        remote.sandbox = .log
        remote.reflectorSandbox = nil // a serve at --peer: its own --sandbox
        XCTAssertEqual(try keys(remote), common.subtracting(["reflectorSandbox"]).union(["busyPollMicros"]))
        for o in [socket, uring, all, remote] {
            XCTAssertEqual(try JSONDecoder().decode(PathOptionsRecord.self, from: JSONEncoder().encode(o)), o)
        }
        // A report from before the sandbox decodes, with neither end's known.
        var old = try XCTUnwrap(try JSONSerialization.jsonObject(with: JSONEncoder().encode(socket)) as? [String: Any])
        old["sandbox"] = nil
        old["reflectorSandbox"] = nil
        let decoded = try JSONDecoder().decode(PathOptionsRecord.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertNil(decoded.sandbox)
        XCTAssertNil(decoded.reflectorSandbox)
    }
}
