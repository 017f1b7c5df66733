/*
 * Unit tests for arch/x86_64/lapic.c: masking the 8259s, enabling the local
 * APIC (xAPIC by MMIO, x2APIC by MSRs), calibrating its timer against the TSC
 * and sleeping on it.
 *
 * The simulated machine: a 2.5 GHz TSC (known to tsc.c through CPUID leaf
 * 0x15) that advances on every rdtsc; a local APIC whose timer counts down at
 * bus clock / divider, derived from the same TSC; IA32_APIC_BASE with the
 * SDM's transition rules (#GP for disabled -> x2APIC in one write); x2APIC
 * registers as MSRs 0x800 + (offset >> 4), available only in x2APIC mode;
 * xAPIC registers in a 4 KiB page the test owns, whose address is the base in
 * IA32_APIC_BASE. A halt sleeps until the armed, unmasked one-shot timer
 * expires, then delivers its interrupt to the handler lapic.c registered with
 * trap_set_handler (stubbed here; trap.c is not linked).
 *
 * Pinned down:
 *  - the 8259 remap and mask sequence, exactly, also when there is no APIC;
 *  - CPUID.1:EDX[9] clear: -ENODEV and IA32_APIC_BASE untouched;
 *  - xAPIC: the enable bit set (other bits kept), SVR 0x1ff, divide by 16,
 *    LVT timer vector 0x30 one-shot unmasked, timer stopped, by MMIO at the
 *    MSR's base;
 *  - x2APIC: EN then EN|EXTD as two writes from a disabled APIC, one write
 *    when EN was set, none when already in x2APIC mode; then MSRs only;
 *  - the timer frequency within 1% of the simulated one, and a timer that
 *    does not count gives 0 and a warning;
 *  - a bus rate from the host (lapic_set_bus_frequency) from 1 MHz to 10 GHz
 *    gives the timer rate as rate / 16 without a calibration (no countdown,
 *    no wait, no read of the current count); 0 or a rate outside that range
 *    is calibrated as before;
 *  - the timer interrupt handler EOIs, the spurious one does not;
 *  - lapic_sleep_until programs the remaining time, halts, returns once the
 *    TSC passes the deadline (early wakeups, long sleeps clamped to 32 bits),
 *    and returns at once for a past deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <hvrt/log.h>
#include <hvrt/system.h>

#include "arch/x86_64/console.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/trap.h"
#include "arch/x86_64/tsc.h"
#include "tests/unit/log_capture.h"

#define SIM_TSC_HZ 2500000000ull
#define APIC_EN (1ull << 11)
#define APIC_EXTD (1ull << 10)
#define APIC_BSP (1ull << 8)
#define BASE_MASK 0x000ffffffffff000ull
#define POISON 0x5a5a5a5au

/* Register offsets (xAPIC MMIO; x2APIC MSR = 0x800 + offset / 16). */
enum {
	REG_EOI = 0xb0,
	REG_SVR = 0xf0,
	REG_LVT_TIMER = 0x320,
	REG_INITIAL = 0x380,
	REG_CURRENT = 0x390,
	REG_DIVIDE = 0x3e0,
};

/* ---- trap_set_handler stub ---- */

static struct {
	trap_handler_fn fn[256];
	void *ctx[256];
	unsigned calls;
} traps;

int trap_set_handler(uint8_t vector, trap_handler_fn fn, void *ctx)
{
	if (vector < 32)
		return -EINVAL;
	traps.fn[vector] = fn;
	traps.ctx[vector] = ctx;
	traps.calls++;
	return 0;
}

static void deliver(uint8_t vector)
{
	struct trap_frame frame = { .vector = vector };

	if (!traps.fn[vector])
		fail_msg("interrupt 0x%x delivered with no handler registered", vector);
	traps.fn[vector](traps.ctx[vector], &frame);
}

/* ---- the simulated machine ---- */

struct machine {
	uint64_t tsc;
	uint64_t rdtsc_cost;
	unsigned long rdtscs;
	/* the stall_at-th rdtsc with the timer counting down from the top loses stall_ticks (an exit to a busy host) */
	unsigned long stall_at, counting_rdtscs;
	uint64_t stall_ticks;

	/* CPUID leaf 1 */
	uint32_t leaf1_ecx, leaf1_edx;

	/* 8259 writes, in order */
	struct { uint16_t port; uint8_t value; } pic[32];
	unsigned pic_writes;

