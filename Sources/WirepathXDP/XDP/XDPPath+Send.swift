import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

extension XDPPath {
    // MARK: Send

    public mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int {
        if txDeferred > 0 {
            try kickTX(submitted: txDeferred)
            txDeferred = 0
        }
        harvestCompletions()
        var done = 0
        while done < batch.count {
            if txFree == 0 {
                // Every TX frame is in flight: push the ring and take back
                // what the kernel has finished with.
                if txKickPending { try kickTX(submitted: 1) }
                harvestCompletions()
                if txFree == 0 { break } // a short count: the caller resends
            }
            var n = min(batch.count - done, txFree)
            // Resolve every destination MAC before taking frames, so that an
            // unknown destination leaves the rings as they were. A reflector
            // sends the prefix it can resolve, then drops and counts the
            // packet it cannot (EHOSTUNREACH), never failing the batch.
            for i in 0..<n {
                let dst = batch.endpoint(done + i)
                guard let mac = (ipv6 ? frames.mac(for: dst.address6) : frames.mac(for: dst.address)) ?? nextHopMAC else {
                    if sendFailurePolicy == .countAndSkip { n = i; break }
                    throw PathError(operation: "AF_XDP send to \(batch.endpoint(done + i))", errno: .noRouteToHost,
                                    hint: "no MAC address for it: it has not sent to this socket and there is no neighbour entry; pass --peer-mac")
                }
                frames.destinationMACs[i] = mac.value
            }
            if n == 0 {
                own.sendFailures.add(.ehostunreach)
                done += 1
                continue
            }
            var idx: UInt32 = 0
            let got = Int(xsk_ring_prod__reserve(socket.tx, UInt32(n), &idx))
            precondition(got == n, "the TX ring has room for every free TX frame")
            let area = socket.umem.area
            for i in 0..<n {
                txFree -= 1
                let addr = frames.txFree[txFree]
                let frame = area + Int(addr)
                let length = batch.length(done + i)
                let frameLength: Int
                if ipv6 {
                    (frame + Framing.headerSize6).copyMemory(from: batch.slotPointer(done + i), byteCount: length)
                    frameLength = Framing.writeUDP6Headers(
                        frame, capacity: frames.frameSize, sourceMAC: localMAC, destinationMAC: MACAddress(frames.destinationMACs[i]),
                        source: local, destination: batch.endpoint(done + i), payloadLength: length)
                } else {
                    (frame + Framing.headerSize).copyMemory(from: batch.slotPointer(done + i), byteCount: length)
                    frameLength = Framing.writeUDPHeaders(
                        frame, capacity: frames.frameSize, sourceMAC: localMAC, destinationMAC: MACAddress(frames.destinationMACs[i]),
                        source: local, destination: batch.endpoint(done + i), payloadLength: length, ipID: ipID)
                    ipID &+= 1
                }
                let desc = xsk_ring_prod__tx_desc(socket.tx, idx &+ UInt32(i))!
                desc.pointee.addr = addr
                desc.pointee.len = UInt32(frameLength)
                desc.pointee.options = 0
                own.txBytes &+= UInt64(length)
            }
            xsk_ring_prod__submit(socket.tx, UInt32(n))
            own.txPackets &+= UInt64(n)
            done += n
            if deferKickToPoll && done == batch.count && n <= Self.copyModeKickBatch && !txKickPending {
                // The caller's next receive polls, and that poll transmits
                // these (one syscall instead of a sendto and a poll); a send
                // or a receive that finds packets waiting kicks first.
                txDeferred = n
            } else {
                try kickTX(submitted: n)
            }
        }
        return done
    }

    /// Asks the kernel to transmit the TX ring, if the ring says it needs
    /// waking (copy mode: always). One sendto per 32 descriptors, as copy
    /// mode sends at most 32 per call; a kick that ends early (EAGAIN with
    /// more left, EBUSY, ENOBUFS, ENETDOWN) is counted and left pending for
    /// the next send or receive.
    mutating func kickTX(submitted: Int) throws(PathError) {
        guard xsk_ring_prod__needs_wakeup(socket.tx) != 0 else { txKickPending = false; return }
        var left = submitted
        while true {
            own.txCalls &+= 1
            own.xdp.txKicks &+= 1
            // Expected: EAGAIN (more left to send), ENOBUFS, EBUSY, ENETDOWN.
            guard case .failure(let e) = Sys.xskKickTX(socket.fd) else { txKickPending = false; return }
            try classify(e, &own, "sendto(AF_XDP TX kick)")
            left -= Self.copyModeKickBatch
            if e != .resourceTemporarilyUnavailable || left <= 0 { txKickPending = true; return }
        }
    }

    /// Takes every completed TX frame back from the completion ring.
    mutating func harvestCompletions() {
        var idx: UInt32 = 0
        let n = xsk_ring_cons__peek(socket.umem.comp, UInt32(frames.ringSize), &idx)
        guard n > 0 else { return }
        for i in 0..<n {
            frames.txFree[txFree] = xsk_ring_cons__comp_addr(socket.umem.comp, idx &+ i)!.pointee
            txFree += 1
        }
        xsk_ring_cons__release(socket.umem.comp, n)
    }
}
