/// A configuration for opening one path: the fields every path reads, and
/// each path's own options in its own group (`socket`, `uring`, `xdp`).
/// Build one with `PathConfig.validated(...)`, or set fields and call
/// `validate()`, which checks every field and names the accepted range in
/// its error.
///
/// One place per option. A new path option touches three files:
/// 1. its options struct (`SocketOptions`, `UringOptions` or `XDPOptions`
///    here in Config/): the field, its default and its `validate()` check;
/// 2. its flag in WirepathCLI/Options.swift (XDPFlags.swift for xdp's),
///    which sets it in the run's template (`PathTuning.template()`);
/// 3. the path code that uses it (Socket/, WirepathUring's Uring/ or
///    WirepathXDP's XDP/).
/// The benchmark carries the template whole (`RunRequest.template`), and
/// the report encodes the options structs' own keys (`PathOptionsRecord`),
/// so neither changes.
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
    /// Interface MTU, which bounds `payloadSize`.
    public var mtu: Int
    /// How long one blocking wait lasts before the caller regains control to
    /// check its deadline and the stop flag.
    public var waitTickMillis: Int
    /// Busy polling on the path's socket.
    public var socket: SocketOptions
    /// The uring path's options; other paths ignore them.
    public var uring: UringOptions
    /// The xdp path's options (`with(xdp:interface:)` validates them against
    /// the MTU); other paths ignore them.
    public var xdp: XDPOptions
    /// How the data thread is confined once the path is open.
    public var sandbox: SandboxMode = .default
    /// Per-packet kernel timestamps for `--stages` (StampMode.swift); off
    /// by default, and then the path sets and reads nothing more.
    public var stamping: StampMode = .off

    /// Packets a sender hands one `send` call: the batch, or with `--gso`
    /// the batch of GSO buffers (mmsg: mmsghdrs, uring: SQEs) times the
    /// segments each carries, so that GSO multiplies what one call sends.
    public var sendBatch: Int { batchSize * max(socket.gsoSegments ?? 1, 1) }

    public static let defaultBatch = 32
    public static let maxBatch = 1024
    public static let defaultPayload = 64
    /// The smallest payload: room for the Wirepath payload header, whose
    /// size (WirepathModel's `PayloadHeader.size`) is defined as this.
    public static let minPayload = 40
    /// The smallest ping payload with `--stages`: the header and the
    /// reflector's stage block (WirepathModel's `StageBlock.minPayload` is
    /// defined as this). A reflector echoes any size, so only a client checks.
    public static let minStagesPayload = 72

    /// A client's check of `--stages` against its payload size.
    public func validateStages() throws(ConfigError) {
        if stamping != .off && payloadSize < Self.minStagesPayload {
            throw ConfigError("--stages needs a payload of at least \(Self.minStagesPayload) bytes (the header and the reflector's 32-byte stage block); got \(payloadSize): add --size \(Self.minStagesPayload)")
        }
    }
    /// Every path can send at least this many bytes in one datagram, even
    /// when the MTU bounds payloads to less: room for a caller's own small
    /// messages (the benchmark's control packets use it). 576 - 28: the
    /// largest UDP payload of the datagram every IPv4 host must accept.
    public static let minSendSlot = 548
    /// The text report leaves the default batch wait unsaid.
    public static let defaultUringBatchWaitMicros = UringOptions.defaultBatchWaitMicros

    /// Largest UDP payload that fits in one IPv4 packet of `mtu` bytes
    /// (with `ipv6`, one IPv6 packet: a 40-byte header, no extensions).
    public static func maxPayload(mtu: Int, ipv6: Bool = false) -> Int { mtu - (ipv6 ? 40 : 20) - 8 }

    /// The run is over IPv6: its local address (and peer) are IPv6.
    public var isIPv6: Bool { local.isIPv6 }

    /// A configuration as given, not yet checked: `validate()` checks it.
    public init(path: PathKind, local: Endpoint, peer: Endpoint? = nil, interface: String? = nil,
                payloadSize: Int = defaultPayload, batchSize: Int = defaultBatch, wait: WaitMode = .block,
                mtu: Int = 1500, waitTickMillis: Int = 10, socket: SocketOptions = SocketOptions(),
                uring: UringOptions = UringOptions(), xdp: XDPOptions = XDPOptions()) {
        self.path = path; self.local = local; self.peer = peer; self.interface = interface
        self.payloadSize = payloadSize; self.batchSize = batchSize; self.wait = wait
        self.mtu = mtu; self.waitTickMillis = waitTickMillis
        self.socket = socket; self.uring = uring; self.xdp = xdp
    }

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

    /// Checks the common fields, then the socket and uring options; the
    /// error names the accepted range. The xdp options are checked against
    /// the MTU where they are applied (`with(xdp:interface:)`).
    public func validate() throws(ConfigError) {
        guard (68...65535).contains(mtu) else {
            throw ConfigError("bad MTU \(mtu): expected 68-65535")
        }
        if let peer, peer.family != local.family {
            throw ConfigError("address families differ: local \(local) and peer \(peer); use an IPv4 or an IPv6 address for both (--bind and --peer)")
        }
        let maxPayload = Self.maxPayload(mtu: mtu, ipv6: isIPv6)
        guard (Self.minPayload...maxPayload).contains(payloadSize) else {
            throw ConfigError("bad payload size \(payloadSize): expected \(Self.minPayload)-\(maxPayload) bytes (header size up to MTU \(mtu) minus \(isIPv6 ? "IPv6" : "IPv4") and UDP headers)")
        }
        guard (1...Self.maxBatch).contains(batchSize) else {
            throw ConfigError("bad batch size \(batchSize): expected 1-\(Self.maxBatch)")
        }
        try socket.validate()
        if socket.gsoSegments != nil {
            try socket.validateGSO(payloadSize: payloadSize, segmentLimit: Sys.udpSegmentLimit)
            // The sender's batch holds --batch GSO buffers of --gso packets each.
            guard sendBatch <= 16384 else {
                throw ConfigError("--batch \(batchSize) × --gso \(socket.gsoSegments ?? 1) = \(sendBatch) packets per send call is over 16384; lower --batch")
            }
        }
        guard (1...1000).contains(waitTickMillis) else {
            throw ConfigError("bad wait tick \(waitTickMillis) ms: expected 1-1000")
        }
        try uring.validate()
        if let interface { try Self.checkInterfaceName(interface) }
        // A GRO receive is one buffer of coalesced datagrams under one
        // kernel stamp, and no path stamps the segments it splits off: the
        // receive stages of each packet cannot be had (issue 17).
        if stamping != .off && socket.gro {
            throw ConfigError("--stages with --gro: a GRO receive coalesces datagrams under one kernel timestamp, so the per-packet receive stages cannot be measured; drop --gro for the --stages run (measure GRO in a run of its own)")
        }

    }

    /// A configuration, checked by `validate()`.
    public static func validated(
        path: PathKind,
        local: Endpoint,
        peer: Endpoint? = nil,
        interface: String? = nil,
        payloadSize: Int = defaultPayload,
        batchSize: Int = defaultBatch,
        wait: WaitMode = .block,
        mtu: Int = 1500,
        waitTickMillis: Int = 10,
        socket: SocketOptions = SocketOptions(),
        uring: UringOptions = UringOptions()
    ) throws(ConfigError) -> PathConfig {
        let c = PathConfig(path: path, local: local, peer: peer, interface: interface, payloadSize: payloadSize,
                           batchSize: batchSize, wait: wait, mtu: mtu, waitTickMillis: waitTickMillis,
                           socket: socket, uring: uring)
        try c.validate()
        return c
    }
}
