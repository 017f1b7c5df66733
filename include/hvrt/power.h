/*
 * Power and failure: every shutdown, reboot and panic goes through here.
 *
 * The exit status reaches the host when the VM has a way to carry it: under
 * QEMU with `-device isa-debug-exit,iobase=0xf4,iosize=1` the QEMU process
 * exits with (status << 1) | 1. Otherwise the VM powers off through ACPI S5
 * (or UEFI ResetSystem) and the status is only printed on the console.
 */
#ifndef HVRT_POWER_H
#define HVRT_POWER_H

#include <stdarg.h>

/* Status of a panic, a CPU exception or a failed boot (QEMU exits with 251). */
#define HVRT_EXIT_PANIC 125

/* Prints the status, powers the VM off; never returns. status is 0..127. */
__attribute__((noreturn)) void hvrt_poweroff(int status);

/*
 * Resets the VM: through the Hyper-V RESET MSR when the host recommends it,
 * else the chipset's reset port (0xcf9), the keyboard controller, and the
 * firmware. Under QEMU with -no-reboot a reset ends QEMU. Never returns.
 */
__attribute__((noreturn)) void hvrt_reboot(void);

/* Prints "panic: <message>" and a backtrace, then powers off with HVRT_EXIT_PANIC. */
__attribute__((noreturn, format(printf, 1, 2))) void hvrt_panic(const char *fmt, ...);

#endif
