/*
 * Rescinds: the host takes a sub-channel, then the primary with the rest,
 * away for good (until the VM is reset), so these run after every check
 * but the teardown.
 */
#include "chantest.h"

/* rescinded_seen - wait_until: on_rescind ran for the channel whose chan_rx is ctx */
static bool rescinded_seen(void *ctx)
{
	return ((const struct chan_rx *)ctx)->rescinds != 0;
}

/*
 * check_rescind - rescind of an open sub-channel with a request pending
 * Sub-channel 2 (relid 3; told on channel 0) is rescinded while a request on
 * it waits: the request ends with -ENODEV, on_rescind runs once, from the
 * app's wait, with the channel; it is rescinded, its calls fail with -ENODEV,
 * the app closes it, after which the relid is released (the case checks
 * RELID_RELEASED in QEMU's trace) and it is gone from the bus; the other
 * channels echo throughout.
 */
void check_rescind(unsigned arg)
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
	uint64_t end = now_ref();
	unsigned request_ms = (unsigned)((end - t) / TICKS_PER_MS);
	hvrt_stimer_stop(CONTROL_TIMER);
	/* From when the RESCIND went out: the nested host's timer may fire early by hvrt's clock. */
	bool went = rescind.sent == 0;
	unsigned after_ms = went && end >= rescind.sent_at ? (unsigned)((end - rescind.sent_at) / TICKS_PER_MS) : 0;
	unsigned sent_ms = went && rescind.sent_at >= t ? (unsigned)((rescind.sent_at - t) / TICKS_PER_MS) : 0;
	EXPECT(rescind.sent == 0, "RESCIND on channel 0 from the timer: %d", rescind.sent);
	EXPECT(err == -ENODEV && request_ms < 1000, "the pending request: %d after %u ms (want -ENODEV as the rescind "
	       "comes, sent %u ms in)", err, request_ms, sent_ms);
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
		note("a pending request ended -ENODEV %u ms into its wait, %u ms after the RESCIND was sent (%u ms in, due "
		     "at 50); on_rescind ran %u ms after it; calls -ENODEV; closed and released; relids 1 and 2 echo "
		     "throughout",
		     request_ms, after_ms, sent_ms, ms);
	close_all();
}

/* all_rescinds_seen - wait_until: on_rescind ran for every channel that was open (ctx: bool[NCHAN]) */
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
 * check_rescind_primary - rescind of the primary and its sub-channels
 * Told on sub-channel 1: QEMU withdraws its sub-channels first, then it.
 * Every open one gets on_rescind; closing the primary closes its sub-channels
 * too; every relid is released and the bus is empty. After "rescind" channel
 * 2 is gone already; alone, all three go.
 */
void check_rescind_primary(unsigned arg)
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
