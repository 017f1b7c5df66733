/*
 * Unit tests for vmbus/capture.c (the capture ring, its pcapng and console
 * forms) and vmbus/capture_api.c (the runtime's one capture), and of
 * tools/vmbus-capture.py on files written here.
 *
 * Pinned down:
 *  - a NULL or disabled capture records nothing; bad arguments are refused;
 *    the ring starts 8-byte aligned whatever buffer it is given;
 *  - when the ring is full the oldest records go first and are counted, also
 *    when a record does not fit before the end of the buffer and the space
 *    there is skipped; what is held is always the newest run of records, in
 *    order, each with its own bytes (checked against a model on random sizes);
 *  - the snap length keeps the first bytes and the original length, marks
 *    the record truncated, and a ring smaller than the snap length still
 *    takes a record (cut to the ring);
 *  - the pcapng file, parsed back byte by byte: block types and order, both
 *    length fields, 32-bit padding with zeros, the section header, the
 *    interface (LINKTYPE_USER0, snap length, name, if_tsresol 7), the record
 *    header of every EPB, the timestamp split into high and low words, the
 *    direction in epb_flags, and the statistics (drops, records, times);
 *  - a sink's error stops the writing at once and is returned;
 *  - the console form is 76-character base64 lines between the markers that
 *    decode to exactly the file write() gives;
 *  - the runtime API: pages from hvrt_page_alloc, given back on restart,
 *    -ENOMEM, -ENOENT before a start, recording paused while writing, the
 *    dump on the console;
 *  - tools/vmbus-capture.py (python3) decodes a file and a console log into
 *    the expected lines and rejects malformed files with a message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hvrt/mem.h>
#include <hvrt/vmbus_capture.h>

#include "arch/x86_64/console.h"
#include "vmbus/capture.h"
#include "vmbus/vmbus_defs.h"

/* --- hosted doubles of the page allocator: real, tracked allocations --- */

static struct {
	void *addr[16];
	size_t count[16];
	unsigned live, allocs, frees;
	bool fail;
} pages;

void *hvrt_page_alloc(size_t count)
{
	if (pages.fail)
		return NULL;
	assert_true(count > 0 && count <= 4096);
	void *p = aligned_alloc(HVRT_PAGE_SIZE, count * HVRT_PAGE_SIZE);
	assert_non_null(p);
	memset(p, 0, count * HVRT_PAGE_SIZE);
	for (unsigned i = 0; i < 16; i++) {
		if (!pages.addr[i]) {
			pages.addr[i] = p;
			pages.count[i] = count;
			pages.live++;
			pages.allocs++;
			return p;
		}
	}
	fail_msg("more than 16 live page allocations");
	return NULL;
}

void hvrt_page_free(void *p, size_t count)
{
	for (unsigned i = 0; i < 16; i++) {
		if (pages.addr[i] == p) {
			if (pages.count[i] != count)
				fail_msg("hvrt_page_free(%p, %zu) of %zu pages", p, count, pages.count[i]);
			free(p);
			pages.addr[i] = NULL;
			pages.live--;
			pages.frees++;
			return;
		}
	}
	fail_msg("hvrt_page_free(%p, %zu): not a live allocation", p, count);
}

size_t hvrt_page_free_count(void)
{
	return 1024;
}

/* --- a growable byte buffer as the sink --- */

struct bytes {
	uint8_t *p;
	size_t len, cap;
	unsigned calls;
	unsigned fail_at; /* the call that returns fail_with, 0 for never */
	int fail_with;
};

