/*
 * Unit tests of the guest's channels (vmbus/channel.c, request.c, ring.c and
 * events.c, through <hvrt/vmbus.h>) against the simulated host and its echo
 * device, each test in a child process of its own (vmbus_fixture.h).
 *
 * Pinned down:
 *  - open and close 100 times, rings of every size: no GPADL, open channel
 *    or page left; a refused open (-EIO) and one never answered
 *    (-ETIMEDOUT after 5 s, then CLOSECHANNEL) give everything back; bad
 *    configurations are refused before the host sees anything; user data,
 *    the target VP and the ring layout reach the host;
 *  - the echo device: in-band packets and completions with their trans_id
 *    and every byte; completions for the host's requests; GPA-direct
 *    packets of one page, of pages with offsets, of three 32-page buffers,
 *    of 64 buffers and of one 127-page buffer, each checked against the
 *    FNV-1a the echo device computes, and -EMSGSIZE past 1 KiB of ranges;
 *  - a million packets of random sizes (seeded PRNG, seed printed,
 *    HVRT_TEST_SEED repeats a run, HVRT_TEST_PACKETS changes the count)
 *    through an interrupt-driven channel (on_packet) and a polled one
 *    (hvrt_channel_recv), wrapping both rings many times, every byte checked;
 *  - a full ring: -EAGAIN with nothing written, then
 *    hvrt_channel_wait_writable() ends when the host reads again, also with
 *    QEMU's two pending_send_sz bugs, and times out on time;
 *  - lost interrupts (the data waits for the next event, nothing is lost)
 *    and spurious ones (harmless); a host that writes while the channel
 *    opens is read after the open;
 *  - polled channels: the interrupt mask, -EAGAIN, -EMSGSIZE keeping the
 *    packet, the space signal when the host waits for room;
 *  - hvrt_channel_recv from on_packet for the rest of a batch;
 *  - hvrt_channel_request: the response, truncation, -ETIMEDOUT on time,
 *    -EOPNOTSUPP (polled), -EDEADLK (own on_packet), and a request from
 *    another channel's on_packet whose channel was signalled in the same
 *    poll;
 *  - a host that breaks the ring rules (len8 past the data, offset8 past
 *    len8 or under 2, len8 under 2, more than max_packet_bytes, a write
 *    index past the area or unaligned, raw garbage, a corrupt read index,
 *    a packet type VMBus does not define): that channel is closed
 *    (CLOSECHANNEL and its GPADL torn down), its sends and requests fail
 *    -EIO, and another open channel keeps working; a completion nobody
 *    asked for reaches on_packet (the app may have sent that id itself);
 *  - signals only when a ring goes from empty to non-empty (the sim's
 *    unneeded-signal rule, checked at the end of every test); monitored
 *    channels signal through the monitor page; MODIFYCHANNEL.
 */
#include <time.h>

#include "tests/unit/vmbus_fixture.h"

/* ---- helpers ---- */

static uint32_t pad8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

static struct hvrt_channel *open_echo(uint32_t relid, const struct hvrt_channel_config *c)
{
	struct hvrt_channel *ch = channel(relid);
	assert_non_null(ch);
	int err = hvrt_channel_open(ch, c);
	if (err)
		fail_msg("open of relid %u: %d", relid, err);
	return ch;
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= VMBUS_SIM_FNV_PRIME;
	}
	return h;
}

/* A device that takes packets and answers nothing. */
static uint32_t add_silent(unsigned n)
{
	struct vmbus_sim_device d;
	char instance[40];
	snprintf(instance, sizeof(instance), "5113e47a-0000-4000-8000-%012x", n);
	vmbus_sim_device_init(&vs, &d, "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6", instance);
	return vmbus_sim_add_device(&vs, &d);
}

/* ---- open and close ---- */

/* 100 opens and closes with rings of every size, each with an echo: nothing left behind. */
static void test_open_close_repeated(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = channel(relid);
	size_t pages = hv_sim_pages_live(&sim);

	for (unsigned i = 0; i < 100; i++) {
		struct hvrt_channel_config c = {
			.send_ring_bytes = (1 + i % 7) * PG, .recv_ring_bytes = (2 + i % 5) * PG, .on_packet = collect,
		};
		assert_int_equal(hvrt_channel_open(ch, &c), 0);
		assert_true(hvrt_channel_is_open(ch));
		const struct vmbus_sim_channel *sc = vmbus_sim_channel(&vs, relid);
		assert_true(sc->open);
		assert_int_equal(sc->out.size, c.send_ring_bytes);
		assert_int_equal(sc->in.size, c.recv_ring_bytes);
		assert_int_equal(sc->page_offset, 1 + c.send_ring_bytes / PG);
		assert_int_equal(hv_sim_pages_live(&sim), pages + 2 + (c.send_ring_bytes + c.recv_ring_bytes) / PG);
		ngot = 0;
		assert_int_equal(hvrt_channel_send(ch, &i, sizeof(i), i, false), 0);
		hvrt_poll();
		assert_int_equal(ngot, 1);
		assert_int_equal(got[0].trans_id, i);
		hvrt_channel_close(ch);
		assert_false(hvrt_channel_is_open(ch));
		assert_int_equal(vmbus_sim_gpadls(&vs), 0);
		assert_int_equal(vmbus_sim_open_channels(&vs), 0);
		assert_int_equal(hv_sim_pages_live(&sim), pages);
		hvrt_channel_close(ch); /* closing a closed channel does nothing */
	}
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_OPENCHANNEL), 100);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_CLOSECHANNEL), 100);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_GPADL_TEARDOWN), 100);
	/* sends on a closed channel */
	assert_int_equal(hvrt_channel_send(ch, "x", 1, 1, false), -ENOTCONN);
	assert_int_equal(hvrt_channel_wait_writable(ch, 8, 10), -ENOTCONN);
	uint8_t b[32];
	struct hvrt_packet p;
	assert_int_equal(hvrt_channel_recv(ch, b, sizeof(b), &p), -ENOTCONN);
	expect_clean();
}

/* The host refuses the open: -EIO, the GPADL torn down, the pages back; the next open works. */
static void test_open_refused(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = channel(relid);
	size_t pages = hv_sim_pages_live(&sim);
	vs.fault.open_fail = 1;
	uint64_t t0 = now();
	assert_int_equal(open_collect(ch), -EIO);
	assert_elapsed(t0, 0, MS(1));
	assert_logged("the host refused the open (status 0x8000ffff)");
	assert_false(hvrt_channel_is_open(ch));
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	assert_int_equal(vmbus_sim_open_channels(&vs), 0);
	assert_int_equal(hv_sim_pages_live(&sim), pages);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_CLOSECHANNEL), 0); /* it never was open */
	assert_int_equal(open_collect(ch), 0);
	hvrt_channel_close(ch);
	expect_clean();
}

