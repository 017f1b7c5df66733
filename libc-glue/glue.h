/* What boot/start.c hands the C library glue. */
#ifndef HVRT_LIBC_GLUE_H
#define HVRT_LIBC_GLUE_H

#include <stddef.h>
#include <stdint.h>

/* The malloc heap: [base, base + size). */
void glue_heap_init(uintptr_t base, size_t size);

/* Wall-clock seconds since the epoch at the moment of the call (from the RTC). */
void glue_time_init(int64_t epoch_now);

#endif
