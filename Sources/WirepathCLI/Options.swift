import ArgumentParser
import Foundation
import WirepathBench
import WirepathIO
import WirepathModel

/// Path options that both ends take (client commands and `serve`). A new
/// path option's flag goes here and into `template()`; its field is in its
/// options struct (see PathConfig.swift for the three places).
struct PathTuning: ParsableArguments {
    @Option(help: "Packets per send/receive call for batching paths (1-1024).")
    var batch: Int = PathConfig.defaultBatch

    @Option(help: ArgumentHelp(helpText("How to wait for packets: block, epoll or spin.", default: WaitMode.block)), transform: { try WaitMode.parse($0) })
    var wait: WaitMode = .block

    @Option(name: .customLong("busy-poll"), help: ArgumentHelp("Set SO_BUSY_POLL to USEC.", valueName: "usec"))
    var busyPoll: Int?

    @Flag(name: .customLong("prefer-busy-poll"), help: "With --busy-poll, also set SO_PREFER_BUSY_POLL (pays only with napi_defer_hard_irqs and gro_flush_timeout set on the device).")
    var preferBusyPoll = false

    @Option(name: .customLong("gso"), help: ArgumentHelp("socket, mmsg and uring senders: UDP GSO, up to SEGMENTS datagrams of --size per send as one buffer (a UDP_SEGMENT cmsg per message); the kernel cuts it. At most the kernel's limit (UDP_MAX_SEGMENTS, probed: 128 on Linux 5.5+) and 65507 bytes per send.", valueName: "segments"))
    var gso: Int?

    @Flag(name: .customLong("gro"), help: "socket, mmsg and uring receivers: UDP GRO on the socket; a receive may return one coalesced buffer (up to 64 KiB), which the path splits into packets in place. On veth the kernel coalesces only with NAPI (--veth-napi).")
    var gro = false

    @Option(name: .customLong("uring-buffers"), help: ArgumentHelp("uring path: buffers in the provided-buffer ring (a power of two, 1-32768).", valueName: "n"))
    var uringBuffers: Int = UringOptions.defaultBuffers

    @Option(name: .customLong("uring-sqpoll"), help: ArgumentHelp(
        "uring path: IORING_SETUP_SQPOLL, a kernel thread that polls the submission queue (Linux 5.13+ unprivileged), sleeping after IDLE_MS without work (1-\(UringOptions.maxSQPollIdleMillis); bare --uring-sqpoll means \(UringOptions.defaultSQPollIdleMillis)). Sends cost no syscall while it is awake; its CPU is added to the cost. Excludes DEFER_TASKRUN. Write the value with '=': --uring-sqpoll=IDLE_MS.",
        valueName: "idle-ms"))
    var uringSQPoll: Int?

    @Flag(name: .customLong("uring-zc"), help: "uring path: send with IORING_OP_SENDMSG_ZC (Linux 6.1+, usage reports 6.2+) and report whether the kernel copied anyway (on veth and loopback it does). Each buffer is reused only after the kernel's notification.")
    var uringZeroCopy = false

    @Option(help: ArgumentHelp("With --peer or serve: the interface to use. socket, mmsg and uring bind their socket to it (SO_BINDTODEVICE); xdp attaches its program to it (Wirepath attaches only to interfaces it created or that you name here). It must exist in this network namespace. The built-in topology uses its own veth ends.", valueName: "name"))
    var interface: String?

    @OptionGroup var xdp: XDPFlags

    @Option(name: .customLong("uring-napi"), help: ArgumentHelp(
        "uring path: IORING_REGISTER_NAPI (Linux 6.9+): the ring busy-polls its sockets' NAPI contexts for USEC before it sleeps in a wait (block and epoll waits, and an SQPOLL thread). Helps only where the socket has a NAPI id (on veth: --veth-napi); the result says whether it had one. --prefer-busy-poll sets its prefer flag.",
        valueName: "usec"))
    var uringNAPI: Int?

    @Option(name: .customLong("uring-batch-wait"), help: ArgumentHelp(
        "uring path, a receiver fed a flood: wait for --batch completions, but return after USEC with what has come (Linux 6.12+, IORING_FEAT_MIN_TIMEOUT, with DEFER_TASKRUN): the thread is woken once per batch instead of once per packet. A receiver of requests always wakes at the first packet. 0 turns it off.",
        valueName: "usec"))
    var uringBatchWait = UringOptions.defaultBatchWaitMicros

