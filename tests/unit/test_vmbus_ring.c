/*
 * Unit tests for vmbus/ring.c, the VMBus ring buffers (facts 2.8).
 *
 * The rings live in mmap'd pages, as they would in page-aligned guest memory;
 * the tests play both sides and the "host" by writing the control page and
 * the data area directly.
 *
 * Pinned down:
 *  - init refuses pages that are misaligned, not a page multiple, under two
 *    pages or past 2 GiB of data, and a corrupt read index; it sets feature
 *    bit 0 and leaves everything else in the control page as it was;
 *  - a packet is written byte for byte: descriptor, payload, zeroed padding,
 *    the trailer (start index << 32), the index after it; it reads back
 *    byte for byte with its checked descriptor, also when it straddles the
 *    end of the area, with its descriptor split there, from many pieces, and
 *    a million random packets through two rings (write, echo, read back);
 *  - a full ring: -EAGAIN exactly when free <= the packet's bytes, so the
 *    ring is never filled; -EMSGSIZE for packets that could never fit or
 *    that len8 cannot describe; nothing written either way;
 *  - signalling the reader: only for empty -> non-empty with the mask clear;
 *    signalling the writer on commit: only when the free space crosses
 *    pending_send_sz (and the feature bit is set, and it is not 0);
 *  - clearing the interrupt mask reports data that came while it was set;
 *  - peek does not consume, reads are private until committed, -EMSGSIZE
 *    reports the length and leaves the packet;
 *  - a corrupt writer's index or descriptor gives -EIO and changes nothing,
 *    as does a corrupt reader's index for a writer; a descriptor the "host"
 *    rewrites while its packet is being copied out changes nothing either
 *    (the checked copy is what counts);
 *  - write_space is what a packet may take.
 */
#define _GNU_SOURCE /* REG_EFL, for the single-stepped "host" */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "vmbus/ring.h"

#define PAGE 4096u
#define DESC 16u

/* One ring in its own mapping: the control page, then data_pages of data. */
struct ring_pages {
	uint8_t *pages;
	size_t bytes;
	uint32_t size;
	struct vmbus_ring ring;
};

static void *map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* A ring of data_pages, empty with both indices at start, data filled with 0xaa. */
static void ring_open(struct ring_pages *r, unsigned data_pages, uint32_t start)
{
	volatile struct vmbus_ring_control *c;

	r->bytes = (size_t)(data_pages + 1) * PAGE;
	r->size = data_pages * PAGE;
	r->pages = map(r->bytes);
	memset(r->pages + PAGE, 0xaa, r->size);
	c = (volatile struct vmbus_ring_control *)(void *)r->pages;
	c->write_index = start;
	c->read_index = start;
	assert_int_equal(vmbus_ring_init(&r->ring, r->pages, r->bytes), 0);
}

static void ring_close(struct ring_pages *r)
{
	munmap(r->pages, r->bytes);
}

static volatile struct vmbus_ring_control *ctl(struct ring_pages *r)
{
	return r->ring.control;
}

static uint8_t *data(struct ring_pages *r)
{
	return r->pages + PAGE;
}

/* Empties the ring and puts both indices (and our read position) at pos. */
static void ring_reset(struct ring_pages *r, uint32_t pos)
{
	ctl(r)->write_index = pos;
	ctl(r)->read_index = pos;
	assert_int_equal(vmbus_ring_init(&r->ring, r->pages, r->bytes), 0);
}

static struct vmbus_packet_desc inband(size_t payload, uint64_t trans_id)
{
	struct vmbus_packet_desc d = {
		.type = VMBUS_PACKET_DATA_INBAND,
		.offset8 = 2,
		.len8 = (uint16_t)((DESC + payload + 7) / 8),
		.flags = VMBUS_PACKET_FLAG_COMPLETION_REQUESTED,
		.trans_id = trans_id,
	};
	return d;
}

/* Writes an in-band packet: its own descriptor piece, then the payload. */
static int put(struct ring_pages *r, const void *payload, size_t len, uint64_t trans_id, bool *signal)
{
	struct vmbus_packet_desc d = inband(len, trans_id);
	struct vmbus_ring_piece pieces[2] = { { &d, DESC }, { payload, len } };

	return vmbus_ring_write(&r->ring, pieces, 2, signal);
}

static int put_quiet(struct ring_pages *r, const void *payload, size_t len, uint64_t trans_id)
{
	bool signal;

	return put(r, payload, len, trans_id, &signal);
}

/* payload[i] = seed + i * 31 */
static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 31);
}

/* The bytes a packet must have in the ring, trailer included; returns how many. */
static size_t expected_bytes(uint8_t *out, const struct vmbus_packet_desc *d, const uint8_t *payload, size_t len,
			     uint32_t start)
{
	size_t padded = (DESC + len + 7) & ~(size_t)7;
	uint64_t trailer = (uint64_t)start << 32;

	memset(out, 0, padded);
	memcpy(out, d, DESC);
	memcpy(out + DESC, payload, len);
	memcpy(out + padded, &trailer, 8);
	return padded + 8;
}

/* Bytes of the data area from pos on, wrapping at the end. */
static void ring_bytes(struct ring_pages *r, uint32_t pos, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = data(r)[(pos + i) % r->size];
}

/* A copy of the control page and the data area, to show that nothing changed. */
static uint8_t *snapshot(struct ring_pages *r)
{
	uint8_t *s = malloc(r->bytes);

	assert_non_null(s);
	memcpy(s, r->pages, r->bytes);
	return s;
}

static void assert_unchanged(struct ring_pages *r, uint8_t *snap)
{
	assert_memory_equal(r->pages, snap, r->bytes);
	free(snap);
}

/* ---------------------------------------------------------------- init */

static void test_init_errors(void **state)
{
	struct vmbus_ring ring;
	uint8_t *pages = map(4 * PAGE);
	volatile struct vmbus_ring_control *c = (volatile struct vmbus_ring_control *)(void *)pages;
	(void)state;

	assert_int_equal(vmbus_ring_init(&ring, NULL, 3 * PAGE), -EINVAL);
	assert_int_equal(vmbus_ring_init(&ring, pages + 8, 3 * PAGE), -EINVAL);
	assert_int_equal(vmbus_ring_init(&ring, pages + PAGE / 2, 2 * PAGE), -EINVAL);
	assert_int_equal(vmbus_ring_init(&ring, pages, 3 * PAGE + 8), -EINVAL);
	assert_int_equal(vmbus_ring_init(&ring, pages, 2 * PAGE + PAGE / 2), -EINVAL);
	assert_int_equal(vmbus_ring_init(&ring, pages, PAGE), -EINVAL);
	assert_int_equal(vmbus_ring_init(&ring, pages, 0), -EINVAL);
	assert_int_equal(c->feature_bits, 0); /* nothing touched */
	assert_int_equal(vmbus_ring_init(&ring, pages, 2 * PAGE), 0);
	assert_int_equal(ring.size, PAGE);

	/* A read index the page already holds must be one. */
	c->read_index = 12;
	assert_int_equal(vmbus_ring_init(&ring, pages, 3 * PAGE), -EINVAL);
	c->read_index = 2 * PAGE;
	assert_int_equal(vmbus_ring_init(&ring, pages, 3 * PAGE), -EINVAL);
	c->read_index = 2 * PAGE - 8;
	assert_int_equal(vmbus_ring_init(&ring, pages, 3 * PAGE), 0);
	assert_int_equal(ring.read_pos, 2 * PAGE - 8);
	munmap(pages, 4 * PAGE);
}