	/* IA32_APIC_BASE */
	uint64_t apic_base;
	uint64_t base_writes[8];
	unsigned base_write_count;
	unsigned base_gp; /* refused writes */

	/* xAPIC page (4 KiB aligned, owned by the test) */
	volatile uint32_t *page;

	/* the APIC registers as the x2APIC MSRs see them, indexed by offset / 16 */
	uint32_t reg[64];
	unsigned x2apic_msr_accesses;
	unsigned current_reads; /* reads of the timer's current count (x2APIC: every one is seen) */
	unsigned eois;

	/* the timer */
	uint64_t bus_hz;         /* timer input clock before the divider */
	bool timer_stuck;        /* the current count never moves */
	bool armed;              /* counting down (initial count written, not yet expired) */
	uint32_t count;          /* the initial count last written */
	uint64_t start;          /* TSC when it was written */
	uint32_t xapic_initial_seen;
	unsigned initial_writes; /* non-zero initial counts written */
	uint32_t first_count;    /* the first such count after the test started watching */
	uint32_t first_lvt;      /* the LVT timer register when that count was written */
	uint32_t last_count;

	/* halts */
	unsigned halts;
	unsigned early_wakeups; /* halts that end halfway, by some other interrupt */
	unsigned timer_irqs;
};

static struct machine m;

static bool x2apic_mode(void)
{
	return (m.apic_base & (APIC_EN | APIC_EXTD)) == (APIC_EN | APIC_EXTD);
}

/* The timer's rate: bus clock through the divide configuration register. */
static uint64_t timer_rate(void)
{
	uint32_t dcr = m.reg[REG_DIVIDE >> 4];
	unsigned code = (dcr & 3) | ((dcr >> 1) & 4);
	return code == 7 ? m.bus_hz : m.bus_hz / (2u << code);
}

/* TSC ticks for n timer ticks, rounded up */
static uint64_t timer_to_tsc(uint64_t n)
{
	uint64_t rate = timer_rate();
	return (uint64_t)(((unsigned __int128)n * SIM_TSC_HZ + rate - 1) / rate);
}

static uint32_t timer_current(void)
{
	if (!m.armed)
		return 0;
	if (m.timer_stuck)
		return m.count;
	uint64_t done = (uint64_t)((unsigned __int128)(m.tsc - m.start) * timer_rate() / SIM_TSC_HZ);
	return done >= m.count ? 0 : (uint32_t)(m.count - done);
}

static void timer_load(uint32_t count)
{
	m.count = count;
	m.start = m.tsc;
	m.armed = count != 0;
	if (count) {
		if (m.initial_writes++ == 0) {
			m.first_count = count;
			m.first_lvt = m.reg[REG_LVT_TIMER >> 4];
		}
		m.last_count = count;
	}
}

/*
 * xAPIC mode: lapic.c writes the page directly, so the simulation looks at it
 * whenever time passes: a changed initial count is a new write, and the
 * current count register is kept up to date. Divide and LVT are mirrored into
 * reg[] so the timer model reads one place.
 */
static void xapic_sync(void)
{
	if (x2apic_mode() || !(m.apic_base & APIC_EN) || !m.page)
		return;
	m.reg[REG_DIVIDE >> 4] = m.page[REG_DIVIDE / 4];
	m.reg[REG_LVT_TIMER >> 4] = m.page[REG_LVT_TIMER / 4];
	uint32_t initial = m.page[REG_INITIAL / 4];
	if (initial != m.xapic_initial_seen) {
		m.xapic_initial_seen = initial;
		timer_load(initial);
	}
	m.page[REG_CURRENT / 4] = timer_current();
}

static uint64_t sim_rdtsc(void *ctx)
{
	(void)ctx;
	m.rdtscs++;
	if (m.rdtscs > 50000000)
		fail_msg("the TSC was read 50 million times: a loop that never ends?");
	m.tsc += m.rdtsc_cost;
	xapic_sync();
	if (m.stall_at && m.armed && m.count == 0xffffffffu && ++m.counting_rdtscs == m.stall_at) {
		m.tsc += m.stall_ticks;
		xapic_sync();
	}
	return m.tsc;
}

