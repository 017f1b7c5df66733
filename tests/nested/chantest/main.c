/*
 * chantest: hvrt's public channel API (<hvrt/vmbus.h>) against QEMU 7.2's
 * real host-side VMBus code and the project's hvrt-test device
 * (tests/qemu/patches, hw/hyperv/hvrt_test.c), in the nested host with the
 * rebuilt inner QEMU (test-hosts.md section 3). tests/nested/chan_cases.py
 * runs it and checks QEMU's trace of the control messages.
 *
 *   chantest [CHECK[=N] ...]     (no CHECK, or "all": every check in order)
 *
 * Each check prints "chantest: NAME: ok FIGURES" or one or more
 * "chantest: NAME: FAIL WHY" lines; the last line is "chantest: N passed,
 * N failed" and the exit status is the number of failed checks. N, where a
 * check takes one, replaces its default count (packets, rounds).
 *
 * The device offers class 6876d3a1-... as a primary and two sub-channels.
 * It echoes in-band packets (as a completion with the same transaction id
 * when one was asked for), answers GPA-direct packets with the FNV-1a 64 of
 * the bytes they name, and takes control packets (struct control) that stall
 * or resume a channel, make it send packets unprompted, rescind it, or write
 * a malformed packet on its host->guest ring. A control packet is answered on
 * the channel it came on before the target channel acts, so a control for
 * one channel is sent on another.
 *
 * The checks, in the order "all" runs them (each says more above its
 * function): offers, open-close, close-busy, completions, gpa, stream,
 * backpressure-out, backpressure-in, busy, bad-length, bad-offset, bad-type,
 * stray-completion, rescind, rescind-primary (the rescinds take channels
 * away for good), teardown (UNLOAD). Each opens what it needs and closes it
 * again, so any subset runs in any order before those three.
 *
 * Everything is checked byte for byte; nothing waits without a bound. The
 * console is slow in the nested host (each byte is a VM exit under TCG), so
 * a check prints one line unless it fails. The file: reporting, time, the
 * byte pattern, channels and their receive sinks, the device's commands,
 * the stream engine (run_stream), the checks, main.
 */
/* usleep is POSIX, not C11: asked for, so that -std=c11 builds it as -std=gnu11 (the apps' flags) does. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hvrt/hvrt.h>

#define TEST_CLASS "6876d3a1-2c5e-4f0b-9d47-68767274e001"
#define NCHAN 3u

/* The device's control packet (hvrt_test.c HvrtTestControl, packed: five u32s have no padding). */
#define CTL_MAGIC 0x48565254u
enum ctl_cmd {
	CTL_STALL = 1,
	CTL_RESUME = 2,
	CTL_SEND = 3,
	CTL_RESCIND = 4,
	CTL_BAD_LENGTH = 5,
	CTL_BAD_OFFSET = 6,
	CTL_BAD_TYPE = 7,
	CTL_STRAY_COMPLETION = 8,
};
struct control {
	uint32_t magic, cmd, channel, count, size;
};
_Static_assert(sizeof(struct control) == 20, "the device's control packet is 20 bytes");

/* The device's answer to a GPA-direct packet (HvrtTestGpaSum). */
struct gpa_sum {
	uint64_t fnv1a64;
	uint32_t bytes, ranges;
};
_Static_assert(sizeof(struct gpa_sum) == 16, "the device's checksum answer is 16 bytes");

#define PKT_INBAND 6u
#define PKT_COMPLETION 11u
#define FNV_BASIS 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

#define PAGE 4096u
#define MAX_PACKET (4096u + 64)     /* the largest packet a channel here takes from the host */
#define QUEUE_LEN 32u               /* packets a queue sink holds */
#define PATTERN_BYTES 65536u
#define TICKS_PER_MS 10000u         /* reference time is in 100 ns */
#define WAIT_STEP_US 200u           /* how long wait_until sleeps (polling) between looks */
#define REPLY_MS 2000u              /* for an answer the device gives at once */
#define FAIL_LINES_MAX 8u           /* FAIL lines a check prints; the rest are counted */

/* ---- reporting ---- */

static struct {
	const char *name;
	unsigned fails;
	char figures[512];
} cur;

/*
 * fail - one way the current check failed
 * Printed at once, so a check that hangs later still shows what went wrong
 * first; past FAIL_LINES_MAX only counted (the console is slow).
 */