static int bytes_sink(void *ctx, const void *data, size_t len)
{
	struct bytes *b = ctx;

	b->calls++;
	if (b->fail_at && b->calls == b->fail_at)
		return b->fail_with;
	assert_true(len > 0); /* empty pieces are never handed over */
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* --- the pcapng file parsed back, every structural rule asserted on the way --- */

#define MAX_EPB 4096

struct epb {
	uint64_t ts;
	uint32_t caplen, origlen;
	const uint8_t *data; /* caplen bytes: the record header, then the captured bytes */
	uint32_t flags;
	bool has_flags;
};

struct pcap {
	uint16_t major, minor;
	char userappl[64];
	uint16_t linktype;
	uint32_t snaplen;
	char if_name[64], if_description[128];
	int tsresol;
	unsigned nepb;
	struct epb epb[MAX_EPB];
	bool isb;
	uint64_t isb_ts;
	bool has_start, has_end, has_recv, has_drop;
	uint64_t start, end, recv, drop;
};

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Options from p to end: each padded with zeros, the list ending with opt_endofopt exactly at end. */
typedef void (*opt_fn)(struct pcap *pc, uint16_t code, const uint8_t *value, uint16_t len);

static void parse_options(struct pcap *pc, const uint8_t *p, const uint8_t *end, opt_fn fn)
{
	for (;;) {
		assert_true(p + 4 <= end);
		uint16_t code = rd16(p), len = rd16(p + 2);
		p += 4;
		if (code == VMBUS_CAPTURE_OPT_END) {
			assert_int_equal(len, 0);
			assert_ptr_equal(p, end);
			return;
		}
		size_t padded = (len + 3u) & ~3u;
		assert_true(p + padded <= end);
		for (size_t i = len; i < padded; i++)
			assert_int_equal(p[i], 0);
		fn(pc, code, p, len);
		p += padded;
	}
}

static void copy_str(char *dst, size_t size, const uint8_t *v, uint16_t len)
{
	assert_true(len < size);
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static void shb_opt(struct pcap *pc, uint16_t code, const uint8_t *v, uint16_t len)
{
	assert_int_equal(code, VMBUS_CAPTURE_OPT_SHB_USERAPPL);
	copy_str(pc->userappl, sizeof(pc->userappl), v, len);
}

static void idb_opt(struct pcap *pc, uint16_t code, const uint8_t *v, uint16_t len)
{
	switch (code) {
	case VMBUS_CAPTURE_OPT_IF_NAME:
		copy_str(pc->if_name, sizeof(pc->if_name), v, len);
		break;
	case VMBUS_CAPTURE_OPT_IF_DESCRIPTION:
		copy_str(pc->if_description, sizeof(pc->if_description), v, len);
		break;
	case VMBUS_CAPTURE_OPT_IF_TSRESOL:
		assert_int_equal(len, 1);
		pc->tsresol = v[0];
		break;
	default:
		fail_msg("unexpected IDB option %u", code);
	}
}

static void epb_opt(struct pcap *pc, uint16_t code, const uint8_t *v, uint16_t len)
{
	assert_int_equal(code, VMBUS_CAPTURE_OPT_EPB_FLAGS);
	assert_int_equal(len, 4);
	pc->epb[pc->nepb].flags = rd32(v);
	pc->epb[pc->nepb].has_flags = true;
}

/* isb_starttime/endtime are two 32-bit words, high first; the counters one 64-bit value. */
static void isb_opt(struct pcap *pc, uint16_t code, const uint8_t *v, uint16_t len)
{
	assert_int_equal(len, 8);
	switch (code) {
	case VMBUS_CAPTURE_OPT_ISB_STARTTIME:
		pc->has_start = true;
		pc->start = (uint64_t)rd32(v) << 32 | rd32(v + 4);
		break;
	case VMBUS_CAPTURE_OPT_ISB_ENDTIME:
		pc->has_end = true;
		pc->end = (uint64_t)rd32(v) << 32 | rd32(v + 4);
		break;
	case VMBUS_CAPTURE_OPT_ISB_IFRECV:
		pc->has_recv = true;
		pc->recv = rd64(v);
		break;
	case VMBUS_CAPTURE_OPT_ISB_IFDROP:
		pc->has_drop = true;
		pc->drop = rd64(v);
		break;
	default:
		fail_msg("unexpected ISB option %u", code);
	}
}

/* Parses the whole file: SHB, IDB, EPB*, ISB, in that order and nothing else. */
static void parse_pcapng(const uint8_t *buf, size_t len, struct pcap *pc)
{
	size_t off = 0;
	unsigned index = 0;

	memset(pc, 0, sizeof(*pc));
	pc->tsresol = -1;
	while (off < len) {
		assert_true(len - off >= 12);
		const uint8_t *b = buf + off;
		uint32_t type = rd32(b), total = rd32(b + 4);
		assert_true(total >= 12);
		assert_int_equal(total % 4, 0);
		assert_true(total <= len - off);
		assert_int_equal(rd32(b + total - 4), total); /* the length at both ends */
		const uint8_t *end = b + total - 4;

		if (index == 0) {
			assert_int_equal(type, VMBUS_CAPTURE_PCAPNG_SHB);
			assert_memory_equal(b, "\x0a\x0d\x0d\x0a", 4);
			assert_memory_equal(b + 8, "\x4d\x3c\x2b\x1a", 4); /* little-endian magic */
			pc->major = rd16(b + 12);
			pc->minor = rd16(b + 14);
			assert_int_equal(rd64(b + 16), UINT64_MAX);
			parse_options(pc, b + 24, end, shb_opt);
		} else if (index == 1) {
			assert_int_equal(type, VMBUS_CAPTURE_PCAPNG_IDB);
			pc->linktype = rd16(b + 8);
			assert_int_equal(rd16(b + 10), 0);
			pc->snaplen = rd32(b + 12);
			parse_options(pc, b + 16, end, idb_opt);
		} else if (type == VMBUS_CAPTURE_PCAPNG_EPB) {
			assert_false(pc->isb);
			assert_true(pc->nepb < MAX_EPB);
			struct epb *e = &pc->epb[pc->nepb];
			assert_int_equal(rd32(b + 8), 0);
			e->ts = (uint64_t)rd32(b + 12) << 32 | rd32(b + 16);
			e->caplen = rd32(b + 20);
			e->origlen = rd32(b + 24);
			e->data = b + 28;
			assert_true(e->caplen <= e->origlen);
			assert_true(pc->snaplen == 0 || e->caplen <= pc->snaplen);
			size_t padded = (e->caplen + 3u) & ~3u;
			assert_true(b + 28 + padded <= end);
			for (size_t i = e->caplen; i < padded; i++)
				assert_int_equal(e->data[i], 0);
			parse_options(pc, b + 28 + padded, end, epb_opt);
			pc->nepb++;
		} else {
			assert_int_equal(type, VMBUS_CAPTURE_PCAPNG_ISB);
			assert_false(pc->isb);
			pc->isb = true;
			assert_int_equal(rd32(b + 8), 0);
			pc->isb_ts = (uint64_t)rd32(b + 12) << 32 | rd32(b + 16);
			parse_options(pc, b + 20, end, isb_opt);
		}
		off += total;
		index++;
	}
	assert_int_equal(off, len);
	assert_true(pc->isb); /* the statistics come last, always */
	assert_int_equal(pc->major, 1);
	assert_int_equal(pc->minor, 0);
}

/* Whether needle occurs in the bytes. */
static bool contains(const uint8_t *p, size_t len, const void *needle, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (!memcmp(p + i, needle, n))
			return true;
	return false;
}

/* Writes c and parses it back; the caller frees *file. */
static void write_parse(const struct vmbus_capture *c, struct pcap *pc, struct bytes *file)
{
	memset(file, 0, sizeof(*file));
	assert_int_equal(vmbus_capture_write(c, bytes_sink, file), 0);
	parse_pcapng(file->p, file->len, pc);
}

static struct pcap pc; /* large: one, not on the stack */

/* The record header of an EPB. */
static struct vmbus_capture_hdr hdr_of(const struct epb *e)
{
	struct vmbus_capture_hdr h;
	assert_true(e->caplen >= sizeof(h));
	memcpy(&h, e->data, sizeof(h));
	return h;
}

/* Recognisable bytes for record number seq. */
static void pattern(uint8_t *p, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 31u + i * 7u + 1u);
}

static const struct vmbus_guid heartbeat = { { 0x39, 0x4f, 0x16, 0x57, 0x15, 0x91, 0x78, 0x4e, 0xab, 0x55, 0x38,
					       0x2f, 0x3b, 0xd5, 0x42, 0x2d } };

static _Alignas(8) uint8_t ring[65536]; /* the tests' capture buffer */

/* --- the ring --- */

/* Bad arguments are refused; any buffer alignment works. */
static void test_init(void **state)
{
	struct vmbus_capture c;

	(void)state;
	assert_int_equal(vmbus_capture_init(NULL, ring, sizeof(ring)), -EINVAL);
	assert_int_equal(vmbus_capture_init(&c, NULL, sizeof(ring)), -EINVAL);
	assert_int_equal(vmbus_capture_init(&c, ring, VMBUS_CAPTURE_MIN_BYTES - 1), -EINVAL);
	assert_int_equal(vmbus_capture_init(&c, ring, 0), -EINVAL);
	/* misaligned by 3: 5 bytes are skipped, and the size is cut to a multiple of 8 */
	assert_int_equal(vmbus_capture_init(&c, ring + 3, VMBUS_CAPTURE_MIN_BYTES + 4), -EINVAL);
	assert_int_equal(vmbus_capture_init(&c, ring + 3, VMBUS_CAPTURE_MIN_BYTES + 5), 0);
	assert_ptr_equal(c.buf, ring + 8);
	assert_int_equal(c.size, VMBUS_CAPTURE_MIN_BYTES);
	assert_int_equal(vmbus_capture_init(&c, ring + 3, 1005), 0);
	assert_int_equal(c.size, 1000);
	assert_true(c.enabled);
	assert_int_equal(c.snaplen, VMBUS_CAPTURE_SNAPLEN_DEFAULT);
	assert_int_equal(c.count, 0);
	assert_int_equal(c.recorded, 0);
}

/* A line sink that must not be called. */
static void never_put(void *ctx, const char *line)
{
	(void)ctx;
	fail_msg("a line was written: %s", line);
}

/* NULL and disabled captures do nothing; a disabled one keeps what it holds. */
static void test_null_and_disabled(void **state)
{
	struct vmbus_capture c;
	struct bytes file = { 0 };
	uint8_t msg[16] = { 1 };

	(void)state;
	vmbus_capture_record(NULL, 0, VMBUS_CAPTURE_CONTROL, 0, NULL, 1, msg, sizeof(msg));
	vmbus_capture_enable(NULL, true);
	vmbus_capture_set_snaplen(NULL, 10);
	assert_int_equal(vmbus_capture_write(NULL, bytes_sink, &file), -EINVAL);
	assert_int_equal(vmbus_capture_write_console(NULL, never_put, NULL), -EINVAL);
	assert_int_equal(file.calls, 0);

	memset(ring, 0xee, 4096);
	assert_int_equal(vmbus_capture_init(&c, ring, 4096), 0);
	assert_int_equal(vmbus_capture_write(&c, NULL, NULL), -EINVAL);
	assert_int_equal(vmbus_capture_write_console(&c, NULL, NULL), -EINVAL);
	vmbus_capture_enable(&c, false);
	vmbus_capture_record(&c, 0, VMBUS_CAPTURE_CONTROL, 0, NULL, 1, msg, sizeof(msg));
	assert_int_equal(c.recorded, 0);
	assert_int_equal(c.count, 0);
	assert_int_equal(ring[0], 0xee); /* not even touched */

	vmbus_capture_enable(&c, true);
	vmbus_capture_record(&c, 0, VMBUS_CAPTURE_CONTROL, 0, NULL, 1, msg, sizeof(msg));
	vmbus_capture_enable(&c, false);
	vmbus_capture_record(&c, 1, VMBUS_CAPTURE_CONTROL, 0, NULL, 2, msg, sizeof(msg));
	assert_int_equal(c.recorded, 1);
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.nepb, 1);
	assert_int_equal(pc.epb[0].ts, 1);
	bytes_free(&file);

	/* no bytes: an empty record, whatever len says */
	vmbus_capture_enable(&c, true);
	vmbus_capture_record(&c, 1, VMBUS_CAPTURE_SIGNAL, 7, NULL, 3, NULL, 99);
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.nepb, 2);
	assert_int_equal(pc.epb[1].caplen, VMBUS_CAPTURE_HDR_SIZE);
	assert_int_equal(hdr_of(&pc.epb[1]).orig_len, 0);
	bytes_free(&file);
}

