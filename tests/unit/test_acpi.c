/*
 * Unit tests for arch/x86_64/acpi.c: RSDP discovery, table validation, the
 * FADT fields, \_S5 decoding and the S5 power-off sequence.
 *
 * Firmware memory is a set of regions at made-up physical addresses, served
 * by fake_map(). Each region ends flush against an inaccessible page, so any
 * read past what the map function handed out crashes the test.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/cpu.h"
#include "hvrt/log.h"

static unsigned warnings;

void hvrt_log(enum hvrt_log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;

	if (level <= HVRT_LOG_WARN)
		warnings++;
	printf("hvrt: %s: ", module);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ---- fake physical memory ---- */

#define MAX_REGIONS 32

struct region {
	uint64_t addr, len;
	uint8_t *data;
	uint8_t *mapping;
	size_t mapping_size;
};

struct fake_mem {
	struct region r[MAX_REGIONS];
	unsigned n;
};

/* Backs len bytes at physical addr (zeros when data is NULL); returns them for editing. */
static uint8_t *mem_add(struct fake_mem *m, uint64_t addr, const void *data, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = (len + page - 1) / page * page + page;
	uint8_t *mapping = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *p;

	assert_true(mapping != MAP_FAILED);
	assert_int_equal(mprotect(mapping + size - page, page, PROT_NONE), 0);
	assert_true(m->n < MAX_REGIONS);
	p = mapping + size - page - len;
	if (data)
		memcpy(p, data, len);
	m->r[m->n++] = (struct region){ addr, len, p, mapping, size };
	return p;
}

static const void *fake_map(void *ctx, uint64_t addr, uint64_t len)
{
	struct fake_mem *m = ctx;

	for (unsigned i = 0; i < m->n; i++) {
		const struct region *r = &m->r[i];

		if (addr >= r->addr && len <= r->len && addr - r->addr <= r->len - len)
			return r->data + (addr - r->addr);
	}
	return NULL;
}

static int setup(void **state)
{
	static struct fake_mem mem;

	mem = (struct fake_mem){ 0 };
	warnings = 0;
	*state = &mem;
	return 0;
}

static int teardown(void **state)
{
	struct fake_mem *m = *state;

	for (unsigned i = 0; i < m->n; i++)
		munmap(m->r[i].mapping, m->r[i].mapping_size);
	cpu_sim_install(NULL);
	return 0;
}

/* ---- building tables ---- */

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof(v)); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof(v)); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof(v)); }

static void put_gas(uint8_t *p, uint8_t space, uint8_t bit_width, uint64_t addr)
{
	p[0] = space;
	p[1] = bit_width;
	p[2] = 0;
	p[3] = 0;
	put64(p + 4, addr);
}

/* Sets the byte at p[at] so that the len bytes at p sum to 0. */
static void set_checksum(uint8_t *p, size_t len, size_t at)
{
	uint8_t sum = 0;

	p[at] = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	p[at] = (uint8_t)-sum;
}

/* Fills in the SDT header of the len-byte table at t, checksum last. */
static void finish_sdt(uint8_t *t, const char *sig, uint8_t revision, uint32_t len)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = revision;
	memcpy(t + 10, "HVRTT ", 6);
	memcpy(t + 16, "UNITTEST", 8);
	put32(t + 24, 1);
	memcpy(t + 28, "HVRT", 4);
	put32(t + 32, 1);
	set_checksum(t, len, 9);
}

/* Adds a len-byte table; its body (after the 36-byte header) comes from body, or zeros. */
static uint8_t *add_sdt(struct fake_mem *m, uint64_t addr, const char *sig, uint8_t revision,
			const void *body, size_t len)
{
	uint8_t *t = mem_add(m, addr, NULL, len);

	if (body)
		memcpy(t + 36, body, len - 36);
	finish_sdt(t, sig, revision, (uint32_t)len);
	return t;
}

static uint8_t *add_root(struct fake_mem *m, uint64_t addr, bool xsdt, const uint64_t *entries,
			 size_t n)
{
	size_t esz = xsdt ? 8 : 4;
	uint8_t *t = mem_add(m, addr, NULL, 36 + n * esz);

	for (size_t i = 0; i < n; i++) {
		if (xsdt)
			put64(t + 36 + 8 * i, entries[i]);
		else
			put32(t + 36 + 4 * i, (uint32_t)entries[i]);
	}
	finish_sdt(t, xsdt ? "XSDT" : "RSDT", 1, (uint32_t)(36 + n * esz));
	return t;
}

/* Revision 0 gives a 20-byte ACPI 1.0 RSDP, revision 2 a 36-byte one with the XSDT. */
static uint8_t *add_rsdp(struct fake_mem *m, uint64_t addr, uint8_t revision, uint32_t rsdt,
			 uint64_t xsdt)
{
	size_t len = revision >= 2 ? 36 : 20;
	uint8_t *p = mem_add(m, addr, NULL, len);

	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, "HVRTT ", 6);
	p[15] = revision;
	put32(p + 16, rsdt);
	if (revision >= 2) {
		put32(p + 20, 36);
		put64(p + 24, xsdt);
	}
	set_checksum(p, 20, 8);
	if (revision >= 2)
		set_checksum(p, 36, 32);
	return p;
}

/* Layout of the synthetic machines. */
enum {
	RSDP_ADDR = 0xf0000,
	RSDT_ADDR = 0x7fe0000,
	XSDT_ADDR = 0x7fe0100,
	FADT_ADDR = 0x7fe1000,
	FADT2_ADDR = 0x7fe1400,
	DSDT_ADDR = 0x7fe2000,
	DSDT2_ADDR = 0x7fe2800,
	MADT_ADDR = 0x7fe3000,
};

#define FADT_V1_LEN 116
#define FADT_V5_LEN 276

/*
 * A FADT like QEMU q35's: PM1a_CNT 0x604, PM timer 0x608, 24-bit, SMI_CMD 0xb2.
 * The extended fields are filled in only when len has room for them.
 */
static void fadt_init(uint8_t *f, size_t len, uint32_t dsdt)
{
	memset(f, 0, len);
	put32(f + 40, dsdt);
	put32(f + 48, 0xb2);
	f[52] = 0xf1;
	put32(f + 64, 0x604);
	put32(f + 76, 0x608);
	f[108] = 0x32;
	put32(f + 112, 0x80a5);
	if (len >= 244) {
		put64(f + 140, dsdt);
		put_gas(f + 172, 1, 16, 0x604);
		put_gas(f + 208, 1, 32, 0x608);
	}
}

static uint8_t *add_fadt(struct fake_mem *m, uint64_t addr, uint8_t *f, size_t len)
{
	uint8_t *t = mem_add(m, addr, f, len);

	finish_sdt(t, "FACP", len >= 244 ? 5 : 1, (uint32_t)len);
	return t;
}

/* An ACPI 1.0 machine: RSDP -> RSDT -> {FADT, MADT}, FADT -> DSDT holding aml. */
static void add_v1_machine(struct fake_mem *m, uint8_t *fadt, size_t fadt_len, const uint8_t *aml,
			   size_t aml_len)
{
	static const uint8_t madt_body[8] = { 0x00, 0x00, 0xe0, 0xfe, 0x01, 0x00, 0x00, 0x00 };
	uint64_t entries[] = { FADT_ADDR, MADT_ADDR };

	add_rsdp(m, RSDP_ADDR, 0, RSDT_ADDR, 0);
	add_root(m, RSDT_ADDR, false, entries, 2);
	add_fadt(m, FADT_ADDR, fadt, fadt_len);
	add_sdt(m, DSDT_ADDR, "DSDT", 2, aml, 36 + aml_len);
	add_sdt(m, MADT_ADDR, "APIC", 1, madt_body, 36 + sizeof(madt_body));
}

