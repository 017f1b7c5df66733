/*
 * Bringing up the Hyper-V core, in the order the TLFS and Linux use:
 * detection (CPUID), then after the page allocator and the IDT exist, the
 * hypercall page, the reference clock, the SynIC, the synthetic timers and
 * crash reporting. Each step that the host does not offer, or refuses, is
 * reported once and skipped; the steps after it use what is left.
 */
#include <errno.h>

#include <hvrt/log.h>

#include "arch/x86_64/cpu.h"
#include "hv/hv.h"

void hv_early_init(void)
{
	struct hvrt_host *host = hv_host_mut();

	if (hv_detect(host))
		hv_read_frequencies(host);
}

/* One line at boot says what the runtime runs on and what it will use. */
static void print_banner(const struct hvrt_host *h)
{
	if (!h->hyperv) {
		hvrt_log_always("hv", "%s; running without Hyper-V services (no VMBus)", h->name);
		return;
	}
	hvrt_log_always("hv", "%s: hypercalls %s, SynIC %s, clock: %s, %u synthetic timers%s", h->name,
			h->hypercalls ? "on" : "off", h->synic ? "on" : "off", hvrt_clock_source_name(h->clock),
			h->stimers, h->crash_msrs ? ", crash reporting" : "");
}

void hv_init(void)
{
	struct hvrt_host *host = hv_host_mut();
	int err;

	if (!host->hyperv) {
		print_banner(host);
		return;
	}
	err = hv_hypercall_init(host);
	if (err && err != -ENODEV)
		hvrt_log(HVRT_LOG_WARN, "hv", "no hypercalls (error %d); VMBus will not be available", err);
	err = hv_reftime_init(host);
	if (err)
		hvrt_log(HVRT_LOG_WARN, "hv", "no Hyper-V reference clock; time comes from the calibrated TSC");
	err = hv_synic_init(host);
	if (err)
		hvrt_log(HVRT_LOG_WARN, "hv", "no SynIC (error %d); VMBus and synthetic timers will not be available",
			 err);
	err = hv_stimer_init(host);
	if (err && err != -ENODEV)
		hvrt_log(HVRT_LOG_WARN, "hv", "synthetic timers unusable (error %d); sleeps use the LAPIC timer", err);
	hv_crash_init(host);
	if (host->privileges & HV_PRIV_VP_INDEX) {
		uint64_t vp;
		if (cpu_rdmsr_safe(HV_MSR_VP_INDEX, &vp) == 0)
			host->vp_index = (uint32_t)vp;
	}
	print_banner(host);
}