static void test_init_area_limit(void **state)
{
	/* Indices are 32-bit: data areas past 2 GiB are refused. Only the control page is touched. */
	size_t two_gib = (size_t)1 << 31;
	uint8_t *pages = map(two_gib + 2 * PAGE);
	struct vmbus_ring ring;
	(void)state;

	assert_int_equal(vmbus_ring_init(&ring, pages, two_gib + 2 * PAGE), -EINVAL);
	assert_int_equal(vmbus_ring_init(&ring, pages, two_gib + PAGE), 0);
	assert_int_equal(ring.size, 0x80000000u);
	munmap(pages, two_gib + 2 * PAGE);
}

static void test_init_feature_bit_and_fields(void **state)
{
	uint8_t *pages = map(3 * PAGE);
	volatile struct vmbus_ring_control *c = (volatile struct vmbus_ring_control *)(void *)pages;
	struct vmbus_ring ring;
	uint8_t before[PAGE];
	(void)state;

	memset(pages, 0x5c, PAGE);
	c->write_index = 40;
	c->read_index = 16;
	c->interrupt_mask = 1;
	c->pending_send_sz = 99;
	c->feature_bits = 0x10;
	memcpy(before, pages, PAGE);
	assert_int_equal(vmbus_ring_init(&ring, pages, 3 * PAGE), 0);
	assert_int_equal(c->feature_bits, 0x11);
	before[64] |= VMBUS_RING_FEATURE_PENDING_SEND_SZ;
	assert_memory_equal(pages, before, PAGE);
	assert_ptr_equal((const void *)ring.control, pages);
	assert_ptr_equal(ring.data, pages + PAGE);
	assert_int_equal(ring.size, 2 * PAGE);
	assert_int_equal(ring.read_pos, 16);
	munmap(pages, 3 * PAGE);
}

/* ------------------------------------------------------- write and read */

static void test_round_trip_exact_bytes(void **state)
{
	struct ring_pages r;
	struct vmbus_packet_desc d1 = inband(13, 0x1122334455667788ull), d2 = inband(8, 7);
	struct vmbus_ring_packet pkt;
	uint8_t payload[64], want[128], buf[128];
	bool signal;
	size_t n;
	(void)state;

	ring_open(&r, 2, 0);
	fill(payload, sizeof(payload), 1);
	assert_int_equal(put(&r, payload, 13, d1.trans_id, &signal), 0);
	n = expected_bytes(want, &d1, payload, 13, 0);
	assert_int_equal(n, 40);
	assert_memory_equal(data(&r), want, n);          /* padding bytes 29..31 zero, trailer 0 << 32 */
	assert_int_equal(data(&r)[40], 0xaa);            /* nothing past the trailer */
	assert_int_equal(ctl(&r)->write_index, 40);

	assert_int_equal(put(&r, payload + 13, 8, d2.trans_id, &signal), 0);
	n = expected_bytes(want, &d2, payload + 13, 8, 40);
	assert_int_equal(n, 32);
	assert_memory_equal(data(&r) + 40, want, n);     /* no padding; trailer 40 << 32 */
	assert_int_equal(data(&r)[72], 0xaa);
	assert_int_equal(ctl(&r)->write_index, 72);
	assert_int_equal(ctl(&r)->read_index, 0);

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 32);
	assert_memory_equal(&pkt.desc, &d1, DESC);
	assert_int_equal(pkt.len, 32);
	assert_int_equal(pkt.payload_offset, 16);
	expected_bytes(want, &d1, payload, 13, 0);
	assert_memory_equal(buf, want, 32);              /* the padding comes out as zeros */
	assert_int_equal(buf[32], 0xee);                 /* nothing past len */
	assert_int_equal(r.ring.read_pos, 40);
	assert_int_equal(ctl(&r)->read_index, 0);        /* private until committed */

	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 24);
	assert_memory_equal(&pkt.desc, &d2, DESC);
	assert_memory_equal(buf + DESC, payload + 13, 8);
	assert_int_equal(r.ring.read_pos, 72);
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 0);
	assert_false(vmbus_ring_read_commit(&r.ring));
	assert_int_equal(ctl(&r)->read_index, 72);
	ring_close(&r);
}

static void test_header_and_empty_payload(void **state)
{
	struct ring_pages r;
	/* A 24-byte header (offset8 3) as GPA-direct and transfer-page packets have, then 5 bytes. */
	uint8_t packet[29], buf[64];
	struct vmbus_packet_desc d = inband(13, 9);
	struct vmbus_ring_piece one = { packet, sizeof(packet) };
	struct vmbus_ring_packet pkt;
	bool signal;
	(void)state;

	ring_open(&r, 2, 0);
	d.offset8 = 3;
	d.type = VMBUS_PACKET_DATA_GPA_DIRECT;
	fill(packet, sizeof(packet), 3);
	memcpy(packet, &d, DESC);
	assert_int_equal(vmbus_ring_write(&r.ring, &one, 1, &signal), 0);
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 32);
	assert_int_equal(pkt.payload_offset, 24);
	assert_int_equal(pkt.desc.type, VMBUS_PACKET_DATA_GPA_DIRECT);
	assert_memory_equal(buf, packet, sizeof(packet));

	/* A descriptor alone: len8 = offset8 = 2. */
	d = inband(0, 10);
	assert_int_equal(put(&r, NULL, 0, 10, &signal), 0);
	assert_int_equal(ctl(&r)->write_index, 40 + 24);
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 16);
	assert_int_equal(pkt.payload_offset, 16);
	assert_memory_equal(buf, &d, DESC);
	ring_close(&r);
}

static void test_packet_bytes(void **state)
{
	(void)state;
	assert_int_equal(vmbus_ring_packet_bytes(16, 0), 24);
	assert_int_equal(vmbus_ring_packet_bytes(16, 1), 32);
	assert_int_equal(vmbus_ring_packet_bytes(16, 13), 40);
	assert_int_equal(vmbus_ring_packet_bytes(16, 16), 40);
	assert_int_equal(vmbus_ring_packet_bytes(24, 8), 40);
	assert_int_equal(vmbus_ring_packet_bytes(16, 1000), 1024);
}

