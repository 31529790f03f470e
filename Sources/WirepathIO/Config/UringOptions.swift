/// The uring path's options. Other paths ignore them.
///
/// Their Codable form is the report's (`PathOptionsRecord` encodes them
/// flattened beside the common fields): each key carries the `uring`
/// prefix, so a new option here reaches the JSON without an edit there.
public struct UringOptions: Sendable, Codable, Equatable {
    /// Buffers in the provided-buffer ring (a power of two; the kernel takes
    /// at most 32768).
    public var buffers: Int
    /// `IORING_SETUP_SQPOLL` with this `sq_thread_idle` in ms; nil leaves
    /// SQPOLL off. A kernel thread polls the submission queue, so submitting
    /// costs no syscall while it is awake; it spins for this long after its
    /// last work before it sleeps and must be woken. SQPOLL excludes
    /// `DEFER_TASKRUN`.
    public var sqPollIdleMillis: Int?
    /// Send with `IORING_OP_SENDMSG_ZC` (Linux 6.1+; usage reports 6.2+)
    /// from ring-owned slots, each reused after the kernel's notification
    /// that it let go of the pages.
    public var zeroCopy: Bool
    /// `IORING_REGISTER_NAPI` busy-poll time in µs (Linux 6.9+); nil leaves
    /// it off. The ring busy-polls its sockets' NAPI contexts before it
    /// sleeps in a wait, so it helps only where a socket has a NAPI id (on
    /// veth: NAPI mode, `--veth-napi`). `SocketOptions.preferBusyPoll` sets
    /// its prefer_busy_poll.
    public var napiMicros: Int?
    /// A receiver fed a flood waits for a batch of completions
    /// (`batchSize`), returning after this many µs with what has come
    /// (IORING_FEAT_MIN_TIMEOUT, Linux 6.12+, with DEFER_TASKRUN); 0 turns
    /// it off. A receiver of requests always wakes at the first packet.
    public var batchWaitMicros: Int

    public static let defaultBuffers = 256
    public static let maxBuffers = 32768
    /// The kernel's own default `sq_thread_idle` (HZ: one second).
    public static let defaultSQPollIdleMillis = 1000
    public static let maxSQPollIdleMillis = 60_000
    public static let defaultBatchWaitMicros = 50

    public init(buffers: Int = defaultBuffers, sqPollIdleMillis: Int? = nil, zeroCopy: Bool = false,
                napiMicros: Int? = nil, batchWaitMicros: Int = defaultBatchWaitMicros) {
        self.buffers = buffers
        self.sqPollIdleMillis = sqPollIdleMillis
        self.zeroCopy = zeroCopy
        self.napiMicros = napiMicros
        self.batchWaitMicros = batchWaitMicros
    }

    /// Checks every field; the error names the accepted range.
    public func validate() throws(ConfigError) {
        // A buffer ring's size is a power of two and below 65536 (buffer ids
        // are 16 bits); the kernel refuses anything else with EINVAL.
        guard (1...Self.maxBuffers).contains(buffers), buffers & (buffers - 1) == 0 else {
            throw ConfigError("bad uring buffer count \(buffers): expected a power of two from 1 to \(Self.maxBuffers)")
        }
        if let idle = sqPollIdleMillis, !(1...Self.maxSQPollIdleMillis).contains(idle) {
            throw ConfigError("bad --uring-sqpoll idle \(idle) ms: expected 1-\(Self.maxSQPollIdleMillis) (the kernel thread sleeps after this long without work)")
        }
        if let usec = napiMicros, !(1...1_000_000).contains(usec) {
            throw ConfigError("bad --uring-napi \(usec) µs: expected 1-1000000")
        }
        guard (0...1_000_000).contains(batchWaitMicros) else {
            throw ConfigError("bad --uring-batch-wait \(batchWaitMicros) µs: expected 0-1000000 (0 turns it off)")
        }
    }

    /// The report's keys (wirepath.report/1).
    public enum CodingKeys: String, CodingKey {
        case buffers = "uringBuffers"
        case sqPollIdleMillis = "uringSQPollIdleMillis"
        case zeroCopy = "uringZeroCopy"
        case napiMicros = "uringNAPIMicros"
        case batchWaitMicros = "uringBatchWaitMicros"
    }

    /// A report written before a key existed decodes with its default.
    public init(from decoder: any Decoder) throws {
        let k = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        buffers = try k.decodeIfPresent(Int.self, forKey: .buffers) ?? buffers
        sqPollIdleMillis = try k.decodeIfPresent(Int.self, forKey: .sqPollIdleMillis)
        zeroCopy = try k.decodeIfPresent(Bool.self, forKey: .zeroCopy) ?? zeroCopy
        napiMicros = try k.decodeIfPresent(Int.self, forKey: .napiMicros)
        batchWaitMicros = try k.decodeIfPresent(Int.self, forKey: .batchWaitMicros) ?? batchWaitMicros
    }

    /// The options in a container that holds other keys too (a report's
    /// path options), or nil when none of ours is there (another path).
    public static func decodeIfPresent(from decoder: any Decoder) throws -> UringOptions? {
        let k = try decoder.container(keyedBy: CodingKeys.self)
        return k.allKeys.isEmpty ? nil : try UringOptions(from: decoder)
    }
}