/* Every field of the record header and of its EPB. */
static void test_record_fields(void **state)
{
	struct vmbus_capture c;
	struct bytes file;
	uint8_t msg[21], pkt[40];

	(void)state;
	pattern(msg, sizeof(msg), 0);
	pattern(pkt, sizeof(pkt), 1);
	memset(ring, 0xee, sizeof(ring));
	assert_int_equal(vmbus_capture_init(&c, ring, sizeof(ring)), 0);
	vmbus_capture_record(&c, VMBUS_CAPTURE_TO_HOST, VMBUS_CAPTURE_CONTROL, 0, NULL, 0x123456789ull, msg, sizeof(msg));
	vmbus_capture_record(&c, VMBUS_CAPTURE_TO_GUEST, VMBUS_CAPTURE_PACKET, 0x12345678, &heartbeat,
			     0xfedcba9876543210ull, pkt, sizeof(pkt));
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.nepb, 2);

	const struct epb *e = &pc.epb[0];
	assert_int_equal(e->ts, 0x123456789ull);
	assert_int_equal(e->caplen, 32 + 21);
	assert_int_equal(e->origlen, 32 + 21);
	assert_true(e->has_flags);
	assert_int_equal(e->flags, VMBUS_CAPTURE_EPB_OUTBOUND);
	static const uint8_t want0[32] = { 1, 0, 0, 0, 0, 0, 0, 0, [24] = 21, 0, 0, 0, 0, 0, 0, 0 };
	assert_memory_equal(e->data, want0, 32);
	assert_memory_equal(e->data + 32, msg, sizeof(msg));

	e = &pc.epb[1];
	assert_int_equal(e->ts, 0xfedcba9876543210ull);
	assert_int_equal(e->flags, VMBUS_CAPTURE_EPB_INBOUND);
	uint8_t want1[32] = { 1, 1, 1, VMBUS_CAPTURE_FLAG_CLASS, 0x78, 0x56, 0x34, 0x12 };
	memcpy(want1 + 8, heartbeat.bytes, 16);
	want1[24] = 40;
	want1[28] = 1; /* seq */
	assert_memory_equal(e->data, want1, 32);
	assert_memory_equal(e->data + 32, pkt, sizeof(pkt));

	/* the timestamp words in the file, high then low, byte for byte */
	const uint8_t *epb1 = e->data - 28;
	assert_memory_equal(epb1 + 12, "\x98\xba\xdc\xfe\x10\x32\x54\x76", 8);
	/* and the exact EPB size: 28 + (32 + 40) + epb_flags 8 + end 4 + length 4 */
	assert_int_equal(rd32(epb1 + 4), 28 + 72 + 16);
	bytes_free(&file);
}

/* The section header, the interface, the statistics, byte for byte; an empty capture too. */
static void test_pcapng_blocks(void **state)
{
	struct vmbus_capture c;
	struct bytes file;
	uint8_t msg[8] = { 0 };

	(void)state;
	assert_int_equal(vmbus_capture_init(&c, ring, sizeof(ring)), 0);
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.nepb, 0);
	assert_string_equal(pc.userappl, "hvrt 0.1.0");
	assert_int_equal(pc.linktype, 147);
	assert_int_equal(pc.snaplen, 32 + VMBUS_CAPTURE_SNAPLEN_DEFAULT);
	assert_string_equal(pc.if_name, "hvrt vmbus");
	assert_string_equal(pc.if_description, VMBUS_CAPTURE_IF_DESCRIPTION);
	assert_int_equal(pc.tsresol, 7);
	assert_false(pc.has_start);
	assert_false(pc.has_end);
	assert_true(pc.has_drop);
	assert_int_equal(pc.drop, 0);
	assert_true(pc.has_recv);
	assert_int_equal(pc.recv, 0);
	/* the SHB exactly: 24 bytes, shb_userappl "hvrt 0.1.0" (10, padded to 12), end, length */
	static const uint8_t shb[48] = { 0x0a, 0x0d, 0x0d, 0x0a, 48, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
					 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 4, 0, 10, 0,
					 'h', 'v', 'r', 't', ' ', '0', '.', '1', '.', '0', 0, 0, 0, 0, 0, 0, 48, 0, 0, 0 };
	assert_memory_equal(file.p, shb, sizeof(shb));
	/* if_tsresol: code 9, length 1, value 7, three zeros */
	assert_true(contains(file.p, file.len, "\x09\x00\x01\x00\x07\x00\x00\x00", 8));
	bytes_free(&file);

	vmbus_capture_set_snaplen(&c, 100);
	vmbus_capture_record(&c, 0, VMBUS_CAPTURE_CONTROL, 0, NULL, 0x100000005ull, msg, sizeof(msg));
	vmbus_capture_record(&c, 1, VMBUS_CAPTURE_CONTROL, 0, NULL, 0x200000007ull, msg, sizeof(msg));
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.snaplen, 132);
	assert_true(pc.has_start && pc.has_end);
	assert_int_equal(pc.start, 0x100000005ull);
	assert_int_equal(pc.end, 0x200000007ull);
	assert_int_equal(pc.isb_ts, 0x200000007ull);
	assert_int_equal(pc.recv, 2);
	assert_int_equal(pc.drop, 0);
	/* the ISB exactly, at the end of the file */
	static const uint8_t isb[76] = { 5, 0, 0, 0, 76, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0,
					 2, 0, 8, 0, 1, 0, 0, 0, 5, 0, 0, 0,  /* isb_starttime high, low */
					 3, 0, 8, 0, 2, 0, 0, 0, 7, 0, 0, 0,  /* isb_endtime */
					 4, 0, 8, 0, 2, 0, 0, 0, 0, 0, 0, 0,  /* isb_ifrecv */
					 5, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* isb_ifdrop */
					 0, 0, 0, 0, 76, 0, 0, 0 };
	assert_memory_equal(file.p + file.len - sizeof(isb), isb, sizeof(isb));
	bytes_free(&file);
}