/* No OPENCHANNEL_RESULT: -ETIMEDOUT after 5 s; the host had opened it, so the guest closes it and tears down. */
static void test_open_timeout(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = channel(relid);
	size_t pages = hv_sim_pages_live(&sim);
	vs.fault.drop_answers = 1u << VMBUS_MSG_OPENCHANNEL_RESULT;
	uint64_t t0 = now();
	assert_int_equal(open_collect(ch), -ETIMEDOUT);
	assert_elapsed(t0, MS(5000), MS(5002));
	vs.fault.drop_answers = 0;
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_CLOSECHANNEL), 1);
	assert_int_equal(vmbus_sim_open_channels(&vs), 0);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	assert_int_equal(hv_sim_pages_live(&sim), pages);
	assert_int_equal(open_collect(ch), 0);
	assert_int_equal(hvrt_channel_send(ch, "after", 5, 5, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	hvrt_channel_close(ch);
	expect_clean();
}

/* Configurations refused before anything is posted or allocated. */
static void test_open_bad_config(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = channel(relid);
	size_t pages = hv_sim_pages_live(&sim), logged = vs.nlog;
	uint8_t ud[121] = { 0 };
	const struct hvrt_channel_config bad[] = {
		{ .send_ring_bytes = PG + 8 },
		{ .recv_ring_bytes = 100 },
		{ .send_ring_bytes = 32u * 1024 * 1024 },
		{ .user_data = ud, .user_data_len = 121 },
		{ .user_data = NULL, .user_data_len = 4 },
		{ .max_packet_bytes = 8 },
		{ .recv_ring_bytes = PG, .max_packet_bytes = 2 * PG },
		{ .target_vp = 1 },
		{ .target_vp = VMBUS_VP_NO_INTERRUPTS },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = hvrt_channel_open(ch, &bad[i]);
		if (err != -EINVAL)
			fail_msg("configuration %u: %d, not -EINVAL", i, err);
	}
	assert_int_equal(vs.nlog, logged);
	assert_int_equal(hv_sim_pages_live(&sim), pages);
	/* no memory for the rings */
	sim.fault.alloc_fail_in = 1;
	assert_int_equal(open_collect(ch), -ENOMEM);
	assert_int_equal(vs.nlog, logged);
	assert_int_equal(hv_sim_pages_live(&sim), pages);
	/* open twice */
	assert_int_equal(open_collect(ch), 0);
	assert_int_equal(open_collect(ch), -EBUSY);
	hvrt_channel_close(ch);
	expect_clean();
}

/* User data, the target VP and the ring layout as the host sees them. */
static void test_open_user_data(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	uint8_t ud[120];
	for (unsigned i = 0; i < sizeof(ud); i++)
		ud[i] = (uint8_t)(i * 3 + 1);
	struct hvrt_channel_config c = {
		.send_ring_bytes = 3 * PG, .recv_ring_bytes = 5 * PG, .user_data = ud, .user_data_len = sizeof(ud),
		.on_packet = collect,
	};
	struct hvrt_channel *ch = open_echo(relid, &c);
	const struct vmbus_sim_channel *sc = vmbus_sim_channel(&vs, relid);
	assert_memory_equal(sc->user_data, ud, sizeof(ud));
	assert_int_equal(sc->target_vp, hvrt_host()->vp_index);
	assert_int_equal(sc->page_offset, 4);
	assert_int_equal(sc->open_id, relid);
	const struct vmbus_sim_gpadl *g = vmbus_sim_find_gpadl(&vs, sc->ring_gpadl);
	assert_non_null(g);
	assert_int_equal(g->npfn, 4 + 6);
	assert_int_equal(sc->in.control->feature_bits & 1, 1);
	assert_int_equal(sc->out.control->feature_bits & 1, 1); /* the guest owns it and says so */
	hvrt_channel_close(ch);
	/* a shorter user data is zero-padded */
	c.user_data_len = 5;
	ch = open_echo(relid, &c);
	assert_memory_equal(sc->user_data, ud, 5);
	for (unsigned i = 5; i < 120; i++)
		assert_int_equal(sc->user_data[i], 0);
	hvrt_channel_close(ch);
	expect_clean();
}

/* ---- the echo device ---- */

/* In-band packets of every size back with their trans_id and bytes; completions when asked. */
static void test_echo_inband(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	static uint8_t buf[4000];
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13 + 7);
	static const unsigned lens[] = { 0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 2047, 3999, 4000 };
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (int completion = 0; completion < 2; completion++) {
			ngot = 0;
			uint64_t trans = 0x1000000000ull + i * 2 + (unsigned)completion;
			assert_int_equal(hvrt_channel_send(ch, buf, lens[i], trans, completion), 0);
			hvrt_poll();
			assert_int_equal(ngot, 1);
			assert_int_equal(got[0].type, completion ? VMBUS_PACKET_COMPLETION : VMBUS_PACKET_DATA_INBAND);
			assert_int_equal(got[0].flags, 0);
			assert_int_equal(got[0].trans_id, trans);
			assert_int_equal(got[0].len, pad8(lens[i]));
			assert_memory_equal(got[0].data, buf, lens[i]);
			for (unsigned k = lens[i]; k < pad8(lens[i]); k++)
				assert_int_equal(got[0].data[k], 0); /* the guest's padding was zero */
		}
	}
	/* a completion of the guest's own, for a host packet that asked for one */
	assert_int_equal(vmbus_sim_send(&vs, relid, VMBUS_PACKET_DATA_INBAND, VMBUS_PACKET_FLAG_COMPLETION_REQUESTED,
					0xbeef, "ask", 3),
			 0);
	ngot = 0;
	hvrt_poll();
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].flags, VMBUS_PACKET_FLAG_COMPLETION_REQUESTED);
	assert_int_equal(hvrt_channel_send_completion(ch, got[0].trans_id, "done", 4), 0);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->completions, 1);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->nwanted, 0);
	assert_int_equal(hvrt_channel_send_completion(ch, 0xbef0, NULL, 0), 0);
	expect_violation(VMBUS_SIM_RULE_PACKET); /* the host asked for no such completion: the sim says so */
	/* too large to describe, and too large for the ring */
	assert_int_equal(hvrt_channel_send(ch, buf, 0x80000, 1, false), -EMSGSIZE);
	static uint8_t big[20000];
	assert_int_equal(hvrt_channel_send(ch, big, sizeof(big), 1, false), -EMSGSIZE);
	hvrt_channel_close(ch);
	expect_clean();
}

/* The echo device's answer to a GPA-direct packet: checked against our own FNV-1a of the same bytes. */
static void gpa_round_trip(struct hvrt_channel *ch, const struct hvrt_buffer *bufs, unsigned count, const void *data,
			   size_t len)
{
	static uint64_t trans = 0x600;
	uint64_t want = VMBUS_SIM_FNV_BASIS;
	uint32_t bytes = 0;

	for (unsigned i = 0; i < count; i++) {
		want = fnv(want, bufs[i].addr, bufs[i].len);
		bytes += bufs[i].len;
	}
	ngot = 0;
	trans++;
	assert_int_equal(hvrt_channel_send_gpa(ch, bufs, count, data, len, trans, true), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].type, VMBUS_PACKET_COMPLETION);
	assert_int_equal(got[0].trans_id, trans);
	assert_int_equal(got[0].len, sizeof(struct vmbus_sim_echo_gpa));
	struct vmbus_sim_echo_gpa res;
	memcpy(&res, got[0].data, sizeof(res));
	assert_int_equal(res.ranges, count);
	assert_int_equal(res.bytes, bytes);
	if (res.fnv1a64 != want)
		fail_msg("FNV-1a of %u bytes in %u ranges: host %#llx, guest %#llx", bytes, count,
			 (unsigned long long)res.fnv1a64, (unsigned long long)want);
}

