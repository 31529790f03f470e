import Foundation
import Histogram
import Plot
import XCTest
import WirepathIO
import WirepathModel
@testable import WirepathRender

/// The HTML report's content, read as text: self-contained, escaped, with
/// the charts and tables the issue asks for. ChromiumTests renders it.
final class HTMLReportTests: XCTestCase {
    func writeFixture() throws -> (dir: URL, html: String) {
        let dir = try Fixture.temporaryDirectory("report")
        let path = try HTMLReport.write(Fixture.report(), histograms: Fixture.histograms(), to: dir.path)
        XCTAssertEqual(path, dir.appendingPathComponent("index.html").path)
        return (dir, try String(contentsOfFile: path, encoding: .utf8))
    }

    func count(_ needle: String, in s: String) -> Int { s.components(separatedBy: needle).count - 1 }

    func testReportIsSelfContained() throws {
        let (dir, html) = try writeFixture()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        // Nothing to fetch: no URL anywhere, no script, stylesheet link,
        // import or url() (the fixture itself contains no URL).
        XCTAssertFalse(html.contains("http://"), "the report names an http URL")
        XCTAssertFalse(html.contains("https://"), "the report names an https URL")
        let fetching = try NSRegularExpression(pattern: #"(src|href|xlink:href|action|data)\s*=\s*["']?\s*(https?:)?//"#, options: [.caseInsensitive])
        XCTAssertNil(fetching.firstMatch(in: html, range: NSRange(html.startIndex..., in: html)), "a src/href fetch")
        for forbidden in ["<script", "<link", "<img", "<iframe", "@import", "url("] {
            XCTAssertFalse(html.lowercased().contains(forbidden), "the report contains \(forbidden)")
        }
        XCTAssertTrue(html.contains("Content-Security-Policy"))
        XCTAssertTrue(html.contains("default-src 'none'"))
        XCTAssertTrue(html.contains("<style>"))
    }

    func testChartsAreInlineSVG() throws {
        let (dir, html) = try writeFixture()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Percentiles, latency against load for socket and mmsg, and three bar charts.
        for id in ["percentiles", "load-socket", "load-mmsg", "mpps", "syscalls", "cpu"] {
            XCTAssertTrue(html.contains("data-chart=\"\(id)\""), "no \(id) chart")
        }
        XCTAssertEqual(count("<svg", in: html), 6)
        XCTAssertEqual(count("</svg>", in: html), 6)
        XCTAssertFalse(html.contains("data-chart=\"load-uring\""), "uring has no open-loop data")
        // One RTT line per path with ping-pong data, none for uring or xdp.
        XCTAssertTrue(html.contains("<polyline class=\"series\" data-series=\"socket\""))
        XCTAssertTrue(html.contains("<polyline class=\"series\" data-series=\"mmsg\""))
        XCTAssertTrue(html.contains("<polyline class=\"series\" data-series=\"socket+spin\""))
        XCTAssertFalse(html.contains("data-series=\"uring\""))
        XCTAssertFalse(html.contains("data-series=\"xdp\""))
        XCTAssertTrue(html.contains("uring — no ping-pong data"))
        XCTAssertTrue(html.contains("xdp — unavailable: no AF_XDP here"))
        // socket's stalls move its corrected tail: drawn dashed.
        XCTAssertTrue(html.contains("data-series=\"socket corrected\""))
        // The load charts: p50 and p99 per path.
        XCTAssertEqual(count("data-series=\"p50\"", in: html), 2)
        XCTAssertEqual(count("data-series=\"p99\"", in: html), 2)
        // Bars: three paths have flood data, two bars each, in three charts.
        XCTAssertEqual(count("<rect class=\"bar\"", in: html), 3 * 3 * 2)
        // The axis labels of the HdrHistogram plot.
        for label in [">0%<", ">90%<", ">99%<", ">99.9%<", ">99.99%<", ">99.999%<"] {
            XCTAssertTrue(html.contains(label), "no percentile axis label \(label)")
        }
    }

    func testCurvesComeFromHgrmWhereThereIsOne() throws {
        let (dir, html) = try writeFixture()
        defer { try? FileManager.default.removeItem(at: dir) }
        // mmsg's .hgrm is in its result.
        let points = try XCTUnwrap(polylinePoints(html, series: "mmsg"))
        let rows = Hgrm.parse(Fixture.mmsgHistogram.percentileDistribution)
        XCTAssertEqual(points.count, rows.count, "one point per .hgrm row")
        XCTAssertGreaterThan(points.count, 30)
        XCTAssertTrue(html.contains("mmsg (20000 samples, .hgrm, \(rows.count) rows)"))
        // The tuned socket's was passed in, in ns; its curve ends at the
        // same height as a curve drawn from its summary would.
        let tuned = try XCTUnwrap(polylinePoints(html, series: "socket+spin"))
        XCTAssertGreaterThan(tuned.count, 30)
        let summary = Sections.summaryPoints(LatencySummary(Fixture.tunedHistogram))
        XCTAssertEqual(Hgrm.points(Hgrm.parse(Fixture.histograms()["socket+spin"]!), unitNs: 1).last!.1, summary.last!.1, accuracy: 0.01)
        // socket has none: its seven summary points.
        XCTAssertEqual(try XCTUnwrap(polylinePoints(html, series: "socket")).count, 7)
    }

    func testTunedVariantRecommendationAndSpread() throws {
        let (dir, html) = try writeFixture()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The tuned row has its own label and a darker shade of socket's colour.
        XCTAssertTrue(html.contains("<tr class=\"ok\" data-path=\"socket+spin\">"))
        XCTAssertTrue(html.contains("stroke=\"\(Palette.color("socket", variant: true))\""))
        XCTAssertNotEqual(Palette.color("socket", variant: true), Palette.color("socket"))
        // Its bars say it had no flood.
        XCTAssertTrue(html.contains(">no flood run<"))
        // The recommendation, escaped.
        XCTAssertTrue(html.contains("id=\"recommendation\""))
        XCTAssertTrue(html.contains("latency: mmsg &lt;fastest&gt;"))
        XCTAssertTrue(html.contains("mmsg: p99 20.98 µs vs socket 26.98 µs &amp; more"))
        XCTAssertTrue(html.contains("throughput: uring and mmsg tie within the spread"))
        // The spread over --repeat runs: min · median · max.
        let p50 = Fixture.report().runs[0].pingpong!.latency.p50Ns
        XCTAssertTrue(html.contains("Run-to-run spread"))
        XCTAssertTrue(html.contains(">\(NumberText.micros(p50 - 700)) · \(NumberText.micros(p50)) · \(NumberText.micros(p50 + 900))<"))
    }

    func polylinePoints(_ html: String, series: String) -> [(Double, Double)]? {
        guard let r = html.range(of: "data-series=\"\(series)\""),
              let p = html[r.upperBound...].range(of: "points=\""),
              let end = html[p.upperBound...].firstIndex(of: "\"") else { return nil }
        return html[p.upperBound..<end].split(separator: " ").map {
            let xy = $0.split(separator: ",").compactMap { Double($0) }
            return (xy[0], xy[1])
        }
    }

    func testTablesAndEscaping() throws {
        let (dir, html) = try writeFixture()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The unavailable row spans the figures with its reason, escaped.
        XCTAssertTrue(html.contains("colspan=\"12\""))
        XCTAssertTrue(html.contains("no AF_XDP here: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; &#39;quoted&#39;"))
        XCTAssertFalse(html.contains("<script>alert"))
        XCTAssertFalse(html.contains("<b>bold"))
        XCTAssertTrue(html.contains("busy-poll had nothing to poll &amp; said so"))
        // Comparison figures, as the text report prints them.
        let report = Fixture.report()
        let socket = report.runs[0]
        XCTAssertTrue(html.contains(">\(NumberText.micros(socket.pingpong!.latency.p50Ns))<"))
        XCTAssertTrue(html.contains(">\(NumberText.fixed(socket.flood!.rxPps / 1e6, 3))<"))
        XCTAssertTrue(html.contains(">0.031<"), "mmsg's tx syscalls per packet")
        // Environment and settings.
        for s in ["Linux 6.1.0-test", "Test CPU @ 2.0GHz (2 CPUs)", "veth-pair", "wirepath-1-cli", "198.18.0.2:7000",
                  "perf_event_open raw_syscalls:sys_enter", "pingpong, flood", "batchSize=32"] {
            XCTAssertTrue(html.contains(s), "the environment lacks \(s)")
        }
        XCTAssertTrue(html.contains("<td>vethNAPI</td><td>yes</td>"), "a JSON boolean prints as yes/no")
        // The latency-under-load table.
        XCTAssertTrue(html.contains(">10%<") && html.contains(">50%<") && html.contains(">90%<"))
    }

    func testEmptyAndFailedRunsRender() throws {
        var report = Fixture.report()
        report.runs = []
        var html = HTMLReport.render(report)
        XCTAssertTrue(html.contains("No path ran."))
        XCTAssertTrue(html.contains("data-chart=\"percentiles\""), "an empty plot, not a crash")
        XCTAssertTrue(html.contains("No open-loop runs"))

        // A path that failed, one whose ping-pong got no reply, and an
        // open-loop run with no reply.
        let options = PathOptionsRecord(payloadSize: 64, batchSize: 1, wait: .spin, busyPollMicros: 50, napiID: 0)
        var silent = Fixture.pingpong(medianNs: 10_000, syscallsPerRTT: 2)
        silent.latency = LatencySummary(LatencyHistogram.make())
        silent.latencyCorrected = nil
        var noReply = PathRun(path: .socket, status: .ok, options: options, pingpong: silent)
        var dead = Fixture.openLoop(medianNs: 10_000, capacity: 100_000)
        dead[1].latency = LatencySummary(LatencyHistogram.make())
        noReply.openLoop = dead
        report.runs = [PathRun(path: .mmsg, status: .failed, reason: "sendmmsg: EPERM", options: options), noReply]
        html = HTMLReport.render(report, histograms: ["socket": "not an hgrm\n# nothing\n"])
        XCTAssertTrue(html.contains("sendmmsg: EPERM"))
        XCTAssertTrue(html.contains("mmsg — failed: sendmmsg: EPERM"))
        XCTAssertFalse(html.contains("data-series=\"socket\""), "no samples, no line")
        XCTAssertTrue(html.contains("1 load(s) with no replies"))
        XCTAssertTrue(html.contains("no flood run"))
        XCTAssertFalse(html.contains("nan") || html.contains("inf\""), "no NaN or infinity reaches a coordinate")
    }

    func testWriteMakesTheDirectory() throws {
        let base = try Fixture.temporaryDirectory("mkdir")
        defer { try? FileManager.default.removeItem(at: base) }
        let dir = base.appendingPathComponent("a/b")
        try HTMLReport.write(Fixture.report(), to: dir.path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("index.html").path))
        // A file in the way: an error naming the directory.
        let blocker = base.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        XCTAssertThrowsError(try HTMLReport.write(Fixture.report(), to: blocker.appendingPathComponent("sub").path)) {
            XCTAssertTrue(String(describing: $0).contains("cannot create report directory"), "\($0)")
        }
    }

