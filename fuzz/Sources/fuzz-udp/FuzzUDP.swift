// libFuzzer target: the AF_XDP path's UDP framing and checksums. Any bytes
// parse or are refused without trapping; and headers written for any
// endpoints and payload parse back to the same flow with valid checksums.
import FuzzSupport
import WirepathIO

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUDP(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let whole = input.bytes
    if let p = Framing.parseUDP(whole) { _ = Framing.checksumsValid(whole, p) }
    _ = Framing.checksum(whole)

    // Round trip: the fields from the input's first bytes, the rest payload.
    let source = Endpoint(address: UInt32(truncatingIfNeeded: input.u64()), port: input.u16())
    let destination = Endpoint(address: UInt32(truncatingIfNeeded: input.u64()), port: input.u16())
    let ipID = input.u16()
    let payload = input.take(1472)
    var frame = [UInt8](repeating: 0, count: Framing.headerSize + payload.count)
    frame.withUnsafeMutableBytes { b in
        if payload.count > 0 { b.baseAddress!.advanced(by: Framing.headerSize).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
        _ = Framing.writeUDPHeaders(b.baseAddress!, capacity: b.count, sourceMAC: MACAddress(1), destinationMAC: MACAddress(2),
                                    source: source, destination: destination, payloadLength: payload.count, ipID: ipID)
    }
    frame.withUnsafeBytes { b in
        guard let p = Framing.parseUDP(b) else { fatalError("headers Framing wrote do not parse: \(source) → \(destination), \(payload.count) bytes") }
        precondition(p.source == source && p.destination == destination && p.payloadLength == payload.count, "round trip changed the flow")
        let ok = Framing.checksumsValid(b, p)
        precondition(ok.ipv4 && ok.udp, "checksums Framing wrote do not verify")
    }
    return 0
}
