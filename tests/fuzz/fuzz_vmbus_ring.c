/*
 * libFuzzer target: vmbus/ring.c against a host that controls everything it
 * shares with the guest.
 *
 * Two small rings (1 to 4 data pages each) whose control pages and data
 * areas come from the input: rx, which the guest reads (the host owns its
 * write_index and the bytes), and tx, which the guest writes (the host owns
 * read_index, and may scribble on the guest's write_index too: it is shared
 * memory). Then a sequence of operations, guest calls and host writes mixed,
 * until the input or OPS_MAX runs out, and a final drain.
 *
 * Every guest call is checked against a model of what ring.h promises,
 * computed here from the same shared bytes:
 *  - peek/read: 0, -EIO or -EMSGSIZE exactly when the model says; a packet
 *    returned has 16 <= payload_offset <= len, len <= cap, len + trailer
 *    within what the writer published, len a multiple of 8; the bytes
 *    handed out are the ring's from the read position (with wrap); read
 *    moves the position by len + 8, peek, -EIO and -EMSGSIZE do not;
 *  - read_commit publishes the position and asks for a signal exactly when
 *    pending_send_sz (with the feature bit) was crossed;
 *  - has_data, set_interrupt_mask, write_space as documented;
 *  - write: -EMSGSIZE, -EIO, -EAGAIN or 0 as the model says; on success the
 *    packet, its zero padding and the trailer (start << 32) are at the old
 *    write index, the index moved by their size, nothing else in the data
 *    area changed, and signal is (mask clear and the reader was at the old
 *    index); on failure nothing changed at all;
 *  - draining a ring ends within size / 24 + 1 reads (every packet is at
 *    least 16 + 8 bytes): no loop for ever.
 * A broken promise aborts with a message (a crash to libFuzzer); ASan and
 * UBSan catch any access outside the pages and buffers, which are exactly
 * as large as they claim (a receive buffer is malloc(cap)).
 *
 * Input layout (little-endian; tests/fuzz/make_seeds.py writes seeds):
 *   u8  pages: rx data pages 1 + (b & 3), tx 1 + (b >> 2 & 3)
 *   u8  sanitize: bit i set makes index i below in range and aligned
 *   u32 rx write_index, read_index, interrupt_mask, pending_send_sz, feature_bits
 *   u32 tx write_index, read_index, interrupt_mask, pending_send_sz, feature_bits
 *   u16 n, then n bytes: the start of rx's data area
 *   then operations, one u8 opcode each (see enum op) and its arguments
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hvrt/mem.h>

#include "tests/fuzz/fuzz_input.h"
#include "vmbus/ring.h"

#define PG HVRT_PAGE_SIZE
#define OPS_MAX 4096u
#define PACKET_MAX (0xffffu * 8u)


struct side {
	uint8_t *pages;
	size_t bytes;
	struct vmbus_ring ring;
	uint8_t *shadow; /* a copy of the data area, for "nothing else changed" */
};

/* ---- the shared control page, as the other side sees it ---- */

static volatile uint32_t *field(const struct side *s, size_t offset)
{
	return (volatile uint32_t *)(void *)(s->pages + offset);
}
#define CTL(s, name) (*field((s), offsetof(struct vmbus_ring_control, name)))

static uint32_t data_size(const struct side *s)
{
	return (uint32_t)(s->bytes - PG);
}

static uint8_t *data(const struct side *s)
{
	return s->pages + PG;
}

static bool index_ok(uint32_t size, uint32_t index)
{
	return index < size && index % 8 == 0;
}

/* Bytes from read to write going forward (0 when equal). */
static uint32_t used_bytes(uint32_t size, uint32_t read, uint32_t write)
{
	return write >= read ? write - read : size - (read - write);
}

/* Free bytes as ring.c counts them for a writer at write and a reader at read. */
static uint32_t free_bytes(uint32_t size, uint32_t write, uint32_t read)
{
	return read > write ? read - write : size - (write - read);
}

