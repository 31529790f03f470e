/* wp_loop.h: what every minimal C ping-pong loop in bench/c shares: the
 * Wirepath payload header and its integrity check (so a C client and
 * Wirepath's reflector can face each other, and the capture audit reads
 * either), argument parsing, pinning, the RTT samples and their report.
 *
 * The loops themselves are the point of these programs: each .c file is the
 * shortest correct ping-pong of its kind, with every buffer allocated before
 * the first packet. Nothing here runs inside the measured loop except
 * wp_now(), wp_stamp() and wp_record(), all allocation-free.
 *
 * Layout of the payload (little-endian, see Sources/WirepathModel/Payload.swift):
 *   0 magic u32 "WPTH" | 4 version u8 | 5 kind u8 (1 ping) | 6 op u16
 *   8 runID u64 | 16 seq u64 | 24 timestamp u64 | 32 check u64 | 40 body */
#ifndef WP_LOOP_H
#define WP_LOOP_H
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WP_HDR 40
#define WP_MAX_PAYLOAD 1472
#define WP_MAGIC 0x48545057u
#define WP_K1 0x9E3779B97F4A7C15ull
#define WP_K2 0xBF58476D1CE4E5B9ull
/* Samples are kept whole (8 bytes each) and sorted once at the end, so the
 * percentiles are exact; the cap bounds memory at 80 MB. */
#define WP_MAX_SAMPLES 10000000

struct wp_args {
	int client;            /* 1 client or sender, 0 reflector or sink */
	int flood;             /* 1 sender or sink (flood), 0 ping-pong */
	int batch;             /* flood: packets per send call (-n, 1-1024) */
	const char *mode;      /* per program: block, spin, epoll, busypoll, sqpoll, napi, poll */
	struct sockaddr_in addr; /* client: the reflector; reflector: where to bind */
	int size;              /* UDP payload bytes, 40-1472 */
	double warmup, duration; /* client: seconds; reflector: the whole run bound */
	int cpu;               /* -1: do not pin */
	int busy_poll;         /* µs for busypoll / napi modes */
	const char *ifname;    /* xdp only */
	int queue;             /* xdp only */
};

static volatile sig_atomic_t wp_stop;
static void wp_on_signal(int s) { (void)s; wp_stop = 1; }

static inline uint64_t wp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t wp_mix(uint64_t h, uint64_t w)
{
	uint64_t x = (h ^ w) * WP_K1;
	return x ^ (x >> 29);
}

static inline uint64_t wp_load64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Integrity.bodyState: over bytes [40, n). Computed once per run. */
static uint64_t wp_body_state(const uint8_t *b, int n)
{
	uint64_t h = WP_K2 ^ (uint64_t)n;
	int off = WP_HDR;
	for (; off + 8 <= n; off += 8) h = wp_mix(h, wp_load64(b + off));
	if (off < n) {
		uint64_t tail = 0;
		for (int shift = 0; off < n; off++, shift += 8) tail |= (uint64_t)b[off] << shift;
		h = wp_mix(h, tail);
	}
	return h;
}

/* Integrity.finish: the header words 0..<32 after the body. */
static inline uint64_t wp_finish(uint64_t h, const uint8_t *b)
{
	for (int i = 0; i < 32; i += 8) h = wp_mix(h, wp_load64(b + i));
	h ^= h >> 32; h *= WP_K2; h ^= h >> 31;
	return h;
}

struct wp_stamper { uint64_t run_id, body; int size; };

/* Fills the body once (the same filler as PayloadStamper.fillBody). */
static void wp_prepare(struct wp_stamper *s, uint8_t *buf, int size)
{
	for (int i = WP_HDR; i < size; i++) buf[i] = (uint8_t)(i * 131 + 7);
	s->size = size;
	s->body = wp_body_state(buf, size);
	if (getrandom(&s->run_id, sizeof s->run_id, 0) != sizeof s->run_id) s->run_id = wp_now();
}

#define WP_KIND_PING 1
#define WP_KIND_FLOOD 2
/* Flood warm-up packets carry sequences from here (SequenceSpace.warmup):
 * a sink counts only what is below it, as Wirepath's does. */
#define WP_WARMUP_SEQ (1ull << 62)

