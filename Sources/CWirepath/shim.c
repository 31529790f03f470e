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

// The data path's calls go through syscall(2) rather than glibc's
// wrappers, which are cancellation points: in a multi-threaded process each
// wrapper call enables and disables asynchronous cancellation around the
// syscall (two atomic read-modify-writes). Wirepath never cancels a thread.
// Every argument is widened to long: syscall(2) is variadic, and a 32-bit
// variadic argument leaves its register's upper half undefined.
int wp_sendmmsg(int fd, struct wp_mmsghdr *msgs, unsigned int vlen, int flags) {
    return (int)syscall(SYS_sendmmsg, (long)fd, (struct mmsghdr *)msgs, (unsigned long)vlen, (long)flags);
}

int wp_recvmmsg(int fd, struct wp_mmsghdr *msgs, unsigned int vlen, int flags) {
    // The timeout argument of recvmmsg is only checked between datagrams;
    // callers bound their waits with SO_RCVTIMEO or poll instead.
    return (int)syscall(SYS_recvmmsg, (long)fd, (struct mmsghdr *)msgs, (unsigned long)vlen, (long)flags, (void *)NULL);
}

long wp_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t addrlen) {
    return syscall(SYS_sendto, (long)fd, buf, len, (long)flags, addr, (unsigned long)addrlen);
}

long wp_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *addrlen) {
    return syscall(SYS_recvfrom, (long)fd, buf, len, (long)flags, addr, addrlen);
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

#include <sys/mount.h>

int wp_unshare_private_mounts(void) {
    if (unshare(CLONE_NEWNS) != 0)
        return -errno;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return -errno;
    return 0;
}

int wp_mount_bpffs(const char *path) {
    return mount("bpf", path, "bpf", 0, "mode=0700") == 0 ? 0 : -errno;
}

// ---- generic netlink: the "netdev" family's XDP features -----------------
#include <linux/netlink.h>
#include <linux/genetlink.h>
#include <sys/time.h>

// <linux/netdev.h> (Linux 6.3+) is not in Debian 12's 6.1 uapi headers.
enum { WP_NETDEV_CMD_DEV_GET = 1 };
enum {
    WP_NETDEV_A_DEV_IFINDEX = 1,
    WP_NETDEV_A_DEV_XDP_FEATURES = 3,
    WP_NETDEV_A_DEV_XDP_ZC_MAX_SEGS = 4,
};

struct wp_genl_req {
    struct nlmsghdr n;
    struct genlmsghdr g;
    char attrs[64];
};

// Appends one attribute; the buffer is sized for the two requests below.
static void wp_nla_put(struct wp_genl_req *req, unsigned short type, const void *data, unsigned short len) {
    struct nlattr *a = (struct nlattr *)((char *)req + NLMSG_ALIGN(req->n.nlmsg_len));
    a->nla_type = type;
    a->nla_len = (unsigned short)(NLA_HDRLEN + len);
    memcpy((char *)a + NLA_HDRLEN, data, len);
    req->n.nlmsg_len = NLMSG_ALIGN(req->n.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

// Sends `req` and reads its one reply into `buf`. Returns the reply's
// length, or -errno (a NLMSG_ERROR reply's own error included).
static int wp_genl_call(int fd, struct wp_genl_req *req, char *buf, size_t cap) {
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, req, req->n.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return -errno;
    ssize_t n = recv(fd, buf, cap, 0);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(h, (unsigned int)n) || h->nlmsg_seq != req->n.nlmsg_seq)
        return -EPROTO;
    if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        return e->error < 0 ? e->error : -EPROTO;
    }
    return (int)n;
}

// Walks the attributes of the genetlink message at the start of `buf`;
// `rem` holds the bytes after its headers, and a truncated attribute ends it.
#define WP_FOR_EACH_ATTR(buf, a, rem)                                                   \
    for (struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA((struct nlmsghdr *)(buf)) + GENL_HDRLEN); \
         (rem) >= (int)NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= (rem);  \
         (rem) -= NLA_ALIGN(a->nla_len), a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len)))

