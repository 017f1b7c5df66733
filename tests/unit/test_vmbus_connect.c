/*
 * Unit tests of the guest's VMBus connection (vmbus/connection.c, through
 * <hvrt/vmbus.h>) against the simulated host (tests/hostsim/vmbus_sim.h),
 * each test in a child process of its own (vmbus_fixture.h).
 *
 * Pinned down:
 *  - Hyper-V: 5.3 on connection 4 with msg_sint 2, then every message on the
 *    connection id the VERSION_RESPONSE returned;
 *  - QEMU 7.2: 5.3 to 5.0 refused at the post (no connection 4), 4.1
 *    refused, 4.0 accepted with a 12-byte VERSION_RESPONSE, no timeout;
 *  - every version from 5.3 down to 0.13 negotiated when the host refuses
 *    the newer ones, on both presets, each with an echo packet both ways
 *    (interrupt page and event connection 2 below 2.4) and a disconnect
 *    (UNLOAD from 3.0 only) and reconnection between them;
 *  - a failed connection_state moves to the next version (all failed:
 *    -EPROTONOSUPPORT); a 5.x answer without a connection id likewise; no
 *    answer ends the attempt after exactly 1 s of reference time with
 *    -ETIMEDOUT (docs/vmbus.md: a late answer names no version); a busy
 *    message queue is retried; no SynIC or no Hyper-V: -ENODEV with nothing
 *    posted; every version refused: -EPROTONOSUPPORT, newest first;
 *  - ALLOFFERS_DELIVERED that never comes: -ETIMEDOUT after 5 s, UNLOAD;
 *  - a failed connection is remembered (later calls post nothing) until
 *    hvrt_vmbus_disconnect(), after which the bus connects again;
 *  - UNLOAD from the shutdown hook (runtime_sim_shutdown) after closing
 *    every channel, answered; an unanswered UNLOAD costs its 5 s; the hook
 *    is gone after a disconnect and back after the next connection;
 *  - a reconnection reuses the interrupt and monitor pages and allocates
 *    none;
 *  - late answers within the timeouts cost exactly their delay;
 *  - a boot CPU whose VP index is not 0: the contact, the open and
 *    MODIFYCHANNEL name it, and only it.
 */
#include "tests/unit/vmbus_fixture.h"

static const uint32_t versions[] = {
	V(5, 3), V(5, 2), V(5, 1), V(5, 0), V(4, 1), V(4, 0), V(3, 0), V(2, 4), V(1, 1), V(0, 13),
};
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))

/* The INITIATE_CONTACTs the guest posted (hv_sim records every attempt): version, connection, status. */
struct contact {
	uint32_t version, connection;
	uint16_t status;
	struct vmbus_msg_initiate_contact msg;
};

static unsigned contacts(struct contact *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < sim.nposted && i < HV_SIM_POSTED_MAX; i++) {
		const struct hv_sim_posted *p = &sim.posted[i];
		if (p->size < 4 || u32_at(p->payload, 0) != VMBUS_MSG_INITIATE_CONTACT)
			continue;
		if (n < max) {
			out[n].connection = p->connection;
			out[n].status = p->status;
			memset(&out[n].msg, 0, sizeof(out[n].msg));
			memcpy(&out[n].msg, p->payload, p->size < sizeof(out[n].msg) ? p->size : sizeof(out[n].msg));
			out[n].version = out[n].msg.version;
		}
		n++;
	}
	return n;
}

/* Every guest message after the first, in the sim's log, went to connection conn. */
static void assert_later_messages_on(uint32_t conn)
{
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);
	bool contact_seen = false;

	for (size_t i = 0; i < n; i++) {
		if (log[i].to_guest)
			continue;
		if (log[i].type == VMBUS_MSG_INITIATE_CONTACT) {
			contact_seen = true;
			continue;
		}
		assert_true(contact_seen);
		if (log[i].connection != conn)
			fail_msg("message %zu (type %u) went to connection %#x, not %#x", i, log[i].type,
				 log[i].connection, conn);
	}
}

