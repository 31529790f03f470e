// libFuzzer target: captured-frame parsing (WireFrame.parse) for every link
// type it reads, with any captured and wire length. Must never trap.
import FuzzSupport
import WirepathModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrame(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    // The wire length: the captured length, or up to 255 more (a snaplen
    // cut), or one less (captured longer than the wire: refused).
    let extra = Int(input.byte())
    let frame = input.rest
    for link in [WireFrame.LinkType.ethernet, .linuxSLL, .linuxSLL2] {
        let wire = extra == 255 ? max(frame.count - 1, 0) : frame.count + extra
        if case .test(let t) = WireFrame.parse(frame, wireLength: wire, linkType: link) {
            // What the audit reads of a test packet.
            _ = (t.deliverable, t.header.runID, t.firstBodyWord, WireFrame.macString(t.destinationMAC))
        }
    }
    return 0
}
