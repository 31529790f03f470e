import CLiburing
import CWirepath
import Glibc
import WirepathIO

extension UringPath {
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
                // ETIME: the tick passed with nothing to take.
                if case .failure(let e) = r, e != .timeout { try classify(e, &counters, "io_uring_enter(GETEVENTS, wait)") }
            case .spin:
                let flags = wp_io_uring_sq_flags(ring.uring)
                if ring.sqpoll {
                    // The poll thread posts completions by itself; enter only
                    // to wake it or to flush an overflowed CQ.
                    if rearmQueued || sendsQueued { try submitQueued(forSend: false) }
                    if flags & IORING_SQ_CQ_OVERFLOW != 0 {
                        counters.rxCalls &+= 1
                        if case .failure(let e) = Sys.uringGetEvents(ring.uring, submit: false) { try classify(e, &counters, "io_uring_enter(GETEVENTS)") }
                    }
                } else if rearmQueued || sendsQueued || flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW) != 0 {
                    counters.rxCalls &+= 1
                    let r = Sys.uringGetEvents(ring.uring, submit: rearmQueued || sendsQueued)
                    noteEntered()
                    if case .failure(let e) = r { try classify(e, &counters, "io_uring_enter(GETEVENTS)") }
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
        if case .failure(let e) = Sys.uringGetEvents(ring.uring, submit: false) { try classify(e, &counters, "io_uring_enter(GETEVENTS)") }
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
                    do throws(PathError) { try classify(Sys.completionErrno(cqe.res), &counters, "io_uring recvmsg multishot") } catch {
                        failure = failure ?? Self.receiveError(error)
                    }
                }
            case Self.ownedSendTag:
                if ring.riding {
                    // Only a failure posts (CQE_SKIP_SUCCESS); its slot was
                    // freed when the enter consumed it. Counted, and lost.
                    if sendFailurePolicy == .countAndSkip {
                        _ = countSendFailure(Sys.completionErrno(cqe.res), &counters)
                    } else {
                        do throws(PathError) { try classify(Sys.completionErrno(cqe.res), &counters, "io_uring sendmsg") } catch {
                            failure = failure ?? error
                        }
                    }
                    break
                }
                let slot = Int(truncatingIfNeeded: cqe.user_data & 0xFFFF_FFFF)
                if cqe.flags & IORING_CQE_F_NOTIF != 0 {
                    // send_zc's notification: the pages are free. Its `res`
                    // is the usage report, not an errno.
                    if UInt32(bitPattern: cqe.res) & WP_IORING_NOTIF_USAGE_ZC_COPIED != 0 {
                        counters.uring.zcCopied &+= 1
                    } else {
                        counters.uring.zcZeroCopy &+= 1
                    }
                    settleOwnedSend(slot: slot, cqes: 1)
                    break
                }
                if cqe.res < 0 && sendFailurePolicy == .countAndSkip {
                    // A reflector: whatever the errno, that packet is lost and counted.
                    _ = countSendFailure(Sys.completionErrno(cqe.res), &counters)
                } else if cqe.res < 0 {
                    // Sent as far as the caller knows: counted here, and lost.
                    do throws(PathError) { try classify(Sys.completionErrno(cqe.res), &counters, ring.zeroCopy ? "io_uring sendmsg_zc" : "io_uring sendmsg (owned slot)") } catch {
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
            counters.uring.multishotRearms &+= 1
        }
    }

    /// Copies up to `batch.capacity` pending packets into `batch`, each with
    /// its source address, and hands their ring.buffers back to the buffer ring
    /// with one tail update. Returns how many.
    mutating func deliver(into batch: inout PacketBatch) -> Int {
        if ring.gro { return deliverGRO(into: &batch) }
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
                    // The name as the kernel wrote it, at most the template's
                    // room (its family's size), into an address slot.
                    var sa = SocketAddress()
                    let n = min(Int(out.pointee.namelen), Int(ring.recvMsg.pointee.msg_namelen), MemoryLayout<SocketAddress>.size)
                    withUnsafeMutableBytes(of: &sa) { $0.baseAddress!.copyMemory(from: io_uring_recvmsg_name(out)!, byteCount: n) }
                    source = sa.endpoint
                }
                // A datagram larger than a buffer arrives cut (MSG_TRUNC): ring.buffers
                // hold one MTU, so only GRO or a jumbo frame gets here.
                if out.pointee.flags & UInt32(MSG_TRUNC) != 0 { counters.errnos.add(.emsgsize) }
                length = min(Int(io_uring_recvmsg_payload_length(out, ring.pendingLen[slot], ring.recvMsg)), batch.slotSize)
                batch.slotPointer(k).copyMemory(from: io_uring_recvmsg_payload(out, ring.recvMsg)!, byteCount: length)
                if stamped { batch.setRxStamp(k, receiveStamp(out)) }
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
        let r: Result<Int, Errno>
        if ring.sqpoll {
            let woke: Bool
            (r, woke) = Sys.uringSQPollSubmit(ring.uring)
            if woke {
                counters.uring.sqpollWakeups &+= 1
                if forSend { counters.txCalls &+= 1 } else { counters.rxCalls &+= 1 }
            }
        } else {
            if forSend { counters.txCalls &+= 1 } else { counters.rxCalls &+= 1 }
            r = Sys.uringSubmit(ring.uring)
        }
        noteEntered()
        if case .failure(let e) = r { try classify(e, &counters, ring.sqpoll ? "io_uring_enter(SQ_WAKEUP)" : "io_uring_submit") }
    }

    /// Queues the multishot receive again; the next io_uring_enter submits it.
    mutating func queueReceive() {
        Ring.prepareReceive(ring.uring, ring.recvMsg)
        rearmQueued = true
    }

    static func zeroCopyError(_ e: PathError) -> PathError {
        var e = e
        switch e.errno.rawValue {
        case EINVAL: e.hint = "sendmsg_zc with IORING_SEND_ZC_REPORT_USAGE needs Linux 6.2+; run without --uring-zc"
        case EOPNOTSUPP: e.hint = "this socket does not take zero-copy sends (SOCK_SUPPORT_ZC; UDP has it since Linux 6.0); run without --uring-zc"
        default: break
        }
        return e
    }

    static func receiveError(_ e: PathError) -> PathError {
        var e = e
        if e.errno == .invalidArgument { e.hint = "multishot recvmsg with a buffer ring needs Linux 6.0+" }
        return e
    }
}
