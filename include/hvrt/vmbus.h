/*
 * VMBus: the channels Hyper-V offers this VM, for drivers and for apps that
 * speak their own protocol on a channel. See docs/vmbus.md.
 *
 * The bus connects on first use (any call below), negotiating the newest
 * protocol version the host accepts, and disconnects (UNLOAD) when the app
 * exits or reboots, so a next stage can connect again. Every call runs on the
 * boot CPU's event loop: callbacks run from hvrt_poll(), which every blocking
 * call here runs while it waits. Errors are negative errno values.
 */
#ifndef HVRT_VMBUS_H
#define HVRT_VMBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A GUID in its wire order (u32, u16, u16 little-endian, then 8 bytes). */
struct hvrt_guid {
	uint8_t bytes[16];
};
#define HVRT_GUID_STRING_LEN 37 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and its NUL */

/* Writes the canonical lower-case form; returns buf. */
char *hvrt_guid_format(const struct hvrt_guid *guid, char buf[HVRT_GUID_STRING_LEN]);
/* Parses the canonical form. Returns 0 or -EINVAL. */
int hvrt_guid_parse(const char *text, struct hvrt_guid *guid);
bool hvrt_guid_equal(const struct hvrt_guid *a, const struct hvrt_guid *b);
/* The human name of a device class ("Synthetic SCSI controller (storvsc)"), or NULL. */
const char *hvrt_vmbus_class_name(const struct hvrt_guid *class_id);

/* --- the bus --- */

/*
 * Connects if not yet connected: INITIATE_CONTACT from 5.3 down to 0.13, then
 * REQUESTOFFERS until ALLOFFERS_DELIVERED. Returns 0, -ENODEV (no Hyper-V
 * SynIC), -EPROTONOSUPPORT (every version refused), -ETIMEDOUT (no answer) or
 * another negative errno. A failure is remembered: later calls return it at
 * once, until hvrt_vmbus_disconnect() clears it.
 */
int hvrt_vmbus_connect(void);
/*
 * Runs every driver's remove(), closes every open channel (and its ring
 * GPADL; an app's own GPADLs are its to tear down first), sends UNLOAD (3.0+)
 * and waits for UNLOAD_RESPONSE. Every channel is then dead: calls on it fail.
 * Also clears a remembered connection failure. Returns 0, -EBUSY (a
 * disconnect is in progress), or -EDEADLK from inside a callback or a wait
 * of hvrt's (the frames below hold channels); exit() disconnects from
 * anywhere.
 */
int hvrt_vmbus_disconnect(void);
/* The negotiated version (major << 16 | minor), 0 when not connected. */
uint32_t hvrt_vmbus_version(void);

/* --- channels --- */

/* What the host offered (every field of OFFERCHANNEL). */
struct hvrt_vmbus_offer {
	struct hvrt_guid class_id;
	struct hvrt_guid instance_id;
	uint32_t relid;              /* the channel's id on the bus */
	uint32_t connection_id;      /* what the guest signals */
	uint16_t sub_channel_index;  /* 0: a primary channel */
	uint16_t flags;              /* VMBus offer flags */
	uint16_t mmio_megabytes;
	uint16_t mmio_megabytes_optional;
	uint8_t monitor_id;
	bool monitor_allocated;      /* the guest signals through the monitor page */
	bool dedicated_interrupt;
	uint8_t user_defined[120];
};

/*
 * A channel. Its object lives as long as the program: after a rescind (once
 * closed) or a disconnect every call on it fails (-ENODEV, -ENOTCONN), but the
 * pointer never dangles. Each offer costs about 700 bytes for good.
 */
struct hvrt_channel;

/* Channels in relid order: NULL gives the first; returns NULL after the last. Connects first. */
struct hvrt_channel *hvrt_vmbus_next(struct hvrt_channel *prev);
/* The first primary channel of a class after prev (NULL: from the start), or NULL. */
struct hvrt_channel *hvrt_vmbus_find(const struct hvrt_guid *class_id, struct hvrt_channel *prev);
const struct hvrt_vmbus_offer *hvrt_channel_offer(const struct hvrt_channel *ch);
/* A sub-channel's primary (a primary returns itself). */
struct hvrt_channel *hvrt_channel_primary(struct hvrt_channel *ch);
/* The host withdrew the channel (RESCIND). Close it; nothing else works on it any more. */
bool hvrt_channel_rescinded(const struct hvrt_channel *ch);
bool hvrt_channel_is_open(const struct hvrt_channel *ch);

