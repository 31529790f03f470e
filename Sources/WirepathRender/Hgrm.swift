import Foundation
import WirepathIO
import WirepathModel

/// HdrHistogram's percentile-distribution text (`.hgrm`), as
/// `outputPercentileDistribution` writes it and wrk2 prints it:
///
///        Value     Percentile TotalCount 1/(1-Percentile)
///
///       12.543 0.000000000000          1           1.00
///       ...
///     1802.239 1.000000000000      10000
///     #[Mean    =       15.016, StdDeviation   =       18.470]
///
/// The CSV form (`"Value","Percentile",...`, last column `Infinity`) is read
/// too. The file does not say its value unit (the writer divided by a
/// scaling ratio of its choice), so `Hgrm.unitNs` infers it.
public struct HgrmRow: Equatable, Sendable {
    public var value: Double
    /// 0...1
    public var percentile: Double
    public var totalCount: UInt64
    /// 1/(1-percentile); nil on the last row (percentile 1, infinite).
    public var inverse: Double?
}

public enum Hgrm {
    /// The data rows; headers, blank lines and `#[...]` footers are skipped,
    /// and so is any line that does not parse.
    public static func parse(_ text: String) -> [HgrmRow] {
        var rows: [HgrmRow] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split { $0 == " " || $0 == "\t" || $0 == "," }.map { $0.strippingQuotes() }
            guard fields.count >= 3, let value = Double(fields[0]), let p = Double(fields[1]),
                  let total = UInt64(fields[2]), value.isFinite, p >= 0, p <= 1 else { continue }
            var inverse: Double?
            if fields.count >= 4, let v = Double(fields[3]), v.isFinite { inverse = v }
            if p >= 1 { inverse = nil } else if inverse == nil { inverse = 1 / (1 - p) }
            rows.append(HgrmRow(value: value, percentile: p, totalCount: total, inverse: inverse))
        }
        return rows
    }

    /// The `.hgrm` files of a report, one per path and latency measurement,
    /// named "socket-pingpong.hgrm" or "uring-load-50.hgrm": the text each
    /// result carries, as HdrHistogram wrote it.
    public static func files(_ report: WirepathReport) -> [(name: String, text: String)] {
        var out: [(String, String)] = []
        for run in report.runs {
            if let h = run.pingpong?.hgrm { out.append(("\(run.label)-pingpong.hgrm", h)) }
            for row in run.pingpong?.stages?.rows ?? [] {
                if let h = row.hgrm { out.append(("\(run.label)-stage-\(row.stage.rawValue).hgrm", h)) }
            }
            for ol in run.openLoop {
                guard let h = ol.hgrm else { continue }
                let m = ol.loadFraction.map { "load-\(Int(($0 * 100).rounded()))" } ?? "openloop-\(Int(ol.targetPps))pps"
                out.append(("\(run.label)-\(m).hgrm", h))
            }
        }
        return out
    }

    /// Nanoseconds per value unit of `rows`: the power of 1000 (ns, µs, ms,
    /// s) that brings the file's median nearest to the summary's p50. With
    /// no summary to compare, µs, the unit wrk2 and most plots use.
    public static func unitNs(_ rows: [HgrmRow], matching summary: LatencySummary?) -> Double {
        guard let s = summary, s.count > 0, s.p50Ns > 0,
              let median = rows.first(where: { $0.percentile >= 0.5 }), median.value > 0 else { return 1000 }
        let ratio = Double(s.p50Ns) / median.value
        return [1.0, 1e3, 1e6, 1e9].min { abs(log10(ratio / $0)) < abs(log10(ratio / $1)) } ?? 1000
    }

    /// Plot points (1/(1-p), µs). The last row (p = 1) is placed at the
    /// sample count, where the largest sample sits on this axis.
    public static func points(_ rows: [HgrmRow], unitNs: Double) -> [(Double, Double)] {
        var out: [(Double, Double)] = []
        for r in rows {
            let x = r.inverse ?? max(Double(r.totalCount), out.last?.0 ?? 1)
            out.append((max(x, out.last?.0 ?? 1), r.value * unitNs / 1000))
        }
        return out
    }
}

extension Substring {
    fileprivate func strippingQuotes() -> String {
        var s = self
        while s.first == "\"" { s = s.dropFirst() }
        while s.last == "\"" { s = s.dropLast() }
        return String(s)
    }
}
