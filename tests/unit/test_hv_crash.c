/*
 * Unit tests for hv/crash.c on the simulated Hyper-V host.
 *
 * Pinned down:
 *  - with crash MSRs whose CRASH_CTL offers a message page, a crash writes
 *    P0..P4 in order, then CRASH_CTL with notify and message, P3/P4 giving
 *    the page and the message's length, and says so in the log first;
 *  - with notify only (QEMU/KVM), P3/P4 carry CR2 and RSP and no page is
 *    allocated; a crash without a message does the same even with a page;
 *  - long messages are cut to the page; a P-register the host refuses stops
 *    the report before CRASH_CTL;
 *  - no crash MSRs (the EDX bit, CRASH_CTL refused or without notify): no
 *    reporter and no crash MSR touched;
 *  - the RESET MSR is used only when offered and recommended.
 */
#include "tests/unit/hv_fixture.h"

static const struct power_crash boom = {
	.message = "boom: the app fell over",
	.reason = 14,
	.rip = 0xffffffff80123456ull,
	.error_code = 2,
	.cr2 = 0xdeadbeef000ull,
	.rsp = 0x7fff0000ull,
};

static struct hvrt_host *h;

static void report(const struct power_crash *c)
{
	assert_non_null(sim.crash_report);
	sim.crash_report(sim.crash_ctx, c);
}

/* P0..P4 written once each, in order, then CRASH_CTL last. */
static void assert_write_order(void)
{
	long prev = -1;
	for (unsigned i = 0; i < 5; i++) {
		long at = hv_sim_msr_find(&sim, 0, HV_MSR_CRASH_P0 + i, true);
		assert_true(at > prev);
		assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_CRASH_P0 + i, true), 1);
		prev = at;
	}
	assert_true(hv_sim_msr_find(&sim, 0, HV_MSR_CRASH_CTL, true) > prev);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_CRASH_CTL, true), 1);
}

static void test_message_page(void **state)
{
	(void)state;
	hv_sim_config_crash(&cfg, true);
	start();
	h = detect();
	assert_int_equal(hv_crash_init(h), 0);
	assert_true(h->crash_msrs);
	assert_true(h->crash_message);
	assert_false(h->reset_msr);
	assert_int_equal(hv_sim_pages_live(&sim), 1);
	assert_int_equal(sim.crashes, 0);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_CRASH_CTL, true), 0); /* nothing reported at init */

	report(&boom);
	assert_int_equal(sim.crashes, 1);
	assert_int_equal(sim.crash_ctl_written, HV_CRASH_CTL_NOTIFY | HV_CRASH_CTL_MESSAGE);
	assert_int_equal(sim.crash_params[0], 14);
	assert_int_equal(sim.crash_params[1], 0xffffffff80123456ull);
	assert_int_equal(sim.crash_params[2], 2);
	assert_true(hv_sim_is_ram(&sim, sim.crash_params[3], 4096));
	assert_int_equal(sim.crash_params[3] % 4096, 0);
	assert_int_equal(sim.crash_params[4], strlen(boom.message));
	assert_string_equal(sim.crash_message, boom.message);
	assert_write_order();
	assert_logged("hvrt: hv: error: reporting the crash to the host: P0-P4 = 0xe 0xffffffff80123456 0x2 0x");
}

/* A crash with no message, on a host that takes one: the registers instead. */
static void test_message_page_no_message(void **state)
{
	struct power_crash c = boom;
	(void)state;
	hv_sim_config_crash(&cfg, true);
	start();
	h = detect();
	assert_int_equal(hv_crash_init(h), 0);
	c.message = NULL;
	report(&c);
	assert_int_equal(sim.crash_ctl_written, HV_CRASH_CTL_NOTIFY);
	assert_int_equal(sim.crash_params[3], boom.cr2);
	assert_int_equal(sim.crash_params[4], boom.rsp);
}

/* A message longer than the page: 4095 bytes and a NUL. */
static void test_long_message(void **state)
{
	static char text[6000];
	struct power_crash c = boom;
	(void)state;
	memset(text, 'x', sizeof(text) - 1);
	c.message = text;
	hv_sim_config_crash(&cfg, true);
	start();
	h = detect();
	assert_int_equal(hv_crash_init(h), 0);
	report(&c);
	assert_int_equal(sim.crash_params[4], 4095);
	assert_int_equal(strlen(sim.crash_message), 4095);
	const char *page = (const char *)(uintptr_t)sim.crash_params[3];
	assert_int_equal(page[4095], '\0');
}

