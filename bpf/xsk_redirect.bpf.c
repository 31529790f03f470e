// SPDX-License-Identifier: GPL-2.0
/* xsk_redirect: hands the test flow to Wirepath's AF_XDP sockets (one per
 * queue) and everything else to the kernel.
 *
 * A packet is redirected to the XSKMAP slot of its RX queue only when it is
 * IPv4/UDP to the configured destination port or port range (and address,
 * if one is set) and is not a fragment; a queue whose slot is empty passes
 * it (bpf_redirect_map's XDP_PASS default). Or, in a run over IPv6
 * (wp_config.ipv6), IPv6/UDP with UDP right after the fixed header (no
 * extension headers, so no fragments) to the port and address. Everything
 * else (ARP, ICMP, neighbour discovery, other ports, the other family) gets
 * XDP_PASS, so the interface keeps working
 * while the program is attached. Each verdict is counted in a per-CPU array
 * that Wirepath reads and reports next to the packets its rings received.
 * In ceiling mode (wp_config.drop_flood) the flow's flood packets are
 * dropped here instead, to measure what the same sender can feed an XDP
 * program that does nothing with them.
 *
 * Layout and names: wirepath_xdp.h, shared with the Swift side. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "wirepath_xdp.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, WP_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} wp_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WP_XDP_COUNTER_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} wp_counters SEC(".maps");

/* Redirects per RX queue: which queue's socket each packet was handed to. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WP_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u64);
} wp_queue_redirected SEC(".maps");

/* Filled in by Wirepath before load (see struct wp_xdp_config). */
const volatile struct wp_xdp_config wp_config = {};

static __always_inline int verdict(__u32 counter, int action)
{
	__u64 *n = bpf_map_lookup_elem(&wp_counters, &counter);

	if (n)
		*n += 1; /* per-CPU: no atomic needed */
	return action;
}

/* --stages: the receive stamp, in the frame's metadata area (struct
 * wp_xdp_meta). After the redirect decision: the redirect itself happens
 * when the program returns, and carries data_meta with it. A frame whose
 * headroom has no room for it goes unstamped; the reader then finds no
 * magic and counts the stamp missing. */
static __always_inline void stamp(struct xdp_md *ctx)
{
	struct wp_xdp_meta *meta;
	void *data;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta)))
		return;
	meta = (void *)(long)ctx->data_meta;
	data = (void *)(long)ctx->data;
	if ((void *)(meta + 1) > data)
		return;
	meta->rx_ns = bpf_ktime_get_ns();
	meta->magic = WP_XDP_META_MAGIC;
	meta->reserved = 0;
}

SEC("xdp")
int wp_xsk_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 ihl;

	if ((void *)(eth + 1) > end)
		return verdict(WP_XDP_PASSED, XDP_PASS);
	if (wp_config.ipv6) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		const __u32 *want = (const __u32 *)wp_config.dst_addr6;

		if (eth->h_proto != bpf_htons(ETH_P_IPV6) || (void *)(ip6 + 1) > end ||
		    ip6->version != 6 || ip6->nexthdr != IPPROTO_UDP)
			return verdict(WP_XDP_PASSED, XDP_PASS);
		if ((want[0] | want[1] | want[2] | want[3]) &&
		    (ip6->daddr.in6_u.u6_addr32[0] != want[0] || ip6->daddr.in6_u.u6_addr32[1] != want[1] ||
		     ip6->daddr.in6_u.u6_addr32[2] != want[2] || ip6->daddr.in6_u.u6_addr32[3] != want[3]))
			return verdict(WP_XDP_PASSED, XDP_PASS);
		udp = (void *)(ip6 + 1);
		goto port;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return verdict(WP_XDP_PASSED, XDP_PASS);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->version != 4 || ip->protocol != IPPROTO_UDP)
		return verdict(WP_XDP_PASSED, XDP_PASS);
	/* Fragments (MF set or an offset) go to the kernel, which reassembles. */
	if (ip->frag_off & bpf_htons(0x3fff))
		return verdict(WP_XDP_PASSED, XDP_PASS);
	if (wp_config.dst_addr && ip->daddr != wp_config.dst_addr)
		return verdict(WP_XDP_PASSED, XDP_PASS);
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return verdict(WP_XDP_PASSED, XDP_PASS);
	udp = (void *)ip + ihl;
port:
	if ((void *)(udp + 1) > end)
		return verdict(WP_XDP_PASSED, XDP_PASS);
	/* dst_port, or one of dst_port_count ports from it (a threaded
	 * client's flows); unsigned, so a port below dst_port wraps high. */
	if ((__u16)(bpf_ntohs(udp->dest) - bpf_ntohs(wp_config.dst_port)) >=
	    (wp_config.dst_port_count ? wp_config.dst_port_count : 1))
		return verdict(WP_XDP_PASSED, XDP_PASS);
	if (wp_config.drop_flood) {
		__u8 *payload = (void *)(udp + 1);

		if ((void *)(payload + WP_PAYLOAD_KIND_OFFSET + 1) <= end &&
		    *(__u32 *)payload == WP_PAYLOAD_MAGIC &&
		    payload[WP_PAYLOAD_KIND_OFFSET] == WP_PAYLOAD_KIND_FLOOD)
			return verdict(WP_XDP_DROPPED, XDP_DROP);
	}
	/* The XDP_PASS flag (Linux 5.3+): with no socket at this slot the
	 * helper returns XDP_PASS instead of dropping the packet. */
	if (bpf_redirect_map(&wp_xsks, ctx->rx_queue_index, XDP_PASS) == XDP_REDIRECT) {
		__u32 q = ctx->rx_queue_index;
		__u64 *n = bpf_map_lookup_elem(&wp_queue_redirected, &q);

		if (n)
			*n += 1;
		if (wp_config.stamp)
			stamp(ctx);
		return verdict(WP_XDP_REDIRECTED, XDP_REDIRECT);
	}
	return verdict(WP_XDP_PASSED_NO_SOCKET, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