    // MARK: .hgrm

    func testHgrmParsesWhatHdrHistogramWrites() throws {
        let h = Fixture.histogram(medianNs: 20_000)
        let rows = Hgrm.parse(Fixture.hgrm(h))
        XCTAssertGreaterThan(rows.count, 30)
        XCTAssertEqual(rows.first?.percentile, 0)
        XCTAssertEqual(rows.last?.percentile, 1)
        XCTAssertNil(rows.last?.inverse, "the last row's 1/(1-p) is infinite")
        XCTAssertEqual(rows.last?.totalCount, h.totalCount)
        XCTAssertEqual(rows.last!.value * 1000, Double(h.max), accuracy: Double(h.max) / 1000)
        // Written in µs, ms or ns: the unit is found against the summary.
        let summary = LatencySummary(h)
        XCTAssertEqual(Hgrm.unitNs(rows, matching: summary), 1000)
        XCTAssertEqual(Hgrm.unitNs(Hgrm.parse(Fixture.hgrm(h, scalingToUnit: 1)), matching: summary), 1)
        XCTAssertEqual(Hgrm.unitNs(Hgrm.parse(Fixture.hgrm(h, scalingToUnit: 1e6)), matching: summary), 1e6)
        XCTAssertEqual(Hgrm.unitNs(rows, matching: nil), 1000, "µs when there is nothing to compare with")
        // Points: x never goes back, the max sits at the sample count.
        let pts = Hgrm.points(rows, unitNs: 1000)
        XCTAssertEqual(pts.last?.0, Double(h.totalCount))
        XCTAssertEqual(pts.last!.1, Double(h.max) / 1000, accuracy: Double(h.max) / 1e6)
        XCTAssertTrue(zip(pts, pts.dropFirst()).allSatisfy { $0.0 <= $1.0 })
    }

