/*
 * Physical pages for rings, shared buffers and page tables.
 *
 * Memory is identity-mapped: the address of a page is its guest physical
 * address, so a GPADL page number is addr >> 12. malloc() comes from newlib on
 * a separate heap; use these for anything the host or a device must see.
 */
#ifndef HVRT_MEM_H
#define HVRT_MEM_H

#include <stddef.h>
#include <stdint.h>

#define HVRT_PAGE_SIZE 4096u

/* Returns count zeroed, page-aligned, physically contiguous pages, or NULL. */
void *hvrt_page_alloc(size_t count);

/* Gives back pages from hvrt_page_alloc(); count must match the allocation. */
void hvrt_page_free(void *pages, size_t count);

/* Free pages left in the allocator. */
size_t hvrt_page_free_count(void);

#endif
