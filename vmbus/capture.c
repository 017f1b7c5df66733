/*
 * VMBus traffic capture: the ring of records and its pcapng and console forms.
 *
 * Records lie whole in the ring, never split at its end: a record that does
 * not fit between the newest record and the end of the buffer starts again
 * at offset 0, and the space left behind is skipped (`end` marks it). Room
 * is made by dropping the oldest records, so the ring always holds the most
 * recent traffic, which is what one looks at after a failure. Each record
 * stores its pcapng record header ready-made, so writing the file is copying.
 */
#include <errno.h>
#include <string.h>

#include <hvrt/version.h>

#include "vmbus/capture.h"

/* How a record sits in the ring: this, then the captured bytes padded to 8. */
struct slot {
	uint32_t size;    /* ring bytes of the whole slot, a multiple of 8 */
	uint32_t caplen;  /* captured bytes after the header */
	uint64_t time;    /* reference time, 100 ns */
	struct vmbus_capture_hdr hdr;
};
_Static_assert(sizeof(struct slot) == VMBUS_CAPTURE_SLOT_HEADER, "the slot header size capture.h promises");
_Static_assert(sizeof(struct slot) % 8 == 0, "slots stay 8-byte aligned");

/*
 * vmbus_capture_init - an empty, enabled capture over a buffer (capture.h)
 * @c, @buf, @bytes: the capture, and the memory its ring lives in
 * Return: 0, or -EINVAL.
 *
 * The ring starts at the buffer's first 8-byte boundary and ends at a
 * multiple of 8, so every slot header is naturally aligned.
 */
int vmbus_capture_init(struct vmbus_capture *c, void *buf, size_t bytes)
{
	if (!c || !buf)
		return -EINVAL;
	uintptr_t start = ((uintptr_t)buf + 7u) & ~(uintptr_t)7u;
	size_t skip = start - (uintptr_t)buf;
	if (bytes < skip || ((bytes - skip) & ~(size_t)7u) < VMBUS_CAPTURE_MIN_BYTES)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->buf = (uint8_t *)start;
	c->size = (bytes - skip) & ~(size_t)7u;
	c->snaplen = VMBUS_CAPTURE_SNAPLEN_DEFAULT;
	c->enabled = true;
	return 0;
}

/* Recording on or off; the records stay either way. */
void vmbus_capture_enable(struct vmbus_capture *c, bool on)
{
	if (c)
		c->enabled = on;
}

/* Data bytes kept per record from now on; records already held keep what they had. */
void vmbus_capture_set_snaplen(struct vmbus_capture *c, uint32_t snaplen)
{
	if (c)
		c->snaplen = snaplen < VMBUS_CAPTURE_SNAPLEN_MAX ? snaplen : VMBUS_CAPTURE_SNAPLEN_MAX;
}

/* The slot at an offset; offsets are 8-aligned in an 8-aligned buffer. */
static struct slot *slot_at(const struct vmbus_capture *c, size_t off)
{
	return (struct slot *)(void *)(c->buf + off);
}

/*
 * place - find room for a slot, dropping the oldest records as needed
 * @c:    the capture
 * @need: slot bytes, a multiple of 8, at most c->size
 * Return: the offset where the slot goes; the ring already counts it as used.
 *
 * Not wrapped, the free space is after tail up to the end of the buffer;
 * wrapped, it is between tail and head. Each turn either places the slot,
 * wraps once, or drops one record, so the loop ends: an empty ring takes
 * any slot of at most c->size.
 */
static size_t place(struct vmbus_capture *c, size_t need)
{
	for (;;) {
		if (c->count == 0) {
			c->head = c->tail = 0;
			c->wrapped = false;
		}
		if (!c->wrapped) {
			if (c->size - c->tail >= need)
				break;
			/* Start again at 0; what lies between tail and the buffer's end is skipped. */
			c->end = c->tail;
			c->tail = 0;
			c->wrapped = true;
			continue;
		}
		if (c->head - c->tail >= need)
			break;
		c->head += slot_at(c, c->head)->size;
		c->count--;
		c->dropped++;
		if (c->head == c->end) {
			/* The records before the wrap are all gone: what is left runs 0..tail. */
			c->head = 0;
			c->wrapped = false;
		}
	}
	size_t off = c->tail;
	c->tail += need;
	c->count++;
	return off;
}

