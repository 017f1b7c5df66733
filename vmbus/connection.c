/*
 * The VMBus connection: version negotiation, the control message dispatch
 * table, waits with timeouts, and UNLOAD.
 *
 * Control messages arrive in the SINT2 slot; hv/synic.c copies each out and
 * calls vmbus_message() from hvrt_poll(). Channel interrupts arrive as SINT2
 * event flags, one per relid (2.4+), or as flag 0 plus the interrupt page
 * (older hosts).
 */
#include <errno.h>
#include <string.h>

#include <hvrt/hv.h>
#include <hvrt/log.h>
#include <hvrt/mem.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/power.h"
#include "arch/x86_64/tsc.h"
#include "hv/hv.h"
#include "vmbus/capture_hook.h"
#include "vmbus/vmbus.h"

/* Newest first (facts 2.2); each refusal or error moves down the list. */
static const uint32_t vmbus_versions[] = {
	VMBUS_VERSION_5_3, VMBUS_VERSION_5_2, VMBUS_VERSION_5_1, VMBUS_VERSION_5_0, VMBUS_VERSION_4_1,
	VMBUS_VERSION_4_0, VMBUS_VERSION_3_0, VMBUS_VERSION_2_4, VMBUS_VERSION_1_1, VMBUS_VERSION_0_13,
};

#define VMBUS_CONNECT_STEPS 24u

enum vmbus_step {
	VMBUS_STEP_START,
	VMBUS_STEP_PAGES,    /* interrupt and monitor pages ready */
	VMBUS_STEP_SINT,     /* SINT2 claimed */
	VMBUS_STEP_POSTED,   /* an INITIATE_CONTACT posted (result: the post's error) */
	VMBUS_STEP_ANSWERED, /* its answer (result: version_supported, or the wait's error) */
	VMBUS_STEP_OFFERS,   /* ALLOFFERS_DELIVERED (result: the wait's error) */
};

struct vmbus_connect_step {
	uint64_t time;
	uint8_t step;      /* enum vmbus_step */
	uint32_t version;
	int result;
};

static struct vmbus_connection {
	bool tried;
	int error;                /* sticky result of the connection attempt */
	bool connected;
	uint32_t version;
	uint32_t msg_connection;  /* where messages go after the contact */
	void *interrupt_page;     /* < 5.0: contact names it; < 2.4: channel interrupts */
	void *monitor_pages;      /* [0] host -> guest, [1] guest -> host */
	bool version_answered;
	struct vmbus_msg_version_response version_response;
	size_t version_response_len;
	bool offers_delivered;
	bool unload_answered;
	bool unloading;           /* UNLOAD sent: nothing else is posted */
	bool disconnecting;       /* disconnect_bus() is running: no opens, no offer work */
	bool connecting;          /* connect_bus() is running: a nested connect is refused */
	uint32_t generation;      /* counts disconnects: a wait across one ends */
	uint32_t vp;              /* the VP that takes VMBus interrupts */
	uint64_t messages, dropped;
	struct vmbus_connect_step step[VMBUS_CONNECT_STEPS];
	unsigned steps;
} conn;

/* --- dispatch --- */

typedef void (*vmbus_msg_handler)(const void *msg, size_t len);

/*
 * Hard-won: QEMU's server sends a 12-byte VERSION_RESPONSE (its struct stops
 * before the connection id, which only 5.0+ hosts fill in), so only those
 * 12 bytes are required; the rest reads as 0.
 */
static void version_response_message(const void *msg, size_t len)
{
	memset(&conn.version_response, 0, sizeof(conn.version_response));
	memcpy(&conn.version_response, msg, len < sizeof(conn.version_response) ? len : sizeof(conn.version_response));
	conn.version_response_len = len;
	conn.version_answered = true;
}

static void alloffers_message(const void *msg, size_t len)
{
	(void)msg;
	(void)len;
	conn.offers_delivered = true;
}

static void unload_response_message(const void *msg, size_t len)
{
	(void)msg;
	(void)len;
	conn.unload_answered = true;
}

