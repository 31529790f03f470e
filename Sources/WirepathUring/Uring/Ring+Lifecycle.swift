import CLiburing
import CWirepath
import Glibc
import WirepathIO

extension UringPath.Ring {
    /// Releases everything, once: the kernel objects newest first (see
    /// `releaseKernelObjects`), then the memory they pointed into.
    func release() {
        Self.releaseKernelObjects(uring, bufRing: bufRing, bufRingBytes: bufRingBytes, acquired: acquired, tick: tick, eventFD: eventFD)
        buffers.deallocate()
        recvMsg.deallocate()
        cqes.deallocate()
        pendingBid.deallocate()
        pendingLen.deallocate()
        slotBase.deallocate()
        slotMsgs.deallocate()
        slotIovs.deallocate()
        slotAddrs.deallocate()
        slotControls.deallocate()
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
            if case .failure(let e) = Sys.uringSubmitAndWait(uring, 1, tick), e != .timeout { return }
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
    ///
    /// With `disabled` (the sandbox), the ring starts disabled
    /// (IORING_SETUP_R_DISABLED, Linux 5.10+) so that its restrictions can be
    /// registered before anything runs (`restrict`).
    static func setUp(_ uring: UnsafeMutablePointer<io_uring>, sqEntries: UInt32, cqEntries: UInt32,
                      sqpollIdleMillis: Int?, disabled: Bool) throws(PathError) -> (Bool, String?) {
        let extra = disabled ? IORING_SETUP_R_DISABLED : 0
        if let idle = sqpollIdleMillis {
            try setUpSQPoll(uring, sqEntries: sqEntries, cqEntries: cqEntries, idleMillis: idle, extra: extra)
            return (false, nil)
        }
        var p = io_uring_params()
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG | extra
        p.cq_entries = cqEntries
        var note: String?
        do throws(PathError) {
            do throws(PathError) { try Sys.uringQueueInit(sqEntries, uring, &p) } catch where error.errno == .invalidArgument {
                note = "IORING_SETUP_DEFER_TASKRUN refused (EINVAL; it needs Linux 6.1+): using a plain ring, whose completions run from task work at any time"
                p = io_uring_params()
                p.flags = IORING_SETUP_CQSIZE | extra
                p.cq_entries = cqEntries
                try Sys.uringQueueInit(sqEntries, uring, &p)
            }
        } catch {
            throw Sys.error("io_uring_queue_init(\(sqEntries) SQ, \(cqEntries) CQ entries)", error.errno, hint: setupHint(error.errno))
        }
        return (note == nil, note)
    }

    /// Creates the ring with SQPOLL (Linux 5.13+ without privileges):
    /// the kernel thread sleeps after `idleMillis` without work. With
    /// SINGLE_ISSUER (6.0+) where the kernel takes it, else without.
    /// DEFER_TASKRUN is not asked for: the kernel refuses it with SQPOLL
    /// (EINVAL), since completions then run on the poll thread.
    static func setUpSQPoll(_ uring: UnsafeMutablePointer<io_uring>, sqEntries: UInt32, cqEntries: UInt32, idleMillis: Int,
                            extra: UInt32) throws(PathError) {
        var failed: Errno?
        for flags in [IORING_SETUP_CQSIZE | IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_CQSIZE | IORING_SETUP_SQPOLL] {
            var p = io_uring_params()
            p.flags = flags | extra
            p.cq_entries = cqEntries
            p.sq_thread_idle = UInt32(idleMillis)
            do throws(PathError) { try Sys.uringQueueInit(sqEntries, uring, &p); failed = nil } catch { failed = error.errno }
            if failed != .invalidArgument { break }
        }
        if let e = failed {
            let hint = e == .notPermitted ? "SQPOLL needs Linux 5.13+ for an unprivileged process (before: CAP_SYS_ADMIN, or CAP_SYS_NICE from 5.11), and io_uring must be allowed (kernel.io_uring_disabled, seccomp)"
                : e == .invalidArgument ? "this kernel refuses IORING_SETUP_SQPOLL with these flags; run without --uring-sqpoll" : setupHint(e)
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

    /// The ring's restriction set (docs/sandbox.md), registered on the
    /// disabled ring once its buffer ring, file, NAPI and eventfd are
    /// registered, then the ring is enabled: the operations the path submits
    /// (multishot recvmsg, sendmsg or sendmsg_zc, and the teardown's
    /// cancel), the SQE flags it sets, and the register operations its
    /// teardown still makes (the matching unregisters). Seccomp sees only
    /// io_uring_enter, not what it carries; this is what bounds it.
    static func restrict(_ uring: UnsafeMutablePointer<io_uring>, zeroCopy: Bool) throws(PathError) {
        var ops = [IORING_OP_RECVMSG, IORING_OP_ASYNC_CANCEL, IORING_OP_SENDMSG]
        if zeroCopy { ops.append(IORING_OP_SENDMSG_ZC) }
        let unregister = [UInt32(IORING_UNREGISTER_FILES), UInt32(IORING_UNREGISTER_EVENTFD),
                          UInt32(IORING_UNREGISTER_PBUF_RING), WP_IORING_UNREGISTER_NAPI]
        let flags = UInt8(WP_IOSQE_FIXED_FILE | WP_IOSQE_BUFFER_SELECT | WP_IOSQE_CQE_SKIP_SUCCESS)
        do throws(PathError) { try Sys.uringRestrictAndEnable(uring, sqeOps: ops, registerOps: unregister, sqeFlags: flags) } catch {
            throw Sys.error(error.operation, error.errno,
                            hint: "io_uring restrictions need Linux 5.10+; run with --sandbox off to go without them")
        }
    }

    static func setupHint(_ e: Errno) -> String? {
        switch e.rawValue {
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
            if acquired.eventFDRegistered { try? Sys.uringUnregisterEventFD(uring) }
            if acquired.bufRingRegistered { try? Sys.uringUnregisterBufRing(uring, group: UringPath.bufferGroup) }
            if acquired.napiRegistered { try? Sys.uringUnregisterNAPI(uring) }
            if acquired.fileRegistered { try? Sys.uringUnregisterFiles(uring) }
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
            if case .failure(let e) = Sys.uringSubmitAndWait(uring, 1, tick), e != .timeout { return }
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
