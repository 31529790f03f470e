// CLiburing: liburing for Swift, plus the few pieces Swift cannot import.
//
// liburing's inline helpers (io_uring_get_sqe, io_uring_prep_*, the buffer
// ring helpers, io_uring_cq_advance) import into Swift as they are and are
// called directly from UringPath.swift. This header adds only what does not
// import, each with the reason.
#ifndef CLIBURING_H
#define CLIBURING_H

// Order matters: Swift's Glibc module and <liburing.h> both reach fd_set and
// the CPU_* types; including these two first makes liburing see the glibc
// definitions rather than redeclaring them, which otherwise breaks a clean
// build with an fd_set clash against Glibc.
#include <sys/types.h>
#include <sched.h>
#include <liburing.h>

// The IOSQE_* flags are macros of the form (1U << IOSQE_*_BIT), where the BIT
// is an enum constant; Swift imports macros only when they are plain literals,
// so these are spelled out here as constants.
static const unsigned WP_IOSQE_FIXED_FILE = 1U << IOSQE_FIXED_FILE_BIT;
static const unsigned WP_IOSQE_IO_LINK = 1U << IOSQE_IO_LINK_BIT;
static const unsigned WP_IOSQE_BUFFER_SELECT = 1U << IOSQE_BUFFER_SELECT_BIT;
static const unsigned WP_IOSQE_CQE_SKIP_SUCCESS = 1U << IOSQE_CQE_SKIP_SUCCESS_BIT;

// send_zc usage reports (Linux 6.2), newer than liburing 2.3's headers:
// IORING_SEND_ZC_REPORT_USAGE goes in the SQE's ioprio; the notification CQE
// (IORING_CQE_F_NOTIF) then carries IORING_NOTIF_USAGE_ZC_COPIED in `res`
// when the kernel had to copy the data after all. Values from the kernel's
// include/uapi/linux/io_uring.h.
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif
static const unsigned short WP_IORING_SEND_ZC_REPORT_USAGE = IORING_SEND_ZC_REPORT_USAGE;
static const unsigned WP_IORING_NOTIF_USAGE_ZC_COPIED = IORING_NOTIF_USAGE_ZC_COPIED;

// IORING_REGISTER_NAPI (Linux 6.9+): NAPI busy polling done by the ring
// while it waits for completions (and by an SQPOLL thread). liburing 2.3 has
// neither io_uring_register_napi nor the struct, so they are spelled here
// from the kernel's include/uapi/linux/io_uring.h (6.9 layout). Linux 6.13
// split `pad` into an opcode and `resv` into a parameter; zeros in both mean
// "register" with dynamic NAPI id tracking, as in 6.9. The kernel writes the
// previous settings back into the struct.
struct wp_io_uring_napi {
    __u32 busy_poll_to;      // µs
    __u8 prefer_busy_poll;
    __u8 pad[3];
    __u64 resv;
};
static const unsigned WP_IORING_REGISTER_NAPI = 27;
static const unsigned WP_IORING_UNREGISTER_NAPI = 28;

// The batch-wait ("min timeout") enter (Linux 6.12+, IORING_FEAT_MIN_TIMEOUT):
// wait for `wait_nr` completions, but once `min_wait_usec` has passed return
// with whatever is there (at least one), and with none by `ts`. With
// DEFER_TASKRUN the kernel wakes the waiting thread only when `wait_nr`
// completions are due or a timer fires, so a flood receiver is woken once
// per batch instead of once per packet. liburing 2.3 predates the field (its
// io_uring_getevents_arg has `pad` where 6.12 put `min_wait_usec`) and has no
// helper, so the struct is spelled here from the kernel's uapi header and
// the SQ is flushed as io_uring_submit would (release store of the tail).
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif
static const unsigned WP_IORING_FEAT_MIN_TIMEOUT = IORING_FEAT_MIN_TIMEOUT;

