/* The common C entry both boot paths call. */
#ifndef HVRT_BOOT_START_H
#define HVRT_BOOT_START_H

#include <stddef.h>
#include <stdint.h>

#include <hvrt/boot.h>

/* The firmware's memory map as it came, for `hvrt.memmap=raw`. */
struct boot_raw_map {
	const void *data;
	size_t size;
	size_t desc_size; /* UEFI descriptor stride; 0 for a multiboot map */
};

/*
 * Brings up COM1 so that boot errors can be reported. Call first (after
 * tsc_mark_start), with the boot path (enum hvrt_boot_path).
 */
void boot_console_init(uint32_t path);

/*
 * Reports a boot failure and stops the VM with HVRT_EXIT_PANIC. When ACPI is
 * not set up yet it is looked for first, so the VM can still power off.
 */
__attribute__((noreturn)) void boot_fail(const char *what, int err);

/*
 * Brings the runtime up in order and runs the app's main(); never returns.
 * @bi:       boot info the entry filled (memory map, command line, tables)
 * @raw:      the firmware's own map, for diagnostics
 * @stack_lo, @stack_hi: the stack this runs on, for backtraces; the page
 *            below stack_lo must be spare: it becomes an unmapped guard page
 */
__attribute__((noreturn)) void hvrt_start(struct hvrt_boot_info *bi, const struct boot_raw_map *raw,
					  uint64_t stack_lo, uint64_t stack_hi);

#endif
