import WirepathIO
import WirepathModel

/// Control packets: how the client opens and closes the reflector's measured
/// window over the same path and port as the data. Requests are idempotent and
/// retried, because UDP may drop them; replies echo the request's sequence.
/// The layout is `ControlWire`'s (protocol 2).
enum ControlMessage {
    static let slotSize = ControlWire.slot

    /// Writes a control packet into slot 0 of `batch`: header (the cookie in
    /// the timestamp field), version word, MAC when `mac` is set, body, then
    /// zeros up to `padTo` bytes; the integrity check last.
    static func write(_ batch: borrowing PacketBatch, op: ControlOp, runID: UInt64, seq: UInt64, to: Endpoint,
                      word: ControlWire.Word = ControlWire.Word(), cookie: UInt64 = 0, body: [UInt64] = [],
                      mac: ControlMAC? = nil, padTo: Int = 0) {
        let size = max(ControlWire.prefix + body.count * 8, padTo)
        precondition(size <= slotSize, "a control packet fits its slot")
        var w = word
        if mac != nil { w.flags |= ControlWire.hasMAC }
        batch.withMutableBytes(0) { slot in
            let packet = UnsafeMutableRawBufferPointer(rebasing: slot[0..<size])
            packet.initializeMemory(as: UInt8.self, repeating: 0)
            PayloadHeader(kind: .control, op: op.rawValue, runID: runID, seq: seq, timestamp: cookie).write(to: packet)
            packet.storeBytes(of: w.raw.littleEndian, toByteOffset: ControlWire.wordOffset, as: UInt64.self)
            for (i, v) in body.enumerated() {
                packet.storeBytes(of: v.littleEndian, toByteOffset: ControlWire.prefix + i * 8, as: UInt64.self)
            }
            mac?.sign(packet)
            let check = Integrity.compute(UnsafeRawBufferPointer(packet))
            packet.storeBytes(of: check.littleEndian, toByteOffset: 32, as: UInt64.self)
        }
        batch.setLength(0, size)
        batch.setEndpoint(0, to)
    }

    /// Writes the short refusal that answers a request of another protocol
    /// version: header and version word only (48 bytes), never more than
    /// such a request.
    static func writeVersionRefusal(_ batch: borrowing PacketBatch, runID: UInt64, seq: UInt64, to: Endpoint) {
        let size = ControlWire.wordOffset + 8
        batch.withMutableBytes(0) { slot in
            let packet = UnsafeMutableRawBufferPointer(rebasing: slot[0..<size])
            PayloadHeader(kind: .control, op: ControlOp.refused.rawValue, runID: runID, seq: seq, timestamp: 0).write(to: packet)
            let w = ControlWire.Word(status: ControlWire.Refusal.version.rawValue, value: UInt32(ControlWire.version))
            packet.storeBytes(of: w.raw.littleEndian, toByteOffset: ControlWire.wordOffset, as: UInt64.self)
            let check = Integrity.compute(UnsafeRawBufferPointer(packet))
            packet.storeBytes(of: check.littleEndian, toByteOffset: 32, as: UInt64.self)
        }
        batch.setLength(0, size)
        batch.setEndpoint(0, to)
    }

