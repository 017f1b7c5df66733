/*
 * Physical page allocator over a sorted, merged list of free ranges.
 *
 * A range list rather than a bitmap: the runtime allocates a few large,
 * long-lived blocks (heap, rings, page tables), so the list stays short and
 * needs no memory of its own sized by RAM.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86_64/pagealloc.h"

void pagealloc_init(struct pagealloc *pa)
{
	memset(pa, 0, sizeof(*pa));
}

static void remove_at(struct pagealloc *pa, unsigned i)
{
	memmove(&pa->ranges[i], &pa->ranges[i + 1], (pa->count - i - 1) * sizeof(pa->ranges[0]));
	pa->count--;
}

/* Inserts [base, end) into the sorted list, merging with neighbours. */
static int insert_range(struct pagealloc *pa, uint64_t base, uint64_t end)
{
	unsigned i = 0;

	while (i < pa->count && pa->ranges[i].base < base)
		i++;
	/* Overlap with a neighbour means the pages are free already: a double free. */
	if (i > 0 && pa->ranges[i - 1].end > base)
		return -EINVAL;
	if (i < pa->count && pa->ranges[i].base < end)
		return -EINVAL;

	bool join_prev = i > 0 && pa->ranges[i - 1].end == base;
	bool join_next = i < pa->count && pa->ranges[i].base == end;
	if (join_prev && join_next) {
		pa->ranges[i - 1].end = pa->ranges[i].end;
		remove_at(pa, i);
	} else if (join_prev) {
		pa->ranges[i - 1].end = end;
	} else if (join_next) {
		pa->ranges[i].base = base;
	} else {
		if (pa->count == PAGEALLOC_RANGES_MAX)
			return -ENOSPC;
		memmove(&pa->ranges[i + 1], &pa->ranges[i], (pa->count - i) * sizeof(pa->ranges[0]));
		pa->ranges[i] = (struct pagealloc_range){ .base = base, .end = end };
		pa->count++;
	}
	pa->free_pages += (end - base) / PAGE_SIZE;
	return 0;
}

/*
 * pagealloc_add - give the allocator a range of free RAM
 * @base, @length: the range; shrunk inward to whole pages
 * Return: 0 (also for a range too small to hold a page), -EINVAL when it
 * overlaps free memory already added, -ENOSPC when the list is full.
 */
int pagealloc_add(struct pagealloc *pa, uint64_t base, uint64_t length)
{
	if (base + length < base)
		return -EINVAL;
	uint64_t lo = (base + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	uint64_t hi = (base + length) & ~(uint64_t)(PAGE_SIZE - 1);
	if (lo < base || lo >= hi)
		return 0;
	return insert_range(pa, lo, hi);
}

/*
 * pagealloc_reserve - take a range out of the free memory, whole pages
 * covering it, wherever it overlaps. Return: 0 or -ENOSPC (a split needed a
 * list entry that was not there).
 */
int pagealloc_reserve(struct pagealloc *pa, uint64_t base, uint64_t length)
{
	if (length == 0)
		return 0;
	const uint64_t last_page = UINT64_MAX & ~(uint64_t)(PAGE_SIZE - 1);
	uint64_t lo = base & ~(uint64_t)(PAGE_SIZE - 1);
	uint64_t end = base + length;
	/* An end in the last page (or past 2^64) must not round up to 0: clamp it. */
	uint64_t hi = end < base || end > last_page ? last_page : (end + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);

	for (unsigned i = 0; i < pa->count;) {
		struct pagealloc_range *r = &pa->ranges[i];
		if (r->end <= lo || r->base >= hi) {
			i++;
			continue;
		}
		uint64_t cut_lo = r->base > lo ? r->base : lo;
		uint64_t cut_hi = r->end < hi ? r->end : hi;
		pa->free_pages -= (cut_hi - cut_lo) / PAGE_SIZE;
		if (cut_lo == r->base && cut_hi == r->end) {
			remove_at(pa, i);
		} else if (cut_lo == r->base) {
			r->base = cut_hi;
			i++;
		} else if (cut_hi == r->end) {
			r->end = cut_lo;
			i++;
		} else {
			if (pa->count == PAGEALLOC_RANGES_MAX) {
				pa->free_pages += (cut_hi - cut_lo) / PAGE_SIZE;
				return -ENOSPC;
			}
			memmove(&pa->ranges[i + 2], &pa->ranges[i + 1],
				(pa->count - i - 1) * sizeof(pa->ranges[0]));
			pa->ranges[i + 1] = (struct pagealloc_range){ .base = cut_hi, .end = r->end };
			r->end = cut_lo;
			pa->count++;
			i += 2;
		}
	}
	return 0;
}

/*
 * pagealloc_alloc - take count contiguous pages, first fit from low addresses
 * Return: the address of the first page, or 0 when no range is large enough.
 * (Page 0 is never handed out: the runtime never adds it.)
 */
uint64_t pagealloc_alloc(struct pagealloc *pa, size_t count)
{
	if (count == 0 || count > UINT64_MAX / PAGE_SIZE)
		return 0;
	uint64_t bytes = (uint64_t)count * PAGE_SIZE;

	for (unsigned i = 0; i < pa->count; i++) {
		struct pagealloc_range *r = &pa->ranges[i];
		if (r->end - r->base < bytes)
			continue;
		uint64_t addr = r->base;
		r->base += bytes;
		if (r->base == r->end)
			remove_at(pa, i);
		pa->free_pages -= count;
		return addr;
	}
	return 0;
}

/*
 * pagealloc_free - return pages
 * Return: 0; -EINVAL for an unaligned address, a wrapping range or pages
 * that are free already (double free); -ENOSPC when the list is full.
 */
int pagealloc_free(struct pagealloc *pa, uint64_t addr, size_t count)
{
	if (count == 0)
		return 0;
	if ((addr & (PAGE_SIZE - 1)) != 0 || count > (UINT64_MAX - addr) / PAGE_SIZE)
		return -EINVAL;
	return insert_range(pa, addr, addr + (uint64_t)count * PAGE_SIZE);
}

/* Bytes in the largest free range. */
uint64_t pagealloc_largest(const struct pagealloc *pa)
{
	uint64_t best = 0;
	for (unsigned i = 0; i < pa->count; i++)
		if (pa->ranges[i].end - pa->ranges[i].base > best)
			best = pa->ranges[i].end - pa->ranges[i].base;
	return best;
}
