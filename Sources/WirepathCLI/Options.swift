import ArgumentParser
import Foundation
import Wirepath
import WirepathCore

/// Path options that both ends take (client commands and `serve`). A new
/// path option goes here once, plus RunRequest and Runner.config.
struct PathTuning: ParsableArguments {
    @Option(help: "Packets per send/receive call for batching paths (1-1024).")
    var batch: Int = PathConfig.defaultBatch

    @Option(help: "How to wait for packets: block, epoll or spin.")
    var wait: String = "block"

    @Option(name: .customLong("busy-poll"), help: ArgumentHelp("Set SO_BUSY_POLL to USEC.", valueName: "usec"))
    var busyPoll: Int?

    @Flag(name: .customLong("prefer-busy-poll"), help: "With --busy-poll, also set SO_PREFER_BUSY_POLL (pays only with napi_defer_hard_irqs and gro_flush_timeout set on the device).")
    var preferBusyPoll = false

    @Option(name: .customLong("uring-buffers"), help: ArgumentHelp("uring path: buffers in the provided-buffer ring (a power of two, 1-32768).", valueName: "n"))
    var uringBuffers: Int = PathConfig.defaultUringBuffers

    @Option(name: .customLong("uring-sqpoll"), help: ArgumentHelp(
        "uring path: IORING_SETUP_SQPOLL, a kernel thread that polls the submission queue (Linux 5.13+ unprivileged), sleeping after IDLE_MS without work (1-\(PathConfig.maxSQPollIdleMillis); bare --uring-sqpoll means \(PathConfig.defaultSQPollIdleMillis)). Sends cost no syscall while it is awake; its CPU is added to the cost. Excludes DEFER_TASKRUN. Write the value with '=': --uring-sqpoll=IDLE_MS.",
        valueName: "idle-ms"))
    var uringSQPoll: Int?

    @Flag(name: .customLong("uring-zc"), help: "uring path: send with IORING_OP_SENDMSG_ZC (Linux 6.1+, usage reports 6.2+) and report whether the kernel copied anyway (on veth and loopback it does). Each buffer is reused only after the kernel's notification.")
    var uringZeroCopy = false

    @Option(help: ArgumentHelp("With --peer or serve: the interface to use. socket, mmsg and uring bind their socket to it (SO_BINDTODEVICE); xdp attaches its program to it (Wirepath attaches only to interfaces it created or that you name here). It must exist in this network namespace. The built-in topology uses its own veth ends.", valueName: "name"))
    var interface: String?

    @OptionGroup var xdp: XDPOptions

    @Option(name: .customLong("uring-napi"), help: ArgumentHelp(
        "uring path: IORING_REGISTER_NAPI (Linux 6.9+): the ring busy-polls its sockets' NAPI contexts for USEC before it sleeps in a wait (block and epoll waits, and an SQPOLL thread). Helps only where the socket has a NAPI id (on veth: --veth-napi); the result says whether it had one. --prefer-busy-poll sets its prefer flag.",
        valueName: "usec"))
    var uringNAPI: Int?

    @Option(name: .customLong("uring-batch-wait"), help: ArgumentHelp(
        "uring path, a receiver fed a flood: wait for --batch completions, but return after USEC with what has come (Linux 6.12+, IORING_FEAT_MIN_TIMEOUT, with DEFER_TASKRUN): the thread is woken once per batch instead of once per packet. A receiver of requests always wakes at the first packet. 0 turns it off.",
        valueName: "usec"))
    var uringBatchWait = PathConfig.defaultUringBatchWaitMicros

    func waitMode() throws -> WaitMode {
        do { return try WaitMode.parse(wait) } catch { throw ValidationError(error.message) }
    }

    /// A validated configuration for one end; errors name the range.
    func config(path: PathKind, local: Endpoint, peer: Endpoint? = nil, payloadSize: Int = PathConfig.defaultPayload,
                mtu: Int = 1500) throws -> PathConfig {
        do {
            var c = try PathConfig.validated(path: path, local: local, peer: peer, interface: interface, payloadSize: payloadSize, batchSize: batch,
                                             wait: WaitMode.parse(wait), busyPollMicros: busyPoll, mtu: mtu, uringBuffers: uringBuffers,
                                             uringSQPollIdleMillis: uringSQPoll, uringZeroCopy: uringZeroCopy,
                                             uringNAPIMicros: uringNAPI, uringBatchWaitMicros: uringBatchWait)
            c.preferBusyPoll = preferBusyPoll
            return try xdp.apply(to: c)
        } catch let error as ConfigError {
            throw ValidationError(error.message)
        }
    }

