/*
 * Identity-mapped page tables.
 *
 * 2 MiB pages wherever a 2 MiB block has a single cache type, 4 KiB pages in
 * the few blocks where RAM and MMIO meet (the first megabyte, the edges of
 * holes). The firmware's tables are abandoned: on UEFI they live in
 * boot-services memory, which hvrt reuses.
 */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"

#define PTE_PRESENT (1ull << 0)
#define PTE_WRITE (1ull << 1)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_LARGE (1ull << 7)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

#define SIZE_2M (2ull << 20)
#define SIZE_4G (4ull << 30)

#define CR4_LA57 (1ull << 12)

/* Cache kinds as bits, so a range covering several is recognisably mixed. */
enum cache_kind { CACHE_NONE = 0, CACHE_WB = 1, CACHE_UC = 2, CACHE_WC = 4 };

/*
 * PAT entry 1 is write-through at power-on; hvrt makes it write-combining for
 * the framebuffer (PWT alone selects it). Entries 0 (WB) and 3 (UC) stay.
 */
#define PAT_VALUE 0x0007040600070106ull

/* RAM of every kind is cacheable; MMIO, reserved space and holes are not. */
static enum cache_kind region_cache(uint32_t type)
{
	return type == HVRT_MEM_MMIO || type == HVRT_MEM_RESERVED ? CACHE_UC : CACHE_WB;
}

static int single_kind(unsigned kinds)
{
	return kinds == CACHE_WB || kinds == CACHE_UC || kinds == CACHE_WC;
}

/*
 * The cache kinds in [lo, hi) as a bit set; one bit when uniform. Space the
 * map does not describe counts as UC; the write-combining range overrides.
 */
static unsigned range_cache(const struct hvrt_boot_info *bi, const struct paging_layout *layout, uint64_t lo,
			    uint64_t hi)
{
	unsigned kind = CACHE_NONE;
	uint64_t covered = 0;

	if (layout->wc_size) {
		uint64_t a = layout->wc_base > lo ? layout->wc_base : lo;
		uint64_t b = layout->wc_base + layout->wc_size < hi ? layout->wc_base + layout->wc_size : hi;
		if (a < b) {
			if (a == lo && b == hi)
				return CACHE_WC;
			kind |= CACHE_WC;
		}
	}

	for (unsigned i = 0; i < bi->memmap_count; i++) {
		const struct hvrt_mem_region *r = &bi->memmap[i];
		uint64_t a = r->base > lo ? r->base : lo;
		uint64_t b = r->base + r->length < hi ? r->base + r->length : hi;
		if (a >= b)
			continue;
		covered += b - a;
		kind |= region_cache(r->type);
	}
	if (covered < hi - lo)
		kind |= CACHE_UC;
	return kind;
}

struct paging_ctx {
	struct pagealloc *pa;
	const struct paging_layout *layout;
	uint64_t *pml4;
};

static uint64_t *new_table(struct paging_ctx *c)
{
	uint64_t page = pagealloc_alloc(c->pa, 1);

	/* Until the new tables are loaded only the first 4 GiB are sure to be mapped. */
	if (!page || page >= SIZE_4G)
		return NULL;
	memset((void *)(uintptr_t)page, 0, PAGE_SIZE);
	return (uint64_t *)(uintptr_t)page;
}

static uint64_t *next_level(struct paging_ctx *c, uint64_t *table, unsigned index)
{
	if (!(table[index] & PTE_PRESENT)) {
		uint64_t *t = new_table(c);
		if (!t)
			return NULL;
		table[index] = (uint64_t)(uintptr_t)t | PTE_PRESENT | PTE_WRITE;
	}
	return (uint64_t *)(uintptr_t)(table[index] & PTE_ADDR_MASK);
}

/*
 * A 4 KiB page may still straddle kinds (a framebuffer whose size is not a
 * whole number of pages, RAM ending mid-page): it takes the most restrictive
 * one present, never write-back by default.
 */
static uint64_t cache_bits(unsigned kinds)
{
	if (kinds & CACHE_WC)
		return PTE_PWT; /* PAT entry 1: WC (PAT_VALUE) */
	if (kinds & CACHE_UC)
		return PTE_PCD | PTE_PWT; /* PAT entry 3: UC */
	return 0;
}

static int block_has_hole(const struct paging_layout *layout, uint64_t addr)
{
	for (unsigned i = 0; i < layout->nholes; i++)
		if (layout->holes[i] >= addr && layout->holes[i] < addr + SIZE_2M)
			return 1;
	return 0;
}