static inline void wp_stamp_kind(const struct wp_stamper *s, uint8_t *b, int kind, uint64_t seq, uint64_t ts)
{
	uint32_t magic = WP_MAGIC; uint16_t op = 0;
	memcpy(b, &magic, 4); b[4] = 1; b[5] = (uint8_t)kind; memcpy(b + 6, &op, 2);
	memcpy(b + 8, &s->run_id, 8); memcpy(b + 16, &seq, 8); memcpy(b + 24, &ts, 8);
	uint64_t check = wp_finish(s->body, b);
	memcpy(b + 32, &check, 8);
}

static inline void wp_stamp(const struct wp_stamper *s, uint8_t *b, uint64_t seq, uint64_t ts)
{
	wp_stamp_kind(s, b, WP_KIND_PING, seq, ts);
}

/* A flood sink's tally: measured packets, and the span from the first to the
 * last one (rxPps = received / span, as Wirepath's receiverSpanNs). */
struct wp_sink { uint64_t received, warmup, foreign, first, last; };

static inline void wp_sink_count(struct wp_sink *k, const uint8_t *b, long n)
{
	uint32_t magic;
	if (n < WP_HDR || (memcpy(&magic, b, 4), magic != WP_MAGIC) || b[5] != WP_KIND_FLOOD) { k->foreign++; return; }
	if (wp_load64(b + 16) >= WP_WARMUP_SEQ) { k->warmup++; return; }
	uint64_t t = wp_now();
	if (!k->received++) k->first = t;
	k->last = t;
}

static inline void wp_sink_report(const struct wp_sink *k, const char *name, const char *mode)
{
	uint64_t span = k->last - k->first;
	printf("{\"loop\":\"%s\",\"mode\":\"%s\",\"role\":\"sink\",\"received\":%" PRIu64 ",\"warmup\":%" PRIu64
	       ",\"foreign\":%" PRIu64 ",\"spanNs\":%" PRIu64 ",\"rxPps\":%.1f}\n", name, mode, k->received, k->warmup,
	       k->foreign, span, span ? (double)(k->received - 1) * 1e9 / (double)span : 0.0);
	fflush(stdout);
}

static inline void wp_sender_report(uint64_t sent, uint64_t ns, const char *name, const char *mode)
{
	printf("{\"loop\":\"%s\",\"mode\":\"%s\",\"role\":\"sender\",\"sent\":%" PRIu64 ",\"txPps\":%.1f}\n",
	       name, mode, sent, ns ? (double)sent * 1e9 / (double)ns : 0.0);
	fflush(stdout);
}

/* A reply is ours when it is a full-size echo of the ping with this seq. */
static inline int wp_is_reply(const struct wp_stamper *s, const uint8_t *b, long n, uint64_t seq)
{
	return n == s->size && wp_load64(b + 8) == s->run_id && wp_load64(b + 16) == seq;
}

struct wp_samples { uint64_t *v; size_t n, cap; uint64_t sent, received, foreign; };

static void wp_samples_init(struct wp_samples *s)
{
	s->cap = WP_MAX_SAMPLES; s->n = 0; s->sent = s->received = s->foreign = 0;
	s->v = malloc(s->cap * sizeof *s->v);
	if (!s->v) { perror("malloc"); exit(2); }
	for (size_t i = 0; i < s->cap; i += 512) s->v[i] = 0; /* fault the pages in now */
}

static inline void wp_record(struct wp_samples *s, uint64_t rtt) { if (s->n < s->cap) s->v[s->n++] = rtt; }

static int wp_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* One JSON line on stdout: what twins.sh reads. */
static void wp_report(struct wp_samples *s, const char *name, const char *mode)
{
	qsort(s->v, s->n, sizeof *s->v, wp_cmp);
	uint64_t p50 = s->n ? s->v[(s->n - 1) / 2] : 0, p99 = s->n ? s->v[(size_t)((s->n - 1) * 0.99)] : 0;
	printf("{\"loop\":\"%s\",\"mode\":\"%s\",\"count\":%zu,\"sent\":%" PRIu64 ",\"received\":%" PRIu64
	       ",\"foreign\":%" PRIu64 ",\"p50Ns\":%" PRIu64 ",\"p99Ns\":%" PRIu64 "}\n",
	       name, mode, s->n, s->sent, s->received, s->foreign, p50, p99);
	fflush(stdout);
}

