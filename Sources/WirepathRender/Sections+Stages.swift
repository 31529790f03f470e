import Foundation
import Plot
import WirepathIO
import WirepathModel

extension Sections {
    /// Colours of the stages, in their order: the client's in blues, the
    /// wire grey, the reflector's in oranges, the client's wake-up dark blue.
    static let stageColors = ["#9ecae1", "#6baed6", "#bdbdbd", "#fd8d3c", "#fdae6b", "#fdd0a2", "#e6550d", "#2171b5"]

    /// `--stages`: one stacked bar per path, each stage's p50 as a segment
    /// on one µs scale, the RTT p50 marked; nothing when no run has stages.
    static func stages(_ report: WirepathReport) -> Body {
        let runs = report.runs.filter { $0.pingpong?.stages != nil }
        guard !runs.isEmpty else { return .empty }
        let left = 120.0, right = 700.0, rowHeight = 26.0, top = 10.0
        let maxNs = runs.map { run -> Double in
            let s = run.pingpong!.stages!
            return Double(max(s.rttP50Ns, s.sumP50Ns))
        }.max() ?? 1
        func px(_ ns: Double) -> Double { left + ns / max(maxNs, 1) * (right - left) }
        var nodes: [SVGNode] = []
        for (k, run) in runs.enumerated() {
            let s = run.pingpong!.stages!
            let y = top + Double(k) * rowHeight
            nodes.append(SVG.text(run.label, x: left - 8, y: y + 15, anchor: "end"))
            var at = 0.0
            for (i, row) in s.rows.enumerated() {
                guard let p = row.latency?.p50Ns, p > 0 else { continue }
                let w = Double(p)
                nodes.append(SVG.el("rect", [("x", SVG.num(px(at))), ("y", SVG.num(y)), ("width", SVG.num(px(at + w) - px(at))),
                                             ("height", SVG.num(rowHeight - 6)), ("fill", stageColors[i % stageColors.count]),
                                             ("data-stage", row.stage.rawValue)],
                                    [SVG.el("title", [], [.esc("\(row.stage.title): p50 \(us(p)) µs (\(NumberText.fixed(s.share(row) * 100, 0))% of the RTT p50)")])]))
                at += w
            }
            let x = px(Double(s.rttP50Ns))
            nodes.append(SVG.line(x, y - 2, x, y + rowHeight - 4, cls: "rtt"))
        }
        let height = top + Double(runs.count) * rowHeight + 10
        let legend = Stage.allCases.enumerated().map { i, stage in
            Node<HTML.ListContext>.li(.span(.class("swatch"), .attr("style", "background:\(stageColors[i]);border-color:\(stageColors[i])")), .esc(stage.title))
        }
        return .section(
            .id("stages"),
            .h2(.esc("Where the round trip goes (--stages)")),
            SVG.root(id: "stages", title: "stage p50s per path, stacked; the line marks the RTT p50", width: 720, height: height, nodes),
            .ul(.class("legend"), .group(legend)),
            .p(.class("hint"), .esc("Each bar stacks the stages' p50s; the vertical line is the RTT p50. The sum of p50s is not the p50 of the sum: the text report states the residual and its tolerance. See docs/stages.md."))
        )
    }
}
