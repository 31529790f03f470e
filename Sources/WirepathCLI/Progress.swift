import ArgumentParser
import Foundation
import WirepathBench
import WirepathIO
import WirepathModel

/// The live progress line on a terminal: the current path and measurement,
/// the time left in it, and the packet rate. Silent when stderr is not a
/// terminal, and with --quiet.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var label = "setting up the topology"
    private var phaseStart = Date()
    private var planned: Double = 0
    private var lastPackets: UInt64 = 0
    private var lastTick = Date()
    private var done = false
    private let request: RunRequest
    private var thread: Thread?
    private let runStart = Date()
    /// The whole run's expected length, for "run ~N s left".
    private let runPlanned: Double

    init(_ request: RunRequest) {
        self.request = request
        runPlanned = Self.estimate(request)
        let t = Thread { [weak self] in
            while let self, self.tick() { Thread.sleep(forTimeInterval: 0.25) }
        }
        thread = t
        t.start()
    }

    /// Called by the runner at each new measurement.
    func phase(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        label = text
        phaseStart = Date()
        lastPackets = 0
        let warm = Double(request.plan.warmupNs) / 1e9
        if text.contains("flood") {
            // A flood bounded by --count alone ends when the packets are out: no estimate.
            planned = Self.floodWindow(request).map { warm + $0 * 1.25 } ?? 0
        } else if text.contains("open-loop") || text.contains("pingpong") {
            planned = warm + Double(request.plan.durationNs ?? 0) / 1e9 * 1.25
        } else {
            planned = 0
        }
    }

    /// A flood's window in seconds; nil for `flood --count` without
    /// --duration, which ends when the packets are out.
    static func floodWindow(_ r: RunRequest) -> Double? {
        r.floodCount != nil && r.plan.durationNs == nil ? nil : Double(r.floodDurationNs) / 1e9
    }

    /// Seconds the whole request should take: each path's measurements
    /// (a count-bounded ping-pong is counted as its warm-up only), times
    /// the repeats and the tuned rows, plus about 0.3 s of setup for each
    /// measurement (threads, rings, programs, the syscall window).
    static func estimate(_ r: RunRequest) -> Double {
        let warm = Double(r.plan.warmupNs) / 1e9
        let window = Double(r.plan.durationNs ?? 0) / 1e9
        let flood = floodWindow(r) ?? 0
        var perPath = 0.0
        for m in r.measurements {
            // A flood has its warm-up too.
            perPath += m == .flood ? warm + flood * 1.25 + 0.3 : warm + window * 1.25 + 0.3
        }
        if !r.loads.isEmpty && !r.measurements.contains(.flood) { perPath += warm + flood * 1.25 + 0.3 }
        perPath += Double(r.loads.count + r.rates.count) * (warm + window + 0.3)
        return 1 + perPath * Double(r.paths.count * r.repeats * (r.tune ? 2 : 1))
    }

    /// One redraw; false once finished.
    private func tick() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        let now = Date()
        let packets = LiveProgress.packets
        let dt = now.timeIntervalSince(lastTick)
        let rate = packets >= lastPackets && dt > 0 ? Double(packets - lastPackets) / dt : 0
        lastPackets = packets
        lastTick = now
        let elapsed = now.timeIntervalSince(phaseStart)
        var left = planned > 0 ? String(format: ", ~%.1f s left", max(planned - elapsed, 0)) : ""
        left += String(format: " (run ~%.0f s left)", max(runPlanned - now.timeIntervalSince(runStart), 0))
        let line = String(format: "\r\u{1B}[K[%@] %.1f s%@, %@ pkt/s", label, elapsed, left, NumberText.fixed(rate, 0))
        FileHandle.standardError.write(line.data(using: .utf8)!)
        return true
    }

    func finish() {
        lock.lock()
        done = true
        lock.unlock()
        FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!)
    }
}
