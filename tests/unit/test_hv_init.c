/*
 * End-to-end tests of hv/hv.c (hv_early_init, hv_init) on simulated hosts.
 *
 * Pinned down:
 *  - the nested host: everything comes up, one banner line and no warning;
 *    the clock, the sleep, hypercalls and a VMBus-like exchange (a post
 *    answered on SINT2) work together;
 *  - TCG, KVM and bare metal: not one Hyper-V MSR touched (the sim fails the
 *    test on any), nothing allocated, the banner says there is no Hyper-V,
 *    and every Hyper-V call answers -ENODEV without a crash;
 *  - a host that claims Hyper-V but refuses pieces (hypercalls, SynIC,
 *    reference time, stimers, all of them): a clear warning for each, the
 *    best of what remains used, and the banner saying what is on.
 */
#include "tests/unit/hv_fixture.h"

static struct hvrt_host *boot(void)
{
	hv_early_init();
	hv_init();
	return hv_host_mut();
}

/* ---- the nested host ---- */

static uint8_t reply[24];

/* The host side of connection 1: answers every post with a message on SINT2. */
static uint16_t answer_on_sint2(void *ctx, struct hv_sim *s, const struct hv_sim_posted *msg)
{
	(void)ctx;
	memcpy(reply, msg->payload, sizeof(reply));
	reply[0] = 0x0a; /* VERSION_RESPONSE, say */
	assert_true(hv_sim_post(s, 2, 1, reply, sizeof(reply)));
	return HV_STATUS_SUCCESS;
}

static unsigned got;
static uint8_t got_payload[24];

static void vmbus_message(void *ctx, unsigned sint, const struct hv_message *msg)
{
	(void)ctx;
	assert_int_equal(sint, 2);
	assert_int_equal(msg->message_type, 1);
	memcpy(got_payload, msg->payload, sizeof(got_payload));
	got++;
}

static void test_nested_host(void **state)
{
	(void)state;
	cfg.vp_index = 3;
	start();
	struct hvrt_host *h = boot();
	assert_true(h->hyperv);
	assert_true(h->hypercalls);
	assert_true(h->synic);
	assert_int_equal(h->clock, HVRT_CLOCK_REFERENCE_TSC);
	assert_int_equal(h->stimers, 4);
	assert_false(h->crash_msrs);
	assert_false(h->reset_msr);
	assert_int_equal(h->vp_index, 3);
	assert_int_equal(h->tsc_frequency, 2500000000ull); /* read early, before calibration */
	assert_int_equal(h->apic_frequency, 1000000000ull);
	assert_memory_equal(h->hypercall_insn, "\x0f\x01\xd9", 3);
	assert_logged("hvrt: hv: Hyper-V interface (Microsoft Hv, no version): hypercalls on, SynIC on, "
		      "clock: Hyper-V reference TSC page, 4 synthetic timers\n");
	assert_int_equal(loglines, 1);
	assert_not_logged("warning");
	/* hypercall page and input, SIMP, SIEFP, reference TSC page */
	assert_int_equal(hv_sim_pages_live(&sim), 5);

	/* the clock */
	assert_non_null(sim.clock);
	uint64_t t;
	assert_int_equal(hvrt_reftime(&t), 0);
	assert_int_equal(t, hv_sim_now(&sim));
	uint64_t deadline = sim.clock->now_ns() + 10000000;
	sim.clock->sleep_until_ns(deadline);
	assert_true(hv_sim_now(&sim) * 100 >= deadline);
	assert_true(hv_sim_now(&sim) * 100 <= deadline + 1000);

	/* a VMBus-like exchange: post on connection 1, the answer arrives on SINT2 */
	struct hv_sint_ops ops = { .message = vmbus_message };
	assert_int_equal(hv_synic_claim(HV_SINT_VMBUS, &ops), 0);
	hv_sim_add_connection(&sim, 1, true, false, answer_on_sint2, NULL, NULL);
	uint8_t request[24] = { 0x0e, 0, 0, 0, 0x11, 0x22 };
	got = 0;
	assert_int_equal(hv_post_message(1, 1, request, sizeof(request), NULL), 0);
	assert_true(hv_synic_pending());
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(got, 1);
	assert_int_equal(got_payload[0], 0x0a);
	assert_int_equal(got_payload[4], 0x11);
	assert_int_equal(got_payload[5], 0x22);
	assert_int_equal(sim.stray_eois, 0);
}

