import Foundation
import Plot
import WirepathIO
import WirepathModel

/// The context of nodes inside an inline `<svg>`. Plot has no SVG DSL, so the
/// charts are Plot custom elements in a context of their own; the HTML parser
/// puts an inline `<svg>` in the SVG namespace without an `xmlns`.
enum SVGContext {}
typealias SVGNode = Node<SVGContext>

enum SVG {
    /// An element with escaped attribute values.
    static func el(_ name: String, _ attributes: [(String, String)], _ children: [SVGNode] = []) -> SVGNode {
        .element(named: name, nodes: attributes.map { SVGNode.attr($0.0, $0.1) } + children)
    }

    static func text(_ s: String, x: Double, y: Double, anchor: String = "start", cls: String? = nil,
                     extra: [(String, String)] = []) -> SVGNode {
        var a = [("x", num(x)), ("y", num(y)), ("text-anchor", anchor)]
        if let cls { a.append(("class", cls)) }
        return el("text", a + extra, [.esc(s)])
    }

    static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, cls: String) -> SVGNode {
        el("line", [("x1", num(x1)), ("y1", num(y1)), ("x2", num(x2)), ("y2", num(y2)), ("class", cls)])
    }

    /// The root `<svg>`, placed in the HTML body. `width`/`height` are given
    /// so the chart has a size before CSS scales it down to the page.
    static func root(id: String, title: String, width: Double, height: Double, _ children: [SVGNode]) -> Node<HTML.BodyContext> {
        let attributes: [SVGNode] = [
            .attr("class", "chart"), .attr("data-chart", id), .attr("role", "img"), .attr("aria-label", title),
            .attr("width", num(width)), .attr("height", num(height)), .attr("viewBox", "0 0 \(num(width)) \(num(height))"),
            .attr("preserveAspectRatio", "xMinYMin meet"),
        ]
        return .element(named: "svg", nodes: attributes + [el("title", [], [.esc(title)])] + children)
    }

    /// Coordinates with one decimal: enough for a screen, and no locale.
    static func num(_ x: Double) -> String {
        guard x.isFinite else { return "0" }
        let r = (x * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    static func points(_ pts: [(Double, Double)]) -> String {
        pts.map { "\(num($0.0)),\(num($0.1))" }.joined(separator: " ")
    }
}

/// Where a chart draws: its size and the margins around the plot area.
struct ChartFrame {
    var width: Double = 760
    var height: Double = 340
    var left: Double = 70
    var right: Double = 20
    var top: Double = 16
    var bottom: Double = 52
    var plotWidth: Double { width - left - right }
    var plotHeight: Double { height - top - bottom }
    var plotBottom: Double { height - bottom }
}

/// Axis ticks at round values: 1, 2, 2.5 or 5 times a power of ten.
enum Ticks {
    static func nice(max: Double, count: Int = 5) -> [Double] {
        let top = max.isFinite && max > 0 ? max : 1
        let raw = top / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var ticks: [Double] = []
        var v = 0.0
        while ticks.last.map({ $0 < top }) ?? true {
            ticks.append(v)
            v = Double(ticks.count) * step
        }
        return ticks
    }

    /// "0", "0.25", "0.5", "2.5", "100": at most two decimals, no trailing zeros.
    static func label(_ v: Double) -> String {
        var s = NumberText.fixed(v, v >= 100 ? 0 : 2)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }
}

/// Latency axes are in µs, or in ms once they would pass 10,000 µs, so a
/// tick label stays short.
struct LatencyAxis {
    var divisor: Double
    var title: String
    init(maxMicros: Double) {
        if maxMicros.isFinite && maxMicros > 10_000 { divisor = 1000; title = "latency (ms)" } else { divisor = 1; title = "latency (µs)" }
    }
}

/// One line on a chart.
struct Series {
    var name: String
    var color: String
    /// (x, y) in data units.
    var points: [(Double, Double)]
    var dashed = false
    var markers = false
}

/// Colours by path, fixed so a path has one colour in every chart; a tuned
/// variant (`compare --tune`) gets a darker shade of its path's colour.
enum Palette {
    static func color(_ run: PathRun) -> String { color(run.path.rawValue, variant: run.variant != nil) }

    static func color(_ path: String, variant: Bool = false) -> String {
        switch (path, variant) {
        case ("socket", false): return "#1f6fb4"
        case ("socket", true): return "#0b3d66"
        case ("mmsg", false): return "#e8710a"
        case ("mmsg", true): return "#9c4a00"
        case ("uring", false): return "#2a9d3a"
        case ("uring", true): return "#17632a"
        case ("xdp", false): return "#c2304a"
        case ("xdp", true): return "#7d1a2c"
        default:
            let others = ["#7b4fb0", "#8c564b", "#d458a8", "#5f6b73", "#a89b12", "#128fa8"]
            return others[Int(path.unicodeScalars.reduce(0) { $0 &+ $1.value } % UInt32(others.count))]
        }
    }
}

/// The HdrHistogram percentile-distribution plot: x is 1/(1-p) on a log
/// scale (0%, 90%, 99%, 99.9%, ...), y is latency in µs.
enum PercentileChart {
    /// "0%", "90%", "99%", "99.9%", ... for the decade 10^k.
    static func label(decade k: Int) -> String {
        switch k {
        case 0: return "0%"
        case 1: return "90%"
        case 2: return "99%"
        default: return "99." + String(repeating: "9", count: k - 2) + "%"
        }
    }

    static func svg(id: String, title: String, series: [Series]) -> Node<HTML.BodyContext> {
        var f = ChartFrame()
        f.right = 40  // room for the last label, "99.999%", centred on the edge
        let xs = series.flatMap { $0.points.map(\.0) }.filter { $0.isFinite && $0 >= 1 }
        let ys = series.flatMap { $0.points.map(\.1) }.filter(\.isFinite)
        // At least out to 99.999%, as HdrHistogram's plotter shows it.
        let decades = min(9, max(5, Int(ceil(log10(xs.max() ?? 1) - 1e-9))))
        let unit = LatencyAxis(maxMicros: ys.max() ?? 1)
        let yTicks = Ticks.nice(max: (ys.max() ?? 1) / unit.divisor)
        let yMax = yTicks.last ?? 1
        func px(_ x: Double) -> Double { f.left + log10(Swift.max(x, 1)) / Double(decades) * f.plotWidth }
        func py(_ y: Double) -> Double { f.plotBottom - Swift.max(0, y) / unit.divisor / yMax * f.plotHeight }

        var nodes: [SVGNode] = []
        for k in 0...decades {
            let x = px(pow(10, Double(k)))
            nodes.append(SVG.line(x, f.top, x, f.plotBottom, cls: "grid"))
            nodes.append(SVG.text(label(decade: k), x: x, y: f.plotBottom + 18, anchor: "middle", cls: "tick"))
        }
        nodes += yAxis(yTicks, frame: f) { py($0 * unit.divisor) }
        nodes.append(SVG.text("percentile", x: f.left + f.plotWidth / 2, y: f.height - 8, anchor: "middle", cls: "axis-title"))
        nodes.append(yTitle(unit.title, frame: f))
        nodes += lines(series.map { s in Series(name: s.name, color: s.color, points: s.points.map { (px($0.0), py($0.1)) },
                                                dashed: s.dashed, markers: s.markers) })
        nodes.append(SVG.el("rect", [("class", "frame"), ("x", SVG.num(f.left)), ("y", SVG.num(f.top)),
                                     ("width", SVG.num(f.plotWidth)), ("height", SVG.num(f.plotHeight))]))
        return SVG.root(id: id, title: title, width: f.width, height: f.height, nodes)
    }

    static func yAxis(_ ticks: [Double], frame f: ChartFrame, py: (Double) -> Double) -> [SVGNode] {
        ticks.flatMap { t -> [SVGNode] in
            let y = py(t)
            return [SVG.line(f.left, y, f.left + f.plotWidth, y, cls: "grid"),
                    SVG.text(Ticks.label(t), x: f.left - 6, y: y + 4, anchor: "end", cls: "tick")]
        }
    }

    static func yTitle(_ s: String, frame f: ChartFrame) -> SVGNode {
        let x = 16.0, y = f.top + f.plotHeight / 2
        return SVG.text(s, x: x, y: y, anchor: "middle", cls: "axis-title",
                        extra: [("transform", "rotate(-90 \(SVG.num(x)) \(SVG.num(y)))")])
    }

    /// Polylines (and markers) for series already in pixel coordinates.
    static func lines(_ series: [Series]) -> [SVGNode] {
        var nodes: [SVGNode] = []
        for s in series where !s.points.isEmpty {
            var a = [("class", "series"), ("data-series", s.name), ("stroke", s.color), ("fill", "none"),
                     ("points", SVG.points(s.points))]
            if s.dashed { a.append(("stroke-dasharray", "6 4")) }
            nodes.append(SVG.el("polyline", a))
            if s.markers {
                for p in s.points {
                    nodes.append(SVG.el("circle", [("class", "marker"), ("cx", SVG.num(p.0)), ("cy", SVG.num(p.1)),
                                                   ("r", "3"), ("fill", s.color)]))
                }
            }
        }
        return nodes
    }
}

/// Latency against offered load: x is the load in % of the path's flood
/// capacity (or the offered rate in kpps), y is latency in µs.
enum LoadChart {
    static func svg(id: String, title: String, xTitle: String, xMax: Double, yMax: Double, series: [Series]) -> Node<HTML.BodyContext> {
        var f = ChartFrame()
        f.width = 372; f.height = 260; f.left = 58
        let xTicks = Ticks.nice(max: xMax, count: 4)
        let unit = LatencyAxis(maxMicros: yMax)
        let yTicks = Ticks.nice(max: yMax / unit.divisor, count: 4)
        let xHi = xTicks.last ?? 1, yHi = yTicks.last ?? 1
        func px(_ x: Double) -> Double { f.left + Swift.max(0, x) / xHi * f.plotWidth }
        func py(_ y: Double) -> Double { f.plotBottom - Swift.max(0, y) / unit.divisor / yHi * f.plotHeight }
        var nodes: [SVGNode] = []
        for t in xTicks {
            nodes.append(SVG.line(px(t), f.top, px(t), f.plotBottom, cls: "grid"))
            nodes.append(SVG.text(Ticks.label(t), x: px(t), y: f.plotBottom + 18, anchor: "middle", cls: "tick"))
        }
        nodes += PercentileChart.yAxis(yTicks, frame: f) { py($0 * unit.divisor) }
        nodes.append(SVG.text(xTitle, x: f.left + f.plotWidth / 2, y: f.height - 8, anchor: "middle", cls: "axis-title"))
        nodes.append(PercentileChart.yTitle(unit.title, frame: f))
        nodes += PercentileChart.lines(series.map { s in
            Series(name: s.name, color: s.color, points: s.points.map { (px($0.0), py($0.1)) }, dashed: s.dashed, markers: true)
        })
        nodes.append(SVG.el("rect", [("class", "frame"), ("x", SVG.num(f.left)), ("y", SVG.num(f.top)),
                                     ("width", SVG.num(f.plotWidth)), ("height", SVG.num(f.plotHeight))]))
        return SVG.root(id: id, title: title, width: f.width, height: f.height, nodes)
    }
}

/// Horizontal bars: one group per path, one bar per series in the group.
enum BarChart {
    struct Row {
        var label: String
        var color: String
        /// One value per series; nil draws "n/a".
        var values: [Double?]
        /// When set, the row shows this instead of bars ("unavailable").
        var note: String?
    }

    static func svg(id: String, title: String, unit: String, series: [String], rows: [Row], digits: Int) -> Node<HTML.BodyContext> {
        let barHeight = 16.0, barGap = 3.0, groupGap = 14.0
        var f = ChartFrame()
        // Room for the longest row label (bold 12 px: about 7.5 px a character).
        let longest = rows.map(\.label.count).max() ?? 0
        f.width = 600; f.left = max(70, Double(longest) * 7.5 + 16); f.right = 90; f.top = 10; f.bottom = 40
        let groupHeight = Double(max(series.count, 1)) * (barHeight + barGap) - barGap
        f.height = f.top + f.bottom + Double(max(rows.count, 1)) * (groupHeight + groupGap)
        let all = rows.flatMap { $0.values.compactMap { $0 } }.filter(\.isFinite)
        let ticks = Ticks.nice(max: all.max() ?? 1, count: 4)
        let hi = ticks.last ?? 1
        func px(_ v: Double) -> Double { f.left + Swift.max(0, v) / hi * f.plotWidth }
        var nodes: [SVGNode] = []
        for t in ticks {
            nodes.append(SVG.line(px(t), f.top, px(t), f.plotBottom, cls: "grid"))
            nodes.append(SVG.text(Ticks.label(t), x: px(t), y: f.plotBottom + 16, anchor: "middle", cls: "tick"))
        }
        nodes.append(SVG.text(unit, x: f.left + f.plotWidth / 2, y: f.height - 6, anchor: "middle", cls: "axis-title"))
        for (i, row) in rows.enumerated() {
            let y0 = f.top + groupGap / 2 + Double(i) * (groupHeight + groupGap)
            nodes.append(SVG.text(row.label, x: f.left - 8, y: y0 + groupHeight / 2 + 4, anchor: "end", cls: "label"))
            if let note = row.note {
                nodes.append(SVG.text(note, x: f.left + 6, y: y0 + groupHeight / 2 + 4, cls: "note"))
                continue
            }
            for (j, name) in series.enumerated() {
                let y = y0 + Double(j) * (barHeight + barGap)
                let suffix = series.count > 1 ? " \(name)" : ""
                guard j < row.values.count, let v = row.values[j], v.isFinite else {
                    nodes.append(SVG.text("n/a" + suffix, x: f.left + 6, y: y + barHeight - 4, cls: "note"))
                    continue
                }
                let w = Swift.max(px(v) - f.left, 1)
                nodes.append(SVG.el("rect", [("class", "bar"), ("data-series", name), ("x", SVG.num(f.left)), ("y", SVG.num(y)),
                                             ("width", SVG.num(w)), ("height", SVG.num(barHeight)), ("fill", row.color),
                                             ("fill-opacity", j == 0 ? "1" : "0.55")]))
                nodes.append(SVG.text(NumberText.fixed(v, digits) + suffix, x: f.left + w + 5, y: y + barHeight - 4, cls: "value"))
            }
        }
        nodes.append(SVG.line(f.left, f.top, f.left, f.plotBottom, cls: "axis"))
        return SVG.root(id: id, title: title, width: f.width, height: f.height, nodes)
    }
}
