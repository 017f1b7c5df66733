/*
 * Bad input from the host: malformed packets and a completion for nothing
 * sent, each on one sub-channel while the others stream echoes. hvrt must
 * close that channel alone and let the app reopen it.
 */
#include "chantest.h"

/* What the bad-input trigger (run_stream's) did. */
struct bad_trigger {
	unsigned via, target;
	uint32_t cmd;
	int status;
	uint64_t when;
};

/* bad_trigger - run_stream's trigger: asks the device for the bad packet, amid the other channels' streams */
static void bad_trigger(void *ctx, unsigned full)
{
	struct bad_trigger *b = ctx;
	(void)full;

	b->status = control(b->via, b->cmd, b->target, 0, 0);
	b->when = now_ref();
}

/* not_open - wait_until: the channel ctx is no longer open (hvrt broke it) */
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

/* check_bad_length - a descriptor whose length runs past what was written, on sub-channel 1 */
void check_bad_length(unsigned count)
{
	check_bad(CTL_BAD_LENGTH, 1, count);
}

/* check_bad_offset - a descriptor whose payload offset is past its length, on sub-channel 2 */
void check_bad_offset(unsigned count)
{
	check_bad(CTL_BAD_OFFSET, 2, count);
}

/* check_bad_type - a well-formed packet of an undefined type, on sub-channel 1 */
void check_bad_type(unsigned count)
{
	check_bad(CTL_BAD_TYPE, 1, count);
}

/*
 * check_stray_completion - a completion for a transaction id the guest never sent
 * hvrt is to log "completion for transaction id 0x... that was never sent:
 * closing the channel" and close the channel (sub-channel 2), like the
 * malformed packets.
 */
void check_stray_completion(unsigned count)
{
	check_bad(CTL_STRAY_COMPLETION, 2, count);
}