static void test_pieces(void **state)
{
	struct ring_pages r;
	struct vmbus_packet_desc d = inband(40, 77);
	uint8_t payload[40], want[128], buf[128];
	const uint8_t *dp = (const uint8_t *)&d;
	/* The descriptor split over two pieces, empty pieces (one NULL) between, the payload in three. */
	struct vmbus_ring_piece pieces[] = {
		{ dp, 10 }, { NULL, 0 }, { dp + 10, 6 }, { payload, 1 }, { payload + 1, 0 },
		{ payload + 1, 30 }, { payload + 31, 9 },
	};
	struct vmbus_ring_packet pkt;
	bool signal;
	size_t n;
	(void)state;

	fill(payload, sizeof(payload), 5);
	ring_open(&r, 2, 0);
	/* Once in place and once across the end of the area. */
	for (uint32_t start = 0; start <= 2 * PAGE - 32; start += 2 * PAGE - 32) {
		ring_reset(&r, start);
		assert_int_equal(vmbus_ring_write(&r.ring, pieces, sizeof(pieces) / sizeof(pieces[0]), &signal), 0);
		n = expected_bytes(want, &d, payload, sizeof(payload), start);
		ring_bytes(&r, start, buf, n);
		assert_memory_equal(buf, want, n);
		assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 56);
		assert_memory_equal(buf, want, 56);
	}
	ring_close(&r);
}

/* Every start near the end of the area and many sizes: the packet wraps at every point. */
static void test_wrap_everywhere(void **state)
{
	struct ring_pages r;
	uint8_t payload[200], want[256], got[256], buf[256];
	struct vmbus_ring_packet pkt;
	bool signal;
	(void)state;

	fill(payload, sizeof(payload), 9);
	ring_open(&r, 2, 0);
	for (uint32_t back = 8; back <= 240; back += 8) {
		for (size_t len = 0; len <= sizeof(payload); len += (len < 40 ? 1 : 7)) {
			uint32_t start = r.size - back;
			struct vmbus_packet_desc d = inband(len, back * 1000 + len);
			size_t n;

			ring_reset(&r, start);
			memset(data(&r), 0xaa, r.size);
			assert_int_equal(put(&r, payload, len, d.trans_id, &signal), 0);
			assert_true(signal);
			n = expected_bytes(want, &d, payload, len, start);
			ring_bytes(&r, start, got, n);
			assert_memory_equal(got, want, n);
			assert_int_equal(ctl(&r)->write_index, (start + n) % r.size);
			/* nothing written past the packet */
			assert_int_equal(data(&r)[(start + n) % r.size], 0xaa);
			assert_int_equal(data(&r)[(start + r.size - 1) % r.size], 0xaa);

			assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), n - 8);
			assert_memory_equal(buf, want, n - 8);
			assert_memory_equal(&pkt.desc, &d, DESC);
			assert_int_equal(r.ring.read_pos, ctl(&r)->write_index);
			assert_false(vmbus_ring_has_data(&r.ring));
		}
	}
	ring_close(&r);
}

static void test_descriptor_split_at_end(void **state)
{
	struct ring_pages r;
	struct vmbus_packet_desc d = inband(20, 0xabcdef);
	uint8_t payload[20], buf[64];
	const uint8_t *dp = (const uint8_t *)&d;
	struct vmbus_ring_packet pkt;
	(void)state;

	fill(payload, sizeof(payload), 11);
	ring_open(&r, 2, 2 * PAGE - 8);
	assert_int_equal(put_quiet(&r, payload, sizeof(payload), d.trans_id), 0);
	assert_memory_equal(data(&r) + 2 * PAGE - 8, dp, 8);
	assert_memory_equal(data(&r), dp + 8, 8);
	assert_memory_equal(data(&r) + 8, payload, 20);
	assert_int_equal(ctl(&r)->write_index, 8 + 24 + 8);
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 40);
	assert_int_equal(pkt.desc.trans_id, 0xabcdef);
	assert_int_equal(pkt.desc.len8, 5);
	assert_memory_equal(buf, dp, DESC);
	assert_memory_equal(buf + DESC, payload, 20);
	assert_int_equal(r.ring.read_pos, 40);
	ring_close(&r);
}

/* ------------------------------------------------------------ loopback */

static uint64_t rng;