    func validate() throws {
        _ = try config(path: .socket, local: .any)
    }

    func apply(to r: inout RunRequest) throws {
        r.batchSize = batch
        r.wait = try waitMode()
        r.busyPollMicros = busyPoll
        r.preferBusyPoll = preferBusyPoll
        r.uringBuffers = uringBuffers
        r.uringSQPollIdleMillis = uringSQPoll
        r.uringZeroCopy = uringZeroCopy
        try xdp.apply(to: &r)
        r.interface = interface
        r.uringNAPIMicros = uringNAPI
        r.uringBatchWaitMicros = uringBatchWait
    }
}

/// Options of the client commands: the tuning of both ends plus payload
/// size, port and the built-in topology's mode.
struct PathOptions: ParsableArguments {
    @Option(help: "UDP payload bytes including the 40-byte Wirepath header: 40-1472 on the built-in topology (MTU 1500); with --peer, up to the MTU of the device toward the peer minus 28.")
    var size: Int = PathConfig.defaultPayload

    @Option(help: "Reflector UDP port.")
    var port: UInt16 = 7000

    @Flag(name: .customLong("veth-napi"), help: "Built-in topology: GRO on and TSO off on both veth ends, so sockets get a NAPI id to busy-poll.")
    var vethNAPI = false

    @Flag(name: .customLong("veth-threaded-napi"), help: "Built-in topology: veth NAPI mode with each end's NAPI in a kernel thread pinned to that end's CPU, so the receiver's stack (or XDP program) runs on the receiving CPU as behind a NIC, not in the sender's softirq. A spin wait then shares its CPU with that thread.")
    var vethThreadedNAPI = false

    @Flag(name: .customLong("middle-hop"), help: "Built-in topology: put the bridge that --capture uses between the ends, without capturing, to measure what the hop itself adds (a captured run always has it).")
    var middleHop = false

    @OptionGroup var tuning: PathTuning

    /// The payload size against the MTU it will meet: the built-in
    /// topology's 1500, or the device's toward --peer. Called from each
    /// client command's `validate`, which sees both option groups.
    func validateSize(peer: String?) throws {
        let mtu = peer.flatMap { try? Endpoint.parse($0) }.flatMap { HostMTU.toward($0, interface: tuning.interface) } ?? 1500
        _ = try tuning.config(path: .socket, local: .any, payloadSize: size, mtu: mtu)
    }

    func apply(to r: inout RunRequest) throws {
        try tuning.apply(to: &r)
        r.payloadSize = size
        r.port = port
        r.vethNAPI = vethNAPI
        r.vethThreadedNAPI = vethThreadedNAPI
        r.middleHop = middleHop
    }
}

/// Options that bound a measurement and say where results go.
struct RunOptions: ParsableArguments {
    @Option(help: "Seconds measured after the warm-up: the ping-pong (compare's flood has --flood-duration), or the flood of `flood`.")
    var duration: Double?

    @Option(help: "Round trips (ping-pong) or packets (flood) to measure; the run ends at whichever of --duration and --count comes first.")
    var count: UInt64?

    @Option(help: "Seconds of warm-up before each measured window, discarded: ping-pong, open loop and flood alike.")
    var warmup: Double = 1

    @Option(help: "Milliseconds after which a ping with no reply counts as lost.")
    var timeout: Double = 100

    @Option(help: "Write every figure as JSON (schema wirepath.report/1) to FILE.")
    var json: String?

    @Option(help: "Write one CSV row per path and measurement to FILE.")
    var csv: String?

    @Option(help: ArgumentHelp("Write HdrHistogram percentile distributions (.hgrm, µs) per path and measurement into DIR.", valueName: "dir"))
    var hgrm: String?

    @Option(help: ArgumentHelp("Run against a reflector (`wirepath serve`) at ADDR:PORT instead of the built-in topology.", valueName: "addr:port"))
    var peer: String?

    @Option(help: ArgumentHelp("Local ADDR[:PORT] for --peer runs.", valueName: "addr[:port]"))
    var bind: String?

    @Flag(help: "Print only the tables and the topology line (and, with --capture, the capture and verification lines).")
    var quiet = false

    @OptionGroup var capture: CaptureFlags

