/*
 * MSR accesses that survive a #GP.
 *
 * A host may advertise a synthetic MSR and still refuse it (a hypercall page
 * it will not place, a feature half-emulated). The #GP handler in trap.c
 * recognises a fault at exactly msr_safe_rdmsr_insn or msr_safe_wrmsr_insn
 * and resumes at msr_safe_fault, which returns -EIO to the caller.
 */
	.text

/* int cpu_rdmsr_safe(uint32_t msr, uint64_t *value) */
	.globl cpu_rdmsr_safe
	.type cpu_rdmsr_safe, @function
cpu_rdmsr_safe:
	movl %edi, %ecx
	.globl msr_safe_rdmsr_insn
msr_safe_rdmsr_insn:
	rdmsr
	shlq $32, %rdx
	movl %eax, %eax
	orq %rdx, %rax
	movq %rax, (%rsi)
	xorl %eax, %eax
	ret
	.size cpu_rdmsr_safe, . - cpu_rdmsr_safe

/* int cpu_wrmsr_safe(uint32_t msr, uint64_t value) */
	.globl cpu_wrmsr_safe
	.type cpu_wrmsr_safe, @function
cpu_wrmsr_safe:
	movl %edi, %ecx
	movl %esi, %eax
	movq %rsi, %rdx
	shrq $32, %rdx
	.globl msr_safe_wrmsr_insn
msr_safe_wrmsr_insn:
	wrmsr
	xorl %eax, %eax
	ret
	.size cpu_wrmsr_safe, . - cpu_wrmsr_safe

/* Where a faulting access resumes: return -EIO (5). */
	.globl msr_safe_fault
	.type msr_safe_fault, @function
msr_safe_fault:
	movl $-5, %eax
	ret
	.size msr_safe_fault, . - msr_safe_fault

	.section .note.GNU-stack, "", @progbits
