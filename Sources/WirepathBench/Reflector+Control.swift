import WirepathIO
import WirepathModel

/// The reflector's control plane: address validation, sessions, keys and
/// the amplification limits (docs/two-hosts.md has the table).
///
/// - A `begin` without a valid cookie is answered with a `retry` carrying
///   one (a MAC over the run id, the source and the time: no state kept).
///   Only a `begin` that echoes it opens a window, bound to that source.
/// - Control for a live session's run id from another source is counted
///   as foreign and answered with nothing.
/// - No reply is larger than its request, and replies to one source
///   address are rate-limited (`ReplyLimiter`).
extension Reflector where P: ~Copyable {

    mutating func control(_ h: PayloadHeader, slot i: Int, now: UInt64) throws(PathError) {
        let from = rx.endpoint(i)
        let size = rx.length(i)
        let word = rx.withBytes(i) { ControlMessage.word($0) }
        guard let word else { summary.control.undersized &+= 1; return }
        guard rx.withBytes(i, { Integrity.verify($0) }) else { summary.foreign &+= 1; return }
        guard word.version == ControlWire.version else {
            // Another release's client: a 48-byte refusal names our version
            // (no larger than the smallest request that reaches here).
            summary.control.otherVersion &+= 1
            guard mayAnswer(from, now: now) else { return }
            ControlMessage.writeVersionRefusal(ctl, runID: h.runID, seq: h.seq, to: from)
            try send(requestSize: size)
            return
        }
        guard size >= ControlWire.prefix else { summary.control.undersized &+= 1; return }
        guard size <= ControlWire.slot else { summary.control.oversized &+= 1; return }
        if let mac {
            guard word.flags & ControlWire.hasMAC != 0, rx.withBytes(i, { mac.verify($0) }) else {
                summary.control.unauthenticated &+= 1
                guard mayAnswer(from, now: now) else { return }
                write(.refused, h, to: from, word: ControlWire.Word(status: ControlWire.Refusal.unauthenticated.rawValue), sign: false)
                try send(requestSize: size)
                return
            }
        }
        let s = sessions.find(h.runID)
        if s >= 0 && sessions.slots[s].owner != from {
            // Someone else's run: never reset, ended or answered for.
            sessions.slots[s].report.foreign &+= 1
            summary.foreign &+= 1
            summary.control.foreign &+= 1
            return
        }
        let op = ControlOp(rawValue: h.op)
        guard op == .begin || op == .end else { return }
        // Every reply below spends a token first: a flood is cut off before
        // any cookie is computed for it.
        guard mayAnswer(from, now: now) else { return }
        switch op! {
        case .begin:
            // Cookie 0 asks for one (no MAC computed for it).
            guard h.timestamp != 0 && cookies.valid(h.timestamp, runID: h.runID, from: from, nowNs: now) else {
                summary.control.retries &+= 1
                write(.retry, h, to: from, cookie: cookies.cookie(runID: h.runID, from: from, nowNs: now))
                try send(requestSize: size)
                return
            }
            var slot = s
            if slot < 0 || sessions.slots[slot].state != SessionTable.open {
                // A new window (or its owner's next one) counts against the
                // limit; a closed session's slot is free to take.
                guard sessions.openCount < options.maxSessions, let free = slot >= 0 ? slot : sessions.vacancy() else {
                    summary.control.refusedBusy &+= 1
                    write(.refused, h, to: from, word: ControlWire.Word(status: ControlWire.Refusal.busy.rawValue, value: UInt32(options.maxSessions)))
                    try send(requestSize: size)
                    return
                }
                slot = free
                open(slot, runID: h.runID, owner: from, countSyscalls: word.flags & ControlWire.countSyscalls != 0, now: now,
                     counters: countersAtPacket(i))
            }
            sessions.slots[slot].lastActivityNs = now
            let counted: ControlWire.SyscallsUnavailable = word.flags & ControlWire.countSyscalls == 0 ? .counted
                : !options.countSyscalls ? .notEnabled
                : countingSlot == slot ? .counted
                : countingSlot >= 0 ? .anotherSession : .tracepoint
            write(.beginAck, h, to: from, word: ControlWire.Word(value: counted.rawValue))
        case .end:
            // Whatever comes next (a ping-pong, another window) starts as requests.
            setTraffic(.requests)
            guard s >= 0 else {
                // An end for a window never opened (or long expired): an
                // empty report, so the client says the figures are missing.
                write(.report, h, to: from)
                try send(requestSize: size)
                return
            }
            if sessions.slots[s].state == SessionTable.open { close(s, now: now, counters: countersAtPacket(i)) }
            sessions.slots[s].lastActivityNs = now
            let body = sessions.slots[s].cachedReport
            write(.report, h, to: from, word: ControlWire.Word(value: UInt32(body.count)), body: body)
        default:
            return
        }
        try send(requestSize: size)
    }