/* A packet received on a channel. payload points into a buffer valid until the callback returns. */
struct hvrt_packet {
	uint16_t type;        /* VMBus packet type: 6 in-band, 7 transfer pages, 9 GPA direct, 11 completion */
	uint16_t flags;       /* bit 0: the sender wants a completion */
	uint64_t trans_id;
	const void *payload;  /* after the descriptor and any ranges */
	uint32_t payload_len; /* to the packet's end: VMBus carries no byte length, so the sender's padding
				 to 8 bytes is included; device protocols carry their own lengths */
	const void *raw;      /* the whole packet, descriptor first (for transfer-page ranges) */
	uint32_t raw_len;
};

struct hvrt_channel_config {
	uint32_t send_ring_bytes;   /* guest -> host data area, multiple of 4096 (0: 16 KiB) */
	uint32_t recv_ring_bytes;   /* host -> guest data area (0: 16 KiB); at least max_packet_bytes */
	uint32_t max_packet_bytes;  /* largest packet accepted from the host (0: 4096 + 64) */
	uint32_t max_awaited_completions; /* packets sent asking for a completion whose completion may be
					     due at once (0: send_ring_bytes / 24, what the ring holds of
					     them; at most 1 << 20). A completion for any other
					     transaction id breaks the channel (docs/vmbus.md) */
	uint32_t target_vp;         /* VP that takes its interrupts: the boot CPU's, hvrt_host()->vp_index
				       (no SMP yet: anything else is -EINVAL) */
	const void *user_data;      /* OPENCHANNEL user data, up to 120 bytes */
	size_t user_data_len;
	/* Runs from hvrt_poll() for each packet that is not a completion of hvrt_channel_request. */
	void (*on_packet)(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx);
	/* Runs from offer work (docs/vmbus.md) when the host rescinds the channel while it is open (may be NULL). */
	void (*on_rescind)(struct hvrt_channel *ch, void *ctx);
	void *ctx;
	/* No interrupts: the app reads with hvrt_channel_recv() itself (on_packet is not called). */
	bool polled;
};

/*
 * Allocates the rings, creates their GPADL and opens the channel. Returns 0,
 * -EBUSY (open), -ENODEV (rescinded), -EINVAL (bad config), -ENOMEM,
 * -ENOTCONN, -ETIMEDOUT, -EIO (the host refused the open), or -EDEADLK from
 * an on_packet (see hvrt_channel_close). A rescind while it waits ends it
 * with -ENODEV; the driver's remove() runs later, from a poll of the app's.
 */
int hvrt_channel_open(struct hvrt_channel *ch, const struct hvrt_channel_config *cfg);
/*
 * CLOSECHANNEL, GPADL teardown, frees the rings; a primary's open sub-channels
 * are closed first. A rescinded channel is then released (RELID_RELEASED)
 * once nothing of ours uses it and the app's GPADLs on it are torn down.
 * Closing a closed channel does nothing. Returns 0, -EBUSY (still opening),
 * or -EDEADLK from inside an on_packet or while a wait of hvrt's is in
 * progress (a synthetic-timer callback inside one): the frames below are
 * reading or building channels; note what to close and do it from the main
 * loop.
 */
int hvrt_channel_close(struct hvrt_channel *ch);

/*
 * Sends an in-band packet. want_completion sets the completion-requested flag,
 * and trans_id is then awaited: the host's completion for it is expected once.
 * Returns 0, -EAGAIN (ring full, or max_awaited_completions await already:
 * nothing sent), -EMSGSIZE, -ENOTCONN (not open), -ENODEV (rescinded) or -EIO
 * (the channel broke and was closed).
 * Transaction ids: take them from hvrt_channel_next_trans_id() when the
 * channel also carries hvrt_channel_request(), whose completions are matched
 * by id alone.
 */
int hvrt_channel_send(struct hvrt_channel *ch, const void *data, size_t len, uint64_t trans_id,
		      bool want_completion);
/* Sends a completion packet (type 11) for trans_id. */
int hvrt_channel_send_completion(struct hvrt_channel *ch, uint64_t trans_id, const void *data, size_t len);

/* A guest buffer the host reads or writes directly. */
struct hvrt_buffer {
	const void *addr;
	uint32_t len;
};
/*
 * Sends a GPA-direct packet (type 9): each buffer becomes one multi-page range,
 * then the in-band data. The ranges take at most 1 KiB: 8 bytes a range plus
 * 8 a page, so 64 single-page buffers, or one buffer of up to 127 pages.
 * Returns as hvrt_channel_send(), and -EMSGSIZE past that.
 */
