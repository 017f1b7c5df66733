/*
 * ACPI table discovery, the FADT fields hvrt needs, \_S5 and S5 power-off.
 *
 * No pointer returned by the map function is kept across another call to it,
 * so a map function that reuses one temporary window would work too.
 */
#include "arch/x86_64/acpi.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "hvrt/log.h"

#define RSDP_SIG "RSD PTR "
#define RSDP_V1_LEN 20u
#define RSDP_V2_LEN 36u
#define RSDP_MAX_LEN 1024u /* a v2 RSDP is 36 bytes; the Length field must not send us far */
#define RSDP_OEM_ID 9
#define RSDP_REVISION 15
#define RSDP_RSDT 16
#define RSDP_LENGTH 20
#define RSDP_XSDT 24

#define BDA_EBDA_SEGMENT 0x40eu
#define EBDA_SCAN_LEN 1024u
#define EBDA_MIN 0x400u    /* below this the "EBDA" would be the IVT or BDA */
#define EBDA_END 0xa0000u  /* the EBDA lives in conventional memory */
#define BIOS_AREA 0xe0000u
#define BIOS_AREA_LEN 0x20000u

#define SDT_HEADER_LEN 36u
#define SDT_LENGTH 4

/* Bounds the root table walk whatever Length claims (16 MiB would be 2M entries). */
#define ACPI_MAX_ROOT_ENTRIES 1024u

enum fadt_offset {
	FADT_DSDT = 40,
	FADT_SMI_CMD = 48,
	FADT_ACPI_ENABLE = 52,
	FADT_PM1A_CNT_BLK = 64,
	FADT_PM1B_CNT_BLK = 68,
	FADT_PM_TMR_BLK = 76,
	FADT_CENTURY = 108,
	FADT_FLAGS = 112,
	FADT_X_DSDT = 140,
	FADT_X_PM1A_CNT_BLK = 172,
	FADT_X_PM1B_CNT_BLK = 184,
	FADT_X_PM_TMR_BLK = 208,
};

#define FADT_TMR_VAL_EXT (1u << 8)
#define FADT_HW_REDUCED_ACPI (1u << 20)

/* Generic Address Structure */
#define GAS_LEN 12u
#define GAS_SPACE_ID 0
#define GAS_ADDRESS 4
#define GAS_SPACE_SYSTEM_IO 1

#define PM1_SCI_EN 0x0001u
#define PM1_SLP_TYP_SHIFT 10
#define PM1_SLP_TYP (7u << PM1_SLP_TYP_SHIFT)
#define PM1_SLP_EN (1u << 13)
#define PM_TIMER_24BIT_MASK 0xffffffu

/* Each poll is a trapped port read in a VM (about a microsecond): a few seconds at most. */
#define ACPI_ENABLE_POLLS 3000000u
/* How long a power-off may take to land before we call it failed. */
#define ACPI_POWEROFF_SPINS 10000000u

enum aml_opcode {
	AML_ZERO_OP = 0x00,
	AML_ONE_OP = 0x01,
	AML_NAME_OP = 0x08,
	AML_BYTE_PREFIX = 0x0a,
	AML_WORD_PREFIX = 0x0b,
	AML_DWORD_PREFIX = 0x0c,
	AML_QWORD_PREFIX = 0x0e,
	AML_PACKAGE_OP = 0x12,
	AML_ROOT_CHAR = 0x5c,
	AML_ONES_OP = 0xff,
};

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Copies n firmware bytes as a printable, NUL-terminated string for logs. */
static void copy_printable(char *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[n] = '\0';
}

static bool rsdp_valid(phys_map_fn map, void *ctx, uint64_t addr)
{
	const uint8_t *p = map(ctx, addr, RSDP_V1_LEN);
	uint32_t len;

	if (!p || memcmp(p, RSDP_SIG, 8) != 0 || sum8(p, RSDP_V1_LEN) != 0)
		return false;
	if (p[RSDP_REVISION] < 2)
		return true;
	p = map(ctx, addr, RSDP_V2_LEN);
	if (!p)
		return false;
	len = get32(p + RSDP_LENGTH);
	if (len < RSDP_V2_LEN || len > RSDP_MAX_LEN)
		return false;
	p = map(ctx, addr, len);
	return p && sum8(p, len) == 0;
}

