/*
 * The current check's outcome: its failures, printed as they happen, and
 * the figures for its "ok" line. The console is slow in the nested host
 * (each byte is a VM exit under TCG), so a check prints one line unless it
 * fails, and a failing one at most FAIL_LINES_MAX.
 */
#include "chantest.h"

#include <stdarg.h>

#define FAIL_LINES_MAX 8u /* FAIL lines a check prints; the rest are counted */

static struct {
	const char *name;
	unsigned fails;
	char figures[512];
} cur;

/* Starts the named check: what came before is forgotten. */
void check_start(const char *name)
{
	memset(&cur, 0, sizeof(cur));
	cur.name = name;
}

/* How many failures the current check has had: the stream engine compares before and after. */
unsigned check_failures(void)
{
	return cur.fails;
}

/* The figures note() gathered, for main.c's "ok" line. */
const char *check_figures(void)
{
	return cur.figures;
}

/*
 * fail - one way the current check failed
 * Printed at once, so a check that hangs later still shows what went wrong
 * first; past FAIL_LINES_MAX only counted.
 */
void fail(const char *fmt, ...)
{
	va_list ap;

	if (++cur.fails > FAIL_LINES_MAX)
		return;
	printf("chantest: %s: FAIL ", cur.name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* note - adds to the figures, "; " between notes; what does not fit is cut off. */
void note(const char *fmt, ...)
{
	size_t used = strlen(cur.figures);
	va_list ap;

	if (used && used + 2 < sizeof(cur.figures)) {
		strcpy(cur.figures + used, "; ");
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(cur.figures + used, sizeof(cur.figures) - used, fmt, ap);
	va_end(ap);
}