/* n (at most the area's size) bytes of a data area of size bytes from pos on, wrapping. */
static void area_get(const uint8_t *area, uint32_t size, uint32_t pos, void *dst, size_t n)
{
	size_t first;

	pos %= size;
	first = size - pos < n ? size - pos : n;
	memcpy(dst, area + pos, first);
	memcpy((uint8_t *)dst + first, area, n - first);
}

static void area_put(uint8_t *area, uint32_t size, uint32_t pos, const void *src, size_t n)
{
	size_t first;

	pos %= size;
	first = size - pos < n ? size - pos : n;
	memcpy(area + pos, src, first);
	memcpy(area, (const uint8_t *)src + first, n - first);
}

static void ring_get(const struct side *s, uint32_t pos, void *dst, size_t n)
{
	area_get(data(s), data_size(s), pos, dst, n);
}

static void ring_put(struct side *s, uint32_t pos, const void *src, size_t n)
{
	area_put(data(s), data_size(s), pos, src, n);
}

static uint32_t pick_index(struct fuzz_input *in, uint32_t size, bool sanitize)
{
	uint32_t v = fuzz_u32(in);
	return sanitize ? (v % size) & ~7u : v;
}

static void side_alloc(struct side *s, unsigned data_pages)
{
	s->bytes = (1 + data_pages) * PG;
	s->pages = aligned_alloc(PG, s->bytes);
	s->shadow = malloc(s->bytes - PG);
	CHECK(s->pages && s->shadow, "out of memory");
	memset(s->pages, 0, s->bytes);
}

static void side_free(struct side *s)
{
	free(s->pages);
	free(s->shadow);
}

/* vmbus_ring_init on the side's pages; checks the result against the read index it finds. */
static int side_init(struct side *s)
{
	uint32_t read = CTL(s, read_index);
	struct vmbus_ring before = s->ring;
	int err = vmbus_ring_init(&s->ring, s->pages, s->bytes);

	if (!index_ok(data_size(s), read)) {
		CHECK(err == -EINVAL, "init took read index %u of a %u-byte area: %d", read, data_size(s), err);
		CHECK(memcmp(&before, &s->ring, sizeof(before)) == 0, "a failed init changed the ring");
		return err;
	}
	CHECK(err == 0, "init refused read index %u: %d", read, err);
	CHECK(s->ring.size == data_size(s) && s->ring.data == data(s) && s->ring.read_pos == read,
	      "init: size %u data %p read_pos %u", s->ring.size, (void *)s->ring.data, s->ring.read_pos);
	CHECK(CTL(s, feature_bits) & VMBUS_RING_FEATURE_PENDING_SEND_SZ, "init left feature bit 0 clear");
	return 0;
}

/* ---- reads ---- */

/* What take() must return for the ring as it is; *len and *offset when a descriptor was judged. */
static int model_take(const struct side *s, size_t cap, uint32_t *len, uint32_t *offset)
{
	uint32_t size = s->ring.size, read = s->ring.read_pos, write = CTL(s, write_index);
	uint8_t head[8];

	if (write == read)
		return 0;
	if (!index_ok(size, write))
		return -EIO;
	ring_get(s, read, head, 8);
	uint32_t offset8 = (uint32_t)head[2] | (uint32_t)head[3] << 8;
	uint32_t len8 = (uint32_t)head[4] | (uint32_t)head[5] << 8;
	*offset = offset8 * 8;
	*len = len8 * 8;
	if (*offset < 16 || *offset > *len || *len + VMBUS_PACKET_TRAILER > used_bytes(size, read, write))
		return -EIO;
	if (*len > cap)
		return -EMSGSIZE;
	return (int)*len;
}

