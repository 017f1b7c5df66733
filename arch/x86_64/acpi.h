/*
 * ACPI: finding the firmware's tables and the few things hvrt uses from them
 * (the PM timer, the S5 power-off registers, the CMOS century register and
 * where the MADT is). There is no AML interpreter; \_S5 is found by pattern.
 *
 * Every byte of firmware memory is read through a phys_map_fn and is treated
 * as untrusted: lengths are bounded, checksums verified, and nothing is read
 * beyond what the map function agreed to back.
 */
#ifndef HVRT_ARCH_ACPI_H
#define HVRT_ARCH_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/physmem.h"

/* Tables longer than this are refused as corrupt. */
#define ACPI_TABLE_MAX_LEN (16u << 20)

/* What acpi_parse() learned; addresses are physical, 0 when absent. */
struct acpi_info {
	uint64_t rsdp;
	uint8_t revision;      /* RSDP revision: 0 for ACPI 1.0, 2 and up for XSDT support */
	char oem_id[7];        /* RSDP OEM ID, NUL-terminated, unprintable bytes as '?' */
	uint64_t root;         /* the root table in use */
	bool root_is_xsdt;     /* root holds 64-bit entries */
	uint64_t fadt, dsdt, madt;
	uint16_t pm_timer_port; /* 0: no PM timer */
	bool pm_timer_32bit;
	uint16_t pm1a_cnt, pm1b_cnt; /* 0: absent */
	uint16_t smi_cmd;
	uint8_t acpi_enable;   /* value for smi_cmd that hands the PM registers to the OS */
	uint8_t century;       /* CMOS century register index, 0 if none */
	bool hw_reduced;       /* no fixed ACPI hardware: the PM, SMI and century fields stay 0 */
	bool s5_valid;
	uint8_t slp_typa, slp_typb; /* SLP_TYP values for S5 from the DSDT's \_S5 */
};

/*
 * Looks for the RSDP where legacy BIOSes put it: the first KiB of the EBDA
 * (real-mode segment at 0x40E), then 0xE0000-0xFFFFF, on 16-byte boundaries.
 * Candidates with a bad checksum (or extended checksum, revision 2+) are passed
 * over. UEFI boots should take the RSDP from the configuration table instead.
 *
 * Returns 0 and sets *rsdp, or -ENOENT.
 */
int acpi_find_rsdp(phys_map_fn map, void *ctx, uint64_t *rsdp);

/*
 * Validates the RSDP at rsdp and its root table (the XSDT when the revision
 * allows one, the RSDT if there is none or it is invalid), then fills *out
 * from the FADT, the DSDT's \_S5 and the MADT's address. Tables that are
 * truncated, oversized, unmappable or fail their checksum are skipped with a
 * warning; their fields stay 0. FADT fields beyond the FADT's own length are
 * absent.
 *
 * Returns 0 (out filled, possibly with no FADT), -EINVAL when the RSDP or
 * every root table is invalid, or -EFAULT when the RSDP cannot be mapped.
 * *out is cleared first, so after a failure at most the RSDP fields are set.
 */
int acpi_parse(phys_map_fn map, void *ctx, uint64_t rsdp, struct acpi_info *out);

/*
 * Finds the instance'th (from 0) valid table with signature sig (4 chars, e.g.
 * "SSDT") through the root table acpi_parse() chose. The table's header and
 * checksum have been checked over its whole length, which goes in *len.
 *
 * Returns 0 and sets *addr and *len, -ENOENT, or -EINVAL when info has no root.
 */
int acpi_find_table(phys_map_fn map, void *ctx, const struct acpi_info *info, const char *sig,
		    unsigned instance, uint64_t *addr, uint32_t *len);

/*
 * Finds Name(_S5_, Package(){SLP_TYPa, SLP_TYPb, ...}) in len bytes of AML
 * (a DSDT or SSDT body, or the whole table) and decodes its first two integers
 * (ZeroOp, OneOp, OnesOp or Byte/Word/DWord/QWord constants), keeping the low
 * three bits. A single-element package gives both SLP_TYP values.
 *
 * Returns 0, -ENOENT when there is no _S5_ object, or -EINVAL when the package
 * is malformed or runs past len.
 */
int acpi_parse_s5(const uint8_t *aml, size_t len, uint8_t *slp_typa, uint8_t *slp_typb);

/*
 * Enters S5. If the PM registers are still owned by SMM (SCI_EN clear), first
 * asks firmware to switch to ACPI mode through SMI_CMD and waits, bounded, for
 * SCI_EN. Then writes SLP_TYP with SLP_EN to PM1a_CNT and PM1b_CNT, keeping
 * their other bits.
 *
 * Returns -ENODEV when info has no PM1a_CNT or no valid \_S5, and -ETIMEDOUT
 * when the machine is still running after a bounded wait; so only a failure
 * ever returns.
 */
int acpi_poweroff(const struct acpi_info *info);

/* Current PM timer count (3.579545 MHz), 24 or 32 bits wide; 0 without a timer. */
uint32_t acpi_pm_timer_read(const struct acpi_info *info);

#endif