/* Records filling the ring exactly: the oldest go first and are counted. */
static void test_drop_oldest(void **state)
{
	struct vmbus_capture c;
	struct bytes file;
	uint8_t msg[16];

	(void)state;
	assert_int_equal(vmbus_capture_init(&c, ring, 4 * VMBUS_CAPTURE_SLOT_BYTES(16)), 0);
	for (uint32_t i = 0; i < 10; i++) {
		pattern(msg, sizeof(msg), i);
		vmbus_capture_record(&c, 0, VMBUS_CAPTURE_CONTROL, i, NULL, 1000 + i, msg, sizeof(msg));
		assert_int_equal(c.count, i < 4 ? i + 1 : 4);
		assert_int_equal(c.dropped, i < 4 ? 0 : i - 3);
	}
	assert_int_equal(c.recorded, 10);
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.nepb, 4);
	for (uint32_t i = 0; i < 4; i++) {
		struct vmbus_capture_hdr h = hdr_of(&pc.epb[i]);
		assert_int_equal(h.seq, 6 + i);
		assert_int_equal(h.relid, 6 + i);
		assert_int_equal(pc.epb[i].ts, 1006 + i);
		pattern(msg, sizeof(msg), 6 + i);
		assert_memory_equal(pc.epb[i].data + 32, msg, sizeof(msg));
	}
	assert_int_equal(pc.drop, 6);
	assert_int_equal(pc.recv, 10);
	assert_int_equal(pc.start, 1000);
	assert_int_equal(pc.end, 1009);
	bytes_free(&file);
}

/* A record that does not fit before the buffer's end starts at 0; the end space is skipped. */
static void test_wrap_skips_end(void **state)
{
	struct vmbus_capture c;
	struct bytes file;
	uint8_t msg[40];

	(void)state;
	/* 200 bytes: three 64-byte slots (16 bytes of data) and 8 spare at the end */
	assert_int_equal(vmbus_capture_init(&c, ring, 200), 0);
	for (uint32_t i = 0; i < 4; i++) {
		pattern(msg, 16, i);
		vmbus_capture_record(&c, 0, VMBUS_CAPTURE_PACKET, 1, NULL, i, msg, 16);
	}
	/* the fourth went to 0 and pushed out the first only */
	assert_true(c.wrapped);
	assert_int_equal(c.end, 192);
	assert_int_equal(c.count, 3);
	assert_int_equal(c.dropped, 1);
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.nepb, 3);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(hdr_of(&pc.epb[i]).seq, i + 1);
	bytes_free(&file);

	/* an 88-byte slot: both records before the wrap go, the ring unwraps */
	pattern(msg, sizeof(msg), 4);
	vmbus_capture_record(&c, 0, VMBUS_CAPTURE_PACKET, 1, NULL, 4, msg, sizeof(msg));
	assert_false(c.wrapped);
	assert_int_equal(c.count, 2);
	assert_int_equal(c.dropped, 3);
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.nepb, 2);
	assert_int_equal(hdr_of(&pc.epb[0]).seq, 3);
	assert_int_equal(hdr_of(&pc.epb[1]).seq, 4);
	assert_memory_equal(pc.epb[1].data + 32, msg, sizeof(msg));
	assert_int_equal(pc.drop, 3);
	bytes_free(&file);
}

/* Random sizes against the rules: the newest run of records, in order, each with its bytes. */
static void test_ring_model(void **state)
{
	struct vmbus_capture c;
	struct bytes file;
	static uint8_t msg[700];
	uint32_t lens[6000];
	unsigned seed = 12345;

	(void)state;
	assert_int_equal(vmbus_capture_init(&c, ring, 3000), 0);
	vmbus_capture_set_snaplen(&c, 500);
	for (uint32_t i = 0; i < 6000; i++) {
		seed = seed * 1103515245u + 12345u;
		lens[i] = (seed >> 16) % 700;
		pattern(msg, lens[i], i);
		vmbus_capture_record(&c, i & 1, i % 4, i, NULL, i * 3ull, msg, lens[i]);
		assert_int_equal(c.count + c.dropped, c.recorded);
		if (i % 7 && i < 5990)
			continue;
		write_parse(&c, &pc, &file);
		assert_int_equal(pc.nepb, c.count);
		assert_true(pc.nepb >= 1);
		size_t used = 0;
		for (uint32_t k = 0; k < pc.nepb; k++) {
			uint32_t seq = i + 1 - pc.nepb + k;
			struct vmbus_capture_hdr h = hdr_of(&pc.epb[k]);
			assert_int_equal(h.seq, seq);
			assert_int_equal(h.relid, seq);
			assert_int_equal(h.direction, seq & 1);
			assert_int_equal(h.kind, seq % 4);
			assert_int_equal(h.orig_len, lens[seq]);
			uint32_t kept = lens[seq] < 500 ? lens[seq] : 500;
			assert_int_equal(pc.epb[k].caplen, 32 + kept);
			assert_int_equal(!!(h.flags & VMBUS_CAPTURE_FLAG_TRUNCATED), kept < lens[seq]);
			pattern(msg, kept, seq);
			assert_memory_equal(pc.epb[k].data + 32, msg, kept);
			assert_int_equal(pc.epb[k].ts, seq * 3ull);
			used += VMBUS_CAPTURE_SLOT_BYTES(kept);
		}
		assert_true(used <= c.size);
		/*
		 * Never more dropped than needed: once records were dropped, less than two of the
		 * largest slots is free (one for the skipped end, one for the last record dropped).
		 */
		assert_true(c.dropped == 0 || used + 2 * VMBUS_CAPTURE_SLOT_BYTES(500) > c.size);
		assert_int_equal(pc.drop, c.dropped);
		assert_int_equal(pc.recv, i + 1);
		bytes_free(&file);
	}
}

/* A record in pieces is the same record as its bytes in one; empty and NULL pieces add nothing. */
static void test_record_pieces(void **state)
{
	struct vmbus_capture c;
	struct bytes file;
	uint8_t msg[60];

	(void)state;
	pattern(msg, sizeof(msg), 3);
	assert_int_equal(vmbus_capture_init(&c, ring, 4096), 0);
	struct vmbus_capture_piece pieces[5] = {
		{ msg, 16 }, { NULL, 30 }, { msg + 16, 0 }, { msg + 16, 40 }, { msg + 56, 4 },
	};
	vmbus_capture_record_pieces(&c, 0, VMBUS_CAPTURE_PACKET, 4, &heartbeat, 7, pieces, 5);
	vmbus_capture_record(&c, 0, VMBUS_CAPTURE_PACKET, 4, &heartbeat, 7, msg, sizeof(msg));
	/* the snap length cuts inside a piece */
	vmbus_capture_set_snaplen(&c, 20);
	vmbus_capture_record_pieces(&c, 1, VMBUS_CAPTURE_PACKET, 4, NULL, 8, pieces, 5);
	vmbus_capture_record_pieces(&c, 1, VMBUS_CAPTURE_NOTE, 0, NULL, 9, NULL, 3);
	vmbus_capture_record_pieces(NULL, 1, VMBUS_CAPTURE_NOTE, 0, NULL, 9, pieces, 5);
	assert_int_equal(c.truncated, 1);
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.nepb, 4);
	assert_int_equal(pc.epb[0].caplen, 32 + 60);
	assert_memory_equal(pc.epb[0].data + 32, msg, 60);
	struct vmbus_capture_hdr h0 = hdr_of(&pc.epb[0]), h1 = hdr_of(&pc.epb[1]);
	h1.seq = h0.seq;
	assert_memory_equal(&h0, &h1, sizeof(h0));
	assert_memory_equal(pc.epb[1].data + 32, msg, 60);
	assert_int_equal(pc.epb[2].caplen, 32 + 20);
	assert_int_equal(pc.epb[2].origlen, 32 + 60);
	assert_memory_equal(pc.epb[2].data + 32, msg, 20);
	assert_int_equal(pc.epb[3].caplen, 32);
	assert_int_equal(pc.epb[3].origlen, 32);
	bytes_free(&file);
}

