/*
 * Callbacks that call back in, and work that comes while something waits
 * (docs/vmbus.md, vmbus/events.c "Who runs where"). Each scenario is one a
 * review reproduced against the previous code: an open left OPEN on freed
 * rings by a close or a disconnect from another channel's on_packet, a
 * channel brought back from RELEASED, a declining driver probed twice, a
 * rescind during a probe's GPADL leaving the relid held for good, and a
 * greeting from a host that speaks first read only when the app's sleep
 * ended.
 */
#include "tests/unit/vmbus_fixture.h"
#include "tests/hostsim/runtime_sim.h"

#define HEARTBEAT_CLASS "57164f39-9115-4e78-ab55-382f3bd5422d"
#define HEARTBEAT_INSTANCE "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0"

static struct hvrt_guid guid_of(const char *text)
{
	struct hvrt_guid g;
	assert_int_equal(hvrt_guid_parse(text, &g), 0);
	return g;
}

/* ---- a probe from the app's sleep opens a channel whose host speaks first ---- */

static uint64_t first_packet_at;

static void timed_collect(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	if (!first_packet_at)
		first_packet_at = now();
	collect(ch, pkt, ctx);
}

static void greet_on_open(void *ctx, struct vmbus_sim *v, uint32_t relid, enum vmbus_sim_event ev)
{
	(void)ctx;
	if (ev == VMBUS_SIM_OPENED)
		assert_int_equal(vmbus_sim_send(v, relid, VMBUS_PACKET_DATA_INBAND, 0, 0x7e11, "hello guest", 11), 0);
}

static int greeted_probe(struct hvrt_channel *ch, void *ctx)
{
	struct hvrt_channel_config c = { .on_packet = timed_collect };
	(void)ctx;
	return hvrt_channel_open(ch, &c);
}

static void close_remove(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	assert_int_equal(hvrt_channel_close(ch), 0);
}

/*
 * The greeting lands while the channel is OPENING; its signal is not taken
 * then, and the host will not signal again. The open notes the channel, and
 * the sleep must not halt with that note pending: the greeting is read at
 * once, not when the 1 s sleep ends.
 */
static void test_greeting_read_before_halting(void **state)
{
	(void)state;
	up_echo(1);
	static struct hvrt_vmbus_driver hb = { .name = "hb", .probe = greeted_probe, .remove = close_remove };
	hb.class_id = guid_of(HEARTBEAT_CLASS);
	assert_int_equal(hvrt_vmbus_register(&hb), 0);
	struct vmbus_sim_device d;
	vmbus_sim_device_init(&vs, &d, HEARTBEAT_CLASS, HEARTBEAT_INSTANCE);
	d.event = greet_on_open;
	uint32_t relid = vmbus_sim_add_device(&vs, &d); /* hot-added: probed from the sleep's poll */
	first_packet_at = 0;
	uint64_t t0 = now();
	hv_stimer_sleep_until(t0 + MS(1000));
	assert_int_equal(ngot, 1);
	assert_memory_equal(got[0].data, "hello guest", 11);
	assert_true(first_packet_at - t0 < MS(5));
	assert_ptr_equal(hvrt_channel_driver(channel(relid)), &hb);
	assert_int_equal(hvrt_vmbus_unregister(&hb), 0);
	expect_clean();
}

/* ---- calls from an on_packet that run while an open of another channel waits ---- */

static struct hvrt_channel *ch_a, *ch_b;
static uint32_t relid_a, relid_b;
static int from_callback = 1; /* what the call from the callback returned */
static bool poked;

static void close_a(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ch;
	(void)pkt;
	(void)ctx;
	from_callback = hvrt_channel_close(ch_a);
}

static void disconnect_now(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ch;
	(void)pkt;
	(void)ctx;
	from_callback = hvrt_vmbus_disconnect();
}

/* B's host sends a packet when A's open (or close) reaches it, so B's on_packet runs inside A's wait. */
static uint32_t poke_on;

