/*
 * VMBus ring buffers (facts 2.8): framing, wrap-around copies, and the
 * index and signalling protocol between the two sides of one ring.
 *
 * The other side runs concurrently and may be hostile. Its index is bounded
 * before use, a descriptor is copied out and the copy validated, and nothing
 * is published until every check has passed, so a failure leaves the ring
 * as it was. The trailer is written for readers that want it but never read:
 * QEMU's host leaves it 0.
 *
 * Control fields are shared memory: each access is an __atomic one, so the
 * compiler neither merges, tears nor repeats it, and full barriers sit where
 * a store must be seen before a following load (our index against the other
 * side's interrupt_mask or pending_send_sz): with release and acquire alone
 * each side could miss the other's update and both would wait.
 *
 * The data area need not be a power of two, so positions wrap by compare and
 * subtract. Each contiguous span is one memcpy, and packets that do not meet
 * the end of the area take a path that never looks for it.
 */
#include <errno.h>
#include <string.h>

#include <hvrt/mem.h>

#include "vmbus/ring.h"

#define DESC_BYTES sizeof(struct vmbus_packet_desc)

/* The largest packet a descriptor can describe: len8 is 16 bits. */
#define PACKET_MAX (0xffffu * 8u)

/* The largest data area: index + length then never overflows 32 bits. */
#define AREA_MAX 0x80000000u

/*
 * The library is built -Os, which keeps even two-line helpers as calls; on
 * the per-packet path these must fold into their callers. The wrapping
 * cases stay out of line (and out of the hot path's registers): most
 * packets never meet the end of the area.
 */
#define HOT static inline __attribute__((always_inline))
#define COLD static __attribute__((noinline, cold))

/*
 * The control page is packed (alignment 1), so a member's address may not be
 * taken as a uint32_t pointer; every field still sits at its natural offset
 * in a page-aligned page, so an aligned pointer built from offsetof is sound.
 */
#define FIELD(control, name)                                                             \
	((volatile uint32_t *)(volatile void *)((volatile uint8_t *)(control) +          \
						offsetof(struct vmbus_ring_control, name)))

HOT bool index_ok(const struct vmbus_ring *ring, uint32_t index)
{
	return index < ring->size && (index & 7u) == 0;
}

/* Equal indices mean empty, so free space is never 0 and a full ring never exists. */
HOT uint32_t free_bytes(uint32_t size, uint32_t write, uint32_t read)
{
	return read > write ? read - write : size - (write - read);
}

/*
 * pos < size and n < size: one subtraction brings the sum back into the
 * area, and with an area of at most AREA_MAX the sum fits in 32 bits.
 */
HOT uint32_t advance(const struct vmbus_ring *ring, uint32_t pos, uint32_t n)
{
	uint32_t next = pos + n;

	return next >= ring->size ? next - ring->size : next;
}

/* Atomic: the writer may be changing these bytes, and a check must see what is used after it. */
HOT uint64_t load8(const struct vmbus_ring *ring, uint32_t pos)
{
	return __atomic_load_n((const uint64_t *)(const void *)(ring->data + pos), __ATOMIC_RELAXED);
}

HOT void store8(const struct vmbus_ring *ring, uint32_t pos, uint64_t value)
{
	__builtin_memcpy(ring->data + pos, &value, 8);
}

COLD uint32_t copy_in(const struct vmbus_ring *ring, uint32_t pos, const void *src, size_t n)
{
	size_t room = ring->size - pos;

	if (n < room) {
		memcpy(ring->data + pos, src, n);
		return (uint32_t)(pos + n);
	}
	memcpy(ring->data + pos, src, room);
	memcpy(ring->data, (const uint8_t *)src + room, n - room);
	return (uint32_t)(n - room);
}

/*
 * Zeroes the last 8-byte word of the packet before the payload lands on it,
 * so the padding is zero without a byte loop; the word is aligned, so it
 * never straddles the end of the area.
 */
