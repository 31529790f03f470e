/* mmsg_pp.c: the minimal sendmmsg/recvmmsg ping-pong (Wirepath's mmsg path).
 *
 * Ping-pong has one packet in flight, so each call moves one message; what
 * this loop measures is the cost of the mmsg calls themselves against
 * sendto/recvfrom. Modes: block (recvmmsg sleeps, MSG_WAITFORONE), spin
 * (recvmmsg MSG_DONTWAIT in a loop). The header arrays are set up once.
 * Flood (sender/sink): -n packets per sendmmsg/recvmmsg call. */
#include "wp_loop.h"

#define MODES "block spin"

static uint8_t rbuf[WP_MAX_PAYLOAD], buf[WP_MAX_PAYLOAD];
static struct sockaddr_in from;
static struct iovec riov = { rbuf, sizeof rbuf };
static struct mmsghdr rmsg = { .msg_hdr = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &riov, .msg_iovlen = 1 } };

/* WP_VLEN=N: receive with room for N messages (as a batch-N receiver does;
 * the extra entries point at the same buffer), to measure what offering
 * more than one slot costs when one packet is in flight. */
#define VLEN_MAX 64
static struct mmsghdr rmsgs[VLEN_MAX];
static unsigned vlen = 1;

static long wait_recv(int fd, int spin, uint64_t deadline)
{
	for (;;) {
		for (unsigned i = 0; i < vlen; i++) rmsgs[i] = rmsg;
		int n = recvmmsg(fd, rmsgs, vlen, spin ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
		if (n >= 1) { rmsg.msg_len = rmsgs[0].msg_len; return rmsg.msg_len; }
		if (n < 0 && errno != EAGAIN && errno != EINTR) WP_DIE("recvmmsg");
		if (wp_stop || wp_now() > deadline) return -1;
	}
}

#define FLOOD_MAX 1024
static uint8_t fbuf[FLOOD_MAX][WP_MAX_PAYLOAD];
static struct iovec fiov[FLOOD_MAX];
static struct mmsghdr fmsg[FLOOD_MAX];

static int flood(const struct wp_args *a, int fd, int spin)
{
	for (int i = 0; i < a->batch; i++) {
		fiov[i] = (struct iovec){ fbuf[i], a->client ? (size_t)a->size : WP_MAX_PAYLOAD };
		fmsg[i].msg_hdr = (struct msghdr){ .msg_iov = &fiov[i], .msg_iovlen = 1 };
	}
	if (!a->client) {
		if (bind(fd, (struct sockaddr *)&a->addr, sizeof a->addr)) WP_DIE("bind");
		struct wp_sink k = { 0 };
		uint64_t until = wp_now() + (uint64_t)(a->duration * 1e9);
		while (!wp_stop && wp_now() < until) {
			int n = recvmmsg(fd, fmsg, (unsigned)a->batch, spin ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
			if (n < 0) { if (errno == EAGAIN || errno == EINTR) continue; WP_DIE("recvmmsg"); }
			for (int i = 0; i < n; i++) wp_sink_count(&k, fbuf[i], fmsg[i].msg_len);
		}
		wp_sink_report(&k, "mmsg", a->mode);
		return 0;
	}
	if (connect(fd, (struct sockaddr *)&a->addr, sizeof a->addr)) WP_DIE("connect");
	struct wp_stamper st;
	for (int i = 0; i < a->batch; i++) wp_prepare(&st, fbuf[i], a->size);
	st.run_id = 1; /* one run id for every slot (wp_prepare drew one per call) */
	struct wp_clock c; wp_clock_init(&c, a);
	uint64_t warm = 0, measured = 0, sent = 0;
	for (uint64_t now = wp_now(); now < c.until && !wp_stop; now = wp_now()) {
		for (int i = 0; i < a->batch; i++) wp_stamp_kind(&st, fbuf[i], WP_KIND_FLOOD, wp_flood_seq(now, c.measure_from, &warm, &measured), now);
		int n = sendmmsg(fd, fmsg, (unsigned)a->batch, 0);
		if (n < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) WP_DIE("sendmmsg");
		/* A short send drops the rest of the batch: their sequences are
		 * then missing at the sink, and counted there as not received. */
		if (now >= c.measure_from && n > 0) sent += (uint64_t)n;
	}
	wp_sender_report(sent, c.until - c.measure_from, "mmsg", a->mode);
	return 0;
}

int main(int argc, char **argv)
{
	struct wp_args a; wp_parse(argc, argv, &a, MODES);
	int spin = !strcmp(a.mode, "spin");
	if (getenv("WP_VLEN")) { vlen = (unsigned)atoi(getenv("WP_VLEN")); if (vlen < 1 || vlen > VLEN_MAX) { fprintf(stderr, "WP_VLEN must be 1-%d\n", VLEN_MAX); return 2; } }
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) WP_DIE("socket");
	struct timeval tv = { .tv_usec = 100000 };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv)) WP_DIE("SO_RCVTIMEO");
	struct iovec siov = { buf, 0 };
	struct mmsghdr smsg = { .msg_hdr = { .msg_iov = &siov, .msg_iovlen = 1 } };
	if (a.flood) return flood(&a, fd, spin);

	if (!a.client) {
		if (bind(fd, (struct sockaddr *)&a.addr, sizeof a.addr)) WP_DIE("bind");
		uint64_t until = wp_now() + (uint64_t)(a.duration * 1e9), echoed = 0;
		/* The echo sends the received buffer back to its source. */
		siov.iov_base = rbuf; smsg.msg_hdr.msg_name = &from; smsg.msg_hdr.msg_namelen = sizeof from;
		while (!wp_stop && wp_now() < until) {
			long n = wait_recv(fd, spin, until);
			if (n < 0) continue;
			siov.iov_len = (size_t)n;
			echoed += sendmmsg(fd, &smsg, 1, 0) == 1;
		}
		fprintf(stderr, "mmsg_pp reflector: echoed %" PRIu64 "\n", echoed);
		return 0;
	}

	if (connect(fd, (struct sockaddr *)&a.addr, sizeof a.addr)) WP_DIE("connect");
	struct wp_stamper st; wp_prepare(&st, buf, a.size);
	siov.iov_len = (size_t)a.size;
	struct wp_samples s; wp_samples_init(&s);
	struct wp_clock c; wp_clock_init(&c, &a);
	uint64_t seq = 0;
	for (uint64_t t0 = wp_now(); t0 < c.until && !wp_stop; t0 = wp_now()) {
		wp_stamp(&st, buf, seq, t0);
		if (sendmmsg(fd, &smsg, 1, 0) != 1) WP_DIE("sendmmsg");
		int measured = t0 >= c.measure_from;
		s.sent += measured;
		long n;
		while ((n = wait_recv(fd, spin, t0 + 100000000ull)) >= 0 && !wp_is_reply(&st, rbuf, n, seq)) s.foreign++;
		uint64_t t1 = wp_now();
		if (n >= 0 && measured) { s.received++; wp_record(&s, t1 - t0); }
		seq++;
	}
	wp_report(&s, "mmsg", a.mode);
	return 0;
}
