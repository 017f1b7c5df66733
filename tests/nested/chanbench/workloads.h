/*
 * The channel benchmark's workloads, shared by the guest image
 * (tests/nested/chanbench/main.c, against QEMU's hvrt-test device in the
 * nested host) and the hosted simulator bench (tests/bench/vmbus_chan_bench.c,
 * against a device on tests/hostsim/vmbus_sim.c), so that both measure the
 * same loops. Only hvrt's public API (<hvrt/vmbus.h>) and the C library.
 *
 * Both devices send an in-band packet back in-band with the same transaction
 * id and payload (padded to 8 bytes), or as a completion when the packet
 * asked for one, and both take hvrt-test's control packets (struct
 * cb_control, sent on the channel they are for) SEND and DISCARD
 * (tests/qemu/patches/0002-hvrt-test-vmbus-device.patch has the formats). The
 * workloads:
 *
 *   rtt poll     a polled channel: send one in-band packet of SIZE bytes,
 *                spin on hvrt_channel_recv() until its echo is there; N times
 *                after a warm-up, each round trip timed
 *   rtt request  an interrupt-driven channel: hvrt_channel_request() of SIZE
 *                bytes (the echo comes back as the completion; the guest waits
 *                in hvrt's blocking wait, halted until the interrupt)
 *   echo         a round-trip stream on a polled channel: keep the send ring
 *                full of SIZE-byte packets and drain the echoes as they come,
 *                until N came back; every packet crosses both rings, so the
 *                rate is the slower direction's with the other one loaded
 *   in           host -> guest alone, on a polled channel: a SEND of N packets
 *                of SIZE bytes, read as they come (spinning on
 *                hvrt_channel_recv()), each checked for its sequence number
 *                and a few pattern bytes; timed from the SEND's sending until
 *                the last packet was read
 *   out          guest -> host alone, on a polled channel: a DISCARD of N (the
 *                host reads and drops them, sending nothing back), then N
 *                packets of SIZE bytes with the send ring kept full, then one
 *                packet asking for a completion, which the host echoes only
 *                once it read the N: timed from the first send until that
 *                completion came
 *
 * In echo and out, when nothing moved and the send ring is full, the guest
 * waits (halted) for room with hvrt_channel_wait_writable() for at most
 * 1 ms, and counts it.
 *
 * The includer defines cb_now_ns() (its clock, nanoseconds) before including
 * this file, and may define CB_MEASURE_BEGIN() and CB_MEASURE_END(), which run
 * around each measured loop (after the warm-up, before the report). Each
 * workload prints one result line, every field key=value:
 *
 *   chanbench rtt mode=poll|request size=S n=N median_ns=.. p90_ns=.. min_ns=.. mean_ns=..
 *       max_ns=..   (one line)
 *   chanbench echo size=S n=N ns=.. waits=..
 *   chanbench in size=S n=N ns=..
 *   chanbench out size=S n=N ns=.. sent_ns=.. waits=..
 *
 * ns is the workload's time as above (N / ns is its packets per second);
 * out's sent_ns is the time until the last of the N was in the ring. A
 * failure prints "chanbench error WHAT: ..." and returns a negative errno.
 */
#ifndef HVRT_CHANBENCH_WORKLOADS_H
#define HVRT_CHANBENCH_WORKLOADS_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hvrt/vmbus.h>

#ifndef CB_MEASURE_BEGIN
#define CB_MEASURE_BEGIN() do { } while (0)
#define CB_MEASURE_END() do { } while (0)
#endif

#define CB_WARMUP 100u
#define CB_MAX_SIZE 4096u
/* Nothing moved for this long: the channel is stuck (a bug, the host's or hvrt's). */
#define CB_STALL_NS 2000000000ull

