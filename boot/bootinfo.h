/*
 * Building and validating struct hvrt_boot_info.
 *
 * The boot entries translate what the firmware gave them into the common
 * struct through these functions; everything here is plain logic over bytes,
 * so the unit tests run it on captured firmware data.
 */
#ifndef HVRT_BOOT_BOOTINFO_H
#define HVRT_BOOT_BOOTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hvrt/boot.h>

#include "arch/x86_64/physmem.h"

/* Size of a UEFI memory descriptor as UEFI 2.x defines it (firmware may use a larger stride). */
#define EFI_MEMORY_DESCRIPTOR_SIZE 40
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u

/* Adds a raw region; merges with the previous one when contiguous and alike. -EINVAL, -E2BIG. */
int memmap_add(struct hvrt_boot_info *bi, uint64_t base, uint64_t length, uint32_t type);

/*
 * Sorts the map, resolves overlaps (the more restrictive type wins) and merges
 * neighbours. Returns 0, or -E2BIG when the result has too many regions.
 */
int memmap_normalize(struct hvrt_boot_info *bi);

/*
 * Marks [base, base+length) as type where that is more restrictive than what
 * is there (hvrt's image over RAM, say), then normalizes.
 */
int memmap_mark(struct hvrt_boot_info *bi, uint64_t base, uint64_t length, uint32_t type);

/* Turns HVRT_MEM_BOOT_SERVICES regions into RAM and normalizes. */
int memmap_reclaim_boot_services(struct hvrt_boot_info *bi);

/* True when [base, base+length) lies wholly inside one region of the given type. */
bool memmap_covers(const struct hvrt_boot_info *bi, uint64_t base, uint64_t length, uint32_t type);

/* Total bytes of regions of the given type. */
uint64_t memmap_bytes(const struct hvrt_boot_info *bi, uint32_t type);

/*
 * Translates a UEFI memory map (as GetMemoryMap returned it) into bi->memmap.
 * Returns 0, -EINVAL (corrupt: message logged), -ENOENT (empty or no RAM), -E2BIG.
 */
int bootinfo_parse_efi_map(struct hvrt_boot_info *bi, const void *map, size_t map_size,
			   size_t desc_size);

/*
 * Fills bi from a multiboot v1 information structure at physical mbi_addr,
 * read through map. Takes the memory map and command line. Returns 0 or a
 * negative errno with the reason logged.
 */
int bootinfo_parse_multiboot(struct hvrt_boot_info *bi, uint32_t magic, uint64_t mbi_addr,
			     phys_map_fn map, void *ctx);

/*
 * Copies a NUL-terminated command line of at most HVRT_CMDLINE_MAX bytes,
 * reading at most avail bytes of src. -E2BIG when it is longer.
 */
int bootinfo_set_cmdline(struct hvrt_boot_info *bi, const char *src, size_t avail);

#endif