__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	if (++cur.fails > FAIL_LINES_MAX)
		return;
	printf("chantest: %s: FAIL ", cur.name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* The condition, and a failure when it does not hold: EXPECT(ok, "what ...", ...). */
#define EXPECT(cond, ...) ((cond) ? true : (fail(__VA_ARGS__), false))

/* Adds to the figures printed on the check's "ok" line. */
__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
	size_t used = strlen(cur.figures);
	va_list ap;

	if (used && used + 2 < sizeof(cur.figures)) {
		strcpy(cur.figures + used, "; ");
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(cur.figures + used, sizeof(cur.figures) - used, fmt, ap);
	va_end(ap);
}

/* ---- time ---- */

/* Partition reference time (100 ns): what the brief measures with, the same clock as the host's. */
static uint64_t now_ref(void)
{
	uint64_t t = 0;

	hvrt_reftime(&t);
	return t;
}

/* Milliseconds since t0 (reference time), for the figures. */
static unsigned ms_since(uint64_t t0)
{
	return (unsigned)((now_ref() - t0) / TICKS_PER_MS);
}

/*
 * wait_until - run the event loop until done(ctx), at most timeout_ms
 * usleep halts and runs hvrt_poll() on every wake-up, so callbacks (on_packet,
 * on_rescind) run meanwhile and the host's threads get the CPU (the nested
 * host has one). Return: whether done(ctx) held in time.
 */
static bool wait_until(bool (*done)(void *ctx), void *ctx, unsigned timeout_ms)
{
	uint64_t end = now_ref() + (uint64_t)timeout_ms * TICKS_PER_MS;

	hvrt_poll();
	while (!done(ctx)) {
		if (now_ref() >= end)
			return done(ctx);
		usleep(WAIT_STEP_US);
	}
	return true;
}

/* ---- data the receiver can recompute ---- */

static uint8_t pattern[PATTERN_BYTES];

/* splitmix64's finaliser: lengths and offsets from a sequence number, spread evenly. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * Random bytes that packets are cut from. No byte is 0x54, the magic's first
 * (little-endian) byte: no echoed packet may ever look like a control packet.
 */
static void pattern_init(void)
{
	for (unsigned i = 0; i < PATTERN_BYTES; i += 8) {
		uint64_t r = mix64(i);
		memcpy(pattern + i, &r, 8);
	}
	for (unsigned i = 0; i < PATTERN_BYTES; i++) {
		if (pattern[i] == (CTL_MAGIC & 0xff))
			pattern[i]++;
	}
}

/* FNV-1a 64 of n more bytes after h (start with FNV_BASIS): the device's GPA-direct checksum. */
static uint64_t fnv1a64(uint64_t h, const uint8_t *p, size_t n)
{
	while (n--)
		h = (h ^ *p++) * FNV_PRIME;
	return h;
}

/* VMBus packets are padded to 8 bytes, and an echo brings the padding back. */
static uint32_t round8(uint32_t n)
{
	return (n + 7) & ~7u;
}

/* The first byte where a and b differ (len if none): a failure names it. */
static uint32_t first_difference(const uint8_t *a, const uint8_t *b, uint32_t len)
{
	uint32_t i = 0;

	while (i < len && a[i] == b[i])
		i++;
	return i;
}

/* ---- channels and what they receive ---- */

static struct hvrt_channel *chans[NCHAN]; /* by sub-channel index: 0 is the primary */
static struct hvrt_guid test_class;

/* A packet kept by a queue sink. */
struct rx_entry {
	uint16_t type, flags;
	uint64_t trans_id;
	uint32_t len;             /* payload_len */
	uint8_t data[MAX_PACKET]; /* its payload (at most MAX_PACKET bytes fit in a channel's packet) */
};

/* A stream: packets whose length, bytes, id and type follow from their sequence number. */
struct stream_cfg {
	uint32_t count[NCHAN];      /* packets per channel; 0: the channel takes no part */
	uint32_t min_len, max_len;  /* payload bytes, max_len < PATTERN_BYTES */
	unsigned completion_every;  /* packets with seq % this == 0 ask for a completion; 0: none */
	uint32_t seed;
	uint32_t trigger_at;        /* once this many are sent in all, trigger(ctx) runs (0: never) */
	void (*trigger)(void *ctx);
	void *trigger_ctx;
	unsigned timeout_ms;
};

enum sink_mode {
	SINK_QUEUE,  /* keep packets for the check to take (next_packet) */
	SINK_STREAM, /* check each against the stream (stream_packet) */
	SINK_SEQ,    /* check each against the device's SEND packets (seq_packet_error) */
};

/* What a channel's on_packet does, and what it saw. */
struct chan_rx {
	unsigned idx;
	enum sink_mode mode;
	unsigned long packets; /* on_packet calls since the last reset */
	/* SINK_QUEUE */
	struct rx_entry queue[QUEUE_LEN];
	unsigned head, count, overflow;
	/* SINK_STREAM and SINK_SEQ */
	const struct stream_cfg *stream;
	uint32_t seq_size;      /* SINK_SEQ: the SEND command's size */
	uint32_t next_seq, expect;
	uint64_t bytes;
	unsigned errors;
	char error[200];        /* the first */
	/* on_rescind */
	unsigned rescinds;
	bool rescind_args_ok;
};

static struct chan_rx rxs[NCHAN];

/* Forgets what a channel received and sets what its on_packet does next. */
static void sink_reset(unsigned idx, enum sink_mode mode)
{
	struct chan_rx *rx = &rxs[idx];

	rx->idx = idx;
	rx->mode = mode;
	rx->packets = 0;
	rx->head = rx->count = rx->overflow = 0;
	rx->stream = NULL;
	rx->seq_size = 0;
	rx->next_seq = rx->expect = 0;
	rx->bytes = 0;
	rx->errors = 0;
	rx->error[0] = 0;
}

/* Records a receive-side error (from a callback: printed by the check, first one only). */
__attribute__((format(printf, 2, 3))) static void rx_error(struct chan_rx *rx, const char *fmt, ...)
{
	va_list ap;

	if (rx->errors++)
		return;
	va_start(ap, fmt);
	vsnprintf(rx->error, sizeof(rx->error), fmt, ap);
	va_end(ap);
}

/* A stream packet: what the sender sends and the receiver expects for seq on channel idx. */
struct stream_pkt {
	const uint8_t *data;
	uint32_t len;
	uint64_t id;
	bool want_completion;
};

/* Stream packet seq of channel idx: a slice of the pattern of a length from its hash; its id names both. */
static void stream_packet(const struct stream_cfg *cfg, unsigned idx, uint32_t seq, struct stream_pkt *p)
{
	uint64_t h = mix64(((uint64_t)idx << 40) ^ ((uint64_t)cfg->seed << 48) ^ seq);

	p->len = cfg->min_len + (uint32_t)(h % (cfg->max_len - cfg->min_len + 1));
	p->data = pattern + (h >> 32) % (PATTERN_BYTES - cfg->max_len);
	/* The channel in the top byte: a packet echoed on the wrong channel shows. */
	p->id = ((uint64_t)(0xc0 + idx) << 56) | ((uint64_t)cfg->seed << 32) | seq;
	p->want_completion = cfg->completion_every && seq % cfg->completion_every == 0;
}

/*
 * Checks one echoed stream packet: the next sequence number's id, the type
 * its request asked for, the length (VMBus carries none: the sender's padding
 * to 8 comes back, zero), every byte.
 */
static void sink_stream(struct chan_rx *rx, const struct hvrt_packet *pkt)
{
	struct stream_pkt p;
	uint32_t seq = rx->next_seq;

	if (seq >= rx->expect) {
		rx_error(rx, "a packet past the %" PRIu32 " expected: type %u id %#" PRIx64, rx->expect, pkt->type,
			 pkt->trans_id);
		return;
	}
	stream_packet(rx->stream, rx->idx, seq, &p);
	rx->next_seq++;
	uint32_t padded = round8(p.len);
	const uint8_t *got = pkt->payload;
	unsigned want_type = p.want_completion ? PKT_COMPLETION : PKT_INBAND;
	if (pkt->trans_id != p.id) {
		rx_error(rx, "seq %" PRIu32 ": id %#" PRIx64 " (want %#" PRIx64 ")", seq, pkt->trans_id, p.id);
	} else if (pkt->type != want_type || pkt->flags != 0) {
		rx_error(rx, "seq %" PRIu32 ": type %u flags %#x (want %u, 0)", seq, pkt->type, pkt->flags, want_type);
	} else if (pkt->payload_len != padded) {
		rx_error(rx, "seq %" PRIu32 ": %" PRIu32 " bytes (want %" PRIu32 " padded to %" PRIu32 ")", seq,
			 pkt->payload_len, p.len, padded);
	} else if (memcmp(got, p.data, p.len) != 0) {
		uint32_t at = first_difference(got, p.data, p.len);
		rx_error(rx, "seq %" PRIu32 ": byte %" PRIu32 " of %" PRIu32 " is %#x (want %#x)", seq, at, p.len, got[at],
			 p.data[at]);
	} else {
		for (uint32_t i = p.len; i < padded; i++) {
			if (got[i]) {
				rx_error(rx, "seq %" PRIu32 ": padding byte %" PRIu32 " is %#x", seq, i, got[i]);
				break;
			}
		}
	}
	rx->bytes += p.len;
}

/*
 * Why a packet is not the device's SEND packet seq of size bytes (NULL if it
 * is): in-band, id seq, payload {u32 magic, u32 seq, byte i = seq * 31 + i}.
 */
static const char *seq_packet_error(const struct hvrt_packet *pkt, uint32_t seq, uint32_t size)
{
	static char why[160];
	const uint8_t *p = pkt->payload;
	uint32_t word[2];

	if (pkt->type != PKT_INBAND || pkt->trans_id != seq || pkt->flags != 0) {
		snprintf(why, sizeof(why), "seq %" PRIu32 ": type %u id %#" PRIx64 " flags %#x (want 6, %#" PRIx32 ", 0)",
			 seq, pkt->type, pkt->trans_id, pkt->flags, seq);
		return why;
	}
	if (pkt->payload_len != round8(size)) {
		snprintf(why, sizeof(why), "seq %" PRIu32 ": %" PRIu32 " bytes (want %" PRIu32 ")", seq, pkt->payload_len,
			 round8(size));
		return why;
	}
	memcpy(word, p, 8);
	if (word[0] != CTL_MAGIC || word[1] != seq) {
		snprintf(why, sizeof(why), "seq %" PRIu32 ": header %#" PRIx32 " %" PRIu32, seq, word[0], word[1]);
		return why;
	}
	for (uint32_t i = 8; i < size; i++) {
		if (p[i] != (uint8_t)(seq * 31 + i)) {
			snprintf(why, sizeof(why), "seq %" PRIu32 ": byte %" PRIu32 " is %#x (want %#x)", seq, i, p[i],
				 (uint8_t)(seq * 31 + i));
			return why;
		}
	}
	return NULL;
}

/* Checks a SEND packet against the next sequence number. */
static void sink_seq(struct chan_rx *rx, const struct hvrt_packet *pkt)
{
	uint32_t seq = rx->next_seq++;
	const char *why;

	if (seq >= rx->expect)
		rx_error(rx, "a packet past the %" PRIu32 " expected: id %#" PRIx64, rx->expect, pkt->trans_id);
	else if ((why = seq_packet_error(pkt, seq, rx->seq_size)) != NULL)
		rx_error(rx, "%s", why);
	rx->bytes += rx->seq_size;
}

/* Keeps a packet for the check (its payload copied: pkt is valid only in the callback). */
static void sink_queue(struct chan_rx *rx, const struct hvrt_packet *pkt)
{
	if (rx->count == QUEUE_LEN || pkt->payload_len > MAX_PACKET) {
		rx->overflow++;
		return;
	}
	struct rx_entry *e = &rx->queue[(rx->head + rx->count) % QUEUE_LEN];
	e->type = pkt->type;
	e->flags = pkt->flags;
	e->trans_id = pkt->trans_id;
	e->len = pkt->payload_len;
	memcpy(e->data, pkt->payload, pkt->payload_len);
	rx->count++;
}

/* Every channel's on_packet: ctx is its struct chan_rx. */
static void on_packet(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	struct chan_rx *rx = ctx;

	rx->packets++;
	if (ch != chans[rx->idx]) {
		rx_error(rx, "on_packet for channel %u got another channel", rx->idx);
		return;
	}
	switch (rx->mode) {
	case SINK_QUEUE:
		sink_queue(rx, pkt);
		break;
	case SINK_STREAM:
		sink_stream(rx, pkt);
		break;
	case SINK_SEQ:
		sink_seq(rx, pkt);
		break;
	}
}

/* Every channel's on_rescind: counts, and checks it is told the right channel and context. */
static void on_rescind(struct hvrt_channel *ch, void *ctx)
{
	struct chan_rx *rx = ctx;

	rx->rescinds++;
	rx->rescind_args_ok = ch == chans[rx->idx];
}

/*
 * open_chan - open channel idx with these data areas
 * Interrupt-driven channels get on_packet (what their sink says); polled
 * ones are read with hvrt_channel_recv. Return: hvrt_channel_open's.
 */
static int open_chan(unsigned idx, uint32_t send_bytes, uint32_t recv_bytes, bool polled)
{
	struct hvrt_channel_config cfg = {
		.send_ring_bytes = send_bytes,
		.recv_ring_bytes = recv_bytes,
		.max_packet_bytes = recv_bytes < MAX_PACKET ? recv_bytes : MAX_PACKET,
		.target_vp = hvrt_host()->vp_index,
		.on_packet = polled ? NULL : on_packet,
		.on_rescind = on_rescind,
		.ctx = &rxs[idx],
		.polled = polled,
	};

	return hvrt_channel_open(chans[idx], &cfg);
}

/* Opens every channel interrupt-driven with 16 KiB rings and queue sinks; false (and a failure) if one fails. */
static bool open_all(void)
{
	for (unsigned i = 0; i < NCHAN; i++) {
		sink_reset(i, SINK_QUEUE);
		int err = open_chan(i, 16384, 16384, false);
		if (!EXPECT(err == 0, "open of channel %u: %d", i, err))
			return false;
	}
	return true;
}

/* Closes every channel the host still offers (a closed one is left as it is); false on an error. */
static bool close_all(void)
{
	bool ok = true;

	for (int i = NCHAN - 1; i >= 0; i--) {
		if (hvrt_channel_rescinded(chans[i]))
			continue;
		int err = hvrt_channel_close(chans[i]);
		ok &= EXPECT(err == 0, "close of channel %d: %d", i, err);
	}
	return ok;
}

/*
 * request - hvrt_channel_request on channel idx, room waited for
 * A request on a busy channel fails with -EAGAIN when its send ring is full
 * (or as many completions as it may await are due): wait for room and try
 * again, up to REPLY_MS. Return: hvrt_channel_request's.
 */
static int request(unsigned idx, const void *req, size_t len, void *resp, size_t cap)
{
	uint64_t end = now_ref() + (uint64_t)REPLY_MS * TICKS_PER_MS;

	for (;;) {
		int n = hvrt_channel_request(chans[idx], req, len, resp, cap, REPLY_MS);
		if (n != -EAGAIN || now_ref() >= end)
			return n;
		hvrt_channel_wait_writable(chans[idx], len, 10);
	}
}

/*
 * control - a command for the device, sent on channel via, answered there
 * Return: the device's status (0 done, 1 unknown command or channel) or a
 * negative errno.
 */
static int control(unsigned via, uint32_t cmd, unsigned target, uint32_t count, uint32_t size)
{
	struct control c = { CTL_MAGIC, cmd, target, count, size };
	uint8_t resp[8];

	int n = request(via, &c, sizeof(c), resp, sizeof(resp));
	if (n < 0)
		return n;
	if (n < 4)
		return -EPROTO;
	uint32_t status;
	memcpy(&status, resp, 4);
	return (int)status;
}

/* A control for the device: sent, checked, failures named. */
static bool control_ok(unsigned via, uint32_t cmd, unsigned target, uint32_t count, uint32_t size)
{
	static const char *const names[] = { "?", "STALL", "RESUME", "SEND", "RESCIND", "BAD_LENGTH", "BAD_OFFSET",
					     "BAD_TYPE", "STRAY_COMPLETION" };
	int st = control(via, cmd, target, count, size);

	return EXPECT(st == 0, "control %s for channel %u on channel %u: %s %d%s",
		      cmd < sizeof(names) / sizeof(names[0]) ? names[cmd] : "?", target, via, st < 0 ? "error" : "status",
		      st, st == 1 ? " (the device does not know the command: an older tests/qemu patch?)" : "");
}

#define CONTROL_TIMER 1u /* a synthetic timer and SINT of the app's (docs/hv.md) */
#define CONTROL_SINT 5u

/* A control packet sent later from a timer expiry (timed_control). */
struct timed {
	unsigned via;
	struct control c;
	int sent; /* hvrt_channel_send's result; -EINPROGRESS until then */
};

/* The timer's expiry: sends the control packet (from whichever poll it comes in). */
static void timed_send(void *ctx, const struct hvrt_stimer_event *event)
{
	struct timed *t = ctx;
	(void)event;

	t->sent = hvrt_channel_send(chans[t->via], &t->c, sizeof(t->c), 4, false);
}

/*
 * timed_control - a command for the device, sent on channel via in ms
 * It asks for no answer. The expiry runs from whichever poll comes then,
 * those inside hvrt's own waits too: this is how a check makes the host act
 * in the middle of a blocking call. Return: hvrt_stimer_start's.
 */
static int timed_control(struct timed *t, unsigned ms, unsigned via, uint32_t cmd, unsigned target)
{
	*t = (struct timed){ via, { CTL_MAGIC, cmd, target, 0, 0 }, -EINPROGRESS };
	return hvrt_stimer_start(CONTROL_TIMER, CONTROL_SINT, false, now_ref() + (uint64_t)ms * TICKS_PER_MS,
				 timed_send, t);
}

/* wait_until: a queue sink holds a packet. */
static bool queue_nonempty(void *ctx)
{
	return ((struct chan_rx *)ctx)->count != 0;
}

/*
 * next_packet - the next packet a queue sink kept, waiting for it
 * Return: the entry (valid until the sink takes QUEUE_LEN more) or NULL.
 */
static const struct rx_entry *next_packet(unsigned idx, unsigned timeout_ms)
{
	struct chan_rx *rx = &rxs[idx];

	if (!wait_until(queue_nonempty, rx, timeout_ms))
		return NULL;
	const struct rx_entry *e = &rx->queue[rx->head];
	rx->head = (rx->head + 1) % QUEUE_LEN;
	rx->count--;
	return e;
}

/*
 * recv_polled - the next packet of a polled channel, waiting for it
 * Nobody signals a polled channel: sleeping in short steps lets the host run.
 * Return: hvrt_channel_recv's, or -ETIMEDOUT.
 */
static int recv_polled(unsigned idx, void *buf, size_t cap, struct hvrt_packet *pkt, unsigned timeout_ms)
{
	uint64_t end = now_ref() + (uint64_t)timeout_ms * TICKS_PER_MS;

	for (;;) {
		int n = hvrt_channel_recv(chans[idx], buf, cap, pkt);
		if (n != -EAGAIN)
			return n;
		if (now_ref() >= end)
			return -ETIMEDOUT;
		usleep(50);
	}
}

/* Whether a packet is the echo of len pattern bytes from off (padding to 8 included). */
static bool echo_matches(const uint8_t *got, uint32_t got_len, uint32_t off, uint32_t len)
{
	if (got_len != round8(len) || memcmp(got, pattern + off, len) != 0)
		return false;
	for (uint32_t i = len; i < got_len; i++) {
		if (got[i])
			return false;
	}
	return true;
}

/*
 * echo_ok - one echo on an open channel, whatever its kind
 * Interrupt-driven: hvrt_channel_request (the completion is matched by
 * hvrt); polled: a send asking for a completion and hvrt_channel_recv.
 */
static bool echo_ok(unsigned idx, uint32_t off, uint32_t len, const char *when)
{
	static uint8_t buf[MAX_PACKET + 64];
	struct hvrt_packet pkt;

	int n = hvrt_channel_request(chans[idx], pattern + off, len, buf, sizeof(buf), REPLY_MS);
	if (n == -EOPNOTSUPP) {
		/* a polled channel */
		uint64_t id = hvrt_channel_next_trans_id(chans[idx]);
		n = hvrt_channel_send(chans[idx], pattern + off, len, id, true);
		if (n == 0)
			n = recv_polled(idx, buf, sizeof(buf), &pkt, REPLY_MS);
		if (n >= 0 && (pkt.type != PKT_COMPLETION || pkt.trans_id != id))
			return EXPECT(false, "%s: echo on polled channel %u: type %u id %#" PRIx64 " (want 11, %#" PRIx64 ")",
				      when, idx, pkt.type, pkt.trans_id, id);
		if (n >= 0)
			memmove(buf, pkt.payload, pkt.payload_len);
	}
	if (!EXPECT(n >= 0, "%s: echo of %" PRIu32 " bytes on channel %u: %d", when, len, idx, n))
		return false;
	return EXPECT(echo_matches(buf, (uint32_t)n, off, len), "%s: echo of %" PRIu32 " bytes on channel %u: %d bytes, wrong",
		      when, len, idx, n);
}

/* ---- the stream engine ---- */

/* The bytes a packet with len payload bytes takes in a ring: descriptor, padding, trailer. */
static uint32_t ring_bytes(uint32_t len)
{
	return 16 + round8(len) + 8;
}

/* wait_until: every channel of the stream has all its echoes (or gave up with an error). */
static bool stream_received(void *ctx)
{
	const struct stream_cfg *cfg = ctx;

	for (unsigned i = 0; i < NCHAN; i++) {
		if (cfg->count[i] && rxs[i].next_seq < cfg->count[i] && !rxs[i].errors)
			return false;
	}
	return true;
}

/* What run_stream measured. */
struct stream_result {
	uint64_t ticks;               /* first send to last echo, reference time */
	uint64_t packets, bytes;      /* each way */
	uint64_t ring_bytes[NCHAN];   /* what went through each channel's rings, each way */
	unsigned blocked_waits;       /* hvrt_channel_wait_writable calls on a full send ring */
};

/*
 * run_stream - send cfg's packets on the open channels it names and check every echo
 * The rings stay busy: each channel is written until its ring is full
 * (-EAGAIN), then hvrt_channel_wait_writable halts on a full one while
 * on_packet (the stream sink) reads the echoes. The channels' sinks are set
 * here. Failures are reported; returns whether there were none.
 */
static bool run_stream(const struct stream_cfg *cfg, struct stream_result *res)
{
	uint32_t sent[NCHAN] = { 0 };
	uint64_t total_sent = 0;
	bool triggered = false, ok = true;
	unsigned fails_before = cur.fails;

	memset(res, 0, sizeof(*res));
	for (unsigned i = 0; i < NCHAN; i++) {
		if (!cfg->count[i])
			continue;
		sink_reset(i, SINK_STREAM);
		rxs[i].stream = cfg;
		rxs[i].expect = cfg->count[i];
	}
	uint64_t t0 = now_ref(), end = t0 + (uint64_t)cfg->timeout_ms * TICKS_PER_MS;
	while (!stream_received((void *)cfg)) {
		bool progressed = false;
		int blocked = -1;
		struct stream_pkt p;
		for (unsigned i = 0; i < NCHAN && ok; i++) {
			while (sent[i] < cfg->count[i]) {
				stream_packet(cfg, i, sent[i], &p);
				int err = hvrt_channel_send(chans[i], p.data, p.len, p.id, p.want_completion);
				if (err == -EAGAIN) {
					blocked = (int)i;
					break;
				}
				if (!EXPECT(err == 0, "stream: send of packet %" PRIu32 " on channel %u: %d", sent[i], i, err)) {
					ok = false;
					break;
				}
				sent[i]++;
				total_sent++;
				res->ring_bytes[i] += ring_bytes(p.len);
				progressed = true;
			}
		}
		if (!ok)
			break;
		if (cfg->trigger && !triggered && total_sent >= cfg->trigger_at) {
			triggered = true;
			cfg->trigger(cfg->trigger_ctx);
		}
		if (now_ref() >= end) {
			for (unsigned i = 0; i < NCHAN; i++) {
				if (cfg->count[i])
					fail("stream: channel %u: %" PRIu32 " of %" PRIu32 " sent, %" PRIu32
					     " echoes after %u ms", i, sent[i], cfg->count[i], rxs[i].next_seq, cfg->timeout_ms);
			}
			ok = false;
			break;
		}
		if (progressed) {
			hvrt_poll(); /* the echoes so far, before the rings fill */
		} else if (blocked >= 0) {
			stream_packet(cfg, (unsigned)blocked, sent[blocked], &p);
			res->blocked_waits++;
			int err = hvrt_channel_wait_writable(chans[blocked], p.len, 2);
			if (!EXPECT(err == 0 || err == -ETIMEDOUT, "stream: wait for room on channel %d: %d", blocked, err))
				ok = false;
		} else {
			usleep(WAIT_STEP_US); /* all sent: the last echoes */
		}
	}
	res->ticks = now_ref() - t0;
	for (unsigned i = 0; i < NCHAN; i++) {
		if (!cfg->count[i])
			continue;
		res->packets += rxs[i].next_seq;
		res->bytes += rxs[i].bytes;
		if (rxs[i].errors)
			fail("stream: channel %u: %u bad echoes, the first: %s", i, rxs[i].errors, rxs[i].error);
	}
	return ok && cur.fails == fails_before;
}

/* ---- the checks ---- */

/* The offers: three channels of the class, as QEMU 7.2 makes them (test-hosts.md section 3). */
static void check_offers(unsigned arg)
{
	char a[HVRT_GUID_STRING_LEN], b[HVRT_GUID_STRING_LEN];
	unsigned n = 0, others = 0;
	(void)arg;

	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch)) {
		const struct hvrt_vmbus_offer *o = hvrt_channel_offer(ch);
		if (!hvrt_guid_equal(&o->class_id, &test_class)) {
			others++;
			continue;
		}
		n++;
		unsigned i = o->sub_channel_index;
		EXPECT(i < NCHAN && o->relid == i + 1, "relid %" PRIu32 " has sub-channel index %u (want relid = index + 1)",
		       o->relid, i);
		EXPECT(o->connection_id == 16 + o->relid, "relid %" PRIu32 ": connection id %" PRIu32 " (want %" PRIu32 ")",
		       o->relid, o->connection_id, 16 + o->relid);
		EXPECT(!o->monitor_allocated && o->dedicated_interrupt,
		       "relid %" PRIu32 ": monitor_allocated %d, dedicated_interrupt %d (want 0, 1)", o->relid,
		       o->monitor_allocated, o->dedicated_interrupt);
		EXPECT(hvrt_channel_primary(ch) == chans[0], "relid %" PRIu32 ": its primary is not relid 1", o->relid);
		EXPECT(!hvrt_channel_is_open(ch) && !hvrt_channel_rescinded(ch) && !hvrt_channel_driver(ch),
		       "relid %" PRIu32 ": open, rescinded or driven before anyone asked", o->relid);
		EXPECT(hvrt_guid_equal(&o->instance_id, &hvrt_channel_offer(chans[0])->instance_id),
		       "relid %" PRIu32 ": instance %s, not the primary's %s", o->relid, hvrt_guid_format(&o->instance_id, a),
		       hvrt_guid_format(&hvrt_channel_offer(chans[0])->instance_id, b));
	}
	EXPECT(n == NCHAN && others == 0, "%u channels of the class and %u others (want 3 and 0)", n, others);
	EXPECT(hvrt_vmbus_find(&test_class, NULL) == chans[0] && hvrt_vmbus_find(&test_class, chans[0]) == NULL,
	       "hvrt_vmbus_find: not exactly the primary");
	for (unsigned i = 0; i < NCHAN; i++)
		EXPECT(hvrt_channel_subchannel(chans[0], (uint16_t)i) == chans[i], "hvrt_channel_subchannel(%u) is wrong", i);
	EXPECT(hvrt_channel_subchannel(chans[0], NCHAN) == NULL, "hvrt_channel_subchannel(%u) is not NULL", NCHAN);
	const char *name = hvrt_vmbus_class_name(&test_class);
	EXPECT(name && strcmp(name, "hvrt test echo device") == 0, "class name %s", name ? name : "(none)");
	note("VMBus %" PRIu32 ".%" PRIu32 ", relids 1 2 3 = sub-channels 0 1 2 of %s, connection ids 17 18 19, "
	     "no monitor, dedicated interrupts",
	     hvrt_vmbus_version() >> 16, hvrt_vmbus_version() & 0xffff,
	     hvrt_guid_format(&hvrt_channel_offer(chans[0])->instance_id, a));
}