static void poke_b(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	if (dir == VMBUS_SIM_TO_HOST && kind == VMBUS_SIM_TRACE_MESSAGE && msg_type(bytes, len) == poke_on &&
	    relid == relid_a && !poked) {
		poked = true;
		assert_int_equal(vmbus_sim_send(&vs, relid_b, VMBUS_PACKET_DATA_INBAND, 0, 9, "poke", 4), 0);
	}
}

static void two_channels(void (*b_on_packet)(struct hvrt_channel *, const struct hvrt_packet *, void *))
{
	relid_a = up_echo(2);
	relid_b = relid_a + 1;
	ch_a = channel(relid_a);
	ch_b = channel(relid_b);
	struct hvrt_channel_config cb = { .on_packet = b_on_packet };
	assert_int_equal(hvrt_channel_open(ch_b, &cb), 0);
	from_callback = 1;
	poked = false;
}

/* A close of A from B's on_packet during A's open is refused; the open completes and A works. */
static void test_close_from_callback_during_open(void **state)
{
	(void)state;
	two_channels(close_a);
	poke_on = VMBUS_MSG_OPENCHANNEL;
	trace_fn = poke_b;
	assert_int_equal(open_collect(ch_a), 0);
	trace_fn = NULL;
	assert_true(poked);
	assert_int_equal(from_callback, -EDEADLK);
	assert_true(hvrt_channel_is_open(ch_a));
	assert_int_equal(hvrt_channel_send(ch_a, "ping", 4, 1, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	assert_int_equal(hvrt_channel_close(ch_a), 0);
	assert_int_equal(hvrt_channel_close(ch_b), 0);
	expect_clean();
}

/* A disconnect from B's on_packet during A's open is refused too; the bus and A stay. */
static void test_disconnect_from_callback_during_open(void **state)
{
	(void)state;
	two_channels(disconnect_now);
	poke_on = VMBUS_MSG_OPENCHANNEL;
	trace_fn = poke_b;
	assert_int_equal(open_collect(ch_a), 0);
	trace_fn = NULL;
	assert_int_equal(from_callback, -EDEADLK);
	assert_int_not_equal(hvrt_vmbus_version(), 0);
	assert_true(hvrt_channel_is_open(ch_a));
	assert_int_equal(hvrt_channel_close(ch_a), 0);
	assert_int_equal(hvrt_channel_close(ch_b), 0);
	expect_clean();
}

/* A disconnect from B's on_packet while main's close of A waits: refused; A ends OFFERED, not RELEASED. */
static void test_disconnect_from_callback_during_close(void **state)
{
	(void)state;
	two_channels(disconnect_now);
	assert_int_equal(open_collect(ch_a), 0);
	poke_on = VMBUS_MSG_CLOSECHANNEL;
	trace_fn = poke_b;
	assert_int_equal(hvrt_channel_close(ch_a), 0);
	trace_fn = NULL;
	assert_true(poked);
	assert_int_equal(from_callback, -EDEADLK);
	assert_false(hvrt_channel_is_open(ch_a));
	assert_int_equal(open_collect(ch_a), 0); /* the same object opens again: it was never released */
	assert_int_equal(hvrt_channel_close(ch_a), 0);
	assert_int_equal(hvrt_channel_close(ch_b), 0);
	expect_clean();
}

/* From the app's main code, disconnect works, and then the old channel objects are dead for good. */
static void test_dead_after_disconnect(void **state)
{
	(void)state;
	relid_a = up_echo(1);
	ch_a = channel(relid_a);
	assert_int_equal(open_collect(ch_a), 0);
	assert_int_equal(hvrt_vmbus_disconnect(), 0);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_ptr_not_equal(channel(relid_a), ch_a);
	assert_int_equal(open_collect(ch_a), -ENODEV);
	assert_int_equal(hvrt_channel_send(ch_a, "x", 1, 1, false), -ENODEV);
	assert_int_equal(hvrt_channel_close(ch_a), 0);
	expect_clean();
}

/* ---- drivers ---- */

static unsigned probes_of[64];
static uint32_t declined;

static int pick_probe(struct hvrt_channel *ch, void *ctx)
{
	uint32_t r = hvrt_channel_offer(ch)->relid;
	(void)ctx;
	probes_of[r]++;
	return r == declined ? -ENOTSUP : open_collect(ch);
}

static bool hot_added;

static void hot_add_on_open(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	(void)relid;
	if (dir == VMBUS_SIM_TO_HOST && kind == VMBUS_SIM_TRACE_MESSAGE && msg_type(bytes, len) == VMBUS_MSG_OPENCHANNEL &&
	    !hot_added) {
		hot_added = true;
		declined = vmbus_sim_add_echo(&vs, 2);
	}
}

/* An offer that comes while register's probe waits: probed once, from the app's next poll, not inside the wait. */
static void test_offer_during_register_probed_once(void **state)
{
	(void)state;
	uint32_t e1 = up_echo(1);
	static struct hvrt_vmbus_driver drv = { .name = "pick", .probe = pick_probe, .remove = close_remove };
	drv.class_id = guid_of(VMBUS_SIM_ECHO_CLASS);
	memset(probes_of, 0, sizeof(probes_of));
	hot_added = false;
	trace_fn = hot_add_on_open;
	assert_int_equal(hvrt_vmbus_register(&drv), 0);
	trace_fn = NULL;
	assert_true(hot_added);
	assert_int_equal(probes_of[e1], 1);
	hvrt_poll();
	hvrt_poll();
	assert_int_equal(probes_of[declined], 1);
	assert_int_equal(hvrt_vmbus_unregister(&drv), 0);
	expect_clean();
}

/* A rescind while register's probe creates the ring GPADL: the open fails, remove() runs later, the relid goes back. */
static uint32_t rescind_at_header;

static void rescind_on_header(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	if (dir == VMBUS_SIM_TO_HOST && kind == VMBUS_SIM_TRACE_MESSAGE && msg_type(bytes, len) == VMBUS_MSG_GPADL_HEADER &&
	    relid == rescind_at_header) {
		rescind_at_header = 0;
		vmbus_sim_rescind(&vs, relid);
	}
}

static int open_probe_result;

static int recording_probe(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	open_probe_result = open_collect(ch);
	return open_probe_result;
}

static unsigned removes;

static void counting_remove(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	removes++;
	assert_int_equal(hvrt_channel_close(ch), 0);
}

static void test_rescind_during_probe_open(void **state)
{
	(void)state;
	uint32_t e1 = up_echo(1);
	struct hvrt_channel *ch = channel(e1);
	static struct hvrt_vmbus_driver drv = { .name = "t", .probe = recording_probe, .remove = counting_remove };
	drv.class_id = guid_of(VMBUS_SIM_ECHO_CLASS);
	rescind_at_header = e1;
	removes = 0;
	trace_fn = rescind_on_header;
	assert_int_equal(hvrt_vmbus_register(&drv), 0);
	trace_fn = NULL;
	assert_int_equal(open_probe_result, -ENODEV);
	assert_int_equal(removes, 0); /* not inside the probe's wait */
	hvrt_poll();
	assert_int_equal(vs.releases, 1);
	assert_null(channel(e1));
	assert_true(hvrt_channel_rescinded(ch));
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	assert_int_equal(hvrt_vmbus_unregister(&drv), 0);
	expect_clean();
}

/* ---- from a third review: other callbacks, exit, and work for apps that only block in hvrt calls ---- */

static int nested_open = 1;

static void open_from_timer(void *ctx, const struct hvrt_stimer_event *ev)
{
	(void)ctx;
	(void)ev;
	vs.fault.answer_delay = 0;
	nested_open = open_collect(ch_a);
}

/*
 * An app's synthetic timer fires while a refused open gives its rings back
 * and opens the same channel: it is refused (a wait of ours is in progress),
 * and the channel ends closed with nothing left, not OPEN on freed rings.
 */
static void test_open_from_timer_during_failed_open(void **state)
{
	(void)state;
	relid_a = up_echo(1);
	ch_a = channel(relid_a);
	size_t pages = hv_sim_pages_live(&sim);
	vs.fault.open_fail = 1;
	vs.fault.answer_delay = MS(10);
	uint64_t t;
	assert_int_equal(hvrt_reftime(&t), 0);
	assert_int_equal(hvrt_stimer_start(1, 5, false, t + MS(25), open_from_timer, NULL), 0);
	assert_int_equal(open_collect(ch_a), -EIO);
	assert_int_equal(nested_open, -EDEADLK);
	assert_false(hvrt_channel_is_open(ch_a));
	assert_int_equal(hv_sim_pages_live(&sim), pages);
	assert_int_equal(hvrt_stimer_stop(1), 0);
	assert_int_equal(open_collect(ch_a), 0);
	assert_int_equal(hvrt_channel_close(ch_a), 0);
	expect_clean();
}

static bool a_removed, a_packet_after_remove;
static int close_in_remove = 1;

static void a_on_packet(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ch;
	(void)pkt;
	(void)ctx;
	if (a_removed)
		a_packet_after_remove = true;
}

static void exit_now(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ch;
	(void)pkt;
	(void)ctx;
	assert_true(runtime_sim_shutdown()); /* what exit() does */
}

static int a_probe(struct hvrt_channel *ch, void *ctx)
{
	struct hvrt_channel_config c = { .on_packet = a_on_packet };
	(void)ctx;
	return hvrt_channel_open(ch, &c);
}

static void a_remove(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	a_removed = true;
	close_in_remove = hvrt_channel_close(ch);
}

static void send_a_on_unload(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	(void)relid;
	if (dir == VMBUS_SIM_TO_HOST && kind == VMBUS_SIM_TRACE_MESSAGE && msg_type(bytes, len) == VMBUS_MSG_UNLOAD)
		vmbus_sim_send(&vs, relid_a, VMBUS_PACKET_DATA_INBAND, 0, 5, "late", 4);
}

/*
 * exit() from an on_packet: remove() runs and its close works (nothing
 * below resumes), every channel is closed before UNLOAD, and no on_packet
 * runs after its driver's remove().
 */
static void test_exit_from_on_packet(void **state)
{
	(void)state;
	relid_a = up_echo(2);
	relid_b = relid_a + 1;
	ch_a = channel(relid_a);
	ch_b = channel(relid_b);
	static struct hvrt_vmbus_driver drv = { .name = "a", .probe = a_probe, .remove = a_remove };
	drv.class_id = guid_of(VMBUS_SIM_ECHO_CLASS);
	struct hvrt_channel_config cb = { .on_packet = exit_now };
	assert_int_equal(hvrt_channel_open(ch_b, &cb), 0); /* the app's own: the driver takes only A */
	assert_int_equal(hvrt_vmbus_register(&drv), 0);
	assert_ptr_equal(hvrt_channel_driver(ch_a), &drv);
	unsigned closes = vmbus_sim_count(&vs, VMBUS_MSG_CLOSECHANNEL);
	trace_fn = send_a_on_unload;
	assert_int_equal(vmbus_sim_send(&vs, relid_b, VMBUS_PACKET_DATA_INBAND, 0, 9, "bye", 3), 0);
	hvrt_poll();
	trace_fn = NULL;
	assert_true(a_removed);
	assert_int_equal(close_in_remove, 0);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_CLOSECHANNEL), closes + 2);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_UNLOAD), 1);
	assert_false(a_packet_after_remove);
	assert_int_equal(hvrt_vmbus_version(), 0);
}

