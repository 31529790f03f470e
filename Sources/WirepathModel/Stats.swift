import WirepathIO
import Histogram

/// RTT histogram settings required by the methodology: 1 ns to 10 s, 3 digits.
public enum LatencyHistogram {
    public static func make() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three)
    }
}

extension Histogram<UInt64> {
    /// The HdrHistogram percentile-distribution text (`.hgrm`), in µs: the
    /// format wrk2 prints and HdrHistogram's plotter reads.
    public var percentileDistribution: String {
        var text = ""
        outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1000, percentileTicksPerHalfDistance: 5)
        return text
    }
}

/// Percentiles of a latency histogram, in nanoseconds.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var count: UInt64
    public var minNs: UInt64
    public var p50Ns: UInt64
    public var p90Ns: UInt64
    public var p99Ns: UInt64
    public var p999Ns: UInt64
    public var p9999Ns: UInt64
    public var maxNs: UInt64
    public var meanNs: Double
    public var stddevNs: Double

    public init(_ h: Histogram<UInt64>) {
        count = h.totalCount
        if h.totalCount == 0 {
            minNs = 0; p50Ns = 0; p90Ns = 0; p99Ns = 0; p999Ns = 0; p9999Ns = 0; maxNs = 0
            meanNs = 0; stddevNs = 0
            return
        }
        minNs = h.min
        p50Ns = h.valueAtPercentile(50)
        p90Ns = h.valueAtPercentile(90)
        p99Ns = h.valueAtPercentile(99)
        p999Ns = h.valueAtPercentile(99.9)
        p9999Ns = h.valueAtPercentile(99.99)
        maxNs = h.max
        meanNs = h.mean
        stddevNs = h.stdDeviation
    }
}

/// Sequence accounting for one stream: unique packets, duplicates and
/// reordering, in constant memory. Duplicates are recognised within a window
/// of the last `window` sequence numbers, which is preallocated.
public struct SequenceTracker: ~Copyable {
    public var unique: UInt64 = 0
    public var duplicates: UInt64 = 0
    /// Packets that arrived after a higher sequence number had been seen.
    public var reordered: UInt64 = 0
    public var highest: UInt64 = 0
    public var any = false
    @usableFromInline let seen: UnsafeMutablePointer<UInt64>
    @usableFromInline let mask: Int

    public init(window: Int = 1 << 16) {
        precondition(window > 0 && window & (window - 1) == 0, "window must be a power of two")
        mask = window - 1
        seen = .allocate(capacity: window)
        // UInt64.max marks an empty cell: no real sequence number reaches it.
        seen.initialize(repeating: .max, count: window)
    }

    deinit { seen.deallocate() }

    public enum Outcome: Equatable { case inOrder, reordered, duplicate }

    @inlinable @discardableResult
    public mutating func record(_ seq: UInt64) -> Outcome {
        let cell = Int(truncatingIfNeeded: seq) & mask
        if seen[cell] == seq { duplicates &+= 1; return .duplicate }
        seen[cell] = seq
        unique &+= 1
        if any && seq < highest { reordered &+= 1; return .reordered }
        highest = seq
        any = true
        return .inOrder
    }

    /// True when `seq` was recorded (within the window).
    @inlinable public func contains(_ seq: UInt64) -> Bool { seen[Int(truncatingIfNeeded: seq) & mask] == seq }

    public mutating func reset() {
        unique = 0; duplicates = 0; reordered = 0; highest = 0; any = false
        seen.update(repeating: .max, count: mask + 1)
    }
}

/// One thread's cost over a measured window, from the kernel's own counters.
public struct ThreadCost: Codable, Sendable, Equatable {
    /// `raw_syscalls:sys_enter` events for this thread, via perf_event_open;
    /// nil when the tracepoint could not be opened (see `syscallsUnavailable`).
    public var syscalls: UInt64?
    public var syscallsUnavailable: String?
    /// From getrusage(RUSAGE_THREAD).
    public var userNs: UInt64
    public var systemNs: UInt64
    public var voluntaryContextSwitches: UInt64
    public var involuntaryContextSwitches: UInt64
    /// Wall-clock length of the window.
    public var wallNs: UInt64
    /// Extra kernel threads whose CPU is charged to this end (SQPOLL), if any.
    public var extraThreads: [String] = []
    /// CPU time of those threads in the window, in ns (their runtime, from a
    /// per-thread CPU clock); nil when the end has none. It is part of
    /// `cpuNs`: an SQPOLL thread does the sends the measured thread no longer
    /// makes syscalls for, and that work is not free.
    public var kernelThreadNs: UInt64?

