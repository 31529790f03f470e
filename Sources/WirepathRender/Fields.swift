import Foundation
import WirepathIO
import WirepathModel

/// Parts of the result model read through their JSON form, so the report
/// shows fields it was not written against: a run's `verification` and the
/// report's `capture` (with `--capture`), new path options. A field that is
/// absent renders as nothing.
enum Fields {
    /// The value's JSON object (dictionaries, arrays, strings, numbers).
    static func json<T: Encodable>(_ value: T) -> [String: Any] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        guard let data = try? enc.encode(value),
              let obj = try? JSONSerialization.jsonObject(with: data), let dict = obj as? [String: Any] else { return [:] }
        return dict
    }

    /// "a.b.c" → printable value pairs, in key order. A latency summary (a
    /// dictionary with p50Ns and p99Ns) is one pair in µs.
    static func flatten(_ value: Any, prefix: String = "") -> [(String, String)] {
        if let d = value as? [String: Any] {
            if let s = latencyLine(d) { return [(prefix, s)] }
            return d.keys.sorted().flatMap { k in flatten(d[k]!, prefix: prefix.isEmpty ? k : prefix + "." + k) }
        }
        if let a = value as? [Any] {
            if a.isEmpty { return [] }
            if a.allSatisfy({ !($0 is [String: Any]) && !($0 is [Any]) }) {
                return [(prefix, a.map(scalar).joined(separator: ", "))]
            }
            return a.enumerated().flatMap { flatten($0.element, prefix: "\(prefix)[\($0.offset)]") }
        }
        return [(prefix, scalar(value))]
    }

    static func scalar(_ v: Any) -> String {
        switch v {
        case is NSNull: return "-"
        case let s as String: return s
        case let b as Bool where type(of: v) == Bool.self: return b ? "yes" : "no"
        case let n as NSNumber:
            // JSON booleans come back as NSNumber on some Foundations.
            if String(cString: n.objCType) == "c" { return n.boolValue ? "yes" : "no" }
            let d = n.doubleValue
            if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
            return NumberText.fixed(d, 3)
        default: return String(describing: v)
        }
    }

    static func latencyLine(_ d: [String: Any]) -> String? {
        guard let p50 = (d["p50Ns"] as? NSNumber)?.doubleValue, let p99 = (d["p99Ns"] as? NSNumber)?.doubleValue else { return nil }
        var parts = ["p50 \(NumberText.fixed(p50 / 1000, 2))", "p99 \(NumberText.fixed(p99 / 1000, 2))"]
        if let m = (d["maxNs"] as? NSNumber)?.doubleValue { parts.append("max \(NumberText.fixed(m / 1000, 2))") }
        var s = parts.joined(separator: " · ") + " µs"
        if let c = (d["count"] as? NSNumber)?.uint64Value { s += " (\(c) samples)" }
        return s
    }

    /// A compact "key=value, ..." line.
    static func line(_ value: Any) -> String {
        flatten(value).map { $0.0.isEmpty ? $0.1 : "\($0.0)=\($0.1)" }.joined(separator: ", ")
    }
}