static uint64_t next_random(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

#define LOOP_PACKETS 1000000u
#define POOL 65536u
#define LOOP_PAYLOAD_MAX 8000u /* with a 16-byte extra header: 8040 in a ring of 8192 */

static uint8_t pool[POOL];

struct sent {
	uint16_t extra;   /* header bytes after the descriptor, a multiple of 8 */
	uint16_t payload; /* bytes after the header */
};

static uint32_t pool_offset(uint64_t seq)
{
	return (uint32_t)(seq * 7919u % (POOL - LOOP_PAYLOAD_MAX - 64));
}

/* The bytes of packet seq after its descriptor: header and payload, both from the pool. */
static const uint8_t *body_of(uint64_t seq)
{
	return pool + pool_offset(seq);
}

static struct sent random_packet(void)
{
	uint64_t x = next_random();
	struct sent s;
	unsigned kind = (unsigned)(x % 10);

	s.extra = (uint16_t)((x >> 8) % 3 * 8);
	if (kind < 6)
		s.payload = (uint16_t)((x >> 16) % 65);
	else if (kind < 9)
		s.payload = (uint16_t)((x >> 16) % 1025);
	else
		s.payload = (uint16_t)((x >> 16) % (LOOP_PAYLOAD_MAX + 1));
	return s;
}

/* Writes packet seq; returns what ring_write returned. */
static int loop_send(struct ring_pages *a, uint64_t seq, struct sent s)
{
	struct vmbus_packet_desc d = {
		.type = (uint16_t)(seq % 14),
		.offset8 = (uint16_t)((DESC + s.extra) / 8),
		.len8 = (uint16_t)((DESC + s.extra + s.payload + 7) / 8),
		.flags = (uint16_t)(seq & 1),
		.trans_id = seq,
	};
	const uint8_t *body = body_of(seq);
	/* The body in two pieces at a random point, to vary the spans. */
	size_t cut = (s.extra + s.payload) ? (size_t)(seq % (s.extra + s.payload + 1u)) : 0;
	struct vmbus_ring_piece pieces[3] = { { &d, DESC }, { body, cut }, { body + cut, s.extra + s.payload - cut } };
	uint32_t before = ctl(a)->write_index;
	bool was_empty = before == ctl(a)->read_index;
	bool signal;
	int ret = vmbus_ring_write(&a->ring, pieces, 3, &signal);

	if (ret == 0)
		assert_int_equal(signal, was_empty);
	return ret;
}

static void loop_check(const uint8_t *buf, int len, const struct vmbus_ring_packet *pkt, uint64_t seq,
		       struct sent s)
{
	size_t used = DESC + s.extra + s.payload;

	if (len != (int)((used + 7) & ~(size_t)7) || pkt->desc.trans_id != seq ||
	    pkt->payload_offset != DESC + s.extra || pkt->desc.type != seq % 14 || pkt->desc.flags != (seq & 1) ||
	    memcmp(buf, &pkt->desc, DESC) != 0 || memcmp(buf + DESC, body_of(seq), s.extra + s.payload) != 0)
		fail_msg("packet %llu (extra %u, payload %u) came back as %d bytes, trans_id %llu",
			 (unsigned long long)seq, s.extra, s.payload, len, (unsigned long long)pkt->desc.trans_id);
	for (size_t i = used; i < (size_t)len; i++)
		if (buf[i] != 0)
			fail_msg("packet %llu: padding byte %zu is %u", (unsigned long long)seq, i, buf[i]);
}

/* The trailer of the packet at start (QEMU writes 0 there; we write the start index). */
static void check_trailer(struct ring_pages *r, uint32_t start, uint32_t len)
{
	uint64_t trailer;

	memcpy(&trailer, data(r) + (start + len) % r->size, 8);
	assert_int_equal(trailer, (uint64_t)start << 32);
}

/*
 * The test-only echo path: packets of random sizes into ring a; the echo
 * reads them out of a and writes each back, whole, into ring b; the reader
 * checks every byte out of b. The rings differ in size so their ends fall
 * at different points of the stream, and every stage goes in random batches.
 */
static void test_loopback_million(void **state)
{
	struct ring_pages a, b;
	static struct sent sent[4096]; /* in flight, by seq % 4096 */
	static uint8_t held[8192], buf[8192];
	struct vmbus_ring_packet pkt;
	uint64_t seed, sent_n = 0, echoed = 0, received = 0, bytes = 0;
	int held_len = 0;
	const char *env = getenv("HVRT_RING_SEED");
	(void)state;

	seed = env ? strtoull(env, NULL, 0) : ((uint64_t)time(NULL) << 20 ^ (uint64_t)getpid());
	print_message("loopback seed %llu (HVRT_RING_SEED=%llu repeats it)\n", (unsigned long long)seed,
		      (unsigned long long)seed);
	rng = seed | 1;
	for (size_t i = 0; i < POOL; i++)
		pool[i] = (uint8_t)next_random();
	ring_open(&a, 2, 0);
	ring_open(&b, 3, 0);

	while (received < LOOP_PACKETS) {
		unsigned burst = (unsigned)(next_random() % 12);

		for (unsigned i = 0; i < burst && sent_n < LOOP_PACKETS && sent_n - received < 4096; i++) {
			struct sent s = random_packet();
			int ret = loop_send(&a, sent_n, s);

			if (ret == -EAGAIN)
				break;
			assert_int_equal(ret, 0);
			sent[sent_n % 4096] = s;
			sent_n++;
		}

		/* echo: a -> b, a packet held over when b is full */
		burst = (unsigned)(next_random() % 12);
		for (unsigned i = 0; i < burst; i++) {
			bool signal;

			if (!held_len) {
				uint32_t at = a.ring.read_pos;
				int len = vmbus_ring_read(&a.ring, held, sizeof(held), &pkt);

				assert_true(len >= 0);
				if (len == 0)
					break;
				check_trailer(&a, at, (uint32_t)len);
				held_len = len;
			}
			struct vmbus_ring_piece whole = { held, (size_t)held_len };
			int ret = vmbus_ring_write(&b.ring, &whole, 1, &signal);

			if (ret == -EAGAIN)
				break;
			assert_int_equal(ret, 0);
			held_len = 0;
			echoed++;
		}
		vmbus_ring_read_commit(&a.ring);

		/* reader */
		burst = (unsigned)(next_random() % 16);
		for (unsigned i = 0; i < burst; i++) {
			int len = vmbus_ring_read(&b.ring, buf, sizeof(buf), &pkt);

			assert_true(len >= 0);
			if (len == 0)
				break;
			loop_check(buf, len, &pkt, received, sent[received % 4096]);
			bytes += (uint64_t)len;
			received++;
		}
		if (next_random() % 4)
			vmbus_ring_read_commit(&b.ring);
	}
	print_message("%llu packets, %llu bytes, every one checked\n", (unsigned long long)received,
		      (unsigned long long)bytes);
	assert_int_equal(sent_n, LOOP_PACKETS);
	assert_int_equal(echoed, LOOP_PACKETS);
	assert_false(vmbus_ring_has_data(&a.ring));
	assert_false(vmbus_ring_has_data(&b.ring));
	ring_close(&a);
	ring_close(&b);
}

/* ------------------------------------------------------------ full ring */

static void test_full_ring(void **state)
{
	struct ring_pages r;
	uint8_t payload[8192];
	uint8_t *snap;
	bool signal;
	(void)state;

	fill(payload, sizeof(payload), 2);
	ring_open(&r, 2, 0);
	/* 1000 bytes of payload: 16 + 1000 = 1016, + 8 = 1024 in the ring. */
	assert_int_equal(vmbus_ring_packet_bytes(16, 1000), 1024);
	for (uint32_t w = 0; w < r.size; w += 1024 + 8) {
		/* free == 1024: refused (the ring would be full); free == 1032: taken */
		ctl(&r)->write_index = w;
		ctl(&r)->read_index = (w + 1024) % r.size;
		snap = snapshot(&r);
		signal = true;
		assert_int_equal(put(&r, payload, 1000, 1, &signal), -EAGAIN);
		assert_false(signal);
		assert_unchanged(&r, snap);
		ctl(&r)->read_index = (w + 1024 - 8) % r.size; /* less still */
		assert_int_equal(put(&r, payload, 1000, 1, &signal), -EAGAIN);
		ctl(&r)->read_index = (w + 1032) % r.size;
		assert_int_equal(put(&r, payload, 1000, 1, &signal), 0);
		assert_int_equal(ctl(&r)->write_index, (w + 1024) % r.size);
		assert_int_equal(vmbus_ring_write_space(&r.ring), 0);
		/* now 8 bytes free: not even an empty packet */
		assert_int_equal(put(&r, payload, 0, 1, &signal), -EAGAIN);
	}

	/* Filling an empty ring: packets go in until one would leave no byte free. */
	ring_reset(&r, 0);
	for (int i = 0; i < 7; i++)
		assert_int_equal(put(&r, payload, 1000, (uint64_t)i, &signal), 0);
	assert_int_equal(vmbus_ring_write_space(&r.ring), 1024 - 8);
	assert_int_equal(put(&r, payload, 1000, 7, &signal), -EAGAIN);
	assert_int_equal(put(&r, payload, 1000 - 8, 7, &signal), 0);
	assert_int_equal(vmbus_ring_write_space(&r.ring), 0);
	assert_int_equal(ctl(&r)->write_index, r.size - 8);
	assert_int_not_equal(ctl(&r)->write_index, ctl(&r)->read_index);
	ring_close(&r);
}

static void test_never_fits(void **state)
{
	struct ring_pages r;
	static uint8_t payload[1u << 20];
	struct vmbus_packet_desc d = inband(0, 1);
	uint8_t *snap;
	bool signal;
	(void)state;

	ring_open(&r, 2, 0);
	/* total == size never fits, size - 8 fits an empty ring */
	snap = snapshot(&r);
	signal = true;
	assert_int_equal(put(&r, payload, r.size - 8 - DESC, 1, &signal), -EMSGSIZE);
	assert_false(signal);
	assert_int_equal(put(&r, payload, r.size - DESC, 1, &signal), -EMSGSIZE);
	assert_unchanged(&r, snap);
	assert_int_equal(put(&r, payload, r.size - 16 - DESC, 1, &signal), 0);
	ring_close(&r);

	/* A ring bigger than any packet: len8 is 16 bits, so 0x7fff8 bytes is the most. */
	ring_open(&r, 256, 0);
	snap = snapshot(&r);
	{
		struct vmbus_ring_piece too_long[3] = { { &d, DESC }, { payload, 0x40000 }, { payload, 0x40000 - DESC + 8 } };
		struct vmbus_ring_piece huge[2] = { { &d, DESC }, { payload, SIZE_MAX - 8 } };
		struct vmbus_ring_piece wraps[3] = { { &d, DESC }, { payload, SIZE_MAX / 2 + 1 }, { payload, SIZE_MAX / 2 + 1 } };

		assert_int_equal(vmbus_ring_write(&r.ring, too_long, 3, &signal), -EMSGSIZE);
		assert_int_equal(vmbus_ring_write(&r.ring, huge, 2, &signal), -EMSGSIZE);
		assert_int_equal(vmbus_ring_write(&r.ring, wraps, 3, &signal), -EMSGSIZE);
	}
	assert_unchanged(&r, snap);
	{
		struct vmbus_packet_desc big = inband(0x7fff8 - DESC, 2);
		struct vmbus_ring_piece most[2] = { { &big, DESC }, { payload, 0x7fff8 - DESC } };
		struct vmbus_ring_packet pkt;

		assert_int_equal(big.len8, 0xffff);
		assert_int_equal(vmbus_ring_write(&r.ring, most, 2, &signal), 0);
		assert_int_equal(vmbus_ring_read(&r.ring, payload, sizeof(payload), &pkt), 0x7fff8);
	}
	ring_close(&r);
}

/* ------------------------------------------------------------ signalling */

static void test_signal_reader(void **state)
{
	struct ring_pages r;
	uint8_t payload[32] = { 0 }, buf[64];
	struct vmbus_ring_packet pkt;
	bool signal;
	(void)state;

	ring_open(&r, 2, 0);
	assert_int_equal(put(&r, payload, 8, 1, &signal), 0);
	assert_true(signal);                       /* empty -> non-empty */
	assert_int_equal(put(&r, payload, 8, 2, &signal), 0);
	assert_false(signal);                      /* second packet: the reader already knows */

	/* Read, but not yet committed: the ring is not empty for the writer. */
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 24);
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 24);
	assert_int_equal(put(&r, payload, 8, 3, &signal), 0);
	assert_false(signal);
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 24);
	vmbus_ring_read_commit(&r.ring);
	assert_int_equal(put(&r, payload, 8, 4, &signal), 0);
	assert_true(signal);                       /* drained and committed: empty again */

	/* Masked: never, not even into an empty ring. */
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 24);
	vmbus_ring_read_commit(&r.ring);
	assert_false(vmbus_ring_set_interrupt_mask(&r.ring, true));
	assert_int_equal(ctl(&r)->interrupt_mask, 1);
	assert_int_equal(put(&r, payload, 8, 5, &signal), 0);
	assert_false(signal);
	/* Clearing the mask reports what came meanwhile: no signal will. */
	assert_true(vmbus_ring_set_interrupt_mask(&r.ring, false));
	assert_int_equal(ctl(&r)->interrupt_mask, 0);
	assert_int_equal(put(&r, payload, 8, 6, &signal), 0);
	assert_false(signal);
	ring_close(&r);
}

