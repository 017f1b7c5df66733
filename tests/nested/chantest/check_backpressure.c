/*
 * Back-pressure both ways, and the host's traffic while the app computes:
 * full rings must make hvrt wait (never hang, never lose a packet), and
 * packets come in only through hvrt's calls.
 */
#include "chantest.h"

#define RESUME_AFTER_MS 20u /* when a timer sends RESUME, into the wait for room */

/*
 * check_backpressure_out - guest-to-host back-pressure
 * Channel 2 is stalled (told on channel 0) and written until -EAGAIN, which
 * must come exactly when the ring is full; hvrt_channel_wait_writable must
 * then time out, and return once RESUME (told on channel 0 by a timer 20 ms
 * into the wait) lets the host read. With the send ring smaller than the
 * receive ring the host empties it in one batch and (QEMU's bug) never
 * signals; with it larger the host stops halfway until the guest reads.
 * Either way the guest must not hang.
 */
void check_backpressure_out(unsigned arg)
{
	static const uint32_t sizes[] = { 1, 200, 1000, 3000 };
	static const struct {
		uint32_t send, recv;
	} rings[] = { { 8192, 16384 }, { 16384, 8192 } };
	unsigned rounds = 0;
	uint64_t sum_ticks = 0, max_ticks = 0, early = 0;
	int64_t early_host = 0;
	(void)arg;

	for (unsigned c = 0; c < 2; c++) {
		sink_reset(0, SINK_QUEUE);
		sink_reset(2, SINK_QUEUE);
		int err = open_chan(0, 16384, 16384, false);
		if (!err)
			err = open_chan(2, rings[c].send, rings[c].recv, false);
		if (!EXPECT(err == 0, "open: %d", err))
			break;
		for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			uint32_t s = sizes[k], fits = ring_fits(rings[c].send, s);
			struct stream_cfg cfg = {
				.count = { 0, 0, fits + 1 }, .min_len = s, .max_len = s, .seed = 10 + c * 4 + k,
			};
			struct stream_pkt p;
			char what[64];
			snprintf(what, sizeof(what), "%" PRIu32 " KiB ring, %" PRIu32 "-byte packets", rings[c].send / 1024, s);
			sink_reset(2, SINK_STREAM);
			rxs[2].stream = &cfg;
			rxs[2].expect = fits + 1;
			if (!control_ok(0, CTL_STALL, 2, 0, 0))
				break;
			uint32_t n = 0;
			do {
				stream_packet(&cfg, 2, n, &p);
				err = hvrt_channel_send(chans[2], p.data, p.len, p.id, p.want_completion);
			} while (err == 0 && ++n <= fits);
			EXPECT(err == -EAGAIN && n == fits,
			       "%s: %" PRIu32 " packets went in, then %d (want %" PRIu32 ", then -EAGAIN)", what, n, err, fits);
			uint64_t t = now_ref();
			err = hvrt_channel_wait_writable(chans[2], s, 100);
			unsigned ms = ms_since(t);
			EXPECT(err == -ETIMEDOUT && ms >= 99, "%s: waiting for room on the stalled channel: %d after %u ms "
			       "(want -ETIMEDOUT after 100)", what, err, ms);
			EXPECT(rxs[2].packets == 0, "%s: %lu echoes while stalled", what, rxs[2].packets);
			/*
			 * RESUME from a timer 20 ms into the wait: the host empties the
			 * ring while the guest waits, so it is the host's signal (or
			 * hvrt's look at the ring, when QEMU sends none) that ends it.
			 * Measured from when RESUME went out: the nested host's timer
			 * may fire early by hvrt's clock (noted, not this check's
			 * concern).
			 */
			struct timed resume;
			if (!EXPECT(timed_control(&resume, RESUME_AFTER_MS, 0, CTL_RESUME, 2) == 0, "no synthetic timer"))
				break;
			t = now_ref();
			err = hvrt_channel_wait_writable(chans[2], s, 5000);
			uint64_t end = now_ref();
			hvrt_stimer_stop(CONTROL_TIMER);
			if (!EXPECT(err == 0 && resume.sent == 0 && end >= resume.sent_at,
				    "%s: wait for room: %d after %" PRIu64 " ms; RESUME (due at %u ms): %d, sent %" PRId64
				    " us into the wait", what, err, (end - t) / TICKS_PER_MS, RESUME_AFTER_MS, resume.sent,
				    resume.sent ? 0 : (int64_t)(resume.sent_at - t) / 10))
				break;
			if (resume.when > resume.sent_at && resume.when - resume.sent_at > early) {
				early = resume.when - resume.sent_at;
				early_host = (int64_t)(resume.delivered - resume.expired);
			}
			t = end - resume.sent_at;
			sum_ticks += t;
			max_ticks = t > max_ticks ? t : max_ticks;
			rounds++;
			stream_packet(&cfg, 2, n, &p);
			err = hvrt_channel_send(chans[2], p.data, p.len, p.id, p.want_completion);
			EXPECT(err == 0, "%s: the packet that did not fit, after RESUME: %d", what, err);
			EXPECT(wait_until(stream_received, &cfg, 5000) && !rxs[2].errors,
			       "%s: %" PRIu32 " of %" PRIu32 " echoes, %u bad (%s)", what, rxs[2].next_seq, fits + 1,
			       rxs[2].errors, rxs[2].error);
		}
		close_all();
	}
	if (rounds)
		note("%u rounds (1 to 3000-byte packets; an 8 KiB send ring with 16 KiB receive, 16 with 8): each "
		     "took exactly what fits, stayed full while stalled; a wait for room ended %" PRIu64 " us on average (at "
		     "most %" PRIu64 ") after a RESUME sent 20 ms into it",
		     rounds, sum_ticks / rounds / 10, max_ticks / 10);
	if (early)
		note("the RESUME timer's expiry came up to %" PRIu64 " us before its time by hvrt_reftime (the host "
		     "delivered it %" PRId64 " us after its expiration by its own)",
		     early / 10, early_host / 10);
}

