/*
 * Unit tests for the boot information: memory map normalization
 * (boot/memmap.c), the UEFI and multiboot memory map parsers
 * (boot/bootinfo_efi.c, boot/bootinfo_multiboot.c) and the command line copy
 * (boot/cmdline.c).
 *
 * The real firmware maps captured in tests/unit/data (*.map) are fed through
 * the parsers and the normalized result is compared region by region with
 * expectations worked out by hand from the fixture bytes. Multiboot
 * information lives in a fake physical address space whose regions end flush
 * against an inaccessible page, so any read past what the map function
 * handed out crashes the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <hvrt/boot.h>
#include <hvrt/log.h>

#include "arch/x86_64/console.h"
#include "boot/bootinfo.h"
#include "tests/unit/log_capture.h"


static struct hvrt_boot_info *bi;
static unsigned char *fixture_data; /* the loaded fixture: freed by teardown, even when a test fails */

static int setup(void **state)
{
	(void)state;
	log_capture_start();
	hvrt_log_set_level(HVRT_LOG_WARN);
	log_clear();
	bi = calloc(1, sizeof(*bi));
	assert_non_null(bi);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(bi);
	bi = NULL;
	free(fixture_data);
	fixture_data = NULL;
	console_reset();
	return 0;
}

/* ---- invariants of a normalized map ---- */

static void assert_normalized(const struct hvrt_boot_info *b)
{
	assert_true(b->memmap_count <= HVRT_MEMMAP_MAX);
	for (unsigned i = 0; i < b->memmap_count; i++) {
		const struct hvrt_mem_region *r = &b->memmap[i];
		assert_true(r->length != 0);
		assert_true(r->type >= HVRT_MEM_RAM && r->type <= HVRT_MEM_MMIO);
		assert_true(r->base + r->length > r->base); /* no wrap */
		if (i > 0) {
			const struct hvrt_mem_region *p = &b->memmap[i - 1];
			/* sorted and disjoint */
			assert_true(p->base + p->length <= r->base);
			/* touching neighbours of one type would have been merged */
			if (p->base + p->length == r->base)
				assert_int_not_equal(p->type, r->type);
		}
	}
}

struct expect_region {
	uint64_t base, length;
	uint32_t type;
};

static void assert_regions(const struct hvrt_boot_info *b, const struct expect_region *e, unsigned n)
{
	assert_normalized(b);
	for (unsigned i = 0; i < n && i < b->memmap_count; i++) {
		if (b->memmap[i].base != e[i].base || b->memmap[i].length != e[i].length ||
		    b->memmap[i].type != e[i].type)
			fail_msg("region %u: got 0x%llx+0x%llx type %u, expected 0x%llx+0x%llx type %u", i,
				 (unsigned long long)b->memmap[i].base,
				 (unsigned long long)b->memmap[i].length, b->memmap[i].type,
				 (unsigned long long)e[i].base, (unsigned long long)e[i].length, e[i].type);
	}
	assert_int_equal(b->memmap_count, n);
}

#define ASSERT_REGIONS(b, arr) assert_regions((b), (arr), sizeof(arr) / sizeof((arr)[0]))

/* ---- fixture loader ---- */

struct fixture {
	char kind[16];
	size_t desc_size;
	unsigned char *data;
	size_t len;
};

static void load_fixture(const char *name, struct fixture *f)
{
	char path[256], line[512];
	size_t cap = 4096;

	snprintf(path, sizeof(path), "tests/unit/data/%s", name);
	FILE *fp = fopen(path, "r");
	if (!fp)
		fail_msg("cannot open %s (run the tests from the repository root)", path);
	memset(f, 0, sizeof(*f));
	f->data = malloc(cap);
	assert_non_null(f->data);
	while (fgets(line, sizeof(line), fp)) {
		char *s = line;
		unsigned long ds;
		if (s[0] == '#' || s[0] == '\n')
			continue;
		if (sscanf(s, "kind %15s %lu", f->kind, &ds) == 2) {
			f->desc_size = ds;
			continue;
		}
		for (; s[0] && s[0] != '\n'; s += 2) {
			unsigned byte;
			assert_true(s[1] != '\0' && s[1] != '\n');
			assert_int_equal(sscanf(s, "%2x", &byte), 1);
			if (f->len == cap) {
				cap *= 2;
				f->data = realloc(f->data, cap);
				assert_non_null(f->data);
			}
			f->data[f->len++] = (unsigned char)byte;
		}
	}
	fclose(fp);
	free(fixture_data);
	fixture_data = f->data;
	assert_true(f->kind[0] != '\0');
	assert_true(f->len > 0);
}

/* ---- fake physical memory for multiboot ---- */

#define MAX_REGIONS 8

struct phys_region {
	uint64_t addr, len;
	uint8_t *data;
	uint8_t *mapping;
	size_t mapping_size;
};

static struct fake_mem {
	struct phys_region r[MAX_REGIONS];
	unsigned n;
	unsigned calls;
} mem;

/* Backs len bytes at physical addr, ending right before a PROT_NONE page. */
static uint8_t *mem_add(uint64_t addr, const void *data, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = (len + page - 1) / page * page + page;
	uint8_t *mapping = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(mapping != MAP_FAILED);
	assert_int_equal(mprotect(mapping + size - page, page, PROT_NONE), 0);
	assert_true(mem.n < MAX_REGIONS);
	uint8_t *p = mapping + size - page - len;
	if (data)
		memcpy(p, data, len);
	mem.r[mem.n++] = (struct phys_region){ addr, len, p, mapping, size };
	return p;
}

static void mem_free(void)
{
	for (unsigned i = 0; i < mem.n; i++)
		munmap(mem.r[i].mapping, mem.r[i].mapping_size);
	memset(&mem, 0, sizeof(mem));
}

static const void *fake_map(void *ctx, uint64_t addr, uint64_t len)
{
	struct fake_mem *m = ctx;

	m->calls++;
	for (unsigned i = 0; i < m->n; i++) {
		const struct phys_region *r = &m->r[i];
		if (addr >= r->addr && len <= r->len && addr - r->addr <= r->len - len)
			return r->data + (addr - r->addr);
	}
	return NULL;
}

static const void *null_map(void *ctx, uint64_t addr, uint64_t len)
{
	(void)ctx;
	(void)addr;
	(void)len;
	return NULL;
}

#define MBI_ADDR 0x9500u
#define MMAP_ADDR 0x10000u
#define CMDLINE_ADDR 0x20000u
#define MB_FLAG_CMDLINE (1u << 2)
#define MB_FLAG_MMAP (1u << 6)

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof(v)); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof(v)); }

