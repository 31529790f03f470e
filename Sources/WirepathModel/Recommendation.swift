import WirepathIO
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
    /// The winning row's label ("uring", or "uring+spin" for a tuned row).
    public var pickLabel: String?
}

/// The verdict per goal, computed from the report's figures. Its text (the
/// verdicts with the configuration each path ran in) is WirepathRender's.
public enum Recommendation {
    /// CPU ns per packet of the flood, both ends together: what efficiency
    /// ranks by.
    package static func floodCPU(_ run: PathRun) -> Double? {
        guard let f = run.flood, let s = f.sender.cost?.cpuNsPerPacket else { return nil }
        return s + (f.receiver?.cost?.cpuNsPerPacket ?? 0)
    }

    /// The latency figure a goal ranks by: p99 at the load nearest 50% when
    /// open-loop runs exist (latency under load is what a service sees), else
    /// the closed-loop p99.
    package static func latency(_ run: PathRun) -> (ns: Double, label: String)? {
        if let o = run.openLoop.filter({ $0.loadFraction != nil }).min(by: { abs($0.loadFraction! - 0.5) < abs($1.loadFraction! - 0.5) }) {
            return (Double(o.latency.p99Ns), "p99 at \(NumberText.fixed(o.loadFraction! * 100, 0))% load")
        }
        return run.pingpong.map { (Double($0.latency.p99Ns), "p99 closed loop") }
    }

    /// Nanoseconds as "12.3 µs", as verdicts and configuration lines show them.
    package static func us(_ ns: Double) -> String { NumberText.fixed(ns / 1000, 1) + " µs" }

    public static func make(_ report: WirepathReport, spreads: [PathKind: RunSpread] = [:]) -> [Verdict] {
        Goal.allCases.map { goal in
            var v = verdict(report, goal: goal, spreads: spreads)
            if let line = tuningEffect(report, goal: goal, spreads: spreads, with: v) { v.reasons.append(line) }
            if let line = offloadVersusBypass(report, goal: goal) { v.reasons.append(line) }
            if goal == .latency { v.reasons += stagesLines(report) }
            return v
        }
    }

    /// With `--tune`, whether the tuned rows change the verdict: the verdict
    /// over the default configurations alone, set beside the one over all
    /// rows. nil when no tuned row ran.
    static func tuningEffect(_ report: WirepathReport, goal: Goal, spreads: [PathKind: RunSpread], with all: Verdict) -> String? {
        guard report.runs.contains(where: { $0.variant != nil && $0.status == .ok }) else { return nil }
        var defaults = report
        defaults.runs = report.runs.filter { $0.variant == nil }
        let plain = verdict(defaults, goal: goal, spreads: spreads)
        func name(_ v: Verdict) -> String {
            if let p = v.pick { return p.rawValue }
            return v.tie.isEmpty ? "no pick" : "a tie of " + v.tie.map(\.rawValue).joined(separator: " and ")
        }
        // compare --gso/--gro rows are named as such, not as tuning.
        let offload = !report.runs.contains { $0.variant?.hasPrefix("tuned: ") == true }
        let (what, rows) = offload ? ("GSO/GRO", "the GSO/GRO rows") : ("tuning", "the tuned rows")
        guard all.pick == plain.pick && all.tie == plain.tie else {
            let now = all.pickLabel.map { "\(name(all)) (\($0))" } ?? name(all)
            return "\(what) changes this verdict: with the default configurations alone it would be \(name(plain)), with \(rows) it is \(now)"
        }
        if let label = all.pickLabel, label.contains("+") {
            return "\(what) does not change the path: \(label) leads, and \(name(plain)) leads among the default configurations too"
        }
        return "\(what) does not change this verdict: \(rows) do not beat it"
    }