static struct cpuid_regs sim_cpuid(void *ctx, uint32_t leaf, uint32_t subleaf)
{
	(void)ctx;
	(void)subleaf;
	switch (leaf) {
	case 0:
		return (struct cpuid_regs){ .eax = 0x15 };
	case 1:
		return (struct cpuid_regs){ .eax = 0x906ea, .ecx = m.leaf1_ecx, .edx = m.leaf1_edx };
	case 0x15: /* 25 MHz crystal * 100 = 2.5 GHz */
		return (struct cpuid_regs){ .eax = 1, .ebx = 100, .ecx = 25000000 };
	}
	fail_msg("unexpected CPUID leaf 0x%x", leaf);
	return (struct cpuid_regs){ 0 };
}

static void sim_out(void *ctx, uint16_t port, unsigned size, uint32_t value)
{
	(void)ctx;
	if (size != 1 || (port != 0x20 && port != 0x21 && port != 0xa0 && port != 0xa1))
		fail_msg("unexpected out%u of 0x%x to port 0x%x", size, value, port);
	assert_true(m.pic_writes < sizeof(m.pic) / sizeof(m.pic[0]));
	m.pic[m.pic_writes].port = port;
	m.pic[m.pic_writes].value = (uint8_t)value;
	m.pic_writes++;
}

static int sim_rdmsr(void *ctx, uint32_t msr, uint64_t *value)
{
	(void)ctx;
	if (msr == MSR_IA32_APIC_BASE) {
		*value = m.apic_base;
		return 0;
	}
	if (msr >= 0x800 && msr <= 0x83f) {
		if (!x2apic_mode())
			return -1;
		m.x2apic_msr_accesses++;
		uint32_t idx = msr - 0x800;
		if (idx == (REG_EOI >> 4))
			return -1; /* write-only */
		m.current_reads += idx == (REG_CURRENT >> 4);
		*value = idx == (REG_CURRENT >> 4) ? timer_current() : m.reg[idx];
		return 0;
	}
	return -1;
}

/* The SDM's IA32_APIC_BASE transitions: disabled -> x2APIC and x2APIC -> xAPIC are #GP. */
static int write_apic_base(uint64_t value)
{
	bool old_en = m.apic_base & APIC_EN, new_en = value & APIC_EN;
	bool old_x = m.apic_base & APIC_EXTD, new_x = value & APIC_EXTD;

	if ((new_x && !new_en) || (new_x && !old_en) || (old_x && new_en && !new_x) ||
	    (new_x && !(m.leaf1_ecx & (1u << 21)))) {
		m.base_gp++;
		return -1;
	}
	assert_true(m.base_write_count < sizeof(m.base_writes) / sizeof(m.base_writes[0]));
	m.base_writes[m.base_write_count++] = value;
	m.apic_base = value;
	return 0;
}

static int sim_wrmsr(void *ctx, uint32_t msr, uint64_t value)
{
	(void)ctx;
	if (msr == MSR_IA32_APIC_BASE)
		return write_apic_base(value);
	if (msr >= 0x800 && msr <= 0x83f) {
		if (!x2apic_mode())
			return -1;
		m.x2apic_msr_accesses++;
		uint32_t idx = msr - 0x800;
		if (value >> 32)
			return -1; /* reserved bits */
		switch (idx) {
		case REG_EOI >> 4:
			if (value)
				return -1; /* a non-zero EOI write is #GP in x2APIC mode */
			m.eois++;
			return 0;
		case REG_CURRENT >> 4:
			return -1; /* read-only */
		case REG_INITIAL >> 4:
			m.reg[idx] = (uint32_t)value;
			timer_load((uint32_t)value);
			return 0;
		case REG_SVR >> 4:
		case REG_LVT_TIMER >> 4:
		case REG_DIVIDE >> 4:
			m.reg[idx] = (uint32_t)value;
			return 0;
		}
		fail_msg("unexpected x2APIC register write: MSR 0x%x <- 0x%llx", msr, (unsigned long long)value);
	}
	return -1;
}

/*
 * Halt: sleeps until the armed, unmasked timer expires and delivers its
 * interrupt; with no wakeup source the CPU would halt forever, a failure.
 */