/* A 52-byte multiboot information structure at MBI_ADDR. */
static void make_mbi(uint32_t flags, uint32_t mmap_length, uint32_t mmap_addr, uint32_t cmdline)
{
	uint8_t mbi[52] = { 0 };

	put32(mbi + 0, flags);
	put32(mbi + 4, 639);    /* mem_lower: ignored */
	put32(mbi + 8, 130048); /* mem_upper: ignored */
	put32(mbi + 16, cmdline);
	put32(mbi + 44, mmap_length);
	put32(mbi + 48, mmap_addr);
	mem_add(MBI_ADDR, mbi, sizeof(mbi));
}

/* Appends one multiboot mmap entry declaring `size` bytes (20 normally). */
static size_t mb_entry(uint8_t *buf, size_t off, uint32_t size, uint64_t addr, uint64_t len, uint32_t type)
{
	put32(buf + off, size);
	put64(buf + off + 4, addr);
	put64(buf + off + 12, len);
	put32(buf + off + 20, type);
	return off + 4 + size;
}

static int mb_parse(void)
{
	return bootinfo_parse_multiboot(bi, MULTIBOOT_BOOTLOADER_MAGIC, MBI_ADDR, fake_map, &mem);
}

static int mb_teardown(void **state)
{
	mem_free();
	return teardown(state);
}

/* ---- EFI map builder ---- */

/* One map at a time, in a static buffer, so a failing test leaks nothing. */
static unsigned char efi_buf[128 * 1024];

struct efi_builder {
	unsigned char *buf;
	size_t desc_size, len;
};

static void efi_desc(struct efi_builder *b, uint32_t type, uint64_t start, uint64_t pages)
{
	b->buf = efi_buf;
	assert_true(b->len + b->desc_size <= sizeof(efi_buf));
	unsigned char *d = b->buf + b->len;
	memset(d, 0xcc, b->desc_size); /* padding past the 40 UEFI bytes is garbage */
	put32(d, type);
	put32(d + 4, 0);
	put64(d + 8, start);
	put64(d + 16, 0xdead0000); /* VirtualStart: ignored */
	put64(d + 24, pages);
	put64(d + 32, 0xf);
	b->len += b->desc_size;
}

static void efi_free(struct efi_builder *b)
{
	*b = (struct efi_builder){ 0 };
}

/* ================= captured firmware maps ================= */

/*
 * OVMF q35 256 MiB: 118 descriptors of 48 bytes. Once reclaimed, boot-services
 * memory and conventional memory merge into RAM, loader memory is hvrt's, runtime
 * services are firmware; the MMCONFIG window at 0xb0000000 is reserved.
 */
static const struct expect_region ovmf_expected[] = {
	{ 0x0, 0xa0000, HVRT_MEM_RAM },
	{ 0x100000, 0x700000, HVRT_MEM_RAM },
	{ 0x800000, 0x8000, HVRT_MEM_ACPI_NVS },
	{ 0x808000, 0x3000, HVRT_MEM_RAM },
	{ 0x80b000, 0x1000, HVRT_MEM_ACPI_NVS },
	{ 0x80c000, 0x4000, HVRT_MEM_RAM },
	{ 0x810000, 0xf0000, HVRT_MEM_ACPI_NVS },
	{ 0x900000, 0xd444000, HVRT_MEM_RAM },
	{ 0xdd44000, 0xd7000, HVRT_MEM_BOOT },
	{ 0xde1b000, 0x18000, HVRT_MEM_RAM },
	{ 0xde33000, 0x28000, HVRT_MEM_BOOT },
	{ 0xde5b000, 0xc5c000, HVRT_MEM_RAM },
	{ 0xeab7000, 0xc1000, HVRT_MEM_FIRMWARE },
	{ 0xeb78000, 0x975000, HVRT_MEM_RAM },
	{ 0xf4ed000, 0x200000, HVRT_MEM_FIRMWARE },
	{ 0xf6ed000, 0x80000, HVRT_MEM_RESERVED },
	{ 0xf76d000, 0x12000, HVRT_MEM_ACPI_RECLAIM },
	{ 0xf77f000, 0x80000, HVRT_MEM_ACPI_NVS },
	{ 0xf7ff000, 0x759000, HVRT_MEM_RAM },
	{ 0xff58000, 0x20000, HVRT_MEM_FIRMWARE },
	{ 0xff78000, 0x88000, HVRT_MEM_ACPI_NVS },
	{ 0xb0000000, 0x10000000, HVRT_MEM_RESERVED },
};

static void test_efi_ovmf_fixture(void **state)
{
	struct fixture f;

	(void)state;
	load_fixture("ovmf-q35-256m.map", &f);
	assert_string_equal(f.kind, "efi");
	assert_int_equal(f.desc_size, 48);
	assert_int_equal(f.len, 118 * 48);

	assert_int_equal(bootinfo_parse_efi_map(bi, f.data, f.len, f.desc_size), 0);
	/* Until hvrt runs on its own tables, boot-services memory is kept apart (totals from the bytes). */
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_RAM), 0xd0d5000);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_BOOT_SERVICES), 0x2858000);
	assert_int_equal(memmap_reclaim_boot_services(bi), 0);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_BOOT_SERVICES), 0);
	ASSERT_REGIONS(bi, ovmf_expected);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_RAM), 0xf92d000);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_BOOT), 0xff000);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_FIRMWARE), 0x2e1000);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_ACPI_RECLAIM), 0x12000);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_ACPI_NVS), 0x201000);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_RESERVED), 0x10080000);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_MMIO), 0);
	assert_int_equal(loglen, 0); /* a good map is parsed silently */
}

/* Both multiboot captures (QEMU's loader and GRUB on SeaBIOS) describe the same e820 map. */
static const struct expect_region mb128_expected[] = {
	{ 0x0, 0x9fc00, HVRT_MEM_RAM },
	{ 0x9fc00, 0x400, HVRT_MEM_RESERVED },
	{ 0xf0000, 0x10000, HVRT_MEM_RESERVED },
	{ 0x100000, 0x7ee0000, HVRT_MEM_RAM },
	{ 0x7fe0000, 0x20000, HVRT_MEM_RESERVED },
	{ 0xfffc0000, 0x40000, HVRT_MEM_RESERVED },
	{ 0xfd00000000, 0x300000000, HVRT_MEM_RESERVED },
};