    func testHgrmCSVForm() {
        let csv = """
        "Value","Percentile","TotalCount","1/(1-Percentile)"
        10.000,0.000000000000,1,1.00
        12.500,0.500000000000,50,2.00
        40.000,0.990000000000,99,100.00
        90.000,1.000000000000,100,Infinity
        """
        let rows = Hgrm.parse(csv)
        XCTAssertEqual(rows.map(\.value), [10, 12.5, 40, 90])
        XCTAssertEqual(rows.map(\.inverse), [1, 2, 100, nil])
    }

    // MARK: pieces

    func testSummaryPointsFollowTheSampleCount() {
        var h = LatencyHistogram.make()
        for i in 1...500 { h.record(UInt64(i) * 100) }
        XCTAssertEqual(Sections.summaryPoints(LatencySummary(h)).map(\.0), [1, 2, 10, 100, 500])
        XCTAssertEqual(Sections.summaryPoints(LatencySummary(Fixture.histogram(medianNs: 1000))).map(\.0), [1, 2, 10, 100, 1000, 10000, 20000])
        XCTAssertTrue(Sections.summaryPoints(LatencySummary(LatencyHistogram.make())).isEmpty)
    }

    func testTicksAndLabels() {
        XCTAssertEqual(Ticks.nice(max: 37), [0, 10, 20, 30, 40])
        XCTAssertEqual(Ticks.nice(max: 0.9, count: 4), [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(Ticks.nice(max: 0).count, 6, "an empty chart still gets an axis up to 1")
        XCTAssertEqual(Ticks.nice(max: 0).last!, 1, accuracy: 1e-9)
        XCTAssertEqual(Ticks.nice(max: .nan).last, 1)
        XCTAssertEqual([0, 0.25, 0.5, 1, 2.5, 10, 12.5, 100, 250].map(Ticks.label), ["0", "0.25", "0.5", "1", "2.5", "10", "12.5", "100", "250"])
        XCTAssertEqual(LatencyAxis(maxMicros: 2_500).title, "latency (µs)")
        XCTAssertEqual(LatencyAxis(maxMicros: 44_000).title, "latency (ms)")
        XCTAssertEqual(LatencyAxis(maxMicros: 44_000).divisor, 1000)
        XCTAssertEqual((0...5).map(PercentileChart.label(decade:)), ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    }

    func testEscaping() {
        XCTAssertEqual(HTMLEscape.text(#"<a href="x">&amp;'"#), "&lt;a href=&quot;x&quot;&gt;&amp;amp;&#39;")
        XCTAssertEqual(HTMLEscape.text("a\u{7}b"), "a\u{FFFD}b")
        let node = SVG.text("<tick & \"q\">", x: 1, y: 2)
        XCTAssertEqual(node.render(indentedBy: nil), #"<text x="1" y="2" text-anchor="start">&lt;tick &amp; &quot;q&quot;&gt;</text>"#)
    }

    /// Verification is rendered from the run's JSON, so a build whose
    /// PathRun has a `verification` field gets its table, and one without
    /// renders nothing.
    func testVerificationTableFromJSON() {
        let v: [String: Any] = [
            "runs": [[
                "measurement": "pingpong", "runID": 42,
                "checks": [
                    ["name": "client sent pings", "program": 10000, "wire": 10000, "status": "agree", "message": ""],
                    ["name": "reflector received <window>", "program": 10002, "wire": 10001, "status": "disagree", "message": "1 fewer on the wire"],
                ],
                "notes": ["a damaged frame & its fate"],
                "programRTT": ["count": 10000, "p50Ns": 15000, "p99Ns": 30000, "maxNs": 90000],
            ]],
        ]
        let html = Sections.verificationBody(v).render(indentedBy: nil)
        XCTAssertTrue(html.contains("pingpong · run id 42"))
        XCTAssertTrue(html.contains("<td class=\"l disagree\">disagree</td>"))
        XCTAssertTrue(html.contains("reflector received &lt;window&gt;"))
        XCTAssertTrue(html.contains("a damaged frame &amp; its fate"))
        XCTAssertTrue(html.contains("p50 15.00 · p99 30.00 · max 90.00 µs (10000 samples)"))
        // Any other shape: a key/value table.
        let other = Sections.verificationBody(["skipped": "no capture"]).render(indentedBy: nil)
        XCTAssertTrue(other.contains("<td>skipped</td><td>no capture</td>"))
        // This fixture has none: no section.
        XCTAssertFalse(HTMLReport.render(Fixture.report()).contains("id=\"verification\""))
    }

    /// The same through the result model: a run decoded with a
    /// `verification` (as `--capture` records it) gets its section.
    func testVerificationOfARunFromTheModel() throws {
        var report = Fixture.report()
        var run = Fields.json(report.runs[1])
        run["verification"] = ["runs": [[
            "measurement": "flood", "runID": 9,
            "checks": [["name": "receiver received", "program": 2500, "wire": 2497, "status": "unverifiable",
                        "message": "the capture dropped 3 itself"]],
            "notes": [],
        ]]]
        report.runs[1] = try JSONDecoder().decode(PathRun.self, from: JSONSerialization.data(withJSONObject: run))
        let html = HTMLReport.render(report)
        XCTAssertTrue(html.contains("id=\"verification\""), "PathRun no longer decodes `verification`: the report would drop it")
        XCTAssertTrue(html.contains("<h3>mmsg</h3><h4>flood · run id 9</h4>"))
        XCTAssertTrue(html.contains("<td class=\"l unverifiable\">unverifiable</td>"))
        XCTAssertTrue(html.contains("the capture dropped 3 itself"))
    }
}
