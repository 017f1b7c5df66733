/*
 * hvrtsmoke: hvrt's public channel API against QEMU's hvrt-test device (scratch proof, issue 5).
 * Run it with -device hvrt-test -trace 'vmbus_*' (tests/qemu/build-qemu.sh): the rescinds and the
 * RELID_RELEASED answers show in QEMU's trace (vmbus_rescind, vmbus_relid_released).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <hvrt/hvrt.h>
#include <hvrt/hv.h>
#include <hvrt/system.h>
#include <hvrt/vmbus.h>

static unsigned failed;
#define CHECK(c, ...) do { printf("%s ", (c) ? "PASS" : "FAIL"); printf(__VA_ARGS__); printf("\n"); if (!(c)) failed++; } while (0)

/* The device's control packet (hw/hyperv/hvrt_test.c) and its commands. */
#define MAGIC 0x48565254u
enum { STALL = 1, RESUME, SEND, RESCIND, BAD_LENGTH, BAD_OFFSET, BAD_TYPE, STRAY_COMPLETION, DISCARD };
#define STRAY_TRANS_ID 0x5354524159000000ull

struct gpa_sum { uint64_t fnv; uint32_t bytes; uint32_t ranges; } __attribute__((packed));
static uint8_t pages[3 * 4096] __attribute__((aligned(4096)));
static uint8_t buf[8192] __attribute__((aligned(8)));
static struct hvrt_guid cls;
static unsigned rescinds; /* on_rescind calls */

/*
 * hvrt's own (vmbus/vmbus.h), not its API: only for the two messages below, which hvrt never sends
 * for these channels, to see what QEMU does with them.
 */
int vmbus_post(const void *msg, size_t len);

static int recv_wait(struct hvrt_channel *ch, struct hvrt_packet *pkt)
{
	uint64_t end = hvrt_uptime_ns() + 2000000000ull;
	for (;;) {
		int n = hvrt_channel_recv(ch, buf, sizeof(buf), pkt);
		if (n != -EAGAIN)
			return n;
		if (hvrt_uptime_ns() > end)
			return -ETIMEDOUT;
		hvrt_poll();
	}
}

static uint64_t fnv(const uint8_t *p, size_t n, uint64_t h)
{
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

static void on_rescind(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	rescinds++;
	printf("on_rescind: relid %u (sub-channel %u)\n", hvrt_channel_offer(ch)->relid,
	       hvrt_channel_offer(ch)->sub_channel_index);
}

static int open_polled(struct hvrt_channel *ch)
{
	struct hvrt_channel_config cfg = { .polled = true, .on_rescind = on_rescind };
	return hvrt_channel_open(ch, &cfg);
}

/* Sends a control packet on via; returns the device's status (0, 1) or a negative error. */
static int control(struct hvrt_channel *via, uint32_t cmd, uint32_t channel, uint32_t count, uint32_t size)
{
	static uint64_t trans = 1000;
	uint32_t ctl[5] = { MAGIC, cmd, channel, count, size };
	struct hvrt_packet pkt;

	int n = hvrt_channel_send(via, ctl, sizeof(ctl), ++trans, true);
	n = n ? n : recv_wait(via, &pkt);
	if (n < 0)
		return n;
	if (n < 4 || pkt.type != 11 || pkt.trans_id != trans)
		return -EPROTO;
	return (int)*(const uint32_t *)pkt.payload;
}

/* An in-band packet with a completion requested comes back as that completion. */
static bool echoes(struct hvrt_channel *ch)
{
	static uint64_t trans = 5000;
	uint8_t msg[24];
	struct hvrt_packet pkt;

	memset(msg, (int)(++trans & 0xff), sizeof(msg));
	int n = hvrt_channel_send(ch, msg, sizeof(msg), trans, true);
	n = n ? n : recv_wait(ch, &pkt);
	return n >= (int)sizeof(msg) && pkt.type == 11 && pkt.trans_id == trans && !memcmp(pkt.payload, msg, sizeof(msg));
}

/* The channel of the echo class with that sub-channel index, or NULL. */
static struct hvrt_channel *echo_channel(unsigned idx)
{
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch))
		if (hvrt_guid_equal(&hvrt_channel_offer(ch)->class_id, &cls) && !hvrt_channel_rescinded(ch) &&
		    hvrt_channel_offer(ch)->sub_channel_index == idx)
			return ch;
	return NULL;
}

