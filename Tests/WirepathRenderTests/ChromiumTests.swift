import Foundation
import XCTest
import WirepathTestSupport
import WirepathIO
import WirepathModel
@testable import WirepathRender

/// Opens the report in headless Chromium (Debian's `chromium`, which the
/// Makefile installs) and checks that every chart rendered with a size, that
/// the page fetched nothing and that nothing reached the console.
///
/// The report has no script. The test renders a copy of it with two small
/// inline scripts added and the copy's CSP widened to let them run: one at
/// the top of <head> that records errors and CSP violations, one at the end
/// of <body> that writes each chart's getBBox() and on-screen box into a
/// <pre>, which `--dump-dom` then prints.
///
/// Without Chromium the test skips, except under CI=true, where the
/// Makefile should have installed it and a skip would hide a broken report.
final class ChromiumTests: XCTestCase {
    static let charts = ["percentiles", "load-socket", "load-mmsg", "mpps", "syscalls", "cpu"]

    func chromium() throws -> String {
        let env = ProcessInfo.processInfo.environment
        var candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium"]
        if let c = env["WIREPATH_CHROMIUM"] { candidates.insert(c, at: 0) }
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        if ciRequiresEveryTest(env) {
            XCTFail("chromium is not installed; `make deps` installs Debian's chromium, and CI turns this skip into a failure")
            throw XCTSkip("failed: no chromium under CI")
        }
        throw XCTSkip("needs headless Chromium: apt-get install chromium (or set WIREPATH_CHROMIUM)")
    }

    /// Runs headless Chromium on a file with a fresh profile; returns its
    /// stdout and stderr.
    func headless(_ exe: String, _ args: [String], page: URL, in dir: URL) throws -> Ran {
        let profile = dir.appendingPathComponent("profile-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        let common = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=2000",
            "--enable-logging=stderr", "--v=0", "--user-data-dir=\(profile.path)",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions",
        ]
        return try runBounded(exe, common + args + [page.absoluteString], timeout: 90)
    }

