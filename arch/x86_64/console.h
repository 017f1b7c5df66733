/*
 * The console: every byte the runtime or the app prints goes to each sink
 * registered here (COM1 always, the framebuffer when there is one).
 */
#ifndef HVRT_ARCH_CONSOLE_H
#define HVRT_ARCH_CONSOLE_H

#include <stddef.h>

struct console_sink {
	void (*write)(void *ctx, const char *buf, size_t len);
	void *ctx;
};

#define CONSOLE_SINKS_MAX 4

/* Adds a sink; returns 0 or -ENOSPC. */
int console_add_sink(void (*write)(void *ctx, const char *buf, size_t len), void *ctx);

/* Removes every sink (used before handing the machine to firmware or a test). */
void console_reset(void);

#endif
