// CWirepath: the few Linux calls and constants that Swift cannot import
// from Glibc as they are. Everything here is a thin, stateless wrapper;
// the Swift side (System.swift) is the only caller and owns errno handling.
#ifndef CWIREPATH_H
#define CWIREPATH_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>

// recvmmsg/sendmmsg, setns, gettid and the CPU_* macros are declared only
// under _GNU_SOURCE, which Swift's Glibc module does not define; struct
// mmsghdr is also hidden there. These shims give them stable prototypes.
struct wp_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

int wp_sendmmsg(int fd, struct wp_mmsghdr *msgs, unsigned int vlen, int flags);
int wp_recvmmsg(int fd, struct wp_mmsghdr *msgs, unsigned int vlen, int flags);
int wp_setns(int fd, int nstype);
int wp_gettid(void);
/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC): <sys/eventfd.h> is not in Swift's
/// Glibc module. Returns the fd, or -1 with errno.
int wp_eventfd(void);
/// Pins the calling thread to one CPU; returns 0 or -errno.
int wp_pin_self(int cpu);
/// Pins thread `tid` (any task, such as a kernel thread) to one CPU; returns 0 or -errno.
int wp_pin_thread(int tid, int cpu);
/// perf_event_open(2) has no glibc wrapper and syscall(2) is variadic, which
/// Swift cannot call. Opens a counting, initially disabled tracepoint event
/// for the calling thread (pid 0, any CPU). Returns the fd, or -1 with errno.
int wp_perf_tracepoint_open(uint64_t tracepoint_id);
/// PERF_EVENT_IOC_ENABLE/DISABLE/RESET are _IO() macros, which do not import.
int wp_perf_enable(int fd);
int wp_perf_disable(int fd);
int wp_perf_reset(int fd);
/// "EAGAIN" for EAGAIN; strerrorname_np is a GNU extension (glibc 2.32).
const char *wp_errno_name(int err);

// Socket options from <asm-generic/socket.h> that older libc headers lack.
static const int WP_SO_BUSY_POLL = 46;
static const int WP_SO_INCOMING_NAPI_ID = 56;
static const int WP_SO_PREFER_BUSY_POLL = 69;
static const int WP_SO_BUSY_POLL_BUDGET = 70;
static const int WP_MSG_WAITFORONE = 0x10000;
static const int WP_MSG_DONTWAIT = 0x40;

#endif