/* Intel flavour, crash MSRs and RESET recommended: the banner mentions crash reporting. */
static void test_full_featured_host(void **state)
{
	(void)state;
	cfg.cpu = HV_SIM_CPU_INTEL;
	cfg.build = 20348;
	cfg.version = 0x000a0000;
	hv_sim_config_crash(&cfg, true);
	hv_sim_config_reset(&cfg, true);
	start();
	struct hvrt_host *h = boot();
	assert_memory_equal(h->hypercall_insn, "\x0f\x01\xc1", 3);
	assert_true(h->crash_msrs && h->crash_message && h->reset_msr);
	assert_logged("hvrt: hv: Hyper-V 10.0 build 20348 (Microsoft Hv): hypercalls on, SynIC on, "
		      "clock: Hyper-V reference TSC page, 4 synthetic timers, crash reporting\n");
	assert_not_logged("warning");
}

/* AutoEOI deprecated: everything comes up and the timer interrupts of a sleep are EOI'd. */
static void test_auto_eoi_deprecated_host(void **state)
{
	(void)state;
	cfg.recommendations |= HV_RECOMMEND_AUTO_EOI_DEPRECATED;
	start();
	struct hvrt_host *h = boot();
	assert_false(h->auto_eoi);
	sim.clock->sleep_until_ns(sim.clock->now_ns() + 3000000);
	assert_true(sim.delivered[0x40] >= 1);
	assert_int_equal(sim.eois, sim.delivered[0x40]);
}

/* ---- not Hyper-V ---- */

static void check_no_hyperv(enum hv_sim_vendor vendor, const char *banner)
{
	hv_sim_config_vendor(&cfg, vendor);
	start();
	struct hvrt_host *h = boot();
	assert_false(h->hyperv);
	assert_false(h->hypercalls || h->synic || h->crash_msrs || h->reset_msr);
	assert_int_equal(h->clock, HVRT_CLOCK_TSC);
	assert_int_equal(h->stimers, 0);
	assert_logged(banner);
	assert_int_equal(loglines, 1);
	assert_int_equal(hv_sim_hv_msr_accesses(&sim), 0);
	assert_int_equal(sim.msr_count, 0);
	assert_int_equal(sim.allocs, 0);
	assert_int_equal(sim.clock_installs, 0);
	assert_null(sim.vec[0x40].fn);

	/* every call answers, none crashes or touches the host */
	uint64_t t;
	uint16_t status = 0;
	assert_int_equal(hvrt_reftime(&t), -ENODEV);
	assert_int_equal(hvrt_stimer_start(1, 5, false, 100, NULL, NULL), -ENODEV);
	assert_int_equal(hvrt_stimer_stop(1), -ENODEV);
	assert_int_equal(hvrt_poll(), 0);
	assert_int_equal(hv_post_message(1, 1, "x", 1, &status), -ENODEV);
	assert_int_equal(hv_signal_event(2, 0, NULL), -ENODEV);
	struct hv_sint_ops ops = { .message = vmbus_message };
	assert_int_equal(hv_synic_claim(2, &ops), -ENODEV);
	assert_int_equal(sim.calls, 0);
	assert_int_equal(sim.msr_count, 0);
}

static void test_tcg(void **state)
{
	(void)state;
	check_no_hyperv(HV_SIM_VENDOR_TCG, "hvrt: hv: no Hyper-V (hypervisor \"TCGTCGTCGTCG\"); running without "
					   "Hyper-V services (no VMBus)\n");
}

static void test_kvm(void **state)
{
	(void)state;
	check_no_hyperv(HV_SIM_VENDOR_KVM, "hvrt: hv: no Hyper-V (hypervisor \"KVMKVMKVM\"); running without "
					   "Hyper-V services (no VMBus)\n");
}

static void test_bare_metal(void **state)
{
	(void)state;
	check_no_hyperv(HV_SIM_VENDOR_NONE, "hvrt: hv: no hypervisor; running without Hyper-V services (no VMBus)\n");
}