/* What the host may send, with the least it must carry; anything else is dropped. */
static const struct {
	uint8_t min_len;
	vmbus_msg_handler handler;
} dispatch[VMBUS_MSG_COUNT] = {
	[VMBUS_MSG_OFFERCHANNEL] = { VMBUS_OFFER_SIZE_V1, vmbus_offer_message },
	[VMBUS_MSG_RESCIND_CHANNELOFFER] = { sizeof(struct vmbus_msg_relid), vmbus_rescind_message },
	[VMBUS_MSG_ALLOFFERS_DELIVERED] = { sizeof(struct vmbus_msg_header), alloffers_message },
	[VMBUS_MSG_OPENCHANNEL_RESULT] = { sizeof(struct vmbus_msg_open_result), vmbus_open_result_message },
	[VMBUS_MSG_GPADL_CREATED] = { sizeof(struct vmbus_msg_gpadl_created), vmbus_gpadl_created_message },
	[VMBUS_MSG_GPADL_TORNDOWN] = { sizeof(struct vmbus_msg_gpadl_torndown), vmbus_gpadl_torndown_message },
	[VMBUS_MSG_VERSION_RESPONSE] = { VMBUS_VERSION_RESPONSE_MIN, version_response_message },
	[VMBUS_MSG_UNLOAD_RESPONSE] = { sizeof(struct vmbus_msg_header), unload_response_message },
	[VMBUS_MSG_MODIFYCHANNEL_RESPONSE] = { sizeof(struct vmbus_msg_modify_channel),
					       vmbus_modify_response_message },
};

/*
 * vmbus_message - one control message from the host (hvrt_poll context)
 * The payload is already a private copy, bounded to 240 bytes by hv/synic.c.
 * A message shorter than its type needs, or of a type a host never sends, is
 * logged and dropped: nothing past its length is ever read.
 */
static void vmbus_message(void *ctx, unsigned sint, const struct hv_message *msg)
{
	struct vmbus_msg_header header;
	(void)ctx;
	(void)sint;

	conn.messages++;
	if (msg->payload_size < sizeof(header)) {
		conn.dropped++;
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "dropped a %u-byte message from the host", msg->payload_size);
		return;
	}
	memcpy(&header, msg->payload, sizeof(header));
	vmbus_capture_control(VMBUS_CAPTURE_HOST_TO_GUEST, msg->payload, msg->payload_size);
	if (header.type >= VMBUS_MSG_COUNT || dispatch[header.type].handler == NULL) {
		conn.dropped++;
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "dropped a message of unknown type %u from the host", header.type);
		return;
	}
	if (msg->payload_size < dispatch[header.type].min_len) {
		conn.dropped++;
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "dropped a short message (type %u, %u bytes, needs %u)",
			 header.type, msg->payload_size, dispatch[header.type].min_len);
		return;
	}
	dispatch[header.type].handler(msg->payload, msg->payload_size);
}

/* One channel's bit in the interrupt page's host -> guest half (before 2.4). */
static void scan_interrupt_page(void)
{
	uint32_t *words = conn.interrupt_page;

	if (!words)
		return;
	for (unsigned w = 0; w < VMBUS_INTERRUPT_PAGE_HALF / 4 / 8; w++) {
		if (__atomic_load_n(&words[w], __ATOMIC_RELAXED) == 0)
			continue;
		uint32_t bits = __atomic_exchange_n(&words[w], 0, __ATOMIC_ACQ_REL);
		while (bits) {
			unsigned bit = (unsigned)__builtin_ctz(bits);
			bits &= bits - 1;
			if (w * 32 + bit != 0)
				vmbus_event_note(w * 32 + bit);
		}
	}
}

static void vmbus_event(void *ctx, unsigned sint, unsigned flag)
{
	(void)ctx;
	(void)sint;
	if (conn.version >= VMBUS_VERSION_2_4) {
		if (flag != 0)
			vmbus_event_note(flag);
	} else if (flag == 0) {
		scan_interrupt_page();
	}
}

static const struct hv_sint_ops vmbus_sint_ops = {
	.message = vmbus_message,
	.event = vmbus_event,
};

/* --- posting and waiting --- */

/* Where each message type carries the relid it is about (0: it carries none). */
static const uint8_t relid_offset[VMBUS_MSG_COUNT] = {
	[VMBUS_MSG_OFFERCHANNEL] = offsetof(struct vmbus_msg_offer, child_relid),
	[VMBUS_MSG_RESCIND_CHANNELOFFER] = 8, [VMBUS_MSG_OPENCHANNEL] = 8, [VMBUS_MSG_OPENCHANNEL_RESULT] = 8,
	[VMBUS_MSG_CLOSECHANNEL] = 8, [VMBUS_MSG_GPADL_HEADER] = 8, [VMBUS_MSG_GPADL_CREATED] = 8,
	[VMBUS_MSG_GPADL_TEARDOWN] = 8, [VMBUS_MSG_RELID_RELEASED] = 8, [VMBUS_MSG_MODIFYCHANNEL] = 8,
	[VMBUS_MSG_MODIFYCHANNEL_RESPONSE] = 8,
};

