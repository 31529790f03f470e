/* uring_pp.c: the minimal io_uring ping-pong (Wirepath's uring path).
 *
 * One receive is always armed; each round submits one send and reaps
 * completions until the receive's arrives. Modes:
 *   block   SINGLE_ISSUER|DEFER_TASKRUN ring; submit and wait in io_uring_enter
 *   spin    the same ring; spin on the CQ, entering the kernel only when it
 *           flags deferred task work (IORING_SQ_TASKRUN) or to submit
 *   sqpoll  SQPOLL thread pinned to the loop's own CPU (-c); the loop waits
 *           in io_uring_wait_cqe and never enters to submit while it is awake
 *   napi    block, with IORING_REGISTER_NAPI busy polling for -b µs
 * The reflector receives with recvmsg (for the source) and answers with
 * sendmsg to it, as Wirepath's reflector does.
 * Flood (sender/sink): the sender submits -n sends per io_uring_enter and
 * reaps their completions; the sink keeps -n receives armed, one per buffer,
 * and re-arms each as it completes. */
#include "wp_loop.h"
#include <liburing.h>

#define MODES "block spin sqpoll napi"
enum { UD_RECV = 1, UD_SEND = 2 };

static struct io_uring ring;
static uint8_t buf[WP_MAX_PAYLOAD], rbuf[WP_MAX_PAYLOAD];
static struct sockaddr_in from;
static struct iovec riov = { rbuf, sizeof rbuf }, siov = { buf, 0 };
static struct msghdr rmsg = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &riov, .msg_iovlen = 1 };
static struct msghdr smsg = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &siov, .msg_iovlen = 1 };
static int spin, sqpoll, is_client;

static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (is_client) io_uring_prep_recv(sqe, fd, rbuf, sizeof rbuf, 0);
	else { rmsg.msg_namelen = sizeof from; io_uring_prep_recvmsg(sqe, fd, &rmsg, 0); }
	io_uring_sqe_set_data64(sqe, UD_RECV);
}

static void submit(void)
{
	int r = io_uring_submit(&ring);
	if (r < 0) { errno = -r; WP_DIE("io_uring_submit"); }
}

/* Reaps until the armed receive completes: its result, or -1 on timeout/stop. */
static long wait_recv(int fd, uint64_t deadline)
{
	for (;;) {
		struct io_uring_cqe *cqe = NULL;
		int r;
		if (spin) {
			r = io_uring_peek_cqe(&ring, &cqe);
			if (r == -EAGAIN) {
				/* DEFER_TASKRUN: completions wait as task work until we enter. */
				if (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_TASKRUN) io_uring_get_events(&ring);
				else if (wp_stop || wp_now() > deadline) return -1;
				continue;
			}
		} else {
			struct __kernel_timespec ts = { .tv_nsec = 100000000 };
			r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
			if (r == -ETIME || r == -EINTR) { if (wp_stop || wp_now() > deadline) return -1; continue; }
		}
		if (r < 0) { errno = -r; WP_DIE("io_uring wait"); }
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		if (ud == UD_SEND) { if (res < 0) { errno = -res; WP_DIE("send"); } continue; }
		arm_recv(fd);
		if (!sqpoll) { /* submitted with the next send, or by the next wait */ }
		if (res < 0) { if (res == -EINTR || res == -EAGAIN) { submit(); continue; } errno = -res; WP_DIE("recv"); }
		return res;
	}
}

#define FLOOD_MAX 1024
static uint8_t fbuf[FLOOD_MAX][WP_MAX_PAYLOAD];

static void wait_one(struct io_uring_cqe **cqe)
{
	int r;
	if (spin) {
		while ((r = io_uring_peek_cqe(&ring, cqe)) == -EAGAIN) {
			if (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_TASKRUN) io_uring_get_events(&ring);
			if (wp_stop) { *cqe = NULL; return; }
		}
	} else {
		struct __kernel_timespec ts = { .tv_nsec = 100000000 };
		r = io_uring_wait_cqe_timeout(&ring, cqe, &ts);
		if (r == -ETIME || r == -EINTR) { *cqe = NULL; return; }
	}
	if (r < 0) { errno = -r; WP_DIE("io_uring wait"); }
}

