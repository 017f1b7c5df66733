/*
 * Unit tests for arch/x86_64/tsc.c: finding the TSC frequency and converting
 * between TSC ticks and nanoseconds.
 *
 * The simulated machine has one clock, its TSC, which advances by a fixed
 * amount on every rdtsc and every port access, so time passes while the code
 * polls. Behind the ports sit an 8254 PIT channel 2 (ports 0x42/0x43, gate and
 * OUT2 on port 0x61) and an ACPI PM timer, both derived from that same clock.
 *
 * Pinned down:
 *  - the Hyper-V TSC_FREQUENCY figure (refs->hyperv_hz) is taken as it is,
 *    as HVRT_TSC_HYPERV, from 100 MHz to 20 GHz, without CPUID or any timer
 *    port; 0 or a figure outside that range falls back to CPUID or calibration;
 *  - CPUID leaf 0x15 (ECX * EBX / EAX, exactly) and leaf 0x16 (base MHz) are
 *    believed when present and complete, without touching any timer port;
 *    leaves above the maximum basic leaf are never queried;
 *  - otherwise the TSC is calibrated against the PIT or the PM timer, in the
 *    order refs->pit_first gives, to within 0.1%, a 24-bit PM timer that
 *    wraps during the measurement included;
 *  - a missing PIT (0x61 reads 0xff) and a PIT whose OUT2 never rises are
 *    abandoned, the latter after a bounded number of polls, port 0x61 restored;
 *  - nothing answering: 2 GHz, HVRT_TSC_ASSUMED and a warning;
 *  - tsc_ticks_to_ns is exact (floor of ticks * 10^9 / hz) without overflow;
 *  - tsc_deadline_after_ns is exact and saturates at UINT64_MAX;
 *  - tsc_uptime_ns counts from tsc_init.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hvrt/log.h>
#include <hvrt/system.h>

#include "arch/x86_64/console.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "tests/unit/log_capture.h"

#define PIT_HZ 1193182ull
#define PM_HZ 3579545ull
#define PM_PORT 0x608
#define SIM_HZ 2500000000ull /* the simulated TSC: 2.5 GHz */

/* ---- the simulated machine ---- */

struct machine {
	/* the clock */
	uint64_t tsc;        /* current TSC value */
	uint64_t hz;         /* its true frequency */
	uint64_t rdtsc_cost; /* ticks each rdtsc advances it by */
	uint64_t port_cost;  /* ticks each port access advances it by */
	unsigned long rdtscs, port_accesses;

	/* CPUID */
	uint32_t max_leaf;
	struct cpuid_regs leaf15;
	uint32_t leaf16_mhz;
	unsigned cpuid_calls;

	/* 8254 channel 2 and port 0x61 */
	bool pit_present;      /* else port 0x61 floats to 0xff and the PIT ignores writes */
	bool pit_stuck;        /* OUT2 never rises */
	uint8_t port61;        /* bits 0-3 as last written */
	uint8_t port61_initial;
	uint16_t count;        /* channel 2 reload value */
	bool count_hi_next;    /* lobyte/hibyte flip-flop */
	bool count_loaded;
	bool counting;         /* count loaded and gate high */
	uint64_t count_start;  /* TSC when counting began */
	unsigned pit_commands; /* writes to 0x43 */
	unsigned pit_writes;   /* writes to 0x42, 0x43, 0x61 */
	unsigned long port61_reads;
	bool speaker_on;       /* port 0x61 bit 1 was ever set while the count ran */

	/* ACPI PM timer */
	uint16_t pm_port;     /* 0: none */
	bool pm_32bit;
	bool pm_floating;     /* the port reads 0xffffffff: nothing there */
	uint32_t pm_start;    /* its value at TSC pm_epoch */
	uint64_t pm_epoch;
	uint32_t pm_last;
	bool pm_wrapped;      /* a read returned less than the one before */
	unsigned long pm_reads;
};

static struct machine m;


static uint64_t sim_rdtsc(void *ctx)
{
	struct machine *s = ctx;

	s->rdtscs++;
	s->tsc += s->rdtsc_cost;
	return s->tsc;
}

static struct cpuid_regs sim_cpuid(void *ctx, uint32_t leaf, uint32_t subleaf)
{
	struct machine *s = ctx;

