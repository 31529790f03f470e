import WirepathIO
import WirepathModel

/// Human-readable rendering of results: aligned tables, units chosen for
/// people. Its numbers go through the model's `NumberText`, as the labels
/// the model writes into its values do, so a figure reads the same in both.
public enum TextReport {
    /// Renders rows as an aligned table; the first row is the header.
    public static func table(_ rows: [[String]], rightAlignFrom: Int = 1) -> String {
        guard let first = rows.first else { return "" }
        var widths = [Int](repeating: 0, count: first.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for (r, row) in rows.enumerated() {
            var line = ""
            for (i, cell) in row.enumerated() where i < widths.count {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                line += (i >= rightAlignFrom ? pad + cell : cell + pad)
                if i < row.count - 1 { line += "  " }
            }
            out += line.trailingSpaces() + "\n"
            if r == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        return out
    }

    /// Syscalls per packet (or per round trip) for a table cell, here and in
    /// the HTML report: three decimals below 0.1, where batching shows.
    static func perPacket(_ c: PerPacketCost?) -> String {
        guard let c, let s = c.syscallsPerPacket else { return "n/a" }
        return NumberText.fixed(s, s < 0.1 ? 3 : 2)
    }

    /// CPU ns per packet for a table cell, here and in the HTML report.
    static func cpu(_ c: PerPacketCost?) -> String {
        guard let c else { return "n/a" }
        return NumberText.fixed(c.cpuNsPerPacket, 0)
    }

    /// "topology: veth-bridge wirepath-1-cli <-> ... veth-napi=false cpus
    /// client=0 reflector=1; Linux ...": printed with every table, --quiet
    /// included, because a figure means nothing without the topology it was
    /// measured on (a captured run adds a bridge hop).
    public static func topologyLine(_ report: WirepathReport) -> String {
        let t = report.environment.topology
        return "topology: \(t.kind) \(t.namespaces.joined(separator: " <-> ")) veth-napi=\(t.vethNAPI)\(t.threadedNAPI == true ? " threaded-napi=true" : "") cpus client=\(t.clientCPU.map(String.init) ?? "-") reflector=\(t.reflectorCPU.map(String.init) ?? "-"); \(report.environment.kernel)\n"
    }

    /// The headline comparison table: one row per path.
    public static func comparison(_ report: WirepathReport) -> String {
        var rows: [[String]] = [[
            "path", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "lost", "Mpps", "sys/pkt tx", "sys/pkt rx",
            "CPU ns/pkt tx", "CPU ns/pkt rx", "sys/RTT cli", "sys/RTT refl",
        ]]
        var unavailable: [String] = []
        for run in report.runs {
            guard run.status == .ok else {
                rows.append([pathCell(run)] + [String](repeating: "-", count: 12))
                unavailable.append("\(run.path): \(run.status.rawValue): \(run.reason ?? "no reason given")")
                continue
            }
            var row = [pathCell(run)]
            if let p = run.pingpong, p.latency.count > 0 {
                row += [NumberText.micros(p.latency.p50Ns), NumberText.micros(p.latency.p99Ns), NumberText.micros(p.latency.p999Ns), NumberText.micros(p.latency.maxNs), String(p.lost)]
            } else {
                row += ["-", "-", "-", "-", "-"]
            }
            if let f = run.flood {
                row += [NumberText.fixed(f.rxPps / 1e6, 3), perPacket(f.sender.cost), perPacket(f.receiver?.cost),
                        cpu(f.sender.cost), cpu(f.receiver?.cost)]
            } else {
                row += ["-", "-", "-", "-", "-"]
            }
            if let p = run.pingpong {
                row += [perPacket(p.client.cost), perPacket(p.reflector?.cost)]
            } else {
                row += ["-", "-"]
            }
            rows.append(row)
        }
        var out = table(rows)
        for u in unavailable { out += "  \(u)\n" }
        // A kernel thread's CPU is in the CPU columns; say how much of it, next
        // to syscall figures it makes small.
        for run in report.runs where run.status == .ok {
            var parts: [String] = []
            if let f = run.flood {
                if let k = kernelThread(f.sender.cost) { parts.append("flood tx \(perPacket(f.sender.cost)) sys/pkt + \(k)") }
                if let k = kernelThread(f.receiver?.cost) { parts.append("flood rx \(perPacket(f.receiver?.cost)) sys/pkt + \(k)") }
            }
            if let p = run.pingpong {
                if let k = kernelThread(p.client.cost) { parts.append("pingpong cli \(perPacket(p.client.cost)) sys/RTT + \(k)") }
                if let k = kernelThread(p.reflector?.cost) { parts.append("pingpong refl \(perPacket(p.reflector?.cost)) sys/RTT + \(k)") }
            }
            if !parts.isEmpty { out += "  \(run.path): " + parts.joined(separator: "; ") + " (in the CPU columns)\n" }
        }
        return out
    }

    /// Run-to-run spread (min / median / max) when a path ran more than once.
    public static func spreadTable(_ report: WirepathReport) -> String {
        let rows: [[String]] = report.runs.compactMap { run in
            guard let s = run.spread, s.repeats > 1 else { return nil }
            func r(_ x: RunSpread.Range?, _ scale: Double, _ d: Int) -> String {
                x.map { "\(NumberText.fixed($0.min / scale, d)) / \(NumberText.fixed($0.median / scale, d)) / \(NumberText.fixed($0.max / scale, d))" } ?? "-"
            }
            return [run.label, String(s.repeats), r(s.p50Ns, 1000, 2), r(s.p99Ns, 1000, 2), r(s.rxPps, 1e6, 3), r(s.cpuNsPerPacket, 1, 0)]
        }
        guard !rows.isEmpty else { return "" }
        return "run-to-run spread (min / median / max):\n"
            + table([["path", "runs", "p50 µs", "p99 µs", "Mpps", "CPU ns/pkt (flood, both ends)"]] + rows)
    }

    /// Latency against load: one row per path and load (open loop, corrected).
    public static func loadTable(_ report: WirepathReport) -> String {
        let rows = report.runs.flatMap { run in
            run.openLoop.map { o in
                [run.label, o.loadFraction.map { NumberText.fixed($0 * 100, 0) + "%" } ?? "-", NumberText.fixed(o.targetPps / 1e6, 3),
                 NumberText.micros(o.latency.p50Ns), NumberText.micros(o.latency.p90Ns), NumberText.micros(o.latency.p99Ns), NumberText.micros(o.latency.p999Ns),
                 NumberText.micros(o.latency.maxNs), String(o.lost)]
            }
        }
        guard !rows.isEmpty else { return "" }
        return "latency under load (open loop, from each request's due time):\n"
            + table([["path", "load", "Mpps", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "lost"]] + rows)
    }

    /// "sqpoll thread X ns/pkt" for an end with a kernel thread, else nil.
    static func kernelThread(_ c: PerPacketCost?) -> String? {
        guard let c, let k = c.kernelThreadNsPerPacket else { return nil }
        return "sqpoll thread \(NumberText.fixed(k, 0)) ns/pkt"
    }
}

extension String {
    func trailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
