/*
 * Multiboot (v1) information to hvrt boot info.
 */
#include <errno.h>
#include <string.h>

#include <hvrt/log.h>

#include "boot/bootinfo.h"

/* The multiboot information fields hvrt reads (Multiboot Specification 0.6.96, section 3.3). */
struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;
	uint32_t mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
	uint32_t mmap_addr;
};
_Static_assert(sizeof(struct multiboot_info) == 52, "multiboot info up to mmap_addr");
_Static_assert(offsetof(struct multiboot_info, mmap_length) == 44, "mmap_length");

#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP (1u << 6)

/* One memory map entry; `size` counts the bytes after itself. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t addr;
	uint64_t len;
	uint32_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "multiboot mmap entry");

#define MB_MMAP_ENTRY_MIN 20 /* the size a 24-byte entry declares */
#define MB_MMAP_MAX_BYTES (64u * 1024)

static uint32_t multiboot_type_to_hvrt(uint32_t type)
{
	switch (type) {
	case 1:
		return HVRT_MEM_RAM;
	case 3:
		return HVRT_MEM_ACPI_RECLAIM;
	case 4:
		return HVRT_MEM_ACPI_NVS;
	default: /* 2 reserved, 5 bad RAM, anything newer */
		return HVRT_MEM_RESERVED;
	}
}

static int parse_mmap(struct hvrt_boot_info *bi, const unsigned char *mmap, uint32_t length)
{
	uint32_t off = 0;
	unsigned index = 0;

	while (off < length) {
		struct multiboot_mmap_entry e;
		uint32_t size;

		if (length - off < sizeof(size)) {
			hvrt_log(HVRT_LOG_ERROR, "boot", "corrupt multiboot memory map: %u stray bytes at its end",
				 length - off);
			return -EINVAL;
		}
		memcpy(&size, mmap + off, sizeof(size));
		if (size < MB_MMAP_ENTRY_MIN || size > length - off - sizeof(size)) {
			hvrt_log(HVRT_LOG_ERROR, "boot",
				 "corrupt multiboot memory map: entry %u declares %u bytes", index, size);
			return -EINVAL;
		}
		memcpy(&e, mmap + off, sizeof(e));
		off += (uint32_t)sizeof(size) + size;
		index++;
		if (e.len == 0)
			continue;
		if (e.addr + e.len < e.addr) {
			hvrt_log(HVRT_LOG_ERROR, "boot",
				 "corrupt multiboot memory map: entry %u at 0x%llx of 0x%llx bytes wraps around",
				 index - 1, (unsigned long long)e.addr, (unsigned long long)e.len);
			return -EINVAL;
		}
		int err = memmap_add(bi, e.addr, e.len, multiboot_type_to_hvrt(e.type));
		if (err)
			return err;
	}
	return 0;
}

/*
 * bootinfo_parse_multiboot - take what a multiboot loader handed over
 * @bi:       boot info to fill: memmap and cmdline
 * @magic:    EAX at entry; must be MULTIBOOT_BOOTLOADER_MAGIC
 * @mbi_addr: EBX at entry: physical address of the information structure
 * @map:      physical memory accessor (identity in the real build)
 * @ctx:      passed to map
 * Return: 0 or a negative errno, with the reason logged.
 */
int bootinfo_parse_multiboot(struct hvrt_boot_info *bi, uint32_t magic, uint64_t mbi_addr,
			     phys_map_fn map, void *ctx)
{
	struct multiboot_info mbi;

	if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "not started by a multiboot loader (magic 0x%x)", magic);
		return -EINVAL;
	}
	const void *p = map(ctx, mbi_addr, sizeof(mbi));
	if (!p) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "multiboot information at 0x%llx is unreadable",
			 (unsigned long long)mbi_addr);
		return -EINVAL;
	}
	memcpy(&mbi, p, sizeof(mbi));

	if (!(mbi.flags & MB_INFO_MMAP)) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "the boot loader passed no memory map (multiboot flags 0x%x)",
			 mbi.flags);
		return -ENOENT;
	}
	if (mbi.mmap_length == 0 || mbi.mmap_length > MB_MMAP_MAX_BYTES) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "corrupt multiboot memory map: length %u", mbi.mmap_length);
		return -EINVAL;
	}
	const unsigned char *mmap = map(ctx, mbi.mmap_addr, mbi.mmap_length);
	if (!mmap) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "multiboot memory map at 0x%x is unreadable", mbi.mmap_addr);
		return -EINVAL;
	}
	int err = parse_mmap(bi, mmap, mbi.mmap_length);
	if (err)
		return err;
	err = memmap_normalize(bi);
	if (err) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "memory map has more than %u regions", HVRT_MEMMAP_MAX);
		return err;
	}
	if (memmap_bytes(bi, HVRT_MEM_RAM) == 0) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "the multiboot memory map describes no RAM");
		return -ENOENT;
	}

	bi->cmdline[0] = '\0';
	if (mbi.flags & MB_INFO_CMDLINE) {
		/* Read byte by byte: the string may end right at the end of mapped memory. */
		char line[HVRT_CMDLINE_MAX + 1];
		size_t n = 0;
		for (; n < sizeof(line); n++) {
			const char *c = map(ctx, (uint64_t)mbi.cmdline + n, 1);
			if (!c) {
				hvrt_log(HVRT_LOG_ERROR, "boot", "multiboot command line at 0x%x is unreadable",
					 mbi.cmdline);
				return -EINVAL;
			}
			line[n] = *c;
			if (*c == '\0')
				break;
		}
		err = bootinfo_set_cmdline(bi, line, n < sizeof(line) ? n + 1 : n);
		if (err)
			return err;
	}
	bi->path = HVRT_BOOT_MULTIBOOT;
	return 0;
}
