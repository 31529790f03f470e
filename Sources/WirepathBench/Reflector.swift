import WirepathIO
import WirepathModel

/// A fault a test injects into the reflector: one pause of `stallNs` after
/// `afterEchoes` echoed packets of a measured window.
struct ReflectorFault: Sendable {
    var afterEchoes: UInt64
    var stallNs: UInt64
    /// A pause before every echo, between receive and send (the stages
    /// test: only the reflector's turnaround should grow by it).
    var everyPingNs: UInt64 = 0
}

/// What a reflector did over its whole life (not one window).
public struct ServeSummary: Sendable {
    public var windows: Int = 0
    public var echoed: UInt64 = 0
    public var foreign: UInt64 = 0
    /// Flood packets of a warm-up (sent before a window opens, in the
    /// warm-up sequence range): expected, discarded, and not foreign.
    public var warmupFlood: UInt64 = 0
    /// Packets dropped unanswered for their source (port 0, 0.0.0.0/8,
    /// broadcast, multicast).
    public var droppedSources = SourceDrops()
    /// Replies that could not be sent to their destination, by errno:
    /// counted, and the loop went on.
    public var sendFailures = SendFailureTally()
    /// What became of control packets: refused, rate-limited, foreign.
    public var control = ControlTally()
    public var lastReport: PeerReport?
    /// The run ids of the windows opened here, oldest first, at most
    /// `openedRunIDLimit` (the oldest go): in a threaded run, which
    /// reflector thread served which flow. All of them, not the last: a
    /// thread that served two flows (one mis-steered to it) must be
    /// found for both, whichever `begin` came first.
    public var openedRunIDs: [UInt64] = []
    public static let openedRunIDLimit = 64

    mutating func noteOpened(_ runID: UInt64) {
        if openedRunIDs.count >= Self.openedRunIDLimit { openedRunIDs.removeFirst() }
        openedRunIDs.append(runID)
    }
    /// The socket's SO_INCOMING_CPU and SO_INCOMING_NAPI_ID when it stopped.
    public var incomingCPU: Int?
    public var napiID: UInt32 = 0
}

/// The reflector and flood sink, generic over the path so that every call is
/// statically dispatched. It echoes ping packets to their source, counts flood
/// packets, and answers control packets that open and close measured windows,
/// one per session (`SessionTable`, Reflector+Control.swift).
///
/// Ping packets are echoed whatever their run id (the client's warm-up comes
/// before its window opens; an echo is never larger than its ping); a
/// packet is counted in a session only when it comes from the address and
/// port that began it, and as that session's foreign traffic otherwise.
struct Reflector<P: PacketPath & ~Copyable>: ~Copyable {
    var path: P
    let stop: StopSignal
    let options: ServeOptions
    var rx: PacketBatch
    var tx: PacketBatch
    var ctl: PacketBatch
    var sessions: SessionTable
    var limiter = ReplyLimiter()
    let cookies = CookieJar()
    let mac: ControlMAC?
    var summary = ServeSummary()
    /// Test-only fault: pause once, after this many echoes.
    var fault: ReflectorFault?
    /// The session whose window holds the syscall tracepoint, or -1.
    var countingSlot = -1
    var lastHousekeepingNs: UInt64 = 0
    /// What the path was last told it receives (`PacketPath.expect`).
    var traffic = ReceiveTraffic.requests
    /// `--stages`: the reflector's own stage durations (Reflector+Stages.swift).
    var stages: ReflectorStages
    /// Test-only: a pause before every echo.
    var pingDelayNs: UInt64 = 0
    /// The packets of the batch being handled: a window's edge is a control
    /// packet's place in it (see `countersAtPacket`).
    var batchCount = 0

    init(path: consuming P, config: PathConfig, stop: StopSignal, options: ServeOptions = ServeOptions()) {
        self.path = path
        // The reflector answers addresses that came from the network: a send
        // that fails for one of them is counted, never the end of the loop.
        self.path.sendFailurePolicy = .countAndSkip
        self.stop = stop
        self.options = options
        rx = PacketBatch.data(capacity: config.batchSize, config: config)
        tx = PacketBatch.data(capacity: config.batchSize, config: config)
        ctl = PacketBatch.control()
        sessions = SessionTable(capacity: options.maxSessions)
        mac = options.key.map(ControlMAC.init)
        stages = ReflectorStages(config)
    }

    /// Serves until `stop` is requested, or `idleExitNs` passes with no packet.
    mutating func run(idleExitNs: UInt64? = nil) throws(PathError) -> ServeSummary {
        var lastPacket = Sys.monotonicNanos()
        while !stop.requested {
            let n = try path.receive(into: &rx)
            if n == 0 {
                let now = Sys.monotonicNanos()
                if let idle = idleExitNs, now - lastPacket > idle { break }
                housekeeping(now: now)
                continue
            }
            let now = Sys.monotonicNanos()
            lastPacket = now
            try handle(n, now: now)
            housekeeping(now: now)
        }
        summary.sendFailures = path.counters.sendFailures
        let info = path.info
        summary.incomingCPU = info.incomingCPU
        summary.napiID = info.napiID
        return summary
    }

