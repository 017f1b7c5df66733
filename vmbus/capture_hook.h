/*
 * Where vmbus/ hands its traffic to the runtime's capture (vmbus/capture.h,
 * docs/capture.md). Inline, so a capture that is off costs a load and a
 * branch on the ring's hot path.
 */
#ifndef HVRT_VMBUS_CAPTURE_HOOK_H
#define HVRT_VMBUS_CAPTURE_HOOK_H

#include <stddef.h>
#include <stdint.h>

#include "vmbus/capture.h"
#include "vmbus/ring.h"

#define VMBUS_CAPTURE_GUEST_TO_HOST VMBUS_CAPTURE_TO_HOST
#define VMBUS_CAPTURE_HOST_TO_GUEST VMBUS_CAPTURE_TO_GUEST

/* The relid a control message is about (0: none); in connection.c. */
uint32_t vmbus_msg_relid(const void *msg, size_t len);
uint64_t vmbus_now(void);

static inline void vmbus_capture_control(unsigned direction, const void *msg, size_t len)
{
	struct vmbus_capture *c = vmbus_capture_runtime();

	if (c)
		vmbus_capture_record(c, direction, VMBUS_CAPTURE_CONTROL, vmbus_msg_relid(msg, len), NULL, vmbus_now(),
				     msg, len);
}

_Static_assert(sizeof(struct vmbus_capture_piece) == sizeof(struct vmbus_ring_piece), "same piece shape");
_Static_assert(offsetof(struct vmbus_capture_piece, len) == offsetof(struct vmbus_ring_piece, len),
	       "same piece shape");

/* A packet written (pieces as given to the ring) or read (one piece). */
static inline void vmbus_capture_packet(unsigned direction, uint32_t relid, const void *class_id,
					const struct vmbus_ring_piece *pieces, unsigned count)
{
	struct vmbus_capture *c = vmbus_capture_runtime();

	if (c)
		vmbus_capture_record_pieces(c, direction, VMBUS_CAPTURE_PACKET, relid, class_id, vmbus_now(),
					    (const struct vmbus_capture_piece *)(const void *)pieces, count);
}

/* A signal to the host (connection id) or an event flag found set. */
static inline void vmbus_capture_signal(unsigned direction, uint32_t relid, uint32_t connection)
{
	struct vmbus_capture *c = vmbus_capture_runtime();

	if (c)
		vmbus_capture_record(c, direction, VMBUS_CAPTURE_SIGNAL, relid, NULL, vmbus_now(), &connection,
				     sizeof(connection));
}

#endif
