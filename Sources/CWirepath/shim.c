#define _GNU_SOURCE
#include "CWirepath.h"
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>

_Static_assert(sizeof(struct wp_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr layout");

int wp_sendmmsg(int fd, struct wp_mmsghdr *msgs, unsigned int vlen, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)msgs, vlen, flags);
}

int wp_recvmmsg(int fd, struct wp_mmsghdr *msgs, unsigned int vlen, int flags) {
    // The timeout argument of recvmmsg is only checked between datagrams;
    // callers bound their waits with SO_RCVTIMEO or poll instead.
    return recvmmsg(fd, (struct mmsghdr *)msgs, vlen, flags, NULL);
}

int wp_setns(int fd, int nstype) { return setns(fd, nstype); }

int wp_gettid(void) { return (int)syscall(SYS_gettid); }

int wp_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int wp_pin_self(int cpu) { return wp_pin_thread(0, cpu); }

int wp_pin_thread(int tid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = sched_setaffinity(tid, sizeof(set), &set);
    return rc == 0 ? 0 : -errno;
}

int wp_perf_tracepoint_open(uint64_t tracepoint_id) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof(attr);
    attr.config = tracepoint_id;
    attr.disabled = 1;
    // Count in kernel context too: sys_enter fires there. No inherit: only
    // this thread is measured, so the peer thread cannot hide its cost here.
    attr.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &attr, 0 /* this thread */, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

int wp_perf_enable(int fd) { return ioctl(fd, PERF_EVENT_IOC_ENABLE, 0); }
int wp_perf_disable(int fd) { return ioctl(fd, PERF_EVENT_IOC_DISABLE, 0); }
int wp_perf_reset(int fd) { return ioctl(fd, PERF_EVENT_IOC_RESET, 0); }

const char *wp_errno_name(int err) {
    const char *n = strerrorname_np(err);
    return n ? n : "E?";
}