/*
 * check_backpressure_polled - a wait for room that only hvrt's own look at the ring can end
 * Channel 2 is polled, so its receive ring is masked and the host's echoes
 * bring no interrupt; its 32 KiB receive ring takes every echo of its 8 KiB
 * send ring. A STALL with a count makes the device read again by itself,
 * AUTO_RESUME_MS later, from a host timer: the guest sends nothing then, and
 * the host empties the send ring in one batch, for which QEMU sends no
 * signal (test-hosts.md 3, its first "space available" bug). So nothing
 * comes in at all: the wait must end by hvrt's re-check of the ring, soon
 * after the host's timer, not at its 5 s timeout. (A RESUME sent by the
 * guest would not do: the signal's exit to the host lets the host drain the
 * ring before the guest looks again.) Then every echo is read and checked.
 */
void check_backpressure_polled(unsigned arg)
{
	static const uint32_t sizes[] = { 200, 1000, 3000 };
	const uint32_t send = 8192, recv = 32768, auto_resume_ms = 100;
	static uint8_t buf[MAX_PACKET];
	struct hvrt_packet pkt;
	uint64_t sum_ticks = 0, max_ticks = 0;
	unsigned rounds = 0;
	(void)arg;

	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint32_t s = sizes[k], fits = ring_fits(send, s), n = 0;
		sink_reset(0, SINK_QUEUE);
		int err = open_chan(0, 16384, 16384, false);
		if (!err)
			err = open_chan(2, send, recv, true);
		if (!EXPECT(err == 0, "%" PRIu32 "-byte packets: open: %d", s, err) ||
		    !control_ok(0, CTL_STALL, 2, auto_resume_ms, 0))
			break;
		uint64_t stalled = now_ref(); /* the host's timer started before its answer */
		do
			err = hvrt_channel_send(chans[2], pattern + n, s, n, false);
		while (err == 0 && ++n <= fits);
		EXPECT(err == -EAGAIN && n == fits, "%" PRIu32 "-byte packets: %" PRIu32 " went in, then %d (want %" PRIu32
		       ", then -EAGAIN)", s, n, err, fits);
		uint64_t t = now_ref();
		err = hvrt_channel_wait_writable(chans[2], s, 5000);
		uint64_t end = now_ref();
		unsigned filled_ms = (unsigned)((t - stalled) / TICKS_PER_MS);
		uint64_t from_stall = end - stalled;
		/* ended by the host's drain (not before its timer), and soon after it (not at the timeout) */
		if (!EXPECT(err == 0 && filled_ms < auto_resume_ms && from_stall + TICKS_PER_MS >= auto_resume_ms * TICKS_PER_MS &&
				    from_stall < (auto_resume_ms + 50) * TICKS_PER_MS,
			    "%" PRIu32 "-byte packets: wait for room: %d, %" PRIu64 " us after the STALL's answer (the host "
			    "reads again %u ms after it; the ring was full %u ms after it)", s, err, from_stall / 10,
			    auto_resume_ms, filled_ms))
			break;
		uint64_t after = from_stall > auto_resume_ms * TICKS_PER_MS ? from_stall - auto_resume_ms * TICKS_PER_MS : 0;
		sum_ticks += after;
		max_ticks = after > max_ticks ? after : max_ticks;
		rounds++;
		for (uint32_t i = 0; i < n; i++) {
			int got = recv_polled(2, buf, sizeof(buf), &pkt, REPLY_MS);
			if (!EXPECT(got >= 0 && pkt.type == PKT_INBAND && pkt.trans_id == i &&
					    echo_matches(pkt.payload, pkt.payload_len, i, s),
				    "%" PRIu32 "-byte packets: echo %" PRIu32 " of %" PRIu32 ": %d, type %u, id %" PRIu64, s, i,
				    n, got, got >= 0 ? pkt.type : 0, got >= 0 ? pkt.trans_id : 0))
				break;
		}
		close_all();
	}
	if (rounds)
		note("%u rounds on a polled channel whose host reads again by its own timer (no signal from either "
		     "side): the wait for room ended %" PRIu64 " us on average (at most %" PRIu64 ") after that timer",
		     rounds, sum_ticks / rounds / 10, max_ticks / 10);
}

