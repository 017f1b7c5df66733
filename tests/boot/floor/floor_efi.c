/*
 * Boot-time floor for Gen2: the smallest UEFI application that prints one
 * line on COM1 and leaves QEMU through isa-debug-exit. hvrt's boot time to
 * main() is measured against this (make bench).
 */
#include <efi.h>

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st);

static void outb(unsigned short port, unsigned char v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

static unsigned char inb(unsigned short port)
{
	unsigned char v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st)
{
	static const char line[] = "floor\r\n";

	(void)image;
	(void)st;
	for (const char *p = line; *p; p++) {
		while (!(inb(0x3f8 + 5) & 0x20))
			;
		outb(0x3f8, (unsigned char)*p);
	}
	outb(0xf4, 0);
	return EFI_SUCCESS;
}
