/*
 * VMBus traffic capture: every control message and every ring packet, both
 * directions, kept in a ring of records in memory and written out as pcapng
 * (docs/capture.md has the format and how to read it).
 *
 * A capture is an instance the caller owns (struct vmbus_capture over a
 * buffer the caller gives): the runtime has one of its own (capture_api.c,
 * reached through vmbus_capture_runtime()), and the hosted simulator keeps
 * another of everything it sends and receives, written in the same format.
 *
 * When the ring is full the oldest records make room for the new one and are
 * counted as dropped; each record keeps at most `snaplen` bytes of its data
 * and notes its original length. Nothing here allocates, prints or touches
 * global state, so the same code runs in the guest and in hosted programs.
 * A capture is not locked: one caller at a time (the runtime records from
 * hvrt_poll() and from sends, on one CPU, never from an interrupt handler).
 */
#ifndef HVRT_VMBUS_CAPTURE_INTERNAL_H
#define HVRT_VMBUS_CAPTURE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmbus/vmbus_defs.h"

/*
 * The capture's multi-byte fields are written as the CPU holds them; pcapng
 * says which order through its byte-order magic, and the per-record header is
 * specified little-endian. hvrt runs on x86_64 only, and its hosted builds
 * too.
 */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the capture format is little-endian");

/* --- the per-record header: the first bytes of every EPB's packet data --- */

#define VMBUS_CAPTURE_VERSION 1u

/* Direction, always seen from the guest, whoever records (the simulator too). */
enum vmbus_capture_direction {
	VMBUS_CAPTURE_TO_HOST = 0,  /* guest -> host */
	VMBUS_CAPTURE_TO_GUEST = 1, /* host -> guest */
};

/* What a record holds. */
enum vmbus_capture_kind {
	/* A VMBus channel message from its 8-byte header (facts 2.3, 2.4): guest -> host as given to
	 * HvPostMessage, host -> guest as taken from the SINT2 message slot (its payload only). */
	VMBUS_CAPTURE_CONTROL = 0,
	/* A ring packet from its 16-byte descriptor through its payload, as it lies in the ring, the
	 * padding to 8 bytes with it or not, without the 8-byte trailer (facts 2.8). */
	VMBUS_CAPTURE_PACKET = 1,
	/* Text (not NUL-terminated) the recorder adds for the reader: "channel 5 rescinded". */
	VMBUS_CAPTURE_NOTE = 2,
	/* A signal for channel relid: guest -> host, the guest signalled the host (HvSignalEvent or
	 * the monitor page); host -> guest, the channel's event flag was found set. Data: optional,
	 * the connection id (u32) signalled. */
	VMBUS_CAPTURE_SIGNAL = 3,
};

/* Header flags. */
#define VMBUS_CAPTURE_FLAG_TRUNCATED 0x01u /* fewer bytes captured than orig_len */
#define VMBUS_CAPTURE_FLAG_CLASS 0x02u     /* class_guid is the channel's class (else zeros) */

/* Little-endian, 32 bytes, followed by the captured bytes of the record. */
struct vmbus_capture_hdr {
	uint8_t version;              /* VMBUS_CAPTURE_VERSION */
	uint8_t direction;            /* enum vmbus_capture_direction */
	uint8_t kind;                 /* enum vmbus_capture_kind */
	uint8_t flags;                /* VMBUS_CAPTURE_FLAG_* */
	uint32_t relid;               /* channel, 0 for a control message not tied to one */
	struct vmbus_guid class_guid; /* wire order (facts 2.11) */
	uint32_t orig_len;            /* bytes the record had before the snap length cut them */
	uint32_t seq;                 /* record number since the capture began (wraps at 2^32) */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_capture_hdr) == 32, "the record header is 32 bytes");
_Static_assert(sizeof(struct vmbus_capture_hdr) % 4 == 0, "pcapng keeps 32-bit alignment: so must the header");
_Static_assert(offsetof(struct vmbus_capture_hdr, relid) == 4, "relid @4");
_Static_assert(offsetof(struct vmbus_capture_hdr, class_guid) == 8, "class GUID @8");
_Static_assert(offsetof(struct vmbus_capture_hdr, orig_len) == 24, "orig_len @24");
_Static_assert(offsetof(struct vmbus_capture_hdr, seq) == 28, "seq @28");
#define VMBUS_CAPTURE_HDR_SIZE 32u

/* --- the ring --- */