/*
 * check_backpressure_in - host-to-guest back-pressure
 * The host sends count 1000-byte packets unprompted on polled channel 1,
 * which nobody reads for 100 ms: the host fills the 16 KiB ring and waits for
 * the guest's signal. Then everything is read, in order, every byte checked:
 * the host must have been woken (hvrt signals when its reads free what
 * pending_send_sz asked for). A read into too small a buffer first must leave
 * the packet where it is.
 */
void check_backpressure_in(unsigned count)
{
	const uint32_t size = 1000, ring = 16384;
	static uint8_t buf[MAX_PACKET];
	struct hvrt_packet pkt;
	uint32_t first_batch = 0, got = 0;
	bool first = true;

	count = count ? count : 2000;
	sink_reset(0, SINK_QUEUE);
	sink_reset(1, SINK_QUEUE);
	int err = open_chan(0, 16384, 16384, false);
	if (!err)
		err = open_chan(1, 8192, ring, true);
	if (!EXPECT(err == 0, "open: %d", err) || !control_ok(0, CTL_SEND, 1, count, size)) {
		close_all();
		return;
	}
	usleep(100000);
	/* Too small a buffer: -EMSGSIZE, the size it needs, and the packet stays for the next read. */
	int n = hvrt_channel_recv(chans[1], buf, 64, &pkt);
	EXPECT(n == -EMSGSIZE && pkt.raw_len == 16 + size, "a read into 64 bytes: %d, needs %" PRIu32
	       " (want -EMSGSIZE, %" PRIu32 ")", n, pkt.raw_len, 16 + size);
	uint64_t t = now_ref();
	for (; got < count; got++) {
		n = hvrt_channel_recv(chans[1], buf, sizeof(buf), &pkt);
		if (n == -EAGAIN) {
			first = false;
			n = recv_polled(1, buf, sizeof(buf), &pkt, REPLY_MS);
		}
		first_batch += first;
		if (!EXPECT(n >= 0, "packet %" PRIu32 " of %" PRIu32 ": %d", got, count, n))
			break;
		const char *why = seq_packet_error(&pkt, got, size);
		if (!EXPECT(!why, "%s", why))
			break;
	}
	unsigned ms = ms_since(t);
	uint32_t fits = ring_fits(ring, size);
	EXPECT(first_batch >= fits, "after 100 ms unread only %" PRIu32 " packets before the ring ran dry (it holds %"
	       PRIu32 "): the host did not fill it", first_batch, fits);
	err = recv_polled(1, buf, sizeof(buf), &pkt, 50);
	EXPECT(err == -ETIMEDOUT, "after the %" PRIu32 " packets: %d (want nothing)", count, err);
	if (got == count)
		note("%" PRIu32 " packets of %" PRIu32 " bytes through a 16 KiB ring (%" PRIu32 " wraps): after 100 ms "
		     "unread, %" PRIu32 " read before it first ran dry (it holds %" PRIu32 "); all in order in %u ms",
		     count, size, count * ring_bytes(size) / ring, first_batch, fits, ms);
	close_all();
}

