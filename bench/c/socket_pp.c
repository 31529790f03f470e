/* socket_pp.c: the minimal sendto/recvfrom ping-pong (Wirepath's socket path).
 *
 * Modes: block (recvfrom sleeps), spin (recvfrom MSG_DONTWAIT in a loop),
 * epoll (epoll_wait then recvfrom), busypoll (block with SO_BUSY_POLL=-b µs).
 * The client connects its socket to the reflector; the reflector answers
 * each datagram to its source with sendto, as Wirepath's does.
 * Flood (sender/sink): one send per packet, one recvfrom per packet. */
#include "wp_loop.h"
#include <sys/epoll.h>

#define MODES "block spin epoll busypoll"

/* Waits for one datagram. Returns its length, or -1 on timeout/stop. */
static long wait_recv(int fd, int ep, const char *mode, uint8_t *buf, struct sockaddr_in *from, uint64_t deadline)
{
	socklen_t len = sizeof *from;
	for (;;) {
		if (mode[0] == 'e') {
			struct epoll_event ev;
			int n = epoll_wait(ep, &ev, 1, 100);
			if (n < 0 && errno != EINTR) WP_DIE("epoll_wait");
			if (n <= 0) { if (wp_stop || wp_now() > deadline) return -1; continue; }
		}
		long r = recvfrom(fd, buf, WP_MAX_PAYLOAD, mode[0] == 's' || mode[0] == 'e' ? MSG_DONTWAIT : 0,
				  (struct sockaddr *)from, &len);
		if (r >= 0) return r;
		if (errno != EAGAIN && errno != EINTR) WP_DIE("recvfrom");
		if (wp_stop) return -1;
		/* Spinning reads the clock only on an empty poll, which is the idle case. */
		if (wp_now() > deadline) return -1;
	}
}

int main(int argc, char **argv)
{
	struct wp_args a; wp_parse(argc, argv, &a, MODES);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) WP_DIE("socket");
	struct timeval tv = { .tv_usec = 100000 }; /* block modes wake to check the stop flag */
	if (!getenv("WP_NO_RCVTIMEO") && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv)) WP_DIE("SO_RCVTIMEO");
	if (!strcmp(a.mode, "busypoll") && setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &a.busy_poll, sizeof a.busy_poll))
		WP_DIE("SO_BUSY_POLL");
	int ep = -1;
	if (!strcmp(a.mode, "epoll")) {
		ep = epoll_create1(0);
		struct epoll_event ev = { .events = EPOLLIN };
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) WP_DIE("epoll");
	}
	static uint8_t buf[WP_MAX_PAYLOAD], rbuf[WP_MAX_PAYLOAD];
	struct sockaddr_in from;

	if (a.flood && !a.client) {
		if (bind(fd, (struct sockaddr *)&a.addr, sizeof a.addr)) WP_DIE("bind");
		struct wp_sink k = { 0 };
		uint64_t until = wp_now() + (uint64_t)(a.duration * 1e9);
		while (!wp_stop && wp_now() < until) {
			long n = wait_recv(fd, ep, a.mode, rbuf, &from, until);
			if (n >= 0) wp_sink_count(&k, rbuf, n);
		}
		wp_sink_report(&k, "socket", a.mode);
		return 0;
	}
	/* WP_SENDTO=1: the client (or sender) leaves its socket unconnected and
	 * sends with sendto to the reflector's address, as an unconnected
	 * sender does (a route look-up per packet), to measure what a connected
	 * socket saves. */
	int unconnected = getenv("WP_SENDTO") != NULL;
	if (a.flood) {
		if (!unconnected && connect(fd, (struct sockaddr *)&a.addr, sizeof a.addr)) WP_DIE("connect");
		struct wp_stamper st; wp_prepare(&st, buf, a.size);
		struct wp_clock c; wp_clock_init(&c, &a);
		uint64_t warm = 0, measured = 0, sent = 0;
		for (uint64_t now = wp_now(); now < c.until && !wp_stop; now = wp_now()) {
			wp_stamp_kind(&st, buf, WP_KIND_FLOOD, wp_flood_seq(now, c.measure_from, &warm, &measured), now);
			long n = unconnected ? sendto(fd, buf, (size_t)a.size, 0, (struct sockaddr *)&a.addr, sizeof a.addr)
					     : send(fd, buf, (size_t)a.size, 0);
			if (n < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) WP_DIE("send");
			sent += n > 0 && now >= c.measure_from;
		}
		wp_sender_report(sent, c.until - c.measure_from, "socket", a.mode);
		return 0;
	}

	if (!a.client) {
		if (bind(fd, (struct sockaddr *)&a.addr, sizeof a.addr)) WP_DIE("bind");
		uint64_t until = wp_now() + (uint64_t)(a.duration * 1e9);
		uint64_t echoed = 0;
		while (!wp_stop && wp_now() < until) {
			long n = wait_recv(fd, ep, a.mode, rbuf, &from, until);
			if (n < 0) continue;
			if (sendto(fd, rbuf, (size_t)n, 0, (struct sockaddr *)&from, sizeof from) == n) echoed++;
		}
		fprintf(stderr, "socket_pp reflector: echoed %" PRIu64 "\n", echoed);
		return 0;
	}

	if (!unconnected && connect(fd, (struct sockaddr *)&a.addr, sizeof a.addr)) WP_DIE("connect");
	struct wp_stamper st; wp_prepare(&st, buf, a.size);
	struct wp_samples s; wp_samples_init(&s);
	struct wp_clock c; wp_clock_init(&c, &a);
	uint64_t seq = 0;
	for (uint64_t t0 = wp_now(); t0 < c.until && !wp_stop; t0 = wp_now()) {
		wp_stamp(&st, buf, seq, t0);
		if ((unconnected ? sendto(fd, buf, (size_t)a.size, 0, (struct sockaddr *)&a.addr, sizeof a.addr)
				 : send(fd, buf, (size_t)a.size, 0)) != a.size) WP_DIE("send");
		int measured = t0 >= c.measure_from;
		s.sent += measured;
		long n;
		/* A stale or foreign datagram is counted and skipped; a ping with no
		 * reply in 100 ms is lost (the next one gets a new seq). */
		while ((n = wait_recv(fd, ep, a.mode, rbuf, &from, t0 + 100000000ull)) >= 0 && !wp_is_reply(&st, rbuf, n, seq))
			s.foreign++;
		uint64_t t1 = wp_now();
		if (n >= 0 && measured) { s.received++; wp_record(&s, t1 - t0); }
		seq++;
	}
	wp_report(&s, "socket", a.mode);
	return 0;
}
