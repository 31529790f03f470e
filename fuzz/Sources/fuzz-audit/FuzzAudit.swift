// libFuzzer target: the wire audit over a sequence of frames (each a 2-byte
// length and its bytes), both passes, then the table and the verification
// of a ping-pong and a flood against it. Run with -rss_limit_mb: no frame
// sequence may make the audit's memory grow without bound.
import FuzzSupport
import WirepathIO
import WirepathModel
import WirepathRender

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAudit(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let links: [WireFrame.LinkType] = [.ethernet, .linuxSLL, .linuxSLL2]
    let link = links[Int(input.byte() % 3)]
    let port = input.byte() & 1 == 0 ? 7000 : input.u16()
    var frames: [(UnsafeRawBufferPointer, Int)] = []
    while !input.isAtEnd {
        let n = Int(input.u16() & 0x7FF), extra = Int(input.byte() & 0x3F)
        let f = input.take(n)
        frames.append((f, f.count + extra))
    }
    // A small limit, so that the fuzzer reaches the overflow row.
    let audit = WireAudit(reflectorPort: port, linkType: link, snaplen: 65535, timeoutNs: 1_000,
                          fullRunLimit: 4, preferredRuns: [1])
    for (f, wire) in frames { audit.learn(f, wireLength: wire) }
    audit.endLearning()
    for (i, (f, wire)) in frames.enumerated() { audit.add(f, wireLength: wire, timestampNs: UInt64(i) &* 997) }
    let summary = audit.finish()
    _ = TextReport.wireTable(summary, limit: 2)
    let runID = summary.runs.first?.runID ?? 1
    var client = EndReport(role: "client", cost: nil, counters: PathCounters(), napiID: 0)
    client.txPackets = 10
    let p = PingPongResult(latency: emptyLatency, sent: 10, received: 7, lost: 3, duplicated: 1,
                           reordered: 1, integrityFailures: 0, foreign: 0, timeoutNs: 1_000, warmupNs: 0, durationNs: 1,
                           client: client, reflector: nil)
    let flood = FloodResult(payloadSize: 64, sent: 10, received: 9, duplicated: 0, reordered: 0, senderDurationNs: 1,
                            receiverSpanNs: 1, sender: client, receiver: nil)
    let wire = summary.run(runID)
    for v in [Verification.verify(p, runID: runID, wire: wire, captureDropped: 2),
              Verification.verify(flood, runID: runID, wire: wire, captureDropped: 0)] {
        _ = v.disagreements
    }
    return 0
}