/* The snap length keeps the first bytes and the length they had; a tiny ring cuts further. */
static void test_snaplen(void **state)
{
	struct vmbus_capture c;
	struct bytes file;
	uint8_t msg[100];

	(void)state;
	pattern(msg, sizeof(msg), 9);
	assert_int_equal(vmbus_capture_init(&c, ring, 4096), 0);
	vmbus_capture_set_snaplen(&c, 10);
	vmbus_capture_record(&c, 0, VMBUS_CAPTURE_PACKET, 3, NULL, 1, msg, 100);
	vmbus_capture_record(&c, 0, VMBUS_CAPTURE_PACKET, 3, NULL, 2, msg, 10);
	vmbus_capture_set_snaplen(&c, 0);
	vmbus_capture_record(&c, 0, VMBUS_CAPTURE_PACKET, 3, NULL, 3, msg, 5);
	assert_int_equal(c.truncated, 2);
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.snaplen, 42); /* snap length 0 now, but 10 when the first two were taken */
	assert_int_equal(pc.nepb, 3);
	assert_int_equal(pc.epb[0].caplen, 42);
	assert_int_equal(pc.epb[0].origlen, 132);
	assert_int_equal(hdr_of(&pc.epb[0]).orig_len, 100);
	assert_int_equal(hdr_of(&pc.epb[0]).flags, VMBUS_CAPTURE_FLAG_TRUNCATED);
	assert_memory_equal(pc.epb[0].data + 32, msg, 10);
	assert_int_equal(pc.epb[1].caplen, 42);
	assert_int_equal(pc.epb[1].origlen, 42);
	assert_int_equal(hdr_of(&pc.epb[1]).flags, 0);
	assert_int_equal(pc.epb[2].caplen, 32);
	assert_int_equal(pc.epb[2].origlen, 37);
	assert_int_equal(hdr_of(&pc.epb[2]).flags, VMBUS_CAPTURE_FLAG_TRUNCATED);
	bytes_free(&file);

	vmbus_capture_set_snaplen(&c, UINT32_MAX);
	assert_int_equal(c.snaplen, VMBUS_CAPTURE_SNAPLEN_MAX);

	/* the interface's snap length covers records taken before it was lowered */
	assert_int_equal(vmbus_capture_init(&c, ring, 4096), 0);
	vmbus_capture_set_snaplen(&c, 50);
	vmbus_capture_record(&c, 0, VMBUS_CAPTURE_PACKET, 3, NULL, 1, msg, 60);
	vmbus_capture_set_snaplen(&c, 20);
	vmbus_capture_record(&c, 0, VMBUS_CAPTURE_PACKET, 3, NULL, 2, msg, 60);
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.snaplen, 32 + 50);
	assert_int_equal(pc.epb[0].caplen, 32 + 50);
	assert_int_equal(pc.epb[1].caplen, 32 + 20);
	bytes_free(&file);

	/* the smallest ring takes 8 bytes of data whatever the snap length */
	assert_int_equal(vmbus_capture_init(&c, ring, VMBUS_CAPTURE_MIN_BYTES), 0);
	vmbus_capture_record(&c, 1, VMBUS_CAPTURE_NOTE, 0, NULL, 1, msg, 100);
	vmbus_capture_record(&c, 1, VMBUS_CAPTURE_NOTE, 0, NULL, 2, msg, 100);
	write_parse(&c, &pc, &file);
	assert_int_equal(pc.nepb, 1);
	assert_int_equal(pc.epb[0].caplen, 40);
	assert_int_equal(pc.epb[0].origlen, 132);
	assert_int_equal(hdr_of(&pc.epb[0]).seq, 1);
	assert_int_equal(pc.drop, 1);
	bytes_free(&file);
}

/* A sink's error stops the writing: no further calls, the error returned. */
static void test_sink_error(void **state)
{
	struct vmbus_capture c;
	uint8_t msg[30] = { 0 };

	(void)state;
	assert_int_equal(vmbus_capture_init(&c, ring, 4096), 0);
	for (int i = 0; i < 5; i++)
		vmbus_capture_record(&c, 0, VMBUS_CAPTURE_CONTROL, 0, NULL, 1, msg, sizeof(msg));
	for (unsigned at = 1; at < 12; at++) {
		struct bytes b = { .fail_at = at, .fail_with = -EIO };
		assert_int_equal(vmbus_capture_write(&c, bytes_sink, &b), -EIO);
		assert_int_equal(b.calls, at);
		bytes_free(&b);
	}
}

/* --- the console form --- */

struct lines {
	char *line[4096];
	unsigned n;
};

static void lines_put(void *ctx, const char *line)
{
	struct lines *l = ctx;
	assert_true(l->n < 4096);
	l->line[l->n] = strdup(line);
	assert_non_null(l->line[l->n]);
	l->n++;
}

static void lines_free(struct lines *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->line[i]);
	l->n = 0;
}

static int b64_value(char ch)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = ch ? strchr(a, ch) : NULL;
	return p ? (int)(p - a) : -1;
}

/* Decodes the lines between the markers, checking the line rules; returns the byte count. */
static size_t b64_decode_lines(struct lines *l, uint8_t *out, size_t cap)
{
	size_t n = 0;

	assert_true(l->n >= 3);
	assert_string_equal(l->line[0], VMBUS_CAPTURE_BEGIN);
	assert_string_equal(l->line[l->n - 1], VMBUS_CAPTURE_END);
	for (unsigned i = 1; i < l->n - 1; i++) {
		const char *s = l->line[i];
		size_t len = strlen(s);
		if (i < l->n - 2)
			assert_int_equal(len, VMBUS_CAPTURE_LINE_CHARS);
		assert_true(len > 0 && len <= VMBUS_CAPTURE_LINE_CHARS && len % 4 == 0);
		for (size_t q = 0; q < len; q += 4) {
			int v[4];
			unsigned pad = 0;
			for (int k = 0; k < 4; k++) {
				if (s[q + k] == '=') {
					/* padding only in the very last quantum */
					assert_true(i == l->n - 2 && q + 4 == len && k >= 2);
					v[k] = 0;
					pad++;
				} else {
					assert_int_equal(pad, 0);
					v[k] = b64_value(s[q + k]);
					assert_true(v[k] >= 0);
				}
			}
			uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
			assert_true(n + 3 - pad <= cap);
			out[n++] = (uint8_t)(w >> 16);
			if (pad < 2)
				out[n++] = (uint8_t)(w >> 8);
			if (pad < 1)
				out[n++] = (uint8_t)w;
		}
	}
	return n;
}

