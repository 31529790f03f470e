import ArgumentParser
import Foundation
import WirepathBench
import WirepathIO
import WirepathModel
import WirepathRender

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every available path through ping-pong and flood on the built-in veth topology and print one table.")

    @Option(help: ArgumentHelp(helpText("Comma-separated paths to compare (socket, mmsg, uring, xdp). Default: all; paths this build or host cannot run are listed with the reason.", default: PathKind.allCases)),
            transform: { try PathKind.parseList($0) })
    var paths: [PathKind] = PathKind.allCases

    @Option(name: .customLong("flood-duration"), help: "Seconds of flood per path.")
    var floodDuration: Double = 2

    @Option(help: ArgumentHelp(helpText("Measurements to run: pingpong, flood or both (comma-separated).", default: [MeasurementKind.pingpong, .flood])), transform: { try MeasurementKind.parseList($0) })
    var measurements: [MeasurementKind] = [.pingpong, .flood]

    @Option(help: ArgumentHelp("Latency under load: open-loop runs at these fractions of each path's own measured flood capacity, e.g. 10%,50%,90%.", valueName: "list"))
    var load: String?

    @Option(help: ArgumentHelp("Latency under load at fixed rates: open-loop runs at these packets per second on every path, e.g. 1000,20k (beside the closed loop, and --load).", valueName: "list"))
    var rate: String?

    @OptionGroup var report: ReportOption

    @Option(help: "Run each path N times; the tables show the median run, and the spread decides whether two paths really differ.")
    var `repeat`: Int = 3

    @Flag(help: "Also run each path in its best-known low-latency configuration and show both rows: busy waiting, or with --veth-napi a blocking wait with busy polling (socket, mmsg, uring).")
    var tune = false

    @Option(help: "Recommend for one goal: latency, throughput or efficiency (CPU per packet). Default: a verdict for each.",
            transform: { try Goal.parse($0) })
    var goal: Goal?

    @OptionGroup var path: PathOptions
    @OptionGroup var measure: RunOptions

    func validate() throws {
        try path.validateSize(peer: measure.peer)
        if !(1...50).contains(`repeat`) { throw ValidationError("--repeat must be 1-50") }
        if let load { do { _ = try LoadList.parse(load) } catch { throw ValidationError(error.message) } }
        if let rate { do { _ = try RateList.parse(rate) } catch { throw ValidationError(error.message) } }
        if !(floodDuration > 0 && floodDuration <= 3600) { throw ValidationError("--flood-duration must be in (0, 3600] seconds") }
    }

    func run() throws {
        var r = RunRequest(paths: paths, measurements: measurements, plan: measure.plan(defaultDuration: 2))
        try path.apply(to: &r)
        try measure.apply(to: &r)
        r.floodDurationNs = UInt64(floodDuration * 1e9)
        r.repeats = `repeat`
        r.tune = tune
        // --gso/--gro in compare add rows (socket+gso, ...) beside the plain ones.
        r.offloadRows = r.template.socket.gsoSegments != nil || r.template.socket.gro
        if let load { r.loads = try LoadList.parse(load) }
        if let rate { r.rates = try RateList.parse(rate) }
        r.command = "compare"
        try report.prepare()
        try Output.execute(r, json: measure.json, quiet: measure.quiet, csv: measure.csv, hgrm: measure.hgrm,
                           goal: goal, recommend: true) { [report, quiet = measure.quiet] result in
            try report.write(result, quiet: quiet)
        }
    }
}
