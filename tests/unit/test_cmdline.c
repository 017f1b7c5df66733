/*
 * Unit tests for boot/cmdline.c: splitting the command line into main()'s
 * argv, and taking the runtime's own "hvrt.KEY=VALUE" options out of it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hvrt/boot.h>
#include <hvrt/log.h>

#include "arch/x86_64/console.h"
#include "boot/cmdline.h"
#include "tests/unit/log_capture.h"

/* ---- captured log output ---- */


static struct cmdline_args args;

static int setup(void **state)
{
	(void)state;
	log_capture_start();
	memset(&args, 0x55, sizeof(args)); /* garbage, as on a fresh stack */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	console_reset();
	return 0;
}

/* Splits line and checks argc/argv exactly (want is NULL-terminated). */
static void check_split(const char *line, const char *const *want)
{
	int n = 0;

	assert_int_equal(cmdline_split(&args, line), 0);
	while (want[n])
		n++;
	assert_int_equal(args.argc, n);
	for (int i = 0; i < n; i++) {
		assert_non_null(args.argv[i]);
		assert_string_equal(args.argv[i], want[i]);
		/* arguments live in the struct's own buffer */
		assert_true(args.argv[i] >= args.buf && args.argv[i] < args.buf + sizeof(args.buf));
	}
	assert_null(args.argv[n]);
}

#define SPLIT(line, ...)                                                                       \
	do {                                                                                   \
		static const char *const want_[] = { __VA_ARGS__, NULL };                      \
		check_split((line), want_);                                                    \
	} while (0)

/* Blank-separated words; any run of spaces, tabs, CR or LF separates; ends ignored. */
static void test_words(void **state)
{
	(void)state;
	SPLIT("app", "app");
	SPLIT("app one two", "app", "one", "two");
	SPLIT("  app \t one\t\ttwo   ", "app", "one", "two");
	SPLIT("app\r\none\n", "app", "one");
	SPLIT("a b c d e f", "a", "b", "c", "d", "e", "f");
	assert_int_equal(loglen, 0);
}

static void test_empty(void **state)
{
	(void)state;
	assert_int_equal(cmdline_split(&args, ""), 0);
	assert_int_equal(args.argc, 0);
	assert_null(args.argv[0]);
	assert_int_equal(cmdline_split(&args, " \t  "), 0);
	assert_int_equal(args.argc, 0);
	assert_null(args.argv[0]);
}

/* Double quotes group blanks into a word and may start or end mid-word; "" is an empty argument. */
static void test_quotes(void **state)
{
	(void)state;
	SPLIT("app \"hello world\" x", "app", "hello world", "x");
	SPLIT("app --name=\"a b\"c", "app", "--name=a bc");
	SPLIT("app \"\" x", "app", "", "x");
	SPLIT("\"\"", "");
	SPLIT("app \"\"\"\"", "app", "");
	SPLIT("app \"  lead\ttab \"", "app", "  lead\ttab ");
	SPLIT("app a\"\"b", "app", "ab");
}

/* Backslash escapes a quote or a backslash; before anything else it is literal. */
static void test_escapes(void **state)
{
	(void)state;
	SPLIT("app \\\"x\\\"", "app", "\"x\"");
	SPLIT("app a\\\\b", "app", "a\\b");
	SPLIT("app \"say \\\"hi\\\"\"", "app", "say \"hi\"");
	SPLIT("app C:\\dir\\n", "app", "C:\\dir\\n");
	SPLIT("app end\\", "app", "end\\");
	SPLIT("app \\\\\"a b\"", "app", "\\a b");
}

static void test_unbalanced_quote(void **state)
{
	(void)state;
	assert_int_equal(cmdline_split(&args, "app \"open"), -EINVAL);
	assert_non_null(strstr(logbuf, "hvrt: boot: error: the command line has an unbalanced quote\n"));
	loglen = 0;
	assert_int_equal(cmdline_split(&args, "app \"a\" \"b"), -EINVAL);
	assert_int_equal(cmdline_split(&args, "app \\\"\""), -EINVAL);
	/* an escaped quote does not open one */
	assert_int_equal(cmdline_split(&args, "app \\\""), 0);
	assert_int_equal(args.argc, 2);
	assert_string_equal(args.argv[1], "\"");
}

