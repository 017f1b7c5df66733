/*
 * Unit tests of the guest's GPADLs (vmbus/gpadl.c, through
 * hvrt_channel_gpadl_create/_teardown, and vmbus_gpadl_create and
 * vmbus_gpadl_post_raw where the public API cannot reach) against the
 * simulated host, each test in a child process of its own (vmbus_fixture.h).
 *
 * Pinned down:
 *  - 1, 26, 27 and 300 pages: one GPADL_HEADER with up to 26 PFNs, then
 *    GPADL_BODY messages of up to 28, every PFN in order, one range of
 *    offset 0 and pages x 4096 bytes, as the sim parses and counts them, on
 *    Hyper-V and on QEMU (which drops anything else);
 *  - handles are unique and never 0, also across teardowns;
 *  - a GPADL_CREATED with a failure status: -EIO, handle 0, the host holds
 *    nothing; no GPADL_CREATED: -ETIMEDOUT after exactly 5 s, the handle
 *    given back so the caller can tear it down; a late GPADL_CREATED does
 *    no harm; no GPADL_TORNDOWN: -ETIMEDOUT after 5 s;
 *  - a header QEMU drops (two ranges, by vmbus_gpadl_post_raw): -ETIMEDOUT
 *    after 5 s;
 *  - bad arguments: -EINVAL with nothing posted; no bus: -ENOTCONN;
 *  - a rescind while a create waits: -ENODEV at once; an app's GPADL on a
 *    rescinded channel is torn down before RELID_RELEASED (facts 2.5);
 *  - no GPADL left in the host, and no page left, at the end.
 */
#include "tests/unit/vmbus_fixture.h"

/* GPADL messages the sim logged from entry from on: header sizes, body sizes. */
struct gpadl_msgs {
	unsigned headers, bodies, created, teardowns, torndown;
	uint32_t header_size, body_size[16];
};

static struct gpadl_msgs gpadl_msgs_since(size_t from)
{
	struct gpadl_msgs m;
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);

	memset(&m, 0, sizeof(m));
	for (size_t i = from; i < n; i++) {
		switch (log[i].type) {
		case VMBUS_MSG_GPADL_HEADER:
			m.headers++;
			m.header_size = log[i].size;
			break;
		case VMBUS_MSG_GPADL_BODY:
			if (m.bodies < 16)
				m.body_size[m.bodies] = log[i].size;
			m.bodies++;
			break;
		case VMBUS_MSG_GPADL_CREATED:
			m.created++;
			break;
		case VMBUS_MSG_GPADL_TEARDOWN:
			m.teardowns++;
			break;
		case VMBUS_MSG_GPADL_TORNDOWN:
			m.torndown++;
			break;
		}
	}
	return m;
}

/* Creates a GPADL over pages fresh pages and checks what the host got; returns the handle. */
static uint32_t create_checked(struct hvrt_channel *ch, unsigned pages, uint8_t **buf)
{
	uint32_t handle = 0;
	size_t from = vs.nlog;

	*buf = hvrt_page_alloc(pages);
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_gpadl_create(ch, *buf, (size_t)pages * PG, &handle), 0);
	assert_elapsed(t0, 0, MS(1));
	assert_int_not_equal(handle, 0);
	const struct vmbus_sim_gpadl *g = vmbus_sim_find_gpadl(&vs, handle);
	assert_non_null(g);
	assert_true(g->complete);
	assert_int_equal(g->child_relid, hvrt_channel_offer(ch)->relid);
	assert_int_equal(g->range_count, 1);
	assert_int_equal(g->range_buflen, 8 + 8 * pages);
	assert_int_equal(g->range[0].bytes, pages * PG);
	assert_int_equal(g->range[0].offset, 0);
	assert_int_equal(g->npfn, pages);
	uint64_t pfn0 = (uint64_t)(uintptr_t)*buf / PG;
	for (unsigned i = 0; i < pages; i++)
		if (g->pfn[i] != pfn0 + i)
			fail_msg("PFN %u of %u is %#llx, not %#llx", i, pages, (unsigned long long)g->pfn[i],
				 (unsigned long long)(pfn0 + i));
	/* one header with up to 26 PFNs, then bodies of up to 28 */
	unsigned in_header = pages < 26 ? pages : 26, rest = pages - in_header;
	unsigned bodies = (rest + 27) / 28;
	struct gpadl_msgs m = gpadl_msgs_since(from);
	assert_int_equal(m.headers, 1);
	assert_int_equal(m.header_size, 20 + 8 + 8 * in_header);
	assert_int_equal(m.bodies, bodies);
	assert_int_equal(g->bodies, bodies);
	for (unsigned b = 0; b < bodies && b < 16; b++) {
		unsigned k = rest - 28 * b < 28 ? rest - 28 * b : 28;
		assert_int_equal(m.body_size[b], 16 + 8 * k);
	}
	assert_int_equal(m.created, 1);
	return handle;
}

