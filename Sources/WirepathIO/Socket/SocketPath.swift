import CWirepath
import Glibc

/// Path 1: one `sendto` per packet sent, one `recvfrom` per packet received.
///
/// Waits: `block` sleeps in `recvfrom` (bounded by SO_RCVTIMEO), `epoll`
/// calls `epoll_wait` then `recvfrom`, `spin` calls a non-blocking `recvfrom`
/// in the caller's loop (each empty poll is a counted EAGAIN).
///
/// `--gso N`: a run of up to N packets to one endpoint goes out in one
/// `sendmsg` with a UDP_SEGMENT cmsg, its iovecs pointing at the batch's
/// slots (gathered, not copied). `--gro`: one `recvmsg` into a 64 KiB
/// buffer, split into packets in place (`GROBuffers`).
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
    let address: UnsafeMutablePointer<SocketAddress>
    /// `--gso` segments per send (0: off) and `--gro`, with their msghdr,
    /// iovecs and control space, allocated once.
    let gso: Int
    let groOn: Bool
    var gro: GROBuffers
    let msg: UnsafeMutablePointer<msghdr>
    let iovs: UnsafeMutablePointer<iovec>
    let control: UnsafeMutableRawPointer
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
        address.initialize(to: SocketAddress())
        gso = config.socket.gsoSegments ?? 0
        groOn = config.socket.gro
        gro = GROBuffers(messages: groOn ? 1 : 0, slotBytes: config.mtu)
        msg = .allocate(capacity: 1)
        iovs = .allocate(capacity: max(gso, 1))
        iovs.initialize(repeating: iovec(iov_base: nil, iov_len: 0), count: max(gso, 1))
        control = .allocate(byteCount: max(wp_udp_segment_cmsg_space(), gro.controlSpace), alignment: 8)
        var m = msghdr()
        m.msg_name = UnsafeMutableRawPointer(address)
        m.msg_namelen = socklen_t(MemoryLayout<SocketAddress>.size)
        m.msg_iov = iovs
        m.msg_iovlen = 1
        msg.initialize(to: m)
        stampBuffers = StampBuffers(address: address)
        stamped = config.stamping != .off
    }

    deinit {
        stampBuffers.deallocate()
        address.deallocate()
        msg.deallocate()
        iovs.deallocate()
        control.deallocate()
    }

    public var info: PathInfo { socket.info() }

    public mutating func receive(into batch: inout PacketBatch) throws(PathError) -> Int {
        batch.count = 0
        if groOn { return try receiveGRO(into: &batch) }
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
        batch.setEndpoint(0, address.pointee.endpoint)
        batch.count = 1
        counters.rxNonEmptyCalls &+= 1
        counters.rxPackets &+= 1
        counters.rxBytes &+= UInt64(r)
        return 1
    }

    public mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int {
        if gso > 0 { return try sendGSO(&batch) }
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

    /// `--gro`: hands out the segments still held from the last receive,
    /// else one `recvmsg` of up to 64 KiB, split in place.
    mutating func receiveGRO(into batch: inout PacketBatch) throws(PathError) -> Int {
        if gro.pending {
            _ = gro.drain(into: &batch, counters: &counters)
            return batch.count
        }
        if waiter.enabled {
            counters.waitCalls &+= 1
            guard try waiter.wait(timeoutMillis: tickMillis) else { return 0 }
        }
        iovs[0] = iovec(iov_base: gro.buffer(0), iov_len: GROBuffers.receiveBytes)
        msg.pointee.msg_iovlen = 1
        msg.pointee.msg_namelen = socklen_t(MemoryLayout<SocketAddress>.size)
        msg.pointee.msg_control = gro.control(0)
        msg.pointee.msg_controllen = gro.controlSpace
        msg.pointee.msg_flags = 0
        counters.rxCalls &+= 1
        // Expected: EAGAIN (an empty poll or a wait tick), counted.
        guard let r = try counted(Sys.recvmsg(socket.fd, msg, flags: 0), &counters, "recvmsg") else { return 0 }
        gro.record(0, length: r, source: Endpoint(address.pointee), controlLength: Int(msg.pointee.msg_controllen),
                   flags: msg.pointee.msg_flags, counters: &counters)
        return gro.deliverReceived(into: &batch, counters: &counters)
    }

    /// `--gso`: each run of equal packets to one endpoint (up to `gso`) is
    /// one `sendmsg` with a UDP_SEGMENT cmsg of the packets' length.
    mutating func sendGSO(_ batch: inout PacketBatch) throws(PathError) -> Int {
        var sent = 0
        while sent < batch.count {
            let n = batch.gsoRun(from: sent, limit: gso)
            let len = batch.length(sent)
            for i in 0..<n { iovs[i] = iovec(iov_base: batch.slotPointer(sent + i), iov_len: len) }
            address.pointee = SocketAddress(batch.endpoint(sent))
            msg.pointee.msg_iovlen = n
            msg.pointee.msg_namelen = address.pointee.length
            msg.pointee.msg_control = control
            msg.pointee.msg_controllen = wp_udp_segment_cmsg(control, UInt16(truncatingIfNeeded: len))
            counters.txCalls &+= 1
            // As sendto: a full queue ends the batch early; a reflector counts
            // and skips a failing destination (the whole run: one send).
            let result = Sys.sendmsg(socket.fd, msg, flags: 0)
            if sendFailurePolicy == .countAndSkip, case .failure(let e) = result {
                guard countSendFailure(e, &counters) else { break }
                sent += n
                continue
            }
            guard let r = try counted(result, &counters, "sendmsg(UDP_SEGMENT)") else { break }
            counters.txPackets &+= UInt64(n)
            counters.txBytes &+= UInt64(r)
            sent += n
        }
        return sent
    }

    public mutating func nextTxStamp() -> TxStamp? {
        guard stamped else { return nil }
        return stampBuffers.nextTxStamp(socket.fd)
    }
}
