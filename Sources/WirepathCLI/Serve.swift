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

    func validate() throws {
        // `!(x > 0 && x <= max)` also refuses NaN; the conversion to
        // nanoseconds below would trap on a negative, NaN or huge value.
        if let duration, !(duration > 0 && duration <= Self.maxSeconds) {
            throw ValidationError("--duration must be in (0, \(Int(Self.maxSeconds))] seconds")
        }
        if let idleExit, !(idleExit > 0 && idleExit <= Self.maxSeconds) {
            throw ValidationError("--idle-exit must be in (0, \(Int(Self.maxSeconds))] seconds")
        }
    }

    func run() throws {
        Interrupt.install()
        let local: Endpoint
        do { local = try Endpoint.parse(bind, defaultPort: 7000) } catch { throw ValidationError("--bind: \(error.message)") }
        // Receive slots fit the largest payload this host can be sent.
        let config = try tuning.config(path: single.path, local: local,
                                       mtu: HostMTU.at(local, interface: tuning.interface) ?? 1500)
        let stop = StopSignal()
        if let duration {
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: duration)
                stop.request()
            }
        }
        do {
            let summary = try Measure.serve(config, stop: stop, idleExitNs: idleExit.map { UInt64($0 * 1e9) },
                                             ready: { Output.stderr("serving \(config.path) on \(config.local) (wait \(config.wait), sandbox \(config.sandbox))") })
            Output.stderr("served \(summary.windows) measured windows, echoed \(summary.echoed), foreign \(summary.foreign), dropped for source \(summary.droppedSources.total) (\(summary.droppedSources.summary)), send failures \(summary.sendFailures.total) (\(summary.sendFailures.summary)), flood warm-up \(summary.warmupFlood)")
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