static void sizes(void)
{
	static const unsigned pages[] = { 1, 26, 27, 300 };
	static const unsigned bodies[] = { 0, 0, 1, 10 };
	uint8_t *buf[4];
	uint32_t handle[4];
	unsigned held = 0;

	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = channel(relid);
	size_t live = hv_sim_pages_live(&sim);
	for (unsigned i = 0; i < 4; i++) {
		size_t from = vs.nlog;
		handle[i] = create_checked(ch, pages[i], &buf[i]);
		assert_int_equal(gpadl_msgs_since(from).bodies, bodies[i]);
		held += pages[i];
		assert_int_equal(vmbus_sim_gpadls(&vs), i + 1);
		assert_int_equal(vmbus_sim_gpadl_pages(&vs), held);
		for (unsigned k = 0; k < i; k++)
			assert_int_not_equal(handle[k], handle[i]);
	}
	for (unsigned i = 0; i < 4; i++) {
		size_t from = vs.nlog;
		assert_int_equal(hvrt_channel_gpadl_teardown(ch, handle[i]), 0);
		struct gpadl_msgs m = gpadl_msgs_since(from);
		assert_int_equal(m.teardowns, 1);
		assert_int_equal(m.torndown, 1);
		assert_null(vmbus_sim_find_gpadl(&vs, handle[i]));
		hvrt_page_free(buf[i], pages[i]);
	}
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	assert_int_equal(hv_sim_pages_live(&sim), live);
	expect_clean();
}

static void test_gpadl_sizes_hyperv(void **state)
{
	(void)state;
	sizes();
}

/* QEMU takes only one page-aligned range, and drops anything else unanswered: the guest's are taken. */
static void test_gpadl_sizes_qemu(void **state)
{
	(void)state;
	vmbus_sim_config_qemu(&vcfg);
	sizes();
	assert_int_equal(vs.dropped, 0);
}

/* Handles never repeat and are never 0: 200 create/teardown cycles and 12 held at once. */
static void test_gpadl_unique_handles(void **state)
{
	(void)state;
	struct hvrt_channel *ch = channel(up_echo(1));
	static uint32_t seen[212];
	unsigned nseen = 0;
	uint8_t *buf = hvrt_page_alloc(12);
	uint32_t held[12];

	for (unsigned i = 0; i < 200; i++) {
		uint32_t h;
		assert_int_equal(hvrt_channel_gpadl_create(ch, buf, PG, &h), 0);
		assert_int_not_equal(h, 0);
		seen[nseen++] = h;
		assert_int_equal(hvrt_channel_gpadl_teardown(ch, h), 0);
	}
	for (unsigned i = 0; i < 12; i++) {
		assert_int_equal(hvrt_channel_gpadl_create(ch, buf + i * PG, PG, &held[i]), 0);
		seen[nseen++] = held[i];
	}
	for (unsigned i = 0; i < nseen; i++)
		for (unsigned k = i + 1; k < nseen; k++)
			if (seen[i] == seen[k])
				fail_msg("handle %#x given twice (%u and %u)", seen[i], i, k);
	assert_int_equal(vmbus_sim_gpadls(&vs), 12);
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(hvrt_channel_gpadl_teardown(ch, held[i]), 0);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	hvrt_page_free(buf, 12);
	expect_clean();
}