/* Data bytes kept of a record unless vmbus_capture_set_snaplen() says otherwise:
 * a whole channel message, and the largest in-band packet Linux sends (facts 2.10). */
#define VMBUS_CAPTURE_SNAPLEN_DEFAULT 4096u
/* The most a snap length can be: keeps every pcapng length far inside 32 bits. */
#define VMBUS_CAPTURE_SNAPLEN_MAX 0x01000000u

/* Ring bytes one record takes: a 48-byte slot header (size, captured length, time, the record
 * header) and the captured bytes, padded to 8. */
#define VMBUS_CAPTURE_SLOT_HEADER 48u
#define VMBUS_CAPTURE_SLOT_BYTES(captured) (VMBUS_CAPTURE_SLOT_HEADER + (((size_t)(captured) + 7u) & ~(size_t)7u))
/* The smallest ring vmbus_capture_init() takes: one record with 8 bytes of data. */
#define VMBUS_CAPTURE_MIN_BYTES VMBUS_CAPTURE_SLOT_BYTES(8)

struct vmbus_capture {
	uint8_t *buf;          /* the ring, 8-byte aligned */
	size_t size;           /* its bytes, a multiple of 8 */
	size_t head;           /* offset of the oldest record */
	size_t tail;           /* offset where the next record goes */
	size_t end;            /* while wrapped: where the records before the wrap end */
	bool wrapped;          /* records run head..end, then 0..tail */
	bool enabled;          /* record() takes records */
	uint32_t snaplen;      /* data bytes kept per record */
	size_t count;          /* records held */
	uint64_t recorded;     /* records taken since init: held + dropped */
	uint64_t dropped;      /* records overwritten by newer ones, oldest first */
	uint64_t truncated;    /* records cut to the snap length or to the ring */
	uint64_t first_time;   /* time of the first record taken (also if dropped since) */
	uint64_t last_time;    /* time of the latest record */
};

/* --- pcapng (draft-ietf-opsawg-pcapng) --- */

#define VMBUS_CAPTURE_LINKTYPE 147u /* LINKTYPE_USER0 */
#define VMBUS_CAPTURE_TSRESOL 7u    /* if_tsresol: 10^-7 s, the reference time's 100 ns units */
#define VMBUS_CAPTURE_IF_NAME "hvrt vmbus"
#define VMBUS_CAPTURE_IF_DESCRIPTION "Hyper-V VMBus control messages and ring packets, hvrt capture record v1"

#define VMBUS_CAPTURE_PCAPNG_SHB 0x0a0d0d0au
#define VMBUS_CAPTURE_PCAPNG_IDB 1u
#define VMBUS_CAPTURE_PCAPNG_ISB 5u
#define VMBUS_CAPTURE_PCAPNG_EPB 6u
#define VMBUS_CAPTURE_PCAPNG_MAGIC 0x1a2b3c4du
#define VMBUS_CAPTURE_PCAPNG_MAJOR 1u
#define VMBUS_CAPTURE_PCAPNG_MINOR 0u

/* Option codes: opt_endofopt, and those of each block written. */
#define VMBUS_CAPTURE_OPT_END 0u
#define VMBUS_CAPTURE_OPT_SHB_USERAPPL 4u
#define VMBUS_CAPTURE_OPT_IF_NAME 2u
#define VMBUS_CAPTURE_OPT_IF_DESCRIPTION 3u
#define VMBUS_CAPTURE_OPT_IF_TSRESOL 9u
#define VMBUS_CAPTURE_OPT_EPB_FLAGS 2u
#define VMBUS_CAPTURE_OPT_ISB_STARTTIME 2u
#define VMBUS_CAPTURE_OPT_ISB_ENDTIME 3u
#define VMBUS_CAPTURE_OPT_ISB_IFRECV 4u
#define VMBUS_CAPTURE_OPT_ISB_IFDROP 5u

/* epb_flags bits 1:0: the packet's direction as the guest sees it. */
#define VMBUS_CAPTURE_EPB_INBOUND 1u  /* host -> guest */
#define VMBUS_CAPTURE_EPB_OUTBOUND 2u /* guest -> host */

/* Fixed sizes of the blocks' fields before their options/data, and of an EPB's options. */
#define VMBUS_CAPTURE_EPB_HEAD 28u    /* type, length, interface, timestamp high/low, lengths */
#define VMBUS_CAPTURE_EPB_TAIL 16u    /* epb_flags (8), opt_endofopt (4), total length (4) */

