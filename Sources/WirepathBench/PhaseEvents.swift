/// What the runner hands down to each path's measurements: where their
/// events go, the run's packet counter for the clients, and whether they
/// are the path's tuned row.
struct PhaseEvents {
    let events: (RunEvent) -> Void
    let packets: RunProgress
    var isTuned = false

    /// The same, for the tuned row's measurements.
    func tuned() -> PhaseEvents {
        var t = self
        t.isTuned = true
        return t
    }
}