static void sim_halt(void *ctx)
{
	(void)ctx;
	m.halts++;
	if (m.halts > 100000)
		fail_msg("100000 halts: a sleep that never ends?");
	if (!x2apic_mode() && m.page) {
		/* a rewrite of the same count is a new start too: the count was just written */
		m.xapic_initial_seen = m.page[REG_INITIAL / 4] ^ 1;
		xapic_sync();
	}
	uint32_t lvt = m.reg[REG_LVT_TIMER >> 4];
	if (!m.armed || (lvt & (1u << 16)))
		fail_msg("halt with the timer %s: the CPU would never wake", m.armed ? "masked" : "stopped");
	if ((lvt & 0xff) != VECTOR_LAPIC_TIMER)
		fail_msg("LVT timer vector 0x%x", lvt & 0xff);
	uint64_t expiry = m.start + timer_to_tsc(m.count);
	if (m.early_wakeups) {
		m.early_wakeups--;
		if (expiry > m.tsc)
			m.tsc += (expiry - m.tsc) / 2; /* woken halfway by something else */
		return;
	}
	if (expiry > m.tsc)
		m.tsc = expiry;
	m.armed = false;
	if (m.page && !x2apic_mode())
		m.page[REG_CURRENT / 4] = 0;
	m.timer_irqs++;
	deliver(VECTOR_LAPIC_TIMER);
}

static const struct cpu_sim_ops sim_ops = {
	.port_out = sim_out,
	.cpuid = sim_cpuid,
	.rdmsr = sim_rdmsr,
	.wrmsr = sim_wrmsr,
	.rdtsc = sim_rdtsc,
	.halt = sim_halt,
};

/*
 * An APIC with x2APIC support off by default, left disabled by firmware, its
 * page at a buffer filled with POISON; a 200 MHz bus clock; 100 TSC ticks
 * (40 ns) per rdtsc. tsc.c initialised from CPUID leaf 0x15.
 */
static int setup(void **state)
{
	(void)state;
	memset(&m, 0, sizeof(m));
	memset(&traps, 0, sizeof(traps));
	m.page = aligned_alloc(4096, 4096);
	assert_non_null(m.page);
	for (unsigned i = 0; i < 1024; i++)
		m.page[i] = POISON;
	m.xapic_initial_seen = POISON;
	m.tsc = 5 * SIM_TSC_HZ;
	m.rdtsc_cost = 100;
	m.leaf1_edx = 1u << 9;
	m.apic_base = ((uint64_t)(uintptr_t)m.page & BASE_MASK) | APIC_BSP;
	m.bus_hz = 200000000;
	cpu_sim_install(&sim_ops);
	log_capture_start();
	lapic_set_bus_frequency(0); /* lapic.c keeps it: no rate from a host unless a test gives one */
	struct tsc_refs refs = { .pit_first = true };
	assert_int_equal(tsc_init(&refs), HVRT_TSC_CPUID);
	assert_int_equal(tsc_hz(), SIM_TSC_HZ);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cpu_sim_install(NULL);
	console_reset();
	free((void *)m.page);
	m.page = NULL;
	return 0;
}

static void assert_pic_sequence(void)
{
	static const struct { uint16_t port; uint8_t value; } want[] = {
		{ 0x20, 0x11 }, { 0xa0, 0x11 }, /* ICW1 */
		{ 0x21, 0x20 }, { 0xa1, 0x28 }, /* ICW2: vectors 0x20..0x2f, clear of the exceptions */
		{ 0x21, 0x04 }, { 0xa1, 0x02 }, /* ICW3: slave on IRQ2 */
		{ 0x21, 0x01 }, { 0xa1, 0x01 }, /* ICW4: 8086 mode */
		{ 0x21, 0xff }, { 0xa1, 0xff }, /* every line masked */
	};
	assert_int_equal(m.pic_writes, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < m.pic_writes; i++) {
		if (m.pic[i].port != want[i].port || m.pic[i].value != want[i].value)
			fail_msg("PIC write %u: 0x%02x to port 0x%x, expected 0x%02x to port 0x%x", i, m.pic[i].value,
				 m.pic[i].port, want[i].value, want[i].port);
	}
}

/* |got - want| <= want / 100 */
static void assert_within_1pct(uint64_t got, uint64_t want)
{
	uint64_t diff = got > want ? got - want : want - got;
	if (diff * 100 > want)
		fail_msg("timer measured at %llu Hz, it runs at %llu Hz", (unsigned long long)got,
			 (unsigned long long)want);
}

static void assert_page_untouched(void)
{
	for (unsigned i = 0; i < 1024; i++)
		if (m.page[i] != POISON)
			fail_msg("MMIO write at offset 0x%x (0x%x) in x2APIC mode", i * 4, m.page[i]);
}

/* ---- lapic_init ---- */