static void check_take(struct side *s, size_t cap, bool consume)
{
	uint32_t len = 0, offset = 0;
	uint32_t read = s->ring.read_pos, write = CTL(s, write_index), published = CTL(s, read_index);
	int want = model_take(s, cap, &len, &offset);
	uint8_t *buf = malloc(cap); /* exactly cap: ASan sees one byte past it */
	struct vmbus_ring_packet pkt;

	CHECK(buf || cap == 0, "out of memory");
	memset(&pkt, 0xa5, sizeof(pkt));
	int got = consume ? vmbus_ring_read(&s->ring, buf, cap, &pkt) : vmbus_ring_peek(&s->ring, buf, cap, &pkt);
	CHECK(got == want, "%s (read %u, write %u, size %u, cap %zu): %d, the model says %d",
	      consume ? "read" : "peek", read, write, s->ring.size, cap, got, want);
	CHECK(CTL(s, read_index) == published && CTL(s, write_index) == write, "a read wrote the control page");
	if (got > 0) {
		uint8_t *want_bytes = malloc(len);
		CHECK(want_bytes, "out of memory");
		ring_get(s, read, want_bytes, len);
		CHECK(pkt.len == len && pkt.payload_offset == offset, "pkt len %u offset %u", pkt.len,
		      pkt.payload_offset);
		CHECK(pkt.payload_offset >= 16 && pkt.payload_offset <= pkt.len && pkt.len <= cap &&
			      pkt.len % 8 == 0 && pkt.len + VMBUS_PACKET_TRAILER <= s->ring.size,
		      "pkt len %u offset %u cap %zu size %u", pkt.len, pkt.payload_offset, cap, s->ring.size);
		CHECK(memcmp(&pkt.desc, want_bytes, 16) == 0, "pkt.desc is not the ring's descriptor");
		CHECK(memcmp(buf, want_bytes, len) == 0, "the bytes handed out are not the ring's");
		free(want_bytes);
		uint32_t next = (uint32_t)((read + (uint64_t)len + VMBUS_PACKET_TRAILER) % s->ring.size);
		CHECK(s->ring.read_pos == (consume ? next : read), "read_pos %u after %s at %u of %u bytes",
		      s->ring.read_pos, consume ? "read" : "peek", read, len);
	} else {
		CHECK(s->ring.read_pos == read, "read_pos moved from %u to %u on %d", read, s->ring.read_pos, got);
		if (got == -EMSGSIZE)
			CHECK(pkt.len == len && pkt.payload_offset == offset && pkt.len > cap,
			      "-EMSGSIZE with pkt len %u offset %u cap %zu", pkt.len, pkt.payload_offset, cap);
	}
	CHECK(index_ok(s->ring.size, s->ring.read_pos), "read_pos %u", s->ring.read_pos);
	free(buf);
}

static void check_commit(struct side *s)
{
	uint32_t size = s->ring.size, old = CTL(s, read_index), now = s->ring.read_pos;
	uint32_t pending = CTL(s, pending_send_sz), write = CTL(s, write_index);
	bool want = false;

	if (old != now && pending && (CTL(s, feature_bits) & VMBUS_RING_FEATURE_PENDING_SEND_SZ) &&
	    index_ok(size, write))
		want = free_bytes(size, write, old) <= pending && free_bytes(size, write, now) > pending;
	bool got = vmbus_ring_read_commit(&s->ring);
	CHECK(got == want, "commit %u -> %u, pending %u, write %u: signal %d, the model says %d", old, now, pending,
	      write, got, want);
	CHECK(CTL(s, read_index) == now, "commit published %u, read_pos is %u", CTL(s, read_index), now);
}

static void check_has_data(struct side *s)
{
	bool want = CTL(s, write_index) != s->ring.read_pos;
	CHECK(vmbus_ring_has_data(&s->ring) == want, "has_data is %d", !want);
}

/* Reads until nothing more comes; every packet is at least 24 bytes of the ring. */
static void drain(struct side *s)
{
	size_t cap = s->ring.size;
	unsigned bound = s->ring.size / 24 + 1, n = 0;
	uint32_t len = 0, offset = 0;

	while (model_take(s, cap, &len, &offset) > 0) {
		CHECK(++n <= bound, "more than %u packets out of a %u-byte ring", bound, s->ring.size);
		check_take(s, cap, true);
	}
	check_take(s, cap, true); /* the one that ends it: 0 or -EIO */
	check_commit(s);
	check_has_data(s);
}