/*
 * Open and close every channel, round after round, with other ring sizes
 * each time (some large enough for GPADL bodies), some channels polled, an
 * echo on each, and both ways of closing: one by one, or the primary alone
 * (hvrt closes its sub-channels first).
 */
static void check_open_close(unsigned rounds)
{
	uint64_t open_ticks = 0, close_ticks = 0;
	unsigned opens = 0, closes = 0;

	rounds = rounds ? rounds : 20;
	for (unsigned r = 0; r < rounds; r++) {
		char when[32];
		snprintf(when, sizeof(when), "round %u", r);
		for (unsigned i = 0; i < NCHAN; i++) {
			uint32_t send = PAGE * (1 + (r * 5 + i * 3) % 8), recv = PAGE * (2 + (r * 3 + i) % 7);
			if (r % 5 == 4) {
				send = 128 * 1024; /* 2 + 32 + 32 pages: a GPADL header and a body */
				recv = 128 * 1024;
			}
			bool polled = (r + i) % 3 == 2;
			sink_reset(i, SINK_QUEUE);
			uint64_t t = now_ref();
			int err = open_chan(i, send, recv, polled);
			open_ticks += now_ref() - t;
			opens++;
			if (!EXPECT(err == 0 && hvrt_channel_is_open(chans[i]),
				    "%s: open of channel %u (%" PRIu32 " + %" PRIu32 " KiB%s): %d", when, i, send / 1024,
				    recv / 1024, polled ? ", polled" : "", err)) {
				close_all();
				return;
			}
		}
		if (r == 0) {
			int err = open_chan(0, 0, 0, false);
			EXPECT(err == -EBUSY, "a second open of an open channel: %d (want -EBUSY)", err);
		}
		for (unsigned i = 0; i < NCHAN; i++)
			echo_ok(i, (r * 97 + i * 31) % 1000, 1 + (r * 37 + i * 11) % 300, when);
		uint64_t t = now_ref();
		if (r % 2 == 0) {
			for (int i = NCHAN - 1; i >= 0; i--) {
				int err = hvrt_channel_close(chans[i]);
				EXPECT(err == 0, "%s: close of channel %d: %d", when, i, err);
			}
		} else {
			int err = hvrt_channel_close(chans[0]);
			EXPECT(err == 0, "%s: close of the primary: %d", when, err);
		}
		close_ticks += now_ref() - t;
		closes += NCHAN;
		for (unsigned i = 0; i < NCHAN; i++) {
			EXPECT(!hvrt_channel_is_open(chans[i]), "%s: channel %u still open after the close", when, i);
			int err = hvrt_channel_close(chans[i]);
			EXPECT(err == 0, "%s: a second close of channel %u: %d (want 0)", when, i, err);
			err = hvrt_channel_send(chans[i], "x", 1, 1, false);
			EXPECT(err == -ENOTCONN, "%s: send on closed channel %u: %d (want -ENOTCONN)", when, i, err);
		}
	}
	note("%u rounds: %u opens and %u closes, an echo on each; %" PRIu64 ".%02" PRIu64 " ms an open, %" PRIu64
	     ".%02" PRIu64 " ms a close on average",
	     rounds, opens, closes, open_ticks / opens / TICKS_PER_MS, open_ticks / opens % TICKS_PER_MS / 100,
	     close_ticks / closes / TICKS_PER_MS, close_ticks / closes % TICKS_PER_MS / 100);
}

