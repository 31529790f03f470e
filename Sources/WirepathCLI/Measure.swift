import ArgumentParser
import WirepathBench
import WirepathIO
import WirepathModel

/// `--path` for the single-path commands.
struct SinglePath: ParsableArguments {
    @Option(help: ArgumentHelp(helpText("The path to measure: socket, mmsg, uring or xdp.", default: PathKind.socket)), transform: { try PathKind.parse($0) })
    var path: PathKind = .socket
}

struct PingPong: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pingpong",
        abstract: "Ping-pong latency of one path (built-in topology, or --peer): closed loop, or open loop with --rate.")

    @OptionGroup var single: SinglePath

    @Option(help: ArgumentHelp("Open loop: send at this fixed rate whatever the replies do, and measure each latency from the request's due time (coordinated omission corrected).", valueName: "pps"))
    var rate: Double?

    func validate() throws {
        if let rate, !(rate >= 1 && rate <= 50_000_000) { throw ValidationError("--rate must be 1-50000000 packets per second") }
        try path.validateSize(peer: measure.peer)
    }
    @OptionGroup var path: PathOptions
    @OptionGroup var measure: RunOptions
    @OptionGroup var report: ReportOption

    func run() throws {
        var r = RunRequest(paths: [single.path], measurements: [.pingpong], plan: measure.plan(defaultDuration: 5))
        try path.apply(to: &r)
        try measure.apply(to: &r)
        r.rate = rate
        r.command = "pingpong"
        try report.prepare()
        try Output.execute(r, json: measure.json, quiet: measure.quiet, csv: measure.csv, hgrm: measure.hgrm) { [report, quiet = measure.quiet] result in
            try report.write(result, quiet: quiet)
        }
    }
}

struct Flood: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Flood throughput of one path: the sender sends as fast as it can, the receiver counts.")

    @OptionGroup var single: SinglePath
    @OptionGroup var path: PathOptions
    @OptionGroup var measure: RunOptions
    @OptionGroup var report: ReportOption

    func validate() throws { try path.validateSize(peer: measure.peer) }

    func run() throws {
        var r = RunRequest(paths: [single.path], measurements: [.flood], plan: measure.plan(defaultDuration: 5))
        try path.apply(to: &r)
        try measure.apply(to: &r)
        // --count alone runs until that many packets left, bounded by the
        // longest window a plan allows; --duration alone, or 5 s.
        r.floodCount = measure.count
        r.floodDurationNs = r.plan.durationNs ?? (measure.count != nil ? r.plan.maxDurationNs : 5_000_000_000)
        r.command = "flood"
        try report.prepare()
        try Output.execute(r, json: measure.json, quiet: measure.quiet, csv: measure.csv, hgrm: measure.hgrm) { [report, quiet = measure.quiet] result in
            try report.write(result, quiet: quiet)
        }
    }
}
