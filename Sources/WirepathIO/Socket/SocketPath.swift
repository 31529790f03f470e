import CWirepath
import Glibc

/// Path 1: one `sendto` per packet sent, one `recvfrom` per packet received.
///
/// Waits: `block` sleeps in `recvfrom` (bounded by SO_RCVTIMEO), `epoll`
/// calls `epoll_wait` then `recvfrom`, `spin` calls a non-blocking `recvfrom`
/// in the caller's loop (each empty poll is a counted EAGAIN).
public struct SocketPath: PacketPath, ~Copyable {
    public static let kind = PathKind.socket

    let socket: UDPSocket
    let waiter: EpollWaiter
    let wait: WaitMode
    let tickMillis: CInt
    /// Scratch address for recvfrom/sendto, allocated once.
    let address: UnsafeMutablePointer<SocketAddress>
    public private(set) var counters = PathCounters()
    public var sendFailurePolicy = SendFailurePolicy.throw

    public init(_ config: PathConfig) throws(PathError) {
        let socket = try UDPSocket(config)
        waiter = try EpollWaiter(watching: socket.fd, enabled: config.wait == .epoll)
        self.socket = socket
        wait = config.wait
        tickMillis = CInt(config.waitTickMillis)
        address = .allocate(capacity: 1)
        address.initialize(to: SocketAddress())
    }

    deinit { address.deallocate() }

    public var info: PathInfo { socket.info() }

    public mutating func receive(into batch: inout PacketBatch) throws(PathError) -> Int {
        batch.count = 0
        if waiter.enabled {
            counters.waitCalls &+= 1
            guard try waiter.wait(timeoutMillis: tickMillis) else { return 0 }
        }
        counters.rxCalls &+= 1
        // Expected: EAGAIN (an empty poll or a wait tick), counted.
        guard let r = try counted(Sys.recvfrom(socket.fd, batch.slotPointer(0), batch.slotSize, address, flags: 0),
                                  &counters, "recvfrom") else { return 0 }
        batch.setLength(0, r)
        batch.setEndpoint(0, address.pointee.endpoint)
        batch.count = 1
        counters.rxNonEmptyCalls &+= 1
        counters.rxPackets &+= 1
        counters.rxBytes &+= UInt64(r)
        return 1
    }

    public mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int {
        var sent = 0
        while sent < batch.count {
            address.pointee = SocketAddress(batch.endpoint(sent))
            counters.txCalls &+= 1
            // A full send queue (EAGAIN, ENOBUFS) ends the batch early; the
            // caller resends. A reflector counts and skips a packet whose
            // destination fails (EINVAL for port 0, EPERM from a firewall).
            let result = Sys.sendto(socket.fd, batch.slotPointer(sent), batch.length(sent), address, flags: 0)
            if sendFailurePolicy == .countAndSkip, case .failure(let e) = result {
                guard countSendFailure(e, &counters) else { break }
                sent += 1
                continue
            }
            guard let r = try counted(result, &counters, "sendto") else { break }
            counters.txPackets &+= 1
            counters.txBytes &+= UInt64(r)
            sent += 1
        }
        return sent
    }
}
