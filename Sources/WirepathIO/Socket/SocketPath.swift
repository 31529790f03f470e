import CWirepath
import Glibc

/// Path 1: one `sendto` per packet sent, one `recvfrom` per packet received.
///
/// Waits: `block` sleeps in `recvfrom` (bounded by SO_RCVTIMEO), `epoll`
/// calls `epoll_wait` then `recvfrom`, `spin` calls a non-blocking `recvfrom`
/// in the caller's loop (each empty poll is a counted EAGAIN).
///
/// With `--stages` (`PathConfig.stamping`) it receives with `recvmsg`
/// instead, to get the kernel's receive stamp as a control message: a
/// different call, so its cost shows in the with/without comparison.
public struct SocketPath: PacketPath, ~Copyable {
    public static let kind = PathKind.socket

    let socket: UDPSocket
    let waiter: EpollWaiter
    let wait: WaitMode
    let tickMillis: CInt
    /// Scratch address for recvfrom/sendto, allocated once.
    let address: UnsafeMutablePointer<sockaddr_in>
    /// recvmsg and error-queue buffers; used only when `stamped`.
    let stampBuffers: StampBuffers
    let stamped: Bool
    public private(set) var counters = PathCounters()
    public var sendFailurePolicy = SendFailurePolicy.throw

    public init(_ config: PathConfig) throws(PathError) {
        let socket = try UDPSocket(config)
        waiter = try EpollWaiter(watching: socket.fd, enabled: config.wait == .epoll)
        self.socket = socket
        wait = config.wait
        tickMillis = CInt(config.waitTickMillis)
        address = .allocate(capacity: 1)
        address.initialize(to: sockaddr_in())
        stampBuffers = StampBuffers(address: address)
        stamped = config.stamping != .off
    }

    deinit {
        stampBuffers.deallocate()
        address.deallocate()
    }

    public var info: PathInfo { socket.info() }

    public mutating func receive(into batch: inout PacketBatch) throws(PathError) -> Int {
        batch.count = 0
        if waiter.enabled {
            counters.waitCalls &+= 1
            guard try waiter.wait(timeoutMillis: tickMillis) else { return 0 }
        }
        counters.rxCalls &+= 1
        // Expected: EAGAIN (an empty poll or a wait tick), counted.
        let r: Int
        if stamped {
            var stamp: UInt64 = 0
            guard let n = try counted(stampBuffers.receive(socket.fd, batch.slotPointer(0), batch.slotSize, stamp: &stamp),
                                      &counters, "recvmsg") else { return 0 }
            r = n
            batch.setRxStamp(0, stamp)
        } else {
            guard let n = try counted(Sys.recvfrom(socket.fd, batch.slotPointer(0), batch.slotSize, address, flags: 0),
                                      &counters, "recvfrom") else { return 0 }
            r = n
        }
        batch.setLength(0, r)
        batch.setEndpoint(0, Endpoint(address.pointee))
        batch.count = 1
        counters.rxNonEmptyCalls &+= 1
        counters.rxPackets &+= 1
        counters.rxBytes &+= UInt64(r)
        return 1
    }

    public mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int {
        var sent = 0
        while sent < batch.count {
            address.pointee = sockaddr_in(batch.endpoint(sent))
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

    public mutating func nextTxStamp() -> TxStamp? {
        guard stamped else { return nil }
        return stampBuffers.nextTxStamp(socket.fd)
    }
}