/* No APIC (CPUID.1:EDX[9] clear): the PICs are still remapped and masked, then -ENODEV, no MSR touched. */
static void test_no_apic(void **state)
{
	(void)state;
	m.leaf1_edx = 0;
	/* any MSR access fails the test */
	struct cpu_sim_ops ops = sim_ops;
	ops.rdmsr = NULL;
	ops.wrmsr = NULL;
	cpu_sim_install(&ops);
	assert_int_equal(lapic_init(), -ENODEV);
	assert_pic_sequence();
	assert_int_equal(traps.calls, 0);
	assert_page_untouched();
}

/*
 * xAPIC: EN set in IA32_APIC_BASE in one write (base and BSP bit kept), then
 * registers by MMIO at that base: SVR 0x1ff, divide by 16, LVT timer 0x30
 * unmasked one-shot, timer stopped. Handlers for 0x30 and 0xff registered.
 */
static void test_xapic_init(void **state)
{
	(void)state;
	uint64_t base = m.apic_base;
	assert_int_equal(lapic_init(), 0);
	assert_pic_sequence();
	assert_false(lapic_x2apic());
	assert_int_equal(m.base_write_count, 1);
	assert_int_equal(m.base_writes[0], base | APIC_EN);
	assert_int_equal(m.apic_base, base | APIC_EN);
	assert_int_equal(m.base_gp, 0);
	assert_int_equal(m.page[REG_SVR / 4], 0x1ff);
	assert_int_equal(m.page[REG_DIVIDE / 4], 0x3);
	assert_int_equal(m.page[REG_LVT_TIMER / 4], VECTOR_LAPIC_TIMER);
	assert_int_equal(m.page[REG_INITIAL / 4], 0);
	assert_int_equal(m.page[REG_EOI / 4], POISON); /* no EOI without an interrupt */
	assert_int_equal(m.x2apic_msr_accesses, 0);
	assert_non_null(traps.fn[VECTOR_LAPIC_TIMER]);
	assert_non_null(traps.fn[VECTOR_SPURIOUS]);
	/* 200 MHz / 16 */
	assert_within_1pct(lapic_timer_hz(), 12500000);
	assert_int_equal(loglen, 0);
}

/* xAPIC already enabled by firmware: IA32_APIC_BASE is not written at all. */
static void test_xapic_already_enabled(void **state)
{
	(void)state;
	m.apic_base |= APIC_EN;
	assert_int_equal(lapic_init(), 0);
	assert_false(lapic_x2apic());
	assert_int_equal(m.base_write_count, 0);
	assert_int_equal(m.page[REG_SVR / 4], 0x1ff);
	assert_within_1pct(lapic_timer_hz(), 12500000);
}

/* The calibration during lapic_init ran with the timer masked and counted down from 0xffffffff. */
static void test_calibration_masked(void **state)
{
	(void)state;
	m.leaf1_ecx = 1u << 21;
	assert_int_equal(lapic_init(), 0);
	assert_int_equal(m.first_count, 0xffffffffu);
	assert_int_equal(m.first_lvt, (1u << 16) | VECTOR_LAPIC_TIMER); /* masked, vector 0x30 */
	assert_int_equal(m.initial_writes, 1);
	assert_false(m.armed); /* stopped again: initial count 0 */
	assert_int_equal(m.timer_irqs, 0);
	assert_int_equal(m.halts, 0);
}

/*
 * x2APIC from a disabled APIC: EN, then EN|EXTD, as two writes (the sim
 * refuses the one-write transition with a #GP); afterwards every register is
 * an MSR and the page is never touched.
 */
static void test_x2apic_from_disabled(void **state)
{
	(void)state;
	uint64_t base = m.apic_base;
	m.leaf1_ecx = 1u << 21;
	assert_int_equal(lapic_init(), 0);
	assert_pic_sequence();
	assert_true(lapic_x2apic());
	assert_int_equal(m.base_gp, 0);
	assert_int_equal(m.base_write_count, 2);
	assert_int_equal(m.base_writes[0], base | APIC_EN);
	assert_int_equal(m.base_writes[1], base | APIC_EN | APIC_EXTD);
	assert_int_equal(m.reg[REG_SVR >> 4], 0x1ff);
	assert_int_equal(m.reg[REG_DIVIDE >> 4], 0x3);
	assert_int_equal(m.reg[REG_LVT_TIMER >> 4], VECTOR_LAPIC_TIMER);
	assert_int_equal(m.reg[REG_INITIAL >> 4], 0);
	assert_true(m.x2apic_msr_accesses > 0);
	assert_page_untouched();
	assert_within_1pct(lapic_timer_hz(), 12500000);
	assert_int_equal(loglen, 0);
}