static struct acpi_info parse_ok(struct fake_mem *m, uint64_t rsdp)
{
	struct acpi_info info;

	assert_int_equal(acpi_parse(fake_map, m, rsdp, &info), 0);
	return info;
}

/*
 * ---- tables captured from QEMU 7.2 ----
 * SeaBIOS with -machine pc, and OVMF with -machine q35: guest memory saved with
 * the monitor's pmemsave after the firmware finished, then the tables cut out.
 * Each is placed at the address the firmware put it.
 */

static const uint8_t pc_rsdp[] = {
	0x52, 0x53, 0x44, 0x20, 0x50, 0x54, 0x52, 0x20, 0x8f, 0x42, 0x4f, 0x43,
	0x48, 0x53, 0x20, 0x00, 0xa4, 0x1a, 0xfe, 0x07,
};

static const uint8_t pc_rsdt[] = {
	0x52, 0x53, 0x44, 0x54, 0x34, 0x00, 0x00, 0x00, 0x01, 0xc5, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x58, 0x19, 0xfe, 0x07, 0xcc, 0x19, 0xfe, 0x07, 0x44, 0x1a, 0xfe, 0x07,
	0x7c, 0x1a, 0xfe, 0x07,
};

static const uint8_t pc_facp[] = {
	0x46, 0x41, 0x43, 0x50, 0x74, 0x00, 0x00, 0x00, 0x01, 0xf1, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xfe, 0x07, 0x40, 0x00, 0xfe, 0x07, 0x01, 0x00, 0x09, 0x00,
	0xb2, 0x00, 0x00, 0x00, 0xf1, 0xf0, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x04, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x08, 0x06, 0x00, 0x00, 0xe0, 0xaf, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x04, 0x02, 0x00, 0x04, 0x04, 0x00, 0x00, 0x00,
	0xff, 0x0f, 0xff, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x32, 0x00, 0x00, 0x00, 0xa5, 0x80, 0x00, 0x00,
};

static const uint8_t pc_apic[] = {
	0x41, 0x50, 0x49, 0x43, 0x78, 0x00, 0x00, 0x00, 0x01, 0x8a, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xe0, 0xfe, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xfe,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x02, 0x0a, 0x00, 0x05, 0x05, 0x00, 0x00, 0x00, 0x0d, 0x00,
	0x02, 0x0a, 0x00, 0x09, 0x09, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x02, 0x0a,
	0x00, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x02, 0x0a, 0x00, 0x0b,
	0x0b, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x04, 0x06, 0xff, 0x00, 0x00, 0x01,
};