    /// Console messages in Chromium's log: `...:INFO:CONSOLE(12)] "text", source: ...`
    /// (or `:CONSOLE:12]` in newer builds). Level is not shown, so any counts.
    func consoleLines(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.contains(":CONSOLE") }
    }

    static let early = """
    <script>window.__wpErrors=[];window.addEventListener('error',function(e){window.__wpErrors.push('error: '+(e.message||(e.target&&e.target.outerHTML)||e.type))},true);document.addEventListener('securitypolicyviolation',function(e){window.__wpErrors.push('csp: '+e.violatedDirective+' '+e.blockedURI)});</script>
    """

    static let probe = """
    <pre id="wp-probe"></pre><script>(function(){var lines=[];document.querySelectorAll('svg.chart').forEach(function(s){var b=s.getBBox(),r=s.getBoundingClientRect();lines.push(['chart',s.getAttribute('data-chart'),b.width,b.height,r.width,r.height,s.querySelectorAll('polyline,rect.bar,circle').length].join(' '))});lines.push('resources '+performance.getEntriesByType('resource').length);window.__wpErrors.forEach(function(e){lines.push('error '+e)});document.getElementById('wp-probe').textContent=lines.join('\\n')})();</script>
    """

    /// The report with the probe scripts added; everything else unchanged.
    func probedCopy(of html: String) throws -> String {
        let csp = HTMLReport.contentSecurityPolicy
        XCTAssertTrue(html.contains(csp))
        var page = html.replacingOccurrences(of: csp, with: csp + "; script-src 'unsafe-inline'")
        let head = try XCTUnwrap(page.range(of: "<head>"))
        page.insert(contentsOf: Self.early, at: head.upperBound)
        let end = try XCTUnwrap(page.range(of: "</body>", options: .backwards))
        page.insert(contentsOf: Self.probe, at: end.lowerBound)
        return page
    }

    func testReportRendersInHeadlessChromium() throws {
        let exe = try chromium()
        let dir = try Fixture.temporaryDirectory("chromium")
        defer { try? FileManager.default.removeItem(at: dir) }
        let index = URL(fileURLWithPath: try HTMLReport.write(Fixture.report(), histograms: Fixture.histograms(), to: dir.path))
        try checkRenders(index, exe: exe, charts: Set(Self.charts), in: dir)

        // The unmodified report, as a person opens it: a screenshot, and
        // again nothing on the console.
        let png = dir.appendingPathComponent("report.png")
        let shot = try headless(exe, ["--screenshot=\(png.path)", "--window-size=1200,3000", "--hide-scrollbars"], page: index, in: dir)
        XCTAssertEqual(shot.status, 0, "chromium failed: \(shot.stderr.suffix(2000))")
        XCTAssertEqual(consoleLines(shot.stderr), [], "console messages")
        let bytes = try Data(contentsOf: png)
        XCTAssertEqual(Array(bytes.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "not a PNG")
        XCTAssertGreaterThan(bytes.count, 20_000, "a nearly empty screenshot")
        // For a look by eye: WIREPATH_REPORT_SCREENSHOT=/tmp/r.png keeps the
        // screenshot there and the page beside it (/tmp/r.html).
        if let keep = ProcessInfo.processInfo.environment["WIREPATH_REPORT_SCREENSHOT"] {
            let keepPNG = URL(fileURLWithPath: keep), keepHTML = keepPNG.deletingPathExtension().appendingPathExtension("html")
            for (from, to) in [(png, keepPNG), (index, keepHTML)] {
                try? FileManager.default.removeItem(at: to)
                try FileManager.default.copyItem(at: from, to: to)
            }
        }
    }

    /// Renders a probed copy of `index` and checks that exactly `charts`
    /// rendered, each with a size and something drawn, that nothing was
    /// fetched and that nothing reached the console.
    func checkRenders(_ index: URL, exe: String, charts: Set<String>, in dir: URL,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let probed = dir.appendingPathComponent("probe.html")
        try Data(try probedCopy(of: String(contentsOf: index, encoding: .utf8)).utf8).write(to: probed)

        let dom = try headless(exe, ["--dump-dom"], page: probed, in: dir)
        XCTAssertEqual(dom.status, 0, "chromium failed: \(dom.stderr.suffix(2000))", file: file, line: line)
        let probe = try XCTUnwrap(probeText(dom.stdout), "no probe output in the DOM; did the probe script run? \(consoleLines(dom.stderr))",
                                  file: file, line: line)
        var seen: [String: [Double]] = [:]
        for row in probe.split(separator: "\n") {
            let f = row.split(separator: " ").map(String.init)
            switch f.first {
            case "chart":
                XCTAssertEqual(f.count, 7, String(row), file: file, line: line)
                seen[f[1]] = f.dropFirst(2).compactMap(Double.init)
            case "resources":
                XCTAssertEqual(f.last, "0", "the report fetched something", file: file, line: line)
            default:
                XCTFail("the page reported: \(row)", file: file, line: line)
            }
        }
        XCTAssertEqual(Set(seen.keys), charts, "charts rendered: \(seen.keys.sorted())", file: file, line: line)
        for (id, v) in seen {
            XCTAssertEqual(v.count, 5, id, file: file, line: line)
            guard v.count == 5 else { continue }
            XCTAssertGreaterThan(v[0], 0, "\(id): bounding box width", file: file, line: line)
            XCTAssertGreaterThan(v[1], 0, "\(id): bounding box height", file: file, line: line)
            XCTAssertGreaterThan(v[2], 100, "\(id): width on the page", file: file, line: line)
            XCTAssertGreaterThan(v[3], 100, "\(id): height on the page", file: file, line: line)
            XCTAssertGreaterThan(v[4], 0, "\(id): no line, bar or marker drawn", file: file, line: line)
        }
        XCTAssertEqual(consoleLines(dom.stderr), [], "console messages", file: file, line: line)
    }

    /// The command, for real: `wirepath compare` on all four paths
    /// with --load, --rate, --tune, --report and --csv; the report it wrote
    /// renders every chart, and every path has its .hgrm files.
    func testReportOfARealCompareRendersInHeadlessChromium() throws {
        let exe = try chromium()
        let bin = try CompareBinary.find()
        let dir = try Fixture.temporaryDirectory("chromium-e2e")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        let r = try runBounded(bin, ["compare", "--duration", "0.5", "--flood-duration", "0.5", "--warmup", "0.1",
                                     "--load", "50%", "--rate", "2000", "--repeat", "1", "--tune", "--quiet",
                                     "--report", out.path, "--csv", out.appendingPathComponent("r.csv").path], timeout: 300)
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        let paths = ["socket", "mmsg", "uring", "xdp"]
        for p in paths {
            XCTAssertTrue(r.stdout.contains("\n\(p)"), "a row for \(p): \(r.stdout)")
            for m in ["pingpong", "load-50", "openloop-2000pps"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("\(p)-\(m).hgrm").path), "\(p)-\(m).hgrm")
            }
        }
        XCTAssertTrue(r.stdout.contains("tuning"), "the verdicts say what tuning did: \(r.stdout)")
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("SQPOLL"), "the report carries the configuration lines")
        // Tuned rows get a load chart of their own, like any row.
        let loadCharts = html.components(separatedBy: "data-chart=\"load-").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        XCTAssertTrue(Set(paths).isSubset(of: Set(loadCharts)), "load charts: \(loadCharts)")
        try checkRenders(out.appendingPathComponent("index.html"), exe: exe,
                         charts: Set(["percentiles", "mpps", "syscalls", "cpu"] + loadCharts.map { "load-" + $0 }), in: dir)
    }

    /// The console check is only worth something if a console message does
    /// show up in Chromium's log: a page that logs one must be caught.
    func testConsoleCheckCatchesAnError() throws {
        let exe = try chromium()
        let dir = try Fixture.temporaryDirectory("chromium-control")
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("control.html")
        try Data("<!DOCTYPE html><html><body><script>console.error('wirepath-control-error')</script></body></html>".utf8).write(to: page)
        let r = try headless(exe, ["--dump-dom"], page: page, in: dir)
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(consoleLines(r.stderr).contains { $0.contains("wirepath-control-error") },
                      "Chromium's log no longer shows console messages; the report test's console check would miss errors")
    }

    func probeText(_ dom: String) -> String? {
        guard let start = dom.range(of: "<pre id=\"wp-probe\">"),
              let end = dom[start.upperBound...].range(of: "</pre>") else { return nil }
        return String(dom[start.upperBound..<end.lowerBound])
    }
}