uint32_t vmbus_msg_relid(const void *msg, size_t len)
{
	struct vmbus_msg_header header;
	uint32_t relid = 0;

	if (len < sizeof(header))
		return 0;
	memcpy(&header, msg, sizeof(header));
	if (header.type >= VMBUS_MSG_COUNT || relid_offset[header.type] == 0 || len < relid_offset[header.type] + 4u)
		return 0;
	memcpy(&relid, (const uint8_t *)msg + relid_offset[header.type], 4);
	return relid;
}

/* quiet: a refused connection is expected (a 5.x contact on a host without connection 4): not logged. */
static int post_to(uint32_t connection, const void *msg, size_t len, bool quiet)
{
	uint16_t status = 0;
	struct vmbus_msg_header header;

	memcpy(&header, msg, sizeof(header));
	vmbus_capture_control(VMBUS_CAPTURE_GUEST_TO_HOST, msg, len);
	int err = hv_post_message(connection, VMBUS_MESSAGE_TYPE, msg, len, &status);
	if (err && !(quiet && err == -ENOTCONN))
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "posting message type %u to connection %u failed: %d (%s)",
			 header.type, connection, err, hvrt_hv_status_name(status));
	return err;
}

int vmbus_post(const void *msg, size_t len)
{
	/* After UNLOAD the host has forgotten us: a GPADL teardown would wait for nothing. */
	if (!conn.connected || conn.unloading)
		return -ENOTCONN;
	return post_to(conn.msg_connection, msg, len, false);
}

uint64_t vmbus_now(void)
{
	uint64_t now = 0;

	hv_reftime_read(&now);
	return now;
}

struct vmbus_waiter {
	bool (*done)(void *ctx);
	void *ctx;
	uint32_t generation;
};

static bool waiter_done(void *ctx)
{
	struct vmbus_waiter *w = ctx;
	return w->done(w->ctx) || conn.generation != w->generation;
}

int vmbus_wait(bool (*done)(void *ctx), void *ctx, unsigned timeout_ms)
{
	struct vmbus_waiter w = { done, ctx, conn.generation };
	uint64_t deadline;

	vmbus_wait_enter();
	if (!waiter_done(&w)) {
		if (hv_reftime_read(&deadline)) {
			hv_stimer_wait(deadline + (uint64_t)timeout_ms * 10000, waiter_done, &w);
		} else {
			/* No reference clock: poll against the TSC. */
			deadline = tsc_deadline_after_ns((uint64_t)timeout_ms * 1000000);
			while (!waiter_done(&w) && cpu_rdtsc() < deadline) {
				hvrt_poll();
				cpu_pause();
			}
		}
	}
	vmbus_wait_leave();
	/* A disconnect meanwhile voids the answer too: what it answered is gone. */
	if (conn.generation != w.generation)
		return -ENOTCONN;
	return done(ctx) ? 0 : -ETIMEDOUT;
}

static bool version_answered(void *ctx)
{
	(void)ctx;
	return conn.version_answered;
}

static bool offers_delivered(void *ctx)
{
	(void)ctx;
	return conn.offers_delivered;
}

static bool unload_answered(void *ctx)
{
	(void)ctx;
	return conn.unload_answered;
}

/*
 * The connection's steps, timed and printed at debug level once it is over
 * (printing between them would be timed too).
 */
static void note_step(enum vmbus_step step, uint32_t version, int result)
{
	if (conn.steps < VMBUS_CONNECT_STEPS)
		conn.step[conn.steps++] = (struct vmbus_connect_step){ vmbus_now(), (uint8_t)step, version, result };
}

static const char step_name[][10] = {
	[VMBUS_STEP_START] = "start", [VMBUS_STEP_PAGES] = "pages", [VMBUS_STEP_SINT] = "SINT2",
	[VMBUS_STEP_POSTED] = "posted", [VMBUS_STEP_ANSWERED] = "answered", [VMBUS_STEP_OFFERS] = "offers",
};

