/*
 * Unit tests for arch/x86_64/paging.c: the identity map hvrt runs on.
 *
 * paging_init writes its tables into pages it takes from the page allocator,
 * and refuses pages at or above 4 GiB. The tests give the allocator real host
 * memory below 4 GiB (mmap with MAP_32BIT), so the "physical" addresses in the
 * tables are host addresses and the test can walk the tree the way the MMU
 * would: from the root captured at the CR3 write, through PML5 (when CR4.LA57
 * is set), PML4, PDPT, PD (2 MiB pages) and PT. The IA32_PAT write is captured
 * too, and a leaf's cache type is read through the PAT it selects.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MAP_32BIT */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/pagealloc.h"
#include "arch/x86_64/paging.h"
#include "tests/hostsim/cpu_sim.h"

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

#define P_PRESENT (1ull << 0)
#define P_WRITE (1ull << 1)
#define P_PWT (1ull << 3)
#define P_PCD (1ull << 4)
#define P_PS (1ull << 7)
#define P_PAT_4K (1ull << 7)
#define P_PAT_LARGE (1ull << 12)
#define ADDR_MASK 0x000ffffffffff000ull

#define CR4_LA57 (1ull << 12)

/* PAT entry i is byte i: 0 WB (06), 1 WC (01, was WT 04), 2 UC- (07), 3 UC (00), 4-7 the power-on 06 04 07 00. */
#define EXPECTED_PAT 0x0007040600070106ull

enum { MT_UC = 0x00, MT_WC = 0x01, MT_WT = 0x04, MT_WP = 0x05, MT_WB = 0x06, MT_UCMINUS = 0x07 };

/* ---- the simulated machine ---- */

#define ARENA_PAGES 64u

static struct {
	void *arena;          /* host memory below 4 GiB the allocator hands out */
	size_t arena_len;
	struct pagealloc pa;
	uint64_t cr3;         /* last root written */
	unsigned cr3_writes;
	uint64_t pat;         /* last IA32_PAT written */
	unsigned pat_writes;
	struct hvrt_boot_info bi;
	struct paging_layout layout;
} m;

static void on_write_cr3(void *ctx, uint64_t value)
{
	(void)ctx;
	m.cr3 = value;
	m.cr3_writes++;
}

static int on_wrmsr(void *ctx, uint32_t msr, uint64_t value)
{
	(void)ctx;
	if (msr != MSR_IA32_PAT)
		return -1; /* #GP: paging_init writes no other MSR */
	m.pat = value;
	m.pat_writes++;
	return 0;
}

static void install_cpu(uint64_t cr4)
{
	struct cpu_sim_ops ops = { .wrmsr = on_wrmsr, .write_cr3 = on_write_cr3, .cr4 = cr4 };
	cpu_sim_install(&ops);
}

/* Maps the arena and gives pages [0, npages) of it to a fresh allocator. */
static void give_pages(unsigned npages)
{
	pagealloc_init(&m.pa);
	if (npages)
		assert_int_equal(pagealloc_add(&m.pa, (uint64_t)(uintptr_t)m.arena, (uint64_t)npages * PAGE_SIZE), 0);
}

