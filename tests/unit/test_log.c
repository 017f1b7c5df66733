/*
 * Unit tests for arch/x86_64/console.c: the console multiplexer and hvrt_log.
 *
 * Pinned down: every sink gets exactly the bytes written; the line format
 * per level; level filtering; the cut of over-long lines; hvrt_log_always
 * ignoring the level; the sink limit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <hvrt/log.h>

#include "arch/x86_64/console.h"

struct capture {
	char buf[4096];
	size_t len;
	unsigned writes;
};

static struct capture cap[CONSOLE_SINKS_MAX + 1];

static void sink(void *ctx, const char *buf, size_t len)
{
	struct capture *c = ctx;

	assert_true(c->len + len <= sizeof(c->buf) - 1);
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->buf[c->len] = '\0';
	c->writes++;
}

static int setup(void **state)
{
	(void)state;
	console_reset();
	memset(cap, 0, sizeof(cap));
	hvrt_log_set_level(HVRT_LOG_WARN);
	assert_int_equal(console_add_sink(sink, &cap[0]), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	console_reset();
	hvrt_log_set_level(HVRT_LOG_WARN);
	return 0;
}

/* Raw writes reach every sink unchanged, in order, NUL bytes and newlines included. */
static void test_raw_write_all_sinks(void **state)
{
	(void)state;
	assert_int_equal(console_add_sink(sink, &cap[1]), 0);
	assert_int_equal(console_add_sink(sink, &cap[2]), 0);
	hvrt_console_write("ab\ncd", 5);
	hvrt_console_write("\0x\r\n", 4);
	hvrt_console_write("", 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cap[i].len, 9);
		assert_memory_equal(cap[i].buf, "ab\ncd\0x\r\n", 9);
	}
	assert_int_equal(cap[3].len, 0);
}

/* No sinks: writing and logging do nothing, and do not crash. */
static void test_no_sinks(void **state)
{
	(void)state;
	console_reset();
	hvrt_console_write("lost", 4);
	hvrt_log(HVRT_LOG_ERROR, "x", "lost");
	assert_int_equal(cap[0].len, 0);
	/* a sink added after a reset works */
	assert_int_equal(console_add_sink(sink, &cap[1]), 0);
	hvrt_console_write("kept", 4);
	assert_string_equal(cap[1].buf, "kept");
	assert_int_equal(cap[0].len, 0);
}

/* A log line after output that did not end its line starts on a new one; after a newline it does not. */
static void test_log_starts_a_line(void **state)
{
	(void)state;
	hvrt_console_write("no newline", 10);
	hvrt_log(HVRT_LOG_ERROR, "power", "exit status %d", 4);
	hvrt_console_write("done\n", 5);
	hvrt_log(HVRT_LOG_ERROR, "power", "again");
	assert_string_equal(cap[0].buf,
			    "no newline\nhvrt: power: error: exit status 4\ndone\nhvrt: power: error: again\n");
}

/* CONSOLE_SINKS_MAX sinks fit; one more is -ENOSPC and gets nothing. */
static void test_sink_limit(void **state)
{
	(void)state;
	for (int i = 1; i < CONSOLE_SINKS_MAX; i++)
		assert_int_equal(console_add_sink(sink, &cap[i]), 0);
	assert_int_equal(console_add_sink(sink, &cap[CONSOLE_SINKS_MAX]), -ENOSPC);
	hvrt_console_write("z", 1);
	for (int i = 0; i < CONSOLE_SINKS_MAX; i++)
		assert_string_equal(cap[i].buf, "z");
	assert_int_equal(cap[CONSOLE_SINKS_MAX].len, 0);
	/* reset makes room again */
	console_reset();
	assert_int_equal(console_add_sink(sink, &cap[CONSOLE_SINKS_MAX]), 0);
}

/* "hvrt: MODULE: TAG" + message + "\n", one write per line, tags per level. */
static void test_line_format(void **state)
{
	(void)state;
	hvrt_log_set_level(HVRT_LOG_DEBUG);
	hvrt_log(HVRT_LOG_ERROR, "boot", "no memory map (%d)", -2);
	assert_string_equal(cap[0].buf, "hvrt: boot: error: no memory map (-2)\n");
	assert_int_equal(cap[0].writes, 1);
	cap[0].len = 0;
	hvrt_log(HVRT_LOG_WARN, "acpi", "checksum 0x%02x", 0xab);
	assert_string_equal(cap[0].buf, "hvrt: acpi: warning: checksum 0xab\n");
	cap[0].len = 0;
	hvrt_log(HVRT_LOG_INFO, "mem", "%s %u MiB", "RAM", 128u);
	assert_string_equal(cap[0].buf, "hvrt: mem: RAM 128 MiB\n");
	cap[0].len = 0;
	hvrt_log(HVRT_LOG_DEBUG, "tsc", "%llu Hz", 2400000000ULL);
	assert_string_equal(cap[0].buf, "hvrt: tsc: debug: 2400000000 Hz\n");
	cap[0].len = 0;
	hvrt_log(HVRT_LOG_INFO, "m", "%s", "");
	assert_string_equal(cap[0].buf, "hvrt: m: \n");
	assert_int_equal(cap[0].writes, 5);
}

