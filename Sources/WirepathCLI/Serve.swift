import ArgumentParser
import Foundation
import Wirepath
import WirepathCore

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reflector and flood sink: echoes ping packets, counts flood packets, reports both ends' figures to the client.",
        discussion: "Run it in one namespace or host and point `wirepath pingpong|flood|compare --peer ADDR:PORT` at it. The client's path must match --path here.")

    @OptionGroup var single: SinglePath

    @Option(help: ArgumentHelp("Address and port to listen on.", valueName: "addr:port"))
    var bind: String = "0.0.0.0:7000"

    @Option(help: "Wait mode: block, epoll or spin.")
    var wait: String = "block"

    @Option(help: "Packets per receive call for batching paths.")
    var batch: Int = PathConfig.defaultBatch

    @Option(name: .customLong("busy-poll"), help: ArgumentHelp("SO_BUSY_POLL in µs.", valueName: "usec"))
    var busyPoll: Int?

    @Option(name: .customLong("uring-buffers"), help: ArgumentHelp("uring path: buffers in the provided-buffer ring (a power of two, 1-32768).", valueName: "n"))
    var uringBuffers: Int = PathConfig.defaultUringBuffers

    @Option(help: "Exit after this many seconds (default: until Ctrl-C).")
    var duration: Double?

    @Option(name: .customLong("idle-exit"), help: "Exit after this many seconds without a packet.")
    var idleExit: Double?

    func run() throws {
        Interrupt.install()
        let config: PathConfig
        do {
            config = try PathConfig.validated(path: try single.kind(), local: Endpoint.parse(bind, defaultPort: 7000),
                                              batchSize: batch, wait: WaitMode.parse(wait), busyPollMicros: busyPoll,
                                              uringBuffers: uringBuffers)
        } catch let e as ConfigError {
            throw ValidationError(e.message)
        }
        let stop = StopSignal()
        if let duration {
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: duration)
                stop.request()
            }
        }
        do {
            let summary = try Shim.serve(config, stop: stop, idleExitNs: idleExit.map { UInt64($0 * 1e9) },
                                             ready: { Output.stderr("serving \(config.path) on \(config.local) (wait \(config.wait))") })
            Output.stderr("served \(summary.windows) measured windows, echoed \(summary.echoed), foreign \(summary.foreign)")
        } catch {
            Output.stderr("error: \(error)")
            throw ExitCode(1)
        }
    }
}
