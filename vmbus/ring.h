/*
 * VMBus ring buffers (facts 2.8): one ring per direction, a 4 KiB control
 * page and a data area, with byte indices into the data area.
 *
 * This layer knows only bytes and packet framing: it writes a packet made of
 * pieces (the caller builds the descriptor), pads it to 8 bytes and appends
 * the trailer; it copies a packet out and checks its descriptor's lengths
 * before anyone looks at it. It decides when the other side must be signalled
 * but never signals: the channel layer does. Nothing here allocates, sleeps or
 * touches global state, so the same code serves the guest and, in the hosted
 * build, the loopback benchmark.
 *
 * The indices the other side writes are untrusted: any index past the data
 * area or not a multiple of 8, and any descriptor whose lengths do not fit,
 * gives -EIO and leaves the ring as it was.
 */
#ifndef HVRT_VMBUS_RING_H
#define HVRT_VMBUS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmbus/vmbus_defs.h"

struct vmbus_ring {
	volatile struct vmbus_ring_control *control;
	uint8_t *data;
	uint32_t size;       /* bytes in the data area */
	uint32_t read_pos;   /* consumer: where the next read starts (published by vmbus_ring_read_commit) */
};

/* One piece of a packet being written. */
struct vmbus_ring_piece {
	const void *data;
	size_t len;
};

/* A packet copied out of a ring: the descriptor fields, already checked. */
struct vmbus_ring_packet {
	struct vmbus_packet_desc desc;
	uint32_t len;            /* len8 * 8: descriptor and payload, the bytes copied */
	uint32_t payload_offset; /* offset8 * 8, 16 <= payload_offset <= len */
};

/*
 * vmbus_ring_init - use pages as one ring
 * @pages: the control page followed by the data area, page aligned
 * @bytes: all of it, a multiple of 4096, at least two pages
 * Return: 0 or -EINVAL. Sets feature bit 0 (pending_send_sz honoured), as
 * the owner of a ring does; indices and the rest are left as they are.
 */
int vmbus_ring_init(struct vmbus_ring *ring, void *pages, size_t bytes);

/*
 * vmbus_ring_write - append one packet
 * @pieces, @count: the packet's bytes in order, descriptor first; the total
 *     must be what the descriptor's len8 says, before the padding to 8
 * @signal: set true when the reader must be signalled (the ring was empty
 *     before this packet and the reader's interrupt_mask is clear), else false
 * Return: 0; -EAGAIN when it does not fit now (nothing written; the ring is
 * never filled completely); -EMSGSIZE when it could never fit; -EIO when the
 * reader's index is corrupt.
 */
int vmbus_ring_write(struct vmbus_ring *ring, const struct vmbus_ring_piece *pieces, unsigned count, bool *signal);

/* Bytes a writer could use now (free space less one byte's worth: 8), or -EIO. */
long vmbus_ring_write_space(const struct vmbus_ring *ring);

/* The bytes a packet with payload len takes in the ring: descriptor, padding, trailer. */
size_t vmbus_ring_packet_bytes(size_t header_len, size_t payload_len);

/*
 * vmbus_ring_peek - copy the next unread packet out without consuming it
 * @buf, @cap: where the whole packet (descriptor included) goes
 * @pkt: its checked descriptor
 * Return: the packet length (> 0); 0 when there is none; -EMSGSIZE when it
 * does not fit in cap (pkt->len says how much is needed; nothing consumed);
 * -EIO when the writer's index or the descriptor is corrupt.
 */
int vmbus_ring_peek(struct vmbus_ring *ring, void *buf, size_t cap, struct vmbus_ring_packet *pkt);

/*
 * vmbus_ring_read - vmbus_ring_peek, then step past the packet. The step is
 * private until vmbus_ring_read_commit publishes it, so a batch of reads
 * costs the writer one index update.
 */
int vmbus_ring_read(struct vmbus_ring *ring, void *buf, size_t cap, struct vmbus_ring_packet *pkt);

/*
 * vmbus_ring_read_commit - publish the read index after a batch of reads
 * Return: true when the writer must be signalled: it asked for space with
 * pending_send_sz (and the feature bit is set) and the free space went from
 * at most that to more than that with this batch.
 */
bool vmbus_ring_read_commit(struct vmbus_ring *ring);

/* True when a packet waits (the writer's index is past our read position). */
bool vmbus_ring_has_data(const struct vmbus_ring *ring);

/*
 * Consumer: interrupt_mask set (polling, no signals wanted) or cleared. When
 * clearing, returns true if data arrived meanwhile (read it: no signal will
 * come for it).
 */
bool vmbus_ring_set_interrupt_mask(struct vmbus_ring *ring, bool masked);

/* Producer: ask to be signalled when bytes are free (0: stop asking). */
void vmbus_ring_set_pending_send(struct vmbus_ring *ring, uint32_t bytes);

#endif
