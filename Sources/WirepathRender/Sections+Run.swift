import Foundation
import Plot
import WirepathIO
import WirepathModel

// The throughput, cost, verification and environment sections.
extension Sections {
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
