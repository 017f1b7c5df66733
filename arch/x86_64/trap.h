/*
 * Descriptor tables, exceptions and interrupt dispatch.
 */
#ifndef HVRT_ARCH_TRAP_H
#define HVRT_ARCH_TRAP_H

#include <stdint.h>

#include "arch/x86_64/pagealloc.h"

/* Register state pushed by the entry stubs (trap_entry.S), lowest address first. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "trap frame layout matches trap_entry.S");

#define GDT_KERNEL_CODE 0x08
#define GDT_KERNEL_DATA 0x10
#define GDT_TSS 0x18

#define VECTOR_LAPIC_TIMER 0x30
#define VECTOR_SPURIOUS 0xff

typedef void (*trap_handler_fn)(void *ctx, struct trap_frame *frame);

/* Where backtraces may look: the image's code and the boot stack. */
struct trap_bounds {
	uint64_t image_base, image_end;
	uint64_t stack_lo, stack_hi;
	uint64_t stack_guard; /* unmapped page below the stack: a fault there is an overflow */
};

/*
 * Loads hvrt's GDT, TSS (separate stacks for #DF, NMI and #MC) and IDT, with
 * memory from pa. Returns 0 or -ENOMEM.
 */
int trap_init(struct pagealloc *pa, const struct trap_bounds *bounds);

/* Routes an interrupt vector (32..255) to fn; returns 0, -EINVAL or -EBUSY. */
int trap_set_handler(uint8_t vector, trap_handler_fn fn, void *ctx);

/*
 * Prints a backtrace starting at frame pointer rbp. rsp, when not 0, is the
 * faulting stack pointer: the word there is shown too, marked as a guess,
 * because a function that faults before setting up its frame (or never sets
 * one up) leaves its caller's return address there and in no frame.
 */
void trap_backtrace(uint64_t rbp, uint64_t rip, uint64_t rsp);

/* Called by the entry stubs. */
void trap_dispatch(struct trap_frame *frame);

#endif
