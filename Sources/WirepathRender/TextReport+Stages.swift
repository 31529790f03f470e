import WirepathIO
import WirepathModel

extension TextReport {
    /// `--stages`: where each microsecond of the round trip went, one row
    /// per stage (p50, p99, share of the RTT p50), then the residual against
    /// the stated tolerance and the clock conversion's uncertainty.
    public static func stages(_ s: StageReport, path: PathKind) -> String {
        var out = "  stages (\(path), --stages, \(path == .xdp ? "the XDP program's receive stamps" : "kernel software stamps"); share = stage p50 / RTT p50):\n"
        let width = Stage.allCases.map(\.title.count).max() ?? 0
        out += "    " + "stage".padding(toLength: width, withPad: " ", startingAt: 0) + "    p50 µs    p99 µs   share\n"
        for row in s.rows {
            let name = row.stage.title.padding(toLength: width, withPad: " ", startingAt: 0)
            if let l = row.latency {
                out += "    \(name)  " + pad(NumberText.micros(l.p50Ns), 8) + "  " + pad(NumberText.micros(l.p99Ns), 8)
                    + "  " + pad(NumberText.fixed(s.share(row) * 100, 0) + "%", 6) + "\n"
            } else {
                out += "    \(name)  unavailable: \(row.unavailable ?? "no samples")\n"
            }
        }
        let verdict = s.withinTolerance ? "within" : "OUTSIDE"
        out += "    sum of stage p50s \(NumberText.micros(s.sumP50Ns)) µs vs RTT p50 \(NumberText.micros(s.rttP50Ns)) µs: residual \(NumberText.fixed(Double(s.residualNs) / 1000, 2)) µs, \(verdict) the tolerance of \(NumberText.micros(s.toleranceNs)) µs (a quarter of the RTT p50 plus 4x the clock uncertainty)\n"
        if !s.withinTolerance { out += "    FLAGGED: the stages do not account for the round trip; read them with care\n" }
        out += path == .xdp
            ? "    clocks: the XDP program's stamps are CLOCK_MONOTONIC, as the application's: no conversion; "
            : "    clocks: kernel stamps (CLOCK_REALTIME) converted to CLOCK_MONOTONIC once per run, uncertainty ±\(s.clock.uncertaintyNs) ns; "
        out += "stamps missing: rx \(s.rxStampMissing), tx \(s.txStampMissing), reflector block \(s.reflectorMissing); below zero \(s.negative)\n"
        if s.reflectorMissing > 0 { out += "    the reflector sent no stage block for \(s.reflectorMissing) replies: start `wirepath serve` with --stages too\n" }
        if let c = s.captureCheck {
            out += "    capture cross-check: \(c.wireCheck.message)"
            if let w = c.captureWireP50Ns { out += "; the capture's ping-to-echo p50 \(NumberText.micros(w)) µs" }
            out += "\n"
        }
        if let cost = s.cost { out += "    cost: \(cost)\n" }
        for n in s.notes { out += "    note: \(n)\n" }
        return out
    }

    private static func pad(_ text: String, _ n: Int) -> String {
        text.count >= n ? text : String(repeating: " ", count: n - text.count) + text
    }
}