/*
 * Closing under traffic: channel 1 while the host is in the middle of a
 * SEND of thousands of packets to it, channel 2 with its send ring full and
 * unread (stalled). Both closes must return, and both channels reopen
 * clean: nothing stale arrives (the device starts afresh at an open) and
 * they echo.
 */
static void check_close_busy(unsigned count)
{
	const uint32_t size = 1000;

	count = count ? count : 5000;
	if (!open_all()) {
		close_all();
		return;
	}
	sink_reset(1, SINK_SEQ);
	rxs[1].seq_size = size;
	rxs[1].expect = count;
	if (!control_ok(0, CTL_SEND, 1, count, size) || !control_ok(0, CTL_STALL, 2, 0, 0)) {
		close_all();
		return;
	}
	usleep(20000);
	uint32_t got = rxs[1].next_seq;
	int err = hvrt_channel_close(chans[1]);
	EXPECT(err == 0 && !hvrt_channel_is_open(chans[1]), "close in the middle of a SEND: %d", err);
	EXPECT(got > 0 && got < count && !rxs[1].errors, "%" PRIu32 " of %u SEND packets before the close, %u bad (%s)",
	       got, count, rxs[1].errors, rxs[1].error);
	uint32_t queued = 0;
	while (hvrt_channel_send(chans[2], pattern, 100, queued, false) == 0)
		queued++;
	err = hvrt_channel_close(chans[2]);
	EXPECT(err == 0 && !hvrt_channel_is_open(chans[2]), "close with %" PRIu32 " packets unread: %d", queued, err);
	for (unsigned i = 1; i < NCHAN; i++) {
		sink_reset(i, SINK_QUEUE);
		err = open_chan(i, 16384, 16384, false);
		EXPECT(err == 0, "reopen of channel %u: %d", i, err);
	}
	usleep(50000);
	for (unsigned i = 1; i < NCHAN; i++) {
		EXPECT(rxs[i].packets == 0, "channel %u: %lu stale packets after the reopen", i, rxs[i].packets);
		echo_ok(i, i * 100, 200, "reopened");
	}
	note("closed in the middle of a SEND (%" PRIu32 " of %u packets in) and with %" PRIu32
	     " packets unread in a stalled ring; both reopened clean and echo",
	     got, count, queued);
	close_all();
}

/* A request made from the middle of a stream on the same channel (run_stream's trigger). */
struct request_amid {
	int result;
	bool right;
};

/* The trigger: an echo by hvrt_channel_request while the stream's completions pour in around it. */
static void request_amid(void *ctx)
{
	struct request_amid *r = ctx;
	uint8_t resp[64];

	r->result = request(0, pattern + 1234, 40, resp, sizeof(resp));
	r->right = r->result == 40 && echo_matches(resp, 40, 1234, 40);
}

/*
 * Completions and transaction ids: a packet asking for a completion comes
 * back as one (type 11) with its id, any 64-bit id, repeated ids too; one
 * that does not comes back in-band with its id; hvrt_channel_request matches
 * its own amid that traffic; hvrt_channel_next_trans_id never gives 0 or a
 * repeat.
 */
