/*
 * Unit tests for hv/reftime.c on the simulated Hyper-V host.
 *
 * Pinned down:
 *  - a valid reference TSC page becomes the clock, read by its scale and
 *    signed offset (exactly the host's time), with no MSR read per reading,
 *    and is installed as the runtime's clock (nanoseconds, 100 ns resolution);
 *  - a page with sequence 0 falls back to TIME_REF_COUNT for as long as it
 *    stays invalid; a sequence that changes during a read is retried;
 *  - no counter and an invalid page: no clock at all, the page disabled;
 *  - only the page, invalidated for a while: the clock carries on with the
 *    TSC at the rate the guest believes, and never goes back, neither when
 *    that rate is off (a clock that ran ahead of the page, valid again, is
 *    held until the page catches up) nor when the TSC itself goes back (that
 *    adds nothing);
 *  - a host that keeps rewriting the page is given up after a bounded number
 *    of tries: the counter answers, or the clock carries on with the TSC;
 *  - a refused page (write, read-back, enable bit dropped) falls back to the
 *    counter, and the page is never freed while the host still has it;
 *  - nothing offered: -ENODEV and the TSC stays the clock;
 *  - the frequency MSRs are read only when both CPUID bits say so.
 */
#include "tests/unit/hv_fixture.h"

static struct hvrt_host *h;

static int init(void)
{
	h = detect();
	return hv_reftime_init(h);
}

static uint64_t now_ref(void)
{
	uint64_t t = 0;
	assert_int_equal(hvrt_reftime(&t), 0);
	return t;
}

/* The guest's reading equals the host's time at the moment of the reading. */
static void check_now(void)
{
	uint64_t t = now_ref();
	assert_int_equal(t, hv_sim_now(&sim));
}

/* The page: exact time from scale and (negative) offset, no MSR read per reading. */
static void test_page_gives_time(void **state)
{
	(void)state;
	start();
	assert_int_equal(init(), 0);
	assert_int_equal(h->clock, HVRT_CLOCK_REFERENCE_TSC);
	uint64_t w;
	assert_true(hv_sim_last_write(&sim, HV_MSR_REFERENCE_TSC, &w));
	assert_int_equal(w & 0xfff, 1);
	assert_true(hv_sim_is_ram(&sim, w & HV_MSR_PAGE_MASK, 4096));
	const struct hv_reference_tsc_page *p = (const void *)(uintptr_t)(w & HV_MSR_PAGE_MASK);
	assert_int_equal(p->tsc_sequence, 1);
	assert_true(p->tsc_offset < 0); /* the TSC ran before the partition was made */

	unsigned msr_reads = sim.msr_count;
	for (int i = 0; i < 5; i++) {
		check_now();
		hv_sim_advance(&sim, 12345678);
	}
	assert_int_equal(sim.msr_count, msr_reads);

	/* a second later by the host's clock, a second later by the page's */
	uint64_t a = now_ref();
	hv_sim_advance(&sim, 10000000);
	uint64_t b = now_ref();
	assert_int_equal(b - a, 10000000 + cfg.rdtsc_cost);

	/* installed as the runtime's clock */
	assert_int_equal(sim.clock_installs, 1);
	assert_non_null(sim.clock);
	assert_int_equal(sim.clock->resolution_ns(), 100);
	uint64_t ns = sim.clock->now_ns();
	assert_int_equal(ns, hv_sim_now(&sim) * 100);
	assert_int_equal(h->clock, HVRT_CLOCK_REFERENCE_TSC);
	assert_int_equal(loglen, 0);
}

/* A TSC that is no multiple of 10 MHz: within one unit of the host's time. */
static void test_page_odd_frequency(void **state)
{
	(void)state;
	cfg.tsc_hz = 2394456789ull;
	cfg.tsc_at_zero = 987654321987ull;
	start();
	assert_int_equal(init(), 0);
	for (int i = 0; i < 20; i++) {
		uint64_t t = now_ref();
		uint64_t want = hv_sim_now(&sim);
		assert_true(t + 1 >= want && t <= want + 1);
		hv_sim_advance(&sim, 777777777ull * (uint64_t)i);
	}
}

/* Sequence 0: the counter answers, one MSR read per reading, until the page is valid again. */
static void test_invalid_page_falls_back(void **state)
{
	(void)state;
	start();
	sim.fault.reftsc_invalid = true;
	assert_int_equal(init(), 0);
	assert_int_equal(h->clock, HVRT_CLOCK_TIME_REF_COUNT);
	assert_int_equal(sim.clock_installs, 1);
	unsigned reads = hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false);
	for (int i = 0; i < 3; i++)
		check_now();
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false), reads + 3);

	hv_sim_reftsc_set_valid(&sim, true);
	hv_sim_advance(&sim, 5000);
	check_now();
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false), reads + 3);

	/* and back to invalid (a save/restore in progress) */
	hv_sim_reftsc_set_valid(&sim, false);
	check_now();
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false), reads + 4);
}