/* The base64 lines decode to exactly the pcapng file, for each padding case. */
static void test_console_base64(void **state)
{
	struct vmbus_capture c;
	static struct lines l;
	static uint8_t decoded[65536];
	uint8_t msg[64];
	bool residue[3] = { false };

	(void)state;
	assert_int_equal(vmbus_capture_init(&c, ring, sizeof(ring)), 0);
	for (uint32_t i = 0; i < 40; i++) {
		pattern(msg, sizeof(msg), i);
		vmbus_capture_record(&c, i & 1, VMBUS_CAPTURE_PACKET, 2, &heartbeat, i * 1000, msg, i % 13 + 1);
		struct bytes file = { 0 };
		assert_int_equal(vmbus_capture_write(&c, bytes_sink, &file), 0);
		assert_int_equal(vmbus_capture_write_console(&c, lines_put, &l), 0);
		size_t n = b64_decode_lines(&l, decoded, sizeof(decoded));
		assert_int_equal(n, file.len);
		assert_memory_equal(decoded, file.p, n);
		assert_int_equal(l.n, 2 + (file.len + 56) / 57);
		residue[file.len % 3] = true;
		lines_free(&l);
		bytes_free(&file);
	}
	assert_true(residue[0] && residue[1] && residue[2]);
}

/* --- the runtime's capture --- */

static struct {
	char *buf;
	size_t len, cap;
} con;

static void con_sink(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	if (con.len + len + 1 > con.cap) {
		con.cap = (con.len + len + 1) * 2;
		con.buf = realloc(con.buf, con.cap);
		assert_non_null(con.buf);
	}
	memcpy(con.buf + con.len, buf, len);
	con.len += len;
	con.buf[con.len] = '\0';
}

/* A sink that checks the runtime stopped recording while it writes. */
static int paused_sink(void *ctx, const void *bytes, size_t len)
{
	assert_null(vmbus_capture_runtime());
	return bytes_sink(ctx, bytes, len);
}

static void test_runtime_api(void **state)
{
	struct bytes file = { 0 };
	uint8_t msg[24] = { 0 };

	(void)state;
	console_reset();
	assert_int_equal(console_add_sink(con_sink, NULL), 0);

	assert_null(vmbus_capture_runtime());
	assert_int_equal(hvrt_vmbus_capture_dump(), -ENOENT);
	assert_int_equal(hvrt_vmbus_capture_write(bytes_sink, &file), -ENOENT);
	assert_int_equal(hvrt_vmbus_capture_write(NULL, NULL), -EINVAL);
	assert_int_equal(hvrt_vmbus_capture_start(0), -EINVAL);
	assert_int_equal(hvrt_vmbus_capture_start(SIZE_MAX), -EINVAL);
	hvrt_vmbus_capture_stop(); /* harmless before a start */

	assert_int_equal(hvrt_vmbus_capture_start(10000), 0);
	assert_int_equal(pages.live, 1);
	assert_int_equal(pages.count[0], 3);
	struct vmbus_capture *c = vmbus_capture_runtime();
	assert_non_null(c);
	assert_int_equal(c->size, 3 * HVRT_PAGE_SIZE);
	vmbus_capture_record(vmbus_capture_runtime(), 0, VMBUS_CAPTURE_CONTROL, 0, NULL, 5, msg, sizeof(msg));

	/* writing pauses recording, and it goes on afterwards */
	assert_int_equal(hvrt_vmbus_capture_write(paused_sink, &file), 0);
	assert_ptr_equal(vmbus_capture_runtime(), c);
	parse_pcapng(file.p, file.len, &pc);
	assert_int_equal(pc.nepb, 1);
	bytes_free(&file);

	/* stopped: nothing more is recorded through it, but the records stay for the dump */
	hvrt_vmbus_capture_stop();
	assert_null(vmbus_capture_runtime());
	vmbus_capture_record(vmbus_capture_runtime(), 0, VMBUS_CAPTURE_CONTROL, 0, NULL, 6, msg, sizeof(msg));
	vmbus_capture_record(c, 0, VMBUS_CAPTURE_CONTROL, 0, NULL, 6, msg, sizeof(msg));
	assert_int_equal(c->recorded, 1);
	con.len = 0;
	assert_int_equal(hvrt_vmbus_capture_dump(), 0);
	assert_null(vmbus_capture_runtime()); /* still stopped */
	assert_non_null(strstr(con.buf, VMBUS_CAPTURE_BEGIN "\n"));
	assert_non_null(strstr(con.buf, "\n" VMBUS_CAPTURE_END "\n"));
	assert_int_equal(con.buf[con.len - 1], '\n');
	assert_int_equal(hvrt_vmbus_capture_write(bytes_sink, &file), 0);
	/* the dump's lines are the file, in base64 */
	static struct lines l;
	char *save, *line = strtok_r(con.buf, "\n", &save);
	for (; line; line = strtok_r(NULL, "\n", &save))
		lines_put(&l, line);
	static uint8_t decoded[65536];
	assert_int_equal(b64_decode_lines(&l, decoded, sizeof(decoded)), file.len);
	assert_memory_equal(decoded, file.p, file.len);
	lines_free(&l);
	bytes_free(&file);

	/* a restart gives the old ring back first and starts empty */
	assert_int_equal(hvrt_vmbus_capture_start(1), 0);
	assert_int_equal(pages.live, 1);
	assert_int_equal(pages.frees, 1);
	c = vmbus_capture_runtime();
	assert_non_null(c);
	assert_int_equal(c->recorded, 0);
	assert_int_equal(c->size, HVRT_PAGE_SIZE);

	/* no pages: -ENOMEM, nothing recording, and the old ring is gone too */
	pages.fail = true;
	con.len = 0;
	assert_int_equal(hvrt_vmbus_capture_start(4096), -ENOMEM);
	pages.fail = false;
	assert_non_null(strstr(con.buf, "no 1 contiguous pages"));
	assert_null(vmbus_capture_runtime());
	assert_int_equal(pages.live, 0);
	assert_int_equal(hvrt_vmbus_capture_dump(), -ENOENT);

	console_reset();
	free(con.buf);
	memset(&con, 0, sizeof(con));
}

/* --- tools/vmbus-capture.py --- */

/* The decoder's path: $HVRT_SRCDIR, else the first of ., .., ../.., ... that has it. */
static const char *decoder_path(void)
{
	static char path[4096];
	const char *src = getenv("HVRT_SRCDIR");

	if (src) {
		snprintf(path, sizeof(path), "%s/tools/vmbus-capture.py", src);
		if (access(path, R_OK) == 0)
			return path;
		fail_msg("HVRT_SRCDIR=%s has no tools/vmbus-capture.py", src);
	}
	char prefix[64] = ".";
	for (int up = 0; up < 6; up++) {
		snprintf(path, sizeof(path), "%s/tools/vmbus-capture.py", prefix);
		if (access(path, R_OK) == 0)
			return path;
		snprintf(prefix + strlen(prefix), sizeof(prefix) - strlen(prefix), "/..");
	}
	fail_msg("tools/vmbus-capture.py not found from here: run from the source tree or set HVRT_SRCDIR");
	return NULL;
}

