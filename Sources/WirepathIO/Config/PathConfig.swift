/// A validated configuration for opening one path. Build it with
/// `PathConfig.validated(...)`, which checks every field and names the
/// accepted range in its error.
public struct PathConfig: Sendable, Codable, Equatable {
    public var path: PathKind
    /// Address and port the path binds to.
    public var local: Endpoint
    /// The default destination (the reflector), if this end starts conversations.
    public var peer: Endpoint?
    /// Interface name: xdp attaches to it; socket, mmsg and uring bind their
    /// socket to it (SO_BINDTODEVICE). nil: any, as routing decides.
    public var interface: String?
    /// UDP payload bytes, including the Wirepath header.
    public var payloadSize: Int
    /// Packets per send/receive call, for batching paths.
    public var batchSize: Int
    public var wait: WaitMode
    /// `SO_BUSY_POLL` in microseconds; nil leaves busy polling off.
    public var busyPollMicros: Int?
    /// Also set `SO_PREFER_BUSY_POLL` (5.11+). Off by default: it only pays
    /// with `napi_defer_hard_irqs` and `gro_flush_timeout` set on the device,
    /// and without them it measured slower here, so plain busy polling (as
    /// sockperf's --lls does) is the default.
    public var preferBusyPoll = false
    /// Interface MTU, which bounds `payloadSize`.
    public var mtu: Int
    /// How long one blocking wait lasts before the caller regains control to
    /// check its deadline and the stop flag.
    public var waitTickMillis: Int
    /// Buffers in the uring path's provided-buffer ring (a power of two; the
    /// kernel takes at most 32768). Other paths ignore it.
    public var uringBuffers: Int
    /// The xdp path's settings (`with(xdp:interface:)` validates them).
    /// Other paths ignore them.
    public var xdp = XDPSettings()
    /// uring: `IORING_SETUP_SQPOLL` with this `sq_thread_idle` in ms; nil
    /// leaves SQPOLL off. A kernel thread polls the submission queue, so
    /// submitting costs no syscall while it is awake; it spins for this long
    /// after its last work before it sleeps and must be woken. SQPOLL
    /// excludes `DEFER_TASKRUN`. Other paths ignore it.
    public var uringSQPollIdleMillis: Int?
    /// uring: send with `IORING_OP_SENDMSG_ZC` (Linux 6.1+; usage reports
    /// 6.2+) from ring-owned slots, each reused after the kernel's
    /// notification that it let go of the pages. Other paths ignore it.
    public var uringZeroCopy = false
    /// uring: `IORING_REGISTER_NAPI` busy-poll time in µs (Linux 6.9+); nil
    /// leaves it off. The ring busy-polls its sockets' NAPI contexts before
    /// it sleeps in a wait, so it helps only where a socket has a NAPI id
    /// (on veth: NAPI mode, `--veth-napi`). `preferBusyPoll` sets its
    /// prefer_busy_poll. Other paths ignore it.
    public var uringNAPIMicros: Int?
    /// uring: a receiver fed a flood waits for a batch of completions
    /// (`batchSize`), returning after this many µs with what has come
    /// (IORING_FEAT_MIN_TIMEOUT, Linux 6.12+, with DEFER_TASKRUN); 0 turns
    /// it off. A receiver of requests always wakes at the first packet.
    public var uringBatchWaitMicros = defaultUringBatchWaitMicros

    public static let defaultUringBatchWaitMicros = 50
    public static let defaultBatch = 32
    public static let maxBatch = 1024
    public static let defaultPayload = 64
    /// The smallest payload: room for the Wirepath payload header, whose
    /// size (WirepathModel's `PayloadHeader.size`) is defined as this.
    public static let minPayload = 40
    /// Every path can send at least this many bytes in one datagram, even
    /// when the MTU bounds payloads to less: room for a caller's own small
    /// messages (the benchmark's control packets use it).
    public static let minSendSlot = 512
    public static let defaultUringBuffers = 256
    public static let maxUringBuffers = 32768
    /// The kernel's own default `sq_thread_idle` (HZ: one second).
    public static let defaultSQPollIdleMillis = 1000
    public static let maxSQPollIdleMillis = 60_000