static void test_gpa_direct(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	uint8_t *mem = hvrt_page_alloc(128);
	for (unsigned i = 0; i < 128 * PG; i++)
		mem[i] = (uint8_t)(i * 131 + (i >> 12));
	struct hvrt_buffer b[65];

	/* one whole page; 100 bytes at offset 10; 3 pages' worth from offset 4000 (4 pages touched) */
	b[0] = (struct hvrt_buffer){ mem, PG };
	gpa_round_trip(ch, b, 1, NULL, 0);
	b[0] = (struct hvrt_buffer){ mem + 10, 100 };
	gpa_round_trip(ch, b, 1, "inband", 6);
	b[0] = (struct hvrt_buffer){ mem + 4000, 3 * PG };
	gpa_round_trip(ch, b, 1, NULL, 0);
	/* several buffers, with and without offsets */
	b[0] = (struct hvrt_buffer){ mem + 5, 10 };
	b[1] = (struct hvrt_buffer){ mem + 2 * PG, 2 * PG };
	b[2] = (struct hvrt_buffer){ mem + 5 * PG - 1, 2 };
	gpa_round_trip(ch, b, 3, "x", 1);
	/* three 32-page buffers */
	for (unsigned i = 0; i < 3; i++)
		b[i] = (struct hvrt_buffer){ mem + i * 32 * PG, 32 * PG };
	gpa_round_trip(ch, b, 3, NULL, 0);
	/* 64 single-page buffers: 1 KiB of ranges exactly */
	for (unsigned i = 0; i < 64; i++)
		b[i] = (struct hvrt_buffer){ mem + (127 - i) * PG, PG };
	gpa_round_trip(ch, b, 64, NULL, 0);
	/* one buffer of 127 pages: 8 + 127 x 8 = 1 KiB */
	b[0] = (struct hvrt_buffer){ mem, 127 * PG };
	gpa_round_trip(ch, b, 1, NULL, 0);
	/* past 1 KiB: refused, nothing written */
	uint64_t in = vmbus_sim_channel(&vs, relid)->packets_in;
	for (unsigned i = 0; i < 65; i++)
		b[i] = (struct hvrt_buffer){ mem + i * PG, PG };
	assert_int_equal(hvrt_channel_send_gpa(ch, b, 65, NULL, 0, 1, true), -EMSGSIZE);
	b[0] = (struct hvrt_buffer){ mem, 128 * PG };
	assert_int_equal(hvrt_channel_send_gpa(ch, b, 1, NULL, 0, 1, true), -EMSGSIZE);
	b[0] = (struct hvrt_buffer){ mem + 1, 127 * PG }; /* 128 pages touched */
	assert_int_equal(hvrt_channel_send_gpa(ch, b, 1, NULL, 0, 1, true), -EMSGSIZE);
	b[0] = (struct hvrt_buffer){ mem, 0 };
	assert_int_equal(hvrt_channel_send_gpa(ch, b, 1, NULL, 0, 1, true), -EINVAL);
	assert_int_equal(hvrt_channel_send_gpa(ch, b, 0, NULL, 0, 1, true), -EINVAL);
	assert_int_equal(hvrt_channel_send_gpa(ch, NULL, 1, NULL, 0, 1, true), -EINVAL);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->packets_in, in);
	hvrt_channel_close(ch);
	hvrt_page_free(mem, 128);
	expect_clean();
}

