/* The malloc heap: one contiguous block that sbrk() moves a break through. */
#ifndef HVRT_LIBC_HEAP_H
#define HVRT_LIBC_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct heap {
	uintptr_t base;
	uintptr_t brk;
	uintptr_t end;
	unsigned failures; /* refused requests, for the message */
};

void heap_init(struct heap *h, uintptr_t base, size_t size);
void *heap_sbrk(struct heap *h, intptr_t increment);

#endif
