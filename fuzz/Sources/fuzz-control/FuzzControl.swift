// libFuzzer target: decoding a control packet as the reflector and the
// client do (header, integrity, body words, a peer report). A thin call,
// so that it follows the control protocol's decode entry point.
import FuzzSupport
@testable import WirepathBench
import WirepathModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControl(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = FuzzInput(data, count).bytes
    guard case .header(let h) = PayloadHeader.parse(bytes) else { return 0 }
    _ = Integrity.verify(bytes)
    // As the client does: its reply checks (version word, refusal, MAC
    // flag, retry cookie, report length), then the report's decode.
    var client = ControlClient(runID: h.runID, peer: .any, key: nil)
    var badMACs = 0
    for expect in [ControlOp.beginAck, .report] {
        if case .done(let body) = client.interpret(h, bytes, expect: expect, badMACs: &badMACs), expect == .report {
            _ = PeerReport.decode(body)
        }
    }
    // As the reflector reads a request: its word and every body word it may hold.
    _ = ControlMessage.word(bytes)
    _ = ControlMessage.body(bytes, count: Int.max)
    return 0
}
