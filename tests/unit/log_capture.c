/* The console sink behind tests/unit/log_capture.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hvrt/log.h>

#include "arch/x86_64/console.h"
#include "tests/unit/log_capture.h"

char logbuf[LOG_CAPTURE_SIZE];
size_t loglen;
unsigned loglines;

static void log_sink(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	assert_true(loglen + len < sizeof(logbuf));
	memcpy(logbuf + loglen, buf, len);
	loglen += len;
	logbuf[loglen] = '\0';
	for (size_t i = 0; i < len; i++)
		loglines += buf[i] == '\n';
}

void log_clear(void)
{
	loglen = 0;
	loglines = 0;
	logbuf[0] = '\0';
}

void log_capture_start(void)
{
	console_reset();
	assert_int_equal(console_add_sink(log_sink, NULL), 0);
	hvrt_log_set_level(HVRT_LOG_WARN);
	log_clear();
}