/* ---- writes ---- */

static void check_write_space(struct side *s)
{
	uint32_t size = s->ring.size, write = CTL(s, write_index), read = CTL(s, read_index);
	long want = index_ok(size, write) && index_ok(size, read) ? (long)free_bytes(size, write, read) - 8 : -EIO;
	long got = vmbus_ring_write_space(&s->ring);

	CHECK(got == want, "write_space (write %u, read %u): %ld, the model says %ld", write, read, got, want);
	CHECK(got == -EIO || (got >= 0 && got <= (long)size - 8), "write_space %ld of %u", got, size);
}

#define PIECES_MAX 4u

static void check_write(struct side *s, struct fuzz_input *in)
{
	struct vmbus_ring_piece pieces[PIECES_MAX];
	uint8_t *bufs[PIECES_MAX];
	unsigned count = fuzz_u8(in) % (PIECES_MAX + 1);
	uint64_t len = 0;
	uint8_t fill = fuzz_u8(in);

	for (unsigned i = 0; i < count; i++) {
		uint8_t how = fuzz_u8(in);
		size_t n = how < 0xf0 ? how : how == 0xff ? fuzz_u32(in) : fuzz_u16(in);
		/*
		 * A length too large to ever fit gets a one-byte buffer: the ring
		 * must refuse it before reading any of it (ASan would see it).
		 */
		size_t have = n > 0x10000 ? 1 : n;
		bufs[i] = n ? malloc(have) : NULL; /* a 0-length piece may be NULL */
		CHECK(!n || bufs[i], "out of memory");
		for (size_t k = 0; k < have; k++)
			bufs[i][k] = (uint8_t)(fill + 31 * k + i);
		pieces[i] = (struct vmbus_ring_piece){ bufs[i], n };
		len += n;
	}

	uint32_t size = s->ring.size, write = CTL(s, write_index), read = CTL(s, read_index);
	uint32_t imask = CTL(s, interrupt_mask);
	bool big = false;
	for (unsigned i = 0; i < count; i++)
		big |= pieces[i].len > PACKET_MAX;
	uint64_t padded = (len + 7) & ~7ull, total = padded + VMBUS_PACKET_TRAILER;
	int want;
	if (big || len > PACKET_MAX || total >= size)
		want = -EMSGSIZE;
	else if (!index_ok(size, write) || !index_ok(size, read))
		want = -EIO;
	else if (free_bytes(size, write, read) <= total)
		want = -EAGAIN;
	else
		want = 0;

	uint8_t ctl_before[PG];
	memcpy(ctl_before, s->pages, PG);
	memcpy(s->shadow, data(s), size);
	bool signal = true;
	int got = vmbus_ring_write(&s->ring, pieces, count, &signal);
	CHECK(got == want, "write of %llu bytes (write %u, read %u, size %u): %d, the model says %d",
	      (unsigned long long)len, write, read, size, got, want);
	if (got) {
		CHECK(!signal, "a failed write asks for a signal");
		CHECK(memcmp(ctl_before, s->pages, PG) == 0, "a failed write changed the control page");
		CHECK(memcmp(s->shadow, data(s), size) == 0, "a failed write changed the data area");
	} else {
		uint8_t *expect = calloc(1, total);
		CHECK(expect, "out of memory");
		size_t at = 0;
		for (unsigned i = 0; i < count; i++) {
			if (pieces[i].len)
				memcpy(expect + at, pieces[i].data, pieces[i].len);
			at += pieces[i].len;
		}
		uint64_t trailer = (uint64_t)write << 32;
		memcpy(expect + padded, &trailer, 8);
		/* The packet's span must hold exactly expect; the rest of the area must not have changed. */
		area_put(s->shadow, size, write, expect, total);
		if (memcmp(data(s), s->shadow, size) != 0) {
			uint32_t i = 0;
			while (data(s)[i] == s->shadow[i])
				i++;
			CHECK(false, "byte %u (packet byte %u of %llu at %u) is %#x, not %#x", i, (i + size - write) % size,
			      (unsigned long long)total, write, data(s)[i], s->shadow[i]);
		}
		free(expect);
		uint32_t next = (uint32_t)((write + total) % size);
		CHECK(CTL(s, write_index) == next, "write_index %u, not %u", CTL(s, write_index), next);
		CHECK(signal == (imask == 0 && read == write), "signal %d with mask %u, read %u, old write %u", signal,
		      imask, read, write);
		CHECK(memcmp(ctl_before + 4, s->pages + 4, PG - 4) == 0, "a write changed more than write_index");
	}
	for (unsigned i = 0; i < count; i++)
		free(bufs[i]);
}

