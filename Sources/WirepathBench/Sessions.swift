import WirepathIO
import WirepathModel

/// How `serve` treats its clients: how many sessions at once, when an idle
/// one expires, the key control must be signed with, and whether a window
/// may count syscalls (host-wide cost, so opt-in).
public struct ServeOptions: Sendable {
    public static let maxSessionsLimit = 64
    public var maxSessions = 4
    /// An open session with no packet for this long ends, so a crashed
    /// client does not hold a slot forever.
    public var sessionTimeoutNs: UInt64 = 20_000_000_000
    public var key: ControlKey?
    /// `--count-syscalls`: a `begin` may open the syscall tracepoint.
    public var countSyscalls = false
    /// The longest a window may keep the tracepoint open.
    public var syscallCapNs: UInt64 = 10_000_000_000

    public init(maxSessions: Int = 4, sessionTimeoutNs: UInt64 = 20_000_000_000, key: ControlKey? = nil, countSyscalls: Bool = false) {
        self.maxSessions = maxSessions
        self.sessionTimeoutNs = sessionTimeoutNs
        self.key = key
        self.countSyscalls = countSyscalls
    }
}

/// What the reflector did with control packets over its life.
public struct ControlTally: Sendable, Equatable {
    /// Shorter than a protocol 2 control packet, or longer than its slot.
    public var undersized: UInt64 = 0
    public var oversized: UInt64 = 0
    /// Of another protocol version (a wirepath of another release).
    public var otherVersion: UInt64 = 0
    /// No valid MAC while serve has a key.
    public var unauthenticated: UInt64 = 0
    /// A `begin` without a valid cookie: answered with a `retry`.
    public var retries: UInt64 = 0
    /// Control for a live session's run id from an address that is not its owner.
    public var foreign: UInt64 = 0
    /// `begin`s refused because --max-sessions were open.
    public var refusedBusy: UInt64 = 0
    /// Replies not sent because the source's bucket was empty.
    public var rateLimited: UInt64 = 0
    /// Replies not sent because they would be larger than the request.
    public var tooLarge: UInt64 = 0
    /// Sessions ended for being idle.
    public var expired: UInt64 = 0

    public init() {}

    public var summary: String {
        "undersized \(undersized), oversized \(oversized), other version \(otherVersion), unauthenticated \(unauthenticated), "
            + "cookies sent \(retries), not the session's owner \(foreign), refused busy \(refusedBusy), rate-limited \(rateLimited), "
            + "larger than request \(tooLarge), sessions expired \(expired)"
    }
}

/// One client's measured window and its state, in a slot of `SessionTable`.
struct SessionSlot: ~Copyable {
    var runID: UInt64 = 0
    var owner = Endpoint.any
    /// 0 free, 1 open window, 2 closed (its report kept for a retried `end`).
    var state: UInt8 = 0
    var lastActivityNs: UInt64 = 0
    var openedNs: UInt64 = 0
    var report = PeerReport(path: .socket)
    var tracker = SequenceTracker()
    var meter = CostMeter()
    var countersAtBegin = PathCounters()
    var cachedReport: [UInt64] = []
    var countingSyscalls = false
}

/// A fixed table of `capacity` session slots, allocated at start-up (each
/// holds a 512 KiB sequence tracker): nothing a packet asks for allocates
/// more. Looked up by run id with a scan of a few slots, no hashing.
struct SessionTable: ~Copyable {
    static let free: UInt8 = 0, open: UInt8 = 1, closed: UInt8 = 2
    let capacity: Int
    let slots: UnsafeMutablePointer<SessionSlot>

    init(capacity: Int) {
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
        for i in 0..<capacity { (slots + i).initialize(to: SessionSlot()) }
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// The slot of `runID` (open or closed), or -1.
    @inline(__always)
    func find(_ runID: UInt64) -> Int {
        var i = 0
        while i < capacity {
            if slots[i].state != Self.free && slots[i].runID == runID { return i }
            i += 1
        }
        return -1
    }

    /// True when an open window has echoed `n` pings (the test-only fault).
    func anyOpen(echoedAtLeast n: UInt64) -> Bool {
        for i in 0..<capacity where slots[i].state == Self.open && slots[i].report.echoed >= n { return true }
        return false
    }

    /// A packet of no session (not Wirepath's, or a flood of no open run)
    /// is foreign to every open window, as it was to the one window before
    /// sessions.
    func countForeign() {
        for i in 0..<capacity where slots[i].state == Self.open { slots[i].report.foreign &+= 1 }
    }

    var openCount: Int {
        var n = 0
        for i in 0..<capacity where slots[i].state == Self.open { n += 1 }
        return n
    }

    /// A slot for a new session: a free one, else the closed one idle the
    /// longest (its report is dropped), else nil when every slot is open.
    func vacancy() -> Int? {
        var best: Int?
        for i in 0..<capacity {
            if slots[i].state == Self.free { return i }
            if slots[i].state == Self.closed, best.map({ slots[i].lastActivityNs < slots[$0].lastActivityNs }) ?? true { best = i }
        }
        return best
    }
}

/// A per-source limit on control replies: token buckets in a fixed array,
/// indexed by a keyed hash of the source address (Swift's `Hasher` is
/// SipHash with a per-process random seed, so a sender cannot aim at a
/// bucket), probing four slots and taking over the stalest when the
/// address has none. Bounded whatever the number of sources.
struct ReplyLimiter: ~Copyable {
    struct Bucket { var address: UInt64 = 0; var used = false; var tokensMilli: UInt64 = 0; var lastNs: UInt64 = 0 }
    static let slots = 1024
    static let probe = 4
    /// A burst of 32 replies, then 16 a second per source address: a
    /// client's windows take three replies each (retry, beginAck, report).
    static let burst: UInt64 = 32
    static let perSecond: UInt64 = 16
    let buckets: UnsafeMutablePointer<Bucket>

    init() {
        buckets = .allocate(capacity: Self.slots)
        buckets.initialize(repeating: Bucket(), count: Self.slots)
    }

    deinit { buckets.deallocate() }

    /// Takes a token for a reply to `address` (an `Endpoint.sourceKey`: the
    /// IPv4 address, or an IPv6 address's /64); false when it has none left.
    func allow(_ address: UInt64, nowNs: UInt64) -> Bool {
        var h = Hasher()
        h.combine(address)
        let base = Int(UInt(bitPattern: h.finalize()) % UInt(Self.slots))
        var pick = base
        for k in 0..<Self.probe {
            let i = (base + k) % Self.slots
            if buckets[i].used && buckets[i].address == address { pick = i; break }
            if !buckets[i].used || buckets[i].lastNs < buckets[pick].lastNs { pick = i }
        }
        if !(buckets[pick].used && buckets[pick].address == address) {
            buckets[pick] = Bucket(address: address, used: true, tokensMilli: Self.burst * 1000, lastNs: nowNs)
        }
        // Whole milliseconds only, and the clock advanced by what was
        // credited, so frequent calls lose no fraction.
        let ms = (nowNs &- buckets[pick].lastNs) / 1_000_000
        buckets[pick].tokensMilli = min(buckets[pick].tokensMilli + min(ms, Self.burst * 1000) * Self.perSecond, Self.burst * 1000)
        buckets[pick].lastNs &+= ms * 1_000_000
        guard buckets[pick].tokensMilli >= 1000 else { return false }
        buckets[pick].tokensMilli -= 1000
        return true
    }
}