/* x2APIC with EN already set: one write adding EXTD. */
static void test_x2apic_from_enabled(void **state)
{
	(void)state;
	m.leaf1_ecx = 1u << 21;
	m.apic_base |= APIC_EN;
	uint64_t base = m.apic_base;
	assert_int_equal(lapic_init(), 0);
	assert_true(lapic_x2apic());
	assert_int_equal(m.base_write_count, 1);
	assert_int_equal(m.base_writes[0], base | APIC_EXTD);
	assert_int_equal(m.base_gp, 0);
	assert_page_untouched();
}

/* Firmware already in x2APIC mode: IA32_APIC_BASE is left alone. */
static void test_x2apic_already_on(void **state)
{
	(void)state;
	m.leaf1_ecx = 1u << 21;
	m.apic_base |= APIC_EN | APIC_EXTD;
	assert_int_equal(lapic_init(), 0);
	assert_true(lapic_x2apic());
	assert_int_equal(m.base_write_count, 0);
	assert_int_equal(m.reg[REG_SVR >> 4], 0x1ff);
	assert_page_untouched();
}

/* The calibration tracks the timer's real rate (x2APIC and xAPIC, several bus clocks) within 1%. */
static void test_timer_calibration_rates(void **state)
{
	static const uint64_t bus[] = { 100000000, 200000000, 1000000000, 3000000000ull, 25000000 };

	(void)state;
	teardown(NULL); /* each case gets its own machine */
	for (unsigned i = 0; i < sizeof(bus) / sizeof(bus[0]); i++) {
		for (int x2 = 0; x2 <= 1; x2++) {
			setup(NULL);
			m.bus_hz = bus[i];
			m.leaf1_ecx = x2 ? 1u << 21 : 0;
			assert_int_equal(lapic_init(), 0);
			assert_within_1pct(lapic_timer_hz(), bus[i] / 16);
			teardown(NULL);
		}
	}
	setup(NULL); /* for the teardown cmocka runs */
}

/*
 * A spin that overshoots its 1 ms by an exit to a busy host (0.75 ms, as a
 * nested CI run measured) must not inflate the rate: every sleep would then
 * last 1.75 times too long. The rate stays within 1%, and never above.
 */
static void test_timer_calibration_stall(void **state)
{
	(void)state;
	/* 25000 reads of the TSC spin 1 ms here: stalls near the end overshoot the deadline by most of 0.75 ms. */
	for (unsigned long at = 23000; at <= 24990; at += 995) {
		teardown(NULL);
		setup(NULL);
		m.bus_hz = 200000000;
		m.stall_at = at;
		m.stall_ticks = SIM_TSC_HZ / 1000 * 3 / 4;
		assert_int_equal(lapic_init(), 0);
		assert_true(m.counting_rdtscs >= m.stall_at); /* the stall happened during the count */
		assert_within_1pct(lapic_timer_hz(), m.bus_hz / 16);
		assert_true(lapic_timer_hz() <= m.bus_hz / 16);
	}
}

/*
 * lapic_init with a bus rate from the host: the timer rate is that / 16
 * (the divider), with no calibration: no countdown started, no 1 ms wait, no
 * read of the current count. Both ends of the range (1 MHz, 10 GHz), x2APIC
 * (every register access seen) and xAPIC (the initial count never written).
 */
static void check_bus_frequency_taken(uint64_t bus_hz, bool x2apic)
{
	setup(NULL);
	m.leaf1_ecx = x2apic ? 1u << 21 : 0;
	lapic_set_bus_frequency(bus_hz);
	uint64_t tsc0 = m.tsc;
	assert_int_equal(lapic_init(), 0);
	assert_int_equal(lapic_x2apic(), x2apic);
	assert_int_equal(lapic_timer_hz(), bus_hz / 16);
	assert_int_equal(m.current_reads, 0);
	assert_int_equal(m.initial_writes, 0);
	assert_true(m.tsc - tsc0 < SIM_TSC_HZ / 10000); /* well under the 1 ms a calibration waits */
	if (x2apic)
		assert_int_equal(m.reg[REG_LVT_TIMER >> 4], VECTOR_LAPIC_TIMER);
	else
		assert_int_equal(m.page[REG_INITIAL / 4], POISON);
	assert_int_equal(loglen, 0);
	teardown(NULL);
}

