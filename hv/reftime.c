/*
 * Partition reference time: 100 ns units since the partition was created,
 * from the reference TSC page when the host keeps it valid, else from the
 * TIME_REF_COUNT MSR. Installed as the runtime's clock (libc-glue) so
 * CLOCK_MONOTONIC and the sleeps follow the host's time, not a calibration.
 */
#include <errno.h>

#include <hvrt/hv.h>
#include <hvrt/log.h>
#include <hvrt/mem.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "hv/hv.h"
#include "libc-glue/glue.h"

static struct reftime_state {
	const struct hv_reference_tsc_page *page; /* NULL: no page */
	bool ref_count;                           /* TIME_REF_COUNT offered */
	bool extrapolating;                       /* the last read had no host time behind it */
	/* The last good reading, to carry on from when the host offers no valid source for a while. */
	bool have_last;
	uint64_t last_time, last_tsc;
} ref;

/* How often a read is retried while the host keeps changing the sequence. */
#define PAGE_READ_TRIES 1000

const char *hvrt_clock_source_name(uint32_t source)
{
	switch (source) {
	case HVRT_CLOCK_REFERENCE_TSC:
		return "Hyper-V reference TSC page";
	case HVRT_CLOCK_TIME_REF_COUNT:
		return "Hyper-V TIME_REF_COUNT";
	case HVRT_CLOCK_TSC:
		return "TSC";
	default:
		return "unknown";
	}
}

/*
 * Reads the page with its sequence protocol (TLFS "reference TSC page").
 * Returns false while the host marks it invalid (sequence 0), as it does
 * during a save/restore or migration to a host with another TSC rate.
 */
static bool read_page(uint64_t *time, uint64_t *tsc_used)
{
	for (int tries = 0; tries < PAGE_READ_TRIES; tries++) {
		uint32_t seq = ref.page->tsc_sequence;
		if (seq == 0)
			return false;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		uint64_t scale = ref.page->tsc_scale;
		int64_t offset = ref.page->tsc_offset;
		uint64_t tsc = cpu_rdtsc();
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (ref.page->tsc_sequence != seq)
			continue;
		*time = (uint64_t)(((unsigned __int128)tsc * scale) >> 64) + (uint64_t)offset;
		*tsc_used = tsc;
		return true;
	}
	return false; /* a host rewriting the page without end counts as an invalid page */
}

/*
 * hv_reftime_read - partition reference time, 100 ns units
 * Return: false only before any Hyper-V clock ever answered.
 *
 * The page, else TIME_REF_COUNT. A host that offers only the page and marks
 * it invalid for a while (save/restore, migration) gets the last value
 * given carried on with the TSC, so the clock neither stops nor jumps back;
 * a time from the host that is behind what was already given is held there.
 */
bool hv_reftime_read(uint64_t *time)
{
	uint64_t t, tsc;

	ref.extrapolating = false;
	if (ref.page && read_page(&t, &tsc))
		goto give;
	if (ref.ref_count) {
		tsc = cpu_rdtsc();
		t = cpu_rdmsr(HV_MSR_TIME_REF_COUNT);
		goto give;
	}
	if (!ref.have_last)
		return false;
	/* No host time: the last value given, carried on with the TSC (a TSC that went back adds nothing). */
	ref.extrapolating = true;
	tsc = cpu_rdtsc();
	uint64_t hz = tsc_hz();
	uint64_t ticks = tsc > ref.last_tsc ? tsc - ref.last_tsc : 0;
	t = ref.last_time + (hz ? ticks / hz * 10000000ull + ticks % hz * 10000000ull / hz : 0);
give:
	/* Never behind a value already given, whichever source gave it. */
	if (ref.have_last && t < ref.last_time)
		t = ref.last_time;
	ref.have_last = true;
	ref.last_time = t;
	ref.last_tsc = tsc;
	*time = t;
	return true;
}

bool hv_reftime_from_host(void)
{
	return !ref.extrapolating;
}

int hvrt_reftime(uint64_t *time_100ns)
{
	if (!time_100ns)
		return -EINVAL;
	return hv_reftime_read(time_100ns) ? 0 : -ENODEV;
}

