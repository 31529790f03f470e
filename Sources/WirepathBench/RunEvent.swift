import WirepathIO

/// What the runner reports as a run goes, typed, so that the caller (the
/// CLI's progress line) decides how to show it, and nothing is re-derived
/// or parsed from text.
public enum RunEvent: Sendable {
    /// The run begins: how long it should take as a whole (`Runner.estimate`),
    /// and the counter its clients publish their packets into (read it
    /// whenever: one relaxed load).
    case runStarted(plannedSeconds: Double, packets: RunProgress)
    /// The built-in topology is up, with these two namespaces.
    case topologyUp(client: String, reflector: String)
    /// Run `index` (from 1) of `count` of one path (only with --repeat above 1).
    case repeatStarted(index: Int, count: Int)
    /// A measurement starts.
    case phaseStarted(Phase)
    /// The measurement that started last is over (done or failed).
    case phaseEnded
}

/// One measurement of one path, as `RunEvent.phaseStarted` announces it.
public struct Phase: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case pingpong
        /// `pingpong --rate`: the open loop in place of the closed one.
        case openLoopPingpong(ratePps: Double)
        case flood
        /// The flood run only to scale --load by the path's capacity.
        case floodForLoad
        /// One point of --load (with its fraction of `ratePps / fraction`) or --rate.
        case openLoop(ratePps: Double, loadFraction: Double?)
    }

    public var path: PathKind
    public var kind: Kind
    /// The path's tuned row (`--tune`).
    public var tuned: Bool
    /// The reflector, when it is a `serve` at --peer; nil on the built-in topology.
    public var against: Endpoint?
    /// How long it should take (warm-up, window, a margin); nil when the
    /// plan cannot say (a flood bounded by --count alone ends when its
    /// packets are out).
    public var plannedSeconds: Double?

    public init(path: PathKind, kind: Kind, tuned: Bool, against: Endpoint?, plannedSeconds: Double?) {
        self.path = path
        self.kind = kind
        self.tuned = tuned
        self.against = against
        self.plannedSeconds = plannedSeconds
    }
}