    private mutating func handle(_ n: Int, now: UInt64) throws(PathError) {
        var pings = 0
        var floods = 0
        var others = 0
        batchCount = n
        for i in 0..<n {
            // A source no reply can go to is dropped before anything else.
            let from = rx.endpoint(i)
            if let why = SourceDrops.reason(from) {
                summary.droppedSources.add(why)
                for k in 0..<sessions.capacity where sessions.slots[k].state == SessionTable.open {
                    sessions.slots[k].report.droppedSources.add(why)
                }
                others += 1
                continue
            }
            let parsed = rx.withBytes(i) { PayloadHeader.parse($0) }
            guard case .header(let h) = parsed else {
                summary.foreign &+= 1
                sessions.countForeign()
                others += 1
                continue
            }
            // The session of this run id, when it is open and this is its owner.
            var s = h.kind == .control ? -1 : sessions.find(h.runID)
            if s >= 0 && (sessions.slots[s].state != SessionTable.open || sessions.slots[s].owner != from) {
                // Its run id from another address (or after its window):
                // foreign to it, never counted in it.
                sessions.slots[s].report.foreign &+= 1
                summary.foreign &+= 1
                s = -1
            }
            switch h.kind {
            case .ping:
                pings += 1
                if s >= 0 {
                    sessions.slots[s].report.echoed &+= 1
                    if sessions.slots[s].report.firstRxNs == 0 { sessions.slots[s].report.firstRxNs = now }
                    sessions.slots[s].report.lastRxNs = now
                }
            case .flood:
                others += 1
                floods += 1
                if s >= 0 {
                    // The check covers the whole payload, the sequence number
                    // included, as the ping-pong client's does: a corrupted
                    // packet is counted apart, never as received. It reads
                    // the slot in place (no allocation per packet).
                    guard rx.withBytes(i, { Integrity.verify($0) }) else {
                        sessions.slots[s].report.floodIntegrityFailures &+= 1
                        continue
                    }
                    sessions.slots[s].tracker.record(h.seq)
                    if sessions.slots[s].report.firstRxNs == 0 { sessions.slots[s].report.firstRxNs = now }
                    sessions.slots[s].report.lastRxNs = now
                } else if h.seq >= SequenceSpace.warmup {
                    // A flood's warm-up arrives before its window opens.
                    summary.warmupFlood &+= 1
                } else {
                    summary.foreign &+= 1
                    sessions.countForeign()
                }
            case .control:
                others += 1
                try control(h, slot: i, now: now)
            }
        }
        // A flood may wait for the packets behind it; a ping may not.
        if pings > 0 {
            setTraffic(.requests)
        } else if floods > 0 {
            setTraffic(.stream)
        }
        guard pings > 0 else { return }
        if let f = fault, sessions.anyOpen(echoedAtLeast: f.afterEchoes) {
            // Injected stall (tests): the reflector stops answering for a while, once.
            fault = nil
            Sys.sleep(nanos: f.stallNs)
        }
        if pingDelayNs > 0 { Sys.sleep(nanos: pingDelayNs) }
        if stages.on && n == 1 && others == 0 {
            // --stages: one ping in flight, as a ping-pong has.
            try echoStamped(now: now)
        } else if others == 0 {
            // The common case: the whole batch is pings; echo it in place.
            try sendAll(&path, &rx, stop)
        } else {
            var k = 0
            for i in 0..<n {
                if SourceDrops.reason(rx.endpoint(i)) != nil { continue }
                let isPing = rx.withBytes(i) { b -> Bool in
                    if case .header(let h) = PayloadHeader.parse(b), h.kind == .ping { return true }
                    return false
                }
                if isPing { tx.copySlot(k, from: rx, i); k += 1 }
            }
            tx.count = k
            try sendAll(&path, &tx, stop)
        }
        summary.echoed &+= UInt64(pings)
    }

    mutating func setTraffic(_ t: ReceiveTraffic) {
        guard t != traffic else { return }
        traffic = t
        path.expect(t)
    }

}

/// Sends the whole batch, retrying a full queue until stopped.
func sendAll<P: PacketPath & ~Copyable>(_ path: inout P, _ batch: inout PacketBatch, _ stop: StopSignal) throws(PathError) {
    var remaining = batch.count
    var done = try path.send(&batch)
    var tries = 0
    while done < remaining && !stop.requested && tries < 100_000 {
        // Rare: a short send (full queue). Move the unsent tail to the front and retry.
        for i in done..<remaining { batch.copySlotWithin(i - done, from: i) }
        remaining -= done
        batch.count = remaining
        done = try path.send(&batch)
        tries += 1
    }
}

extension PacketBatch {
    /// Moves slot `from` to slot `to` within this batch (for short-send retries).
    func copySlotWithin(_ to: Int, from: Int) {
        guard to != from else { return }
        withMutableBytes(to) { dst in
            withBytes(from) { src in dst.copyMemory(from: src) }
        }
        setLength(to, length(from))
        setEndpoint(to, endpoint(from))
    }
}