    /// Writes a reply to `h` into the control batch, signed when serve has a key.
    private func write(_ op: ControlOp, _ h: PayloadHeader, to: Endpoint, word: ControlWire.Word = ControlWire.Word(),
                       cookie: UInt64 = 0, body: [UInt64] = [], sign: Bool = true) {
        ControlMessage.write(ctl, op: op, runID: h.runID, seq: h.seq, to: to, word: word, cookie: cookie, body: body,
                             mac: sign ? mac : nil)
    }

    /// Takes a reply token for `from`'s address; counted when there is none.
    private mutating func mayAnswer(_ from: Endpoint, now: UInt64) -> Bool {
        if limiter.allow(from.sourceKey, nowNs: now) { return true }
        summary.control.rateLimited &+= 1
        return false
    }

    /// Sends the control batch's reply unless it is larger than the request
    /// (counted): the amplification limit, whatever the reply.
    private mutating func send(requestSize: Int) throws(PathError) {
        guard ctl.length(0) <= requestSize else { summary.control.tooLarge &+= 1; return }
        ctl.count = 1
        _ = try path.send(&ctl)
    }

    /// The path's counters as of packet `i` of the batch being handled: the
    /// path counted the whole batch when it received it, so the packets
    /// behind `i` are taken off. A window then holds exactly the packets
    /// after its `begin` up to and including its `end`, as the wire audit
    /// counts it, even when a resent `begin` or `end`, or data, shares the
    /// control packet's batch (under load, it did: one packet too many).
    /// Only the packet count is exact this way; bytes are the batch's.
    func countersAtPacket(_ i: Int) -> PathCounters {
        var c = path.counters
        let behind = UInt64(max(batchCount - 1 - i, 0))
        c.rxPackets = c.rxPackets >= behind ? c.rxPackets - behind : 0
        return c
    }

    private mutating func open(_ s: Int, runID: UInt64, owner: Endpoint, countSyscalls: Bool, now: UInt64, counters: PathCounters) {
        if countingSlot == s { countingSlot = -1 }
        sessions.slots[s].runID = runID
        summary.noteOpened(runID)
        sessions.slots[s].owner = owner
        sessions.slots[s].state = SessionTable.open
        sessions.slots[s].openedNs = now
        sessions.slots[s].report = PeerReport(path: P.kind)
        sessions.slots[s].tracker.reset()
        sessions.slots[s].countersAtBegin = counters
        sessions.slots[s].cachedReport = []
        // The tracepoint only with --count-syscalls, and one window at a time.
        let count = countSyscalls && options.countSyscalls && countingSlot < 0
        sessions.slots[s].meter.start(countSyscalls: count)
        if count && sessions.slots[s].meter.counting { countingSlot = s }
    }

    private mutating func close(_ s: Int, now: UInt64, counters: PathCounters) {
        let cost = sessions.slots[s].meter.stop()
        if countingSlot == s { countingSlot = -1 }
        sessions.slots[s].state = SessionTable.closed
        let c = counters.since(sessions.slots[s].countersAtBegin)
        sessions.slots[s].report.count(c, xdp: P.kind == .xdp)
        sessions.slots[s].report.floodUnique = sessions.slots[s].tracker.unique
        sessions.slots[s].report.floodDuplicates = sessions.slots[s].tracker.duplicates
        sessions.slots[s].report.floodReordered = sessions.slots[s].tracker.reordered
        sessions.slots[s].report.cost = cost
        sessions.slots[s].report.napiID = path.info.napiID
        sessions.slots[s].cachedReport = sessions.slots[s].report.encode()
        summary.windows += 1
        summary.lastReport = sessions.slots[s].report
    }

    /// Every 100 ms: ends sessions idle longer than --session-timeout (a
    /// closed one after the same time: its report is kept for retried
    /// `end`s until then), and closes a tracepoint held past its cap.
    mutating func housekeeping(now: UInt64) {
        guard now &- lastHousekeepingNs >= 100_000_000 else { return }
        lastHousekeepingNs = now
        // --stages: control replies are stamped too; their reports are
        // read here (bounded) so the error queue never fills the socket.
        if stages.on { drainTxStamps() }
        for s in 0..<sessions.capacity where sessions.slots[s].state != SessionTable.free {
            let last = max(sessions.slots[s].lastActivityNs, sessions.slots[s].report.lastRxNs)
            guard now &- last > options.sessionTimeoutNs else { continue }
            if sessions.slots[s].state == SessionTable.open {
                _ = sessions.slots[s].meter.stop()
                summary.control.expired &+= 1
            }
            if countingSlot == s { countingSlot = -1 }
            sessions.slots[s].state = SessionTable.free
        }
        if countingSlot >= 0, now &- sessions.slots[countingSlot].openedNs > options.syscallCapNs {
            sessions.slots[countingSlot].meter.abandonCounter(ControlWire.SyscallsUnavailable.capped.reason)
            countingSlot = -1
        }
    }
}