/* One echo round trip on relid with collect(): an in-band packet and its echo. */
static void echo_once(uint32_t relid)
{
	struct hvrt_channel *ch = channel(relid);
	static const char text[] = "ping at this version";

	assert_non_null(ch);
	assert_int_equal(open_collect(ch), 0);
	ngot = 0;
	assert_int_equal(hvrt_channel_send(ch, text, sizeof(text), 0x77, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].type, VMBUS_PACKET_DATA_INBAND);
	assert_int_equal(got[0].trans_id, 0x77);
	assert_int_equal(got[0].len, (sizeof(text) + 7) & ~7u); /* the echo keeps the padding */
	assert_memory_equal(got[0].data, text, sizeof(text));
	hvrt_channel_close(ch);
}

/* ---- the presets ---- */

/* Hyper-V: 5.3 on connection 4 (msg_sint 2), then everything on 0x800074; 196-byte offers parsed. */
static void test_connect_hyperv(void **state)
{
	(void)state;
	boot();
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	uint64_t t0 = now();
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_elapsed(t0, 0, MS(1));
	assert_int_equal(hvrt_vmbus_version(), V(5, 3));
	assert_int_equal(vs.version, V(5, 3));

	struct contact c[4];
	assert_int_equal(contacts(c, 4), 1);
	assert_int_equal(c[0].connection, VMBUS_MESSAGE_CONNECTION_5);
	assert_int_equal(c[0].status, HV_STATUS_SUCCESS);
	assert_int_equal(c[0].msg.msg_sint, 2);
	assert_int_equal(c[0].msg.msg_vtl, 0);
	assert_int_equal(c[0].msg.target_vcpu, 0);
	assert_true(c[0].msg.monitor_page1 && c[0].msg.monitor_page2);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_VERSION_RESPONSE), 1);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_REQUESTOFFERS), 1);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_ALLOFFERS_DELIVERED), 1);

	/* the offer is there, and a channel's whole life uses the returned connection */
	struct hvrt_channel *ch = channel(relid);
	assert_non_null(ch);
	assert_int_equal(hvrt_channel_offer(ch)->connection_id, relid | 2u << 12);
	echo_once(relid);
	assert_later_messages_on(0x800074);
	assert_true(vmbus_sim_count(&vs, VMBUS_MSG_GPADL_TEARDOWN) == 1);
	/* a second call is a no-op */
	unsigned logged = (unsigned)vs.nlog;
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(vs.nlog, logged);
	assert_not_logged("vmbus");
	expect_clean();
}

/* QEMU 7.2: 5.x refused at the post, 4.1 refused, 4.0 accepted with 12 bytes; no timeout on the way. */
static void test_connect_qemu(void **state)
{
	(void)state;
	vmbus_sim_config_qemu(&vcfg);
	boot();
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	uint64_t t0 = now();
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_elapsed(t0, 0, MS(1));
	assert_int_equal(hvrt_vmbus_version(), V(4, 0));

	struct contact c[NVERSIONS];
	assert_int_equal(contacts(c, NVERSIONS), 6);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(c[i].version, versions[i]);
		assert_int_equal(c[i].connection, VMBUS_MESSAGE_CONNECTION_5);
		assert_int_equal(c[i].status, HV_STATUS_INVALID_CONNECTION_ID);
	}
	for (unsigned i = 4; i < 6; i++) {
		assert_int_equal(c[i].version, versions[i]);
		assert_int_equal(c[i].connection, VMBUS_MESSAGE_CONNECTION);
		assert_int_equal(c[i].status, HV_STATUS_SUCCESS);
		assert_true(c[i].msg.interrupt_page != 0); /* below 5.0 the contact names the interrupt page */
	}
	assert_int_equal(vs.contacts, 2);
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);
	assert_true(n >= 5);
	assert_int_equal(log[1].type, VMBUS_MSG_VERSION_RESPONSE);
	assert_int_equal(log[1].size, 12);
	assert_int_equal(log[3].type, VMBUS_MSG_VERSION_RESPONSE);
	assert_int_equal(log[3].size, 12);
	assert_later_messages_on(VMBUS_MESSAGE_CONNECTION);
	/* 200-byte offers: the connection id and the dedicated flag are read */
	struct hvrt_channel *ch = channel(relid);
	assert_non_null(ch);
	assert_int_equal(hvrt_channel_offer(ch)->connection_id, 16 + relid);
	assert_true(hvrt_channel_offer(ch)->dedicated_interrupt);
	echo_once(relid);
	assert_not_logged("no answer");
	assert_not_logged("failed");
	expect_clean();
}