static unsigned echo_channels(void)
{
	unsigned n = 0;
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch))
		if (hvrt_guid_equal(&hvrt_channel_offer(ch)->class_id, &cls) && !hvrt_channel_rescinded(ch))
			n++;
	return n;
}

/* Polls until all the channels are rescinded and on_rescind ran want times in all, or 2 s. */
static bool wait_rescinded(struct hvrt_channel *a, struct hvrt_channel *b, unsigned want)
{
	uint64_t end = hvrt_uptime_ns() + 2000000000ull;
	while (!(hvrt_channel_rescinded(a) && (!b || hvrt_channel_rescinded(b)) && rescinds >= want)) {
		if (hvrt_uptime_ns() > end)
			return false;
		hvrt_poll();
	}
	return true;
}

/* What the first version proved: echo, GPA direct, SEND, stall and resume on every channel. */
static void basics(void)
{
	struct hvrt_packet pkt;
	unsigned nch = 0;
	int err;

	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch)) {
		if (!hvrt_guid_equal(&hvrt_channel_offer(ch)->class_id, &cls))
			continue;
		unsigned idx = hvrt_channel_offer(ch)->sub_channel_index;
		nch++;
		err = open_polled(ch);
		CHECK(err == 0, "ch%u (relid %u) open: %d", idx, hvrt_channel_offer(ch)->relid, err);
		if (err) continue;
		/* in-band with completion */
		uint8_t msg[40];
		for (unsigned i = 0; i < sizeof(msg); i++) msg[i] = (uint8_t)(i * 7 + idx);
		err = hvrt_channel_send(ch, msg, sizeof(msg), 77, true);
		int n = err ? err : recv_wait(ch, &pkt);
		CHECK(n >= (int)sizeof(msg) && pkt.type == 11 && pkt.trans_id == 77 && !memcmp(pkt.payload, msg, sizeof(msg)),
		      "ch%u in-band echo as completion: n=%d type=%u trans=%" PRIu64, idx, n, pkt.type, pkt.trans_id);
		/* in-band without completion */
		err = hvrt_channel_send(ch, msg, 24, 99, false);
		n = err ? err : recv_wait(ch, &pkt);
		CHECK(n >= 24 && pkt.type == 6 && pkt.trans_id == 99 && !memcmp(pkt.payload, msg, 24),
		      "ch%u in-band echo in-band: n=%d type=%u trans=%" PRIu64, idx, n, pkt.type, pkt.trans_id);
		/* GPA direct: two ranges, the first at an offset over a page boundary */
		for (unsigned i = 0; i < sizeof(pages); i++) pages[i] = (uint8_t)(i * 13 + idx);
		struct hvrt_buffer b[2] = { { pages + 100, 5000 }, { pages + 2 * 4096, 4096 } };
		err = hvrt_channel_send_gpa(ch, b, 2, NULL, 0, 5, true);
		n = err ? err : recv_wait(ch, &pkt);
		uint64_t want = fnv(pages + 2 * 4096, 4096, fnv(pages + 100, 5000, 0xcbf29ce484222325ull));
		struct gpa_sum s = { 0 };
		if (n >= 16) memcpy(&s, pkt.payload, 16);
		CHECK(n >= 16 && pkt.type == 11 && pkt.trans_id == 5 && s.fnv == want && s.bytes == 9096 && s.ranges == 2,
		      "ch%u GPA-direct checksum: n=%d type=%u fnv=%016" PRIx64 " (want %016" PRIx64 ") bytes=%u ranges=%u",
		      idx, n, pkt.type, s.fnv, want, s.bytes, s.ranges);
		/* control: SEND 5 packets of 64 bytes on this channel */
		n = control(ch, SEND, idx, 5, 64);
		CHECK(n == 0, "ch%u control SEND acknowledged: %d", idx, n);
		unsigned got = 0;
		for (unsigned k = 0; k < 5; k++) {
			n = recv_wait(ch, &pkt);
			const uint8_t *p = pkt.payload;
			if (n >= 64 && pkt.type == 6 && pkt.trans_id == k && ((const uint32_t *)p)[1] == k && p[63] == (uint8_t)(k * 31 + 63))
				got++;
		}
		CHECK(got == 5, "ch%u 5 unprompted packets: %u good", idx, got);
	}
	CHECK(nch == 3, "%u channels of the echo class", nch);

	struct hvrt_channel *c0 = echo_channel(0), *c2 = echo_channel(2);
	int n = control(c0, STALL, 2, 0, 0);
	CHECK(n == 0, "stall ch2 (told on ch0): %d", n);
	uint8_t m[16] = "stalled?";
	hvrt_channel_send(c2, m, sizeof(m), 42, true);
	n = recv_wait(c2, &pkt);
	CHECK(n == -ETIMEDOUT, "ch2 stalled: no answer in 2 s (%d)", n);
	n = control(c0, RESUME, 2, 0, 0);
	CHECK(n == 0, "resume ch2 (told on ch0): %d", n);
	n = recv_wait(c2, &pkt);
	CHECK(n >= 16 && pkt.type == 11 && pkt.trans_id == 42 && !memcmp(pkt.payload, m, 16), "ch2 answers after resume: %d", n);
}

