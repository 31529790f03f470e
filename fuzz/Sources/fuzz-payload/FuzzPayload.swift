// libFuzzer target: the test payload's header and integrity check. Any
// bytes parse or are refused; a payload stamped from any header fields and
// body verifies, and flipping any one bit of it makes it fail.
import FuzzSupport
import WirepathModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPayload(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    _ = PayloadHeader.parse(input.bytes)
    _ = Integrity.verify(input.bytes)

    let kinds: [PayloadHeader.Kind] = [.ping, .flood]
    let kind = kinds[Int(input.byte() % 2)]
    let runID = input.u64(), seq = input.u64(), ts = input.u64()
    let flip = Int(input.u16())
    let body = input.rest
    let size = max(PayloadHeader.size, min(body.count, 9000))
    // The sender's way: a prepared body, the header stamped per packet.
    let stamper = PayloadStamper(runID: runID, size: size)
    var sent = [UInt8](repeating: 0, count: size)
    sent.withUnsafeMutableBytes { stamper.prepare($0); stamper.stamp($0, kind: kind, seq: seq, timestamp: ts) }
    sent.withUnsafeBytes { p in precondition(Integrity.verify(p), "a freshly stamped payload fails its check") }
    // Any body: the header written, the check computed over all of it.
    var payload = [UInt8](repeating: 0, count: size)
    for i in 0..<min(body.count, size) { payload[i] = body[i] }
    payload.withUnsafeMutableBytes { p in
        PayloadHeader(kind: kind, runID: runID, seq: seq, timestamp: ts).write(to: p)
        p.storeBytes(of: Integrity.compute(UnsafeRawBufferPointer(p)).littleEndian, toByteOffset: 32, as: UInt64.self)
    }
    payload.withUnsafeBytes { p in
        precondition(Integrity.verify(p), "a payload with its computed check fails it")
        guard case .header(let h) = PayloadHeader.parse(p) else { fatalError("a written header does not parse") }
        precondition(h.runID == runID && h.seq == seq && h.kind == kind, "the header changed on the way")
    }
    let bit = flip % (size * 8)
    payload[bit / 8] ^= UInt8(1 << (bit % 8))
    payload.withUnsafeBytes { p in precondition(!Integrity.verify(p), "a one-bit change at bit \(bit) of \(size) bytes passes the check") }
    return 0
}
