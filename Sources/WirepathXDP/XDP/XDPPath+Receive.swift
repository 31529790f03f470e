import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

extension XDPPath {
    // MARK: Receive

    public mutating func receive(into batch: inout PacketBatch) throws(PathError) -> Int {
        batch.count = 0
        if txKickPending { try kickTX(submitted: 1) }
        let want = UInt32(min(batch.capacity, frames.ringSize))
        var idx: UInt32 = 0
        var n = xsk_ring_cons__peek(socket.rx, want, &idx)
        if n == 0 {
            switch wait {
            case .spin:
                if busyPollKicks || xsk_ring_prod__needs_wakeup(socket.umem.fill) != 0 { try kickRX() }
            case .block:
                own.waitCalls &+= 1
                // In copy mode xsk_poll transmits up to 32 TX descriptors
                // before it checks the RX ring, so this poll is also the kick
                // of a deferred send.
                if txDeferred > 0 { own.xdp.txKicks &+= 1; txDeferred = 0 }
                if case .failure(let e) = Sys.poll(socket.fd, events: Int16(POLLIN), timeoutMillis: tickMillis) { try classify(e, &own, "poll(AF_XDP socket)") }
            case .epoll:
                own.waitCalls &+= 1
                _ = try waiter.wait(timeoutMillis: tickMillis)
            }
            n = xsk_ring_cons__peek(socket.rx, want, &idx)
            if n == 0 { return 0 }
        } else if txDeferred > 0 {
            // Packets were waiting, so no poll will run now: kick.
            try kickTX(submitted: txDeferred)
            txDeferred = 0
        }
        let area = socket.umem.area
        let frameMask = ~UInt64(frames.frameSize - 1)
        var k = 0
        frames.beginBatch()
        for i in 0..<Int(n) {
            let desc = xsk_ring_cons__rx_desc(socket.rx, idx &+ UInt32(i))!.pointee
            // Aligned mode: the descriptor points past the kernel's headroom;
            // the frame's base goes back to the fill ring.
            frames.scratch[i] = desc.addr & frameMask
            let frame = area + Int(desc.addr)
            guard let p = Framing.parseUDP(UnsafeRawBufferPointer(start: frame, count: Int(desc.len))) else { continue }
            let length = min(p.payloadLength, batch.slotSize)
            batch.slotPointer(k).copyMemory(from: frame + p.payloadOffset, byteCount: length)
            batch.setLength(k, length)
            batch.setEndpoint(k, p.source)
            if stamped { batch.setRxStamp(k, takeStamp(frame, offset: Int(desc.addr & ~frameMask))) }
            if ipv6 { frames.learn(p.source.address6, p.sourceMAC, slot: k) } else { frames.learn(p.source.address, p.sourceMAC, slot: k) }
            own.rxBytes &+= UInt64(length)
            k += 1
        }
        // Done with the descriptors, then the frames go back to the kernel.
        xsk_ring_cons__release(socket.rx, n)
        var fillIdx: UInt32 = 0
        let got = xsk_ring_prod__reserve(socket.umem.fill, n, &fillIdx)
        precondition(got == n, "the fill ring has room for every receive frame")
        for i in 0..<Int(n) {
            xsk_ring_prod__fill_addr(socket.umem.fill, fillIdx &+ UInt32(i))!.pointee = frames.scratch[i]
        }
        xsk_ring_prod__submit(socket.umem.fill, n)
        batch.count = k
        if k > 0 {
            own.rxNonEmptyCalls &+= 1
            own.rxPackets &+= UInt64(k)
        }
        return k
    }

    /// The program's receive stamp in the metadata area before the packet
    /// at `frame` (`offset` bytes into its UMEM frame), 0 when there is
    /// none: the magic is cleared after reading, so stale headroom of an
    /// earlier packet is never read as this one's stamp.
    @inline(__always)
    func takeStamp(_ frame: UnsafeMutableRawPointer, offset: Int) -> UInt64 {
        let size = MemoryLayout<wp_xdp_meta>.size
        guard offset >= size else { return 0 }
        let meta = frame - size
        guard meta.loadUnaligned(fromByteOffset: 8, as: UInt32.self) == UInt32(WP_XDP_META_MAGIC) else { return 0 }
        meta.storeBytes(of: 0, toByteOffset: 8, as: UInt32.self)
        return meta.loadUnaligned(as: UInt64.self)
    }

    /// recvfrom kick: the fill ring asked for a wake-up (or busy polling
    /// drives the NAPI context). Counted; expected errnos are counted too.
    mutating func kickRX() throws(PathError) {
        own.rxCalls &+= 1
        own.xdp.rxKicks &+= 1
        // Expected: EAGAIN, EBUSY, ENOBUFS, counted.
        if case .failure(let e) = Sys.xskKickRX(socket.fd) { try classify(e, &own, "recvfrom(AF_XDP RX kick)") }
    }
}