static uint64_t reftime_now_ns(void)
{
	uint64_t t = 0;
	hv_reftime_read(&t);
	return t * 100;
}

static void reftime_sleep_until_ns(uint64_t deadline)
{
	/* Rounded up: waking 99 ns late is allowed, early is not. */
	hv_stimer_sleep_until(deadline / 100 + (deadline % 100 != 0));
}

static uint64_t reftime_resolution_ns(void)
{
	return 100;
}

static const struct glue_clock reftime_clock = {
	.name = "Hyper-V reference time",
	.now_ns = reftime_now_ns,
	.sleep_until_ns = reftime_sleep_until_ns,
	.resolution_ns = reftime_resolution_ns,
};

void hv_read_frequencies(struct hvrt_host *host)
{
	uint64_t hz;

	/* Both bits, as Linux asks: some hosts set one without the other. */
	if (!host->hyperv || !(host->privileges & HV_PRIV_FREQUENCY_MSRS) ||
	    !(host->features & HV_FEATURE_FREQUENCY_MSRS))
		return;
	if (cpu_rdmsr_safe(HV_MSR_TSC_FREQUENCY, &hz) == 0)
		host->tsc_frequency = hz;
	if (cpu_rdmsr_safe(HV_MSR_APIC_FREQUENCY, &hz) == 0)
		host->apic_frequency = hz;
}

void hv_reftime_reset(void)
{
	ref = (struct reftime_state){ 0 };
}

/*
 * hv_reftime_init - pick the partition clock and install it
 * @host: detection result; host->clock is set
 * Return: 0, or -ENODEV when the host offers neither the page nor the counter.
 *
 * The page is taken even when its sequence reads 0 at first: the host may
 * validate it later, and every read falls back to the counter meanwhile.
 * Without the counter, such a page is no clock at all, so it is dropped.
 */
int hv_reftime_init(struct hvrt_host *host)
{
	uint64_t t;

	host->clock = HVRT_CLOCK_TSC;
	if (!host->hyperv)
		return -ENODEV;
	if (host->privileges & HV_PRIV_TIME_REF_COUNT)
		ref.ref_count = cpu_rdmsr_safe(HV_MSR_TIME_REF_COUNT, &t) == 0;
	if (host->privileges & HV_PRIV_REFERENCE_TSC) {
		void *page = hvrt_page_alloc(1);
		uint64_t msr = 0;
		/* Read-modify-write: bits 11:1 are reserved, to be preserved. */
		bool written = page && cpu_rdmsr_safe(HV_MSR_REFERENCE_TSC, &msr) == 0 &&
			       cpu_wrmsr_safe(HV_MSR_REFERENCE_TSC, (msr & ~HV_MSR_PAGE_MASK) |
									(uint64_t)(uintptr_t)page | HV_MSR_ENABLE) == 0;
		if (written && cpu_rdmsr_safe(HV_MSR_REFERENCE_TSC, &msr) == 0 && (msr & HV_MSR_ENABLE)) {
			ref.page = page;
		} else {
			hvrt_log(HVRT_LOG_WARN, "hv", page ? "the host refused the reference TSC page"
							   : "no memory for the reference TSC page");
			/* A page the host may have taken is disabled before it is freed; one it keeps is never reused. */
			if (page && (!written || cpu_wrmsr_safe(HV_MSR_REFERENCE_TSC, 0) == 0))
				hvrt_page_free(page, 1);
		}
	}
	if (ref.page && !ref.ref_count && ref.page->tsc_sequence == 0) {
		hvrt_log(HVRT_LOG_WARN, "hv", "the reference TSC page is invalid and there is no TIME_REF_COUNT");
		cpu_wrmsr_safe(HV_MSR_REFERENCE_TSC, 0);
		ref.page = NULL; /* the page stays allocated: the host may have it mapped until it saw the write */
	}
	if (ref.page && ref.page->tsc_sequence != 0)
		host->clock = HVRT_CLOCK_REFERENCE_TSC;
	else if (ref.ref_count)
		host->clock = HVRT_CLOCK_TIME_REF_COUNT;
	else
		return -ENODEV;
	glue_clock_install(&reftime_clock);
	return 0;
}