	(void)subleaf;
	s->cpuid_calls++;
	if (leaf == 0)
		return (struct cpuid_regs){ .eax = s->max_leaf, .ebx = 0x756e6547 };
	if (leaf > s->max_leaf)
		fail_msg("CPUID leaf 0x%x queried above the maximum basic leaf 0x%x", leaf, s->max_leaf);
	if (leaf == 0x15)
		return s->leaf15;
	if (leaf == 0x16)
		return (struct cpuid_regs){ .eax = s->leaf16_mhz, .ebx = s->leaf16_mhz + 800, .ecx = 100 };
	fail_msg("unexpected CPUID leaf 0x%x", leaf);
	return (struct cpuid_regs){ 0 };
}

/* OUT2: high once the loaded count has elapsed, counting since the gate rose. */
static bool pit_out2(const struct machine *s)
{
	if (!s->counting || s->pit_stuck)
		return false;
	return (unsigned __int128)(s->tsc - s->count_start) * PIT_HZ >= (unsigned __int128)s->count * s->hz;
}

static uint32_t pm_value(struct machine *s)
{
	uint64_t ticks = (uint64_t)((unsigned __int128)(s->tsc - s->pm_epoch) * PM_HZ / s->hz);
	uint32_t v = (uint32_t)(s->pm_start + ticks);

	if (!s->pm_32bit)
		v &= 0xffffff;
	return v;
}

static uint32_t sim_in(void *ctx, uint16_t port, unsigned size)
{
	struct machine *s = ctx;

	s->port_accesses++;
	s->tsc += s->port_cost;
	if (port == 0x61 && size == 1) {
		s->port61_reads++;
		if (!s->pit_present)
			return 0xff;
		/* bit 4 (refresh) toggles on its own; bit 5 is OUT2 */
		return (s->port61 & 0x0f) | ((s->port61_reads & 1) << 4) | (pit_out2(s) ? 0x20 : 0);
	}
	if (s->pm_port && port == s->pm_port && size == 4) {
		s->pm_reads++;
		if (s->pm_floating)
			return 0xffffffffu;
		uint32_t v = pm_value(s);
		if (s->pm_reads > 1 && v < s->pm_last)
			s->pm_wrapped = true;
		s->pm_last = v;
		return v;
	}
	fail_msg("unexpected in%u from port 0x%x", size, port);
	return 0;
}

static void sim_out(void *ctx, uint16_t port, unsigned size, uint32_t value)
{
	struct machine *s = ctx;

	s->port_accesses++;
	s->tsc += s->port_cost;
	if (size != 1)
		fail_msg("unexpected out%u of 0x%x to port 0x%x", size, value, port);
	if (port != 0x42 && port != 0x43 && port != 0x61)
		fail_msg("unexpected outb of 0x%x to port 0x%x", value, port);
	s->pit_writes++;
	if (!s->pit_present)
		return;
	switch (port) {
	case 0x43:
		if ((value >> 6) != 2)
			fail_msg("PIT command 0x%02x touches a channel other than 2", value);
		if (((value >> 4) & 3) != 3)
			fail_msg("PIT command 0x%02x: only lobyte/hibyte access is simulated", value);
		if (((value >> 1) & 7) != 0)
			fail_msg("PIT command 0x%02x: only mode 0 is simulated", value);
		s->pit_commands++;
		s->count_hi_next = false;
		s->count_loaded = false;
		s->counting = false; /* OUT2 goes low on the mode write */
		break;
	case 0x42:
		if (!s->count_hi_next) {
			s->count = (uint16_t)((s->count & 0xff00) | value);
			s->count_loaded = false;
		} else {
			s->count = (uint16_t)((s->count & 0x00ff) | (value << 8));
			s->count_loaded = true;
			if (s->port61 & 1) {
				s->counting = true;
				s->count_start = s->tsc;
			}
		}
		s->count_hi_next = !s->count_hi_next;
		break;
	case 0x61: {
		bool rising = !(s->port61 & 1) && (value & 1);
		if (!(value & 1))
			s->counting = false;
		else if (rising && s->count_loaded) {
			s->counting = true;
			s->count_start = s->tsc;
		}
		if ((value & 2) && s->counting)
			s->speaker_on = true;
		s->port61 = (uint8_t)(value & 0x0f);
		break;
	}
	}
}