static void wp_usage(const char *prog, const char *modes)
{
	fprintf(stderr,
		"usage: %s client|reflector|sender|sink ADDR PORT [-m MODE] [-s SIZE] [-w WARMUP_S] [-d DURATION_S]\n"
		"          [-c CPU] [-b BUSY_POLL_US] [-n BATCH] [-i IFNAME] [-q QUEUE]\n"
		"  client/reflector: ping-pong; sender/sink: flood (the sink counts, the sender sends as fast as it can)\n"
		"  modes: %s\n"
		"  ADDR must be in 198.18.0.0/15 (the benchmarking range this project uses).\n", prog, modes);
	exit(2);
}

/* Parses and checks everything; a bad value names itself and exits 2. */
static void wp_parse(int argc, char **argv, struct wp_args *a, const char *modes)
{
	memset(a, 0, sizeof *a);
	a->mode = "block"; a->size = 64; a->warmup = 1; a->duration = 5; a->cpu = -1; a->busy_poll = 50; a->batch = 32;
	if (argc < 4) wp_usage(argv[0], modes);
	if (!strcmp(argv[1], "client")) a->client = 1;
	else if (!strcmp(argv[1], "sender")) a->client = a->flood = 1;
	else if (!strcmp(argv[1], "sink")) a->flood = 1;
	else if (strcmp(argv[1], "reflector")) wp_usage(argv[0], modes);
	a->addr.sin_family = AF_INET;
	if (inet_pton(AF_INET, argv[2], &a->addr.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[2]); exit(2); }
	if ((ntohl(a->addr.sin_addr.s_addr) & 0xfffe0000u) != 0xc6120000u) {
		fprintf(stderr, "address %s is outside 198.18.0.0/15; use a namespace address\n", argv[2]); exit(2);
	}
	char *end; long port = strtol(argv[3], &end, 10);
	if (*end || port < 1 || port > 65535) { fprintf(stderr, "bad port %s (1-65535)\n", argv[3]); exit(2); }
	a->addr.sin_port = htons((uint16_t)port);
	int o; optind = 4;
	while ((o = getopt(argc, argv, "m:s:w:d:c:b:n:i:q:")) != -1) {
		switch (o) {
		case 'm': a->mode = optarg; if (!strstr(modes, optarg)) wp_usage(argv[0], modes); break;
		case 's': a->size = atoi(optarg); break;
		case 'w': a->warmup = atof(optarg); break;
		case 'd': a->duration = atof(optarg); break;
		case 'c': a->cpu = atoi(optarg); break;
		case 'b': a->busy_poll = atoi(optarg); break;
		case 'n': a->batch = atoi(optarg); break;
		case 'i': a->ifname = optarg; break;
		case 'q': a->queue = atoi(optarg); break;
		default: wp_usage(argv[0], modes);
		}
	}
	if (a->size < WP_HDR || a->size > WP_MAX_PAYLOAD) { fprintf(stderr, "-s %d: size must be 40-1472\n", a->size); exit(2); }
	if (!(a->warmup >= 0 && a->warmup <= 60) || !(a->duration > 0 && a->duration <= 3600)) {
		fprintf(stderr, "-w must be 0-60 s and -d 0-3600 s\n"); exit(2);
	}
	if (a->busy_poll < 0 || a->busy_poll > 1000000) { fprintf(stderr, "-b must be 0-1000000 µs\n"); exit(2); }
	if (a->batch < 1 || a->batch > 1024) { fprintf(stderr, "-n must be 1-1024 packets per call\n"); exit(2); }
	struct sigaction sa = { .sa_handler = wp_on_signal };
	sigaction(SIGINT, &sa, NULL); sigaction(SIGTERM, &sa, NULL);
	if (a->cpu >= 0) {
		cpu_set_t set; CPU_ZERO(&set); CPU_SET(a->cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set)) { perror("sched_setaffinity"); exit(2); }
	}
}

/* The sequence of the next flood packet: warm-up packets count up from
 * WP_WARMUP_SEQ, measured ones from 0. */
static inline uint64_t wp_flood_seq(uint64_t now, uint64_t measure_from, uint64_t *warm, uint64_t *measured)
{
	return now < measure_from ? WP_WARMUP_SEQ + (*warm)++ : (*measured)++;
}

/* Client phases: warm-up (not recorded), then the measured window. */
struct wp_clock { uint64_t start, measure_from, until; };
static inline void wp_clock_init(struct wp_clock *c, const struct wp_args *a)
{
	c->start = wp_now();
	c->measure_from = c->start + (uint64_t)(a->warmup * 1e9);
	c->until = c->measure_from + (uint64_t)(a->duration * 1e9);
}

#define WP_DIE(what) do { perror(what); exit(1); } while (0)
#endif