/*
 * vmbus_capture_record_pieces - add one record made of pieces (capture.h has the parameters)
 *
 * Called for every message and packet while a capture runs, and with a NULL
 * or disabled capture otherwise: that case is the first test, nothing else.
 * The record header is built here, once, so writing the file only copies.
 */
void vmbus_capture_record_pieces(struct vmbus_capture *c, unsigned direction, unsigned kind, uint32_t relid,
				 const struct vmbus_guid *class_guid, uint64_t time_100ns,
				 const struct vmbus_capture_piece *pieces, unsigned count)
{
	if (!c || !c->enabled)
		return;
	size_t len = 0;
	for (unsigned i = 0; pieces && i < count; i++)
		len += pieces[i].data ? pieces[i].len : 0;
	/* A record always fits the ring, if need be with fewer bytes than the snap length. */
	size_t keep = len < c->snaplen ? len : c->snaplen;
	if (keep > c->size - VMBUS_CAPTURE_SLOT_HEADER)
		keep = c->size - VMBUS_CAPTURE_SLOT_HEADER;
	size_t need = VMBUS_CAPTURE_SLOT_BYTES(keep);
	struct slot *s = slot_at(c, place(c, need));

	s->size = (uint32_t)need;
	s->caplen = (uint32_t)keep;
	s->time = time_100ns;
	s->hdr = (struct vmbus_capture_hdr){
		.version = VMBUS_CAPTURE_VERSION,
		.direction = (uint8_t)direction,
		.kind = (uint8_t)kind,
		.flags = (uint8_t)((keep < len ? VMBUS_CAPTURE_FLAG_TRUNCATED : 0) |
				   (class_guid ? VMBUS_CAPTURE_FLAG_CLASS : 0)),
		.relid = relid,
		/* pcapng lengths are 32 bits: a record longer than 4 GiB could not be described anyway. */
		.orig_len = len < UINT32_MAX - VMBUS_CAPTURE_HDR_SIZE ? (uint32_t)len : UINT32_MAX - VMBUS_CAPTURE_HDR_SIZE,
		.seq = (uint32_t)c->recorded,
	};
	if (class_guid)
		s->hdr.class_guid = *class_guid;
	/* The padding after the bytes is never read: the writer pads with zeros of its own. */
	uint8_t *data = (uint8_t *)(s + 1);
	for (unsigned i = 0; keep && i < count; i++) {
		if (!pieces[i].data)
			continue;
		size_t n = pieces[i].len < keep ? pieces[i].len : keep;
		memcpy(data, pieces[i].data, n);
		data += n;
		keep -= n;
	}

	if (c->recorded == 0)
		c->first_time = time_100ns;
	c->last_time = time_100ns;
	c->recorded++;
	c->truncated += s->caplen < len;
}

/* One contiguous record: the common case, as one piece. */
void vmbus_capture_record(struct vmbus_capture *c, unsigned direction, unsigned kind, uint32_t relid,
			  const struct vmbus_guid *class_guid, uint64_t time_100ns, const void *bytes, size_t len)
{
	if (!c || !c->enabled)
		return;
	struct vmbus_capture_piece piece = { bytes, len };
	vmbus_capture_record_pieces(c, direction, kind, relid, class_guid, time_100ns, &piece, 1);
}

/* --- pcapng --- */

/* Where the file goes; the first error sticks, and nothing more is sent after it. */
struct out {
	int (*sink)(void *ctx, const void *bytes, size_t len);
	void *ctx;
	int err;
};