COLD void put_wrapping(const struct vmbus_ring *ring, uint32_t write, const struct vmbus_ring_piece *pieces,
			 unsigned count, uint32_t len, uint32_t padded)
{
	uint32_t pos = write;

	if (padded != len)
		store8(ring, advance(ring, write, padded - 8), 0);
	for (unsigned i = 0; i < count; i++)
		if (pieces[i].len)
			pos = copy_in(ring, pos, pieces[i].data, pieces[i].len);
	store8(ring, advance(ring, write, padded), (uint64_t)write << 32);
}

/* pos may be at or just past the end: the descriptor ended there or straddled it. */
COLD void copy_out_wrapping(const struct vmbus_ring *ring, uint32_t pos, void *dst, size_t n)
{
	size_t room;

	if (pos >= ring->size)
		pos -= ring->size;
	room = ring->size - pos;
	if (n <= room) {
		memcpy(dst, ring->data + pos, n);
		return;
	}
	memcpy(dst, ring->data + pos, room);
	memcpy((uint8_t *)dst + room, ring->data, n - room);
}

int vmbus_ring_init(struct vmbus_ring *ring, void *pages, size_t bytes)
{
	volatile struct vmbus_ring_control *control = pages;
	uint32_t size, read;

	if (!pages || (uintptr_t)pages % HVRT_PAGE_SIZE || bytes % HVRT_PAGE_SIZE || bytes < 2 * HVRT_PAGE_SIZE ||
	    bytes - HVRT_PAGE_SIZE > AREA_MAX)
		return -EINVAL;
	size = (uint32_t)(bytes - HVRT_PAGE_SIZE);
	/* Reads resume where the page says, so pages handed over with indices in them keep working. */
	read = __atomic_load_n(FIELD(control, read_index), __ATOMIC_RELAXED);
	if (read >= size || read % 8)
		return -EINVAL;
	ring->control = control;
	ring->data = (uint8_t *)pages + HVRT_PAGE_SIZE;
	ring->size = size;
	ring->read_pos = read;
	__atomic_fetch_or(FIELD(control, feature_bits), VMBUS_RING_FEATURE_PENDING_SEND_SZ, __ATOMIC_RELAXED);
	return 0;
}

size_t vmbus_ring_packet_bytes(size_t header_len, size_t payload_len)
{
	return ((header_len + payload_len + 7) & ~(size_t)7) + VMBUS_PACKET_TRAILER;
}

long vmbus_ring_write_space(const struct vmbus_ring *ring)
{
	uint32_t write = __atomic_load_n(FIELD(ring->control, write_index), __ATOMIC_RELAXED);
	uint32_t read = __atomic_load_n(FIELD(ring->control, read_index), __ATOMIC_ACQUIRE);

	if (!index_ok(ring, write) || !index_ok(ring, read))
		return -EIO;
	/* A packet fits only when the free space exceeds it, and packets are multiples of 8. */
	return (long)free_bytes(ring->size, write, read) - 8;
}

/* The packet's length before padding; more than PACKET_MAX when it is too long to describe. */
HOT size_t pieces_len(const struct vmbus_ring_piece *pieces, unsigned count)
{
	const struct vmbus_ring_piece *end = pieces + count;
	size_t len = 0;

	for (; pieces != end; pieces++) {
		/* One by one, so that the sum cannot overflow. */
		if (pieces->len > PACKET_MAX)
			return PACKET_MAX + 1;
		len += pieces->len;
	}
	return len;
}

/*
 * The packet in place. The padding's zero word must go before the payload
 * (see put_wrapping); the trailer may go any time before the index is
 * published, and going first it needs no register across the copies.
 */
