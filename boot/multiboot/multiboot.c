/*
 * Multiboot entry, C side: translate the loader's information, then start.
 */
#include <stdint.h>

#include "arch/x86_64/physmem.h"
#include "arch/x86_64/tsc.h"
#include "boot/bootinfo.h"
#include "boot/start.h"

extern char __image_start[], __bss_end[];
extern char boot_stack_bottom[], boot_stack_top[];

void multiboot_main(uint32_t magic, uint32_t info);

/* In .bss: the multiboot image is loaded at a fixed address and its bss costs nothing on disk. */
static struct hvrt_boot_info boot_info;

/* Called from entry.S in long mode with the loader's EAX and EBX. */
void multiboot_main(uint32_t magic, uint32_t info)
{
	struct hvrt_boot_info *bi = &boot_info;

	tsc_mark_start();
	boot_console_init(HVRT_BOOT_MULTIBOOT);
	int err = bootinfo_parse_multiboot(bi, magic, info, phys_identity_map, NULL);
	if (err)
		boot_fail("multiboot information", err);
	bi->image_base = (uint64_t)(uintptr_t)__image_start;
	bi->image_end = (uint64_t)(uintptr_t)__bss_end;

	/* The raw map is re-read from the loader's memory, untouched until hvrt_start allocates. */
	struct boot_raw_map raw = { 0 };
	const uint32_t *mbi = phys_identity_map(NULL, info, 52);
	if (mbi) {
		raw.size = mbi[11];
		raw.data = phys_identity_map(NULL, mbi[12], raw.size);
	}
	hvrt_start(bi, &raw, (uint64_t)(uintptr_t)boot_stack_bottom, (uint64_t)(uintptr_t)boot_stack_top);
}
