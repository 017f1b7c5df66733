/*
 * Multiboot (v1) entry: GRUB or QEMU -kernel jump here in 32-bit protected
 * mode with paging off, EAX = 0x2badb002 and EBX = the information structure.
 * This code identity-maps the first 4 GiB with 2 MiB pages, enters long mode,
 * enables SSE and calls multiboot_main(magic, info) on the boot stack.
 */
#define MB_MAGIC 0x1badb002
/* Page-align modules, want the memory map, and the address fields below are valid. */
#define MB_FLAGS ((1 << 0) | (1 << 1) | (1 << 16))
#define BOOT_STACK_SIZE (64 * 1024)
#define COM1 0x3f8

	.section .multiboot, "a"
	.p2align 2
multiboot_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	/* QEMU loads an x86-64 ELF only through these fields, as a flat image. */
	.long multiboot_header  /* header_addr */
	.long __image_start     /* load_addr */
	.long __load_end        /* load_end_addr */
	.long __bss_end         /* bss_end_addr */
	.long multiboot_entry   /* entry_addr */

	.section .text.boot, "ax"
	.code32
	.globl multiboot_entry
multiboot_entry:
	cli
	cld
	movl $boot_stack_top, %esp
	movl %eax, %edi                 /* survives until the 64-bit call */
	movl %ebx, %esi

	/* Long mode needs CPUID leaf 0x80000001 EDX bit 29. */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc no_long_mode

	/* PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 512 x 2 MiB. */
	movl $boot_pdpt, %eax
	orl $0x3, %eax
	movl %eax, boot_pml4
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $12, %eax
	addl $boot_pd, %eax
	orl $0x3, %eax
	movl %eax, boot_pdpt(, %ecx, 8)
	incl %ecx
	cmpl $4, %ecx
	jne 1b
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax                 /* present, writable, 2 MiB */
	movl %ecx, %edx
	shrl $11, %edx                  /* bits 32+ of the address: ecx / 2048 */
	movl %eax, boot_pd(, %ecx, 8)
	movl %edx, boot_pd + 4(, %ecx, 8)
	incl %ecx
	cmpl $2048, %ecx
	jne 2b

	movl %cr4, %eax
	orl $((1 << 5) | (1 << 9) | (1 << 10)), %eax  /* PAE, OSFXSR, OSXMMEXCPT */
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx          /* EFER.LME */
	rdmsr
	orl $(1 << 8), %eax
	wrmsr
	movl %cr0, %eax
	andl $~(1 << 2), %eax           /* EM off: SSE instructions allowed */
	orl $((1 << 31) | (1 << 1) | 1), %eax  /* PG, MP, PE */
	movl %eax, %cr0
	lgdt boot_gdt_pointer
	ljmp $0x08, $long_mode

no_long_mode:
	/* Say why on COM1 (no UART set-up: the firmware's state will do), then stop. */
	movl $no_long_mode_msg, %esi
3:	lodsb
	testb %al, %al
	jz 4f
	movw $COM1, %dx
	outb %al, %dx
	jmp 3b
4:	cli
	hlt
	jmp 4b

	.code64
long_mode:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorw %ax, %ax
	movw %ax, %fs
	movw %ax, %gs
	movq $boot_stack_top, %rsp
	xorl %ebp, %ebp                 /* ends backtraces */
	/* edi = magic, esi = info, as the ABI wants them for multiboot_main */
	call multiboot_main
5:	cli
	hlt
	jmp 5b

	.section .rodata
no_long_mode_msg:
	.asciz "hvrt: this CPU has no 64-bit long mode; cannot start\r\n"
	.p2align 3
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff        /* 0x10: data */
boot_gdt_pointer:
	.word boot_gdt_pointer - boot_gdt - 1
	.long boot_gdt

	.section .bss
	.p2align 12
boot_pml4:
	.skip 4096
boot_pdpt:
	.skip 4096
boot_pd:
	.skip 4 * 4096
	.p2align 12
boot_stack_guard:                  /* left unmapped by hvrt_start: an overflow faults */
	.skip 4096
	.globl boot_stack_bottom, boot_stack_top
boot_stack_bottom:
	.skip BOOT_STACK_SIZE
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