int hvrt_channel_send_gpa(struct hvrt_channel *ch, const struct hvrt_buffer *bufs, unsigned count,
			  const void *data, size_t len, uint64_t trans_id, bool want_completion);

/*
 * Waits (running hvrt_poll) until a packet of bytes payload would fit in the
 * send ring and another completion may be awaited. Returns 0, -ETIMEDOUT,
 * -ENOTCONN, -ENODEV (rescinded) or -EIO. A polled channel's completions
 * come only through the app's hvrt_channel_recv().
 */
int hvrt_channel_wait_writable(struct hvrt_channel *ch, size_t bytes, unsigned timeout_ms);

/*
 * Copies the next packet out (polled channels, or from on_packet for more).
 * Returns its payload length, -EAGAIN (none), -EMSGSIZE (buf too small: the
 * packet stays, pkt->raw_len says how much buf must hold), -ENOTCONN, -ENODEV
 * (released) or -EIO (a malformed packet: the channel is closed).
 * pkt->payload and raw point into buf.
 */
int hvrt_channel_recv(struct hvrt_channel *ch, void *buf, size_t cap, struct hvrt_packet *pkt);

/*
 * Sends req in-band with a completion requested and waits for the completion
 * with the same transaction id; while the send ring (or the set of awaited
 * completions) is full it waits for room, within the same timeout_ms. Returns
 * the response length (copied into resp, at most cap), -ETIMEDOUT (no room or
 * no answer in time), -ENODEV (rescinded meanwhile), -EOPNOTSUPP
 * (a polled channel: nothing would read the completion), -EDEADLK (from this
 * channel's own on_packet, for the same reason), -EBUSY (8 requests already
 * wait on it), -ENOTCONN, or a send error.
 */
int hvrt_channel_request(struct hvrt_channel *ch, const void *req, size_t len, void *resp, size_t cap,
			 unsigned timeout_ms);

/* A transaction id not in use on this channel (never 0). */
uint64_t hvrt_channel_next_trans_id(struct hvrt_channel *ch);

/*
 * GPADLs of the app's own (netvsc-style shared buffers), page aligned, at
 * most 16 per channel. Returns 0 and the handle; -ENOSPC, -ENODEV, -EDEADLK
 * (from an on_packet), or the errors of a GPADL. On failure *handle is 0 if
 * the host got nothing; else the host may hold the pages: reuse them only
 * after a teardown of that handle returned 0. A teardown of a handle that is
 * not this channel's is -EINVAL.
 */
int hvrt_channel_gpadl_create(struct hvrt_channel *ch, void *buf, size_t bytes, uint32_t *handle);
int hvrt_channel_gpadl_teardown(struct hvrt_channel *ch, uint32_t handle);

/* The sub-channel with that index, once the host offered it, or NULL. */
struct hvrt_channel *hvrt_channel_subchannel(struct hvrt_channel *primary, uint16_t index);
/*
 * MODIFYCHANNEL (VMBus 4.1+): interrupts to another VP. Returns 0,
 * -EOPNOTSUPP, -EINVAL (not the boot CPU: no SMP yet), -ENOTCONN, -ENODEV,
 * -EDEADLK (see hvrt_channel_close), -ETIMEDOUT or -EIO.
 */
int hvrt_channel_set_target_vp(struct hvrt_channel *ch, uint32_t vp);

/* --- drivers --- */

struct hvrt_vmbus_driver {
	const char *name;
	struct hvrt_guid class_id;
	/* A channel of the class was offered (primary only unless subchannels). Return 0 to take it. */
	int (*probe)(struct hvrt_channel *ch, void *ctx);
	/* The channel was rescinded, the driver unregistered, or the bus disconnects: close it. */
	void (*remove)(struct hvrt_channel *ch, void *ctx);
	void *ctx;
	bool subchannels;
};

/*
 * Registers a driver; it is probed at once on every matching channel offered
 * by then, and later on each new one from hvrt_poll(). Returns 0, -EBUSY
 * (registered), -ENOSPC, or -EDEADLK from inside a callback.
 */
int hvrt_vmbus_register(const struct hvrt_vmbus_driver *drv);
/* Runs remove() on the driver's channels and forgets it. Returns 0 or -EDEADLK (inside a callback). */
int hvrt_vmbus_unregister(const struct hvrt_vmbus_driver *drv);
/* The driver holding a channel, or NULL. */
const struct hvrt_vmbus_driver *hvrt_channel_driver(const struct hvrt_channel *ch);

#endif
