/* xdp_pp.c: the minimal AF_XDP ping-pong (Wirepath's xdp path), copy mode.
 *
 * Both ends load Wirepath's own program (.build/bpf/xsk_redirect.bpf.o, or
 * the file WP_XDP_OBJECT names), attach it with a BPF link (the kernel detaches it when this
 * process exits, however it exits), and bind one XSK to queue -q with
 * XDP_COPY | XDP_USE_NEED_WAKEUP. Modes:
 *   poll  poll(2) on the XSK until a frame is in the RX ring
 *   spin  peek the RX ring in a loop; kick (recvfrom MSG_DONTWAIT) only when
 *         the fill ring says need_wakeup
 * TX is kicked with sendto(MSG_DONTWAIT) only when the TX ring needs it.
 * The client builds its frame once (UDP checksum 0, legal for IPv4, so only
 * the payload is stamped per ping) and sends to the MAC given by -M; the
 * reflector swaps the Ethernet, IP and UDP addresses in place and sends the
 * same UMEM frame back (both checksums are unchanged by a swap).
 * Flood (sender/sink): every TX frame holds the built frame from setup; the
 * sender stamps -n payloads, reserves -n descriptors, submits, kicks when
 * need_wakeup says so and reuses frames as they complete; the sink counts
 * what the RX ring holds and gives the frames straight back to the fill ring. */
#include "wp_loop.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <xdp/xsk.h>
#include "../../bpf/wirepath_xdp.h"

#define MODES "poll spin"
#define NFRAMES 4096
#define FSIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define HDRS (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))
#define CLIENT_PORT 40000

static struct xsk_ring_prod fq, tx;
static struct xsk_ring_cons cq, rx;
static struct xsk_socket *xsk;
static uint8_t *umem_area;
static int xfd, spin;
static uint64_t free_tx[NFRAMES / 2];
static unsigned free_tx_n;

static void die_neg(const char *what, int r) { errno = r < 0 ? -r : r; WP_DIE(what); }

