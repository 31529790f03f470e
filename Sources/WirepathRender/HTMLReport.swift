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
                Sections.load(report),
                Sections.throughput(report),
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

/// The report's sections, each a Plot node.
enum Sections {
    typealias Body = Node<HTML.BodyContext>

    // MARK: comparison

    static func comparison(_ report: WirepathReport) -> Body {
        let header = ["path", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "lost", "Mpps", "sys/pkt tx", "sys/pkt rx",
                      "CPU ns/pkt tx", "CPU ns/pkt rx", "sys/RTT cli", "sys/RTT refl"]
        var rows: [Node<HTML.TableContext>] = []
        for run in report.runs {
            guard run.status == .ok else {
                rows.append(.tr(.class(run.status.rawValue), .attr("data-path", run.label),
                                .td(.class("l"), .esc(run.label), .span(.class("status \(run.status.rawValue)"), .esc(run.status.rawValue))),
                                .td(.class("reason"), .attr("colspan", String(header.count - 1)), .esc(run.reason ?? "no reason given"))))
                continue
            }
            var cells = [String]()
            if let p = run.pingpong, p.latency.count > 0 {
                cells += [us(p.latency.p50Ns), us(p.latency.p99Ns), us(p.latency.p999Ns), us(p.latency.maxNs), String(p.lost)]
            } else {
                cells += Array(repeating: "-", count: 5)
            }
            if let f = run.flood {
                cells += [NumberText.fixed(f.rxPps / 1e6, 3), TextReport.perPacket(f.sender.cost), TextReport.perPacket(f.receiver?.cost),
                          TextReport.cpu(f.sender.cost), TextReport.cpu(f.receiver?.cost)]
            } else {
                cells += Array(repeating: "-", count: 5)
            }
            if let p = run.pingpong {
                cells += [TextReport.perPacket(p.client.cost), TextReport.perPacket(p.reflector?.cost)]
            } else {
                cells += ["-", "-"]
            }
            rows.append(.tr(.class("ok"), .attr("data-path", run.label),
                            .td(.class("l"), .esc(run.label)), .group(cells.map { .td(.esc($0)) })))
        }
        let notes = report.runs.filter { !$0.notes.isEmpty }
        return .section(
            .id("comparison"),
            .h2(.esc("Comparison")),
            report.runs.isEmpty ? .p(.class("hint"), .esc("No path ran.")) : .table(
                .class("comparison"),
                .thead(.tr(.th(.class("l"), .esc(header[0])), .group(header.dropFirst().map { .th(.esc($0)) }))),
                .tbody(.group(rows))
            ),
            .p(.class("hint"), .esc("Latency: closed-loop ping-pong RTT. Mpps: flood, packets/s at the receiver. sys/pkt and CPU ns/pkt: flood, per packet sent (tx) and received (rx), counted by the kernel. sys/RTT: ping-pong syscalls per round trip at the client and the reflector.")),
            spread(report),
            .if(!notes.isEmpty, .group(
                .h3(.esc("Notes")),
                .ul(.class("notes"), .group(notes.flatMap { run in run.notes.map { .li(.esc("\(run.label): \($0)")) } }))
            ))
        )
    }

    /// With `--repeat N`: each headline figure's min, median and max over
    /// the runs (the table above shows the median run).
    static func spread(_ report: WirepathReport) -> Body {
        let runs = report.runs.filter { ($0.spread?.repeats ?? 0) > 1 }
        guard !runs.isEmpty else { return .empty }
        func range(_ r: RunSpread.Range?, _ scale: Double, _ digits: Int) -> String {
            guard let r else { return "-" }
            return [r.min, r.median, r.max].map { NumberText.fixed($0 / scale, digits) }.joined(separator: " · ")
        }
        let header = ["path", "runs", "p50 µs", "p99 µs", "Mpps", "CPU ns/pkt"]
        let rows: [Node<HTML.TableContext>] = runs.map { run in
            let s = run.spread!
            return .tr(.td(.class("l"), .esc(run.label)),
                       .group([String(s.repeats), range(s.p50Ns, 1000, 2), range(s.p99Ns, 1000, 2), range(s.rxPps, 1e6, 3),
                               range(s.cpuNsPerPacket, 1, 0)].map { .td(.esc($0)) }))
        }
        return .group(
            .h3(.esc("Run-to-run spread (min · median · max)")),
            .table(.class("spread"),
                   .thead(.tr(.th(.class("l"), .esc(header[0])), .group(header.dropFirst().map { .th(.esc($0)) }))),
                   .tbody(.group(rows)))
        )
    }