/* compute_for - a CPU-bound stretch of work that calls nothing of hvrt's: the TSC alone times it */
static uint64_t compute_for(unsigned ms)
{
	uint64_t end = __builtin_ia32_rdtsc() + hvrt_system()->tsc_hz / 1000 * ms, h = FNV_BASIS;

	while (__builtin_ia32_rdtsc() < end)
		h = fnv1a64(h, pattern, 4096);
	return h;
}

/*
 * check_busy - host-initiated traffic while the app is busy
 * A SEND of count packets on channel 2 (asked on channel 0, no answer
 * wanted), then 200 ms of computation without a call into hvrt: on_packet
 * must not run meanwhile, and afterwards every packet arrives, in order.
 */
void check_busy(unsigned count)
{
	const uint32_t size = 600;
	volatile uint64_t sink;

	count = count ? count : 1000;
	sink_reset(0, SINK_QUEUE);
	sink_reset(2, SINK_SEQ);
	rxs[2].seq_size = size;
	rxs[2].expect = count;
	int err = open_chan(0, 16384, 16384, false);
	if (!err)
		err = open_chan(2, 16384, 16384, false);
	if (!EXPECT(err == 0, "open: %d", err)) {
		close_all();
		return;
	}
	struct control c = { CTL_MAGIC, CTL_SEND, 2, count, size };
	err = hvrt_channel_send(chans[0], &c, sizeof(c), 7, false);
	EXPECT(err == 0, "SEND on channel 0: %d", err);
	unsigned long before = rxs[2].packets;
	sink = compute_for(200);
	(void)sink;
	unsigned long during = rxs[2].packets - before;
	EXPECT(during == 0, "on_packet ran %lu times during the computation (only hvrt's calls may run it)", during);
	/* What waited meanwhile: the host did send while the app was busy, or this tested nothing. */
	uint64_t t = now_ref();
	hvrt_poll();
	unsigned long first_poll = rxs[2].packets - before;
	EXPECT(first_poll > 0, "nothing waited after 200 ms of computation: the host sent nothing meanwhile");
	bool all = wait_until(seq_done, &rxs[2], 10000);
	unsigned ms = ms_since(t);
	EXPECT(all && !rxs[2].errors, "%" PRIu32 " of %u packets arrived, %u bad (%s)", rxs[2].next_seq, count,
	       rxs[2].errors, rxs[2].error);
	EXPECT(rxs[0].count == 0, "an answer to a control that asked for none");
	if (all)
		note("%u packets of %" PRIu32 " bytes sent by the host during 200 ms of computation (%lu before it, none "
		     "during it, %lu from the first poll after it), all in order %u ms after it",
		     count, size, before, first_poll, ms);
	close_all();
}
