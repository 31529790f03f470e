import Foundation
import Plot
import WirepathIO
import WirepathModel

// `compare --threads 1,2`: the scaling table and its chart.
extension Sections {
    static func scaling(_ report: WirepathReport) -> Body {
        guard let rows = report.scaling, !rows.isEmpty else { return .empty }
        let bars = rows.map { r in
            BarChart.Row(label: "\(r.path.rawValue) ×\(r.threads)", color: Palette.color(r.path.rawValue, variant: r.threads > 1),
                         values: [r.aggregatePps / 1e6, r.ppsPerCore / 1e6])
        }
        let header = ["path", "threads", "Mpps", "Gbit/s frames", "Mpps per core", "efficiency", "p50 µs"]
        let body: [Node<HTML.TableContext>] = rows.map { r in
            .tr(.td(.class("l"), .esc(r.path.rawValue)), .td(.esc("\(r.threads)")),
                .td(.esc(NumberText.fixed(r.aggregatePps / 1e6, 3))), .td(.esc(NumberText.fixed(r.aggregateBps / 1e9, 3))),
                .td(.esc(NumberText.fixed(r.ppsPerCore / 1e6, 3))),
                .td(.esc(r.efficiency.map { NumberText.fixed($0, 2) + (r.contended && r.threads > 1 ? " (contended)" : "") } ?? "-")),
                .td(.esc(r.p50Ns.map(NumberText.micros) ?? "-")))
        }
        let contended = rows.contains { $0.contended }
        return .section(
            .id("scaling"),
            .h2(.esc("Scaling with threads (flood)")),
            .element(named: "figure", nodes: [
                .element(named: "figcaption", nodes: [Body.esc("Packets per second (millions) per path and thread count: the aggregate at the receiver, and per core (aggregate over threads per end)")]),
                BarChart.svg(id: "scaling-chart", title: "Mpps per path and thread count", unit: "Mpps", series: ["aggregate", "per core"], rows: bars, digits: 3),
            ]),
            .table(.class("scaling"),
                   .thead(.tr(.th(.class("l"), .esc(header[0])), .group(header.dropFirst().map { .th(.esc($0)) }))),
                   .tbody(.group(body))),
            .p(.class("hint"), .esc("Efficiency: the rate at N threads over N × the rate at 1." + (contended ? " Contended: client and reflector threads shared CPUs, so efficiency below 1 is partly the host's, not only the path's." : "")))
        )
    }
}
