/*
 * CPU primitives: the only place hvrt touches privileged state.
 *
 * Every port access, MSR, control register, CPUID and halt in the library goes
 * through these functions, so the hosted build (tests/hostsim) can replace this
 * one header with a simulated CPU and leave every other source unchanged.
 */
#ifndef HVRT_ARCH_CPU_H
#define HVRT_ARCH_CPU_H

#include <stdint.h>

#if defined(HVRT_HOSTED)
#include "tests/hostsim/cpu_sim.h"
#else

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpu_cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

static inline uint64_t cpu_rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_wrmsr(uint32_t msr, uint64_t value)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)) : "memory");
}

/*
 * MSR accesses that report a #GP instead of dying of it (msr_safe.S and the
 * #GP handler in trap.c): for MSRs a host claims but may still refuse.
 * Return 0, or -EIO when the access faulted.
 */
int cpu_rdmsr_safe(uint32_t msr, uint64_t *value);
int cpu_wrmsr_safe(uint32_t msr, uint64_t value);

/*
 * cpu_hypercall - call the Hyper-V hypercall page
 * @page:    the enabled hypercall page (it holds vmcall or vmmcall, then ret)
 * @control: hypercall input value (RCX)
 * @input:   input GPA, or the first 8 bytes of a fast call (RDX)
 * @output:  output GPA, or the second 8 bytes of a fast call (R8)
 * Return: the hypercall result value (RAX).
 *
 * The page behaves like a function; the hypervisor may change any register
 * the C ABI lets a callee change. The general ones are clobbered here; the
 * SSE registers are not listed, since only hv/hypercall.c expands this and
 * the runtime is built -mgeneral-regs-only (it keeps nothing in them).
 */
static inline uint64_t cpu_hypercall(const void *page, uint64_t control, uint64_t input, uint64_t output)
{
	uint64_t result;
	register uint64_t r8 __asm__("r8") = output;

	__asm__ volatile("call *%[page]"
			 : "=a"(result), "+c"(control), "+d"(input), "+r"(r8)
			 : [page] "r"(page)
			 : "rsi", "rdi", "r9", "r10", "r11", "cc", "memory");
	return result;
}

static inline uint8_t cpu_inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t cpu_inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t cpu_inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void cpu_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

static inline void cpu_outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}

static inline void cpu_outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}

static inline uint64_t cpu_rdtsc(void)
{
	uint32_t lo, hi;
	/* lfence keeps the read from being hoisted above earlier loads. */
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline uint32_t cpu_mmio_read32(uintptr_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void cpu_mmio_write32(uintptr_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static inline uint64_t cpu_read_cr0(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline uint64_t cpu_read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline uint64_t cpu_read_cr3(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline void cpu_write_cr3(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory");
}

static inline uint64_t cpu_read_cr4(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

/*
 * There is deliberately no CR8 accessor: QEMU 7.2's TCG asserts on a guest CR8
 * write under SVM virtual interrupts (test-hosts.md), and the runtime never
 * needs task priorities.
 */

static inline uint64_t cpu_read_rflags(void)
{
	uint64_t v;
	__asm__ volatile("pushfq; popq %0" : "=r"(v));
	return v;
}

static inline void cpu_irq_enable(void)
{
	__asm__ volatile("sti" ::: "memory");
}

static inline void cpu_irq_disable(void)
{
	__asm__ volatile("cli" ::: "memory");
}

/* Enables interrupts and halts in one step, so a wake-up cannot slip between. */
static inline void cpu_irq_enable_and_halt(void)
{
	__asm__ volatile("sti; hlt" ::: "memory");
}

static inline void cpu_halt(void)
{
	__asm__ volatile("hlt" ::: "memory");
}

static inline void cpu_pause(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline void cpu_lgdt(const void *desc)
{
	__asm__ volatile("lgdt (%0)" ::"r"(desc) : "memory");
}

static inline void cpu_lidt(const void *desc)
{
	__asm__ volatile("lidt (%0)" ::"r"(desc) : "memory");
}

static inline void cpu_ltr(uint16_t selector)
{
	__asm__ volatile("ltr %0" ::"r"(selector) : "memory");
}

static inline uint64_t cpu_read_rbp(void)
{
	return (uint64_t)(uintptr_t)__builtin_frame_address(0);
}

/* Reloads CS with a far return and the data segments with selector ds. */
void cpu_load_segments(uint16_t cs, uint16_t ds);

/* Stops this CPU for good: interrupts off, halt forever. */
__attribute__((noreturn)) static inline void cpu_stop(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

#endif /* HVRT_HOSTED */

#define MSR_IA32_APIC_BASE 0x1bu
#define MSR_IA32_EFER 0xc0000080u
#define MSR_IA32_PAT 0x277u
#define MSR_X2APIC_BASE 0x800u

#endif