static const struct cpu_sim_ops sim_ops = {
	.ctx = &m,
	.port_in = sim_in,
	.port_out = sim_out,
	.cpuid = sim_cpuid,
	.rdtsc = sim_rdtsc,
};

/*
 * A 2.5 GHz TSC, 3 s after reset, 40 ticks per rdtsc and 1000 (0.4 us, a
 * trapping port access) per port access. CPUID stops at leaf 0xd, so every
 * test gets calibration unless it says otherwise. A working PIT, no PM timer.
 */
static int setup(void **state)
{
	(void)state;
	memset(&m, 0, sizeof(m));
	m.hz = SIM_HZ;
	m.tsc = 3 * SIM_HZ;
	m.rdtsc_cost = 40;
	m.port_cost = 1000;
	m.max_leaf = 0xd;
	m.pit_present = true;
	m.port61_initial = m.port61 = 0x0c; /* parity/channel checks off, gate and speaker off */
	m.pm_epoch = m.tsc;
	cpu_sim_install(&sim_ops);
	log_capture_start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cpu_sim_install(NULL);
	console_reset();
	return 0;
}

static void add_pm_timer(bool wide, uint32_t start)
{
	m.pm_port = PM_PORT;
	m.pm_32bit = wide;
	m.pm_start = start;
	m.pm_epoch = m.tsc;
}

/* |got - want| <= want / 1000 */
static void assert_within_0_1pct(uint64_t got, uint64_t want)
{
	uint64_t diff = got > want ? got - want : want - got;
	if (diff * 1000 > want)
		fail_msg("measured %llu Hz, the TSC runs at %llu Hz (off by %llu ppm)", (unsigned long long)got,
			 (unsigned long long)want, (unsigned long long)(diff * 1000000 / want));
}

static uint32_t init(bool pit_first)
{
	struct tsc_refs refs = { .pit_first = pit_first, .pm_timer_port = m.pm_port, .pm_timer_32bit = m.pm_32bit };
	return tsc_init(&refs);
}

/* ---- CPUID ---- */

/* Leaf 0x15 complete: crystal * numerator / denominator, exactly; no timer port touched. */
static void test_cpuid_leaf15(void **state)
{
	(void)state;
	m.max_leaf = 0x16;
	m.leaf15 = (struct cpuid_regs){ .eax = 2, .ebx = 0xd0, .ecx = 24000000 }; /* 24 MHz * 104 = 2.496 GHz */
	m.leaf16_mhz = 2500;  /* leaf 0x15 wins over the rounded base frequency */
	m.pm_port = PM_PORT;  /* present, but must not be read */
	assert_int_equal(init(true), HVRT_TSC_CPUID);
	assert_int_equal(tsc_hz(), 2496000000ull);
	assert_int_equal(m.port_accesses, 0);
	assert_int_equal(loglen, 0);

	/* a ratio that does not divide evenly: the integer quotient */
	setup(NULL);
	m.max_leaf = 0x15;
	m.leaf15 = (struct cpuid_regs){ .eax = 3, .ebx = 250, .ecx = 25000001 };
	assert_int_equal(init(false), HVRT_TSC_CPUID);
	assert_int_equal(tsc_hz(), 25000001ull * 250 / 3);
	assert_int_equal(m.port_accesses, 0);

	/* large values: ECX * EBX does not fit in 32 bits */
	setup(NULL);
	m.max_leaf = 0x15;
	m.leaf15 = (struct cpuid_regs){ .eax = 1, .ebx = 0x100, .ecx = 38400000 }; /* 9.8304 GHz */
	assert_int_equal(init(true), HVRT_TSC_CPUID);
	assert_int_equal(tsc_hz(), 38400000ull * 0x100);
	assert_int_equal(m.port_accesses, 0);
}