/* The host re-sequences the page (moving the TSC by a lot) during three reads in a row: retried. */
static void test_sequence_changes_mid_read(void **state)
{
	(void)state;
	start();
	assert_int_equal(init(), 0);
	uint32_t seq = sim.reftsc_sequence;
	sim.fault.reftsc_torn = 3;
	check_now();
	assert_int_equal(sim.fault.reftsc_torn, 0);
	assert_int_equal(sim.reftsc_sequence, seq + 3);
	check_now();
}

/* No counter and an invalid page: no clock; the page disabled but kept; nothing installed. */
static void test_no_counter_invalid_page(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_TIME_REF_COUNT;
	start();
	sim.fault.reftsc_invalid = true;
	assert_int_equal(init(), -ENODEV);
	assert_int_equal(h->clock, HVRT_CLOCK_TSC);
	assert_logged("hvrt: hv: warning: the reference TSC page is invalid and there is no TIME_REF_COUNT");
	assert_false(sim.reference_tsc & HV_MSR_ENABLE);
	assert_int_equal(hv_sim_pages_live(&sim), 1);
	assert_int_equal(sim.clock_installs, 0);
	uint64_t t = 42;
	assert_int_equal(hvrt_reftime(&t), -ENODEV);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false), 0);
}

/* No counter, a valid page: the page alone is the clock. */
static void test_page_without_counter(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_TIME_REF_COUNT;
	start();
	assert_int_equal(init(), 0);
	assert_int_equal(h->clock, HVRT_CLOCK_REFERENCE_TSC);
	check_now();
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false), 0);
}

/*
 * Only the page, and the host invalidates it for a while (a migration): the
 * clock carries on from the last good reading with the TSC, never stops or
 * goes back, and takes the page's time again once it is valid.
 */
static void test_page_only_invalid_later(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_TIME_REF_COUNT;
	start();
	assert_int_equal(init(), 0);
	uint64_t t0 = now_ref();
	hv_sim_reftsc_set_valid(&sim, false);
	hv_sim_advance(&sim, 5000000); /* 0.5 s */
	uint64_t t1 = now_ref();
	/* extrapolated with the TSC: within a tick or two of the host's time */
	assert_true(t1 > t0);
	assert_true(t1 + 2 >= hv_sim_now(&sim) && t1 <= hv_sim_now(&sim) + 2);
	uint64_t t2 = now_ref();
	assert_true(t2 >= t1);
	hv_sim_reftsc_set_valid(&sim, true);
	check_now();
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false), 0);
}

/*
 * Only the page, and a guest whose idea of the TSC rate is off by 1% (a
 * migration to a host whose TSC runs at another rate: the page goes invalid
 * meanwhile). Read, invalidate, a second passes, read (carried on with the
 * TSC at the guest's rate: 1% too far or too short), valid again, read: the
 * readings never decrease. A clock that ran ahead is held until the host's
 * time catches up; one that fell behind moves forward to the host's time.
 */
static void check_guest_rate(uint64_t guest_hz)
{
	setup(NULL);
	cfg.priv_msrs &= ~HV_PRIV_TIME_REF_COUNT;
	cfg.guest_tsc_hz = guest_hz;
	start();
	assert_int_equal(init(), 0);
	uint64_t t0 = now_ref();
	assert_int_equal(t0, hv_sim_now(&sim)); /* the page does not depend on the guest's rate */
	hv_sim_reftsc_set_valid(&sim, false);
	hv_sim_advance(&sim, 10000000); /* 1 s */
	uint64_t host = hv_sim_now(&sim);
	uint64_t t1 = now_ref();
	assert_false(hv_reftime_from_host());
	/* carried on with the TSC at the guest's rate: (host - t0) * tsc_hz / guest_hz, give or take a tick */
	uint64_t want = t0 + (uint64_t)((unsigned __int128)(host + cfg.rdtsc_cost - t0) * cfg.tsc_hz / guest_hz);
	assert_true(t1 + 2 >= want && t1 <= want + 2);
	assert_true(t1 > t0);

	hv_sim_reftsc_set_valid(&sim, true);
	uint64_t t2 = now_ref();
	assert_true(hv_reftime_from_host());
	assert_true(t2 >= t1);
	if (guest_hz < cfg.tsc_hz)
		assert_int_equal(t2, t1); /* ran ahead: held there */
	else
		assert_int_equal(t2, hv_sim_now(&sim)); /* fell behind: the host's time */

	/* every 1 ms for 30 ms: never back, and the host's time once it caught up (a 10 ms lead at most) */
	uint64_t prev = t2;
	for (int i = 0; i < 30; i++) {
		hv_sim_advance(&sim, 10000);
		uint64_t t = now_ref();
		assert_true(t >= prev);
		prev = t;
	}
	assert_int_equal(prev, hv_sim_now(&sim));
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false), 0);
	teardown(NULL);
}