/* GPADL_CREATED with a failure status: -EIO at once, handle 0, nothing held; the next one works. */
static void test_gpadl_refused(void **state)
{
	(void)state;
	struct hvrt_channel *ch = channel(up_echo(1));
	uint8_t *buf = hvrt_page_alloc(30);
	uint32_t h = 0x5555;
	vs.fault.gpadl_fail = 1;
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, 30 * PG, &h), -EIO);
	assert_elapsed(t0, 0, MS(1));
	assert_int_equal(h, 0);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	assert_logged("refused by the host: status 0x8000ffff");
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, 30 * PG, &h), 0);
	assert_int_not_equal(h, 0);
	assert_int_equal(hvrt_channel_gpadl_teardown(ch, h), 0);
	hvrt_page_free(buf, 30);
	expect_clean();
}

/*
 * No GPADL_CREATED: -ETIMEDOUT after exactly 5 s, with the handle, which the
 * host may hold (the sim does): a teardown of it succeeds, and only then may
 * the pages go.
 */
static void test_gpadl_no_answer(void **state)
{
	(void)state;
	struct hvrt_channel *ch = channel(up_echo(1));
	uint8_t *buf = hvrt_page_alloc(3);
	uint32_t h = 0;
	vs.fault.drop_answers = 1u << VMBUS_MSG_GPADL_CREATED;
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, 3 * PG, &h), -ETIMEDOUT);
	assert_elapsed(t0, MS(5000), MS(5002));
	assert_int_not_equal(h, 0);
	assert_non_null(vmbus_sim_find_gpadl(&vs, h));
	vs.fault.drop_answers = 0;
	assert_int_equal(hvrt_channel_gpadl_teardown(ch, h), 0);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	hvrt_page_free(buf, 3);
	/* the next create gets a new handle */
	uint32_t h2;
	buf = hvrt_page_alloc(1);
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, PG, &h2), 0);
	assert_int_not_equal(h2, h);
	assert_int_equal(hvrt_channel_gpadl_teardown(ch, h2), 0);
	hvrt_page_free(buf, 1);
	expect_clean();
}

/* GPADL_CREATED 6 s late: the create gave up at 5 s; the late answer does no harm. */
static void test_gpadl_late_answer(void **state)
{
	(void)state;
	struct hvrt_channel *ch = channel(up_echo(1));
	uint8_t *buf = hvrt_page_alloc(1);
	uint32_t h = 0;
	vs.fault.answer_delay = MS(6000);
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, PG, &h), -ETIMEDOUT);
	assert_elapsed(t0, MS(5000), MS(5002));
	vs.fault.answer_delay = 0;
	/* the teardown's answer queues behind the late CREATED (due 1 s from now), which changes nothing */
	t0 = now();
	assert_int_equal(hvrt_channel_gpadl_teardown(ch, h), 0);
	assert_elapsed(t0, MS(999), MS(1001));
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	hvrt_page_free(buf, 1);
	expect_clean();
}

/* No GPADL_TORNDOWN: -ETIMEDOUT after exactly 5 s. */
static void test_gpadl_teardown_no_answer(void **state)
{
	(void)state;
	struct hvrt_channel *ch = channel(up_echo(1));
	uint8_t *buf = hvrt_page_alloc(2);
	uint32_t h;
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, 2 * PG, &h), 0);
	vs.fault.drop_answers = 1u << VMBUS_MSG_GPADL_TORNDOWN;
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_gpadl_teardown(ch, h), -ETIMEDOUT);
	assert_elapsed(t0, MS(5000), MS(5002));
	vs.fault.drop_answers = 0;
	assert_int_equal(vmbus_sim_gpadls(&vs), 0); /* the host did forget it; only its answer was lost */
	hvrt_page_free(buf, 2);
	expect_clean();
}

/* QEMU drops a header of two ranges without an answer: -ETIMEDOUT after 5 s (vmbus_gpadl_post_raw). */
static void test_gpadl_dropped_header_qemu(void **state)
{
	(void)state;
	vmbus_sim_config_qemu(&vcfg);
	uint32_t relid = up_echo(1);
	uint8_t *buf = hvrt_page_alloc(2);
	uint8_t msg[20 + 2 * 16];
	struct vmbus_msg_gpadl_header h = {
		.header.type = VMBUS_MSG_GPADL_HEADER, .child_relid = relid, .gpadl = 0x7f000001,
		.range_buflen = 2 * 16, .range_count = 2,
	};
	struct vmbus_gpa_range r = { .byte_count = PG, .byte_offset = 0 };
	uint64_t pfn = (uint64_t)(uintptr_t)buf / PG;
	memcpy(msg, &h, 20);
	memcpy(msg + 20, &r, 8);
	memcpy(msg + 28, &pfn, 8);
	pfn++;
	memcpy(msg + 36, &r, 8);
	memcpy(msg + 44, &pfn, 8);
	uint64_t t0 = now();
	assert_int_equal(vmbus_gpadl_post_raw(0x7f000001, msg, sizeof(msg), VMBUS_REPLY_TIMEOUT_MS), -ETIMEDOUT);
	assert_elapsed(t0, MS(5000), MS(5002));
	assert_int_equal(vs.dropped, 1);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	/* Hyper-V takes the same header (two whole-page ranges) */
	hvrt_page_free(buf, 2);
	expect_clean();
}