/* Leaf 0x15 without a crystal frequency (ECX = 0) or ratio: leaf 0x16's base MHz. */
static void test_cpuid_leaf16_fallback(void **state)
{
	(void)state;
	m.max_leaf = 0x16;
	m.leaf15 = (struct cpuid_regs){ .eax = 2, .ebx = 200, .ecx = 0 };
	m.leaf16_mhz = 2500;
	assert_int_equal(init(true), HVRT_TSC_CPUID);
	assert_int_equal(tsc_hz(), 2500000000ull);
	assert_int_equal(m.port_accesses, 0);

	/* no ratio (EBX = 0) */
	setup(NULL);
	m.max_leaf = 0x16;
	m.leaf15 = (struct cpuid_regs){ .eax = 2, .ebx = 0, .ecx = 25000000 };
	m.leaf16_mhz = 3100;
	assert_int_equal(init(true), HVRT_TSC_CPUID);
	assert_int_equal(tsc_hz(), 3100000000ull);
	assert_int_equal(m.port_accesses, 0);

	/* leaf 0x15 all zero; only EAX[15:0] of leaf 0x16 is the frequency */
	setup(NULL);
	m.max_leaf = 0x16;
	m.leaf16_mhz = 0xabcd0000u | 1800;
	assert_int_equal(init(true), HVRT_TSC_CPUID);
	assert_int_equal(tsc_hz(), 1800000000ull);
	assert_int_equal(m.port_accesses, 0);
}

/* Leaf 0x15 incomplete and no leaf 0x16 (max leaf 0x15): calibration, leaf 0x16 never queried. */
static void test_cpuid_leaf15_incomplete_no_leaf16(void **state)
{
	(void)state;
	m.max_leaf = 0x15;
	m.leaf15 = (struct cpuid_regs){ .eax = 2, .ebx = 200, .ecx = 0 };
	assert_int_equal(init(true), HVRT_TSC_PIT);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
}

/* Max basic leaf below 0x15 (sim_cpuid fails the test if 0x15/0x16 are asked): calibration. */
static void test_cpuid_old_cpu_calibrates(void **state)
{
	(void)state;
	m.max_leaf = 0x0d;
	assert_int_equal(init(true), HVRT_TSC_PIT);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
	assert_true(m.port_accesses > 0);
}

/* Leaf 0x16 claiming less than 100 MHz is not believed: the TSC is measured. */
static void test_cpuid_implausible_calibrates(void **state)
{
	(void)state;
	m.max_leaf = 0x16;
	m.leaf16_mhz = 50;
	assert_int_equal(init(true), HVRT_TSC_PIT);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
}

/* ---- the Hyper-V figure ---- */

static uint32_t init_hyperv(uint64_t hz)
{
	struct tsc_refs refs = { .pit_first = true, .pm_timer_port = m.pm_port, .hyperv_hz = hz };
	return tsc_init(&refs);
}

/*
 * TSC_FREQUENCY in range (100 MHz to 20 GHz, both ends included): that rate
 * exactly, HVRT_TSC_HYPERV, and neither the PIT nor the PM timer touched,
 * even with CPUID leaf 0x15 offering another figure.
 */
static void test_hyperv_frequency_taken(void **state)
{
	static const uint64_t rates[] = { 2500000000ull, 2394456789ull, 100000000ull, 20000000000ull };
	(void)state;
	for (unsigned i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		setup(NULL);
		add_pm_timer(false, 0);
		assert_int_equal(init_hyperv(rates[i]), HVRT_TSC_HYPERV);
		assert_int_equal(tsc_hz(), rates[i]);
		assert_int_equal(m.port_accesses, 0);
		assert_int_equal(m.pm_reads, 0);
		assert_int_equal(m.cpuid_calls, 0);
		assert_int_equal(loglen, 0);
		teardown(NULL);
	}
	setup(NULL);
	m.max_leaf = 0x15;
	m.leaf15 = (struct cpuid_regs){ .eax = 1, .ebx = 100, .ecx = 24000000 };
	assert_int_equal(init_hyperv(3000000000ull), HVRT_TSC_HYPERV);
	assert_int_equal(tsc_hz(), 3000000000ull);
	assert_int_equal(m.port_accesses, 0);
}

/*
 * TSC_FREQUENCY 0 (not offered), below 100 MHz or above 20 GHz (a figure
 * that would overflow the LAPIC timer arithmetic): not believed; the TSC is
 * calibrated against the PIT as without it, or CPUID gives it when it can.
 */