static void check_completions(unsigned count)
{
	static const uint64_t ids[] = { 0, 1, 42, 42, 0x8000000000000000ull, UINT64_MAX, 0x0123456789abcdefull };
	const unsigned nids = sizeof(ids) / sizeof(ids[0]);

	count = count ? count : 3000;
	if (!open_all()) {
		close_all();
		return;
	}
	for (unsigned i = 0; i < NCHAN; i++) {
		for (unsigned want = 0; want < 2; want++) {
			for (unsigned k = 0; k < nids; k++) {
				int err = hvrt_channel_send(chans[i], pattern + k * 100, k * 5, ids[k], want);
				EXPECT(err == 0, "send of id %#" PRIx64 " on channel %u: %d", ids[k], i, err);
			}
			for (unsigned k = 0; k < nids; k++) {
				const struct rx_entry *e = next_packet(i, REPLY_MS);
				if (!EXPECT(e, "channel %u: no echo of id %#" PRIx64, i, ids[k]))
					break;
				EXPECT(e->type == (want ? PKT_COMPLETION : PKT_INBAND) && e->trans_id == ids[k] &&
					       echo_matches(e->data, e->len, k * 100, k * 5),
				       "channel %u: echo %u: type %u id %#" PRIx64 " %" PRIu32 " bytes (want %u, %#" PRIx64
				       ", %u)",
				       i, k, e->type, e->trans_id, e->len, want ? PKT_COMPLETION : PKT_INBAND, ids[k], k * 5);
			}
		}
		/* Requests: the answer, truncated to the caller's buffer when it is smaller. */
		uint8_t resp[64];
		for (unsigned k = 0; k < 8; k++) {
			uint32_t len = 1 + k * 9;
			int n = hvrt_channel_request(chans[i], pattern + 500 + k, len, resp, sizeof(resp), REPLY_MS);
			EXPECT(n == (int)round8(len) && echo_matches(resp, (uint32_t)n, 500 + k, len),
			       "request of %" PRIu32 " bytes on channel %u: %d", len, i, n);
		}
		int n = hvrt_channel_request(chans[i], pattern, 60, resp, 10, REPLY_MS);
		EXPECT(n == 10 && memcmp(resp, pattern, 10) == 0, "request into 10 bytes: %d (want 10)", n);
		EXPECT(rxs[i].packets == 2 * nids && rxs[i].overflow == 0,
		       "channel %u: on_packet ran %lu times (want %u: never for a request's completion)", i, rxs[i].packets,
		       2 * nids);
	}
	uint64_t seen[1000];
	bool ids_ok = true;
	for (unsigned k = 0; k < 1000; k++) {
		seen[k] = hvrt_channel_next_trans_id(chans[1]);
		ids_ok &= seen[k] != 0;
		for (unsigned j = 0; j < k && ids_ok; j++)
			ids_ok &= seen[j] != seen[k];
	}
	EXPECT(ids_ok, "hvrt_channel_next_trans_id gave 0 or a repeat in 1000 calls");

	/* Pipelined: half the packets ask for completions, all three channels at once, with a request amid. */
	struct request_amid amid = { -EINPROGRESS, false };
	struct stream_cfg cfg = {
		.count = { count, count, count }, .min_len = 0, .max_len = 64, .completion_every = 2, .seed = 1,
		.trigger_at = count, .trigger = request_amid, .trigger_ctx = &amid, .timeout_ms = 60000,
	};
	struct stream_result res;
	bool streamed = run_stream(&cfg, &res);
	EXPECT(amid.right, "a request on channel 0 amid its stream: %d%s", amid.result,
	       amid.result >= 0 ? ", a wrong answer" : "");
	if (streamed && amid.right)
		note("%u in-band and completion echoes of 7 ids; 27 requests; %" PRIu64 " pipelined packets, half of them "
		     "completions, and a request amid them, in %" PRIu64 " ms",
		     NCHAN * nids * 2, res.packets, res.ticks / TICKS_PER_MS);
	/* A polled channel: nothing would read a request's completion. */
	hvrt_channel_close(chans[2]);
	sink_reset(2, SINK_QUEUE);
	if (EXPECT(open_chan(2, 16384, 16384, true) == 0, "reopen of channel 2 polled")) {
		uint8_t resp[8];
		int n = hvrt_channel_request(chans[2], "x", 1, resp, sizeof(resp), 100);
		EXPECT(n == -EOPNOTSUPP, "request on a polled channel: %d (want -EOPNOTSUPP)", n);
	}
	close_all();
}

/* A GPA-direct packet: ranges (offset into the buffer block, length) and in-band bytes after them. */
struct gpa_case {
	const char *what;
	unsigned count;
	struct {
		uint32_t off, len;
	} r[3];
	uint32_t data_len;
};

#define GPA_BLOCK_PAGES 160u
#define GPA_MANY 64u /* hvrt's most ranges: 1 KiB of them, 16 bytes each */

/*
 * sends_gpa_ok - one GPA-direct packet on channel idx and the device's checksum
 * The answer must be a completion with the packet's id carrying FNV-1a 64 of
 * the bytes in range order, their count and the range count.
 */
static bool send_gpa_ok(unsigned idx, const char *what, const struct hvrt_buffer *bufs, unsigned count,
			uint32_t data_len, uint64_t id)
{
	uint64_t want = FNV_BASIS;
	uint32_t bytes = 0;

	for (unsigned k = 0; k < count; k++) {
		want = fnv1a64(want, bufs[k].addr, bufs[k].len);
		bytes += bufs[k].len;
	}
	int err = hvrt_channel_send_gpa(chans[idx], bufs, count, pattern, data_len, id, true);
	if (!EXPECT(err == 0, "%s: send on channel %u: %d", what, idx, err))
		return false;
	const struct rx_entry *e = next_packet(idx, REPLY_MS);
	if (!EXPECT(e, "%s: no answer on channel %u", what, idx))
		return false;
	struct gpa_sum sum = { 0, 0, 0 };
	if (e->len >= sizeof(sum))
		memcpy(&sum, e->data, sizeof(sum));
	return EXPECT(e->type == PKT_COMPLETION && e->trans_id == id && e->len == sizeof(sum) && sum.fnv1a64 == want &&
			      sum.bytes == bytes && sum.ranges == count,
		      "%s on channel %u: type %u id %#" PRIx64 " %" PRIu32 " bytes: fnv %016" PRIx64 " bytes %" PRIu32
		      " ranges %" PRIu32 " (want 11, %#" PRIx64 ", 16: %016" PRIx64 " %" PRIu32 " %u)",
		      what, idx, e->type, e->trans_id, e->len, sum.fnv1a64, sum.bytes, sum.ranges, id, want, bytes, count);
}

/*
 * GPA-direct packets, single- and multi-page, aligned or not, one to 64
 * ranges, with and without in-band bytes, on every channel; and the API's
 * own limits, which never reach the host.
 */
static void check_gpa(unsigned arg)
{
	static const struct gpa_case cases[] = {
		{ "one aligned page", 1, { { 0, PAGE } }, 0 },
		{ "100 bytes inside a page", 1, { { 1000, 100 } }, 0 },
		{ "the last byte of a page", 1, { { PAGE - 1, 1 } }, 0 },
		{ "10000 bytes from offset 100 (3 pages)", 1, { { 100, 10000 } }, 0 },
		{ "125 pages from offset 2000 (126 pages)", 1, { { 2000, 125 * PAGE } }, 0 },
		{ "127 aligned pages", 1, { { 0, 127 * PAGE } }, 0 },
		{ "two unaligned ranges over page boundaries", 2, { { 4000, 200 }, { 3 * PAGE + 7, 5000 } }, 0 },
		{ "three ranges and 40 in-band bytes", 3, { { 5 * PAGE + 4095, 2 }, { 10, 3 }, { 7 * PAGE, 2 * PAGE } }, 40 },
	};
	const unsigned ncases = sizeof(cases) / sizeof(cases[0]);
	struct hvrt_buffer bufs[GPA_MANY + 1];
	unsigned sent = 0;
	(void)arg;

	uint8_t *block = hvrt_page_alloc(GPA_BLOCK_PAGES);
	if (!EXPECT(block, "no %u pages for the buffers", GPA_BLOCK_PAGES))
		return;
	for (unsigned i = 0; i < GPA_BLOCK_PAGES * PAGE; i += 4096)
		memcpy(block + i, pattern + (i * 7) % (PATTERN_BYTES - 4096), 4096);
	if (!open_all()) {
		close_all();
		hvrt_page_free(block, GPA_BLOCK_PAGES);
		return;
	}
	for (unsigned k = 0; k < ncases; k++) {
		for (unsigned i = 0; i < NCHAN; i++) {
			const struct gpa_case *c = &cases[k];
			for (unsigned j = 0; j < c->count; j++)
				bufs[j] = (struct hvrt_buffer){ block + c->r[j].off, c->r[j].len };
			sent += send_gpa_ok(i, c->what, bufs, c->count, c->data_len, 0x6a00000000000000ull + k * 16 + i);
		}
	}
	/*
	 * 16 and 64 ranges, each inside one page of its own (every other page:
	 * no two could merge into one host mapping).
	 */
	for (unsigned j = 0; j < GPA_MANY; j++) {
		uint32_t off = (j * 61) % 4000;
		bufs[j] = (struct hvrt_buffer){ block + 2 * j * PAGE + off, 1 + (j * 97) % (PAGE - off) };
	}
	for (unsigned i = 0; i < NCHAN; i++) {
		sent += send_gpa_ok(i, "16 single-page ranges", bufs, 16, 0, 0x6b00000000000000ull + i);
		sent += send_gpa_ok(i, "64 single-page ranges", bufs, GPA_MANY, 0, 0x6c00000000000000ull + i);
	}
	/* The limits: more than 1 KiB of ranges, an empty buffer, no buffer. */
	bufs[GPA_MANY] = (struct hvrt_buffer){ block + 150 * PAGE, 1 };
	int err = hvrt_channel_send_gpa(chans[0], bufs, GPA_MANY + 1, NULL, 0, 1, true);
	EXPECT(err == -EMSGSIZE, "65 ranges: %d (want -EMSGSIZE)", err);
	bufs[0] = (struct hvrt_buffer){ block + 1, 127 * PAGE };
	err = hvrt_channel_send_gpa(chans[0], bufs, 1, NULL, 0, 1, true);
	EXPECT(err == -EMSGSIZE, "127 pages from offset 1 (128 pages): %d (want -EMSGSIZE)", err);
	bufs[0] = (struct hvrt_buffer){ block, 0 };
	err = hvrt_channel_send_gpa(chans[0], bufs, 1, NULL, 0, 1, true);
	EXPECT(err == -EINVAL, "an empty buffer: %d (want -EINVAL)", err);
	err = hvrt_channel_send_gpa(chans[0], bufs, 0, NULL, 0, 1, true);
	EXPECT(err == -EINVAL, "no buffer: %d (want -EINVAL)", err);
	for (unsigned i = 0; i < NCHAN; i++)
		EXPECT(rxs[i].count == 0 && rxs[i].overflow == 0, "channel %u: %u packets nobody asked for", i,
		       rxs[i].count + rxs[i].overflow);
	note("%u checksums right: 1 to 127 pages, aligned or not, 1, 2, 3, 16 and 64 ranges, on all 3 channels", sent);
	close_all();
	hvrt_page_free(block, GPA_BLOCK_PAGES);
}

/*
 * 100k packets of random sizes (1 to 1536 bytes) each way, spread over the
 * three channels with rings of other sizes, every byte of every echo
 * checked, every 5th asking for a completion. The rings stay full; both
 * wrap thousands of times.
 */
