import WirepathIO
/// What one end did in a measured window.
public struct EndReport: Codable, Sendable, Equatable {
    public var role: String
    public var cost: PerPacketCost?
    public var rxPackets: UInt64
    public var txPackets: UInt64
    public var rxCalls: UInt64
    public var txCalls: UInt64
    public var waitCalls: UInt64
    /// Packets per receive call that returned data (recvmmsg batching).
    public var rxPacketsPerCall: Double
    public var txPacketsPerCall: Double
    public var napiID: UInt32
    public var errnos: [String: UInt64]
    /// uring: multishot receives re-armed (0 for the other paths).
    public var multishotRearms: UInt64
    /// uring with SQPOLL: enters made only to wake the SQ poll thread.
    public var sqpollWakeups: UInt64 = 0
    /// uring with send_zc: notifications that said the kernel copied the
    /// data anyway, and those that said it did not.
    public var zcCopied: UInt64 = 0
    public var zcZeroCopy: UInt64 = 0
    /// xdp: kicks, the XDP program's verdicts and the socket's drops (nil
    /// for the other paths).
    public var xdp: XDPCounters?
    /// The reflector: packets it dropped unanswered for their source, and
    /// replies whose send failed for their destination, by errno (nil for a
    /// client, and in reports written before they were counted).
    public var droppedSources: SourceDrops?
    public var sendFailures: [String: UInt64]?

    public init(role: String, cost: PerPacketCost?, counters c: PathCounters, napiID: UInt32) {
        self.role = role
        self.cost = cost
        rxPackets = c.rxPackets; txPackets = c.txPackets
        rxCalls = c.rxCalls; txCalls = c.txCalls; waitCalls = c.waitCalls
        rxPacketsPerCall = c.rxPacketsPerCall
        txPacketsPerCall = c.txPacketsPerCall
        self.napiID = napiID
        errnos = c.errnos.byName
        multishotRearms = c.uring.multishotRearms
        sqpollWakeups = c.uring.sqpollWakeups
        zcCopied = c.uring.zcCopied
        zcZeroCopy = c.uring.zcZeroCopy
        xdp = c.xdp.isZero ? nil : c.xdp
    }

    /// The reflector's end: CPU from its main window, syscalls from its
    /// syscall-counting window.
    public init(reflector r: PeerReport, packets: UInt64, syscallWindow: PeerReport? = nil, syscallPackets: UInt64 = 0) {
        role = "reflector"
        cost = r.cost.map { PerPacketCost($0, packets: packets, syscallWindow: syscallWindow?.cost, syscallPackets: syscallPackets) }
        rxPackets = r.rxPackets; txPackets = r.txPackets
        rxCalls = r.rxCalls; txCalls = r.txCalls; waitCalls = r.waitCalls
        rxPacketsPerCall = r.rxNonEmptyCalls == 0 ? 0 : Double(r.rxPackets) / Double(r.rxNonEmptyCalls)
        txPacketsPerCall = r.txCalls == 0 ? 0 : Double(r.txPackets) / Double(r.txCalls)
        napiID = r.napiID
        errnos = r.errnos
        multishotRearms = r.multishotRearms
        sqpollWakeups = r.sqpollWakeups
        zcCopied = r.zcCopied
        zcZeroCopy = r.zcZeroCopy
        xdp = r.xdp
        droppedSources = r.droppedSources
        sendFailures = r.sendFailures
    }
}

/// Closed-loop ping-pong: one request in flight.
public struct PingPongResult: Codable, Sendable, Equatable {
    public var latency: LatencySummary
    public var sent: UInt64
    public var received: UInt64
    public var lost: UInt64
    public var duplicated: UInt64
    /// Replies that arrived after their request had timed out (out of order).
    public var reordered: UInt64
    public var integrityFailures: UInt64
    public var foreign: UInt64
    public var timeoutNs: UInt64
    public var warmupNs: UInt64
    public var durationNs: UInt64
    public var client: EndReport
    public var reflector: EndReport?
    /// The run id its packets carried (for matching a capture); nil in
    /// reports written before captures existed.
    public var runID: UInt64?
    /// The same samples corrected for coordinated omission (expected interval:
    /// the median RTT). Where it differs from `latency`, the closed loop hid
    /// stalls by pausing while it waited.
    public var latencyCorrected: LatencySummary?
    /// The RTT histogram as HdrHistogram percentile-distribution text (µs).
    public var hgrm: String?
    /// Where the kernel's own counters say the lost exchanges went (nil in
    /// reports written before they were read).
    public var kernelLoss: KernelLossAccount?
    /// `--stages`: where each microsecond of the round trip went (nil
    /// without --stages).
    public var stages: StageReport?

