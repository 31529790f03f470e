/// Run-to-run spread of one path's headline figures over `--repeat` runs.
public struct RunSpread: Codable, Sendable, Equatable {
    public struct Range: Codable, Sendable, Equatable {
        public var min: Double
        public var median: Double
        public var max: Double
        public var width: Double { max - min }

        public init?(_ xs: [Double]) {
            guard !xs.isEmpty else { return nil }
            let s = xs.sorted()
            min = s.first!
            max = s.last!
            median = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
    }

    public var repeats: Int
    public var p50Ns: Range?
    public var p99Ns: Range?
    public var rxPps: Range?
    public var cpuNsPerPacket: Range?
    /// The p99 the latency verdict ranks by under load (the load nearest 50%).
    public var loadP99Ns: Range?

    /// Summarises repeated runs of one path (only the runs that succeeded).
    public init(_ runs: [PathRun]) {
        let ok = runs.filter { $0.status == .ok }
        repeats = ok.count
        p50Ns = Range(ok.compactMap { $0.pingpong.map { Double($0.latency.p50Ns) } })
        p99Ns = Range(ok.compactMap { $0.pingpong.map { Double($0.latency.p99Ns) } })
        rxPps = Range(ok.compactMap { $0.flood.map(\.rxPps) })
        cpuNsPerPacket = Range(ok.compactMap { Recommendation.floodCPU($0) })
        loadP99Ns = Range(ok.compactMap { run in run.openLoop.isEmpty ? nil : Recommendation.latency(run)?.ns })
    }

    /// The run whose headline figure is the median: it stands for the path in
    /// the tables, so no figure there is cherry-picked from the best run.
    public static func representative(_ runs: [PathRun]) -> Int {
        let ok = runs.indices.filter { runs[$0].status == .ok }
        guard !ok.isEmpty else { return 0 }
        let key: (Int) -> Double = { i in
            if let p = runs[i].pingpong { return Double(p.latency.p50Ns) }
            return -(runs[i].flood?.rxPps ?? 0)
        }
        let sorted = ok.sorted { key($0) < key($1) }
        return sorted[(sorted.count - 1) / 2]
    }
}

/// Which path to pick for a goal, with the reasons in numbers.
public enum Goal: String, CaseIterable, Codable, Sendable {
    /// Lowest tail latency (p99; at 50% load when `--load` ran).
    case latency
    /// Most packets per second received in the flood.
    case throughput
    /// Least CPU per packet, both ends of the flood together.
    case efficiency
}

public struct Verdict: Codable, Sendable, Equatable {
    public var goal: Goal
    /// nil when no path produced the figure, or when the best two are within
    /// the run-to-run spread (`tie` then names them).
    public var pick: PathKind?
    public var tie: [PathKind]
    public var summary: String
    public var reasons: [String]
}

public enum Recommendation {
    static func floodCPU(_ run: PathRun) -> Double? {
        guard let f = run.flood, let s = f.sender.cost?.cpuNsPerPacket else { return nil }
        return s + (f.receiver?.cost?.cpuNsPerPacket ?? 0)
    }

    /// The latency figure a goal ranks by: p99 at the load nearest 50% when
    /// open-loop runs exist (latency under load is what a service sees), else
    /// the closed-loop p99.
    static func latency(_ run: PathRun) -> (ns: Double, label: String)? {
        if let o = run.openLoop.filter({ $0.loadFraction != nil }).min(by: { abs($0.loadFraction! - 0.5) < abs($1.loadFraction! - 0.5) }) {
            return (Double(o.latency.p99Ns), "p99 at \(TextReport.fmt(o.loadFraction! * 100, 0))% load")
        }
        return run.pingpong.map { (Double($0.latency.p99Ns), "p99 closed loop") }
    }

    static func us(_ ns: Double) -> String { TextReport.fmt(ns / 1000, 1) + " µs" }

    public static func make(_ report: WirepathReport, spreads: [PathKind: RunSpread] = [:]) -> [Verdict] {
        Goal.allCases.map { verdict(report, goal: $0, spreads: spreads) }
    }