/* Hands bytes to the sink unless an error came before; empty pieces are not handed over. */
static void emit(struct out *o, const void *bytes, size_t len)
{
	if (o->err || len == 0)
		return;
	int r = o->sink(o->ctx, bytes, len);
	if (r < 0)
		o->err = r;
}

/* A block built in memory: the non-packet blocks are small. */
struct block {
	uint8_t b[256];
	size_t n;
};
_Static_assert(sizeof(VMBUS_CAPTURE_IF_DESCRIPTION) + sizeof(VMBUS_CAPTURE_IF_NAME) + 64 <= sizeof(((struct block *)0)->b),
	       "the IDB fits its block buffer");

/* Appends to a block being built; the callers' sizes are fixed and fit (the assert on struct block). */
static void put_bytes(struct block *b, const void *p, size_t len)
{
	memcpy(b->b + b->n, p, len);
	b->n += len;
}

/* Numbers go in as the CPU holds them: little-endian, which the SHB's byte-order magic says. */
static void put_u16(struct block *b, uint16_t v)
{
	put_bytes(b, &v, sizeof(v));
}

static void put_u32(struct block *b, uint32_t v)
{
	put_bytes(b, &v, sizeof(v));
}

static void put_u64(struct block *b, uint64_t v)
{
	put_bytes(b, &v, sizeof(v));
}

/* An option: code, length, value, zero padding to 32 bits. */
static void put_option(struct block *b, uint16_t code, const void *value, uint16_t len)
{
	static const uint8_t zeros[4];

	put_u16(b, code);
	put_u16(b, len);
	put_bytes(b, value, len);
	put_bytes(b, zeros, (4u - len % 4u) % 4u);
}

/* A timestamp option: two 32-bit words, high then low, as in the EPB. */
static void put_time_option(struct block *b, uint16_t code, uint64_t t)
{
	uint32_t v[2] = { (uint32_t)(t >> 32), (uint32_t)t };
	put_option(b, code, v, sizeof(v));
}

/* Starts a block: its type and room for the total length. */
static void begin_block(struct block *b, uint32_t type)
{
	b->n = 0;
	put_u32(b, type);
	put_u32(b, 0); /* the total length, filled in by end_block */
}

/* opt_endofopt, the total length at both ends, and out. */
static void end_block(struct out *o, struct block *b)
{
	put_u16(b, VMBUS_CAPTURE_OPT_END);
	put_u16(b, 0);
	uint32_t total = (uint32_t)b->n + 4u;
	memcpy(b->b + 4, &total, sizeof(total));
	put_u32(b, total);
	emit(o, b->b, b->n);
}

/* A UTF-8 string option, not NUL-terminated (pcapng says so). */
static void put_string_option(struct block *b, uint16_t code, const char *s)
{
	put_option(b, code, s, (uint16_t)strlen(s));
}

/* One Enhanced Packet Block: the record header and the captured bytes are the packet data. */
static void write_epb(struct out *o, const struct slot *s)
{
	static const uint8_t zeros[4];
	uint32_t caplen = VMBUS_CAPTURE_HDR_SIZE + s->caplen;
	uint32_t pad = (4u - caplen % 4u) % 4u;
	uint32_t total = VMBUS_CAPTURE_EPB_HEAD + caplen + pad + VMBUS_CAPTURE_EPB_TAIL;
	uint32_t head[7] = {
		VMBUS_CAPTURE_PCAPNG_EPB,
		total,
		0, /* the one interface */
		(uint32_t)(s->time >> 32),
		(uint32_t)s->time,
		caplen,
		VMBUS_CAPTURE_HDR_SIZE + s->hdr.orig_len,
	};
	_Static_assert(sizeof(head) == VMBUS_CAPTURE_EPB_HEAD, "EPB head");
	uint32_t flags = s->hdr.direction == VMBUS_CAPTURE_TO_HOST ? VMBUS_CAPTURE_EPB_OUTBOUND
		       : s->hdr.direction == VMBUS_CAPTURE_TO_GUEST ? VMBUS_CAPTURE_EPB_INBOUND
								     : 0;
	uint32_t tail[4] = {
		VMBUS_CAPTURE_OPT_EPB_FLAGS | 4u << 16, /* code, then length 4, as two u16 */
		flags,
		VMBUS_CAPTURE_OPT_END,
		total,
	};
	_Static_assert(sizeof(tail) == VMBUS_CAPTURE_EPB_TAIL, "EPB tail");

	emit(o, head, sizeof(head));
	emit(o, &s->hdr, sizeof(s->hdr));
	emit(o, s + 1, s->caplen);
	emit(o, zeros, pad);
	emit(o, tail, sizeof(tail));
}