    // MARK: recommendation

    static func recommendation(_ report: WirepathReport) -> Body {
        guard let verdicts = report.recommendation, !verdicts.isEmpty else { return .empty }
        let config = Recommendation.configurationLines(report)
        return .section(
            .id("recommendation"),
            .h2(.esc("Recommendation")),
            .group(verdicts.map { v in
                .div(.class("verdict"),
                     .h3(.esc(v.goal.rawValue)),
                     .p(.esc(v.summary)),
                     .if(!v.reasons.isEmpty, .ul(.class("notes"), .group(v.reasons.map { .li(.esc($0)) }))))
            }),
            .if(!config.isEmpty, .div(.class("verdict"),
                .h3(.esc("configuration")),
                .p(.esc("Part of the verdict: another configuration can change it.")),
                .ul(.class("notes"), .group(config.map { .li(.esc($0)) }))))
        )
    }

    static func us(_ ns: UInt64) -> String { NumberText.micros(ns) }

    // MARK: percentile distribution

    /// The summary's points on the percentile axis: only the percentiles the
    /// sample count resolves, then the maximum at the count.
    static func summaryPoints(_ s: LatencySummary) -> [(Double, Double)] {
        guard s.count > 0 else { return [] }
        let n = Double(s.count)
        var pts: [(Double, Double)] = [(1, Double(s.minNs) / 1000)]
        for (inv, v) in [(2.0, s.p50Ns), (10, s.p90Ns), (100, s.p99Ns), (1000, s.p999Ns), (10000, s.p9999Ns)] where inv <= n {
            pts.append((inv, Double(v) / 1000))
        }
        pts.append((max(n, pts.last!.0), Double(s.maxNs) / 1000))
        return pts
    }

    /// The ping-pong .hgrm of a run: one passed in by its label or path
    /// name, else the one the result carries.
    static func histogramText(_ histograms: [String: String], _ run: PathRun) -> String? {
        for key in [run.label, run.path.rawValue] {
            if let h = histograms[key] ?? histograms["\(key)-pingpong"] { return h }
        }
        return run.pingpong?.hgrm
    }

    static func percentiles(_ report: WirepathReport, histograms: [String: String]) -> Body {
        var series: [Series] = []
        var legend: [Node<HTML.ListContext>] = []
        var correctedShown = false
        for run in report.runs {
            let name = run.label, color = Palette.color(run)
            guard let p = run.pingpong, p.latency.count > 0 else {
                let why = run.status == .ok ? "no ping-pong data" : "\(run.status.rawValue): \(run.reason ?? "no reason given")"
                legend.append(.li(.class("missing"), .span(.class("swatch none")), .esc("\(name) — \(why)")))
                continue
            }
            var source = "summary"
            if let text = histogramText(histograms, run) {
                let rows = Hgrm.parse(text)
                if rows.count >= 2 {
                    series.append(Series(name: name, color: color, points: Hgrm.points(rows, unitNs: Hgrm.unitNs(rows, matching: p.latency))))
                    source = ".hgrm, \(rows.count) rows"
                }
            }
            if source == "summary" {
                series.append(Series(name: name, color: color, points: summaryPoints(p.latency), markers: true))
            }
            legend.append(.li(.attr("data-path", name), .span(.class("swatch"), .attr("style", "border-color:\(color)")),
                              .esc("\(name) (\(p.latency.count) samples, \(source))")))
            // The closed loop hides stalls by pausing; where correcting for
            // that moves the tail, draw the corrected curve too.
            if let c = p.latencyCorrected, c.count > 0, c.p999Ns > p.latency.p999Ns + p.latency.p999Ns / 10 || c.maxNs > p.latency.maxNs {
                series.append(Series(name: "\(name) corrected", color: color, points: summaryPoints(c), dashed: true))
                legend.append(.li(.span(.class("swatch dashed"), .attr("style", "border-color:\(color)")),
                                  .esc("\(name) corrected for coordinated omission")))
                correctedShown = true
            }
        }
        let details: [Node<HTML.TableContext>] = report.runs.compactMap { run in
            guard let p = run.pingpong else { return nil }
            let l = p.latency
            let c = p.latencyCorrected
            return .tr(.td(.class("l"), .esc(run.label)),
                       .group([String(l.count), String(p.lost), String(p.duplicated), String(p.reordered), us(l.minNs), us(l.p50Ns), us(l.p90Ns), us(l.p99Ns),
                               us(l.p999Ns), us(l.p9999Ns), us(l.maxNs), NumberText.fixed(l.meanNs / 1000, 2),
                               c.map { us($0.p99Ns) } ?? "-", c.map { us($0.p999Ns) } ?? "-", c.map { us($0.maxNs) } ?? "-"].map { .td(.esc($0)) }))
        }
        let header = ["path", "samples", "lost", "dup", "reord", "min µs", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "p99.99 µs",
                      "max µs", "mean µs", "corr. p99 µs", "corr. p99.9 µs", "corr. max µs"]
        return .section(
            .id("percentiles"),
            .h2(.esc("Round-trip latency by percentile")),
            .element(named: "figure", nodes: [
                PercentileChart.svg(id: "percentiles", title: "RTT percentile distribution per path (µs)", series: series),
                .ul(.class("legend"), .group(legend)),
            ]),
            .p(.class("hint"), .esc("Closed-loop ping-pong. The x axis is 1/(1-percentile) on a log scale, as HdrHistogram plots it; points without an .hgrm file are the summary's min, p50, p90, p99, p99.9, p99.99 (where the sample count resolves them) and max." + (correctedShown ? " Dashed: the same samples corrected for coordinated omission (HdrHistogram's corrected recording, expected interval the median RTT)." : ""))),
            .if(!details.isEmpty, .table(
                .class("pingpong"),
                .thead(.tr(.th(.class("l"), .esc(header[0])), .group(header.dropFirst().map { .th(.esc($0)) }))),
                .tbody(.group(details))
            ))
        )
    }

