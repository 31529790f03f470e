import Foundation
import Glibc
import WirepathIO
import WirepathModel
import WirepathUring
import WirepathXDP

/// A comparison or single measurement, as the CLI asks for it.
public struct RunRequest: Sendable {
    public var paths: [PathKind]
    public var measurements: [MeasurementKind]
    /// Every path option the run was given (payload, batch, wait, the
    /// socket, uring and xdp options, --interface for --peer runs), carried
    /// whole: `Runner.config` makes each end's configuration from it, filling
    /// in the path, the addresses and, on the built-in topology, xdp's
    /// interface and next hop. Its `path` and `local` are placeholders; its
    /// MTU is the built-in topology's 1500 or, with --peer, that of the
    /// device toward the peer (set by `Runner.run`).
    public var template = PathConfig(path: .socket, local: .any)
    public var port: UInt16 = 7000
    public var plan: MeasurementPlan
    /// Flood window length (the ping-pong uses `plan`).
    public var floodDurationNs: UInt64 = 2_000_000_000
    /// `flood --count N`: packets to send, whichever of this and the
    /// duration comes first (nil: the duration alone).
    public var floodCount: UInt64?
    /// Open loop: `pingpong` sends at this fixed rate (pps) instead of one in flight.
    public var rate: Double?
    /// `compare --rate`: open-loop runs at these fixed rates (pps), after
    /// the closed loop, for every path.
    public var rates: [Double] = []
    /// `compare --load`: open-loop runs at these fractions of each path's
    /// own measured flood capacity (a flood is run first if none was asked for).
    public var loads: [Double] = []
    /// Runs of each path; the tables show the median run and the spread.
    public var repeats = 1
    /// Also run each path in its best-known low-latency configuration
    /// (`Runner.tuned`) and show both.
    public var tune = false
    /// Fault injection for tests: the reflector pauses once.
    var reflectorFault: ReflectorFault?
    public var vethNAPI = false
    /// Built-in topology: threaded NAPI on both veth ends, each pinned to
    /// its end's CPU (implies `vethNAPI`).
    public var vethThreadedNAPI = false
    /// Built-in topology: the middle hop (the bridge a capture listens on)
    /// without a capture, to measure what the hop itself costs.
    public var middleHop = false
    /// `compare --gso/--gro`: each path runs as configured without them,
    /// and socket, mmsg and uring run again with them, as rows of their own
    /// (`socket+gso`, `mmsg+gso+gro`, ...), so the verdicts weigh them
    /// against the others, xdp included.
    public var offloadRows = false
    /// Built-in topology: run over its IPv6 addresses (2001:2::1 and
    /// 2001:2::2) instead of its IPv4 ones. With --peer the peer's address
    /// picks the family.
    public var ipv6 = false
    /// `--threads`, `--flows`, `--cpus`, `--queues` (see `ScalingRequest`).
    public var scaling = ScalingRequest()
    /// A remote reflector: no topology is built.
    public var peer: Endpoint?
    /// Local address for --peer runs (default: any).
    public var bind: Endpoint?
    public var command = "compare"
    /// --capture: a middle hop in the built-in topology (or the
    /// --capture-interface with --peer), and verification of every path.
    public var capture: CaptureRequest?
    /// Called once the built-in topology is up, before the first path: for
    /// tests and tools that inject faults on its links. What it adds to the
    /// links goes with the namespaces.
    public var afterTopologyUp: (@Sendable (Topology) throws -> Void)?
    /// Called after the last path, while the built-in topology still
    /// exists: for tests that read what their faults did (qdisc and device
    /// drop counters) before the namespaces go.
    public var beforeTopologyDown: (@Sendable (Topology) -> Void)?

    public init(paths: [PathKind], measurements: [MeasurementKind], plan: MeasurementPlan) {
        self.paths = paths
        self.measurements = measurements
        self.plan = plan
    }
}
