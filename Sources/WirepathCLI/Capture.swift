import ArgumentParser
import Foundation
import WirepathBench
import WirepathCapture
import WirepathIO
import WirepathModel
import WirepathRender

/// `--capture` and its companions, on compare, pingpong and flood.
struct CaptureFlags: ParsableArguments {
    @Option(help: ArgumentHelp("Capture the test traffic with libpcap into FILE (pcap, ns timestamps) and verify every path against it. The built-in topology gets a middle hop (a bridge in wirepath-<pid>-wire) where the capture listens.", valueName: "file.pcap"))
    var capture: String?

    @Option(name: .customLong("capture-buffer"), help: ArgumentHelp("The capture's kernel buffer, in bytes or with K, M or G (default 64M). A capture that drops says so, apart from the paths.", valueName: "size"))
    var captureBuffer: String?

    @Option(name: .customLong("capture-max-size"), help: ArgumentHelp("The capture file's bound, in bytes or with K, M, G or T (default 1G): frames after it are counted, not written, and the verification says it covers only the written part.", valueName: "size"))
    var captureMaxSize: String?

    @Option(name: .customLong("capture-interface"), help: ArgumentHelp("With --peer: the interface on this host to capture on.", valueName: "if"))
    var captureInterface: String?

    @Option(help: ArgumentHelp("With --capture: 'report' prints disagreements between the program and the wire; 'strict' also exits 3 on any, or when a measurement that ran could not be verified.", valueName: "report|strict"))
    var verify: String?

    static func parseSize(_ text: String, max: Int = 4 << 30) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var t = text.uppercased()
        var scale = 1
        if t.hasSuffix("IB") { t.removeLast(2) } else if t.hasSuffix("B") { t.removeLast() }
        if let u = t.last, let s = units[u] { scale = s; t.removeLast() }
        guard let n = Int(t), n > 0, n <= max / scale else { return nil }
        return n * scale
    }

    /// --capture-max-size's value: 1 MiB (a few thousand frames) to 16 TiB.
    static func maxFileBytes(_ text: String) -> UInt64? {
        guard let n = parseSize(text, max: 16 << 40), n >= 1 << 20 else { return nil }
        return UInt64(n)
    }

    func validate() throws {
        if let v = verify, VerifyMode(rawValue: v) == nil { throw ValidationError("--verify: expected 'report' or 'strict', got '\(v)'") }
        if capture == nil {
            // --verify alone checks where a threaded run's traffic landed.
            if captureBuffer != nil || captureInterface != nil || captureMaxSize != nil {
                throw ValidationError("--capture-buffer, --capture-max-size and --capture-interface need --capture FILE")
            }
            return
        }
        if let b = captureBuffer {
            guard let n = CaptureFlags.parseSize(b), n >= 1 << 16 else {
                throw ValidationError("--capture-buffer: expected a size from 64K to 4G, such as 64M, got '\(b)'")
            }
            _ = n
        }
        if let m = captureMaxSize, CaptureFlags.maxFileBytes(m) == nil {
            throw ValidationError("--capture-max-size: expected a size from 1M to 16T, such as 1G, got '\(m)'")
        }
        if let c = capture {
            let dir = URL(fileURLWithPath: c).deletingLastPathComponent().path
            guard FileManager.default.isWritableFile(atPath: dir) else {
                throw ValidationError("--capture: cannot write in '\(dir)'; choose a path in a writable directory")
            }
        }
    }

    func request(peer: Bool) throws -> CaptureRequest? {
        guard let capture else { return nil }
        if peer && captureInterface == nil {
            throw ValidationError("--capture with --peer needs --capture-interface IF: the interface on this host that carries the test traffic")
        }
        if !peer && captureInterface != nil {
            throw ValidationError("--capture-interface is for --peer runs; the built-in topology captures on its middle hop")
        }
        var c = CaptureRequest(file: capture)
        if let b = captureBuffer, let n = CaptureFlags.parseSize(b) { c.bufferBytes = n }
        if let m = captureMaxSize.flatMap(CaptureFlags.maxFileBytes) { c.maxFileBytes = m }
        c.interface = captureInterface
        c.verify = verify.flatMap(VerifyMode.init(rawValue:)) ?? .report
        return c
    }
}

enum CaptureOutput {
    /// Prints the capture's line and one verification line per path. True
    /// when --verify strict must fail the command (exit 3): a check disagreed
    /// or could not be made.
    static func finish(_ report: WirepathReport, request: RunRequest, quiet: Bool) -> Bool {
        guard let c = report.capture else { return false }
        print("")
        print(TextReport.captureLine(c), terminator: "")
        if !quiet, let s = c.summary {
            print(TextReport.wireTable(s, labels: TextReport.runLabels(report), limit: TextReport.defaultListedRuns,
                                       more: "`wirepath verify \(c.file) --all-runs` lists them"), terminator: "")
        }
        print(TextReport.verification(report), terminator: "")
        if request.capture?.verify == .strict, let why = report.strictVerificationFailure {
            Output.stderr("error: --verify strict: " + why)
            return true
        }
        return false
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Audit a saved capture (pcap or pcapng): per run and direction, packets, gaps, duplicates, reordering and damage; with --expect, check it against a saved result.",
        discussion: "Exit codes: 0 verified (or, without --expect, read); 1 the file cannot be read (not a capture, truncated, corrupt, unsupported link type or snaplen), or the result has no run ids; 3 --expect found a disagreement, or a measurement of the result that the capture could not check; 64 bad arguments.")