/* ---- the host's side ---- */

/* A packet as a host writes it at the write index (desc from the input, or a well-formed one). */
static void host_packet(struct side *s, struct fuzz_input *in)
{
	uint8_t mode = fuzz_u8(in);
	uint8_t desc[16];
	size_t payload = (size_t)fuzz_u8(in) * 8;
	uint32_t size = data_size(s), write = CTL(s, write_index) % size & ~7u;

	fuzz_bytes(in, desc, sizeof(desc));
	if (mode & 1) { /* well-formed: offset8 2, len8 to match */
		uint16_t off8 = 2, len8 = (uint16_t)((16 + payload) / 8);
		memcpy(desc + 2, &off8, 2);
		memcpy(desc + 4, &len8, 2);
	}
	size_t total = 16 + payload + 8;
	if (total >= size)
		return;
	uint8_t *p = calloc(1, total);
	CHECK(p, "out of memory");
	memcpy(p, desc, 16);
	fuzz_bytes(in, p + 16, payload);
	uint64_t trailer = (uint64_t)write << 32;
	memcpy(p + 16 + payload, &trailer, 8);
	ring_put(s, write, p, total);
	free(p);
	if (!(mode & 2)) /* else the bytes land but the index stays: a packet not yet published */
		CTL(s, write_index) = (uint32_t)((write + total) % size);
}

static void host_poke(struct side *s, struct fuzz_input *in)
{
	uint32_t size = data_size(s), at = fuzz_u16(in) % size;
	uint8_t bytes[255];
	size_t n = fuzz_u8(in);

	fuzz_bytes(in, bytes, n);
	ring_put(s, at, bytes, n);
}

