/*
 * The channels as offered, and their life cycle: the offers, opening and
 * closing round after round, and closing under traffic.
 */
#include "chantest.h"

/* check_offers - three channels of the class, as QEMU 7.2 makes them (test-hosts.md section 3) */
void check_offers(unsigned arg)
{
	char a[HVRT_GUID_STRING_LEN], b[HVRT_GUID_STRING_LEN];
	unsigned n = 0, others = 0;
	(void)arg;

	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch)) {
		const struct hvrt_vmbus_offer *o = hvrt_channel_offer(ch);
		if (!hvrt_guid_equal(&o->class_id, &test_class)) {
			others++;
			continue;
		}
		n++;
		unsigned i = o->sub_channel_index;
		EXPECT(i < NCHAN && o->relid == i + 1, "relid %" PRIu32 " has sub-channel index %u (want relid = index + 1)",
		       o->relid, i);
		EXPECT(o->connection_id == 16 + o->relid, "relid %" PRIu32 ": connection id %" PRIu32 " (want %" PRIu32 ")",
		       o->relid, o->connection_id, 16 + o->relid);
		EXPECT(!o->monitor_allocated && o->dedicated_interrupt,
		       "relid %" PRIu32 ": monitor_allocated %d, dedicated_interrupt %d (want 0, 1)", o->relid,
		       o->monitor_allocated, o->dedicated_interrupt);
		EXPECT(hvrt_channel_primary(ch) == chans[0], "relid %" PRIu32 ": its primary is not relid 1", o->relid);
		EXPECT(!hvrt_channel_is_open(ch) && !hvrt_channel_rescinded(ch) && !hvrt_channel_driver(ch),
		       "relid %" PRIu32 ": open, rescinded or driven before anyone asked", o->relid);
		EXPECT(hvrt_guid_equal(&o->instance_id, &hvrt_channel_offer(chans[0])->instance_id),
		       "relid %" PRIu32 ": instance %s, not the primary's %s", o->relid, hvrt_guid_format(&o->instance_id, a),
		       hvrt_guid_format(&hvrt_channel_offer(chans[0])->instance_id, b));
	}
	EXPECT(n == NCHAN && others == 0, "%u channels of the class and %u others (want 3 and 0)", n, others);
	EXPECT(hvrt_vmbus_find(&test_class, NULL) == chans[0] && hvrt_vmbus_find(&test_class, chans[0]) == NULL,
	       "hvrt_vmbus_find: not exactly the primary");
	for (unsigned i = 0; i < NCHAN; i++)
		EXPECT(hvrt_channel_subchannel(chans[0], (uint16_t)i) == chans[i], "hvrt_channel_subchannel(%u) is wrong", i);
	EXPECT(hvrt_channel_subchannel(chans[0], NCHAN) == NULL, "hvrt_channel_subchannel(%u) is not NULL", NCHAN);
	const char *name = hvrt_vmbus_class_name(&test_class);
	EXPECT(name && strcmp(name, "hvrt test echo device") == 0, "class name %s", name ? name : "(none)");
	note("VMBus %" PRIu32 ".%" PRIu32 ", relids 1 2 3 = sub-channels 0 1 2 of %s, connection ids 17 18 19, "
	     "no monitor, dedicated interrupts",
	     hvrt_vmbus_version() >> 16, hvrt_vmbus_version() & 0xffff,
	     hvrt_guid_format(&hvrt_channel_offer(chans[0])->instance_id, a));
}

/*
 * check_open_close - every channel opened and closed, round after round
 * Other ring sizes each round (some large enough for GPADL bodies), some
 * channels polled, an echo on each, and both ways of closing: one by one, or
 * the primary alone (hvrt closes its sub-channels first).
 */