/* Before anyone sets it, the level is WARN. Runs first, without setup. */
static void test_default_level(void **state)
{
	(void)state;
	assert_int_equal(hvrt_log_get_level(), HVRT_LOG_WARN);
	console_reset();
	assert_int_equal(console_add_sink(sink, &cap[0]), 0);
	hvrt_log(HVRT_LOG_INFO, "t", "dropped");
	hvrt_log(HVRT_LOG_WARN, "t", "kept");
	assert_string_equal(cap[0].buf, "hvrt: t: warning: kept\n");
	console_reset();
}

/* Messages above the level are dropped. */
static void test_level_filter(void **state)
{
	static const char *const want[4] = {
		"hvrt: t: error: e\n",
		"hvrt: t: error: e\nhvrt: t: warning: w\n",
		"hvrt: t: error: e\nhvrt: t: warning: w\nhvrt: t: i\n",
		"hvrt: t: error: e\nhvrt: t: warning: w\nhvrt: t: i\nhvrt: t: debug: d\n",
	};

	(void)state;
	for (int level = HVRT_LOG_ERROR; level <= HVRT_LOG_DEBUG; level++) {
		cap[0].len = 0;
		cap[0].buf[0] = '\0';
		hvrt_log_set_level((enum hvrt_log_level)level);
		assert_int_equal(hvrt_log_get_level(), level);
		hvrt_log(HVRT_LOG_ERROR, "t", "e");
		hvrt_log(HVRT_LOG_WARN, "t", "w");
		hvrt_log(HVRT_LOG_INFO, "t", "i");
		hvrt_log(HVRT_LOG_DEBUG, "t", "d");
		assert_string_equal(cap[0].buf, want[level]);
	}
}

/* hvrt_log_always prints, with no tag, whatever the level. */
static void test_log_always(void **state)
{
	(void)state;
	hvrt_log_set_level(HVRT_LOG_ERROR);
	hvrt_log_always("memmap", "0x%llx-0x%llx %s", 0x1000ULL, 0x9ffffULL, "RAM");
	assert_string_equal(cap[0].buf, "hvrt: memmap: 0x1000-0x9ffff RAM\n");
}

/* Lines that do not fit the 256-byte buffer are cut to 255 bytes ending "...\n"; shorter ones are whole. */
static void test_long_line(void **state)
{
	char msg[600];

	(void)state;
	/* "hvrt: m: error: " is 16 bytes; 238 more make 254, the most that fits with the newline */
	memset(msg, 'a', 238);
	msg[238] = '\0';
	hvrt_log(HVRT_LOG_ERROR, "m", "%s", msg);
	assert_int_equal(cap[0].len, 255);
	assert_memory_equal(cap[0].buf, "hvrt: m: error: ", 16);
	assert_memory_equal(cap[0].buf + 16, msg, 238);
	assert_int_equal(cap[0].buf[254], '\n');

	/* one byte more: cut */
	cap[0].len = 0;
	memset(msg, 'b', 239);
	msg[239] = '\0';
	hvrt_log(HVRT_LOG_ERROR, "m", "%s", msg);
	assert_int_equal(cap[0].len, 255);
	assert_memory_equal(cap[0].buf + 248, "bbb...\n", 7);

	/* far longer, with arguments after the cut */
	cap[0].len = 0;
	memset(msg, 'c', 599);
	msg[599] = '\0';
	hvrt_log(HVRT_LOG_WARN, "module", "%s and %d more", msg, 42);
	assert_int_equal(cap[0].len, 255);
	assert_int_equal(cap[0].writes, 3);
	assert_memory_equal(cap[0].buf, "hvrt: module: warning: ccc", 26);
	assert_memory_equal(cap[0].buf + 251, "...\n", 4);
	assert_null(memchr(cap[0].buf, '\n', 254));

	/* a module name longer than the line */
	cap[0].len = 0;
	memset(msg, 'M', 300);
	msg[300] = '\0';
	hvrt_log_always(msg, "text");
	assert_int_equal(cap[0].len, 255);
	assert_memory_equal(cap[0].buf, "hvrt: MMM", 9);
	assert_memory_equal(cap[0].buf + 251, "...\n", 4);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_level), /* first */
		T(test_level_filter),
		T(test_raw_write_all_sinks),
		T(test_no_sinks),
		T(test_log_starts_a_line),
		T(test_sink_limit),
		T(test_line_format),
		T(test_log_always),
		T(test_long_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
