import Foundation
import XCTest
import WirepathTestSupport
@testable import WirepathIO
@testable import WirepathModel
import WirepathRender

/// The wire audit's memory does not grow with the run ids a capture holds
/// (issue 11): a capture of anyone's traffic to the reflector's port must
/// not take the verifier down.
final class WireAuditBoundsTests: XCTestCase {
    /// Frames packed end to end, so that building them costs memory before
    /// the measurement starts and none during it.
    struct Frames {
        var bytes: [UInt8] = []
        var ends: [Int] = []
        mutating func append(_ f: [UInt8]) { bytes += f; ends.append(bytes.count) }
        func forEach(_ body: (Int, UnsafeRawBufferPointer) -> Void) {
            bytes.withUnsafeBytes { all in
                var start = 0
                for (i, end) in ends.enumerated() {
                    body(i, UnsafeRawBufferPointer(rebasing: all[start..<end]))
                    start = end
                }
            }
        }
    }

    /// Both passes of an audit over `frames`.
    static func audit(_ frames: Frames, _ a: WireAudit) -> WireSummary {
        frames.forEach { _, f in a.learn(f, wireLength: f.count) }
        a.endLearning()
        frames.forEach { i, f in a.add(f, wireLength: f.count, timestampNs: UInt64(i) * 1_000) }
        return a.finish()
    }

