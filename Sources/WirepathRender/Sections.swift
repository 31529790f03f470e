import Foundation
import Plot
import WirepathIO
import WirepathModel

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
}