/* DISCARD: the next packets are read and dropped unanswered; the one after them is echoed. */
static void discard(void)
{
	struct hvrt_channel *c0 = echo_channel(0);
	uint8_t msg[64] = "dropped";

	int n = control(c0, DISCARD, 0, 3, 0);
	CHECK(n == 0, "DISCARD 3 on ch0: status %d", n);
	for (unsigned k = 0; k < 3; k++)
		hvrt_channel_send(c0, msg, sizeof(msg), 300 + k, false);
	/* the first packet back must be this echo's completion: nothing for the three */
	CHECK(echoes(c0), "ch0 echoes the packet after the 3 it dropped, and only that");
}

/*
 * A SEND whose packets could never fit in the target's host->guest ring is refused (it used to
 * stop the channel for good), and an echo that could never fit there is dropped (QEMU logs it)
 * instead of stopping the channel: ch1 opened again with a 64 KiB send ring and a 16 KiB receive
 * ring, sent 20000 bytes.
 */
static void too_big(void)
{
	static uint8_t big[20000];
	struct hvrt_channel *c0 = echo_channel(0), *c1 = echo_channel(1);

	/* 16 KiB rings (open_polled): 16 + 16352 + 8 bytes is the most a packet may take */
	int n = control(c0, SEND, 0, 1, 16360);
	CHECK(n == 1, "SEND of 16360 bytes into ch0's 16 KiB ring: status %d (1)", n);
	n = control(c0, SEND, 0, 1, 65536);
	CHECK(n == 1, "SEND of 65536 bytes into ch0's 16 KiB ring: status %d (1)", n);
	CHECK(echoes(c0), "ch0 still echoes after the refused SENDs");

	int e = hvrt_channel_close(c1);
	struct hvrt_channel_config cfg = { .send_ring_bytes = 65536, .recv_ring_bytes = 16384, .polled = true,
					   .on_rescind = on_rescind };
	int o = e ? e : hvrt_channel_open(c1, &cfg);
	CHECK(o == 0, "ch1 open with a 64 KiB send ring, a 16 KiB receive ring: %d", o);
	if (o)
		return;
	memset(big, 0x5a, sizeof(big));
	n = hvrt_channel_send(c1, big, sizeof(big), 400, false);
	CHECK(n == 0, "ch1: 20000 bytes sent: %d", n);
	CHECK(echoes(c1), "ch1 echoes the next packet: the one that could not fit was dropped");
	n = hvrt_channel_close(c1);
	o = open_polled(c1);
	CHECK(n == 0 && o == 0 && echoes(c1), "ch1 closed (%d), opened again as before (%d) and echoes", n, o);
}

