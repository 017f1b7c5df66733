/*
 * Hosted doubles of the interrupt code hv/ uses (arch/x86_64/trap.c, lapic.c
 * and tsc.c are not linked with tests/hostsim/hv_sim.c): a local APIC with an
 * IRR and an ISR, interrupt handlers, the LAPIC timer and TSC deadlines, all
 * kept in the installed struct hv_sim. The rules are in hv_sim.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "arch/x86_64/lapic.h"
#include "arch/x86_64/trap.h"
#include "arch/x86_64/tsc.h"
#include "tests/hostsim/hv_sim.h"

static struct hv_sim *need(const char *what)
{
	struct hv_sim *sim = hv_sim_current();

	if (!sim)
		fail_msg("%s without an hv_sim installed", what);
	return sim;
}

static bool test_bit(const uint64_t *b, unsigned v)
{
	return (b[v / 64] >> (v % 64)) & 1;
}

static void set_bit(uint64_t *b, unsigned v, bool on)
{
	if (on)
		b[v / 64] |= 1ull << (v % 64);
	else
		b[v / 64] &= ~(1ull << (v % 64));
}

static int highest(const uint64_t *b)
{
	for (int w = 3; w >= 0; w--)
		if (b[w])
			return w * 64 + 63 - __builtin_clzll(b[w]);
	return -1;
}

int trap_set_handler(uint8_t vector, trap_handler_fn fn, void *ctx)
{
	struct hv_sim *sim = need("trap_set_handler");

	if (vector < 32)
		return -EINVAL;
	if (sim->vec[vector].fn && fn)
		return -EBUSY;
	sim->vec[vector].fn = fn;
	sim->vec[vector].ctx = ctx;
	return 0;
}

void hv_sim_raise(struct hv_sim *sim, uint8_t vector, bool auto_eoi)
{
	if (vector < 16)
		fail_msg("hv_sim: interrupt vector 0x%x raised", vector);
	set_bit(sim->irr, vector, true);
	set_bit(sim->auto_eoi, vector, auto_eoi);
	hv_sim_deliver(sim);
}

/*
 * Delivers pending vectors, highest first, while interrupts are on and no
 * handler runs; a vector waits while one of its priority class or higher is
 * in service (the APIC's PPR rule).
 */
unsigned hv_sim_deliver(struct hv_sim *sim)
{
	unsigned n = 0;

	while (cpu_sim_irqs_on() && !sim->in_handler) {
		int v = highest(sim->irr), in = highest(sim->isr);
		if (v < 0 || (in >= 0 && (v >> 4) <= (in >> 4)))
			break;
		set_bit(sim->irr, (unsigned)v, false);
		if (!sim->vec[v].fn)
			fail_msg("hv_sim: interrupt vector 0x%x arrived and no handler is registered", v);
		if (test_bit(sim->auto_eoi, (unsigned)v))
			sim->auto_eoi_deliveries++;
		else
			set_bit(sim->isr, (unsigned)v, true);
		sim->delivered[v]++;
		sim->interrupts++;
		n++;
		struct trap_frame frame = { .vector = (uint64_t)v, .rflags = 0x202, .cs = GDT_KERNEL_CODE };
		/* An interrupt gate: the handler runs with interrupts off. */
		sim->in_handler = true;
		cpu_irq_disable();
		sim->vec[v].fn(sim->vec[v].ctx, &frame);
		sim->in_handler = false;
		cpu_irq_enable(); /* delivers what the handler's EOI let through (nested call) */
	}
	return n;
}

void hv_sim_eoi(struct hv_sim *sim)
{
	int in = highest(sim->isr);

	if (in < 0) {
		sim->stray_eois++;
		return;
	}
	set_bit(sim->isr, (unsigned)in, false);
	sim->eois++;
	hv_sim_deliver(sim);
}

void lapic_eoi(void)
{
	hv_sim_eoi(need("lapic_eoi"));
}

bool lapic_timer_arm(uint64_t tsc_deadline)
{
	struct hv_sim *sim = need("lapic_timer_arm");

	if (sim->fault.no_lapic_timer)
		return false;
	sim->lapic_armed = true;
	sim->lapic_deadline = tsc_deadline;
	sim->lapic_arms++;
	return true;
}

/* The TSC rate tsc.c would have found: the guest's belief (the simulated TSC's unless configured otherwise). */
uint64_t tsc_hz(void)
{
	return hv_sim_guest_tsc_hz(need("tsc_hz"));
}

uint64_t tsc_deadline_after_ns(uint64_t ns)
{
	struct hv_sim *sim = need("tsc_deadline_after_ns");
	uint64_t now = cpu_rdtsc();
	/* As tsc.c converts: with the rate the guest believes. */
	unsigned __int128 ticks = (unsigned __int128)ns * hv_sim_guest_tsc_hz(sim) / 1000000000u;

	return ticks > UINT64_MAX - now ? UINT64_MAX : now + (uint64_t)ticks;
}
