/* Where hvrt_poweroff() looks for a way out, set up during boot. */
#ifndef HVRT_ARCH_POWER_H
#define HVRT_ARCH_POWER_H

#include "arch/x86_64/acpi.h"

/* ACPI tables for the S5 power-off. */
void power_set_acpi(const struct acpi_info *acpi);

/* A firmware power-off (UEFI ResetSystem), tried after ACPI. */
void power_set_firmware_off(void (*off)(void *ctx, int status), void *ctx);

/* What a crash reporter gets: the message and the machine state at the fault. */
struct power_crash {
	const char *message;
	uint64_t reason;     /* CPU exception vector 0..31, or POWER_CRASH_PANIC */
	uint64_t rip;
	uint64_t error_code; /* the exception's, 0 for a panic */
	uint64_t cr2;
	uint64_t rsp;
};
#define POWER_CRASH_PANIC 0x100u

/* A crash reporter (the Hyper-V crash MSRs), told before a panic powers off. */
void power_set_crash_reporter(void (*report)(void *ctx, const struct power_crash *crash), void *ctx);

/* Tells the crash reporter, once; a fault inside the reporter does not come back here. */
void power_report_crash(const struct power_crash *crash);

/* A reset method tried first by hvrt_reboot() (the Hyper-V RESET MSR). */
void power_set_reset(void (*reset)(void *ctx), void *ctx);

/*
 * Runs shutdown(ctx) once before a clean power-off, exit or reboot (not a
 * panic), with interrupts still on: VMBus sends UNLOAD there so whatever runs
 * next can connect again. NULL removes it.
 */
void power_set_shutdown(void (*shutdown)(void *ctx), void *ctx);

#endif