    /// Largest UDP payload that fits in one IPv4 packet of `mtu` bytes.
    public static func maxPayload(mtu: Int) -> Int { mtu - 20 - 8 }

    /// An interface name the kernel could have: 1-15 bytes (IFNAMSIZ - 1).
    static func checkInterfaceName(_ name: String) throws(ConfigError) {
        if name.isEmpty || name.utf8.count > 15 {
            throw ConfigError("bad interface name '\(name)': expected 1-15 characters")
        }
    }

    /// This configuration on interface `name` (nil leaves it as it is).
    public func with(interface name: String?) throws(ConfigError) -> PathConfig {
        guard let name else { return self }
        try PathConfig.checkInterfaceName(name)
        var c = self
        c.interface = name
        return c
    }

    public static func validated(
        path: PathKind,
        local: Endpoint,
        peer: Endpoint? = nil,
        interface: String? = nil,
        payloadSize: Int = defaultPayload,
        batchSize: Int = defaultBatch,
        wait: WaitMode = .block,
        busyPollMicros: Int? = nil,
        mtu: Int = 1500,
        waitTickMillis: Int = 10,
        uringBuffers: Int = defaultUringBuffers,
        uringSQPollIdleMillis: Int? = nil,
        uringZeroCopy: Bool = false,
        uringNAPIMicros: Int? = nil,
        uringBatchWaitMicros: Int = defaultUringBatchWaitMicros
    ) throws(ConfigError) -> PathConfig {
        guard (68...65535).contains(mtu) else {
            throw ConfigError("bad MTU \(mtu): expected 68-65535")
        }
        let maxPayload = maxPayload(mtu: mtu)
        guard (minPayload...maxPayload).contains(payloadSize) else {
            throw ConfigError("bad payload size \(payloadSize): expected \(minPayload)-\(maxPayload) bytes (header size up to MTU \(mtu) minus IPv4 and UDP headers)")
        }
        guard (1...maxBatch).contains(batchSize) else {
            throw ConfigError("bad batch size \(batchSize): expected 1-\(maxBatch)")
        }
        if let busyPollMicros, !(0...1_000_000).contains(busyPollMicros) {
            throw ConfigError("bad busy-poll \(busyPollMicros) µs: expected 0-1000000")
        }
        guard (1...1000).contains(waitTickMillis) else {
            throw ConfigError("bad wait tick \(waitTickMillis) ms: expected 1-1000")
        }
        // A buffer ring's size is a power of two and below 65536 (buffer ids
        // are 16 bits); the kernel refuses anything else with EINVAL.
        guard (1...maxUringBuffers).contains(uringBuffers), uringBuffers & (uringBuffers - 1) == 0 else {
            throw ConfigError("bad uring buffer count \(uringBuffers): expected a power of two from 1 to \(maxUringBuffers)")
        }
        if let idle = uringSQPollIdleMillis, !(1...maxSQPollIdleMillis).contains(idle) {
            throw ConfigError("bad --uring-sqpoll idle \(idle) ms: expected 1-\(maxSQPollIdleMillis) (the kernel thread sleeps after this long without work)")
        }
        if let usec = uringNAPIMicros, !(1...1_000_000).contains(usec) {
            throw ConfigError("bad --uring-napi \(usec) µs: expected 1-1000000")
        }
        guard (0...1_000_000).contains(uringBatchWaitMicros) else {
            throw ConfigError("bad --uring-batch-wait \(uringBatchWaitMicros) µs: expected 0-1000000 (0 turns it off)")
        }
        if let interface { try checkInterfaceName(interface) }
        return PathConfig(
            path: path, local: local, peer: peer, interface: interface,
            payloadSize: payloadSize, batchSize: batchSize, wait: wait,
            busyPollMicros: busyPollMicros, mtu: mtu, waitTickMillis: waitTickMillis,
            uringBuffers: uringBuffers, uringSQPollIdleMillis: uringSQPollIdleMillis,
            uringZeroCopy: uringZeroCopy, uringNAPIMicros: uringNAPIMicros,
            uringBatchWaitMicros: uringBatchWaitMicros)
    }
}
