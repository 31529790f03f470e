// SwiftPM builds a C target only when it has a source file. Most of what
// CLiburing adds is static inline in include/CLiburing.h; this unit checks
// that the header compiles on its own and holds the one function that needs
// headers the Swift side must not see through this module.
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CLiburing.h"

int wp_io_uring_submit_and_wait_min(struct io_uring *ring, unsigned wait_nr,
                                    struct __kernel_timespec *ts, unsigned min_wait_usec)
{
    struct io_uring_sq *sq = &ring->sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    unsigned submit = tail - IO_URING_READ_ONCE(*sq->khead);
    struct wp_io_uring_getevents_arg arg = {
        .sigmask = 0, .sigmask_sz = _NSIG / 8, .min_wait_usec = min_wait_usec,
        .ts = (__u64)(uintptr_t)ts,
    };
    return (int)syscall(__NR_io_uring_enter, ring->ring_fd, submit, wait_nr,
                        IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
}