static void check_stream(unsigned total)
{
	static const uint32_t send_kib[NCHAN] = { 8, 16, 32 }, recv_kib[NCHAN] = { 8, 32, 16 };

	total = total ? total : 100000;
	struct stream_cfg cfg = {
		.count = { total - 2 * (total / 3), total / 3, total / 3 },
		.min_len = 1, .max_len = 1536, .completion_every = 5, .seed = 2, .timeout_ms = 120000,
	};
	for (unsigned i = 0; i < NCHAN; i++) {
		sink_reset(i, SINK_STREAM);
		int err = open_chan(i, send_kib[i] * 1024, recv_kib[i] * 1024, false);
		if (!EXPECT(err == 0, "open of channel %u: %d", i, err)) {
			close_all();
			return;
		}
	}
	struct stream_result res;
	if (run_stream(&cfg, &res)) {
		uint64_t ms = res.ticks / TICKS_PER_MS;
		note("%" PRIu64 " packets each way (%" PRIu64 " KiB) in %" PRIu64 " ms: %" PRIu64 " packets/s, %" PRIu64
		     " KiB/s each way",
		     res.packets, res.bytes / 1024, ms, ms ? res.packets * 1000 / ms : 0, ms ? res.bytes / 1024 * 1000 / ms : 0);
		for (unsigned i = 0; i < NCHAN; i++)
			note("channel %u: %" PRIu32 "+%" PRIu32 " KiB rings wrapped %" PRIu64 "/%" PRIu64 " times", i,
			     send_kib[i], recv_kib[i], res.ring_bytes[i] / (send_kib[i] * 1024),
			     res.ring_bytes[i] / (recv_kib[i] * 1024));
		note("%u waits for room", res.blocked_waits);
	}
	close_all();
}

/* How many packets of len payload bytes an empty ring of size bytes takes: hvrt never fills one completely. */
static uint32_t ring_fits(uint32_t size, uint32_t len)
{
	uint32_t n = 0, left = size, pkt = ring_bytes(len);

	while (left > pkt) {
		left -= pkt;
		n++;
	}
	return n;
}

#define RESUME_AFTER_MS 20u /* when a timer sends RESUME, into the wait for room */

/*
 * Guest-to-host back-pressure: channel 2 is stalled (told on channel 0) and
 * written until -EAGAIN, which must come exactly when the ring is full;
 * hvrt_channel_wait_writable must then time out, and return once RESUME
 * (told on channel 0 by a timer 20 ms into the wait) lets the host read. With the send ring smaller than
 * the receive ring the host empties it in one batch and (QEMU's bug) never
 * signals; with it larger the host stops halfway until the guest reads.
 * Either way the guest must not hang.
 */
static void check_backpressure_out(unsigned arg)
{
	static const uint32_t sizes[] = { 1, 200, 1000, 3000 };
	static const struct {
		uint32_t send, recv;
	} rings[] = { { 8192, 16384 }, { 16384, 8192 } };
	unsigned rounds = 0;
	uint64_t sum_ticks = 0, max_ticks = 0;
	(void)arg;

	for (unsigned c = 0; c < 2; c++) {
		sink_reset(0, SINK_QUEUE);
		sink_reset(2, SINK_QUEUE);
		int err = open_chan(0, 16384, 16384, false);
		if (!err)
			err = open_chan(2, rings[c].send, rings[c].recv, false);
		if (!EXPECT(err == 0, "open: %d", err))
			break;
		for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			uint32_t s = sizes[k], fits = ring_fits(rings[c].send, s);
			struct stream_cfg cfg = {
				.count = { 0, 0, fits + 1 }, .min_len = s, .max_len = s, .seed = 10 + c * 4 + k,
			};
			struct stream_pkt p;
			char what[64];
			snprintf(what, sizeof(what), "%" PRIu32 " KiB ring, %" PRIu32 "-byte packets", rings[c].send / 1024, s);
			sink_reset(2, SINK_STREAM);
			rxs[2].stream = &cfg;
			rxs[2].expect = fits + 1;
			if (!control_ok(0, CTL_STALL, 2, 0, 0))
				break;
			uint32_t n = 0;
			do {
				stream_packet(&cfg, 2, n, &p);
				err = hvrt_channel_send(chans[2], p.data, p.len, p.id, p.want_completion);
			} while (err == 0 && ++n <= fits);
			EXPECT(err == -EAGAIN && n == fits,
			       "%s: %" PRIu32 " packets went in, then %d (want %" PRIu32 ", then -EAGAIN)", what, n, err, fits);
			uint64_t t = now_ref();
			err = hvrt_channel_wait_writable(chans[2], s, 100);
			unsigned ms = ms_since(t);
			EXPECT(err == -ETIMEDOUT && ms >= 99, "%s: waiting for room on the stalled channel: %d after %u ms "
			       "(want -ETIMEDOUT after 100)", what, err, ms);
			EXPECT(rxs[2].packets == 0, "%s: %lu echoes while stalled", what, rxs[2].packets);
			/*
			 * RESUME from a timer 20 ms into the wait: the host empties the
			 * ring while the guest waits, so it is the host's signal (or
			 * hvrt's look at the ring, when QEMU sends none) that ends it.
			 */
			struct timed resume;
			if (!EXPECT(timed_control(&resume, RESUME_AFTER_MS, 0, CTL_RESUME, 2) == 0, "no synthetic timer"))
				break;
			t = now_ref();
			err = hvrt_channel_wait_writable(chans[2], s, 5000);
			t = now_ref() - t;
			hvrt_stimer_stop(CONTROL_TIMER);
			if (!EXPECT(err == 0 && resume.sent == 0 && t >= RESUME_AFTER_MS * TICKS_PER_MS,
				    "%s: wait for room: %d after %" PRIu64 " ms, RESUME at %u ms: %d", what, err,
				    t / TICKS_PER_MS, RESUME_AFTER_MS, resume.sent))
				break;
			t -= RESUME_AFTER_MS * TICKS_PER_MS;
			sum_ticks += t;
			max_ticks = t > max_ticks ? t : max_ticks;
			rounds++;
			stream_packet(&cfg, 2, n, &p);
			err = hvrt_channel_send(chans[2], p.data, p.len, p.id, p.want_completion);
			EXPECT(err == 0, "%s: the packet that did not fit, after RESUME: %d", what, err);
			EXPECT(wait_until(stream_received, &cfg, 5000) && !rxs[2].errors,
			       "%s: %" PRIu32 " of %" PRIu32 " echoes, %u bad (%s)", what, rxs[2].next_seq, fits + 1,
			       rxs[2].errors, rxs[2].error);
		}
		close_all();
	}
	if (rounds)
		note("%u rounds (1 to 3000-byte packets; an 8 KiB send ring with 16 KiB receive, 16 with 8): each "
		     "took exactly what fits, stayed full while stalled; a wait for room ended %" PRIu64 " us on average (at "
		     "most %" PRIu64 ") after a RESUME sent 20 ms into it",
		     rounds, sum_ticks / rounds / 10, max_ticks / 10);
}

/*
 * Host-to-guest back-pressure: the host sends count 1000-byte packets
 * unprompted on polled channel 1, which nobody reads for 100 ms: the host
 * fills the 16 KiB ring and waits for the guest's signal. Then everything
 * is read, in order, every byte checked: the host must have been woken
 * (hvrt signals when its reads free what pending_send_sz asked for). A read
 * into too small a buffer first must leave the packet where it is.
 */
static void check_backpressure_in(unsigned count)
{
	const uint32_t size = 1000, ring = 16384;
	static uint8_t buf[MAX_PACKET];
	struct hvrt_packet pkt;
	uint32_t first_batch = 0, got = 0;
	bool first = true;

	count = count ? count : 2000;
	sink_reset(0, SINK_QUEUE);
	sink_reset(1, SINK_QUEUE);
	int err = open_chan(0, 16384, 16384, false);
	if (!err)
		err = open_chan(1, 8192, ring, true);
	if (!EXPECT(err == 0, "open: %d", err) || !control_ok(0, CTL_SEND, 1, count, size)) {
		close_all();
		return;
	}
	usleep(100000);
	/* Too small a buffer: -EMSGSIZE, the size it needs, and the packet stays for the next read. */
	int n = hvrt_channel_recv(chans[1], buf, 64, &pkt);
	EXPECT(n == -EMSGSIZE && pkt.raw_len == 16 + size, "a read into 64 bytes: %d, needs %" PRIu32
	       " (want -EMSGSIZE, %" PRIu32 ")", n, pkt.raw_len, 16 + size);
	uint64_t t = now_ref();
	for (; got < count; got++) {
		n = hvrt_channel_recv(chans[1], buf, sizeof(buf), &pkt);
		if (n == -EAGAIN) {
			first = false;
			n = recv_polled(1, buf, sizeof(buf), &pkt, REPLY_MS);
		}
		first_batch += first;
		if (!EXPECT(n >= 0, "packet %" PRIu32 " of %" PRIu32 ": %d", got, count, n))
			break;
		const char *why = seq_packet_error(&pkt, got, size);
		if (!EXPECT(!why, "%s", why))
			break;
	}
	unsigned ms = ms_since(t);
	uint32_t fits = ring_fits(ring, size);
	EXPECT(first_batch >= fits, "after 100 ms unread only %" PRIu32 " packets before the ring ran dry (it holds %"
	       PRIu32 "): the host did not fill it", first_batch, fits);
	err = recv_polled(1, buf, sizeof(buf), &pkt, 50);
	EXPECT(err == -ETIMEDOUT, "after the %" PRIu32 " packets: %d (want nothing)", count, err);
	if (got == count)
		note("%" PRIu32 " packets of %" PRIu32 " bytes through a 16 KiB ring (%" PRIu32 " wraps): after 100 ms "
		     "unread, %" PRIu32 " read before it first ran dry (it holds %" PRIu32 "); all in order in %u ms",
		     count, size, count * ring_bytes(size) / ring, first_batch, fits, ms);
	close_all();
}

/* wait_until: a SEND sink has every packet (or an error). */
static bool seq_done(void *ctx)
{
	const struct chan_rx *rx = ctx;

	return rx->next_seq >= rx->expect || rx->errors;
}

/* A CPU-bound stretch of work that calls nothing of hvrt's: the TSC alone times it. */
static uint64_t compute_for(unsigned ms)
{
	uint64_t end = __builtin_ia32_rdtsc() + hvrt_system()->tsc_hz / 1000 * ms, h = FNV_BASIS;

	while (__builtin_ia32_rdtsc() < end)
		h = fnv1a64(h, pattern, 4096);
	return h;
}

