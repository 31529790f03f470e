import WirepathIO
import WirepathModel

/// Text for captures and their verification.
extension TextReport {
    /// One line per verified measurement of each path, then each
    /// disagreement and note on its own line; then a line for each
    /// measurement left unverified (by default when the report's capture was
    /// audited; `wirepath verify --expect` asks for them).
    public static func verification(_ report: WirepathReport, listUnverified: Bool? = nil) -> String {
        var out = ""
        if let n = report.capture?.notWritten, n > 0 {
            out += "verify: the capture file stopped at its size bound (--capture-max-size) with \(n) frames not written: these checks cover only the written part\n"
        }
        for run in report.runs {
            for r in run.verification?.runs ?? [] {
                out += verificationLine("\(run.path) \(r.measurement)\(r.flow.map { " flow \($0)" } ?? "")", r)
            }
        }
        if listUnverified ?? (report.capture?.summary != nil) {
            for u in report.unverifiedMeasurements {
                out += "verify \(u.label): NOT VERIFIED: \(u.reason)\n"
            }
        }
        return out
    }

    static func verificationLine(_ label: String, _ r: RunVerification) -> String {
        let bad = r.disagreements
        var out = "verify \(label) (run 0x\(String(r.runID, radix: 16))): "
        if bad.isEmpty {
            out += "agrees, \(r.checks.count) checks"
            if !r.located.isEmpty { out += " (\(r.located.count) with a loss located)" }
        } else {
            let dis = bad.filter { $0.status == .disagree }.count
            let unv = bad.count - dis
            out += [dis > 0 ? "\(dis) DISAGREE" : nil, unv > 0 ? "\(unv) unverifiable" : nil].compactMap { $0 }.joined(separator: ", ")
            out += " of \(r.checks.count) checks"
        }
        if let w = r.wireRTT, w.count > 0 {
            out += "; wire RTT p50 \(NumberText.micros(w.p50Ns)) p99 \(NumberText.micros(w.p99Ns)) µs"
            if let p = r.programRTT, p.count > 0 {
                let host = Int64(bitPattern: p.p50Ns &- w.p50Ns)
                out += " (program p50 \(NumberText.micros(p.p50Ns)) µs: \(NumberText.fixed(Double(host) / 1000, 2)) µs of it outside the wire, in the client's host and the tool)"
            }
        }
        out += "\n"
        for c in bad { out += "  \(c.status == .disagree ? "disagree" : "unverifiable"): \(c.message)\n" }
        for c in r.located { out += "  loss located: \(c.message)\n" }
        for n in r.notes { out += "  note: \(n)\n" }
        return out
    }

    /// The capture's own line: where it listened, what it wrote and dropped.
    public static func captureLine(_ c: CaptureRecord) -> String {
        var out = "capture: \(c.file) on \(c.interface)\(c.namespace.map { " in \($0)" } ?? ""), filter \"\(c.filter)\", snaplen \(c.snaplen), buffer \(c.bufferBytes >> 20) MiB, \(c.timestampPrecision) timestamps; "
        out += "\(c.written) frames written, capture drops \(c.dropped) (buffer) + \(c.interfaceDropped) (interface)"
        if let n = c.notWritten, n > 0 {
            out += "; STOPPED WRITING at --capture-max-size \(c.maxFileBytes.map(String.init) ?? "?") bytes: \(n) later frames not written, the audit covers only the written part"
        }
        out += "\n"
        out += "  vantage point: \(c.vantagePoint)\n"
        for n in c.notes { out += "  note: \(n)\n" }
        return out
    }

    /// Runs a capture's table lists by default: a screenful.
    public static let defaultListedRuns = 20

