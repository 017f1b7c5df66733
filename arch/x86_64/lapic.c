/*
 * Local APIC: enable, one-shot timer, EOI.
 *
 * The task priority register is never written (in xAPIC mode it aliases CR8,
 * whose writes QEMU 7.2's TCG mishandles under SVM; see test-hosts.md); its
 * reset value 0 accepts every vector.
 */
#include <errno.h>

#include <hvrt/log.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/trap.h"
#include "arch/x86_64/tsc.h"

enum {
	LAPIC_ID = 0x20,
	LAPIC_EOI = 0xb0,
	LAPIC_SVR = 0xf0,
	LAPIC_LVT_TIMER = 0x320,
	LAPIC_TIMER_INITIAL = 0x380,
	LAPIC_TIMER_CURRENT = 0x390,
	LAPIC_TIMER_DIVIDE = 0x3e0,
};

#define APIC_BASE_ENABLE (1ull << 11)
#define APIC_BASE_X2APIC (1ull << 10)
#define LVT_MASKED (1u << 16)
#define DIVIDE_BY_16 0x3
#define CALIBRATE_NS 1000000ull

static struct lapic_state {
	uintptr_t mmio;
	bool x2apic;
	bool present;
	uint64_t timer_hz;
	uint64_t known_bus_hz; /* from the hypervisor; 0: calibrate */
	uint64_t wakeups;
} lapic;

static uint32_t lapic_read(uint32_t reg)
{
	if (lapic.x2apic)
		return (uint32_t)cpu_rdmsr(MSR_X2APIC_BASE + (reg >> 4));
	return cpu_mmio_read32(lapic.mmio + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	if (lapic.x2apic)
		cpu_wrmsr(MSR_X2APIC_BASE + (reg >> 4), v);
	else
		cpu_mmio_write32(lapic.mmio + reg, v);
}

void lapic_eoi(void)
{
	if (lapic.present)
		lapic_write(LAPIC_EOI, 0);
}

static void timer_interrupt(void *ctx, struct trap_frame *frame)
{
	(void)ctx;
	(void)frame;
	lapic.wakeups++;
	lapic_eoi();
}

static void spurious_interrupt(void *ctx, struct trap_frame *frame)
{
	(void)ctx;
	(void)frame; /* a spurious vector takes no EOI */
}

/* Remaps the 8259s away from the exception vectors, then masks every line. */
static void pic_disable(void)
{
	static const uint8_t init[][2] = {
		{ 0x20, 0x11 }, { 0xa0, 0x11 }, /* ICW1: init, ICW4 follows */
		{ 0x21, 0x20 }, { 0xa1, 0x28 }, /* ICW2: vectors 0x20, 0x28 */
		{ 0x21, 0x04 }, { 0xa1, 0x02 }, /* ICW3: cascade on IRQ2 */
		{ 0x21, 0x01 }, { 0xa1, 0x01 }, /* ICW4: 8086 mode */
		{ 0x21, 0xff }, { 0xa1, 0xff }, /* OCW1: mask all */
	};
	for (unsigned i = 0; i < sizeof(init) / sizeof(init[0]); i++)
		cpu_outb(init[i][0], init[i][1]);
}

/*
 * lapic_init - enable this CPU's local APIC and measure its timer
 * Return: 0, or -ENODEV when CPUID reports no APIC.
 */
int lapic_init(void)
{
	struct cpuid_regs r = cpu_cpuid(1, 0);

	pic_disable();
	if (!(r.edx & (1u << 9)))
		return -ENODEV;
	uint64_t base = cpu_rdmsr(MSR_IA32_APIC_BASE);
	lapic.x2apic = (r.ecx & (1u << 21)) != 0;
	/* Disabled to x2APIC in one write is an illegal transition (#GP): enable first. */
	if (!(base & APIC_BASE_ENABLE)) {
		base |= APIC_BASE_ENABLE;
		cpu_wrmsr(MSR_IA32_APIC_BASE, base);
	}
	if (lapic.x2apic && !(base & APIC_BASE_X2APIC)) {
		base |= APIC_BASE_X2APIC;
		cpu_wrmsr(MSR_IA32_APIC_BASE, base);
	}
	lapic.mmio = (uintptr_t)(base & 0x000ffffffffff000ull);
	lapic.present = true;

	trap_set_handler(VECTOR_LAPIC_TIMER, timer_interrupt, NULL);
	trap_set_handler(VECTOR_SPURIOUS, spurious_interrupt, NULL);
	lapic_write(LAPIC_SVR, 0x100 | VECTOR_SPURIOUS);

	lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VECTOR_LAPIC_TIMER);
	/* A bus rate from the host is taken when plausible (1 MHz to 10 GHz), else measured. */
	if (lapic.known_bus_hz >= 1000000ull && lapic.known_bus_hz <= 10000000000ull) {
		lapic.timer_hz = lapic.known_bus_hz / 16;
	} else {
		/*
		 * Count down from the top for about 1 ms with the timer masked,
		 * divided by the TSC time that really passed between just before the
		 * start and just after the read. Under a nested hypervisor the spin
		 * overshoots its deadline by an exit (a CI run measured 1.75 ms for
		 * "1 ms", and every sleep then lasted 1.75 times too long); the TSC
		 * bracket also takes in the two register accesses, so an error can
		 * only make the rate low, and a timer that fires early costs a sleep
		 * one more loop, never time.
		 */
		uint64_t start = cpu_rdtsc();
		uint64_t deadline = tsc_deadline_after_ns(CALIBRATE_NS);
		lapic_write(LAPIC_TIMER_INITIAL, 0xffffffffu);
		while (cpu_rdtsc() < deadline)
			cpu_pause();
		uint32_t left = lapic_read(LAPIC_TIMER_CURRENT);
		uint64_t elapsed = cpu_rdtsc() - start;
		lapic_write(LAPIC_TIMER_INITIAL, 0);
		uint64_t hz = tsc_hz();
		uint64_t ticks = 0xffffffffu - left;
		lapic.timer_hz = elapsed ? (uint64_t)((unsigned __int128)ticks * hz / elapsed) : 0;
	}
	if (lapic.timer_hz == 0)
		hvrt_log(HVRT_LOG_WARN, "lapic", "the LAPIC timer does not count; sleeps will spin");
	lapic_write(LAPIC_LVT_TIMER, VECTOR_LAPIC_TIMER); /* one-shot, unmasked */
	return 0;
}