static const uint8_t pc_hpet[] = {
	0x48, 0x50, 0x45, 0x54, 0x38, 0x00, 0x00, 0x00, 0x01, 0xb4, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x01, 0xa2, 0x86, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd0, 0xfe,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static const uint8_t pc_waet[] = {
	0x57, 0x41, 0x45, 0x54, 0x28, 0x00, 0x00, 0x00, 0x01, 0x39, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00,
};

static const uint8_t ovmf_rsdp[] = {
	0x52, 0x53, 0x44, 0x20, 0x50, 0x54, 0x52, 0x20, 0x8e, 0x42, 0x4f, 0x43,
	0x48, 0x53, 0x20, 0x02, 0x74, 0xd0, 0x77, 0x07, 0x24, 0x00, 0x00, 0x00,
	0xe8, 0xd0, 0x77, 0x07, 0x00, 0x00, 0x00, 0x00, 0xa6, 0x00, 0x00, 0x00,
};

static const uint8_t ovmf_xsdt[] = {
	0x58, 0x53, 0x44, 0x54, 0x54, 0x00, 0x00, 0x00, 0x01, 0x33, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x20, 0x20, 0x20, 0x20, 0x13, 0x00, 0x00, 0x01,
	0x00, 0x90, 0x77, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x77, 0x07,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x70, 0x77, 0x07, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x60, 0x77, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x77, 0x07,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x77, 0x07, 0x00, 0x00, 0x00, 0x00,
};

static const uint8_t ovmf_rsdt[] = {
	0x52, 0x53, 0x44, 0x54, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x51, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x20, 0x20, 0x20, 0x20, 0x13, 0x00, 0x00, 0x01,
	0x00, 0x90, 0x77, 0x07, 0x00, 0x80, 0x77, 0x07, 0x00, 0x70, 0x77, 0x07,
	0x00, 0x60, 0x77, 0x07, 0x00, 0x50, 0x77, 0x07, 0x00, 0x40, 0x77, 0x07,
};

static const uint8_t ovmf_facp[] = {
	0x46, 0x41, 0x43, 0x50, 0xf4, 0x00, 0x00, 0x00, 0x03, 0x27, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x00, 0xd0, 0x7d, 0x07, 0x00, 0xa0, 0x77, 0x07, 0x01, 0x00, 0x09, 0x00,
	0xb2, 0x00, 0x00, 0x00, 0x02, 0x03, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x04, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x08, 0x06, 0x00, 0x00, 0x20, 0x06, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x04, 0x02, 0x00, 0x04, 0x10, 0x00, 0x00, 0x00,
	0xff, 0x0f, 0xff, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x32, 0x02, 0x00, 0x00, 0xa5, 0x84, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00,
	0xf9, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x77, 0x07,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x10, 0x00, 0x00, 0x04, 0x06, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x00, 0x00, 0x08, 0x06, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x20, 0x06, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
};

static const uint8_t ovmf_apic[] = {
	0x41, 0x50, 0x49, 0x43, 0x78, 0x00, 0x00, 0x00, 0x01, 0x8a, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xe0, 0xfe, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xfe,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x02, 0x0a, 0x00, 0x05, 0x05, 0x00, 0x00, 0x00, 0x0d, 0x00,
	0x02, 0x0a, 0x00, 0x09, 0x09, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x02, 0x0a,
	0x00, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x02, 0x0a, 0x00, 0x0b,
	0x0b, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x04, 0x06, 0xff, 0x00, 0x00, 0x01,
};

static const uint8_t ovmf_hpet[] = {
	0x48, 0x50, 0x45, 0x54, 0x38, 0x00, 0x00, 0x00, 0x01, 0xb4, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x01, 0xa2, 0x86, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd0, 0xfe,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static const uint8_t ovmf_mcfg[] = {
	0x4d, 0x43, 0x46, 0x47, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x8c, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb0,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00,
};

static const uint8_t ovmf_waet[] = {
	0x57, 0x41, 0x45, 0x54, 0x28, 0x00, 0x00, 0x00, 0x01, 0x39, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00,
};

static const uint8_t ovmf_bgrt[] = {
	0x42, 0x47, 0x52, 0x54, 0x38, 0x00, 0x00, 0x00, 0x01, 0x67, 0x49, 0x4e,
	0x54, 0x45, 0x4c, 0x20, 0x45, 0x44, 0x4b, 0x32, 0x20, 0x20, 0x20, 0x20,
	0x02, 0x00, 0x00, 0x00, 0x20, 0x20, 0x20, 0x20, 0x13, 0x00, 0x00, 0x01,
	0x01, 0x00, 0x01, 0x00, 0x18, 0x90, 0x34, 0x06, 0x00, 0x00, 0x00, 0x00,
	0x1f, 0x02, 0x00, 0x00, 0x73, 0x01, 0x00, 0x00,
};

/* QEMU's DSDT header; the test rewrites its length and checksum. */
static const uint8_t qemu_dsdt_header[] = {
	0x44, 0x53, 0x44, 0x54, 0x18, 0x19, 0x00, 0x00, 0x01, 0x0a, 0x42, 0x4f,
	0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
	0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
};

/* QEMU's Scope (\) { Name (_S3_, ...) Name (_S4_, ...) Name (_S5_, Package (4) {0, 0, 0, 0}) } */
static const uint8_t qemu_sleep_scope[] = {
	0x10, 0x29, 0x5c, 0x00, 0x08, 0x5f, 0x53, 0x33, 0x5f, 0x12, 0x06, 0x04,
	0x01, 0x01, 0x00, 0x00, 0x08, 0x5f, 0x53, 0x34, 0x5f, 0x12, 0x08, 0x04,
	0x0a, 0x02, 0x0a, 0x02, 0x00, 0x00, 0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12,
	0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
};

#define QEMU_PC_RSDP 0xf59d0
#define QEMU_PC_DSDT 0x7fe0040
#define OVMF_RSDP 0x777e014
#define OVMF_DSDT 0x777a000

/* QEMU's DSDT cut down to its sleep-state scope, at addr. */
static void add_qemu_dsdt(struct fake_mem *m, uint64_t addr)
{
	uint8_t *t = mem_add(m, addr, NULL, sizeof(qemu_dsdt_header) + sizeof(qemu_sleep_scope));

	memcpy(t, qemu_dsdt_header, sizeof(qemu_dsdt_header));
	memcpy(t + sizeof(qemu_dsdt_header), qemu_sleep_scope, sizeof(qemu_sleep_scope));
	put32(t + 4, sizeof(qemu_dsdt_header) + sizeof(qemu_sleep_scope));
	set_checksum(t, sizeof(qemu_dsdt_header) + sizeof(qemu_sleep_scope), 9);
}

static void add_qemu_pc(struct fake_mem *m)
{
	mem_add(m, QEMU_PC_RSDP, pc_rsdp, sizeof(pc_rsdp));
	mem_add(m, 0x7fe1aa4, pc_rsdt, sizeof(pc_rsdt));
	mem_add(m, 0x7fe1958, pc_facp, sizeof(pc_facp));
	mem_add(m, 0x7fe19cc, pc_apic, sizeof(pc_apic));
	mem_add(m, 0x7fe1a44, pc_hpet, sizeof(pc_hpet));
	mem_add(m, 0x7fe1a7c, pc_waet, sizeof(pc_waet));
	add_qemu_dsdt(m, QEMU_PC_DSDT);
}

static void add_ovmf_q35(struct fake_mem *m)
{
	mem_add(m, OVMF_RSDP, ovmf_rsdp, sizeof(ovmf_rsdp));
	mem_add(m, 0x777d0e8, ovmf_xsdt, sizeof(ovmf_xsdt));
	mem_add(m, 0x777d074, ovmf_rsdt, sizeof(ovmf_rsdt));
	mem_add(m, 0x7779000, ovmf_facp, sizeof(ovmf_facp));
	mem_add(m, 0x7778000, ovmf_apic, sizeof(ovmf_apic));
	mem_add(m, 0x7777000, ovmf_hpet, sizeof(ovmf_hpet));
	mem_add(m, 0x7776000, ovmf_mcfg, sizeof(ovmf_mcfg));
	mem_add(m, 0x7775000, ovmf_waet, sizeof(ovmf_waet));
	mem_add(m, 0x7774000, ovmf_bgrt, sizeof(ovmf_bgrt));
	add_qemu_dsdt(m, OVMF_DSDT);
}

/* ---- acpi_find_rsdp ---- */

/* A BIOS data area whose EBDA pointer names segment seg. */
static void add_bda(struct fake_mem *m, uint16_t seg)
{
	uint8_t *bda = mem_add(m, 0x400, NULL, 0x100);

	put16(bda + 0x0e, seg);
}

static void test_rsdp_in_ebda_wins(void **state)
{
	struct fake_mem *m = *state;
	uint64_t rsdp = 0;

	add_bda(m, 0x9fc0);
	mem_add(m, 0x9fc00, NULL, 0x40);
	add_rsdp(m, 0x9fc40, 0, RSDT_ADDR, 0);
	mem_add(m, 0xe0000, NULL, 0x100);
	add_rsdp(m, 0xe0100, 0, RSDT_ADDR, 0);

	assert_int_equal(acpi_find_rsdp(fake_map, m, &rsdp), 0);
	assert_int_equal(rsdp, 0x9fc40);
}

static void test_rsdp_in_bios_area(void **state)
{
	struct fake_mem *m = *state;
	uint64_t rsdp = 0;

	add_bda(m, 0x9fc0);
	mem_add(m, 0x9fc00, NULL, 0x400);
	mem_add(m, QEMU_PC_RSDP, pc_rsdp, sizeof(pc_rsdp));

	assert_int_equal(acpi_find_rsdp(fake_map, m, &rsdp), 0);
	assert_int_equal(rsdp, QEMU_PC_RSDP);
}

static void test_rsdp_v2_in_bios_area(void **state)
{
	struct fake_mem *m = *state;
	uint64_t rsdp = 0;

	add_rsdp(m, 0xfffd0, 2, RSDT_ADDR, XSDT_ADDR);
	assert_int_equal(acpi_find_rsdp(fake_map, m, &rsdp), 0);
	assert_int_equal(rsdp, 0xfffd0);
}

static void test_rsdp_bad_checksums_passed_over(void **state)
{
	struct fake_mem *m = *state;
	uint64_t rsdp = 0;
	uint8_t *bad = add_rsdp(m, 0xe0000, 0, RSDT_ADDR, 0);
	uint8_t *bad_ext = add_rsdp(m, 0xe1000, 2, RSDT_ADDR, XSDT_ADDR);

	bad[8]++;
	bad_ext[32]++; /* the 20-byte checksum still holds */
	add_rsdp(m, 0xe2000, 2, RSDT_ADDR, XSDT_ADDR);

	assert_int_equal(acpi_find_rsdp(fake_map, m, &rsdp), 0);
	assert_int_equal(rsdp, 0xe2000);
}

static void test_rsdp_not_found(void **state)
{
	struct fake_mem *m = *state;
	uint64_t rsdp = 0x1234;
	uint8_t *area = mem_add(m, 0xe0000, NULL, 0x20000);
	uint8_t v1[20] = "RSD PTR ";

	/* A valid RSDP, but off the 16-byte grid. */
	set_checksum(v1, sizeof(v1), 8);
	memcpy(area + 0x108, v1, sizeof(v1));
	/* A bare signature. */
	memcpy(area + 0x200, "RSD PTR ", 8);
	add_bda(m, 0x9fc0);

	assert_int_equal(acpi_find_rsdp(fake_map, m, &rsdp), -ENOENT);
	assert_int_equal(rsdp, 0x1234);
}

static void test_rsdp_ebda_pointer_out_of_range(void **state)
{
	struct fake_mem *m = *state;
	uint64_t rsdp = 0;

	uint8_t *bda = mem_add(m, 0x400, NULL, 0x100);

	/* Neither the interrupt vectors nor option ROM space can be an EBDA. */
	add_rsdp(m, 0, 0, RSDT_ADDR, 0);
	add_rsdp(m, 0xc0000, 0, RSDT_ADDR, 0);
	put16(bda + 0x0e, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, m, &rsdp), -ENOENT);
	put16(bda + 0x0e, 0xc000);
	assert_int_equal(acpi_find_rsdp(fake_map, m, &rsdp), -ENOENT);
}

static void test_rsdp_ebda_scan_is_1k(void **state)
{
	struct fake_mem *m = *state;
	uint64_t rsdp = 0;

	add_bda(m, 0x9000);
	mem_add(m, 0x90000, NULL, 0x400);
	add_rsdp(m, 0x90400, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, m, &rsdp), -ENOENT);
}