static void check_multiboot_fixture(const char *name)
{
	struct fixture f;
	static const char cmd[] = "/boot/hello.elf hvrt.log=debug";

	load_fixture(name, &f);
	assert_string_equal(f.kind, "multiboot");
	assert_int_equal(f.desc_size, 0);
	assert_int_equal(f.len, 7 * 24);

	make_mbi(MB_FLAG_MMAP | MB_FLAG_CMDLINE | 0x3 /* mem_*, boot_device */, (uint32_t)f.len,
		 MMAP_ADDR, CMDLINE_ADDR);
	mem_add(MMAP_ADDR, f.data, f.len);
	mem_add(CMDLINE_ADDR, cmd, sizeof(cmd)); /* the NUL is the last mapped byte */

	assert_int_equal(mb_parse(), 0);
	ASSERT_REGIONS(bi, mb128_expected);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_RAM), 0x9fc00 + 0x7ee0000);
	assert_int_equal(bi->path, HVRT_BOOT_MULTIBOOT);
	assert_string_equal(bi->cmdline, cmd);
	assert_int_equal(loglen, 0);
}

static void test_multiboot_qemu_fixture(void **state)
{
	(void)state;
	check_multiboot_fixture("qemu-multiboot-pc-128m.map");
}

static void test_multiboot_grub_fixture(void **state)
{
	(void)state;
	check_multiboot_fixture("grub-pc-128m.map");
}

/* Without flag bit 2 the command line is left empty, even if bi held one before. */
static void test_multiboot_no_cmdline(void **state)
{
	struct fixture f;

	(void)state;
	load_fixture("qemu-multiboot-pc-128m.map", &f);
	strcpy(bi->cmdline, "stale");
	make_mbi(MB_FLAG_MMAP, (uint32_t)f.len, MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, f.data, f.len);
	assert_int_equal(mb_parse(), 0);
	assert_string_equal(bi->cmdline, "");
	assert_int_equal(bi->path, HVRT_BOOT_MULTIBOOT);
	ASSERT_REGIONS(bi, mb128_expected);
}

/* ================= UEFI type mapping ================= */

/*
 * Every UEFI memory type lands in the documented hvrt type. Descriptors are
 * one page each, a page apart, so nothing merges.
 */
static void test_efi_type_mapping(void **state)
{
	static const uint32_t want[] = {
		[0] = HVRT_MEM_RESERVED,      /* EfiReservedMemoryType */
		[1] = HVRT_MEM_BOOT,          /* LoaderCode */
		[2] = HVRT_MEM_BOOT,          /* LoaderData */
		[3] = HVRT_MEM_BOOT_SERVICES, /* BootServicesCode */
		[4] = HVRT_MEM_BOOT_SERVICES, /* BootServicesData */
		[5] = HVRT_MEM_FIRMWARE,      /* RuntimeServicesCode */
		[6] = HVRT_MEM_FIRMWARE,      /* RuntimeServicesData */
		[7] = HVRT_MEM_RAM,           /* ConventionalMemory */
		[8] = HVRT_MEM_RESERVED,      /* UnusableMemory */
		[9] = HVRT_MEM_ACPI_RECLAIM,  /* ACPIReclaimMemory */
		[10] = HVRT_MEM_ACPI_NVS,     /* ACPIMemoryNVS */
		[11] = HVRT_MEM_MMIO,         /* MemoryMappedIO */
		[12] = HVRT_MEM_MMIO,         /* MemoryMappedIOPortSpace */
		[13] = HVRT_MEM_RESERVED,     /* PalCode */
		[14] = HVRT_MEM_RESERVED,     /* PersistentMemory */
		[15] = HVRT_MEM_RESERVED,     /* UnacceptedMemoryType */
		[16] = HVRT_MEM_RESERVED,     /* beyond the spec */
	};
	const unsigned n = sizeof(want) / sizeof(want[0]);
	static const size_t strides[] = { 40, 48, 4096 };

	(void)state;
	for (unsigned s = 0; s < 3; s++) {
		struct efi_builder b = { .desc_size = strides[s] };
		memset(bi, 0, sizeof(*bi));
		for (unsigned t = 0; t < n; t++)
			efi_desc(&b, t, 0x100000 + 0x2000ull * t, 1);
		efi_desc(&b, 0x80000000u, 0x100000 + 0x2000ull * n, 1); /* OEM type */
		assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), 0);
		assert_normalized(bi);
		assert_int_equal(bi->memmap_count, n + 1);
		for (unsigned t = 0; t < n; t++) {
			assert_int_equal(bi->memmap[t].base, 0x100000 + 0x2000ull * t);
			assert_int_equal(bi->memmap[t].length, 0x1000);
			if (bi->memmap[t].type != want[t])
				fail_msg("UEFI type %u became %u, expected %u (stride %zu)", t,
					 bi->memmap[t].type, want[t], strides[s]);
		}
		assert_int_equal(bi->memmap[n].type, HVRT_MEM_RESERVED);
		efi_free(&b);
	}
}

/* Empty descriptors are skipped; descriptors out of order are sorted; overlaps resolved. */
static void test_efi_unsorted_overlapping(void **state)
{
	struct efi_builder b = { .desc_size = 40 };
	static const struct expect_region want[] = {
		{ 0x1000, 0x3000, HVRT_MEM_BOOT_SERVICES },
		{ 0x4000, 0x1000, HVRT_MEM_MMIO },
		{ 0x5000, 0x3000, HVRT_MEM_RAM },
		{ 0x100000, 0x2000, HVRT_MEM_BOOT },
	};

	(void)state;
	efi_desc(&b, 2, 0x100000, 2);     /* LoaderData */
	efi_desc(&b, 7, 0x5000, 3);       /* Conventional */
	efi_desc(&b, 7, 0x123000, 0);     /* empty: ignored */
	efi_desc(&b, 11, 0x4000, 1);      /* MMIO */
	efi_desc(&b, 4, 0x1000, 4);       /* BootServicesData, overlapping the MMIO page */
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), 0);
	ASSERT_REGIONS(bi, want);
	efi_free(&b);
}

/* The largest descriptor that still ends inside the address space is taken. */
static void test_efi_largest_descriptor(void **state)
{
	struct efi_builder b = { .desc_size = 40 };

	(void)state;
	/* ends at 2^64 - 0x1000: the last representable end */
	efi_desc(&b, 7, 0x1000, (1ull << 52) - 2);
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), 0);
	assert_int_equal(bi->memmap_count, 1);
	assert_int_equal(bi->memmap[0].base, 0x1000);
	assert_int_equal(bi->memmap[0].length, 0xffffffffffffe000ull);
	efi_free(&b);
}

/* ================= UEFI error paths ================= */

/* Each corrupt or useless map gives its errno and says why in the log. */
static void test_efi_no_map(void **state)
{
	char buf[40] = { 0 };

	(void)state;
	assert_int_equal(bootinfo_parse_efi_map(bi, NULL, 480, 48), -ENOENT);
	assert_logged("hvrt: boot: error: the firmware returned no memory map\n");
	log_clear();
	assert_int_equal(bootinfo_parse_efi_map(bi, buf, 0, 40), -ENOENT);
	assert_logged("the firmware returned no memory map");
	assert_int_equal(bi->memmap_count, 0);
}