    /// The per-direction table of a capture, one row per run and direction,
    /// with the paths named when the report is known. Runs are listed by
    /// packets, most first; past `limit` (nil: no limit) only the labelled
    /// ones are, and a line counts the rest and says how to see them
    /// (`more`). Run ids the audit did not keep in full are one row.
    public static func wireTable(_ s: WireSummary, labels: [UInt64: String] = [:], limit: Int? = nil,
                                 more: String = "--json holds them all") -> String {
        var rows: [[String]] = [[
            "run", "direction", "packets", "bytes", "data", "unique", "gaps", "dup", "reord", "damaged", "control",
            "warm-up", "sys-win", "wire p50 µs", "wire p99 µs",
        ]]
        let packets = { (r: WireRun) in r.clientToReflector.packets &+ r.reflectorToClient.packets }
        let sorted = s.runs.enumerated().sorted { a, b in
            packets(a.element) != packets(b.element) ? packets(a.element) > packets(b.element) : a.offset < b.offset
        }.map(\.element)
        var hidden = 0, hiddenPackets: UInt64 = 0
        for (i, r) in sorted.enumerated() {
            guard i < (limit ?? Int.max) || labels[r.runID] != nil else {
                hidden += 1
                hiddenPackets &+= packets(r)
                continue
            }
            let label = labels[r.runID].map { "\($0) \(r.runIDHex)" } ?? "\(r.kind) \(r.runIDHex)"
            for d in WireDirection.allCases {
                let x = r.stats(d)
                let rtt = d == .reflectorToClient ? r.wireRTT : nil
                rows.append([
                    d == .clientToReflector ? label : "", d.description, String(x.packets), String(x.bytes), String(x.dataPackets),
                    String(x.unique), String(x.gaps), String(x.duplicates), String(x.reordered), String(x.damaged),
                    String(x.controlPackets), String(x.warmupPackets), String(x.syscallWindowPackets),
                    rtt.map { NumberText.micros($0.p50Ns) } ?? "-", rtt.map { NumberText.micros($0.p99Ns) } ?? "-",
                ])
            }
        }
        if let o = s.overflow {
            let label = "other run ids (\(o.runsAtLeast ? "at least " : "")\(o.runs))"
            for d in WireDirection.allCases {
                let x = o.stats(d)
                rows.append([d == .clientToReflector ? label : "", d.description, String(x.packets), String(x.bytes),
                             "-", "-", "-", "-", "-", String(x.damaged), "-", "-", "-", "-", "-"])
            }
        }
        var out = table(rows, rightAlignFrom: 2)
        out += "\(s.frames) frames, \(s.bytes) bytes"
        if let a = s.firstNs, let b = s.lastNs {
            // Timestamps come from the file and need not grow: a clock that
            // stepped back during the capture, frames merged from two
            // captures or an edited file can end earlier than they start.
            if b >= a {
                out += " over \(NumberText.fixed(Double(b - a) / 1e9, 3)) s"
            } else {
                out += " over -\(NumberText.fixed(Double(a - b) / 1e9, 3)) s (the last frame's timestamp is before the first's: the clock stepped back, or the file was merged or edited)"
            }
        }
        out += "; foreign \(s.foreignTotal)"
        if !s.foreign.isEmpty { out += " (" + s.foreign.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")" }
        out += "; malformed \(s.malformedTotal)"
        if !s.malformed.isEmpty { out += " (" + s.malformed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")" }
        if s.snapped > 0 { out += "; \(s.snapped) frames cut by the snaplen (their integrity not checked)" }
        let un = s.unattributedDamaged.values.reduce(0, +)
        if un > 0 { out += "; \(un) damaged past recognising their run" }
        out += "\n"
        if hidden > 0 { out += "\(hidden) more runs (\(hiddenPackets) packets) not listed; \(more)\n" }
        if let o = s.overflow, let n = s.fullRunLimit {
            out += "other run ids: the audit keeps \(n) runs in full (the measured ones, then the busiest); the frames of the \(o.runs) others are counted in one row\n"
        }
        out += "data = measured-window data frames (seq < 2^61); unique/gaps/dup/reord count the intact ones; damaged = integrity, checksum or address damage; control, warm-up and sys-win (the syscall-counting window) are not compared\n"
        return out
    }

    /// Labels ("socket pingpong") for the run ids of a report.
    public static func runLabels(_ report: WirepathReport) -> [UInt64: String] {
        var labels: [UInt64: String] = [:]
        for run in report.runs {
            if let id = run.pingpong?.runID { labels[id] = "\(run.path) pingpong" }
            if let id = run.flood?.runID { labels[id] = "\(run.path) flood" }
            for o in run.openLoop { if let id = o.runID { labels[id] = "\(run.path) \(o.measurementName)" } }
        }
        return labels
    }
}