    // MARK: latency against load

    static func load(_ report: WirepathReport) -> Body {
        let runs = report.runs.filter { !$0.openLoop.isEmpty }
        guard !runs.isEmpty else {
            return .section(.id("load"), .h2(.esc("Latency under load")),
                            .p(.class("hint"), .esc("No open-loop runs in this report (run compare --load 10%,50%,90%, or pingpong --rate).")))
        }
        // Load as % of capacity when every run has it, else the offered rate.
        let byFraction = runs.allSatisfy { $0.openLoop.allSatisfy { $0.loadFraction != nil } }
        func x(_ o: OpenLoopResult) -> Double { byFraction ? (o.loadFraction ?? 0) * 100 : o.targetPps / 1000 }
        let xTitle = byFraction ? "load (% of the path's flood capacity)" : "offered rate (kpps)"
        let xMax = max(byFraction ? 100 : 0, runs.flatMap { $0.openLoop.map(x) }.max() ?? 1)
        // One y scale for all paths, so the small charts compare.
        let yMax = runs.flatMap { $0.openLoop.map { Double($0.latency.p99Ns) / 1000 } }.max() ?? 1
        var figures: [Body] = []
        var rows: [Node<HTML.TableContext>] = []
        for run in runs {
            let name = run.label, color = Palette.color(run)
            let sorted = run.openLoop.filter { $0.latency.count > 0 }.sorted { x($0) < x($1) }
            let series = [
                Series(name: "p50", color: color, points: sorted.map { (x($0), Double($0.latency.p50Ns) / 1000) }),
                Series(name: "p99", color: color, points: sorted.map { (x($0), Double($0.latency.p99Ns) / 1000) }, dashed: true),
            ]
            figures.append(.element(named: "figure", nodes: [
                Body.class("small"),
                .element(named: "figcaption", nodes: [Body.esc(name)]),
                LoadChart.svg(id: "load-\(name)", title: "\(name): latency against load", xTitle: xTitle, xMax: xMax, yMax: yMax, series: series),
                .ul(.class("legend"),
                    .li(.span(.class("swatch"), .attr("style", "border-color:\(color)")), .esc("p50")),
                    .li(.span(.class("swatch dashed"), .attr("style", "border-color:\(color)")), .esc("p99")),
                    .if(sorted.count < run.openLoop.count, .li(.class("missing"), .esc("\(run.openLoop.count - sorted.count) load(s) with no replies")))),
            ]))
            for o in run.openLoop {
                rows.append(.tr(.td(.class("l"), .esc(name)),
                                .group([o.loadFraction.map { NumberText.fixed($0 * 100, 0) + "%" } ?? "-", NumberText.fixed(o.targetPps / 1e6, 3),
                                        NumberText.fixed(o.achievedPps / 1e6, 3), us(o.latency.p50Ns), us(o.latency.p90Ns), us(o.latency.p99Ns),
                                        us(o.latency.p999Ns), us(o.latency.maxNs), String(o.lost), us(o.maxSendLagNs)].map { .td(.esc($0)) })))
            }
        }
        let missing = report.runs.filter { $0.openLoop.isEmpty }.map(\.label)
        let header = ["path", "load", "target Mpps", "sent Mpps", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "lost", "max send lag µs"]
        return .section(
            .id("load"),
            .h2(.esc("Latency under load")),
            .div(.class("small-multiples"), .group(figures)),
            .p(.class("hint"), .esc("Open loop: requests leave on a fixed schedule and latency is measured from each request's due time, so stalls are not hidden (coordinated omission corrected)." + (missing.isEmpty ? "" : " No open-loop data: \(missing.joined(separator: ", "))."))),
            .table(.class("load"),
                   .thead(.tr(.th(.class("l"), .esc(header[0])), .group(header.dropFirst().map { .th(.esc($0)) }))),
                   .tbody(.group(rows)))
        )
    }