static void test_efi_bad_desc_size(void **state)
{
	static const size_t bad[] = { 0, 8, 32, 39, 44, 52, 4104 };
	unsigned char buf[8 * 4104];
	char phrase[80];

	(void)state;
	memset(buf, 0, sizeof(buf));
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		log_clear();
		assert_int_equal(bootinfo_parse_efi_map(bi, buf, 8 * (bad[i] ? bad[i] : 1), bad[i]),
				 -EINVAL);
		snprintf(phrase, sizeof(phrase), "corrupt UEFI memory map: descriptor size %zu\n", bad[i]);
		assert_logged(phrase);
	}
	assert_int_equal(bi->memmap_count, 0);
}

static void test_efi_partial_descriptor(void **state)
{
	struct efi_builder b = { .desc_size = 48 };

	(void)state;
	efi_desc(&b, 7, 0x1000, 1);
	efi_desc(&b, 7, 0x3000, 1);
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len - 8, b.desc_size), -EINVAL);
	assert_logged("88 bytes is not a whole number of 48-byte descriptors");
	efi_free(&b);
}

static void test_efi_unaligned_start(void **state)
{
	struct efi_builder b = { .desc_size = 40 };

	(void)state;
	efi_desc(&b, 7, 0x1000, 1);
	efi_desc(&b, 7, 0x3001, 1);
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), -EINVAL);
	assert_logged("hvrt: boot: error: corrupt UEFI memory map: descriptor 1 at 0x3001 with 1 pages\n");
	efi_free(&b);
}

static void test_efi_pages_overflow(void **state)
{
	struct efi_builder b = { .desc_size = 40 };

	(void)state;
	/* one page more than fits below 2^64 */
	efi_desc(&b, 7, 0x1000, (1ull << 52) - 1);
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), -EINVAL);
	assert_logged("descriptor 0 at 0x1000 with 4503599627370495 pages");
	efi_free(&b);

	/* a page count whose byte size wraps to something small */
	log_clear();
	memset(bi, 0, sizeof(*bi));
	b = (struct efi_builder){ .desc_size = 40 };
	efi_desc(&b, 7, 0x100000, (1ull << 52) + 1);
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), -EINVAL);
	assert_logged("corrupt UEFI memory map: descriptor 0 at 0x100000");
	assert_int_equal(bi->memmap_count, 0);
	efi_free(&b);

	/* the whole address space from 0 */
	log_clear();
	b = (struct efi_builder){ .desc_size = 40 };
	efi_desc(&b, 7, 0, 1ull << 52);
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), -EINVAL);
	assert_logged("corrupt UEFI memory map: descriptor 0 at 0x0");
	efi_free(&b);
}

static void test_efi_no_ram(void **state)
{
	struct efi_builder b = { .desc_size = 48 };

	(void)state;
	efi_desc(&b, 1, 0x100000, 16);  /* LoaderCode */
	efi_desc(&b, 2, 0x110000, 16);  /* LoaderData */
	efi_desc(&b, 6, 0x200000, 16);  /* RuntimeServicesData */
	efi_desc(&b, 9, 0x300000, 1);   /* ACPI reclaim: not free RAM */
	efi_desc(&b, 11, 0xfee00000, 1);
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), -ENOENT);
	assert_logged("hvrt: boot: error: the UEFI memory map describes no free RAM\n");
	efi_free(&b);
}

static void test_efi_too_many_regions(void **state)
{
	struct efi_builder b = { .desc_size = 40 };

	(void)state;
	/* exactly HVRT_MEMMAP_MAX disjoint regions fit */
	for (unsigned i = 0; i < HVRT_MEMMAP_MAX; i++)
		efi_desc(&b, 7, 0x2000ull * (i + 1), 1);
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), 0);
	assert_int_equal(bi->memmap_count, HVRT_MEMMAP_MAX);
	assert_normalized(bi);
	assert_int_equal(loglen, 0);

	/* one more is refused */
	memset(bi, 0, sizeof(*bi));
	efi_desc(&b, 7, 0x2000ull * (HVRT_MEMMAP_MAX + 1), 1);
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), -E2BIG);
	assert_logged("hvrt: boot: error: memory map has more than 256 regions\n");
	efi_free(&b);
}

/* Many descriptors that merge (in order, or backwards so only normalizing merges them) are fine. */
static void test_efi_many_mergeable(void **state)
{
	struct efi_builder b = { .desc_size = 48 };
	static const struct expect_region want[] = {
		{ 0x100000, 0x1000ull * 600, HVRT_MEM_BOOT_SERVICES },
		{ 0x100000 + 0x1000ull * 600, 0x1000ull * 600, HVRT_MEM_MMIO },
	};

	(void)state;
	for (unsigned i = 0; i < 600; i++) /* forwards, alternating boot-services code and data: one type */
		efi_desc(&b, i % 2 ? 3 : 4, 0x100000 + 0x1000ull * i, 1);
	for (unsigned i = 600; i-- > 0;) /* backwards */
		efi_desc(&b, 11, 0x100000 + 0x1000ull * (600 + i), 1);
	assert_int_equal(bootinfo_parse_efi_map(bi, b.buf, b.len, b.desc_size), 0);
	ASSERT_REGIONS(bi, want);
	efi_free(&b);
}

/* ================= multiboot error paths ================= */

static void test_multiboot_bad_magic(void **state)
{
	(void)state;
	make_mbi(MB_FLAG_MMAP, 24, MMAP_ADDR, 0);
	assert_int_equal(bootinfo_parse_multiboot(bi, 0x1badb002, MBI_ADDR, fake_map, &mem), -EINVAL);
	assert_logged("hvrt: boot: error: not started by a multiboot loader (magic 0x1badb002)\n");
	assert_int_equal(mem.calls, 0); /* nothing read on the word of a stranger */
	assert_int_equal(bi->path, HVRT_BOOT_UNKNOWN);
}

static void test_multiboot_unreadable_mbi(void **state)
{
	(void)state;
	assert_int_equal(bootinfo_parse_multiboot(bi, MULTIBOOT_BOOTLOADER_MAGIC, 0x12345678, null_map, NULL),
			 -EINVAL);
	assert_logged("multiboot information at 0x12345678 is unreadable");

	/* backed, but shorter than the 52 bytes read */
	log_clear();
	uint8_t small[40] = { 0 };
	put32(small, MB_FLAG_MMAP);
	mem_add(MBI_ADDR, small, sizeof(small));
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("multiboot information at 0x9500 is unreadable");
}