/* Every record from `from` up to `to`, in ring order. */
static void write_range(struct out *o, const struct vmbus_capture *c, size_t from, size_t to)
{
	while (from < to && !o->err) {
		const struct slot *s = slot_at(c, from);
		write_epb(o, s);
		from += s->size;
	}
}

/* The largest captured length among the records from `from` up to `to`, at least `most`. */
static uint32_t range_caplen(const struct vmbus_capture *c, size_t from, size_t to, uint32_t most)
{
	while (from < to) {
		const struct slot *s = slot_at(c, from);
		most = s->caplen > most ? s->caplen : most;
		from += s->size;
	}
	return most;
}

/*
 * The IDB's snap length: the current one, or more if records taken before
 * the snap length was lowered are longer (pcapng wants every captured
 * length within the interface's snap length).
 */
static uint32_t snaplen_of(const struct vmbus_capture *c)
{
	uint32_t most = c->snaplen;

	if (!c->count)
		return most;
	if (!c->wrapped)
		return range_caplen(c, c->head, c->tail, most);
	return range_caplen(c, 0, c->tail, range_caplen(c, c->head, c->end, most));
}

/*
 * vmbus_capture_write - the capture as pcapng (capture.h has the parameters)
 * Return: 0, -EINVAL, or the sink's first negative return.
 *
 * Every block's total length is known before its first byte goes out, so
 * the file streams to the sink in one pass with no buffer of its own: a
 * serial console or a hosted file takes it as it comes. The section length
 * is given as -1 (unknown), which pcapng allows, for the same reason.
 */
int vmbus_capture_write(const struct vmbus_capture *c, int (*sink)(void *ctx, const void *bytes, size_t len),
			void *ctx)
{
	struct out o = { .sink = sink, .ctx = ctx };
	struct block b;

	if (!c || !c->buf || !sink)
		return -EINVAL;

	begin_block(&b, VMBUS_CAPTURE_PCAPNG_SHB);
	put_u32(&b, VMBUS_CAPTURE_PCAPNG_MAGIC);
	put_u16(&b, VMBUS_CAPTURE_PCAPNG_MAJOR);
	put_u16(&b, VMBUS_CAPTURE_PCAPNG_MINOR);
	put_u64(&b, UINT64_MAX); /* section length -1: not given */
	put_string_option(&b, VMBUS_CAPTURE_OPT_SHB_USERAPPL, "hvrt " HVRT_VERSION_STRING);
	end_block(&o, &b);

	begin_block(&b, VMBUS_CAPTURE_PCAPNG_IDB);
	put_u16(&b, VMBUS_CAPTURE_LINKTYPE);
	put_u16(&b, 0);
	put_u32(&b, VMBUS_CAPTURE_HDR_SIZE + snaplen_of(c));
	put_string_option(&b, VMBUS_CAPTURE_OPT_IF_NAME, VMBUS_CAPTURE_IF_NAME);
	put_string_option(&b, VMBUS_CAPTURE_OPT_IF_DESCRIPTION, VMBUS_CAPTURE_IF_DESCRIPTION);
	uint8_t tsresol = VMBUS_CAPTURE_TSRESOL;
	put_option(&b, VMBUS_CAPTURE_OPT_IF_TSRESOL, &tsresol, 1);
	end_block(&o, &b);

	if (c->count) {
		if (c->wrapped) {
			write_range(&o, c, c->head, c->end);
			write_range(&o, c, 0, c->tail);
		} else {
			write_range(&o, c, c->head, c->tail);
		}
	}

	begin_block(&b, VMBUS_CAPTURE_PCAPNG_ISB);
	put_u32(&b, 0); /* the one interface */
	put_u32(&b, (uint32_t)(c->last_time >> 32));
	put_u32(&b, (uint32_t)c->last_time);
	if (c->recorded) {
		put_time_option(&b, VMBUS_CAPTURE_OPT_ISB_STARTTIME, c->first_time);
		put_time_option(&b, VMBUS_CAPTURE_OPT_ISB_ENDTIME, c->last_time);
	}
	put_option(&b, VMBUS_CAPTURE_OPT_ISB_IFRECV, &c->recorded, sizeof(c->recorded));
	put_option(&b, VMBUS_CAPTURE_OPT_ISB_IFDROP, &c->dropped, sizeof(c->dropped));
	end_block(&o, &b);

	return o.err;
}

