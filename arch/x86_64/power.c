/*
 * Power off, with the exit status where the host can see it.
 *
 * In order: QEMU's isa-debug-exit device (status reaches the QEMU process),
 * ACPI S5, the firmware's own power-off (UEFI ResetSystem), and as a last
 * resort a halted CPU with the status on the console.
 */
#include <stdarg.h>
#include <stdbool.h>

#include <hvrt/log.h>
#include <hvrt/power.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/power.h"
#include "arch/x86_64/trap.h"

#define DEBUG_EXIT_PORT 0xf4

static struct power_state {
	const struct acpi_info *acpi;
	void (*firmware_off)(void *ctx, int status);
	void *firmware_ctx;
	void (*crash_report)(void *ctx, const struct power_crash *crash);
	void *crash_ctx;
	void (*reset)(void *ctx);
	void *reset_ctx;
	void (*shutdown)(void *ctx);
	void *shutdown_ctx;
	bool stopping;
	bool crash_reported;
} power;

void power_set_crash_reporter(void (*report)(void *ctx, const struct power_crash *crash), void *ctx)
{
	power.crash_report = report;
	power.crash_ctx = ctx;
}

void power_report_crash(const struct power_crash *crash)
{
	if (!power.crash_report || power.crash_reported)
		return;
	power.crash_reported = true;
	power.crash_report(power.crash_ctx, crash);
}

void power_set_reset(void (*reset)(void *ctx), void *ctx)
{
	power.reset = reset;
	power.reset_ctx = ctx;
}

void power_set_shutdown(void (*shutdown)(void *ctx), void *ctx)
{
	power.shutdown = shutdown;
	power.shutdown_ctx = ctx;
}

/* The shutdown hook, once: a fault inside it must not bring us back here. */
static void run_shutdown(void)
{
	void (*shutdown)(void *ctx) = power.shutdown;

	power.shutdown = NULL;
	if (shutdown && !power.stopping)
		shutdown(power.shutdown_ctx);
}

void power_set_acpi(const struct acpi_info *acpi)
{
	power.acpi = acpi;
}

void power_set_firmware_off(void (*off)(void *ctx, int status), void *ctx)
{
	power.firmware_off = off;
	power.firmware_ctx = ctx;
}

/*
 * QEMU's isa-debug-exit reads as 0; an unclaimed port reads as all ones, on
 * QEMU and on real chipsets alike, so a write goes only where it is heard.
 */
static bool debug_exit_present(void)
{
	return cpu_inb(DEBUG_EXIT_PORT) == 0;
}

void hvrt_poweroff(int status)
{
	if (status < 0 || status > 127)
		status = HVRT_EXIT_PANIC;
	if (status != HVRT_EXIT_PANIC)
		run_shutdown();
	cpu_irq_disable();
	if (power.stopping)
		cpu_stop(); /* a fault on the way out: do not loop through here again */
	power.stopping = true;

	if (status != 0)
		hvrt_log(HVRT_LOG_WARN, "power", "exit status %d", status);
	if (debug_exit_present())
		cpu_outb(DEBUG_EXIT_PORT, (uint8_t)status);
	if (status == 0)
		hvrt_log(HVRT_LOG_INFO, "power", "exit status 0");
	if (power.acpi) {
		hvrt_log(HVRT_LOG_INFO, "power", "powering off through ACPI S5");
		int err = acpi_poweroff(power.acpi);
		hvrt_log(HVRT_LOG_WARN, "power", "ACPI S5 power-off failed (%d)", err);
	}
	if (power.firmware_off) {
		hvrt_log(HVRT_LOG_INFO, "power", "powering off through the firmware");
		power.firmware_off(power.firmware_ctx, status);
	}
	hvrt_log(HVRT_LOG_ERROR, "power", "no way to power off; CPU halted (exit status %d)", status);
	cpu_stop();
}

void hvrt_panic(const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	hvrt_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hvrt_log(HVRT_LOG_ERROR, "panic", "%s", msg);
	/* #0 is where hvrt_panic was called; the walk continues from that caller's own frame. */
	const uint64_t *frame = __builtin_frame_address(0);
	uint64_t caller = (uint64_t)(uintptr_t)__builtin_return_address(0);
	trap_backtrace(frame[0], caller, 0);
	struct power_crash crash = {
		.message = msg, .reason = POWER_CRASH_PANIC, .rip = caller, .rsp = (uint64_t)(uintptr_t)frame,
	};
	power_report_crash(&crash);
	hvrt_poweroff(HVRT_EXIT_PANIC);
}

/* The PIIX/ICH reset control register: 0x06 asks for a hard reset. */
#define RESET_CONTROL_PORT 0xcf9
#define KBC_COMMAND_PORT 0x64
#define KBC_PULSE_RESET 0xfe

void hvrt_reboot(void)
{
	run_shutdown();
	cpu_irq_disable();
	if (power.reset) {
		hvrt_log(HVRT_LOG_INFO, "power", "resetting through the Hyper-V RESET MSR");
		power.reset(power.reset_ctx);
	}
	hvrt_log(HVRT_LOG_INFO, "power", "resetting through the chipset (port 0xcf9)");
	cpu_outb(RESET_CONTROL_PORT, 0x02);
	cpu_outb(RESET_CONTROL_PORT, 0x06);
	for (volatile int i = 0; i < 100000; i++)
		cpu_pause();
	hvrt_log(HVRT_LOG_INFO, "power", "resetting through the keyboard controller");
	for (int i = 0; i < 10000 && (cpu_inb(KBC_COMMAND_PORT) & 0x02); i++)
		cpu_pause();
	cpu_outb(KBC_COMMAND_PORT, KBC_PULSE_RESET);
	for (volatile int i = 0; i < 100000; i++)
		cpu_pause();
	hvrt_log(HVRT_LOG_ERROR, "power", "no way to reset; CPU halted");
	cpu_stop();
}