static void test_hyperv_frequency_out_of_range(void **state)
{
	static const uint64_t rates[] = { 0, 1, 99999999ull, 20000000001ull, 40000000000ull, UINT64_MAX };
	(void)state;
	for (unsigned i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		setup(NULL);
		assert_int_equal(init_hyperv(rates[i]), HVRT_TSC_PIT);
		assert_within_0_1pct(tsc_hz(), SIM_HZ);
		assert_true(m.port61_reads > 0);
		teardown(NULL);
	}
	setup(NULL);
	m.max_leaf = 0x15;
	m.leaf15 = (struct cpuid_regs){ .eax = 1, .ebx = 100, .ecx = 25000000 };
	assert_int_equal(init_hyperv(20000000001ull), HVRT_TSC_CPUID);
	assert_int_equal(tsc_hz(), 2500000000ull);
	assert_int_equal(m.port_accesses, 0);
}

/* ---- calibration ---- */

/*
 * PIT first: channel 2 programmed in mode 0 with the gate low, the gate
 * raised to start it, OUT2 polled; within 0.1%. Port 0x61 is restored and the
 * speaker (bit 1) never enabled. The PM timer is not touched.
 */
static void test_pit_calibration(void **state)
{
	(void)state;
	add_pm_timer(false, 0);
	assert_int_equal(init(true), HVRT_TSC_PIT);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
	assert_int_equal(m.pit_commands, 1);
	assert_int_equal(m.port61, m.port61_initial);
	assert_false(m.speaker_on);
	assert_int_equal(m.pm_reads, 0);
	assert_int_equal(loglen, 0);
	/* roughly 10 ms of polling at 0.4 us per read */
	assert_true(m.port61_reads > 20000 && m.port61_reads < 30000);

	/* another frequency, and port accesses eight times slower */
	setup(NULL);
	m.hz = 3193000000ull;
	m.port_cost = 8000;
	assert_int_equal(init(true), HVRT_TSC_PIT);
	assert_within_0_1pct(tsc_hz(), 3193000000ull);
}

/* pit_first = false with a PM timer port: the PM timer, within 0.1%; the PIT untouched. */
static void test_pm_timer_calibration(void **state)
{
	(void)state;
	add_pm_timer(false, 0x123456);
	assert_int_equal(init(false), HVRT_TSC_PM_TIMER);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
	assert_int_equal(m.pit_writes, 0);
	assert_int_equal(m.port61_reads, 0);
	assert_int_equal(loglen, 0);

	/* a 32-bit timer */
	setup(NULL);
	add_pm_timer(true, 0x87654321u);
	assert_int_equal(init(false), HVRT_TSC_PM_TIMER);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
	assert_int_equal(m.pit_writes, 0);
}

/* A 24-bit PM timer that wraps 0xffffff -> 0 during the 10 ms: still within 0.1%. */
static void test_pm_timer_24bit_wrap(void **state)
{
	(void)state;
	add_pm_timer(false, 0xffffff - 5000); /* wraps some 1.4 ms in */
	assert_int_equal(init(false), HVRT_TSC_PM_TIMER);
	assert_true(m.pm_wrapped);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
}

/* A 32-bit PM timer that wraps 0xffffffff -> 0 during the measurement. */
static void test_pm_timer_32bit_wrap(void **state)
{
	(void)state;
	add_pm_timer(true, 0xffffffffu - 5000);
	assert_int_equal(init(false), HVRT_TSC_PM_TIMER);
	assert_true(m.pm_wrapped);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
}

/*
 * A timer declared 24-bit whose reads carry bits above bit 23 (real chips
 * that count 32 bits without saying so): the mask drops them, even across a
 * carry into bit 24.
 */
static void test_pm_timer_24bit_declared_wide_counter(void **state)
{
	(void)state;
	add_pm_timer(true, 0x12ffffffu - 5000);
	struct tsc_refs refs = { .pit_first = false, .pm_timer_port = PM_PORT, .pm_timer_32bit = false };
	assert_int_equal(tsc_init(&refs), HVRT_TSC_PM_TIMER);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
}

/* pit_first = false without a PM timer: the PIT is the second choice. */
static void test_pm_timer_absent_falls_to_pit(void **state)
{
	(void)state;
	assert_int_equal(init(false), HVRT_TSC_PIT);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
}

