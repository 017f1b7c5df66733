/*
 * A PE base-relocation block with no relocations in it.
 *
 * UEFI firmware loads an image that has no .reloc section only at its
 * preferred base (0 for GNU-EFI images), which fails with "Invalid
 * Parameter". GNU-EFI's crt0 carries such a block, but --gc-sections drops
 * it because nothing refers to it; efi_main refers to this one. GNU-EFI's own
 * _relocate applies the ELF relocations, so the block stays empty:
 * page RVA 0, block size 12, two IMAGE_REL_BASED_ABSOLUTE (padding) entries.
 */
	.section .reloc, "a"
	.globl efi_reloc_block
	.p2align 2
efi_reloc_block:
	.long 0
	.long 12
	.word 0, 0

	.section .note.GNU-stack, "", @progbits
