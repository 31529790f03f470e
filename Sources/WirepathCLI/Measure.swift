import ArgumentParser
import Wirepath
import WirepathCore

/// `--path` for the single-path commands.
struct SinglePath: ParsableArguments {
    @Option(help: "The path to measure: socket, mmsg, uring or xdp.")
    var path: String = "socket"

    func kind() throws -> PathKind {
        do { return try PathKind.parse(path) } catch { throw ValidationError(error.message) }
    }

    func validate() throws { _ = try kind() }
}

struct PingPong: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pingpong",
        abstract: "Closed-loop ping-pong latency of one path (built-in topology, or --peer).")

    @OptionGroup var single: SinglePath
    @OptionGroup var path: PathOptions
    @OptionGroup var measure: RunOptions

    func run() throws {
        var r = RunRequest(paths: [try single.kind()], measurements: [.pingpong], plan: measure.plan(defaultDuration: 5))
        try path.apply(to: &r)
        try measure.apply(to: &r)
        r.command = "pingpong"
        try Output.execute(r, json: measure.json, quiet: measure.quiet)
    }
}

struct Flood: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Flood throughput of one path: the sender sends as fast as it can, the receiver counts.")

    @OptionGroup var single: SinglePath
    @OptionGroup var path: PathOptions
    @OptionGroup var measure: RunOptions

    func run() throws {
        var r = RunRequest(paths: [try single.kind()], measurements: [.flood], plan: measure.plan(defaultDuration: 5))
        try path.apply(to: &r)
        try measure.apply(to: &r)
        r.floodDurationNs = r.plan.durationNs ?? 5_000_000_000
        if let c = measure.count { r.plan.count = c }
        r.command = "flood"
        try Output.execute(r, json: measure.json, quiet: measure.quiet)
    }
}
