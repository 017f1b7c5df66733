/*
 * Console logging with levels and a module prefix.
 *
 * Output goes to every console (COM1, and the framebuffer when there is one),
 * never through newlib's stdio, so it works from exception handlers and before
 * the C library is up. Formats take %d %i %u %x %X %p %s %c %% with the l, ll,
 * z flags, '0' and '-' flags and a field width.
 */
#ifndef HVRT_LOG_H
#define HVRT_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum hvrt_log_level {
	HVRT_LOG_ERROR = 0,
	HVRT_LOG_WARN = 1,
	HVRT_LOG_INFO = 2,
	HVRT_LOG_DEBUG = 3,
};

/* Messages above this level are dropped; the default is HVRT_LOG_WARN, or `hvrt.log=LEVEL`. */
void hvrt_log_set_level(enum hvrt_log_level level);
enum hvrt_log_level hvrt_log_get_level(void);

/* Prints "hvrt: <module>: <message>\n" (with "error: "/"warning: " for those levels). */
__attribute__((format(printf, 3, 4))) void hvrt_log(enum hvrt_log_level level, const char *module,
						     const char *fmt, ...);

/* Prints "hvrt: <module>: <message>\n" whatever the level: for output the user asked for. */
__attribute__((format(printf, 2, 3))) void hvrt_log_always(const char *module, const char *fmt, ...);

/* Writes len raw bytes to every console. */
void hvrt_console_write(const char *buf, size_t len);

/*
 * snprintf subset used by the runtime (see above). Always NUL-terminates when
 * size > 0; returns the length the full output would have had.
 */
int hvrt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
__attribute__((format(printf, 3, 4))) int hvrt_snprintf(char *buf, size_t size, const char *fmt, ...);

#endif