static void test_multiboot_no_mmap_flag(void **state)
{
	uint8_t e[24];

	(void)state;
	mb_entry(e, 0, 20, 0x100000, 0x100000, 1);
	make_mbi(MB_FLAG_CMDLINE | 0x1, sizeof(e), MMAP_ADDR, CMDLINE_ADDR);
	mem_add(MMAP_ADDR, e, sizeof(e));
	assert_int_equal(mb_parse(), -ENOENT);
	assert_logged("hvrt: boot: error: the boot loader passed no memory map (multiboot flags 0x5)\n");
	assert_int_equal(bi->memmap_count, 0);
}

static void test_multiboot_bad_mmap_length(void **state)
{
	(void)state;
	make_mbi(MB_FLAG_MMAP, 0, MMAP_ADDR, 0);
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("corrupt multiboot memory map: length 0\n");
	mem_free();

	log_clear();
	make_mbi(MB_FLAG_MMAP, 64 * 1024 + 1, MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, NULL, 64 * 1024 + 1);
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("corrupt multiboot memory map: length 65537\n");
}

/* 64 KiB exactly is allowed: here one entry that declares a larger size than usual. */
static void test_multiboot_mmap_64k(void **state)
{
	(void)state;
	make_mbi(MB_FLAG_MMAP, 64 * 1024, MMAP_ADDR, 0);
	uint8_t *m = mem_add(MMAP_ADDR, NULL, 64 * 1024);
	mb_entry(m, 0, 64 * 1024 - 4, 0x100000, 0x400000, 1);
	assert_int_equal(mb_parse(), 0);
	assert_int_equal(bi->memmap_count, 1);
	assert_int_equal(bi->memmap[0].base, 0x100000);
	assert_int_equal(bi->memmap[0].length, 0x400000);
	assert_int_equal(bi->memmap[0].type, HVRT_MEM_RAM);
}

static void test_multiboot_unreadable_mmap(void **state)
{
	(void)state;
	make_mbi(MB_FLAG_MMAP, 48, MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, NULL, 47); /* one byte short */
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("multiboot memory map at 0x10000 is unreadable");
}

static void test_multiboot_entry_too_small(void **state)
{
	uint8_t m[48];

	(void)state;
	memset(m, 0, sizeof(m));
	mb_entry(m, 0, 20, 0x100000, 0x100000, 1);
	put32(m + 24, 16); /* declares fewer bytes than an entry has */
	make_mbi(MB_FLAG_MMAP, sizeof(m), MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, m, sizeof(m));
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("hvrt: boot: error: corrupt multiboot memory map: entry 1 declares 16 bytes\n");
}

static void test_multiboot_entry_past_end(void **state)
{
	uint8_t m[48];

	(void)state;
	mb_entry(m, 0, 20, 0x100000, 0x100000, 1);
	mb_entry(m, 24, 24, 0x200000, 0x100000, 1); /* 4 + 24 bytes, but only 24 left */
	make_mbi(MB_FLAG_MMAP, sizeof(m), MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, m, sizeof(m));
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("corrupt multiboot memory map: entry 1 declares 24 bytes");

	/* a huge declared size must not wrap the bounds check */
	mem_free();
	log_clear();
	memset(bi, 0, sizeof(*bi));
	mb_entry(m, 0, 20, 0x100000, 0x100000, 1);
	put32(m + 24, 0xfffffffcu);
	make_mbi(MB_FLAG_MMAP, sizeof(m), MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, m, sizeof(m));
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("entry 1 declares 4294967292 bytes");
}

static void test_multiboot_stray_bytes(void **state)
{
	uint8_t m[27] = { 0 };

	(void)state;
	mb_entry(m, 0, 20, 0x100000, 0x100000, 1);
	make_mbi(MB_FLAG_MMAP, sizeof(m), MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, m, sizeof(m));
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("hvrt: boot: error: corrupt multiboot memory map: 3 stray bytes at its end\n");
}

static void test_multiboot_wrapping_entry(void **state)
{
	uint8_t m[48];

	(void)state;
	mb_entry(m, 0, 20, 0x100000, 0x100000, 1);
	mb_entry(m, 24, 20, 0xfffffffffffff000ull, 0x2000, 2);
	make_mbi(MB_FLAG_MMAP, sizeof(m), MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, m, sizeof(m));
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("corrupt multiboot memory map: entry 1 at 0xfffffffffffff000 of 0x2000 bytes wraps around\n");
}

/* Zero-length entries are skipped; types 3/4 are ACPI, 2, 5 and unknown are reserved. */
static void test_multiboot_types(void **state)
{
	uint8_t m[7 * 24];
	size_t off = 0;
	(void)state;
	off = mb_entry(m, off, 20, 0x0, 0x9f000, 1);
	off = mb_entry(m, off, 20, 0x9f000, 0x1000, 2);
	off = mb_entry(m, off, 20, 0x100000, 0x1000, 3);
	off = mb_entry(m, off, 20, 0x101000, 0x1000, 4);
	off = mb_entry(m, off, 20, 0x102000, 0x1000, 5);
	off = mb_entry(m, off, 20, 0x500000, 0, 1); /* empty: ignored */
	off = mb_entry(m, off, 20, 0x103000, 0x1000, 99);
	make_mbi(MB_FLAG_MMAP, (uint32_t)off, MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, m, off);
	assert_int_equal(mb_parse(), 0);
	/* 0x102000 (bad RAM) and 0x103000 (unknown) are both reserved and touch: merged */
	static const struct expect_region merged[] = {
		{ 0x0, 0x9f000, HVRT_MEM_RAM },
		{ 0x9f000, 0x1000, HVRT_MEM_RESERVED },
		{ 0x100000, 0x1000, HVRT_MEM_ACPI_RECLAIM },
		{ 0x101000, 0x1000, HVRT_MEM_ACPI_NVS },
		{ 0x102000, 0x2000, HVRT_MEM_RESERVED },
	};
	ASSERT_REGIONS(bi, merged);
}

static void test_multiboot_no_ram(void **state)
{
	uint8_t m[48];

	(void)state;
	mb_entry(m, 0, 20, 0x0, 0x9fc00, 2);
	mb_entry(m, 24, 20, 0xe0000, 0x1000, 3);
	make_mbi(MB_FLAG_MMAP, sizeof(m), MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, m, sizeof(m));
	assert_int_equal(mb_parse(), -ENOENT);
	assert_logged("hvrt: boot: error: the multiboot memory map describes no RAM\n");
}

static void test_multiboot_too_many_entries(void **state)
{
	const size_t n = HVRT_MEMMAP_MAX + 1;
	static uint8_t m[(HVRT_MEMMAP_MAX + 1) * 24];
	size_t off = 0;

	(void)state;
	for (size_t i = 0; i < n; i++)
		off = mb_entry(m, off, 20, 0x2000ull * i, 0x1000, 1);
	make_mbi(MB_FLAG_MMAP, (uint32_t)off, MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, m, off);
	assert_int_equal(mb_parse(), -E2BIG);
	assert_logged("memory map has more than 256 regions");
}

