/*
 * VMBus traffic capture: the runtime records every VMBus control message and
 * every ring packet, both directions, into a ring in memory, and writes it
 * out as a pcapng file, to a sink of yours or to the console as base64.
 * See docs/capture.md for the format and for reading it back
 * (tools/vmbus-capture.py, or Wireshark).
 *
 * When the ring is full the oldest records are dropped (and counted); each
 * record keeps its first 4096 bytes and notes its original length.
 */
#ifndef HVRT_VMBUS_CAPTURE_H
#define HVRT_VMBUS_CAPTURE_H

#include <stddef.h>

/*
 * hvrt_vmbus_capture_start - start recording VMBus traffic
 * @bytes: size of the ring, rounded up to whole pages (hvrt_page_alloc)
 * Return: 0, -EINVAL (0 bytes) or -ENOMEM (no contiguous pages that large).
 *
 * A capture started before is discarded first, records and ring alike, so
 * calling it again starts afresh. The ring stays allocated until then.
 */
int hvrt_vmbus_capture_start(size_t bytes);

/* Stops recording; what was recorded stays, for hvrt_vmbus_capture_dump/_write. */
void hvrt_vmbus_capture_stop(void);

/*
 * hvrt_vmbus_capture_dump - print the capture on the console
 * Return: 0, or -ENOENT (no capture was started).
 *
 * The pcapng file in base64, 76 characters a line, between the lines
 * "-----BEGIN HVRT VMBUS CAPTURE-----" and "-----END HVRT VMBUS CAPTURE-----",
 * to every console (as hvrt_console_write). Recording pauses while it prints
 * and goes on afterwards if it was on.
 */
int hvrt_vmbus_capture_dump(void);

/*
 * hvrt_vmbus_capture_write - the capture as a pcapng file, to a sink
 * @sink: gets the file's bytes in order, in pieces; returns 0, or a negative errno to stop
 * @ctx:  for the sink
 * Return: 0, -EINVAL (no sink), -ENOENT (no capture was started), or the sink's error.
 *
 * Recording pauses while the sink runs, so traffic the sink itself causes
 * is not recorded into the file being written.
 */
int hvrt_vmbus_capture_write(int (*sink)(void *ctx, const void *bytes, size_t len), void *ctx);

#endif
