import WirepathModel

extension TextReport {
    /// A threaded run's lines: each thread's figures, then each queue's
    /// receive counter and where each flow was shown to land.
    static func threadDetails(_ t: ThreadedRecord) -> String {
        var out = "  threads: \(t.threads) per end, \(t.flows) flows, \(t.queues) queues, CPUs \(t.cpus.map(String.init).joined(separator: ","))\(t.contended ? " (contended: client and reflector share them)" : "")\n"
        for r in t.perThread {
            var line = "    thread \(r.index) (flow \(r.flow), queue \(r.steeredQueue), client CPU \(r.clientCPU.map(String.init) ?? "-"), reflector CPU \(r.reflectorCPU.map(String.init) ?? "-"))"
            if let p = r.pingpong {
                line += ": ping-pong p50 \(NumberText.micros(p.latency.p50Ns)) p99 \(NumberText.micros(p.latency.p99Ns)) µs, \(p.received)/\(p.sent) replies"
                if let s = p.client.cost?.syscallsPerPacket { line += ", \(NumberText.fixed(s, 2)) sys/RTT" }
                if let c = p.client.cost { line += ", \(NumberText.fixed(c.cpuNsPerPacket, 0)) CPU ns/RTT" }
            }
            if let f = r.flood {
                line += "\(r.pingpong == nil ? ":" : ";") flood \(NumberText.fixed(f.rxPps / 1e6, 3)) Mpps received, lost \(f.lost)/\(f.sent)"
                if let c = f.sender.cost { line += ", sender \(NumberText.fixed(c.cpuNsPerPacket, 0)) CPU ns/pkt" }
                if let s = f.sender.cost?.syscallsPerPacket { line += " \(NumberText.fixed(s, 2)) sys/pkt" }
            }
            if let n = r.reflectorNAPIID { line += "; reflector socket NAPI id \(n)" }
            if let c = r.reflectorIncomingCPU { line += ", incoming CPU \(c)" }
            out += line + "\n"
        }
        for p in t.placement {
            let queues = p.queues.map { "q\($0.queue) \($0.rxPackets)" }.joined(separator: ", ")
            out += "    placement, \(p.measurement) at \(p.device) (\(p.source)): \(queues.isEmpty ? "counters unread" : queues); "
            out += p.problems.isEmpty ? "every flow on its steered queue and thread\n" : "FLAGGED: \(p.problems.joined(separator: "; "))\n"
            for x in p.sockets ?? [] {
                var line = "      queue \(x.queue) AF_XDP socket (thread \(x.thread)): received \(x.socketReceived); program redirected \(x.programRedirected) "
                line += x.accountedFor ? "= received" : "≠ received"
                line += " + dropped \(x.socketRxDropped) + RX ring full \(x.socketRxRingFull) (XDP_STATISTICS)"
                if let d = x.deviceRedirected { line += "; \(p.device) rx_queue_\(x.queue)_xdp_redirect \(d) \(d == x.socketReceived ? "=" : "≠") received" }
                out += line + "\n"
            }
        }
        return out
    }
}

extension TextReport {
    /// `compare --threads 1,2`: each path's aggregate rate, rate per core
    /// and efficiency per thread count; empty without one.
    public static func scalingTable(_ report: WirepathReport) -> String {
        guard let rows = report.scaling, !rows.isEmpty else { return "" }
        var out = "\nscaling (flood, receiver's rate)\npath    threads    Mpps  Mpps/core  efficiency\n"
        for r in rows {
            let eff = r.efficiency.map { NumberText.fixed($0, 2) + (r.contended && r.threads > 1 ? " contended" : "") } ?? "-"
            out += r.path.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                + String(r.threads).leftPad(7) + NumberText.fixed(r.aggregatePps / 1e6, 3).leftPad(8)
                + NumberText.fixed(r.ppsPerCore / 1e6, 3).leftPad(11) + "  " + eff + "\n"
        }
        if rows.contains(where: \.contended) {
            out += "contended: client and reflector threads shared CPUs; beyond the measured counts is extrapolation\n"
        }
        return out
    }
}

private extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
