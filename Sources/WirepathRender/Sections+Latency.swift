import Foundation
import Plot
import WirepathIO
import WirepathModel

// The latency sections: the percentile distribution of each path, and
// latency against load.
extension Sections {
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
}