static bool scan_rsdp(phys_map_fn map, void *ctx, uint64_t base, uint64_t len, uint64_t *rsdp)
{
	for (uint64_t off = 0; off + RSDP_V1_LEN <= len; off += 16) {
		if (rsdp_valid(map, ctx, base + off)) {
			*rsdp = base + off;
			return true;
		}
	}
	return false;
}

int acpi_find_rsdp(phys_map_fn map, void *ctx, uint64_t *rsdp)
{
	const uint8_t *bda = map(ctx, BDA_EBDA_SEGMENT, 2);

	if (bda) {
		uint64_t ebda = (uint64_t)get16(bda) << 4;

		if (ebda >= EBDA_MIN && ebda < EBDA_END) {
			uint64_t len = EBDA_END - ebda < EBDA_SCAN_LEN ? EBDA_END - ebda : EBDA_SCAN_LEN;

			if (scan_rsdp(map, ctx, ebda, len, rsdp))
				return 0;
		}
	}
	return scan_rsdp(map, ctx, BIOS_AREA, BIOS_AREA_LEN, rsdp) ? 0 : -ENOENT;
}

/*
 * Maps the whole table at addr if it has signature sig. Returns NULL silently
 * when the header cannot be mapped or the signature differs (the caller knows
 * what it missed), and with a warning when a table with that signature is
 * unusable: its Length is out of bounds, the map function cannot back it all,
 * or the checksum is wrong.
 */
static const uint8_t *map_table(phys_map_fn map, void *ctx, uint64_t addr, const char *sig,
				uint32_t *len)
{
	const uint8_t *t = map(ctx, addr, SDT_HEADER_LEN);
	char name[5];
	uint32_t n;

	if (!t || memcmp(t, sig, 4) != 0)
		return NULL;
	copy_printable(name, t, 4);
	n = get32(t + SDT_LENGTH);
	if (n < SDT_HEADER_LEN || n > ACPI_TABLE_MAX_LEN) {
		hvrt_log(HVRT_LOG_WARN, "acpi", "%s at 0x%llx: bad length %u, skipped", name,
			 (unsigned long long)addr, n);
		return NULL;
	}
	t = map(ctx, addr, n);
	if (!t) {
		hvrt_log(HVRT_LOG_WARN, "acpi", "%s at 0x%llx: %u bytes cannot be mapped, skipped", name,
			 (unsigned long long)addr, n);
		return NULL;
	}
	if (sum8(t, n) != 0) {
		hvrt_log(HVRT_LOG_WARN, "acpi", "%s at 0x%llx: bad checksum, skipped", name,
			 (unsigned long long)addr);
		return NULL;
	}
	*len = n;
	return t;
}

int acpi_find_table(phys_map_fn map, void *ctx, const struct acpi_info *info, const char *sig,
		    unsigned instance, uint64_t *addr, uint32_t *len)
{
	unsigned entry_size = info->root_is_xsdt ? 8 : 4;
	uint32_t root_len, count, n;

	if (!info->root ||
	    !map_table(map, ctx, info->root, info->root_is_xsdt ? "XSDT" : "RSDT", &root_len))
		return -EINVAL;
	count = (root_len - SDT_HEADER_LEN) / entry_size;
	if (count > ACPI_MAX_ROOT_ENTRIES)
		count = ACPI_MAX_ROOT_ENTRIES;

	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = map(ctx, info->root + SDT_HEADER_LEN + (uint64_t)i * entry_size,
				       entry_size);
		uint64_t a;

		if (!e)
			return -ENOENT;
		a = entry_size == 8 ? get64(e) : get32(e);
		if (a && map_table(map, ctx, a, sig, &n) && instance-- == 0) {
			*addr = a;
			*len = n;
			return 0;
		}
	}
	return -ENOENT;
}

