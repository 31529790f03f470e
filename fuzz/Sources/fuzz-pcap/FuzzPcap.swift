// libFuzzer target: a whole pcap or pcapng file (any bytes, at most the
// fuzzer's -max_len) read by libpcap and audited as `wirepath verify` does,
// then its table. A file is refused with an error or read; nothing traps.
import Foundation
import FuzzSupport
import Glibc
import WirepathCapture
import WirepathModel
import WirepathRender

/// One file in memory-backed /dev/shm per process, rewritten for each
/// input and removed when libFuzzer exits (it calls exit(3), also when it
/// stops at a finding).
let path = "/dev/shm/wirepath-fuzz-pcap-\(getpid()).pcap"
let removeAtExit: Void = { atexit { unlink(path) } }()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPcap(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    _ = removeAtExit
    let bytes = Data(FuzzInput(data, count).bytes)
    guard FileManager.default.createFile(atPath: path, contents: bytes) else { fatalError("cannot write \(path)") }
    if let summary = try? CaptureAudit.audit(path, reflectorPort: 7000, timeoutNs: 1_000_000) {
        _ = TextReport.wireTable(summary, limit: 20)
    }
    return 0
}
