// The seed corpora under fuzz/corpus/, made from the test frame factory
// (`make fuzz-seeds`; the real capture in fuzz/corpus/pcap comes from a
// --capture run, docs/fuzzing.md). Every fuzz binary links this: started
// with WIREPATH_FUZZ_SEEDS=DIR it writes its own target's seeds into DIR
// and exits, before libFuzzer runs anything.
import Foundation
import Glibc
import WirepathCapture
import WirepathIO
import WirepathModel
import WirepathTestSupport

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    guard let dir = ProcessInfo.processInfo.environment["WIREPATH_FUZZ_SEEDS"] else { return 0 }
    let name = URL(fileURLWithPath: CommandLine.arguments[0]).lastPathComponent
    let target = name.hasPrefix("fuzz-") ? String(name.dropFirst(5)) : name
    do {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (i, seed) in Seeds.make(target, dir: dir).enumerated() {
            try Data(seed).write(to: URL(fileURLWithPath: dir + "/seed-\(i)"))
        }
    } catch {
        fputs("seeds for \(target): \(error)\n", stderr)
        exit(1)
    }
    exit(0)
}

enum Seeds {
    /// A short run's frames: warm-up, begin/ack, pings and echoes with a
    /// gap and a duplicate, end/report; one of them VLAN-tagged.
    static func run(_ id: UInt64, tags: Int = 0) -> [[UInt8]] {
        var ff = FrameFactory(runID: id)
        return ff.pingpong(count: 6, drop: [2], duplicate: [4], vlanTags: tags)
    }

    static func be64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) } }

    /// The same frame behind a Linux cooked header (SLL, then SLL2).
    static func cooked(_ eth: [UInt8]) -> [[UInt8]] {
        let src = Array(eth[6..<12]), proto = Array(eth[12..<14]), rest = Array(eth[14...])
        return [[0, 4, 0, 1, 0, 6] + src + [0, 0] + proto + rest,
                proto + [0, 0] + [0, 0, 0, 3] + [0, 1] + [4, 6] + src + [0, 0] + rest]
    }

    static func make(_ target: String, dir: String) -> [[UInt8]] {
        let frames = run(0x5EED) + run(0x5EEE, tags: 1)
        let payloads = frames.map { Array($0[Framing.headerSize...]) }.filter { $0.count >= PayloadHeader.size }
        switch target {
        case "frame":
            return frames.prefix(12).map { [0] + $0 } + cooked(frames[0]).map { [0] + $0 } + [[8] + frames[7]]
        case "udp":
            return Array(frames.prefix(8))
        case "payload":
            return payloads.prefix(8).map { [1] + be64(1) + be64(2) + be64(3) + [0, 9] + $0 }
        case "control":
            return payloads.filter { $0[5] == PayloadHeader.Kind.control.rawValue }
        case "peer-report":
            var r = PeerReport(path: .socket)
            r.rxPackets = 1000; r.echoed = 990; r.txPackets = 990; r.firstRxNs = 1; r.lastRxNs = 1_000_000
            r.cost = ThreadCost(syscalls: 2000, syscallsUnavailable: nil, userNs: 10, systemNs: 20, voluntaryContextSwitches: 1,
                                involuntaryContextSwitches: 0, wallNs: 1_000_000)
            var x = r
            x.path = .xdp; x.xdp = XDPCounters()
            return [r, x].map { be64(1000) + be64(1000) + $0.encode().flatMap(be64) }
        case "audit":
            let seq = { (fs: [[UInt8]]) -> [UInt8] in
                var out: [UInt8] = [0, 0]
                for f in fs { out += [UInt8(f.count >> 8), UInt8(f.count & 0xFF), 0] + f }
                return out
            }
            return [seq(run(1)), seq(run(2) + run(3, tags: 2)), seq(Array(run(4).prefix(5)))]
        case "reflector":
            // fuzz-reflector's script (its Reflector.swift): a flags byte
            // (source, end of batch, kind, pad/warm-up), a run id byte,
            // then the kind's fields. A session's life from source 0:
            // begin, retried with the cookie, pings, a flood, end; then
            // the same run id from another source and a hostile mix.
            let begin: [UInt8] = [0x30 | 8 | 0x40, 0, 1, 1, 0]
            let ping = { (src: UInt8, seq: UInt8) -> [UInt8] in [0x10 | src, 0, 0, seq, 0] }
            let flood = { (seq: UInt8) -> [UInt8] in [0x20, 0, 0, seq, 16] }
            let end: [UInt8] = [0x30 | 0x40, 0, 3, 2, 0]
            let life = begin + begin + ping(0, 1) + ping(0, 2) + [ping(0, 3)[0] | 8] + Array(ping(0, 3).dropFirst())
                + flood(1) + flood(2) + end + end
            let hostile = ping(4, 1) + ping(5, 1) + ping(6, 1) + ping(7, 1) + ping(1, 9) + [0x30 | 1, 0, 3, 7, 0]
                + [0x00 | 2, 0, 0, 40] + [UInt8](repeating: 0x57, count: 40)
            return [[4, 8] + life, [1, 1] + life + hostile, [2, 31] + hostile + life]
        case "pcap":
            // A file the writer makes; the real capture sits beside it.
            let path = dir + "/factory.pcap"
            do {
                let w = try CaptureFileWriter(path)
                for (i, f) in frames.enumerated() { w.write(f, timestampNs: 1_000_000_000 + UInt64(i) * 10_000) }
            } catch { return [] }
            return []
        default:
            return []
        }
    }
}
