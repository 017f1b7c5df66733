/*
 * The device's three channels: finding them, opening and closing them the
 * way the checks need, and one echo on any of them, interrupt-driven or
 * polled.
 */
#include "chantest.h"

struct hvrt_channel *chans[NCHAN];
struct hvrt_guid test_class;

/* find_channels - the test device's three channels, by sub-channel index; false if the bus does not offer them */
bool find_channels(void)
{
	hvrt_guid_parse(TEST_CLASS, &test_class);
	chans[0] = hvrt_vmbus_find(&test_class, NULL);
	for (unsigned i = 1; i < NCHAN; i++)
		chans[i] = chans[0] ? hvrt_channel_subchannel(chans[0], (uint16_t)i) : NULL;
	for (unsigned i = 0; i < NCHAN; i++) {
		if (!chans[i])
			return false;
	}
	return true;
}

/*
 * open_chan - open channel idx with these data areas
 * Interrupt-driven channels get on_packet (what their sink says); polled
 * ones are read with hvrt_channel_recv. Return: hvrt_channel_open's.
 */
int open_chan(unsigned idx, uint32_t send_bytes, uint32_t recv_bytes, bool polled)
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

/* open_all - every channel interrupt-driven with 16 KiB rings and queue sinks; false (and a failure) if one fails */
bool open_all(void)
{
	for (unsigned i = 0; i < NCHAN; i++) {
		sink_reset(i, SINK_QUEUE);
		int err = open_chan(i, 16384, 16384, false);
		if (!EXPECT(err == 0, "open of channel %u: %d", i, err))
			return false;
	}
	return true;
}

/* close_all - closes every channel the host still offers (a closed one is left as it is); false on an error */
bool close_all(void)
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
 * recv_polled - the next packet of a polled channel, waiting for it
 * Nobody signals a polled channel: sleeping in short steps lets the host run.
 * Return: hvrt_channel_recv's, or -ETIMEDOUT.
 */
int recv_polled(unsigned idx, void *buf, size_t cap, struct hvrt_packet *pkt, unsigned timeout_ms)
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

/*
 * echo_ok - one echo of len pattern bytes from off on an open channel, whatever its kind
 * Interrupt-driven: hvrt_channel_request (the completion is matched by
 * hvrt); polled: a send asking for a completion and hvrt_channel_recv.
 * Failures are reported, when says at what point of the check.
 */
bool echo_ok(unsigned idx, uint32_t off, uint32_t len, const char *when)
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
