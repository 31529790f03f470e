import WirepathIO
/// Human-readable rendering of results: aligned tables, units chosen for people.
public enum TextReport {
    public static func micros(_ ns: UInt64) -> String { fmt(Double(ns) / 1000, 2) }

    public static func fmt(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (x * scale).rounded() / scale
        var s = String(r)
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
            if digits == 0 { s = String(s[..<dot]) }
        } else if digits > 0 {
            s += "." + String(repeating: "0", count: digits)
        }
        return s
    }

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

    static func perPacket(_ c: PerPacketCost?) -> String {
        guard let c, let s = c.syscallsPerPacket else { return "n/a" }
        return fmt(s, s < 0.1 ? 3 : 2)
    }

    static func cpu(_ c: PerPacketCost?) -> String {
        guard let c else { return "n/a" }
        return fmt(c.cpuNsPerPacket, 0)
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
                row += [micros(p.latency.p50Ns), micros(p.latency.p99Ns), micros(p.latency.p999Ns), micros(p.latency.maxNs), String(p.lost)]
            } else {
                row += ["-", "-", "-", "-", "-"]
            }
            if let f = run.flood {
                row += [fmt(f.rxPps / 1e6, 3), perPacket(f.sender.cost), perPacket(f.receiver?.cost),
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
                x.map { "\(fmt($0.min / scale, d)) / \(fmt($0.median / scale, d)) / \(fmt($0.max / scale, d))" } ?? "-"
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
                [run.label, o.loadFraction.map { fmt($0 * 100, 0) + "%" } ?? "-", fmt(o.targetPps / 1e6, 3),
                 micros(o.latency.p50Ns), micros(o.latency.p90Ns), micros(o.latency.p99Ns), micros(o.latency.p999Ns),
                 micros(o.latency.maxNs), String(o.lost)]
            }
        }
        guard !rows.isEmpty else { return "" }
        return "latency under load (open loop, from each request's due time):\n"
            + table([["path", "load", "Mpps", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "lost"]] + rows)
    }

    /// "sqpoll thread X ns/pkt" for an end with a kernel thread, else nil.
    static func kernelThread(_ c: PerPacketCost?) -> String? {
        guard let c, let k = c.kernelThreadNsPerPacket else { return nil }
        return "sqpoll thread \(fmt(k, 0)) ns/pkt"
    }

    /// Detail lines under the table: batching, NAPI, errnos, notes.
    public static func details(_ report: WirepathReport) -> String {
        var out = ""
        for run in report.runs where run.status == .ok {
            var parts: [String] = ["wait=\(run.options.wait)", "batch=\(run.options.batchSize)", "size=\(run.options.payloadSize)B"]
            if let bp = run.options.busyPollMicros {
                parts.append("busy-poll=\(bp)µs " + (run.options.hadNAPIID ? "(NAPI id \(run.options.napiID))" : "(no NAPI id: busy-poll had nothing to poll)"))
            }
            if let n = run.options.uringBuffers { parts.append("uring-buffers=\(n)") }
            if let idle = run.options.uringSQPollIdleMillis { parts.append("uring-sqpoll idle \(idle) ms (SQPOLL excludes DEFER_TASKRUN)") }
            if run.options.uringZeroCopy == true { parts.append("uring-zc (sendmsg_zc)") }
            if let u = run.options.uringBatchWaitMicros, u != PathConfig.defaultUringBatchWaitMicros {
                parts.append(u == 0 ? "uring-batch-wait off" : "uring-batch-wait=\(u)µs")
            }
            if let u = run.options.uringNAPIMicros {
                parts.append("uring-napi=\(u)µs " + (run.options.hadNAPIID
                    ? "(NAPI id \(run.options.napiID): the ring had a NAPI context to busy-poll)"
                    : "(no NAPI id: IORING_REGISTER_NAPI had nothing to poll; on veth use --veth-napi)"))
            }
            out += "\(run.path): " + parts.joined(separator: ", ") + "\n"
            if let p = run.pingpong {
                out += "  pingpong: \(p.received)/\(p.sent) replies, lost \(p.lost), dup \(p.duplicated), reordered \(p.reordered), integrity failures \(p.integrityFailures), foreign \(p.foreign); "
                out += "min \(micros(p.latency.minNs)) p90 \(micros(p.latency.p90Ns)) p99.99 \(micros(p.latency.p9999Ns)) mean \(fmt(p.latency.meanNs / 1000, 2)) sd \(fmt(p.latency.stddevNs / 1000, 2)) µs\n"
                out += "  pingpong cost per round trip: client \(costLine(p.client.cost)); reflector \(costLine(p.reflector?.cost))\n"
                if run.options.uringSQPollIdleMillis != nil {
                    out += "  pingpong SQPOLL wakeups: client \(p.client.sqpollWakeups), reflector \(p.reflector.map { String($0.sqpollWakeups) } ?? "-")\n"
                }
                if run.options.uringZeroCopy == true {
                    out += "  pingpong send_zc: client \(zeroCopyLine(p.client)); reflector \(p.reflector.map(zeroCopyLine) ?? "not reported")\n"
                    out += zeroCopyVerdict([p.client] + (p.reflector.map { [$0] } ?? []))
                }
            }
            if let f = run.flood {
                out += "  flood: sent \(f.sent) in \(fmt(Double(f.senderDurationNs) / 1e9, 2)) s (\(fmt(f.txPps / 1e6, 3)) Mpps, \(fmt(f.txFrameBps / 1e9, 3)) Gbit/s frames), "
                out += "received \(f.received) (\(fmt(f.rxPps / 1e6, 3)) Mpps, \(fmt(f.rxPayloadBps / 1e6, 1)) Mbit/s payload), lost \(f.lost) (\(fmt(f.lossRatio * 100, 2))%)"
                if let bad = f.integrityFailures, bad > 0 { out += ", of which \(bad) arrived corrupted (integrity check failed)" }
                out += "\n"
                out += "  flood batching: sender \(fmt(f.sender.txPacketsPerCall, 1)) pkts/send call"
                if let r = f.receiver {
                    out += ", receiver \(fmt(r.rxPacketsPerCall, 1)) pkts/receive call"
                    if r.multishotRearms > 0 { out += ", \(r.multishotRearms) multishot re-arms" }
                }
                if run.options.uringSQPollIdleMillis != nil {
                    out += "; SQPOLL wakeups: sender \(f.sender.sqpollWakeups), receiver \(f.receiver.map { String($0.sqpollWakeups) } ?? "-")"
                }
                out += "\n  flood cost per packet: sender \(costLine(f.sender.cost)); receiver \(costLine(f.receiver?.cost))\n"
                if run.options.uringZeroCopy == true {
                    out += "  flood send_zc: sender \(zeroCopyLine(f.sender))\n"
                    out += zeroCopyVerdict([f.sender])
                }
            }
            if let p = run.pingpong, let c = p.latencyCorrected, c.p999Ns > p.latency.p999Ns + p.latency.p999Ns / 2 {
                out += "  closed loop hid stalls: corrected for coordinated omission p99 \(micros(c.p99Ns)) p99.9 \(micros(c.p999Ns)) max \(micros(c.maxNs)) µs\n"
            }
            for o in run.openLoop {
                let label = o.loadFraction.map { "\(fmt($0 * 100, 0))% load" } ?? "open loop"
                out += "  \(label) (\(fmt(o.targetPps, 0)) pps offered, \(fmt(o.achievedPps, 0)) sent/s): p50 \(micros(o.latency.p50Ns)) p90 \(micros(o.latency.p90Ns)) p99 \(micros(o.latency.p99Ns)) p99.9 \(micros(o.latency.p999Ns)) max \(micros(o.latency.maxNs)) µs, lost \(o.lost)/\(o.sent)"
                out += o.maxSendLagNs > 1_000_000 ? ", sender fell \(micros(o.maxSendLagNs)) µs behind its schedule\n" : "\n"
            }
            out += xdpDetails(run)
            for note in run.notes { out += "  note: \(note)\n" }
        }
        return out
    }

    /// What the send_zc notifications said: how often the kernel copied after all.
    static func zeroCopyLine(_ e: EndReport) -> String {
        let n = e.zcCopied + e.zcZeroCopy
        guard n > 0 else { return "no notifications in the window" }
        return "\(n) notifications: \(e.zcCopied) copied by the kernel, \(e.zcZeroCopy) zero-copy"
    }

    /// One line saying what the notifications of these ends add up to.
    static func zeroCopyVerdict(_ ends: [EndReport]) -> String {
        let copied = ends.reduce(0) { $0 + $1.zcCopied }, zero = ends.reduce(0) { $0 + $1.zcZeroCopy }
        if copied + zero == 0 { return "" }
        if zero == 0 {
            return "  send_zc: the kernel copied every packet, so zero-copy saved nothing here: over veth or loopback the receiving socket cannot keep the sender's pages; it pays only with a NIC that transmits from user pages\n"
        }
        return "  send_zc: \(zero) of \(copied + zero) sends left from user pages without a copy\n"
    }

    static func costLine(_ c: PerPacketCost?) -> String {
        guard let c else { return "not measured" }
        let sys = c.syscallsPerPacket.map { fmt($0, 3) } ?? "n/a (\(c.syscallsUnavailable ?? "unavailable"))"
        let thread = c.kernelThreadNsPerPacket.map { " + \(fmt($0, 0)) ns \(c.raw.extraThreads.first ?? "kernel thread")" } ?? ""
        return "\(sys) syscalls, \(fmt(c.userNsPerPacket, 0)) ns user + \(fmt(c.systemNsPerPacket, 0)) ns sys\(thread), \(c.raw.voluntaryContextSwitches)/\(c.raw.involuntaryContextSwitches) vol/invol ctx switches"
    }
}

extension String {
    func trailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
