/*
 * The channel benchmark's workloads, shared by the guest image
 * (tests/nested/chanbench/main.c, against QEMU's hvrt-test device in the
 * nested host) and the hosted simulator bench (tests/bench/vmbus_chan_bench.c,
 * against tests/hostsim/vmbus_sim.c's echo device), so that both measure the
 * same loops. Only hvrt's public API (<hvrt/vmbus.h>) and the C library.
 *
 * Both echo devices send an in-band packet back in-band with the same
 * transaction id and payload (padded to 8 bytes), or as a completion when the
 * packet asked for one. The workloads:
 *
 *   rtt poll     a polled channel: send one in-band packet of SIZE bytes,
 *                spin on hvrt_channel_recv() until its echo is there; N times
 *                after a warm-up, each round trip timed
 *   rtt request  an interrupt-driven channel: hvrt_channel_request() of SIZE
 *                bytes (the echo comes back as the completion; the guest waits
 *                in hvrt's blocking wait, halted until the interrupt)
 *   stream       a polled channel: keep the send ring full of SIZE-byte
 *                packets and drain the echoes as they come, until N came back;
 *                when nothing moved and the send ring is full, wait (halted)
 *                for room with hvrt_channel_wait_writable() for at most 1 ms
 *
 * The includer defines cb_now_ns() (its clock, nanoseconds) before including
 * this file, and may define CB_MEASURE_BEGIN() and CB_MEASURE_END(), which
 * run around each measured loop (after the warm-up, before the report). Each workload prints one result line, every field key=value:
 *
 *   chanbench rtt mode=poll|request size=S n=N median_ns=.. p90_ns=.. min_ns=.. mean_ns=..
 *       max_ns=..   (one line)
 *   chanbench stream size=S n=N send_ns=.. recv_ns=.. waits=..
 *
 * send_ns is the time until the last packet was sent, recv_ns until its echo
 * came back (both from the first send): N / send_ns is the guest -> host
 * rate, N / recv_ns the host -> guest one. waits counts the halted waits for
 * room. A failure prints "chanbench error WHAT: ..." and returns a negative
 * errno.
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

/* The send ring kept full on a polled channel, the echoes drained as they come. */
static int cb_stream(struct hvrt_channel *ch, uint32_t size, unsigned n)
{
	struct hvrt_packet pkt;
	uint64_t sent = 0, got = 0, waits = 0;

	if (size < 8 || size > CB_MAX_SIZE)
		return cb_error(-EINVAL, "stream", "packets of %" PRIu32 " bytes", size);
	CB_MEASURE_BEGIN();
	uint64_t t0 = cb_now_ns(), t_sent = 0, last = t0;
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
			return cb_error(err, "stream", "send of packet %" PRIu64, sent);
		if (sent == n && !t_sent)
			t_sent = cb_now_ns();
		while ((len = hvrt_channel_recv(ch, cb_in, sizeof(cb_in), &pkt)) != -EAGAIN) {
			if (len < 0)
				return cb_error(len, "stream", "recv after %" PRIu64 " echoes", got);
			if (got >= sent)
				return cb_error(-EIO, "stream", "an echo (transaction id %" PRIu64 ") of nothing sent",
						pkt.trans_id);
			/* cb_out holds the last packet sent; the check reads only its pattern after byte 8 */
			if ((err = cb_check_echo(&pkt, len, size, got, "stream")) != 0)
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
			return cb_error(-ETIMEDOUT, "stream", "stuck: %" PRIu64 " sent, %" PRIu64 " echoed", sent, got);
		if (sent < n) {
			waits++;
			hvrt_channel_wait_writable(ch, size, 1);
		}
	}
	uint64_t t_end = cb_now_ns();
	CB_MEASURE_END();
	printf("chanbench stream size=%" PRIu32 " n=%u send_ns=%" PRIu64 " recv_ns=%" PRIu64 " waits=%" PRIu64 "\n", size,
	       n, t_sent - t0, t_end - t0, waits);
	return 0;
}

#endif