/* ---- a million packets ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* The payload of a packet: a function of its seed, so the receiver rebuilds it. */
static void fill(uint8_t *p, uint32_t len, uint64_t seed)
{
	uint64_t x = seed | 1;
	uint32_t i = 0;
	for (; i + 8 <= len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	memcpy(p + i, &x, len - i);
}

/* Sizes: mostly small, some large enough to meet the end of the ring often. */
static uint32_t random_len(uint32_t max)
{
	uint64_t r = rng();
	uint32_t kind = (uint32_t)(r % 100);
	r >>= 8;
	if (kind < 60)
		return (uint32_t)(r % 65);
	if (kind < 92)
		return (uint32_t)(r % 1025);
	return (uint32_t)(r % (max + 1));
}

#define STRESS_QUEUE 4096u

struct expect {
	uint64_t trans, seed;
	uint32_t len;
	bool completion;
};

struct stream {
	struct hvrt_channel *ch;
	uint32_t relid;
	bool stalled; /* the host does not read this channel's ring for now */
	struct expect q[STRESS_QUEUE];
	unsigned head, tail;
	uint64_t next_trans, received, sent;
	uint32_t max_len;
	uint8_t scratch[4200];
};

static struct stream sa, sb;

static void verify(struct stream *s, const struct hvrt_packet *pkt)
{
	if (s->head == s->tail)
		fail_msg("a packet (trans_id %#llx) nobody sent", (unsigned long long)pkt->trans_id);
	const struct expect *e = &s->q[s->head++ % STRESS_QUEUE];
	if (pkt->trans_id != e->trans)
		fail_msg("trans_id %#llx, expected %#llx", (unsigned long long)pkt->trans_id, (unsigned long long)e->trans);
	assert_int_equal(pkt->type, e->completion ? VMBUS_PACKET_COMPLETION : VMBUS_PACKET_DATA_INBAND);
	assert_int_equal(pkt->payload_len, pad8(e->len));
	fill(s->scratch, e->len, e->seed);
	memset(s->scratch + e->len, 0, pad8(e->len) - e->len);
	if (memcmp(pkt->payload, s->scratch, pad8(e->len)) != 0)
		fail_msg("trans_id %#llx: %u bytes differ from what was sent", (unsigned long long)e->trans, e->len);
	s->received++;
}

static void stress_on_packet(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ch;
	verify(ctx, pkt);
}

/* Reads the polled stream dry. */
static void drain_polled(struct stream *s)
{
	static uint8_t buf[4200 + 16];
	struct hvrt_packet pkt;
	int n;
	while ((n = hvrt_channel_recv(s->ch, buf, sizeof(buf), &pkt)) >= 0)
		verify(s, &pkt);
	assert_int_equal(n, -EAGAIN);
}

static void stress_send(struct stream *s, bool polled)
{
	static uint8_t buf[4200];
	struct expect e = { .trans = s->next_trans++, .seed = rng(), .len = random_len(s->max_len) };
	e.completion = (rng() & 3) == 0;
	fill(buf, e.len, e.seed);
	assert_true(s->tail - s->head < STRESS_QUEUE);
	for (unsigned tries = 0;; tries++) {
		int err = hvrt_channel_send(s->ch, buf, e.len, e.trans, e.completion);
		if (err == 0)
			break;
		if (err != -EAGAIN || tries > 1000)
			fail_msg("send of %u bytes: %d (try %u)", e.len, err, tries);
		if (s->stalled) {
			/* the ring filled while the host was not reading: it reads it all in one batch now */
			vmbus_sim_stall(&vs, s->relid, false);
			s->stalled = false;
		}
		if (polled) {
			drain_polled(s); /* room for the host's echoes, so it reads ours again */
			err = hvrt_channel_wait_writable(s->ch, e.len, 2);
		} else {
			err = hvrt_channel_wait_writable(s->ch, e.len, 1000);
			assert_int_equal(err, 0);
		}
		assert_true(err == 0 || err == -ETIMEDOUT);
	}
	s->q[s->tail++ % STRESS_QUEUE] = e;
	s->sent++;
}

static void test_million_packets(void **state)
{
	(void)state;
	const char *env = getenv("HVRT_TEST_PACKETS");
	uint64_t total = env ? strtoull(env, NULL, 0) : 1000000;
	env = getenv("HVRT_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
	printf("test_million_packets: %llu packets, seed %#llx (HVRT_TEST_SEED=%#llx repeats this run)\n",
	       (unsigned long long)total, (unsigned long long)seed, (unsigned long long)seed);
	fflush(stdout);
	rng_state = seed ? seed : 1;

	uint32_t a = up_echo(2), b = a + 1;
	memset(&sa, 0, sizeof(sa));
	memset(&sb, 0, sizeof(sb));
	sa.max_len = 4000;
	sb.max_len = 3000;
	sa.relid = a;
	sb.relid = b;
	/* sizes that are not powers of two, so the ends of the areas fall anywhere in a packet */
	sa.ch = open_echo(a, &(struct hvrt_channel_config){ .send_ring_bytes = 3 * PG, .recv_ring_bytes = 5 * PG,
							   .on_packet = stress_on_packet, .ctx = &sa });
	sb.ch = open_echo(b, &(struct hvrt_channel_config){ .send_ring_bytes = 2 * PG, .recv_ring_bytes = PG,
							   .max_packet_bytes = PG, .polled = true, .ctx = &sb });
	for (uint64_t i = 0; i < total;) {
		/* a burst on one channel, then the guest looks at what came back */
		unsigned burst = 1 + (unsigned)(rng() % 24);
		bool polled = rng() & 1;
		struct stream *s = polled ? &sb : &sa;
		if (rng() % 8 == 0) {
			/* the host busy elsewhere: the burst piles up and goes in one batch, with one signal */
			vmbus_sim_stall(&vs, s->relid, true);
			s->stalled = true;
		}
		for (unsigned k = 0; k < burst && i < total; k++, i++)
			stress_send(s, polled);
		if (s->stalled) {
			vmbus_sim_stall(&vs, s->relid, false);
			s->stalled = false;
		}
		if (rng() % 4 == 0)
			drain_polled(&sb);
		hvrt_poll();
	}
	/* everything back */
	for (unsigned tries = 0; tries < 100 && (sa.received < sa.sent || sb.received < sb.sent); tries++) {
		drain_polled(&sb);
		hvrt_poll();
	}
	assert_int_equal(sa.received, sa.sent);
	assert_int_equal(sb.received, sb.sent);
	assert_int_equal(sa.sent + sb.sent, total);
	const struct vmbus_sim_channel *ca = vmbus_sim_channel(&vs, a), *cb = vmbus_sim_channel(&vs, b);
	assert_int_equal(ca->packets_in, sa.sent);
	assert_int_equal(cb->packets_in, sb.sent);
	if (total >= 10000) {
		/* both rings of both channels wrapped many times: over a thousand times in a million packets */
		assert_true(ca->bytes_in / ca->out.size > total / 1000);
		assert_true(ca->bytes_out / ca->in.size > total / 1000);
		assert_true(cb->bytes_in / cb->out.size > total / 1000);
		assert_true(cb->bytes_out / cb->in.size > total / 1000);
		assert_true(cb->space_signals > 0); /* the polled reader gave the host room when it asked */
	}
	assert_int_equal(ca->unneeded_signals, 0);
	assert_int_equal(cb->unneeded_signals, 0);
	printf("test_million_packets: %llu + %llu packets, %llu + %llu bytes each way; signals %u + %u\n",
	       (unsigned long long)sa.sent, (unsigned long long)sb.sent, (unsigned long long)ca->bytes_in,
	       (unsigned long long)cb->bytes_in, ca->signals, cb->signals);
	hvrt_channel_close(sa.ch);
	hvrt_channel_close(sb.ch);
	expect_clean();
}

/* ---- a full ring ---- */

static uint32_t pending_at_resume;

/* The host reads again; what the guest asked for in pending_send_sz is noted first. */
static void resume_host(void *ctx, struct hv_sim *s)
{
	(void)s;
	pending_at_resume = vmbus_sim_channel(&vs, (uint32_t)(uintptr_t)ctx)->out.control->pending_send_sz;
	vmbus_sim_stall(&vs, (uint32_t)(uintptr_t)ctx, false);
}

/* Fills the guest -> host ring of a stalled host; returns how many packets went in. */
static unsigned fill_ring(struct hvrt_channel *ch, uint32_t relid, uint32_t len)
{
	static uint8_t buf[4000];
	unsigned n = 0;
	vmbus_sim_stall(&vs, relid, true);
	while (hvrt_channel_send(ch, buf, len, n, false) == 0)
		n++;
	assert_int_equal(hvrt_channel_send(ch, buf, len, n, false), -EAGAIN);
	return n;
}

static void ring_full(bool qemu)
{
	if (qemu)
		vmbus_sim_config_qemu(&vcfg);
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){
		.send_ring_bytes = 2 * PG, .recv_ring_bytes = 8 * PG, .on_packet = collect });
	const struct vmbus_sim_channel *sc = vmbus_sim_channel(&vs, relid);

	unsigned sent = fill_ring(ch, relid, 1000);
	assert_int_equal(sent, 7); /* 1024 bytes each in 8 KiB, never full */
	assert_int_equal(sc->signals, 1);
	/* the host reads again 10 ms from now; the wait ends then (QEMU: within the next millisecond) */
	uint64_t t0 = now();
	assert_true(hv_sim_at(&sim, t0 + MS(10), resume_host, (void *)(uintptr_t)relid));
	assert_int_equal(hvrt_channel_wait_writable(ch, 1000, 1000), 0);
	assert_elapsed(t0, MS(10), MS(12));
	/* it asked for room: the packet (16 + 1000 padded, the trailer) and 8 more (QEMU's == bug) */
	assert_int_equal(pending_at_resume, 1024 + 8);
	assert_int_equal(sc->out.control->pending_send_sz, 0); /* asked only while waiting */
	assert_int_equal(sc->packets_in, sent);                 /* -EAGAIN wrote nothing */
	hvrt_poll();
	assert_int_equal(ngot, sent);
	for (unsigned i = 0; i < sent; i++)
		assert_int_equal(got[i].trans_id, i);
	assert_int_equal(hvrt_channel_send(ch, "room", 4, 99, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, sent + 1);
	/* still stalled at the deadline: -ETIMEDOUT on time, and the request for room withdrawn */
	ngot = 0;
	sent = fill_ring(ch, relid, 1000);
	t0 = now();
	assert_int_equal(hvrt_channel_wait_writable(ch, 1000, 50), -ETIMEDOUT);
	assert_elapsed(t0, MS(50), MS(52));
	assert_int_equal(sc->out.control->pending_send_sz, 0);
	vmbus_sim_stall(&vs, relid, false);
	hvrt_poll();
	assert_int_equal(ngot, sent);
	/* room already there: at once */
	t0 = now();
	assert_int_equal(hvrt_channel_wait_writable(ch, 1000, 50), 0);
	assert_elapsed(t0, 0, MS(1));
	hvrt_channel_close(ch);
	expect_clean();
}

static void test_ring_full_hyperv(void **state)
{
	(void)state;
	ring_full(false);
}

/* QEMU does not signal when one batch empties the ring: the wait looks again every millisecond. */
static void test_ring_full_qemu_space_bugs(void **state)
{
	(void)state;
	ring_full(true);
}

/* ---- interrupts ---- */

/* A lost interrupt: the data waits in the ring and comes with the next event; nothing is lost or reordered. */
static void test_lost_interrupt(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	vs.fault.lost_interrupts = 1;
	assert_int_equal(hvrt_channel_send(ch, "one", 3, 1, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 0);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->events_lost, 1);
	/* the next echo lands in a ring that is not empty: the host does not signal either */
	assert_int_equal(hvrt_channel_send(ch, "two", 3, 2, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 0);
	/* any event of the channel reads it all, in order */
	assert_true(vmbus_sim_spurious(&vs, relid));
	hvrt_poll();
	assert_int_equal(ngot, 2);
	assert_int_equal(got[0].trans_id, 1);
	assert_int_equal(got[1].trans_id, 2);
	/* and the channel goes on normally */
	assert_int_equal(hvrt_channel_send(ch, "three", 5, 3, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 3);
	/*
	 * A wait relies on interrupts too (docs/vmbus.md: it halts until an
	 * interrupt or its deadline): a request whose completion's interrupt is
	 * lost ends at its timeout, and the channel's next event reads on.
	 */
	uint8_t resp[8];
	vs.fault.lost_interrupts = 1;
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_request(ch, "lost", 4, resp, sizeof(resp), 30), -ETIMEDOUT);
	assert_elapsed(t0, MS(30), MS(31));
	assert_true(vmbus_sim_spurious(&vs, relid));
	hvrt_poll();
	assert_int_equal(hvrt_channel_request(ch, "found", 5, resp, sizeof(resp), 30), 8);
	hvrt_channel_close(ch);
	expect_clean();
}

/* Spurious events: on an empty open channel, a closed one, a relid nobody has, flag 0. Harmless. */
static void test_spurious_interrupts(void **state)
{
	(void)state;
	uint32_t relid = up_echo(2);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	for (unsigned i = 0; i < 50; i++) {
		assert_true(vmbus_sim_spurious(&vs, relid));
		assert_true(vmbus_sim_spurious(&vs, relid + 1)); /* not open */
		assert_true(hv_sim_set_event(&sim, VMBUS_MESSAGE_SINT, 1000 + i));
		assert_true(hv_sim_set_event(&sim, VMBUS_MESSAGE_SINT, 0));
		hvrt_poll();
	}
	assert_int_equal(ngot, 0);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->signals, 0); /* nothing read, nothing to tell the host */
	assert_int_equal(hvrt_channel_send(ch, "real", 4, 4, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	hvrt_channel_close(ch);
	expect_clean();
}

/* A device that greets the guest the moment it opens (before the guest has the open's answer). */
static void greet_on_open(void *ctx, struct vmbus_sim *v, uint32_t relid, enum vmbus_sim_event ev)
{
	(void)ctx;
	if (ev == VMBUS_SIM_OPENED)
		assert_int_equal(vmbus_sim_send(v, relid, VMBUS_PACKET_DATA_INBAND, VMBUS_PACKET_FLAG_COMPLETION_REQUESTED,
						0x7e11, "hello guest", 11),
				 0);
}

/* The host writes (and signals) while the channel is still opening: read after the open, not lost. */
static void test_host_speaks_first(void **state)
{
	(void)state;
	boot();
	struct vmbus_sim_device d;
	vmbus_sim_device_init(&vs, &d, "57164f39-9115-4e78-ab55-382f3bd5422d", "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0");
	d.event = greet_on_open;
	uint32_t relid = vmbus_sim_add_device(&vs, &d);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	hvrt_poll();
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].trans_id, 0x7e11);
	assert_memory_equal(got[0].data, "hello guest", 11);
	assert_int_equal(hvrt_channel_send_completion(ch, 0x7e11, NULL, 0), 0);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->completions, 1);
	hvrt_channel_close(ch);
	expect_clean();
}