static void test_interrupt_mask(void **state)
{
	struct ring_pages r;
	uint8_t payload[8] = { 0 }, buf[64];
	struct vmbus_ring_packet pkt;
	(void)state;

	ring_open(&r, 2, 0);
	assert_false(vmbus_ring_set_interrupt_mask(&r.ring, false)); /* nothing there */
	assert_false(vmbus_ring_set_interrupt_mask(&r.ring, true));
	assert_int_equal(put_quiet(&r, payload, 8, 1), 0);
	assert_false(vmbus_ring_set_interrupt_mask(&r.ring, true));  /* setting never reports */
	/* The host writes while masked: the data is reported when unmasking. */
	assert_true(vmbus_ring_set_interrupt_mask(&r.ring, false));
	assert_true(vmbus_ring_has_data(&r.ring));
	/* Read (not even committed): nothing waits any more. */
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 24);
	assert_false(vmbus_ring_has_data(&r.ring));
	assert_false(vmbus_ring_set_interrupt_mask(&r.ring, false));
	ring_close(&r);
}

/* The ring 8192 bytes, 7 packets of 1024 in it: 1024 free. */
static void pending_state(struct ring_pages *r)
{
	uint8_t payload[1000] = { 0 };

	ring_reset(r, 0);
	ctl(r)->feature_bits = VMBUS_RING_FEATURE_PENDING_SEND_SZ;
	ctl(r)->pending_send_sz = 0;
	for (int i = 0; i < 7; i++)
		assert_int_equal(put_quiet(r, payload, 1000, (uint64_t)i), 0);
	assert_int_equal(vmbus_ring_write_space(&r->ring), 1024 - 8);
}

static bool read_n_commit(struct ring_pages *r, int n)
{
	static uint8_t buf[2048];
	struct vmbus_ring_packet pkt;

	for (int i = 0; i < n; i++)
		assert_int_equal(vmbus_ring_read(&r->ring, buf, sizeof(buf), &pkt), 1016);
	return vmbus_ring_read_commit(&r->ring);
}

