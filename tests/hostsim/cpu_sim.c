/*
 * Simulated CPU for the hosted build: dispatches privileged operations to the
 * handlers a test installed, and fails the test on any access it did not expect.
 */
#include "tests/hostsim/cpu_sim.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

static struct cpu_sim_ops sim;
static bool irqs_on;

void cpu_sim_install(const struct cpu_sim_ops *ops)
{
	if (ops)
		sim = *ops;
	else
		sim = (struct cpu_sim_ops){ 0 };
	irqs_on = false;
}

void *cpu_sim_ctx(void)
{
	return sim.ctx;
}

bool cpu_sim_irqs_on(void)
{
	return irqs_on;
}

static uint32_t port_in(uint16_t port, unsigned size)
{
	if (!sim.port_in)
		fail_msg("unexpected in%u from port 0x%x", size, port);
	return sim.port_in(sim.ctx, port, size);
}

static void port_out(uint16_t port, unsigned size, uint32_t v)
{
	if (!sim.port_out)
		fail_msg("unexpected out%u of 0x%x to port 0x%x", size, v, port);
	sim.port_out(sim.ctx, port, size, v);
}

uint8_t cpu_inb(uint16_t port) { return (uint8_t)port_in(port, 1); }
uint16_t cpu_inw(uint16_t port) { return (uint16_t)port_in(port, 2); }
uint32_t cpu_inl(uint16_t port) { return port_in(port, 4); }
void cpu_outb(uint16_t port, uint8_t v) { port_out(port, 1, v); }
void cpu_outw(uint16_t port, uint16_t v) { port_out(port, 2, v); }
void cpu_outl(uint16_t port, uint32_t v) { port_out(port, 4, v); }

struct cpuid_regs cpu_cpuid(uint32_t leaf, uint32_t subleaf)
{
	if (!sim.cpuid)
		return (struct cpuid_regs){ 0 };
	return sim.cpuid(sim.ctx, leaf, subleaf);
}

uint64_t cpu_rdmsr(uint32_t msr)
{
	uint64_t v = 0;
	if (!sim.rdmsr || sim.rdmsr(sim.ctx, msr, &v) != 0)
		fail_msg("#GP: rdmsr 0x%x", msr);
	return v;
}

void cpu_wrmsr(uint32_t msr, uint64_t value)
{
	if (!sim.wrmsr || sim.wrmsr(sim.ctx, msr, value) != 0)
		fail_msg("#GP: wrmsr 0x%x <- 0x%llx", msr, (unsigned long long)value);
}

int cpu_rdmsr_safe(uint32_t msr, uint64_t *value)
{
	uint64_t v = 0;

	if (!sim.rdmsr || sim.rdmsr(sim.ctx, msr, &v) != 0)
		return -EIO;
	*value = v;
	return 0;
}

int cpu_wrmsr_safe(uint32_t msr, uint64_t value)
{
	if (!sim.wrmsr || sim.wrmsr(sim.ctx, msr, value) != 0)
		return -EIO;
	return 0;
}

uint64_t cpu_hypercall(const void *page, uint64_t control, uint64_t input, uint64_t output)
{
	if (!sim.hypercall)
		fail_msg("unexpected hypercall 0x%llx through %p", (unsigned long long)control, page);
	return sim.hypercall(sim.ctx, (uintptr_t)page, control, input, output);
}

uint64_t cpu_rdtsc(void)
{
	static uint64_t fake;
	if (!sim.rdtsc)
		return fake += 1000;
	return sim.rdtsc(sim.ctx);
}

uint32_t cpu_mmio_read32(uintptr_t addr) { return *(volatile uint32_t *)addr; }
void cpu_mmio_write32(uintptr_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }
void cpu_pause(void) {}

void cpu_halt(void)
{
	if (sim.halt)
		sim.halt(sim.ctx);
}

void cpu_irq_enable(void)
{
	irqs_on = true;
	if (sim.irq_enabled)
		sim.irq_enabled(sim.ctx);
}

void cpu_irq_disable(void) { irqs_on = false; }

void cpu_irq_enable_and_halt(void)
{
	irqs_on = true;
	cpu_halt();
}

/* Bit 1 is always set; bit 9 is IF (off after cpu_sim_install, as in a unit test). */
uint64_t cpu_read_rflags(void) { return 0x2 | (irqs_on ? 0x200u : 0); }
uint64_t cpu_read_cr4(void) { return sim.cr4; }

void cpu_write_cr3(uint64_t value)
{
	if (!sim.write_cr3)
		fail_msg("unexpected CR3 write of 0x%llx", (unsigned long long)value);
	sim.write_cr3(sim.ctx, value);
}
uint64_t cpu_read_rbp(void) { return (uint64_t)(uintptr_t)__builtin_frame_address(0); }

void cpu_stop(void)
{
	fail_msg("cpu_stop: the CPU was stopped");
	for (;;) {
	}
}
