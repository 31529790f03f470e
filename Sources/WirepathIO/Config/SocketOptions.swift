/// Busy polling on the path's socket (socket, mmsg, uring's socket and,
/// in zero-copy mode, xdp's). Paths without a socket to poll ignore it.
public struct SocketOptions: Sendable, Codable, Equatable {
    /// `SO_BUSY_POLL` in microseconds; nil leaves busy polling off.
    public var busyPollMicros: Int?
    /// Also set `SO_PREFER_BUSY_POLL` (5.11+). Off by default: it only pays
    /// with `napi_defer_hard_irqs` and `gro_flush_timeout` set on the device,
    /// and without them it measured slower here, so plain busy polling (as
    /// sockperf's --lls does) is the default.
    public var preferBusyPoll: Bool
    /// The socket's receive buffer in bytes (`SO_RCVBUF`, which the kernel
    /// doubles); nil for the 4 MiB every path asks for. No flag sets it:
    /// tests shrink it on purpose so that a flood overflows the receiver's
    /// socket buffer, where the kernel counts each drop (`RcvbufErrors`).
    public var receiveBufferBytes: Int?
    /// UDP GSO (`--gso`): each send carries up to this many payloads as one
    /// buffer with a per-message UDP_SEGMENT cmsg, and the kernel cuts it
    /// into that many datagrams. nil: off. socket, mmsg and uring senders.
    public var gsoSegments: Int?
    /// UDP GRO (`--gro`): UDP_GRO on the receiving socket; a receive returns
    /// one coalesced buffer that the path splits into packets in place.
    /// socket, mmsg and uring receivers.
    public var gro: Bool
    /// One socket of a `SO_REUSEPORT` group per thread: entry i is the CPU
    /// of the thread whose socket joins the group i-th. A classic BPF
    /// program (`ReusePortSteering`) hands each packet to the socket whose
    /// thread runs on the CPU that received it, so a flow steered to a
    /// queue (and so to that queue's CPU) always reaches the same thread.
    /// nil: a socket of its own. No flag sets it: the benchmark's threaded
    /// runs do (`--threads`).
    public var reusePortCPUs: [Int]?
    /// The most threads one reuseport group steers.
    public static let maxReusePortSockets = 64

    public init(busyPollMicros: Int? = nil, preferBusyPoll: Bool = false, receiveBufferBytes: Int? = nil,
                gsoSegments: Int? = nil, gro: Bool = false) {
        self.busyPollMicros = busyPollMicros
        self.preferBusyPoll = preferBusyPoll
        self.receiveBufferBytes = receiveBufferBytes
        self.gsoSegments = gsoSegments
        self.gro = gro
    }

    // Decoding a report written before --gso and --gro: both off.
    enum CodingKeys: String, CodingKey { case busyPollMicros, preferBusyPoll, receiveBufferBytes, gsoSegments, gro }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        busyPollMicros = try c.decodeIfPresent(Int.self, forKey: .busyPollMicros)
        preferBusyPoll = try c.decodeIfPresent(Bool.self, forKey: .preferBusyPoll) ?? false
        receiveBufferBytes = try c.decodeIfPresent(Int.self, forKey: .receiveBufferBytes)
        gsoSegments = try c.decodeIfPresent(Int.self, forKey: .gsoSegments)
        gro = try c.decodeIfPresent(Bool.self, forKey: .gro) ?? false
    }

    /// The largest UDP payload one GSO send may carry: 65535 minus the IPv4
    /// and UDP headers (the kernel refuses more with EMSGSIZE).
    public static let maxGSOBytes = 65535 - 20 - 8

    /// GRO's receive buffer: the largest coalesced datagram (64 KiB).
    public static let groBufferBytes = 65536

    /// Checks `--gso` against the payload size and the kernel's segment
    /// limit (probed once: `udpSegmentLimit`, 128 on Linux 5.5+).
    public func validateGSO(payloadSize: Int, segmentLimit: Int?) throws(ConfigError) {
        guard let n = gsoSegments else { return }
        guard let limit = segmentLimit else {
            throw ConfigError("--gso \(n): this kernel has no UDP_SEGMENT (Linux 4.18+); leave out --gso")
        }
        guard (1...limit).contains(n) else {
            throw ConfigError("bad --gso \(n): this kernel sends 1-\(limit) segments per GSO send (UDP_MAX_SEGMENTS, probed); use --gso \(min(limit, max(1, Self.maxGSOBytes / payloadSize)))")
        }
        guard n * payloadSize <= Self.maxGSOBytes else {
            throw ConfigError("--gso \(n) × --size \(payloadSize) = \(n * payloadSize) bytes is over the \(Self.maxGSOBytes)-byte UDP payload one GSO send may carry; use --gso \(Self.maxGSOBytes / payloadSize) or less at this size")
        }
    }

    /// Checks every field; the error names the accepted range.
    public func validate() throws(ConfigError) {
        if let busyPollMicros, !(0...1_000_000).contains(busyPollMicros) {
            throw ConfigError("bad busy-poll \(busyPollMicros) µs: expected 0-1000000")
        }
        if let receiveBufferBytes, !(1024...(64 << 20)).contains(receiveBufferBytes) {
            throw ConfigError("bad receive buffer \(receiveBufferBytes) bytes: expected 1024-67108864")
        }
        if let cpus = reusePortCPUs {
            guard (1...Self.maxReusePortSockets).contains(cpus.count) else {
                throw ConfigError("bad reuseport group of \(cpus.count) sockets: expected 1-\(Self.maxReusePortSockets)")
            }
            guard cpus.allSatisfy({ (0..<4096).contains($0) }) else {
                throw ConfigError("bad reuseport CPU list \(cpus): expected CPU numbers 0-4095")
            }
        }
    }
}