/* Bad arguments: -EINVAL, handle 0, nothing posted. No bus: -ENOTCONN. */
static void test_gpadl_bad_arguments(void **state)
{
	(void)state;
	struct hvrt_channel *ch = channel(up_echo(1));
	uint8_t *buf = hvrt_page_alloc(2);
	uint32_t h;
	size_t logged = vs.nlog;
	unsigned posted = sim.nposted;

	h = 7;
	assert_int_equal(hvrt_channel_gpadl_create(ch, NULL, PG, &h), -EINVAL);
	assert_int_equal(h, 0);
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf + 8, PG, &h), -EINVAL);
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf + PG / 2, PG, &h), -EINVAL);
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, 0, &h), -EINVAL);
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, PG + 1, &h), -EINVAL);
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, PG - 8, &h), -EINVAL);
	/* range_buflen is 16 bits: 8 + 8 x 8191 does not fit (the pages are never touched) */
	assert_int_equal(hvrt_channel_gpadl_create(ch, (void *)(uintptr_t)0x40000000, (size_t)8191 * PG, &h), -EINVAL);
	assert_int_equal(h, 0);
	assert_int_equal(vs.nlog, logged);
	assert_int_equal(sim.nposted, posted);
	/* not connected: nothing to create a GPADL on */
	uint32_t relid = hvrt_channel_offer(ch)->relid;
	hvrt_vmbus_disconnect();
	assert_int_equal(vmbus_gpadl_create(relid, buf, PG, &h), -ENOTCONN);
	assert_int_equal(vmbus_gpadl_teardown(relid, 1), -ENOTCONN);
	assert_true(hvrt_channel_gpadl_create(ch, buf, PG, &h) < 0); /* a dead channel object */
	hvrt_page_free(buf, 2);
	expect_clean();
}

/* The host rescinds the channel the moment it sees the GPADL header. */
static uint32_t rescind_on_header;

static void rescind_on_header_trace(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	if (dir == VMBUS_SIM_TO_HOST && kind == VMBUS_SIM_TRACE_MESSAGE &&
	    msg_type(bytes, len) == VMBUS_MSG_GPADL_HEADER && relid == rescind_on_header) {
		rescind_on_header = 0;
		vmbus_sim_rescind(&vs, relid);
	}
}

/*
 * An app's GPADL on a channel the host rescinds: its driver's remove() tears
 * it down, and RELID_RELEASED comes after that (facts 2.5: GPADLs first).
 */
static uint32_t app_handle;
static unsigned app_removes;
static int app_teardown_result;

static int app_probe(struct hvrt_channel *ch, void *ctx)
{
	(void)ch;
	(void)ctx;
	return 0;
}

static void app_remove(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	app_removes++;
	if (app_handle)
		app_teardown_result = hvrt_channel_gpadl_teardown(ch, app_handle);
	app_handle = 0;
}

static void test_gpadl_rescind_remove_tears_down(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = channel(relid);
	uint8_t *buf = hvrt_page_alloc(1);
	static struct hvrt_vmbus_driver drv = { .name = "app", .probe = app_probe, .remove = app_remove };
	assert_int_equal(hvrt_guid_parse(VMBUS_SIM_ECHO_CLASS, &drv.class_id), 0);
	assert_int_equal(hvrt_vmbus_register(&drv), 0);
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, PG, &app_handle), 0);
	vmbus_sim_rescind(&vs, relid);
	hvrt_poll();
	assert_int_equal(app_removes, 1);
	assert_int_equal(app_teardown_result, 0);
	assert_int_equal(vs.releases, 1);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	expect_clean(); /* torn down before RELID_RELEASED */
	hvrt_page_free(buf, 1);
	hvrt_vmbus_unregister(&drv);
}

