import CLiburing
import CWirepath
import Glibc
@_spi(Ring) import WirepathCore

/// Path 3: io_uring through liburing, on one UDP socket registered as a fixed file.
///
/// Receive: one multishot recvmsg (`io_uring_prep_recvmsg_multishot`) takes
/// packets into a provided-buffer ring of `config.uringBuffers` buffers. Each
/// `receive` harvests the ready completions in one pass and advances the CQ
/// once, copies the packets into the caller's batch and gives each buffer back
/// to the buffer ring at once. recvmsg rather than recv: the reflector answers
/// every packet to its UDP source address, and only recvmsg reports it (the
/// kernel writes it in front of the payload, see `io_uring_recvmsg_name`).
///
/// Send: one IORING_OP_SENDMSG SQE per packet (the socket is unconnected, so
/// each carries its destination), from the ring's own send slots (below).
/// Without SQPOLL the SQEs are not submitted by `send`: they ride in the
/// next io_uring_enter the path makes, which for a ping-pong is the one that
/// waits for the reply (one enter per round trip), and for a flood sender
/// the one the next `send` makes before it queues its own batch (one enter
/// per batch, as before, one batch later). Riding sends are flagged
/// IOSQE_CQE_SKIP_SUCCESS, so a successful one posts no CQE and never ends
/// a wait, and MSG_DONTWAIT, so the kernel tries each inside the enter that
/// consumes it and either copies the payload into an skb or fails it there
/// (-EAGAIN on a full send buffer) instead of parking it on poll: once that
/// enter has consumed the SQ, every slot it carried is free again. A send
/// counts as sent when it is queued; one that fails later posts a CQE and
/// is counted in `errnos`.
///
/// Waits: `block` is one `io_uring_submit_and_wait_timeout` of at most one
/// wait tick, or, for a receiver told it is fed a flood (`expect(.stream)`),
/// the batch wait (`batchWaitMicros`); `epoll` is epoll_wait on an eventfd
/// registered with the ring, then one io_uring_enter(GETEVENTS) (see
/// `epollWait`); `spin` only peeks at the CQ, and
/// enters the kernel only to submit a re-arm or when the kernel raises
/// IORING_SQ_TASKRUN: with DEFER_TASKRUN, completions are posted only while
/// the thread is in io_uring_enter with GETEVENTS, so without that enter a
/// spinning thread would never see its packets.
///
/// SQPOLL (`config.uringSQPollIdleMillis`): a kernel thread (`iou-sqp-TID`)
/// polls the SQ and issues what it finds, so submitting is a store to the SQ
/// tail and no syscall while the thread is awake; the path enters the kernel
/// only to wake it when it has set IORING_SQ_NEED_WAKEUP (`sqpollWakeups`).
/// SQPOLL excludes DEFER_TASKRUN (the kernel refuses the pair: completions
/// are posted by the poll thread, not deferred to this one), so its ring is
/// set up without it and `info.notes` says so. `CostMeter` finds the poll
/// thread and charges its CPU to this end.
///
/// Owned send buffers: a riding send is issued after `send` has returned,
/// with SQPOLL by the kernel thread at some later moment, and with send_zc
/// the kernel reads the pages until it says otherwise; so the caller's slot
/// is never handed to the kernel. `send` copies each payload
/// into one of the ring's own send slots (allocated once, at setup), each
/// with its own msghdr, iovec and address. A riding slot is free once the
/// enter that carried it has consumed the SQ. With SQPOLL or send_zc a slot
/// is reused only after
/// the kernel has posted every completion its send will post: those sends
/// do not set IOSQE_CQE_SKIP_SUCCESS, so a sendmsg posts one CQE, and a
/// sendmsg_zc posts its result and then, if that CQE has IORING_CQE_F_MORE,
/// a notification (IORING_CQE_F_NOTIF) once the kernel no longer needs the
/// pages: the slot waits for both, in whichever order they come. Free
/// slots are a stack; a full set of slots in flight is a short send (the
/// caller retries), after one bounded wait for completions in `block` and
/// `epoll` modes. These sends also drop MSG_DONTWAIT: a full socket buffer
/// makes io_uring wait for room (poll) instead of failing, since the payload
/// is safe in the slot until then. A send is counted as sent when it is
/// queued; one that fails later is counted in `errnos`. A wait for a packet
/// asks for one CQE more than the send completions still due, so that the
/// completion of the send that went before it does not end the wait early
/// (one io_uring_enter per round trip in `block`, as without SQPOLL).
///
/// send_zc (`config.uringZeroCopy`): IORING_OP_SENDMSG_ZC (Linux 6.1+) with
/// IORING_SEND_ZC_REPORT_USAGE (6.2+), so each notification says whether the
/// kernel copied the data anyway (`zcCopied`) or sent from the slot's pages
/// (`zcZeroCopy`). Over veth and loopback it always copies: the receiving
/// socket cannot keep the sender's pages.
///
/// NAPI (`config.uringNAPIMicros`): IORING_REGISTER_NAPI, opcode 27 of
/// io_uring_register (Linux 6.9+; liburing 2.3 has no helper, see
/// `Sys.uringRegisterNAPI`). The kernel then busy-polls the NAPI contexts of
/// the ring's sockets inside a waiting io_uring_enter (and in an SQPOLL
/// thread's loop) before it sleeps; a `spin` wait never enters, so it gains
/// nothing. It needs a socket with a NAPI id, which `info.napiID` reports
/// (SO_INCOMING_NAPI_ID) and `info.notes` says when it is missing.
///
/// Counters: `rxCalls` and `txCalls` count the io_uring_enter calls this
/// path makes from `receive` and from `send` (a batch that had no enter to
/// ride in, SQPOLL wake-ups, waits for a free slot); `waitCalls`
/// counts the waits (enters that sleep, or epoll_wait calls in `epoll`);
/// `rxNonEmptyCalls` counts `receive` calls that returned packets, so
/// packets per receive call is the batching the caller got.
///
/// Ownership: the ring, the fixed-file registration, the buffer ring (its
/// mmap and its registration), the armed receive and, with `epoll`, the
/// eventfd and its registration are `Ring`'s, released once by `deinit`,
/// newest first. The socket belongs to `UDPSocket` and the epoll instance to
/// `EpollWaiter`.
public struct UringPath: PacketPath, ~Copyable {
    public static let kind = PathKind.uring

    // user_data: the top byte says what a CQE completes.
    static let tagShift: UInt64 = 56
    static let recvTag: UInt64 = 1
    static let cancelTag: UInt64 = 3
    /// A send from one of the ring's slots: the slot index is in bits 0-31.
    static let ownedSendTag: UInt64 = 5
    static let bufferGroup: UInt16 = 0
    /// The socket's index in the ring's fixed-file table.
    static let fixedSocket: Int32 = 0

