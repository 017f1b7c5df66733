/* The identity map: virtual address == physical address, MMIO uncached. */
#ifndef HVRT_ARCH_PAGING_H
#define HVRT_ARCH_PAGING_H

#include <stdint.h>

#include <hvrt/boot.h>

#include "arch/x86_64/pagealloc.h"

#define PAGING_HOLES_MAX 4

/* What to map besides the memory map. */
struct paging_layout {
	uint64_t holes[PAGING_HOLES_MAX]; /* pages left unmapped: page 0, stack guards */
	unsigned nholes;
	uint64_t wc_base, wc_size;        /* write-combining range (the framebuffer), 0 if none */
};

/*
 * Builds page tables that map every region of bi's memory map (and all of the
 * first 4 GiB, where 32-bit MMIO lives) at its own address, write-back for
 * RAM, write-combining for the framebuffer, uncached for everything else,
 * except the holes; and loads them. Returns 0 or -ENOMEM.
 */
int paging_init(const struct hvrt_boot_info *bi, struct pagealloc *pa, const struct paging_layout *layout);

#endif