/* ---- acpi_parse on real tables ---- */

static void test_parse_qemu_pc_seabios(void **state)
{
	struct fake_mem *m = *state;
	struct acpi_info info;

	add_qemu_pc(m);
	info = parse_ok(m, QEMU_PC_RSDP);

	assert_int_equal(info.rsdp, QEMU_PC_RSDP);
	assert_int_equal(info.revision, 0);
	assert_string_equal(info.oem_id, "BOCHS ");
	assert_int_equal(info.root, 0x7fe1aa4);
	assert_false(info.root_is_xsdt);
	assert_int_equal(info.fadt, 0x7fe1958);
	assert_int_equal(info.dsdt, QEMU_PC_DSDT);
	assert_int_equal(info.madt, 0x7fe19cc);
	assert_int_equal(info.pm_timer_port, 0x608);
	assert_false(info.pm_timer_32bit);
	assert_int_equal(info.pm1a_cnt, 0x604);
	assert_int_equal(info.pm1b_cnt, 0);
	assert_int_equal(info.smi_cmd, 0xb2);
	assert_int_equal(info.acpi_enable, 0xf1);
	assert_int_equal(info.century, 0x32);
	assert_false(info.hw_reduced);
	assert_true(info.s5_valid);
	assert_int_equal(info.slp_typa, 0);
	assert_int_equal(info.slp_typb, 0);
	assert_int_equal(warnings, 0);
}

static void test_parse_qemu_q35_ovmf(void **state)
{
	struct fake_mem *m = *state;
	struct acpi_info info;

	add_ovmf_q35(m);
	info = parse_ok(m, OVMF_RSDP);

	assert_int_equal(info.revision, 2);
	assert_string_equal(info.oem_id, "BOCHS ");
	assert_int_equal(info.root, 0x777d0e8);
	assert_true(info.root_is_xsdt);
	assert_int_equal(info.fadt, 0x7779000);
	assert_int_equal(info.dsdt, OVMF_DSDT);
	assert_int_equal(info.madt, 0x7778000);
	assert_int_equal(info.pm_timer_port, 0x608);
	assert_false(info.pm_timer_32bit);
	assert_int_equal(info.pm1a_cnt, 0x604);
	assert_int_equal(info.pm1b_cnt, 0);
	assert_int_equal(info.smi_cmd, 0xb2);
	assert_int_equal(info.acpi_enable, 0x02);
	assert_int_equal(info.century, 0x32);
	assert_true(info.s5_valid);
	assert_int_equal(info.slp_typa, 0);
	assert_int_equal(warnings, 0);
}

/* ---- acpi_parse: root tables ---- */

static void test_parse_prefers_xsdt(void **state)
{
	struct fake_mem *m = *state;
	uint8_t f1[FADT_V5_LEN], f2[FADT_V5_LEN];
	uint64_t via_rsdt = FADT_ADDR, via_xsdt = FADT2_ADDR;
	struct acpi_info info;

	fadt_init(f1, sizeof(f1), DSDT_ADDR);
	put_gas(f1 + 208, 1, 32, 0x408);
	fadt_init(f2, sizeof(f2), DSDT_ADDR);
	put_gas(f2 + 208, 1, 32, 0x1008);
	add_rsdp(m, RSDP_ADDR, 2, RSDT_ADDR, XSDT_ADDR);
	add_root(m, RSDT_ADDR, false, &via_rsdt, 1);
	add_root(m, XSDT_ADDR, true, &via_xsdt, 1);
	add_fadt(m, FADT_ADDR, f1, sizeof(f1));
	add_fadt(m, FADT2_ADDR, f2, sizeof(f2));
	add_sdt(m, DSDT_ADDR, "DSDT", 2, qemu_sleep_scope, 36 + sizeof(qemu_sleep_scope));

	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.root, XSDT_ADDR);
	assert_true(info.root_is_xsdt);
	assert_int_equal(info.fadt, FADT2_ADDR);
	assert_int_equal(info.pm_timer_port, 0x1008);
}

static void test_parse_bad_xsdt_falls_back_to_rsdt(void **state)
{
	struct fake_mem *m = *state;
	uint8_t f[FADT_V1_LEN];
	uint64_t entry = FADT_ADDR;
	struct acpi_info info;

	fadt_init(f, sizeof(f), DSDT_ADDR);
	add_rsdp(m, RSDP_ADDR, 2, RSDT_ADDR, XSDT_ADDR);
	add_root(m, RSDT_ADDR, false, &entry, 1);
	add_root(m, XSDT_ADDR, true, &entry, 1)[9] ^= 0x55;
	add_fadt(m, FADT_ADDR, f, sizeof(f));

	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.root, RSDT_ADDR);
	assert_false(info.root_is_xsdt);
	assert_int_equal(info.fadt, FADT_ADDR);
	assert_true(warnings > 0);
}

static void test_parse_rev2_without_xsdt_uses_rsdt(void **state)
{
	struct fake_mem *m = *state;
	uint64_t entry = MADT_ADDR;
	struct acpi_info info;

	add_rsdp(m, RSDP_ADDR, 2, RSDT_ADDR, 0);
	add_root(m, RSDT_ADDR, false, &entry, 1);
	add_sdt(m, MADT_ADDR, "APIC", 1, NULL, 44);

	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.root, RSDT_ADDR);
	assert_int_equal(info.madt, MADT_ADDR);
	assert_int_equal(info.fadt, 0);
	assert_int_equal(info.pm1a_cnt, 0);
	assert_false(info.s5_valid);
}

static void test_parse_bad_rsdp(void **state)
{
	struct fake_mem *m = *state;
	struct acpi_info info;
	uint8_t *p;

	info.fadt = 1;
	assert_int_equal(acpi_parse(fake_map, m, RSDP_ADDR, &info), -EFAULT);
	assert_int_equal(info.fadt, 0);

	p = add_rsdp(m, RSDP_ADDR, 0, RSDT_ADDR, 0);
	p[8]++;
	assert_int_equal(acpi_parse(fake_map, m, RSDP_ADDR, &info), -EINVAL);

	p = add_rsdp(m, 0xf1000, 2, RSDT_ADDR, XSDT_ADDR);
	put32(p + 20, 0xffffff00); /* Length: would make the extended checksum read far */
	set_checksum(p, 36, 32);
	assert_int_equal(acpi_parse(fake_map, m, 0xf1000, &info), -EINVAL);
}

static void test_parse_no_valid_root(void **state)
{
	struct fake_mem *m = *state;
	struct acpi_info info;
	uint64_t entry = FADT_ADDR;

	add_rsdp(m, RSDP_ADDR, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_parse(fake_map, m, RSDP_ADDR, &info), -EINVAL); /* unmapped */

	add_root(m, RSDT_ADDR, false, &entry, 1)[0] = 'X'; /* wrong signature */
	assert_int_equal(acpi_parse(fake_map, m, RSDP_ADDR, &info), -EINVAL);

	add_rsdp(m, 0xf1000, 0, 0x7fe0800, 0);
	put32(add_root(m, 0x7fe0800, false, NULL, 0) + 4, 20); /* shorter than a header */
	assert_int_equal(acpi_parse(fake_map, m, 0xf1000, &info), -EINVAL);
}

/* ---- acpi_parse: validating the tables the root points to ---- */

