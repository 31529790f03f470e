import WirepathIO

extension Recommendation {
    /// With `--stages`: the latency verdict quotes each path's dominant
    /// stage, or both wake-ups together when they hold most of the RTT and
    /// the path did not spin ("socket block: 71% of the p50 RTT is the two
    /// wake-ups; spin removes them at the cost of a core").
    static func stagesLines(_ report: WirepathReport) -> [String] {
        var lines: [String] = []
        for run in report.runs where run.status == .ok {
            guard let s = run.pingpong?.stages, s.rttP50Ns > 0 else { continue }
            let wake = s.wakeShare
            let name = "\(run.label) \(run.options.wait)"
            if wake >= 0.5 && run.options.wait != .spin {
                lines.append("\(name): \(NumberText.fixed(wake * 100, 0))% of the p50 RTT is the two wake-ups; spin removes them at the cost of a core")
            } else if let d = s.dominant {
                lines.append("\(name): the largest stage is \(d.stage.title) (\(NumberText.fixed(s.share(d) * 100, 0))% of the p50 RTT)")
            }
        }
        return lines
    }
}
