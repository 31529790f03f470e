import CWirepath
import Glibc

/// Path 2: `sendmmsg`/`recvmmsg`, up to `batchSize` packets per call.
///
/// The `mmsghdr`, `iovec` and `sockaddr_in` arrays are allocated once and
/// owned here (as swift-nio's DatagramVectorReadManager does); each call only
/// points the iovecs at the batch's slots. A blocking receive uses
/// MSG_WAITFORONE: it sleeps for the first packet, then takes what is queued,
/// so the receive side batches only as much as has arrived.
///
/// With `--stages` each message also gets a control buffer for its kernel
/// receive stamp (set for receives, cleared for sends), and transmit
/// stamps are read from the error queue (recvmsg, MSG_ERRQUEUE).
public struct MmsgPath: PacketPath, ~Copyable {
    public static let kind = PathKind.mmsg

    let socket: UDPSocket
    let waiter: EpollWaiter
    let wait: WaitMode
    let tickMillis: CInt
    let capacity: Int
    let msgs: UnsafeMutablePointer<wp_mmsghdr>
    let iovs: UnsafeMutablePointer<iovec>
    let addrs: UnsafeMutablePointer<sockaddr_in>
    /// --stages: one control buffer per message, and the error queue's.
    let stamped: Bool
    let controls: UnsafeMutableRawPointer
    let stampBuffers: StampBuffers
    static let controlBytes = 64
    public private(set) var counters = PathCounters()
    public var sendFailurePolicy = SendFailurePolicy.throw

    public init(_ config: PathConfig) throws(PathError) {
        let socket = try UDPSocket(config)
        waiter = try EpollWaiter(watching: socket.fd, enabled: config.wait == .epoll)
        self.socket = socket
        wait = config.wait
        tickMillis = CInt(config.waitTickMillis)
        capacity = config.batchSize
        msgs = .allocate(capacity: capacity)
        iovs = .allocate(capacity: capacity)
        addrs = .allocate(capacity: capacity)
        stamped = config.stamping != .off
        controls = .allocate(byteCount: stamped ? capacity * Self.controlBytes : 8, alignment: 8)
        stampBuffers = StampBuffers(address: nil)
        for i in 0..<capacity {
            (addrs + i).initialize(to: sockaddr_in())
            (iovs + i).initialize(to: iovec(iov_base: nil, iov_len: 0))
            var m = wp_mmsghdr()
            m.msg_hdr.msg_name = UnsafeMutableRawPointer(addrs + i)
            m.msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_in>.size)
            m.msg_hdr.msg_iov = iovs + i
            m.msg_hdr.msg_iovlen = 1
            (msgs + i).initialize(to: m)
        }
    }

    deinit {
        stampBuffers.deallocate()
        controls.deallocate()
        msgs.deallocate()
        iovs.deallocate()
        addrs.deallocate()
    }

    public var info: PathInfo { socket.info() }

    public mutating func receive(into batch: inout PacketBatch) throws(PathError) -> Int {
        batch.count = 0
        if waiter.enabled {
            counters.waitCalls &+= 1
            guard try waiter.wait(timeoutMillis: tickMillis) else { return 0 }
        }
        let n = min(capacity, batch.capacity)
        for i in 0..<n {
            iovs[i].iov_base = batch.slotPointer(i)
            iovs[i].iov_len = batch.slotSize
            msgs[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_in>.size)
            msgs[i].msg_hdr.msg_flags = 0
            if stamped {
                msgs[i].msg_hdr.msg_control = controls + i * Self.controlBytes
                msgs[i].msg_hdr.msg_controllen = Self.controlBytes
            }
        }
        counters.rxCalls &+= 1
        let flags = wait == .block ? WP_MSG_WAITFORONE : WP_MSG_DONTWAIT
        // Expected: EAGAIN (nothing queued), counted.
        guard let r = try counted(Sys.recvmmsg(socket.fd, msgs, n, flags: flags), &counters, "recvmmsg") else { return 0 }
        for i in 0..<r {
            let len = Int(msgs[i].msg_len)
            batch.setLength(i, len)
            batch.setEndpoint(i, Endpoint(addrs[i]))
            if stamped { batch.setRxStamp(i, StampBuffers.rxStamp(controls + i * Self.controlBytes, msgs[i].msg_hdr.msg_controllen)) }
            counters.rxBytes &+= UInt64(len)
        }
        batch.count = r
        if r > 0 { counters.rxNonEmptyCalls &+= 1 }
        counters.rxPackets &+= UInt64(r)
        return r
    }

    public mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int {
        var sent = 0
        while sent < batch.count {
            let n = min(capacity, batch.count - sent)
            for i in 0..<n {
                iovs[i].iov_base = batch.slotPointer(sent + i)
                iovs[i].iov_len = batch.length(sent + i)
                addrs[i] = sockaddr_in(batch.endpoint(sent + i))
                msgs[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_in>.size)
                if stamped {
                    msgs[i].msg_hdr.msg_control = nil
                    msgs[i].msg_hdr.msg_controllen = 0
                }
            }
            counters.txCalls &+= 1
            // Expected: EAGAIN, ENOBUFS (a full queue), counted.
            let result = Sys.sendmmsg(socket.fd, msgs, n, flags: 0)
            if sendFailurePolicy == .countAndSkip, case .failure(let e) = result {
                // sendmmsg fails only when its first message does (a later
                // failure ends the call with a short count, and the next
                // call meets it first): a reflector counts and skips that one.
                guard countSendFailure(e, &counters) else { break }
                sent += 1
                continue
            }
            guard let r = try counted(result, &counters, "sendmmsg") else { break }
            for i in 0..<r { counters.txBytes &+= UInt64(iovs[i].iov_len) }
            counters.txPackets &+= UInt64(r)
            sent += r
            if r < n { break } // queue full: the caller resends the rest
        }
        return sent
    }

    public mutating func nextTxStamp() -> TxStamp? {
        guard stamped else { return nil }
        return stampBuffers.nextTxStamp(socket.fd)
    }
}
