// Sys+Uring.swift — the liburing calls, wrapped once (see WirepathIO/System/Sys.swift
// for the rules). Setup calls throw `PathError`; the data-path calls
// (submit, wait, get events) return `Result<Int, Errno>`.
import CLiburing
import CWirepath
import Glibc
import WirepathIO

extension Sys {

    /// io_uring_register_eventfd(3): the kernel signals `fd` when the ring
    /// posts completions (and, on a DEFER_TASKRUN ring, when it queues
    /// completions for the submitter to run). Throws the errno.
    package static func uringRegisterEventFD(_ ring: UnsafeMutablePointer<io_uring>, _ fd: CInt) throws(PathError) {
        try check(retryEINTR(returnsNegativeErrno: true, { Int(io_uring_register_eventfd(ring, fd)) }), "io_uring_register_eventfd")
    }

    /// io_uring_unregister_eventfd(3). Throws the errno.
    package static func uringUnregisterEventFD(_ ring: UnsafeMutablePointer<io_uring>) throws(PathError) {
        try check(retryEINTR(returnsNegativeErrno: true, { Int(io_uring_unregister_eventfd(ring)) }), "io_uring_unregister_eventfd")
    }


    // MARK: io_uring (liburing, which returns -errno itself)

    /// io_uring_queue_init_params(3): io_uring_setup(2) and the ring mmaps.
    /// Throws the errno (ENOSYS: no io_uring; EPERM: disabled by sysctl or
    /// seccomp; EINVAL: a setup flag this kernel does not know).
    package static func uringQueueInit(_ entries: UInt32, _ ring: UnsafeMutablePointer<io_uring>, _ params: UnsafeMutablePointer<io_uring_params>) throws(PathError) {
        try check(negativeErrno(Int(io_uring_queue_init_params(entries, ring, params))), "io_uring_queue_init")
    }

    /// io_uring_queue_exit(3): unmaps the rings and closes the ring fd; the
    /// kernel cancels what is still in flight. Never retried, like close.
    package static func uringQueueExit(_ ring: UnsafeMutablePointer<io_uring>) {
        io_uring_queue_exit(ring)
    }

    /// io_uring_submit(3): one io_uring_enter(2) for the queued SQEs.
    /// Returns the SQEs the kernel consumed.
    @inline(__always)
    package static func uringSubmit(_ ring: UnsafeMutablePointer<io_uring>) -> Result<Int, Errno> {
        retryEINTR(returnsNegativeErrno: true, { Int(io_uring_submit(ring)) })
    }

    /// io_uring_submit_and_wait_timeout(3): submits the queued SQEs and waits
    /// for `waitNr` CQEs or `timeout`, in one io_uring_enter(2) with
    /// IORING_ENTER_EXT_ARG (Linux 5.11+). Returns >= 0 when completions may
    /// be ready, or the errno: ETIME on timeout. An EINTR restarts the wait.
    @inline(__always)
    package static func uringSubmitAndWait(_ ring: UnsafeMutablePointer<io_uring>, _ waitNr: UInt32,
                                   _ timeout: UnsafeMutablePointer<__kernel_timespec>) -> Result<Int, Errno> {
        var cqe: UnsafeMutablePointer<io_uring_cqe>?
        return retryEINTR(returnsNegativeErrno: true, { Int(io_uring_submit_and_wait_timeout(ring, &cqe, waitNr, timeout, nil)) })
    }

    /// The same wait for a batch: `waitNr` CQEs, or whatever has come (at
    /// least one) once `minWaitMicros` has passed, or none by `timeout`
    /// (IORING_FEAT_MIN_TIMEOUT, Linux 6.12+; see
    /// `wp_io_uring_submit_and_wait_min`). Returns >= 0, or the errno (ETIME).
    @inline(__always)
    package static func uringSubmitAndWaitBatch(_ ring: UnsafeMutablePointer<io_uring>, _ waitNr: UInt32,
                                        _ timeout: UnsafeMutablePointer<__kernel_timespec>, minWaitMicros: UInt32) -> Result<Int, Errno> {
        retryEINTR { Int(wp_io_uring_submit_and_wait_min(ring, waitNr, timeout, minWaitMicros)) }
    }