/*
 * Host-initiated traffic while the app is busy: a SEND of count packets on
 * channel 2 (asked on channel 0, no answer wanted), then 200 ms of
 * computation without a call into hvrt: on_packet must not run meanwhile,
 * and afterwards every packet arrives, in order.
 */
static void check_busy(unsigned count)
{
	const uint32_t size = 600;
	volatile uint64_t sink;

	count = count ? count : 1000;
	sink_reset(0, SINK_QUEUE);
	sink_reset(2, SINK_SEQ);
	rxs[2].seq_size = size;
	rxs[2].expect = count;
	int err = open_chan(0, 16384, 16384, false);
	if (!err)
		err = open_chan(2, 16384, 16384, false);
	if (!EXPECT(err == 0, "open: %d", err)) {
		close_all();
		return;
	}
	struct control c = { CTL_MAGIC, CTL_SEND, 2, count, size };
	err = hvrt_channel_send(chans[0], &c, sizeof(c), 7, false);
	EXPECT(err == 0, "SEND on channel 0: %d", err);
	unsigned long before = rxs[2].packets;
	sink = compute_for(200);
	(void)sink;
	unsigned long during = rxs[2].packets - before;
	EXPECT(during == 0, "on_packet ran %lu times during the computation (only hvrt's calls may run it)", during);
	/* What waited meanwhile: the host did send while the app was busy, or this tested nothing. */
	uint64_t t = now_ref();
	hvrt_poll();
	unsigned long first_poll = rxs[2].packets - before;
	EXPECT(first_poll > 0, "nothing waited after 200 ms of computation: the host sent nothing meanwhile");
	bool all = wait_until(seq_done, &rxs[2], 10000);
	unsigned ms = ms_since(t);
	EXPECT(all && !rxs[2].errors, "%" PRIu32 " of %u packets arrived, %u bad (%s)", rxs[2].next_seq, count,
	       rxs[2].errors, rxs[2].error);
	EXPECT(rxs[0].count == 0, "an answer to a control that asked for none");
	if (all)
		note("%u packets of %" PRIu32 " bytes sent by the host during 200 ms of computation (%lu before it, none "
		     "during it, %lu from the first poll after it), all in order %u ms after it",
		     count, size, before, first_poll, ms);
	close_all();
}

/* What the bad-input trigger (run_stream's) did. */
struct bad_trigger {
	unsigned via, target;
	uint32_t cmd;
	int status;
	uint64_t when;
};

/* Asks the device for the bad packet, from the middle of the other channels' streams. */
static void bad_trigger(void *ctx)
{
	struct bad_trigger *b = ctx;

	b->status = control(b->via, b->cmd, b->target, 0, 0);
	b->when = now_ref();
}

/* wait_until: the channel is no longer open (hvrt broke it). */
static bool not_open(void *ctx)
{
	return !hvrt_channel_is_open(ctx);
}

/*
 * check_bad - the device writes a malformed packet on sub-channel target
 * while channels 0 and the other sub-channel carry streams of echoes: hvrt
 * must close that channel (logged: the case checks the line), never hand the
 * packet to on_packet, fail the channel's calls with -EIO, keep the streams
 * going, and let the app close and reopen it, after which it echoes again.
 */
static void check_bad(uint32_t cmd, unsigned target, unsigned count)
{
	unsigned via = 0, other = target == 1 ? 2 : 1;
	struct bad_trigger b = { via, target, cmd, -EINPROGRESS, 0 };
	struct stream_result res;
	uint8_t buf[64];
	struct hvrt_packet pkt;

	count = count ? count : 2000;
	if (!open_all() || !echo_ok(target, 0, 100, "before")) {
		close_all();
		return;
	}
	sink_reset(target, SINK_QUEUE);
	struct stream_cfg cfg = {
		.count = { 0, 0, 0 }, .min_len = 1, .max_len = 512, .completion_every = 3, .seed = 20 + cmd,
		.trigger_at = count / 2, .trigger = bad_trigger, .trigger_ctx = &b, .timeout_ms = 60000,
	};
	cfg.count[via] = cfg.count[other] = count;
	bool streamed = run_stream(&cfg, &res);
	if (!EXPECT(b.status == 0, "the control for the bad packet: %s %d%s", b.status < 0 ? "error" : "status",
		    b.status, b.status == 1 ? " (the device does not know the command: an older tests/qemu patch?)" : "")) {
		close_all();
		return;
	}
	bool during = !hvrt_channel_is_open(chans[target]);
	bool broke = wait_until(not_open, chans[target], 2000);
	unsigned ms = b.when ? (unsigned)((now_ref() - b.when) / TICKS_PER_MS) : 0;
	const struct rx_entry *e = rxs[target].count ? &rxs[target].queue[rxs[target].head] : NULL;
	EXPECT(broke, "channel %u (relid %u) still open 2 s after the bad packet was asked for; on_packet ran %lu "
	       "times%s (type %u id %#" PRIx64 ")",
	       target, target + 1, rxs[target].packets, e ? ", the first" : "", e ? e->type : 0, e ? e->trans_id : 0);
	if (broke) {
		EXPECT(rxs[target].packets == 0, "the bad packet reached on_packet (%lu calls)", rxs[target].packets);
		int err = hvrt_channel_send(chans[target], "x", 1, 1, false);
		EXPECT(err == -EIO, "send on the broken channel: %d (want -EIO)", err);
		err = hvrt_channel_request(chans[target], "x", 1, buf, sizeof(buf), 100);
		EXPECT(err == -EIO, "request on the broken channel: %d (want -EIO)", err);
		err = hvrt_channel_wait_writable(chans[target], 8, 10);
		EXPECT(err == -EIO, "wait_writable on the broken channel: %d (want -EIO)", err);
		err = hvrt_channel_recv(chans[target], buf, sizeof(buf), &pkt);
		EXPECT(err == -EIO, "recv on the broken channel: %d (want -EIO)", err);
		EXPECT(!hvrt_channel_rescinded(chans[target]), "the broken channel counts as rescinded");
	}
	/* Both, whatever the first gives: each failure is reported. */
	bool after = echo_ok(via, 10, 200, "after");
	after = echo_ok(other, 20, 300, "after") && after;
	int err = hvrt_channel_close(chans[target]);
	EXPECT(err == 0, "close of the broken channel: %d", err);
	sink_reset(target, SINK_QUEUE);
	err = open_chan(target, 16384, 16384, false);
	bool again = EXPECT(err == 0, "reopen: %d", err) && echo_ok(target, 30, 400, "reopened");
	if (broke && streamed && after && again)
		note("channel %u (relid %u) closed by hvrt %s the streams ended (seen %u ms after the control's answer), its "
		     "calls -EIO; %" PRIu64 " echoes on channels %u and %u, all right; closed, reopened, echoing again",
		     target, target + 1, during ? "before" : "after", ms, res.packets, via, other);
	close_all();
}

/* The bad-input checks: which packet, on which sub-channel. */
static void check_bad_length(unsigned count)
{
	check_bad(CTL_BAD_LENGTH, 1, count);
}

static void check_bad_offset(unsigned count)
{
	check_bad(CTL_BAD_OFFSET, 2, count);
}

static void check_bad_type(unsigned count)
{
	check_bad(CTL_BAD_TYPE, 1, count);
}

/*
 * A completion for a transaction id the guest never sent: hvrt is to log
 * "completion for transaction id 0x... that was never sent: closing the
 * channel" and close it (the lead's change; before it, the completion
 * reaches on_packet and this check fails).
 */
static void check_stray_completion(unsigned count)
{
	check_bad(CTL_STRAY_COMPLETION, 2, count);
}

/* wait_until: on_rescind ran for the channel. */
static bool rescinded_seen(void *ctx)
{
	return ((const struct chan_rx *)ctx)->rescinds != 0;
}



/*
 * Rescind of an open sub-channel (channel 2, relid 3; told on channel 0)
 * while a request on it waits: the request ends with -ENODEV, on_rescind
 * runs once, from the app's wait, with the channel; it is rescinded, its
 * calls fail with -ENODEV, the app closes it, after which
 * the relid is released (the case checks RELID_RELEASED in QEMU's trace)
 * and it is gone from the bus; the other channels echo throughout.
 */
static void check_rescind(unsigned arg)
{
	uint8_t buf[16];
	(void)arg;

	if (!open_all()) {
		close_all();
		return;
	}
	for (unsigned i = 0; i < NCHAN; i++)
		echo_ok(i, i * 10, 50, "before");
	rxs[2].rescinds = 0;
	rxs[2].rescind_args_ok = false;
	/*
	 * A request on channel 2 that its host will never answer (stalled),
	 * and the rescind 50 ms into its wait: the request must end with
	 * -ENODEV at once, not at its timeout.
	 */
	struct timed rescind;
	if (!control_ok(0, CTL_STALL, 2, 0, 0) ||
	    !EXPECT(timed_control(&rescind, 50, 0, CTL_RESCIND, 2) == 0, "no synthetic timer for the rescind")) {
		close_all();
		return;
	}
	uint64_t t = now_ref();
	int err = hvrt_channel_request(chans[2], "pending", 7, buf, sizeof(buf), 3000);
	unsigned request_ms = ms_since(t);
	hvrt_stimer_stop(CONTROL_TIMER);
	EXPECT(rescind.sent == 0, "RESCIND on channel 0 from the timer: %d", rescind.sent);
	EXPECT(err == -ENODEV && request_ms < 1000, "the pending request: %d after %u ms (want -ENODEV as the rescind "
	       "comes, 50 ms in)", err, request_ms);
	t = now_ref();
	bool seen = wait_until(rescinded_seen, &rxs[2], 3000);
	unsigned ms = ms_since(t);
	EXPECT(seen && rxs[2].rescinds == 1 && rxs[2].rescind_args_ok,
	       "on_rescind: ran %u times, with the channel: %d (want once within 3 s)", rxs[2].rescinds,
	       rxs[2].rescind_args_ok);
	EXPECT(hvrt_channel_rescinded(chans[2]) && !hvrt_channel_rescinded(chans[0]) && !hvrt_channel_rescinded(chans[1]),
	       "rescinded: %d %d %d (want 0 0 1)", hvrt_channel_rescinded(chans[0]), hvrt_channel_rescinded(chans[1]),
	       hvrt_channel_rescinded(chans[2]));
	err = hvrt_channel_send(chans[2], "x", 1, 1, false);
	EXPECT(err == -ENODEV, "send on the rescinded channel: %d (want -ENODEV)", err);
	err = hvrt_channel_request(chans[2], "x", 1, buf, sizeof(buf), 100);
	EXPECT(err == -ENODEV, "request on the rescinded channel: %d (want -ENODEV)", err);
	err = hvrt_channel_wait_writable(chans[2], 8, 10);
	EXPECT(err == -ENODEV, "wait_writable on the rescinded channel: %d (want -ENODEV)", err);
	echo_ok(0, 100, 60, "rescinded, not closed");
	echo_ok(1, 200, 70, "rescinded, not closed");
	err = hvrt_channel_close(chans[2]);
	EXPECT(err == 0 && !hvrt_channel_is_open(chans[2]), "close of the rescinded channel: %d", err);
	err = open_chan(2, 16384, 16384, false);
	EXPECT(err == -ENODEV, "open of the rescinded channel: %d (want -ENODEV)", err);
	EXPECT(hvrt_channel_subchannel(chans[0], 2) == NULL, "hvrt_channel_subchannel(2) still finds it");
	unsigned n = 0, relids = 0;
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch)) {
		n++;
		relids = relids * 10 + hvrt_channel_offer(ch)->relid;
	}
	EXPECT(n == 2 && relids == 12, "after the close the bus lists %u channels (relids %u; want 1 2)", n, relids);
	EXPECT(hvrt_vmbus_find(&test_class, NULL) == chans[0], "hvrt_vmbus_find lost the primary");
	bool others = echo_ok(0, 300, 80, "after");
	others = echo_ok(1, 400, 90, "after") && others;
	if (seen && others)
		note("a pending request ended -ENODEV %u ms into its wait (the rescind came at 50); on_rescind ran %u ms "
		     "after it; calls -ENODEV; closed and released; relids 1 and 2 echo throughout",
		     request_ms, ms);
	close_all();
}

