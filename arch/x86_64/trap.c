/*
 * GDT, TSS, IDT, the exception report and interrupt dispatch.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <hvrt/log.h>
#include <hvrt/power.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/power.h"
#include "arch/x86_64/trap.h"

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "64-bit TSS");

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
};
_Static_assert(sizeof(struct idt_gate) == 16, "64-bit IDT gate");
_Static_assert(offsetof(struct trap_frame, rax) == 14 * 8 && offsetof(struct trap_frame, r15) == 0,
	       "register slots used by the fault report");

struct table_pointer {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

#define IST_DOUBLE_FAULT 1
#define IST_NMI 2
#define IST_MACHINE_CHECK 3
#define IST_STACK_PAGES 4
#define BACKTRACE_MAX 32

extern const char trap_stubs[], irq_stubs[];

static struct trap_state {
	uint64_t gdt[5]; /* null, code, data, TSS (two slots) */
	struct tss tss;
	struct idt_gate *idt;
	/* A page of its own: in the EFI image static data costs file size. */
	struct trap_route {
		trap_handler_fn fn;
		void *ctx;
	} *handlers;
	struct trap_bounds bounds;
	unsigned depth; /* exceptions being reported, to catch a fault in the report */
	unsigned unexpected;
} trap;

/* Fixed-width strings: a table of pointers would cost a relocation per entry in the EFI image. */
static const char exception_names[32][28] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound range", "#UD invalid opcode", "#NM device not available", "#DF double fault",
	"coprocessor segment overrun", "#TS invalid TSS", "#NP segment not present",
	"#SS stack fault", "#GP general protection", "#PF page fault", "reserved",
	"#MF x87 error", "#AC alignment check", "#MC machine check", "#XM SIMD error",
	"#VE virtualization", "#CP control protection", "reserved", "reserved", "reserved",
	"reserved", "reserved", "reserved", "#HV hypervisor injection", "#VC VMM communication",
	"#SX security", "reserved",
};

static void set_gate(unsigned vector, unsigned ist)
{
	uint64_t addr = vector < 32 ? (uint64_t)(uintptr_t)(trap_stubs + vector * 16)
				    : (uint64_t)(uintptr_t)(irq_stubs + (vector - 32) * 8);

	trap.idt[vector] = (struct idt_gate){
		.offset_low = (uint16_t)addr,
		.selector = GDT_KERNEL_CODE,
		.ist = (uint8_t)ist,
		.type_attr = 0x8e, /* present, ring 0, interrupt gate: IF cleared on entry */
		.offset_mid = (uint16_t)(addr >> 16),
		.offset_high = (uint32_t)(addr >> 32),
	};
}

/*
 * trap_init - load hvrt's GDT, TSS and IDT
 * @pa:     page allocator for the IDT and the IST stacks
 * @bounds: image and stack ranges backtraces may read
 * Return: 0 or -ENOMEM.
 */
int trap_init(struct pagealloc *pa, const struct trap_bounds *bounds)
{
	uint64_t idt_page = pagealloc_alloc(pa, 1);
	uint64_t routes = pagealloc_alloc(pa, 1);
	uint64_t stacks = pagealloc_alloc(pa, 3 * IST_STACK_PAGES);

	if (!idt_page || !routes || !stacks)
		return -ENOMEM;
	_Static_assert(256 * sizeof(struct trap_route) <= PAGE_SIZE, "routes fit a page");
	trap.handlers = (struct trap_route *)(uintptr_t)routes;
	memset(trap.handlers, 0, PAGE_SIZE);
	trap.bounds = *bounds;
	trap.idt = (struct idt_gate *)(uintptr_t)idt_page;
	memset(trap.idt, 0, PAGE_SIZE);

	/* Each fault that can strike with a broken stack gets a stack of its own. */
	for (unsigned i = 0; i < 3; i++)
		trap.tss.ist[i] = stacks + (uint64_t)(i + 1) * IST_STACK_PAGES * PAGE_SIZE;
	trap.tss.iomap_base = sizeof(struct tss);

	uint64_t tss_base = (uint64_t)(uintptr_t)&trap.tss;
	uint64_t tss_limit = sizeof(struct tss) - 1;
	trap.gdt[0] = 0;
	trap.gdt[1] = 0x00af9a000000ffffull; /* 64-bit code, ring 0 */
	trap.gdt[2] = 0x00cf92000000ffffull; /* data, ring 0 */
	trap.gdt[3] = (tss_limit & 0xffff) | ((tss_base & 0xffffff) << 16) | (0x89ull << 40) |
		      ((tss_limit & 0xf0000) << 32) | (((tss_base >> 24) & 0xff) << 56);
	trap.gdt[4] = tss_base >> 32;

	struct table_pointer gdtr = { .limit = sizeof(trap.gdt) - 1, .base = (uint64_t)(uintptr_t)trap.gdt };
	cpu_lgdt(&gdtr);
	cpu_load_segments(GDT_KERNEL_CODE, GDT_KERNEL_DATA);
	cpu_ltr(GDT_TSS);

	for (unsigned v = 0; v < 256; v++)
		set_gate(v, 0);
	set_gate(2, IST_NMI);
	set_gate(8, IST_DOUBLE_FAULT);
	set_gate(18, IST_MACHINE_CHECK);
	struct table_pointer idtr = { .limit = 256 * sizeof(struct idt_gate) - 1, .base = idt_page };
	cpu_lidt(&idtr);
	return 0;
}

