/*
 * The stream engine: packets whose length, bytes, id and type follow from
 * their sequence number, sent on up to three channels at once with the
 * rings kept full, every echo checked by the channels' stream sinks
 * (sinks.c).
 */
#include "chantest.h"

/*
 * stream_packet - packet seq of channel idx in the stream cfg
 * A slice of the pattern, of a length from its hash; its id names the
 * channel (top byte: an echo on the wrong channel shows), the seed and seq.
 */
void stream_packet(const struct stream_cfg *cfg, unsigned idx, uint32_t seq, struct stream_pkt *p)
{
	uint64_t h = mix64(((uint64_t)idx << 40) ^ ((uint64_t)cfg->seed << 48) ^ seq);

	p->len = cfg->min_len + (uint32_t)(h % (cfg->max_len - cfg->min_len + 1));
	p->data = pattern + (h >> 32) % (PATTERN_BYTES - cfg->max_len);
	p->id = ((uint64_t)(0xc0 + idx) << 56) | ((uint64_t)cfg->seed << 32) | seq;
	p->want_completion = cfg->completion_every && seq % cfg->completion_every == 0;
}

/* ring_bytes - what a packet with len payload bytes takes in a ring: descriptor, padding, trailer */
uint32_t ring_bytes(uint32_t len)
{
	return 16 + round8(len) + 8;
}

/* ring_fits - how many packets of len payload bytes an empty ring of size bytes takes (never all of it) */
uint32_t ring_fits(uint32_t size, uint32_t len)
{
	uint32_t n = 0, left = size, pkt = ring_bytes(len);

	while (left > pkt) {
		left -= pkt;
		n++;
	}
	return n;
}

/* stream_received - wait_until: every channel of the stream ctx has all its echoes (or gave up with an error) */
bool stream_received(void *ctx)
{
	const struct stream_cfg *cfg = ctx;

	for (unsigned i = 0; i < NCHAN; i++) {
		if (cfg->count[i] && rxs[i].next_seq < cfg->count[i] && !rxs[i].errors)
			return false;
	}
	return true;
}

/*
 * send_some - writes channel i's next stream packets until its ring is full or all are sent
 * Return: 1 when the ring was full (-EAGAIN), 0 when the channel has no
 * more to send, -1 after a failure (reported).
 */
static int send_some(const struct stream_cfg *cfg, unsigned i, uint32_t *sent, uint64_t *total,
		     struct stream_result *res)
{
	struct stream_pkt p;

	while (*sent < cfg->count[i]) {
		stream_packet(cfg, i, *sent, &p);
		int err = hvrt_channel_send(chans[i], p.data, p.len, p.id, p.want_completion);
		if (err == -EAGAIN)
			return 1;
		if (!EXPECT(err == 0, "stream: send of packet %" PRIu32 " on channel %u: %d", *sent, i, err))
			return -1;
		(*sent)++;
		(*total)++;
		res->ring_bytes[i] += ring_bytes(p.len);
	}
	return 0;
}

/*
 * run_stream - send cfg's packets on the open channels it names and check every echo
 * The rings stay busy: each channel is written until its ring is full
 * (-EAGAIN), then hvrt_channel_wait_writable halts on a full one while
 * on_packet (the stream sink) reads the echoes. The channels' sinks are set
 * here. Failures are reported; returns whether there were none.
 */
bool run_stream(const struct stream_cfg *cfg, struct stream_result *res)
{
	uint32_t sent[NCHAN] = { 0 };
	uint64_t total_sent = 0;
	bool triggered = false, ok = true;
	unsigned fails_before = check_failures();

	memset(res, 0, sizeof(*res));
	for (unsigned i = 0; i < NCHAN; i++) {
		if (!cfg->count[i])
			continue;
		sink_reset(i, SINK_STREAM);
		rxs[i].stream = cfg;
		rxs[i].expect = cfg->count[i];
	}
	uint64_t t0 = now_ref(), end = t0 + (uint64_t)cfg->timeout_ms * TICKS_PER_MS;
	while (ok && !stream_received((void *)cfg)) {
		uint64_t before = total_sent;
		unsigned full = 0;
		int blocked = -1;
		for (unsigned i = 0; i < NCHAN && ok; i++) {
			int st = send_some(cfg, i, &sent[i], &total_sent, res);
			ok = st >= 0;
			if (st > 0) {
				full |= 1u << i;
				blocked = (int)i;
			}
		}
		if (!ok)
			break;
		if (cfg->trigger && !triggered && total_sent >= cfg->trigger_at) {
			triggered = true;
			cfg->trigger(cfg->trigger_ctx, full);
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
		if (total_sent != before) {
			hvrt_poll(); /* the echoes so far, before the rings fill */
		} else if (blocked >= 0) {
			struct stream_pkt p;
			stream_packet(cfg, (unsigned)blocked, sent[blocked], &p);
			res->blocked_waits++;
			int err = hvrt_channel_wait_writable(chans[blocked], p.len, 2);
			ok = EXPECT(err == 0 || err == -ETIMEDOUT, "stream: wait for room on channel %d: %d", blocked, err);
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
	return ok && check_failures() == fails_before;
}