/* ---- polled channels ---- */

static void test_polled_channel(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){
		.recv_ring_bytes = 2 * PG, .on_packet = collect, .polled = true });
	const struct vmbus_sim_channel *sc = vmbus_sim_channel(&vs, relid);
	assert_int_equal(sc->in.control->interrupt_mask, 1);
	uint8_t buf[1100];
	struct hvrt_packet pkt;
	assert_int_equal(hvrt_channel_recv(ch, buf, sizeof(buf), &pkt), -EAGAIN);
	assert_int_equal(hvrt_channel_send(ch, "polled", 6, 42, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 0); /* on_packet is not for polled channels */
	assert_int_equal(sc->events, 0); /* and the host did not interrupt */
	assert_int_equal(hvrt_channel_recv(ch, buf, sizeof(buf), &pkt), 8);
	assert_int_equal(pkt.type, VMBUS_PACKET_DATA_INBAND);
	assert_int_equal(pkt.trans_id, 42);
	assert_memory_equal(pkt.payload, "polled", 6);
	assert_ptr_equal(pkt.raw, buf);
	assert_int_equal(pkt.raw_len, 24);
	/* too small a buffer: -EMSGSIZE, the packet stays, raw_len says how much it needs */
	static uint8_t big[1000];
	assert_int_equal(hvrt_channel_send(ch, big, sizeof(big), 43, false), 0);
	assert_int_equal(hvrt_channel_recv(ch, buf, 100, &pkt), -EMSGSIZE);
	assert_int_equal(pkt.raw_len, 16 + 1000);
	assert_int_equal(hvrt_channel_recv(ch, buf, pkt.raw_len, &pkt), 1000);
	assert_int_equal(pkt.trans_id, 43);
	assert_int_equal(hvrt_channel_recv(ch, buf, sizeof(buf), &pkt), -EAGAIN);
	/* requests need someone to read the completion */
	assert_int_equal(hvrt_channel_request(ch, "q", 1, buf, sizeof(buf), 100), -EOPNOTSUPP);
	/* the host fills our ring and waits for room: reading gives it, with a signal */
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(hvrt_channel_send(ch, big, sizeof(big), 100 + i, false), 0);
	assert_true(sc->nbacklog > 0);
	assert_true(sc->in_pending > 0);
	for (unsigned i = 0; i < 12; i++) {
		assert_int_equal(hvrt_channel_recv(ch, buf, sizeof(buf), &pkt), 1000);
		assert_int_equal(pkt.trans_id, 100 + i);
	}
	assert_int_equal(hvrt_channel_recv(ch, buf, sizeof(buf), &pkt), -EAGAIN);
	assert_true(sc->space_signals > 0);
	assert_int_equal(sc->nbacklog, 0);
	hvrt_channel_close(ch);
	expect_clean();
}

/* on_packet takes the rest of a batch with hvrt_channel_recv: on_packet is not called for those. */
static unsigned batch_calls;

static void batch_on_packet(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ctx;
	uint8_t buf[256];
	struct hvrt_packet more;
	batch_calls++;
	collect(ch, pkt, NULL);
	while (hvrt_channel_recv(ch, buf, sizeof(buf), &more) >= 0)
		collect(ch, &more, NULL);
}

static void test_recv_from_on_packet(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = batch_on_packet });
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(vmbus_sim_send(&vs, relid, VMBUS_PACKET_DATA_INBAND, 0, i, &i, sizeof(i)), 0);
	batch_calls = 0;
	hvrt_poll();
	assert_int_equal(batch_calls, 1);
	assert_int_equal(ngot, 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(got[i].trans_id, i);
	hvrt_channel_close(ch);
	expect_clean();
}

/* ---- requests ---- */

static int nested_result;
static struct hvrt_channel *nested_target;
static uint8_t nested_resp[64];

static void request_from_callback(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ctx;
	collect(ch, pkt, NULL);
	nested_result = hvrt_channel_request(nested_target, "nested", 6, nested_resp, sizeof(nested_resp), 1000);
}

