import CLiburing
import CWirepath
import Glibc
import WirepathIO

extension UringPath {
    // MARK: Send

    /// Copies each payload into a free slot and queues one sendmsg (or
    /// sendmsg_zc) SQE per packet. SQPOLL: hands them to the poll thread at
    /// once (no syscall while it is awake). Otherwise they ride in the next
    /// enter (see the type's notes); a batch still queued from the previous
    /// call goes first, in an enter of its own, so a sender that never waits
    /// makes one enter per batch. Returns how many were queued; fewer than
    /// `batch.count` when the slots are all in flight.
    public mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int {
        if ring.gso > 0 { return try sendGSO(&batch) }
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
            ring.slotAddrs[slot] = SocketAddress(batch.endpoint(queued))
            ring.slotMsgs[slot].msg_namelen = ring.slotAddrs[slot].length
            prepareSend(sqe, slot: slot)
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

    /// Prepares `sqe` as the send of `slot`'s msghdr, whose buffer (and, for
    /// `--gso`, control message) the caller has filled. Riding: a sendmsg with
    /// MSG_DONTWAIT and IOSQE_CQE_SKIP_SUCCESS, the slot listed for the next
    /// enter to free. Owned: sendmsg or sendmsg_zc with its completions due.
    /// Shared by `send` and `sendGSO`.
    @inline(__always)
    mutating func prepareSend(_ sqe: UnsafeMutablePointer<io_uring_sqe>, slot: Int) {
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
            if case .failure(let e) = r { try classify(e, &counters, "io_uring_enter(GETEVENTS)") }
            try harvest()
        }
        guard freeSlotCount == 0, wait != .spin else { return }
        if ring.sqpoll && (rearmQueued || sendsQueued) { try submitQueued(forSend: true) }
        counters.txCalls &+= 1
        counters.waitCalls &+= 1
        let r = Sys.uringSubmitAndWait(ring.uring, 1, ring.tick)
        noteEntered()
        // ETIME: the tick passed with no completion.
        if case .failure(let e) = r, e != .timeout { try classify(e, &counters, "io_uring_enter(GETEVENTS, wait for a send slot)") }
        try harvest()
    }
}