    public init(latency: LatencySummary, sent: UInt64, received: UInt64, lost: UInt64, duplicated: UInt64,
                reordered: UInt64, integrityFailures: UInt64, foreign: UInt64, timeoutNs: UInt64,
                warmupNs: UInt64, durationNs: UInt64, client: EndReport, reflector: EndReport?) {
        self.latency = latency; self.sent = sent; self.received = received; self.lost = lost
        self.duplicated = duplicated; self.reordered = reordered; self.integrityFailures = integrityFailures
        self.foreign = foreign; self.timeoutNs = timeoutNs; self.warmupNs = warmupNs
        self.durationNs = durationNs; self.client = client; self.reflector = reflector
    }
}

/// Open-throttle flood: the sender sends as fast as the path allows.
public struct FloodResult: Codable, Sendable, Equatable {
    public var payloadSize: Int
    public var sent: UInt64
    /// Unique packets of this run the receiver counted.
    public var received: UInt64
    public var lost: UInt64
    public var duplicated: UInt64
    public var reordered: UInt64
    /// Flood packets of this run that reached the receiver corrupted (the
    /// payload's integrity check failed): not in `received`, so also in
    /// `lost`. nil when the receiver did not report it (a reflector, or a
    /// report, from before the sink checked).
    public var integrityFailures: UInt64?
    public var senderDurationNs: UInt64
    /// From the receiver's first to last packet.
    public var receiverSpanNs: UInt64
    public var txPps: Double
    public var rxPps: Double
    /// UDP payload bits per second.
    public var txPayloadBps: Double
    public var rxPayloadBps: Double
    /// Bits per second of Ethernet frames (payload + 42 bytes of Ethernet,
    /// IPv4 and UDP headers; no preamble, FCS or inter-frame gap).
    public var txFrameBps: Double
    public var rxFrameBps: Double
    public var lossRatio: Double
    public var sender: EndReport
    public var receiver: EndReport?
    /// The run id its packets carried (for matching a capture).
    public var runID: UInt64?
    /// Where the kernel's own counters say the lost packets went (nil in
    /// reports written before they were read).
    public var kernelLoss: KernelLossAccount?
    /// Softirq time per CPU over the window (/proc/stat): the receive work
    /// no thread's CPU figure shows (nil when not read, or against --peer).
    public var softirq: SoftirqAccount?

    public init(payloadSize: Int, sent: UInt64, received: UInt64, duplicated: UInt64, reordered: UInt64,
                senderDurationNs: UInt64, receiverSpanNs: UInt64, sender: EndReport, receiver: EndReport?) {
        self.payloadSize = payloadSize
        self.sent = sent
        self.received = received
        self.lost = sent > received ? sent - received : 0
        self.duplicated = duplicated
        self.reordered = reordered
        self.senderDurationNs = senderDurationNs
        self.receiverSpanNs = receiverSpanNs
        let txSec = Double(max(senderDurationNs, 1)) / 1e9
        let rxSec = Double(max(receiverSpanNs, 1)) / 1e9
        txPps = Double(sent) / txSec
        rxPps = received < 2 ? 0 : Double(received) / rxSec
        txPayloadBps = txPps * Double(payloadSize * 8)
        rxPayloadBps = rxPps * Double(payloadSize * 8)
        txFrameBps = txPps * Double((payloadSize + 42) * 8)
        rxFrameBps = rxPps * Double((payloadSize + 42) * 8)
        lossRatio = sent == 0 ? 0 : Double(lost) / Double(sent)
        self.sender = sender
        self.receiver = receiver
    }
}

/// One path's entry in a comparison.
public struct PathRun: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case ok, unavailable, failed }
    public var path: PathKind
    /// nil for the path's default configuration; "tuned: ..." for the
    /// best-known one that `compare --tune` adds.
    public var variant: String?
    public var status: Status
    /// Why the path did not run (unavailable) or what went wrong (failed).
    public var reason: String?
    public var options: PathOptionsRecord
    public var notes: [String]
    public var pingpong: PingPongResult?
    public var flood: FloodResult?
    /// With --capture: the program's counters checked against the wire.
    public var verification: PathVerification?
    /// Open-loop runs: `pingpong --rate`, or `compare --load` (one per load).
    public var openLoop: [OpenLoopResult] = []
    /// With `--repeat N`: the spread over the N runs; the figures above come
    /// from the median run.
    public var spread: RunSpread?
    /// With `--threads` or `--queues`: each thread's figures and the proof
    /// of where its flow landed; `pingpong` and `flood` are then the
    /// threads' aggregate. nil for a single-threaded run.
    public var threaded: ThreadedRecord?

    public init(path: PathKind, status: Status, reason: String? = nil, options: PathOptionsRecord,
                notes: [String] = [], pingpong: PingPongResult? = nil, flood: FloodResult? = nil) {
        self.path = path; self.status = status; self.reason = reason; self.options = options
        self.notes = notes; self.pingpong = pingpong; self.flood = flood
    }
}

