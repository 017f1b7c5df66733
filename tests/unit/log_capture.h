/*
 * Captures what hvrt_log prints, for tests that assert on messages.
 */
#ifndef HVRT_TEST_LOG_CAPTURE_H
#define HVRT_TEST_LOG_CAPTURE_H

#include <stddef.h>
#include <string.h>

#define LOG_CAPTURE_SIZE 65536

/* Everything printed since log_capture_start() or log_clear(), NUL-terminated. */
extern char logbuf[LOG_CAPTURE_SIZE];
extern size_t loglen;
extern unsigned loglines;

/* Makes the capture the only console sink, at level warn, and empties it. */
void log_capture_start(void);
void log_clear(void);

#define assert_logged(phrase)                                                                  \
	do {                                                                                   \
		if (!strstr(logbuf, (phrase)))                                                 \
			fail_msg("log lacks \"%s\"; it holds:\n%s", (phrase), logbuf);         \
	} while (0)

#endif
