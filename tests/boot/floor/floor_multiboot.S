/*
 * Boot-time floor for Gen1: a 32-bit multiboot kernel that prints one line on
 * COM1 and leaves QEMU through isa-debug-exit (make bench).
 */
	.section .text
	.code32
	.p2align 2
	.long 0x1badb002
	.long 0
	.long -0x1badb002

	.globl floor_entry
floor_entry:
	movl $message, %esi
1:	movb (%esi), %al
	testb %al, %al
	jz 2f
	movw $0x3f8, %dx
	outb %al, %dx
	incl %esi
	jmp 1b
2:	xorl %eax, %eax
	movw $0xf4, %dx
	outb %al, %dx
3:	hlt
	jmp 3b

message:
	.asciz "floor\r\n"

	.section .note.GNU-stack, "", @progbits