static void test_guest_tsc_rate_off(void **state)
{
	(void)state;
	check_guest_rate(2500000000ull / 100 * 99);  /* 1% slow: the carried-on clock runs ahead */
	check_guest_rate(2500000000ull / 100 * 101); /* 1% fast: it falls behind */
}

/*
 * Only the page, invalid, and the TSC goes back 3 s (a migration to a host
 * whose TSC reads less): the carried-on clock adds nothing for it instead of
 * leaping by the wrapped difference, goes on from there with the TSC, and
 * takes the host's time again (never less) once the page is valid.
 */
static void test_tsc_goes_back_while_invalid(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_TIME_REF_COUNT;
	start();
	assert_int_equal(init(), 0);
	uint64_t t0 = now_ref();
	hv_sim_reftsc_set_valid(&sim, false);
	hv_sim_move_tsc(&sim, -(int64_t)(3 * cfg.tsc_hz));
	uint64_t t1 = now_ref();
	assert_false(hv_reftime_from_host());
	assert_true(t1 >= t0 && t1 <= t0 + 2);
	hv_sim_advance(&sim, 5000000); /* 0.5 s */
	uint64_t t2 = now_ref();
	assert_true(t2 + 2 >= t1 + 5000000 && t2 <= t1 + 5000000 + 2);
	hv_sim_reftsc_set_valid(&sim, true);
	uint64_t t3 = now_ref();
	assert_true(t3 >= t2);
	assert_int_equal(t3, hv_sim_now(&sim));
}

/*
 * A host that rewrites the page during every read (5000 torn reads in a
 * row): the read is given up after a bounded number of tries (1000), and the
 * counter gives the time; without a counter the clock carries on with the
 * TSC. Either way the reading returns instead of spinning until the host stops.
 */
static void test_torn_reads_bounded(void **state)
{
	(void)state;
	start();
	assert_int_equal(init(), 0);
	unsigned reads = hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false);
	sim.fault.reftsc_torn = 5000;
	check_now();
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false), reads + 1);
	unsigned tries = 5000 - sim.fault.reftsc_torn;
	assert_true(tries >= 1000 && tries <= 1001); /* PAGE_READ_TRIES, and the counter reading's own RDTSC */
	/* the host stops rewriting it: the page again, no counter read */
	sim.fault.reftsc_torn = 0;
	check_now();
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false), reads + 1);
	teardown(NULL);

	/* only the page */
	setup(NULL);
	cfg.priv_msrs &= ~HV_PRIV_TIME_REF_COUNT;
	start();
	assert_int_equal(init(), 0);
	uint64_t t0 = now_ref();
	sim.fault.reftsc_torn = 5000;
	uint64_t t1 = now_ref();
	assert_false(hv_reftime_from_host());
	assert_true(t1 >= t0);
	assert_true(sim.fault.reftsc_torn >= 5000 - 1001);
}

/*
 * TIME_REF_COUNT advertised but faulting: not used; the page is. Once the
 * page goes invalid there is no counter to fall back to: the clock carries
 * on with the TSC from the reading the install took (libc-glue reads a new
 * clock once), as a boot would, never touching the faulting counter.
 */
static void test_counter_refused(void **state)
{
	(void)state;
	start();
	hv_sim_fault_msr(&sim, HV_MSR_TIME_REF_COUNT, true, false);
	assert_int_equal(init(), 0);
	assert_int_equal(h->clock, HVRT_CLOCK_REFERENCE_TSC);
	hv_sim_reftsc_set_valid(&sim, false);
	hv_sim_advance(&sim, 10000);
	uint64_t t;
	assert_int_equal(hvrt_reftime(&t), 0);
	assert_false(hv_reftime_from_host());
	assert_true(t + 2 >= hv_sim_now(&sim) && t <= hv_sim_now(&sim));
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_TIME_REF_COUNT, false), 1); /* the probe at init only */
}

static void check_page_refused(void (*fault)(void), size_t kept)
{
	setup(NULL);
	start();
	fault();
	assert_int_equal(init(), 0);
	assert_int_equal(h->clock, HVRT_CLOCK_TIME_REF_COUNT);
	assert_logged("hvrt: hv: warning: the host refused the reference TSC page");
	check_now();
	assert_int_equal(hv_sim_pages_live(&sim), kept);
	assert_int_equal((sim.reference_tsc & HV_MSR_ENABLE) != 0, kept != 0);
	teardown(NULL);
}