    @Option(help: ArgumentHelp(helpText("The data thread's sandbox once its path is open: on (seccomp allow-list per path, no_new_privs, only the capabilities the path still uses, io_uring restrictions), log (the same, but a call outside the list runs and is logged to dmesg) or off. See docs/sandbox.md.", default: SandboxMode.default), valueName: "on|off|log"))
    var sandbox: SandboxMode = .default

    @Option(name: .customLong("stages"), help: ArgumentHelp(
        "Split each ping's round trip into stages from the kernel's own timestamps (send call, qdisc, driver, wire, each end's wake-up, the reflector's turnaround), one histogram each; see docs/stages.md. Bare --stages means sw (software stamps); --stages hw asks for the NIC's hardware stamps and is refused where the device has none (veth). Needs --size \(PathConfig.minStagesPayload) or more. Give it to serve as well for the reflector's stages. Off by default.",
        valueName: "sw|hw"))
    var stages: StampMode?

    /// The run's path configuration, every flag in its place, made once:
    /// each end's path, addresses, payload and MTU are filled in later.
    func template() throws -> PathConfig {
        var c = PathConfig(path: .socket, local: .any, interface: interface, batchSize: batch, wait: wait,
                           socket: SocketOptions(busyPollMicros: busyPoll, preferBusyPoll: preferBusyPoll, gsoSegments: gso, gro: gro),
                           uring: UringOptions(buffers: uringBuffers, sqPollIdleMillis: uringSQPoll, zeroCopy: uringZeroCopy,
                                               napiMicros: uringNAPI, batchWaitMicros: uringBatchWait),
                           xdp: try xdp.options())
        c.sandbox = sandbox
        c.stamping = stages ?? .off
        return c
    }

    /// A validated configuration for one end; errors name the range.
    func config(path: PathKind, local: Endpoint, peer: Endpoint? = nil, payloadSize: Int = PathConfig.defaultPayload,
                mtu: Int = 1500) throws -> PathConfig {
        var c = try template()
        c.path = path
        c.local = local
        c.peer = peer
        c.payloadSize = payloadSize
        c.mtu = mtu
        do {
            try c.validate()
            return path == .xdp ? try c.with(xdp: c.xdp) : c
        } catch {
            throw ValidationError(error.message)
        }
    }

