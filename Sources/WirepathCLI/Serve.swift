import ArgumentParser
import Foundation
import WirepathBench
import WirepathIO
import WirepathModel

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reflector and flood sink: echoes ping packets, counts flood packets, reports both ends' figures to the client.",
        discussion: "Run it in one namespace or host and point `wirepath pingpong|flood|compare --peer ADDR:PORT` at it. The client's path must match --path here.")

    @OptionGroup var single: SinglePath

    @Option(help: ArgumentHelp("Address and port to listen on.", valueName: "addr:port"))
    var bind: String = "0.0.0.0:7000"

    @OptionGroup var tuning: PathTuning

    /// The longest --duration and --idle-exit: a week, far inside what a
    /// UInt64 of nanoseconds holds.
    static let maxSeconds: Double = 7 * 24 * 3600

    @Option(help: "Exit after this many seconds (default: until Ctrl-C).")
    var duration: Double?

    @Option(name: .customLong("idle-exit"), help: "Exit after this many seconds without a packet.")
    var idleExit: Double?

    @Option(name: .customLong("max-sessions"), help: "Clients measured at once; a client beyond them is refused, and told why (1-\(ServeOptions.maxSessionsLimit)).")
    var maxSessions: Int = 4

    @Option(name: .customLong("session-timeout"), help: "Seconds without a packet after which a session ends, so a crashed client does not hold its slot.")
    var sessionTimeout: Double = 20

    @Option(name: .customLong("key-file"), help: ArgumentHelp("Shared key: control packets must carry its HMAC-SHA256 (default: $WIREPATH_KEY_FILE; none: unauthenticated).", valueName: "file"))
    var keyFile: String?

    @Option(help: ArgumentHelp("Reflector threads (1-\(ScalingRequest.maxThreads)), each pinned with its own path instance, their sockets one SO_REUSEPORT group steered by receiving CPU (socket, mmsg, uring; see docs/scaling.md).", valueName: "n"))
    var threads: Int = 1

    @Option(help: ArgumentHelp("With --threads: each thread's CPU (default the first N); pin each NIC queue's interrupt to the CPU of the thread its flows should reach.", valueName: "list"))
    var cpus: String?

    @Flag(name: .customLong("count-syscalls"), help: "Let clients' windows count this thread's syscalls with the raw_syscalls:sys_enter tracepoint (slows every thread on the host while a window counts; each window capped at 10 s).")
    var countSyscalls = false

    func validate() throws {
        // `!(x > 0 && x <= max)` also refuses NaN; the conversion to
        // nanoseconds below would trap on a negative, NaN or huge value.
        if let duration, !(duration > 0 && duration <= Self.maxSeconds) {
            throw ValidationError("--duration must be in (0, \(Int(Self.maxSeconds))] seconds")
        }
        if let idleExit, !(idleExit > 0 && idleExit <= Self.maxSeconds) {
            throw ValidationError("--idle-exit must be in (0, \(Int(Self.maxSeconds))] seconds")
        }
        if !(1...ServeOptions.maxSessionsLimit).contains(maxSessions) {
            throw ValidationError("--max-sessions must be in [1, \(ServeOptions.maxSessionsLimit)]")
        }
        if !(sessionTimeout >= 1 && sessionTimeout <= 3600) {
            throw ValidationError("--session-timeout must be in [1, 3600] seconds")
        }
        _ = try threadCPUs()
    }

    /// The CPUs of `--threads`, checked: one each, distinct, online.
    func threadCPUs() throws -> [Int] {
        var scaling = ScalingRequest()
        scaling.threads = threads
        if let cpus {
            let parts = cpus.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count <= ScalingRequest.maxThreads else { throw ValidationError("--cpus lists \(parts.count) CPUs: at most \(ScalingRequest.maxThreads)") }
            scaling.cpus = try parts.map { p in
                guard let c = Int(p), c >= 0, c < 4096 else { throw ValidationError("--cpus: '\(p)' is not a CPU number (expected e.g. 0,1)") }
                return c
            }
        }
        do { try scaling.validate(online: sysconf(Int32(_SC_NPROCESSORS_ONLN))) } catch { throw ValidationError(error.message) }
        return scaling.cpus ?? Array(0..<threads)
    }

    func run() throws {
        Interrupt.install()
        let local: Endpoint
        do { local = try Endpoint.parse(bind, defaultPort: 7000) } catch { throw ValidationError("--bind: \(error.message)") }
        // Receive slots fit the largest payload this host can be sent.
        let config = try tuning.config(path: single.path, local: local,
                                       mtu: HostMTU.at(local, interface: tuning.interface) ?? 1500)
        let key: ControlKey?
        do { key = try ControlKey.load(option: keyFile) } catch { throw ValidationError(error.message) }
        let options = ServeOptions(maxSessions: maxSessions, sessionTimeoutNs: UInt64(sessionTimeout * 1e9), key: key,
                                   countSyscalls: countSyscalls)
        let stop = StopSignal()
        if let duration {
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: duration)
                stop.request()
            }
        }
        if threads > 1 || cpus != nil {
            let list = try threadCPUs()
            let summaries = try Measure.serve(config, cpus: list, stop: stop, idleExitNs: idleExit.map { UInt64($0 * 1e9) }, options: options,
                                              ready: { Output.stderr("serving \(config.path) on \(config.local) with \(list.count) threads on CPUs \(list.map(String.init).joined(separator: ",")) (\(config.path == .xdp ? "one AF_XDP socket each, thread i's on queue \(config.xdp.queue)+i, --xdp-umem \(config.xdp.umem)" : "one SO_REUSEPORT socket each, steered by receiving CPU"); wait \(config.wait), sandbox \(config.sandbox), up to \(options.maxSessions) sessions per thread, \(key == nil ? "no key" : "control authenticated with --key-file"), syscall counting \(options.countSyscalls ? "on" : "off"))") })
            for (i, summary) in summaries.enumerated() {
                Output.stderr("thread \(i) (CPU \(list[i])): served \(summary.windows) measured windows, echoed \(summary.echoed), foreign \(summary.foreign), NAPI id \(summary.napiID), control (\(summary.control.summary))")
            }
            return
        }
        do {
            let summary = try Measure.serve(config, stop: stop, idleExitNs: idleExit.map { UInt64($0 * 1e9) }, options: options,
                                             ready: { Output.stderr("serving \(config.path) on \(config.local) (wait \(config.wait), sandbox \(config.sandbox), up to \(options.maxSessions) sessions, \(key == nil ? "no key" : "control authenticated with --key-file"), syscall counting \(options.countSyscalls ? "on" : "off"))") })
            Output.stderr("served \(summary.windows) measured windows, echoed \(summary.echoed), foreign \(summary.foreign), dropped for source \(summary.droppedSources.total) (\(summary.droppedSources.summary)), send failures \(summary.sendFailures.total) (\(summary.sendFailures.summary)), control (\(summary.control.summary)), flood warm-up \(summary.warmupFlood)")
        } catch {
            Output.stderr("error: \(error)")
            throw ExitCode(1)
        }
        // Ctrl-C is how a serve without --duration ends: the summary above is
        // complete and the socket is closed, and the exit code says which
        // signal ended it, as for the other commands.
        if Interrupt.requested { throw Output.interrupted("stopped serving; socket closed") }
    }
}