static void test_request(void **state)
{
	(void)state;
	uint32_t relid = up_echo(2);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	uint8_t resp[64];
	memset(resp, 0xee, sizeof(resp));
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_request(ch, "ping", 4, resp, sizeof(resp), 1000), 8);
	assert_elapsed(t0, 0, MS(1));
	assert_memory_equal(resp, "ping\0\0\0\0", 8);
	assert_int_equal(ngot, 0); /* the completion is the request's, not on_packet's */
	/* a smaller buffer: the response is cut to it */
	memset(resp, 0xee, sizeof(resp));
	assert_int_equal(hvrt_channel_request(ch, "0123456789", 10, resp, 3, 1000), 3);
	assert_memory_equal(resp, "012", 3);
	assert_int_equal(resp[3], 0xee);
	/* each request a fresh transaction id, never 0 */
	uint64_t id1 = hvrt_channel_next_trans_id(ch), id2 = hvrt_channel_next_trans_id(ch);
	assert_true(id1 && id2 && id1 != id2);
	/* from the channel's own on_packet: -EDEADLK; from another channel's: it works */
	struct hvrt_channel *other = channel(relid + 1);
	nested_target = ch;
	assert_int_equal(hvrt_channel_open(other, &(struct hvrt_channel_config){ .on_packet = request_from_callback }),
			 0);
	assert_int_equal(hvrt_channel_send(other, "go", 2, 1, false), 0);
	nested_result = 0;
	hvrt_poll();
	assert_int_equal(nested_result, 8);
	assert_memory_equal(nested_resp, "nested", 6);
	hvrt_channel_close(other);
	nested_target = other;
	assert_int_equal(hvrt_channel_open(other, &(struct hvrt_channel_config){ .on_packet = request_from_callback }),
			 0);
	assert_int_equal(hvrt_channel_send(other, "go", 2, 1, false), 0);
	hvrt_poll();
	assert_int_equal(nested_result, -EDEADLK);
	hvrt_channel_close(other);
	hvrt_channel_close(ch);
	expect_clean();
}

/*
 * A request from on_packet of channel A to channel B, when B was signalled
 * in the same poll as A (B's echo waits unread): the nested wait must still
 * take B's event, or the host, which signals only on empty to non-empty,
 * never signals B again.
 */
static void test_request_nested_same_poll(void **state)
{
	(void)state;
	uint32_t relid = up_echo(2);
	struct hvrt_channel *a = channel(relid), *b = channel(relid + 1);
	assert_int_equal(hvrt_channel_open(a, &(struct hvrt_channel_config){ .on_packet = request_from_callback }), 0);
	assert_int_equal(open_collect(b), 0);
	nested_target = b;
	nested_result = 0;
	/* both echoes arrive before the guest polls: B's first, then A's */
	assert_int_equal(hvrt_channel_send(b, "b-first", 7, 7, false), 0);
	assert_int_equal(hvrt_channel_send(a, "a", 1, 1, false), 0);
	uint64_t t0 = now();
	hvrt_poll();
	assert_elapsed(t0, 0, MS(2));
	assert_int_equal(nested_result, 8);
	assert_memory_equal(nested_resp, "nested", 6);
	hvrt_poll();
	/* A's packet, and B's echo read by the nested wait */
	assert_int_equal(ngot, 2);
	hvrt_channel_close(a);
	hvrt_channel_close(b);
	expect_clean();
}

/* No answer: -ETIMEDOUT after exactly the timeout. */
static void test_request_timeout(void **state)
{
	(void)state;
	boot();
	uint32_t relid = add_silent(1);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	uint8_t resp[8];
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_request(ch, "anyone?", 7, resp, sizeof(resp), 250), -ETIMEDOUT);
	assert_elapsed(t0, MS(250), MS(251));
	t0 = now();
	assert_int_equal(hvrt_channel_request(ch, "again", 5, resp, sizeof(resp), 1), -ETIMEDOUT);
	assert_elapsed(t0, MS(1), MS(2));
	hvrt_channel_close(ch);
	/* a closed channel: the send fails */
	assert_int_equal(hvrt_channel_request(ch, "closed", 6, resp, sizeof(resp), 250), -ENOTCONN);
	expect_clean();
}

/*
 * A request on a full ring waits for room within its own timeout (the ring is
 * busy, not broken), and then for its answer; the two waits share the budget.
 */
static void test_request_waits_for_room(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){
		.send_ring_bytes = 2 * PG, .recv_ring_bytes = 8 * PG, .on_packet = collect });
	uint8_t resp[8];
	static uint8_t big[1000] = "full"; /* as large as what fills the ring: it cannot fit until the host reads */

	unsigned sent = fill_ring(ch, relid, 1000);
	uint64_t t0 = now();
	assert_true(hv_sim_at(&sim, t0 + MS(10), resume_host, (void *)(uintptr_t)relid));
	assert_int_equal(hvrt_channel_request(ch, big, sizeof(big), resp, sizeof(resp), 100), 8);
	assert_elapsed(t0, MS(10), MS(12));
	assert_memory_equal(resp, "full", 5);
	assert_int_equal(ngot, sent); /* the echoes of what filled the ring, in order */
	for (unsigned i = 0; i < sent; i++)
		assert_int_equal(got[i].trans_id, i);

	/* still stalled at the deadline: -ETIMEDOUT on time, nothing sent */
	ngot = 0;
	sent = fill_ring(ch, relid, 1000);
	unsigned in = vmbus_sim_channel(&vs, relid)->packets_in;
	t0 = now();
	memcpy(big, "late", 5);
	assert_int_equal(hvrt_channel_request(ch, big, sizeof(big), resp, sizeof(resp), 30), -ETIMEDOUT);
	assert_elapsed(t0, MS(30), MS(32));
	vmbus_sim_stall(&vs, relid, false);
	hvrt_poll();
	assert_int_equal(ngot, sent);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->packets_in, in + sent); /* no "late" in the ring */
	assert_int_equal(hvrt_channel_request(ch, "fine", 4, resp, sizeof(resp), 100), 8);
	hvrt_channel_close(ch);
	expect_clean();
}

/* ---- a host that breaks the rules ---- */

enum lie {
	LIE_LEN8_PAST_RING,
	LIE_OFFSET8_PAST_LEN8,
	LIE_OFFSET8_UNDER_2,
	LIE_OFFSET8_ZERO,
	LIE_LEN8_UNDER_2,
	LIE_OVER_MAX_PACKET,
	LIE_WRITE_INDEX_PAST,
	LIE_WRITE_INDEX_UNALIGNED,
	LIE_RAW_GARBAGE,
	LIE_TYPE_UNKNOWN,
	LIE_TYPE_INVALID,
	LIE_COMPLETION_NEVER_SENT,
	LIE_COUNT
};

static const char *const lie_name[] = {
	"len8 past the ring", "offset8 past len8", "offset8 under 2", "offset8 0", "len8 under 2",
	"more than max_packet_bytes", "write index past the data", "write index unaligned", "raw garbage",
	"a packet type VMBus does not define", "packet type 0", "a completion for a transaction never sent",
};

