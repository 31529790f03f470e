/// How long the runner's plan should take, for a progress line: the same
/// plan `Runner.measure` runs, so the estimate follows it.
extension Runner {
    /// A flood's window in seconds; nil for `flood --count` without
    /// --duration, which ends when the packets are out.
    static func floodWindow(_ r: RunRequest) -> Double? {
        r.floodCount != nil && r.plan.durationNs == nil ? nil : Double(r.floodDurationNs) / 1e9
    }

    /// Seconds one measurement should take: its warm-up and window, with a
    /// quarter for the syscall window; nil when a flood has no window.
    static func planned(_ kind: Phase.Kind, _ r: RunRequest) -> Double? {
        let warm = Double(r.plan.warmupNs) / 1e9
        switch kind {
        case .flood, .floodForLoad:
            return floodWindow(r).map { warm + $0 * 1.25 }
        case .pingpong, .openLoopPingpong, .openLoop:
            return warm + Double(r.plan.durationNs ?? 0) / 1e9 * 1.25
        }
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
}