static void test_signal_writer(void **state)
{
	struct ring_pages r;
	(void)state;

	ring_open(&r, 2, 0);

	pending_state(&r);
	vmbus_ring_set_pending_send(&r.ring, 1024);
	assert_int_equal(ctl(&r)->pending_send_sz, 1024);
	assert_true(read_n_commit(&r, 1));                 /* 1024 <= 1024 -> 2048 > 1024 */
	assert_int_equal(ctl(&r)->read_index, 1024);

	pending_state(&r);
	vmbus_ring_set_pending_send(&r.ring, 2048);
	assert_false(read_n_commit(&r, 1));                /* free 2048 == pending: not crossed */
	assert_true(read_n_commit(&r, 1));                 /* 2048 -> 3072 crosses */
	assert_false(read_n_commit(&r, 1));                /* already above */

	pending_state(&r);
	vmbus_ring_set_pending_send(&r.ring, 2048);
	assert_true(read_n_commit(&r, 2));                 /* one batch: 1024 -> 3072 */

	pending_state(&r);
	vmbus_ring_set_pending_send(&r.ring, 1023);
	assert_false(read_n_commit(&r, 1));                /* was above before this batch */

	pending_state(&r);
	vmbus_ring_set_pending_send(&r.ring, 1024);
	ctl(&r)->feature_bits = 0;                         /* the writer's side does not honour it */
	assert_false(read_n_commit(&r, 1));

	pending_state(&r);
	vmbus_ring_set_pending_send(&r.ring, 0);
	assert_false(read_n_commit(&r, 1));
	assert_int_equal(ctl(&r)->read_index, 1024);

	pending_state(&r);
	vmbus_ring_set_pending_send(&r.ring, 1024);
	assert_false(vmbus_ring_read_commit(&r.ring));     /* nothing read: nothing published */
	assert_int_equal(ctl(&r)->read_index, 0);

	/* Across the end: the free space counts around it. */
	ring_reset(&r, 4096);
	{
		uint8_t payload[1000] = { 0 };

		ctl(&r)->pending_send_sz = 1024;
		for (int i = 0; i < 7; i++)
			assert_int_equal(put_quiet(&r, payload, 1000, (uint64_t)i), 0);
		assert_int_equal(ctl(&r)->write_index, 4096 + 7168 - 8192);
		assert_true(read_n_commit(&r, 1));
	}

	/* A corrupt writer's index on commit: no signal, but the index is published. */
	pending_state(&r);
	vmbus_ring_set_pending_send(&r.ring, 1024);
	{
		static uint8_t buf[2048];
		struct vmbus_ring_packet pkt;

		assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 1016);
		ctl(&r)->write_index = 12;
		assert_false(vmbus_ring_read_commit(&r.ring));
		assert_int_equal(ctl(&r)->read_index, 1024);
	}
	ring_close(&r);
}

/* ---------------------------------------------------- peek, batch, cap */

static void test_peek_batch_and_cap(void **state)
{
	struct ring_pages r;
	uint8_t payload[100], buf[128];
	struct vmbus_ring_packet pkt, again;
	(void)state;

	fill(payload, sizeof(payload), 4);
	ring_open(&r, 2, 0);
	assert_int_equal(put_quiet(&r, payload, 100, 1), 0);   /* 116 -> 120 */
	assert_int_equal(put_quiet(&r, payload, 10, 2), 0);    /* 26 -> 32 */
	assert_int_equal(put_quiet(&r, payload, 3, 3), 0);     /* 19 -> 24 */

	assert_int_equal(vmbus_ring_peek(&r.ring, buf, sizeof(buf), &pkt), 120);
	assert_int_equal(vmbus_ring_peek(&r.ring, buf, sizeof(buf), &again), 120);
	assert_memory_equal(&pkt, &again, sizeof(pkt));
	assert_int_equal(pkt.desc.trans_id, 1);
	assert_int_equal(r.ring.read_pos, 0);

	/* Too small a buffer: the length needed, nothing copied, nothing consumed. */
	memset(buf, 0xee, sizeof(buf));
	memset(&pkt, 0, sizeof(pkt));
	assert_int_equal(vmbus_ring_read(&r.ring, buf, 119, &pkt), -EMSGSIZE);
	assert_int_equal(pkt.len, 120);
	assert_int_equal(pkt.desc.trans_id, 1);
	assert_int_equal(buf[0], 0xee);
	assert_int_equal(r.ring.read_pos, 0);
	assert_int_equal(vmbus_ring_peek(&r.ring, buf, 0, &pkt), -EMSGSIZE);
	assert_int_equal(vmbus_ring_read(&r.ring, buf, 120, &pkt), 120);
	assert_memory_equal(buf + DESC, payload, 100);

	/* The rest in one batch, one commit. */
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 32);
	assert_int_equal(pkt.desc.trans_id, 2);
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 24);
	assert_int_equal(pkt.desc.trans_id, 3);
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 0);
	assert_int_equal(vmbus_ring_peek(&r.ring, buf, sizeof(buf), &pkt), 0);
	assert_int_equal(ctl(&r)->read_index, 0);
	assert_int_equal(vmbus_ring_write_space(&r.ring), r.size - 8 - (128 + 40 + 32));
	assert_false(vmbus_ring_read_commit(&r.ring));
	assert_int_equal(ctl(&r)->read_index, 128 + 40 + 32);
	assert_int_equal(vmbus_ring_write_space(&r.ring), r.size - 8);
	ring_close(&r);
}

/* ----------------------------------------------------------- corruption */

/* Reading must fail with -EIO and leave the ring, our position, buf and pkt as they were. */
static void assert_read_refused(struct ring_pages *r)
{
	uint8_t buf[256], buf_before[256];
	struct vmbus_ring_packet pkt, pkt_before;
	uint32_t pos = r->ring.read_pos;
	uint8_t *snap = snapshot(r);

	memset(buf, 0x3c, sizeof(buf));
	memcpy(buf_before, buf, sizeof(buf));
	memset(&pkt, 0x3c, sizeof(pkt));
	memcpy(&pkt_before, &pkt, sizeof(pkt));
	assert_int_equal(vmbus_ring_peek(&r->ring, buf, sizeof(buf), &pkt), -EIO);
	assert_int_equal(vmbus_ring_read(&r->ring, buf, sizeof(buf), &pkt), -EIO);
	assert_memory_equal(buf, buf_before, sizeof(buf));
	assert_memory_equal(&pkt, &pkt_before, sizeof(pkt));
	assert_int_equal(r->ring.read_pos, pos);
	assert_false(vmbus_ring_read_commit(&r->ring));
	assert_unchanged(r, snap);
}

static void test_corrupt_write_index(void **state)
{
	struct ring_pages r;
	uint8_t payload[16] = { 0 };
	const uint32_t bad[] = { 2 * PAGE, 2 * PAGE + 8, 12, 4, 0xfffffff8u, 0xffffffffu };
	(void)state;

	ring_open(&r, 2, 0);
	assert_int_equal(put_quiet(&r, payload, 16, 1), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ctl(&r)->write_index = bad[i];
		assert_true(vmbus_ring_has_data(&r.ring)); /* so that the read reports it */
		assert_read_refused(&r);
		/* and for a writer, its own index corrupt */
		assert_int_equal(vmbus_ring_write_space(&r.ring), -EIO);
		{
			uint8_t *snap = snapshot(&r);
			bool signal = true;

			assert_int_equal(put(&r, payload, 16, 2, &signal), -EIO);
			assert_false(signal);
			assert_unchanged(&r, snap);
		}
	}
	ring_close(&r);
}

