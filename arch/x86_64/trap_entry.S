/*
 * Interrupt and exception entry: a stub per vector pushes an error code where
 * the CPU does not, then the vector, and joins trap_common, which saves the
 * general registers in struct trap_frame order.
 */
	.section .text
	.code64

/* Vectors for which the CPU pushes an error code: #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX. */
#define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

	.p2align 4
	.globl trap_stubs
trap_stubs:
	.set vec, 0
	.rept 32
	.p2align 4
	.if !HAS_ERROR(vec)
	pushq $0
	.endif
	pushq $vec
	jmp trap_common
	.set vec, vec + 1
	.endr

/*
 * Interrupt vectors 32..255 never come with an error code: 8-byte stubs push
 * the vector as a sign-extended byte and irq_common makes room for the zero
 * error code, which halves their size.
 */
	.p2align 3
	.globl irq_stubs
irq_stubs:
	.rept 224
	.p2align 3
	.byte 0x6a, vec - 256 * (vec / 128)  /* pushq $imm8 */
	jmp irq_common
	.set vec, vec + 1
	.endr

irq_common:
	pushq (%rsp)            /* the vector again, one slot lower */
	movq $0, 8(%rsp)        /* and a zero error code where it was */
	jmp trap_common

trap_common:
	cld
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	andq $0xff, 15*8(%rsp)
	movq %rsp, %rdi
	/* Keep the ABI's 16-byte stack alignment whatever the interrupted code had. */
	movq %rsp, %rbx
	andq $-16, %rsp
	call trap_dispatch
	movq %rbx, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

/* void cpu_load_segments(uint16_t cs, uint16_t ds) */
	.globl cpu_load_segments
cpu_load_segments:
	movw %si, %ds
	movw %si, %es
	movw %si, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	popq %rax          /* return address */
	movzwq %di, %rdi
	pushq %rdi
	pushq %rax
	lretq

	.section .note.GNU-stack, "", @progbits