    @Argument(help: "The capture file.")
    var file: String

    @Option(help: ArgumentHelp("A result JSON (schema wirepath.report/1, from --json) to check the capture against.", valueName: "result.json"))
    var expect: String?

    @Option(help: "The reflector's UDP port, which tells the directions apart (default: the --expect file's, else 7000).")
    var port: UInt16?

    @Flag(name: .customLong("all-runs"), help: "List every run in the table (by default the \(TextReport.defaultListedRuns) with the most packets, and those --expect names; the JSON always holds all).")
    var allRuns = false

    @Option(help: ArgumentHelp("Write the counts per run and direction (and, with --expect, every check) as JSON (schema wirepath.verify/1) to FILE; '-' writes it to stdout instead of the text.", valueName: "file"))
    var json: String?

    func run() throws {
        var report: WirepathReport?
        if let expect {
            do {
                let data: Data
                do {
                    data = try Data(contentsOf: URL(fileURLWithPath: expect))
                } catch {
                    // A missing or unreadable file is not a malformed result: say which.
                    Output.stderr("error: --expect \(expect): cannot read it (\((error as NSError).localizedDescription)); pass a file written by --json")
                    throw ExitCode(1)
                }
                let r = try JSONDecoder().decode(WirepathReport.self, from: data)
                guard r.schema == WirepathReport.schemaID else {
                    Output.stderr("error: \(expect): schema '\(r.schema)', expected '\(WirepathReport.schemaID)'")
                    throw ExitCode(1)
                }
                report = r
            } catch let e as ExitCode {
                throw e
            } catch {
                Output.stderr("error: --expect \(expect): not a wirepath result (\(error)); pass a file written by --json")
                throw ExitCode(1)
            }
        }
        let reflectorPort = port ?? report.flatMap { Verify.port(of: $0) } ?? 7000
        let summary: WireSummary
        do {
            summary = try CaptureAudit.audit(file, reflectorPort: reflectorPort, timeoutNs: report?.settings.timeoutNs,
                                             preferredRuns: report?.runs.measurementRunIDs ?? [])
        } catch {
            Output.stderr("error: \(error)")
            throw ExitCode(1)
        }
        // With `--json -` stdout carries the JSON alone.
        let text = json != "-"
        if text {
            print("capture \(file): reflector port \(reflectorPort)")
            print(TextReport.wireTable(summary, labels: report.map(TextReport.runLabels) ?? [:],
                                       limit: allRuns ? nil : TextReport.defaultListedRuns,
                                       more: "--all-runs lists them, --json holds them all"), terminator: "")
        }
        guard var r = report else {
            try writeJSON(CaptureAuditReport(file: file, reflectorPort: reflectorPort, summary: summary))
            return
        }
        let dropped = r.capture?.ownLoss ?? 0
        Verification.verify(&r.runs, against: summary, captureDropped: dropped)
        if !r.runs.contains(where: { $0.verification != nil }) {
            Output.stderr("error: --expect \(expect ?? ""): the result has no run ids (written before captures existed?); nothing to check")
            throw ExitCode(1)
        }
        if text {
            print("")
            print(TextReport.verification(r, listUnverified: true), terminator: "")
        }
        try writeJSON(CaptureAuditReport(file: file, reflectorPort: reflectorPort, summary: summary, expect: expect, checked: r))
        let unverified = r.unverifiedMeasurements.count
        if r.verificationFindings > 0 || unverified > 0 {
            var why: [String] = []
            if r.verificationFindings > 0 { why.append("\(r.verificationFindings) disagreements between \(expect ?? "") and the capture") }
            if unverified > 0 { why.append("\(unverified) measurements of \(expect ?? "") could not be checked") }
            Output.stderr("error: " + why.joined(separator: "; "))
            throw ExitCode(3)
        }
    }

    /// Writes --json's file, or stdout for '-'.
    func writeJSON(_ audit: CaptureAuditReport) throws {
        guard let json else { return }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try enc.encode(audit) } catch {
            Output.stderr("error: --json: \(error)")
            throw ExitCode(1)
        }
        if json == "-" {
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            try Output.write(String(decoding: data, as: UTF8.self) + "\n", to: json)
        }
    }

    /// The reflector port a report's capture filtered on.
    static func port(of r: WirepathReport) -> UInt16? {
        guard let f = r.capture?.filter else { return nil }
        let words = f.split(separator: " ")
        guard let i = words.firstIndex(of: "port"), i + 1 < words.count else { return nil }
        return UInt16(words[i + 1])
    }
}
