/*
 * Crash reporting and reset through the Hyper-V MSRs.
 *
 * A panic or a CPU exception writes CRASH_P0..P4 and then CRASH_CTL with
 * CrashNotify; the host records the crash (Hyper-V's event log, QEMU's
 * "HV crash parameters" line) and stops or resets the VM as configured.
 * The parameters (docs/hv.md):
 *   P0  reason: the exception vector 0..31, or 0x100 for hvrt_panic()
 *   P1  RIP of the fault or of the panic's caller
 *   P2  the exception's error code (0 for a panic)
 *   P3  with a message page: its GPA; otherwise CR2
 *   P4  with a message page: the message length; otherwise RSP
 */
#include <errno.h>
#include <string.h>

#include <hvrt/log.h>
#include <hvrt/mem.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/power.h"
#include "hv/hv.h"

static struct crash_state {
	char *message_page; /* NULL: the host takes no message */
} crash;

static void report(void *ctx, const struct power_crash *c)
{
	uint64_t p[5] = { c->reason, c->rip, c->error_code, c->cr2, c->rsp };
	uint64_t ctl = HV_CRASH_CTL_NOTIFY;
	(void)ctx;

	if (crash.message_page && c->message) {
		size_t len = 0;
		while (len < HVRT_PAGE_SIZE - 1 && c->message[len])
			len++;
		memcpy(crash.message_page, c->message, len);
		crash.message_page[len] = '\0';
		p[3] = (uint64_t)(uintptr_t)crash.message_page;
		p[4] = len;
		ctl |= HV_CRASH_CTL_MESSAGE;
	}
	/* Printed first: the host may stop the VM at the CRASH_CTL write. */
	hvrt_log(HVRT_LOG_ERROR, "hv", "reporting the crash to the host: P0-P4 = 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx",
		 (unsigned long long)p[0], (unsigned long long)p[1], (unsigned long long)p[2],
		 (unsigned long long)p[3], (unsigned long long)p[4]);
	for (unsigned i = 0; i < 5; i++)
		if (cpu_wrmsr_safe(HV_MSR_CRASH_P0 + i, p[i]))
			return;
	cpu_wrmsr_safe(HV_MSR_CRASH_CTL, ctl);
}

static void reset(void *ctx)
{
	(void)ctx;
	cpu_wrmsr_safe(HV_MSR_RESET, 1);
}

void hv_crash_reset(void)
{
	crash = (struct crash_state){ 0 };
	power_set_crash_reporter(NULL, NULL);
	power_set_reset(NULL, NULL);
}

/*
 * hv_crash_init - hook the crash MSRs and the RESET MSR into the power paths
 * @host: detection result; crash_msrs, crash_message and reset_msr are set
 * Return: 0, or -ENODEV when the host offers neither.
 *
 * CRASH_CTL reads back the capabilities the host supports: bit 62 set means
 * it takes a message page (QEMU/KVM reads 1 << 63 only: notify, no message).
 */
int hv_crash_init(struct hvrt_host *host)
{
	uint64_t caps;

	host->crash_msrs = host->crash_message = host->reset_msr = false;
	if (!host->hyperv)
		return -ENODEV;
	if ((host->features & HV_FEATURE_CRASH_MSRS) && cpu_rdmsr_safe(HV_MSR_CRASH_CTL, &caps) == 0 &&
	    (caps & HV_CRASH_CTL_NOTIFY)) {
		if (caps & HV_CRASH_CTL_MESSAGE)
			crash.message_page = hvrt_page_alloc(1);
		host->crash_msrs = true;
		host->crash_message = crash.message_page != NULL;
		power_set_crash_reporter(report, NULL);
	}
	/* Only when recommended: a host may offer the MSR and still prefer the chipset's reset. */
	if ((host->privileges & HV_PRIV_RESET) && (host->recommendations & HV_RECOMMEND_RESET_MSR)) {
		host->reset_msr = true;
		power_set_reset(reset, NULL);
	}
	return host->crash_msrs || host->reset_msr ? 0 : -ENODEV;
}