static void test_corrupt_read_index(void **state)
{
	struct ring_pages r;
	uint8_t payload[16] = { 0 };
	const uint32_t bad[] = { 2 * PAGE, 2 * PAGE + 8, 12, 4, 0xfffffff8u };
	(void)state;

	ring_open(&r, 2, 0);
	assert_int_equal(put_quiet(&r, payload, 16, 1), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *snap;
		bool signal = true;

		ctl(&r)->read_index = bad[i];
		snap = snapshot(&r);
		assert_int_equal(put(&r, payload, 16, 2, &signal), -EIO);
		assert_false(signal);
		assert_int_equal(vmbus_ring_write_space(&r.ring), -EIO);
		assert_unchanged(&r, snap);
	}
	ring_close(&r);
}

/* A valid packet at pos (40 bytes in the ring), then its descriptor patched. */
static void corrupt_packet(struct ring_pages *r, uint32_t pos, int offset8, int len8)
{
	uint8_t payload[13] = { 0 };
	struct vmbus_packet_desc d;
	uint8_t *at = data(r) + pos;

	ring_reset(r, pos);
	assert_int_equal(put_quiet(r, payload, sizeof(payload), 1), 0);
	assert_int_equal(ctl(r)->write_index, (pos + 40) % r->size);
	if (pos + DESC > r->size)
		fail_msg("corrupt_packet: the descriptor must not wrap here");
	memcpy(&d, at, DESC);
	if (offset8 >= 0)
		d.offset8 = (uint16_t)offset8;
	if (len8 >= 0)
		d.len8 = (uint16_t)len8;
	memcpy(at, &d, DESC);
}

static void test_corrupt_descriptor(void **state)
{
	struct ring_pages r;
	uint8_t buf[64];
	struct vmbus_ring_packet pkt;
	/* offset8, len8; the packet really is len8 4 (32 bytes) with 40 available */
	static const int bad[][2] = {
		{ 0, 0 },   /* len8 < 2 */
		{ 2, 1 },   /* len8 < 2, offset past it */
		{ 1, 1 },   /* len8 < 2, offset inside the descriptor */
		{ 0, 4 },   /* offset8 < 2 */
		{ 1, 4 },   /* offset8 < 2 */
		{ 5, 4 },   /* offset8 > len8 */
		{ 0xffff, 4 },
		{ 2, 5 },   /* len8 * 8 + 8 = 48 > 40 available */
		{ 2, 0xffff },
		{ 5, 5 },
	};
	/* In place, ending just before the end of the area, and with the body wrapping. */
	static const uint32_t positions[] = { 0, 2 * PAGE - 48, 2 * PAGE - 16 };
	(void)state;

	ring_open(&r, 2, 0);
	for (size_t p = 0; p < sizeof(positions) / sizeof(positions[0]); p++) {
		uint32_t pos = positions[p];

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			corrupt_packet(&r, pos, bad[i][0], bad[i][1]);
			assert_read_refused(&r);
		}
		/* The edges that are fine: offset8 == len8, and a len8 that uses all there is. */
		corrupt_packet(&r, pos, 4, 4);
		assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 32);
		assert_int_equal(pkt.payload_offset, 32);
		/* len8 2 in a 40-byte slot: 16 bytes; 24 on, zeros are no descriptor */
		corrupt_packet(&r, pos, 2, 2);
		assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 16);
		assert_int_equal(r.ring.read_pos, (pos + 24) % r.size);
		assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), -EIO);
	}

	/* Too little for any packet: 8 bytes published. */
	ring_reset(&r, 0);
	memset(data(&r), 0, 64);
	{
		struct vmbus_packet_desc d = inband(0, 1);

		memcpy(data(&r), &d, DESC);
	}
	ctl(&r)->write_index = 8;
	assert_read_refused(&r);
	ctl(&r)->write_index = 16;
	assert_read_refused(&r);
	ctl(&r)->write_index = 24;
	assert_int_equal(vmbus_ring_read(&r.ring, buf, sizeof(buf), &pkt), 16);
	ring_close(&r);
}

/*
 * The "host" rewrites the descriptor while the packet body is being copied
 * out: the body sits on a page of its own, made inaccessible, and the fault
 * on it rewrites the descriptor before letting the copy go on. What the
 * reader gets must be the descriptor it checked.
 */
static struct {
	uint8_t *page;   /* the protected page */
	uint8_t *desc;   /* the descriptor's first word in the ring */
	uint8_t *tail;   /* and its second: the descriptor may be split at the end of the area */
	unsigned faults;
} host;

static void host_rewrites(int sig, siginfo_t *info, void *uctx)
{
	struct vmbus_packet_desc evil = { .type = 0xbad, .offset8 = 0, .len8 = 0xffff, .flags = 0, .trans_id = 666 };
	uint8_t *addr = info->si_addr;
	(void)uctx;

	if (sig != SIGSEGV || addr < host.page || addr >= host.page + PAGE || host.faults++)
		abort();
	memcpy(host.desc, &evil, 8);
	memcpy(host.tail, (const uint8_t *)&evil + 8, 8);
	mprotect(host.page, PAGE, PROT_READ | PROT_WRITE);
}

static void read_while_host_rewrites(struct ring_pages *r, uint32_t start, uint8_t *page)
{
	struct vmbus_packet_desc d = inband(64, 4242);
	uint8_t payload[64], buf[128];
	struct vmbus_ring_packet pkt;
	struct sigaction sa = { 0 }, old;

	fill(payload, sizeof(payload), 8);
	ring_reset(r, start);
	assert_int_equal(put_quiet(r, payload, sizeof(payload), d.trans_id), 0);
	host.page = page;
	host.desc = data(r) + start;
	host.tail = data(r) + (start + 8) % r->size;
	host.faults = 0;
	sa.sa_sigaction = host_rewrites;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGSEGV, &sa, &old), 0);
	assert_int_equal(mprotect(page, PAGE, PROT_NONE), 0);

	assert_int_equal(vmbus_ring_read(&r->ring, buf, sizeof(buf), &pkt), 80);

	assert_int_equal(sigaction(SIGSEGV, &old, NULL), 0);
	assert_int_equal(host.faults, 1);                 /* the body was copied after the check */
	assert_int_equal(((struct vmbus_packet_desc *)(void *)host.desc)->trans_id, 666);
	assert_memory_equal(&pkt.desc, &d, DESC);
	assert_int_equal(pkt.len, 80);
	assert_int_equal(pkt.payload_offset, 16);
	assert_memory_equal(buf, &d, DESC);
	assert_memory_equal(buf + DESC, payload, sizeof(payload));
	assert_int_equal(r->ring.read_pos, (start + 88) % r->size);
}

static void test_descriptor_changed_after_copy(void **state)
{
	struct ring_pages r;
	(void)state;

	ring_open(&r, 4, 0);
	/* The descriptor ends a page, the body is on the next one. */
	read_while_host_rewrites(&r, PAGE - DESC, data(&r) + PAGE);
	/* The descriptor ends the area, the body wraps to its start. */
	read_while_host_rewrites(&r, r.size - DESC, data(&r));
	ring_close(&r);
}

