import WirepathIO
import WirepathModel

/// The reflector's side of `--stages`: its own stage durations, written
/// into the echo of a ping that asks for them (`StageBlock`). Every
/// duration is a difference of two stamps on this host.
struct ReflectorStages {
    let on: Bool
    let clock: ClockOffset
    /// The transmit stages of the last stamped echo, for the next echo to
    /// the same run.
    var last: StageBlock.ReflectorTx?
    var lastRunID: UInt64 = 0
    /// The echo whose transmit stamps are still awaited.
    var pending = PendingEcho()
    /// Echoes whose transmit stamps had not come by the next echo.
    var txMissing: UInt64 = 0

    struct PendingEcho {
        var active = false
        var seq: UInt64 = 0
        var runID: UInt64 = 0
        var sendAt: UInt64 = 0
        /// The OPT_ID key of the first stamp at or after `sendAt`: this
        /// echo's (the reflector's thread is the socket's only sender).
        var key: UInt32?
        var sched: UInt64 = 0
        var driver: UInt64 = 0
    }

    init(_ config: PathConfig) {
        on = config.stamping != .off
        clock = on ? ClockOffset.measure() : ClockOffset(realtimeMinusMonotonicNs: 0, uncertaintyNs: 0)
    }

    /// Takes one transmit stamp: it belongs to the pending echo when it is
    /// the first datagram stamped after the echo's send call, or has its key.
    mutating func take(_ s: TxStamp) {
        guard pending.active else { return }
        if pending.key == nil {
            guard clock.monotonic(s.realtimeNs) &+ clock.uncertaintyNs >= pending.sendAt else { return }
            pending.key = s.key
        }
        guard s.key == pending.key else { return }
        if s.point == .sched { pending.sched = s.realtimeNs } else { pending.driver = s.realtimeNs }
        guard pending.sched != 0 && pending.driver != 0 else { return }
        let send = Int64(bitPattern: clock.monotonic(pending.sched) &- pending.sendAt)
        last = StageBlock.ReflectorTx(seq: pending.seq, sendNs: StageBlock.clamp(send < 0 ? 0 : UInt64(send)),
                                      qdiscNs: StageBlock.clamp(pending.driver >= pending.sched ? pending.driver &- pending.sched : 0))
        lastRunID = pending.runID
        pending.active = false
    }
}

extension Reflector where P: ~Copyable {
    /// Echoes the single ping in `rx` slot 0 (received at `now`), its stage
    /// block written in place when it asked, then reads transmit stamps off
    /// the error queue (bounded) for the next echo. A path whose send
    /// completes later (uring) leaves them for the next echo to read first:
    /// that read is then part of the next turnaround.
    mutating func echoStamped(now: UInt64) throws(PathError) {
        if stages.pending.active {
            drainTxStamps()
            if stages.pending.active { stages.pending.active = false; stages.last = nil; stages.txMissing &+= 1 }
        }
        let length = rx.length(0)
        let parsed = rx.withBytes(0) { PayloadHeader.parse($0) }
        guard case .header(let h) = parsed else { try sendAll(&path, &rx, stop); return }
        let rxStamp = rx.rxStamp(0)
        var block = StageBlock()
        if rxStamp != 0 {
            let rxMono = P.stampSupport.rxClock == .monotonic ? rxStamp : stages.clock.monotonic(rxStamp)
            let wake = Int64(bitPattern: now &- rxMono)
            block.wakeNs = StageBlock.clamp(wake < 0 ? 0 : UInt64(wake))
        }
        if h.runID == stages.lastRunID { block.prev = stages.last }
        // The turnaround ends at the send call: writing the block and
        // resealing the check are part of it.
        block.turnNs = StageBlock.clamp(Sys.monotonicNanos() &- now)
        let wrote = rx.withMutableBytes(0) { block.write(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<length])) }
        let sendAt = Sys.monotonicNanos()
        try sendAll(&path, &rx, stop)
        // A path with no transmit stamps (xdp) leaves nothing to await.
        if wrote && P.stampSupport.transmit { stages.pending = .init(active: true, seq: h.seq, runID: h.runID, sendAt: sendAt) }
        drainTxStamps()
    }

    /// Reads at most 16 transmit stamps, giving each to the pending echo.
    mutating func drainTxStamps() {
        var budget = 16
        while budget > 0, let s = path.nextTxStamp() {
            budget -= 1
            stages.take(s)
        }
    }
}