/* Returns the time of the last step (the end of the connection). */
static uint64_t print_steps(uint64_t start)
{
	uint64_t end = start;

	for (unsigned i = 0; i < conn.steps; i++) {
		const struct vmbus_connect_step *st = &conn.step[i];
		uint64_t t = st->time - start;
		end = st->time;
		hvrt_log(HVRT_LOG_DEBUG, VMBUS_LOG, "connect +%u.%02u ms: %s %u.%u: %d", (unsigned)(t / 10000),
			 (unsigned)(t % 10000 / 100), step_name[st->step], st->version >> 16, st->version & 0xffff,
			 st->result);
	}
	conn.steps = 0;
	return end;
}

/*
 * try_version - one INITIATE_CONTACT
 * Return: 0 when the host accepted it; -EPROTONOSUPPORT when it refused;
 * another negative errno when the post failed or no answer came.
 */
static int try_version(uint32_t version)
{
	struct vmbus_msg_initiate_contact msg = {
		.header.type = VMBUS_MSG_INITIATE_CONTACT,
		.version = version,
		.target_vcpu = conn.vp,
		.monitor_page1 = (uint64_t)(uintptr_t)conn.monitor_pages,
		.monitor_page2 = (uint64_t)(uintptr_t)conn.monitor_pages + HVRT_PAGE_SIZE,
	};
	/* From 5.0 the contact goes to the multi-client port and names its SINT (facts 2.1). */
	if (version >= VMBUS_VERSION_5_0) {
		msg.msg_sint = VMBUS_MESSAGE_SINT;
		conn.msg_connection = VMBUS_MESSAGE_CONNECTION_5;
	} else {
		msg.interrupt_page = (uint64_t)(uintptr_t)conn.interrupt_page;
		conn.msg_connection = VMBUS_MESSAGE_CONNECTION;
	}
	conn.version_answered = false;
	int err = post_to(conn.msg_connection, &msg, sizeof(msg), version >= VMBUS_VERSION_5_0);
	note_step(VMBUS_STEP_POSTED, version, err);
	if (err)
		return err;
	err = vmbus_wait(version_answered, NULL, VMBUS_VERSION_TIMEOUT_MS);
	note_step(VMBUS_STEP_ANSWERED, version, err ? err : conn.version_response.version_supported);
	if (err) {
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "no answer to version %u.%u", version >> 16, version & 0xffff);
		return err;
	}
	if (!conn.version_response.version_supported)
		return -EPROTONOSUPPORT;
	if (conn.version_response.connection_state != 0) {
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "host accepted %u.%u but reports connection state %u",
			 version >> 16, version & 0xffff, conn.version_response.connection_state);
		return -EIO;
	}
	if (version >= VMBUS_VERSION_5_0) {
		if (conn.version_response_len < sizeof(conn.version_response) ||
		    conn.version_response.msg_connection_id == 0) {
			hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "host accepted %u.%u without a message connection id",
				 version >> 16, version & 0xffff);
			return -EIO;
		}
		conn.msg_connection = conn.version_response.msg_connection_id;
	}
	return 0;
}

static void disconnect_bus(void);

/*
 * At exit, even from inside a callback: the frames below it never run again,
 * so nothing they hold can be pulled from under them, and the host must hear
 * UNLOAD before the next stage.
 */
static void shutdown_hook(void *ctx)
{
	(void)ctx;
	vmbus_set_exiting();
	if (!conn.connected || conn.unloading)
		return;
	if (!conn.disconnecting) {
		disconnect_bus();
		return;
	}
	/* Exit from inside a disconnect (a remove() that exits): the rest of it never runs; UNLOAD still must. */
	struct vmbus_msg_header unload = { .type = VMBUS_MSG_UNLOAD };
	conn.unload_answered = false;
	if (conn.version >= VMBUS_VERSION_3_0 && vmbus_post(&unload, sizeof(unload)) == 0) {
		conn.unloading = true;
		vmbus_wait(unload_answered, NULL, VMBUS_REPLY_TIMEOUT_MS);
	}
}

/*
 * A refusal, a post the host does not take, or a failed connection state
 * moves down the list. No answer at all ends the attempt (-ETIMEDOUT), as in
 * Linux: the answer names no version, so a late one would be taken for the
 * next request's.
 */