/* hvrt-test's control packet (HvrtTestControl) and the commands used here. */
#define CB_CTL_MAGIC 0x48565254u /* "HVRT" */
#define CB_CTL_SEND 3u
#define CB_CTL_DISCARD 9u
struct cb_control {
	uint32_t magic, cmd, channel, count, size;
};
_Static_assert(sizeof(struct cb_control) == 20, "hvrt-test's control packet is 20 bytes");
/* Transaction ids of the control packets: apart from the packets' own (0 .. N). */
#define CB_CTL_TRANS_ID 0x4342435400000000ull /* "CBCT" */

#define CB_PKT_INBAND 6u
#define CB_PKT_COMPLETION 11u

static uint64_t cb_now_ns(void);

static uint8_t cb_out[CB_MAX_SIZE] __attribute__((aligned(8)));
static uint8_t cb_in[CB_MAX_SIZE + 256] __attribute__((aligned(8)));

/* The payload of packet seq: seq in the first 8 bytes, a fixed pattern after. */
static void cb_fill(uint32_t size, uint64_t seq)
{
	static uint32_t filled;

	if (filled < size) {
		for (uint32_t i = filled; i < size; i++)
			cb_out[i] = (uint8_t)(i * 7 + 3);
		filled = size;
	}
	memcpy(cb_out, &seq, sizeof(seq));
}