/* Runs the decoder on a file; returns its exit status, its output (stdout and stderr) in out. */
static int run_decoder(const char *args, const char *file, char *out, size_t size)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "python3 '%s' %s '%s' 2>&1", decoder_path(), args, file);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* cmocka cuts long failure messages: the decoder's whole output goes to stderr first. */
#define assert_has(text, phrase)                                                                   \
	do {                                                                                       \
		if (!strstr((text), (phrase))) {                                                   \
			fprintf(stderr, "the decoder's output:\n%s", (text));                      \
			fail_msg("the decoder's output lacks \"%s\"", (phrase));                  \
		}                                                                                  \
	} while (0)

static int file_sink(void *ctx, const void *bytes, size_t len)
{
	return fwrite(bytes, 1, len, ctx) == len ? 0 : -EIO;
}

static void file_put(void *ctx, const char *line)
{
	fprintf(ctx, "[  12.345] %s\n", line); /* a serial logger's prefix: the decoder must see past it */
}

/* A connection, an offer, a GPADL, an open, packets and a note, as the guest would see them. */
static void record_session(struct vmbus_capture *c)
{
	uint64_t t = 2000000; /* 200 ms of partition uptime */
	struct vmbus_msg_initiate_contact ic = { .header.type = VMBUS_MSG_INITIATE_CONTACT,
						 .version = VMBUS_VERSION_5_3,
						 .msg_sint = 2,
						 .monitor_page1 = 0x1000,
						 .monitor_page2 = 0x2000 };
	struct vmbus_msg_version_response vr = { .header.type = VMBUS_MSG_VERSION_RESPONSE,
						 .version_supported = 1,
						 .msg_connection_id = 4 };
	struct vmbus_msg_header ro = { .type = VMBUS_MSG_REQUESTOFFERS };
	struct vmbus_msg_offer offer = { .header.type = VMBUS_MSG_OFFERCHANNEL,
					 .if_type = heartbeat,
					 .child_relid = 5,
					 .monitor_id = 3,
					 .monitor_allocated = 1,
					 .connection_id = 0x10005 };
	struct vmbus_msg_header ad = { .type = VMBUS_MSG_ALLOFFERS_DELIVERED };
	uint8_t gh[VMBUS_MESSAGE_MAX] = { 0 };
	struct vmbus_msg_gpadl_header *g = (void *)gh;
	*g = (struct vmbus_msg_gpadl_header){ .header.type = VMBUS_MSG_GPADL_HEADER,
					      .child_relid = 5,
					      .gpadl = 0xe1e10,
					      .range_buflen = 8 + 8 * 4,
					      .range_count = 1 };
	struct vmbus_msg_gpadl_created gc = { .header.type = VMBUS_MSG_GPADL_CREATED, .child_relid = 5, .gpadl = 0xe1e10 };
	struct vmbus_msg_open op = { .header.type = VMBUS_MSG_OPENCHANNEL,
				     .child_relid = 5,
				     .open_id = 5,
				     .ring_gpadl = 0xe1e10,
				     .downstream_page_offset = 2 };
	struct vmbus_msg_open_result orr = { .header.type = VMBUS_MSG_OPENCHANNEL_RESULT, .child_relid = 5, .open_id = 5 };
	struct {
		struct vmbus_packet_desc d;
		uint8_t payload[24];
	} pkt = { .d = { .type = VMBUS_PACKET_DATA_INBAND, .offset8 = 2, .len8 = 5, .flags = 1, .trans_id = 42 } };
	struct vmbus_packet_desc comp = { .type = VMBUS_PACKET_COMPLETION, .offset8 = 2, .len8 = 2, .trans_id = 42 };
	static const char note[] = "heartbeat opened";

	vmbus_capture_record(c, 0, VMBUS_CAPTURE_CONTROL, 0, NULL, t, &ic, sizeof(ic));
	vmbus_capture_record(c, 1, VMBUS_CAPTURE_CONTROL, 0, NULL, t + 15000, &vr, sizeof(vr));
	vmbus_capture_record(c, 0, VMBUS_CAPTURE_CONTROL, 0, NULL, t + 16000, &ro, sizeof(ro));
	vmbus_capture_record(c, 1, VMBUS_CAPTURE_CONTROL, 5, &heartbeat, t + 17000, &offer, sizeof(offer));
	vmbus_capture_record(c, 1, VMBUS_CAPTURE_CONTROL, 0, NULL, t + 18000, &ad, sizeof(ad));
	vmbus_capture_record(c, 0, VMBUS_CAPTURE_CONTROL, 5, &heartbeat, t + 19000, gh, 20 + 8 + 4 * 8);
	vmbus_capture_record(c, 1, VMBUS_CAPTURE_CONTROL, 5, &heartbeat, t + 20000, &gc, sizeof(gc));
	vmbus_capture_record(c, 0, VMBUS_CAPTURE_CONTROL, 5, &heartbeat, t + 21000, &op, sizeof(op));
	vmbus_capture_record(c, 1, VMBUS_CAPTURE_CONTROL, 5, &heartbeat, t + 22000, &orr, sizeof(orr));
	vmbus_capture_record(c, 0, VMBUS_CAPTURE_NOTE, 5, &heartbeat, t + 23000, note, strlen(note));
	vmbus_capture_record(c, 0, VMBUS_CAPTURE_PACKET, 5, &heartbeat, t + 24000, &pkt, sizeof(pkt));
	vmbus_capture_record(c, 0, VMBUS_CAPTURE_SIGNAL, 5, &heartbeat, t + 24001, NULL, 0);
	vmbus_capture_record(c, 1, VMBUS_CAPTURE_PACKET, 5, &heartbeat, t + 30000, &comp, sizeof(comp));
}

static void check_session_output(const char *out)
{
	/* whole lines where the columns matter, fragments elsewhere */
	assert_has(out, "#0         +0.000 ms  t=2000000      g->h  relid 0    -                    control "
			"INITIATE_CONTACT (14) version 5.3 (0x00050003) target_vcpu 0 msg_sint 2 msg_vtl 0 "
			"feature_flags 0x0 monitor_page1 0x1000 monitor_page2 0x2000\n");
	assert_has(out, "#1         +1.500 ms  t=2015000      h->g  relid 0    -                    control "
			"VERSION_RESPONSE (15) version_supported 1 (accepted 5.3) connection_state 0 (ok) "
			"msg_connection_id 4\n");
	assert_has(out, "g->h  relid 0    -                    control REQUESTOFFERS (3)\n");
	assert_has(out, "#3         +1.700 ms  t=2017000      h->g  relid 5    Heartbeat            control "
			"OFFERCHANNEL (1) class Heartbeat instance 00000000-0000-0000-0000-000000000000 child_relid 5 "
			"sub_channel 0 flags 0x0 monitor 3 dedicated_interrupt 0 connection_id 0x10005\n");
	assert_has(out, "control ALLOFFERS_DELIVERED (4)\n");
	assert_has(out, "control GPADL_HEADER (8) child_relid 5 gpadl 0xe1e10 range_buflen 40 rangecount 1 "
			"byte_count 0 byte_offset 0 pfns here 4 pfns in all 4\n");
	assert_has(out, "control GPADL_CREATED (10) child_relid 5 gpadl 0xe1e10 status 0x0\n");
	assert_has(out, "control OPENCHANNEL (5) child_relid 5 openid 5 gpadl 0xe1e10 target_vp 0 "
			"downstream_page_offset 2\n");
	assert_has(out, "control OPENCHANNEL_RESULT (6) child_relid 5 openid 5 status 0x0\n");
	assert_has(out, "g->h  relid 5    Heartbeat            note: heartbeat opened\n");
	assert_has(out, "#10        +2.400 ms  t=2024000      g->h  relid 5    Heartbeat            packet "
			"DATA_INBAND (6) flags 0x1 (completion requested) trans_id 0x2a len 40 payload 24 at 16\n");
	assert_has(out, "t=2024001      g->h  relid 5    Heartbeat            signal\n");
	assert_has(out, "#12        +3.000 ms  t=2030000      h->g  relid 5    Heartbeat            packet COMP (11) "
			"flags 0x0 trans_id 0x2a len 16 payload 0 at 16\n");
	assert_has(out, "\n13 records, 0 dropped (of 13 recorded), 0 truncated\n");
}