static int negotiate(void)
{
	int err = -EPROTONOSUPPORT;

	for (size_t i = 0; i < sizeof(vmbus_versions) / sizeof(vmbus_versions[0]); i++) {
		err = try_version(vmbus_versions[i]);
		if (err == 0) {
			conn.version = vmbus_versions[i];
			return 0;
		}
		if (err == -ETIMEDOUT)
			return err;
	}
	return err == -ENOTCONN ? -EPROTONOSUPPORT : err == -EIO ? -EPROTONOSUPPORT : err;
}

/*
 * connect_bus - the whole connection sequence (facts 2.5)
 * Return: 0 or a negative errno; on failure everything is given back.
 */
static int connect_bus(void)
{
	int err;

	if (!hv_synic_ready())
		return -ENODEV;
	conn.vp = hvrt_host()->vp_index;
	conn.unloading = false;
	/*
	 * Allocated once and kept: a host that saw them in a contact may write
	 * them until it has answered UNLOAD, and the next connection reuses them.
	 */
	if (!conn.interrupt_page)
		conn.interrupt_page = hvrt_page_alloc(1);
	if (!conn.monitor_pages)
		conn.monitor_pages = hvrt_page_alloc(2);
	if (!conn.interrupt_page || !conn.monitor_pages)
		return -ENOMEM;
	memset(conn.interrupt_page, 0, HVRT_PAGE_SIZE);
	memset(conn.monitor_pages, 0, 2 * HVRT_PAGE_SIZE);
	note_step(VMBUS_STEP_PAGES, 0, 0);
	err = hv_synic_claim(VMBUS_MESSAGE_SINT, &vmbus_sint_ops);
	note_step(VMBUS_STEP_SINT, 0, err);
	if (err)
		return err;
	vmbus_events_attach(true);
	err = negotiate();
	if (err)
		goto fail_sint;
	conn.connected = true;
	conn.offers_delivered = false;
	/* From here the host knows us: an exit must send UNLOAD, even during the offers. */
	power_set_shutdown(shutdown_hook, NULL);
	struct vmbus_msg_header request = { .type = VMBUS_MSG_REQUESTOFFERS };
	err = vmbus_post(&request, sizeof(request));
	if (!err)
		err = vmbus_wait(offers_delivered, NULL, VMBUS_OFFERS_TIMEOUT_MS);
	note_step(VMBUS_STEP_OFFERS, conn.version, err);
	if (err) {
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "offers: %d", err);
		goto fail_unload;
	}
	return 0;

fail_unload:
	if (conn.connected && !conn.disconnecting)
		disconnect_bus();
	return err;
fail_sint:
	/* Offers a host sent before it refused us are gone with the attempt. */
	vmbus_offers_reset(true);
	vmbus_events_attach(false);
	hv_synic_release(VMBUS_MESSAGE_SINT);
	return err;
}

int vmbus_connect(void)
{
	if (conn.tried)
		return conn.error;
	/* A callback inside the handshake's waits that asks for the bus: not a second handshake. */
	if (conn.connecting)
		return -EBUSY;
	uint64_t start = vmbus_now();
	conn.steps = 0;
	note_step(VMBUS_STEP_START, 0, 0);
	conn.connecting = true;
	int err = connect_bus();
	conn.connecting = false;
	/* After connect_bus: its own clean-up (a disconnect) must not clear what is remembered here. */
	conn.tried = true;
	conn.error = err;
	uint64_t took = print_steps(start) - start;
	if (conn.error) {
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "not connected: error %d", conn.error);
		return conn.error;
	}
	hvrt_log(HVRT_LOG_INFO, VMBUS_LOG, "connected: version %u.%u in %u.%02u ms", conn.version >> 16,
		 conn.version & 0xffff, (unsigned)(took / 10000), (unsigned)(took % 10000 / 100));
	/* Drivers registered before see the offers now, when the app connects from its main code. */
	vmbus_run_due_work();
	return 0;
}

bool vmbus_connected(void)
{
	return conn.connected && !conn.unloading;
}

bool vmbus_disconnecting(void)
{
	return conn.disconnecting;
}

uint32_t vmbus_vp(void)
{
	return conn.vp;
}

uint32_t vmbus_version(void)
{
	return conn.connected ? conn.version : 0;
}

/* Before 2.4 the host finds the channel by its bit in the guest -> host half. */
static void set_interrupt_page_bit(uint32_t relid)
{
	uint32_t *half = (uint32_t *)(void *)((uint8_t *)conn.interrupt_page + VMBUS_INTERRUPT_PAGE_HALF);
	__atomic_fetch_or(&half[relid / 32], 1u << (relid % 32), __ATOMIC_SEQ_CST);
}

