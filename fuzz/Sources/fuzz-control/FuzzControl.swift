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
    let body = ControlMessage.body(bytes)
    if h.op == ControlOp.report.rawValue { _ = PeerReport.decode(body) }
    return 0
}