/* FADT fields past the table's Length do not exist: they read as 0. */
static uint8_t fadt8(const uint8_t *t, uint32_t len, uint32_t off)
{
	return off + 1 <= len ? t[off] : 0;
}

static uint32_t fadt32(const uint8_t *t, uint32_t len, uint32_t off)
{
	return off + 4 <= len ? get32(t + off) : 0;
}

static uint64_t fadt64(const uint8_t *t, uint32_t len, uint32_t off)
{
	return off + 8 <= len ? get64(t + off) : 0;
}

/* Legacy FADT blocks are 32-bit fields holding I/O port numbers. */
static uint16_t io_port(uint32_t v)
{
	return v <= 0xffff ? (uint16_t)v : 0;
}

/*
 * The port of an extended (GAS) block when it is present and usable as port
 * I/O, else the legacy block's: the spec lets the X_ field win only when OSPM
 * can use it, and hvrt has no MMIO path for these registers.
 */
static uint16_t fadt_port(const uint8_t *t, uint32_t len, uint32_t gas_off, uint32_t legacy_off)
{
	if (gas_off + GAS_LEN <= len && t[gas_off + GAS_SPACE_ID] == GAS_SPACE_SYSTEM_IO) {
		uint64_t a = get64(t + gas_off + GAS_ADDRESS);

		if (a && a <= 0xffff)
			return (uint16_t)a;
	}
	return io_port(fadt32(t, len, legacy_off));
}

static void parse_fadt(const uint8_t *t, uint32_t len, struct acpi_info *out)
{
	uint32_t flags = fadt32(t, len, FADT_FLAGS);
	uint64_t dsdt = fadt64(t, len, FADT_X_DSDT);

	out->dsdt = dsdt ? dsdt : fadt32(t, len, FADT_DSDT);
	out->hw_reduced = flags & FADT_HW_REDUCED_ACPI;
	/* Hardware-reduced ACPI says to ignore the fixed-hardware fields (46-108, 148-232). */
	if (out->hw_reduced)
		return;
	out->smi_cmd = io_port(fadt32(t, len, FADT_SMI_CMD));
	out->acpi_enable = fadt8(t, len, FADT_ACPI_ENABLE);
	out->pm1a_cnt = fadt_port(t, len, FADT_X_PM1A_CNT_BLK, FADT_PM1A_CNT_BLK);
	out->pm1b_cnt = fadt_port(t, len, FADT_X_PM1B_CNT_BLK, FADT_PM1B_CNT_BLK);
	out->pm_timer_port = fadt_port(t, len, FADT_X_PM_TMR_BLK, FADT_PM_TMR_BLK);
	out->pm_timer_32bit = out->pm_timer_port && (flags & FADT_TMR_VAL_EXT);
	out->century = fadt8(t, len, FADT_CENTURY);
}

static void parse_dsdt(phys_map_fn map, void *ctx, struct acpi_info *out)
{
	uint32_t len;
	const uint8_t *t = map_table(map, ctx, out->dsdt, "DSDT", &len);
	int r;

	if (!t) {
		hvrt_log(HVRT_LOG_WARN, "acpi", "no valid DSDT at 0x%llx: no S5 power-off",
			 (unsigned long long)out->dsdt);
		return;
	}
	r = acpi_parse_s5(t + SDT_HEADER_LEN, len - SDT_HEADER_LEN, &out->slp_typa, &out->slp_typb);
	if (r == 0)
		out->s5_valid = true;
	else
		hvrt_log(HVRT_LOG_WARN, "acpi", "DSDT: %s \\_S5: no S5 power-off",
			 r == -ENOENT ? "no" : "malformed");
}