/*
 * 256 entries fit in the raw list, but a RAM range with 255 reserved holes
 * punched into it normalizes into 511 pieces: refused, and (like the UEFI
 * parser, and as bootinfo_parse_multiboot documents) the reason is logged.
 */
static void test_multiboot_too_many_after_normalizing(void **state)
{
	const size_t n = HVRT_MEMMAP_MAX;
	static uint8_t m[HVRT_MEMMAP_MAX * 24];
	size_t off = 0;

	(void)state;
	off = mb_entry(m, off, 20, 0, 0x2000ull * n, 1);
	for (size_t i = 1; i < n; i++)
		off = mb_entry(m, off, 20, 0x2000ull * i - 0x1000, 0x1000, 2);
	make_mbi(MB_FLAG_MMAP, (uint32_t)off, MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, m, off);
	assert_int_equal(mb_parse(), -E2BIG);
	assert_logged("memory map has more than 256 regions");
}

/* A valid map in memory, with the command line at CMDLINE_ADDR when len > 0. */
static void mb_with_cmdline(const char *bytes, size_t len)
{
	uint8_t m[24];

	mb_entry(m, 0, 20, 0x100000, 0x100000, 1);
	make_mbi(MB_FLAG_MMAP | MB_FLAG_CMDLINE, sizeof(m), MMAP_ADDR, CMDLINE_ADDR);
	mem_add(MMAP_ADDR, m, sizeof(m));
	if (len)
		mem_add(CMDLINE_ADDR, bytes, len);
}

static void test_multiboot_cmdline_limit(void **state)
{
	char line[2048];

	(void)state;
	/* 1023 characters and the NUL: accepted whole, the NUL last in mapped memory */
	memset(line, 'a', HVRT_CMDLINE_MAX);
	line[0] = '/';
	line[HVRT_CMDLINE_MAX] = '\0';
	mb_with_cmdline(line, HVRT_CMDLINE_MAX + 1);
	assert_int_equal(mb_parse(), 0);
	assert_int_equal(strlen(bi->cmdline), HVRT_CMDLINE_MAX);
	assert_memory_equal(bi->cmdline, line, HVRT_CMDLINE_MAX + 1);
	assert_int_equal(loglen, 0);

	/* 1024 characters with no NUL among them: refused without reading further */
	mem_free();
	memset(bi, 0, sizeof(*bi));
	memset(line, 'b', HVRT_CMDLINE_MAX + 1);
	mb_with_cmdline(line, HVRT_CMDLINE_MAX + 1);
	assert_int_equal(mb_parse(), -E2BIG);
	assert_logged("hvrt: boot: error: the command line is longer than the limit of 1023 bytes\n");
	assert_string_equal(bi->cmdline, "");

	/* a longer string with the NUL far beyond the limit: same */
	mem_free();
	log_clear();
	memset(line, 'c', sizeof(line));
	line[sizeof(line) - 1] = '\0';
	mb_with_cmdline(line, sizeof(line));
	assert_int_equal(mb_parse(), -E2BIG);
	assert_logged("longer than the limit");
}

static void test_multiboot_cmdline_unreadable(void **state)
{
	(void)state;
	/* not backed at all */
	mb_with_cmdline(NULL, 0);
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("multiboot command line at 0x20000 is unreadable");

	/* mapped memory ends before the NUL */
	mem_free();
	log_clear();
	mb_with_cmdline("abc", 3);
	assert_int_equal(mb_parse(), -EINVAL);
	assert_logged("multiboot command line at 0x20000 is unreadable");

	/* an empty command line is fine */
	mem_free();
	log_clear();
	mb_with_cmdline("", 1);
	assert_int_equal(mb_parse(), 0);
	assert_string_equal(bi->cmdline, "");
}

/* ================= memmap_add / memmap_normalize / memmap_mark ================= */

static void test_memmap_add(void **state)
{
	(void)state;
	assert_int_equal(memmap_add(bi, 0x1000, 0, HVRT_MEM_RAM), -EINVAL);
	assert_int_equal(memmap_add(bi, 0x1000, 0x1000, 0), -EINVAL);
	assert_int_equal(memmap_add(bi, 0x1000, 0x1000, HVRT_MEM_MMIO + 1), -EINVAL);
	assert_int_equal(bi->memmap_count, 0);

	assert_int_equal(memmap_add(bi, 0xfffffffffffff000ull, 0x1001, HVRT_MEM_RAM), -EINVAL);
	assert_logged("memory region at 0xfffffffffffff000 of 0x1001 bytes wraps around");
	assert_int_equal(bi->memmap_count, 0);

	/* contiguous and alike: merged on the spot */
	assert_int_equal(memmap_add(bi, 0x1000, 0x1000, HVRT_MEM_RAM), 0);
	assert_int_equal(memmap_add(bi, 0x2000, 0x3000, HVRT_MEM_RAM), 0);
	assert_int_equal(bi->memmap_count, 1);
	assert_int_equal(bi->memmap[0].length, 0x4000);
	/* contiguous, different type: a new region */
	assert_int_equal(memmap_add(bi, 0x5000, 0x1000, HVRT_MEM_BOOT), 0);
	/* alike but with a gap: a new region */
	assert_int_equal(memmap_add(bi, 0x7000, 0x1000, HVRT_MEM_BOOT), 0);
	assert_int_equal(bi->memmap_count, 3);
}

/* Overlaps: the more restrictive type wins, for the overlap only. */
static void test_normalize_overlap(void **state)
{
	static const struct expect_region want[] = {
		{ 0x0, 0x4000, HVRT_MEM_RAM },
		{ 0x4000, 0x2000, HVRT_MEM_MMIO },
		{ 0x6000, 0xa000, HVRT_MEM_RAM },
	};

	(void)state;
	/* RAM first, MMIO inside */
	memmap_add(bi, 0x0, 0x10000, HVRT_MEM_RAM);
	memmap_add(bi, 0x4000, 0x2000, HVRT_MEM_MMIO);
	assert_int_equal(memmap_normalize(bi), 0);
	ASSERT_REGIONS(bi, want);

	/* same result when the MMIO comes first */
	memset(bi, 0, sizeof(*bi));
	memmap_add(bi, 0x4000, 0x2000, HVRT_MEM_MMIO);
	memmap_add(bi, 0x0, 0x10000, HVRT_MEM_RAM);
	assert_int_equal(memmap_normalize(bi), 0);
	ASSERT_REGIONS(bi, want);
}