static void test_parse_bad_checksum_table_skipped(void **state)
{
	struct fake_mem *m = *state;
	uint8_t f1[FADT_V1_LEN], f2[FADT_V1_LEN];
	uint64_t entries[] = { 0, FADT_ADDR, MADT_ADDR, FADT2_ADDR };
	struct acpi_info info;

	fadt_init(f1, sizeof(f1), DSDT_ADDR);
	put32(f1 + 76, 0x408);
	fadt_init(f2, sizeof(f2), DSDT_ADDR);
	add_rsdp(m, RSDP_ADDR, 0, RSDT_ADDR, 0);
	add_root(m, RSDT_ADDR, false, entries, 4);
	add_fadt(m, FADT_ADDR, f1, sizeof(f1))[FADT_V1_LEN - 1] ^= 1;
	add_sdt(m, MADT_ADDR, "APIC", 1, NULL, 44)[40] ^= 1;
	add_fadt(m, FADT2_ADDR, f2, sizeof(f2));
	add_sdt(m, DSDT_ADDR, "DSDT", 2, qemu_sleep_scope, 36 + sizeof(qemu_sleep_scope));

	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.fadt, FADT2_ADDR);
	assert_int_equal(info.pm_timer_port, 0x608);
	assert_int_equal(info.madt, 0);
	assert_true(info.s5_valid);
	assert_int_equal(warnings, 2);
}

static void test_parse_truncated_tables(void **state)
{
	struct fake_mem *m = *state;
	uint8_t f[FADT_V1_LEN];
	uint8_t *t;
	struct acpi_info info;

	fadt_init(f, sizeof(f), DSDT_ADDR);
	add_v1_machine(m, f, sizeof(f), qemu_sleep_scope, sizeof(qemu_sleep_scope));
	/* A Length too short for even a header, with a checksum that holds over it. */
	t = (uint8_t *)fake_map(m, FADT_ADDR, 36);
	put32(t + 4, 20);
	set_checksum(t, 20, 9);

	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.fadt, 0);
	assert_int_equal(info.pm1a_cnt, 0);
	assert_int_equal(info.madt, MADT_ADDR);
	assert_int_equal(warnings, 2); /* the FADT, and the missing FADT */
}

static void test_parse_length_beyond_map_refused(void **state)
{
	struct fake_mem *m = *state;
	uint8_t f[FADT_V5_LEN];
	uint8_t *d;
	struct acpi_info info;

	/* The FADT says 276 bytes, but only 244 are backed: it must not be read at all. */
	fadt_init(f, sizeof(f), DSDT_ADDR);
	finish_sdt(f, "FACP", 5, sizeof(f));
	add_rsdp(m, RSDP_ADDR, 0, RSDT_ADDR, 0);
	add_root(m, RSDT_ADDR, false, (const uint64_t[]){ FADT_ADDR }, 1);
	mem_add(m, FADT_ADDR, f, 244);
	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.fadt, 0);
	assert_int_equal(info.pm_timer_port, 0);

	/* Likewise a DSDT claiming more than is backed: the FADT stays, \_S5 is not trusted. */
	fadt_init(f, sizeof(f), DSDT2_ADDR);
	add_fadt(m, FADT2_ADDR, f, sizeof(f));
	add_root(m, 0x7fe0800, false, (const uint64_t[]){ FADT2_ADDR }, 1);
	add_rsdp(m, 0xf1000, 0, 0x7fe0800, 0);
	d = add_sdt(m, DSDT2_ADDR, "DSDT", 2, qemu_sleep_scope, 36 + sizeof(qemu_sleep_scope));
	put32(d + 4, 1u << 20);
	info = parse_ok(m, 0xf1000);
	assert_int_equal(info.fadt, FADT2_ADDR);
	assert_int_equal(info.pm1a_cnt, 0x604);
	assert_false(info.s5_valid);
}

static void test_parse_oversized_table_refused(void **state)
{
	struct fake_mem *m = *state;
	const uint32_t len = ACPI_TABLE_MAX_LEN + 1;
	uint8_t *t;
	struct acpi_info info;

	/* Backed and checksummed, but longer than any real table. */
	add_rsdp(m, RSDP_ADDR, 0, RSDT_ADDR, 0);
	add_root(m, RSDT_ADDR, false, (const uint64_t[]){ MADT_ADDR }, 1);
	t = mem_add(m, MADT_ADDR, NULL, len);
	finish_sdt(t, "APIC", 1, len);

	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.madt, 0);
}

static void test_parse_root_entry_count_bounded(void **state)
{
	struct fake_mem *m = *state;
	uint64_t entries[1100] = { 0 };

	/* An RSDT of 1100 entries: the walk stops at 1024, before the MADT. */
	entries[1050] = MADT_ADDR;
	add_rsdp(m, RSDP_ADDR, 0, RSDT_ADDR, 0);
	add_root(m, RSDT_ADDR, false, entries, 1100);
	add_sdt(m, MADT_ADDR, "APIC", 1, NULL, 44);
	assert_int_equal(parse_ok(m, RSDP_ADDR).madt, 0);

	entries[1050] = 0;
	entries[1023] = MADT_ADDR;
	add_rsdp(m, 0xf1000, 0, 0x7f00000, 0);
	add_root(m, 0x7f00000, false, entries, 1100);
	assert_int_equal(parse_ok(m, 0xf1000).madt, MADT_ADDR);
}

/* ---- acpi_parse: FADT fields ---- */

static void test_parse_short_fadt_ignores_bytes_past_length(void **state)
{
	struct fake_mem *m = *state;
	uint8_t f[FADT_V5_LEN];
	struct acpi_info info;

	/* Extended fields exist in memory after a 116-byte FADT but are not part of it. */
	fadt_init(f, sizeof(f), DSDT_ADDR);
	put64(f + 140, DSDT2_ADDR);
	put_gas(f + 172, 1, 16, 0x1004);
	put_gas(f + 208, 1, 32, 0x1008);
	finish_sdt(f, "FACP", 1, FADT_V1_LEN);
	add_rsdp(m, RSDP_ADDR, 0, RSDT_ADDR, 0);
	add_root(m, RSDT_ADDR, false, (const uint64_t[]){ FADT_ADDR }, 1);
	mem_add(m, FADT_ADDR, f, sizeof(f));
	add_sdt(m, DSDT_ADDR, "DSDT", 2, qemu_sleep_scope, 36 + sizeof(qemu_sleep_scope));

	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.fadt, FADT_ADDR);
	assert_int_equal(info.dsdt, DSDT_ADDR);
	assert_int_equal(info.pm1a_cnt, 0x604);
	assert_int_equal(info.pm_timer_port, 0x608);
	assert_true(info.s5_valid);
}

static void test_parse_fadt_cut_before_flags(void **state)
{
	struct fake_mem *m = *state;
	uint8_t f[FADT_V1_LEN];
	struct acpi_info info;

	/* 112 bytes: CENTURY is in, Flags (TMR_VAL_EXT, HW_REDUCED) are not. */
	fadt_init(f, sizeof(f), DSDT_ADDR);
	put32(f + 112, (1u << 8) | (1u << 20));
	add_v1_machine(m, f, 112, qemu_sleep_scope, sizeof(qemu_sleep_scope));

	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.fadt, FADT_ADDR);
	assert_false(info.pm_timer_32bit);
	assert_false(info.hw_reduced);
	assert_int_equal(info.pm_timer_port, 0x608);
	assert_int_equal(info.century, 0x32);
}

