/* The TSC: hvrt's clock until the Hyper-V reference time takes over. */
#ifndef HVRT_ARCH_TSC_H
#define HVRT_ARCH_TSC_H

#include <stdbool.h>
#include <stdint.h>

/* Reference timers tsc_init may calibrate against. */
struct tsc_refs {
	bool pit_first;         /* legacy BIOS machine: the 8254 is surely there */
	uint16_t pm_timer_port; /* ACPI PM timer, 0 if none */
	bool pm_timer_32bit;
	uint64_t hyperv_hz;     /* the Hyper-V TSC_FREQUENCY MSR, 0 if not offered */
};

/* Marks the moment hvrt started: the zero of tsc_uptime_ns. Call first thing in each entry. */
void tsc_mark_start(void);

/* Finds the TSC frequency: CPUID, else calibration. Returns the source (enum hvrt_tsc_source). */
uint32_t tsc_init(const struct tsc_refs *refs);

uint64_t tsc_hz(void);
/* Converts a TSC delta to nanoseconds without overflow. */
uint64_t tsc_ticks_to_ns(uint64_t ticks, uint64_t hz);
/* Nanoseconds since tsc_mark_start (or tsc_init when nothing marked the start). */
uint64_t tsc_uptime_ns(void);
/* TSC value ns nanoseconds from now, UINT64_MAX when that is beyond the counter. */
uint64_t tsc_deadline_after_ns(uint64_t ns);

#endif
