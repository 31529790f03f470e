import Foundation
import Glibc
import WirepathIO
import WirepathModel

/// `--threads`, `--flows`, `--cpus` and `--queues`: how a run spreads over
/// threads, flows and queues.
public struct ScalingRequest: Sendable, Equatable {
    /// Threads per end, each with its own path instance on its own CPU.
    public var threads = 1
    /// `compare --threads 1,2`: every path at each count, in turn, for
    /// the scaling table; nil or one entry: `threads` alone.
    public var threadCounts: [Int]?
    /// UDP flows (distinct source ports); nil: one per thread.
    public var flows: Int?
    /// The CPU of thread i (both ends); nil: the first N CPUs of each
    /// end's share (see `cpus(online:)`).
    public var cpus: [Int]?
    /// RX and TX queues per veth end on the built-in topology.
    public var queues = 1
    /// `--verify strict`: a flow that did not land where it was steered
    /// fails the command.
    public var strict = false
    /// Test hook: XPS sends this flow on queue 0 instead of the queue it
    /// is steered to, so the run must be flagged.
    var misSteerFlow: Int?

    public static let maxThreads = 64
    public static let maxQueues = 64

    public init() {}

    /// A run that needs the threaded runner and the proof of placement.
    public var isThreaded: Bool { threads > 1 || queues > 1 || (threadCounts?.count ?? 0) > 1 }
    public var flowCount: Int { flows ?? threads }

    /// Checks the values against each other and against `online` CPUs (a
    /// CPU must exist to be pinned to; nothing else is sized by it).
    public func validate(online: Int) throws(ConfigError) {
        if let counts = threadCounts, counts.count > 1 {
            guard counts.count <= 8, Set(counts).count == counts.count else {
                throw ConfigError("--threads \(counts.map(String.init).joined(separator: ",")): expected up to 8 distinct counts")
            }
            for n in counts {
                var one = self
                one.threadCounts = nil
                one.threads = n
                if let cpus { one.cpus = Array(cpus.prefix(n)) }
                try one.validate(online: online)
            }
            if let cpus, cpus.count < counts.max()! {
                throw ConfigError("--cpus lists \(cpus.count) CPUs for --threads up to \(counts.max()!): give one CPU per thread of the largest count")
            }
            return
        }
        guard (1...Self.maxThreads).contains(threads) else {
            throw ConfigError("--threads \(threads): expected 1-\(Self.maxThreads)")
        }
        guard (1...Self.maxQueues).contains(queues) else {
            throw ConfigError("--queues \(queues): expected 1-\(Self.maxQueues) (veth ends get that many RX and TX queues)")
        }
        if let flows, flows != threads {
            // Several sockets per thread is not built yet: say so rather than
            // run something else.
            throw ConfigError("--flows \(flows) with --threads \(threads): each thread owns one flow in this build; leave out --flows or make it equal to --threads")
        }
        if let cpus {
            guard cpus.count == threads else {
                throw ConfigError("--cpus lists \(cpus.count) CPUs for --threads \(threads): give one CPU per thread")
            }
            guard Set(cpus).count == cpus.count else {
                throw ConfigError("--cpus \(cpus.map(String.init).joined(separator: ",")): a CPU appears twice; each thread of an end needs its own, so XPS can tell their flows apart")
            }
            if let bad = cpus.first(where: { !(0..<online).contains($0) }) {
                throw ConfigError("--cpus names CPU \(bad), which does not exist here (CPUs 0-\(online - 1) are online): fix --cpus")
            }
        } else if threads > online {
            throw ConfigError("--threads \(threads) needs \(threads) CPUs per end and \(online) are online: lower --threads")
        }
        if let f = misSteerFlow, !(0..<flowCount).contains(f) { throw ConfigError("mis-steer hook: no flow \(f)") }
    }

    /// Each end's CPUs: `--cpus` at both ends; else, with room for both
    /// ends' threads apart, the client on the first N CPUs and the
    /// reflector on the next N; else both ends on the first N, sharing
    /// (contended).
    public func cpus(online: Int) -> (client: [Int], reflector: [Int], contended: Bool) {
        if let cpus { return (cpus, cpus, true) }
        let first = Array(0..<threads)
        if online >= 2 * threads { return (first, Array(threads..<(2 * threads)), false) }
        return (first, first, true)
    }

    /// The test hook from the environment: `WIREPATH_TEST_MISSTEER_FLOW=F`
    /// sends flow F on queue 0 (a small flow number, else ignored), so a
    /// test of the command line sees a mis-steered run flagged.
    static let misSteerFromEnvironment: Int? = {
        guard let v = ProcessInfo.processInfo.environment["WIREPATH_TEST_MISSTEER_FLOW"], v.utf8.count <= 2,
              let f = Int(v), (0..<maxThreads).contains(f) else { return nil }
        return f
    }()

    /// The queue flow `f` is steered to.
    public func queue(ofFlow f: Int) -> Int { f % queues }
}
