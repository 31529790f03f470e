import WirepathIO
import WirepathModel

/// Control packets: how the client opens and closes the reflector's measured
/// window over the same path and port as the data. Requests are idempotent and
/// retried, because UDP may drop them; replies echo the request's sequence.
enum ControlMessage {
    static let slotSize = PathConfig.minSendSlot

    /// Writes a control packet into slot 0 of `batch`.
    static func write(_ batch: borrowing PacketBatch, op: ControlOp, runID: UInt64, seq: UInt64, to: Endpoint, body: [UInt64] = []) {
        let size = PayloadHeader.size + body.count * 8
        batch.withMutableBytes(0) { slot in
            PayloadHeader(kind: .control, op: op.rawValue, runID: runID, seq: seq, timestamp: Sys.monotonicNanos()).write(to: slot)
            for (i, v) in body.enumerated() {
                slot.storeBytes(of: v.littleEndian, toByteOffset: PayloadHeader.size + i * 8, as: UInt64.self)
            }
            let check = Integrity.compute(UnsafeRawBufferPointer(rebasing: slot[0..<size]))
            slot.storeBytes(of: check.littleEndian, toByteOffset: 32, as: UInt64.self)
        }
        batch.setLength(0, size)
        batch.setEndpoint(0, to)
    }

    static func body(_ bytes: UnsafeRawBufferPointer) -> [UInt64] {
        let n = (bytes.count - PayloadHeader.size) / 8
        return (0..<max(n, 0)).map { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: PayloadHeader.size + $0 * 8, as: UInt64.self)) }
    }
}

/// Takes the data packets a client receives while it waits for a control
/// reply.
protocol StrayData: ~Copyable {
    mutating func stray(_ bytes: UnsafeRawBufferPointer)
}

struct IgnoreStrays: StrayData {
    func stray(_ bytes: UnsafeRawBufferPointer) {}
}

/// The client side of the control exchange.
struct ControlClient {
    let runID: UInt64
    let peer: Endpoint
    var seq: UInt64 = 1
    var attempts = 10
    var replyTimeoutNs: UInt64 = 200_000_000
    /// Requests sent again after a reply did not come in time: each may be
    /// a drop the kernel counted (the request's or its reply's), which the
    /// kernel's account of a window's loss allows for.
    var resends: UInt64 = 0

    /// Sends `op` until a reply `expect` with our run id and sequence arrives.
    /// Data packets that arrive meanwhile (late echoes) are ignored.
    mutating func request<P: PacketPath & ~Copyable>(
        _ op: ControlOp, expect: ControlOp, body: [UInt64] = [], path: inout P,
        tx: inout PacketBatch, rx: inout PacketBatch, stop: StopSignal
    ) throws(PathError) -> [UInt64] {
        var ignore = IgnoreStrays()
        return try request(op, expect: expect, body: body, path: &path, tx: &tx, rx: &rx, stop: stop, strays: &ignore)
    }

    /// The same, handing every data packet that arrives meanwhile to
    /// `strays`: the echoes of a window that came after the client stopped
    /// waiting for them still crossed the wire, so the client counts them.
    mutating func request<P: PacketPath & ~Copyable, S: StrayData & ~Copyable>(
        _ op: ControlOp, expect: ControlOp, body: [UInt64] = [], path: inout P,
        tx: inout PacketBatch, rx: inout PacketBatch, stop: StopSignal, strays: inout S
    ) throws(PathError) -> [UInt64] {
        seq += 1
        for attempt in 0..<attempts {
            if attempt > 0 { resends &+= 1 }
            if stop.requested { throw PathError(operation: "control \(op)", errno: .interrupted, hint: "stopped by signal") }
            ControlMessage.write(tx, op: op, runID: runID, seq: seq, to: peer, body: body)
            tx.count = 1
            _ = try path.send(&tx)
            let deadline = Sys.monotonicNanos() + replyTimeoutNs
            while Sys.monotonicNanos() < deadline && !stop.requested {
                let n = try path.receive(into: &rx)
                for i in 0..<n {
                    let reply: [UInt64]? = rx.withBytes(i) { bytes in
                        guard case .header(let h) = PayloadHeader.parse(bytes), h.kind == .control else {
                            strays.stray(bytes)
                            return nil
                        }
                        guard h.op == expect.rawValue, h.runID == runID, h.seq == seq,
                              Integrity.verify(bytes) else { return nil }
                        return ControlMessage.body(bytes)
                    }
                    if let reply { return reply }
                }
            }
        }
        throw PathError(operation: "control \(op) to \(peer)", errno: .timedOut,
                        hint: "the peer did not answer after \(attempts) tries of \(replyTimeoutNs / 1_000_000) ms; is `wirepath serve` running there with the same path, and is the address right?")
    }
}
