/*
 * VMBus internals, one job per file:
 *   connection.c  the bus: version negotiation, control message dispatch, waits, UNLOAD
 *   events.c      what hvrt_poll() runs for VMBus: channel events, deferred offer work
 *   offer.c       offers, the channel table, rescind and relid release
 *   gpadl.c       GPADL create and teardown
 *   channel.c     open, close, signalling, send and receive on the rings (ring.c)
 *   request.c     request/response with transaction ids
 *   awaited.c     the transaction ids whose completions are due
 *   driver.c      drivers by class GUID
 *   guid.c        GUID text and the class name table (classes.def)
 */
#ifndef HVRT_VMBUS_VMBUS_H
#define HVRT_VMBUS_VMBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hvrt/vmbus.h>

#include "vmbus/awaited.h"
#include "vmbus/ring.h"
#include "vmbus/vmbus_defs.h"

/* Waits: how long the host gets for each kind of answer. */
#define VMBUS_VERSION_TIMEOUT_MS 1000u
#define VMBUS_OFFERS_TIMEOUT_MS 5000u
#define VMBUS_REPLY_TIMEOUT_MS 5000u /* GPADL, open, unload, modify */
/* A rescinded channel's host may never answer a GPADL teardown (channel.c). */
#define VMBUS_RESCINDED_TEARDOWN_MS 100u

enum vmbus_channel_state {
	VMBUS_CHANNEL_OFFERED,
	VMBUS_CHANNEL_OPENING,
	VMBUS_CHANNEL_OPEN,
	VMBUS_CHANNEL_CLOSING,  /* hvrt_channel_close() is tearing it down: no sends, no events */
	VMBUS_CHANNEL_BROKEN,   /* the host broke a ring rule: closed, waiting for the owner's close */
	VMBUS_CHANNEL_RELEASED, /* rescinded and given back, or the bus went away: every call fails */
};

#define VMBUS_REQUESTS_MAX 8u
#define VMBUS_APP_GPADLS_MAX 16u
/* Channel objects are never freed (below): a host that offers and rescinds for ever is refused here. */
#define VMBUS_CHANNELS_MAX 4096u

struct vmbus_request_slot {
	uint64_t trans_id; /* 0: free */
	void *resp;
	size_t cap;
	int result;        /* length, or a negative errno */
	bool done;
};

/*
 * A channel object lives as long as the program: after a rescind or a
 * disconnect it stays, RELEASED, so a pointer an app or driver still holds
 * never dangles (calls on it fail). Its rings and buffers are freed at close.
 */
struct hvrt_channel {
	struct hvrt_vmbus_offer offer;
	enum vmbus_channel_state state;
	bool rescinded;
	bool rescind_due; /* its on_rescind and driver remove have yet to run (vmbus_poll) */
	bool probe_due;   /* drivers have yet to see it (vmbus_poll) */
	bool polled;
	bool draining;
	unsigned busy;    /* calls of ours in progress on it (waits, callbacks): not released meanwhile */
	uint32_t gpadl[VMBUS_APP_GPADLS_MAX]; /* the app's GPADLs the host may hold (0: free slot): the relid
						 is released only after they are torn down */
	struct hvrt_channel *primary;
	struct hvrt_channel *next_released;

	/* rings: one allocation, the GPADL covers both */
	void *ring_pages;
	size_t ring_bytes;
	uint32_t ring_gpadl;
	struct vmbus_ring tx, rx;
	uint8_t *rx_buf;
	size_t rx_cap;
	struct vmbus_awaited awaited; /* trans ids sent with a completion requested, not yet completed */

	/* OPENCHANNEL_RESULT / MODIFYCHANNEL_RESPONSE */
	bool open_answered, modify_answered;
	uint32_t open_status, modify_status;

	void (*on_packet)(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx);
	void (*on_rescind)(struct hvrt_channel *ch, void *ctx);
	void *ctx;

	const struct hvrt_vmbus_driver *driver;
	uint16_t probed;  /* driver slots (driver.c) that have probed it: each at most once */
	uint64_t next_trans_id;
	struct vmbus_request_slot requests[VMBUS_REQUESTS_MAX];
};

/* --- connection.c --- */

/* Connected (0) or why not; connects on first call. */
int vmbus_connect(void);
bool vmbus_connected(void);
/* hvrt_vmbus_disconnect() is running: no opens, no offer work. */
bool vmbus_disconnecting(void);
uint32_t vmbus_version(void);
/* The VP that takes VMBus interrupts (the boot CPU's). */
uint32_t vmbus_vp(void);
/* Posts a channel message to the host's message connection. Returns 0 or a negative errno. */
int vmbus_post(const void *msg, size_t len);
/*
 * Runs hvrt_poll() and halts until done(ctx) or timeout_ms passed. Returns 0,
 * -ETIMEDOUT, or -ENOTCONN when the bus was disconnected meanwhile.
 */
int vmbus_wait(bool (*done)(void *ctx), void *ctx, unsigned timeout_ms);
/* Reference time now (100 ns), 0 without a Hyper-V clock. */
uint64_t vmbus_now(void);
/* Signals the host for a channel: monitor page, interrupt page (< 2.4) or HvSignalEvent. */
void vmbus_signal_host(const struct hvrt_channel *ch);
/* The relid a control message is about (0: none). */
uint32_t vmbus_msg_relid(const void *msg, size_t len);
/* The log prefix */
#define VMBUS_LOG "vmbus"