/* Picks the XSDT when the RSDP offers a valid one; a broken XSDT falls back to the RSDT. */
static int choose_root(phys_map_fn map, void *ctx, uint64_t rsdt, uint64_t xsdt, struct acpi_info *out)
{
	uint32_t len;

	if (xsdt) {
		if (map_table(map, ctx, xsdt, "XSDT", &len)) {
			out->root = xsdt;
			out->root_is_xsdt = true;
			return 0;
		}
		hvrt_log(HVRT_LOG_WARN, "acpi", "XSDT at 0x%llx unusable, trying the RSDT",
			 (unsigned long long)xsdt);
	}
	if (rsdt && map_table(map, ctx, rsdt, "RSDT", &len)) {
		out->root = rsdt;
		return 0;
	}
	hvrt_log(HVRT_LOG_WARN, "acpi", "no valid RSDT or XSDT");
	return -EINVAL;
}

int acpi_parse(phys_map_fn map, void *ctx, uint64_t rsdp, struct acpi_info *out)
{
	const uint8_t *p;
	uint64_t rsdt, xsdt = 0, addr;
	uint32_t len;
	int r;

	memset(out, 0, sizeof(*out));
	if (!map(ctx, rsdp, RSDP_V1_LEN))
		return -EFAULT;
	if (!rsdp_valid(map, ctx, rsdp)) {
		hvrt_log(HVRT_LOG_WARN, "acpi", "invalid RSDP at 0x%llx", (unsigned long long)rsdp);
		return -EINVAL;
	}
	p = map(ctx, rsdp, RSDP_V1_LEN);
	if (!p)
		return -EFAULT;
	out->rsdp = rsdp;
	out->revision = p[RSDP_REVISION];
	copy_printable(out->oem_id, p + RSDP_OEM_ID, 6);
	rsdt = get32(p + RSDP_RSDT);
	if (out->revision >= 2) {
		/* rsdp_valid() has mapped and checked these 36 bytes already. */
		p = map(ctx, rsdp, RSDP_V2_LEN);
		if (!p)
			return -EFAULT;
		xsdt = get64(p + RSDP_XSDT);
	}

	r = choose_root(map, ctx, rsdt, xsdt, out);
	if (r < 0)
		return r;

	p = NULL;
	if (acpi_find_table(map, ctx, out, "FACP", 0, &addr, &len) == 0)
		p = map(ctx, addr, len);
	if (p) {
		out->fadt = addr;
		parse_fadt(p, len, out);
		if (out->dsdt)
			parse_dsdt(map, ctx, out);
	} else {
		hvrt_log(HVRT_LOG_WARN, "acpi", "no valid FADT: no PM timer or S5 power-off");
	}
	if (acpi_find_table(map, ctx, out, "APIC", 0, &addr, &len) == 0)
		out->madt = addr;
	return 0;
}

/* Decodes one integer constant at *pos, without reading at or past end; keeps its low byte. */
static int aml_integer(const uint8_t *p, size_t end, size_t *pos, uint8_t *v)
{
	size_t n;

	if (*pos >= end)
		return -EINVAL;
	switch (p[(*pos)++]) {
	case AML_ZERO_OP:
		*v = 0;
		return 0;
	case AML_ONE_OP:
		*v = 1;
		return 0;
	case AML_ONES_OP:
		*v = 0xff;
		return 0;
	case AML_BYTE_PREFIX:
		n = 1;
		break;
	case AML_WORD_PREFIX:
		n = 2;
		break;
	case AML_DWORD_PREFIX:
		n = 4;
		break;
	case AML_QWORD_PREFIX:
		n = 8;
		break;
	default:
		return -EINVAL; /* not a constant: would need an interpreter */
	}
	if (end - *pos < n)
		return -EINVAL;
	*v = p[*pos];
	*pos += n;
	return 0;
}