static int is_hole(const struct paging_layout *layout, uint64_t page)
{
	for (unsigned i = 0; i < layout->nholes; i++)
		if (layout->holes[i] == page)
			return 1;
	return 0;
}

static int map_block(struct paging_ctx *c, const struct hvrt_boot_info *bi, uint64_t addr)
{
	uint64_t *pdpt = next_level(c, c->pml4, (addr >> 39) & 511);
	uint64_t *pd = pdpt ? next_level(c, pdpt, (addr >> 30) & 511) : NULL;
	if (!pd)
		return -ENOMEM;

	unsigned pdi = (addr >> 21) & 511;
	/* Neighbouring regions share blocks; the first visit classified the whole block. */
	if (pd[pdi] & PTE_PRESENT)
		return 0;
	/* Blocks with a hole (page 0: NULL faults; stack guards) always get small pages. */
	unsigned kind = range_cache(bi, c->layout, addr, addr + SIZE_2M);
	if (single_kind(kind) && !block_has_hole(c->layout, addr)) {
		pd[pdi] = addr | PTE_PRESENT | PTE_WRITE | PTE_LARGE | cache_bits(kind);
		return 0;
	}
	uint64_t *pt = next_level(c, pd, pdi);
	if (!pt)
		return -ENOMEM;
	for (unsigned i = 0; i < 512; i++) {
		uint64_t page = addr + (uint64_t)i * PAGE_SIZE;
		pt[i] = is_hole(c->layout, page) ? 0
			: page | PTE_PRESENT | PTE_WRITE | cache_bits(range_cache(bi, c->layout, page, page + PAGE_SIZE));
	}
	return 0;
}

static int map_range(struct paging_ctx *c, const struct hvrt_boot_info *bi, uint64_t lo, uint64_t hi)
{
	for (uint64_t addr = lo & ~(SIZE_2M - 1); addr < hi; addr += SIZE_2M) {
		int err = map_block(c, bi, addr);
		if (err)
			return err;
	}
	return 0;
}

/*
 * paging_init - build and load the identity map
 * @bi: validated boot info (sorted memory map)
 * @pa: allocator for the tables
 *
 * @layout: holes to leave and the write-combining range
 *
 * All of the first 4 GiB is mapped (32-bit MMIO lives in its holes, often
 * undescribed). Above it only what the map calls RAM or MMIO: firmware also
 * reports reserved windows there, such as AMD's HyperTransport hole at
 * 1012 GiB, and mapping up to those would cost megabytes of tables.
 * Return: 0 or -ENOMEM; on error the firmware's tables stay loaded.
 */
int paging_init(const struct hvrt_boot_info *bi, struct pagealloc *pa, const struct paging_layout *layout)
{
	struct paging_ctx c = { .pa = pa, .layout = layout };
	uint64_t root;

	c.pml4 = new_table(&c);
	if (!c.pml4)
		return -ENOMEM;
	root = (uint64_t)(uintptr_t)c.pml4;
	/*
	 * Firmware that enabled 5-level paging left CR4.LA57 on, and it cannot be
	 * cleared in long mode: put the 4-level tree under entry 0 of a PML5.
	 */
	if (cpu_read_cr4() & CR4_LA57) {
		uint64_t *pml5 = new_table(&c);
		if (!pml5)
			return -ENOMEM;
		pml5[0] = root | PTE_PRESENT | PTE_WRITE;
		root = (uint64_t)(uintptr_t)pml5;
	}
	int err = map_range(&c, bi, 0, SIZE_4G);
	/* The framebuffer may sit in a 64-bit BAR the memory map does not list. */
	if (!err && layout->wc_size)
		err = map_range(&c, bi, layout->wc_base, layout->wc_base + layout->wc_size);
	for (unsigned i = 0; i < bi->memmap_count && !err; i++) {
		const struct hvrt_mem_region *r = &bi->memmap[i];
		uint64_t end = r->base + r->length;
		/* Identity mapping covers the lower half of 4-level paging, 128 TiB; beyond is nonsense. */
		if (end <= SIZE_4G || r->type == HVRT_MEM_RESERVED || end > (1ull << 47))
			continue;
		err = map_range(&c, bi, r->base > SIZE_4G ? r->base : SIZE_4G, end);
	}
	if (err)
		return err;
	cpu_wrmsr(MSR_IA32_PAT, PAT_VALUE);
	cpu_write_cr3(root);
	return 0;
}