/* "Microsoft Hv" with too few leaves: not Hyper-V, so not one Hyper-V MSR either. */
static void test_nonconforming(void **state)
{
	(void)state;
	cfg.max_leaf = 0x40000004;
	start();
	struct hvrt_host *h = boot();
	assert_false(h->hyperv);
	assert_int_equal(sim.msr_count, 0);
	assert_logged("no Hyper-V (hypervisor \"Microsoft Hv\"); running without Hyper-V services");
}

/* ---- Hyper-V that refuses things ---- */

/* The hypercall MSR refused: a warning, no VMBus; clock, SynIC and stimers still on. */
static void test_hypercall_refused(void **state)
{
	(void)state;
	start();
	hv_sim_fault_msr(&sim, HV_MSR_HYPERCALL, false, true);
	struct hvrt_host *h = boot();
	assert_false(h->hypercalls);
	assert_true(h->synic);
	assert_int_equal(h->stimers, 4);
	assert_logged("hvrt: hv: warning: the host refused a hypercall MSR access; no hypercalls\n");
	assert_logged("hvrt: hv: warning: no hypercalls (error -5); VMBus will not be available\n");
	assert_logged("hypercalls off, SynIC on, clock: Hyper-V reference TSC page, 4 synthetic timers\n");
	assert_int_equal(hv_post_message(1, 1, "x", 1, NULL), -ENODEV);
	assert_int_equal(sim.calls, 0);
}

/* An empty hypercall page: refused with what it held. */
static void test_hypercall_page_empty(void **state)
{
	(void)state;
	start();
	sim.fault.hypercall_page_empty = true;
	struct hvrt_host *h = boot();
	assert_false(h->hypercalls);
	assert_logged("the hypercall page holds 00 00 00, not a hypercall; not using it");
	assert_logged("no hypercalls (error -5)");
	assert_false(sim.hypercall & HV_MSR_ENABLE);
}

/* No hypercall privilege at all: no warning about it, just "off". */
static void test_hypercall_not_offered(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_HYPERCALL;
	start();
	struct hvrt_host *h = boot();
	assert_false(h->hypercalls);
	assert_not_logged("warning");
	assert_logged("hypercalls off, SynIC on");
}

/* SIMP refused: no SynIC, so no stimers; the clock stays and the sleep uses the LAPIC timer. */
static void test_synic_refused(void **state)
{
	(void)state;
	start();
	hv_sim_fault_msr(&sim, HV_MSR_SIMP, false, true);
	struct hvrt_host *h = boot();
	assert_false(h->synic);
	assert_int_equal(h->stimers, 0);
	assert_true(h->hypercalls);
	assert_int_equal(h->clock, HVRT_CLOCK_REFERENCE_TSC);
	assert_logged("hvrt: hv: warning: the host refused a SynIC MSR access; no SynIC\n");
	assert_logged("hvrt: hv: warning: no SynIC (error -5); VMBus and synthetic timers will not be available\n");
	assert_not_logged("synthetic timers unusable");
	assert_logged("hypercalls on, SynIC off, clock: Hyper-V reference TSC page, 0 synthetic timers\n");
	uint64_t deadline = sim.clock->now_ns() + 4000000;
	sim.clock->sleep_until_ns(deadline);
	assert_true(hv_sim_now(&sim) * 100 >= deadline);
	assert_true(sim.lapic_fires >= 1);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_STIMER0_COUNT, true), 0);
}

/* Neither the page nor the counter works: the TSC stays the clock, no stimers (they need reference time). */
static void test_reference_time_refused(void **state)
{
	(void)state;
	start();
	hv_sim_fault_msr(&sim, HV_MSR_REFERENCE_TSC, false, true);
	hv_sim_fault_msr(&sim, HV_MSR_TIME_REF_COUNT, true, false);
	struct hvrt_host *h = boot();
	assert_int_equal(h->clock, HVRT_CLOCK_TSC);
	assert_int_equal(h->stimers, 0);
	assert_true(h->synic);
	assert_logged("hvrt: hv: warning: the host refused the reference TSC page\n");
	assert_logged("hvrt: hv: warning: no Hyper-V reference clock; time comes from the calibrated TSC\n");
	assert_logged("hypercalls on, SynIC on, clock: TSC, 0 synthetic timers\n");
	assert_int_equal(sim.clock_installs, 0);
	assert_int_equal(sim.sint[3], HV_SINT_MASKED);
}

