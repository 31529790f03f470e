import CWirepath
import Glibc

/// Path 2: `sendmmsg`/`recvmmsg`, up to `batchSize` packets per call.
///
/// The `mmsghdr`, `iovec` and socket address arrays are allocated once and
/// owned here (as swift-nio's DatagramVectorReadManager does); each call only
/// points the iovecs at the batch's slots. A blocking receive uses
/// MSG_WAITFORONE: it sleeps for the first packet, then takes what is queued,
/// so the receive side batches only as much as has arrived.
///
/// `--gso N`: each mmsghdr carries a run of up to N packets to one endpoint
/// (its iovecs point at the batch's slots) with its own UDP_SEGMENT cmsg, so
/// one `sendmmsg` sends several GSO buffers. `--gro`: `recvmmsg` into up to
/// 8 buffers of 64 KiB, each with its own control space, split in place.
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
    let addrs: UnsafeMutablePointer<SocketAddress>
    /// `--gso` (0: off) with one UDP_SEGMENT cmsg space per message, and
    /// `--gro` with its buffers; allocated once.
    let gso: Int
    let groOn: Bool
    var gro: GROBuffers
    let controls: UnsafeMutableRawPointer
    let controlSpace: Int
    /// --stages: one control buffer per message for its receive stamp, and
    /// the error queue's.
    let stamped: Bool
    let stampControls: UnsafeMutableRawPointer
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
        // With --gso a message gathers up to that many slots: one iovec each.
        let iovCount = capacity * max(config.socket.gsoSegments ?? 1, 1)
        iovs = .allocate(capacity: iovCount)
        iovs.initialize(repeating: iovec(iov_base: nil, iov_len: 0), count: iovCount)
        addrs = .allocate(capacity: capacity)
        stamped = config.stamping != .off
        stampControls = .allocate(byteCount: stamped ? capacity * Self.controlBytes : 8, alignment: 8)
        stampBuffers = StampBuffers(address: nil)
        for i in 0..<capacity {
            (addrs + i).initialize(to: SocketAddress())
            var m = wp_mmsghdr()
            m.msg_hdr.msg_name = UnsafeMutableRawPointer(addrs + i)
            m.msg_hdr.msg_namelen = socklen_t(MemoryLayout<SocketAddress>.size)
            m.msg_hdr.msg_iov = iovs + i
            m.msg_hdr.msg_iovlen = 1
            (msgs + i).initialize(to: m)
        }
        gso = config.socket.gsoSegments ?? 0
        groOn = config.socket.gro
        // Up to 8 coalesced buffers per recvmmsg: 8 × 64 KiB bounds the memory.
        gro = GROBuffers(messages: groOn ? min(capacity, 8) : 0, slotBytes: config.mtu)
        controlSpace = (wp_udp_segment_cmsg_space() + 7) & ~7
        controls = .allocate(byteCount: gso > 0 ? controlSpace * capacity : 0, alignment: 8)
    }

    deinit {
        stampBuffers.deallocate()
        stampControls.deallocate()
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
        if groOn { return try receiveGRO(into: &batch) }
        let n = min(capacity, batch.capacity)
        for i in 0..<n {
            if gso > 0 { plain(i) }
            iovs[i].iov_base = batch.slotPointer(i)
            iovs[i].iov_len = batch.slotSize
            msgs[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<SocketAddress>.size)
            msgs[i].msg_hdr.msg_flags = 0
            if stamped {
                msgs[i].msg_hdr.msg_control = stampControls + i * Self.controlBytes
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
            batch.setEndpoint(i, addrs[i].endpoint)
            if stamped { batch.setRxStamp(i, StampBuffers.rxStamp(stampControls + i * Self.controlBytes, msgs[i].msg_hdr.msg_controllen)) }
            counters.rxBytes &+= UInt64(len)
        }
        batch.count = r
        if r > 0 { counters.rxNonEmptyCalls &+= 1 }
        counters.rxPackets &+= UInt64(r)
        return r
    }

    public mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int {
        if gso > 0 { return try sendGSO(&batch) }
        var sent = 0
        while sent < batch.count {
            let n = min(capacity, batch.count - sent)
            for i in 0..<n {
                if groOn { plain(i) }
                iovs[i].iov_base = batch.slotPointer(sent + i)
                iovs[i].iov_len = batch.length(sent + i)
                addrs[i] = SocketAddress(batch.endpoint(sent + i))
                msgs[i].msg_hdr.msg_namelen = addrs[i].length
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

    /// Message `i` back to one iovec and no control data, after a GSO send
    /// or a GRO receive used it otherwise.
    @inline(__always)
    func plain(_ i: Int) {
        msgs[i].msg_hdr.msg_iov = iovs + i
        msgs[i].msg_hdr.msg_iovlen = 1
        msgs[i].msg_hdr.msg_control = nil
        msgs[i].msg_hdr.msg_controllen = 0
    }

    public mutating func nextTxStamp() -> TxStamp? {
        guard stamped else { return nil }
        return stampBuffers.nextTxStamp(socket.fd)
    }

    /// `--gro`: hands out segments still held, else one `recvmmsg` into the
    /// GRO buffers, each split in place.
    mutating func receiveGRO(into batch: inout PacketBatch) throws(PathError) -> Int {
        if gro.pending {
            _ = gro.drain(into: &batch, counters: &counters)
            return batch.count
        }
        if waiter.enabled {
            counters.waitCalls &+= 1
            guard try waiter.wait(timeoutMillis: tickMillis) else { return 0 }
        }
        let k = gro.messages
        for i in 0..<k {
            iovs[i] = iovec(iov_base: gro.buffer(i), iov_len: GROBuffers.receiveBytes)
            msgs[i].msg_hdr.msg_iov = iovs + i
            msgs[i].msg_hdr.msg_iovlen = 1
            msgs[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<SocketAddress>.size)
            msgs[i].msg_hdr.msg_control = gro.control(i)
            msgs[i].msg_hdr.msg_controllen = gro.controlSpace
            msgs[i].msg_hdr.msg_flags = 0
        }
        counters.rxCalls &+= 1
        let flags = wait == .block ? WP_MSG_WAITFORONE : WP_MSG_DONTWAIT
        // Expected: EAGAIN (nothing queued), counted.
        guard let r = try counted(Sys.recvmmsg(socket.fd, msgs, k, flags: flags), &counters, "recvmmsg") else { return 0 }
        gro.reset()
        for i in 0..<r {
            gro.record(i, length: Int(msgs[i].msg_len), source: Endpoint(addrs[i]),
                       controlLength: Int(msgs[i].msg_hdr.msg_controllen), flags: msgs[i].msg_hdr.msg_flags, counters: &counters)
        }
        return gro.deliverReceived(into: &batch, counters: &counters)
    }

    /// `--gso`: one message per run of equal packets to one endpoint (up to
    /// `gso` packets), each with its UDP_SEGMENT cmsg, sent by one sendmmsg.
    mutating func sendGSO(_ batch: inout PacketBatch) throws(PathError) -> Int {
        var sent = 0
        while sent < batch.count {
            // Messages of this call, and where each message's packets start.
            var m = 0
            var next = sent
            while next < batch.count && m < capacity {
                let n = batch.gsoRun(from: next, limit: gso)
                let len = batch.length(next)
                for j in 0..<n {
                    iovs[next - sent + j] = iovec(iov_base: batch.slotPointer(next + j), iov_len: len)
                }
                addrs[m] = SocketAddress(batch.endpoint(next))
                msgs[m].msg_hdr.msg_namelen = addrs[m].length
                msgs[m].msg_hdr.msg_iov = iovs + (next - sent)
                msgs[m].msg_hdr.msg_iovlen = n
                let control = controls + m * controlSpace
                msgs[m].msg_hdr.msg_control = control
                msgs[m].msg_hdr.msg_controllen = wp_udp_segment_cmsg(control, UInt16(truncatingIfNeeded: len))
                m += 1
                next += n
            }
            counters.txCalls &+= 1
            // Expected: EAGAIN, ENOBUFS (a full queue), counted.
            let result = Sys.sendmmsg(socket.fd, msgs, m, flags: 0)
            if sendFailurePolicy == .countAndSkip, case .failure(let e) = result {
                guard countSendFailure(e, &counters) else { break }
                sent += Int(msgs[0].msg_hdr.msg_iovlen)
                continue
            }
            guard let r = try counted(result, &counters, "sendmmsg(UDP_SEGMENT)") else { break }
            for i in 0..<r {
                let n = Int(msgs[i].msg_hdr.msg_iovlen)
                counters.txBytes &+= UInt64(msgs[i].msg_len)
                counters.txPackets &+= UInt64(n)
                sent += n
            }
            if r < m { break } // queue full: the caller resends the rest
        }
        return sent
    }
}