    /// io_uring_submit_and_get_events(3) when `submit`, else
    /// io_uring_get_events(3): one io_uring_enter(2) with
    /// IORING_ENTER_GETEVENTS and no wait, which runs deferred task work
    /// (DEFER_TASKRUN) and flushes an overflowed CQ. Returns >= 0.
    @inline(__always)
    package static func uringGetEvents(_ ring: UnsafeMutablePointer<io_uring>, submit: Bool) -> Result<Int, Errno> {
        retryEINTR(returnsNegativeErrno: true, { Int(submit ? io_uring_submit_and_get_events(ring) : io_uring_get_events(ring)) })
    }

    /// io_uring_register_files(3) for one descriptor, at fixed index 0.
    /// Throws the errno.
    package static func uringRegisterFile(_ ring: UnsafeMutablePointer<io_uring>, _ fd: CInt) throws(PathError) {
        var fds = fd
        try check(retryEINTR(returnsNegativeErrno: true, { Int(io_uring_register_files(ring, &fds, 1)) }), "io_uring_register_files")
    }

    /// io_uring_unregister_files(3). Throws the errno.
    package static func uringUnregisterFiles(_ ring: UnsafeMutablePointer<io_uring>) throws(PathError) {
        try check(retryEINTR(returnsNegativeErrno: true, { Int(io_uring_unregister_files(ring)) }), "io_uring_unregister_files")
    }

    /// io_uring_register_buf_ring(3) (IORING_REGISTER_PBUF_RING, Linux 5.19+).
    /// Throws the errno.
    package static func uringRegisterBufRing(_ ring: UnsafeMutablePointer<io_uring>, _ reg: UnsafeMutablePointer<io_uring_buf_reg>) throws(PathError) {
        try check(retryEINTR(returnsNegativeErrno: true, { Int(io_uring_register_buf_ring(ring, reg, 0)) }), "io_uring_register_buf_ring")
    }

    /// io_uring_unregister_buf_ring(3). Throws the errno.
    package static func uringUnregisterBufRing(_ ring: UnsafeMutablePointer<io_uring>, group: UInt16) throws(PathError) {
        try check(retryEINTR(returnsNegativeErrno: true, { Int(io_uring_unregister_buf_ring(ring, Int32(group))) }), "io_uring_unregister_buf_ring")
    }

    /// io_uring_register(2) IORING_REGISTER_NAPI (opcode 27, Linux 6.9+):
    /// the ring busy-polls the NAPI contexts of its sockets for `micros` µs
    /// before it sleeps in a wait. Throws the errno (EINVAL: a kernel
    /// before 6.9, or built without CONFIG_NET_RX_BUSY_POLL).
    package static func uringRegisterNAPI(_ ring: UnsafeMutablePointer<io_uring>, micros: Int, prefer: Bool) throws(PathError) {
        var napi = wp_io_uring_napi()
        napi.busy_poll_to = UInt32(micros)
        napi.prefer_busy_poll = prefer ? 1 : 0
        try check(retryEINTR(returnsNegativeErrno: true, {
            Int(io_uring_register(UInt32(ring.pointee.ring_fd), WP_IORING_REGISTER_NAPI, &napi, 1))
        }), "io_uring_register(IORING_REGISTER_NAPI)")
    }

    /// io_uring_register(2) IORING_UNREGISTER_NAPI (opcode 28). Throws the errno.
    package static func uringUnregisterNAPI(_ ring: UnsafeMutablePointer<io_uring>) throws(PathError) {
        var napi = wp_io_uring_napi()
        try check(retryEINTR(returnsNegativeErrno: true, {
            Int(io_uring_register(UInt32(ring.pointee.ring_fd), WP_IORING_UNREGISTER_NAPI, &napi, 1))
        }), "io_uring_register(IORING_UNREGISTER_NAPI)")
    }

