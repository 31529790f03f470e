/// The bounds that keep the wire audit's memory independent of how many run
/// ids a capture holds: run ids come from the network (anyone who can reach
/// the reflector's port can send a new one with every packet), so no state is
/// kept per id without a bound. docs/capture.md states the policy.

/// Run ids that no run kept in full accounts for: one row for all of them.
public struct WireOverflow: Codable, Sendable, Equatable {
    /// What the overflow runs sent one way.
    public struct Direction: Codable, Sendable, Equatable {
        public var packets: UInt64 = 0
        public var bytes: UInt64 = 0
        /// Frames with a failed payload check, a bad checksum or a changed
        /// Ethernet destination.
        public var damaged: UInt64 = 0
        public init() {}
    }

    /// Distinct run ids in the row; when `runsAtLeast`, counting stopped at
    /// `WireAudit.distinctRunLimit` and there are more.
    public var runs: UInt64 = 0
    public var runsAtLeast = false
    public var clientToReflector = Direction()
    public var reflectorToClient = Direction()

    public init() {}

    public func stats(_ d: WireDirection) -> Direction { d == .clientToReflector ? clientToReflector : reflectorToClient }
    public var packets: UInt64 { clientToReflector.packets &+ reflectorToClient.packets }
}

/// The run ids with the most frames in one pass over a stream, in memory
/// fixed by `capacity` (the Misra–Gries summary): every id with more than
/// N / (capacity + 1) of the N frames is among the candidates, and each
/// candidate's count is short of its true count by at most that much. A
/// flood of ids that each appear a few times cannot push out a run of
/// thousands of packets.
struct FrequentRunIDs {
    let capacity: Int
    private var counts: [UInt64: (count: UInt64, first: UInt64)] = [:]
    private var seen: UInt64 = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    mutating func add(_ id: UInt64) {
        seen &+= 1
        if let c = counts[id] {
            counts[id] = (c.count &+ 1, c.first)
        } else if counts.count < capacity {
            counts[id] = (1, seen)
        } else {
            // Every counter and the new id lose one: each such step removes
            // capacity + 1 from the total, so it runs at most N / (capacity
            // + 1) times and the pass stays linear.
            for (k, c) in counts {
                if c.count <= 1 { counts[k] = nil } else { counts[k] = (c.count - 1, c.first) }
            }
        }
    }

    /// Up to `limit` candidates, most frames first, ties by first appearance.
    func top(_ limit: Int) -> [UInt64] {
        counts.sorted { a, b in a.value.count != b.value.count ? a.value.count > b.value.count : a.value.first < b.value.first }
            .prefix(max(limit, 0)).map(\.key)
    }
}

/// A set of run ids that stops growing at `limit`; past it, membership of an
/// id it did not take is unknown (`saturated`).
struct BoundedIDSet {
    let limit: Int
    private(set) var ids: Set<UInt64> = []
    private(set) var saturated = false

    init(limit: Int) { self.limit = limit }

    mutating func insert(_ id: UInt64) {
        if ids.count < limit { ids.insert(id) } else if !ids.contains(id) { saturated = true }
    }

    func contains(_ id: UInt64) -> Bool { ids.contains(id) }
    var count: Int { ids.count }
}

/// A set of sequence numbers in memory proportional to the blocks in use:
/// a capture's sequence numbers are dense from 0, but a damaged one may be
/// anything, and none may make the audit allocate without bound.
struct SparseBitmap {
    private var words: [UInt64: UInt64] = [:]
    /// Inserts `v`; false when it was already there.
    mutating func insert(_ v: UInt64) -> Bool {
        let key = v >> 6, bit: UInt64 = 1 << (v & 63)
        let w = words[key, default: 0]
        if w & bit != 0 { return false }
        words[key] = w | bit
        return true
    }
}
