/*
 * chantest: hvrt's public channel API (<hvrt/vmbus.h>) against QEMU 7.2's
 * real host-side VMBus code and the project's hvrt-test device
 * (tests/qemu/patches, hw/hyperv/hvrt_test.c), in the nested host with the
 * rebuilt inner QEMU (test-hosts.md section 3). tests/nested/chan_cases.py
 * runs it and checks QEMU's trace of the control messages.
 *
 * The device offers class 6876d3a1-... as a primary and two sub-channels.
 * It echoes in-band packets, answers GPA-direct packets with the FNV-1a 64
 * of the bytes they name (both as a completion with the packet's
 * transaction id when one was asked for, else in-band with that id), and
 * takes control packets (struct control) that stall or resume a channel,
 * make it send packets unprompted, rescind it, or write a malformed packet
 * on its host->guest ring. A control packet is answered on the channel it
 * came on before the target channel acts, so a control for one channel is
 * sent on another.
 *
 * What every file shares: the device's formats, the current check's
 * reporting (report.c), time and waiting (clock.c), the bytes packets are
 * cut from (pattern.c), the channels (channels.c) and what their callbacks
 * do with packets (sinks.c), the device's commands (control.c), the stream
 * engine (stream.c), and the checks (check_*.c, run by main.c).
 *
 * Everything is checked byte for byte; nothing waits without a bound.
 */
#ifndef CHANTEST_H
#define CHANTEST_H

/*
 * usleep is POSIX, not C11: asked for, so that -std=c11 builds it as
 * -std=gnu11 (the apps' flags) does; before any header, so every file
 * includes this one first.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <hvrt/hvrt.h>

#define TEST_CLASS "6876d3a1-2c5e-4f0b-9d47-68767274e001"
#define NCHAN 3u

/* ---- the device's formats (hvrt_test.c) ---- */

/* The device's control packet (HvrtTestControl, packed: five u32s have no padding). */
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

/* ---- reporting (report.c) ---- */

/* Starts the named check: no failures, no figures yet. */
void check_start(const char *name);
/* How many failures the current check has had so far. */
unsigned check_failures(void);
/* The figures note() gathered for the current check's "ok" line. */
const char *check_figures(void);
/* One way the current check failed: printed at once. */
__attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...);
/* Adds to the figures printed on the check's "ok" line. */
__attribute__((format(printf, 1, 2))) void note(const char *fmt, ...);
/* The condition, and a failure when it does not hold: EXPECT(ok, "what ...", ...). */
#define EXPECT(cond, ...) ((cond) ? true : (fail(__VA_ARGS__), false))

/* ---- time (clock.c) ---- */

/* Partition reference time (100 ns). */
uint64_t now_ref(void);
/* Milliseconds since t0 (reference time). */
unsigned ms_since(uint64_t t0);
/* Runs the event loop until done(ctx), at most timeout_ms; whether done(ctx) held in time. */
bool wait_until(bool (*done)(void *ctx), void *ctx, unsigned timeout_ms);

/* ---- data the receiver can recompute (pattern.c) ---- */

extern uint8_t pattern[PATTERN_BYTES];
void pattern_init(void);
uint64_t mix64(uint64_t x);
uint64_t fnv1a64(uint64_t h, const uint8_t *p, size_t n);
/* VMBus packets are padded to 8 bytes, and an echo brings the padding back. */
static inline uint32_t round8(uint32_t n)
{
	return (n + 7) & ~7u;
}
uint32_t first_difference(const uint8_t *a, const uint8_t *b, uint32_t len);
bool echo_matches(const uint8_t *got, uint32_t got_len, uint32_t off, uint32_t len);

/* ---- what channels receive (sinks.c) ---- */

/* A packet kept by a queue sink. */
struct rx_entry {
	uint16_t type, flags;
	uint64_t trans_id;
	uint32_t len;             /* payload_len */
	uint8_t data[MAX_PACKET]; /* its payload (at most MAX_PACKET bytes fit in a channel's packet) */
};

enum sink_mode {
	SINK_QUEUE,  /* keep packets for the check to take (next_packet) */
	SINK_STREAM, /* check each against the stream (stream_packet) */
	SINK_SEQ,    /* check each against the device's SEND packets (seq_packet_error) */
};

struct stream_cfg;

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

extern struct chan_rx rxs[NCHAN];

