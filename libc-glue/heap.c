/*
 * sbrk() over a fixed block. newlib's malloc grows and shrinks the break; when
 * the block is exhausted malloc() returns NULL and the console says why.
 */
#include <errno.h>

#include <hvrt/log.h>

#include "libc-glue/heap.h"

/* Refusals after this many are counted but not printed, so a retrying app cannot flood the console. */
#define HEAP_FAILURES_SHOWN 4

void heap_init(struct heap *h, uintptr_t base, size_t size)
{
	h->base = base;
	h->brk = base;
	h->end = base + size;
	h->failures = 0;
}

/*
 * heap_sbrk - move the break
 * @increment: bytes to add (negative gives memory back)
 * Return: the old break, or (void *)-1 with errno ENOMEM when the heap would
 * grow past its end or shrink below its start.
 */
void *heap_sbrk(struct heap *h, intptr_t increment)
{
	uintptr_t old = h->brk;

	if (increment >= 0 ? (uintptr_t)increment > h->end - h->brk
			   : (uintptr_t)0 - (uintptr_t)increment > h->brk - h->base) {
		if (increment > 0 && h->failures++ < HEAP_FAILURES_SHOWN)
			hvrt_log(HVRT_LOG_ERROR, "heap",
				 "out of memory: %lu more bytes asked, %lu of %lu in use",
				 (unsigned long)increment, (unsigned long)(h->brk - h->base),
				 (unsigned long)(h->end - h->base));
		errno = ENOMEM;
		return (void *)-1;
	}
	h->brk += (uintptr_t)increment;
	return (void *)old;
}
