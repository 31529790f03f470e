import CLiburing
import CWirepath
import Glibc
import WirepathIO

extension UringPath {
    // MARK: Send with --gso

    /// `--gso N`: as `send`, but each SQE carries a run of up to N equal
    /// packets to one endpoint, copied back to back into one owned slot, with
    /// a UDP_SEGMENT cmsg in the slot's msghdr: one sendmsg (or sendmsg_zc)
    /// SQE sends N datagrams. Returns how many packets were queued.
    mutating func sendGSO(_ batch: inout PacketBatch) throws(PathError) -> Int {
        try harvest()
        if sendsQueued && !ring.sqpoll { try submitQueued(forSend: true) }
        let gso = ring.gso
        let slotsNeeded = (batch.count + gso - 1) / gso
        if freeSlotCount < slotsNeeded { try reclaimSendSlots() }
        var queued = 0
        var bytes: UInt64 = 0
        while queued < batch.count && freeSlotCount > 0 {
            guard let sqe = io_uring_get_sqe(ring.uring) else { break }
            let n = batch.gsoRun(from: queued, limit: gso)
            let length = batch.length(queued)
            // Validated: n × length fits a slot (at most 64 KiB).
            precondition(n * length <= ring.slotStride, "a GSO run larger than its slot")
            freeSlotCount -= 1
            let slot = Int(ring.freeSlots[freeSlotCount])
            let base = ring.slotBuffers(slot)
            for j in 0..<n {
                (base + j * length).copyMemory(from: batch.slotPointer(queued + j), byteCount: length)
            }
            ring.slotIovs[slot].iov_len = n * length
            ring.slotAddrs[slot] = sockaddr_in(batch.endpoint(queued))
            let control = ring.slotControls + slot * ring.slotControlSpace
            ring.slotMsgs[slot].msg_control = control
            ring.slotMsgs[slot].msg_controllen = wp_udp_segment_cmsg(control, UInt16(truncatingIfNeeded: length))
            if ring.riding {
                io_uring_prep_sendmsg(sqe, Self.fixedSocket, ring.slotMsgs + slot, UInt32(WP_MSG_DONTWAIT))
                io_uring_sqe_set_flags(sqe, WP_IOSQE_FIXED_FILE | WP_IOSQE_CQE_SKIP_SUCCESS)
                ring.ridingSlots[ridingCount] = UInt32(slot)
                ridingCount += 1
            } else {
                if ring.zeroCopy {
                    io_uring_prep_sendmsg_zc(sqe, Self.fixedSocket, ring.slotMsgs + slot, 0)
                    sqe.pointee.ioprio |= WP_IORING_SEND_ZC_REPORT_USAGE
                } else {
                    io_uring_prep_sendmsg(sqe, Self.fixedSocket, ring.slotMsgs + slot, 0)
                }
                io_uring_sqe_set_flags(sqe, WP_IOSQE_FIXED_FILE)
                let due = ring.zeroCopy ? 2 : 1
                ring.slotCQEsDue[slot] = UInt8(due)
                sendCQEsDue += due
            }
            io_uring_sqe_set_data64(sqe, Self.ownedSendTag << Self.tagShift | UInt64(slot))
            bytes &+= UInt64(n * length)
            queued += n
        }
        guard queued > 0 else { return 0 }
        sendsQueued = true
        if ring.sqpoll { try submitQueued(forSend: true) }
        counters.txPackets &+= UInt64(queued)
        counters.txBytes &+= bytes
        return queued
    }
}