    func validate() throws {
        _ = try config(path: .socket, local: .any)
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

    @Flag(name: .customLong("ipv6"), help: "Built-in topology: run over IPv6, between 2001:2::1 and 2001:2::2 (2001:2::/48, RFC 5180's benchmarking prefix), instead of 198.18.0.1 and 198.18.0.2. With --peer the peer's address picks the family.")
    var ipv6 = false

    @Option(help: ArgumentHelp("Threads per end (1-\(ScalingRequest.maxThreads)), each with its own path instance pinned to its own CPU and its own flow (socket, mmsg, uring: one SO_REUSEPORT socket or ring per thread, steered by receiving CPU). compare takes a list (1,2): every path at each count, and a scaling table. Built-in topology only.", valueName: "n[,n...]"))
    var threads: String = "1"

    @Option(help: ArgumentHelp("UDP flows (distinct source ports), spread over the threads; default one per thread (the only spread this build has).", valueName: "m"))
    var flows: Int?

    @Option(help: ArgumentHelp("With --threads: the CPU of each thread, at both ends (e.g. 2,3); default the first N CPUs of each end's share.", valueName: "list"))
    var cpus: String?

    @Option(help: ArgumentHelp("Built-in topology: RX and TX queues per veth end (1-\(ScalingRequest.maxQueues)); flow i is sent on queue i mod Q (XPS) and where it landed is checked per queue (ethtool -S).", valueName: "q"))
    var queues: Int = 1

    @OptionGroup var tuning: PathTuning

    /// `--threads` as a list of counts; the error names the bad entry.
    func threadCounts() throws -> [Int] {
        let parts = threads.split(separator: ",", omittingEmptySubsequences: false)
        guard (1...8).contains(parts.count) else { throw ValidationError("--threads: give one count or a list of up to 8 (e.g. 1,2)") }
        return try parts.map { p in
            guard p.utf8.count <= 4, let n = Int(p) else { throw ValidationError("--threads: '\(p)' is not a thread count (expected e.g. 2, or 1,2 for compare)") }
            return n
        }
    }

    /// `--cpus` as a list; the error names the bad entry.
    func cpuList() throws -> [Int]? {
        guard let cpus else { return nil }
        let parts = cpus.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= ScalingRequest.maxThreads else { throw ValidationError("--cpus lists \(parts.count) CPUs: at most \(ScalingRequest.maxThreads)") }
        return try parts.map { p in
            guard let c = Int(p), c >= 0, c < 4096 else { throw ValidationError("--cpus: '\(p)' is not a CPU number (expected e.g. 0,1)") }
            return c
        }
    }

    /// The payload size against the MTU it will meet: the built-in
    /// topology's 1500, or the device's toward --peer. Called from each
    /// client command's `validate`, which sees both option groups.
    func validateSize(peer: String?) throws {
        let peerEP = peer.flatMap { try? Endpoint.parse($0) }
        let mtu = peerEP.flatMap { HostMTU.toward($0, interface: tuning.interface) } ?? 1500
        // IPv6's larger header bounds the payload a little lower.
        let local = ipv6 || peerEP?.isIPv6 == true ? Endpoint.any6 : Endpoint.any
        let c = try tuning.config(path: .socket, local: local, payloadSize: size, mtu: mtu)
        do { try c.validateStages() } catch { throw ValidationError(error.message) }
    }

    func apply(to r: inout RunRequest) throws {
        r.template = try tuning.template()
        r.template.payloadSize = size
        r.port = port
        r.vethNAPI = vethNAPI
        r.vethThreadedNAPI = vethThreadedNAPI
        r.middleHop = middleHop
        r.ipv6 = ipv6
        let counts = try threadCounts()
        r.scaling.threads = counts.count == 1 ? counts[0] : counts.max()!
        r.scaling.threadCounts = counts.count > 1 ? counts : nil
        r.scaling.flows = flows
        r.scaling.cpus = try cpuList()
        r.scaling.queues = queues
        do { try r.scaling.validate(online: sysconf(Int32(_SC_NPROCESSORS_ONLN))) } catch { throw ValidationError(error.message) }
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

    @Option(help: ArgumentHelp("Run against a reflector (`wirepath serve`) at ADDR:PORT instead of the built-in topology: IPV4:PORT or [IPV6]:PORT.", valueName: "addr:port"))
    var peer: String?

    @Option(help: ArgumentHelp("Local ADDR[:PORT] for --peer runs: IPV4[:PORT] or [IPV6][:PORT], of the peer's family.", valueName: "addr[:port]"))
    var bind: String?

    @Flag(help: "Print only the tables and the topology line (and, with --capture, the capture and verification lines).")
    var quiet = false

    @Option(name: .customLong("key-file"), help: ArgumentHelp("Shared key with the reflector: control packets carry its HMAC-SHA256 (default: $WIREPATH_KEY_FILE).", valueName: "file"))
    var keyFile: String?

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
        r.scaling.strict = capture.verify == VerifyMode.strict.rawValue
        r.peer = try peer.map { try Endpoint.parse($0) }
        r.bind = try bind.map { try Endpoint.parse($0, defaultPort: 0) }
        do { r.plan.controlKey = try ControlKey.load(option: keyFile) } catch { throw ValidationError(error.message) }
    }
}

/// Options whose value may be left out (`--uring-sqpoll[=IDLE_MS]`), which
/// ArgumentParser cannot express: before parsing, a bare `--uring-sqpoll` is
/// rewritten to `--uring-sqpoll=DEFAULT`. Only the `=` form carries a value.
enum OptionalValueOptions {
    static let defaults = ["--uring-sqpoll": "\(UringOptions.defaultSQPollIdleMillis)", "--stages": StampMode.software.rawValue]
    /// Values an option of `defaults` may also take as the next argument
    /// (`--stages hw`), which are then left as they are.
    static let separateValues = ["--stages": Set(StampMode.allCases.map(\.rawValue))]

    static func expand(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var rest = false
        for (i, a) in arguments.enumerated() {
            if a == "--" { rest = true }
            if !rest, let next = arguments.dropFirst(i + 1).first, separateValues[a]?.contains(next.lowercased()) == true {
                out.append(a)
            } else if !rest, let value = defaults[a] { out.append("\(a)=\(value)") } else { out.append(a) }
        }
        return out
    }
}