int trap_set_handler(uint8_t vector, trap_handler_fn fn, void *ctx)
{
	if (vector < 32 || !trap.handlers)
		return -EINVAL;
	if (trap.handlers[vector].fn && fn)
		return -EBUSY;
	trap.handlers[vector].ctx = ctx;
	trap.handlers[vector].fn = fn;
	return 0;
}

static int in_range(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v >= lo && v < hi;
}

/*
 * trap_backtrace - print the chain of return addresses
 * @rbp: frame pointer to start from (hvrt is built -fno-omit-frame-pointer)
 * @rip: the faulting or current instruction, printed first
 *
 * Every frame is checked before it is read: inside the boot stack, aligned,
 * growing upward; a return address outside the image ends the walk, so a
 * smashed stack gives a short backtrace instead of a second fault.
 */
void trap_backtrace(uint64_t rbp, uint64_t rip, uint64_t rsp)
{
	const struct trap_bounds *b = &trap.bounds;

	hvrt_log(HVRT_LOG_ERROR, "trap", "backtrace (image at 0x%llx; addr2line takes the +offsets):",
		 (unsigned long long)b->image_base);
	hvrt_log(HVRT_LOG_ERROR, "trap", "  #0  0x%016llx (+0x%llx)", (unsigned long long)rip,
		 (unsigned long long)(rip - b->image_base));
	/*
	 * The two words on top of the stack, when they point into the image but
	 * not into the stack: a function that faults before its frame is set up
	 * (or that has none) leaves its caller's return address there.
	 */
	for (unsigned i = 0; rsp && i < 2; i++) {
		uint64_t at = rsp + 8 * i;
		if ((at & 7) != 0 || !in_range(at, b->stack_lo, b->stack_hi - 8))
			break;
		uint64_t word = *(const uint64_t *)(uintptr_t)at;
		if (in_range(word, b->image_base, b->image_end) && !in_range(word, b->stack_lo, b->stack_hi))
			hvrt_log(HVRT_LOG_ERROR, "trap", "  ?   0x%016llx (+0x%llx) from the stack top: the caller if "
				 "the faulting function had no frame yet", (unsigned long long)word,
				 (unsigned long long)(word - b->image_base));
	}
	for (unsigned i = 1; i < BACKTRACE_MAX; i++) {
		if ((rbp & 7) != 0 || !in_range(rbp, b->stack_lo, b->stack_hi - 16))
			break;
		const uint64_t *frame = (const uint64_t *)(uintptr_t)rbp;
		uint64_t ret = frame[1];
		if (!in_range(ret, b->image_base, b->image_end))
			break;
		hvrt_log(HVRT_LOG_ERROR, "trap", "  #%-2u 0x%016llx (+0x%llx)", i, (unsigned long long)ret,
			 (unsigned long long)(ret - b->image_base));
		if (frame[0] <= rbp)
			break;
		rbp = frame[0];
	}
}

static void describe_page_fault(uint64_t code, char *buf, size_t size)
{
	hvrt_snprintf(buf, size, " (%s, %s%s%s)", code & 2 ? "write" : "read",
		      code & 1 ? "protection violation" : "page not present",
		      code & 16 ? ", instruction fetch" : "", code & 8 ? ", reserved bit set" : "");
}

