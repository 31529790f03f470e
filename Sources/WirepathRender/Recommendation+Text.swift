import WirepathIO
import WirepathModel

/// The recommendation as text: the verdicts the model computed, then the
/// configuration each path ran in, which is part of the verdict.
extension Recommendation {
    /// What configuration a path ran in: its wait, batching, busy polling
    /// and (uring) SQPOLL, NAPI and batch wait. With `--tune`, what the
    /// tuned row measured beside it; without, the lever left untried.
    static func configuration(_ run: PathRun, tuned: PathRun?) -> String {
        let o = run.options
        var parts: [String] = ["wait \(o.wait)"]
        if run.path != .socket { parts.append("batch \(o.batchSize)") }
        if let b = o.busyPollMicros {
            parts.append(o.hadNAPIID ? "busy-poll \(b) µs (NAPI id \(o.napiID))" : "busy-poll \(b) µs had no NAPI id, so no effect")
        } else {
            parts.append("busy-poll off")
        }
        if run.path == .uring {
            parts.append(o.uringSQPollIdleMillis.map { "SQPOLL on (idle \($0) ms)" } ?? "SQPOLL off")
            if let n = o.uringNAPIMicros { parts.append("uring NAPI busy-poll \(n) µs") }
            if let w = o.uringBatchWaitMicros { parts.append(w > 0 ? "batch wait \(w) µs" : "batch wait off") }
        }
        var line = "\(run.label) ran with " + parts.joined(separator: ", ")
        if let tuned, tuned.status == .ok {
            var effect: [String] = []
            if let a = latency(run), let b = latency(tuned) { effect.append("\(a.label) \(us(b.ns)) vs \(us(a.ns))") }
            if let a = run.flood?.rxPps, let b = tuned.flood?.rxPps {
                effect.append("rx \(NumberText.fixed(b / 1e6, 3)) vs \(NumberText.fixed(a / 1e6, 3)) Mpps")
            }
            if let a = floodCPU(run), let b = floodCPU(tuned) { effect.append("CPU/pkt \(NumberText.fixed(b, 0)) vs \(NumberText.fixed(a, 0)) ns") }
            line += "; tuned (\(tuned.label)): " + (effect.isEmpty ? "no figure to compare" : effect.joined(separator: ", "))
        } else if tuned == nil {
            line += " (untried here: " + untried(run) + ")"
        }
        return line
    }

    /// The lever this path's configuration left alone, as the flags that pull it.
    static func untried(_ run: PathRun) -> String {
        let o = run.options
        var levers: [String] = []
        if o.wait != .spin { levers.append("--tune measures busy waiting") }
        switch run.path {
        case .socket, .mmsg:
            if o.busyPollMicros == nil { levers.append("--busy-poll 50 --veth-napi can move this path's latency a lot") }
        case .uring:
            if o.uringSQPollIdleMillis == nil { levers.append("--uring-sqpoll=1000 moves submission to a kernel thread, trading its CPU for syscalls") }
            if o.uringNAPIMicros == nil { levers.append("--uring-napi 50 --veth-napi busy-polls from the ring") }
        case .xdp:
            levers.append("busy polling needs zero-copy, which this interface may lack (see the xdp notes)")
        }
        return levers.joined(separator: "; ")
    }

    /// The configuration lines that follow the verdicts, in the terminal and
    /// in the HTML report: one per path as it ran by default, then the
    /// topology's caveat.
    public static func configurationLines(_ report: WirepathReport) -> [String] {
        let ok = report.runs.filter { $0.status == .ok }
        var lines = ok.filter { $0.variant == nil }.map { run in
            configuration(run, tuned: report.runs.first { $0.path == run.path && $0.variant != nil })
        }
        if let t = topologyCaveat(report) { lines.append(t) }
        return lines
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
        let config = configurationLines(report)
        if !config.isEmpty {
            out += "  configuration (part of the verdict: another one can change it):\n"
            for c in config { out += "    - \(c)\n" }
        }
        return out
    }
}
