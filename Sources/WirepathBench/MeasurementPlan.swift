import WirepathIO
import WirepathModel

/// How long a measurement runs. Every loop is bounded by time and by count.
public struct MeasurementPlan: Sendable, Equatable {
    /// Measured window length; nil when `count` bounds the run.
    public var durationNs: UInt64?
    /// Packets (ping-pong round trips) in the measured window.
    public var count: UInt64?
    public var warmupNs: UInt64
    /// A ping with no reply after this long is lost.
    public var timeoutNs: UInt64
    public var runID: UInt64
    /// Hard bound on the window even when only `count` is given.
    public var maxDurationNs: UInt64 = 600_000_000_000
    /// The key of `--key-file`: control packets carry its HMAC (nil: none).
    public var controlKey: ControlKey?
    /// Test hook (`--stages` with `--capture`): skews the client's sampled
    /// send stamps by this much, so that a test sees the capture
    /// cross-check fail. 0 in every real run; no option sets it.
    var stampSkewNs: Int64 = 0

    public init(durationNs: UInt64?, count: UInt64?, warmupNs: UInt64 = 1_000_000_000,
                timeoutNs: UInt64 = 100_000_000, runID: UInt64 = MeasurementPlan.newRunID()) {
        self.durationNs = durationNs
        self.count = count
        self.warmupNs = warmupNs
        self.timeoutNs = timeoutNs
        self.runID = runID
    }

    public static func newRunID() -> UInt64 {
        var g = SystemRandomNumberGenerator()
        return g.next() | 1
    }
}
