/*
 * What the runtime found at start-up: CPU, hypervisor, memory and clocks.
 */
#ifndef HVRT_SYSTEM_H
#define HVRT_SYSTEM_H

#include <stdbool.h>
#include <stdint.h>

enum hvrt_tsc_source {
	HVRT_TSC_CPUID = 1,  /* CPUID leaf 0x15 or 0x16 */
	HVRT_TSC_PIT,        /* calibrated against the 8254 PIT */
	HVRT_TSC_PM_TIMER,   /* calibrated against the ACPI PM timer */
	HVRT_TSC_ASSUMED,    /* no reference timer answered: a guess */
	HVRT_TSC_HYPERV,     /* the Hyper-V TSC_FREQUENCY MSR */
};

struct hvrt_system {
	char cpu_vendor[13];         /* CPUID vendor, e.g. "AuthenticAMD" */
	char cpu_brand[49];          /* CPUID brand string, trimmed; empty if none */
	uint32_t cpu_family, cpu_model, cpu_stepping;
	bool hypervisor_present;     /* CPUID.1:ECX bit 31 */
	char hypervisor_vendor[13];  /* CPUID 0x40000000 vendor, e.g. "Microsoft Hv" */
	uint64_t ram_bytes;          /* usable RAM (free + in use by hvrt) */
	uint64_t heap_bytes;         /* size of the malloc heap */
	uint64_t tsc_hz;             /* TSC frequency */
	uint32_t tsc_source;         /* enum hvrt_tsc_source */
	bool x2apic;                 /* LAPIC runs in x2APIC mode */
	uint64_t lapic_timer_hz;     /* LAPIC timer input clock after its divider */
};

/* Filled before main() runs. */
const struct hvrt_system *hvrt_system(void);

/* Human name of a TSC source. */
const char *hvrt_tsc_source_name(uint32_t source);

/* Nanoseconds since boot (monotonic, from the TSC). */
uint64_t hvrt_uptime_ns(void);

#endif