static void fault_write(void)
{
	hv_sim_fault_msr(&sim, HV_MSR_REFERENCE_TSC, false, true);
}

/* The first read (of the reserved bits, before the write) works; the read-back faults. */
static void fault_read_back(void)
{
	hv_sim_fault_msr_after(&sim, HV_MSR_REFERENCE_TSC, true, false, 1);
}

/* Even the first read faults: the page is never written, so it is simply freed. */
static void fault_first_read(void)
{
	hv_sim_fault_msr(&sim, HV_MSR_REFERENCE_TSC, true, false);
}

static void fault_ignored(void)
{
	hv_sim_ignore_msr_writes(&sim, HV_MSR_REFERENCE_TSC);
}

static void fault_read_back_and_disable(void)
{
	hv_sim_fault_msr_after(&sim, HV_MSR_REFERENCE_TSC, true, false, 1);
	hv_sim_fault_msr_after(&sim, HV_MSR_REFERENCE_TSC, false, true, 1);
}

/*
 * Refused each way: the counter is the clock. A page the host may still
 * have enabled (its read-back faulted) is disabled before it is freed, or
 * kept when even that fails; the sim fails the test on freeing an enabled page.
 */
static void test_page_refused(void **state)
{
	(void)state;
	check_page_refused(fault_write, 0);
	check_page_refused(fault_read_back, 0);
	check_page_refused(fault_first_read, 0);
	check_page_refused(fault_ignored, 0);
	check_page_refused(fault_read_back_and_disable, 1);
}

/* Neither page nor counter offered, or no Hyper-V: -ENODEV, no MSR, nothing installed. */
static void test_nothing_offered(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~(HV_PRIV_TIME_REF_COUNT | HV_PRIV_REFERENCE_TSC);
	start();
	assert_int_equal(init(), -ENODEV);
	assert_int_equal(h->clock, HVRT_CLOCK_TSC);
	assert_int_equal(sim.msr_count, 0);
	h->hyperv = false;
	h->privileges = ~0ull;
	h->clock = 99;
	assert_int_equal(hv_reftime_init(h), -ENODEV);
	assert_int_equal(h->clock, HVRT_CLOCK_TSC);
	assert_int_equal(sim.msr_count, 0);
	assert_int_equal(sim.clock_installs, 0);
	assert_int_equal(hv_sim_pages_live(&sim), 0);
	uint64_t t;
	assert_int_equal(hvrt_reftime(&t), -ENODEV);
	assert_int_equal(hvrt_reftime(NULL), -EINVAL);
}

/* Frequency MSRs: read with both bits, not with either alone; one refused, the other still read. */
static void test_frequencies(void **state)
{
	(void)state;
	start();
	h = detect();
	hv_read_frequencies(h);
	assert_int_equal(h->tsc_frequency, 2500000000ull);
	assert_int_equal(h->apic_frequency, 1000000000ull);
	teardown(NULL);

	setup(NULL);
	cfg.features &= ~HV_FEATURE_FREQUENCY_MSRS;
	start();
	h = detect();
	hv_read_frequencies(h);
	assert_int_equal(h->tsc_frequency, 0);
	assert_int_equal(sim.msr_count, 0);
	teardown(NULL);

	setup(NULL);
	cfg.priv_msrs &= ~HV_PRIV_FREQUENCY_MSRS;
	start();
	h = detect();
	hv_read_frequencies(h);
	assert_int_equal(h->tsc_frequency, 0);
	assert_int_equal(sim.msr_count, 0);
	teardown(NULL);

	setup(NULL);
	start();
	hv_sim_fault_msr(&sim, HV_MSR_TSC_FREQUENCY, true, false);
	h = detect();
	hv_read_frequencies(h);
	assert_int_equal(h->tsc_frequency, 0);
	assert_int_equal(h->apic_frequency, 1000000000ull);
	h->hyperv = false;
	h->apic_frequency = 0;
	hv_read_frequencies(h);
	assert_int_equal(h->apic_frequency, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_page_gives_time),
		T(test_page_odd_frequency),
		T(test_invalid_page_falls_back),
		T(test_sequence_changes_mid_read),
		T(test_no_counter_invalid_page),
		T(test_page_without_counter),
		T(test_counter_refused),
		T(test_page_only_invalid_later),
		T(test_guest_tsc_rate_off),
		T(test_tsc_goes_back_while_invalid),
		T(test_torn_reads_bounded),
		T(test_page_refused),
		T(test_nothing_offered),
		T(test_frequencies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