/* QEMU/KVM: CRASH_CTL reads notify only; P3/P4 are CR2 and RSP, no page allocated. */
static void test_notify_only(void **state)
{
	(void)state;
	hv_sim_config_crash(&cfg, false);
	start();
	h = detect();
	assert_int_equal(hv_crash_init(h), 0);
	assert_true(h->crash_msrs);
	assert_false(h->crash_message);
	assert_int_equal(hv_sim_pages_live(&sim), 0);
	report(&boom);
	assert_int_equal(sim.crashes, 1);
	assert_int_equal(sim.crash_ctl_written, HV_CRASH_CTL_NOTIFY);
	uint64_t want[5] = { 14, boom.rip, 2, boom.cr2, boom.rsp };
	assert_memory_equal(sim.crash_params, want, sizeof(want));
	assert_write_order();
}

/* P2 refused while reporting: P3, P4 and CRASH_CTL are not written. */
static void test_report_refused(void **state)
{
	(void)state;
	hv_sim_config_crash(&cfg, false);
	start();
	h = detect();
	assert_int_equal(hv_crash_init(h), 0);
	hv_sim_fault_msr(&sim, HV_MSR_CRASH_P0 + 2, false, true);
	report(&boom);
	assert_int_equal(sim.crashes, 0);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_CRASH_P0 + 3, true), 0);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_CRASH_CTL, true), 0);
}

static void check_no_crash_msrs(void)
{
	h = detect();
	assert_int_equal(hv_crash_init(h), -ENODEV);
	assert_false(h->crash_msrs);
	assert_false(h->reset_msr);
	assert_null(sim.crash_report);
	assert_null(sim.reset_fn);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_CRASH_CTL, true), 0);
	assert_int_equal(hv_sim_pages_live(&sim), 0);
}

/* No EDX bit 10: CRASH_CTL is not even read. */
static void test_feature_absent(void **state)
{
	(void)state;
	start();
	check_no_crash_msrs();
	assert_int_equal(sim.msr_count, 0);
}

/* The bit set, but CRASH_CTL refused or offering nothing: not used. */
static void test_crash_ctl_unusable(void **state)
{
	(void)state;
	hv_sim_config_crash(&cfg, true);
	start();
	hv_sim_fault_msr(&sim, HV_MSR_CRASH_CTL, true, false);
	check_no_crash_msrs();
	teardown(NULL);

	setup(NULL);
	hv_sim_config_crash(&cfg, true);
	cfg.crash_ctl = HV_CRASH_CTL_MESSAGE; /* a message without notify is no crash reporting */
	start();
	check_no_crash_msrs();
}

/* RESET: offered and recommended, it is the reset hook and writes 1; offered alone, it is not used. */
static void test_reset(void **state)
{
	(void)state;
	hv_sim_config_reset(&cfg, true);
	start();
	h = detect();
	assert_int_equal(hv_crash_init(h), 0);
	assert_true(h->reset_msr);
	assert_false(h->crash_msrs);
	assert_null(sim.crash_report);
	assert_non_null(sim.reset_fn);
	sim.reset_fn(sim.reset_ctx);
	assert_int_equal(sim.resets, 1);
	uint64_t v;
	assert_true(hv_sim_last_write(&sim, HV_MSR_RESET, &v));
	assert_int_equal(v, 1);
	hv_crash_reset();
	assert_null(sim.reset_fn);
	assert_null(sim.crash_report);
	teardown(NULL);

	setup(NULL);
	hv_sim_config_reset(&cfg, false);
	start();
	check_no_crash_msrs();
	teardown(NULL);

	/* recommended but not offered */
	setup(NULL);
	cfg.recommendations |= HV_RECOMMEND_RESET_MSR;
	start();
	check_no_crash_msrs();
}

/* Both, and not Hyper-V at all. */
static void test_both_and_not_hyperv(void **state)
{
	(void)state;
	hv_sim_config_crash(&cfg, false);
	hv_sim_config_reset(&cfg, true);
	start();
	h = detect();
	assert_int_equal(hv_crash_init(h), 0);
	assert_true(h->crash_msrs && h->reset_msr);
	hv_crash_reset();
	assert_null(sim.crash_report);
	/* not Hyper-V: -ENODEV, no MSR, and the host record no longer claims either (left set from before) */
	h->hyperv = false;
	h->crash_msrs = h->reset_msr = h->crash_message = true;
	size_t n = sim.msr_count;
	assert_int_equal(hv_crash_init(h), -ENODEV);
	assert_int_equal(sim.msr_count, n);
	assert_false(h->crash_msrs || h->reset_msr || h->crash_message);
	assert_null(sim.crash_report);
	assert_null(sim.reset_fn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_message_page),
		T(test_message_page_no_message),
		T(test_long_message),
		T(test_notify_only),
		T(test_report_refused),
		T(test_feature_absent),
		T(test_crash_ctl_unusable),
		T(test_reset),
		T(test_both_and_not_hyperv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
