// CXDP: libxdp (AF_XDP sockets, XDP program loading) and libbpf for Swift,
// plus the few pieces Swift cannot import. Links -lxdp -lbpf.
//
// Never include libpcap here: <pcap/bpf.h> and <linux/bpf.h> both define
// struct bpf_insn.
//
// The xsk.h ring helpers (xsk_ring_prod__reserve/submit/needs_wakeup,
// xsk_ring_cons__peek/release, the descriptor accessors) import into Swift
// as they are and are called directly from XDPPath.swift. (They are
// `inline` in the header, and libxdp 1.3 also exports each one, so a call
// the compiler chooses not to inline still links.)
#ifndef CXDP_H
#define CXDP_H

// Order matters: as in CLiburing, the glibc headers that Swift's Glibc module
// also reaches come first, so the library headers below see glibc's
// definitions instead of redeclaring them. <xdp/xsk.h> needs <bpf/libbpf.h>
// and <linux/if_xdp.h>, which it includes itself; <xdp/libxdp.h> brings
// <linux/bpf.h> and <bpf/bpf.h>.
#include <sys/types.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <poll.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <xdp/xsk.h>
#include <xdp/libxdp.h>

// The layout and names shared with the XDP program (bpf/xsk_redirect.bpf.c).
// The header lives in bpf/, beside the programs, and is included from there
// by relative path, so there is exactly one copy.
#include "../../../bpf/wirepath_xdp.h"

// Constants that are macros Swift does not import (a function-like form, an
// enum-based expression) or that older libc headers lack.
static const int WP_AF_XDP = 44;
static const int WP_SOL_XDP = 283;
static const unsigned short WP_XDP_COPY = XDP_COPY;
static const unsigned short WP_XDP_ZEROCOPY = XDP_ZEROCOPY;
static const unsigned short WP_XDP_USE_NEED_WAKEUP = XDP_USE_NEED_WAKEUP;
static const unsigned WP_XSK_INHIBIT_PROG_LOAD = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
static const int WP_XDP_STATISTICS = XDP_STATISTICS;
static const int WP_XDP_OPTIONS = XDP_OPTIONS;
static const unsigned WP_XDP_OPTIONS_ZEROCOPY = XDP_OPTIONS_ZEROCOPY;

/// Sends libxdp's and libbpf's log output, which they print to stderr by
/// default, into a per-thread buffer instead: a failure's reason is kept
/// (see wp_xdp_log_take) and nothing spams the report. Process-wide and
/// idempotent. Why C: the callbacks are printf-style with a va_list, and the
/// buffer is thread-local (the client and the reflector load programs at the
/// same time on two threads).
void wp_xdp_log_capture(void);

/// Copies the warnings and errors libxdp/libbpf logged on this thread since
/// the last call (newest kept when they overflow) into `buf` as one
/// NUL-terminated string, clears them, and returns the length.
size_t wp_xdp_log_take(char *buf, size_t cap);

/// SIOCGIFHWADDR on `ifname` in the calling thread's network namespace.
/// Writes 6 bytes to `mac`; returns 0 or -errno. ioctl(2) is variadic, which
/// Swift cannot call.
int wp_if_hwaddr(const char *ifname, unsigned char mac[6]);

/// Detaches the XDP program `prog_fd` from `ifindex` only if it is still the
/// one attached there: bpf_xdp_detach(3) with XDP_FLAGS_REPLACE and the
/// program as the expected old one, in driver or skb mode. Returns 0 or
/// -errno. Why C: the options struct must be sized with C's sizeof (the
/// LIBBPF_OPTS macro), which Swift cannot expand; set from Swift, the same
/// call failed with EINVAL in release builds only.
int wp_xdp_detach_if_ours(int ifindex, int prog_fd, int skb_mode);

/// bpf_object__open_file(3) of `path` under the object name `name` (the
/// path is /proc/self/fd/N, a descriptor Wirepath opened and checked, and
/// libbpf would otherwise name the object, and prefix its .rodata map, "N").
/// Returns the object or NULL with errno set. Why C: bpf_object_open_opts
/// must be sized with C's sizeof (LIBBPF_OPTS), as in wp_xdp_detach_if_ours.
struct bpf_object *wp_bpf_object_open(const char *path, const char *name);

/// bpf_link_create(3) of `prog_fd` on `ifindex` for BPF_XDP, in driver or skb
/// mode (opts.flags = XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE): the link's
/// fd, or -errno (EINVAL or EOPNOTSUPP before Linux 5.9, which has no XDP
/// links; EBUSY when the interface already has a program attached through
/// netlink). The kernel detaches the program when the last fd of the link
/// closes, so nothing is left on the interface after any exit, kill -9
/// included. Why C: bpf_link_create_opts needs .sz from C's sizeof
/// (LIBBPF_OPTS), which Swift cannot expand.
int wp_xdp_link_create(int prog_fd, int ifindex, int skb_mode);

/// bpf_xdp_attach(3) through netlink, only if the interface has no XDP
/// program yet (XDP_FLAGS_UPDATE_IF_NOEXIST), in driver or skb mode: 0 or
/// -errno (EBUSY or EEXIST: one is attached). The fallback where a link is
/// refused; the program then stays attached until detached
/// (wp_xdp_detach_if_ours) or swept. In C beside the other two for the mode
/// flags, which are shift-expression macros.
int wp_xdp_attach_netlink(int ifindex, int prog_fd, int skb_mode);

/// SIOCGIFADDR: the interface's primary IPv4 address in host byte order in
/// `*addr`; returns 0 or -errno (EADDRNOTAVAIL: none).
int wp_if_ipv4(const char *ifname, uint32_t *addr);

/// The link-layer address of the IPv6 neighbour `addr` (16 bytes, network
/// order) on `ifindex`, from the calling thread's namespace's neighbour
/// table: one RTM_GETNEIGH dump over NETLINK_ROUTE, read to its end (at
/// most 1024 reads). Returns 0 with `mac` (6 bytes) filled for a usable
/// entry (not INCOMPLETE, FAILED or NONE), -ENOENT when there is none, or
/// -errno. In C because the netlink walking macros (NLMSG_OK, NLMSG_NEXT,
/// RTA_OK, RTA_NEXT) do not import into Swift.
int wp_neigh6_lookup(int ifindex, const uint8_t *addr, uint8_t *mac);

/// SIOCETHTOOL ETHTOOL_GDRVINFO: the driver's name ("veth") into `buf`;
/// returns 0 or -errno.
int wp_if_driver(const char *ifname, char *buf, size_t cap);

#endif