void check_open_close(unsigned rounds)
{
	uint64_t open_ticks = 0, close_ticks = 0;
	unsigned opens = 0, closes = 0;

	rounds = rounds ? rounds : 20;
	for (unsigned r = 0; r < rounds; r++) {
		char when[32];
		snprintf(when, sizeof(when), "round %u", r);
		for (unsigned i = 0; i < NCHAN; i++) {
			uint32_t send = PAGE * (1 + (r * 5 + i * 3) % 8), recv = PAGE * (2 + (r * 3 + i) % 7);
			if (r % 5 == 4) {
				send = 128 * 1024; /* 2 + 32 + 32 pages: a GPADL header and a body */
				recv = 128 * 1024;
			}
			bool polled = (r + i) % 3 == 2;
			sink_reset(i, SINK_QUEUE);
			uint64_t t = now_ref();
			int err = open_chan(i, send, recv, polled);
			open_ticks += now_ref() - t;
			opens++;
			if (!EXPECT(err == 0 && hvrt_channel_is_open(chans[i]),
				    "%s: open of channel %u (%" PRIu32 " + %" PRIu32 " KiB%s): %d", when, i, send / 1024,
				    recv / 1024, polled ? ", polled" : "", err)) {
				close_all();
				return;
			}
		}
		if (r == 0) {
			int err = open_chan(0, 0, 0, false);
			EXPECT(err == -EBUSY, "a second open of an open channel: %d (want -EBUSY)", err);
		}
		for (unsigned i = 0; i < NCHAN; i++)
			echo_ok(i, (r * 97 + i * 31) % 1000, 1 + (r * 37 + i * 11) % 300, when);
		uint64_t t = now_ref();
		if (r % 2 == 0) {
			for (int i = NCHAN - 1; i >= 0; i--) {
				int err = hvrt_channel_close(chans[i]);
				EXPECT(err == 0, "%s: close of channel %d: %d", when, i, err);
			}
		} else {
			int err = hvrt_channel_close(chans[0]);
			EXPECT(err == 0, "%s: close of the primary: %d", when, err);
		}
		close_ticks += now_ref() - t;
		closes += NCHAN;
		for (unsigned i = 0; i < NCHAN; i++) {
			EXPECT(!hvrt_channel_is_open(chans[i]), "%s: channel %u still open after the close", when, i);
			int err = hvrt_channel_close(chans[i]);
			EXPECT(err == 0, "%s: a second close of channel %u: %d (want 0)", when, i, err);
			err = hvrt_channel_send(chans[i], "x", 1, 1, false);
			EXPECT(err == -ENOTCONN, "%s: send on closed channel %u: %d (want -ENOTCONN)", when, i, err);
		}
	}
	note("%u rounds: %u opens and %u closes, an echo on each; %" PRIu64 ".%02" PRIu64 " ms an open, %" PRIu64
	     ".%02" PRIu64 " ms a close on average",
	     rounds, opens, closes, open_ticks / opens / TICKS_PER_MS, open_ticks / opens % TICKS_PER_MS / 100,
	     close_ticks / closes / TICKS_PER_MS, close_ticks / closes % TICKS_PER_MS / 100);
}

/*
 * check_close_busy - closing under traffic
 * Channel 1 is closed while the host is in the middle of a SEND of thousands
 * of packets to it, channel 2 with its send ring full and unread (stalled).
 * Both closes must return, and both channels reopen clean: nothing stale
 * arrives (the device starts afresh at an open) and they echo.
 */
void check_close_busy(unsigned count)
{
	const uint32_t size = 1000;

	count = count ? count : 5000;
	if (!open_all()) {
		close_all();
		return;
	}
	sink_reset(1, SINK_SEQ);
	rxs[1].seq_size = size;
	rxs[1].expect = count;
	if (!control_ok(0, CTL_SEND, 1, count, size) || !control_ok(0, CTL_STALL, 2, 0, 0)) {
		close_all();
		return;
	}
	usleep(20000);
	uint32_t got = rxs[1].next_seq;
	int err = hvrt_channel_close(chans[1]);
	EXPECT(err == 0 && !hvrt_channel_is_open(chans[1]), "close in the middle of a SEND: %d", err);
	EXPECT(got > 0 && got < count && !rxs[1].errors, "%" PRIu32 " of %u SEND packets before the close, %u bad (%s)",
	       got, count, rxs[1].errors, rxs[1].error);
	uint32_t queued = 0;
	while (hvrt_channel_send(chans[2], pattern, 100, queued, false) == 0)
		queued++;
	err = hvrt_channel_close(chans[2]);
	EXPECT(err == 0 && !hvrt_channel_is_open(chans[2]), "close with %" PRIu32 " packets unread: %d", queued, err);
	for (unsigned i = 1; i < NCHAN; i++) {
		sink_reset(i, SINK_QUEUE);
		err = open_chan(i, 16384, 16384, false);
		EXPECT(err == 0, "reopen of channel %u: %d", i, err);
	}
	usleep(50000);
	for (unsigned i = 1; i < NCHAN; i++) {
		EXPECT(rxs[i].packets == 0, "channel %u: %lu stale packets after the reopen", i, rxs[i].packets);
		echo_ok(i, i * 100, 200, "reopened");
	}
	note("closed in the middle of a SEND (%" PRIu32 " of %u packets in) and with %" PRIu32
	     " packets unread in a stalled ring; both reopened clean and echo",
	     got, count, queued);
	close_all();
}
