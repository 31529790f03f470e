import Foundation
import Glibc
import XCTest
import WirepathTestSupport
@testable import WirepathBench
@testable import WirepathUring
@testable import WirepathXDP
@testable import WirepathIO
@testable import WirepathModel

/// The System layer's contract: every raw syscall is wrapped once, in
/// the Sys*.swift files, and EINTR is retried there and nowhere else.
final class SystemLayerTests: XCTestCase {
    /// A signal whose handler runs (not SIGINT/SIGTERM) does not cut a sleep
    /// short: the wrapper retries until the deadline.
    func testSleepRetriesEINTRUntilItsDeadline() throws {
        let elapsed = try sleepWhileSignalled(nanos: 300_000_000, interrupt: false)
        XCTAssertGreaterThanOrEqual(elapsed, 0.29, "an EINTR ended the sleep early")
    }

    /// Once SIGINT/SIGTERM asked the process to stop, the next EINTR ends
    /// the sleep, so teardown does not wait for it.
    func testSleepEndsAtEINTROnceInterrupted() throws {
        // An 8 s sleep that ends within half of it ended at the interruption
        // (which comes within 20 ms), however loaded the host.
        let elapsed = try sleepWhileSignalled(nanos: 8_000_000_000, interrupt: true)
        XCTAssertLessThan(elapsed, 4.0, "the sleep ignored the interruption")
    }

    /// Sleeps on its own thread while the test sends it SIGUSR1 (a no-op
    /// handler, no SA_RESTART) every 20 ms; returns how long the sleep took.
    private func sleepWhileSignalled(nanos: UInt64, interrupt: Bool) throws -> Double {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        var old = sigaction()
        sigaction(SIGUSR1, &action, &old)
        defer { sigaction(SIGUSR1, &old, nil); Interrupt.reset() }
        if interrupt { ProcessStop.signal.store(SIGINT, ordering: .relaxed) }
        final class Box: @unchecked Sendable { var thread = pthread_t(); var started = false; var done = false; var elapsed = 0.0 }
        let box = Box()
        let lock = NSLock()
        let t = Thread {
            lock.lock(); box.thread = pthread_self(); box.started = true; lock.unlock()
            let t0 = Sys.monotonicNanos()
            Sys.sleep(nanos: nanos)
            let e = Double(Sys.monotonicNanos() - t0) / 1e9
            lock.lock(); box.elapsed = e; box.done = true; lock.unlock()
        }
        t.start()
        let limit = Date().addingTimeInterval(10)
        while Date() < limit {
            lock.lock(); let (started, done, thread) = (box.started, box.done, box.thread); lock.unlock()
            if done { break }
            if started { pthread_kill(thread, SIGUSR1) }
            usleep(20_000)
        }
        lock.lock(); defer { lock.unlock() }
        XCTAssertTrue(box.done, "the sleep did not end")
        return box.elapsed
    }