extension PathRun {
    /// "socket", or "socket+spin" for a tuned variant: the row's name.
    public var label: String {
        guard let v = variant else { return path.rawValue }
        return path.rawValue + "+" + (v.hasPrefix("tuned: ") ? String(v.dropFirst(7)) : v).replacingSpaces()
    }
}

extension String {
    func replacingSpaces() -> String { String(map { $0 == " " ? "-" : $0 }) }
}

/// The options a path ran with, as recorded in results.
public struct PathOptionsRecord: Codable, Sendable, Equatable {
    public var payloadSize: Int
    public var batchSize: Int
    public var wait: WaitMode
    public var busyPollMicros: Int?
    /// Whether the socket had a NAPI id, which busy polling needs.
    public var hadNAPIID: Bool
    public var napiID: UInt32
    /// xdp: the bind and attach modes in effect, why it fell back, busy-poll's state.
    public var xdp: XDPRunInfo?
    /// uring: the ring's options; nil for the other paths. In the JSON its
    /// fields sit beside the others under their own keys (`uringBuffers`,
    /// ...), as `UringOptions` encodes them, so a new uring option is
    /// recorded with no edit here.
    public var uring: UringOptions?
    /// The sandbox of each end's data thread (docs/sandbox.md): this end's,
    /// and the reflector's when it ran here (nil for a `serve` at --peer,
    /// whose own --sandbox applies). nil in reports from before it.
    public var sandbox: SandboxMode?
    public var reflectorSandbox: SandboxMode?
    /// UDP GSO segments per send (`--gso`) and UDP GRO (`--gro`), socket,
    /// mmsg and uring; nil when off (and in reports from before them).
    public var gsoSegments: Int?
    public var gro: Bool?

    /// Both ends run with `c`'s sandbox (the built-in topology); a run
    /// against --peer clears `reflectorSandbox`.
    public init(_ c: PathConfig, napiID: UInt32) {
        self.init(payloadSize: c.payloadSize, batchSize: c.batchSize, wait: c.wait, busyPollMicros: c.socket.busyPollMicros, napiID: napiID)
        if c.path == .uring { uring = c.uring }
        if c.path != .xdp {
            gsoSegments = c.socket.gsoSegments
            gro = c.socket.gro ? true : nil
        }
        sandbox = c.sandbox
        reflectorSandbox = c.sandbox
    }

    public init(payloadSize: Int, batchSize: Int, wait: WaitMode, busyPollMicros: Int?, napiID: UInt32) {
        self.payloadSize = payloadSize
        self.batchSize = batchSize
        self.wait = wait
        self.busyPollMicros = busyPollMicros
        self.napiID = napiID
        hadNAPIID = napiID != 0
    }

    private enum CodingKeys: String, CodingKey {
        case payloadSize, batchSize, wait, busyPollMicros, hadNAPIID, napiID, xdp, sandbox, reflectorSandbox, gsoSegments, gro
    }

    public init(from decoder: any Decoder) throws {
        let k = try decoder.container(keyedBy: CodingKeys.self)
        payloadSize = try k.decode(Int.self, forKey: .payloadSize)
        batchSize = try k.decode(Int.self, forKey: .batchSize)
        wait = try k.decode(WaitMode.self, forKey: .wait)
        busyPollMicros = try k.decodeIfPresent(Int.self, forKey: .busyPollMicros)
        hadNAPIID = try k.decode(Bool.self, forKey: .hadNAPIID)
        napiID = try k.decode(UInt32.self, forKey: .napiID)
        xdp = try k.decodeIfPresent(XDPRunInfo.self, forKey: .xdp)
        sandbox = try k.decodeIfPresent(SandboxMode.self, forKey: .sandbox)
        reflectorSandbox = try k.decodeIfPresent(SandboxMode.self, forKey: .reflectorSandbox)
        gsoSegments = try k.decodeIfPresent(Int.self, forKey: .gsoSegments)
        gro = try k.decodeIfPresent(Bool.self, forKey: .gro)
        uring = try UringOptions.decodeIfPresent(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var k = encoder.container(keyedBy: CodingKeys.self)
        try k.encode(payloadSize, forKey: .payloadSize)
        try k.encode(batchSize, forKey: .batchSize)
        try k.encode(wait, forKey: .wait)
        try k.encodeIfPresent(busyPollMicros, forKey: .busyPollMicros)
        try k.encode(hadNAPIID, forKey: .hadNAPIID)
        try k.encode(napiID, forKey: .napiID)
        try k.encodeIfPresent(xdp, forKey: .xdp)
        try k.encodeIfPresent(gsoSegments, forKey: .gsoSegments)
        try k.encodeIfPresent(gro, forKey: .gro)
        try k.encodeIfPresent(sandbox, forKey: .sandbox)
        try k.encodeIfPresent(reflectorSandbox, forKey: .reflectorSandbox)
        // Flattened into the same object: the keys of schema wirepath.report/1.
        try uring?.encode(to: encoder)
    }
}

extension PathOptionsRecord {
    /// The uring options as the reports read them (nil for the other paths).
    public var uringBuffers: Int? { uring?.buffers }
    public var uringSQPollIdleMillis: Int? { uring?.sqPollIdleMillis }
    public var uringZeroCopy: Bool? { uring?.zeroCopy }
    public var uringNAPIMicros: Int? { uring?.napiMicros }
    public var uringBatchWaitMicros: Int? { uring?.batchWaitMicros }
}

/// Where a run happened.
public struct TopologyRecord: Codable, Sendable, Equatable {
    /// "veth-pair" (built in), "veth-bridge" (built in with a middle hop,
    /// for --capture) or "peer" (a remote reflector given by --peer).
    public var kind: String
    /// The middle hop of "veth-bridge": its namespace, bridge and ports.
    public var hop: String?
    public var namespaces: [String]
    public var clientInterface: String?
    public var reflectorInterface: String?
    public var clientAddress: String
    public var reflectorAddress: String
    public var mtu: Int
    /// GRO on and TSO off on both veth ends, so veth receives through NAPI.
    public var vethNAPI: Bool
    /// NAPI in kernel threads pinned to each end's CPU (`--veth-threaded-napi`).
    public var threadedNAPI: Bool?
    public var clientCPU: Int?
    public var reflectorCPU: Int?