void lapic_set_bus_frequency(uint64_t hz)
{
	lapic.known_bus_hz = hz;
}

bool lapic_x2apic(void)
{
	return lapic.x2apic;
}

uint64_t lapic_timer_hz(void)
{
	return lapic.timer_hz;
}

/*
 * lapic_timer_arm - interrupt this CPU once, when the TSC reaches a deadline
 * Return: false when there is no usable LAPIC timer. A deadline further than
 * the 32-bit counter reaches fires early, so callers re-check the time.
 */
bool lapic_timer_arm(uint64_t tsc_deadline)
{
	if (!lapic.present || lapic.timer_hz == 0)
		return false;
	uint64_t hz = tsc_hz();
	uint64_t now = cpu_rdtsc();
	uint64_t delta = tsc_deadline > now ? tsc_deadline - now : 0;
	uint64_t ticks = delta / hz * lapic.timer_hz + delta % hz * lapic.timer_hz / hz;
	if (ticks > 0xffffffffu)
		ticks = 0xffffffffu;
	if (ticks == 0)
		ticks = 1;
	lapic_write(LAPIC_TIMER_INITIAL, (uint32_t)ticks);
	return true;
}

/*
 * lapic_sleep_until - halt until the TSC passes a deadline (UINT64_MAX: never)
 *
 * The TSC decides when the sleep is over; the timer only ends each halt, so
 * an early, late or lost timer interrupt costs a loop, never correctness.
 */
void lapic_sleep_until(uint64_t tsc_deadline)
{
	/* Halting needs interrupts on; a caller that had them off gets them back off. */
	int irqs_were_on = (cpu_read_rflags() & (1u << 9)) != 0;

	for (;;) {
		if (cpu_rdtsc() >= tsc_deadline)
			break;
		cpu_irq_disable();
		if (!lapic_timer_arm(tsc_deadline)) {
			cpu_irq_enable();
			cpu_pause();
			continue;
		}
		cpu_irq_enable_and_halt();
	}
	if (!irqs_were_on)
		cpu_irq_disable();
}