    /// The version word, or nil when the packet is too short to hold one.
    static func word(_ bytes: UnsafeRawBufferPointer) -> ControlWire.Word? {
        guard bytes.count >= ControlWire.wordOffset + 8 else { return nil }
        return ControlWire.Word(raw: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: ControlWire.wordOffset, as: UInt64.self)))
    }

    /// The first `count` body words after the prefix (a report's reply
    /// says how many in its word's value), at most what the packet holds.
    static func body(_ bytes: UnsafeRawBufferPointer, count: Int) -> [UInt64] {
        let n = min(max((bytes.count - ControlWire.prefix) / 8, 0), ControlWire.maxBodyFields, count)
        return (0..<n).map { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: ControlWire.prefix + $0 * 8, as: UInt64.self)) }
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
    let mac: ControlMAC?
    var seq: UInt64 = 1
    var attempts = 10
    var replyTimeoutNs: UInt64 = 200_000_000
    /// Requests sent again after a reply did not come in time: each may be
    /// a drop the kernel counted (the request's or its reply's), which the
    /// kernel's account of a window's loss allows for.
    var resends: UInt64 = 0

    /// The reflector's address-validation cookie, from its last `retry`.
    var cookie: UInt64 = 0
    /// Why the reflector said it would not count syscalls in the window
    /// that its last `beginAck` opened (nil: it counts, or was not asked).
    var syscallsUnavailable: String?

    init(runID: UInt64, peer: Endpoint, key: ControlKey?) {
        self.runID = runID
        self.peer = peer
        mac = key.map(ControlMAC.init)
    }

    /// Sends `op` until a reply `expect` with our run id and sequence arrives.
    /// Data packets that arrive meanwhile (late echoes) are ignored.
    mutating func request<P: PacketPath & ~Copyable>(
        _ op: ControlOp, expect: ControlOp, flags: UInt8 = 0, path: inout P,
        tx: inout PacketBatch, rx: inout PacketBatch, stop: StopSignal
    ) throws(PathError) -> [UInt64] {
        var ignore = IgnoreStrays()
        return try request(op, expect: expect, flags: flags, path: &path, tx: &tx, rx: &rx, stop: stop, strays: &ignore)
    }

    /// What one received packet means to a waiting request.
    enum Reply { case none, done([UInt64]), retry(UInt64), failed(PathError) }

    /// The same, handing every data packet that arrives meanwhile to
    /// `strays`: the echoes of a window that came after the client stopped
    /// waiting for them still crossed the wire, so the client counts them.
    mutating func request<P: PacketPath & ~Copyable, S: StrayData & ~Copyable>(
        _ op: ControlOp, expect: ControlOp, flags: UInt8 = 0, path: inout P,
        tx: inout PacketBatch, rx: inout PacketBatch, stop: StopSignal, strays: inout S
    ) throws(PathError) -> [UInt64] {
        seq += 1
        var badMACs = 0
        var tries = 0
        var answeredWithRetry = false
        // A retry (a fresh cookie) is answered at once and counts as a try;
        // a try after a reply that did not come in time is a resend.
        while tries < attempts {
            if tries > 0 && !answeredWithRetry { resends &+= 1 }
            answeredWithRetry = false
            tries += 1
            if stop.requested { throw PathError(operation: "control \(op)", errno: .interrupted, hint: "stopped by signal") }
            // Padded to the full slot: the reflector never answers with more
            // bytes than it was sent, and the report needs them.
            ControlMessage.write(tx, op: op, runID: runID, seq: seq, to: peer, word: ControlWire.Word(flags: flags),
                                 cookie: cookie, mac: mac, padTo: ControlWire.slot)
            tx.count = 1
            _ = try path.send(&tx)
            let deadline = Sys.monotonicNanos() + replyTimeoutNs
            wait: while Sys.monotonicNanos() < deadline && !stop.requested {
                let n = try path.receive(into: &rx)
                for i in 0..<n {
                    let from = rx.endpoint(i)
                    let reply: Reply = rx.withBytes(i) { bytes in
                        guard case .header(let h) = PayloadHeader.parse(bytes), h.kind == .control else {
                            strays.stray(bytes)
                            return .none
                        }
                        // Only our peer's address answers for it.
                        guard from == peer, h.runID == runID, h.seq == seq, Integrity.verify(bytes) else { return .none }
                        return interpret(h, bytes, expect: expect, badMACs: &badMACs)
                    }
                    switch reply {
                    case .none: continue
                    case .done(let body): return body
                    case .failed(let e): throw e
                    case .retry(let c):
                        cookie = c
                        answeredWithRetry = true
                        break wait
                    }
                }
            }
        }
        let macNote = badMACs > 0 ? " (\(badMACs) replies with a MAC that did not verify were ignored: do both ends have the same --key-file?)" : ""
        throw PathError(operation: "control \(op) to \(peer)", errno: .timedOut,
                        hint: "the peer did not answer after \(attempts) tries of \(replyTimeoutNs / 1_000_000) ms\(macNote); is `wirepath serve` running there with the same path, and is the address right?")
    }

    /// Internal, not private: the control fuzz target (fuzz/) decodes
    /// replies through it, as `request` does.
    mutating func interpret(_ h: PayloadHeader, _ bytes: UnsafeRawBufferPointer, expect: ControlOp,
                                    badMACs: inout Int) -> Reply {
        guard let word = ControlMessage.word(bytes) else {
            // A protocol 1 reflector answers a begin with a bare header.
            return .failed(PathError(operation: "control to \(peer)", errno: .protocolNotSupported,
                                     hint: "`wirepath serve` at \(peer) speaks an older control protocol (1) than this client (\(ControlWire.version)); run the same wirepath version at both ends"))
        }
        guard word.version == ControlWire.version || ControlOp(rawValue: h.op) == .refused else {
            return .failed(PathError(operation: "control to \(peer)", errno: .protocolNotSupported,
                                     hint: "`wirepath serve` at \(peer) speaks control protocol \(word.version), this client \(ControlWire.version); run the same wirepath version at both ends"))
        }
        if ControlOp(rawValue: h.op) == .refused {
            switch ControlWire.Refusal(rawValue: word.status) {
            case .busy:
                return .failed(PathError(operation: "control to \(peer)", errno: .resourceBusy,
                                         hint: "serve at \(peer) has \(word.value) sessions open (--max-sessions \(word.value)); wait for one to end (idle sessions expire), or start serve with a larger --max-sessions"))
            case .version:
                return .failed(PathError(operation: "control to \(peer)", errno: .protocolNotSupported,
                                         hint: "`wirepath serve` at \(peer) speaks control protocol \(word.value), this client \(ControlWire.version); run the same wirepath version at both ends"))
            case .unauthenticated:
                return .failed(PathError(operation: "control to \(peer)", errno: .notPermitted,
                                         hint: "serve at \(peer) has a key and refused our control packets (\(mac == nil ? "we sent no MAC: give this end the same key with --key-file or WIREPATH_KEY_FILE" : "our MAC did not verify: the two ends have different key files")); data is never sent unauthenticated to it"))
            case nil:
                return .none
            }
        }
        guard bytes.count >= ControlWire.prefix else { return .none }
        if let mac {
            guard word.flags & ControlWire.hasMAC != 0 else {
                return .failed(PathError(operation: "control to \(peer)", errno: .notPermitted,
                                         hint: "the reply from \(peer) carries no MAC: its serve runs without --key-file; give it the same key, or run this end without one"))
            }
            guard mac.verify(bytes) else { badMACs += 1; return .none }
        }
        switch ControlOp(rawValue: h.op) {
        case .retry:
            return h.timestamp == 0 ? .none : .retry(h.timestamp)
        case expect:
            if expect == .beginAck {
                let why = ControlWire.SyscallsUnavailable(rawValue: word.value) ?? .tracepoint
                syscallsUnavailable = why == .counted ? nil : why.reason
                return .done([])
            }
            return .done(ControlMessage.body(bytes, count: Int(word.value)))
        default:
            return .none
        }
    }
}