/* --- the console form: base64 of the pcapng between these lines --- */
#define VMBUS_CAPTURE_BEGIN "-----BEGIN HVRT VMBUS CAPTURE-----"
#define VMBUS_CAPTURE_END "-----END HVRT VMBUS CAPTURE-----"
#define VMBUS_CAPTURE_LINE_CHARS 76u /* base64 characters a line, 57 bytes */
_Static_assert(VMBUS_CAPTURE_LINE_CHARS % 4 == 0, "whole base64 quanta a line");

/*
 * vmbus_capture_init - make an empty, enabled capture over a buffer
 * @c:     the capture
 * @buf:   its ring; any alignment (the ring starts at the first 8-byte boundary)
 * @bytes: the buffer's size
 * Return: 0, or -EINVAL (no capture or buffer, or fewer than VMBUS_CAPTURE_MIN_BYTES usable).
 *
 * The snap length starts at VMBUS_CAPTURE_SNAPLEN_DEFAULT.
 */
int vmbus_capture_init(struct vmbus_capture *c, void *buf, size_t bytes);

/* Starts (true) or pauses (false) recording; the records held stay. NULL is ignored. */
void vmbus_capture_enable(struct vmbus_capture *c, bool on);

/* Data bytes kept per record from now on, at most VMBUS_CAPTURE_SNAPLEN_MAX. NULL is ignored. */
void vmbus_capture_set_snaplen(struct vmbus_capture *c, uint32_t snaplen);

/*
 * vmbus_capture_record - add one record
 * @c:          the capture; NULL or disabled: nothing happens (the cheap case)
 * @direction:  enum vmbus_capture_direction
 * @kind:       enum vmbus_capture_kind
 * @relid:      the channel, 0 for a control message not tied to one
 * @class_guid: the channel's class, or NULL
 * @time_100ns: Hyper-V reference time of the event
 * @bytes:      what was sent or received (may be NULL when len is 0)
 * @len:        its length
 *
 * Keeps the first snap-length bytes (fewer if the whole ring is smaller),
 * dropping the oldest records until the new one fits.
 */
void vmbus_capture_record(struct vmbus_capture *c, unsigned direction, unsigned kind, uint32_t relid,
			  const struct vmbus_guid *class_guid, uint64_t time_100ns, const void *bytes, size_t len);

/* One piece of a record (the same shape as vmbus/ring.h's struct vmbus_ring_piece). */
struct vmbus_capture_piece {
	const void *data; /* NULL: the piece counts as empty */
	size_t len;
};

/*
 * vmbus_capture_record_pieces - add one record made of pieces, in order
 * @pieces, @count: what vmbus_capture_record() takes as @bytes and @len, in
 *                  parts: a packet written as descriptor and payload, say
 * The other parameters and what happens: as vmbus_capture_record().
 */
void vmbus_capture_record_pieces(struct vmbus_capture *c, unsigned direction, unsigned kind, uint32_t relid,
				 const struct vmbus_guid *class_guid, uint64_t time_100ns,
				 const struct vmbus_capture_piece *pieces, unsigned count);

/*
 * vmbus_capture_write - the capture as a pcapng file
 * @c:    the capture
 * @sink: gets the file's bytes in order, in pieces; returns 0, or a negative errno to stop
 * @ctx:  for the sink
 * Return: 0, -EINVAL (no capture or sink), or the sink's first negative return.
 *
 * Section Header Block, one Interface Description Block (LINKTYPE_USER0),
 * an Enhanced Packet Block per record, oldest first, and an Interface
 * Statistics Block with the drop count. The capture is not changed.
 */
int vmbus_capture_write(const struct vmbus_capture *c, int (*sink)(void *ctx, const void *bytes, size_t len),
			void *ctx);

/*
 * vmbus_capture_write_console - the pcapng file as lines of text
 * @c:   the capture
 * @put: gets each line, NUL-terminated, without a newline
 * @ctx: for put
 * Return: 0, or -EINVAL (no capture or put).
 *
 * VMBUS_CAPTURE_BEGIN, the file in base64 (76 characters a line, the last
 * one shorter), VMBUS_CAPTURE_END: tools/vmbus-capture.py finds the block in
 * a whole console log.
 */
int vmbus_capture_write_console(const struct vmbus_capture *c, void (*put)(void *ctx, const char *line), void *ctx);

/* The runtime's own capture while it records (hvrt_vmbus_capture_start), else NULL. */
struct vmbus_capture *vmbus_capture_runtime(void);

#endif