    func validate() throws {
        if let duration, !(duration > 0 && duration <= 3600) { throw ValidationError("--duration must be in (0, 3600] seconds") }
        if let count, count == 0 { throw ValidationError("--count must be at least 1") }
        if !(warmup >= 0 && warmup <= 600) { throw ValidationError("--warmup must be in [0, 600] seconds") }
        if !(timeout >= 1 && timeout <= 10_000) { throw ValidationError("--timeout must be in [1, 10000] ms") }
        if let peer { do { _ = try Endpoint.parse(peer) } catch { throw ValidationError("--peer: \(error.message)") } }
        if let bind { do { _ = try Endpoint.parse(bind, defaultPort: 0) } catch { throw ValidationError("--bind: \(error.message)") } }
    }

    func plan(defaultDuration: Double?) -> MeasurementPlan {
        let d = duration ?? (count == nil ? defaultDuration : nil)
        return MeasurementPlan(durationNs: d.map { UInt64($0 * 1e9) }, count: count,
                               warmupNs: UInt64(warmup * 1e9), timeoutNs: UInt64(timeout * 1e6))
    }

    func apply(to r: inout RunRequest) throws {
        r.capture = try capture.request(peer: peer != nil)
        r.peer = try peer.map { try Endpoint.parse($0) }
        r.bind = try bind.map { try Endpoint.parse($0, defaultPort: 0) }
    }
}

enum Output {
    static func stderr(_ s: String) {
        // stdout is block-buffered when redirected; flush it first so that a
        // `2>&1` log keeps the report and these lines in the order they happened.
        fflush(stdout)
        FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
    }

    /// After SIGINT or SIGTERM: says what happened, and gives the exit code
    /// a shell expects of a process that signal stopped, 128 + its number
    /// (130 for SIGINT, 143 for SIGTERM), so a script can tell them apart.
    static func interrupted(_ what: String) -> ExitCode {
        stderr("interrupted: \(what)")
        return ExitCode(128 + Interrupt.signal)
    }

    /// Writes a text file, making its directory; a failure names the file and the reason.
    static func write(_ text: String, to path: String) throws {
        do {
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            stderr("error: cannot write \(path): \((error as NSError).localizedDescription)")
            throw ExitCode(1)
        }
    }

    static func writeJSON(_ report: WirepathReport, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(report).write(to: URL(fileURLWithPath: path))
    }

    /// Runs a request with signal handling and prints the report. `then`
    /// gets the report once it is printed (`compare --report` writes HTML there).
    static func execute(_ request: RunRequest, json: String?, quiet: Bool, csv: String? = nil, hgrm: String? = nil,
                        goal: Goal? = nil, recommend: Bool = false,
                        then: ((WirepathReport) throws -> Void)? = nil) throws {
        Interrupt.install()
        let report: WirepathReport
        do {
            let ticker = quiet || isatty(2) == 0 ? nil : ProgressLine(request)
            defer { ticker?.finish() }
            report = try Runner.run(request, progress: { ticker?.phase($0) })
        } catch let e as ConfigError {
            // A signal during setup stops it at the next step (or kills the
            // `ip` child, on a terminal's Ctrl-C), and the failure lands
            // here: it is an interruption, not a setup error.
            if Interrupt.requested { throw interrupted("nothing measured; namespaces removed") }
            stderr("error: \(e.message)")
            throw ExitCode(2)
        }
        print(TextReport.comparison(report), terminator: "")
        let load = TextReport.loadTable(report)
        if !load.isEmpty { print("\n" + load, terminator: "") }
        let spread = TextReport.spreadTable(report)
        if !spread.isEmpty { print("\n" + spread, terminator: "") }
        if recommend, let verdicts = report.recommendation {
            print("\n" + Recommendation.render(goal.map { g in verdicts.filter { $0.goal == g } } ?? verdicts, report: report), terminator: "")
        }
        if !quiet {
            print("")
            print(TextReport.details(report), terminator: "")
        }
        print(TextReport.topologyLine(report), terminator: "")
        if !quiet {
            print("syscalls: \(report.environment.syscallCounter); CPU: getrusage(RUSAGE_THREAD). sys/RTT = syscalls per round trip.")
        }
        if let csv {
            try write(CSVReport.render(report), to: csv)
            if !quiet { stderr("wrote \(csv)") }
        }
        if let hgrm {
            for f in HgrmFiles.files(report) { try write(f.text, to: hgrm + "/" + f.name) }
            if !quiet { stderr("wrote \(HgrmFiles.files(report).count) .hgrm files into \(hgrm)") }
        }
        if let json {
            try writeJSON(report, to: json)
            if !quiet { stderr("wrote \(json)") }
        }
        let verifyFailed = CaptureOutput.finish(report, request: request, quiet: quiet)
        try then?(report)
        if Interrupt.requested { throw interrupted("partial results above; namespaces removed") }
        let failed = report.runs.filter { $0.status == .failed }
        for f in failed { stderr("error: \(f.path): \(f.reason ?? "failed")") }
        if !failed.isEmpty { throw ExitCode(1) }
        if verifyFailed { throw ExitCode(3) }
    }
}