static unsigned rescinds_told;

static void count_rescind(struct hvrt_channel *ch, void *ctx)
{
	(void)ch;
	(void)ctx;
	rescinds_told++;
}

/* An app that only ever blocks in hvrt calls (requests) still hears of a rescind, and the relid goes back. */
static void test_offer_work_in_blocking_calls(void **state)
{
	(void)state;
	relid_a = up_echo(2);
	relid_b = relid_a + 1;
	ch_a = channel(relid_a);
	ch_b = channel(relid_b);
	struct hvrt_channel_config cb = { .on_packet = collect, .on_rescind = count_rescind };
	assert_int_equal(open_collect(ch_a), 0);
	assert_int_equal(hvrt_channel_open(ch_b, &cb), 0);
	vmbus_sim_rescind(&vs, relid_b);
	uint8_t resp[16];
	for (int i = 0; i < 3; i++)
		assert_true(hvrt_channel_request(ch_a, "ping", 4, resp, sizeof(resp), 100) > 0);
	assert_int_equal(rescinds_told, 1);
	assert_int_equal(hvrt_channel_send(ch_b, "x", 1, 1, false), -ENODEV);
	assert_int_equal(hvrt_channel_close(ch_b), 0);
	assert_int_equal(vs.releases, 1);
	assert_int_equal(hvrt_channel_close(ch_a), 0);
	expect_clean();
}