/*
 * Each version from 5.3 to 0.13, the newer ones refused (Hyper-V: answered 0;
 * QEMU: 5.x on connection 4 fails at the post): negotiated in that many
 * contacts without a timeout, the offers parsed as that version has them, an
 * echo both ways, and a clean disconnect before the next.
 */
static void each_version(bool qemu)
{
	if (qemu)
		vmbus_sim_config_qemu(&vcfg);
	boot();
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	unsigned first = qemu ? 5 : 0; /* QEMU's highest is 4.0 */

	for (unsigned i = first; i < NVERSIONS; i++) {
		vs.cfg.highest_version = versions[i];
		unsigned before = vs.contacts;
		uint64_t t0 = now();
		int err = hvrt_vmbus_connect();
		if (err)
			fail_msg("version %#x: connect gives %d", versions[i], err);
		assert_elapsed(t0, 0, MS(2));
		assert_int_equal(hvrt_vmbus_version(), versions[i]);
		/* QEMU refuses 5.x at the post: only 4.1 and lower reach it */
		unsigned want = qemu ? i + 1 - 4 : i + 1;
		assert_int_equal(vs.contacts - before, want);
		struct hvrt_channel *ch = channel(relid);
		assert_non_null(ch);
		const struct hvrt_vmbus_offer *o = hvrt_channel_offer(ch);
		if (versions[i] == V(0, 13) && !qemu) {
			/* 190 bytes: no connection id, so the shared event connection */
			assert_int_equal(o->connection_id, VMBUS_EVENT_CONNECTION);
			assert_false(o->dedicated_interrupt);
		} else {
			assert_int_equal(o->connection_id, vmbus_sim_channel(&vs, relid)->connection_id);
		}
		echo_once(relid);
		unsigned unloads = vs.unloads;
		hvrt_vmbus_disconnect();
		/* UNLOAD from 3.0 only: older hosts cannot take a contact after it (the next contact resets) */
		assert_int_equal(vs.unloads, unloads + (versions[i] >= V(3, 0)));
		assert_int_equal(hvrt_vmbus_version(), 0);
		assert_int_equal(vmbus_sim_gpadls(&vs), 0);
		assert_int_equal(vmbus_sim_open_channels(&vs), 0);
		assert_int_equal(vs.stray_signals, 0);
		expect_clean();
	}
	assert_not_logged("unload");
}

static void test_each_version_hyperv(void **state)
{
	(void)state;
	each_version(false);
}

static void test_each_version_qemu(void **state)
{
	(void)state;
	each_version(true);
}

/* ---- refusals and silence ---- */

/* Contacts for these versions get a failed connection_state (the trace hook sees each contact first). */
static uint32_t state_fails_for = V(5, 3);

static void fail_state_trace(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	(void)relid;
	if (dir == VMBUS_SIM_TO_HOST && kind == VMBUS_SIM_TRACE_MESSAGE &&
	    msg_type(bytes, len) == VMBUS_MSG_INITIATE_CONTACT && len >= 12) {
		uint32_t v = u32_at(bytes, 8);
		vs.fault.contact_state = state_fails_for == 0 || v == state_fails_for ? 2 : 0;
	}
}

/* An accepted version with connection_state 2 is not a connection: the next version is. */
static void test_connection_state_failed(void **state)
{
	(void)state;
	boot();
	vmbus_sim_add_echo(&vs, 1);
	trace_fn = fail_state_trace;
	state_fails_for = V(5, 3);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(hvrt_vmbus_version(), V(5, 2));
	assert_int_equal(vs.contacts, 2);
	assert_logged("reports connection state 2");
	echo_once(1);
	hvrt_vmbus_disconnect();

	/* every version: no connection, after all ten */
	state_fails_for = 0;
	log_clear();
	assert_int_equal(hvrt_vmbus_connect(), -EPROTONOSUPPORT);
	assert_int_equal(vs.contacts, 2 + NVERSIONS);
	assert_int_equal(hvrt_vmbus_version(), 0);
	assert_null(hvrt_vmbus_next(NULL));
	expect_clean();
}

/* The answers to these versions' contacts are dropped. */
static uint32_t silent_for;

