/*
 * Shared set-up of the hv/ unit tests: a simulated Hyper-V host
 * (tests/hostsim/hv_sim.h), the log captured, interrupts on as in the
 * running runtime, and hv/'s state forgotten between tests.
 *
 * A test edits cfg (the nested host by default) and calls start(); the
 * teardown shuts the SynIC down, resets every hv/ file and stops the sim,
 * which checks the interrupt controller and frees every page.
 */
#ifndef HVRT_TEST_HV_FIXTURE_H
#define HVRT_TEST_HV_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <hvrt/hv.h>
#include <hvrt/log.h>

#include "arch/x86_64/console.h"
#include "arch/x86_64/cpu.h"
#include "hv/hv.h"
#include "tests/hostsim/hv_sim.h"
#include "tests/hostsim/runtime_sim.h"
#include "tests/unit/log_capture.h"

static struct hv_sim sim;
static struct hv_sim_config cfg;
static bool sim_started;

static inline void start(void)
{
	hv_sim_start(&sim, &cfg);
	sim_started = true;
	log_capture_start();
	runtime_sim_guest_fresh();
}

static inline int setup(void **state)
{
	(void)state;
	hv_sim_config_default(&cfg);
	sim_started = false;
	return 0;
}

static inline int teardown(void **state)
{
	(void)state;
	if (!sim_started)
		return 0;
	runtime_sim_guest_stop();
	sim_started = false;
	hv_sim_stop(&sim);
	console_reset();
	return 0;
}

/* Detection on the started sim, into the runtime's host record; it must find Hyper-V. */
static inline struct hvrt_host *detect(void)
{
	struct hvrt_host *h = hv_host_mut();
	assert_true(hv_detect(h));
	return h;
}

/* How often phrase occurs in the captured log. */
static inline unsigned log_count(const char *phrase)
{
	unsigned n = 0;
	for (const char *p = logbuf; (p = strstr(p, phrase)) != NULL; p += strlen(phrase))
		n++;
	return n;
}

#define assert_not_logged(phrase)                                                              \
	do {                                                                                   \
		if (strstr(logbuf, (phrase)))                                                  \
			fail_msg("log holds \"%s\":\n%s", (phrase), logbuf);                   \
	} while (0)

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

#endif
