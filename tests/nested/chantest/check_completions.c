/*
 * Completions and transaction ids: echoes as completions or in-band, any
 * 64-bit id, hvrt_channel_request amid pipelined traffic and on a busy
 * channel, hvrt_channel_next_trans_id.
 */
#include "chantest.h"

/* A request made from the middle of a stream on the same channel (run_stream's trigger). */
struct request_amid {
	int result;
	bool right;
	bool ring_full; /* channel 0's send ring was full when the request was made */
	unsigned ms;
};

/*
 * request_amid - the trigger: an echo by hvrt_channel_request on channel 0 amid its stream
 * The stream has just filled channel 0's send ring (full, bit 0): the
 * request must wait for room within its timeout, then find its completion
 * among the stream's.
 */
static void request_amid(void *ctx, unsigned full)
{
	struct request_amid *r = ctx;
	uint8_t resp[64];

	r->ring_full = full & 1;
	uint64_t t = now_ref();
	r->result = hvrt_channel_request(chans[0], pattern + 1234, 40, resp, sizeof(resp), REPLY_MS);
	r->ms = ms_since(t);
	r->right = r->result == 40 && echo_matches(resp, 40, 1234, 40);
}

/*
 * check_completions - completions and transaction ids
 * A packet asking for a completion comes back as one (type 11) with its id,
 * any 64-bit id, repeated ids too; one that does not comes back in-band with
 * its id; hvrt_channel_request matches its own amid that traffic, also when
 * it has to wait for room in a full ring first (a count under about 1000
 * cannot fill it); hvrt_channel_next_trans_id never gives 0 or a repeat.
 */
void check_completions(unsigned count)
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
	struct request_amid amid = { -EINPROGRESS, false, false, 0 };
	struct stream_cfg cfg = {
		.count = { count, count, count }, .min_len = 0, .max_len = 64, .completion_every = 2, .seed = 1,
		.trigger_at = count, .trigger = request_amid, .trigger_ctx = &amid, .timeout_ms = 60000,
	};
	struct stream_result res;
	bool streamed = run_stream(&cfg, &res);
	EXPECT(amid.right, "a request on channel 0 amid its stream%s: %d after %u ms%s",
	       amid.ring_full ? ", its send ring full" : "", amid.result, amid.ms, amid.result >= 0 ? ", a wrong answer" : "");
	EXPECT(amid.ring_full || count < 1000, "channel 0's send ring was not full when the request amid the stream was "
	       "made: it did not test a request on a busy channel");
	if (streamed && amid.right)
		note("%u in-band and completion echoes of 7 ids; 27 requests; %" PRIu64 " pipelined packets, half of them "
		     "completions, in %" PRIu64 " ms, and a request amid them on channel 0%s answered in %u ms",
		     NCHAN * nids * 2, res.packets, res.ticks / TICKS_PER_MS,
		     amid.ring_full ? " with its send ring full" : "", amid.ms);
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