int wp_netdev_xdp_features(unsigned int ifindex, struct wp_netdev_xdp *out) {
    memset(out, 0, sizeof(*out));
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    if (fd < 0)
        return -errno;
    // A bound wait: a kernel that never answers must not hang `doctor`.
    struct timeval tv = { .tv_sec = 1 };
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    int err;

    // 1. The family id of "netdev" (dynamic, so asked of the controller).
    struct wp_genl_req req;
    memset(&req, 0, sizeof(req));
    req.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
    req.n.nlmsg_type = GENL_ID_CTRL;
    req.n.nlmsg_flags = NLM_F_REQUEST;
    req.n.nlmsg_seq = 1;
    req.g.cmd = CTRL_CMD_GETFAMILY;
    req.g.version = 1;
    wp_nla_put(&req, CTRL_ATTR_FAMILY_NAME, "netdev", sizeof("netdev"));
    int n = wp_genl_call(fd, &req, buf, sizeof(buf));
    if (n < 0) { err = n; goto out; }
    int family = -1;
    int rem = n - (int)NLMSG_LENGTH(GENL_HDRLEN);
    WP_FOR_EACH_ATTR(buf, a, rem) {
        if (a->nla_type == CTRL_ATTR_FAMILY_ID && a->nla_len >= NLA_HDRLEN + 2)
            family = *(uint16_t *)((char *)a + NLA_HDRLEN);
    }
    if (family < 0) { err = -EPROTO; goto out; }

    // 2. NETDEV_CMD_DEV_GET for the one device.
    memset(&req, 0, sizeof(req));
    req.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
    req.n.nlmsg_type = (unsigned short)family;
    req.n.nlmsg_flags = NLM_F_REQUEST;
    req.n.nlmsg_seq = 2;
    req.g.cmd = WP_NETDEV_CMD_DEV_GET;
    req.g.version = 1;
    uint32_t idx = ifindex;
    wp_nla_put(&req, WP_NETDEV_A_DEV_IFINDEX, &idx, sizeof(idx));
    n = wp_genl_call(fd, &req, buf, sizeof(buf));
    if (n < 0) { err = n; goto out; }
    int seen = 0;
    rem = n - (int)NLMSG_LENGTH(GENL_HDRLEN);
    WP_FOR_EACH_ATTR(buf, a, rem) {
        char *v = (char *)a + NLA_HDRLEN;
        if (a->nla_type == WP_NETDEV_A_DEV_XDP_FEATURES && a->nla_len >= NLA_HDRLEN + 8) {
            memcpy(&out->xdp_features, v, 8); // u64, possibly only 4-byte aligned
            seen = 1;
        } else if (a->nla_type == WP_NETDEV_A_DEV_XDP_ZC_MAX_SEGS && a->nla_len >= NLA_HDRLEN + 4) {
            memcpy(&out->zc_max_segs, v, 4);
            out->has_zc_max_segs = 1;
        }
    }
    err = seen ? 0 : -EPROTO;
out:
    close(fd);
    return err;
}

// ---- The data thread's sandbox ------------------------------------------
//
// Raw classic BPF from the kernel headers rather than libseccomp: the
// filter is one architecture check and a list of equality tests, a few
// dozen instructions, and the shim stays a libc-only product (no new
// library to link, package, or find on the host).
#include <stddef.h>
#include <sys/prctl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__)
#define WP_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define WP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "wp_sandbox_install: add this architecture's AUDIT_ARCH_* value"
#endif

struct wp_syscall_entry { const char *name; int nr; };

// Every call an allow-list may name; a name missing on this architecture
// (no __NR_ macro) is left out and resolves to -1.
#define WP_SC(n) { #n, __NR_##n },
static const struct wp_syscall_entry wp_syscalls[] = {
    WP_SC(read) WP_SC(write) WP_SC(close) WP_SC(lseek) WP_SC(pread64) WP_SC(readv) WP_SC(writev)
    WP_SC(openat) WP_SC(newfstatat) WP_SC(fstat) WP_SC(statx) WP_SC(getdents64) WP_SC(ioctl) WP_SC(fcntl)
    WP_SC(mmap) WP_SC(munmap) WP_SC(mprotect) WP_SC(madvise) WP_SC(mremap) WP_SC(brk)
    WP_SC(futex) WP_SC(sched_yield) WP_SC(nanosleep) WP_SC(clock_nanosleep) WP_SC(clock_gettime)
    WP_SC(gettimeofday) WP_SC(getrusage) WP_SC(gettid) WP_SC(getpid) WP_SC(getuid) WP_SC(geteuid)
    WP_SC(rt_sigprocmask) WP_SC(rt_sigreturn) WP_SC(sigaltstack) WP_SC(tgkill) WP_SC(exit) WP_SC(exit_group)
    WP_SC(set_robust_list) WP_SC(rseq) WP_SC(getrandom) WP_SC(prctl) WP_SC(sched_getaffinity)
    WP_SC(recvfrom) WP_SC(sendto) WP_SC(recvmsg) WP_SC(sendmsg) WP_SC(recvmmsg) WP_SC(sendmmsg)
    WP_SC(getsockopt) WP_SC(setsockopt) WP_SC(getsockname) WP_SC(socket) WP_SC(bind) WP_SC(connect)
    WP_SC(epoll_wait) WP_SC(epoll_pwait) WP_SC(epoll_pwait2) WP_SC(epoll_ctl) WP_SC(ppoll) WP_SC(pselect6)
    WP_SC(io_uring_enter) WP_SC(io_uring_register) WP_SC(io_uring_setup)
    WP_SC(perf_event_open) WP_SC(bpf) WP_SC(execve) WP_SC(capget) WP_SC(capset) WP_SC(seccomp)
#ifdef __NR_poll
    WP_SC(poll)
#endif
#ifdef __NR_select
    WP_SC(select)
#endif
#ifdef __NR_epoll_wait_old
    WP_SC(epoll_wait_old)
#endif
#ifdef __NR_open
    WP_SC(open)
#endif
#ifdef __NR_stat
    WP_SC(stat)
#endif
#ifdef __NR_lstat
    WP_SC(lstat)
#endif
#ifdef __NR_readlink
    WP_SC(readlink)
#endif
    WP_SC(readlinkat) WP_SC(faccessat)
#ifdef __NR_access
    WP_SC(access)
#endif
};
#undef WP_SC