/* For every pair of types, a partial overlap goes to the higher one. */
static void test_normalize_type_order(void **state)
{
	(void)state;
	for (uint32_t lo = HVRT_MEM_RAM; lo <= HVRT_MEM_MMIO; lo++) {
		for (uint32_t hi = lo + 1; hi <= HVRT_MEM_MMIO; hi++) {
			for (int order = 0; order < 2; order++) {
				memset(bi, 0, sizeof(*bi));
				if (order) {
					memmap_add(bi, 0x3000, 0x3000, hi);
					memmap_add(bi, 0x1000, 0x3000, lo);
				} else {
					memmap_add(bi, 0x1000, 0x3000, lo);
					memmap_add(bi, 0x3000, 0x3000, hi);
				}
				assert_int_equal(memmap_normalize(bi), 0);
				const struct expect_region want[] = {
					{ 0x1000, 0x2000, lo },
					{ 0x3000, 0x3000, hi },
				};
				ASSERT_REGIONS(bi, want);
			}
		}
	}
}

/* Unsorted input comes out sorted; touching alike regions merge; holes stay holes. */
static void test_normalize_sort_merge_holes(void **state)
{
	static const struct expect_region want[] = {
		{ 0x1000, 0x3000, HVRT_MEM_RAM },
		{ 0x5000, 0x1000, HVRT_MEM_RAM },
		{ 0x6000, 0x1000, HVRT_MEM_ACPI_RECLAIM },
		{ 0x100000000ull, 0x1000, HVRT_MEM_MMIO },
	};

	(void)state;
	memmap_add(bi, 0x100000000ull, 0x1000, HVRT_MEM_MMIO);
	memmap_add(bi, 0x3000, 0x1000, HVRT_MEM_RAM);
	memmap_add(bi, 0x6000, 0x1000, HVRT_MEM_ACPI_RECLAIM);
	memmap_add(bi, 0x2000, 0x1000, HVRT_MEM_RAM);
	memmap_add(bi, 0x5000, 0x1000, HVRT_MEM_RAM);
	memmap_add(bi, 0x1000, 0x1000, HVRT_MEM_RAM);
	memmap_add(bi, 0x1000, 0x2000, HVRT_MEM_RAM); /* duplicate cover */
	assert_int_equal(bi->memmap_count, 7);
	assert_int_equal(memmap_normalize(bi), 0);
	ASSERT_REGIONS(bi, want);

	/* normalizing again changes nothing */
	assert_int_equal(memmap_normalize(bi), 0);
	ASSERT_REGIONS(bi, want);
}

static void test_normalize_empty(void **state)
{
	(void)state;
	assert_int_equal(memmap_normalize(bi), 0);
	assert_int_equal(bi->memmap_count, 0);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_RAM), 0);
}

/* Too many pieces after cutting: -E2BIG and the map is left as it was. */
static void test_normalize_too_many_pieces(void **state)
{
	(void)state;
	memmap_add(bi, 0, 0x2000ull * HVRT_MEMMAP_MAX, HVRT_MEM_RAM);
	for (unsigned i = 1; i < HVRT_MEMMAP_MAX; i++)
		memmap_add(bi, 0x2000ull * i - 0x1000, 0x1000, HVRT_MEM_RESERVED);
	assert_int_equal(bi->memmap_count, HVRT_MEMMAP_MAX);
	assert_int_equal(memmap_normalize(bi), -E2BIG);
	assert_int_equal(bi->memmap_count, HVRT_MEMMAP_MAX);
	assert_int_equal(bi->memmap[0].base, 0);
	assert_int_equal(bi->memmap[0].length, 0x2000ull * HVRT_MEMMAP_MAX);

	/* 127 holes: 255 pieces, fits (the last RAM piece is two pages) */
	memset(bi, 0, sizeof(*bi));
	memmap_add(bi, 0, 0x2000ull * 128, HVRT_MEM_RAM);
	for (unsigned i = 1; i < 128; i++)
		memmap_add(bi, 0x2000ull * i - 0x1000, 0x1000, HVRT_MEM_RESERVED);
	assert_int_equal(memmap_normalize(bi), 0);
	assert_normalized(bi);
	assert_int_equal(bi->memmap_count, 255);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_RAM), 129 * 0x1000);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_RESERVED), 127 * 0x1000);
}

/* hvrt's image over RAM is cut out of it; over MMIO it changes nothing. */
static void test_memmap_mark(void **state)
{
	struct fixture f;
	static const struct expect_region want[] = {
		{ 0x0, 0x9fc00, HVRT_MEM_RAM },
		{ 0x9fc00, 0x400, HVRT_MEM_RESERVED },
		{ 0xf0000, 0x10000, HVRT_MEM_RESERVED },
		{ 0x100000, 0x100000, HVRT_MEM_RAM },
		{ 0x200000, 0x83000, HVRT_MEM_BOOT },
		{ 0x283000, 0x7d5d000, HVRT_MEM_RAM },
		{ 0x7fe0000, 0x20000, HVRT_MEM_RESERVED },
		{ 0xfffc0000, 0x40000, HVRT_MEM_RESERVED },
		{ 0xfd00000000, 0x300000000, HVRT_MEM_RESERVED },
	};

	(void)state;
	load_fixture("qemu-multiboot-pc-128m.map", &f);
	make_mbi(MB_FLAG_MMAP, (uint32_t)f.len, MMAP_ADDR, 0);
	mem_add(MMAP_ADDR, f.data, f.len);
	assert_int_equal(mb_parse(), 0);

	assert_int_equal(memmap_mark(bi, 0x200000, 0x83000, HVRT_MEM_BOOT), 0);
	ASSERT_REGIONS(bi, want);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_RAM), 0x9fc00 + 0x7ee0000 - 0x83000);
	assert_int_equal(memmap_bytes(bi, HVRT_MEM_BOOT), 0x83000);

	/* marking over something more restrictive leaves it alone */
	assert_int_equal(memmap_mark(bi, 0x7fe0000, 0x20000, HVRT_MEM_BOOT), 0);
	ASSERT_REGIONS(bi, want);
	/* marking the image again is idempotent */
	assert_int_equal(memmap_mark(bi, 0x200000, 0x83000, HVRT_MEM_BOOT), 0);
	ASSERT_REGIONS(bi, want);
	/* marking at the start of a RAM region, straddling its end into the reserved one */
	assert_int_equal(memmap_mark(bi, 0x9f000, 0x1000, HVRT_MEM_BOOT), 0);
	assert_normalized(bi);
	assert_int_equal(bi->memmap[0].length, 0x9f000);
	assert_int_equal(bi->memmap[1].base, 0x9f000);
	assert_int_equal(bi->memmap[1].length, 0xc00);
	assert_int_equal(bi->memmap[1].type, HVRT_MEM_BOOT);
	assert_int_equal(bi->memmap[2].base, 0x9fc00);
	assert_int_equal(bi->memmap[2].type, HVRT_MEM_RESERVED);

	assert_int_equal(memmap_mark(bi, 0x1000, 0, HVRT_MEM_BOOT), -EINVAL);
}

