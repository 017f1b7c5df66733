/*
 * TSC frequency: from CPUID leaves 0x15/0x16 when the CPU states it, else
 * measured against the 8254 PIT or the ACPI PM timer over 10 ms.
 *
 * Gen1 VMs (like QEMU pc) always have a PIT; Gen2 VMs (like q35 with UEFI)
 * have no legacy PIT on Hyper-V but do have the PM timer, hence the order.
 */
#include <hvrt/log.h>
#include <hvrt/system.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"

#define PIT_HZ 1193182u
#define PM_TIMER_HZ 3579545u
#define CALIBRATE_MS 10
/*
 * Polls before a reference timer is declared dead: 10 ms takes some 10^4 to
 * 10^5 port reads even where each one traps to the hypervisor, and a dead
 * timer must cost seconds at most, not minutes.
 */
#define CALIBRATE_SPIN_LIMIT 2000000u
/* Below this the measurement is not believable (TSCs of x86_64 CPUs run at hundreds of MHz or more). */
/* A host figure above this is not believed (and would overflow the LAPIC timer arithmetic). */
#define TSC_HZ_MAX 20000000000ull
#define TSC_HZ_MIN 100000000ull
#define TSC_HZ_ASSUMED 2000000000ull

static struct tsc_state {
	uint64_t hz;
	uint64_t boot_tsc;
} tsc;

static uint64_t tsc_from_cpuid(void)
{
	uint32_t max = cpu_cpuid(0, 0).eax;

	if (max >= 0x15) {
		struct cpuid_regs r = cpu_cpuid(0x15, 0);
		if (r.eax && r.ebx && r.ecx)
			return (uint64_t)r.ecx * r.ebx / r.eax;
	}
	if (max >= 0x16) {
		uint32_t mhz = cpu_cpuid(0x16, 0).eax & 0xffff;
		if (mhz)
			return (uint64_t)mhz * 1000000u;
	}
	return 0;
}

static uint64_t calibrate_pit(void)
{
	uint16_t count = PIT_HZ * CALIBRATE_MS / 1000;
	uint8_t gate = cpu_inb(0x61);

	if (gate == 0xff)
		return 0; /* nothing answers at port 0x61 */
	/* Channel 2, gate low while programming so the count starts exactly when raised. */
	cpu_outb(0x61, gate & ~0x03);
	cpu_outb(0x43, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
	cpu_outb(0x42, count & 0xff);
	cpu_outb(0x42, count >> 8);
	uint64_t t0 = cpu_rdtsc();
	cpu_outb(0x61, (gate & ~0x02) | 0x01);
	unsigned spins = 0;
	while (!(cpu_inb(0x61) & 0x20) && ++spins < CALIBRATE_SPIN_LIMIT)
		;
	uint64_t t1 = cpu_rdtsc();
	cpu_outb(0x61, gate);
	if (spins >= CALIBRATE_SPIN_LIMIT)
		return 0;
	return (t1 - t0) * 1000 / CALIBRATE_MS;
}

static uint64_t calibrate_pm_timer(uint16_t port, bool wide)
{
	uint32_t mask = wide ? 0xffffffffu : 0xffffffu;
	uint32_t want = PM_TIMER_HZ / 1000 * CALIBRATE_MS;

	if (!port)
		return 0;
	uint32_t start = cpu_inl(port) & mask;
	uint64_t t0 = cpu_rdtsc();
	uint32_t elapsed = 0;
	unsigned spins = 0;
	while (elapsed < want && ++spins < CALIBRATE_SPIN_LIMIT)
		elapsed = ((cpu_inl(port) & mask) - start) & mask;
	uint64_t t1 = cpu_rdtsc();
	if (spins >= CALIBRATE_SPIN_LIMIT || elapsed == 0)
		return 0;
	return (t1 - t0) * PM_TIMER_HZ / elapsed;
}

/*
 * tsc_init - find the TSC frequency
 * @refs: which reference timers the machine has
 * Return: how it was found (enum hvrt_tsc_source). A machine where nothing
 * answers gets an assumed frequency and a warning, so time still advances.
 */
void tsc_mark_start(void)
{
	tsc.boot_tsc = cpu_rdtsc();
}

uint32_t tsc_init(const struct tsc_refs *refs)
{
	uint32_t source = HVRT_TSC_CPUID;
	/* The host's own figure beats a calibration, and Gen1 Hyper-V's PIT gate is reported not to toggle. */
	uint64_t hz = refs->hyperv_hz;

	if (hz >= TSC_HZ_MIN && hz <= TSC_HZ_MAX)
		source = HVRT_TSC_HYPERV;
	else
		hz = tsc_from_cpuid();

	if (!tsc.boot_tsc)
		tsc.boot_tsc = cpu_rdtsc();
	for (int attempt = 0; attempt < 2 && hz < TSC_HZ_MIN; attempt++) {
		bool pit = (attempt == 0) == refs->pit_first;
		hz = pit ? calibrate_pit() : calibrate_pm_timer(refs->pm_timer_port, refs->pm_timer_32bit);
		source = pit ? HVRT_TSC_PIT : HVRT_TSC_PM_TIMER;
	}
	if (hz < TSC_HZ_MIN) {
		hz = TSC_HZ_ASSUMED;
		source = HVRT_TSC_ASSUMED;
		hvrt_log(HVRT_LOG_WARN, "tsc", "no PIT or PM timer answered; assuming a %llu MHz TSC",
			 (unsigned long long)(hz / 1000000));
	}
	tsc.hz = hz;
	return source;
}

uint64_t tsc_hz(void)
{
	return tsc.hz;
}

uint64_t tsc_ticks_to_ns(uint64_t ticks, uint64_t hz)
{
	return ticks / hz * 1000000000ull + ticks % hz * 1000000000ull / hz;
}

uint64_t tsc_uptime_ns(void)
{
	return tsc_ticks_to_ns(cpu_rdtsc() - tsc.boot_tsc, tsc.hz);
}

/* Saturates at UINT64_MAX ("never") instead of wrapping into a deadline in the past. */
uint64_t tsc_deadline_after_ns(uint64_t ns)
{
	uint64_t now = cpu_rdtsc();
	uint64_t sec = ns / 1000000000ull;

	if (tsc.hz && sec > (UINT64_MAX - now) / tsc.hz)
		return UINT64_MAX;
	/* Whole seconds fit (checked above); the fraction may still carry past the top. */
	uint64_t whole = sec * tsc.hz;
	uint64_t frac = ns % 1000000000ull * tsc.hz / 1000000000ull;
	return frac > UINT64_MAX - now - whole ? UINT64_MAX : now + whole + frac;
}
