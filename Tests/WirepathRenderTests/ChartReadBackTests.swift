import Foundation
import XCTest
import WirepathModel
import WirepathRender

/// The drawn chart read back: the percentile plot's polyline points,
/// turned into data with the chart's own axis labels (the pixel positions
/// of its "0%"/"90%" and latency tick texts), equal the rows of the .hgrm
/// file the curve was drawn from, parsed here independently of the
/// report's own parser.
final class ChartReadBackTests: XCTestCase {
    /// A .hgrm row: value (µs), percentile, and 1/(1-p) (nil for "inf").
    struct Row { var value: Double; var percentile: Double; var inverse: Double? }

    /// HdrHistogram's percentile-distribution text, as `.hgrm` files hold it.
    static func parseHgrm(_ text: String) -> [Row] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            // The last row (p = 1) has no finite 1/(1-p), and may leave it out.
            guard f.count == 3 || f.count == 4, let v = Double(f[0]), let p = Double(f[1]), Double(f[2]) != nil else { return nil }
            return Row(value: v, percentile: p, inverse: f.count == 4 ? Double(f[3]).flatMap { $0.isFinite ? $0 : nil } : nil)
        }
    }

    /// The `<svg ... data-chart="ID">...</svg>` element of the page.
    static func svg(_ html: String, id: String) -> Substring? {
        guard let start = html.range(of: "data-chart=\"\(id)\""),
              let end = html[start.upperBound...].range(of: "</svg>") else { return nil }
        return html[start.lowerBound..<end.upperBound]
    }

    /// Every `<text ... x="X" y="Y" ...>LABEL</text>` of class tick.
    static func ticks(_ svg: Substring) -> [(label: String, x: Double, y: Double)] {
        var out: [(String, Double, Double)] = []
        var rest = svg[...]
        while let open = rest.range(of: "<text "), let close = rest[open.upperBound...].range(of: "</text>") {
            let element = rest[open.lowerBound..<close.lowerBound]
            rest = rest[close.upperBound...]
            guard element.contains("class=\"tick\""), let gt = element.firstIndex(of: ">") else { continue }
            func attr(_ name: String) -> Double? {
                guard let r = element.range(of: " \(name)=\""), let q = element[r.upperBound...].firstIndex(of: "\"") else { return nil }
                return Double(element[r.upperBound..<q])
            }
            guard let x = attr("x"), let y = attr("y") else { continue }
            out.append((String(element[element.index(after: gt)...]), x, y))
        }
        return out
    }

    static func polyline(_ svg: Substring, series: String) -> [(Double, Double)]? {
        guard let r = svg.range(of: "data-series=\"\(series)\""),
              let p = svg[r.upperBound...].range(of: "points=\""),
              let end = svg[p.upperBound...].firstIndex(of: "\"") else { return nil }
        return svg[p.upperBound..<end].split(separator: " ").compactMap {
            let xy = $0.split(separator: ",").compactMap { Double($0) }
            return xy.count == 2 ? (xy[0], xy[1]) : nil
        }
    }

    func testPercentileCurveReadBackEqualsTheHgrmFile() throws {
        let dir = try Fixture.temporaryDirectory("readback")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try HTMLReport.write(Fixture.report(), histograms: Fixture.histograms(), to: dir.path)
        let html = try String(contentsOfFile: path, encoding: .utf8)
        // The .hgrm file of mmsg's ping-pong, as `--hgrm DIR` writes it.
        let hgrmFile = dir.appendingPathComponent("mmsg-pingpong.hgrm")
        try Fixture.mmsgHistogram.percentileDistribution.write(to: hgrmFile, atomically: true, encoding: .utf8)
        let rows = Self.parseHgrm(try String(contentsOf: hgrmFile, encoding: .utf8))
        XCTAssertGreaterThan(rows.count, 30)

        let chart = try XCTUnwrap(Self.svg(html, id: "percentiles"), "no percentile chart")
        let ticks = Self.ticks(chart)
        // x: the "0%" label sits at 1/(1-p) = 1, "90%" at 10, one decade apart.
        let x0 = try XCTUnwrap(ticks.first { $0.label == "0%" }).x
        let x1 = try XCTUnwrap(ticks.first { $0.label == "90%" }).x
        let decade = x1 - x0
        XCTAssertGreaterThan(decade, 50)
        // y: the numeric tick labels (drawn 4 px below their value's line).
        let yTicks = ticks.compactMap { t in Double(t.label).map { (value: $0, y: t.y - 4) } }.sorted { $0.value < $1.value }
        let low = try XCTUnwrap(yTicks.first), high = try XCTUnwrap(yTicks.last)
        XCTAssertGreaterThan(high.value, low.value)
        let perUnit = (high.y - low.y) / (high.value - low.value)
        let unitMicros = chart.contains("latency (ms)") ? 1000.0 : 1.0

        let points = try XCTUnwrap(Self.polyline(chart, series: "mmsg"), "no mmsg curve")
        XCTAssertEqual(points.count, rows.count, "one point per .hgrm row")
        for (i, (row, point)) in zip(rows, points).enumerated() {
            // The value, read off the chart's latency axis.
            let value = (low.value + (point.1 - low.y) / perUnit) * unitMicros
            XCTAssertEqual(value, row.value, accuracy: max(row.value * 0.01, abs(1 / perUnit) * unitMicros),
                           "row \(i): the chart draws \(value) µs, the .hgrm says \(row.value)")
            // The percentile, read off its log axis (rows with 1/(1-p) = inf
            // are drawn at the last finite position).
            guard let inverse = row.inverse else { continue }
            let expectedX = x0 + log10(max(inverse, 1)) * decade
            XCTAssertEqual(point.0, expectedX, accuracy: 1.0, "row \(i): percentile \(row.percentile) drawn at x \(point.0), expected \(expectedX)")
        }
    }
}