static int register_result = 1;
static struct hvrt_vmbus_driver timer_drv;

static void register_from_timer(void *ctx, const struct hvrt_stimer_event *ev)
{
	(void)ctx;
	(void)ev;
	register_result = hvrt_vmbus_register(&timer_drv);
}

/* A driver registered from a timer that fires inside a request's wait: refused, no probe inside the wait. */
static void test_register_from_timer_in_wait(void **state)
{
	(void)state;
	relid_a = up_echo(2);
	ch_a = channel(relid_a);
	assert_int_equal(open_collect(ch_a), 0);
	timer_drv = (struct hvrt_vmbus_driver){ .name = "t", .probe = a_probe, .remove = a_remove };
	timer_drv.class_id = guid_of(VMBUS_SIM_ECHO_CLASS);
	vmbus_sim_stall(&vs, relid_a, true);
	uint64_t t;
	assert_int_equal(hvrt_reftime(&t), 0);
	assert_int_equal(hvrt_stimer_start(1, 5, false, t + MS(10), register_from_timer, NULL), 0);
	uint8_t resp[8];
	assert_int_equal(hvrt_channel_request(ch_a, "p", 1, resp, sizeof(resp), 50), -ETIMEDOUT);
	assert_int_equal(register_result, -EDEADLK);
	vmbus_sim_stall(&vs, relid_a, false);
	assert_int_equal(hvrt_stimer_stop(1), 0);
	hvrt_poll();
	assert_int_equal(hvrt_channel_close(ch_a), 0);
	expect_clean();
}