/* Only TIME_REF_COUNT: it is the clock and the stimers run on it. */
static void test_counter_only(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_REFERENCE_TSC;
	start();
	struct hvrt_host *h = boot();
	assert_int_equal(h->clock, HVRT_CLOCK_TIME_REF_COUNT);
	assert_int_equal(h->stimers, 4);
	assert_logged("clock: Hyper-V TIME_REF_COUNT, 4 synthetic timers\n");
	assert_not_logged("warning");
	uint64_t deadline = sim.clock->now_ns() + 2000000;
	sim.clock->sleep_until_ns(deadline);
	assert_true(hv_sim_now(&sim) * 100 >= deadline);
	assert_int_equal(sim.stimer[0].fired, 1);
}

/* The stimer MSRs refused: a warning, the sleep falls back to the LAPIC timer. */
static void test_stimers_refused(void **state)
{
	(void)state;
	start();
	hv_sim_fault_msr(&sim, HV_MSR_STIMER0_COUNT, false, true);
	struct hvrt_host *h = boot();
	assert_int_equal(h->stimers, 0);
	assert_true(h->synic);
	assert_logged("hvrt: hv: warning: the host refused the synthetic timer MSRs\n");
	assert_logged("hvrt: hv: warning: synthetic timers unusable (error -5); sleeps use the LAPIC timer\n");
	assert_logged("0 synthetic timers\n");
	assert_int_equal(sim.sint[3], HV_SINT_MASKED);
	uint64_t deadline = sim.clock->now_ns() + 3000000;
	sim.clock->sleep_until_ns(deadline);
	assert_true(hv_sim_now(&sim) * 100 >= deadline);
	assert_true(sim.lapic_fires >= 1);
}

/* Everything refused at once: every warning, everything off, no page left allocated. */
static void test_everything_refused(void **state)
{
	(void)state;
	hv_sim_config_crash(&cfg, true);
	start();
	hv_sim_fault_msr(&sim, HV_MSR_HYPERCALL, true, true);
	hv_sim_fault_msr(&sim, HV_MSR_SCONTROL, false, true);
	hv_sim_fault_msr(&sim, HV_MSR_REFERENCE_TSC, false, true);
	hv_sim_fault_msr(&sim, HV_MSR_TIME_REF_COUNT, true, false);
	hv_sim_fault_msr(&sim, HV_MSR_CRASH_CTL, true, false);
	hv_sim_fault_msr(&sim, HV_MSR_VP_INDEX, true, false);
	hv_sim_fault_msr(&sim, HV_MSR_TSC_FREQUENCY, true, false);
	hv_sim_fault_msr(&sim, HV_MSR_APIC_FREQUENCY, true, false);
	struct hvrt_host *h = boot();
	assert_true(h->hyperv);
	assert_false(h->hypercalls || h->synic || h->crash_msrs);
	assert_int_equal(h->clock, HVRT_CLOCK_TSC);
	assert_int_equal(h->stimers, 0);
	assert_int_equal(h->tsc_frequency, 0);
	assert_logged("no hypercalls (error -5)");
	assert_logged("no SynIC (error -5)");
	assert_logged("no Hyper-V reference clock");
	assert_logged("hvrt: hv: Hyper-V interface (Microsoft Hv, no version): hypercalls off, SynIC off, clock: TSC, "
		      "0 synthetic timers\n");
	assert_int_equal(hv_sim_pages_live(&sim), 0);
	assert_false(sim.simp & HV_MSR_ENABLE);
	assert_false(sim.siefp & HV_MSR_ENABLE);
	assert_null(sim.vec[0x40].fn);
	assert_int_equal(hv_post_message(1, 1, "x", 1, NULL), -ENODEV);
	assert_int_equal(hvrt_stimer_start(1, 5, false, 100, NULL, NULL), -ENODEV);
	assert_int_equal(hvrt_poll(), 0);
	uint64_t t;
	assert_int_equal(hvrt_reftime(&t), -ENODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_nested_host),
		T(test_full_featured_host),
		T(test_auto_eoi_deprecated_host),
		T(test_tcg),
		T(test_kvm),
		T(test_bare_metal),
		T(test_nonconforming),
		T(test_hypercall_refused),
		T(test_hypercall_page_empty),
		T(test_hypercall_not_offered),
		T(test_synic_refused),
		T(test_reference_time_refused),
		T(test_counter_only),
		T(test_stimers_refused),
		T(test_everything_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
