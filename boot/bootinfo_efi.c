/*
 * UEFI memory map to hvrt memory map.
 */
#include <errno.h>
#include <string.h>

#include <hvrt/log.h>

#include "boot/bootinfo.h"

/* The fields of EFI_MEMORY_DESCRIPTOR hvrt reads, at their UEFI offsets. */
struct efi_memory_descriptor {
	uint32_t type;
	uint32_t pad;
	uint64_t physical_start;
	uint64_t virtual_start;
	uint64_t number_of_pages;
	uint64_t attribute;
};
_Static_assert(sizeof(struct efi_memory_descriptor) == EFI_MEMORY_DESCRIPTOR_SIZE,
	       "EFI_MEMORY_DESCRIPTOR is 40 bytes");
_Static_assert(offsetof(struct efi_memory_descriptor, physical_start) == 8, "PhysicalStart");
_Static_assert(offsetof(struct efi_memory_descriptor, number_of_pages) == 24, "NumberOfPages");

#define EFI_PAGE_SHIFT 12

/*
 * After ExitBootServices boot-services memory is free, except that the
 * firmware's page tables, GDT and IDT are still loaded from it: it gets a type
 * of its own until hvrt has replaced them. Loader memory holds hvrt's image,
 * its stack and this very map; runtime services stay mapped because UEFI
 * ResetSystem is a power-off fallback.
 */
static uint32_t efi_type_to_hvrt(uint32_t efi_type)
{
	switch (efi_type) {
	case 1: /* EfiLoaderCode */
	case 2: /* EfiLoaderData */
		return HVRT_MEM_BOOT;
	case 3: /* EfiBootServicesCode */
	case 4: /* EfiBootServicesData */
		return HVRT_MEM_BOOT_SERVICES;
	case 7: /* EfiConventionalMemory */
		return HVRT_MEM_RAM;
	case 5: /* EfiRuntimeServicesCode */
	case 6: /* EfiRuntimeServicesData */
		return HVRT_MEM_FIRMWARE;
	case 9: /* EfiACPIReclaimMemory */
		return HVRT_MEM_ACPI_RECLAIM;
	case 10: /* EfiACPIMemoryNVS */
		return HVRT_MEM_ACPI_NVS;
	case 11: /* EfiMemoryMappedIO */
	case 12: /* EfiMemoryMappedIOPortSpace */
		return HVRT_MEM_MMIO;
	default: /* reserved, unusable, PAL code, persistent, unaccepted, unknown */
		return HVRT_MEM_RESERVED;
	}
}

/*
 * bootinfo_parse_efi_map - translate the UEFI memory map
 * @bi:        boot info whose memmap is filled (appended to)
 * @map:       the buffer GetMemoryMap filled
 * @map_size:  bytes it returned
 * @desc_size: its DescriptorSize: the stride, at least 40 and a multiple of 8
 * Return: 0; -EINVAL for a corrupt map; -ENOENT for an empty one or one
 * without RAM; -E2BIG for one with too many regions. The reason is logged.
 */
int bootinfo_parse_efi_map(struct hvrt_boot_info *bi, const void *map, size_t map_size,
			   size_t desc_size)
{
	if (!map || map_size == 0) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "the firmware returned no memory map");
		return -ENOENT;
	}
	if (desc_size < EFI_MEMORY_DESCRIPTOR_SIZE || desc_size % 8 != 0 || desc_size > 4096) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "corrupt UEFI memory map: descriptor size %zu", desc_size);
		return -EINVAL;
	}
	if (map_size % desc_size != 0) {
		hvrt_log(HVRT_LOG_ERROR, "boot",
			 "corrupt UEFI memory map: %zu bytes is not a whole number of %zu-byte descriptors",
			 map_size, desc_size);
		return -EINVAL;
	}

	const unsigned char *p = map;
	size_t count = map_size / desc_size;
	for (size_t i = 0; i < count; i++) {
		struct efi_memory_descriptor d;
		memcpy(&d, p + i * desc_size, sizeof(d));

		if (d.number_of_pages == 0)
			continue;
		uint64_t max_pages = (UINT64_MAX - d.physical_start) >> EFI_PAGE_SHIFT;
		if ((d.physical_start & 0xfff) != 0 || d.number_of_pages > max_pages) {
			hvrt_log(HVRT_LOG_ERROR, "boot",
				 "corrupt UEFI memory map: descriptor %zu at 0x%llx with %llu pages", i,
				 (unsigned long long)d.physical_start,
				 (unsigned long long)d.number_of_pages);
			return -EINVAL;
		}
		int err = memmap_add(bi, d.physical_start, d.number_of_pages << EFI_PAGE_SHIFT,
				     efi_type_to_hvrt(d.type));
		if (err)
			return err;
	}
	int err = memmap_normalize(bi);
	if (err) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "memory map has more than %u regions", HVRT_MEMMAP_MAX);
		return err;
	}
	if (memmap_bytes(bi, HVRT_MEM_RAM) + memmap_bytes(bi, HVRT_MEM_BOOT_SERVICES) == 0) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "the UEFI memory map describes no free RAM");
		return -ENOENT;
	}
	return 0;
}