struct wp_io_uring_getevents_arg {
    __u64 sigmask;
    __u32 sigmask_sz;
    __u32 min_wait_usec;
    __u64 ts;
};

/// One io_uring_enter(2): submits the queued SQEs and waits as above.
/// Returns what the syscall returns: the SQEs consumed, or -1 with errno.
/// Only for a ring without SQPOLL and without a registered ring fd, which
/// is how UringPath sets up the rings it uses this on. In shim.c, which may
/// include <unistd.h> without its declarations landing in this module.
int wp_io_uring_submit_and_wait_min(struct io_uring *ring, unsigned wait_nr,
                                    struct __kernel_timespec *ts, unsigned min_wait_usec);

/// Copies pointers to up to `max` ready CQEs, oldest first, into `cqes` and
/// returns how many. Never enters the kernel and never advances the CQ: the
/// caller processes the batch, then calls io_uring_cq_advance once.
///
/// Why not io_uring_peek_batch_cqe: in liburing 2.3 it calls io_uring_enter
/// by itself when the CQ is empty and IORING_SQ_TASKRUN or CQ_OVERFLOW is
/// set, which would hide a syscall from the path's counters. The path decides
/// when to enter. io_uring_for_each_cqe is a macro, which Swift cannot call.
static inline unsigned wp_io_uring_peek_cqes(struct io_uring *ring,
                                             struct io_uring_cqe **cqes,
                                             unsigned max)
{
    unsigned head, n = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(ring, head, cqe) {
        if (n == max)
            break;
        cqes[n++] = cqe;
    }
    return n;
}

/// The SQ ring flags (IORING_SQ_TASKRUN, IORING_SQ_CQ_OVERFLOW, ...). The
/// kernel updates them concurrently; Swift has no READ_ONCE, so a plain load
/// could be hoisted out of a spin loop.
static inline unsigned wp_io_uring_sq_flags(const struct io_uring *ring)
{
    return IO_URING_READ_ONCE(*ring->sq.kflags);
}

/// Sets the provided-buffer group of an SQE. `buf_group` sits in an anonymous
/// packed union with `buf_index`, which Swift does not import as a field.
static inline void wp_io_uring_sqe_set_buf_group(struct io_uring_sqe *sqe,
                                                 unsigned short group)
{
    sqe->buf_group = group;
}

/// SQPOLL submit: what io_uring_submit(3) does on an IORING_SETUP_SQPOLL
/// ring, plus telling the caller whether it woke the kernel thread, which
/// io_uring_submit does not (the path counts wakeups). Publishes the queued
/// SQEs with a store-release of the SQ tail (the kernel thread reads the
/// SQEs only after it sees the tail), then, after a full barrier that orders
/// that store before the flag load (the thread sets IORING_SQ_NEED_WAKEUP,
/// then re-checks the tail before it sleeps, so one of the two sides always
/// sees the other), enters the kernel with IORING_ENTER_SQ_WAKEUP only if the
/// thread has said it is going to sleep. This is liburing 2.3's
/// __io_uring_flush_sq and sq_ring_needs_enter, which are static there.
///
/// Returns the SQEs not yet consumed by the thread, or -errno from
/// io_uring_enter; `*woke` is set when it entered.
static inline int wp_io_uring_sqpoll_submit(struct io_uring *ring, bool *woke)
{
    struct io_uring_sq *sq = &ring->sq;
    unsigned tail = sq->sqe_tail;
    unsigned pending;

    *woke = false;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    pending = tail - io_uring_smp_load_acquire(sq->khead);
    if (!pending)
        return 0;
    io_uring_smp_mb();
    if (IO_URING_READ_ONCE(*sq->kflags) & IORING_SQ_NEED_WAKEUP) {
        int r = io_uring_enter(ring->ring_fd, pending, 0, IORING_ENTER_SQ_WAKEUP, NULL);
        *woke = true;
        if (r < 0)
            return r;
    }
    return (int)pending;
}

#endif