/* Port 0x61 reads 0xff (no PIT): skipped after that one read, nothing written; the PM timer. */
static void test_pit_absent_uses_pm_timer(void **state)
{
	(void)state;
	m.pit_present = false;
	add_pm_timer(false, 0);
	assert_int_equal(init(true), HVRT_TSC_PM_TIMER);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
	assert_int_equal(m.port61_reads, 1);
	assert_int_equal(m.pit_writes, 0);
	assert_int_equal(loglen, 0);
}

/*
 * A PIT whose OUT2 never rises: abandoned after a bounded number of polls
 * (a dead timer must cost seconds at most, not minutes: a few million reads
 * at most), port 0x61 restored, and the PM timer used.
 */
static void test_pit_stuck_uses_pm_timer(void **state)
{
	(void)state;
	m.pit_stuck = true;
	add_pm_timer(false, 0);
	assert_int_equal(init(true), HVRT_TSC_PM_TIMER);
	assert_within_0_1pct(tsc_hz(), SIM_HZ);
	assert_true(m.port61_reads > 1000);
	assert_true(m.port61_reads <= 4000000);
	assert_int_equal(m.port61, m.port61_initial);
	assert_true(m.pm_reads > 0);
}

static void assert_assumed_warning(void)
{
	if (!strstr(logbuf, "assuming") || !strstr(logbuf, "tsc") || !strstr(logbuf, "2000 MHz"))
		fail_msg("expected a warning assuming 2000 MHz, got \"%s\"", logbuf);
	if (!strstr(logbuf, "warning"))
		fail_msg("not logged as a warning: \"%s\"", logbuf);
}

/* No PIT (0xff) and no PM timer port: 2 GHz assumed, with a warning. */
static void test_nothing_answers(void **state)
{
	(void)state;
	m.pit_present = false;
	assert_int_equal(init(true), HVRT_TSC_ASSUMED);
	assert_int_equal(tsc_hz(), 2000000000ull);
	assert_assumed_warning();

	setup(NULL);
	m.pit_present = false;
	assert_int_equal(init(false), HVRT_TSC_ASSUMED);
	assert_int_equal(tsc_hz(), 2000000000ull);
	assert_assumed_warning();
}

/*
 * A PM timer port with nothing behind it (reads 0xffffffff: never advances)
 * and a PIT whose OUT2 never rises: both given up after a bounded number of
 * reads, then 2 GHz assumed with a warning.
 */
static void test_dead_timers_assumed(void **state)
{
	(void)state;
	m.pit_stuck = true;
	add_pm_timer(true, 0);
	m.pm_floating = true;
	assert_int_equal(init(false), HVRT_TSC_ASSUMED);
	assert_int_equal(tsc_hz(), 2000000000ull);
	assert_assumed_warning();
	assert_true(m.pm_reads > 1000 && m.pm_reads <= 4000000);
	assert_true(m.port61_reads > 1000 && m.port61_reads <= 4000000);
	assert_int_equal(m.port61, m.port61_initial);
}

/* ---- conversions ---- */

/* floor(ticks * 10^9 / hz), computed in 128 bits */
static uint64_t ref_ns(uint64_t ticks, uint64_t hz)
{
	return (uint64_t)((unsigned __int128)ticks * 1000000000u / hz);
}