/* Commands the device refuses: status 1. */
static void refusals(void)
{
	struct hvrt_channel *c0 = echo_channel(0);
	int n = control(c0, 99, 0, 0, 0);
	CHECK(n == 1, "unknown command 99: status %d", n);
	n = control(c0, RESCIND, 7, 0, 0);
	CHECK(n == 1, "RESCIND of channel 7 (there are 3): status %d", n);
	n = control(c0, BAD_TYPE, 3, 0, 0);
	CHECK(n == 1, "BAD_TYPE on channel 3: status %d", n);
	n = control(c0, DISCARD, 3, 1, 0);
	CHECK(n == 1, "DISCARD on channel 3: status %d", n);
	/* QEMU logs it ("which was not rescinded: ignored") and nothing changes. */
	uint32_t released[3] = { 13, 0, hvrt_channel_offer(c0)->relid };
	printf("RELID_RELEASED for relid %u, never rescinded (by hand)\n", released[2]);
	n = vmbus_post(released, sizeof(released));
	CHECK(n == 0 && echoes(c0), "ch0 still echoes after a stray RELID_RELEASED (%d)", n);
}

/* Each broken packet on ch2: hvrt closes ch2, the others go on, ch2 opens again and works. */
static void bad_packets(void)
{
	static const char *const names[] = { [BAD_LENGTH] = "BAD_LENGTH", [BAD_OFFSET] = "BAD_OFFSET",
					     [BAD_TYPE] = "BAD_TYPE", [STRAY_COMPLETION] = "STRAY_COMPLETION" };
	struct hvrt_channel *c0 = echo_channel(0), *c1 = echo_channel(1), *c2 = echo_channel(2);
	struct hvrt_packet pkt;

	for (uint32_t cmd = BAD_LENGTH; cmd <= STRAY_COMPLETION; cmd++) {
		int n = control(c0, cmd, 2, 0x100 + cmd, 0);
		CHECK(n == 0, "%s on ch2 (told on ch0): status %d", names[cmd], n);
		n = recv_wait(c2, &pkt);
		if (cmd == STRAY_COMPLETION && n >= 0) {
			/* hvrt (for now) passes a stray completion on instead of closing the channel. */
			CHECK(n >= 8 && pkt.type == 11 && pkt.trans_id == (STRAY_TRANS_ID | (0x100 + cmd)) &&
			      ((const uint32_t *)pkt.payload)[0] == MAGIC && ((const uint32_t *)pkt.payload)[1] == cmd,
			      "%s: hvrt passed it on as a packet: n=%d type=%u trans=%#" PRIx64 " (channel still open: %d)",
			      names[cmd], n, pkt.type, pkt.trans_id, hvrt_channel_is_open(c2));
			CHECK(echoes(c2), "ch2 still echoes after %s", names[cmd]);
			continue;
		}
		CHECK(n == -EIO, "%s: ch2 recv: %d (-EIO)", names[cmd], n);
		int s = hvrt_channel_send(c2, "x", 1, 1, false);
		CHECK(s == -EIO && !hvrt_channel_is_open(c2), "%s: ch2 broken: send %d, open %d", names[cmd], s,
		      hvrt_channel_is_open(c2));
		n = control(c0, cmd, 2, 0, 0);
		CHECK(n == 1, "%s again while ch2 is closed: status %d", names[cmd], n);
		CHECK(echoes(c0) && echoes(c1), "%s: ch0 and ch1 still echo", names[cmd]);
		n = hvrt_channel_close(c2);
		int o = open_polled(c2);
		CHECK(n == 0 && o == 0, "%s: ch2 closed (%d) and opened again (%d)", names[cmd], n, o);
		CHECK(echoes(c2), "%s: ch2 echoes again", names[cmd]);
	}
}

