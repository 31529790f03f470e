import WirepathIO
import Histogram

/// Open-loop latency at a fixed offered rate: requests leave on a schedule
/// whatever the replies do, and each latency is measured from the time its
/// request was *due*, so a stall shows up in the percentiles instead of
/// silently pausing the sender (coordinated omission, as wrk2 corrects it).
public struct OpenLoopResult: Codable, Sendable, Equatable {
    /// Requested rate, packets per second.
    public var targetPps: Double
    /// Fraction of the path's measured flood capacity, when run from `compare --load`.
    public var loadFraction: Double?
    /// Requests sent over the window's duration.
    public var achievedPps: Double
    /// Latency from each request's due time to its reply.
    public var latency: LatencySummary
    public var sent: UInt64
    public var received: UInt64
    public var lost: UInt64
    public var duplicated: UInt64
    /// How far behind its schedule the sender fell at worst: a large lag
    /// means the client itself could not keep the rate.
    public var maxSendLagNs: UInt64
    public var durationNs: UInt64
    public var client: EndReport
    public var reflector: EndReport?
    /// The latency histogram as HdrHistogram percentile-distribution text (µs).
    public var hgrm: String?
    /// The run id its packets carried (for matching a capture); nil in
    /// reports written before open-loop runs were verified.
    public var runID: UInt64?
    /// Where the kernel's own counters say the lost exchanges went (nil in
    /// reports written before they were read).
    public var kernelLoss: KernelLossAccount?

    public init(targetPps: Double, loadFraction: Double?, latency: LatencySummary, sent: UInt64, received: UInt64,
                duplicated: UInt64, maxSendLagNs: UInt64, durationNs: UInt64, client: EndReport, reflector: EndReport?) {
        self.targetPps = targetPps
        self.loadFraction = loadFraction
        self.achievedPps = durationNs == 0 ? 0 : Double(sent) / (Double(durationNs) / 1e9)
        self.latency = latency
        self.sent = sent
        self.received = received
        self.lost = sent > received ? sent - received : 0
        self.duplicated = duplicated
        self.maxSendLagNs = maxSendLagNs
        self.durationNs = durationNs
        self.client = client
        self.reflector = reflector
    }
}

extension OpenLoopResult {
    /// "open-loop 50%" (compare --load) or "open-loop 20000 pps" (pingpong --rate):
    /// the measurement's name in verification lines and tables.
    public var measurementName: String {
        if let f = loadFraction { return "open-loop \(NumberText.fixed(f * 100, 0))%" }
        return "open-loop \(NumberText.fixed(targetPps, 0)) pps"
    }
}

extension LatencySummary {
    /// A closed-loop histogram corrected for coordinated omission: every
    /// sample longer than `expectedIntervalNs` also stands for the requests a
    /// steady client would have sent while it waited (HdrHistogram's
    /// recordCorrectedValue). The expected interval of a closed loop is its
    /// typical round trip, so the median is used.
    public static func correctedForCoordinatedOmission(_ h: Histogram<UInt64>, expectedIntervalNs: UInt64) -> LatencySummary {
        guard expectedIntervalNs > 0, h.totalCount > 0 else { return LatencySummary(h) }
        var corrected = LatencyHistogram.make()
        for v in h.recordedValues() {
            _ = corrected.recordCorrectedValue(v.value, count: v.count, expectedInterval: expectedIntervalNs)
        }
        return LatencySummary(corrected)
    }
}

/// Parses `--load 10%,50%,90%` (or fractions such as 0.5).
public enum LoadList {
    public static func parse(_ text: String) throws(ConfigError) -> [Double] {
        var out: [Double] = []
        for part in text.split(separator: ",") {
            let s = part.trimmingSuffix("%")
            guard let v = Double(s), v > 0 else {
                throw ConfigError("bad load '\(part)': expected percentages of flood capacity such as 10%,50%,90%")
            }
            let f = part.hasSuffix("%") ? v / 100 : v
            guard f > 0 && f <= 1.5 else { throw ConfigError("bad load '\(part)': expected more than 0% and at most 150% of capacity") }
            out.append(f)
        }
        guard !out.isEmpty else { throw ConfigError("--load needs at least one value, for example 10%,50%,90%") }
        return out
    }
}

/// `compare --rate 1000,20000`: fixed open-loop rates in packets per
/// second, the same for every path (a `k` suffix means thousands).
public enum RateList {
    public static let range: ClosedRange<Double> = 1...50_000_000

    public static func parse(_ text: String) throws(ConfigError) -> [Double] {
        var out: [Double] = []
        for part in text.split(separator: ",") {
            let thousands = part.last == "k" || part.last == "K"
            guard let v = Double(thousands ? part.dropLast() : part), v.isFinite else {
                throw ConfigError("bad rate '\(part)': expected packets per second such as 1000,20000 or 20k")
            }
            let pps = thousands ? v * 1000 : v
            guard range.contains(pps) else { throw ConfigError("bad rate '\(part)': expected 1-50000000 packets per second") }
            out.append(pps)
        }
        guard !out.isEmpty else { throw ConfigError("--rate needs at least one value, for example 1000,20000") }
        return out
    }
}

extension Substring {
    func trimmingSuffix(_ c: Character) -> Substring { last == c ? dropLast() : self }
}
