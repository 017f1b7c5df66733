/*
 * The simulated CPU behind arch/x86_64/cpu.h in the hosted build.
 *
 * Library code compiled with -DHVRT_HOSTED calls these instead of executing
 * privileged instructions. A test installs handlers for the ports, MSRs and
 * CPUID leaves it cares about; an access nobody handles fails the test, the
 * way an unexpected access on a strict host would.
 */
#ifndef HVRT_HOSTSIM_CPU_SIM_H
#define HVRT_HOSTSIM_CPU_SIM_H

#include <stdbool.h>
#include <stdint.h>

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

/* Handlers a test installs; a NULL handler makes any such access a failure. */
struct cpu_sim_ops {
	void *ctx;
	uint32_t (*port_in)(void *ctx, uint16_t port, unsigned size);
	void (*port_out)(void *ctx, uint16_t port, unsigned size, uint32_t value);
	struct cpuid_regs (*cpuid)(void *ctx, uint32_t leaf, uint32_t subleaf);
	/* Returns 0 and fills *value, or -1 for a #GP. */
	int (*rdmsr)(void *ctx, uint32_t msr, uint64_t *value);
	int (*wrmsr)(void *ctx, uint32_t msr, uint64_t value);
	uint64_t (*rdtsc)(void *ctx);
	void (*halt)(void *ctx);
	uint64_t cr4;                                  /* what cpu_read_cr4 returns */
	void (*write_cr3)(void *ctx, uint64_t value);  /* NULL: a CR3 write fails the test */
	/* A call into the hypercall page at address page; returns RAX. NULL fails the test. */
	uint64_t (*hypercall)(void *ctx, uintptr_t page, uint64_t control, uint64_t input, uint64_t output);
	/*
	 * Called when cpu_irq_enable() sets the interrupt flag, so a simulated
	 * interrupt controller can deliver what waited. cpu_irq_enable_and_halt()
	 * sets the flag and goes straight to halt, as sti;hlt does.
	 */
	void (*irq_enabled)(void *ctx);
};

/* Installs ops (copied) with interrupts off; NULL restores the default that fails every access. */
void cpu_sim_install(const struct cpu_sim_ops *ops);
/* The ctx of the installed ops (NULL when none): how the hosted doubles of arch code find their simulator. */
void *cpu_sim_ctx(void);
/* The simulated RFLAGS.IF: set by cpu_irq_enable() and cpu_irq_enable_and_halt(), cleared by cpu_irq_disable(). */
bool cpu_sim_irqs_on(void);

struct cpuid_regs cpu_cpuid(uint32_t leaf, uint32_t subleaf);
uint64_t cpu_rdmsr(uint32_t msr);
void cpu_wrmsr(uint32_t msr, uint64_t value);
/* A #GP from the handler becomes -EIO here, as msr_safe.S does on hardware. */
int cpu_rdmsr_safe(uint32_t msr, uint64_t *value);
int cpu_wrmsr_safe(uint32_t msr, uint64_t value);
uint64_t cpu_hypercall(const void *page, uint64_t control, uint64_t input, uint64_t output);
uint8_t cpu_inb(uint16_t port);
uint16_t cpu_inw(uint16_t port);
uint32_t cpu_inl(uint16_t port);
void cpu_outb(uint16_t port, uint8_t v);
void cpu_outw(uint16_t port, uint16_t v);
void cpu_outl(uint16_t port, uint32_t v);
uint64_t cpu_rdtsc(void);
uint32_t cpu_mmio_read32(uintptr_t addr);
void cpu_mmio_write32(uintptr_t addr, uint32_t v);
void cpu_pause(void);
void cpu_halt(void);
void cpu_irq_enable(void);
void cpu_irq_disable(void);
void cpu_irq_enable_and_halt(void);
uint64_t cpu_read_rflags(void);
uint64_t cpu_read_cr4(void);
void cpu_write_cr3(uint64_t value);
uint64_t cpu_read_rbp(void);
__attribute__((noreturn)) void cpu_stop(void);

#endif
