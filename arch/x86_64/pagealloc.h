/*
 * Physical page allocator: a sorted list of free ranges.
 *
 * Holds addresses only; it never touches the memory, so the unit tests run it
 * on made-up address spaces. hvrt_page_alloc() wraps it and zeroes the pages.
 */
#ifndef HVRT_ARCH_PAGEALLOC_H
#define HVRT_ARCH_PAGEALLOC_H

#include <stddef.h>
#include <stdint.h>

#define PAGE_SIZE 4096u
#define PAGEALLOC_RANGES_MAX 32

struct pagealloc_range {
	uint64_t base; /* page aligned */
	uint64_t end;  /* page aligned, exclusive */
};

struct pagealloc {
	struct pagealloc_range ranges[PAGEALLOC_RANGES_MAX];
	unsigned count;
	uint64_t free_pages;
};

void pagealloc_init(struct pagealloc *pa);
int pagealloc_add(struct pagealloc *pa, uint64_t base, uint64_t length);
int pagealloc_reserve(struct pagealloc *pa, uint64_t base, uint64_t length);
uint64_t pagealloc_alloc(struct pagealloc *pa, size_t count);
int pagealloc_free(struct pagealloc *pa, uint64_t addr, size_t count);
uint64_t pagealloc_largest(const struct pagealloc *pa);

#endif
