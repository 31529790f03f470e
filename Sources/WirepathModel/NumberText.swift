/// Numbers as people read them: the one formatter for the labels the model
/// writes into its values (a verdict's reasons, "open-loop 50%") and for
/// every table WirepathRender prints, so a figure reads the same in both.
/// Pure Swift rather than `String(format:)`, so the model needs no
/// Foundation.
public enum NumberText {
    /// `x` rounded to `digits` decimals, always with that many ("2.50");
    /// "-" for infinity or NaN.
    public static func fixed(_ x: Double, _ digits: Int) -> String {
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

    /// Nanoseconds as microseconds with two decimals.
    public static func micros(_ ns: UInt64) -> String { fixed(Double(ns) / 1000, 2) }
}
