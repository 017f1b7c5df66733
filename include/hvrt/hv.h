/*
 * The Hyper-V host: what was detected, the partition reference clock,
 * synthetic timers and the event loop. See docs/hv.md.
 *
 * Everything here works on any machine: without Hyper-V, hvrt_host() says so
 * (`hyperv` is false), the clock is the TSC and the timer calls return -ENODEV.
 */
#ifndef HVRT_HV_H
#define HVRT_HV_H

#include <stdbool.h>
#include <stdint.h>

/* The clock behind CLOCK_MONOTONIC, best first. */
enum hvrt_clock_source {
	HVRT_CLOCK_TSC = 0,            /* the calibrated TSC (no Hyper-V clock) */
	HVRT_CLOCK_TIME_REF_COUNT = 1, /* Hyper-V partition reference counter MSR */
	HVRT_CLOCK_REFERENCE_TSC = 2,  /* Hyper-V reference TSC page */
};

struct hvrt_host {
	/* Detected from CPUID alone. */
	char name[64];              /* "Hyper-V 10.0 build 20348", or e.g. "no Hyper-V (KVMKVMKVM)" */
	bool hypervisor;            /* CPUID.1:ECX bit 31 */
	bool hyperv;                /* "Hv#1" interface: everything below is meaningful */
	char vendor[13];            /* CPUID 0x40000000 vendor, e.g. "Microsoft Hv" */
	uint32_t max_leaf;          /* CPUID 0x40000000 EAX */
	uint32_t interface;         /* CPUID 0x40000001 EAX, 0x31237648 = "Hv#1" */
	uint32_t build;             /* CPUID 0x40000002 */
	uint16_t version_major, version_minor;
	uint32_t service_pack;
	uint8_t service_branch;
	uint32_t service_number;
	uint64_t privileges;        /* CPUID 0x40000003 EBX:EAX (hypercall rights : MSRs) */
	uint32_t power_features;    /* CPUID 0x40000003 ECX */
	uint32_t features;          /* CPUID 0x40000003 EDX */
	uint32_t recommendations;   /* CPUID 0x40000004 EAX */
	uint32_t spin_retries;      /* CPUID 0x40000004 EBX, 0xffffffff = never notify */
	uint32_t phys_addr_bits;    /* CPUID 0x40000004 ECX 6:0, 0 if not given */
	uint32_t max_vps, max_lps, max_irq_vectors; /* CPUID 0x40000005 */
	uint32_t host_hw_features;  /* CPUID 0x40000006 EAX, 0 if the leaf is absent */
	bool isolation_leaf;        /* CPUID 0x4000000C exists */
	uint32_t isolation_config;  /* its EAX (bit 0: paravisor) */
	uint32_t isolation_type;    /* its EBX 3:0 (0 none, 1 VBS, 2 SNP, 3 TDX) */

	/* What hvrt set up on it. */
	uint64_t guest_os_id;       /* the value written, or found already set */
	bool hypercalls;            /* hypercall page enabled */
	bool hypercall_page_reused; /* the firmware had enabled it already */
	uint64_t hypercall_page;    /* its guest physical address */
	uint8_t hypercall_insn[3];  /* its first instruction: 0f 01 c1 (vmcall) or 0f 01 d9 (vmmcall) */
	uint32_t vp_index;          /* VP_INDEX MSR of the boot CPU */
	bool synic;                 /* SynIC enabled on the boot CPU */
	uint32_t synic_version;     /* SVERSION MSR */
	uint8_t synic_vector;       /* the IDT vector every SINT raises */
	bool auto_eoi;              /* SINTs use AutoEOI (not deprecated by the host) */
	uint32_t clock;             /* enum hvrt_clock_source */
	uint64_t tsc_frequency;     /* TSC_FREQUENCY MSR, 0 if not offered */
	uint64_t apic_frequency;    /* APIC_FREQUENCY MSR, 0 if not offered */
	unsigned stimers;           /* synthetic timers usable (0 or 4) */
	bool crash_msrs;            /* panics are reported through CRASH_P0..P4/CRASH_CTL */
	bool crash_message;         /* ... with a text message page */
	bool reset_msr;             /* hvrt_reboot() uses the RESET MSR */
};

/* The host, as detected at boot. Never NULL. */
const struct hvrt_host *hvrt_host(void);

/* Which group of CPUID 0x40000003/4 bits hvrt_hv_bit_name() names. */
enum hvrt_hv_bits {
	HVRT_HV_PRIVILEGES_MSRS,      /* 0x40000003 EAX */
	HVRT_HV_PRIVILEGES_CALLS,     /* 0x40000003 EBX */
	HVRT_HV_FEATURES,             /* 0x40000003 EDX */
	HVRT_HV_RECOMMENDATIONS,      /* 0x40000004 EAX */
};

/* Name of one bit (0..31), or NULL for a bit with no published meaning. */
const char *hvrt_hv_bit_name(enum hvrt_hv_bits group, unsigned bit);

/* Name of a clock source ("reference TSC page", ...). */
const char *hvrt_clock_source_name(uint32_t source);

/* Name of an HV_STATUS code ("HV_STATUS_INVALID_CONNECTION_ID"), or NULL if unknown. */
const char *hvrt_hv_status_name(uint16_t status);

/*
 * Partition reference time in 100 ns units (reference TSC page or
 * TIME_REF_COUNT). Returns 0, or -ENODEV without a Hyper-V clock.
 */
int hvrt_reftime(uint64_t *time_100ns);

/* A synthetic timer expiry, handed to the callback from hvrt_poll(). */
struct hvrt_stimer_event {
	unsigned timer;            /* 1..3 (timer 0 is the runtime's own) */
	uint64_t expiration_time;  /* reference time it was due (100 ns) */
	uint64_t delivery_time;    /* reference time the host delivered it */
};

typedef void (*hvrt_stimer_fn)(void *ctx, const struct hvrt_stimer_event *event);

/*
 * hvrt_stimer_start - arm a synthetic timer
 * @timer:    1..3
 * @sint:     the SINT its expiry message goes to, 1..15, not one the runtime uses (docs/hv.md)
 * @periodic: false: fire once at reference time @when; true: fire every @when
 * @when:     absolute reference time (one-shot) or period (periodic), 100 ns
 * @fn, @ctx: called from hvrt_poll() for each expiry
 * Return: 0, -ENODEV (no synthetic timers), -EINVAL (bad timer, SINT or time),
 * -EBUSY (the SINT serves something else), -EIO (the host refused the MSR write).
 */
int hvrt_stimer_start(unsigned timer, unsigned sint, bool periodic, uint64_t when, hvrt_stimer_fn fn, void *ctx);

/* Stops a timer; no callback runs for it afterwards. Returns 0, -ENODEV or -EINVAL. */
int hvrt_stimer_stop(unsigned timer);

/*
 * Runs every callback that is due: SynIC messages and events, timer expiries.
 * Blocking calls (sleep, waits) run it while they wait. Returns how many
 * messages and events it handled.
 */
int hvrt_poll(void);

#endif