    /// No raw call the System layer wraps, and no EINTR retry, anywhere else
    /// in the library (Doctor.swift is left to its own clean-up). The System
    /// layer is the files named Sys*.swift: WirepathIO/System/ and each
    /// module's own `extension Sys`; WirepathCapture's Pcap.swift is that
    /// module's own layer (every libpcap call, wrapped once).
    func testRawCallsAndEINTRRetriesOnlyInTheSystemLayer() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sources = root.appendingPathComponent("Sources")
        let walker = try XCTUnwrap(FileManager.default.enumerator(atPath: sources.path))
        let files = walker.compactMap { $0 as? String }
            .filter { $0.hasPrefix("Wirepath") && $0.hasSuffix(".swift") }
            .filter { let name = ($0 as NSString).lastPathComponent; return !name.hasPrefix("Sys") && name != "Doctor.swift" && name != "Pcap.swift" }
        let dir = sources
        XCTAssertGreaterThan(files.count, 20)
        // A bare call (not `Sys.mount(`, not a method of another type).
        let forbidden = [#"(?<![.\w])(mount|nanosleep|clock_nanosleep|kill)\("#, #"[=!]=\s*EINTR\b"#]
            .map { try! NSRegularExpression(pattern: $0) }
        var hits: [String] = []
        for f in files {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                // Code only: comments may name the calls.
                let code = String(line.components(separatedBy: "//").first ?? "")
                let range = NSRange(code.startIndex..., in: code)
                if forbidden.contains(where: { $0.firstMatch(in: code, range: range) != nil }) {
                    hits.append("\(f):\(n + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        XCTAssertEqual(hits, [], "raw calls outside the Sys*.swift files")
    }
}

final class ControlMessageTests: XCTestCase {
    /// The reflector's report, every field, fits in one control packet.
    func testPeerReportFitsTheControlSlot() {
        XCTAssertLessThanOrEqual(ControlWire.prefix + PeerReport.fieldCount * 8, ControlMessage.slotSize)
    }
}

/// The test helpers' own contract: under CI=true nothing skips silently.
final class SupportTests: XCTestCase {
    func testMissingBinaryFailsUnderCIAndSkipsOtherwise() {
        let nowhere = ["/nonexistent/wirepath"]
        guard case .failure(let ci) = locateWirepath(nowhere, environment: ["CI": "true"]) else { return XCTFail("found a binary in /nonexistent") }
        guard case .fail(let why) = ci.missing else { return XCTFail("under CI=true a missing binary must fail the test, not skip it") }
        XCTAssertTrue(why.contains("swift build"), why)
        guard case .failure(let local) = locateWirepath(nowhere, environment: [:]) else { return XCTFail() }
        guard case .skip = local.missing else { return XCTFail("outside CI a missing binary skips") }
        XCTAssertEqual(try? locateWirepath(["/nonexistent/wirepath", "/bin/true"], environment: ["CI": "true"]).get(), "/bin/true")
    }

    func testMissingFailsOnlyUnderCI() {
        XCTAssertEqual(Missing("x", environment: ["CI": "true"]), .fail("x"))
        XCTAssertEqual(Missing("x", environment: ["CI": "false"]), .skip("x"))
        XCTAssertEqual(Missing("x", environment: [:]), .skip("x"))
        // Any spelling a CI system uses turns the skip into a failure; only
        // an unset or empty CI, 0 or false (in any case) lets it skip.
        for on in ["true", "1", "True", "TRUE", "yes", "github"] {
            XCTAssertEqual(Missing("x", environment: ["CI": on]), .fail("x"), "CI=\(on)")
        }
        for off in ["", " ", "0", "false", "False", "FALSE"] {
            XCTAssertEqual(Missing("x", environment: ["CI": off]), .skip("x"), "CI=\(off)")
        }
    }

    /// Tools are found on PATH, so hiding one (a PATH without it) is how a
    /// missing tool is shown to fail under CI.
    func testToolsAreFoundOnPath() {
        XCTAssertEqual(toolOnPath("sh", environment: ["PATH": "/nonexistent:/bin"]), "/bin/sh")
        XCTAssertNil(toolOnPath("sh", environment: ["PATH": "/nonexistent"]))
        XCTAssertNil(toolOnPath("sh", environment: ["PATH": ""]))
    }
}

/// `make test`'s closing line, counted by .ci/test-summary.
final class TestSummaryTests: XCTestCase {
    func testEachTestIsCountedOnceByItsVerdict() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // One test passed; one failed and then skipped (a skip under CI=true),
        // which XCTest counts in both totals; one skipped; one failed two
        // assertions; one crashed the process before its verdict.
        let log = """
            Test Case 'A.testPass' started at 2026-01-01 00:00:00.000
            Test Case 'A.testPass' passed (0.010 seconds)
            Test Case 'A.testCI' started at 2026-01-01 00:00:00.000
            /x/Support.swift:30: error: A.testCI : failed - this test needs root; CI=true turns the skip into a failure
            /x/Support.swift:31: A.testCI : Test skipped - failed under CI: this test needs root
            Test Case 'A.testCI' failed (0.001 seconds)
            Test Case 'A.testSkip' started at 2026-01-01 00:00:00.000
            /x/A.swift:9: A.testSkip : Test skipped - needs root
            Test Case 'A.testSkip' skipped (0.001 seconds)
            Test Case 'A.testTwo' started at 2026-01-01 00:00:00.000
            /x/A.swift:12: error: A.testTwo : XCTAssertEqual failed
            /x/A.swift:13: error: A.testTwo : XCTAssertEqual failed
            Test Case 'A.testTwo' failed (0.002 seconds)
            Test Suite 'A' failed at 2026-01-01 00:00:00.100
            \t Executed 4 tests, with 2 tests skipped and 3 failures (0 unexpected) in 0.014 (0.014) seconds
            Test Case 'B.testCrash' started at 2026-01-01 00:00:00.200

            """
        let file = NSTemporaryDirectory() + "wirepath-\(getpid())-test.log"
        try log.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let r = try runProgram(root.appendingPathComponent(".ci/test-summary").path, [file], timeout: 10)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "1 passed, 3 failed, 1 skipped (1 without a verdict: the test process crashed)\n")
    }

    /// A run that proves nothing fails with a line that says why: no test
    /// ran, fewer ran than the suite declares, or the run failed outside
    /// any test case while every test passed.
    func testARunThatRanNothingOrTooLittleFails() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let summary = root.appendingPathComponent(".ci/test-summary").path
        let file = NSTemporaryDirectory() + "wirepath-\(getpid())-summary.log"
        defer { try? FileManager.default.removeItem(atPath: file) }
        func run(_ log: String, _ args: [String]) throws -> Ran {
            try log.write(toFile: file, atomically: true, encoding: .utf8)
            return try runProgram(summary, args + [file], timeout: 10)
        }
        let two = """
            Test Case 'A.testOne' started at 2026-01-01 00:00:00.000
            Test Case 'A.testOne' passed (0.010 seconds)
            Test Case 'A.testTwo' started at 2026-01-01 00:00:00.000
            Test Case 'A.testTwo' passed (0.010 seconds)

            """
        // What `swift test --filter nothing-matches` prints.
        let empty = try run("error: No matching test cases were run\n", [])
        XCTAssertEqual(empty.status, 1)
        XCTAssertEqual(empty.stdout, "0 passed, 0 failed, 0 skipped\nerror: no test ran (an empty or mistyped filter, or the test binary did not start); this run proves nothing\n")
        let short = try run(two, ["--expect", "3"])
        XCTAssertEqual(short.status, 1)
        XCTAssertTrue(short.stdout.hasSuffix("error: 2 tests ran but the suite declares 3 (func test...() in Tests/): 1 never ran\n"), short.stdout)
        let full = try run(two, ["--expect", "2", "--rc", "0"])
        XCTAssertEqual(full.status, 0, full.stdout)
        XCTAssertEqual(full.stdout, "2 passed, 0 failed, 0 skipped\n")
        let outside = try run(two + "Fatal error: something outside a test\n", ["--expect", "2", "--rc", "134"])
        XCTAssertEqual(outside.status, 1)
        XCTAssertEqual(outside.stdout, "2 passed, 1 failed, 0 skipped (1 failure outside any test case: the test run exited 134 with no test failed)\n")
    }
}
