// libFuzzer target: a reflector's report as a client decodes it (any u64
// words), then every figure of it rendered as a run's result: the table,
// the details, the CSV, the JSON and the recommendation. Values from
// outside must never trap on the way.
import Foundation
import FuzzSupport
import Histogram
import WirepathIO
import WirepathModel
import WirepathRender

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPeerReport(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let packets = input.u64(), sent = input.u64()
    var words: [UInt64] = []
    while !input.isAtEnd && words.count < PeerReport.maxFieldCount { words.append(input.u64()) }
    guard let peer = PeerReport.decode(words) else { return 0 }
    let reflector = EndReport(reflector: peer, packets: packets, syscallWindow: peer, syscallPackets: sent)
    var client = EndReport(role: "client", cost: nil, counters: PathCounters(), napiID: 0)
    client.txPackets = sent
    let received = min(sent, peer.echoed)
    let pingpong = PingPongResult(latency: emptyLatency, sent: sent, received: received,
                                  lost: sent - received, duplicated: 0, reordered: 0, integrityFailures: 0, foreign: peer.foreign,
                                  timeoutNs: 100_000_000, warmupNs: 0, durationNs: 1_000_000_000, client: client, reflector: reflector)
    let flood = FloodResult(payloadSize: 64, sent: sent, received: min(sent, peer.floodUnique), duplicated: peer.floodDuplicates,
                            reordered: peer.floodReordered, senderDurationNs: 1_000_000_000,
                            receiverSpanNs: peer.lastRxNs - peer.firstRxNs, sender: client, receiver: reflector)
    let options = PathOptionsRecord(payloadSize: 64, batchSize: 32, wait: .block, busyPollMicros: nil, napiID: peer.napiID)
    let report = fuzzReport(PathRun(path: peer.path, status: .ok, options: options, pingpong: pingpong, flood: flood))
    _ = TextReport.comparison(report)
    _ = TextReport.details(report)
    _ = CSVReport.render(report)
    _ = Recommendation.render(Recommendation.make(report), report: report)
    _ = try? JSONEncoder().encode(report)
    return 0
}