static void test_parse_x_pm_timer_vs_legacy(void **state)
{
	static const struct {
		uint8_t space;
		uint64_t addr;
		uint16_t expect;
	} cases[] = {
		{ 1, 0x1008, 0x1008 },      /* system I/O: the extended field wins */
		{ 0, 0x1008, 0x608 },       /* system memory: unusable, legacy field */
		{ 1, 0, 0x608 },            /* absent */
		{ 1, 0x10008, 0x608 },      /* not a port number */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake_mem *m;
		uint8_t f[FADT_V5_LEN];
		struct acpi_info info;

		teardown(state); /* a fresh machine per case */
		setup(state);
		m = *state;
		fadt_init(f, sizeof(f), DSDT_ADDR);
		put_gas(f + 208, cases[i].space, 32, cases[i].addr);
		add_v1_machine(m, f, sizeof(f), qemu_sleep_scope, sizeof(qemu_sleep_scope));
		info = parse_ok(m, RSDP_ADDR);
		assert_int_equal(info.pm_timer_port, cases[i].expect);
	}
}

static void test_parse_port_fields(void **state)
{
	struct fake_mem *m = *state;
	uint8_t f[FADT_V5_LEN];
	struct acpi_info info;

	fadt_init(f, sizeof(f), DSDT_ADDR);
	put_gas(f + 172, 1, 16, 0x1804);
	put32(f + 68, 0x2004); /* PM1b only in the legacy field */
	put_gas(f + 184, 1, 16, 0);
	put32(f + 48, 0x100b2); /* SMI_CMD beyond the I/O space */
	add_v1_machine(m, f, sizeof(f), qemu_sleep_scope, sizeof(qemu_sleep_scope));

	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.pm1a_cnt, 0x1804);
	assert_int_equal(info.pm1b_cnt, 0x2004);
	assert_int_equal(info.smi_cmd, 0);
	assert_int_equal(info.acpi_enable, 0xf1);
}

static void test_parse_timer_width(void **state)
{
	struct fake_mem *m = *state;
	uint8_t f[FADT_V1_LEN];

	fadt_init(f, sizeof(f), DSDT_ADDR);
	put32(f + 112, 0x80a5 | (1u << 8));
	add_v1_machine(m, f, sizeof(f), qemu_sleep_scope, sizeof(qemu_sleep_scope));
	assert_true(parse_ok(m, RSDP_ADDR).pm_timer_32bit);
}

static void test_parse_x_dsdt(void **state)
{
	struct fake_mem *m = *state;
	static const uint8_t s5_7[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0a, 0x07, 0x00 };
	uint8_t f[FADT_V5_LEN];
	struct acpi_info info;

	/* X_DSDT wins over DSDT; each points to a DSDT with a different \_S5. */
	fadt_init(f, sizeof(f), DSDT_ADDR);
	put64(f + 140, DSDT2_ADDR);
	add_v1_machine(m, f, sizeof(f), qemu_sleep_scope, sizeof(qemu_sleep_scope));
	add_sdt(m, DSDT2_ADDR, "DSDT", 2, s5_7, 36 + sizeof(s5_7));
	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.dsdt, DSDT2_ADDR);
	assert_true(info.s5_valid);
	assert_int_equal(info.slp_typa, 7);

	/* A zero X_DSDT falls back to DSDT. */
	teardown(state);
	setup(state);
	m = *state;
	put64(f + 140, 0);
	add_v1_machine(m, f, sizeof(f), s5_7, sizeof(s5_7));
	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.dsdt, DSDT_ADDR);
	assert_int_equal(info.slp_typa, 7);
}

static void test_parse_hw_reduced(void **state)
{
	struct fake_mem *m = *state;
	uint8_t f[FADT_V5_LEN];
	struct acpi_info info;

	fadt_init(f, sizeof(f), DSDT_ADDR);
	put32(f + 112, 0x80a5 | (1u << 8) | (1u << 20));
	add_v1_machine(m, f, sizeof(f), qemu_sleep_scope, sizeof(qemu_sleep_scope));

	info = parse_ok(m, RSDP_ADDR);
	assert_true(info.hw_reduced);
	assert_int_equal(info.dsdt, DSDT_ADDR);
	assert_int_equal(info.pm1a_cnt, 0);
	assert_int_equal(info.pm_timer_port, 0);
	assert_false(info.pm_timer_32bit);
	assert_int_equal(info.smi_cmd, 0);
	assert_int_equal(acpi_poweroff(&info), -ENODEV);
}

static void test_parse_missing_s5(void **state)
{
	struct fake_mem *m = *state;
	/* Name (_S4_, Package (1) {0x06}) only. */
	static const uint8_t aml[] = { 0x08, '_', 'S', '4', '_', 0x12, 0x04, 0x01, 0x0a, 0x06 };
	uint8_t f[FADT_V1_LEN];
	struct acpi_info info;

	fadt_init(f, sizeof(f), DSDT_ADDR);
	add_v1_machine(m, f, sizeof(f), aml, sizeof(aml));
	info = parse_ok(m, RSDP_ADDR);
	assert_int_equal(info.pm1a_cnt, 0x604);
	assert_false(info.s5_valid);
	assert_int_equal(acpi_poweroff(&info), -ENODEV);
}

/* ---- acpi_find_table ---- */

static void test_find_table_instances(void **state)
{
	struct fake_mem *m = *state;
	uint64_t entries[] = { 0x7fe4000, MADT_ADDR, 0x7fe5000, 0x7fe6000 };
	struct acpi_info info;
	uint64_t addr = 0;
	uint32_t len = 0;

	add_rsdp(m, RSDP_ADDR, 2, 0, XSDT_ADDR);
	add_root(m, XSDT_ADDR, true, entries, 4);
	add_sdt(m, 0x7fe4000, "SSDT", 1, NULL, 40);
	add_sdt(m, MADT_ADDR, "APIC", 1, NULL, 44);
	add_sdt(m, 0x7fe5000, "SSDT", 1, NULL, 50)[20] ^= 1; /* bad checksum: not counted */
	add_sdt(m, 0x7fe6000, "SSDT", 1, NULL, 60);
	info = parse_ok(m, RSDP_ADDR);

	assert_int_equal(acpi_find_table(fake_map, m, &info, "SSDT", 0, &addr, &len), 0);
	assert_int_equal(addr, 0x7fe4000);
	assert_int_equal(len, 40);
	assert_int_equal(acpi_find_table(fake_map, m, &info, "SSDT", 1, &addr, &len), 0);
	assert_int_equal(addr, 0x7fe6000);
	assert_int_equal(len, 60);
	assert_int_equal(acpi_find_table(fake_map, m, &info, "SSDT", 2, &addr, &len), -ENOENT);
	assert_int_equal(acpi_find_table(fake_map, m, &info, "HPET", 0, &addr, &len), -ENOENT);

	info.root = 0;
	assert_int_equal(acpi_find_table(fake_map, m, &info, "APIC", 0, &addr, &len), -EINVAL);
}

/* ---- acpi_parse_s5 ---- */

/* Copies AML into memory that ends at an inaccessible page. */
static const uint8_t *guarded(void **state, const uint8_t *aml, size_t len)
{
	return mem_add(*state, 0xdead0000, aml, len);
}

static void expect_s5(void **state, const uint8_t *aml, size_t len, uint8_t a, uint8_t b)
{
	uint8_t ta = 0xee, tb = 0xee;

	assert_int_equal(acpi_parse_s5(guarded(state, aml, len), len, &ta, &tb), 0);
	assert_int_equal(ta, a);
	assert_int_equal(tb, b);
}

static void expect_s5_error(void **state, const uint8_t *aml, size_t len, int err)
{
	uint8_t ta = 0xee, tb = 0xee;

	assert_int_equal(acpi_parse_s5(guarded(state, aml, len), len, &ta, &tb), err);
	assert_int_equal(ta, 0xee);
	assert_int_equal(tb, 0xee);
}