/* HVRT_ARGC_MAX arguments are fine; one more is refused with a message. */
static void test_argc_limit(void **state)
{
	char line[HVRT_ARGC_MAX * 3 + 8];
	size_t len = 0;

	(void)state;
	for (int i = 0; i < HVRT_ARGC_MAX; i++)
		len += (size_t)sprintf(line + len, "%c%c ", 'a' + i % 26, 'a' + i / 26);
	assert_int_equal(cmdline_split(&args, line), 0);
	assert_int_equal(args.argc, HVRT_ARGC_MAX);
	assert_string_equal(args.argv[0], "aa");
	assert_string_equal(args.argv[HVRT_ARGC_MAX - 1], "lc");
	assert_null(args.argv[HVRT_ARGC_MAX]);
	assert_int_equal(loglen, 0);

	strcpy(line + len, "zz");
	assert_int_equal(cmdline_split(&args, line), -E2BIG);
	assert_non_null(strstr(logbuf, "the command line has more than 64 arguments"));
}

/* Lines up to HVRT_CMDLINE_MAX characters split; longer ones are refused. */
static void test_length_limit(void **state)
{
	char line[HVRT_CMDLINE_MAX + 2];

	(void)state;
	/* one 1023-character word */
	memset(line, 'w', HVRT_CMDLINE_MAX);
	line[HVRT_CMDLINE_MAX] = '\0';
	assert_int_equal(cmdline_split(&args, line), 0);
	assert_int_equal(args.argc, 1);
	assert_int_equal(strlen(args.argv[0]), HVRT_CMDLINE_MAX);

	/*
	 * 1023 characters: 63 one-letter words and a long last one. Each word
	 * needs its NUL, so argv's buffer is used to its last byte.
	 */
	memset(line, 'y', HVRT_CMDLINE_MAX);
	for (int i = 0; i < HVRT_ARGC_MAX - 1; i++)
		line[2 * i + 1] = ' ';
	line[HVRT_CMDLINE_MAX] = '\0';
	assert_int_equal(cmdline_split(&args, line), 0);
	assert_int_equal(args.argc, HVRT_ARGC_MAX);
	assert_string_equal(args.argv[HVRT_ARGC_MAX - 2], "y");
	assert_int_equal(strlen(args.argv[HVRT_ARGC_MAX - 1]), HVRT_CMDLINE_MAX - 2 * (HVRT_ARGC_MAX - 1));
	assert_ptr_equal(args.argv[HVRT_ARGC_MAX - 1] + strlen(args.argv[HVRT_ARGC_MAX - 1]),
			 &args.buf[sizeof(args.buf) - 1]);

	/* the same length in one-letter words: too many of them */
	for (int i = 0; i < HVRT_CMDLINE_MAX; i++)
		line[i] = i % 2 ? ' ' : 'x';
	assert_int_equal(cmdline_split(&args, line), -E2BIG);
	loglen = 0;
	logbuf[0] = '\0';

	/* 1023 characters of quoted empties and blanks */
	memset(line, ' ', HVRT_CMDLINE_MAX);
	memcpy(line, "a \"\" \"\"", 7);
	line[HVRT_CMDLINE_MAX - 1] = 'z';
	line[HVRT_CMDLINE_MAX] = '\0';
	assert_int_equal(cmdline_split(&args, line), 0);
	assert_int_equal(args.argc, 4);
	assert_string_equal(args.argv[1], "");
	assert_string_equal(args.argv[2], "");
	assert_string_equal(args.argv[3], "z");
	assert_int_equal(loglen, 0);

	/* 1024 characters */
	memset(line, 'w', HVRT_CMDLINE_MAX + 1);
	line[HVRT_CMDLINE_MAX + 1] = '\0';
	assert_int_equal(cmdline_split(&args, line), -E2BIG);
	assert_non_null(strstr(logbuf, "the command line is longer than the limit of 1023 bytes"));
}

/* ---- runtime options ---- */

struct option_log {
	int calls;
	char keys[8][64];
	char values[8][64];
	int fail_on; /* call index whose handler returns an error, or -1 */
};