    // MARK: throughput and cost

    static func throughput(_ report: WirepathReport) -> Body {
        func row(_ run: PathRun, _ values: (FloodResult) -> [Double?]) -> BarChart.Row {
            let name = run.label, color = Palette.color(run)
            guard run.status == .ok else { return BarChart.Row(label: name, color: color, values: [], note: run.status.rawValue) }
            guard let f = run.flood else { return BarChart.Row(label: name, color: color, values: [], note: "no flood run") }
            return BarChart.Row(label: name, color: color, values: values(f))
        }
        let mpps = report.runs.map { row($0) { [$0.rxPps / 1e6, $0.txPps / 1e6] } }
        let sys = report.runs.map { row($0) { [$0.sender.cost?.syscallsPerPacket, $0.receiver?.cost?.syscallsPerPacket] } }
        let cpu = report.runs.map { row($0) { [$0.sender.cost?.cpuNsPerPacket, $0.receiver?.cost?.cpuNsPerPacket] } }
        return .section(
            .id("throughput"),
            .h2(.esc("Throughput and cost per packet (flood)")),
            .element(named: "figure", nodes: [
                .element(named: "figcaption", nodes: [Body.esc("Packets per second (millions): rx at the receiver, tx at the sender")]),
                BarChart.svg(id: "mpps", title: "Mpps per path", unit: "Mpps", series: ["rx", "tx"], rows: mpps, digits: 3),
            ]),
            .element(named: "figure", nodes: [
                .element(named: "figcaption", nodes: [Body.esc("Syscalls per packet, counted by the kernel: tx at the sender, rx at the receiver")]),
                BarChart.svg(id: "syscalls", title: "Syscalls per packet per path", unit: "syscalls per packet", series: ["tx", "rx"], rows: sys, digits: 3),
            ]),
            .element(named: "figure", nodes: [
                .element(named: "figcaption", nodes: [Body.esc("CPU ns per packet (user + system, getrusage per thread)")]),
                BarChart.svg(id: "cpu", title: "CPU ns per packet per path", unit: "CPU ns per packet", series: ["tx", "rx"], rows: cpu, digits: 0),
            ])
        )
    }

    // MARK: verification

    /// Rendered from the JSON form: a run's `verification` (and the report's
    /// `capture`) appear only when the build and the run have them.
    static func verification(_ report: WirepathReport) -> Body {
        let top = Fields.json(report)
        let capture = top["capture"].flatMap { $0 is NSNull ? nil : $0 }
        var parts: [Body] = []
        for run in report.runs {
            guard let v = Fields.json(run)["verification"], !(v is NSNull) else { continue }
            parts.append(.h3(.esc(run.label)))
            parts.append(verificationBody(v))
        }
        guard capture != nil || !parts.isEmpty else { return .empty }
        return .section(
            .id("verification"),
            .h2(.esc("Verification against the wire")),
            .if(capture != nil, .group(.h3(.esc("Capture")), keyValue(Fields.flatten(capture ?? [:])))),
            .group(parts)
        )
    }

