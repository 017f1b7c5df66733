/* Where hvrt_poweroff() looks for a way out, set up during boot. */
#ifndef HVRT_ARCH_POWER_H
#define HVRT_ARCH_POWER_H

#include "arch/x86_64/acpi.h"

/* ACPI tables for the S5 power-off. */
void power_set_acpi(const struct acpi_info *acpi);

/* A firmware power-off (UEFI ResetSystem), tried after ACPI. */
void power_set_firmware_off(void (*off)(void *ctx, int status), void *ctx);

#endif