    let socket: UDPSocket
    let wait: WaitMode
    /// `epoll` waits: an epoll instance on the ring's eventfd (disabled otherwise).
    let waiter: EpollWaiter
    /// The ring and its memory, at stable heap addresses.
    let ring: Ring
    let notes: [String]
    /// IORING_REGISTER_NAPI busy-poll µs, when registered.
    let napiMicros: Int?
    /// The batch wait of a receiver fed a flood (`expect(.stream)`), in µs;
    /// 0 when off or unavailable. `streaming` says whether it applies now.
    let batchWaitMicros: UInt32
    var streaming = false
    /// The pending queue (in `ring.pendingBid`/`pendingLen`): oldest entry and count.
    var pendingHead = 0
    var pendingCount = 0
    /// A re-arm SQE is queued and not yet submitted.
    var rearmQueued = false
    /// Send SQEs queued and not yet consumed by the kernel: riding sends
    /// waiting for the next enter, or a submit the kernel refused.
    var sendsQueued = false
    /// Riding sends: their slots (the first `ridingCount` of
    /// `ring.ridingSlots`), free again once an enter has consumed the SQ.
    var ridingCount = 0
    /// Owned sends: slots free for a send (the top `freeSlotCount` entries of
    /// `ring.freeSlots`), and the send CQEs the kernel has yet to post.
    var freeSlotCount = 0
    var sendCQEsDue = 0
    public private(set) var counters = PathCounters()

    public init(_ config: PathConfig) throws(PathError) {
        // The socket's options are UDPSocket's. Its SO_RCVTIMEO (block mode)
        // has no effect here: io_uring never sleeps in the socket, and the
        // ring wait itself is bounded by the tick.
        let socket = try UDPSocket(config)
        var notes: [String] = []
        let ring = try Ring(config, socket: socket.fd, notes: &notes)
        do throws(PathError) {
            waiter = try EpollWaiter(watching: ring.eventFD, enabled: config.wait == .epoll, edgeTriggered: true)
        } catch {
            ring.release()
            throw error
        }
        if config.wait == .epoll {
            notes.append("wait epoll: epoll_wait on an eventfd registered with the ring (the ring fd itself is not woken by deferred completions), then an io_uring_enter(GETEVENTS) that \(ring.deferTaskrun ? "runs the deferred completions" : "collects the completions"); queued sends and re-arms go first in an enter of their own")
        }
        batchWaitMicros = Self.batchWait(config, ring, &notes)
        self.socket = socket
        self.ring = ring
        self.notes = notes
        wait = config.wait
        napiMicros = config.uringNAPIMicros
        freeSlotCount = ring.slotCount
    }

    /// The batch wait in effect, with a note saying what it does or why it
    /// is off. Only a blocking wait on a DEFER_TASKRUN ring gains from it:
    /// there the kernel wakes the thread when `wait_nr` completions are due
    /// (or a timer fires) instead of at each packet's task work.
    static func batchWait(_ config: PathConfig, _ ring: Ring, _ notes: inout [String]) -> UInt32 {
        let usec = config.uringBatchWaitMicros
        // `epoll` sleeps in epoll_wait, where the kernel's batch wait has no say.
        guard usec > 0, config.wait == .block else { return 0 }
        guard ring.deferTaskrun else {
            notes.append("uring-batch-wait off: it needs a DEFER_TASKRUN ring (not with SQPOLL or a plain ring)")
            return 0
        }
        guard ring.minTimeout else {
            notes.append("uring-batch-wait off: this kernel has no IORING_FEAT_MIN_TIMEOUT (Linux 6.12+); a flood receiver is woken per packet")
            return 0
        }
        notes.append("uring-batch-wait \(usec) µs: fed a flood, the receiver waits for \(ring.waitBatch) completions or \(usec) µs (IORING_FEAT_MIN_TIMEOUT), so it is woken once per batch, not once per packet; fed requests, it wakes at the first")
        return UInt32(usec)
    }

    public mutating func expect(_ traffic: ReceiveTraffic) {
        streaming = traffic == .stream && batchWaitMicros > 0
    }

    /// Releases the ring's kernel objects and memory (see `Ring.release`),
    /// after the sends still in flight from owned slots have completed; the
    /// socket closes after, when `UDPSocket` goes.
    deinit {
        // What `send` accepted goes out, even when no enter came after it.
        if sendsQueued && !ring.sqpoll { _ = Sys.uringSubmit(ring.uring) }
        if sendCQEsDue > 0 { ring.drainSends(sendCQEsDue) }
        ring.release()
    }

    public var info: PathInfo {
        var i = socket.info()
        i.notes += notes
        if let napiMicros, i.napiID == 0 {
            i.notes.append("uring-napi \(napiMicros) µs has no effect here: the socket has no NAPI id, so the ring had nothing to busy-poll (on veth, use --veth-napi: GRO on, TSO off)")
        }
        return i
    }

    // MARK: Receive