    /// With `compare --gso/--gro`: whether plain sockets with UDP GSO/GRO
    /// match or beat bypass (xdp) on this host, for throughput and
    /// efficiency. "Match" is within 10% (or the rows' spread, if wider).
    static func offloadVersusBypass(_ report: WirepathReport, goal: Goal) -> String? {
        guard goal != .latency else { return nil }
        let ok = report.runs.filter { $0.status == .ok }
        func value(_ r: PathRun) -> Double? { goal == .throughput ? r.flood?.rxPps : floodCPU(r) }
        let higher = goal == .throughput
        let offload = ok.filter { r in r.path != .xdp && (r.variant == "gso" || r.variant == "gro" || r.variant == "gso+gro") }
            .compactMap { r in value(r).map { (r, $0) } }
            .sorted { higher ? $0.1 > $1.1 : $0.1 < $1.1 }
        guard let (best, b) = offload.first else { return nil }
        guard let xdp = ok.first(where: { $0.path == .xdp && $0.variant == nil }), let x = value(xdp) else {
            return "\(best.label) is the best GSO/GRO row; no xdp row to weigh it against"
        }
        let show: (Double) -> String = { goal == .throughput ? NumberText.fixed($0 / 1e6, 3) + " Mpps" : NumberText.fixed($0, 0) + " ns/pkt" }
        let spread = [best.spread, xdp.spread].compactMap { s in goal == .throughput ? s?.rxPps?.width : s?.cpuNsPerPacket?.width }.max() ?? 0
        let tolerance = max(0.1 * max(b, x), spread)
        let what = goal == .throughput ? "throughput" : "CPU per packet"
        if abs(b - x) <= tolerance {
            return "plain sockets with GSO/GRO match bypass on this host for \(what): \(best.label) \(show(b)) vs xdp \(show(x)) (within 10% or the spread)"
        }
        let beats = higher ? b > x : b < x
        return beats
            ? "plain sockets with GSO/GRO beat bypass on this host for \(what): \(best.label) \(show(b)) vs xdp \(show(x))"
            : "bypass still leads for \(what): xdp \(show(x)) vs the best GSO/GRO row, \(best.label), \(show(b))"
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
            case .throughput: NumberText.fixed(v / 1e6, 3) + " Mpps"
            case .efficiency: NumberText.fixed(v, 0) + " ns/pkt"
            }
        }
        guard let best = scored.first else {
            return Verdict(goal: goal, pick: nil, tie: [], summary: "\(goal): no path measured it", reasons: excluded)
        }
        var reasons: [String] = []
        // The runner-up is the best row of another path: a tuned row beating
        // its own default says nothing about which path to pick.
        let runnerUp = scored.dropFirst().first { $0.0 != best.0 } ?? scored.dropFirst().first
        if let r = runnerUp {
            var line = "\(best.4): \(best.2) \(show(best.1)) vs \(r.4) \(show(r.1))"
            if let bRun = ok.first(where: { $0.label == best.4 }), let rRun = ok.first(where: { $0.label == r.4 }) {
                // The syscall figure of the measurement the goal ranks by:
                // a round trip's for latency, the flood sender's otherwise.
                if goal == .latency, let bs = bRun.pingpong?.client.cost?.syscallsPerPacket,
                   let rs = rRun.pingpong?.client.cost?.syscallsPerPacket {
                    line += ", \(NumberText.fixed(bs, 2)) syscalls/round trip vs \(NumberText.fixed(rs, 2)) (client)"
                } else if let bs = bRun.flood?.sender.cost?.syscallsPerPacket, let rs = rRun.flood?.sender.cost?.syscallsPerPacket {
                    line += ", \(NumberText.fixed(bs, bs < 0.1 ? 3 : 2)) syscalls/pkt vs \(NumberText.fixed(rs, rs < 0.1 ? 3 : 2)) (flood sender)"
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
        return Verdict(goal: goal, pick: best.0, tie: [], summary: "\(goal): \(best.4) (\(best.2) \(show(best.1)))", reasons: reasons,
                       pickLabel: best.4)
    }
}
