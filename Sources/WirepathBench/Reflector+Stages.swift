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
    /// Echoes whose transmit stamps did not come with their OPT_ID.
    var txMissing: UInt64 = 0

    init(_ config: PathConfig) {
        on = config.stamping != .off
        clock = on ? ClockOffset.measure() : ClockOffset(realtimeMinusMonotonicNs: 0, uncertaintyNs: 0)
    }
}

extension Reflector where P: ~Copyable {
    /// Echoes the single ping in `rx` slot 0 (received at `now`), its stage
    /// block written in place when it asked, then reads this echo's
    /// transmit stamps off the error queue (bounded) for the next echo.
    mutating func echoStamped(now: UInt64) throws(PathError) {
        let length = rx.length(0)
        let parsed = rx.withBytes(0) { PayloadHeader.parse($0) }
        guard case .header(let h) = parsed else { try sendAll(&path, &rx, stop); return }
        let rxStamp = rx.rxStamp(0)
        var block = StageBlock()
        if rxStamp != 0 {
            let wake = Int64(bitPattern: now &- stages.clock.monotonic(rxStamp))
            block.wakeNs = StageBlock.clamp(wake < 0 ? 0 : UInt64(wake))
        }
        if h.runID == stages.lastRunID { block.prev = stages.last }
        // The turnaround ends at the send call: writing the block and
        // resealing the check are part of it.
        var sendAt = Sys.monotonicNanos()
        block.turnNs = StageBlock.clamp(sendAt &- now)
        let wrote = rx.withMutableBytes(0) { block.write(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<length])) }
        if wrote { sendAt = Sys.monotonicNanos() } else { block.turnNs = nil }
        let key = UInt32(truncatingIfNeeded: path.counters.txPackets)
        try sendAll(&path, &rx, stop)
        var sched: UInt64 = 0
        var driver: UInt64 = 0
        drainTxStamps(key: key, sched: &sched, driver: &driver)
        guard wrote else { return }
        if sched != 0 && driver != 0 {
            let send = Int64(bitPattern: stages.clock.monotonic(sched) &- sendAt)
            stages.last = StageBlock.ReflectorTx(seq: h.seq, sendNs: StageBlock.clamp(send < 0 ? 0 : UInt64(send)),
                                                 qdiscNs: StageBlock.clamp(driver >= sched ? driver &- sched : 0))
            stages.lastRunID = h.runID
        } else {
            stages.last = nil
            stages.txMissing &+= 1
        }
    }

    /// Reads at most 16 transmit stamps; keeps those of datagram `key`.
    mutating func drainTxStamps(key: UInt32, sched: inout UInt64, driver: inout UInt64) {
        var budget = 16
        while budget > 0, let s = path.nextTxStamp() {
            budget -= 1
            guard s.key == key else { continue }
            if s.point == .sched { sched = s.realtimeNs } else { driver = s.realtimeNs }
        }
    }
}
