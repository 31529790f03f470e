/* wirepath_xdp.h: what the XDP programs in bpf/ and Wirepath's Swift code
 * (through the CXDP module, Sources/CXDP/include/CXDP.h) both need to agree
 * on: program and map names, the counter indices and the configuration
 * layout. It is the one copy: the .bpf.c files include it from here, and
 * CXDP.h includes it by relative path, so the two sides cannot drift.
 *
 * Only <linux/types.h> is included, so this compiles both for the BPF
 * target (clang -target bpf) and for the host. */
#ifndef WIREPATH_XDP_H
#define WIREPATH_XDP_H

#include <linux/types.h>

/* The program's function name (its ELF symbol) in xsk_redirect.bpf.o. */
#define WP_XDP_PROGRAM_NAME "wp_xsk_redirect"
/* The XSKMAP, keyed by RX queue index; xsk_socket__update_xskmap puts the
 * socket at the index of the queue it is bound to. One socket per queue
 * (--threads N: N sockets on queues 0..N-1); a queue with none passes. */
#define WP_XDP_XSKMAP_NAME "wp_xsks"
#define WP_XDP_MAX_QUEUES 256
/* The per-CPU array of test-flow packets redirected, indexed by RX queue
 * (WP_XDP_MAX_QUEUES entries): with a socket per queue, what each queue's
 * socket was handed, the proof of where a threaded run's flows landed. */
#define WP_XDP_QUEUE_COUNTERS_NAME "wp_queue_redirected"
/* The per-CPU counter array, indexed by enum wp_xdp_counter. */
#define WP_XDP_COUNTERS_NAME "wp_counters"
/* The object file the Makefile builds (`make bpf`). */
#define WP_XDP_OBJECT_FILE "xsk_redirect.bpf.o"

enum wp_xdp_counter {
	/* Test-flow packets handed to the AF_XDP socket (bpf_redirect_map
	 * returned XDP_REDIRECT). The path's own received count must match. */
	WP_XDP_REDIRECTED = 0,
	/* Packets not of the test flow (ARP, ICMP, other ports and addresses,
	 * IP fragments), passed to the kernel stack. */
	WP_XDP_PASSED = 1,
	/* Test-flow packets passed because no socket sat at the map slot of
	 * the queue they came in on. */
	WP_XDP_PASSED_NO_SOCKET = 2,
	/* Ceiling mode (drop_flood): test-flow flood packets dropped in XDP,
	 * which measures what the sender can feed a receiver that does nothing. */
	WP_XDP_DROPPED = 3,
	WP_XDP_COUNTER_COUNT = 4,
};

/* Where a Wirepath payload says what it is (see Payload.swift): the kind
 * byte at offset 5 of the UDP payload, after the 4-byte magic "WPTH". */
#define WP_PAYLOAD_MAGIC 0x48545057 /* "WPTH", little-endian */
#define WP_PAYLOAD_KIND_OFFSET 5
#define WP_PAYLOAD_KIND_FLOOD 2

/* The test flow, set in the program's .rodata (a `const volatile` global)
 * before the object is loaded, so the verifier sees constants. Addresses
 * and ports are in network byte order, as they appear in the packet. */
struct wp_xdp_config {
	/* Destination IPv4 address to match; 0 matches any (IPv4 runs). */
	__u32 dst_addr;
	/* Destination UDP port to match (never 0). */
	__u16 dst_port;
	/* How many consecutive ports from dst_port match (0 or 1: dst_port
	 * alone): a threaded client's flows, one port per thread. Host order. */
	__u16 dst_port_count;
	/* The RX queue of the first (or only) socket, for the record: the
	 * program redirects from every queue whose XSKMAP slot holds a socket. */
	__u32 queue_id;
	/* Ceiling mode: drop the flow's flood packets here (counted in
	 * WP_XDP_DROPPED) and redirect only the rest (control, pings). */
	__u32 drop_flood;
	/* 1: the flow is IPv6/UDP (EtherType 0x86DD, next header UDP right
	 * after the fixed header) to dst_port and, unless all zero,
	 * dst_addr6; IPv4 packets then pass. 0: IPv4 as above. Set per run. */
	__u32 ipv6;
	/* Destination IPv6 address to match, network order; all zero matches any. */
	__u8 dst_addr6[16];
	/* 1 (--stages): each redirected frame carries struct wp_xdp_meta in its
	 * XDP metadata area, just before the packet. 0: frames are untouched. */
	__u32 stamp;
};

/* What the program writes before a redirected packet with wp_config.stamp
 * (bpf_xdp_adjust_meta), and AF_XDP copies into the UMEM frame ahead of
 * the packet (copy mode too: xsk_copy_xdp copies from data_meta). The
 * magic tells a stamped frame from stale headroom bytes; the reader
 * clears it after reading. */
struct wp_xdp_meta {
	/* bpf_ktime_get_ns() (CLOCK_MONOTONIC) when the program redirected
	 * the frame: the kernel's receive stamp for --stages. */
	__u64 rx_ns;
	__u32 magic;
	__u32 reserved;
};
#define WP_XDP_META_MAGIC 0x54535057 /* "WPST", little-endian */

#endif
