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
            ring.slotAddrs[slot] = SocketAddress(batch.endpoint(queued))
            ring.slotMsgs[slot].msg_namelen = ring.slotAddrs[slot].length
            let control = ring.slotControls + slot * ring.slotControlSpace
            ring.slotMsgs[slot].msg_control = control
            ring.slotMsgs[slot].msg_controllen = wp_udp_segment_cmsg(control, UInt16(truncatingIfNeeded: length))
            prepareSend(sqe, slot: slot)
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

    // MARK: Receive with --gro

    /// `--gro`: each pending buffer holds one datagram or a coalesced run of
    /// them, with the UDP_GRO cmsg (its segment size) between the name and
    /// the payload. Copies each segment into a batch slot, as `deliver` copies
    /// each datagram (the buffer goes back to the ring at once); a buffer
    /// larger than what the batch has room for is handed out over several
    /// calls (`groOffset`). The segment size is the peer's input: 0 means one
    /// datagram, and a size larger than a slot, a truncated or a malformed
    /// buffer is dropped whole and counted (`groDropped`).
    mutating func deliverGRO(into batch: inout PacketBatch) -> Int {
        let mask = io_uring_buf_ring_mask(UInt32(ring.bufCount))
        var returned: Int32 = 0
        while pendingCount > 0 && batch.count < batch.capacity {
            let slot = pendingHead
            let bid = Int(ring.pendingBid[slot])
            let buf = ring.buffers + bid * ring.bufStride
            var done = true
            if let out = io_uring_recvmsg_validate(buf, ring.pendingLen[slot], ring.recvMsg),
               out.pointee.flags & UInt32(MSG_TRUNC) == 0 {
                var source = Endpoint.any
                if out.pointee.namelen >= UInt32(MemoryLayout<sockaddr_in>.size) {
                    // As the plain receive: the name as the kernel wrote it,
                    // at most the template's room (its family's size).
                    var sa = SocketAddress()
                    let n = min(Int(out.pointee.namelen), Int(ring.recvMsg.pointee.msg_namelen), MemoryLayout<SocketAddress>.size)
                    withUnsafeMutableBytes(of: &sa) { $0.baseAddress!.copyMemory(from: io_uring_recvmsg_name(out)!, byteCount: n) }
                    source = sa.endpoint
                }
                let total = Int(io_uring_recvmsg_payload_length(out, ring.pendingLen[slot], ring.recvMsg))
                let payload = io_uring_recvmsg_payload(out, ring.recvMsg)!
                // The control data follows the header and the name's space.
                let control = UnsafeMutableRawPointer(out) + MemoryLayout<io_uring_recvmsg_out>.size + Int(ring.recvMsg.pointee.msg_namelen)
                let controlLength = min(Int(out.pointee.controllen), Int(ring.recvMsg.pointee.msg_controllen))
                let segment = Int(wp_udp_gro_segment(control, controlLength))
                let size = segment == 0 ? total : segment
                if groOffset == 0 && segment > 0 { counters.groCoalesced &+= 1 }
                if size <= 0 || size > batch.slotSize {
                    counters.groDropped &+= 1
                } else {
                    while groOffset < total && batch.count < batch.capacity {
                        let n = min(size, total - groOffset)
                        let k = batch.count
                        batch.slotPointer(k).copyMemory(from: payload + groOffset, byteCount: n)
                        batch.setLength(k, n)
                        batch.setEndpoint(k, source)
                        batch.count = k + 1
                        counters.rxBytes &+= UInt64(n)
                        groOffset += n
                    }
                    done = groOffset >= total
                }
            } else {
                counters.groDropped &+= 1
            }
            guard done else { break }
            groOffset = 0
            io_uring_buf_ring_add(ring.bufRing, buf, UInt32(ring.bufStride), UInt16(bid), mask, returned)
            returned += 1
            pendingHead = (pendingHead + 1) & (ring.bufCount - 1)
            pendingCount -= 1
        }
        if returned > 0 { io_uring_buf_ring_advance(ring.bufRing, returned) }
        return batch.count
    }
}