void vmbus_signal_host(const struct hvrt_channel *ch)
{
	const struct hvrt_vmbus_offer *o = &ch->offer;

	if (o->monitor_allocated && conn.monitor_pages) {
		/* The page is page aligned, so each pending word is 4-byte aligned despite the packed struct. */
		uint32_t *pending = (uint32_t *)(void *)((uint8_t *)conn.monitor_pages + HVRT_PAGE_SIZE +
							 offsetof(struct vmbus_monitor_page, trigger_group) +
							 (o->monitor_id / 32) * 8);
		vmbus_capture_signal(VMBUS_CAPTURE_GUEST_TO_HOST, o->relid, 0);
		/* Before 2.4 the host also looks for the channel's bit in the interrupt page (as Linux sets it). */
		if (conn.version < VMBUS_VERSION_2_4)
			set_interrupt_page_bit(o->relid);
		__atomic_fetch_or(pending, 1u << (o->monitor_id % 32), __ATOMIC_SEQ_CST);
		return;
	}
	uint32_t connection = o->connection_id;
	if (conn.version < VMBUS_VERSION_2_4) {
		set_interrupt_page_bit(o->relid);
		if (conn.version < VMBUS_VERSION_1_1)
			connection = VMBUS_EVENT_CONNECTION;
	}
	uint16_t status = 0;
	vmbus_capture_signal(VMBUS_CAPTURE_GUEST_TO_HOST, o->relid, connection);
	int err = hv_signal_event(connection, 0, &status);
	if (err)
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "signalling channel %u failed: %d (%s)", o->relid, err,
			 hvrt_hv_status_name(status));
}

/* --- public --- */

int hvrt_vmbus_connect(void)
{
	return vmbus_connect();
}

uint32_t hvrt_vmbus_version(void)
{
	return vmbus_version();
}

/*
 * disconnect_bus - drivers first, then the channels, then UNLOAD
 * Drivers quiesce their devices in remove() (a netvsc revokes its buffers
 * before its channel closes); what is still open is closed after them.
 * Linux sends UNLOAD only from 3.0: older hosts cannot take a new contact
 * after it (facts 2.2), so there the bus is just left.
 */
static void disconnect_bus(void)
{
	conn.disconnecting = true;
	vmbus_drivers_detach_all();
	for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
		struct hvrt_channel *ch = vmbus_channel_by_relid(r);
		if (ch && ch->state != VMBUS_CHANNEL_OFFERED && ch->state != VMBUS_CHANNEL_RELEASED)
			hvrt_channel_close(ch);
	}
	conn.unload_answered = false;
	if (conn.version >= VMBUS_VERSION_3_0) {
		struct vmbus_msg_header unload = { .type = VMBUS_MSG_UNLOAD };
		int err = vmbus_post(&unload, sizeof(unload));
		conn.unloading = true;
		if (!err)
			err = vmbus_wait(unload_answered, NULL, VMBUS_REPLY_TIMEOUT_MS);
		if (err)
			hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "unload: %d", err);
	} else {
		hvrt_log(HVRT_LOG_INFO, VMBUS_LOG, "VMBus %u.%u: no UNLOAD before 3.0", conn.version >> 16,
			 conn.version & 0xffff);
	}
	vmbus_events_attach(false);
	hv_synic_release(VMBUS_MESSAGE_SINT);
	vmbus_offers_reset(conn.unload_answered);
	vmbus_gpadl_reset();
	conn.connected = false;
	conn.unloading = false;
	conn.disconnecting = false;
	conn.version = 0;
	conn.generation++;
	/* The next call connects afresh (a next stage, or the app again). */
	conn.tried = false;
	conn.error = 0;
	power_set_shutdown(NULL, NULL);
}

int hvrt_vmbus_disconnect(void)
{
	/* Callbacks and waits run on top of frames that hold channels; a disconnect there would pull them away. */
	if (!vmbus_may_change_bus())
		return -EDEADLK;
	if (conn.disconnecting)
		return -EBUSY;
	if (conn.connected && !conn.unloading)
		disconnect_bus();
	/* The next call connects afresh (a next stage, or the app again), also after a failed attempt. */
	conn.tried = false;
	conn.error = 0;
	return 0;
}
