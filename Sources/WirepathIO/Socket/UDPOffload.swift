import CWirepath
import Glibc

// UDP GSO and GRO for the socket, mmsg and uring paths: the grouping of a
// batch into GSO sends, and the GRO receive buffers with their in-place
// split. Both are set up once when the path opens; neither allocates on the
// data path.

extension PacketBatch {
    /// How many packets from `start` one GSO send may carry: consecutive
    /// packets to one endpoint with one length, at most `limit` (UDP_SEGMENT
    /// cuts a buffer into equal segments; all but the last must be exactly
    /// the segment size, and with fixed `--size` they all are).
    @inline(__always)
    package func gsoRun(from start: Int, limit: Int) -> Int {
        let len = length(start)
        let ep = endpoint(start)
        var n = 1
        while n < limit && start + n < count && length(start + n) == len && endpoint(start + n) == ep { n += 1 }
        return n
    }
}

/// The receive side of `--gro`: `messages` buffers of 64 KiB (the largest
/// coalesced datagram) with their control space, and the split of each into
/// packets. A batch's slots are pointed into these buffers (no copy); the
/// segments not yet handed out wait here for the next `receive`, so a
/// coalesced buffer larger than the batch loses nothing.
///
/// The segment size comes from the kernel's UDP_GRO cmsg, which repeats
/// what the peer sent: it is validated (1 to the batch's slot size) and a
/// buffer that fails is dropped and counted, never trusted.
package struct GROBuffers: ~Copyable {
    package let messages: Int
    /// Bytes the kernel may write into one buffer.
    package static let receiveBytes = SocketOptions.groBufferBytes
    /// Each buffer is followed by `slack` bytes, so that a slot pointed at
    /// any segment still has a whole slot of memory behind it.
    let slack: Int
    let stride: Int
    let storage: UnsafeMutableRawPointer
    package let controlSpace: Int
    let controls: UnsafeMutableRawPointer
    /// Per buffer, once received: its length, segment size and source.
    let lengths: UnsafeMutablePointer<Int>
    let segments: UnsafeMutablePointer<Int>
    let sources: UnsafeMutablePointer<Endpoint>
    /// The buffers `next..<filled` still hold segments; `offset` is the
    /// next segment's start in buffer `next`.
    var next = 0
    var filled = 0
    var offset = 0

    package init(messages: Int, slotBytes: Int) {
        precondition(messages >= 0)
        self.messages = messages
        slack = (max(slotBytes, 2048) + 63) & ~63
        stride = Self.receiveBytes + slack
        storage = .allocate(byteCount: stride * messages, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: stride * messages)
        controlSpace = (wp_udp_gro_cmsg_space() + 7) & ~7
        controls = .allocate(byteCount: controlSpace * messages, alignment: 8)
        controls.initializeMemory(as: UInt8.self, repeating: 0, count: controlSpace * messages)
        lengths = .allocate(capacity: messages)
        lengths.initialize(repeating: 0, count: messages)
        segments = .allocate(capacity: messages)
        segments.initialize(repeating: 0, count: messages)
        sources = .allocate(capacity: messages)
        sources.initialize(repeating: .any, count: messages)
    }

    deinit {
        storage.deallocate()
        controls.deallocate()
        lengths.deallocate()
        segments.deallocate()
        sources.deallocate()
    }

    @inline(__always) package func buffer(_ i: Int) -> UnsafeMutableRawPointer { storage + i * stride }
    @inline(__always) package func control(_ i: Int) -> UnsafeMutableRawPointer { controls + i * controlSpace }

    /// Whether segments from an earlier receive wait to be handed out.
    @inline(__always) package var pending: Bool { next < filled }

    /// Records buffer `i` as received: `length` bytes from `source`, the
    /// control data as the kernel returned it, and its msg_flags.
    @inline(__always)
    package mutating func record(_ i: Int, length: Int, source: Endpoint, controlLength: Int, flags: CInt,
                                 counters: inout PathCounters) {
        let segment = Int(wp_udp_gro_segment(control(i), controlLength))
        // A truncated buffer (MSG_TRUNC: larger than 64 KiB, which GRO never
        // builds) has lost its tail: drop it whole, counted.
        if flags & WP_MSG_TRUNC != 0 || length <= 0 {
            counters.groDropped &+= 1
            lengths[i] = 0
        } else {
            lengths[i] = length
        }
        segments[i] = segment == 0 ? length : segment
        sources[i] = source
        filled = i + 1
        if segment > 0 { counters.groCoalesced &+= 1 }
    }

    /// Forgets what the last receive recorded (before `record`).
    @inline(__always) package mutating func reset() { next = 0; filled = 0; offset = 0 }

    /// Starts handing out buffers `0..<filled` (after `record`).
    @inline(__always) package mutating func begin() { next = 0; offset = 0 }

    /// The end of a receive, after `record` of each buffer it filled: starts
    /// handing them out, drains the first segments into `batch`, and counts
    /// the call as non-empty (`rxNonEmptyCalls`) when it yielded one. Shared
    /// by the socket and mmsg paths. Returns `batch.count`.
    @inline(__always)
    package mutating func deliverReceived(into batch: inout PacketBatch, counters: inout PathCounters) -> Int {
        begin()
        if drain(into: &batch, counters: &counters) > 0 { counters.rxNonEmptyCalls &+= 1 }
        return batch.count
    }

    /// Points batch slots `batch.count...` at the next segments, up to the
    /// batch's capacity; returns how many it added. A buffer whose segment
    /// size is 0 or larger than a slot is dropped whole and counted.
    @inline(__always)
    package mutating func drain(into batch: inout PacketBatch, counters: inout PathCounters) -> Int {
        precondition(batch.slotSize <= slack, "GRO buffers sized for slots of \(slack) bytes")
        var added = 0
        while next < filled && batch.count < batch.capacity {
            let len = lengths[next]
            let seg = segments[next]
            if len == 0 || seg <= 0 || seg > batch.slotSize {
                if len != 0 { counters.groDropped &+= 1 }
                next += 1; offset = 0
                continue
            }
            let n = min(seg, len - offset)
            let i = batch.count
            batch.setSlotPointer(i, buffer(next) + offset)
            batch.setLength(i, n)
            batch.setEndpoint(i, sources[next])
            batch.count = i + 1
            counters.rxBytes &+= UInt64(n)
            added += 1
            offset += n
            if offset >= len { next += 1; offset = 0 }
        }
        counters.rxPackets &+= UInt64(added)
        return added
    }
}