/* Exact values, large tick counts included, without overflow. */
static void test_ticks_to_ns(void **state)
{
	(void)state;
	assert_int_equal(tsc_ticks_to_ns(0, 3000000000ull), 0);
	assert_int_equal(tsc_ticks_to_ns(2, 3000000000ull), 0);
	assert_int_equal(tsc_ticks_to_ns(3, 3000000000ull), 1);
	assert_int_equal(tsc_ticks_to_ns(2999999999ull, 3000000000ull), 999999999);
	assert_int_equal(tsc_ticks_to_ns(3000000000ull, 3000000000ull), 1000000000);
	assert_int_equal(tsc_ticks_to_ns(2500000000ull * 7 + 2500, 2500000000ull), 7000001000ull);
	assert_int_equal(tsc_ticks_to_ns(1000000000ull, 1000000000ull), 1000000000);
	/* 2^63 ticks at 3 GHz: 3074457345.618258602 s (ticks * 10^9 would overflow) */
	assert_int_equal(tsc_ticks_to_ns(1ull << 63, 3000000000ull), 3074457345618258602ull);
	/* the whole counter at 2.5 GHz: 2^64 - 1 ticks = 7378697629.483820646 s */
	assert_int_equal(tsc_ticks_to_ns(UINT64_MAX, 2500000000ull), 7378697629483820646ull);
	assert_int_equal(tsc_ticks_to_ns(UINT64_MAX, 3000000000ull), 6148914691236517205ull);

	/* against the 128-bit reference over a spread of values */
	static const uint64_t hzs[] = { 100000000ull,  1000000000ull, 1193182000ull, 2496000000ull,
					2500000000ull, 2999999999ull, 3193000000ull, 5000000000ull };
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; i < sizeof(hzs) / sizeof(hzs[0]); i++) {
		for (unsigned k = 0; k < 2000; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint64_t ticks = x >> (k % 64); /* small and large counts */
			if (hzs[i] < 1000000000ull) /* below 1 GHz, keep the result within 64 bits */
				ticks %= UINT64_MAX / 1000000000u * hzs[i];
			uint64_t got = tsc_ticks_to_ns(ticks, hzs[i]), want = ref_ns(ticks, hzs[i]);
			if (got != want)
				fail_msg("tsc_ticks_to_ns(%llu, %llu) = %llu, expected %llu", (unsigned long long)ticks,
					 (unsigned long long)hzs[i], (unsigned long long)got, (unsigned long long)want);
		}
	}
}

/* Sets up tsc_hz via CPUID leaf 0x15 = hz and puts the TSC at now, with a TSC that stands still. */
static void init_cpuid_hz(uint64_t hz, uint64_t now)
{
	m.max_leaf = 0x15;
	m.leaf15 = (struct cpuid_regs){ .eax = 1, .ebx = (uint32_t)(hz / 1000000), .ecx = 1000000 };
	assert_int_equal(init(true), HVRT_TSC_CPUID);
	assert_int_equal(tsc_hz(), hz);
	m.rdtsc_cost = 0;
	m.tsc = now;
}

/* Normal deadlines: now + ns * hz / 10^9, exactly (rounded down). */
static void test_deadline_exact(void **state)
{
	(void)state;
	init_cpuid_hz(2500000000ull, 1000);
	assert_int_equal(tsc_deadline_after_ns(0), 1000);
	assert_int_equal(tsc_deadline_after_ns(1), 1000 + 2);
	assert_int_equal(tsc_deadline_after_ns(1000), 1000 + 2500);
	assert_int_equal(tsc_deadline_after_ns(1000000), 1000 + 2500000);
	assert_int_equal(tsc_deadline_after_ns(1500000000ull), 1000 + 3750000000ull);
	assert_int_equal(tsc_deadline_after_ns(86400ull * 1000000000ull + 7), 1000 + 86400ull * 2500000000ull + 17);

	init_cpuid_hz(3000000000ull, 0x123456789abcull);
	assert_int_equal(tsc_deadline_after_ns(10), 0x123456789abcull + 30);
	assert_int_equal(tsc_deadline_after_ns(999999999), 0x123456789abcull + 2999999997ull);
	/* a year */
	assert_int_equal(tsc_deadline_after_ns(31536000ull * 1000000000ull),
			 0x123456789abcull + 31536000ull * 3000000000ull);
}

/* Huge ns: UINT64_MAX, never a wrapped deadline in the past. */
static void test_deadline_saturates_huge_ns(void **state)
{
	(void)state;
	init_cpuid_hz(3000000000ull, 1000);
	assert_int_equal(tsc_deadline_after_ns(UINT64_MAX), UINT64_MAX);
	assert_int_equal(tsc_deadline_after_ns(INT64_MAX), UINT64_MAX);
	assert_int_equal(tsc_deadline_after_ns(UINT64_MAX / 2 + 12345), UINT64_MAX);
	/* 6148914692 s is past the end of the 64-bit counter at 3 GHz */
	assert_int_equal(tsc_deadline_after_ns(6148914692ull * 1000000000ull), UINT64_MAX);
	/* the largest whole second that still fits: exact */
	assert_int_equal(tsc_deadline_after_ns(6148914691ull * 1000000000ull), 1000 + 6148914691ull * 3000000000ull);
	/*
	 * That second plus 0.999999999 s: 6148914691999999999 ns is
	 * 18446744075999999997 ticks, beyond UINT64_MAX - now. The whole-second
	 * check alone passes, so the sum must be checked too, or it wraps to a
	 * deadline 0.76 s from now.
	 */
	assert_int_equal(tsc_deadline_after_ns(6148914691999999999ull), UINT64_MAX);
	assert_int_equal(tsc_deadline_after_ns(6148914691500000000ull), UINT64_MAX);
}