static void silent_trace(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	(void)relid;
	if (dir == VMBUS_SIM_TO_HOST && kind == VMBUS_SIM_TRACE_MESSAGE &&
	    msg_type(bytes, len) == VMBUS_MSG_INITIATE_CONTACT && len >= 12) {
		if (silent_for == 0 || u32_at(bytes, 8) == silent_for)
			vs.fault.drop_answers |= 1u << VMBUS_MSG_VERSION_RESPONSE;
		else
			vs.fault.drop_answers &= ~(1u << VMBUS_MSG_VERSION_RESPONSE);
	}
}

/*
 * No answer to 5.3: -ETIMEDOUT after exactly 1 s of reference time, and no
 * other version tried (a late answer names no version: it would be taken
 * for the next request's). Remembered until a disconnect; then 5.3 works.
 */
static void test_version_no_answer(void **state)
{
	(void)state;
	boot();
	vmbus_sim_add_echo(&vs, 1);
	trace_fn = silent_trace;
	silent_for = V(5, 3);
	uint64_t t0 = now();
	assert_int_equal(hvrt_vmbus_connect(), -ETIMEDOUT);
	assert_elapsed(t0, MS(1000), MS(1001));
	assert_int_equal(hvrt_vmbus_version(), 0);
	struct contact c[4];
	assert_int_equal(contacts(c, 4), 1);
	assert_int_equal(c[0].version, V(5, 3));
	assert_logged("no answer to version 5.3");
	/* remembered: nothing more is posted, no time passes */
	unsigned posted = sim.nposted;
	t0 = now();
	assert_int_equal(hvrt_vmbus_connect(), -ETIMEDOUT);
	assert_null(hvrt_vmbus_next(NULL));
	assert_int_equal(sim.nposted, posted);
	assert_elapsed(t0, 0, MS(1));
	assert_false(runtime_sim_shutdown());
	/* cleared by a disconnect */
	hvrt_vmbus_disconnect();
	trace_fn = NULL;
	vs.fault.drop_answers = 0;
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(hvrt_vmbus_version(), V(5, 3));
	echo_once(1);
	expect_clean();
}

/* Silence after a refusal: 5.3 refused at once, no answer to 5.2: 1 s, -ETIMEDOUT, two contacts. */
static void test_refused_then_no_answer(void **state)
{
	(void)state;
	vcfg.refused[0] = V(5, 3);
	vcfg.nrefused = 1;
	boot();
	vmbus_sim_add_echo(&vs, 1);
	trace_fn = silent_trace;
	silent_for = V(5, 2);
	uint64_t t0 = now();
	assert_int_equal(hvrt_vmbus_connect(), -ETIMEDOUT);
	assert_elapsed(t0, MS(1000), MS(1001));
	assert_int_equal(vs.contacts, 2);
	expect_clean();
}

/* Hyper-V's answer to 5.x without the connection id (12 bytes): not usable; 4.1 is. */
static void test_5x_answer_without_connection_id(void **state)
{
	(void)state;
	vcfg.version_response_size = 12;
	boot();
	vmbus_sim_add_echo(&vs, 1);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(hvrt_vmbus_version(), V(4, 1));
	assert_int_equal(vs.contacts, 5);
	assert_logged("without a message connection id");
	assert_later_messages_on(VMBUS_MESSAGE_CONNECTION);
	echo_once(1);
	expect_clean();
}

/* A full host queue: INSUFFICIENT_BUFFERS three times, retried, one contact. */
static void test_post_busy(void **state)
{
	(void)state;
	boot();
	vmbus_sim_add_echo(&vs, 1);
	sim.fault.post_busy = 3;
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(hvrt_vmbus_version(), V(5, 3));
	struct contact c[8];
	assert_int_equal(contacts(c, 8), 4);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(c[i].status, HV_STATUS_INSUFFICIENT_BUFFERS);
	assert_int_equal(c[3].status, HV_STATUS_SUCCESS);
	assert_memory_equal(&c[3].msg, &c[0].msg, sizeof(c[0].msg));
	assert_int_equal(vs.contacts, 1);
	/* busy later too: a GPADL header and an OPENCHANNEL go through */
	sim.fault.post_busy = 2;
	echo_once(1);
	expect_clean();
}