static int setup(void **state)
{
	(void)state;
	memset(&m, 0, sizeof(m));
	m.arena_len = (size_t)ARENA_PAGES * PAGE_SIZE;
	m.arena = mmap(NULL, m.arena_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (m.arena == MAP_FAILED)
		return -1;
	/* The tables must lie below 4 GiB for paging_init to accept them. */
	if ((uint64_t)(uintptr_t)m.arena + m.arena_len > GiB(4))
		return -1;
	give_pages(ARENA_PAGES);
	install_cpu(0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cpu_sim_install(NULL);
	munmap(m.arena, m.arena_len);
	return 0;
}

static void add_region(uint64_t base, uint64_t length, uint32_t type)
{
	assert_true(m.bi.memmap_count < HVRT_MEMMAP_MAX);
	m.bi.memmap[m.bi.memmap_count++] = (struct hvrt_mem_region){ .base = base, .length = length, .type = type };
}

/* The map QEMU's multiboot path reports for a 128 MiB guest. */
static void qemu_map(void)
{
	add_region(0, 0x9fc00, HVRT_MEM_RAM);
	add_region(0x9fc00, 0x400, HVRT_MEM_RESERVED);
	add_region(0xf0000, 0x10000, HVRT_MEM_RESERVED);
	add_region(0x100000, 0x7fe0000 - 0x100000, HVRT_MEM_RAM);
	add_region(0x7fe0000, 0x20000, HVRT_MEM_RESERVED);
	add_region(0xfffc0000, 0x40000, HVRT_MEM_RESERVED);
	add_region(0xfd00000000, 0x300000000, HVRT_MEM_RESERVED); /* AMD HyperTransport hole */
}

static void set_holes1(uint64_t h0)
{
	m.layout.holes[0] = h0;
	m.layout.nholes = 1;
}

/* Runs paging_init and checks the success protocol: PAT once with the right value, then CR3 once. */
static void run_ok(void)
{
	uint64_t before = m.pa.free_pages;
	assert_int_equal(paging_init(&m.bi, &m.pa, &m.layout), 0);
	assert_int_equal(m.cr3_writes, 1);
	assert_int_equal(m.pat_writes, 1);
	assert_int_equal(m.pat, EXPECTED_PAT);
	/* The root is a page the allocator handed out. */
	assert_true(m.cr3 >= (uint64_t)(uintptr_t)m.arena && m.cr3 < (uint64_t)(uintptr_t)m.arena + m.arena_len);
	assert_int_equal(m.cr3 & (PAGE_SIZE - 1), 0);
	assert_true(before >= m.pa.free_pages);
}

/* ---- walking the tables ---- */

struct xlat {
	bool present;
	uint64_t size;     /* 4 KiB or 2 MiB */
	uint64_t phys;     /* translated address */
	uint64_t entry;    /* the leaf entry */
	unsigned pat_idx;  /* PAT<<2 | PCD<<1 | PWT */
};

static const uint64_t *table_at(uint64_t entry)
{
	uint64_t a = entry & ADDR_MASK;
	/* Every table must be a page the test gave the allocator: anything else is a wild pointer. */
	if (a < (uint64_t)(uintptr_t)m.arena || a >= (uint64_t)(uintptr_t)m.arena + m.arena_len)
		fail_msg("table entry 0x%llx points outside the allocator's pages", (unsigned long long)entry);
	return (const uint64_t *)(uintptr_t)a;
}

/* Walks root (levels 4 or 5) for vaddr the way the MMU would. */
static struct xlat translate(uint64_t root, unsigned levels, uint64_t vaddr)
{
	struct xlat x = { 0 };
	const uint64_t *t = table_at(root);
	uint64_t e;

	if (levels == 5) {
		e = t[(vaddr >> 48) & 511];
		if (!(e & P_PRESENT))
			return x;
		assert_true(e & P_WRITE);
		t = table_at(e);
	}
	e = t[(vaddr >> 39) & 511]; /* PML4 */
	if (!(e & P_PRESENT))
		return x;
	assert_true(e & P_WRITE);
	assert_false(e & P_PS);
	t = table_at(e);
	e = t[(vaddr >> 30) & 511]; /* PDPT */
	if (!(e & P_PRESENT))
		return x;
	assert_true(e & P_WRITE);
	if (e & P_PS)
		fail_msg("unexpected 1 GiB page for 0x%llx", (unsigned long long)vaddr);
	t = table_at(e);
	e = t[(vaddr >> 21) & 511]; /* PD */
	if (!(e & P_PRESENT))
		return x;
	if (e & P_PS) {
		x.present = true;
		x.size = MiB(2);
		x.entry = e;
		x.phys = (e & ADDR_MASK & ~(MiB(2) - 1)) | (vaddr & (MiB(2) - 1));
		x.pat_idx = ((e & P_PAT_LARGE) ? 4 : 0) | ((e & P_PCD) ? 2 : 0) | ((e & P_PWT) ? 1 : 0);
		return x;
	}
	t = table_at(e);
	e = t[(vaddr >> 12) & 511]; /* PT */
	if (!(e & P_PRESENT))
		return x;
	x.present = true;
	x.size = KiB(4);
	x.entry = e;
	x.phys = (e & ADDR_MASK) | (vaddr & (KiB(4) - 1));
	x.pat_idx = ((e & P_PAT_4K) ? 4 : 0) | ((e & P_PCD) ? 2 : 0) | ((e & P_PWT) ? 1 : 0);
	return x;
}

static unsigned levels(void)
{
	return (cpu_read_cr4() & CR4_LA57) ? 5 : 4;
}

/* The memory type the MMU would use: the PAT entry the leaf selects, read from the PAT paging_init wrote. */
static unsigned mem_type(const struct xlat *x)
{
	return (unsigned)(m.pat >> (8 * x->pat_idx)) & 0xff;
}

/* Asserts vaddr is identity-mapped with the given page size and memory type. */
#define expect_mapped(va, sz, mt) expect_mapped_at(__LINE__, (va), (sz), (mt))
static void expect_mapped_at(int line, uint64_t va, uint64_t size, unsigned type)
{
	struct xlat x = translate(m.cr3, levels(), va);
	if (!x.present)
		fail_msg("line %d: 0x%llx not mapped", line, (unsigned long long)va);
	if (x.phys != va)
		fail_msg("line %d: 0x%llx maps to 0x%llx", line, (unsigned long long)va, (unsigned long long)x.phys);
	if (x.size != size)
		fail_msg("line %d: 0x%llx in a 0x%llx page, expected 0x%llx", line, (unsigned long long)va,
			 (unsigned long long)x.size, (unsigned long long)size);
	if (mem_type(&x) != type)
		fail_msg("line %d: 0x%llx has memory type %u (entry 0x%llx), expected %u", line,
			 (unsigned long long)va, mem_type(&x), (unsigned long long)x.entry, type);
	if (!(x.entry & P_WRITE))
		fail_msg("line %d: 0x%llx read-only", line, (unsigned long long)va);
}

#define expect_unmapped(va) expect_unmapped_at(__LINE__, (va))
static void expect_unmapped_at(int line, uint64_t va)
{
	struct xlat x = translate(m.cr3, levels(), va);
	if (x.present)
		fail_msg("line %d: 0x%llx mapped (entry 0x%llx)", line, (unsigned long long)va,
			 (unsigned long long)x.entry);
}

static uint64_t leaf_entry(uint64_t va)
{
	struct xlat x = translate(m.cr3, levels(), va);
	assert_true(x.present);
	return x.entry;
}

/* ---- the QEMU-like map ---- */

/*
 * The landmarks of a QEMU guest: page 0 left out (the hole), low RAM WB in
 * 4 KiB pages (the first block mixes RAM, reserved and undescribed space),
 * the VGA hole and BIOS area UC, 2 MiB WB pages for plain RAM, 4 KiB pages in
 * the block where RAM ends at 0x7fe0000, UC 2 MiB pages for the LAPIC and the
 * PCI hole, and nothing for the reserved window at 1012 GiB. The leaf entries
 * are pinned bit for bit: present, writable, PS for 2 MiB, and PWT (WC) or
 * PCD|PWT (UC) only; no PAT bit, no user or NX bit.
 */
static void test_qemu_landmarks(void **state)
{
	(void)state;
	qemu_map();
	set_holes1(0);
	run_ok();

	expect_unmapped(0);
	expect_unmapped(0xfff);
	expect_mapped(0x1000, KiB(4), MT_WB);
	assert_int_equal(leaf_entry(0x1000), 0x1000 | P_PRESENT | P_WRITE);
	expect_mapped(0x9e000, KiB(4), MT_WB);
	expect_mapped(0xa0000, KiB(4), MT_UC); /* undescribed: VGA */
	assert_int_equal(leaf_entry(0xa0000), 0xa0000 | P_PRESENT | P_WRITE | P_PCD | P_PWT);
	expect_mapped(0xbf000, KiB(4), MT_UC);
	expect_mapped(0xf0000, KiB(4), MT_UC);  /* reserved: BIOS */
	expect_mapped(0xff000, KiB(4), MT_UC);
	expect_mapped(0x100000, KiB(4), MT_WB);
	expect_mapped(0x1ff000, KiB(4), MT_WB);
	expect_mapped(0x200000, MiB(2), MT_WB);
	assert_int_equal(leaf_entry(0x200000), 0x200000 | P_PRESENT | P_WRITE | P_PS);
	expect_mapped(0x3fffff, MiB(2), MT_WB);
	expect_mapped(0x7c00000, MiB(2), MT_WB);
	expect_mapped(0x7e00000, KiB(4), MT_WB);
	expect_mapped(0x7fdf000, KiB(4), MT_WB);
	expect_mapped(0x7fe0000, KiB(4), MT_UC);
	expect_mapped(0x7fff000, KiB(4), MT_UC);
	expect_mapped(0x8000000, MiB(2), MT_UC);
	expect_mapped(0xc0000000, MiB(2), MT_UC);
	expect_mapped(0xfec00000, MiB(2), MT_UC); /* IOAPIC */
	expect_mapped(0xfee00000, MiB(2), MT_UC); /* LAPIC */
	assert_int_equal(leaf_entry(0xfee00000), 0xfee00000 | P_PRESENT | P_WRITE | P_PS | P_PCD | P_PWT);
	expect_mapped(0xfffff000, MiB(2), MT_UC); /* reserved + undescribed: UC both, one 2 MiB page */
	expect_mapped(0xffffffff, MiB(2), MT_UC);

	/* Nothing above 4 GiB: the map has only a reserved window there. */
	expect_unmapped(GiB(4));
	expect_unmapped(0xfd00000000);
	expect_unmapped(0xffffe00000);
	const uint64_t *pml4 = table_at(m.cr3);
	for (unsigned i = 1; i < 512; i++)
		assert_int_equal(pml4[i], 0);
	const uint64_t *pdpt = table_at(pml4[0]);
	for (unsigned i = 4; i < 512; i++)
		assert_int_equal(pdpt[i], 0);
}

/*
 * Every 4 KiB page below 4 GiB against a model of the rules: present unless a
 * hole, identity, WB when wholly RAM, UC when it holds no RAM, a 2 MiB page
 * exactly when its block is of one kind and holds no hole. (The one page the
 * map splits between RAM and reserved, 0x9f000, is only checked for presence.)
 */
static unsigned model_kind(uint64_t lo, uint64_t hi)
{
	uint64_t ram = 0;
	for (unsigned i = 0; i < m.bi.memmap_count; i++) {
		const struct hvrt_mem_region *r = &m.bi.memmap[i];
		uint64_t a = r->base > lo ? r->base : lo, b = r->base + r->length < hi ? r->base + r->length : hi;
		if (a < b && r->type != HVRT_MEM_RESERVED && r->type != HVRT_MEM_MMIO)
			ram += b - a;
	}
	return ram == hi - lo ? MT_WB : ram == 0 ? MT_UC : 0xff;
}

static void test_qemu_sweep_below_4g(void **state)
{
	(void)state;
	qemu_map();
	set_holes1(0);
	run_ok();

	unsigned large = 0, small = 0;
	for (uint64_t blk = 0; blk < GiB(4); blk += MiB(2)) {
		unsigned bk = model_kind(blk, blk + MiB(2));
		bool want_large = bk != 0xff && blk != 0;
		for (uint64_t va = blk; va < blk + MiB(2); va += KiB(4)) {
			struct xlat x = translate(m.cr3, 4, va);
			if (va == 0) {
				assert_false(x.present);
				continue;
			}
			if (!x.present || x.phys != va)
				fail_msg("0x%llx: present %d phys 0x%llx", (unsigned long long)va, x.present,
					 (unsigned long long)x.phys);
			if (x.size != (want_large ? MiB(2) : KiB(4)))
				fail_msg("0x%llx: page size 0x%llx", (unsigned long long)va, (unsigned long long)x.size);
			unsigned k = model_kind(va, va + KiB(4));
			if (k != 0xff && mem_type(&x) != k)
				fail_msg("0x%llx: type %u, model %u", (unsigned long long)va, mem_type(&x), k);
			if (x.size == MiB(2))
				large++;
			else
				small++;
		}
	}
	/* Two blocks in 4 KiB pages (0 and 0x7e00000; page 0 is the hole), the other 2046 in 2 MiB pages. */
	assert_int_equal(small, 2 * 512 - 1);
	assert_int_equal(large, 2046 * 512);
}

/*
 * Tables for the 128 MiB QEMU map: 1 PML4 + 1 PDPT + 4 PDs (one per GiB below
 * 4 GiB) + 2 PTs (block 0, which mixes RAM, reserved and the page-0 hole, and
 * block 0x7e00000 where RAM ends) = 8 pages, nothing for the reserved window
 * at 1012 GiB. The pages are taken from the allocator, and are exactly the
 * pages the tree links (no leaked or stray allocations).
 */
static void test_qemu_table_count(void **state)
{
	(void)state;
	qemu_map();
	set_holes1(0);
	uint64_t before = m.pa.free_pages;
	run_ok();
	assert_int_equal(before - m.pa.free_pages, 8);

	/* Count the tables the tree links: 1 + 1 + 4 + 2. */
	const uint64_t *pml4 = table_at(m.cr3);
	unsigned pdpts = 0, pds = 0, pts = 0;
	for (unsigned i = 0; i < 512; i++) {
		if (!(pml4[i] & P_PRESENT))
			continue;
		pdpts++;
		const uint64_t *pdpt = table_at(pml4[i]);
		for (unsigned j = 0; j < 512; j++) {
			if (!(pdpt[j] & P_PRESENT))
				continue;
			pds++;
			const uint64_t *pd = table_at(pdpt[j]);
			for (unsigned k = 0; k < 512; k++)
				if ((pd[k] & P_PRESENT) && !(pd[k] & P_PS))
					pts++;
		}
	}
	assert_int_equal(pdpts, 1);
	assert_int_equal(pds, 4);
	assert_int_equal(pts, 2);
}

/* ---- above 4 GiB ---- */

/*
 * Above 4 GiB only RAM and MMIO regions are mapped: RAM 4..7 GiB WB in 2 MiB
 * pages, a 64-bit MMIO BAR at 64 GiB UC, nothing in between or after, and
 * the reserved window not at all. A RAM region straddling 4 GiB is mapped on
 * both sides; ACPI NVS (firmware RAM) above 4 GiB is WB.
 */
static void test_above_4g(void **state)
{
	(void)state;
	add_region(0x1000, 0x9f000, HVRT_MEM_RAM);
	add_region(0x100000, GiB(3) - 0x100000, HVRT_MEM_RAM);
	add_region(GiB(3) + MiB(512), GiB(1) + MiB(512), HVRT_MEM_RAM); /* 3.5 .. 5 GiB: straddles 4 GiB */
	add_region(GiB(5), GiB(2), HVRT_MEM_RAM);                        /* 5 .. 7 GiB */
	add_region(GiB(7), MiB(4), HVRT_MEM_ACPI_NVS);
	add_region(GiB(64), MiB(16), HVRT_MEM_MMIO);
	add_region(GiB(128), GiB(1), HVRT_MEM_RESERVED);
	set_holes1(0);
	run_ok();

	expect_mapped(GiB(3), MiB(2), MT_UC);            /* PCI hole, undescribed */
	expect_mapped(GiB(3) + MiB(512), MiB(2), MT_WB); /* RAM below 4 GiB */
	expect_mapped(GiB(4) - KiB(4), MiB(2), MT_WB);
	expect_mapped(GiB(4), MiB(2), MT_WB);
	expect_mapped(GiB(5) - 1, MiB(2), MT_WB);
	expect_mapped(GiB(5), MiB(2), MT_WB);
	assert_int_equal(leaf_entry(GiB(5)), GiB(5) | P_PRESENT | P_WRITE | P_PS);
	expect_mapped(GiB(6) + 12345, MiB(2), MT_WB);
	expect_mapped(GiB(7) - KiB(4), MiB(2), MT_WB);
	expect_mapped(GiB(7), MiB(2), MT_WB); /* ACPI NVS: RAM, cacheable */
	expect_mapped(GiB(7) + MiB(4) - 1, MiB(2), MT_WB);
	expect_unmapped(GiB(7) + MiB(4));     /* the hole between RAM and MMIO */
	expect_unmapped(GiB(8));
	expect_unmapped(GiB(64) - KiB(4));
	expect_mapped(GiB(64), MiB(2), MT_UC);
	assert_int_equal(leaf_entry(GiB(64)), GiB(64) | P_PRESENT | P_WRITE | P_PS | P_PCD | P_PWT);
	expect_mapped(GiB(64) + MiB(16) - 1, MiB(2), MT_UC);
	expect_unmapped(GiB(64) + MiB(16));
	expect_unmapped(GiB(128));            /* reserved above 4 GiB: left out */
	expect_unmapped(GiB(128) + MiB(2));
}

/*
 * A RAM region above 4 GiB that ends inside a 2 MiB block: its pages are WB
 * in 4 KiB pages, and the blocks after it are not mapped.
 */
static void test_above_4g_unaligned_end(void **state)
{
	(void)state;
	add_region(0x100000, MiB(63), HVRT_MEM_RAM);
	add_region(GiB(4), MiB(2) + KiB(12), HVRT_MEM_RAM);
	set_holes1(0);
	run_ok();

	expect_mapped(GiB(4), MiB(2), MT_WB);
	expect_mapped(GiB(4) + MiB(2), KiB(4), MT_WB);
	expect_mapped(GiB(4) + MiB(2) + KiB(8), KiB(4), MT_WB);
	expect_unmapped(GiB(4) + MiB(4));
}

/*
 * Every RAM kind is WB and MMIO is UC, each in a block of its own below
 * 4 GiB, so each is a single 2 MiB page of that kind.
 */
static void test_region_types(void **state)
{
	(void)state;
	static const struct { uint32_t type; unsigned mt; } kinds[] = {
		{ HVRT_MEM_RAM, MT_WB },          { HVRT_MEM_BOOT_SERVICES, MT_WB }, { HVRT_MEM_ACPI_RECLAIM, MT_WB },
		{ HVRT_MEM_BOOT, MT_WB },         { HVRT_MEM_FIRMWARE, MT_WB },      { HVRT_MEM_ACPI_NVS, MT_WB },
		{ HVRT_MEM_RESERVED, MT_UC },     { HVRT_MEM_MMIO, MT_UC },
	};
	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		add_region(MiB(16) + i * MiB(2), MiB(2), kinds[i].type);
	run_ok();
	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		expect_mapped(MiB(16) + i * MiB(2) + KiB(4), MiB(2), kinds[i].mt);
	/* No hole given: page 0 is mapped too (UC, undescribed). */
	expect_mapped(0, MiB(2), MT_UC);
}

/* ---- holes ---- */

/*
 * A stack guard page G in the middle of a RAM block: G is not mapped, its
 * neighbours are (WB, 4 KiB), the whole block holding G is in 4 KiB pages,
 * and the next block is back to one 2 MiB page. Page 0 is left out too.
 */
static void test_holes(void **state)
{
	(void)state;
	const uint64_t g = MiB(4) + KiB(300); /* 0x44b000 */
	qemu_map();
	m.layout.holes[0] = 0;
	m.layout.holes[1] = g;
	m.layout.nholes = 2;
	uint64_t before = m.pa.free_pages;
	run_ok();

	expect_unmapped(0);
	expect_unmapped(g);
	expect_unmapped(g + KiB(4) - 1);
	expect_mapped(g - KiB(4), KiB(4), MT_WB);
	expect_mapped(g + KiB(4), KiB(4), MT_WB);
	for (uint64_t va = MiB(4); va < MiB(6); va += KiB(4))
		if (va != g)
			expect_mapped(va, KiB(4), MT_WB);
	expect_mapped(MiB(2), MiB(2), MT_WB);
	expect_mapped(MiB(6), MiB(2), MT_WB);
	/* One PT more than without the guard. */
	assert_int_equal(before - m.pa.free_pages, 9);
}

/* A hole in an otherwise UC (undescribed) block splits it the same way; the rest stays UC. */
static void test_hole_in_uc_block(void **state)
{
	(void)state;
	qemu_map();
	m.layout.holes[0] = 0;
	m.layout.holes[1] = 0xfee01000;
	m.layout.nholes = 2;
	run_ok();
	expect_mapped(0xfee00000, KiB(4), MT_UC);
	expect_unmapped(0xfee01000);
	expect_mapped(0xfee02000, KiB(4), MT_UC);
	expect_mapped(0xfec00000, MiB(2), MT_UC);
}

/* ---- write-combining ---- */

/*
 * An 8 MiB framebuffer at 2 GiB, in undescribed (otherwise UC) space: four
 * 2 MiB pages with PWT alone (PAT entry 1 = WC), UC on both sides.
 */
static void test_wc_aligned(void **state)
{
	(void)state;
	qemu_map();
	set_holes1(0);
	m.layout.wc_base = GiB(2);
	m.layout.wc_size = MiB(8);
	run_ok();

	for (uint64_t va = GiB(2); va < GiB(2) + MiB(8); va += MiB(2)) {
		expect_mapped(va, MiB(2), MT_WC);
		assert_int_equal(leaf_entry(va), va | P_PRESENT | P_WRITE | P_PS | P_PWT);
	}
	expect_mapped(GiB(2) - 1, MiB(2), MT_UC);
	expect_mapped(GiB(2) + MiB(8), MiB(2), MT_UC);
	/* The rest of the map is unchanged. */
	expect_mapped(0x200000, MiB(2), MT_WB);
	expect_mapped(0xfee00000, MiB(2), MT_UC);
}

/*
 * A WC range with 4 KiB-aligned but not 2 MiB-aligned ends (0x80100000 ..
 * 0x80380000): the edge blocks are split into 4 KiB pages, WC inside the
 * range and UC outside; the block wholly inside is one WC 2 MiB page. A WC
 * range inside RAM overrides WB for its pages only.
 */
static void test_wc_unaligned(void **state)
{
	(void)state;
	qemu_map();
	set_holes1(0);
	m.layout.wc_base = 0x80100000;
	m.layout.wc_size = 0x280000;
	run_ok();

	expect_mapped(0x80000000, KiB(4), MT_UC);
	expect_mapped(0x800ff000, KiB(4), MT_UC);
	expect_mapped(0x80100000, KiB(4), MT_WC);
	assert_int_equal(leaf_entry(0x80100000), 0x80100000 | P_PRESENT | P_WRITE | P_PWT);
	expect_mapped(0x801ff000, KiB(4), MT_WC);
	expect_mapped(0x80200000, KiB(4), MT_WC);
	expect_mapped(0x8037f000, KiB(4), MT_WC);
	expect_mapped(0x80380000, KiB(4), MT_UC);
	expect_mapped(0x803ff000, KiB(4), MT_UC);
	expect_mapped(0x80400000, MiB(2), MT_UC);
}

static void test_wc_in_ram(void **state)
{
	(void)state;
	qemu_map();
	set_holes1(0);
	m.layout.wc_base = MiB(5);
	m.layout.wc_size = MiB(1);
	run_ok();
	expect_mapped(MiB(4), KiB(4), MT_WB);
	expect_mapped(MiB(5) - KiB(4), KiB(4), MT_WB);
	expect_mapped(MiB(5), KiB(4), MT_WC);
	expect_mapped(MiB(6) - KiB(4), KiB(4), MT_WC);
	expect_mapped(MiB(6), MiB(2), MT_WB);
}

/*
 * A framebuffer in a 64-bit BAR at 32 GiB the map does not list is still
 * mapped, WC, and nothing around it; it costs one PD more than the QEMU map.
 */
static void test_wc_above_4g(void **state)
{
	(void)state;
	qemu_map();
	set_holes1(0);
	m.layout.wc_base = 0x800000000;
	m.layout.wc_size = MiB(8);
	uint64_t before = m.pa.free_pages;
	run_ok();
	for (uint64_t va = 0x800000000; va < 0x800000000 + MiB(8); va += MiB(2)) {
		expect_mapped(va, MiB(2), MT_WC);
		assert_int_equal(leaf_entry(va), va | P_PRESENT | P_WRITE | P_PS | P_PWT);
	}
	expect_unmapped(0x800000000 - 1);
	expect_unmapped(0x800000000 + MiB(8));
	expect_unmapped(GiB(4));
	assert_int_equal(before - m.pa.free_pages, 9);
}

/*
 * An 800x600x32 framebuffer is 0x1d4c00 bytes: its last page, 0x801d4000,
 * is only partly inside the WC range, the rest of that page undescribed.
 * That page belongs to the framebuffer and must be WC (and in no case WB:
 * neither the framebuffer nor undescribed space may be cached).
 */
static void test_wc_partial_last_page(void **state)
{
	(void)state;
	qemu_map();
	set_holes1(0);
	m.layout.wc_base = GiB(2);
	m.layout.wc_size = 800 * 600 * 4;
	run_ok();
	expect_mapped(GiB(2), KiB(4), MT_WC);
	expect_mapped(0x801d3000, KiB(4), MT_WC);
	expect_mapped(0x801d4000, KiB(4), MT_WC); /* the last, partial page */
	expect_mapped(0x801d5000, KiB(4), MT_UC);
}

/* ---- LA57 ---- */

/*
 * With CR4.LA57 on, the root loaded is a PML5 whose only entry, 0, points at
 * the PML4 of the usual tree: one page more, and 5-level walks translate.
 */
static void test_la57(void **state)
{
	(void)state;
	install_cpu(CR4_LA57 | (1u << 5) /* PAE */);
	qemu_map();
	set_holes1(0);
	uint64_t before = m.pa.free_pages;
	run_ok();
	assert_int_equal(before - m.pa.free_pages, 9);

	const uint64_t *pml5 = table_at(m.cr3);
	assert_int_equal(pml5[0] & ~ADDR_MASK, P_PRESENT | P_WRITE);
	for (unsigned i = 1; i < 512; i++)
		assert_int_equal(pml5[i], 0);
	const uint64_t *pml4 = table_at(pml5[0]);
	assert_true(pml4[0] & P_PRESENT);
	for (unsigned i = 1; i < 512; i++)
		assert_int_equal(pml4[i], 0); /* a PML4 (one entry), not a PDPT (four) */
	const uint64_t *pdpt = table_at(pml4[0]);
	for (unsigned i = 0; i < 4; i++)
		assert_true(pdpt[i] & P_PRESENT);

	assert_int_equal(levels(), 5);
	expect_unmapped(0);
	expect_mapped(0x1000, KiB(4), MT_WB);
	expect_mapped(0x200000, MiB(2), MT_WB);
	expect_mapped(0xfee00000, MiB(2), MT_UC);
	expect_unmapped(GiB(4));
}

/* Without LA57 (other CR4 bits set) the root is the PML4 itself: four levels. */
static void test_no_la57(void **state)
{
	(void)state;
	install_cpu((1u << 5) | (1u << 9) | (1u << 10) | (1u << 7));
	qemu_map();
	set_holes1(0);
	run_ok();
	assert_int_equal(levels(), 4);
	const uint64_t *pml4 = table_at(m.cr3);
	const uint64_t *pdpt = table_at(pml4[0]);
	for (unsigned i = 0; i < 4; i++)
		assert_true(pdpt[i] & P_PRESENT);
	expect_mapped(0x200000, MiB(2), MT_WB);
}

/* ---- out of memory ---- */

/*
 * The QEMU map needs exactly 8 pages: with 7 paging_init fails with -ENOMEM
 * and neither the PAT nor CR3 is written (the firmware's tables stay); with 8
 * it succeeds. With LA57 it needs 9.
 */
static void test_enomem_few_pages(void **state)
{
	(void)state;
	qemu_map();
	set_holes1(0);
	for (unsigned n = 0; n < 8; n++) {
		give_pages(n);
		assert_int_equal(paging_init(&m.bi, &m.pa, &m.layout), -ENOMEM);
		assert_int_equal(m.cr3_writes, 0);
		assert_int_equal(m.pat_writes, 0);
	}
	give_pages(8);
	run_ok();
	assert_int_equal(m.pa.free_pages, 0);

	install_cpu(CR4_LA57);
	m.cr3_writes = m.pat_writes = 0;
	give_pages(8);
	assert_int_equal(paging_init(&m.bi, &m.pa, &m.layout), -ENOMEM);
	assert_int_equal(m.cr3_writes, 0);
	assert_int_equal(m.pat_writes, 0);
	give_pages(9);
	run_ok();
}

/*
 * Pages at or above 4 GiB are refused before anything is written to them.
 * Under ASan, 4 GiB lies in the shadow gap (inaccessible): a memset there
 * would crash the test, so reaching the assertions proves nothing was written.
 */
static void test_enomem_pages_above_4g(void **state)
{
	(void)state;
	qemu_map();
	set_holes1(0);
	pagealloc_init(&m.pa);
	assert_int_equal(pagealloc_add(&m.pa, GiB(4), 64 * PAGE_SIZE), 0);
	assert_int_equal(paging_init(&m.bi, &m.pa, &m.layout), -ENOMEM);
	assert_int_equal(m.cr3_writes, 0);
	assert_int_equal(m.pat_writes, 0);

	/* Low pages run out part way and the next page offered is above 4 GiB: still -ENOMEM. */
	give_pages(5);
	assert_int_equal(pagealloc_add(&m.pa, GiB(4), 64 * PAGE_SIZE), 0);
	assert_int_equal(paging_init(&m.bi, &m.pa, &m.layout), -ENOMEM);
	assert_int_equal(m.cr3_writes, 0);
	assert_int_equal(m.pat_writes, 0);

	/* The PML5 for LA57 is refused the same way. */
	install_cpu(CR4_LA57);
	give_pages(1);
	assert_int_equal(pagealloc_add(&m.pa, GiB(4), 64 * PAGE_SIZE), 0);
	assert_int_equal(paging_init(&m.bi, &m.pa, &m.layout), -ENOMEM);
	assert_int_equal(m.cr3_writes, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_qemu_landmarks),
		T(test_qemu_sweep_below_4g),
		T(test_qemu_table_count),
		T(test_above_4g),
		T(test_above_4g_unaligned_end),
		T(test_region_types),
		T(test_holes),
		T(test_hole_in_uc_block),
		T(test_wc_aligned),
		T(test_wc_unaligned),
		T(test_wc_in_ram),
		T(test_wc_above_4g),
		T(test_wc_partial_last_page),
		T(test_la57),
		T(test_no_la57),
		T(test_enomem_few_pages),
		T(test_enomem_pages_above_4g),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
