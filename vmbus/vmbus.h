/*
 * VMBus internals, one job per file:
 *   connection.c  the bus: version negotiation, control message dispatch, waits, UNLOAD
 *   offer.c       offers, the channel table, rescind and relid release
 *   gpadl.c       GPADL create and teardown
 *   channel.c     open, close, signalling, send and receive on the rings (ring.c)
 *   request.c     request/response with transaction ids
 *   driver.c      drivers by class GUID
 *   guid.c        GUID text and the class name table (classes.def)
 */
#ifndef HVRT_VMBUS_VMBUS_H
#define HVRT_VMBUS_VMBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hvrt/vmbus.h>

#include "vmbus/ring.h"
#include "vmbus/vmbus_defs.h"

/* Waits: how long the host gets for each kind of answer. */
#define VMBUS_VERSION_TIMEOUT_MS 1000u
#define VMBUS_OFFERS_TIMEOUT_MS 5000u
#define VMBUS_REPLY_TIMEOUT_MS 5000u /* GPADL, open, unload, modify */

enum vmbus_channel_state {
	VMBUS_CHANNEL_OFFERED,
	VMBUS_CHANNEL_OPENING,
	VMBUS_CHANNEL_OPEN,
	VMBUS_CHANNEL_BROKEN, /* the host broke a ring rule: closed, waiting for the owner's close */
};

#define VMBUS_REQUESTS_MAX 8u

struct vmbus_request_slot {
	uint64_t trans_id; /* 0: free */
	void *resp;
	size_t cap;
	int result;        /* length, or a negative errno */
	bool done;
};

struct hvrt_channel {
	struct hvrt_vmbus_offer offer;
	enum vmbus_channel_state state;
	bool rescinded;
	bool in_rescind; /* its rescind callbacks are running */
	bool polled;
	struct hvrt_channel *primary;

	/* rings: one allocation, the GPADL covers both */
	void *ring_pages;
	size_t ring_bytes;
	uint32_t ring_gpadl;
	struct vmbus_ring tx, rx;
	uint8_t *rx_buf;
	size_t rx_cap;

	/* OPENCHANNEL_RESULT / MODIFYCHANNEL_RESPONSE */
	bool open_answered, modify_answered;
	uint32_t open_status, modify_status;

	void (*on_packet)(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx);
	void (*on_rescind)(struct hvrt_channel *ch, void *ctx);
	void *ctx;

	const struct hvrt_vmbus_driver *driver;
	uint64_t next_trans_id;
	struct vmbus_request_slot requests[VMBUS_REQUESTS_MAX];
	bool draining;
};

/* --- connection.c --- */

/* Connected (0) or why not; connects on first call. */
int vmbus_connect(void);
bool vmbus_connected(void);
uint32_t vmbus_version(void);
/* Posts a channel message to the host's message connection. Returns 0 or a negative errno. */
int vmbus_post(const void *msg, size_t len);
/*
 * Runs hvrt_poll() and halts until done(ctx) or timeout_ms passed. Returns 0
 * or -ETIMEDOUT; -ENOTCONN when the bus went away meanwhile.
 */
int vmbus_wait(bool (*done)(void *ctx), void *ctx, unsigned timeout_ms);
/* Reference time now (100 ns), 0 without a Hyper-V clock. */
uint64_t vmbus_now(void);
/* Signals the host for a channel: monitor page, interrupt page (< 2.4) or HvSignalEvent. */
void vmbus_signal_host(const struct hvrt_channel *ch);
/* The log prefix */
#define VMBUS_LOG "vmbus"

/* --- offer.c --- */

/* Handlers for OFFERCHANNEL, RESCIND_CHANNELOFFER (the dispatch table calls them). */
void vmbus_offer_message(const void *msg, size_t len);
void vmbus_rescind_message(const void *msg, size_t len);
struct hvrt_channel *vmbus_channel_by_relid(uint32_t relid);
/* Releases a rescinded channel once it is closed (RELID_RELEASED, frees it). */
void vmbus_channel_release(struct hvrt_channel *ch);
/* Forgets every channel without messages (after UNLOAD or a reset of the bus). */
void vmbus_offers_reset(void);
/* Runs the rescind callbacks and driver removals that are due (from hvrt_poll). */
void vmbus_offers_poll(void);

/* --- gpadl.c --- */

int vmbus_gpadl_create(uint32_t relid, const void *buf, size_t bytes, uint32_t *handle);
int vmbus_gpadl_teardown(uint32_t relid, uint32_t handle);
void vmbus_gpadl_created_message(const void *msg, size_t len);
void vmbus_gpadl_torndown_message(const void *msg, size_t len);
void vmbus_gpadl_reset(void);
/* Tests: posts a hand-built GPADL message and waits for GPADL_CREATED of handle. */
int vmbus_gpadl_post_raw(uint32_t handle, const void *msg, size_t len, unsigned timeout_ms);

/* --- channel.c --- */

void vmbus_open_result_message(const void *msg, size_t len);
void vmbus_modify_response_message(const void *msg, size_t len);
/* The host signalled relid: read what waits on it. */
void vmbus_channel_event(uint32_t relid);
/* Closes the channel's rings after a ring rule was broken (logs why). */
void vmbus_channel_break(struct hvrt_channel *ch, const char *why, int err);
/* Reads and dispatches what waits on an open channel. */
void vmbus_channel_drain(struct hvrt_channel *ch);
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
void vmbus_drivers_reset(void);

#endif