enum op {
	OP_PEEK,
	OP_READ,
	OP_COMMIT,
	OP_HAS_DATA,
	OP_DRAIN,
	OP_WRITE_SPACE,
	OP_WRITE,
	OP_HOST_RX_WRITE_INDEX, /* the host publishes any write index on rx */
	OP_HOST_TX_READ_INDEX,  /* ... any read index on tx */
	OP_HOST_TX_WRITE_INDEX, /* ... scribbles on the guest's own write index */
	OP_HOST_POKE,           /* ... changes bytes in rx's data area */
	OP_HOST_PACKET,         /* ... writes a packet into rx */
	OP_HOST_FIELD,          /* ... sets interrupt_mask, pending_send_sz or feature_bits */
	OP_MASK,                /* the guest masks or unmasks rx */
	OP_PENDING,             /* the guest asks for tx space */
	OP_REINIT,              /* the guest takes rx over again from its control page */
	OP_COUNT
};

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
	struct fuzz_input in;
	struct side rx = { 0 }, tx = { 0 };

	fuzz_input_init(&in, bytes, size);
	uint8_t pages = fuzz_u8(&in), sanitize = fuzz_u8(&in);
	side_alloc(&rx, 1 + (pages & 3));
	side_alloc(&tx, 1 + (pages >> 2 & 3));
	struct side *sides[2] = { &rx, &tx };
	for (unsigned k = 0; k < 2; k++) {
		struct side *s = sides[k];
		CTL(s, write_index) = pick_index(&in, data_size(s), sanitize & (1u << (2 * k)));
		CTL(s, read_index) = pick_index(&in, data_size(s), sanitize & (1u << (2 * k + 1)));
		CTL(s, interrupt_mask) = fuzz_u32(&in);
		CTL(s, pending_send_sz) = fuzz_u32(&in);
		CTL(s, feature_bits) = fuzz_u32(&in);
	}
	size_t n = fuzz_u16(&in);
	fuzz_bytes(&in, data(&rx), n < data_size(&rx) ? n : data_size(&rx));

	for (unsigned k = 0; k < 2; k++) {
		struct side *s = sides[k];
		if (side_init(s)) {
			CTL(s, read_index) = CTL(s, read_index) % data_size(s) & ~7u;
			CHECK(side_init(s) == 0, "init with a good read index");
		}
	}

	for (unsigned ops = 0; ops < OPS_MAX && fuzz_left(&in); ops++) {
		uint8_t op = fuzz_u8(&in) % OP_COUNT;
		switch (op) {
		case OP_PEEK:
		case OP_READ:
			check_take(&rx, fuzz_u16(&in) % (2 * rx.ring.size + 1), op == OP_READ);
			break;
		case OP_COMMIT:
			check_commit(&rx);
			break;
		case OP_HAS_DATA:
			check_has_data(&rx);
			break;
		case OP_DRAIN:
			drain(&rx);
			break;
		case OP_WRITE_SPACE:
			check_write_space(&tx);
			break;
		case OP_WRITE:
			check_write(&tx, &in);
			break;
		case OP_HOST_RX_WRITE_INDEX: {
			uint8_t how = fuzz_u8(&in);
			CTL(&rx, write_index) = pick_index(&in, rx.ring.size, how & 1);
			break;
		}
		case OP_HOST_TX_READ_INDEX: {
			uint8_t how = fuzz_u8(&in);
			CTL(&tx, read_index) = pick_index(&in, tx.ring.size, how & 1);
			break;
		}
		case OP_HOST_TX_WRITE_INDEX: {
			uint8_t how = fuzz_u8(&in);
			CTL(&tx, write_index) = pick_index(&in, tx.ring.size, how & 1);
			break;
		}
		case OP_HOST_POKE:
			host_poke(&rx, &in);
			break;
		case OP_HOST_PACKET:
			host_packet(&rx, &in);
			break;
		case OP_HOST_FIELD: {
			uint8_t which = fuzz_u8(&in) % 6;
			struct side *s = which < 3 ? &rx : &tx;
			uint32_t v = fuzz_u32(&in);
			if (which % 3 == 0)
				CTL(s, interrupt_mask) = v;
			else if (which % 3 == 1)
				CTL(s, pending_send_sz) = v;
			else
				CTL(s, feature_bits) = v;
			break;
		}
		case OP_MASK: {
			bool masked = fuzz_u8(&in) & 1;
			bool want = !masked && CTL(&rx, write_index) != rx.ring.read_pos;
			CHECK(vmbus_ring_set_interrupt_mask(&rx.ring, masked) == want, "set_interrupt_mask(%d)", masked);
			CHECK(CTL(&rx, interrupt_mask) == (masked ? 1u : 0u), "interrupt_mask %u", CTL(&rx, interrupt_mask));
			break;
		}
		case OP_PENDING: {
			uint32_t v = fuzz_u32(&in);
			vmbus_ring_set_pending_send(&tx.ring, v);
			CHECK(CTL(&tx, pending_send_sz) == v, "pending_send_sz %u, not %u", CTL(&tx, pending_send_sz), v);
			break;
		}
		case OP_REINIT:
			side_init(&rx);
			break;
		}
	}
	drain(&rx);
	check_write_space(&tx);
	side_free(&rx);
	side_free(&tx);
	return 0;
}