static unsigned unloads_by_exit;

static void exit_in_remove(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	assert_int_equal(hvrt_channel_close(ch), 0);
	assert_true(runtime_sim_shutdown());
	unloads_by_exit = vmbus_sim_count(&vs, VMBUS_MSG_UNLOAD);
}

/* exit() from a remove() that a disconnect runs: the host still hears UNLOAD before exit goes on. */
static void test_exit_during_disconnect(void **state)
{
	(void)state;
	relid_a = up_echo(1);
	static struct hvrt_vmbus_driver drv = { .name = "x", .probe = a_probe, .remove = exit_in_remove };
	drv.class_id = guid_of(VMBUS_SIM_ECHO_CLASS);
	assert_int_equal(hvrt_vmbus_register(&drv), 0);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_UNLOAD), 0);
	hvrt_vmbus_disconnect();
	assert_int_equal(unloads_by_exit, 1);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_UNLOAD_RESPONSE), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		VT(test_greeting_read_before_halting),
		VT(test_close_from_callback_during_open),
		VT(test_disconnect_from_callback_during_open),
		VT(test_disconnect_from_callback_during_close),
		VT(test_dead_after_disconnect),
		VT(test_offer_during_register_probed_once),
		VT(test_rescind_during_probe_open),
		VT(test_open_from_timer_during_failed_open),
		VT(test_exit_from_on_packet),
		VT(test_offer_work_in_blocking_calls),
		VT(test_register_from_timer_in_wait),
		VT(test_exit_during_disconnect),
	};
	return run_vmbus_tests(tests);
}
