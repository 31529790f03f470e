import WirepathIO
import WirepathModel

extension TextReport {
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
            if let s = run.options.sandbox {
                parts.append("sandbox: client \(s), reflector \(run.options.reflectorSandbox.map(\.rawValue) ?? "serve's own --sandbox")")
            }
            out += "\(run.path): " + parts.joined(separator: ", ") + "\n"
            if let p = run.pingpong {
                out += "  pingpong: \(p.received)/\(p.sent) replies, lost \(p.lost), dup \(p.duplicated), reordered \(p.reordered), integrity failures \(p.integrityFailures), foreign \(p.foreign); "
                out += "min \(NumberText.micros(p.latency.minNs)) p90 \(NumberText.micros(p.latency.p90Ns)) p99.99 \(NumberText.micros(p.latency.p9999Ns)) mean \(NumberText.fixed(p.latency.meanNs / 1000, 2)) sd \(NumberText.fixed(p.latency.stddevNs / 1000, 2)) µs\n"
                out += "  pingpong cost per round trip: client \(costLine(p.client.cost)); reflector \(costLine(p.reflector?.cost))\n"
                if let r = p.reflector, let line = reflectorDropsLine(r) { out += "  pingpong reflector: \(line)\n" }
                if let k = p.kernelLoss { out += "  pingpong kernel counters: " + kernelLoss(k) }
                if run.options.uringSQPollIdleMillis != nil {
                    out += "  pingpong SQPOLL wakeups: client \(p.client.sqpollWakeups), reflector \(p.reflector.map { String($0.sqpollWakeups) } ?? "-")\n"
                }
                if run.options.uringZeroCopy == true {
                    out += "  pingpong send_zc: client \(zeroCopyLine(p.client)); reflector \(p.reflector.map(zeroCopyLine) ?? "not reported")\n"
                    out += zeroCopyVerdict([p.client] + (p.reflector.map { [$0] } ?? []))
                }
            }
            if let f = run.flood {
                out += "  flood: sent \(f.sent) in \(NumberText.fixed(Double(f.senderDurationNs) / 1e9, 2)) s (\(NumberText.fixed(f.txPps / 1e6, 3)) Mpps, \(NumberText.fixed(f.txFrameBps / 1e9, 3)) Gbit/s frames), "
                out += "received \(f.received) (\(NumberText.fixed(f.rxPps / 1e6, 3)) Mpps, \(NumberText.fixed(f.rxPayloadBps / 1e6, 1)) Mbit/s payload), lost \(f.lost) (\(NumberText.fixed(f.lossRatio * 100, 2))%)"
                if let bad = f.integrityFailures, bad > 0 { out += ", of which \(bad) arrived corrupted (integrity check failed)" }
                out += "\n"
                if let k = f.kernelLoss { out += "  flood kernel counters: " + kernelLoss(k) }
                if let sq = f.softirq { out += "  flood softirq: " + softirqLine(sq) + "\n" }
                out += "  flood batching: sender \(NumberText.fixed(f.sender.txPacketsPerCall, 1)) pkts/send call"
                if let r = f.receiver {
                    out += ", receiver \(NumberText.fixed(r.rxPacketsPerCall, 1)) pkts/receive call"
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
            if let s = run.pingpong?.stages { out += stages(s, path: run.path) }
            if let p = run.pingpong, let c = p.latencyCorrected, c.p999Ns > p.latency.p999Ns + p.latency.p999Ns / 2 {
                out += "  closed loop hid stalls: corrected for coordinated omission p99 \(NumberText.micros(c.p99Ns)) p99.9 \(NumberText.micros(c.p999Ns)) max \(NumberText.micros(c.maxNs)) µs\n"
            }
            for o in run.openLoop {
                let label = o.loadFraction.map { "\(NumberText.fixed($0 * 100, 0))% load" } ?? "open loop"
                out += "  \(label) (\(NumberText.fixed(o.targetPps, 0)) pps offered, \(NumberText.fixed(o.achievedPps, 0)) sent/s): p50 \(NumberText.micros(o.latency.p50Ns)) p90 \(NumberText.micros(o.latency.p90Ns)) p99 \(NumberText.micros(o.latency.p99Ns)) p99.9 \(NumberText.micros(o.latency.p999Ns)) max \(NumberText.micros(o.latency.maxNs)) µs, lost \(o.lost)/\(o.sent)"
                out += o.maxSendLagNs > 1_000_000 ? ", sender fell \(NumberText.micros(o.maxSendLagNs)) µs behind its schedule\n" : "\n"
                if let k = o.kernelLoss { out += "  \(label) kernel counters: " + kernelLoss(k) }
            }
            out += xdpDetails(run)
            if let t = run.threaded { out += threadDetails(t) }
            for note in run.notes { out += "  note: \(note)\n" }
        }
        out += scalingTable(report)
        return out
    }

    /// What the reflector dropped unanswered, or nil when it dropped nothing:
    /// packets from a source no reply can go to, and replies whose send
    /// failed (counted by errno; the reflector went on).
    static func reflectorDropsLine(_ e: EndReport) -> String? {
        let drops = e.droppedSources ?? SourceDrops()
        let failures = (e.sendFailures ?? [:]).filter { $0.value > 0 }.sorted { $0.key < $1.key }
        guard drops.total > 0 || !failures.isEmpty else { return nil }
        var parts: [String] = []
        if drops.total > 0 { parts.append("dropped for their source \(drops.summary)") }
        if !failures.isEmpty { parts.append("send failures " + failures.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) }
        return parts.joined(separator: "; ")
    }

    /// What the send_zc notifications said: how often the kernel copied after all.
    static func zeroCopyLine(_ e: EndReport) -> String {
        // Saturating: a reflector's figures come from its report, from outside.
        let n = e.zcCopied.saturatingAdd(e.zcZeroCopy)
        guard n > 0 else { return "no notifications in the window" }
        return "\(n) notifications: \(e.zcCopied) copied by the kernel, \(e.zcZeroCopy) zero-copy"
    }

    /// One line saying what the notifications of these ends add up to.
    static func zeroCopyVerdict(_ ends: [EndReport]) -> String {
        let copied = ends.reduce(UInt64(0)) { $0.saturatingAdd($1.zcCopied) }, zero = ends.reduce(UInt64(0)) { $0.saturatingAdd($1.zcZeroCopy) }
        let total = copied.saturatingAdd(zero)
        if total == 0 { return "" }
        if zero == 0 {
            return "  send_zc: the kernel copied every packet, so zero-copy saved nothing here: over veth or loopback the receiving socket cannot keep the sender's pages; it pays only with a NIC that transmits from user pages\n"
        }
        return "  send_zc: \(zero) of \(total) sends left from user pages without a copy\n"
    }

    static func costLine(_ c: PerPacketCost?) -> String {
        guard let c else { return "not measured" }
        let sys = c.syscallsPerPacket.map { NumberText.fixed($0, 3) } ?? "n/a (\(c.syscallsUnavailable ?? "unavailable"))"
        let thread = c.kernelThreadNsPerPacket.map { " + \(NumberText.fixed($0, 0)) ns \(c.raw.extraThreads.first ?? "kernel thread")" } ?? ""
        return "\(sys) syscalls, \(NumberText.fixed(c.userNsPerPacket, 0)) ns user + \(NumberText.fixed(c.systemNsPerPacket, 0)) ns sys\(thread), \(c.raw.voluntaryContextSwitches)/\(c.raw.involuntaryContextSwitches) vol/invol ctx switches"
    }
}


extension TextReport {
    /// "cpu0 (sender) 41.2 ms, cpu1 (receiver) 3.0 ms: 310 ns per received
    /// packet (/proc/stat, host-wide, tick-sampled)".
    static func softirqLine(_ s: SoftirqAccount) -> String {
        let cpus = s.cpus.map { c in "cpu\(c.cpu)\(c.pinned.map { " (\($0))" } ?? "") \(NumberText.fixed(Double(c.ns) / 1e6, 1)) ms" }
        return cpus.joined(separator: ", ") + ": \(NumberText.fixed(s.nsPerPacket, 0)) ns per received packet (/proc/stat, host-wide, sampled at the tick)"
    }
}
