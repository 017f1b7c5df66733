/* What boot/start.c hands the C library glue. */
#ifndef HVRT_LIBC_GLUE_H
#define HVRT_LIBC_GLUE_H

#include <stddef.h>
#include <stdint.h>

/* The malloc heap: [base, base + size). */
void glue_heap_init(uintptr_t base, size_t size);

/* Wall-clock seconds since the epoch at the moment of the call (from the RTC). */
void glue_time_init(int64_t epoch_now);

/*
 * A clock for CLOCK_MONOTONIC, CLOCK_REALTIME and the sleeps. The default is
 * the TSC with the LAPIC timer; the Hyper-V layer installs the reference
 * clock when the host has one.
 */
struct glue_clock {
	const char *name;
	uint64_t (*now_ns)(void);                  /* monotonic nanoseconds, any origin */
	void (*sleep_until_ns)(uint64_t deadline); /* halt until now_ns() >= deadline */
	uint64_t (*resolution_ns)(void);           /* 1 ns to 1 s */
};

/* Switches clocks without a jump: CLOCK_MONOTONIC continues from where it was. */
void glue_clock_install(const struct glue_clock *clock);

/* CLOCK_MONOTONIC in nanoseconds: 0 at boot. */
uint64_t glue_uptime_ns(void);

#endif