/* RESCIND of the open sub-channel 1; then a new connection is offered only ch0 and ch2. */
static void rescind_subchannel(void)
{
	struct hvrt_channel *c0 = echo_channel(0), *c1 = echo_channel(1), *c2 = echo_channel(2);
	unsigned before = rescinds;

	int n = control(c0, RESCIND, 1, 0, 0);
	CHECK(n == 0, "RESCIND ch1 (relid %u, told on ch0): status %d (the completion came first)",
	      hvrt_channel_offer(c1)->relid, n);
	CHECK(wait_rescinded(c1, NULL, before + 1), "ch1 rescinded: hvrt_channel_rescinded %d, on_rescind %u",
	      hvrt_channel_rescinded(c1), rescinds - before);
	n = hvrt_channel_send(c1, "x", 1, 1, false);
	CHECK(n == -ENODEV, "send on rescinded ch1: %d (-ENODEV)", n);
	n = control(c0, RESCIND, 1, 0, 0);
	CHECK(n == 0, "RESCIND ch1 again: status %d (nothing more happens)", n);
	printf("closing ch1 (relid %u): expect CLOSECHANNEL, GPADL teardown, RELID_RELEASED\n",
	       hvrt_channel_offer(c1)->relid);
	n = hvrt_channel_close(c1);
	CHECK(n == 0, "close rescinded ch1: %d", n);
	n = open_polled(c1);
	CHECK(n == -ENODEV, "open rescinded ch1: %d (-ENODEV)", n);
	/* QEMU answers OPENCHANNEL_RESULT with status 1 (its trace: vmbus_channel_open ... status 1). */
	uint32_t open[37] = { 5, 0, hvrt_channel_offer(c1)->relid, hvrt_channel_offer(c1)->relid, 0, 0, 2 };
	printf("OPENCHANNEL for rescinded relid %u (by hand)\n", open[2]);
	n = vmbus_post(open, sizeof(open));
	uint64_t until = hvrt_uptime_ns() + 200000000ull;
	while (hvrt_uptime_ns() < until)
		hvrt_poll();
	CHECK(n == 0, "OPENCHANNEL posted: %d", n);
	CHECK(echoes(c0) && echoes(c2), "ch0 and ch2 still echo");

	n = hvrt_vmbus_disconnect();
	CHECK(n == 0, "disconnect (UNLOAD): %d", n);
	n = hvrt_vmbus_connect();
	CHECK(n == 0, "connect again: %d", n);
	c0 = echo_channel(0);
	c2 = echo_channel(2);
	CHECK(echo_channels() == 2 && c0 && c2 && !echo_channel(1),
	      "offered again: %u channels of the echo class, ch0 %s, ch1 %s, ch2 %s", echo_channels(),
	      c0 ? "yes" : "no", echo_channel(1) ? "yes" : "no", c2 ? "yes" : "no");
	if (!c0 || !c2)
		return;
	int o0 = open_polled(c0), o2 = open_polled(c2);
	CHECK(o0 == 0 && o2 == 0 && echoes(c0) && echoes(c2), "ch0 (%d) and ch2 (%d) open and echo", o0, o2);
}

/* RESCIND of the primary, told on ch2: ch2 and ch0 both go (the trace shows ch2's first). */
static void rescind_primary(void)
{
	struct hvrt_channel *c0 = echo_channel(0), *c2 = echo_channel(2);
	unsigned before = rescinds;

	if (!c0 || !c2)
		return;
	int n = control(c2, RESCIND, 0, 0, 0);
	CHECK(n == 0, "RESCIND ch0 (relid %u; told on ch2, relid %u): status %d", hvrt_channel_offer(c0)->relid,
	      hvrt_channel_offer(c2)->relid, n);
	CHECK(wait_rescinded(c0, c2, before + 2), "ch0 and ch2 rescinded (%d %d), on_rescind %u",
	      hvrt_channel_rescinded(c0), hvrt_channel_rescinded(c2), rescinds - before);
	n = hvrt_channel_close(c0);
	CHECK(n == 0, "close rescinded primary (and its sub-channel): %d", n);
	n = hvrt_vmbus_disconnect();
	CHECK(n == 0, "disconnect (UNLOAD): %d", n);
	n = hvrt_vmbus_connect();
	CHECK(n == 0 && echo_channels() == 0, "connect again: %d, %u channels of the echo class", n, echo_channels());
}

int main(void)
{
	int err = hvrt_vmbus_connect();
	if (err) { printf("no VMBus %d\n", err); return 1; }
	hvrt_guid_parse("6876d3a1-2c5e-4f0b-9d47-68767274e001", &cls);
	basics();
	discard();
	too_big();
	refusals();
	bad_packets();
	rescind_subchannel();
	rescind_primary();
	err = hvrt_vmbus_disconnect();
	CHECK(err == 0, "disconnect (UNLOAD): %d", err);
	printf("%u failed\n", failed);
	return failed;
}