static void test_bus_frequency_from_host(void **state)
{
	(void)state;
	teardown(NULL); /* each case gets its own machine */
	check_bus_frequency_taken(1000000000ull, true); /* 1 GHz: 62.5 MHz */
	check_bus_frequency_taken(1000000000ull, false);
	check_bus_frequency_taken(1000000ull, true);     /* the bounds */
	check_bus_frequency_taken(10000000000ull, true);
	setup(NULL); /* for the teardown cmocka runs */
}

/* 0 (none given), below 1 MHz or above 10 GHz: not believed, the timer is calibrated against the TSC. */
static void test_bus_frequency_out_of_range(void **state)
{
	static const uint64_t bad[] = { 0, 999999, 10000000001ull, UINT64_MAX };

	(void)state;
	teardown(NULL);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup(NULL);
		m.leaf1_ecx = 1u << 21;
		lapic_set_bus_frequency(bad[i]);
		assert_int_equal(lapic_init(), 0);
		assert_within_1pct(lapic_timer_hz(), 12500000); /* the simulated 200 MHz / 16 */
		assert_int_equal(m.first_count, 0xffffffffu);
		assert_int_equal(m.current_reads, 1);
		teardown(NULL);
	}
	setup(NULL);
}

/* A timer that does not count: rate 0 and a warning. */
static void test_timer_not_counting(void **state)
{
	(void)state;
	m.leaf1_ecx = 1u << 21;
	m.timer_stuck = true;
	assert_int_equal(lapic_init(), 0);
	assert_int_equal(lapic_timer_hz(), 0);
	if (!strstr(logbuf, "warning") || !strstr(logbuf, "lapic") || !strstr(logbuf, "does not count"))
		fail_msg("expected a lapic warning, got \"%s\"", logbuf);
}

/* ---- interrupts ---- */

/* The timer handler EOIs (an MSR write of 0 in x2APIC mode); lapic_eoi does the same. */
static void test_timer_handler_eoi_x2apic(void **state)
{
	(void)state;
	m.leaf1_ecx = 1u << 21;
	assert_int_equal(lapic_init(), 0);
	assert_int_equal(m.eois, 0);
	deliver(VECTOR_LAPIC_TIMER);
	assert_int_equal(m.eois, 1);
	lapic_eoi();
	assert_int_equal(m.eois, 2);
	deliver(VECTOR_SPURIOUS); /* a spurious interrupt takes no EOI */
	assert_int_equal(m.eois, 2);
	assert_page_untouched();
}

/* xAPIC: the EOI is a write of 0 to offset 0xb0 of the page. */
static void test_timer_handler_eoi_xapic(void **state)
{
	(void)state;
	assert_int_equal(lapic_init(), 0);
	m.page[REG_EOI / 4] = POISON;
	deliver(VECTOR_SPURIOUS);
	assert_int_equal(m.page[REG_EOI / 4], POISON);
	deliver(VECTOR_LAPIC_TIMER);
	assert_int_equal(m.page[REG_EOI / 4], 0);
	m.page[REG_EOI / 4] = POISON;
	lapic_eoi();
	assert_int_equal(m.page[REG_EOI / 4], 0);
}

/* ---- lapic_sleep_until ---- */

/* Brings up an x2APIC (or xAPIC) and starts counting initial-count writes afresh. */
static void bring_up(bool x2)
{
	m.leaf1_ecx = x2 ? 1u << 21 : 0;
	assert_int_equal(lapic_init(), 0);
	assert_int_equal(lapic_x2apic(), x2);
	m.initial_writes = 0;
	m.first_count = m.last_count = 0;
}

/*
 * 1 ms ahead: the first count programmed is that 1 ms in timer ticks, the
 * CPU halts, the timer interrupt ends the halt (and is EOIed), and the call
 * returns once the TSC has passed the deadline, promptly.
 */
static void sleep_1ms(bool x2)
{
	bring_up(x2);
	uint64_t hz = lapic_timer_hz();
	uint64_t deadline = m.tsc + SIM_TSC_HZ / 1000;
	unsigned eois = m.eois;

	lapic_sleep_until(deadline);
	assert_true(m.tsc >= deadline);
	assert_true(m.tsc - deadline < SIM_TSC_HZ / 100000); /* within 10 us */
	assert_true(m.halts >= 1 && m.halts <= 3);
	assert_int_equal(m.timer_irqs, m.halts);
	/* roughly hz / 1000 ticks (the TSC moved a little before it was computed) */
	assert_true(m.first_count <= hz / 1000 && m.first_count >= hz / 1000 - hz / 100000);
	if (x2)
		assert_int_equal(m.eois - eois, m.timer_irqs);
	else
		assert_int_equal(m.page[REG_EOI / 4], 0);
}

