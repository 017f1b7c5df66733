/*
 * chantest: hvrt's channel API against QEMU's VMBus host and the hvrt-test
 * device (chantest.h says more; tests/nested/chan_cases.py runs it).
 *
 *   chantest [CHECK[=N] ...]     (no CHECK, or "all": every check in order)
 *
 * Each check prints "chantest: NAME: ok FIGURES" or one or more
 * "chantest: NAME: FAIL WHY" lines; the last line is "chantest: N passed,
 * N failed" and the exit status is the number of failed checks. N, where a
 * check takes one, replaces its default count (packets, rounds).
 *
 * The checks, in the order "all" runs them (each says more above its
 * function): offers, open-close, close-busy (check_open.c), completions,
 * gpa, stream, backpressure-out, backpressure-polled, backpressure-in, busy
 * (check_backpressure.c), bad-length, bad-offset, bad-type,
 * stray-completion (check_bad.c), rescind, rescind-primary (the rescinds
 * take channels away for good), teardown (UNLOAD). Each opens what it needs
 * and closes it again, so any subset runs in any order before those three.
 */
#include "chantest.h"

#include <stdlib.h>

struct check {
	const char *name;
	void (*fn)(unsigned arg); /* arg: NAME=N's N, else 0 (the check's default) */
};

/* In the order "all" runs them: the rescind takes a channel away for good, the teardown the bus. */
static const struct check checks[] = {
	{ "offers", check_offers },
	{ "open-close", check_open_close },
	{ "close-busy", check_close_busy },
	{ "completions", check_completions },
	{ "gpa", check_gpa },
	{ "stream", check_stream },
	{ "backpressure-out", check_backpressure_out },
	{ "backpressure-polled", check_backpressure_polled },
	{ "backpressure-in", check_backpressure_in },
	{ "busy", check_busy },
	{ "bad-length", check_bad_length },
	{ "bad-offset", check_bad_offset },
	{ "bad-type", check_bad_type },
	{ "stray-completion", check_stray_completion },
	{ "rescind", check_rescind },
	{ "rescind-primary", check_rescind_primary },
	{ "teardown", check_teardown },
};
#define NCHECKS (sizeof(checks) / sizeof(checks[0]))

/* run_check - runs one check and prints its line (with how long it took); whether it passed */
static bool run_check(const struct check *c, unsigned arg)
{
	check_start(c->name);
	uint64_t t0 = now_ref();
	c->fn(arg);
	unsigned ms = ms_since(t0);
	unsigned fails = check_failures();
	if (fails == 0) {
		printf("chantest: %s: ok %s (%u ms)\n", c->name, check_figures(), ms);
		return true;
	}
	printf("chantest: %s: FAIL %u failure%s in all (%u ms)\n", c->name, fails, fails == 1 ? "" : "s", ms);
	return false;
}

/*
 * find_check - the check an argument names ("NAME" or "NAME=N")
 * Return: the check, or NULL (printed as a failure, with the names there
 * are); *arg is N, 0 without one.
 */
static const struct check *find_check(const char *word, unsigned *arg)
{
	char name[32];
	const char *eq = strchr(word, '=');
	size_t len = eq ? (size_t)(eq - word) : strlen(word);

	*arg = eq ? (unsigned)strtoul(eq + 1, NULL, 0) : 0;
	snprintf(name, sizeof(name), "%.*s", (int)len, word);
	for (unsigned k = 0; k < NCHECKS; k++) {
		if (strcmp(checks[k].name, name) == 0)
			return &checks[k];
	}
	printf("chantest: %s: FAIL no such check; the checks:", name);
	for (unsigned k = 0; k < NCHECKS; k++)
		printf(" %s", checks[k].name);
	printf(" (or all; NAME=N sets a count)\n");
	return NULL;
}

/*
 * main - connects, finds the device's channels, runs the checks asked for
 * Return: the number of failed checks (1 when the device is missing).
 */
int main(int argc, char **argv)
{
	unsigned passed = 0, failed = 0;

	pattern_init();
	int err = hvrt_vmbus_connect();
	if (err || !find_channels()) {
		printf("chantest: setup: FAIL connect %d; no hvrt-test device with 3 channels (-device hvrt-test, "
		       "the rebuilt QEMU)\n", err);
		return 1;
	}
	bool all = argc < 2 || (argc == 2 && strcmp(argv[1], "all") == 0);
	for (unsigned k = 0; all && k < NCHECKS; k++)
		run_check(&checks[k], 0) ? passed++ : failed++;
	for (int a = 1; a < argc && !all; a++) {
		unsigned arg;
		const struct check *c = find_check(argv[a], &arg);
		if (c && run_check(c, arg))
			passed++;
		else
			failed++;
	}
	printf("chantest: %u passed, %u failed\n", passed, failed);
	/* exit() disconnects (UNLOAD) if the teardown did not. */
	return (int)failed;
}