int wp_syscall_number(const char *name) {
    for (size_t i = 0; i < sizeof(wp_syscalls) / sizeof(wp_syscalls[0]); i++)
        if (strcmp(wp_syscalls[i].name, name) == 0) return wp_syscalls[i].nr;
    return -1;
}

const char *wp_syscall_name(int nr) {
    for (size_t i = 0; i < sizeof(wp_syscalls) / sizeof(wp_syscalls[0]); i++)
        if (wp_syscalls[i].nr == nr) return wp_syscalls[i].name;
    return NULL;
}

#define WP_SANDBOX_MAX 200

int wp_sandbox_install(const int *allowed, int count, int log_only) {
    if (count < 0 || count > WP_SANDBOX_MAX) return -E2BIG;
    const unsigned deny = log_only ? SECCOMP_RET_LOG : (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
    struct sock_filter f[WP_SANDBOX_MAX + 8];
    int n = 0;
    // Another architecture's numbers mean other calls: refuse them all.
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, WP_AUDIT_ARCH, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, deny);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    // The x32 ABI shares AUDIT_ARCH_X86_64 and sets bit 30 of the number.
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, deny);
#endif
    // One test per allowed call: a match jumps past the rest and the
    // default to the ALLOW at the end (jt counts instructions skipped).
    for (int i = 0; i < count; i++)
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)allowed[i], (unsigned char)(count - i), 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, deny);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    // No SECCOMP_FILTER_FLAG_TSYNC: the filter binds this thread (and any
    // it creates) only.
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return -errno;
    return 0;
}

int wp_caps_limit(uint64_t keep, uint64_t effective) {
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &h, d) != 0) return -errno;
    uint64_t permitted = (uint64_t)d[0].permitted | ((uint64_t)d[1].permitted << 32);
    uint64_t want = permitted & keep;
    uint64_t eff = want & effective;
    for (int i = 0; i < 2; i++) {
        d[i].permitted = (uint32_t)(want >> (32 * i));
        d[i].effective = (uint32_t)(eff >> (32 * i));
        d[i].inheritable = 0;
    }
    h.pid = 0; // this thread
    if (syscall(SYS_capset, &h, d) != 0) return -errno;
    return 0;
}

int wp_caps_get(uint64_t *effective, uint64_t *permitted) {
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &h, d) != 0) return -errno;
    *effective = (uint64_t)d[0].effective | ((uint64_t)d[1].effective << 32);
    *permitted = (uint64_t)d[0].permitted | ((uint64_t)d[1].permitted << 32);
    return 0;
}

int wp_caps_set_effective(uint64_t effective) {
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &h, d) != 0) return -errno;
    uint64_t permitted = (uint64_t)d[0].permitted | ((uint64_t)d[1].permitted << 32);
    uint64_t eff = permitted & effective;
    for (int i = 0; i < 2; i++) d[i].effective = (uint32_t)(eff >> (32 * i));
    h.pid = 0; // this thread
    if (syscall(SYS_capset, &h, d) != 0) return -errno;
    return 0;
}

int wp_seccomp_available(void) {
    // PR_GET_SECCOMP fails with EINVAL on a kernel without CONFIG_SECCOMP.
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 ? 1 : 0;
}

int wp_no_new_privs_available(void) {
    return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) >= 0 ? 1 : 0;
}

int wp_try_execve(void) {
    char *const argv[] = { "true", NULL };
    char *const envp[] = { NULL };
    return execve("/bin/true", argv, envp);
}

size_t wp_udp_segment_cmsg_space(void) { return CMSG_SPACE(sizeof(uint16_t)); }

size_t wp_udp_segment_cmsg(void *buf, uint16_t segment) {
    memset(buf, 0, CMSG_SPACE(sizeof(uint16_t)));
    struct cmsghdr *c = (struct cmsghdr *)buf;
    c->cmsg_level = WP_SOL_UDP;
    c->cmsg_type = WP_UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(c), &segment, sizeof segment);
    return CMSG_SPACE(sizeof(uint16_t));
}

size_t wp_udp_gro_cmsg_space(void) { return CMSG_SPACE(sizeof(int)); }

int wp_udp_gro_segment(void *control, size_t controllen) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_control = control;
    m.msg_controllen = controllen;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == WP_SOL_UDP && c->cmsg_type == WP_UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int v;
            memcpy(&v, CMSG_DATA(c), sizeof v);
            return v > 0 ? v : 0;
        }
    }
    return 0;
}