    public init(kind: String, namespaces: [String], clientInterface: String?, reflectorInterface: String?,
                clientAddress: String, reflectorAddress: String, mtu: Int, vethNAPI: Bool,
                clientCPU: Int?, reflectorCPU: Int?) {
        self.kind = kind; self.namespaces = namespaces; self.clientInterface = clientInterface
        self.reflectorInterface = reflectorInterface; self.clientAddress = clientAddress
        self.reflectorAddress = reflectorAddress; self.mtu = mtu; self.vethNAPI = vethNAPI
        self.clientCPU = clientCPU; self.reflectorCPU = reflectorCPU
    }
}

public struct EnvironmentRecord: Codable, Sendable, Equatable {
    public var kernel: String
    public var cpuModel: String
    public var cpus: Int
    public var wirepathVersion: String
    public var syscallCounter: String
    public var topology: TopologyRecord

    public init(kernel: String, cpuModel: String, cpus: Int, wirepathVersion: String,
                syscallCounter: String, topology: TopologyRecord) {
        self.kernel = kernel; self.cpuModel = cpuModel; self.cpus = cpus
        self.wirepathVersion = wirepathVersion; self.syscallCounter = syscallCounter; self.topology = topology
    }
}

/// The settings of a measurement run.
public struct RunSettings: Codable, Sendable, Equatable {
    public var durationNs: UInt64?
    public var count: UInt64?
    public var warmupNs: UInt64
    public var timeoutNs: UInt64
    public var payloadSize: Int
    public var batchSize: Int
    public var wait: WaitMode
    public var busyPollMicros: Int?
    public var measurements: [String]

    public init(durationNs: UInt64?, count: UInt64?, warmupNs: UInt64, timeoutNs: UInt64, payloadSize: Int,
                batchSize: Int, wait: WaitMode, busyPollMicros: Int?, measurements: [String]) {
        self.durationNs = durationNs; self.count = count; self.warmupNs = warmupNs; self.timeoutNs = timeoutNs
        self.payloadSize = payloadSize; self.batchSize = batchSize; self.wait = wait
        self.busyPollMicros = busyPollMicros; self.measurements = measurements
    }
}

/// The JSON document `--json` writes. `schema` changes when a field changes meaning.
public struct WirepathReport: Codable, Sendable, Equatable {
    public static let schemaID = "wirepath.report/1"
    public var schema: String = WirepathReport.schemaID
    public var command: String
    public var startedAt: String
    public var environment: EnvironmentRecord
    public var settings: RunSettings
    public var runs: [PathRun]
    /// With --capture: where the capture listened and what it dropped itself.
    public var capture: CaptureRecord?
    /// Which path to pick for each goal, with the reasons in numbers.
    public var recommendation: [Verdict]?
    /// `compare --threads 1,2`: each path's rate per thread count.
    public var scaling: [ScalingRow]?

    public init(command: String, startedAt: String, environment: EnvironmentRecord, settings: RunSettings, runs: [PathRun]) {
        self.command = command; self.startedAt = startedAt; self.environment = environment
        self.settings = settings; self.runs = runs
    }
}
