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
/// sendto(2) and recvfrom(2) made with syscall(2), not through glibc's
/// wrappers: those are cancellation points, and in a process with more
/// than one thread each call enables and then disables asynchronous
/// cancellation around the syscall (two atomic read-modify-writes and
/// about 60 instructions per call, measured with callgrind; issue 15).
/// Wirepath never cancels a thread, so the data path skips that. Same
/// contract as the libc calls: the result, or -1 with errno.
/// (syscall(2) is variadic, which Swift cannot call.)
long wp_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t addrlen);
long wp_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *addrlen);
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

/// unshare(CLONE_NEWNS) for the calling thread, then marks every mount in
/// the new mount namespace private (MS_REC | MS_PRIVATE on "/"), so that
/// nothing mounted afterwards propagates back to the host. Returns 0 or
/// -errno. Why C: unshare and CLONE_NEWNS are _GNU_SOURCE-only.
int wp_unshare_private_mounts(void);
/// mount(2) of a fresh bpffs at `path` (mode 0700). Returns 0 or -errno.
int wp_mount_bpffs(const char *path);

/// What the kernel says a device can do with XDP: the generic-netlink
/// "netdev" family (Linux 6.3+), NETDEV_CMD_DEV_GET for one ifindex.
/// `xdp_features` holds NETDEV_XDP_ACT_* bits (WP_NETDEV_XDP_ACT_* below);
/// `zc_max_segs` is NETDEV_A_DEV_XDP_ZC_MAX_SEGS (6.6+, sent only for a
/// zero-copy driver), 0 when absent.
struct wp_netdev_xdp {
    uint64_t xdp_features;
    uint32_t zc_max_segs;
    int has_zc_max_segs;
};

/// Resolves the "netdev" family (CTRL_CMD_GETFAMILY), then asks it for
/// `ifindex` in the calling thread's network namespace. Returns 0, or
/// -errno: -ENOENT when the kernel has no "netdev" family (before 6.3),
/// -ENODEV when no device has that index, -EAGAIN when the kernel did not
/// answer within 1 s, -EPROTO for a reply it cannot parse. Why C: netlink
/// messages are built from nlmsghdr/genlmsghdr/nlattr with the NLMSG_* and
/// NLA_* alignment macros, which Swift does not import. One socket per call,
/// closed before returning; nothing is retried here (EINTR comes back as
/// -EINTR for the Swift wrapper's one retry loop).
int wp_netdev_xdp_features(unsigned int ifindex, struct wp_netdev_xdp *out);

// NETDEV_XDP_ACT_* from <linux/netdev.h> (Linux 6.3+; Debian 12's 6.1
// headers do not have the file, so the values are copied from the uapi).
static const uint64_t WP_NETDEV_XDP_ACT_BASIC = 1;
static const uint64_t WP_NETDEV_XDP_ACT_REDIRECT = 2;
static const uint64_t WP_NETDEV_XDP_ACT_NDO_XMIT = 4;
static const uint64_t WP_NETDEV_XDP_ACT_XSK_ZEROCOPY = 8;
static const uint64_t WP_NETDEV_XDP_ACT_HW_OFFLOAD = 16;
static const uint64_t WP_NETDEV_XDP_ACT_RX_SG = 32;
static const uint64_t WP_NETDEV_XDP_ACT_NDO_XMIT_SG = 64;

/// The syscall number of `name` ("recvfrom") on this architecture, or -1
/// when this architecture has no such call (aarch64 has no `poll`) or the
/// name is not in the shim's table. Why C: the numbers come from
/// <asm/unistd.h> (__NR_*), which differ per architecture; the allow-lists
/// are written once, by name, in Swift.
int wp_syscall_number(const char *name);
/// The name of syscall `nr` from the same table, or NULL.
const char *wp_syscall_name(int nr);