#define EXPECT_S5(aml, a, b) expect_s5(state, aml, sizeof(aml), a, b)
#define EXPECT_S5_ERROR(aml, err) expect_s5_error(state, aml, sizeof(aml), err)

static void test_s5_encodings(void **state)
{
	/* QEMU's, after its _S3_ and _S4_ packages. */
	expect_s5(state, qemu_sleep_scope, sizeof(qemu_sleep_scope), 0, 0);

	/* Name (\_S5, Package (0x04) {0x05, 0x05, Zero, Zero}) */
	static const uint8_t root[] = { 0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
					0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };
	EXPECT_S5(root, 5, 5);

	/* Word and DWord constants: only the low three bits matter. */
	static const uint8_t wide[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x0a, 0x02,
					0x0b, 0x07, 0x12, 0x0c, 0x06, 0x00, 0x00, 0x80 };
	EXPECT_S5(wide, 7, 6);

	/* QWord, then OneOp; OnesOp is all ones. */
	static const uint8_t qword[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x0c, 0x02,
					 0x0e, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x01 };
	EXPECT_S5(qword, 3, 1);
	static const uint8_t ones[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0xff, 0x00 };
	EXPECT_S5(ones, 7, 0);

	/* A one-element package gives both values. */
	static const uint8_t single[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0a, 0x07 };
	EXPECT_S5(single, 7, 7);

	/* Two-byte PkgLength: 0x4a 0x00 is 10. */
	static const uint8_t pkg2[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x4a, 0x00, 0x04,
					0x0a, 0x06, 0x0a, 0x02, 0x00, 0x00, 0x00 };
	EXPECT_S5(pkg2, 6, 2);

	/* Four-byte PkgLength with zero high bytes. */
	static const uint8_t pkg4[] = { 0x08, '_', 'S', '5', '_', 0x12, 0xc8, 0x00, 0x00, 0x00,
					0x02, 0x0a, 0x05, 0x01 };
	EXPECT_S5(pkg4, 5, 1);

	/* "_S5_" that is not a NameOp (a Store (_S5_, Local0)) comes first. */
	static const uint8_t ref[] = { 0x70, '_', 'S', '5', '_', 0x60,
				       0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0a, 0x03, 0x01 };
	EXPECT_S5(ref, 3, 1);
}

static void test_s5_missing_or_malformed(void **state)
{
	static const uint8_t none[] = { 0x08, '_', 'S', '4', '_', 0x12, 0x04, 0x01, 0x0a, 0x06 };
	EXPECT_S5_ERROR(none, -ENOENT);
	/* The name right at the end, no room for PackageOp. */
	static const uint8_t at_end[] = { 0x00, 0x08, '_', 'S', '5', '_' };
	EXPECT_S5_ERROR(at_end, -ENOENT);
	/* Name (_S5_, 5): an integer, not a package. */
	static const uint8_t integer[] = { 0x08, '_', 'S', '5', '_', 0x0a, 0x05 };
	EXPECT_S5_ERROR(integer, -ENOENT);
	assert_int_equal(acpi_parse_s5(NULL, 0, NULL, NULL), -ENOENT);

	/* PackageOp is the last byte. */
	static const uint8_t no_len[] = { 0x08, '_', 'S', '5', '_', 0x12 };
	EXPECT_S5_ERROR(no_len, -EINVAL);
	/* PkgLength 0x3f, 6 bytes there. */
	static const uint8_t past_end[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x3f, 0x02, 0x0a, 0x05, 0x0a, 0x05 };
	EXPECT_S5_ERROR(past_end, -EINVAL);
	/* Four-byte PkgLength cut short by the end of the table. */
	static const uint8_t pkg_cut[] = { 0x08, '_', 'S', '5', '_', 0x12, 0xc4, 0x00 };
	EXPECT_S5_ERROR(pkg_cut, -EINVAL);
	/* Four-byte PkgLength of 16 MiB. */
	static const uint8_t huge[] = { 0x08, '_', 'S', '5', '_', 0x12, 0xc0, 0x00, 0x00, 0x10,
					0x02, 0x00, 0x00 };
	EXPECT_S5_ERROR(huge, -EINVAL);
	/* PkgLength too small to hold NumElements. */
	static const uint8_t tiny[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x01, 0x02, 0x00, 0x00 };
	EXPECT_S5_ERROR(tiny, -EINVAL);
	/* No elements. */
	static const uint8_t empty[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x02, 0x00 };
	EXPECT_S5_ERROR(empty, -EINVAL);
	/* A BytePrefix whose byte lies outside the package (but inside the buffer). */
	static const uint8_t split[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x00, 0x0a, 0x05 };
	EXPECT_S5_ERROR(split, -EINVAL);
	/* A package (with a DWord in it) running past the end of the buffer. */
	static const uint8_t cut[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x02, 0x00, 0x0c, 0x05, 0x00 };
	EXPECT_S5_ERROR(cut, -EINVAL);
	/* NumElements says 2, the package holds 1. */
	static const uint8_t short_pkg[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x03, 0x02, 0x00 };
	EXPECT_S5_ERROR(short_pkg, -EINVAL);
	/* An element that needs evaluating (a name). */
	static const uint8_t named[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02, 'S', 'L', 'P', '5' };
	EXPECT_S5_ERROR(named, -EINVAL);
}

/* ---- acpi_poweroff and the PM timer, through the simulated CPU ---- */

struct io_write {
	uint16_t port;
	unsigned size;
	uint32_t value;
};

/* PM1 control registers and an SMI handler that sets SCI_EN some reads after the request. */
struct pm_sim {
	uint16_t pm1a, pm1b, smi_cmd;
	uint8_t acpi_enable;
	uint16_t pm1a_val, pm1b_val;
	long sci_en_after; /* reads of PM1a after the request; -1: never */
	bool enable_requested;
	unsigned pm1a_reads;
	struct io_write w[8];
	unsigned nw;
};

static uint32_t pm_in(void *ctx, uint16_t port, unsigned size)
{
	struct pm_sim *s = ctx;

	assert_int_equal(size, 2);
	if (port == s->pm1a) {
		s->pm1a_reads++;
		if (s->enable_requested && s->sci_en_after >= 0 && s->sci_en_after-- == 0)
			s->pm1a_val |= 1;
		return s->pm1a_val;
	}
	if (s->pm1b && port == s->pm1b)
		return s->pm1b_val;
	fail_msg("unexpected in%u from port 0x%x", size, port);
	return 0;
}

static void pm_out(void *ctx, uint16_t port, unsigned size, uint32_t value)
{
	struct pm_sim *s = ctx;

	assert_true(s->nw < sizeof(s->w) / sizeof(s->w[0]));
	s->w[s->nw++] = (struct io_write){ port, size, value };
	if (port == s->smi_cmd && size == 1 && value == s->acpi_enable)
		s->enable_requested = true;
	else if (port == s->pm1a && size == 2)
		s->pm1a_val = (uint16_t)value;
	else if (s->pm1b && port == s->pm1b && size == 2)
		s->pm1b_val = (uint16_t)value;
	else
		fail_msg("unexpected out%u of 0x%x to port 0x%x", size, value, port);
}

static void pm_install(struct pm_sim *s)
{
	struct cpu_sim_ops ops = { .ctx = s, .port_in = pm_in, .port_out = pm_out };

	cpu_sim_install(&ops);
}

static void assert_writes(const struct pm_sim *s, const struct io_write *expect, unsigned n)
{
	assert_int_equal(s->nw, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(s->w[i].port, expect[i].port);
		assert_int_equal(s->w[i].size, expect[i].size);
		assert_int_equal(s->w[i].value, expect[i].value);
	}
}

