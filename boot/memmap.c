/*
 * Memory map normalization: firmware maps come unsorted, overlapping and
 * fragmented; everything after boot wants sorted, disjoint, merged regions.
 */
#include <errno.h>
#include <string.h>

#include <hvrt/log.h>

#include "boot/bootinfo.h"

static int type_valid(uint32_t type)
{
	return type >= HVRT_MEM_RAM && type <= HVRT_MEM_MMIO;
}

int memmap_add(struct hvrt_boot_info *bi, uint64_t base, uint64_t length, uint32_t type)
{
	if (length == 0 || !type_valid(type))
		return -EINVAL;
	if (base + length < base) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "memory region at 0x%llx of 0x%llx bytes wraps around",
			 (unsigned long long)base, (unsigned long long)length);
		return -EINVAL;
	}
	if (bi->memmap_count) {
		struct hvrt_mem_region *last = &bi->memmap[bi->memmap_count - 1];
		if (last->type == type && last->base + last->length == base) {
			last->length += length;
			return 0;
		}
	}
	if (bi->memmap_count == HVRT_MEMMAP_MAX) {
		/* Firmware maps are mostly in order; compacting usually makes room. */
		if (memmap_normalize(bi) != 0 || bi->memmap_count == HVRT_MEMMAP_MAX) {
			hvrt_log(HVRT_LOG_ERROR, "boot", "memory map has more than %u regions",
				 HVRT_MEMMAP_MAX);
			return -E2BIG;
		}
	}
	bi->memmap[bi->memmap_count++] = (struct hvrt_mem_region){
		.base = base, .length = length, .type = type,
	};
	return 0;
}

static void sort_u64(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		uint64_t x = v[i];
		unsigned j = i;
		while (j > 0 && v[j - 1] > x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/*
 * memmap_normalize - sort, de-overlap and merge bi->memmap in place
 *
 * Cuts the address space at every region boundary and gives each piece the
 * most restrictive type covering it, so a firmware that reports RAM over an
 * MMIO hole never gets that hole handed out as memory.
 * Return: 0, or -E2BIG when the pieces do not fit in HVRT_MEMMAP_MAX.
 */
int memmap_normalize(struct hvrt_boot_info *bi)
{
	uint64_t cuts[2 * HVRT_MEMMAP_MAX];
	struct hvrt_mem_region out[HVRT_MEMMAP_MAX];
	unsigned ncuts = 0, nout = 0;

	for (unsigned i = 0; i < bi->memmap_count; i++) {
		cuts[ncuts++] = bi->memmap[i].base;
		cuts[ncuts++] = bi->memmap[i].base + bi->memmap[i].length;
	}
	sort_u64(cuts, ncuts);

	for (unsigned c = 0; c + 1 < ncuts; c++) {
		uint64_t lo = cuts[c], hi = cuts[c + 1];
		uint32_t type = 0;
		if (lo == hi)
			continue;
		for (unsigned i = 0; i < bi->memmap_count; i++) {
			const struct hvrt_mem_region *r = &bi->memmap[i];
			if (r->base <= lo && r->base + r->length >= hi && r->type > type)
				type = r->type;
		}
		if (type == 0)
			continue; /* a hole nobody described */
		if (nout && out[nout - 1].type == type && out[nout - 1].base + out[nout - 1].length == lo) {
			out[nout - 1].length += hi - lo;
			continue;
		}
		if (nout == HVRT_MEMMAP_MAX)
			return -E2BIG;
		out[nout++] = (struct hvrt_mem_region){ .base = lo, .length = hi - lo, .type = type };
	}
	memcpy(bi->memmap, out, nout * sizeof(out[0]));
	bi->memmap_count = nout;
	return 0;
}

int memmap_mark(struct hvrt_boot_info *bi, uint64_t base, uint64_t length, uint32_t type)
{
	int err = memmap_add(bi, base, length, type);
	if (err)
		return err;
	return memmap_normalize(bi);
}

/*
 * memmap_reclaim_boot_services - UEFI boot-services memory becomes RAM
 *
 * Call once nothing of the firmware's is in use any more: its page tables,
 * GDT and IDT live in that memory until hvrt has loaded its own.
 * Return: 0 or -E2BIG (cannot happen: merging only shrinks the map).
 */
int memmap_reclaim_boot_services(struct hvrt_boot_info *bi)
{
	for (unsigned i = 0; i < bi->memmap_count; i++)
		if (bi->memmap[i].type == HVRT_MEM_BOOT_SERVICES)
			bi->memmap[i].type = HVRT_MEM_RAM;
	return memmap_normalize(bi);
}

bool memmap_covers(const struct hvrt_boot_info *bi, uint64_t base, uint64_t length, uint32_t type)
{
	if (length == 0 || base + length < base)
		return false;
	/* The map is normalized: neighbours of one type are merged, so one region must hold it all. */
	for (unsigned i = 0; i < bi->memmap_count; i++) {
		const struct hvrt_mem_region *r = &bi->memmap[i];
		if (r->type == type && r->base <= base && base + length <= r->base + r->length)
			return true;
	}
	return false;
}

uint64_t memmap_bytes(const struct hvrt_boot_info *bi, uint32_t type)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < bi->memmap_count; i++)
		if (bi->memmap[i].type == type)
			total += bi->memmap[i].length;
	return total;
}

const char *hvrt_mem_type_name(uint32_t type)
{
	static const char *const names[] = {
		[HVRT_MEM_RAM] = "RAM",
		[HVRT_MEM_BOOT_SERVICES] = "boot services",
		[HVRT_MEM_ACPI_RECLAIM] = "ACPI",
		[HVRT_MEM_BOOT] = "hvrt",
		[HVRT_MEM_FIRMWARE] = "firmware",
		[HVRT_MEM_ACPI_NVS] = "ACPI NVS",
		[HVRT_MEM_RESERVED] = "reserved",
		[HVRT_MEM_MMIO] = "MMIO",
	};
	return type_valid(type) ? names[type] : "?";
}

const char *hvrt_boot_path_name(uint32_t path)
{
	switch (path) {
	case HVRT_BOOT_UEFI:
		return "UEFI";
	case HVRT_BOOT_MULTIBOOT:
		return "multiboot";
	default:
		return "unknown";
	}
}