static __attribute__((noreturn)) void report_exception(const struct trap_frame *f)
{
	char detail[96] = "";

	if (++trap.depth > 1) {
		/* The report itself faulted: print the bare minimum and stop. */
		static const char msg[] = "hvrt: trap: fault while reporting a fault; stopping\n";
		hvrt_console_write(msg, sizeof(msg) - 1);
		hvrt_poweroff(HVRT_EXIT_PANIC);
	}
	uint64_t cr2 = cpu_read_cr2();
	if (f->vector == 14)
		describe_page_fault(f->error_code, detail, sizeof(detail));
	/* An overflow faults on the guard page, and pushing that fault's frame faults again: #DF. */
	if ((f->vector == 14 || f->vector == 8) && trap.bounds.stack_guard &&
	    in_range(cr2, trap.bounds.stack_guard, trap.bounds.stack_guard + PAGE_SIZE))
		hvrt_log(HVRT_LOG_ERROR, "trap", "stack overflow: the %llu KiB stack ran into its guard page",
			 (unsigned long long)((trap.bounds.stack_hi - trap.bounds.stack_lo) >> 10));
	hvrt_log(HVRT_LOG_ERROR, "trap", "CPU exception %llu: %s, error code 0x%llx%s",
		 (unsigned long long)f->vector, exception_names[f->vector],
		 (unsigned long long)f->error_code, detail);
	hvrt_log(HVRT_LOG_ERROR, "trap", "  RIP %016llx  CS %04llx  RFLAGS %016llx",
		 (unsigned long long)f->rip, (unsigned long long)f->cs, (unsigned long long)f->rflags);
	hvrt_log(HVRT_LOG_ERROR, "trap", "  RSP %016llx  SS %04llx  CR2 %016llx",
		 (unsigned long long)f->rsp, (unsigned long long)f->ss, (unsigned long long)cr2);

	/* The general registers, three a line, by their slot in struct trap_frame. */
	static const struct {
		char name[4];
		uint8_t slot;
	} regs[] = {
		{ "RAX", 14 }, { "RBX", 13 }, { "RCX", 12 }, { "RDX", 11 }, { "RSI", 10 }, { "RDI", 9 },
		{ "RBP", 8 },  { "R8 ", 7 },  { "R9 ", 6 },  { "R10", 5 },  { "R11", 4 },  { "R12", 3 },
		{ "R13", 2 },  { "R14", 1 },  { "R15", 0 },
	};
	const uint64_t *slots = (const uint64_t *)f;
	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i += 3)
		hvrt_log(HVRT_LOG_ERROR, "trap", "  %.3s %016llx  %.3s %016llx  %.3s %016llx", regs[i].name,
			 (unsigned long long)slots[regs[i].slot], regs[i + 1].name,
			 (unsigned long long)slots[regs[i + 1].slot], regs[i + 2].name,
			 (unsigned long long)slots[regs[i + 2].slot]);
	hvrt_log(HVRT_LOG_ERROR, "trap", "  CR0 %016llx  CR3 %016llx  CR4 %016llx",
		 (unsigned long long)cpu_read_cr0(), (unsigned long long)cpu_read_cr3(),
		 (unsigned long long)cpu_read_cr4());
	trap_backtrace(f->rbp, f->rip, f->rsp);
	char message[160];
	hvrt_snprintf(message, sizeof(message), "CPU exception %llu: %s, error code 0x%llx%s at RIP 0x%llx",
		      (unsigned long long)f->vector, exception_names[f->vector], (unsigned long long)f->error_code,
		      detail, (unsigned long long)f->rip);
	struct power_crash crash = {
		.message = message, .reason = f->vector, .rip = f->rip, .error_code = f->error_code,
		.cr2 = cr2, .rsp = f->rsp,
	};
	power_report_crash(&crash);
	hvrt_poweroff(HVRT_EXIT_PANIC);
}

/* The two MSR instructions of msr_safe.S, and where a #GP on them resumes. */
extern const char msr_safe_rdmsr_insn[], msr_safe_wrmsr_insn[], msr_safe_fault[];

/* A #GP on cpu_rdmsr_safe/cpu_wrmsr_safe's instruction: resume at its error return. */
static bool msr_access_faulted(struct trap_frame *f)
{
	if (f->rip != (uint64_t)(uintptr_t)msr_safe_rdmsr_insn && f->rip != (uint64_t)(uintptr_t)msr_safe_wrmsr_insn)
		return false;
	f->rip = (uint64_t)(uintptr_t)msr_safe_fault;
	return true;
}

/*
 * trap_dispatch - C side of every interrupt and exception
 * @frame: the registers the entry stub saved
 *
 * Exceptions are fatal, except a #GP from the safe MSR accessors. Interrupts go
 * to the handler registered for their vector; handlers only acknowledge and
 * record, the work happens later in the event loop.
 */
void trap_dispatch(struct trap_frame *frame)
{
	uint64_t v = frame->vector;

	if (v == 13 && msr_access_faulted(frame))
		return;
	if (v < 32)
		report_exception(frame);
	if (trap.handlers[v].fn) {
		trap.handlers[v].fn(trap.handlers[v].ctx, frame);
		return;
	}
	if (trap.unexpected++ == 0)
		hvrt_log(HVRT_LOG_WARN, "trap", "unexpected interrupt on vector %llu (ignored)",
			 (unsigned long long)v);
	/*
	 * Acknowledged all the same: an interrupt latched before its source was
	 * masked (a SINT a firmware left on) would otherwise stay in service and
	 * block every vector of its priority class and below, timers included.
	 */
	if (v != VECTOR_SPURIOUS)
		lapic_eoi();
}