static void tell_lie(enum lie lie, uint32_t relid)
{
	uint64_t pay[4] = { 1, 2, 3, 4 };
	struct vmbus_packet_desc d = { .type = VMBUS_PACKET_DATA_INBAND, .offset8 = 2, .len8 = 3, .trans_id = 9 };
	static const uint8_t raw[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	static uint8_t big[600];

	switch (lie) {
	case LIE_LEN8_PAST_RING:
		d.len8 = 1000;
		break;
	case LIE_OFFSET8_PAST_LEN8:
		d.offset8 = 4;
		break;
	case LIE_OFFSET8_UNDER_2:
		d.offset8 = 1;
		break;
	case LIE_OFFSET8_ZERO:
		d.offset8 = 0;
		break;
	case LIE_LEN8_UNDER_2:
		d.len8 = 1;
		d.offset8 = 1;
		break;
	case LIE_OVER_MAX_PACKET:
		assert_int_equal(vmbus_sim_send(&vs, relid, VMBUS_PACKET_DATA_INBAND, 0, 9, big, sizeof(big)), 0);
		return;
	case LIE_WRITE_INDEX_PAST:
		vmbus_sim_set_write_index(&vs, relid, 2 * PG + 64);
		return;
	case LIE_WRITE_INDEX_UNALIGNED:
		vmbus_sim_set_write_index(&vs, relid, 12);
		return;
	case LIE_RAW_GARBAGE:
		assert_int_equal(vmbus_sim_send_raw(&vs, relid, raw, sizeof(raw)), 0);
		return;
	case LIE_TYPE_UNKNOWN:
		d.type = 0x42;
		break;
	case LIE_TYPE_INVALID:
		d.type = VMBUS_PACKET_INVALID;
		break;
	case LIE_COMPLETION_NEVER_SENT:
		d.type = VMBUS_PACKET_COMPLETION;
		d.trans_id = 0x5354524159000001ull;
		break;
	case LIE_COUNT:
		break;
	}
	assert_int_equal(vmbus_sim_send_desc(&vs, relid, &d, pay, 8), 0);
}

/* Each lie breaks that channel only: closed and torn down, its calls -EIO; the other channel goes on. */
static void test_bad_host_packets(void **state)
{
	(void)state;
	uint32_t relid = up_echo(2), other = relid + 1;
	struct hvrt_channel *ch = channel(relid);
	struct hvrt_channel *oc = open_echo(other, &(struct hvrt_channel_config){ .on_packet = collect });
	size_t pages = hv_sim_pages_live(&sim);

	for (unsigned lie = 0; lie < LIE_COUNT; lie++) {
		log_clear();
		struct hvrt_channel_config c = { .recv_ring_bytes = 2 * PG, .max_packet_bytes = 512, .on_packet = collect };
		assert_int_equal(hvrt_channel_open(ch, &c), 0);
		unsigned closes = vmbus_sim_count(&vs, VMBUS_MSG_CLOSECHANNEL);
		uint32_t gpadl = vmbus_sim_channel(&vs, relid)->ring_gpadl;
		ngot = 0;
		tell_lie(lie, relid);
		hvrt_poll();
		if (hvrt_channel_is_open(ch))
			fail_msg("%s: the channel is still open", lie_name[lie]);
		assert_int_equal(ngot, 0);
		assert_logged("channel closed");
		assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_CLOSECHANNEL), closes + 1);
		assert_null(vmbus_sim_find_gpadl(&vs, gpadl));
		assert_false(vmbus_sim_channel(&vs, relid)->open);
		assert_int_equal(hvrt_channel_send(ch, "x", 1, 1, false), -EIO);
		uint8_t buf[64];
		struct hvrt_packet pkt;
		assert_int_equal(hvrt_channel_recv(ch, buf, sizeof(buf), &pkt), -EIO);
		assert_int_equal(hvrt_channel_request(ch, "x", 1, buf, sizeof(buf), 100), -EIO);
		assert_int_equal(hvrt_channel_wait_writable(ch, 8, 10), -EIO);
		/* the other channel goes on */
		assert_int_equal(hvrt_channel_send(oc, &lie, sizeof(lie), lie, false), 0);
		hvrt_poll();
		assert_int_equal(ngot, 1);
		assert_ptr_equal(got[0].ch, oc);
		/* the owner's close finishes it without another message; the pages are back */
		unsigned logged = (unsigned)vs.nlog;
		hvrt_channel_close(ch);
		assert_int_equal(vs.nlog, logged);
		assert_int_equal(hv_sim_pages_live(&sim), pages);
		assert_int_equal(vmbus_sim_gpadls(&vs), 1); /* the other channel's */
	}
	/* a fresh open of the once-broken channel works */
	assert_int_equal(open_collect(ch), 0);
	ngot = 0;
	assert_int_equal(hvrt_channel_send(ch, "fine", 4, 4, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	hvrt_channel_close(ch);
	hvrt_channel_close(oc);
	expect_clean();
}

/* The host moves its read index of our send ring somewhere impossible: our next send breaks the channel. */
static void test_corrupt_read_index(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	assert_int_equal(hvrt_channel_send(ch, "ok", 2, 1, false), 0);
	hvrt_poll();
	volatile struct vmbus_ring_control *out = vmbus_sim_channel(&vs, relid)->out.control;
	out->read_index = 13;
	assert_int_equal(hvrt_channel_send(ch, "no", 2, 2, false), -EIO);
	assert_false(hvrt_channel_is_open(ch));
	assert_int_equal(vmbus_sim_open_channels(&vs), 0);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	assert_int_equal(hvrt_channel_wait_writable(ch, 8, 10), -EIO);
	hvrt_channel_close(ch);
	vmbus_sim_clear_violations(&vs); /* the sim may blame the guest for the index the test wrote */
	expect_clean();
}

/* The device answers a request with a packet whose len8 runs past the ring: the request fails -EIO at once. */
static void lying_answer(void *ctx, struct vmbus_sim *v, uint32_t relid, const struct vmbus_sim_packet *pkt)
{
	(void)ctx;
	struct vmbus_packet_desc d = { .type = VMBUS_PACKET_COMPLETION, .offset8 = 2, .len8 = 0x7fff,
				       .trans_id = pkt->desc.trans_id };
	assert_int_equal(vmbus_sim_send_desc(v, relid, &d, NULL, 0), 0);
}

static void test_request_on_broken_channel(void **state)
{
	(void)state;
	boot();
	struct vmbus_sim_device d;
	vmbus_sim_device_init(&vs, &d, "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6", "242ff919-07db-4180-9c2e-b86cb68c8c55");
	d.packet = lying_answer;
	uint32_t relid = vmbus_sim_add_device(&vs, &d);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	uint8_t resp[8];
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_request(ch, "q", 1, resp, sizeof(resp), 1000), -EIO);
	assert_elapsed(t0, 0, MS(1));
	assert_false(hvrt_channel_is_open(ch));
	assert_int_equal(vmbus_sim_open_channels(&vs), 0);
	hvrt_channel_close(ch);
	expect_clean();
}

/*
 * A completion is taken once for each packet sent asking for one, whoever
 * sent it: the app's own ids reach on_packet, a request's end its wait. A
 * second completion for the same id, or one for an id sent without asking,
 * is a host out of step: the channel breaks (test_bad_host_packets has one
 * for an id never sent at all, with the checks every lie gets).
 */