    public static func verdict(_ report: WirepathReport, goal: Goal, spreads: [PathKind: RunSpread] = [:]) -> Verdict {
        let ok = report.runs.filter { $0.status == .ok }
        let excluded = report.runs.filter { $0.status != .ok }.map { "\($0.path) excluded: \($0.reason ?? $0.status.rawValue)" }
        // (path, value, label, spread width); lower is better except throughput.
        var scored: [(PathKind, Double, String, Double?, String)] = []
        for run in ok {
            let spread = run.variant == nil ? spreads[run.path] : run.spread
            switch goal {
            case .latency:
                if let (v, label) = latency(run) {
                    scored.append((run.path, v, label, run.openLoop.isEmpty ? spread?.p99Ns?.width : spread?.loadP99Ns?.width, run.label))
                }
            case .throughput:
                if let f = run.flood { scored.append((run.path, f.rxPps, "rx", spread?.rxPps?.width, run.label)) }
            case .efficiency:
                if let c = floodCPU(run) { scored.append((run.path, c, "CPU/pkt", spread?.cpuNsPerPacket?.width, run.label)) }
            }
        }
        let higherIsBetter = goal == .throughput
        scored.sort { higherIsBetter ? $0.1 > $1.1 : $0.1 < $1.1 }
        func show(_ v: Double) -> String {
            switch goal {
            case .latency: us(v)
            case .throughput: TextReport.fmt(v / 1e6, 3) + " Mpps"
            case .efficiency: TextReport.fmt(v, 0) + " ns/pkt"
            }
        }
        guard let best = scored.first else {
            return Verdict(goal: goal, pick: nil, tie: [], summary: "\(goal): no path measured it", reasons: excluded)
        }
        var reasons: [String] = []
        let runnerUp = scored.dropFirst().first
        if let r = runnerUp {
            var line = "\(best.4): \(best.2) \(show(best.1)) vs \(r.4) \(show(r.1))"
            if let bRun = ok.first(where: { $0.label == best.4 }), let rRun = ok.first(where: { $0.label == r.4 }) {
                // The syscall figure of the measurement the goal ranks by:
                // a round trip's for latency, the flood sender's otherwise.
                if goal == .latency, let bs = bRun.pingpong?.client.cost?.syscallsPerPacket,
                   let rs = rRun.pingpong?.client.cost?.syscallsPerPacket {
                    line += ", \(TextReport.fmt(bs, 2)) syscalls/round trip vs \(TextReport.fmt(rs, 2)) (client)"
                } else if let bs = bRun.flood?.sender.cost?.syscallsPerPacket, let rs = rRun.flood?.sender.cost?.syscallsPerPacket {
                    line += ", \(TextReport.fmt(bs, bs < 0.1 ? 3 : 2)) syscalls/pkt vs \(TextReport.fmt(rs, rs < 0.1 ? 3 : 2)) (flood sender)"
                }
            }
            reasons.append(line)
        }
        reasons += excluded
        // The uncertainty: a gap smaller than either path's run-to-run spread is no gap.
        if let r = runnerUp {
            let gap = abs(best.1 - r.1)
            let widths = [best.3, r.3].compactMap { $0 }
            if let w = widths.max(), gap <= w {
                return Verdict(goal: goal, pick: nil, tie: [best.0, r.0],
                               summary: "\(goal): \(best.4) and \(r.4) tie: they differ by \(show(gap)), less than the run-to-run spread (\(show(w)))",
                               reasons: reasons)
            }
            if widths.isEmpty {
                reasons.append("uncertainty not measured: run with --repeat 3 or more to see the run-to-run spread")
            }
        }
        return Verdict(goal: goal, pick: best.0, tie: [], summary: "\(goal): \(best.4) (\(best.2) \(show(best.1)))", reasons: reasons)
    }

    /// What configuration a path ran in, and whether a lever was left untried.
    static func configuration(_ run: PathRun) -> String {
        let o = run.options
        var parts: [String] = ["wait \(o.wait)"]
        if run.path != .socket { parts.append("batch \(o.batchSize)") }
        if let b = o.busyPollMicros {
            parts.append(o.hadNAPIID ? "busy-poll \(b) µs (NAPI id \(o.napiID))" : "busy-poll \(b) µs had no NAPI id, so no effect")
        } else {
            parts.append("busy-poll off (untried here: --busy-poll 50 --veth-napi can move this path's latency a lot)")
        }
        return "\(run.label) ran with " + parts.joined(separator: ", ")
    }

    /// On the built-in veth topology without threaded NAPI, a veth runs the
    /// receiver's stack (or XDP program) in the sender's softirq, so a flood
    /// rate is bounded by the sender's CPU: said next to any flood verdict.
    static func topologyCaveat(_ report: WirepathReport) -> String? {
        let t = report.environment.topology
        guard t.kind.hasPrefix("veth"), t.threadedNAPI != true,
              report.runs.contains(where: { $0.status == .ok && $0.flood != nil }) else { return nil }
        return "topology: on this veth pair each packet's receive (stack or XDP program) runs on the sending CPU, so flood rates measure the sender's CPU as much as the path (untried here: --veth-threaded-napi runs it on the receiving CPU, as behind a NIC)"
    }

    public static func render(_ verdicts: [Verdict], report: WirepathReport) -> String {
        var out = "recommendation:\n"
        for v in verdicts {
            out += "  \(v.summary)\n"
            for r in v.reasons { out += "    - \(r)\n" }
        }
        let config = report.runs.filter { $0.status == .ok }.map(configuration)
        if !config.isEmpty {
            out += "  configuration (part of the verdict: another one can change it):\n"
            for c in config { out += "    - \(c)\n" }
            if let t = topologyCaveat(report) { out += "    - \(t)\n" }
        }
        return out
    }
}