static void kick_tx(void)
{
	if (xsk_ring_prod__needs_wakeup(&tx) && sendto(xfd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
	    errno != EAGAIN && errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN)
		WP_DIE("sendto (TX kick)");
}

/* Completed TX frames: the reflector refills RX with them, the client reuses them. */
static void reap_completions(int to_fill)
{
	uint32_t idx, n = xsk_ring_cons__peek(&cq, 64, &idx);
	if (!n) return;
	if (to_fill) {
		uint32_t fidx;
		while (xsk_ring_prod__reserve(&fq, n, &fidx) != n) {}
		for (uint32_t i = 0; i < n; i++) *xsk_ring_prod__fill_addr(&fq, fidx + i) = *xsk_ring_cons__comp_addr(&cq, idx + i);
		xsk_ring_prod__submit(&fq, n);
	} else {
		for (uint32_t i = 0; i < n; i++) free_tx[free_tx_n++] = *xsk_ring_cons__comp_addr(&cq, idx + i);
	}
	xsk_ring_cons__release(&cq, n);
}

/* Waits for RX frames; returns how many are ready at *idx, 0 on timeout/stop. */
static uint32_t wait_rx(uint32_t *idx, uint64_t deadline)
{
	for (;;) {
		uint32_t n = xsk_ring_cons__peek(&rx, 64, idx);
		if (n) return n;
		if (spin) {
			if (xsk_ring_prod__needs_wakeup(&fq)) recvfrom(xfd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		} else {
			struct pollfd p = { .fd = xfd, .events = POLLIN };
			if (poll(&p, 1, 100) < 0 && errno != EINTR) WP_DIE("poll");
		}
		if (wp_stop || wp_now() > deadline) return 0;
	}
}

static uint16_t ip_checksum(const void *h, int len)
{
	const uint16_t *w = h; uint32_t s = 0;
	for (; len > 1; len -= 2) s += *w++;
	while (s >> 16) s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void own_addresses(const char *ifname, uint8_t mac[6], uint32_t *ip)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq r = { 0 };
	snprintf(r.ifr_name, sizeof r.ifr_name, "%s", ifname);
	if (ioctl(s, SIOCGIFHWADDR, &r)) WP_DIE("SIOCGIFHWADDR");
	memcpy(mac, r.ifr_hwaddr.sa_data, 6);
	if (ioctl(s, SIOCGIFADDR, &r)) WP_DIE("SIOCGIFADDR (the interface needs an IPv4 address)");
	*ip = ((struct sockaddr_in *)&r.ifr_addr)->sin_addr.s_addr;
	close(s);
}

int main(int argc, char **argv)
{
	const char *object = getenv("WP_XDP_OBJECT"), *peer_mac_text = getenv("WP_PEER_MAC");
	struct wp_args a; wp_parse(argc, argv, &a, MODES);
	if (!strcmp(a.mode, "block")) a.mode = "poll";
	spin = !strcmp(a.mode, "spin");
	if (!a.ifname) { fprintf(stderr, "xdp_pp needs -i IFNAME\n"); return 2; }
	/* Default: the object `make bpf` builds, beside this binary's directory
	 * (.build/bench-c/../bpf/), never one found through the current directory. */
	static char found[4096];
	if (!object) {
		ssize_t n = readlink("/proc/self/exe", found, sizeof found - 64);
		char *slash = n > 0 ? (found[n] = 0, strrchr(found, '/')) : NULL;
		if (!slash) WP_DIE("readlink /proc/self/exe");
		strcpy(slash, "/../bpf/" WP_XDP_OBJECT_FILE);
		object = found;
	}
	int ifindex = (int)if_nametoindex(a.ifname);
	if (!ifindex) WP_DIE(a.ifname);
	uint8_t own_mac[6], peer_mac[6] = { 0 }; uint32_t own_ip;
	own_addresses(a.ifname, own_mac, &own_ip);
	if (a.client && (!peer_mac_text || sscanf(peer_mac_text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &peer_mac[0], &peer_mac[1],
						&peer_mac[2], &peer_mac[3], &peer_mac[4], &peer_mac[5]) != 6)) {
		fprintf(stderr, "the xdp client needs the reflector's MAC in WP_PEER_MAC=aa:bb:cc:dd:ee:ff\n"); return 2;
	}

	/* The program, with the flow in its .rodata, attached by a BPF link. */
	struct bpf_object *obj = bpf_object__open_file(object, NULL);
	if (!obj) WP_DIE(object);
	struct wp_xdp_config cfg = { .dst_addr = a.client ? own_ip : a.addr.sin_addr.s_addr,
				     .dst_port = a.client ? htons(CLIENT_PORT) : a.addr.sin_port, .queue_id = (uint32_t)a.queue };
	struct bpf_map *m; int set = 0;
	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);
		if (strlen(n) >= 7 && !strcmp(n + strlen(n) - 7, ".rodata")) set = !bpf_map__set_initial_value(m, &cfg, sizeof cfg);
	}
	if (!set) { fprintf(stderr, "%s has no .rodata of struct wp_xdp_config (make bpf)\n", object); return 2; }
	int r = bpf_object__load(obj);
	if (r) die_neg("bpf_object__load", r);
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, WP_XDP_PROGRAM_NAME);
	struct bpf_link *link = prog ? bpf_program__attach_xdp(prog, ifindex) : NULL;
	if (!link) WP_DIE("bpf_program__attach_xdp");

	/* UMEM: the first half of the frames feeds RX, the second half is TX. */
	if ((umem_area = mmap(NULL, (size_t)NFRAMES * FSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)) == MAP_FAILED)
		WP_DIE("mmap");
	struct xsk_umem *umem;
	struct xsk_umem_config ucfg = { .fill_size = NFRAMES / 2, .comp_size = NFRAMES / 2, .frame_size = FSIZE };
	if ((r = xsk_umem__create(&umem, umem_area, (uint64_t)NFRAMES * FSIZE, &fq, &cq, &ucfg))) die_neg("xsk_umem__create", r);
	struct xsk_socket_config scfg = { .rx_size = NFRAMES / 2, .tx_size = NFRAMES / 2,
					  .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
					  .bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP };
	if ((r = xsk_socket__create(&xsk, a.ifname, (uint32_t)a.queue, umem, &rx, &tx, &scfg))) die_neg("xsk_socket__create", r);
	xfd = xsk_socket__fd(xsk);
	if ((r = xsk_socket__update_xskmap(xsk, bpf_object__find_map_fd_by_name(obj, WP_XDP_XSKMAP_NAME)))) die_neg("update_xskmap", r);
	uint32_t idx;
	if (xsk_ring_prod__reserve(&fq, NFRAMES / 2, &idx) != NFRAMES / 2) { fprintf(stderr, "fill ring\n"); return 1; }
	for (uint32_t i = 0; i < NFRAMES / 2; i++) *xsk_ring_prod__fill_addr(&fq, idx + i) = (uint64_t)i * FSIZE;
	xsk_ring_prod__submit(&fq, NFRAMES / 2);
	for (uint32_t i = 0; i < NFRAMES / 2; i++) free_tx[free_tx_n++] = (uint64_t)(NFRAMES / 2 + i) * FSIZE;

	if (a.flood && !a.client) {
		struct wp_sink k = { 0 };
		uint64_t until = wp_now() + (uint64_t)(a.duration * 1e9);
		while (!wp_stop && wp_now() < until) {
			uint32_t n = wait_rx(&idx, until), fidx;
			if (!n) continue;
			for (uint32_t i = 0; i < n; i++) {
				const struct xdp_desc *d = xsk_ring_cons__rx_desc(&rx, idx + i);
				wp_sink_count(&k, (const uint8_t *)xsk_umem__get_data(umem_area, d->addr) + HDRS, (long)d->len - (long)HDRS);
			}
			while (xsk_ring_prod__reserve(&fq, n, &fidx) != n) {}
			for (uint32_t i = 0; i < n; i++) *xsk_ring_prod__fill_addr(&fq, fidx + i) = xsk_ring_cons__rx_desc(&rx, idx + i)->addr;
			xsk_ring_prod__submit(&fq, n);
			xsk_ring_cons__release(&rx, n);
		}
		wp_sink_report(&k, "xdp", a.mode);
		xsk_socket__delete(xsk); xsk_umem__delete(umem); bpf_link__destroy(link); bpf_object__close(obj);
		return 0;
	}

	if (!a.client) {
		uint64_t until = wp_now() + (uint64_t)(a.duration * 1e9), echoed = 0;
		while (!wp_stop && wp_now() < until) {
			uint32_t n = wait_rx(&idx, until), tidx;
			reap_completions(1);
			if (!n) continue;
			while (xsk_ring_prod__reserve(&tx, n, &tidx) != n) { reap_completions(1); kick_tx(); }
			for (uint32_t i = 0; i < n; i++) {
				const struct xdp_desc *d = xsk_ring_cons__rx_desc(&rx, idx + i);
				uint8_t *f = xsk_umem__get_data(umem_area, d->addr);
				struct ethhdr *eth = (void *)f; struct iphdr *ip = (void *)(eth + 1); struct udphdr *udp = (void *)(ip + 1);
				uint8_t tmac[6]; memcpy(tmac, eth->h_dest, 6); memcpy(eth->h_dest, eth->h_source, 6); memcpy(eth->h_source, tmac, 6);
				uint32_t tip = ip->saddr; ip->saddr = ip->daddr; ip->daddr = tip;
				uint16_t tport = udp->source; udp->source = udp->dest; udp->dest = tport;
				struct xdp_desc *t = xsk_ring_prod__tx_desc(&tx, tidx + i);
				t->addr = d->addr; t->len = d->len; t->options = 0;
			}
			xsk_ring_cons__release(&rx, n);
			xsk_ring_prod__submit(&tx, n);
			kick_tx();
			echoed += n;
		}
		fprintf(stderr, "xdp_pp reflector: echoed %" PRIu64 "\n", echoed);
		xsk_socket__delete(xsk); xsk_umem__delete(umem); bpf_link__destroy(link); bpf_object__close(obj);
		return 0;
	}

	/* The client's frame template: Ethernet, IPv4 (DF, TTL 64), UDP. */
	static uint8_t frame[HDRS + WP_MAX_PAYLOAD];
	struct ethhdr *eth = (void *)frame; struct iphdr *ip = (void *)(eth + 1); struct udphdr *udp = (void *)(ip + 1);
	memcpy(eth->h_dest, peer_mac, 6); memcpy(eth->h_source, own_mac, 6); eth->h_proto = htons(ETH_P_IP);
	ip->version = 4; ip->ihl = 5; ip->ttl = 64; ip->protocol = IPPROTO_UDP; ip->frag_off = htons(0x4000);
	ip->tot_len = htons((uint16_t)(sizeof *ip + sizeof *udp + (size_t)a.size));
	ip->saddr = own_ip; ip->daddr = a.addr.sin_addr.s_addr; ip->check = ip_checksum(ip, sizeof *ip);
	udp->source = htons(CLIENT_PORT); udp->dest = a.addr.sin_port; udp->len = htons((uint16_t)(sizeof *udp + (size_t)a.size));
	struct wp_stamper st; wp_prepare(&st, frame + HDRS, a.size);
	struct wp_clock c; wp_clock_init(&c, &a);
	const uint32_t len = (uint32_t)(HDRS + (size_t)a.size);
	if (a.flood) {
		for (unsigned i = 0; i < free_tx_n; i++) memcpy(xsk_umem__get_data(umem_area, free_tx[i]), frame, len);
		uint64_t warm = 0, measured = 0, sent = 0;
		for (uint64_t now = wp_now(); now < c.until && !wp_stop; now = wp_now()) {
			reap_completions(0);
			uint32_t n = free_tx_n < (unsigned)a.batch ? free_tx_n : (uint32_t)a.batch, tidx;
			if (!n || xsk_ring_prod__reserve(&tx, n, &tidx) != n) { kick_tx(); continue; }
			for (uint32_t i = 0; i < n; i++) {
				uint64_t addr = free_tx[--free_tx_n];
				wp_stamp_kind(&st, (uint8_t *)xsk_umem__get_data(umem_area, addr) + HDRS, WP_KIND_FLOOD,
					      wp_flood_seq(now, c.measure_from, &warm, &measured), now);
				struct xdp_desc *t = xsk_ring_prod__tx_desc(&tx, tidx + i);
				t->addr = addr; t->len = len; t->options = 0;
			}
			xsk_ring_prod__submit(&tx, n);
			kick_tx();
			if (now >= c.measure_from) sent += n;
		}
		wp_sender_report(sent, c.until - c.measure_from, "xdp", a.mode);
		xsk_socket__delete(xsk); xsk_umem__delete(umem); bpf_link__destroy(link); bpf_object__close(obj);
		return 0;
	}
	struct wp_samples s; wp_samples_init(&s);
	uint64_t seq = 0;
	for (uint64_t t0 = wp_now(); t0 < c.until && !wp_stop; t0 = wp_now()) {
		reap_completions(0);
		if (!free_tx_n) { kick_tx(); continue; }
		uint64_t addr = free_tx[--free_tx_n];
		uint8_t *f = xsk_umem__get_data(umem_area, addr);
		memcpy(f, frame, len);
		wp_stamp(&st, f + HDRS, seq, t0);
		uint32_t tidx;
		while (xsk_ring_prod__reserve(&tx, 1, &tidx) != 1) { reap_completions(0); kick_tx(); }
		struct xdp_desc *t = xsk_ring_prod__tx_desc(&tx, tidx);
		t->addr = addr; t->len = len; t->options = 0;
		xsk_ring_prod__submit(&tx, 1);
		kick_tx();
		int measured = t0 >= c.measure_from, got = 0;
		s.sent += measured;
		uint32_t n;
		while (!got && (n = wait_rx(&idx, t0 + 100000000ull))) {
			for (uint32_t i = 0; i < n; i++) {
				const struct xdp_desc *d = xsk_ring_cons__rx_desc(&rx, idx + i);
				const uint8_t *p = (const uint8_t *)xsk_umem__get_data(umem_area, d->addr) + HDRS;
				if (!got && d->len == len && wp_is_reply(&st, p, a.size, seq)) got = 1; else s.foreign++;
				uint32_t fidx;
				while (xsk_ring_prod__reserve(&fq, 1, &fidx) != 1) {}
				*xsk_ring_prod__fill_addr(&fq, fidx) = d->addr;
				xsk_ring_prod__submit(&fq, 1);
			}
			xsk_ring_cons__release(&rx, n);
		}
		uint64_t t1 = wp_now();
		if (got && measured) { s.received++; wp_record(&s, t1 - t0); }
		seq++;
	}
	wp_report(&s, "xdp", a.mode);
	xsk_socket__delete(xsk); xsk_umem__delete(umem); bpf_link__destroy(link); bpf_object__close(obj);
	return 0;
}
