import CLiburing
import CWirepath
import Glibc
import WirepathIO

/// Path 3: io_uring through liburing, on one UDP socket registered as a fixed file.
///
/// Receive: one multishot recvmsg (`io_uring_prep_recvmsg_multishot`) takes
/// packets into a provided-buffer ring of `config.uring.buffers` buffers. Each
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
/// SQPOLL (`config.uring.sqPollIdleMillis`): a kernel thread (`iou-sqp-TID`)
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
/// send_zc (`config.uring.zeroCopy`): IORING_OP_SENDMSG_ZC (Linux 6.1+) with
/// IORING_SEND_ZC_REPORT_USAGE (6.2+), so each notification says whether the
/// kernel copied the data anyway (`zcCopied`) or sent from the slot's pages
/// (`zcZeroCopy`). Over veth and loopback it always copies: the receiving
/// socket cannot keep the sender's pages.
///
/// NAPI (`config.uring.napiMicros`): IORING_REGISTER_NAPI, opcode 27 of
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
    /// The sandbox test seam's NOP (`tryForbiddenOpcode`).
    static let testTag: UInt64 = 7
    static let bufferGroup: UInt16 = 0
    /// The socket's index in the ring's fixed-file table.
    static let fixedSocket: Int32 = 0

    let socket: UDPSocket
    /// --stages: receive stamps from the multishot recvmsg's control data,
    /// transmit stamps from the socket's error queue (UringPath+Stamps.swift).
    let stamped: Bool
    let stampBuffers: StampBuffers
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
    /// `--gro`: bytes of the head pending buffer already handed out.
    var groOffset = 0
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
    public internal(set) var counters = PathCounters()
    public var sendFailurePolicy = SendFailurePolicy.throw

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
        stamped = config.stamping != .off
        stampBuffers = StampBuffers(address: nil)
        self.notes = notes
        wait = config.wait
        napiMicros = config.uring.napiMicros
        freeSlotCount = ring.slotCount
    }

    /// The batch wait in effect, with a note saying what it does or why it
    /// is off. Only a blocking wait on a DEFER_TASKRUN ring gains from it:
    /// there the kernel wakes the thread when `wait_nr` completions are due
    /// (or a timer fires) instead of at each packet's task work.
    static func batchWait(_ config: PathConfig, _ ring: Ring, _ notes: inout [String]) -> UInt32 {
        let usec = config.uring.batchWaitMicros
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
        stampBuffers.deallocate()
    }

    public var info: PathInfo {
        var i = socket.info()
        i.notes += notes
        if let napiMicros, i.napiID == 0 {
            i.notes.append("uring-napi \(napiMicros) µs has no effect here: the socket has no NAPI id, so the ring had nothing to busy-poll (on veth, use --veth-napi: GRO on, TSO off)")
        }
        return i
    }
}
