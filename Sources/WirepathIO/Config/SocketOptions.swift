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

    public init(busyPollMicros: Int? = nil, preferBusyPoll: Bool = false, receiveBufferBytes: Int? = nil) {
        self.busyPollMicros = busyPollMicros
        self.preferBusyPoll = preferBusyPoll
        self.receiveBufferBytes = receiveBufferBytes
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