void sink_reset(unsigned idx, enum sink_mode mode);
void on_packet(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx);
void on_rescind(struct hvrt_channel *ch, void *ctx);
const struct rx_entry *next_packet(unsigned idx, unsigned timeout_ms);
const char *seq_packet_error(const struct hvrt_packet *pkt, uint32_t seq, uint32_t size);
/* wait_until: a SEND sink (ctx) has every packet, or an error. */
bool seq_done(void *ctx);

/* ---- the channels (channels.c) ---- */

extern struct hvrt_channel *chans[NCHAN]; /* by sub-channel index: 0 is the primary */
extern struct hvrt_guid test_class;

bool find_channels(void);
int open_chan(unsigned idx, uint32_t send_bytes, uint32_t recv_bytes, bool polled);
bool open_all(void);
bool close_all(void);
int recv_polled(unsigned idx, void *buf, size_t cap, struct hvrt_packet *pkt, unsigned timeout_ms);
bool echo_ok(unsigned idx, uint32_t off, uint32_t len, const char *when);

/* ---- the device's commands (control.c) ---- */

#define CONTROL_TIMER 1u /* a synthetic timer and SINT of the app's (docs/hv.md) */
#define CONTROL_SINT 5u

/* A control packet sent later from a timer expiry (timed_control). */
struct timed {
	unsigned via;
	struct control c;
	int sent;         /* hvrt_channel_send's result; -EINPROGRESS until then */
	uint64_t when;    /* the reference time the timer was set for */
	uint64_t sent_at; /* now_ref() when the expiry was handled (and the packet sent) */
	uint64_t expired, delivered; /* the expiry message's times (the host's reference time) */
};

int control(unsigned via, uint32_t cmd, unsigned target, uint32_t count, uint32_t size);
bool control_ok(unsigned via, uint32_t cmd, unsigned target, uint32_t count, uint32_t size);
int timed_control(struct timed *t, unsigned ms, unsigned via, uint32_t cmd, unsigned target);

/* ---- the stream engine (stream.c) ---- */

/* A stream: packets whose length, bytes, id and type follow from their sequence number. */
struct stream_cfg {
	uint32_t count[NCHAN];      /* packets per channel; 0: the channel takes no part */
	uint32_t min_len, max_len;  /* payload bytes, max_len < PATTERN_BYTES */
	unsigned completion_every;  /* packets with seq % this == 0 ask for a completion; 0: none */
	uint32_t seed;
	uint32_t trigger_at;        /* once this many are sent in all, trigger runs (0: never) */
	/* full: bit i set when channel i's send ring was full at its last send */
	void (*trigger)(void *ctx, unsigned full);
	void *trigger_ctx;
	unsigned timeout_ms;
};

/* A stream packet: what the sender sends and the receiver expects for seq on channel idx. */
struct stream_pkt {
	const uint8_t *data;
	uint32_t len;
	uint64_t id;
	bool want_completion;
};

/* What run_stream measured. */
struct stream_result {
	uint64_t ticks;               /* first send to last echo, reference time */
	uint64_t packets, bytes;      /* each way */
	uint64_t ring_bytes[NCHAN];   /* what went through each channel's rings, each way */
	unsigned blocked_waits;       /* hvrt_channel_wait_writable calls on a full send ring */
};

void stream_packet(const struct stream_cfg *cfg, unsigned idx, uint32_t seq, struct stream_pkt *p);
uint32_t ring_bytes(uint32_t len);
uint32_t ring_fits(uint32_t size, uint32_t len);
bool stream_received(void *ctx);
bool run_stream(const struct stream_cfg *cfg, struct stream_result *res);

/* ---- the checks (check_*.c; main.c runs them, arg: NAME=N's N, else 0 for the default) ---- */

void check_offers(unsigned arg);
void check_open_close(unsigned rounds);
void check_close_busy(unsigned count);
void check_completions(unsigned count);
void check_gpa(unsigned arg);
void check_stream(unsigned total);
void check_backpressure_out(unsigned arg);
void check_backpressure_polled(unsigned arg);
void check_backpressure_in(unsigned count);
void check_busy(unsigned count);
void check_bad_length(unsigned count);
void check_bad_offset(unsigned count);
void check_bad_type(unsigned count);
void check_stray_completion(unsigned count);
void check_rescind(unsigned arg);
void check_rescind_primary(unsigned arg);
void check_teardown(unsigned arg);

#endif