/* --- events.c: work deferred to hvrt_poll(), and where user code may run --- */

/* The host signalled relid (from the SINT2 event handler): its channel is read from the next poll. */
void vmbus_event_note(uint32_t relid);
/* Offers, rescinds or releases wait (run from a poll the app makes, outside waits and callbacks). */
void vmbus_work_note(void);
/* Installs (true) or removes the poll hook and forgets pending events. */
void vmbus_events_attach(bool on);
/* Brackets: a wait of ours (vmbus_wait), a user callback (packet: an on_packet). */
void vmbus_wait_enter(void);
void vmbus_wait_leave(void);
void vmbus_callback_enter(bool packet);
void vmbus_callback_leave(bool packet);
/* Inside an on_packet: open, close, GPADLs and disconnect would pull state from under it (-EDEADLK). */
bool vmbus_in_packet_callback(void);
/* Inside any user callback (probe, remove, on_rescind, on_packet). */
bool vmbus_in_callback(void);
/* Whether open, close, GPADL calls and MODIFYCHANNEL may run here (else -EDEADLK). */
bool vmbus_may_change_channels(void);
/* Whether disconnect and driver registration may run here (else -EDEADLK). */
bool vmbus_may_change_bus(void);
/* The app exits: every refusal is lifted (nothing below resumes), on_packet is no longer called. */
void vmbus_set_exiting(void);
bool vmbus_exiting(void);
/* Runs due offer work now if the caller is at the top level (no wait of ours, no callback). */
void vmbus_run_due_work(void);

/* --- offer.c --- */

/* Handlers for OFFERCHANNEL, RESCIND_CHANNELOFFER (the dispatch table calls them). */
void vmbus_offer_message(const void *msg, size_t len);
void vmbus_rescind_message(const void *msg, size_t len);
struct hvrt_channel *vmbus_channel_by_relid(uint32_t relid);
/* The deferred work: probes, rescind callbacks, releases. Returns how much was done. */
int vmbus_offers_work(void);
/* Releases what is due: a rescinded channel that is closed and not in use. */
void vmbus_channel_release_if_due(struct hvrt_channel *ch);

/* A call of ours starts or stops using the channel; the last one out releases it if due. */
static inline void vmbus_channel_get(struct hvrt_channel *ch)
{
	ch->busy++;
}

static inline void vmbus_channel_put(struct hvrt_channel *ch)
{
	ch->busy--;
	vmbus_channel_release_if_due(ch);
}
/* Marks every channel RELEASED and empties the table (after UNLOAD); unload_answered: pages may go. */
void vmbus_offers_reset(bool unload_answered);

/* --- gpadl.c --- */

/*
 * Creates a GPADL. On failure *handle is 0 when nothing reached the host;
 * otherwise the host may hold the pages: free them only after a successful
 * vmbus_gpadl_teardown(*handle).
 */
int vmbus_gpadl_create(uint32_t relid, const void *buf, size_t bytes, uint32_t *handle);
int vmbus_gpadl_teardown(uint32_t relid, uint32_t handle);
/* The same with its own timeout (a rescinded channel's host may never answer). */
int vmbus_gpadl_teardown_within(uint32_t relid, uint32_t handle, unsigned timeout_ms);
void vmbus_gpadl_created_message(const void *msg, size_t len);
void vmbus_gpadl_torndown_message(const void *msg, size_t len);
/* Ends the waits of a rescinded relid's GPADLs (-ENODEV). */
void vmbus_gpadl_rescind(uint32_t relid);
void vmbus_gpadl_reset(void);
/* Tests: posts a hand-built GPADL message and waits for GPADL_CREATED of handle. */
int vmbus_gpadl_post_raw(uint32_t handle, const void *msg, size_t len, unsigned timeout_ms);

/* --- channel.c --- */

void vmbus_open_result_message(const void *msg, size_t len);
void vmbus_modify_response_message(const void *msg, size_t len);
/* The host signalled relid: read what waits on it (from vmbus_poll). */
void vmbus_channel_event(uint32_t relid);
/* Closes the channel's rings after a ring rule was broken (logs why). */
void vmbus_channel_break(struct hvrt_channel *ch, const char *why, int err);
void vmbus_channel_free_rings(struct hvrt_channel *ch);

/* --- request.c --- */

/* Hands a completion to a waiting request. Returns true if one took it. */
bool vmbus_request_complete(struct hvrt_channel *ch, const struct hvrt_packet *pkt);
void vmbus_request_fail_all(struct hvrt_channel *ch, int err);

/* --- driver.c --- */

/* A new offer: the first matching driver probes it. */
void vmbus_driver_attach(struct hvrt_channel *ch);
/* A rescind: the holder's remove(). */
void vmbus_driver_detach(struct hvrt_channel *ch);
/* Every driver's remove() on every channel it holds (before a disconnect). */
void vmbus_drivers_detach_all(void);

#endif