/*
 * Sooner still: the "host" rewrites the descriptor right after the reader's
 * first load from it. The descriptor's page is inaccessible; the fault makes
 * it accessible and single-steps the load (the trap flag), and the trap that
 * follows rewrites the descriptor. Whatever is read from the ring after that
 * first load is the rewritten one, so the lengths and the descriptor handed
 * out must come from that one load: no second fetch.
 */
static void host_page_fault(int sig, siginfo_t *info, void *uctx)
{
	ucontext_t *uc = uctx;
	uint8_t *addr = info->si_addr;

	if (sig != SIGSEGV || addr < host.page || addr >= host.page + PAGE || host.faults++)
		abort();
	mprotect(host.page, PAGE, PROT_READ | PROT_WRITE);
	uc->uc_mcontext.gregs[REG_EFL] |= 0x100; /* TF: trap after the load */
}

static void host_after_load(int sig, siginfo_t *info, void *uctx)
{
	struct vmbus_packet_desc evil = { .type = 0xbad, .offset8 = 0, .len8 = 0xffff, .flags = 0, .trans_id = 666 };
	ucontext_t *uc = uctx;
	(void)info;

	if (sig != SIGTRAP || host.faults != 1)
		abort();
	uc->uc_mcontext.gregs[REG_EFL] &= ~0x100;
	memcpy(host.desc, &evil, 8);
	memcpy(host.tail, (const uint8_t *)&evil + 8, 8);
	host.faults++;
}

static void read_while_host_rewrites_at_once(struct ring_pages *r, uint32_t start)
{
	struct vmbus_packet_desc d = inband(64, 4242);
	uint8_t payload[64], buf[128];
	struct vmbus_ring_packet pkt;
	struct sigaction segv = { 0 }, trap = { 0 }, old_segv, old_trap;
	uint8_t *desc_page;

	fill(payload, sizeof(payload), 12);
	ring_reset(r, start);
	assert_int_equal(put_quiet(r, payload, sizeof(payload), d.trans_id), 0);
	host.desc = data(r) + start;
	host.tail = data(r) + (start + 8) % r->size;
	desc_page = (uint8_t *)((uintptr_t)host.desc & ~(uintptr_t)(PAGE - 1));
	host.page = desc_page;
	host.faults = 0;
	segv.sa_sigaction = host_page_fault;
	segv.sa_flags = SA_SIGINFO;
	sigemptyset(&segv.sa_mask);
	trap.sa_sigaction = host_after_load;
	trap.sa_flags = SA_SIGINFO;
	sigemptyset(&trap.sa_mask);
	assert_int_equal(sigaction(SIGSEGV, &segv, &old_segv), 0);
	assert_int_equal(sigaction(SIGTRAP, &trap, &old_trap), 0);
	assert_int_equal(mprotect(desc_page, PAGE, PROT_NONE), 0);

	assert_int_equal(vmbus_ring_read(&r->ring, buf, sizeof(buf), &pkt), 80);

	assert_int_equal(sigaction(SIGSEGV, &old_segv, NULL), 0);
	assert_int_equal(sigaction(SIGTRAP, &old_trap, NULL), 0);
	assert_int_equal(host.faults, 2);
	/* The first word (type, offset8, len8, flags) is the one that was checked. */
	assert_memory_equal(&pkt.desc, &d, 8);
	assert_memory_equal(buf, &d, 8);
	/* The second (trans_id) may be either, but the same in both. */
	assert_memory_equal(buf + 8, (const uint8_t *)&pkt.desc + 8, 8);
	assert_int_equal(pkt.len, 80);
	assert_int_equal(pkt.payload_offset, 16);
	assert_memory_equal(buf + DESC, payload, sizeof(payload));
	assert_int_equal(r->ring.read_pos, (start + 88) % r->size);
}

static void test_descriptor_read_once(void **state)
{
	struct ring_pages r;
	(void)state;

	ring_open(&r, 4, 0);
	read_while_host_rewrites_at_once(&r, PAGE + 64);
	/* split at the end of the area: the page of the first word is the last one */
	read_while_host_rewrites_at_once(&r, r.size - 8);
	ring_close(&r);
}

/* ---------------------------------------------------------- write space */

static void test_write_space(void **state)
{
	struct ring_pages r;
	uint8_t payload[4096] = { 0 };
	bool signal;
	long space;
	(void)state;

	ring_open(&r, 2, 0);
	assert_int_equal(vmbus_ring_write_space(&r.ring), 8192 - 8);
	assert_int_equal(put_quiet(&r, payload, 100, 1), 0);     /* 128 */
	assert_int_equal(vmbus_ring_write_space(&r.ring), 8192 - 128 - 8);

	/* read ahead of write (the writer has wrapped) */
	ctl(&r)->write_index = 1000;
	ctl(&r)->read_index = 3000;
	assert_int_equal(vmbus_ring_write_space(&r.ring), 2000 - 8);
	ctl(&r)->write_index = 3000;
	ctl(&r)->read_index = 1000;
	assert_int_equal(vmbus_ring_write_space(&r.ring), 8192 - 2000 - 8);

	/* A packet of exactly write_space bytes fits; then nothing more does. */
	space = vmbus_ring_write_space(&r.ring);
	assert_int_equal(vmbus_ring_packet_bytes(16, (size_t)space - 16 - 8), (size_t)space);
	assert_int_equal(put(&r, payload, (size_t)space - 16 - 8 - 4000, 1, &signal), 0); /* from 3000 */
	space = vmbus_ring_write_space(&r.ring);
	assert_int_equal(put(&r, payload, (size_t)space - 16 - 8, 1, &signal), 0);
	assert_int_equal(vmbus_ring_write_space(&r.ring), 0);
	assert_int_equal(put(&r, payload, 0, 1, &signal), -EAGAIN);

	ctl(&r)->read_index = 13;
	assert_int_equal(vmbus_ring_write_space(&r.ring), -EIO);
	ring_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_init_area_limit),
		cmocka_unit_test(test_init_feature_bit_and_fields),
		cmocka_unit_test(test_round_trip_exact_bytes),
		cmocka_unit_test(test_header_and_empty_payload),
		cmocka_unit_test(test_packet_bytes),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_wrap_everywhere),
		cmocka_unit_test(test_descriptor_split_at_end),
		cmocka_unit_test(test_loopback_million),
		cmocka_unit_test(test_full_ring),
		cmocka_unit_test(test_never_fits),
		cmocka_unit_test(test_signal_reader),
		cmocka_unit_test(test_interrupt_mask),
		cmocka_unit_test(test_signal_writer),
		cmocka_unit_test(test_peek_batch_and_cap),
		cmocka_unit_test(test_corrupt_write_index),
		cmocka_unit_test(test_corrupt_read_index),
		cmocka_unit_test(test_corrupt_descriptor),
		cmocka_unit_test(test_descriptor_changed_after_copy),
		cmocka_unit_test(test_descriptor_read_once),
		cmocka_unit_test(test_write_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
