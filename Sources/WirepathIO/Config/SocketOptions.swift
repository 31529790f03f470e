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
    }
}