static void test_decoder(void **state)
{
	struct vmbus_capture c;
	static char out[65536];
	char dir[512], path[600], log[600], bad[600];
	const char *base = getenv("HVRT_TEST_TMPDIR");

	(void)state;
	if (system("command -v python3 >/dev/null 2>&1") != 0)
		fail_msg("python3 is not installed: this test runs tools/vmbus-capture.py with it");
	snprintf(dir, sizeof(dir), "%s/hvrt-capture-XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/session.pcapng", dir);
	snprintf(log, sizeof(log), "%s/serial.log", dir);
	snprintf(bad, sizeof(bad), "%s/bad.pcapng", dir);

	assert_int_equal(vmbus_capture_init(&c, ring, sizeof(ring)), 0);
	record_session(&c);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(vmbus_capture_write(&c, file_sink, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run_decoder("", path, out, sizeof(out)), 0);
	check_session_output(out);

	/* the same from a serial log, with other output around the block */
	f = fopen(log, "w");
	assert_non_null(f);
	fputs("hvrt 0.1.0, booted by UEFI\nhello\n", f);
	assert_int_equal(vmbus_capture_write_console(&c, file_put, f), 0);
	fputs("hvrt: exit status 0\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run_decoder("", log, out, sizeof(out)), 0);
	check_session_output(out);

	/* -x: the bytes too; INITIATE_CONTACT's header is 0e 00 00 00 */
	assert_int_equal(run_decoder("-x", path, out, sizeof(out)), 0);
	assert_has(out, "        0000  0e 00 00 00 00 00 00 00 03 00 05 00 00 00 00 00");

	/* drops reach the summary, and the times start at the oldest record held */
	assert_int_equal(vmbus_capture_init(&c, ring, 3 * VMBUS_CAPTURE_SLOT_BYTES(VMBUS_MESSAGE_MAX)), 0);
	record_session(&c);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(vmbus_capture_write(&c, file_sink, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run_decoder("", path, out, sizeof(out)), 0);
	char want[128];
	snprintf(want, sizeof(want), "\n%zu records, %llu dropped (of 13 recorded), 0 truncated\n", c.count,
		 (unsigned long long)c.dropped);
	assert_has(out, want);
	assert_true(c.dropped > 0);
	char first[16];
	snprintf(first, sizeof(first), "#%llu", (unsigned long long)c.dropped);
	snprintf(want, sizeof(want), "%-6s     +0.000 ms  ", first);
	if (strncmp(out, want, strlen(want)))
		fail_msg("the output starts with \"%.40s\", not \"%s\"", out, want);

	vmbus_capture_init(&c, ring, sizeof(ring));
	vmbus_capture_set_snaplen(&c, 100);
	record_session(&c);
	struct bytes file = { 0 };
	assert_int_equal(vmbus_capture_write(&c, bytes_sink, &file), 0);
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(file.p, 1, file.len, f);
	fclose(f);
	assert_int_equal(run_decoder("", path, out, sizeof(out)), 0);
	assert_has(out, "[captured 100 of 196 bytes]");
	assert_has(out, "13 records, 0 dropped (of 13 recorded), 2 truncated");

	/* malformed files: a message and status 1, never a traceback */
	static const struct {
		const char *what, *message;
		size_t len;       /* bytes kept, 0 for all */
		size_t patch_at;  /* a byte to change, 0 for none */
		uint8_t patch;
	} cases[] = {
		{ "truncated", "truncated", 100, 0, 0 },
		{ "empty", "neither a pcapng file", SIZE_MAX, 0, 0 },
		{ "wrong magic", "wrong magic", 0, 1, 0x0c },
		{ "byte-order magic", "wrong byte-order magic", 0, 8, 0x00 },
		{ "length not a multiple of 4", "bad length", 0, 4, 49 },
		{ "lengths differ", "differs from the one at its start", 0, 44, 0x40 },
		/* the first EPB follows the 48-byte SHB and the IDB; its captured length is at +20 */
		{ "captured length past the block", "runs past the block", 0, 0, 0xff },
		{ "record header version", "record header version 2", 0, 0, 2 },
	};
	size_t epb = 48 + rd32(file.p + 48 + 4);
	assert_int_equal(rd32(file.p + epb), VMBUS_CAPTURE_PCAPNG_EPB);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *copy = malloc(file.len);
		assert_non_null(copy);
		memcpy(copy, file.p, file.len);
		size_t at = cases[i].patch_at;
		if (strstr(cases[i].what, "captured length"))
			at = epb + 21;
		if (strstr(cases[i].what, "record header"))
			at = epb + 28;
		if (at)
			copy[at] = cases[i].patch;
		size_t len = cases[i].len == SIZE_MAX ? 0 : cases[i].len ? cases[i].len : file.len;
		f = fopen(bad, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(copy, 1, len, f), len);
		assert_int_equal(fclose(f), 0);
		free(copy);
		int status = run_decoder("", bad, out, sizeof(out));
		if (status != 1 || !strstr(out, "vmbus-capture: error: ") || !strstr(out, cases[i].message) ||
		    strstr(out, "Traceback")) {
			fprintf(stderr, "the decoder's output:\n%s", out);
			fail_msg("%s: status %d", cases[i].what, status);
		}
	}
	/* a log whose block has no END line */
	f = fopen(bad, "w");
	assert_non_null(f);
	fputs("boot\n" VMBUS_CAPTURE_BEGIN "\nCg0NCg==\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run_decoder("", bad, out, sizeof(out)), 1);
	assert_has(out, "has no " VMBUS_CAPTURE_END " line");
	bytes_free(&file);

	unlink(path);
	unlink(log);
	unlink(bad);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_null_and_disabled),
		cmocka_unit_test(test_record_fields),
		cmocka_unit_test(test_pcapng_blocks),
		cmocka_unit_test(test_drop_oldest),
		cmocka_unit_test(test_wrap_skips_end),
		cmocka_unit_test(test_ring_model),
		cmocka_unit_test(test_record_pieces),
		cmocka_unit_test(test_snaplen),
		cmocka_unit_test(test_sink_error),
		cmocka_unit_test(test_console_base64),
		cmocka_unit_test(test_runtime_api),
		cmocka_unit_test(test_decoder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
