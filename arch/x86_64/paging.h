/* The identity map: virtual address == physical address, MMIO uncached. */
#ifndef HVRT_ARCH_PAGING_H
#define HVRT_ARCH_PAGING_H

#include <hvrt/boot.h>

#include "arch/x86_64/pagealloc.h"

/*
 * Builds page tables that map every region of bi's memory map (and all of the
 * first 4 GiB, where 32-bit MMIO lives) at its own address, write-back for
 * RAM and uncached for everything else, and loads them. Returns 0 or -ENOMEM.
 */
int paging_init(const struct hvrt_boot_info *bi, struct pagealloc *pa);

#endif