/* No SynIC: -ENODEV, nothing posted, remembered; and not Hyper-V at all. */
static void test_no_synic(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_SYNIC;
	boot();
	vmbus_sim_add_echo(&vs, 1);
	assert_int_equal(hvrt_vmbus_connect(), -ENODEV);
	assert_int_equal(hvrt_vmbus_connect(), -ENODEV);
	assert_null(hvrt_vmbus_next(NULL));
	assert_int_equal(hvrt_vmbus_version(), 0);
	assert_int_equal(sim.nposted, 0);
	assert_int_equal(vs.nlog, 0);
	assert_false(runtime_sim_shutdown()); /* no hook installed */
	expect_clean();
}

static void test_not_hyperv(void **state)
{
	(void)state;
	hv_sim_config_vendor(&cfg, HV_SIM_VENDOR_NONE);
	boot();
	assert_int_equal(hvrt_vmbus_connect(), -ENODEV);
	assert_null(hvrt_vmbus_next(NULL));
	assert_int_equal(sim.nposted, 0);
	assert_int_equal(hv_sim_hv_msr_accesses(&sim), 0);
}

/* Every version refused: -EPROTONOSUPPORT after ten contacts, newest first, at once. */
static void test_all_refused(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NVERSIONS; i++)
		vcfg.refused[i] = versions[i];
	vcfg.nrefused = NVERSIONS;
	boot();
	vmbus_sim_add_echo(&vs, 1);
	uint64_t t0 = now();
	assert_int_equal(hvrt_vmbus_connect(), -EPROTONOSUPPORT);
	assert_elapsed(t0, 0, MS(2));
	struct contact c[NVERSIONS + 1];
	assert_int_equal(contacts(c, NVERSIONS + 1), NVERSIONS);
	for (unsigned i = 0; i < NVERSIONS; i++)
		assert_int_equal(c[i].version, versions[i]);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_VERSION_RESPONSE), NVERSIONS);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_REQUESTOFFERS), 0);
	assert_false(runtime_sim_shutdown());
	expect_clean();
}

/*
 * A failure is remembered: later calls return it and post nothing. After
 * hvrt_vmbus_disconnect() the bus may connect again (the host now takes 5.3).
 */
static void test_sticky_error_then_reconnect(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NVERSIONS; i++)
		vcfg.refused[i] = versions[i];
	vcfg.nrefused = NVERSIONS;
	boot();
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	assert_int_equal(hvrt_vmbus_connect(), -EPROTONOSUPPORT);
	vs.cfg.nrefused = 0;
	unsigned posted = sim.nposted;
	assert_int_equal(hvrt_vmbus_connect(), -EPROTONOSUPPORT);
	assert_null(hvrt_vmbus_next(NULL));
	assert_null(hvrt_vmbus_find(&(struct hvrt_guid){ { 0 } }, NULL));
	assert_int_equal(sim.nposted, posted);
	hvrt_vmbus_disconnect();
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(hvrt_vmbus_version(), V(5, 3));
	echo_once(relid);
	expect_clean();
}

/* ALLOFFERS_DELIVERED never comes: -ETIMEDOUT after 5 s, the bus unloaded, the failure remembered. */
static void test_alloffers_timeout(void **state)
{
	(void)state;
	boot();
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	vs.fault.drop_answers = 1u << VMBUS_MSG_ALLOFFERS_DELIVERED;
	uint64_t t0 = now();
	assert_int_equal(hvrt_vmbus_connect(), -ETIMEDOUT);
	assert_elapsed(t0, MS(5000), MS(5005));
	assert_int_equal(vs.unloads, 1);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_UNLOAD_RESPONSE), 1);
	assert_int_equal(hvrt_vmbus_version(), 0);
	assert_false(runtime_sim_shutdown());
	/* remembered until a disconnect */
	vs.fault.drop_answers = 0;
	unsigned posted = sim.nposted;
	assert_int_equal(hvrt_vmbus_connect(), -ETIMEDOUT);
	assert_int_equal(sim.nposted, posted);
	hvrt_vmbus_disconnect();
	assert_int_equal(hvrt_vmbus_connect(), 0);
	echo_once(relid);
	expect_clean();
}

/* ---- UNLOAD ---- */

