import WirepathIO
import WirepathModel

/// Results as CSV, for spreadsheets and scripts (the `.hgrm` files for
/// HdrHistogram's plotter and wrk2-style tooling are `Hgrm.files`).
public enum CSVReport {
    public static let header = [
        "path", "measurement", "status", "payload_bytes", "batch", "wait", "busy_poll_us", "napi_id",
        "sandbox", "reflector_sandbox",
        "target_pps", "count", "lost", "min_us", "p50_us", "p90_us", "p99_us", "p99_9_us", "p99_99_us", "max_us",
        "tx_pps", "rx_pps", "syscalls_per_pkt_client", "syscalls_per_pkt_reflector",
        "cpu_ns_per_pkt_client", "cpu_ns_per_pkt_reflector",
    ] + Stage.allCases.flatMap { ["stage_\($0.rawValue)_p50_us", "stage_\($0.rawValue)_p99_us"] } + ["reason"]

    /// One row per path and measurement (pingpong, flood, each open-loop load).
    public static func render(_ report: WirepathReport) -> String {
        var rows = [header]
        for run in report.runs {
            let o = run.options
            let common = [run.label]
            // The sandbox of each end's data thread (docs/sandbox.md); empty
            // in reports from before it, and for a --peer's serve, whose
            // own --sandbox applies.
            let opts = [o.payloadSize, o.batchSize].map(String.init) + [o.wait.rawValue, o.busyPollMicros.map(String.init) ?? "", String(o.napiID)]
                + [o.sandbox?.rawValue ?? "", o.reflectorSandbox?.rawValue ?? ""]
            func row(_ m: String, target: Double?, count: UInt64?, lost: UInt64?, lat: LatencySummary?, tx: Double?, rx: Double?,
                     client: EndReport?, reflector: EndReport?, stages: StageReport? = nil) -> [String] {
                let l: [String] = lat.map { s in [s.minNs, s.p50Ns, s.p90Ns, s.p99Ns, s.p999Ns, s.p9999Ns, s.maxNs].map { us($0) } }
                    ?? [String](repeating: "", count: 7)
                return common + [m, run.status.rawValue] + opts
                    + [target.map { num($0) } ?? "", count.map(String.init) ?? "", lost.map(String.init) ?? ""] + l
                    + [tx.map { num($0) } ?? "", rx.map { num($0) } ?? "",
                       client?.cost?.syscallsPerPacket.map { num($0) } ?? "", reflector?.cost?.syscallsPerPacket.map { num($0) } ?? "",
                       client?.cost.map { num($0.cpuNsPerPacket) } ?? "", reflector?.cost.map { num($0.cpuNsPerPacket) } ?? ""]
                    + stageFields(stages) + [run.reason ?? ""]
            }
            if run.status != .ok {
                rows.append(row("-", target: nil, count: nil, lost: nil, lat: nil, tx: nil, rx: nil, client: nil, reflector: nil))
                continue
            }
            if let p = run.pingpong {
                rows.append(row("pingpong", target: nil, count: p.received, lost: p.lost, lat: p.latency, tx: nil, rx: nil,
                                client: p.client, reflector: p.reflector, stages: p.stages))
            }
            if let f = run.flood {
                rows.append(row("flood", target: nil, count: f.received, lost: f.lost, lat: nil, tx: f.txPps, rx: f.rxPps,
                                client: f.sender, reflector: f.receiver))
            }
            for ol in run.openLoop {
                let m = ol.loadFraction.map { "load-\(Int(($0 * 100).rounded()))%" } ?? "openloop"
                rows.append(row(m, target: ol.targetPps, count: ol.received, lost: ol.lost, lat: ol.latency, tx: ol.achievedPps, rx: nil,
                                client: ol.client, reflector: ol.reflector))
            }
        }
        return rows.map { $0.map(field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// `--stages`: each stage's p50 and p99 (µs), in `Stage.allCases`
    /// order; empty where the stage was not measured (no --stages, or a
    /// stage the path cannot stamp).
    static func stageFields(_ s: StageReport?) -> [String] {
        Stage.allCases.flatMap { stage -> [String] in
            guard let l = s?.rows.first(where: { $0.stage == stage })?.latency else { return ["", ""] }
            return [us(l.p50Ns), us(l.p99Ns)]
        }
    }

    static func us(_ ns: UInt64) -> String { NumberText.fixed(Double(ns) / 1000, 3) }
    static func num(_ x: Double) -> String { NumberText.fixed(x, 3) }

    /// RFC 4180 quoting.
    static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
        return "\"" + s.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
