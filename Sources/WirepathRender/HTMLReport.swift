import Foundation
import Plot
import WirepathIO
import WirepathModel

/// The report `--report DIR` writes: one self-contained `index.html` that
/// opens offline. Its CSS is inline, its charts are inline SVG, it has no
/// script, and a Content-Security-Policy (`default-src 'none'`) makes the
/// browser refuse any fetch that should ever slip in.
public enum HTMLReport {
    public static let fileName = "index.html"

    public struct WriteError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Writes `directory/index.html`, creating the directory, and returns
    /// the file's path.
    ///
    /// - Parameter histograms: HdrHistogram percentile-distribution text
    ///   (`.hgrm`) by path name (`"socket"`, or `"socket-pingpong"`); a path
    ///   with one gets its full curve in the percentile plot instead of the
    ///   seven points of its summary.
    @discardableResult
    public static func write(_ report: WirepathReport, histograms: [String: String] = [:], to directory: String) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw WriteError(description: "cannot create report directory \(directory): \(error.localizedDescription); give --report a directory you can write")
        }
        let path = URL(fileURLWithPath: directory).appendingPathComponent(fileName).path
        do {
            try Data(render(report, histograms: histograms).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw WriteError(description: "cannot write \(path): \(error.localizedDescription)")
        }
        return path
    }

    /// The document as a string.
    public static func render(_ report: WirepathReport, histograms: [String: String] = [:]) -> String {
        let title = "Wirepath \(report.command) — \(report.startedAt)"
        let html = HTML(
            .lang(.english),
            .head(
                .meta(.charset(.utf8)),
                .selfClosedElement(named: "meta", attributes: [
                    Attribute<HTML.HeadContext>(name: "http-equiv", value: "Content-Security-Policy"),
                    Attribute<HTML.HeadContext>(name: "content", value: contentSecurityPolicy),
                ]),
                .meta(.name("viewport"), .content("width=device-width, initial-scale=1")),
                .element(named: "title", nodes: [.esc(title)]),
                .style(css)
            ),
            .body(
                .header(
                    .h1(.esc("Wirepath report")),
                    .p(.class("meta"), .esc("\(report.command) · started \(report.startedAt) · \(report.environment.kernel) · schema \(report.schema)"))
                ),
                Sections.comparison(report),
                Sections.recommendation(report),
                Sections.percentiles(report, histograms: histograms),
                Sections.stages(report),
                Sections.load(report),
                Sections.throughput(report),
                Sections.scaling(report),
                Sections.verification(report),
                Sections.environment(report),
                .footer(.esc("Written by wirepath \(report.environment.wirepathVersion). Self-contained: no scripts, no fetches."))
            )
        )
        return html.render()
    }

    /// No fetch of any kind; inline styles only.
    static let contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'"

    static let css = """
    :root{--fg:#1d2329;--muted:#5f6b73;--line:#d5dadf;--bg:#fff;--head:#f3f5f7;--bad:#b3261e;--ok:#1e7b34;--warn:#9a6700}
    *{box-sizing:border-box}
    body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;padding:16px 24px 40px;max-width:1200px}
    h1{font-size:22px;margin:8px 0 2px}h2{font-size:18px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
    h3{font-size:15px;margin:18px 0 6px}h4{font-size:14px;margin:12px 0 4px}
    p.meta,p.hint,footer{color:var(--muted)}footer{margin-top:32px;font-size:12px}
    table{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}
    th,td{border:1px solid var(--line);padding:3px 8px;text-align:right;vertical-align:top}
    th{background:var(--head);font-weight:600}td.l,th.l{text-align:left}
    table.kv td:first-child{text-align:left;color:var(--muted);white-space:nowrap}table.kv td{text-align:left}
    tr.unavailable td,tr.failed td{color:var(--muted)}td.reason{text-align:left;font-style:italic}
    .status{display:inline-block;font-size:11px;padding:0 5px;border-radius:3px;margin-left:6px;font-style:normal;color:#fff;background:var(--muted)}
    .status.failed,.disagree{background:var(--bad)}.status.unavailable{background:var(--warn)}
    td.agree{color:var(--ok)}td.disagree{color:#fff}td.unverifiable{color:var(--warn)}
    figure{margin:8px 0 16px}figure.small{display:inline-block;margin-right:12px;vertical-align:top}
    figcaption{font-weight:600;margin-bottom:4px}
    svg.chart{max-width:100%;height:auto;display:block;font-size:12px}
    svg .grid{stroke:#e6e9ec;stroke-width:1}svg .axis{stroke:#8a949c}svg .frame{fill:none;stroke:#8a949c}
    svg .tick{fill:var(--muted);font-size:11px}svg .axis-title{fill:var(--fg);font-size:12px}
    svg .label{fill:var(--fg);font-size:12px;font-weight:600}svg .value{fill:var(--fg);font-size:11px}svg .note{fill:var(--muted);font-size:11px;font-style:italic}
    svg .series{stroke-width:2;stroke-linejoin:round}
    ul.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px}
    ul.legend li.missing{color:var(--muted);font-style:italic}
    .swatch{display:inline-block;width:22px;height:0;border-top:3px solid;vertical-align:middle;margin-right:6px}
    .swatch.dashed{border-top-style:dashed}.swatch.none{border-top-color:transparent}
    ul.notes{margin:4px 0;padding-left:20px;color:var(--muted)}
    details{margin:6px 0}summary{cursor:pointer;color:var(--muted)}
    """
}