    public init(syscalls: UInt64?, syscallsUnavailable: String?, userNs: UInt64, systemNs: UInt64,
                voluntaryContextSwitches: UInt64, involuntaryContextSwitches: UInt64, wallNs: UInt64) {
        self.syscalls = syscalls
        self.syscallsUnavailable = syscallsUnavailable
        self.userNs = userNs
        self.systemNs = systemNs
        self.voluntaryContextSwitches = voluntaryContextSwitches
        self.involuntaryContextSwitches = involuntaryContextSwitches
        self.wallNs = wallNs
    }

    /// The end's CPU time: the thread's user and system time plus its kernel threads'.
    /// Saturating: a peer's report carries these figures, and no value in
    /// it may trap a client.
    public var cpuNs: UInt64 { userNs.saturatingAdd(systemNs).saturatingAdd(kernelThreadNs ?? 0) }
    /// Share of the wall-clock window this thread spent on a CPU.
    public var utilisation: Double { wallNs == 0 ? 0 : Double(cpuNs) / Double(wallNs) }
}

/// Cost divided by the packets that end handled.
///
/// CPU time and context switches come from the main window, which runs with
/// no tracepoint attached; syscalls come from a separate, shorter window
/// with the kernel's syscall counter on (see `CostMeter` for why).
public struct PerPacketCost: Codable, Sendable, Equatable {
    /// Packets in the main (CPU) window.
    public var packets: UInt64
    public var userNsPerPacket: Double
    public var systemNsPerPacket: Double
    public var cpuNsPerPacket: Double
    public var contextSwitchesPerPacket: Double
    /// CPU of the end's kernel threads (the SQPOLL thread) per packet, part of
    /// `cpuNsPerPacket`; nil when the end has none.
    public var kernelThreadNsPerPacket: Double?
    /// The main window's raw figures.
    public var raw: ThreadCost
    public var syscallsPerPacket: Double?
    public var syscallsUnavailable: String?
    /// Packets and raw figures of the syscall-counting window.
    public var syscallPackets: UInt64
    public var syscallWindow: ThreadCost?

    public init(_ cost: ThreadCost, packets: UInt64, syscallWindow: ThreadCost? = nil, syscallPackets: UInt64 = 0) {
        self.packets = packets
        raw = cost
        let n = Double(max(packets, 1))
        userNsPerPacket = Double(cost.userNs) / n
        systemNsPerPacket = Double(cost.systemNs) / n
        cpuNsPerPacket = Double(cost.cpuNs) / n
        contextSwitchesPerPacket = (Double(cost.voluntaryContextSwitches) + Double(cost.involuntaryContextSwitches)) / n
        kernelThreadNsPerPacket = cost.kernelThreadNs.map { Double($0) / n }
        self.syscallWindow = syscallWindow
        self.syscallPackets = syscallPackets
        // A window with the counter on in the main cost (tests, or callers
        // that accept the overhead) also yields a syscall figure.
        let source = syscallWindow ?? cost
        let sp = syscallWindow == nil ? packets : syscallPackets
        if let s = source.syscalls, sp > 0 {
            syscallsPerPacket = Double(s) / Double(sp)
            syscallsUnavailable = nil
        } else {
            syscallsPerPacket = nil
            syscallsUnavailable = source.syscallsUnavailable ?? (sp == 0 ? "no packets in the syscall window" : "not counted")
        }
    }
}

extension UInt64 {
    /// `self + other`, or `UInt64.max` where that would overflow: for sums
    /// of figures that come from outside (a peer's report), which must not
    /// trap and must not wrap to a small, plausible number either.
    @inlinable
    public func saturatingAdd(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
