/*
 * The stream: 100k packets each way over the three channels at once, the
 * figures (packets/s, KiB/s, ring wraps) the case reports.
 */
#include "chantest.h"

/*
 * check_stream - 100k packets of random sizes (1 to 1536 bytes) each way
 * Spread over the three channels with rings of other sizes, every byte of
 * every echo checked, every 5th asking for a completion. The rings stay full;
 * both wrap thousands of times.
 */
void check_stream(unsigned total)
{
	static const uint32_t send_kib[NCHAN] = { 8, 16, 32 }, recv_kib[NCHAN] = { 8, 32, 16 };

	total = total ? total : 100000;
	struct stream_cfg cfg = {
		.count = { total - 2 * (total / 3), total / 3, total / 3 },
		.min_len = 1, .max_len = 1536, .completion_every = 5, .seed = 2, .timeout_ms = 90000,
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