HOT void put_contiguous(const struct vmbus_ring *ring, uint32_t write, const struct vmbus_ring_piece *pieces,
			unsigned count, uint32_t len, uint32_t padded)
{
	const struct vmbus_ring_piece *end = pieces + count;
	uint8_t *dst = ring->data + write;

	if (padded != len)
		store8(ring, (uint32_t)(write + padded - 8), 0);
	store8(ring, (uint32_t)(write + padded), (uint64_t)write << 32);
	for (; pieces != end; pieces++) {
		/*
		 * A descriptor of its own is the usual first piece: two moves, not
		 * a call. memcpy may not be given a NULL source, even for 0 bytes.
		 */
		if (pieces->len == DESC_BYTES)
			__builtin_memcpy(dst, pieces->data, DESC_BYTES);
		else if (pieces->len)
			memcpy(dst, pieces->data, pieces->len);
		dst += pieces->len;
	}
}

int vmbus_ring_write(struct vmbus_ring *ring, const struct vmbus_ring_piece *pieces, unsigned count, bool *signal)
{
	volatile struct vmbus_ring_control *control = ring->control;
	size_t len = pieces_len(pieces, count);
	uint32_t padded = ((uint32_t)len + 7) & ~7u;
	uint32_t total = padded + VMBUS_PACKET_TRAILER;
	uint32_t write, read, next;

	*signal = false;
	if (len > PACKET_MAX || total >= ring->size)
		return -EMSGSIZE;
	write = __atomic_load_n(FIELD(control, write_index), __ATOMIC_RELAXED);
	/* Acquire: the reader's copies out of the space it frees come before our writes into it. */
	read = __atomic_load_n(FIELD(control, read_index), __ATOMIC_ACQUIRE);
	if (!index_ok(ring, write) || !index_ok(ring, read))
		return -EIO;
	if (free_bytes(ring->size, write, read) <= total)
		return -EAGAIN;

	next = advance(ring, write, total);
	if (write + total <= ring->size)
		put_contiguous(ring, write, pieces, count, (uint32_t)len, padded);
	else
		put_wrapping(ring, write, pieces, count, (uint32_t)len, padded);

	/* The whole packet is visible before the index that hands it over. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(FIELD(control, write_index), next, __ATOMIC_RELAXED);
	/*
	 * The reader may have gone to sleep on the old index: it wants a signal
	 * when it had drained everything (its index is our old one) and has not
	 * masked interrupts. Both are read only once the new index is visible, or
	 * the reader and we could each miss the other's update.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*signal = (__atomic_load_n(FIELD(control, interrupt_mask), __ATOMIC_RELAXED) |
		   (__atomic_load_n(FIELD(control, read_index), __ATOMIC_RELAXED) ^ write)) == 0;
	return 0;
}

/*
 * Copies the packet at read_pos out after checking it and returns its length
 * (or 0, -EMSGSIZE, -EIO); with consume, read_pos then points past it. The
 * ring never changes; on -EIO nothing else does either, and -EMSGSIZE only
 * fills in pkt.
 */
HOT int take(struct vmbus_ring *ring, void *buf, size_t cap, struct vmbus_ring_packet *pkt, bool consume)
{
	uint32_t read = ring->read_pos;
	/* Acquire: the packet's bytes are read only after the index that published them. */
	uint32_t write = __atomic_load_n(FIELD(ring->control, write_index), __ATOMIC_ACQUIRE);
	uint64_t head, tail; /* the descriptor's two words */
	uint32_t avail, len, offset;

	if (write == read)
		return 0;
	if (!index_ok(ring, write))
		return -EIO;
	avail = free_bytes(ring->size, read, write);
	/*
	 * Positions are multiples of 8 and so is the area: the descriptor splits
	 * at most between its two words. Its fields are taken from the words
	 * (little-endian, as the wire is), which are then the bytes handed out.
	 */
	head = load8(ring, read);
	tail = load8(ring, advance(ring, read, 8));
	/* offset8 is bits 31:16 and len8 bits 47:32; each shifted to bytes at once. */
	offset = (uint32_t)(head >> 13) & 0x7fff8u;
	len = (uint32_t)(head >> 29) & 0x7fff8u;
	/* offset >= 16 and offset <= len also give len >= 16: the descriptor is inside the packet. */
	if (offset < DESC_BYTES || offset > len || len + VMBUS_PACKET_TRAILER > avail)
		return -EIO;

	__builtin_memcpy(&pkt->desc, &head, 8);
	__builtin_memcpy((uint8_t *)&pkt->desc + 8, &tail, 8);
	pkt->len = len;
	pkt->payload_offset = offset;
	if (len > cap)
		return -EMSGSIZE;
	/* The checked words go out, not the ring's bytes, which the writer may have changed since. */
	__builtin_memcpy(buf, &head, 8);
	__builtin_memcpy((uint8_t *)buf + 8, &tail, 8);
	buf = (uint8_t *)buf + DESC_BYTES;
	/* Only our own position: nobody sees it before vmbus_ring_read_commit, so it may move first. */
	if (consume)
		ring->read_pos = advance(ring, read, len + VMBUS_PACKET_TRAILER);
	if (read + len <= ring->size)
		memcpy(buf, ring->data + read + DESC_BYTES, len - DESC_BYTES);
	else
		copy_out_wrapping(ring, read + DESC_BYTES, buf, len - DESC_BYTES);
	return (int)len;
}

int vmbus_ring_peek(struct vmbus_ring *ring, void *buf, size_t cap, struct vmbus_ring_packet *pkt)
{
	return take(ring, buf, cap, pkt, false);
}

int vmbus_ring_read(struct vmbus_ring *ring, void *buf, size_t cap, struct vmbus_ring_packet *pkt)
{
	return take(ring, buf, cap, pkt, true);
}

bool vmbus_ring_read_commit(struct vmbus_ring *ring)
{
	volatile struct vmbus_ring_control *control = ring->control;
	uint32_t old = __atomic_load_n(FIELD(control, read_index), __ATOMIC_RELAXED);
	uint32_t now = ring->read_pos;
	uint32_t pending, write, before, after;

	if (old == now)
		return false;
	/* Our copies out of the batch are done before the writer may reuse the space. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(FIELD(control, read_index), now, __ATOMIC_RELAXED);
	/*
	 * A writer short of space sets pending_send_sz and then rereads our
	 * index; we publish the index and then read its request. With a full
	 * barrier on both sides, at least one of us sees the other.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* Usually nobody is waiting: that is the first thing to find out. */
	pending = __atomic_load_n(FIELD(control, pending_send_sz), __ATOMIC_RELAXED);
	if (!pending)
		return false;
	if (!(__atomic_load_n(FIELD(control, feature_bits), __ATOMIC_RELAXED) & VMBUS_RING_FEATURE_PENDING_SEND_SZ))
		return false;
	write = __atomic_load_n(FIELD(control, write_index), __ATOMIC_RELAXED);
	if (!index_ok(ring, write))
		return false;
	/* One snapshot of the writer's index for both, so only this batch makes the difference. */
	before = free_bytes(ring->size, write, old);
	after = free_bytes(ring->size, write, now);
	return before <= pending && after > pending;
}

bool vmbus_ring_has_data(const struct vmbus_ring *ring)
{
	/* A corrupt index counts as data: the read that follows reports it. */
	return __atomic_load_n(FIELD(ring->control, write_index), __ATOMIC_ACQUIRE) != ring->read_pos;
}

bool vmbus_ring_set_interrupt_mask(struct vmbus_ring *ring, bool masked)
{
	__atomic_store_n(FIELD(ring->control, interrupt_mask), masked ? 1u : 0u, __ATOMIC_RELAXED);
	if (masked)
		return false;
	/*
	 * A packet written while we were masked brought no signal, and a writer
	 * may still be deciding on the old mask: look once the clear is visible.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vmbus_ring_has_data(ring);
}

void vmbus_ring_set_pending_send(struct vmbus_ring *ring, uint32_t bytes)
{
	__atomic_store_n(FIELD(ring->control, pending_send_sz), bytes, __ATOMIC_RELAXED);
	/*
	 * The caller checks the space again after asking: that read of the
	 * reader's index must come after the request is visible, or a reader that
	 * freed the space just now and read the old request would never signal.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
