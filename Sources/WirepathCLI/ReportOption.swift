import ArgumentParser
import Foundation
import WirepathIO
import WirepathModel
import WirepathRender

/// `--report DIR` for every measuring command: the HTML report and the
/// .hgrm files beside it.
struct ReportOption: ParsableArguments {
    @Option(help: ArgumentHelp("Write a self-contained HTML report (tables and SVG charts, no network fetches) to DIR/index.html, with the .hgrm files beside it.", valueName: "DIR"))
    var report: String?

    /// Makes the directory before the run, so that a bad --report fails in
    /// a second rather than after the measurements.
    func prepare() throws {
        guard let dir = report else { return }
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw ValidationError("--report \(dir): cannot create the directory: \(error.localizedDescription)")
        }
    }

    /// Writes the report of a finished run (for `Output.execute`'s `then`).
    func write(_ result: WirepathReport, quiet: Bool) throws {
        guard let dir = report else { return }
        let file: String
        do { file = try HTMLReport.write(result, to: dir) } catch {
            Output.stderr("error: \(error)")
            throw ExitCode(1)
        }
        let hgrm = Hgrm.files(result)
        for f in hgrm { try Output.write(f.text, to: dir + "/" + f.name) }
        if !quiet { Output.stderr("wrote \(file) and \(hgrm.count) .hgrm files beside it") }
    }
}