/* A TSC near the top: anything past the end of the counter saturates, a short step is exact. */
static void test_deadline_saturates_near_top(void **state)
{
	(void)state;
	init_cpuid_hz(2500000000ull, UINT64_MAX - 1000);
	assert_int_equal(tsc_deadline_after_ns(0), UINT64_MAX - 1000);
	assert_int_equal(tsc_deadline_after_ns(400), UINT64_MAX); /* exactly 1000 ticks: the last value */
	assert_int_equal(tsc_deadline_after_ns(399), UINT64_MAX - 1000 + 997);
	assert_int_equal(tsc_deadline_after_ns(401), UINT64_MAX);
	assert_int_equal(tsc_deadline_after_ns(1000000), UINT64_MAX);
	assert_int_equal(tsc_deadline_after_ns(1000000000ull), UINT64_MAX);
	assert_int_equal(tsc_deadline_after_ns(UINT64_MAX), UINT64_MAX);

	/* a few seconds short of the top */
	init_cpuid_hz(2500000000ull, UINT64_MAX - 5 * 2500000000ull);
	assert_int_equal(tsc_deadline_after_ns(4999999999ull), UINT64_MAX - 5 * 2500000000ull + 12499999997ull);
	assert_int_equal(tsc_deadline_after_ns(5000000000ull), UINT64_MAX);
	assert_int_equal(tsc_deadline_after_ns(5000000001ull), UINT64_MAX);
	assert_int_equal(tsc_deadline_after_ns(6000000000ull), UINT64_MAX);
}

/* Uptime counts from tsc_mark_start's reading of the TSC, which tsc_init keeps. */
static void test_uptime(void **state)
{
	(void)state;
	m.max_leaf = 0x15;
	m.leaf15 = (struct cpuid_regs){ .eax = 1, .ebx = 100, .ecx = 25000000 };
	m.rdtsc_cost = 0;
	m.tsc = 123456789;
	tsc_mark_start();
	m.tsc += 5000; /* calibration takes time; it does not move the start */
	assert_int_equal(init(true), HVRT_TSC_CPUID);
	m.tsc -= 5000;
	assert_int_equal(tsc_uptime_ns(), 0);
	m.tsc += 2500;
	assert_int_equal(tsc_uptime_ns(), 1000);
	m.tsc += 3 * SIM_HZ;
	assert_int_equal(tsc_uptime_ns(), 3000001000ull);
	m.tsc += 1;
	assert_int_equal(tsc_uptime_ns(), 3000001000ull);
	m.tsc += 2;
	assert_int_equal(tsc_uptime_ns(), 3000001001ull);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_cpuid_leaf15),
		T(test_cpuid_leaf16_fallback),
		T(test_cpuid_leaf15_incomplete_no_leaf16),
		T(test_cpuid_old_cpu_calibrates),
		T(test_cpuid_implausible_calibrates),
		T(test_hyperv_frequency_taken),
		T(test_hyperv_frequency_out_of_range),
		T(test_pit_calibration),
		T(test_pm_timer_calibration),
		T(test_pm_timer_24bit_wrap),
		T(test_pm_timer_32bit_wrap),
		T(test_pm_timer_24bit_declared_wide_counter),
		T(test_pm_timer_absent_falls_to_pit),
		T(test_pit_absent_uses_pm_timer),
		T(test_pit_stuck_uses_pm_timer),
		T(test_nothing_answers),
		T(test_dead_timers_assumed),
		cmocka_unit_test(test_ticks_to_ns),
		T(test_deadline_exact),
		T(test_deadline_saturates_huge_ns),
		T(test_deadline_saturates_near_top),
		T(test_uptime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