    public mutating func receive(into batch: inout PacketBatch) throws(PathError) -> Int {
        batch.count = 0
        try harvest()
        if pendingCount == 0 {
            switch wait {
            case .epoll:
                try epollWait()
            case .block:
                // SQPOLL: hand a re-arm to the poll thread first (waking it
                // only if it sleeps), so the wakeup is counted.
                if ring.sqpoll && (rearmQueued || sendsQueued) { try submitQueued(forSend: false) }
                // One enter: submits a queued re-arm and sleeps until a CQE or
                // one tick; with send completions due, until those and one more.
                counters.rxCalls &+= 1
                counters.waitCalls &+= 1
                let r = streaming
                    ? Sys.uringSubmitAndWaitBatch(ring.uring, UInt32(ring.waitBatch + sendCQEsDue), ring.tick, minWaitMicros: batchWaitMicros)
                    : Sys.uringSubmitAndWait(ring.uring, UInt32(1 + sendCQEsDue), ring.tick)
                noteEntered()
                if r < 0 && r != -Int(ETIME) { try classify(r, &counters, "io_uring_enter(GETEVENTS, wait)") }
            case .spin:
                let flags = wp_io_uring_sq_flags(ring.uring)
                if ring.sqpoll {
                    // The poll thread posts completions by itself; enter only
                    // to wake it or to flush an overflowed CQ.
                    if rearmQueued || sendsQueued { try submitQueued(forSend: false) }
                    if flags & IORING_SQ_CQ_OVERFLOW != 0 {
                        counters.rxCalls &+= 1
                        let r = Sys.uringGetEvents(ring.uring, submit: false)
                        if r < 0 { try classify(r, &counters, "io_uring_enter(GETEVENTS)") }
                    }
                } else if rearmQueued || sendsQueued || flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW) != 0 {
                    counters.rxCalls &+= 1
                    let r = Sys.uringGetEvents(ring.uring, submit: rearmQueued || sendsQueued)
                    noteEntered()
                    if r < 0 { try classify(r, &counters, "io_uring_enter(GETEVENTS)") }
                }
            }
            try harvest()
        }
        let n = deliver(into: &batch)
        if n > 0 {
            counters.rxNonEmptyCalls &+= 1
            counters.rxPackets &+= UInt64(n)
        }
        return n
    }

    /// `epoll`: hands queued SQEs in (one enter, no wait), then, unless the
    /// kernel already says completions are waiting (IORING_SQ_TASKRUN),
    /// sleeps in epoll_wait on the ring's eventfd for at most a tick, and
    /// collects the completions with one io_uring_enter(GETEVENTS). The
    /// kernel signals the eventfd when it posts a CQE and, on a DEFER_TASKRUN
    /// ring, when it queues completions for this thread to run (the ring fd
    /// itself is not woken then). With SQPOLL the poll thread posts the CQEs
    /// itself: no enter after the wake-up unless the CQ overflowed.
    mutating func epollWait() throws(PathError) {
        if rearmQueued || sendsQueued { try submitQueued(forSend: false) }
        let pending: UInt32 = ring.sqpoll ? IORING_SQ_CQ_OVERFLOW : IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW
        if io_uring_cq_ready(ring.uring) > 0 { return }
        if wp_io_uring_sq_flags(ring.uring) & pending == 0 {
            // The eventfd is on only while this thread may sleep, so that the
            // completions it posts itself leave no stale edge behind; the
            // flags are read again after it is on, so that work queued while
            // it was off is not slept through.
            _ = io_uring_cq_eventfd_toggle(ring.uring, true)
            var woke = io_uring_cq_ready(ring.uring) > 0 || wp_io_uring_sq_flags(ring.uring) & pending != 0
            if !woke {
                counters.waitCalls &+= 1
                do throws(PathError) { woke = try waiter.wait(timeoutMillis: CInt(ring.tickMillis)) } catch {
                    _ = io_uring_cq_eventfd_toggle(ring.uring, false)
                    throw error
                }
            }
            _ = io_uring_cq_eventfd_toggle(ring.uring, false)
            guard woke, io_uring_cq_ready(ring.uring) == 0, wp_io_uring_sq_flags(ring.uring) & pending != 0 else { return }
        }
        counters.rxCalls &+= 1
        let r = Sys.uringGetEvents(ring.uring, submit: false)
        if r < 0 { try classify(r, &counters, "io_uring_enter(GETEVENTS)") }
    }

    /// Takes every ready CQE in one pass, then advances the CQ once. Never
    /// enters the kernel. A received packet goes to the pending queue (its
    /// buffer stays ours until delivered); a multishot receive that ended
    /// (no IORING_CQE_F_MORE) is re-armed at once and counted; a failed send
    /// is counted. Throws, after advancing, on an errno no path expects.
    mutating func harvest() throws(PathError) {
        let n = Int(wp_io_uring_peek_cqes(ring.uring, ring.cqes, UInt32(ring.cqCapacity)))
        if n == 0 { return }
        var ended = false
        var failure: PathError?
        for i in 0..<n {
            let cqe = ring.cqes[i]!.pointee
            switch cqe.user_data >> Self.tagShift {
            case Self.recvTag:
                if cqe.flags & IORING_CQE_F_MORE == 0 { ended = true }
                if cqe.res >= 0 {
                    precondition(cqe.flags & IORING_CQE_F_BUFFER != 0, "recvmsg multishot completed without a buffer")
                    precondition(pendingCount < ring.bufCount, "more packets pending than buffers")
                    let slot = (pendingHead + pendingCount) & (ring.bufCount - 1)
                    ring.pendingBid[slot] = UInt16(truncatingIfNeeded: cqe.flags >> UInt32(IORING_CQE_BUFFER_SHIFT))
                    ring.pendingLen[slot] = cqe.res
                    pendingCount += 1
                } else {
                    // -ENOBUFS: the buffer ring ran dry; the packets wait in the
                    // socket until the re-arm. Counted, as every expected errno.
                    do throws(PathError) { try classify(Int(cqe.res), &counters, "io_uring recvmsg multishot") } catch {
                        failure = failure ?? Self.receiveError(error)
                    }
                }
            case Self.ownedSendTag:
                if ring.riding {
                    // Only a failure posts (CQE_SKIP_SUCCESS); its slot was
                    // freed when the enter consumed it. Counted, and lost.
                    do throws(PathError) { try classify(Int(cqe.res), &counters, "io_uring sendmsg") } catch {
                        failure = failure ?? error
                    }
                    break
                }
                let slot = Int(truncatingIfNeeded: cqe.user_data & 0xFFFF_FFFF)
                if cqe.flags & IORING_CQE_F_NOTIF != 0 {
                    // send_zc's notification: the pages are free. Its `res`
                    // is the usage report, not an errno.
                    if UInt32(bitPattern: cqe.res) & WP_IORING_NOTIF_USAGE_ZC_COPIED != 0 {
                        counters.zcCopied &+= 1
                    } else {
                        counters.zcZeroCopy &+= 1
                    }
                    settleOwnedSend(slot: slot, cqes: 1)
                    break
                }
                if cqe.res < 0 {
                    // Sent as far as the caller knows: counted here, and lost.
                    do throws(PathError) { try classify(Int(cqe.res), &counters, ring.zeroCopy ? "io_uring sendmsg_zc" : "io_uring sendmsg (owned slot)") } catch {
                        failure = failure ?? (ring.zeroCopy ? Self.zeroCopyError(error) : error)
                    }
                }
                // A send_zc result without F_MORE has no notification coming:
                // it settles both of the slot's completions.
                settleOwnedSend(slot: slot, cqes: ring.zeroCopy && cqe.flags & IORING_CQE_F_MORE == 0 ? 2 : 1)
            default:
                break // a cancel or a NOP: nothing to do
            }
        }
        io_uring_cq_advance(ring.uring, UInt32(n))
        if let failure { throw failure }
        if ended && !rearmQueued {
            queueReceive()
            counters.multishotRearms &+= 1
        }
    }

    /// Copies up to `batch.capacity` pending packets into `batch`, each with
    /// its source address, and hands their ring.buffers back to the buffer ring
    /// with one tail update. Returns how many.
    mutating func deliver(into batch: inout PacketBatch) -> Int {
        let n = min(pendingCount, batch.capacity)
        guard n > 0 else { return 0 }
        let mask = io_uring_buf_ring_mask(UInt32(ring.bufCount))
        for k in 0..<n {
            let slot = (pendingHead + k) & (ring.bufCount - 1)
            let bid = Int(ring.pendingBid[slot])
            let buf = ring.buffers + bid * ring.bufStride
            var length = 0
            var source = Endpoint.any
            if let out = io_uring_recvmsg_validate(buf, ring.pendingLen[slot], ring.recvMsg) {
                if out.pointee.namelen >= UInt32(MemoryLayout<sockaddr_in>.size) {
                    source = Endpoint(UnsafeRawPointer(io_uring_recvmsg_name(out)!).loadUnaligned(as: sockaddr_in.self))
                }
                // A datagram larger than a buffer arrives cut (MSG_TRUNC): ring.buffers
                // hold one MTU, so only GRO or a jumbo frame gets here.
                if out.pointee.flags & UInt32(MSG_TRUNC) != 0 { counters.errnos.add(.emsgsize) }
                length = min(Int(io_uring_recvmsg_payload_length(out, ring.pendingLen[slot], ring.recvMsg)), batch.slotSize)
                batch.slotPointer(k).copyMemory(from: io_uring_recvmsg_payload(out, ring.recvMsg)!, byteCount: length)
            }
            batch.setLength(k, length)
            batch.setEndpoint(k, source)
            counters.rxBytes &+= UInt64(length)
            io_uring_buf_ring_add(ring.bufRing, buf, UInt32(ring.bufStride), UInt16(bid), mask, Int32(k))
        }
        io_uring_buf_ring_advance(ring.bufRing, Int32(n))
        pendingHead = (pendingHead + n) & (ring.bufCount - 1)
        pendingCount -= n
        batch.count = n
        return n
    }

    /// Accounts for `cqes` completions of the owned send in `slot`; the slot
    /// is free again once the last completion its send posts has been seen.
    mutating func settleOwnedSend(slot: Int, cqes: Int) {
        precondition(slot < ring.slotCount && Int(ring.slotCQEsDue[slot]) >= cqes, "a send completion for a slot with none due")
        ring.slotCQEsDue[slot] -= UInt8(cqes)
        sendCQEsDue -= cqes
        if ring.slotCQEsDue[slot] == 0 {
            ring.freeSlots[freeSlotCount] = UInt32(slot)
            freeSlotCount += 1
        }
    }

    /// After an enter that submitted: what the kernel did not take is still queued.
    mutating func noteEntered() {
        if ring.sqpoll {
            // Published means handed over: the poll thread takes it in time.
            rearmQueued = false
            sendsQueued = false
        } else {
            let left = io_uring_sq_ready(ring.uring) > 0
            rearmQueued = rearmQueued && left
            sendsQueued = sendsQueued && left
            if !left && ridingCount > 0 {
                // Each riding send was tried inside that enter (MSG_DONTWAIT):
                // the kernel holds no pointer into its slot any more.
                for i in 0..<ridingCount {
                    ring.freeSlots[freeSlotCount] = ring.ridingSlots[i]
                    freeSlotCount += 1
                }
                ridingCount = 0
            }
        }
    }

    /// Hands the queued SQEs to the kernel. SQPOLL: publishes them to the
    /// poll thread and enters only to wake it when it sleeps (counted);
    /// otherwise one io_uring_submit. Expected errnos (EBUSY, EAGAIN: the CQ
    /// is backed up) are counted; what the kernel did not take stays queued.
    mutating func submitQueued(forSend: Bool) throws(PathError) {
        let r: Int
        if ring.sqpoll {
            let woke: Bool
            (r, woke) = Sys.uringSQPollSubmit(ring.uring)
            if woke {
                counters.sqpollWakeups &+= 1
                if forSend { counters.txCalls &+= 1 } else { counters.rxCalls &+= 1 }
            }
        } else {
            if forSend { counters.txCalls &+= 1 } else { counters.rxCalls &+= 1 }
            r = Sys.uringSubmit(ring.uring)
        }
        noteEntered()
        if r < 0 { try classify(r, &counters, ring.sqpoll ? "io_uring_enter(SQ_WAKEUP)" : "io_uring_submit") }
    }

    /// Queues the multishot receive again; the next io_uring_enter submits it.
    mutating func queueReceive() {
        Ring.prepareReceive(ring.uring, ring.recvMsg)
        rearmQueued = true
    }

    static func zeroCopyError(_ e: PathError) -> PathError {
        var e = e
        switch e.errno {
        case EINVAL: e.hint = "sendmsg_zc with IORING_SEND_ZC_REPORT_USAGE needs Linux 6.2+; run without --uring-zc"
        case EOPNOTSUPP: e.hint = "this socket does not take zero-copy sends (SOCK_SUPPORT_ZC; UDP has it since Linux 6.0); run without --uring-zc"
        default: break
        }
        return e
    }

    static func receiveError(_ e: PathError) -> PathError {
        var e = e
        if e.errno == EINVAL { e.hint = "multishot recvmsg with a buffer ring needs Linux 6.0+" }
        return e
    }

    // MARK: Send

    /// Copies each payload into a free slot and queues one sendmsg (or
    /// sendmsg_zc) SQE per packet. SQPOLL: hands them to the poll thread at
    /// once (no syscall while it is awake). Otherwise they ride in the next
    /// enter (see the type's notes); a batch still queued from the previous
    /// call goes first, in an enter of its own, so a sender that never waits
    /// makes one enter per batch. Returns how many were queued; fewer than
    /// `batch.count` when the slots are all in flight.
    public mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int {
        try harvest()
        if sendsQueued && !ring.sqpoll { try submitQueued(forSend: true) }
        if freeSlotCount < batch.count { try reclaimSendSlots() }
        let n = min(batch.count, freeSlotCount)
        var queued = 0
        var bytes: UInt64 = 0
        while queued < n {
            // The SQ holds a send per slot plus a re-arm and a cancel, so it has room.
            guard let sqe = io_uring_get_sqe(ring.uring) else { break }
            freeSlotCount -= 1
            let slot = Int(ring.freeSlots[freeSlotCount])
            let length = min(batch.length(queued), ring.slotStride)
            ring.slotBuffers(slot).copyMemory(from: batch.slotPointer(queued), byteCount: length)
            ring.slotIovs[slot].iov_len = length
            ring.slotAddrs[slot] = sockaddr_in(batch.endpoint(queued))
            if ring.riding {
                io_uring_prep_sendmsg(sqe, Self.fixedSocket, ring.slotMsgs + slot, UInt32(WP_MSG_DONTWAIT))
                io_uring_sqe_set_flags(sqe, WP_IOSQE_FIXED_FILE | WP_IOSQE_CQE_SKIP_SUCCESS)
                ring.ridingSlots[ridingCount] = UInt32(slot)
                ridingCount += 1
            } else {
                // No MSG_DONTWAIT: on a full socket buffer the kernel waits for
                // room rather than failing a send the caller counts as sent.
                if ring.zeroCopy {
                    io_uring_prep_sendmsg_zc(sqe, Self.fixedSocket, ring.slotMsgs + slot, 0)
                    sqe.pointee.ioprio |= WP_IORING_SEND_ZC_REPORT_USAGE
                } else {
                    io_uring_prep_sendmsg(sqe, Self.fixedSocket, ring.slotMsgs + slot, 0)
                }
                // No IOSQE_CQE_SKIP_SUCCESS: the completions are what free the slot.
                io_uring_sqe_set_flags(sqe, WP_IOSQE_FIXED_FILE)
                // send_zc: the result, then (normally) the notification.
                let due = ring.zeroCopy ? 2 : 1
                ring.slotCQEsDue[slot] = UInt8(due)
                sendCQEsDue += due
            }
            io_uring_sqe_set_data64(sqe, Self.ownedSendTag << Self.tagShift | UInt64(slot))
            bytes &+= UInt64(length)
            queued += 1
        }
        guard queued > 0 else { return 0 }
        sendsQueued = true
        if ring.sqpoll { try submitQueued(forSend: true) }
        counters.txPackets &+= UInt64(queued)
        counters.txBytes &+= bytes
        return queued
    }

    /// Every owned slot is in flight (or too few are free for the batch): let
    /// completions in. SQPOLL: the poll thread posts them by itself, so only
    /// an overflowed CQ needs an enter. Otherwise completions can be deferred
    /// task work that runs only inside io_uring_enter: enter when the kernel
    /// says some wait (IORING_SQ_TASKRUN) or when SQEs are still queued. Then,
    /// if no slot is free, `block` and `epoll` wait once, at most a tick, for
    /// any completion; `spin` returns and the caller tries again.
    mutating func reclaimSendSlots() throws(PathError) {
        let flags = wp_io_uring_sq_flags(ring.uring)
        let pending: UInt32 = ring.sqpoll ? IORING_SQ_CQ_OVERFLOW : IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW
        if flags & pending != 0 || (!ring.sqpoll && (sendsQueued || rearmQueued)) {
            counters.txCalls &+= 1
            let r = Sys.uringGetEvents(ring.uring, submit: !ring.sqpoll && (sendsQueued || rearmQueued))
            noteEntered()
            if r < 0 { try classify(r, &counters, "io_uring_enter(GETEVENTS)") }
            try harvest()
        }
        guard freeSlotCount == 0, wait != .spin else { return }
        if ring.sqpoll && (rearmQueued || sendsQueued) { try submitQueued(forSend: true) }
        counters.txCalls &+= 1
        counters.waitCalls &+= 1
        let r = Sys.uringSubmitAndWait(ring.uring, 1, ring.tick)
        noteEntered()
        if r < 0 && r != -Int(ETIME) { try classify(r, &counters, "io_uring_enter(GETEVENTS, wait for a send slot)") }
        try harvest()
    }

    // MARK: Setup and teardown

    /// The ring, its buffer ring and every array the data path uses, allocated
    /// once at stable heap addresses (liburing and the kernel keep pointers
    /// into them, so none may move as a Swift value does). `UringPath` is its
    /// one owner and calls `release` once, from `deinit`.
    struct Ring {
        /// The liburing ring: SQ, CQ and the ring fd.
        let uring: UnsafeMutablePointer<io_uring>
        /// The provided-buffer ring: `bufCount` descriptors, mmapped (page-aligned).
        let bufRing: UnsafeMutablePointer<io_uring_buf_ring>
        let bufRingBytes: Int
        /// The packet buffers the descriptors point at: `bufCount` of `bufStride` bytes.
        let buffers: UnsafeMutableRawPointer
        let bufCount: Int
        let bufStride: Int
        /// The recvmsg template: a sockaddr_in of name, no control data. The
        /// kernel lays out each buffer as io_uring_recvmsg_out, name, payload.
        let recvMsg: UnsafeMutablePointer<msghdr>
        /// Harvest scratch: pointers to the ready CQEs, as many as the CQ holds.
        let cqes: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
        let cqCapacity: Int
        /// Received packets harvested but not yet delivered, oldest first: buffer
        /// id and CQE result. Each holds a distinct buffer, so `bufCount` fits.
        let pendingBid: UnsafeMutablePointer<UInt16>
        let pendingLen: UnsafeMutablePointer<Int32>
        /// SQPOLL is on: a kernel thread consumes the SQ.
        let sqpoll: Bool
        /// Sends are send_zc (IORING_OP_SENDMSG_ZC).
        let zeroCopy: Bool
        /// Sends ride in the next enter with CQE_SKIP_SUCCESS and MSG_DONTWAIT
        /// (neither SQPOLL nor send_zc, and the kernel skips CQEs).
        let riding: Bool
        /// The send slots: a
        /// payload buffer of `slotStride` bytes, a msghdr, an iovec and an
        /// address each, the completions each one's send has yet to post,
        /// the stack of free slot indices, and the riding sends' slots.
        let slotCount: Int
        let slotStride: Int
        let slotBase: UnsafeMutableRawPointer
        let slotMsgs: UnsafeMutablePointer<msghdr>
        let slotIovs: UnsafeMutablePointer<iovec>
        let slotAddrs: UnsafeMutablePointer<sockaddr_in>
        let slotCQEsDue: UnsafeMutablePointer<UInt8>
        let freeSlots: UnsafeMutablePointer<UInt32>
        let ridingSlots: UnsafeMutablePointer<UInt32>
        /// `epoll` waits: an eventfd the ring signals (registered), else -1.
        let eventFD: CInt
        /// One wait tick, for io_uring_submit_and_wait_timeout and epoll_wait.
        let tick: UnsafeMutablePointer<__kernel_timespec>
        let tickMillis: Int
        let deferTaskrun: Bool
        /// The kernel has the batch wait (IORING_FEAT_MIN_TIMEOUT, 6.12+).
        let minTimeout: Bool
        /// Completions a batch wait asks for: a batch, at most the buffers.
        let waitBatch: Int
        let acquired: Acquired

        /// The kernel objects acquired so far, so that a failed `init` and
        /// `release` free exactly those, once.
        struct Acquired {
            var ring = false
            var bufRingMapped = false
            var bufRingRegistered = false
            var fileRegistered = false
            var napiRegistered = false
            var eventFDRegistered = false
        }

        func slotBuffers(_ slot: Int) -> UnsafeMutableRawPointer { slotBase + slot * slotStride }

        /// Allocates the memory, then creates the ring, maps, fills and
        /// registers the buffer ring, registers `socket` as fixed file 0 and
        /// arms the multishot receive. On a failure it releases what it took
        /// and throws; the caller still owns (and closes) the socket.
        init(_ config: PathConfig, socket: CInt, notes: inout [String]) throws(PathError) {
            // Memory first: none of it can fail, and all of it outlives the ring.
            bufCount = config.uringBuffers
            // Header and name in front of a payload of up to one MTU, cache-line rounded.
            let header = MemoryLayout<io_uring_recvmsg_out>.size + MemoryLayout<sockaddr_in>.size
            bufStride = (header + config.mtu + 63) & ~63
            buffers = .allocate(byteCount: bufCount * bufStride, alignment: 64)
            recvMsg = .allocate(capacity: 1)
            var m = msghdr()
            m.msg_namelen = socklen_t(MemoryLayout<sockaddr_in>.size)
            recvMsg.initialize(to: m)
            pendingBid = .allocate(capacity: bufCount)
            pendingBid.initialize(repeating: 0, count: bufCount)
            pendingLen = .allocate(capacity: bufCount)
            pendingLen.initialize(repeating: 0, count: bufCount)
            // Send slots: four batches in flight, so that the caller fills
            // slots while the kernel sends earlier ones (or holds their pages
            // until the notification).
            sqpoll = config.uringSQPollIdleMillis != nil
            zeroCopy = config.uringZeroCopy
            slotCount = min(max(4 * config.batchSize, 16), 4096)
            // Any payload the path may be asked to send: up to one MTU's UDP
            // payload, or a control message, cache-line rounded.
            slotStride = (max(PathConfig.maxPayload(mtu: config.mtu), ControlMessage.slotSize) + 63) & ~63
            slotBase = .allocate(byteCount: slotCount * slotStride, alignment: 64)
            slotMsgs = .allocate(capacity: slotCount)
            slotIovs = .allocate(capacity: slotCount)
            slotAddrs = .allocate(capacity: slotCount)
            slotCQEsDue = .allocate(capacity: slotCount)
            freeSlots = .allocate(capacity: slotCount)
            ridingSlots = .allocate(capacity: slotCount)
            ridingSlots.initialize(repeating: 0, count: slotCount)
            for i in 0..<slotCount {
                (slotAddrs + i).initialize(to: sockaddr_in())
                (slotIovs + i).initialize(to: iovec(iov_base: slotBase + i * slotStride, iov_len: 0))
                var s = msghdr()
                s.msg_name = UnsafeMutableRawPointer(slotAddrs + i)
                s.msg_namelen = socklen_t(MemoryLayout<sockaddr_in>.size)
                s.msg_iov = slotIovs + i
                s.msg_iovlen = 1
                (slotMsgs + i).initialize(to: s)
                (slotCQEsDue + i).initialize(to: 0)
                // Popped from the top: slot 0 goes first.
                (freeSlots + i).initialize(to: UInt32(slotCount - 1 - i))
            }
            tickMillis = config.waitTickMillis
            tick = .allocate(capacity: 1)
            tick.initialize(to: __kernel_timespec(tv_sec: Int64(config.waitTickMillis / 1000),
                                                  tv_nsec: Int64(config.waitTickMillis % 1000) * 1_000_000))
            uring = .allocate(capacity: 1)
            uring.initialize(to: io_uring())
            // Room for one SQE per slot in flight (which the kernel may not
            // have consumed yet) plus a re-arm and a cancel. The CQ holds one
            // CQE per buffer (a receive CQE keeps its buffer until delivered)
            // plus one per send (two with send_zc, which 2 * sqEntries
            // covers), so it cannot overflow between two harvests.
            let sqEntries = UringPath.powerOfTwo(atLeast: slotCount + 2)
            let cqEntries = UringPath.powerOfTwo(atLeast: bufCount + 2 * sqEntries)
            bufRingBytes = UringPath.roundToPage(bufCount * MemoryLayout<io_uring_buf>.size)
            cqCapacity = cqEntries
            cqes = .allocate(capacity: cqEntries)
            cqes.initialize(repeating: nil, count: cqEntries)

            var acquired = Acquired()
            var bufRing: UnsafeMutablePointer<io_uring_buf_ring>?
            var deferred = false
            var skip = false
            var minTimeout = false
            var efd: CInt = -1
            do throws(PathError) {
                let ringNote: String?
                (deferred, ringNote) = try Ring.setUp(uring, sqEntries: UInt32(sqEntries), cqEntries: UInt32(cqEntries),
                                                      sqpollIdleMillis: config.uringSQPollIdleMillis)
                acquired.ring = true
                if let ringNote { notes.append(ringNote) }
                if let idle = config.uringSQPollIdleMillis { notes.append(Ring.sqpollNote(idleMillis: idle)) }
                if zeroCopy {
                    // Ask before the first send rather than fail on its CQE.
                    if Sys.uringOpcodeSupported(uring, IORING_OP_SENDMSG_ZC) == false {
                        throw PathError(operation: "io_uring probe(IORING_OP_SENDMSG_ZC)", errno: EOPNOTSUPP, errnoName: "EOPNOTSUPP",
                                        hint: "this kernel has no sendmsg_zc (Linux 6.1+; usage reports 6.2+); run without --uring-zc")
                    }
                    notes.append("send_zc: IORING_OP_SENDMSG_ZC with IORING_SEND_ZC_REPORT_USAGE from \(slotCount) owned slots, each reused after the kernel's notification; each notification says whether the kernel copied anyway (over veth and loopback it does)")
                }
                let features = uring.pointee.features
                guard features & IORING_FEAT_EXT_ARG != 0 else {
                    throw PathError(operation: "io_uring setup", errno: EOPNOTSUPP, errnoName: "EOPNOTSUPP",
                                    hint: "this kernel's io_uring cannot wait with a timeout (IORING_FEAT_EXT_ARG, Linux 5.11+); the uring path needs Linux 6.0+ for multishot recvmsg")
                }
                // IOSQE_CQE_SKIP_SUCCESS (Linux 5.17+): a successful send posts no
                // CQE, so the CQ carries only what needs handling (packets, failed
                // sends), a wait for a reply is never woken by its own send, and
                // the send can ride in the enter that waits.
                skip = features & IORING_FEAT_CQE_SKIP != 0
                minTimeout = features & WP_IORING_FEAT_MIN_TIMEOUT != 0
                if !skip && !sqpoll && !zeroCopy {
                    notes.append("IOSQE_CQE_SKIP_SUCCESS unsupported (needs Linux 5.17+): every send posts a completion that frees its slot")
                }

                let mapped = try Sys.mapAnonymous(bufRingBytes, "mmap buffer ring (\(bufCount) entries)")
                acquired.bufRingMapped = true
                let br = mapped.bindMemory(to: io_uring_buf_ring.self, capacity: 1)
                bufRing = br
                io_uring_buf_ring_init(br)
                var reg = io_uring_buf_reg()
                reg.ring_addr = UInt64(UInt(bitPattern: mapped))
                reg.ring_entries = UInt32(bufCount)
                reg.bgid = UringPath.bufferGroup
                let r = Sys.uringRegisterBufRing(uring, &reg)
                if r < 0 {
                    let e = Int32(-r)
                    throw Sys.error("io_uring_register_buf_ring(\(bufCount) entries)", e,
                                    hint: e == EINVAL ? "provided-buffer rings need Linux 5.19+ and a power-of-two size up to 32768" : nil)
                }
                acquired.bufRingRegistered = true
                let mask = io_uring_buf_ring_mask(UInt32(bufCount))
                for i in 0..<bufCount {
                    io_uring_buf_ring_add(br, buffers + i * bufStride, UInt32(bufStride), UInt16(i), mask, Int32(i))
                }
                io_uring_buf_ring_advance(br, Int32(bufCount))

                let f = Sys.uringRegisterFile(uring, socket)
                if f < 0 { throw Sys.error("io_uring_register_files(socket)", Int32(-f)) }
                acquired.fileRegistered = true
                if let usec = config.uringNAPIMicros {
                    let r = Sys.uringRegisterNAPI(uring, micros: usec, prefer: config.preferBusyPoll)
                    if r < 0 {
                        let e = Int32(-r)
                        throw Sys.error("io_uring_register(IORING_REGISTER_NAPI, \(usec) µs)", e,
                                        hint: e == EINVAL ? "IORING_REGISTER_NAPI needs Linux 6.9+ built with CONFIG_NET_RX_BUSY_POLL; run without --uring-napi" : nil)
                    }
                    acquired.napiRegistered = true
                    notes.append("uring-napi: IORING_REGISTER_NAPI \(usec) µs\(config.preferBusyPoll ? " (prefer_busy_poll)" : ""): the ring busy-polls its sockets' NAPI contexts before it sleeps in a wait\(config.wait == .spin ? "; a spin wait never enters the kernel, so only an SQPOLL thread would poll" : "")")
                }
                if config.wait == .epoll {
                    efd = try Sys.eventFD()
                    let r = Sys.uringRegisterEventFD(uring, efd)
                    if r < 0 { throw Sys.error("io_uring_register_eventfd", Int32(-r)) }
                    acquired.eventFDRegistered = true
                    // Off until a wait turns it on (see `epollWait`).
                    _ = io_uring_cq_eventfd_toggle(uring, false)
                }
                // Arm the receive now, so packets that come before the first
                // receive call go into buffers rather than wait in the socket.
                Ring.prepareReceive(uring, recvMsg)
                let s = Sys.uringSubmit(uring)
                if s < 0 { throw Sys.error("io_uring_submit(recvmsg multishot)", Int32(-s)) }
                let mode = sqpoll ? "SQPOLL" : deferred ? "SINGLE_ISSUER|DEFER_TASKRUN" : "plain ring"
                let riding = skip && !sqpoll && !zeroCopy
                let sends = riding ? "sends with CQE_SKIP_SUCCESS riding in the next enter (the wait for a reply)"
                    : "\(zeroCopy ? "sendmsg_zc" : "sendmsg") from \(slotCount) owned slots, each posting \(zeroCopy ? "a CQE and a notification" : "a CQE")"
                notes.append("io_uring: \(mode), \(bufCount) buffers of \(bufStride) B, socket as fixed file, \(sends)")
            } catch {
                Ring.releaseKernelObjects(uring, bufRing: bufRing, bufRingBytes: bufRingBytes, acquired: acquired, tick: tick, eventFD: efd)
                buffers.deallocate(); recvMsg.deallocate(); cqes.deallocate(); pendingBid.deallocate(); pendingLen.deallocate()
                slotBase.deallocate(); slotMsgs.deallocate(); slotIovs.deallocate(); slotAddrs.deallocate()
                slotCQEsDue.deallocate(); freeSlots.deallocate(); ridingSlots.deallocate()
                tick.deallocate(); uring.deallocate()
                throw error
            }
            self.bufRing = bufRing!
            self.acquired = acquired
            deferTaskrun = deferred
            riding = skip && !sqpoll && !zeroCopy
            self.minTimeout = minTimeout
            eventFD = efd
            waitBatch = min(config.batchSize, bufCount)
        }

        /// Releases everything, once: the kernel objects newest first (see
        /// `releaseKernelObjects`), then the memory they pointed into.
        func release() {
            Ring.releaseKernelObjects(uring, bufRing: bufRing, bufRingBytes: bufRingBytes, acquired: acquired, tick: tick, eventFD: eventFD)
            buffers.deallocate()
            recvMsg.deallocate()
            cqes.deallocate()
            pendingBid.deallocate()
            pendingLen.deallocate()
            slotBase.deallocate()
            slotMsgs.deallocate()
            slotIovs.deallocate()
            slotAddrs.deallocate()
            slotCQEsDue.deallocate()
            freeSlots.deallocate()
            ridingSlots.deallocate()
            tick.deallocate()
            uring.deallocate()
        }

        /// Waits, a few ticks at most, until the kernel has posted the `due`
        /// completions of the owned sends still in flight (send_zc: results
        /// and notifications), so that it reads no slot after the slots are
        /// freed. Other CQEs are dropped: the path is closing. A send_zc
        /// result without F_MORE has no notification behind it, which the
        /// count allows for.
        func drainSends(_ due: Int) {
            var due = due
            var scratch: UnsafeMutablePointer<io_uring_cqe>?
            var rounds = 0
            while due > 0 && rounds < 16 {
                rounds += 1
                let r = Sys.uringSubmitAndWait(uring, 1, tick)
                if r < 0 && r != -Int(ETIME) { return }
                while wp_io_uring_peek_cqes(uring, &scratch, 1) == 1, let cqe = scratch?.pointee {
                    if cqe.user_data >> UringPath.tagShift == UringPath.ownedSendTag {
                        let last = zeroCopy && cqe.flags & (IORING_CQE_F_MORE | IORING_CQE_F_NOTIF) == 0
                        due -= last ? 2 : 1
                    }
                    io_uring_cq_advance(uring, 1)
                }
            }
        }

        /// Queues the multishot recvmsg SQE on the socket (fixed file 0),
        /// taking buffers from group 0; the next io_uring_enter submits it.
        static func prepareReceive(_ uring: UnsafeMutablePointer<io_uring>, _ msg: UnsafeMutablePointer<msghdr>) {
            // The SQ always has room: a send chunk leaves at least two entries free.
            let sqe = io_uring_get_sqe(uring)!
            io_uring_prep_recvmsg_multishot(sqe, UringPath.fixedSocket, msg, 0)
            io_uring_sqe_set_flags(sqe, WP_IOSQE_FIXED_FILE | WP_IOSQE_BUFFER_SELECT)
            wp_io_uring_sqe_set_buf_group(sqe, UringPath.bufferGroup)
            io_uring_sqe_set_data64(sqe, UringPath.recvTag << UringPath.tagShift)
        }

        /// Creates the ring with SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG
        /// (Linux 6.1+): completions are posted only when this thread enters
        /// the kernel to ask for them, never interrupting its work, and the
        /// kernel raises IORING_SQ_TASKRUN when some are waiting. Falls back to
        /// a plain ring when the kernel refuses the flags (EINVAL). Returns
        /// whether DEFER_TASKRUN is on and a note for the fallback; throws
        /// with the errno and a fix otherwise.
        static func setUp(_ uring: UnsafeMutablePointer<io_uring>, sqEntries: UInt32, cqEntries: UInt32,
                          sqpollIdleMillis: Int?) throws(PathError) -> (Bool, String?) {
            if let idle = sqpollIdleMillis {
                try setUpSQPoll(uring, sqEntries: sqEntries, cqEntries: cqEntries, idleMillis: idle)
                return (false, nil)
            }
            var p = io_uring_params()
            p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG
            p.cq_entries = cqEntries
            var r = Sys.uringQueueInit(sqEntries, uring, &p)
            var note: String?
            if r == -Int(EINVAL) {
                note = "IORING_SETUP_DEFER_TASKRUN refused (EINVAL; it needs Linux 6.1+): using a plain ring, whose completions run from task work at any time"
                p = io_uring_params()
                p.flags = IORING_SETUP_CQSIZE
                p.cq_entries = cqEntries
                r = Sys.uringQueueInit(sqEntries, uring, &p)
            }
            if r < 0 {
                let e = Int32(-r)
                throw Sys.error("io_uring_queue_init(\(sqEntries) SQ, \(cqEntries) CQ entries)", e, hint: setupHint(e))
            }
            return (note == nil, note)
        }

        /// Creates the ring with SQPOLL (Linux 5.13+ without privileges):
        /// the kernel thread sleeps after `idleMillis` without work. With
        /// SINGLE_ISSUER (6.0+) where the kernel takes it, else without.
        /// DEFER_TASKRUN is not asked for: the kernel refuses it with SQPOLL
        /// (EINVAL), since completions then run on the poll thread.
        static func setUpSQPoll(_ uring: UnsafeMutablePointer<io_uring>, sqEntries: UInt32, cqEntries: UInt32, idleMillis: Int) throws(PathError) {
            var r = 0
            for flags in [IORING_SETUP_CQSIZE | IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_CQSIZE | IORING_SETUP_SQPOLL] {
                var p = io_uring_params()
                p.flags = flags
                p.cq_entries = cqEntries
                p.sq_thread_idle = UInt32(idleMillis)
                r = Sys.uringQueueInit(sqEntries, uring, &p)
                if r != -Int(EINVAL) { break }
            }
            if r < 0 {
                let e = Int32(-r)
                let hint = e == EPERM ? "SQPOLL needs Linux 5.13+ for an unprivileged process (before: CAP_SYS_ADMIN, or CAP_SYS_NICE from 5.11), and io_uring must be allowed (kernel.io_uring_disabled, seccomp)"
                    : e == EINVAL ? "this kernel refuses IORING_SETUP_SQPOLL with these flags; run without --uring-sqpoll" : setupHint(e)
                throw Sys.error("io_uring_queue_init(SQPOLL, sq_thread_idle \(idleMillis) ms)", e, hint: hint)
            }
        }

        /// The note an SQPOLL ring adds to `info.notes`: the thread, its cost
        /// and what SQPOLL excludes. Waits (at most 200 ms) for the thread to
        /// name itself, so that `CostMeter` can find it later.
        static func sqpollNote(idleMillis: Int) -> String {
            let creator = Sys.threadID()
            var thread = KernelThread.sqpoll(createdBy: creator)
            for _ in 0..<200 where thread == nil {
                Sys.sleep(nanos: 1_000_000)
                thread = KernelThread.sqpoll(createdBy: creator)
            }
            let found = thread.map { "its CPU (\($0.name), TID \($0.tid)) is charged to this end" }
                ?? "its thread iou-sqp-\(creator) was not found in /proc/self/task, so its CPU is NOT in this end's cost"
            return "SQPOLL (sq_thread_idle \(idleMillis) ms): a kernel thread polls the SQ, so sends cost no syscall while it is awake; \(found); SQPOLL excludes DEFER_TASKRUN, so completions are posted by the poll thread; sends are copied into ring-owned slots"
        }

        static func setupHint(_ e: Int32) -> String? {
            switch e {
            case ENOSYS: "this kernel has no io_uring (needs Linux 5.1+; the uring path needs 6.0+)"
            case EPERM: "io_uring is refused: check the kernel.io_uring_disabled sysctl and any seccomp profile (containers often block io_uring)"
            case ENOMEM: "no memory for the rings: lower --uring-buffers or --batch (before Linux 5.12, raise RLIMIT_MEMLOCK)"
            default: nil
            }
        }

        /// Releases the kernel objects `acquired` says exist, newest first,
        /// each once: the armed receive (cancelled, so that the kernel writes
        /// into no buffer after the buffers are freed), the buffer ring's
        /// registration, the NAPI registration, the fixed file, the ring
        /// itself (fd and mmaps), then
        /// the buffer ring's mapping. Failures here leave nothing to act on:
        /// closing the ring releases its registrations anyway (and with
        /// SINGLE_ISSUER, enters and registrations from a thread other than
        /// the ring's creator fail with EEXIST).
        static func releaseKernelObjects(_ uring: UnsafeMutablePointer<io_uring>, bufRing: UnsafeMutablePointer<io_uring_buf_ring>?,
                                         bufRingBytes: Int, acquired: Acquired, tick: UnsafeMutablePointer<__kernel_timespec>,
                                         eventFD: CInt) {
            if acquired.ring {
                if acquired.fileRegistered { cancelReceive(uring, tick: tick) }
                if acquired.eventFDRegistered { _ = Sys.uringUnregisterEventFD(uring) }
                if acquired.bufRingRegistered { _ = Sys.uringUnregisterBufRing(uring, group: UringPath.bufferGroup) }
                if acquired.napiRegistered { _ = Sys.uringUnregisterNAPI(uring) }
                if acquired.fileRegistered { _ = Sys.uringUnregisterFiles(uring) }
                Sys.uringQueueExit(uring)
            }
            if acquired.bufRingMapped, let bufRing { Sys.unmap(UnsafeMutableRawPointer(bufRing), bufRingBytes) }
            if eventFD >= 0 { Sys.close(eventFD) }
        }

        /// Cancels the multishot receive and waits, at most a few ticks, until
        /// the kernel has posted its last CQE (or says none was armed).
        static func cancelReceive(_ uring: UnsafeMutablePointer<io_uring>, tick: UnsafeMutablePointer<__kernel_timespec>) {
            guard let sqe = io_uring_get_sqe(uring) else { return }
            io_uring_prep_cancel64(sqe, UringPath.recvTag << UringPath.tagShift, 0)
            io_uring_sqe_set_data64(sqe, UringPath.cancelTag << UringPath.tagShift)
            var cancelled = false, receiveEnded = false
            var scratch: UnsafeMutablePointer<io_uring_cqe>?
            var rounds = 0
            while !(cancelled && receiveEnded) && rounds < 8 {
                rounds += 1
                let r = Sys.uringSubmitAndWait(uring, 1, tick)
                if r < 0 && r != -Int(ETIME) { return }
                while wp_io_uring_peek_cqes(uring, &scratch, 1) == 1, let cqe = scratch?.pointee {
                    switch cqe.user_data >> UringPath.tagShift {
                    case UringPath.cancelTag:
                        cancelled = true
                        if cqe.res < 0 { receiveEnded = true } // -ENOENT: no receive was armed
                    case UringPath.recvTag where cqe.flags & IORING_CQE_F_MORE == 0:
                        receiveEnded = true
                    default: break
                    }
                    io_uring_cq_advance(uring, 1)
                }
            }
        }
    }

    /// Why io_uring cannot run the uring path on this host, or nil. Opens and
    /// closes a 2-entry ring; on failure names the sysctl that may be the cause.
    static func unavailableReason() -> String? {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        defer { ring.deallocate() }
        ring.initialize(to: io_uring())
        var p = io_uring_params()
        let r = Sys.uringQueueInit(2, ring, &p)
        if r < 0 {
            let e = Int32(-r)
            var why: String
            switch e {
            case ENOSYS: why = "kernel has no io_uring (needs Linux 5.1+, multishot recvmsg 6.0+)"
            case EPERM: why = "io_uring refused (EPERM): kernel.io_uring_disabled sysctl or a seccomp profile"
            default: why = "io_uring_queue_init: \(Sys.errnoName(e))"
            }
            if let disabled = ioUringDisabledSysctl(), disabled != 0 {
                why += "; kernel.io_uring_disabled = \(disabled) ("
                why += disabled == 1 ? "only CAP_SYS_ADMIN or the kernel.io_uring_group may create rings" : "io_uring is off for every process"
                why += "; `sysctl kernel.io_uring_disabled=0` turns it on)"
            }
            return why
        }
        let features = p.features
        Sys.uringQueueExit(ring)
        if features & IORING_FEAT_EXT_ARG == 0 {
            return "io_uring is too old: no IORING_FEAT_EXT_ARG (Linux 5.11+); multishot recvmsg needs Linux 6.0+"
        }
        if let (major, _) = kernelVersion(), major < 6 {
            return "kernel too old: multishot recvmsg with a buffer ring needs Linux 6.0+"
        }
        return nil
    }

    /// /proc/sys/kernel/io_uring_disabled (Linux 6.6+): 0, 1 or 2; nil when absent.
    static func ioUringDisabledSysctl() -> Int? {
        guard let fd = try? Sys.open("/proc/sys/kernel/io_uring_disabled", flags: O_RDONLY) else { return nil }
        defer { Sys.close(fd) }
        var byte: UInt8 = 0
        guard Sys.read(fd, &byte, 1) == 1, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
        return Int(byte - UInt8(ascii: "0"))
    }

    /// The running kernel's major and minor version, from uname(2).
    static func kernelVersion() -> (Int, Int)? {
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }

    static func powerOfTwo(atLeast n: Int) -> Int {
        var p = 1
        while p < n { p <<= 1 }
        return p
    }

    static func roundToPage(_ n: Int) -> Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        return max(page, (n + page - 1) / page * page)
    }
}