    /// A /proc/self/status field in KiB ("VmRSS", "VmHWM").
    static func status(_ field: String) throws -> Int {
        let text = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix(field + ":") }, "\(field) in /proc/self/status")
        return try XCTUnwrap(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    /// The most the resident set grew while `body` ran, in MiB: the peak
    /// (VmHWM) is first reset to the current size (clear_refs 5, Linux 4.0),
    /// so whatever an earlier test of this process took does not hide it.
    static func peakGrowthMiB(_ body: () throws -> Void) throws -> Int {
        try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        let before = try status("VmRSS")
        try body()
        return (try status("VmHWM") - before) >> 10
    }

    /// 100,000 run ids, each with a begin, one ping and its echo (so each has
    /// a round trip, the case that allocated a histogram per run: 20 GB),
    /// and one real run of 2,000 pings in the middle of them.
    func testHundredThousandRunIDsInBoundedMemory() throws {
        let foreign = 100_000, real: UInt64 = 0xBEEF_0000_0001
        var frames = Frames()
        for i in 0..<foreign {
            if i == foreign / 2 {
                var ff = FrameFactory(runID: real)
                for f in ff.pingpong(count: 2_000) { frames.append(f) }
            }
            var ff = FrameFactory(runID: UInt64(i + 1))
            frames.append(ff.frame(kind: .control, seq: 1, op: .begin, body: [0]))
            frames.append(ff.frame(kind: .ping, seq: 0))
            frames.append(ff.frame(kind: .ping, seq: 0, toReflector: false))
        }
        var s: WireSummary?
        let grew = try Self.peakGrowthMiB {
            s = Self.audit(frames, WireAudit(reflectorPort: 7000, linkType: .ethernet, snaplen: 65535))
        }
        let summary = try XCTUnwrap(s)
        XCTAssertLessThan(grew, 256, "the audit of 100,000 run ids grew the resident set by \(grew) MiB")
        XCTAssertEqual(summary.runs.count, WireAudit.defaultFullRunLimit)
        XCTAssertEqual(summary.fullRunLimit, WireAudit.defaultFullRunLimit)
        // The real run has the most frames: it is kept, whole.
        let r = try XCTUnwrap(summary.run(real))
        XCTAssertEqual(r.clientToReflector.unique, 2_000)
        XCTAssertEqual(r.reflectorToClient.unique, 2_000)
        XCTAssertEqual(r.wireRTT?.count, 2_000)
        let o = try XCTUnwrap(summary.overflow)
        let rest = UInt64(foreign - (WireAudit.defaultFullRunLimit - 1))
        XCTAssertEqual(o.runs, rest)
        XCTAssertFalse(o.runsAtLeast)
        XCTAssertEqual(o.clientToReflector.packets, 2 * rest)
        XCTAssertEqual(o.reflectorToClient.packets, rest)
        XCTAssertEqual(o.clientToReflector.damaged, 0)
        // Every frame is somewhere: in a kept run or in the overflow row.
        let kept = summary.runs.reduce(UInt64(0)) { $0 + $1.clientToReflector.packets + $1.reflectorToClient.packets }
        XCTAssertEqual(kept + o.packets, summary.frames)
    }

    /// Runs without a round trip get no histogram: 20,000 runs kept in full
    /// with control packets only (which took 4 GB with one per run).
    func testHistogramOnlyForARunWithARoundTrip() throws {
        var frames = Frames()
        for i in 0..<20_000 {
            var ff = FrameFactory(runID: UInt64(i + 1))
            frames.append(ff.frame(kind: .control, seq: 1, op: .begin, body: [0]))
            frames.append(ff.frame(kind: .control, seq: 1, op: .beginAck, toReflector: false))
        }
        var s: WireSummary?
        let grew = try Self.peakGrowthMiB {
            s = Self.audit(frames, WireAudit(reflectorPort: 7000, linkType: .ethernet, snaplen: 65535, fullRunLimit: 20_000))
        }
        XCTAssertLessThan(grew, 256, "20,000 control-only runs grew the resident set by \(grew) MiB")
        XCTAssertEqual(s?.runs.count, 20_000)
        XCTAssertNil(s?.overflow)
        XCTAssertTrue(s?.runs.allSatisfy { $0.wireRTT == nil && $0.kind == "control" } ?? false)
    }

    /// The runs a caller will verify are kept before busier ones; without a
    /// first pass, the first ones seen are kept.
    func testPreferredRunsAndFirstSeen() throws {
        var frames = Frames()
        for id in 1...5 as ClosedRange<UInt64> {
            var ff = FrameFactory(runID: id)
            for f in ff.pingpong(count: id * 10) { frames.append(f) }
        }
        let busiest = Self.audit(frames, WireAudit(reflectorPort: 7000, linkType: .ethernet, snaplen: 65535, fullRunLimit: 2))
        XCTAssertEqual(Set(busiest.runs.map(\.runID)), [4, 5])
        XCTAssertEqual(busiest.overflow?.runs, 3)
        let preferred = Self.audit(frames, WireAudit(reflectorPort: 7000, linkType: .ethernet, snaplen: 65535,
                                                     fullRunLimit: 2, preferredRuns: [1, 0xDEAD]))
        XCTAssertEqual(Set(preferred.runs.map(\.runID)), [1, 5], "the preferred run, then the busiest; an absent one takes no place")

        let single = WireAudit(reflectorPort: 7000, linkType: .ethernet, snaplen: 65535, fullRunLimit: 2)
        frames.forEach { i, f in single.add(f, wireLength: f.count, timestampNs: UInt64(i)) }
        let s = single.finish()
        XCTAssertEqual(s.runs.map(\.runID), [1, 2])
        XCTAssertEqual(s.overflow?.runs, 3)
    }

    /// The frequent-id summary keeps a heavy id among a flood of ids seen
    /// once each, in a fixed number of counters.
    func testFrequentRunIDsKeepAHeavyRunAmongManyLightOnes() {
        var f = FrequentRunIDs(capacity: 8)
        for i in 0..<10_000 as Range<UInt64> {
            f.add(1_000_000 + i)
            if i % 4 == 0 { f.add(42) }
        }
        XCTAssertEqual(f.top(1), [42])
        var set = BoundedIDSet(limit: 3)
        for id in [1, 2, 3, 3, 4] as [UInt64] { set.insert(id) }
        XCTAssertEqual(set.count, 3)
        XCTAssertTrue(set.saturated)
        XCTAssertFalse(set.contains(4))
    }

    /// The table lists a screenful of runs, most packets first, every
    /// labelled one whatever its size, a line for the rest and one row for
    /// the run ids not kept; the JSON holds every kept run and that row.
    func testTableListsAScreenfulByPacketsAndTheJSONAll() throws {
        var frames = Frames()
        for id in 1...30 as ClosedRange<UInt64> {
            var ff = FrameFactory(runID: id)
            for f in ff.pingpong(count: id) { frames.append(f) }
        }
        let s = Self.audit(frames, WireAudit(reflectorPort: 7000, linkType: .ethernet, snaplen: 65535, fullRunLimit: 25))
        XCTAssertEqual(s.runs.count, 25)
        XCTAssertEqual(s.overflow?.runs, 5)
        let runRows = { (table: String) in table.split(separator: "\n").filter { $0.contains(" 0x") }.map { String($0) } }
        let text = TextReport.wireTable(s, labels: [7: "socket pingpong"], limit: 20, more: "--all-runs lists them")
        let rows = runRows(text)
        XCTAssertEqual(rows.count, 21, text)
        XCTAssertTrue(rows[0].hasPrefix("pingpong 0x1e "), "the busiest first: \(rows[0])")
        XCTAssertTrue(rows.contains { $0.hasPrefix("socket pingpong 0x7 ") }, "a labelled run is always listed")
        XCTAssertFalse(rows.contains { $0.hasPrefix("pingpong 0x8 ") }, "the 21st busiest is not")
        XCTAssertTrue(text.contains("4 more runs ("), text)
        XCTAssertTrue(text.contains("--all-runs lists them"))
        XCTAssertTrue(text.contains("other run ids (5)"), text)
        XCTAssertEqual(runRows(TextReport.wireTable(s)).count, 25)
        let back = try JSONDecoder().decode(WireSummary.self, from: JSONEncoder().encode(s))
        XCTAssertEqual(back, s)
        XCTAssertEqual(back.overflow?.clientToReflector.packets, (1...5).reduce(0) { $0 + 5 + $1 }, "3 warm-up pings, begin, the pings, end")
    }
}
