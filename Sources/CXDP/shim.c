// The C side of CXDP: libxdp/libbpf log capture, the ioctls, and the libbpf
// calls whose options struct Swift cannot size (see CXDP.h).
#include "CXDP.h"

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/neighbour.h>
#include <sys/socket.h>

#define WP_LOG_CAP 2048

static __thread char wp_log[WP_LOG_CAP];
static __thread size_t wp_log_len;

static void wp_log_append(const char *fmt, va_list ap)
{
	char line[512];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (wp_log_len + (size_t)n >= WP_LOG_CAP) {
		/* Keep the newest lines: a failure's reason is logged last. */
		size_t drop = wp_log_len + (size_t)n - WP_LOG_CAP + 1;
		if (drop > wp_log_len)
			drop = wp_log_len;
		memmove(wp_log, wp_log + drop, wp_log_len - drop);
		wp_log_len -= drop;
	}
	memcpy(wp_log + wp_log_len, line, (size_t)n);
	wp_log_len += (size_t)n;
	wp_log[wp_log_len] = 0;
}

static int wp_libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	/* Debug chatter (every fd duplication) is dropped; warnings and info
	 * (for example "Falling back to loading single prog") are kept. */
	if (level == LIBXDP_DEBUG)
		return 0;
	wp_log_append(fmt, ap);
	return 0;
}

static int wp_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	wp_log_append(fmt, ap);
	return 0;
}

static void wp_install(void)
{
	libxdp_set_print(wp_libxdp_print);
	libbpf_set_print(wp_libbpf_print);
}

void wp_xdp_log_capture(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, wp_install);
}

size_t wp_xdp_log_take(char *buf, size_t cap)
{
	size_t n = wp_log_len < cap ? wp_log_len : cap - 1;

	if (cap == 0)
		return 0;
	memcpy(buf, wp_log + (wp_log_len - n), n);
	buf[n] = 0;
	wp_log_len = 0;
	wp_log[0] = 0;
	return n;
}

int wp_if_hwaddr(const char *ifname, unsigned char mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int err = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return err;
}

int wp_if_ipv4(const char *ifname, uint32_t *addr)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int err = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	ifr.ifr_addr.sa_family = AF_INET;
	if (ioctl(fd, SIOCGIFADDR, &ifr) < 0)
		err = -errno;
	else
		*addr = ntohl(((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr);
	close(fd);
	return err;
}

int wp_if_driver(const char *ifname, char *buf, size_t cap)
{
	struct ethtool_drvinfo info;
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int err = 0;

	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	memset(&ifr, 0, sizeof(ifr));
	info.cmd = ETHTOOL_GDRVINFO;
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	ifr.ifr_data = (void *)&info;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
		err = -errno;
	} else if (cap > 0) {
		strncpy(buf, info.driver, cap - 1);
		buf[cap - 1] = 0;
	}
	close(fd);
	return err;
}

int wp_xdp_detach_if_ours(int ifindex, int prog_fd, int skb_mode)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = prog_fd);
	__u32 flags = XDP_FLAGS_REPLACE | (skb_mode ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);

	return bpf_xdp_detach(ifindex, flags, &opts);
}

struct bpf_object *wp_bpf_object_open(const char *path, const char *name)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);

	return bpf_object__open_file(path, &opts);
}

int wp_xdp_link_create(int prog_fd, int ifindex, int skb_mode)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = skb_mode ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);

	/* libbpf 1.x returns -errno itself. */
	return bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
}

int wp_xdp_attach_netlink(int ifindex, int prog_fd, int skb_mode)
{
	__u32 flags = XDP_FLAGS_UPDATE_IF_NOEXIST | (skb_mode ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);

	return bpf_xdp_attach(ifindex, prog_fd, flags, NULL);
}

int wp_neigh6_lookup(int ifindex, const uint8_t *addr, uint8_t *mac)
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
	} req;
	/* Aligned for the nlmsghdr walk. */
	static __thread uint32_t buf[4096];
	int fd, r = -ENOENT, done = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
	req.nh.nlmsg_type = RTM_GETNEIGH;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = 1;
	req.nd.ndm_family = AF_INET6;
	req.nd.ndm_ifindex = ifindex;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	for (int reads = 0; reads < 1024 && !done; reads++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			struct ndmsg *nd;
			struct rtattr *a;
			int len, dst = 0, ll = 0;

			if (nh->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nh);

				if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error < 0 && r == -ENOENT)
					r = e->error;
				done = 1;
				break;
			}
			if (nh->nlmsg_type != RTM_NEWNEIGH || nh->nlmsg_len < NLMSG_LENGTH(sizeof(*nd)))
				continue;
			nd = NLMSG_DATA(nh);
			if (nd->ndm_family != AF_INET6 || nd->ndm_ifindex != ifindex ||
			    (nd->ndm_state & (NUD_INCOMPLETE | NUD_FAILED)) || nd->ndm_state == NUD_NONE)
				continue;
			len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd));
			for (a = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd))); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
				if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 16 && memcmp(RTA_DATA(a), addr, 16) == 0)
					dst = 1;
				if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
					memcpy(mac, RTA_DATA(a), 6);
					ll = 1;
				}
			}
			if (dst && ll && r == -ENOENT)
				r = 0;
		}
	}
	close(fd);
	return r;
}
