import WirepathIO
import WirepathModel

/// The client end of a measurement, shared by the ping-pong, the flood and
/// the open loop: the open path, its batches, the stamper, the control
/// exchange that opens and closes the reflector's windows, the cost meter
/// and the run's progress counter. Each measurement adds its loop as an
/// extension (PingPong.swift, Flood.swift, OpenLoop.swift), so the loop
/// reaches `path`, `tx`, `rx` and `stamper` as stored properties of `self`,
/// generic over `P` and statically dispatched, as a hand-written client
/// would; what the measurement keeps besides (its tally) is a local value
/// the loop gets `inout`.
///
/// A measured window runs as: `openWindow()`, the loop, `closeWindow()`,
/// `report()`; then, for the ping-pong and the flood, a shorter window with
/// the kernel's syscall counter on: `openSyscallWindow()`, the loop,
/// `closeSyscallWindow()` (see `CostMeter` for why it is separate).
struct ClientEnd<P: PacketPath & ~Copyable>: ~Copyable {
    var path: P
    let config: PathConfig
    let peer: Endpoint
    let plan: MeasurementPlan
    let stop: StopSignal
    /// Held once for the client's life: publishing costs no retain or release.
    let progress: RunProgress
    let stamper: PayloadStamper
    var tx: PacketBatch
    var rx: PacketBatch
    var ctlTx = PacketBatch.control()
    var control: ControlClient
    var meter = CostMeter()
    /// This end's counters when the measured window opened.
    var countersAtStart = PathCounters()
    /// The kernel's counters at both ends (nil: not read), and what they
    /// and the control exchange's resends were when the window opened.
    let kernel: KernelProbe?
    var kernelAtStart: KernelSnapshot?
    var resendsAtStart: UInt64 = 0

    /// `sendSlots` stamped slots addressed to `peer`, and `receiveSlots`
    /// receive slots that also fit a control reply.
    init(path: consuming P, config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal,
         progress: RunProgress, sendSlots: Int, receiveSlots: Int, kernel: KernelProbe? = nil) {
        self.path = path
        self.config = config
        self.peer = peer
        self.plan = plan
        self.stop = stop
        self.progress = progress
        stamper = PayloadStamper(runID: plan.runID, size: config.payloadSize)
        tx = stamper.makeBatch(capacity: sendSlots, to: peer)
        rx = PacketBatch.data(capacity: receiveSlots, config: config)
        control = ControlClient(runID: plan.runID, peer: peer, key: plan.controlKey)
        self.kernel = kernel
    }

    /// The measured window's length: --duration, else the hard bound.
    var windowNs: UInt64 { min(plan.durationNs ?? plan.maxDurationNs, plan.maxDurationNs) }

    /// Opens the reflector's measured window (latency, rate and CPU, no
    /// tracepoint anywhere), then this end's counters and meter.
    mutating func openWindow() throws(PathError) {
        _ = try control.request(.begin, expect: .beginAck, path: &path, tx: &ctlTx, rx: &rx, stop: stop)
        // The reflector has opened its window: every warm-up packet reached
        // its socket (or was dropped) before the begin request did.
        kernelAtStart = kernel?.snapshot()
        resendsAtStart = control.resends
        countersAtStart = path.counters
        meter.start(countSyscalls: false)
    }

    /// The kernel's counters over the measured window, read once its report
    /// came back: the end request queued behind the window's last packet,
    /// so by then each was delivered or dropped. Also the control requests
    /// sent again meanwhile, and what could not be read.
    func kernelWindow() -> (KernelSnapshot, resends: UInt64, unread: [String])? {
        guard let kernel, let start = kernelAtStart else { return nil }
        let delta = kernel.snapshot().since(start)
        var unread = kernel.unread
        if kernel.client != nil && delta.client == nil { unread.append("the client's: /proc/net/snmp or /proc/net/dev could not be read or parsed") }
        if kernel.reflector != nil && delta.reflector == nil { unread.append("the reflector's: /proc/net/snmp or /proc/net/dev could not be read or parsed") }
        return (delta, control.resends &- resendsAtStart, unread)
    }

    /// Stops this end's meter: its cost and its counters over the window.
    mutating func closeWindow() -> (ThreadCost, PathCounters) {
        let cost = meter.stop()
        return (cost, path.counters.since(countersAtStart))
    }

    /// Closes the reflector's window and decodes its report (nil when it
    /// sent none). Data packets that arrive meanwhile go to `strays`.
    mutating func report<S: StrayData & ~Copyable>(strays: inout S) throws(PathError) -> PeerReport? {
        var r = PeerReport.decode(try control.request(.end, expect: .report, path: &path, tx: &ctlTx, rx: &rx, stop: stop, strays: &strays))
        // The reflector said at `begin` why it would not count syscalls.
        if let why = control.syscallsUnavailable, r?.cost != nil, r?.cost?.syscalls == nil {
            r?.cost?.syscallsUnavailable = why
        }
        return r
    }

    mutating func report() throws(PathError) -> PeerReport? {
        var ignore = IgnoreStrays()
        return try report(strays: &ignore)
    }

    /// Opens a window in which both ends count their syscalls.
    mutating func openSyscallWindow() throws(PathError) {
        _ = try control.request(.begin, expect: .beginAck, flags: ControlWire.countSyscalls, path: &path, tx: &ctlTx, rx: &rx, stop: stop)
        meter.start(countSyscalls: true)
    }

    /// Closes it: this end's cost, and the reflector's report.
    mutating func closeSyscallWindow() throws(PathError) -> (ThreadCost, PeerReport?) {
        let cost = meter.stop()
        return (cost, try report())
    }
}

/// Sizing of the syscall-counting window: a quarter of the main window,
/// from 0.2 s to 2 s, and at most a quarter of its packets (at least 100).
struct SyscallWindow {
    let durationNs: UInt64
    let packets: UInt64
    init(mainElapsedNs: UInt64, mainPackets: UInt64) {
        durationNs = min(max(mainElapsedNs / 4, 200_000_000), 2_000_000_000)
        packets = max(mainPackets / 4, 100)
    }
}

extension PacketBatch {
    /// Receive (or echo) slots for data packets of `config`'s MTU that
    /// also fit a control packet: every end sizes them this way.
    static func data(capacity: Int, config: PathConfig) -> PacketBatch {
        PacketBatch(capacity: capacity, slotSize: max(config.mtu, ControlMessage.slotSize))
    }

    /// The one slot a control request or reply is written into.
    static func control() -> PacketBatch {
        PacketBatch(capacity: 1, slotSize: ControlMessage.slotSize)
    }
}