static void test_poweroff_sci_enabled(void **state)
{
	(void)state;
	struct acpi_info info = { .pm1a_cnt = 0x604, .smi_cmd = 0xb2, .acpi_enable = 0xf1,
				  .s5_valid = true, .slp_typa = 5 };
	/* Stale SLP_TYP bits are replaced, BM_RLD and SCI_EN kept. */
	struct pm_sim s = { .pm1a = 0x604, .smi_cmd = 0xb2, .acpi_enable = 0xf1,
			    .pm1a_val = 0x1c03, .sci_en_after = -1 };
	static const struct io_write expect[] = {
		{ 0x604, 2, 0x1403 },
		{ 0x604, 2, 0x3403 },
	};

	pm_install(&s);
	assert_int_equal(acpi_poweroff(&info), -ETIMEDOUT);
	assert_writes(&s, expect, 2);
}

static void test_poweroff_pm1b(void **state)
{
	(void)state;
	struct acpi_info info = { .pm1a_cnt = 0x4004, .pm1b_cnt = 0x4104, .s5_valid = true,
				  .slp_typa = 7, .slp_typb = 3 };
	struct pm_sim s = { .pm1a = 0x4004, .pm1b = 0x4104, .pm1a_val = 0x0001,
			    .pm1b_val = 0x0200, .sci_en_after = -1 };
	static const struct io_write expect[] = {
		{ 0x4004, 2, 0x1c01 },
		{ 0x4104, 2, 0x0e00 },
		{ 0x4004, 2, 0x3c01 },
		{ 0x4104, 2, 0x2e00 },
	};

	pm_install(&s);
	assert_int_equal(acpi_poweroff(&info), -ETIMEDOUT);
	assert_writes(&s, expect, 4);
}

static void test_poweroff_acpi_enable_handshake(void **state)
{
	struct fake_mem *m = *state;
	struct acpi_info info;
	/* SeaBIOS leaves SCI_EN clear; the "SMI handler" sets it 1000 polls later. */
	struct pm_sim s = { .pm1a = 0x604, .smi_cmd = 0xb2, .acpi_enable = 0xf1,
			    .pm1a_val = 0, .sci_en_after = 1000 };
	static const struct io_write expect[] = {
		{ 0xb2, 1, 0xf1 },
		{ 0x604, 2, 0x0001 },
		{ 0x604, 2, 0x2001 },
	};

	add_qemu_pc(m);
	info = parse_ok(m, QEMU_PC_RSDP);
	pm_install(&s);
	assert_int_equal(acpi_poweroff(&info), -ETIMEDOUT);
	assert_writes(&s, expect, 3);
	/* The check, the polls until SCI_EN, then one read per PM1a write. */
	assert_int_equal(s.pm1a_reads, 1 + 1001 + 2);
}

static void test_poweroff_acpi_enable_never_answers(void **state)
{
	(void)state;
	struct acpi_info info = { .pm1a_cnt = 0x604, .smi_cmd = 0xb2, .acpi_enable = 0x02,
				  .s5_valid = true };
	struct pm_sim s = { .pm1a = 0x604, .smi_cmd = 0xb2, .acpi_enable = 0x02,
			    .sci_en_after = -1 };
	static const struct io_write expect[] = {
		{ 0xb2, 1, 0x02 },
		{ 0x604, 2, 0x0000 },
		{ 0x604, 2, 0x2000 },
	};

	pm_install(&s);
	assert_int_equal(acpi_poweroff(&info), -ETIMEDOUT);
	assert_writes(&s, expect, 3);
	assert_int_equal(warnings, 1);
}

static void test_poweroff_no_smi_cmd(void **state)
{
	(void)state;
	/* SCI_EN clear but no SMI_CMD: the hardware has no legacy mode to leave. */
	struct acpi_info info = { .pm1a_cnt = 0x604, .acpi_enable = 0xf1, .s5_valid = true,
				  .slp_typa = 2 };
	struct pm_sim s = { .pm1a = 0x604, .sci_en_after = -1 };
	static const struct io_write expect[] = {
		{ 0x604, 2, 0x0800 },
		{ 0x604, 2, 0x2800 },
	};

	pm_install(&s);
	assert_int_equal(acpi_poweroff(&info), -ETIMEDOUT);
	assert_writes(&s, expect, 2);
}

static void test_poweroff_enodev(void **state)
{
	(void)state;
	struct acpi_info none = { 0 };
	struct acpi_info no_s5 = { .pm1a_cnt = 0x604 };
	struct acpi_info no_pm1a = { .pm1b_cnt = 0x704, .s5_valid = true };

	/* No handlers installed: any port access would fail the test. */
	assert_int_equal(acpi_poweroff(&none), -ENODEV);
	assert_int_equal(acpi_poweroff(&no_s5), -ENODEV);
	assert_int_equal(acpi_poweroff(&no_pm1a), -ENODEV);
}

static uint32_t timer_in(void *ctx, uint16_t port, unsigned size)
{
	(void)ctx;
	assert_int_equal(port, 0x608);
	assert_int_equal(size, 4);
	return 0xab123456;
}

static void test_pm_timer_read(void **state)
{
	(void)state;
	struct cpu_sim_ops ops = { .port_in = timer_in };
	struct acpi_info info = { .pm_timer_port = 0 };

	/* No timer: 0, without touching a port (no handler is installed yet). */
	assert_int_equal(acpi_pm_timer_read(&info), 0);
	cpu_sim_install(&ops);
	info.pm_timer_port = 0x608;
	assert_int_equal(acpi_pm_timer_read(&info), 0x123456);
	info.pm_timer_32bit = true;
	assert_int_equal(acpi_pm_timer_read(&info), 0xab123456);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_rsdp_in_ebda_wins),
		TEST(test_rsdp_in_bios_area),
		TEST(test_rsdp_v2_in_bios_area),
		TEST(test_rsdp_bad_checksums_passed_over),
		TEST(test_rsdp_not_found),
		TEST(test_rsdp_ebda_pointer_out_of_range),
		TEST(test_rsdp_ebda_scan_is_1k),
		TEST(test_parse_qemu_pc_seabios),
		TEST(test_parse_qemu_q35_ovmf),
		TEST(test_parse_prefers_xsdt),
		TEST(test_parse_bad_xsdt_falls_back_to_rsdt),
		TEST(test_parse_rev2_without_xsdt_uses_rsdt),
		TEST(test_parse_bad_rsdp),
		TEST(test_parse_no_valid_root),
		TEST(test_parse_bad_checksum_table_skipped),
		TEST(test_parse_truncated_tables),
		TEST(test_parse_length_beyond_map_refused),
		TEST(test_parse_oversized_table_refused),
		TEST(test_parse_root_entry_count_bounded),
		TEST(test_parse_short_fadt_ignores_bytes_past_length),
		TEST(test_parse_fadt_cut_before_flags),
		TEST(test_parse_x_pm_timer_vs_legacy),
		TEST(test_parse_port_fields),
		TEST(test_parse_timer_width),
		TEST(test_parse_x_dsdt),
		TEST(test_parse_hw_reduced),
		TEST(test_parse_missing_s5),
		TEST(test_find_table_instances),
		TEST(test_s5_encodings),
		TEST(test_s5_missing_or_malformed),
		TEST(test_poweroff_sci_enabled),
		TEST(test_poweroff_pm1b),
		TEST(test_poweroff_acpi_enable_handshake),
		TEST(test_poweroff_acpi_enable_never_answers),
		TEST(test_poweroff_no_smi_cmd),
		TEST(test_poweroff_enodev),
		TEST(test_pm_timer_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
