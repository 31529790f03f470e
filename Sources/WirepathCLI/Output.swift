import ArgumentParser
import Foundation
import WirepathBench
import WirepathIO
import WirepathModel
import WirepathRender

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
            let ticker = quiet || isatty(2) == 0 ? nil : ProgressLine()
            defer { ticker?.finish() }
            report = try Runner.run(request, events: { ticker?.handle($0) })
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
            for f in Hgrm.files(report) { try write(f.text, to: hgrm + "/" + f.name) }
            if !quiet { stderr("wrote \(Hgrm.files(report).count) .hgrm files into \(hgrm)") }
        }
        if let json {
            try writeJSON(report, to: json)
            if !quiet { stderr("wrote \(json)") }
        }
        var verifyFailed = CaptureOutput.finish(report, request: request, quiet: quiet)
        if let why = report.placementFailure {
            stderr((request.scaling.strict ? "error: --verify strict: " : "warning: ") + "traffic did not land where it was steered: " + why)
            if request.scaling.strict { verifyFailed = true }
        }
        try then?(report)
        if Interrupt.requested { throw interrupted("partial results above; namespaces removed") }
        let failed = report.runs.filter { $0.status == .failed }
        for f in failed { stderr("error: \(f.path): \(f.reason ?? "failed")") }
        if !failed.isEmpty { throw ExitCode(1) }
        if verifyFailed { throw ExitCode(3) }
    }
}