/// Installs a seccomp filter on the calling thread only (no TSYNC: the
/// main thread keeps what teardown needs): the `count` syscall numbers in
/// `allowed` run, any other call fails with EPERM (SECCOMP_RET_ERRNO), or,
/// with `log_only`, runs and is logged (SECCOMP_RET_LOG, in dmesg). A call
/// from another architecture's ABI (and on x86_64 the x32 ABI) is refused
/// the same way. Sets PR_SET_NO_NEW_PRIVS first, which an unprivileged
/// filter requires. Returns 0 or -errno (-E2BIG past 200 calls).
int wp_sandbox_install(const int *allowed, int count, int log_only);
/// Limits the calling thread's capabilities (capset(2) acts on one thread)
/// to `keep` (bit n = capability n): permitted becomes `keep & permitted`,
/// effective `effective & keep & permitted`, inheritable none, so a dropped
/// one cannot come back; one permitted but not effective can be raised by
/// `wp_caps_set_effective`. Returns 0 or -errno.
int wp_caps_limit(uint64_t keep, uint64_t effective);
/// The calling thread's capability sets (capget(2)). Returns 0 or -errno.
int wp_caps_get(uint64_t *effective, uint64_t *permitted);
/// Sets the calling thread's effective capabilities to `effective &
/// permitted` (capset(2)), permitted and inheritable unchanged. Returns 0 or -errno.
int wp_caps_set_effective(uint64_t effective);
/// Whether this kernel has seccomp filters (prctl PR_GET_SECCOMP answers)
/// and no_new_privs (PR_GET_NO_NEW_PRIVS answers): 1, 0.
int wp_seccomp_available(void);
int wp_no_new_privs_available(void);
/// Calls execve("/bin/true") (test hook: a call no allow-list holds). It
/// returns only on failure: -1 with errno.
int wp_try_execve(void);

// Socket options from <asm-generic/socket.h> that older libc headers lack.
static const int WP_SO_BUSY_POLL = 46;
static const int WP_SO_INCOMING_NAPI_ID = 56;
static const int WP_SO_PREFER_BUSY_POLL = 69;
static const int WP_SO_BUSY_POLL_BUDGET = 70;
static const int WP_SO_INCOMING_CPU = 49;
static const int WP_SO_ATTACH_REUSEPORT_CBPF = 51;
static const int WP_MSG_WAITFORONE = 0x10000;

/// A classic BPF instruction and program (<linux/filter.h>'s sock_filter and
/// sock_fprog), declared here rather than included: that header is not
/// needed anywhere else, and these two are all SO_ATTACH_REUSEPORT_CBPF takes.
struct wp_sock_filter { uint16_t code; uint8_t jt; uint8_t jf; uint32_t k; };
struct wp_sock_fprog { unsigned short len; struct wp_sock_filter *filter; };
static const int WP_MSG_DONTWAIT = 0x40;

// UDP GSO and GRO (<linux/udp.h>: UDP_SEGMENT, UDP_GRO at level SOL_UDP).
// The CMSG_* macros do not import into Swift, so building the send-side
// cmsg and reading the receive-side one are done here.
static const int WP_SOL_UDP = 17;
static const int WP_UDP_SEGMENT = 103;
static const int WP_UDP_GRO = 104;
static const int WP_IPPROTO_UDPLITE = 136;
static const int WP_MSG_TRUNC = 0x20;
static const int WP_MSG_CTRUNC = 0x08;
/// CMSG_SPACE(sizeof(uint16_t)): room for one UDP_SEGMENT cmsg.
size_t wp_udp_segment_cmsg_space(void);
/// Writes one UDP_SEGMENT cmsg of `segment` bytes into `buf` (8-byte
/// aligned, wp_udp_segment_cmsg_space() bytes); returns the msg_controllen.
size_t wp_udp_segment_cmsg(void *buf, uint16_t segment);
/// CMSG_SPACE(sizeof(int)): room for the UDP_GRO cmsg of one receive.
size_t wp_udp_gro_cmsg_space(void);
/// The segment size of a UDP_GRO cmsg in the control data (`control`,
/// `controllen` as the kernel returned them): >0 when the kernel coalesced
/// the datagram, 0 when there is no such cmsg (a plain datagram). The value
/// is the peer's input: the caller validates it.
int wp_udp_gro_segment(void *control, size_t controllen);

#endif