/* ================= bootinfo_set_cmdline, names ================= */

static void test_set_cmdline(void **state)
{
	char line[HVRT_CMDLINE_MAX + 2];

	(void)state;
	assert_int_equal(bootinfo_set_cmdline(bi, "app one two", 12), 0);
	assert_string_equal(bi->cmdline, "app one two");
	/* avail larger than the string: stops at the NUL */
	assert_int_equal(bootinfo_set_cmdline(bi, "x", 4096), 0);
	assert_string_equal(bi->cmdline, "x");
	/* no NUL within avail */
	assert_int_equal(bootinfo_set_cmdline(bi, "app one two", 5), -E2BIG);
	assert_logged("longer than the limit");
	assert_string_equal(bi->cmdline, "");

	memset(line, 'z', sizeof(line));
	line[HVRT_CMDLINE_MAX] = '\0';
	assert_int_equal(bootinfo_set_cmdline(bi, line, sizeof(line)), 0);
	assert_int_equal(strlen(bi->cmdline), HVRT_CMDLINE_MAX);
	line[HVRT_CMDLINE_MAX] = 'z';
	line[HVRT_CMDLINE_MAX + 1] = '\0';
	assert_int_equal(bootinfo_set_cmdline(bi, line, sizeof(line)), -E2BIG);
	assert_string_equal(bi->cmdline, "");
}

/* memmap_covers: a range is covered only inside one region of the type, never across a boundary. */
static void test_covers(void **state)
{
	(void)state;
	memset(bi, 0, sizeof(*bi));
	assert_int_equal(memmap_add(bi, 0x100000, 0x100000, HVRT_MEM_RAM), 0);
	assert_int_equal(memmap_add(bi, 0x200000, 0x1000, HVRT_MEM_BOOT), 0);
	assert_int_equal(memmap_add(bi, 0x201000, 0x1000, HVRT_MEM_RAM), 0);
	assert_int_equal(memmap_normalize(bi), 0);
	assert_true(memmap_covers(bi, 0x100000, 0x100000, HVRT_MEM_RAM));
	assert_true(memmap_covers(bi, 0x1ff000, 0x1000, HVRT_MEM_RAM));
	assert_false(memmap_covers(bi, 0x1ff000, 0x2000, HVRT_MEM_RAM)); /* runs into hvrt's image */
	assert_false(memmap_covers(bi, 0x200000, 0x1000, HVRT_MEM_RAM));
	assert_true(memmap_covers(bi, 0x200000, 0x1000, HVRT_MEM_BOOT));
	assert_false(memmap_covers(bi, 0x1ff000, 0x3000, HVRT_MEM_RAM)); /* spans two RAM regions across it */
	assert_false(memmap_covers(bi, 0x0, 0x1000, HVRT_MEM_RAM));    /* a hole */
	assert_false(memmap_covers(bi, 0x100000, 0, HVRT_MEM_RAM));
	assert_false(memmap_covers(bi, UINT64_MAX - 0xfff, 0x2000, HVRT_MEM_RAM)); /* wraps */
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(hvrt_mem_type_name(HVRT_MEM_RAM), "RAM");
	assert_string_equal(hvrt_mem_type_name(HVRT_MEM_BOOT_SERVICES), "boot services");
	assert_string_equal(hvrt_mem_type_name(HVRT_MEM_ACPI_RECLAIM), "ACPI");
	assert_string_equal(hvrt_mem_type_name(HVRT_MEM_BOOT), "hvrt");
	assert_string_equal(hvrt_mem_type_name(HVRT_MEM_FIRMWARE), "firmware");
	assert_string_equal(hvrt_mem_type_name(HVRT_MEM_ACPI_NVS), "ACPI NVS");
	assert_string_equal(hvrt_mem_type_name(HVRT_MEM_RESERVED), "reserved");
	assert_string_equal(hvrt_mem_type_name(HVRT_MEM_MMIO), "MMIO");
	assert_string_equal(hvrt_mem_type_name(0), "?");
	assert_string_equal(hvrt_mem_type_name(9), "?");
	assert_string_equal(hvrt_mem_type_name(0xffffffffu), "?");
	assert_string_equal(hvrt_boot_path_name(HVRT_BOOT_UEFI), "UEFI");
	assert_string_equal(hvrt_boot_path_name(HVRT_BOOT_MULTIBOOT), "multiboot");
	assert_string_equal(hvrt_boot_path_name(HVRT_BOOT_UNKNOWN), "unknown");
	assert_string_equal(hvrt_boot_path_name(42), "unknown");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TM(f) cmocka_unit_test_setup_teardown(f, setup, mb_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_efi_ovmf_fixture),
		TM(test_multiboot_qemu_fixture),
		TM(test_multiboot_grub_fixture),
		TM(test_multiboot_no_cmdline),
		T(test_efi_type_mapping),
		T(test_efi_unsorted_overlapping),
		T(test_efi_largest_descriptor),
		T(test_efi_no_map),
		T(test_efi_bad_desc_size),
		T(test_efi_partial_descriptor),
		T(test_efi_unaligned_start),
		T(test_efi_pages_overflow),
		T(test_efi_no_ram),
		T(test_efi_too_many_regions),
		T(test_efi_many_mergeable),
		TM(test_multiboot_bad_magic),
		TM(test_multiboot_unreadable_mbi),
		TM(test_multiboot_no_mmap_flag),
		TM(test_multiboot_bad_mmap_length),
		TM(test_multiboot_mmap_64k),
		TM(test_multiboot_unreadable_mmap),
		TM(test_multiboot_entry_too_small),
		TM(test_multiboot_entry_past_end),
		TM(test_multiboot_stray_bytes),
		TM(test_multiboot_wrapping_entry),
		TM(test_multiboot_types),
		TM(test_multiboot_no_ram),
		TM(test_multiboot_too_many_entries),
		TM(test_multiboot_too_many_after_normalizing),
		TM(test_multiboot_cmdline_limit),
		TM(test_multiboot_cmdline_unreadable),
		T(test_memmap_add),
		T(test_normalize_overlap),
		T(test_normalize_type_order),
		T(test_normalize_sort_merge_holes),
		T(test_normalize_empty),
		T(test_normalize_too_many_pieces),
		TM(test_memmap_mark),
		T(test_set_cmdline),
		T(test_covers),
		T(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