/// Options whose value may be left out (`--uring-sqpoll[=IDLE_MS]`), which
/// ArgumentParser cannot express: before parsing, a bare `--uring-sqpoll` is
/// rewritten to `--uring-sqpoll=DEFAULT`. Only the `=` form carries a value.
enum OptionalValueOptions {
    static let defaults = ["--uring-sqpoll": "\(PathConfig.defaultSQPollIdleMillis)"]

    static func expand(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var rest = false
        for a in arguments {
            if a == "--" { rest = true }
            if !rest, let value = defaults[a] { out.append("\(a)=\(value)") } else { out.append(a) }
        }
        return out
    }
}

/// The live progress line on a terminal: the current path and measurement,
/// the time left in it, and the packet rate. Silent when stderr is not a
/// terminal, and with --quiet.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var label = "setting up the topology"
    private var phaseStart = Date()
    private var planned: Double = 0
    private var lastPackets: UInt64 = 0
    private var lastTick = Date()
    private var done = false
    private let request: RunRequest
    private var thread: Thread?
    private let runStart = Date()
    /// The whole run's expected length, for "run ~N s left".
    private let runPlanned: Double

    init(_ request: RunRequest) {
        self.request = request
        runPlanned = Self.estimate(request)
        let t = Thread { [weak self] in
            while let self, self.tick() { Thread.sleep(forTimeInterval: 0.25) }
        }
        thread = t
        t.start()
    }

    /// Called by the runner at each new measurement.
    func phase(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        label = text
        phaseStart = Date()
        lastPackets = 0
        let warm = Double(request.plan.warmupNs) / 1e9
        if text.contains("flood") {
            // A flood bounded by --count alone ends when the packets are out: no estimate.
            planned = Self.floodWindow(request).map { warm + $0 * 1.25 } ?? 0
        } else if text.contains("open-loop") || text.contains("pingpong") {
            planned = warm + Double(request.plan.durationNs ?? 0) / 1e9 * 1.25
        } else {
            planned = 0
        }
    }

    /// A flood's window in seconds; nil for `flood --count` without
    /// --duration, which ends when the packets are out.
    static func floodWindow(_ r: RunRequest) -> Double? {
        r.floodCount != nil && r.plan.durationNs == nil ? nil : Double(r.floodDurationNs) / 1e9
    }

    /// Seconds the whole request should take: each path's measurements
    /// (a count-bounded ping-pong is counted as its warm-up only), times
    /// the repeats and the tuned rows, plus about 0.3 s of setup for each
    /// measurement (threads, rings, programs, the syscall window).
    static func estimate(_ r: RunRequest) -> Double {
        let warm = Double(r.plan.warmupNs) / 1e9
        let window = Double(r.plan.durationNs ?? 0) / 1e9
        let flood = floodWindow(r) ?? 0
        var perPath = 0.0
        for m in r.measurements {
            // A flood has its warm-up too.
            perPath += m == .flood ? warm + flood * 1.25 + 0.3 : warm + window * 1.25 + 0.3
        }
        if !r.loads.isEmpty && !r.measurements.contains(.flood) { perPath += warm + flood * 1.25 + 0.3 }
        perPath += Double(r.loads.count + r.rates.count) * (warm + window + 0.3)
        return 1 + perPath * Double(r.paths.count * r.repeats * (r.tune ? 2 : 1))
    }

    /// One redraw; false once finished.
    private func tick() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        let now = Date()
        let packets = LiveProgress.packets
        let dt = now.timeIntervalSince(lastTick)
        let rate = packets >= lastPackets && dt > 0 ? Double(packets - lastPackets) / dt : 0
        lastPackets = packets
        lastTick = now
        let elapsed = now.timeIntervalSince(phaseStart)
        var left = planned > 0 ? String(format: ", ~%.1f s left", max(planned - elapsed, 0)) : ""
        left += String(format: " (run ~%.0f s left)", max(runPlanned - now.timeIntervalSince(runStart), 0))
        let line = String(format: "\r\u{1B}[K[%@] %.1f s%@, %@ pkt/s", label, elapsed, left, TextReport.fmt(rate, 0))
        FileHandle.standardError.write(line.data(using: .utf8)!)
        return true
    }

    func finish() {
        lock.lock()
        done = true
        lock.unlock()
        FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!)
    }
}