static void test_completions_awaited(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	uint64_t pay = 0x1122334455667788ull;

	/* the app's id, asked for twice: two completions are due, each taken once */
	assert_int_equal(hvrt_channel_send(ch, &pay, 8, 0xfeed, true), 0);
	assert_int_equal(hvrt_channel_send(ch, &pay, 8, 0xfeed, true), 0);
	hvrt_poll();
	assert_int_equal(ngot, 2);
	assert_int_equal(got[1].type, VMBUS_PACKET_COMPLETION);
	assert_int_equal(got[1].trans_id, 0xfeed);
	assert_memory_equal(got[1].data, &pay, 8);
	uint8_t resp[8];
	/* 8: VMBus packets carry no byte length; the padding to 8 comes back with the payload */
	assert_int_equal(hvrt_channel_request(ch, "still", 5, resp, sizeof(resp), 100), 8);
	assert_true(hvrt_channel_is_open(ch));

	/* the host completes 0xfeed a third time */
	log_clear();
	ngot = 0;
	assert_int_equal(vmbus_sim_send(&vs, relid, VMBUS_PACKET_COMPLETION, 0, 0xfeed, &pay, 8), 0);
	hvrt_poll();
	assert_int_equal(ngot, 0);
	assert_false(hvrt_channel_is_open(ch));
	assert_logged("relid 1: completion for transaction id 0xfeed that was never sent: closing the channel");
	assert_int_equal(hvrt_channel_send(ch, "x", 1, 1, false), -EIO);
	hvrt_channel_close(ch);

	/* an id sent without asking for a completion is not awaited either */
	assert_int_equal(open_collect(ch), 0);
	ngot = 0;
	assert_int_equal(hvrt_channel_send(ch, "no", 2, 0xabc, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	assert_int_equal(vmbus_sim_send(&vs, relid, VMBUS_PACKET_COMPLETION, 0, 0xabc, &pay, 8), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	assert_false(hvrt_channel_is_open(ch));
	hvrt_channel_close(ch);
	expect_clean();
}

/*
 * At most max_awaited_completions may be due: one more send asking for a
 * completion gets -EAGAIN (nothing written), and hvrt_channel_wait_writable()
 * waits until a completion comes in. Sends that ask for none go on meanwhile.
 */
static void test_awaited_limit(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){
		.max_awaited_completions = 3, .on_packet = collect });

	vmbus_sim_stall(&vs, relid, true);
	for (uint64_t id = 1; id <= 3; id++)
		assert_int_equal(hvrt_channel_send(ch, &id, 8, id, true), 0);
	assert_int_equal(hvrt_channel_send(ch, "4", 1, 4, true), -EAGAIN);
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_wait_writable(ch, 8, 5), -ETIMEDOUT);
	assert_elapsed(t0, MS(5), MS(7));
	assert_int_equal(hvrt_channel_send(ch, "plain", 5, 5, false), 0);
	ngot = 0;
	vmbus_sim_stall(&vs, relid, false);
	assert_int_equal(hvrt_channel_wait_writable(ch, 8, 100), 0);
	assert_int_equal(ngot, 4);
	assert_int_equal(hvrt_channel_send(ch, "4", 1, 4, true), 0);
	hvrt_poll();
	assert_int_equal(ngot, 5);
	assert_int_equal(got[4].type, VMBUS_PACKET_COMPLETION);
	assert_int_equal(got[4].trans_id, 4);
	/* a bound above what the set takes is refused */
	hvrt_channel_close(ch);
	struct hvrt_channel_config c = { .max_awaited_completions = (1u << 20) + 1, .on_packet = collect };
	assert_int_equal(hvrt_channel_open(ch, &c), -EINVAL);
	expect_clean();
}

/* ---- signals ---- */

/* The guest signals when its ring goes from empty to non-empty, never for more packets behind. */
static void test_signal_on_empty_to_nonempty(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	const struct vmbus_sim_channel *sc = vmbus_sim_channel(&vs, relid);
	vmbus_sim_stall(&vs, relid, true);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(hvrt_channel_send(ch, &i, 4, i, false), 0);
	assert_int_equal(sc->signals, 1);
	vmbus_sim_stall(&vs, relid, false);
	hvrt_poll();
	assert_int_equal(ngot, 10);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(hvrt_channel_send(ch, &i, 4, i, false), 0); /* the host reads each at once */
	assert_int_equal(sc->signals, 11);
	assert_int_equal(sc->unneeded_signals, 0);
	assert_int_equal(vmbus_sim_check(&vs), 0);
	hvrt_poll();
	hvrt_channel_close(ch);
	expect_clean();
}

/* A monitored channel signals through the monitor page (no hypercall on its connection). */
static void test_monitor_page_signals(void **state)
{
	(void)state;
	boot();
	struct vmbus_sim_device d;
	vmbus_sim_device_init(&vs, &d, VMBUS_SIM_ECHO_CLASS, "6876d3a1-2c5e-4f0b-9d47-000000000070");
	d.echo = true;
	d.monitor_allocated = true;
	d.monitor_id = 70; /* trigger group 2, bit 6 */
	uint32_t relid = vmbus_sim_add_device(&vs, &d);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	struct hvrt_channel *ch = open_echo(relid, &(struct hvrt_channel_config){ .on_packet = collect });
	assert_true(hvrt_channel_offer(ch)->monitor_allocated);
	unsigned calls = sim.signals;
	for (unsigned i = 0; i < 20; i++) {
		assert_int_equal(hvrt_channel_send(ch, &i, 4, i, false), 0);
		hvrt_poll(); /* the host polls the page on the guest's next hypercall, step of time or halt */
		if (ngot == i) {
			hv_sim_advance(&sim, 1);
			hvrt_poll();
		}
		assert_int_equal(ngot, i + 1);
	}
	const struct vmbus_sim_channel *sc = vmbus_sim_channel(&vs, relid);
	assert_int_equal(sc->signals, 20);
	assert_int_equal(sc->monitor_signals, 20);
	assert_int_equal(sim.signals, calls); /* no HvSignalEvent */
	/* a request waits by halting: the host sees the page then */
	uint8_t resp[8];
	assert_int_equal(hvrt_channel_request(ch, "mon", 3, resp, sizeof(resp), 100), 8);
	hvrt_channel_close(ch);
	expect_clean();
}

/* MODIFYCHANNEL: answered and waited for at 5.3, not answered at 4.1, not there at 4.0. */
static void test_set_target_vp(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = channel(relid);
	assert_int_equal(hvrt_channel_set_target_vp(ch, 0), -ENOTCONN);
	assert_int_equal(open_collect(ch), 0);
	assert_int_equal(hvrt_channel_set_target_vp(ch, 0), 0);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_MODIFYCHANNEL_RESPONSE), 1);
	assert_int_equal(hvrt_channel_set_target_vp(ch, 1), -EINVAL);
	vs.fault.drop_answers = 1u << VMBUS_MSG_MODIFYCHANNEL_RESPONSE;
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_set_target_vp(ch, 0), -ETIMEDOUT);
	assert_elapsed(t0, MS(5000), MS(5002));
	vs.fault.drop_answers = 0;
	hvrt_vmbus_disconnect();
	vs.cfg.highest_version = V(4, 1);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	ch = channel(relid);
	assert_int_equal(open_collect(ch), 0);
	t0 = now();
	assert_int_equal(hvrt_channel_set_target_vp(ch, 0), 0);
	assert_elapsed(t0, 0, MS(1));
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_MODIFYCHANNEL), 3);
	hvrt_vmbus_disconnect();
	vs.cfg.highest_version = V(4, 0);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	ch = channel(relid);
	assert_int_equal(open_collect(ch), 0);
	assert_int_equal(hvrt_channel_set_target_vp(ch, 0), -EOPNOTSUPP);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_MODIFYCHANNEL), 3);
	hvrt_channel_close(ch);
	expect_clean();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		VT(test_open_close_repeated),
		VT(test_open_refused),
		VT(test_open_timeout),
		VT(test_open_bad_config),
		VT(test_open_user_data),
		VT(test_echo_inband),
		VT(test_gpa_direct),
		VT(test_million_packets),
		VT(test_ring_full_hyperv),
		VT(test_ring_full_qemu_space_bugs),
		VT(test_lost_interrupt),
		VT(test_spurious_interrupts),
		VT(test_host_speaks_first),
		VT(test_polled_channel),
		VT(test_recv_from_on_packet),
		VT(test_request),
		VT(test_request_nested_same_poll),
		VT(test_request_timeout),
		VT(test_bad_host_packets),
		VT(test_corrupt_read_index),
		VT(test_request_on_broken_channel),
		VT(test_request_waits_for_room),
		VT(test_completions_awaited),
		VT(test_awaited_limit),
		VT(test_signal_on_empty_to_nonempty),
		VT(test_monitor_page_signals),
		VT(test_set_target_vp),
	};
	return run_vmbus_tests(tests);
}
