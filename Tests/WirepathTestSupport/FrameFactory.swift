// Shared by the test targets (WirepathCoreTests and WirepathTests), which
// cannot import each other: the frames of a run as they cross a wire, with
// full checksums, built by the library's own framing code.
import WirepathIO
import WirepathModel

/// Builds the frames of a run as they cross a wire, for parser and audit tests.
public struct FrameFactory {
    public static let clientMAC = MACAddress(0x02_00_00_00_00_01)
    public static let reflectorMAC = MACAddress(0x02_00_00_00_00_02)
    public static let client = Endpoint(address: 0xC612_0001, port: 40000)
    public static let reflector = Endpoint(address: 0xC612_0002, port: 7000)
    /// The built-in topology's IPv6 ends (2001:2::/48, RFC 5180).
    public static let client6 = Endpoint(ipv6: IPv6Address(high: 0x2001_0002_0000_0000, low: 1), port: 40000)
    public static let reflector6 = Endpoint(ipv6: IPv6Address(high: 0x2001_0002_0000_0000, low: 2), port: 7000)

    public let runID: UInt64
    public var size = 64
    public var ipID: UInt16 = 1
    /// Ethernet/IPv6/UDP frames between `client6` and `reflector6`.
    public var ipv6 = false

    public init(runID: UInt64, size: Int = 64) {
        self.runID = runID
        self.size = size
    }

    /// A frame client→reflector (or back) with full checksums, optionally
    /// with VLAN tags inserted after the MAC addresses.
    public mutating func frame(kind: PayloadHeader.Kind, seq: UInt64, op: ControlOp? = nil, toReflector: Bool = true,
                        vlanTags: Int = 0, body: [UInt64] = [], timestamp: UInt64 = 1) -> [UInt8] {
        let payloadSize = op == nil ? size : PayloadHeader.size + body.count * 8
        var payload = [UInt8](repeating: 0, count: payloadSize)
        if op == nil {
            PayloadStamper.fillBody(&payload)
            let stamper = PayloadStamper(runID: runID, size: payloadSize)
            payload.withUnsafeMutableBytes { stamper.stamp($0, kind: kind, seq: seq, timestamp: timestamp) }
        } else {
            payload.withUnsafeMutableBytes { p in
                PayloadHeader(kind: .control, op: op!.rawValue, runID: runID, seq: seq, timestamp: timestamp).write(to: p)
                for (i, v) in body.enumerated() { p.storeBytes(of: v.littleEndian, toByteOffset: 40 + i * 8, as: UInt64.self) }
                let check = Integrity.compute(UnsafeRawBufferPointer(p))
                p.storeBytes(of: check.littleEndian, toByteOffset: 32, as: UInt64.self)
            }
        }
        if ipv6 {
            var f = [UInt8](repeating: 0, count: Framing.headerSize6 + payloadSize)
            f.replaceSubrange(Framing.headerSize6..., with: payload)
            _ = f.withUnsafeMutableBytes { b in
                Framing.writeUDP6Headers(b.baseAddress!, capacity: b.count,
                                         sourceMAC: toReflector ? Self.clientMAC : Self.reflectorMAC,
                                         destinationMAC: toReflector ? Self.reflectorMAC : Self.clientMAC,
                                         source: toReflector ? Self.client6 : Self.reflector6,
                                         destination: toReflector ? Self.reflector6 : Self.client6,
                                         payloadLength: payloadSize)
            }
            for _ in 0..<vlanTags { f.insert(contentsOf: [0x81, 0x00, 0x00, 0x64], at: 12) }
            return f
        }
        var f = [UInt8](repeating: 0, count: Framing.headerSize + payloadSize)
        f.replaceSubrange(Framing.headerSize..., with: payload)
        ipID &+= 1
        let id = ipID
        _ = f.withUnsafeMutableBytes { b in
            Framing.writeUDPHeaders(b.baseAddress!, capacity: b.count,
                                    sourceMAC: toReflector ? Self.clientMAC : Self.reflectorMAC,
                                    destinationMAC: toReflector ? Self.reflectorMAC : Self.clientMAC,
                                    source: toReflector ? Self.client : Self.reflector,
                                    destination: toReflector ? Self.reflector : Self.client,
                                    payloadLength: payloadSize, ipID: id)
        }
        for _ in 0..<vlanTags { f.insert(contentsOf: [0x81, 0x00, 0x00, 0x64], at: 12) }
        return f
    }

    /// A whole ping-pong run: begin/ack, warm-up, `count` pings and echoes,
    /// end/report, with `drop` request seqs never sent.
    public mutating func pingpong(count: UInt64, drop: Set<UInt64> = [], duplicate: Set<UInt64> = [], vlanTags: Int = 0) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for w in 0..<3 as Range<UInt64> {
            out.append(frame(kind: .ping, seq: (1 << 62) + w, vlanTags: vlanTags))
            out.append(frame(kind: .ping, seq: (1 << 62) + w, toReflector: false, vlanTags: vlanTags))
        }
        out.append(frame(kind: .control, seq: 2, op: .begin, vlanTags: vlanTags, body: [0]))
        out.append(frame(kind: .control, seq: 2, op: .beginAck, toReflector: false, vlanTags: vlanTags))
        for s in 0..<count where !drop.contains(s) {
            let copies = duplicate.contains(s) ? 2 : 1
            for _ in 0..<copies { out.append(frame(kind: .ping, seq: s, vlanTags: vlanTags, timestamp: 1000 + s)) }
            for _ in 0..<copies { out.append(frame(kind: .ping, seq: s, toReflector: false, vlanTags: vlanTags, timestamp: 1000 + s)) }
        }
        out.append(frame(kind: .control, seq: 3, op: .end, vlanTags: vlanTags))
        out.append(frame(kind: .control, seq: 3, op: .report, toReflector: false, vlanTags: vlanTags, body: [1, 2, 3]))
        return out
    }
}

extension FrameFactory {
    /// The program's side of a ping-pong with the given counts and an empty
    /// histogram, to verify frames from this factory against.
    public static func pingpongResult(sent: UInt64, received: UInt64) -> PingPongResult {
        var client = EndReport(role: "client", cost: nil, counters: PathCounters(), napiID: 0)
        client.txPackets = sent
        return PingPongResult(latency: LatencySummary(LatencyHistogram.make()), sent: sent, received: received,
                              lost: sent - received, duplicated: 0, reordered: 0, integrityFailures: 0, foreign: 0,
                              timeoutNs: 100_000_000, warmupNs: 0, durationNs: 1, client: client, reflector: nil)
    }
}
