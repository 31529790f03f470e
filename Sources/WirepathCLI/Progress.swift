import ArgumentParser
import Foundation
import WirepathBench
import WirepathIO
import WirepathModel

/// The live progress line on a terminal: the current path and measurement,
/// the time left in it, and the packet rate. It shows the runner's events
/// (`RunEvent`); the plan's estimates and the packet counter come with
/// them. Silent when stderr is not a terminal, and with --quiet.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var label = "setting up the topology"
    private var phaseStart = Date()
    private var planned: Double = 0
    private var lastPackets: UInt64 = 0
    private var lastTick = Date()
    private var done = false
    private var thread: Thread?
    private let runStart = Date()
    /// The whole run's expected length, for "run ~N s left".
    private var runPlanned: Double = 0
    /// The run's packet counter, once the run has started.
    private var packets: RunProgress?

    init() {
        let t = Thread { [weak self] in
            while let self, self.tick() { Thread.sleep(forTimeInterval: 0.25) }
        }
        thread = t
        t.start()
    }

    /// Called by the runner as the run goes.
    func handle(_ event: RunEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .runStarted(let seconds, let counter):
            runPlanned = seconds
            packets = counter
        case .topologyUp(let client, let reflector):
            start("topology up: \(client) <-> \(reflector)", planned: nil)
        case .repeatStarted(let index, let count):
            start("repeat \(index)/\(count)", planned: nil)
        case .phaseStarted(let phase):
            start(Self.label(phase), planned: phase.plannedSeconds)
        case .phaseEnded:
            // The label stays until the next phase: the line shows what ran last.
            break
        }
    }

    private func start(_ text: String, planned seconds: Double?) {
        label = text
        phaseStart = Date()
        lastPackets = 0
        planned = seconds ?? 0
    }

    /// "socket: pingpong", "mmsg: flood against 10.0.0.2:7000", "uring: open-loop at 50% of 200000 pps (tuned)".
    static func label(_ p: Phase) -> String {
        let what = switch p.kind {
        case .pingpong: "pingpong"
        case .openLoopPingpong(let rate): "open-loop ping-pong at \(Int(rate)) pps"
        case .flood: "flood"
        case .floodForLoad: "flood (capacity for --load)"
        case .openLoop(let rate, let fraction?): "open-loop at \(Int((fraction * 100).rounded()))% of \(Int(rate / fraction)) pps"
        case .openLoop(let rate, nil): "open-loop at \(Int(rate)) pps"
        }
        // The open-loop points never named their reflector.
        let against: String
        switch p.kind {
        case .openLoop: against = ""
        default: against = p.against.map { " against \($0)" } ?? ""
        }
        return "\(p.path): \(what)\(against)\(p.tuned ? " (tuned)" : "")"
    }

    /// One redraw; false once finished.
    private func tick() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        let now = Date()
        let packets = packets?.packets ?? 0
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