static void test_sleep_x2apic(void **state)
{
	(void)state;
	sleep_1ms(true);
	assert_page_untouched();
}

static void test_sleep_xapic(void **state)
{
	(void)state;
	sleep_1ms(false);
}

/* A deadline now or in the past: returns at once, no timer programmed, no halt. */
static void test_sleep_past_deadline(void **state)
{
	(void)state;
	bring_up(true);
	uint64_t before = m.tsc;
	lapic_sleep_until(before - 1000);
	lapic_sleep_until(0);
	lapic_sleep_until(before);
	assert_int_equal(m.halts, 0);
	assert_int_equal(m.initial_writes, 0);
	assert_true(m.tsc - before < 10 * m.rdtsc_cost);
}

/* Halts ended early by other interrupts cost a loop each: the timer is re-armed for what is left. */
static void test_sleep_early_wakeups(void **state)
{
	(void)state;
	bring_up(true);
	uint64_t deadline = m.tsc + SIM_TSC_HZ / 100; /* 10 ms */
	m.early_wakeups = 3;
	lapic_sleep_until(deadline);
	assert_true(m.tsc >= deadline);
	assert_true(m.tsc - deadline < SIM_TSC_HZ / 100000);
	assert_int_equal(m.early_wakeups, 0);
	assert_true(m.halts >= 4 && m.halts <= 6);
	assert_true(m.initial_writes >= 4);
	/* each re-arm asks for less than the one before */
	assert_true(m.last_count < m.first_count);
}

/*
 * 1000 s at 12.5 MHz is 1.25e10 timer ticks, more than the 32-bit count:
 * clamped to 0xffffffff per halt, and the sleep still ends at the deadline.
 */
static void test_sleep_long_clamped(void **state)
{
	(void)state;
	bring_up(true);
	uint64_t deadline = m.tsc + 1000 * SIM_TSC_HZ;
	lapic_sleep_until(deadline);
	assert_int_equal(m.first_count, 0xffffffffu);
	assert_true(m.tsc >= deadline);
	assert_true(m.tsc - deadline < SIM_TSC_HZ / 100000);
	assert_true(m.halts >= 3 && m.halts <= 6);
}

/* A deadline just ahead (less than one timer tick): a count of at least 1, never 0 (which would stop the timer). */
static void test_sleep_tiny(void **state)
{
	(void)state;
	bring_up(true);
	uint64_t deadline = m.tsc + 150; /* 60 ns: under one 80 ns timer tick */
	lapic_sleep_until(deadline);
	assert_true(m.tsc >= deadline);
	assert_true(m.halts <= 1);
	if (m.halts)
		assert_int_equal(m.first_count, 1);
}

/* With a timer that does not count, sleeping spins on the TSC: no halt, no count programmed. */
static void test_sleep_spins_without_timer(void **state)
{
	(void)state;
	m.timer_stuck = true;
	bring_up(true);
	assert_int_equal(lapic_timer_hz(), 0);
	uint64_t deadline = m.tsc + SIM_TSC_HZ / 10000; /* 100 us */
	lapic_sleep_until(deadline);
	assert_true(m.tsc >= deadline);
	assert_true(m.tsc - deadline <= m.rdtsc_cost);
	assert_int_equal(m.halts, 0);
	assert_int_equal(m.initial_writes, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_no_apic),
		T(test_xapic_init),
		T(test_xapic_already_enabled),
		T(test_calibration_masked),
		T(test_x2apic_from_disabled),
		T(test_x2apic_from_enabled),
		T(test_x2apic_already_on),
		T(test_timer_calibration_rates),
		T(test_timer_calibration_stall),
		T(test_timer_not_counting),
		T(test_bus_frequency_from_host),
		T(test_bus_frequency_out_of_range),
		T(test_timer_handler_eoi_x2apic),
		T(test_timer_handler_eoi_xapic),
		T(test_sleep_x2apic),
		T(test_sleep_xapic),
		T(test_sleep_past_deadline),
		T(test_sleep_early_wakeups),
		T(test_sleep_long_clamped),
		T(test_sleep_tiny),
		T(test_sleep_spins_without_timer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