/* The shutdown hook: channels closed and torn down, then UNLOAD, answered; the hook goes with it. */
static void test_unload_at_shutdown(void **state)
{
	(void)state;
	uint32_t relid = up_echo(2);
	struct hvrt_channel *a = channel(relid), *b = channel(relid + 1);
	size_t pages = hv_sim_pages_live(&sim);
	assert_int_equal(open_collect(a), 0);
	assert_int_equal(open_collect(b), 0);
	uint32_t handle;
	uint8_t *buf = hvrt_page_alloc(2);
	assert_int_equal(hvrt_channel_gpadl_create(a, buf, 2 * PG, &handle), 0);
	assert_int_equal(vmbus_sim_open_channels(&vs), 2);
	size_t before = vs.nlog;

	assert_true(runtime_sim_shutdown());
	assert_int_equal(hvrt_vmbus_version(), 0);
	assert_int_equal(vs.unloads, 1);
	assert_false(vs.connected);
	assert_int_equal(vmbus_sim_open_channels(&vs), 0);
	assert_int_equal(vs.reset_open, 0); /* closed before the UNLOAD, not by it */
	/* in order: CLOSECHANNEL and GPADL_TEARDOWN for each open channel, then UNLOAD */
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);
	unsigned closes = 0, teardowns = 0;
	bool unloaded = false;
	for (size_t i = before; i < n; i++) {
		if (log[i].to_guest)
			continue;
		assert_false(unloaded);
		if (log[i].type == VMBUS_MSG_CLOSECHANNEL)
			closes++;
		else if (log[i].type == VMBUS_MSG_GPADL_TEARDOWN)
			teardowns++;
		else if (log[i].type == VMBUS_MSG_UNLOAD)
			unloaded = true;
		else
			fail_msg("message type %u at shutdown", log[i].type);
	}
	assert_true(unloaded);
	assert_int_equal(closes, 2);
	assert_int_equal(teardowns, 2); /* the rings'; the app's own GPADL goes with the UNLOAD */
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_UNLOAD_RESPONSE), 1);
	assert_int_equal(hv_sim_pages_live(&sim), pages + 2); /* the rings given back; buf is the test's */
	hvrt_page_free(buf, 2);
	/* the hook went with the connection; it comes back with the next one */
	assert_false(runtime_sim_shutdown());
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_true(runtime_sim_shutdown());
	assert_int_equal(vs.unloads, 2);
	expect_clean();
}

/* UNLOAD_RESPONSE that never comes costs 5 s; the guest lets go anyway and can connect again. */
static void test_unload_no_answer(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	vs.fault.drop_answers = 1u << VMBUS_MSG_UNLOAD_RESPONSE;
	uint64_t t0 = now();
	hvrt_vmbus_disconnect();
	assert_elapsed(t0, MS(5000), MS(5005));
	assert_logged("unload: -110");
	assert_int_equal(hvrt_vmbus_version(), 0);
	vs.fault.drop_answers = 0;
	assert_int_equal(hvrt_vmbus_connect(), 0);
	echo_once(relid);
	expect_clean();
}

/* Contacts seen by the trace hook, with their monitor and interrupt pages. */
static struct vmbus_msg_initiate_contact seen_contact[16];
static unsigned nseen_contact;

static void contact_trace(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	(void)relid;
	if (dir == VMBUS_SIM_TO_HOST && kind == VMBUS_SIM_TRACE_MESSAGE &&
	    msg_type(bytes, len) == VMBUS_MSG_INITIATE_CONTACT && len == 40 && nseen_contact < 16)
		memcpy(&seen_contact[nseen_contact++], bytes, 40);
}

/* A reconnection: the same interrupt and monitor pages, no new allocation, working channels. */
static void test_reconnect(void **state)
{
	(void)state;
	vcfg.highest_version = V(4, 1); /* below 5.0 the contact names the interrupt page too */
	boot();
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	trace_fn = contact_trace;
	nseen_contact = 0;
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(nseen_contact, 5); /* 5.3 .. 5.0 refused, 4.1 taken */
	echo_once(relid);
	size_t pages = hv_sim_pages_live(&sim);
	hvrt_vmbus_disconnect();
	assert_int_equal(hv_sim_pages_live(&sim), pages);
	uint64_t allocs = sim.allocs;
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(hvrt_vmbus_version(), V(4, 1));
	assert_int_equal(nseen_contact, 10);
	const struct vmbus_msg_initiate_contact *a = &seen_contact[4], *b = &seen_contact[9];
	assert_int_equal(a->version, V(4, 1));
	assert_int_equal(b->version, V(4, 1));
	assert_true(a->interrupt_page != 0);
	assert_int_equal(a->interrupt_page, b->interrupt_page);
	assert_int_equal(a->monitor_page1, b->monitor_page1);
	assert_int_equal(a->monitor_page2, b->monitor_page2);
	assert_int_equal(sim.allocs, allocs); /* the pages are kept, not allocated again */
	/* the new connection's channels work; so does a third one */
	echo_once(relid);
	hvrt_vmbus_disconnect();
	assert_int_equal(hv_sim_pages_live(&sim), pages);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	echo_once(relid);
	expect_clean();
}