/* wait_until: on_rescind ran for every channel that was open (ctx: bool[NCHAN]). */
static bool all_rescinds_seen(void *ctx)
{
	const bool *was_open = ctx;

	for (unsigned i = 0; i < NCHAN; i++) {
		if (was_open[i] && !rxs[i].rescinds)
			return false;
	}
	return true;
}

/*
 * Rescind of the primary (told on sub-channel 1): QEMU withdraws its
 * sub-channels first, then it. Every open one gets on_rescind; closing the
 * primary closes its sub-channels too; every relid is released and the bus
 * is empty. After "rescind" channel 2 is gone already; alone, all three go.
 */
static void check_rescind_primary(unsigned arg)
{
	bool was_open[NCHAN] = { false };
	(void)arg;

	for (unsigned i = 0; i < NCHAN; i++) {
		if (hvrt_channel_rescinded(chans[i]))
			continue;
		sink_reset(i, SINK_QUEUE);
		rxs[i].rescinds = 0;
		int opened = open_chan(i, 16384, 16384, false);
		was_open[i] = EXPECT(opened == 0, "open of channel %u: %d", i, opened);
	}
	/*
	 * No answer asked for: the rescind of channel 1 may be read before an
	 * answer already in its ring, and a request on a rescinded channel
	 * ends with -ENODEV at once (docs/vmbus.md).
	 */
	struct control c = { CTL_MAGIC, CTL_RESCIND, 0, 0, 0 };
	int err = was_open[0] && was_open[1] ? hvrt_channel_send(chans[1], &c, sizeof(c), 5, false) : -ENOTCONN;
	if (!EXPECT(err == 0, "RESCIND of the primary on channel 1: %d", err)) {
		close_all();
		return;
	}
	uint64_t t = now_ref();
	bool seen = wait_until(all_rescinds_seen, was_open, 3000);
	unsigned ms = ms_since(t);
	for (unsigned i = 0; i < NCHAN; i++) {
		if (!was_open[i])
			continue;
		EXPECT(rxs[i].rescinds == 1 && rxs[i].rescind_args_ok && hvrt_channel_rescinded(chans[i]),
		       "channel %u: on_rescind ran %u times (want once within 3 s), rescinded %d", i, rxs[i].rescinds,
		       hvrt_channel_rescinded(chans[i]));
		err = hvrt_channel_send(chans[i], "x", 1, 1, false);
		EXPECT(err == -ENODEV, "send on rescinded channel %u: %d (want -ENODEV)", i, err);
	}
	err = hvrt_channel_close(chans[0]);
	EXPECT(err == 0, "close of the rescinded primary: %d", err);
	for (unsigned i = 0; i < NCHAN; i++)
		EXPECT(!hvrt_channel_is_open(chans[i]), "channel %u still open after the primary's close", i);
	err = hvrt_channel_close(chans[1]);
	EXPECT(err == 0, "a second close of sub-channel 1: %d", err);
	struct hvrt_channel *left = hvrt_vmbus_next(NULL);
	EXPECT(left == NULL, "the bus still lists relid %" PRIu32 " after every channel was rescinded and closed",
	       left ? hvrt_channel_offer(left)->relid : 0);
	EXPECT(hvrt_vmbus_find(&test_class, NULL) == NULL, "hvrt_vmbus_find still finds the class");
	if (seen)
		note("%s rescinded (on_rescind within %u ms), closed with the primary, released; the bus is empty",
		     was_open[2] ? "all three" : "the primary and sub-channel 1", ms);
}

/*
 * The end: every channel closed, then hvrt_vmbus_disconnect (UNLOAD); every
 * channel is dead after it. The case checks in QEMU's trace that no GPADL
 * was left and that UNLOAD came last.
 */
static void check_teardown(unsigned arg)
{
	(void)arg;

	close_all();
	for (unsigned i = 0; i < NCHAN; i++)
		EXPECT(!hvrt_channel_is_open(chans[i]), "channel %u still open", i);
	int err = hvrt_vmbus_disconnect();
	EXPECT(err == 0 && hvrt_vmbus_version() == 0, "disconnect: %d, version %#" PRIx32 " after it", err,
	       hvrt_vmbus_version());
	int send = hvrt_channel_send(chans[0], "x", 1, 1, false);
	EXPECT(send == -ENODEV || send == -ENOTCONN, "send after the disconnect: %d (want -ENODEV or -ENOTCONN)", send);
	int open = open_chan(0, 16384, 16384, false);
	EXPECT(open == -ENODEV, "open after the disconnect: %d (want -ENODEV)", open);
	note("every channel closed, UNLOAD answered; after it send %d, open %d", send, open);
}

/* ---- main ---- */

struct check {
	const char *name;
	void (*fn)(unsigned arg); /* arg: NAME=N's N, else 0 (the check's default) */
};

/* In the order "all" runs them: the rescind takes a channel away for good, the teardown the bus. */
static const struct check checks[] = {
	{ "offers", check_offers },
	{ "open-close", check_open_close },
	{ "close-busy", check_close_busy },
	{ "completions", check_completions },
	{ "gpa", check_gpa },
	{ "stream", check_stream },
	{ "backpressure-out", check_backpressure_out },
	{ "backpressure-in", check_backpressure_in },
	{ "busy", check_busy },
	{ "bad-length", check_bad_length },
	{ "bad-offset", check_bad_offset },
	{ "bad-type", check_bad_type },
	{ "stray-completion", check_stray_completion },
	{ "rescind", check_rescind },
	{ "rescind-primary", check_rescind_primary },
	{ "teardown", check_teardown },
};
#define NCHECKS (sizeof(checks) / sizeof(checks[0]))

/* The test device's three channels, by sub-channel index; false if the bus does not offer them. */
static bool find_channels(void)
{
	chans[0] = hvrt_vmbus_find(&test_class, NULL);
	for (unsigned i = 1; i < NCHAN; i++)
		chans[i] = chans[0] ? hvrt_channel_subchannel(chans[0], (uint16_t)i) : NULL;
	for (unsigned i = 0; i < NCHAN; i++) {
		if (!chans[i])
			return false;
	}
	return true;
}

/* Runs one check and prints its line; returns whether it passed. */
static bool run_check(const struct check *c, unsigned arg)
{
	memset(&cur, 0, sizeof(cur));
	cur.name = c->name;
	uint64_t t0 = now_ref();
	c->fn(arg);
	unsigned ms = ms_since(t0);
	if (cur.fails == 0) {
		printf("chantest: %s: ok %s (%u ms)\n", c->name, cur.figures, ms);
		return true;
	}
	printf("chantest: %s: FAIL %u failure%s in all (%u ms)\n", c->name, cur.fails, cur.fails == 1 ? "" : "s", ms);
	return false;
}

int main(int argc, char **argv)
{
	unsigned passed = 0, failed = 0;

	pattern_init();
	hvrt_guid_parse(TEST_CLASS, &test_class);
	int err = hvrt_vmbus_connect();
	if (err || !find_channels()) {
		printf("chantest: setup: FAIL connect %d; no hvrt-test device with 3 channels (-device hvrt-test, "
		       "the rebuilt QEMU)\n", err);
		return 1;
	}
	bool all = argc < 2 || (argc == 2 && strcmp(argv[1], "all") == 0);
	if (all) {
		for (unsigned k = 0; k < NCHECKS; k++)
			run_check(&checks[k], 0) ? passed++ : failed++;
	}
	for (int a = 1; a < argc && !all; a++) {
		char name[32];
		const char *eq = strchr(argv[a], '=');
		size_t len = eq ? (size_t)(eq - argv[a]) : strlen(argv[a]);
		unsigned arg = eq ? (unsigned)strtoul(eq + 1, NULL, 0) : 0;
		const struct check *c = NULL;
		snprintf(name, sizeof(name), "%.*s", (int)len, argv[a]);
		for (unsigned k = 0; k < NCHECKS && !c; k++)
			c = strcmp(checks[k].name, name) == 0 ? &checks[k] : NULL;
		if (c) {
			run_check(c, arg) ? passed++ : failed++;
			continue;
		}
		printf("chantest: %s: FAIL no such check; the checks:", name);
		for (unsigned k = 0; k < NCHECKS; k++)
			printf(" %s", checks[k].name);
		printf(" (or all; NAME=N sets a count)\n");
		failed++;
	}
	printf("chantest: %u passed, %u failed\n", passed, failed);
	/* exit() disconnects (UNLOAD) if the teardown did not. */
	return (int)failed;
}
