/*
 * What the boot path handed over: memory map, command line, firmware tables.
 *
 * Both entries (UEFI through GNU-EFI, and multiboot from GRUB or QEMU -kernel)
 * fill one struct hvrt_boot_info; the runtime validates it before anything
 * else runs. An application reads it through hvrt_boot_info().
 */
#ifndef HVRT_BOOT_H
#define HVRT_BOOT_H

#include <stddef.h>
#include <stdint.h>

/* Most memory-map regions kept after merging; a firmware map with more is refused. */
#define HVRT_MEMMAP_MAX 256
/* Longest command line in bytes, without the terminating NUL. */
#define HVRT_CMDLINE_MAX 1023
/* Most arguments main() can receive, argv[0] included. */
#define HVRT_ARGC_MAX 64

enum hvrt_boot_path {
	HVRT_BOOT_UNKNOWN = 0,
	HVRT_BOOT_UEFI,      /* Gen2: UEFI application (GNU-EFI) */
	HVRT_BOOT_MULTIBOOT, /* Gen1: multiboot v1 from GRUB or QEMU -kernel */
};

/*
 * Region types, from most to least usable. When firmware reports overlapping
 * regions the higher (more restrictive) type wins.
 */
enum hvrt_mem_type {
	HVRT_MEM_RAM = 1,           /* free RAM */
	HVRT_MEM_BOOT_SERVICES = 2, /* UEFI boot-services memory: RAM once hvrt runs on its own tables */
	HVRT_MEM_ACPI_RECLAIM = 3,  /* ACPI tables; RAM, kept intact */
	HVRT_MEM_BOOT = 4,          /* RAM in use by hvrt's image and boot data */
	HVRT_MEM_FIRMWARE = 5,      /* UEFI runtime code and data */
	HVRT_MEM_ACPI_NVS = 6,      /* firmware-reserved RAM */
	HVRT_MEM_RESERVED = 7,      /* reserved, unusable or unknown */
	HVRT_MEM_MMIO = 8,          /* device memory: mapped uncached */
};

struct hvrt_mem_region {
	uint64_t base;   /* physical address (equal to the virtual one) */
	uint64_t length; /* bytes, never 0 */
	uint32_t type;   /* enum hvrt_mem_type */
	uint32_t pad;
};

struct hvrt_framebuffer {
	uint64_t base;    /* 0 when there is none */
	uint64_t size;    /* bytes */
	uint32_t width;   /* pixels */
	uint32_t height;  /* pixels */
	uint32_t stride;  /* pixels per scan line */
	uint32_t format;  /* 0: 32-bit BGRx, 1: 32-bit RGBx */
};

struct hvrt_boot_info {
	uint32_t path; /* enum hvrt_boot_path */
	uint32_t memmap_count;
	struct hvrt_mem_region memmap[HVRT_MEMMAP_MAX];
	char cmdline[HVRT_CMDLINE_MAX + 1];
	uint64_t acpi_rsdp;     /* physical address of the RSDP, 0 if unknown */
	uint64_t image_base;    /* first byte of the loaded hvrt image */
	uint64_t image_end;     /* one past its last byte (bss included) */
	uint64_t efi_system_table; /* UEFI system table, 0 on multiboot */
	struct hvrt_framebuffer fb;
};

/* The boot information the runtime validated at start-up. */
const struct hvrt_boot_info *hvrt_boot_info(void);

/* Human name of a region type ("RAM", "MMIO", ...). */
const char *hvrt_mem_type_name(uint32_t type);

/* Human name of a boot path ("UEFI", "multiboot", ...). */
const char *hvrt_boot_path_name(uint32_t path);

#endif