/* ---- late answers ---- */

/* Every host message 900 ms late: within each timeout, so everything works, exactly that much slower. */
static void test_slow_answers(void **state)
{
	(void)state;
	boot();
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	vs.fault.answer_delay = MS(900);
	uint64_t t0 = now();
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_elapsed(t0, MS(1800), MS(1802)); /* VERSION_RESPONSE, then the offers */
	assert_int_equal(hvrt_vmbus_version(), V(5, 3));
	struct hvrt_channel *ch = channel(relid);
	t0 = now();
	assert_int_equal(open_collect(ch), 0);
	assert_elapsed(t0, MS(1800), MS(1802)); /* GPADL_CREATED, then OPENCHANNEL_RESULT */
	assert_int_equal(hvrt_channel_send(ch, "x", 1, 1, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1); /* packets are not late, only messages */
	t0 = now();
	hvrt_channel_close(ch);
	assert_elapsed(t0, MS(900), MS(902)); /* GPADL_TORNDOWN */
	/* 4.9 s for a GPADL: still within its 5 s */
	vs.fault.answer_delay = MS(4900);
	uint8_t *buf = hvrt_page_alloc(1);
	uint32_t handle;
	t0 = now();
	assert_int_equal(hvrt_channel_gpadl_create(ch, buf, PG, &handle), 0);
	assert_elapsed(t0, MS(4900), MS(4902));
	assert_int_equal(hvrt_channel_gpadl_teardown(ch, handle), 0);
	hvrt_page_free(buf, 1);
	vs.fault.answer_delay = 0;
	expect_clean();
}

/* ---- the boot CPU's VP index ---- */

/*
 * A boot CPU whose VP index is 3 (hv/ reads it into hvrt_host()->vp_index):
 * INITIATE_CONTACT's target_vcpu, an open's target_vp and MODIFYCHANNEL name
 * VP 3, the only VP there is; another VP is -EINVAL (no SMP yet).
 */
static void test_boot_vp_index_not_zero(void **state)
{
	(void)state;
	cfg.vp_index = 3;
	boot();
	assert_int_equal(hvrt_host()->vp_index, 3);
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	struct contact c[2];
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(contacts(c, 2), 1);
	assert_int_equal(c[0].msg.target_vcpu, 3);
	expect_clean();
	struct hvrt_channel *ch = channel(relid);
	struct hvrt_channel_config conf = { .on_packet = collect, .target_vp = 0 };
	assert_int_equal(hvrt_channel_open(ch, &conf), -EINVAL);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_GPADL_HEADER), 0); /* refused before the host saw it */
	conf.target_vp = 3;
	assert_int_equal(hvrt_channel_open(ch, &conf), 0);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->target_vp, 3);
	assert_int_equal(hvrt_channel_set_target_vp(ch, 0), -EINVAL);
	assert_int_equal(hvrt_channel_set_target_vp(ch, 3), 0);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_MODIFYCHANNEL_RESPONSE), 1);
	assert_int_equal(hvrt_channel_send(ch, "vp3", 3, 1, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	hvrt_channel_close(ch);
	expect_clean();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		VT(test_connect_hyperv),
		VT(test_connect_qemu),
		VT(test_each_version_hyperv),
		VT(test_each_version_qemu),
		VT(test_connection_state_failed),
		VT(test_version_no_answer),
		VT(test_refused_then_no_answer),
		VT(test_5x_answer_without_connection_id),
		VT(test_post_busy),
		VT(test_no_synic),
		VT(test_not_hyperv),
		VT(test_all_refused),
		VT(test_sticky_error_then_reconnect),
		VT(test_alloffers_timeout),
		VT(test_unload_at_shutdown),
		VT(test_unload_no_answer),
		VT(test_reconnect),
		VT(test_slow_answers),
		VT(test_boot_vp_index_not_zero),
	};
	return run_vmbus_tests(tests);
}
