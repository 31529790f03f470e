import CLiburing
import CWirepath
import Glibc
import WirepathIO

extension UringPath {
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
        /// The recvmsg template: a name of the socket's family (sockaddr_in
        /// or sockaddr_in6, fixed at setup), no control data. The kernel lays
        /// out each buffer as io_uring_recvmsg_out, name, payload.
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
        let slotAddrs: UnsafeMutablePointer<SocketAddress>
        let slotCQEsDue: UnsafeMutablePointer<UInt8>
        let freeSlots: UnsafeMutablePointer<UInt32>
        let ridingSlots: UnsafeMutablePointer<UInt32>
        /// `--gro`: the multishot recvmsg carries the UDP_GRO cmsg space.
        let gro: Bool
        /// `--gso` segments per send (0: off): each slot then holds up to
        /// that many payloads back to back, with a UDP_SEGMENT cmsg in its
        /// own control space.
        let gso: Int
        let slotControlSpace: Int
        let slotControls: UnsafeMutableRawPointer
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
            // --gro: each buffer holds a coalesced datagram of up to 64 KiB
            // behind the UDP_GRO cmsg, so at most 128 buffers (8 MiB).
            gro = config.socket.gro
            bufCount = gro ? min(config.uring.buffers, 128) : config.uring.buffers
            // Control space: the UDP_GRO cmsg, and with --stages the
            // SCM_TIMESTAMPING one.
            let control = (gro ? (wp_udp_gro_cmsg_space() + 7) & ~7 : 0)
                + (config.stamping != .off ? UringPath.stampControlBytes : 0)
            // Header, name and control space in front of a payload of up to
            // one MTU (64 KiB with --gro), cache-line rounded. The name's
            // size is the socket's family's, decided here once.
            let nameBytes = config.local.isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size
            let header = MemoryLayout<io_uring_recvmsg_out>.size + nameBytes + control
            bufStride = (header + (gro ? SocketOptions.groBufferBytes : config.mtu) + 63) & ~63
            buffers = .allocate(byteCount: bufCount * bufStride, alignment: 64)
            recvMsg = .allocate(capacity: 1)
            var m = msghdr()
            m.msg_namelen = socklen_t(nameBytes)
            m.msg_controllen = control
            recvMsg.initialize(to: m)
            pendingBid = .allocate(capacity: bufCount)
            pendingBid.initialize(repeating: 0, count: bufCount)
            pendingLen = .allocate(capacity: bufCount)
            pendingLen.initialize(repeating: 0, count: bufCount)
            // Send slots: four batches in flight, so that the caller fills
            // slots while the kernel sends earlier ones (or holds their pages
            // until the notification).
            sqpoll = config.uring.sqPollIdleMillis != nil
            zeroCopy = config.uring.zeroCopy
            slotCount = min(max(4 * config.batchSize, 16), 4096)
            // Any payload the path may be asked to send: up to one MTU's UDP
            // payload, or a control message, cache-line rounded.
            // With --gso, room for that many payloads (at most 64 KiB: validated).
            gso = config.socket.gsoSegments ?? 0
            slotStride = (max(PathConfig.maxPayload(mtu: config.mtu) * max(gso, 1), PathConfig.minSendSlot) + 63) & ~63
            slotControlSpace = (wp_udp_segment_cmsg_space() + 7) & ~7
            slotControls = .allocate(byteCount: gso > 0 ? slotCount * slotControlSpace : 0, alignment: 8)
            slotBase = .allocate(byteCount: slotCount * slotStride, alignment: 64)
            slotMsgs = .allocate(capacity: slotCount)
            slotIovs = .allocate(capacity: slotCount)
            slotAddrs = .allocate(capacity: slotCount)
            slotCQEsDue = .allocate(capacity: slotCount)
            freeSlots = .allocate(capacity: slotCount)
            ridingSlots = .allocate(capacity: slotCount)
            ridingSlots.initialize(repeating: 0, count: slotCount)
            for i in 0..<slotCount {
                (slotAddrs + i).initialize(to: SocketAddress())
                (slotIovs + i).initialize(to: iovec(iov_base: slotBase + i * slotStride, iov_len: 0))
                var s = msghdr()
                s.msg_name = UnsafeMutableRawPointer(slotAddrs + i)
                s.msg_namelen = socklen_t(MemoryLayout<SocketAddress>.size)
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
                                                      sqpollIdleMillis: config.uring.sqPollIdleMillis,
                                                      disabled: config.sandbox != .off)
                acquired.ring = true
                if let ringNote { notes.append(ringNote) }
                if let idle = config.uring.sqPollIdleMillis { notes.append(Ring.sqpollNote(idleMillis: idle)) }
                if zeroCopy {
                    // Ask before the first send rather than fail on its CQE.
                    if Sys.uringOpcodeSupported(uring, IORING_OP_SENDMSG_ZC) == false {
                        throw PathError(operation: "io_uring probe(IORING_OP_SENDMSG_ZC)", errno: .notSupportedOnSocket,
                                        hint: "this kernel has no sendmsg_zc (Linux 6.1+; usage reports 6.2+); run without --uring-zc")
                    }
                    notes.append("send_zc: IORING_OP_SENDMSG_ZC with IORING_SEND_ZC_REPORT_USAGE from \(slotCount) owned slots, each reused after the kernel's notification; each notification says whether the kernel copied anyway (over veth and loopback it does)")
                }
                let features = uring.pointee.features
                guard features & IORING_FEAT_EXT_ARG != 0 else {
                    throw PathError(operation: "io_uring setup", errno: .notSupportedOnSocket,
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
                do throws(PathError) { try Sys.uringRegisterBufRing(uring, &reg) } catch {
                    throw Sys.error("io_uring_register_buf_ring(\(bufCount) entries)", error.errno,
                                    hint: error.errno == .invalidArgument ? "provided-buffer rings need Linux 5.19+ and a power-of-two size up to 32768" : nil)
                }
                acquired.bufRingRegistered = true
                let mask = io_uring_buf_ring_mask(UInt32(bufCount))
                for i in 0..<bufCount {
                    io_uring_buf_ring_add(br, buffers + i * bufStride, UInt32(bufStride), UInt16(i), mask, Int32(i))
                }
                io_uring_buf_ring_advance(br, Int32(bufCount))

                do throws(PathError) { try Sys.uringRegisterFile(uring, socket) } catch {
                    throw Sys.error("io_uring_register_files(socket)", error.errno)
                }
                acquired.fileRegistered = true
                if let usec = config.uring.napiMicros {
                    do throws(PathError) { try Sys.uringRegisterNAPI(uring, micros: usec, prefer: config.socket.preferBusyPoll) } catch {
                        throw Sys.error("io_uring_register(IORING_REGISTER_NAPI, \(usec) µs)", error.errno,
                                        hint: error.errno == .invalidArgument ? "IORING_REGISTER_NAPI needs Linux 6.9+ built with CONFIG_NET_RX_BUSY_POLL; run without --uring-napi" : nil)
                    }
                    acquired.napiRegistered = true
                    notes.append("uring-napi: IORING_REGISTER_NAPI \(usec) µs\(config.socket.preferBusyPoll ? " (prefer_busy_poll)" : ""): the ring busy-polls its sockets' NAPI contexts before it sleeps in a wait\(config.wait == .spin ? "; a spin wait never enters the kernel, so only an SQPOLL thread would poll" : "")")
                }
                if config.wait == .epoll {
                    efd = try Sys.eventFD()
                    try Sys.uringRegisterEventFD(uring, efd)
                    acquired.eventFDRegistered = true
                    // Off until a wait turns it on (see `epollWait`).
                    _ = io_uring_cq_eventfd_toggle(uring, false)
                }
                if config.sandbox != .off {
                    try Ring.restrict(uring, zeroCopy: zeroCopy)
                    notes.append("io_uring restrictions: recvmsg, sendmsg\(zeroCopy ? ", sendmsg_zc" : ""), async_cancel; the teardown's unregisters")
                }
                // Arm the receive now, so packets that come before the first
                // receive call go into buffers rather than wait in the socket.
                Ring.prepareReceive(uring, recvMsg)
                try Sys.check(Sys.uringSubmit(uring), "io_uring_submit(recvmsg multishot)")
                let mode = sqpoll ? "SQPOLL" : deferred ? "SINGLE_ISSUER|DEFER_TASKRUN" : "plain ring"
                let riding = skip && !sqpoll && !zeroCopy
                let sends = riding ? "sends with CQE_SKIP_SUCCESS riding in the next enter (the wait for a reply)"
                    : "\(zeroCopy ? "sendmsg_zc" : "sendmsg") from \(slotCount) owned slots, each posting \(zeroCopy ? "a CQE and a notification" : "a CQE")"
                notes.append("io_uring: \(mode), \(bufCount) buffers of \(bufStride) B, socket as fixed file, \(sends)")
            } catch {
                Ring.releaseKernelObjects(uring, bufRing: bufRing, bufRingBytes: bufRingBytes, acquired: acquired, tick: tick, eventFD: efd)
                buffers.deallocate(); recvMsg.deallocate(); cqes.deallocate(); pendingBid.deallocate(); pendingLen.deallocate()
                slotBase.deallocate(); slotMsgs.deallocate(); slotIovs.deallocate(); slotAddrs.deallocate(); slotControls.deallocate()
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
    }
}