static int cb_error(int err, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cb_error(int err, const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("chanbench error %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (%d)\n", err);
	return err < 0 ? err : -EIO;
}

/* An echo of packet seq, size bytes: its transaction id, length and sequence number. */
static int cb_check_echo(const struct hvrt_packet *pkt, int len, uint32_t size, uint64_t seq, const char *what)
{
	uint64_t got;

	if (len < (int)size || pkt->trans_id != seq)
		return cb_error(-EIO, what, "echo of packet %" PRIu64 ": %d bytes, transaction id %" PRIu64, seq, len,
				pkt->trans_id);
	memcpy(&got, pkt->payload, sizeof(got));
	if (got != seq || memcmp((const uint8_t *)pkt->payload + 8, cb_out + 8, size - 8) != 0)
		return cb_error(-EIO, what, "echo of packet %" PRIu64 ": payload differs", seq);
	return 0;
}

/* The next packet on a polled channel, spinning up to CB_STALL_NS: its length or a negative errno. */
static int cb_recv_wait(struct hvrt_channel *ch, struct hvrt_packet *pkt)
{
	uint64_t t0 = cb_now_ns();
	int len;

	while ((len = hvrt_channel_recv(ch, cb_in, sizeof(cb_in), pkt)) == -EAGAIN)
		if (cb_now_ns() - t0 > CB_STALL_NS)
			return -ETIMEDOUT;
	return len;
}

/*
 * A control packet for the device on a polled channel (about that channel,
 * device index idx), its completion awaited: the device's status (0 done, 1
 * refused) or a negative errno. Nothing else may come before the completion.
 */
static int cb_control(struct hvrt_channel *ch, uint32_t cmd, uint32_t idx, uint32_t count, uint32_t size,
		      const char *what)
{
	static uint64_t seq;
	struct cb_control c = { CB_CTL_MAGIC, cmd, idx, count, size };
	uint64_t id = CB_CTL_TRANS_ID | ++seq;
	struct hvrt_packet pkt;
	uint32_t status;

	int err = hvrt_channel_send(ch, &c, sizeof(c), id, true);
	if (err)
		return cb_error(err, what, "send of control %" PRIu32, cmd);
	int len = cb_recv_wait(ch, &pkt);
	if (len < 0)
		return cb_error(len, what, "no answer to control %" PRIu32, cmd);
	if (pkt.type != CB_PKT_COMPLETION || pkt.trans_id != id || len < 4)
		return cb_error(-EPROTO, what, "control %" PRIu32 ": a packet of type %u, transaction id %#" PRIx64
				", %d bytes, where its completion was due", cmd, pkt.type, pkt.trans_id, len);
	memcpy(&status, pkt.payload, sizeof(status));
	return (int)status;
}

static int cb_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void cb_report_rtt(const char *mode, uint32_t size, uint64_t *ns, unsigned n)
{
	uint64_t sum = 0;

	qsort(ns, n, sizeof(*ns), cb_cmp_u64);
	for (unsigned i = 0; i < n; i++)
		sum += ns[i];
	printf("chanbench rtt mode=%s size=%" PRIu32 " n=%u median_ns=%" PRIu64 " p90_ns=%" PRIu64 " min_ns=%" PRIu64
	       " mean_ns=%" PRIu64 " max_ns=%" PRIu64 "\n",
	       mode, size, n, ns[n / 2], ns[(uint64_t)n * 9 / 10], ns[0], sum / n, ns[n - 1]);
}

/* Round trips on a polled channel, spinning on hvrt_channel_recv(). */
static int cb_rtt_poll(struct hvrt_channel *ch, uint32_t size, unsigned n)
{
	uint64_t *ns = malloc(n * sizeof(*ns));
	struct hvrt_packet pkt;
	int err = 0;

	if (!ns || size < 8 || size > CB_MAX_SIZE)
		return cb_error(-EINVAL, "rtt-poll", "%u samples of %" PRIu32 " bytes", n, size);
	for (unsigned i = 0; i < CB_WARMUP + n; i++) {
		if (i == CB_WARMUP)
			CB_MEASURE_BEGIN();
		cb_fill(size, i);
		uint64_t t0 = cb_now_ns();
		err = hvrt_channel_send(ch, cb_out, size, i, false);
		if (err) {
			err = cb_error(err, "rtt-poll", "send of packet %u", i);
			break;
		}
		int len;
		while ((len = hvrt_channel_recv(ch, cb_in, sizeof(cb_in), &pkt)) == -EAGAIN &&
		       cb_now_ns() - t0 <= CB_STALL_NS)
			;
		uint64_t t1 = cb_now_ns();
		if (len < 0) {
			err = cb_error(len == -EAGAIN ? -ETIMEDOUT : len, "rtt-poll", "no echo of packet %u", i);
			break;
		}
		if ((err = cb_check_echo(&pkt, len, size, i, "rtt-poll")) != 0)
			break;
		if (i >= CB_WARMUP)
			ns[i - CB_WARMUP] = t1 - t0;
	}
	CB_MEASURE_END();
	if (!err)
		cb_report_rtt("poll", size, ns, n);
	free(ns);
	return err;
}

/* Round trips with hvrt_channel_request() on an interrupt-driven channel. */
static int cb_rtt_request(struct hvrt_channel *ch, uint32_t size, unsigned n)
{
	uint64_t *ns = malloc(n * sizeof(*ns));
	int err = 0;

	if (!ns || size < 8 || size > CB_MAX_SIZE)
		return cb_error(-EINVAL, "rtt-request", "%u samples of %" PRIu32 " bytes", n, size);
	for (unsigned i = 0; i < CB_WARMUP + n; i++) {
		if (i == CB_WARMUP)
			CB_MEASURE_BEGIN();
		cb_fill(size, i);
		uint64_t t0 = cb_now_ns();
		int len = hvrt_channel_request(ch, cb_out, size, cb_in, sizeof(cb_in), 1000);
		uint64_t t1 = cb_now_ns();
		if (len < (int)size || memcmp(cb_in, cb_out, size) != 0) {
			err = cb_error(len < 0 ? len : -EIO, "rtt-request", "request %u: %d bytes back", i, len);
			break;
		}
		if (i >= CB_WARMUP)
			ns[i - CB_WARMUP] = t1 - t0;
	}
	CB_MEASURE_END();
	if (!err)
		cb_report_rtt("request", size, ns, n);
	free(ns);
	return err;
}

/* A round-trip stream: the send ring kept full on a polled channel, the echoes drained as they come. */
static int cb_echo(struct hvrt_channel *ch, uint32_t size, unsigned n)
{
	struct hvrt_packet pkt;
	uint64_t sent = 0, got = 0, waits = 0;

	if (size < 8 || size > CB_MAX_SIZE)
		return cb_error(-EINVAL, "echo", "packets of %" PRIu32 " bytes", size);
	CB_MEASURE_BEGIN();
	uint64_t t0 = cb_now_ns(), last = t0;
	while (got < n) {
		int progress = 0, err = 0, len;

		while (sent < n) {
			cb_fill(size, sent);
			err = hvrt_channel_send(ch, cb_out, size, sent, false);
			if (err)
				break;
			sent++;
			progress = 1;
		}
		if (err && err != -EAGAIN)
			return cb_error(err, "echo", "send of packet %" PRIu64, sent);
		while ((len = hvrt_channel_recv(ch, cb_in, sizeof(cb_in), &pkt)) != -EAGAIN) {
			if (len < 0)
				return cb_error(len, "echo", "recv after %" PRIu64 " echoes", got);
			if (got >= sent)
				return cb_error(-EIO, "echo", "an echo (transaction id %" PRIu64 ") of nothing sent",
						pkt.trans_id);
			/* cb_out holds the last packet sent; the check reads only its pattern after byte 8 */
			if ((err = cb_check_echo(&pkt, len, size, got, "echo")) != 0)
				return err;
			got++;
			progress = 1;
		}
		uint64_t now = cb_now_ns();
		if (progress) {
			last = now;
			continue;
		}
		if (now - last > CB_STALL_NS)
			return cb_error(-ETIMEDOUT, "echo", "stuck: %" PRIu64 " sent, %" PRIu64 " echoed", sent, got);
		if (sent < n) {
			waits++;
			hvrt_channel_wait_writable(ch, size, 1);
		}
	}
	uint64_t t_end = cb_now_ns();
	CB_MEASURE_END();
	printf("chanbench echo size=%" PRIu32 " n=%u ns=%" PRIu64 " waits=%" PRIu64 "\n", size, n, t_end - t0, waits);
	return 0;
}

/*
 * Why a packet is not the device's SEND packet seq of size bytes, or NULL:
 * in-band, transaction id seq, { magic, seq, byte i = seq * 31 + i }, three
 * of the pattern bytes checked (the first, the middle and the last).
 */
static const char *cb_send_packet_error(const struct hvrt_packet *pkt, int len, uint32_t size, uint32_t seq)
{
	const uint8_t *p = pkt->payload;
	uint32_t head[2];

	if (pkt->type != CB_PKT_INBAND || pkt->trans_id != seq)
		return "its type or transaction id";
	if (len < (int)size)
		return "its length";
	memcpy(head, p, sizeof(head));
	if (head[0] != CB_CTL_MAGIC || head[1] != seq)
		return "its magic or sequence number";
	if (size > 8) {
		uint32_t at[3] = { 8, 8 + (size - 8) / 2, size - 1 };
		for (unsigned k = 0; k < 3; k++)
			if (p[at[k]] != (uint8_t)(seq * 31u + at[k]))
				return "its pattern bytes";
	}
	return NULL;
}

/* Host -> guest alone: a SEND of n packets on polled channel ch (device index idx), read as they come. */
static int cb_in_stream(struct hvrt_channel *ch, uint32_t idx, uint32_t size, unsigned n)
{
	struct hvrt_packet pkt;
	uint32_t got = 0;

	if (size < 8 || size > CB_MAX_SIZE)
		return cb_error(-EINVAL, "in", "packets of %" PRIu32 " bytes", size);
	CB_MEASURE_BEGIN();
	uint64_t t0 = cb_now_ns();
	int st = cb_control(ch, CB_CTL_SEND, idx, n, size, "in");
	if (st != 0)
		return st < 0 ? st : cb_error(-EIO, "in", "the device refused SEND %u x %" PRIu32 " (status %d)", n, size,
					      st);
	uint64_t idle_since = 0; /* the clock is read only while nothing comes */
	while (got < n) {
		int len = hvrt_channel_recv(ch, cb_in, sizeof(cb_in), &pkt);
		if (len == -EAGAIN) {
			uint64_t now = cb_now_ns();
			if (!idle_since)
				idle_since = now;
			else if (now - idle_since > CB_STALL_NS)
				return cb_error(-ETIMEDOUT, "in", "stuck after %" PRIu32 " of %u packets", got, n);
			continue;
		}
		if (len < 0)
			return cb_error(len, "in", "recv after %" PRIu32 " packets", got);
		const char *why = cb_send_packet_error(&pkt, len, size, got);
		if (why)
			return cb_error(-EIO, "in", "packet %" PRIu32 " (type %u, transaction id %" PRIu64 ", %d bytes): %s",
					got, pkt.type, pkt.trans_id, len, why);
		got++;
		idle_since = 0;
	}
	uint64_t t_end = cb_now_ns();
	CB_MEASURE_END();
	printf("chanbench in size=%" PRIu32 " n=%u ns=%" PRIu64 "\n", size, n, t_end - t0);
	return 0;
}

/* Sends packet seq of size bytes, waiting for room: 0 or a negative errno; *waits counts the waits. */
static int cb_send_waiting(struct hvrt_channel *ch, uint32_t size, uint64_t seq, bool completion, uint64_t *waits)
{
	uint64_t t0 = 0; /* the clock is read only when the ring is full */
	int err;

	cb_fill(size, seq);
	while ((err = hvrt_channel_send(ch, cb_out, size, seq, completion)) == -EAGAIN) {
		uint64_t now = cb_now_ns();
		if (!t0)
			t0 = now;
		else if (now - t0 > CB_STALL_NS)
			return -ETIMEDOUT;
		(*waits)++;
		hvrt_channel_wait_writable(ch, size, 1);
	}
	return err;
}

/*
 * Guest -> host alone: a DISCARD of n on polled channel ch (device index
 * idx), n packets, then packet n asking for a completion, echoed once the
 * host read the n.
 */
static int cb_out_stream(struct hvrt_channel *ch, uint32_t idx, uint32_t size, unsigned n)
{
	struct hvrt_packet pkt;
	uint64_t waits = 0;
	int err;

	if (size < 8 || size > CB_MAX_SIZE)
		return cb_error(-EINVAL, "out", "packets of %" PRIu32 " bytes", size);
	int st = cb_control(ch, CB_CTL_DISCARD, idx, n, 0, "out");
	if (st != 0)
		return st < 0 ? st : cb_error(-EIO, "out", "the device refused DISCARD %u (status %d: no DISCARD in "
					      "this hvrt-test?)", n, st);
	CB_MEASURE_BEGIN();
	uint64_t t0 = cb_now_ns();
	for (uint64_t seq = 0; seq < n; seq++)
		if ((err = cb_send_waiting(ch, size, seq, false, &waits)) != 0)
			return cb_error(err, "out", "send of packet %" PRIu64 " of %u", seq, n);
	uint64_t t_sent = cb_now_ns();
	if ((err = cb_send_waiting(ch, size, n, true, &waits)) != 0)
		return cb_error(err, "out", "send of the last packet, %u", n);
	int len = cb_recv_wait(ch, &pkt);
	uint64_t t_end = cb_now_ns();
	CB_MEASURE_END();
	if (len < 0)
		return cb_error(len, "out", "no completion for the last packet, %u", n);
	if (pkt.type != CB_PKT_COMPLETION)
		return cb_error(-EIO, "out", "a packet of type %u (transaction id %" PRIu64 ") came back: the host did "
				"not discard", pkt.type, pkt.trans_id);
	if ((err = cb_check_echo(&pkt, len, size, n, "out")) != 0)
		return err;
	printf("chanbench out size=%" PRIu32 " n=%u ns=%" PRIu64 " sent_ns=%" PRIu64 " waits=%" PRIu64 "\n", size, n,
	       t_end - t0, t_sent - t0, waits);
	return 0;
}

#endif