    static func verificationBody(_ v: Any) -> Body {
        guard let d = v as? [String: Any], let runs = d["runs"] as? [[String: Any]] else {
            return keyValue(Fields.flatten(v))
        }
        return .group(runs.map { r in
            var title = Fields.scalar(r["measurement"] ?? "run")
            if let id = r["runID"] { title += " · run id \(Fields.scalar(id))" }
            let checks = r["checks"] as? [[String: Any]] ?? []
            let preferred = ["name", "program", "wire", "status", "message"]
            let keys = preferred.filter { k in checks.contains { $0[k] != nil } }
                + Set(checks.flatMap(\.keys)).subtracting(preferred).sorted()
            let rows: [Node<HTML.TableContext>] = checks.map { c in
                .tr(.group(keys.map { k in
                    let text = c[k].map { Fields.line($0) } ?? "-"
                    let cls = k == "status" ? "l \(text)" : (k == "program" || k == "wire" ? "" : "l")
                    return .td(.class(cls), .esc(text))
                }))
            }
            let notes = (r["notes"] as? [Any] ?? []).map(Fields.scalar)
            let rest = r.filter { !["measurement", "runID", "checks", "notes"].contains($0.key) }
            return .group(
                .h4(.esc(title)),
                .if(!checks.isEmpty, .table(.class("verification"),
                                            .thead(.tr(.group(keys.map { .th(.class(k($0)), .esc($0)) }))),
                                            .tbody(.group(rows)))),
                .if(!notes.isEmpty, .ul(.class("notes"), .group(notes.map { .li(.esc($0)) }))),
                .if(!rest.isEmpty, .element(named: "details", nodes: [
                    Body.element(named: "summary", nodes: [Body.esc("wire counts and RTTs")]), keyValue(Fields.flatten(rest)),
                ]))
            )
        })
    }

    private static func k(_ key: String) -> String { key == "program" || key == "wire" ? "" : "l" }

    static func keyValue(_ pairs: [(String, String)]) -> Body {
        .table(.class("kv"), .tbody(.group(pairs.map { .tr(.td(.esc($0.0)), .td(.esc($0.1))) })))
    }

    // MARK: environment

    static func environment(_ report: WirepathReport) -> Body {
        let e = report.environment, s = report.settings
        func secs(_ ns: UInt64?) -> String { ns.map { NumberText.fixed(Double($0) / 1e9, 3) + " s" } ?? "-" }
        let host: [(String, String)] = [
            ("command", report.command), ("started", report.startedAt), ("kernel", e.kernel),
            ("CPU", "\(e.cpuModel) (\(e.cpus) CPUs)"), ("wirepath", e.wirepathVersion), ("syscall counter", e.syscallCounter),
        ]
        let settings: [(String, String)] = [
            ("measurements", s.measurements.joined(separator: ", ")), ("duration", secs(s.durationNs)),
            ("count", s.count.map(String.init) ?? "-"), ("warm-up", secs(s.warmupNs)), ("lost-packet timeout", secs(s.timeoutNs)),
            ("payload size", "\(s.payloadSize) B"), ("batch", String(s.batchSize)), ("wait", s.wait.rawValue),
            ("busy poll", s.busyPollMicros.map { "\($0) µs" } ?? "off"),
        ]
        let options: [Node<HTML.TableContext>] = report.runs.map { run in
            .tr(.td(.class("l"), .esc(run.label)), .td(.class("l"), .esc(run.status.rawValue)),
                .td(.class("l"), .esc(Fields.line(Fields.json(run.options)))))
        }
        return .section(
            .id("environment"),
            .h2(.esc("Environment")),
            .h3(.esc("Host")), keyValue(host),
            .h3(.esc("Topology")), keyValue(Fields.flatten(Fields.json(e.topology))),
            .h3(.esc("Settings")), keyValue(settings),
            .if(!report.runs.isEmpty, .group(
                .h3(.esc("Per path")),
                .table(.class("options"),
                       .thead(.tr(.th(.class("l"), .esc("path")), .th(.class("l"), .esc("status")), .th(.class("l"), .esc("options")))),
                       .tbody(.group(options)))
            ))
        )
    }
}