    /// IORING_REGISTER_RESTRICTIONS (
    /// Linux 5.10+) on a ring created with IORING_SETUP_R_DISABLED: once it
    /// is enabled, only `sqeOps` may be submitted, with no SQE flag outside
    /// `sqeFlags`, and only `registerOps` may be registered; anything else
    /// fails with EACCES. Then IORING_REGISTER_ENABLE_RINGS. Throws the errno.
    package static func uringRestrictAndEnable(_ ring: UnsafeMutablePointer<io_uring>, sqeOps: [io_uring_op],
                                               registerOps: [UInt32], sqeFlags: UInt8) throws(PathError) {
        var rules: [io_uring_restriction] = []
        for op in sqeOps {
            var r = io_uring_restriction()
            r.opcode = UInt16(IORING_RESTRICTION_SQE_OP)
            r.sqe_op = UInt8(op.rawValue)
            rules.append(r)
        }
        for op in registerOps {
            var r = io_uring_restriction()
            r.opcode = UInt16(IORING_RESTRICTION_REGISTER_OP)
            r.register_op = UInt8(op)
            rules.append(r)
        }
        var flags = io_uring_restriction()
        flags.opcode = UInt16(IORING_RESTRICTION_SQE_FLAGS_ALLOWED)
        flags.sqe_flags = sqeFlags
        rules.append(flags)
        // Debian's liburing 2.3 exports neither io_uring_register_restrictions
        // nor io_uring_enable_rings (its header declares them): the raw
        // io_uring_register(2) it does export takes both opcodes.
        let fd = UInt32(ring.pointee.ring_fd)
        let count = UInt32(rules.count)
        try check(negativeErrno(Int(rules.withUnsafeMutableBufferPointer {
            io_uring_register(fd, UInt32(IORING_REGISTER_RESTRICTIONS), $0.baseAddress, count)
        })), "io_uring_register(IORING_REGISTER_RESTRICTIONS)")
        try check(negativeErrno(Int(io_uring_register(fd, UInt32(IORING_REGISTER_ENABLE_RINGS), nil, 0))),
                  "io_uring_register(IORING_REGISTER_ENABLE_RINGS)")
    }

    /// Whether the ring's kernel supports `op`: io_uring_get_probe_ring(3)
    /// (IORING_REGISTER_PROBE, Linux 5.6+) and io_uring_opcode_supported(3).
    /// nil when the kernel cannot be asked. Allocates (the probe): setup only.
    package static func uringOpcodeSupported(_ ring: UnsafeMutablePointer<io_uring>, _ op: io_uring_op) -> Bool? {
        guard let probe = io_uring_get_probe_ring(ring) else { return nil }
        defer { io_uring_free_probe(probe) }
        return io_uring_opcode_supported(probe, Int32(op.rawValue)) != 0
    }

    /// Publishes the queued SQEs to an SQPOLL ring's kernel thread and wakes
    /// the thread only if it has gone to sleep (`wp_io_uring_sqpoll_submit`:
    /// io_uring_enter(2) with IORING_ENTER_SQ_WAKEUP when the kernel has set
    /// IORING_SQ_NEED_WAKEUP, else no syscall). Returns the SQEs published, and
    /// whether it entered the kernel to wake the thread.
    @inline(__always)
    package static func uringSQPollSubmit(_ ring: UnsafeMutablePointer<io_uring>) -> (Result<Int, Errno>, woke: Bool) {
        var woke = false
        let r = retryEINTR(returnsNegativeErrno: true, { Int(wp_io_uring_sqpoll_submit(ring, &woke)) })
        return (r, woke)
    }

    /// The errno of a failed completion: a CQE's `res` is `-errno`.
    @inline(__always)
    package static func completionErrno(_ res: Int32) -> Errno { Errno(rawValue: -res) }
}