/*
 * A rescind while a create waits: the create ends at once (-ENODEV, or 0 if
 * GPADL_CREATED came with the rescind), with the handle; the app tears it
 * down; the relid is released only once nothing of ours is using the
 * channel and no GPADL of it is held (facts 2.5).
 */
static void test_gpadl_rescind_during_create(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = channel(relid);
	uint8_t *buf = hvrt_page_alloc(1);
	trace_fn = rescind_on_header_trace;
	rescind_on_header = relid;
	uint32_t h = 0;
	uint64_t t0 = now();
	int err = hvrt_channel_gpadl_create(ch, buf, PG, &h);
	assert_elapsed(t0, 0, MS(1));
	assert_true(err == -ENODEV || err == 0);
	assert_int_not_equal(h, 0); /* the header reached the host */
	expect_clean();             /* nothing released under the create's feet */
	assert_int_equal(hvrt_channel_gpadl_teardown(ch, h), 0);
	hvrt_poll();
	assert_int_equal(vs.releases, 1);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	hvrt_page_free(buf, 1);
	expect_clean();
}

/*
 * An app's GPADL on a channel it never opened, without a driver: the host
 * rescinds it. facts 2.5: the guest tears its GPADLs down, then sends
 * RELID_RELEASED; so RELID_RELEASED waits for the app's teardown (or the
 * guest tears the GPADL down itself): the host must never see the release
 * with a GPADL of the relid still held.
 */
static void test_gpadl_release_waits_for_teardown(void **state)
{
	(void)state;
	struct hvrt_channel *ch = channel(up_echo(1));
	uint8_t *buf = hvrt_page_alloc(1);
	uint32_t h;
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, PG, &h), 0);
	vmbus_sim_rescind(&vs, hvrt_channel_offer(ch)->relid);
	hvrt_poll();
	assert_true(hvrt_channel_rescinded(ch));
	if (vmbus_sim_find_gpadl(&vs, h)) {
		/* still held: the app tears it down, then the relid may go */
		assert_int_equal(hvrt_channel_gpadl_teardown(ch, h), 0);
		hvrt_poll();
	}
	assert_int_equal(vs.releases, 1);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	expect_clean();
	hvrt_page_free(buf, 1);
}

/* Many GPADLs of every size, the rings of channels among them: at the end none is left, nor a page. */
static void test_gpadl_no_leak(void **state)
{
	(void)state;
	uint32_t relid = up_echo(2);
	struct hvrt_channel *a = channel(relid), *b = channel(relid + 1);
	size_t live = hv_sim_pages_live(&sim);
	uint8_t *buf = hvrt_page_alloc(64);
	for (unsigned round = 0; round < 20; round++) {
		uint32_t h[4];
		assert_int_equal(open_collect(a), 0);
		for (unsigned i = 0; i < 4; i++)
			assert_int_equal(hvrt_channel_gpadl_create(i % 2 ? a : b, buf + 16 * i * PG,
								   (size_t)(1 + (round * 7 + i * 5) % 16) * PG, &h[i]),
					 0);
		assert_int_equal(vmbus_sim_gpadls(&vs), 5);
		for (unsigned i = 0; i < 4; i++)
			assert_int_equal(hvrt_channel_gpadl_teardown(i % 2 ? a : b, h[i]), 0);
		hvrt_channel_close(a);
		assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	}
	hvrt_page_free(buf, 64);
	assert_int_equal(hv_sim_pages_live(&sim), live);
	expect_clean();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		VT(test_gpadl_sizes_hyperv),
		VT(test_gpadl_sizes_qemu),
		VT(test_gpadl_unique_handles),
		VT(test_gpadl_refused),
		VT(test_gpadl_no_answer),
		VT(test_gpadl_late_answer),
		VT(test_gpadl_teardown_no_answer),
		VT(test_gpadl_dropped_header_qemu),
		VT(test_gpadl_bad_arguments),
		VT(test_gpadl_rescind_remove_tears_down),
		VT(test_gpadl_rescind_during_create),
		VT(test_gpadl_release_waits_for_teardown),
		VT(test_gpadl_no_leak),
	};
	return run_vmbus_tests(tests);
}