/* --- base64 lines --- */

struct b64 {
	void (*put)(void *ctx, const char *line);
	void *ctx;
	uint8_t in[3];
	unsigned nin;
	char line[VMBUS_CAPTURE_LINE_CHARS + 1];
	unsigned nline;
};

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Hands the line built so far to put, if there is one. */
static void b64_flush_line(struct b64 *e)
{
	if (!e->nline)
		return;
	e->line[e->nline] = '\0';
	e->put(e->ctx, e->line);
	e->nline = 0;
}

/* Encodes the n (1 to 3) bytes held; fewer than 3 get '=' padding, as only the last group may. */
static void b64_quantum(struct b64 *e)
{
	uint32_t v = (uint32_t)e->in[0] << 16 | (uint32_t)(e->nin > 1 ? e->in[1] : 0) << 8 |
		     (uint32_t)(e->nin > 2 ? e->in[2] : 0);
	char q[4] = {
		b64_alphabet[v >> 18 & 63],
		b64_alphabet[v >> 12 & 63],
		e->nin > 1 ? b64_alphabet[v >> 6 & 63] : '=',
		e->nin > 2 ? b64_alphabet[v & 63] : '=',
	};
	memcpy(e->line + e->nline, q, 4);
	e->nline += 4;
	e->nin = 0;
	if (e->nline == VMBUS_CAPTURE_LINE_CHARS)
		b64_flush_line(e);
}

/* The sink vmbus_capture_write() feeds: never fails. */
static int b64_sink(void *ctx, const void *bytes, size_t len)
{
	struct b64 *e = ctx;
	const uint8_t *p = bytes;

	for (size_t i = 0; i < len; i++) {
		e->in[e->nin++] = p[i];
		if (e->nin == 3)
			b64_quantum(e);
	}
	return 0;
}

/*
 * vmbus_capture_write_console - the pcapng file as base64 lines (capture.h)
 * Return: 0, or -EINVAL.
 *
 * The file is encoded as it is written, 57 bytes to a 76-character line:
 * nothing but the line being built is held, whatever the capture's size.
 */
int vmbus_capture_write_console(const struct vmbus_capture *c, void (*put)(void *ctx, const char *line), void *ctx)
{
	struct b64 e = { .put = put, .ctx = ctx };

	if (!c || !c->buf || !put)
		return -EINVAL;
	put(ctx, VMBUS_CAPTURE_BEGIN);
	int err = vmbus_capture_write(c, b64_sink, &e);
	if (e.nin)
		b64_quantum(&e);
	b64_flush_line(&e);
	/* The end line comes whatever happened, so a log reader never runs past the block. */
	put(ctx, VMBUS_CAPTURE_END);
	return err;
}
