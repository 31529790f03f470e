// libFuzzer target: the reflector's whole loop (`Reflector.run`) over an
// in-memory fake path. The input is a script of datagrams from eight
// sources (good ones, port 0, 0.0.0.0, broadcast, multicast), cut into
// receive batches: raw bytes, or well-formed pings, floods and control
// requests whose run ids collide on purpose and whose begin may carry the
// cookie the reflector last handed that source, so that sessions open,
// fill, expire and close.
//
// Beyond "never traps", two properties of a reflector that faces the
// network (QUIC's amplification limit, docs/two-hosts.md):
// - it sends only to addresses that sent to it, never to a source it must
//   drop (port 0, 0.0.0.0/8, broadcast, multicast);
// - it never sends a source more bytes than that source sent it.
import FuzzSupport
import Glibc
@testable import WirepathBench
import WirepathIO
import WirepathModel

/// The sources a script draws from; the last four must never be answered.
let sources: [Endpoint] = [
    Endpoint(address: 0xC612_0001, port: 40000), // 198.18.0.1:40000
    Endpoint(address: 0xC612_0001, port: 40001), // same host, other port
    Endpoint(address: 0xC613_FFFE, port: 7000), // 198.19.255.254:7000
    Endpoint(address: 0xC612_0003, port: 65535),
    Endpoint(address: 0xC612_0001, port: 0), // port 0
    Endpoint(address: 0, port: 9), // 0.0.0.0
    Endpoint(address: 0xFFFF_FFFF, port: 9), // broadcast
    Endpoint(address: 0xE000_0001, port: 9), // 224.0.0.1
]
let answerable = 4

/// One datagram of the script and whether a receive batch ends after it.
/// A control request is written when it is received, so that it carries
/// the cookie the reflector handed its source by then.
struct Datagram {
    enum Content {
        case bytes([UInt8])
        case control(op: ControlOp, runID: UInt64, seq: UInt64, flags: UInt8, padded: Bool)
    }
    var source: Int
    var content: Content
    var endsBatch: Bool
}

/// What the fake path saw, checked after each run. The fuzzer runs one
/// input at a time on one thread.
final class Ledger {
    var script: [Datagram] = []
    var next = 0
    var inBytes = [Int](repeating: 0, count: sources.count)
    var outBytes = [Int](repeating: 0, count: sources.count)
    /// The cookie of the last retry sent to each source (0: none yet).
    var cookies = [UInt64](repeating: 0, count: sources.count)
    var stop = StopSignal()
    /// Where a control request is written before it is handed over.
    var scratch = PacketBatch(capacity: 1, slotSize: ControlMessage.slotSize)
}
nonisolated(unsafe) let ledger = Ledger()
/// WIREPATH_FUZZ_TRACE=1: print what each input did (to see that the seeds
/// reach open sessions: run the binary on a seed file).
let trace = getenv("WIREPATH_FUZZ_TRACE") != nil

struct FakePath: PacketPath, ~Copyable {
    static var kind: PathKind { .socket }
    var sendFailurePolicy = SendFailurePolicy.throw
    var counters = PathCounters()
    var info = PathInfo()

    init(_ config: PathConfig) throws(PathError) {}

    mutating func receive(into batch: inout PacketBatch) throws(PathError) -> Int {
        batch.count = 0
        guard ledger.next < ledger.script.count else {
            ledger.stop.request()
            return 0
        }
        while ledger.next < ledger.script.count && batch.count < batch.capacity {
            let d = ledger.script[ledger.next]
            ledger.next += 1
            var bytes: [UInt8]
            switch d.content {
            case .bytes(let b):
                bytes = b
            case .control(let op, let runID, let seq, let flags, let padded):
                ControlMessage.write(ledger.scratch, op: op, runID: runID, seq: seq, to: sources[d.source],
                                     word: ControlWire.Word(flags: flags), cookie: ledger.cookies[d.source],
                                     padTo: padded ? ControlWire.slot : 0)
                bytes = ledger.scratch.withBytes(0) { Array($0[0..<ledger.scratch.length(0)]) }
            }
            if bytes.count > batch.slotSize { bytes.removeLast(bytes.count - batch.slotSize) }
            let i = batch.count
            batch.withMutableBytes(i) { slot in
                for (k, b) in bytes.enumerated() { slot[k] = b }
            }
            batch.setLength(i, bytes.count)
            batch.setEndpoint(i, sources[d.source])
            ledger.inBytes[d.source] += bytes.count
            batch.count += 1
            if d.endsBatch { break }
        }
        counters.rxPackets &+= UInt64(batch.count)
        return batch.count
    }

    mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int {
        for i in 0..<batch.count {
            let to = batch.endpoint(i)
            guard let s = sources.firstIndex(of: to), s < answerable else {
                fatalError("reflector sent to \(to), which never sent to it or must never be answered")
            }
            let n = batch.length(i)
            ledger.outBytes[s] += n
            if ledger.outBytes[s] > ledger.inBytes[s] {
                fatalError("reflector sent \(to) \(ledger.outBytes[s]) bytes for \(ledger.inBytes[s]) received (amplification)")
            }
            batch.withBytes(i) { b in
                if case .header(let h) = PayloadHeader.parse(b), h.kind == .control,
                   ControlOp(rawValue: h.op) == .retry, h.timestamp != 0 {
                    ledger.cookies[s] = h.timestamp
                }
            }
        }
        counters.txPackets &+= UInt64(batch.count)
        return batch.count
    }
}

/// A payload with a valid header and integrity check, `size` bytes.
func packet(kind: PayloadHeader.Kind, op: UInt16, runID: UInt64, seq: UInt64, size: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: max(size, PayloadHeader.size))
    PayloadStamper.fillBody(&bytes)
    bytes.withUnsafeMutableBytes { p in
        PayloadHeader(kind: kind, op: op, runID: runID, seq: seq, timestamp: 0).write(to: p)
        let check = Integrity.compute(UnsafeRawBufferPointer(p))
        p.storeBytes(of: check.littleEndian, toByteOffset: 32, as: UInt64.self)
    }
    return bytes
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReflector(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    ledger.script.removeAll(keepingCapacity: true)
    ledger.next = 0
    for i in 0..<sources.count { ledger.inBytes[i] = 0; ledger.outBytes[i] = 0; ledger.cookies[i] = 0 }
    ledger.stop = StopSignal()

    let maxSessions = 1 + Int(input.byte() % 8)
    let batchSize = 1 + Int(input.byte() % 32)
    let config = PathConfig(path: .socket, local: Endpoint(address: 0xC612_0002, port: 7000), batchSize: batchSize)
    let slot = max(config.mtu, ControlMessage.slotSize)
    // Each datagram: a flags byte (source, end of batch, kind), then the kind's fields.
    while !input.isAtEnd && ledger.script.count < 256 {
        let f = input.byte()
        let source = Int(f & 7), ends = f & 8 != 0
        let runID = UInt64(input.byte() % 4) + 1 // four run ids, so that they collide
        let content: Datagram.Content
        switch (f >> 4) & 3 {
        case 0: // raw bytes
            content = .bytes(Array(input.take(Int(input.u16()) % (slot + 64))))
        case 1: // a ping
            content = .bytes(packet(kind: .ping, op: 0, runID: runID, seq: UInt64(input.u16()),
                                    size: PayloadHeader.size + Int(input.byte())))
        case 2: // a flood packet, in the window or the warm-up range
            let seq = UInt64(input.u16()) | (f & 0x40 != 0 ? SequenceSpace.warmup : 0)
            content = .bytes(packet(kind: .flood, op: 0, runID: runID, seq: seq, size: PayloadHeader.size + Int(input.byte())))
        default: // a control request as the client writes it, with its source's last cookie
            let op = ControlOp(rawValue: UInt16(input.byte() % 8)) ?? .begin
            content = .control(op: op, runID: runID, seq: UInt64(input.byte()), flags: input.byte(), padded: f & 0x40 != 0)
        }
        ledger.script.append(Datagram(source: source, content: content, endsBatch: ends))
    }

    let path: FakePath
    do { path = try FakePath(config) } catch { return 0 }
    var reflector = Reflector(path: path, config: config, stop: ledger.stop,
                              options: ServeOptions(maxSessions: maxSessions))
    do {
        let summary = try reflector.run(idleExitNs: 5_000_000_000)
        if trace {
            print("windows \(summary.windows), echoed \(summary.echoed), foreign \(summary.foreign), "
                  + "dropped sources \(summary.droppedSources.total), control \(summary.control), "
                  + "bytes in \(ledger.inBytes), out \(ledger.outBytes)")
        }
    } catch {
        // The reflector ends on a path error only; the fake path throws none.
        fatalError("the reflector's loop ended on \(error)")
    }
    return 0
}
