/*
 * Console multiplexer and logging.
 *
 * Sinks receive bytes exactly as written; each sink does its own line-ending
 * translation (a UART wants "\r\n", a framebuffer does not).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>

#include <hvrt/log.h>

#include "arch/x86_64/console.h"
#include "arch/x86_64/cpu.h"

static struct console_state {
	struct console_sink sinks[CONSOLE_SINKS_MAX];
	unsigned count;
	enum hvrt_log_level level;
	bool mid_line; /* the last byte written was not a newline */
} console = { .level = HVRT_LOG_WARN };

int console_add_sink(void (*write)(void *ctx, const char *buf, size_t len), void *ctx)
{
	if (console.count == CONSOLE_SINKS_MAX)
		return -ENOSPC;
	console.sinks[console.count++] = (struct console_sink){ .write = write, .ctx = ctx };
	return 0;
}

void console_reset(void)
{
	console.count = 0;
	console.mid_line = false;
}

/*
 * Interrupts are held off while the sinks run: a handler that logs must not
 * land in the middle of a sink's state update (a framebuffer cursor, say).
 */
void hvrt_console_write(const char *buf, size_t len)
{
	int irqs_were_on = (cpu_read_rflags() & (1u << 9)) != 0;

	cpu_irq_disable();
	for (unsigned i = 0; i < console.count; i++)
		console.sinks[i].write(console.sinks[i].ctx, buf, len);
	if (len)
		console.mid_line = buf[len - 1] != '\n';
	if (irqs_were_on)
		cpu_irq_enable();
}

void hvrt_log_set_level(enum hvrt_log_level level)
{
	console.level = level;
}

enum hvrt_log_level hvrt_log_get_level(void)
{
	return console.level;
}

/*
 * hvrt_log - print one line with the module's prefix
 * @level:  severity; dropped when above the configured level
 * @module: short name of the module ("boot", "acpi", ...)
 * @fmt:    hvrt_vsnprintf format; a trailing newline is added
 *
 * Lines longer than the buffer are cut and end in "...", never split.
 */
/* One log line; it starts on a new line even when the app left its own unfinished. */
static void log_line(const char *module, const char *tag, const char *fmt, va_list ap)
{
	char line[256];

	int n = hvrt_snprintf(line, sizeof(line), "%shvrt: %s: %s", console.mid_line ? "\n" : "", module, tag);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	int m = hvrt_vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	size_t len = (size_t)n + (size_t)(m < 0 ? 0 : m);
	if (len > sizeof(line) - 2) {
		len = sizeof(line) - 2;
		line[len - 3] = line[len - 2] = line[len - 1] = '.';
	}
	line[len++] = '\n';
	hvrt_console_write(line, len);
}

void hvrt_log_always(const char *module, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(module, "", fmt, ap);
	va_end(ap);
}

void hvrt_log(enum hvrt_log_level level, const char *module, const char *fmt, ...)
{
	static const char *const tags[] = {
		[HVRT_LOG_ERROR] = "error: ",
		[HVRT_LOG_WARN] = "warning: ",
		[HVRT_LOG_INFO] = "",
		[HVRT_LOG_DEBUG] = "debug: ",
	};
	va_list ap;

	if (level > console.level)
		return;
	va_start(ap, fmt);
	log_line(module, tags[level], fmt, ap);
	va_end(ap);
}