static int handler(void *ctx, const char *key, const char *value)
{
	struct option_log *l = ctx;

	assert_true(l->calls < 8);
	snprintf(l->keys[l->calls], sizeof(l->keys[0]), "%s", key);
	snprintf(l->values[l->calls], sizeof(l->values[0]), "%s", value);
	return l->calls++ == l->fail_on ? -EINVAL : 0;
}

/*
 * hvrt.* words leave argv; the rest keep their order; key and value reach the handler.
 * An option where the program path belongs is taken too, and argv[0] becomes "hvrt".
 */
static void test_runtime_options(void **state)
{
	struct option_log l = { .fail_on = -1 };

	(void)state;
	assert_int_equal(cmdline_split(&args, "hvrt.app one hvrt.log=debug two hvrt.memmap hvrt.x=a=b three hvrt"),
			 0);
	assert_int_equal(cmdline_take_runtime_options(&args, handler, &l), 4);
	assert_int_equal(args.argc, 5);
	assert_string_equal(args.argv[0], "hvrt");
	assert_string_equal(args.argv[1], "one");
	assert_string_equal(args.argv[2], "two");
	assert_string_equal(args.argv[3], "three");
	assert_string_equal(args.argv[4], "hvrt");
	assert_null(args.argv[5]);

	assert_int_equal(l.calls, 4);
	assert_string_equal(l.keys[0], "app");
	assert_string_equal(l.values[0], "");
	assert_string_equal(l.keys[1], "log");
	assert_string_equal(l.values[1], "debug");
	assert_string_equal(l.keys[2], "memmap");
	assert_string_equal(l.values[2], "");
	assert_string_equal(l.keys[3], "x");
	assert_string_equal(l.values[3], "a=b");
	assert_int_equal(loglen, 0);
}

static void test_runtime_options_none(void **state)
{
	struct option_log l = { .fail_on = -1 };

	(void)state;
	assert_int_equal(cmdline_split(&args, "app a b"), 0);
	assert_int_equal(cmdline_take_runtime_options(&args, handler, &l), 0);
	assert_int_equal(args.argc, 3);
	assert_string_equal(args.argv[2], "b");
	assert_null(args.argv[3]);
	assert_int_equal(l.calls, 0);

	/* an empty line stays empty */
	assert_int_equal(cmdline_split(&args, ""), 0);
	assert_int_equal(cmdline_take_runtime_options(&args, handler, &l), 0);
	assert_int_equal(args.argc, 0);
	assert_null(args.argv[0]);

	/* only options after argv[0] */
	assert_int_equal(cmdline_split(&args, "app hvrt.a hvrt.b=1"), 0);
	assert_int_equal(cmdline_take_runtime_options(&args, handler, &l), 2);
	assert_int_equal(args.argc, 1);
	assert_string_equal(args.argv[0], "app");
	assert_null(args.argv[1]);
}

/* A handler error is a warning naming the option; the word is still taken. */
static void test_runtime_option_rejected(void **state)
{
	struct option_log l = { .fail_on = 0 };

	(void)state;
	assert_int_equal(cmdline_split(&args, "app hvrt.log=loud x hvrt.memmap"), 0);
	assert_int_equal(cmdline_take_runtime_options(&args, handler, &l), 2);
	assert_string_equal(logbuf, "hvrt: boot: warning: ignoring option hvrt.log=loud\n");
	assert_int_equal(args.argc, 2);
	assert_string_equal(args.argv[1], "x");
	assert_int_equal(l.calls, 2);
}

/* Quoted option values keep their blanks. */
static void test_runtime_option_quoted(void **state)
{
	struct option_log l = { .fail_on = -1 };

	(void)state;
	assert_int_equal(cmdline_split(&args, "app \"hvrt.name=a b\" c"), 0);
	assert_int_equal(cmdline_take_runtime_options(&args, handler, &l), 1);
	assert_string_equal(l.keys[0], "name");
	assert_string_equal(l.values[0], "a b");
	assert_int_equal(args.argc, 2);
	assert_string_equal(args.argv[1], "c");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_words),
		T(test_empty),
		T(test_quotes),
		T(test_escapes),
		T(test_unbalanced_quote),
		T(test_argc_limit),
		T(test_length_limit),
		T(test_runtime_options),
		T(test_runtime_options_none),
		T(test_runtime_option_rejected),
		T(test_runtime_option_quoted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