/* p points just past PackageOp, with avail bytes of AML left. */
static int aml_s5_package(const uint8_t *p, size_t avail, uint8_t *slp_typa, uint8_t *slp_typb)
{
	size_t extra, pkg_len, pos;
	uint8_t count, v[2] = { 0, 0 };

	if (avail < 1)
		return -EINVAL;
	/* PkgLength: bits 7-6 of the lead byte count the bytes that follow it. */
	extra = p[0] >> 6;
	if (avail < 1 + extra)
		return -EINVAL;
	if (extra == 0) {
		pkg_len = p[0] & 0x3f;
	} else {
		pkg_len = p[0] & 0x0f;
		for (size_t i = 1; i <= extra; i++)
			pkg_len |= (size_t)p[i] << (4 + 8 * (i - 1));
	}
	/* PkgLength counts its own bytes, so the package ends pkg_len bytes from p. */
	pos = 1 + extra;
	if (pkg_len > avail || pkg_len < pos + 1)
		return -EINVAL;
	count = p[pos++];
	if (count == 0)
		return -EINVAL;
	for (unsigned i = 0; i < 2 && i < count; i++) {
		if (aml_integer(p, pkg_len, &pos, &v[i]) < 0)
			return -EINVAL;
	}
	*slp_typa = v[0] & 7;
	*slp_typb = (count >= 2 ? v[1] : v[0]) & 7;
	return 0;
}

int acpi_parse_s5(const uint8_t *aml, size_t len, uint8_t *slp_typa, uint8_t *slp_typb)
{
	/* NameOp [RootChar] "_S5_" PackageOp: the name starts at 1 at the earliest. */
	for (size_t i = 1; len >= 5 && i <= len - 5; i++) {
		bool name_op = aml[i - 1] == AML_NAME_OP ||
			       (i >= 2 && aml[i - 1] == AML_ROOT_CHAR && aml[i - 2] == AML_NAME_OP);

		if (name_op && memcmp(aml + i, "_S5_", 4) == 0 && aml[i + 4] == AML_PACKAGE_OP)
			return aml_s5_package(aml + i + 5, len - i - 5, slp_typa, slp_typb);
	}
	return -ENOENT;
}

/* Sets SLP_TYP, keeping the register's other bits (SCI_EN above all), and optionally SLP_EN. */
static void pm1_write(uint16_t port, uint8_t slp_typ, bool enable)
{
	uint16_t v = cpu_inw(port) & (uint16_t)~(PM1_SLP_TYP | PM1_SLP_EN);

	v |= (uint16_t)(slp_typ << PM1_SLP_TYP_SHIFT);
	if (enable)
		v |= PM1_SLP_EN;
	cpu_outw(port, v);
}

int acpi_poweroff(const struct acpi_info *info)
{
	if (!info->pm1a_cnt || !info->s5_valid)
		return -ENODEV;

	if (!(cpu_inw(info->pm1a_cnt) & PM1_SCI_EN) && info->smi_cmd && info->acpi_enable) {
		uint32_t i;

		cpu_outb(info->smi_cmd, info->acpi_enable);
		for (i = 0; i < ACPI_ENABLE_POLLS && !(cpu_inw(info->pm1a_cnt) & PM1_SCI_EN); i++)
			cpu_pause();
		if (i == ACPI_ENABLE_POLLS)
			hvrt_log(HVRT_LOG_WARN, "acpi", "firmware did not enter ACPI mode; trying S5 anyway");
	}

	/* SLP_TYP and SLP_EN in separate writes, as ACPICA does for picky chipsets. */
	pm1_write(info->pm1a_cnt, info->slp_typa, false);
	if (info->pm1b_cnt)
		pm1_write(info->pm1b_cnt, info->slp_typb, false);
	pm1_write(info->pm1a_cnt, info->slp_typa, true);
	if (info->pm1b_cnt)
		pm1_write(info->pm1b_cnt, info->slp_typb, true);

	for (uint32_t i = 0; i < ACPI_POWEROFF_SPINS; i++)
		cpu_pause();
	return -ETIMEDOUT;
}

uint32_t acpi_pm_timer_read(const struct acpi_info *info)
{
	uint32_t v;

	if (!info->pm_timer_port)
		return 0;
	v = cpu_inl(info->pm_timer_port);
	return info->pm_timer_32bit ? v : v & PM_TIMER_24BIT_MASK;
}