/// The built `wirepath` for the end-to-end report test: $WIREPATH_BIN, the
/// build beside the test bundle, or the debug build in this package. It needs root (the built-in
/// topology): it skips otherwise, and fails under CI=true.
enum CompareBinary {
    static func find() throws -> String {
        let env = ProcessInfo.processInfo.environment
        if geteuid() != 0 {
            if ciRequiresEveryTest(env) {
                XCTFail("this test needs root (network namespaces); CI turns the skip into a failure")
                throw XCTSkip("failed: not root under CI")
            }
            throw XCTSkip("needs root: compare builds its own namespaces")
        }
        if let bin = env["WIREPATH_BIN"] { return bin }
        // The build beside this test bundle first (the one just built, in
        // whatever scratch path), then the package's debug build.
        let beside = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("wirepath").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        let besideArg = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wirepath").path
        if FileManager.default.isExecutableFile(atPath: besideArg) { return besideArg }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let bin = root.appendingPathComponent(".build/debug/wirepath").path
        if FileManager.default.isExecutableFile(atPath: bin) { return bin }
        if ciRequiresEveryTest(env) { XCTFail("wirepath is not built at \(bin); CI turns the skip into a failure") }
        throw XCTSkip("wirepath binary not found at \(bin) (swift build)")
    }
}

struct Ran {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program with a hard time bound, draining both pipes concurrently.
func runBounded(_ exe: String, _ args: [String], timeout: TimeInterval) throws -> Ran {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    final class Sink: @unchecked Sendable { var data = Data() }
    let o = Sink(), e = Sink()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { o.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { e.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(20_000) }
    if p.isRunning { p.terminate(); usleep(500_000); if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
    p.waitUntilExit()
    // Chromium's helper processes hold the pipes until they exit too.
    _ = group.wait(timeout: .now() + 15)
    return Ran(status: p.terminationStatus, stdout: String(decoding: o.data, as: UTF8.self), stderr: String(decoding: e.data, as: UTF8.self))
}