static int flood(const struct wp_args *a, int fd)
{
	if (!a->client) {
		if (bind(fd, (struct sockaddr *)&a->addr, sizeof a->addr)) WP_DIE("bind");
		for (int i = 0; i < a->batch; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			io_uring_prep_recv(sqe, fd, fbuf[i], WP_MAX_PAYLOAD, 0);
			io_uring_sqe_set_data64(sqe, (uint64_t)i);
		}
		submit();
		struct wp_sink k = { 0 };
		uint64_t until = wp_now() + (uint64_t)(a->duration * 1e9);
		while (!wp_stop && wp_now() < until) {
			struct io_uring_cqe *cqe;
			wait_one(&cqe);
			if (!cqe) continue;
			unsigned head, seen = 0;
			io_uring_for_each_cqe(&ring, head, cqe) {
				uint64_t i = io_uring_cqe_get_data64(cqe);
				if (cqe->res > 0) wp_sink_count(&k, fbuf[i], cqe->res);
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
				io_uring_prep_recv(sqe, fd, fbuf[i], WP_MAX_PAYLOAD, 0);
				io_uring_sqe_set_data64(sqe, i);
				seen++;
			}
			io_uring_cq_advance(&ring, seen);
			submit();
		}
		wp_sink_report(&k, "uring", a->mode);
		return 0;
	}
	if (connect(fd, (struct sockaddr *)&a->addr, sizeof a->addr)) WP_DIE("connect");
	struct wp_stamper st;
	for (int i = 0; i < a->batch; i++) wp_prepare(&st, fbuf[i], a->size);
	st.run_id = 1;
	struct wp_clock c; wp_clock_init(&c, a);
	uint64_t warm = 0, measured = 0, sent = 0;
	for (uint64_t now = wp_now(); now < c.until && !wp_stop; now = wp_now()) {
		for (int i = 0; i < a->batch; i++) {
			wp_stamp_kind(&st, fbuf[i], WP_KIND_FLOOD, wp_flood_seq(now, c.measure_from, &warm, &measured), now);
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			io_uring_prep_send(sqe, fd, fbuf[i], (size_t)a->size, 0);
			io_uring_sqe_set_data64(sqe, UD_SEND);
		}
		/* All sends of this batch complete before their buffers are restamped. */
		int r = io_uring_submit_and_wait(&ring, (unsigned)a->batch);
		if (r < 0 && r != -EINTR) { errno = -r; WP_DIE("io_uring_submit_and_wait"); }
		struct io_uring_cqe *cqe; unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) { sent += cqe->res > 0 && now >= c.measure_from; seen++; }
		io_uring_cq_advance(&ring, seen);
	}
	wp_sender_report(sent, c.until - c.measure_from, "uring", a->mode);
	return 0;
}

int main(int argc, char **argv)
{
	struct wp_args a; wp_parse(argc, argv, &a, MODES);
	spin = !strcmp(a.mode, "spin"); sqpoll = !strcmp(a.mode, "sqpoll"); is_client = a.client;
	struct io_uring_params p = { 0 };
	if (sqpoll) {
		p.flags = IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER;
		p.sq_thread_idle = 50;
		/* WP_SQ_NOAFF=1: no SQ_AFF, as Wirepath's ring (pinned by taskset
		 * instead). On Linux 6.18 the SQ thread then inherits the creating
		 * thread's affinity (`taskset -p` of iou-sqp-N shows the loop's CPU),
		 * so both place it alike; the knob checks that. */
		if (a.cpu >= 0 && !getenv("WP_SQ_NOAFF")) { p.flags |= IORING_SETUP_SQ_AFF; p.sq_thread_cpu = (unsigned)a.cpu; }
	} else {
		p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	}
	int r = io_uring_queue_init_params(a.flood ? 2048 : 64, &ring, &p);
	if (r < 0) { errno = -r; WP_DIE("io_uring_queue_init_params"); }
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) WP_DIE("socket");
	if (!strcmp(a.mode, "napi")) {
		/* IORING_REGISTER_NAPI (27, Linux 6.9+): liburing 2.3 has neither
		 * the call nor the struct, so both are spelled from the uapi header. */
		struct { uint32_t busy_poll_to; uint8_t prefer, pad[3]; uint64_t resv; } napi = { .busy_poll_to = (uint32_t)a.busy_poll };
		r = io_uring_register(ring.ring_fd, 27, &napi, 1);
		if (r < 0) { errno = -r; WP_DIE("io_uring_register_napi"); }
	}

	if (a.flood) { r = flood(&a, fd); io_uring_queue_exit(&ring); return r; }

	if (!a.client) {
		if (bind(fd, (struct sockaddr *)&a.addr, sizeof a.addr)) WP_DIE("bind");
		uint64_t until = wp_now() + (uint64_t)(a.duration * 1e9), echoed = 0;
		arm_recv(fd); submit();
		while (!wp_stop && wp_now() < until) {
			long n = wait_recv(fd, until);
			if (n < 0) { submit(); continue; }
			/* rbuf is echoed before the re-armed receive can overwrite it:
			 * the send is submitted first, in the same io_uring_enter. */
			siov.iov_base = rbuf; siov.iov_len = (size_t)n;
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			io_uring_prep_sendmsg(sqe, fd, &smsg, 0);
			io_uring_sqe_set_data64(sqe, UD_SEND);
			submit();
			echoed++;
		}
		fprintf(stderr, "uring_pp reflector: echoed %" PRIu64 "\n", echoed);
		io_uring_queue_exit(&ring);
		return 0;
	}

	if (connect(fd, (struct sockaddr *)&a.addr, sizeof a.addr)) WP_DIE("connect");
	struct wp_stamper st; wp_prepare(&st, buf, a.size);
	struct wp_samples s; wp_samples_init(&s);
	struct wp_clock c; wp_clock_init(&c, &a);
	arm_recv(fd);
	uint64_t seq = 0;
	for (uint64_t t0 = wp_now(); t0 < c.until && !wp_stop; t0 = wp_now()) {
		wp_stamp(&st, buf, seq, t0);
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		io_uring_prep_send(sqe, fd, buf, (size_t)a.size, 0);
		io_uring_sqe_set_data64(sqe, UD_SEND);
		submit(); /* with the receive re-armed by the last round */
		int measured = t0 >= c.measure_from;
		s.sent += measured;
		long n;
		while ((n = wait_recv(fd, t0 + 100000000ull)) >= 0 && !wp_is_reply(&st, rbuf, n, seq)) { s.foreign++; submit(); }
		uint64_t t1 = wp_now();
		if (n >= 0 && measured) { s.received++; wp_record(&s, t1 - t0); }
		seq++;
	}
	wp_report(&s, "uring", a.mode);
	io_uring_queue_exit(&ring);
	return 0;
}
