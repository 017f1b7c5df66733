/*
 * Shared set-up of the unit tests of the guest VMBus layer (vmbus/, through
 * <hvrt/vmbus.h>) against the strict simulated VMBus host
 * (tests/hostsim/vmbus_sim.h) on the simulated Hyper-V (hv_fixture.h).
 *
 * vmbus/ keeps its state in statics (the connection, the channel table, the
 * drivers) and keeps its interrupt and monitor pages from one connection to
 * the next, while hv_sim frees every page when a test ends. So every test
 * runs in a child process of its own (VT below): the parent only forks,
 * waits and reports, and never runs guest code, so each child starts from a
 * pristine guest and a test that breaks the guest's state breaks no other.
 * A failure in the child is printed there by cmocka and ends the child
 * with status 1 (the parent then fails the test); a crash or a sanitizer
 * report ends it with another status. main() runs the tests with
 * run_vmbus_tests().
 *
 * A test edits cfg (hv_sim: the nested host by default) and vcfg (the VMBus
 * host: the Hyper-V preset by default), calls boot() and adds its devices.
 * When the test function returns, the child clears the host's faults,
 * disconnects the bus if the test left it connected, stops the VMBus host
 * (every violation it recorded fails the test: a test that provokes one
 * checks it and clears it) and then hv_sim, and exits through exit() so
 * LeakSanitizer looks at the guest's allocations.
 *
 * Times are the simulated reference time (100 ns units): hv_sim moves it
 * to the next timer when the guest halts, so a 5 s timeout costs no real
 * time and takes exactly as long as the guest asked for.
 */
#ifndef HVRT_TEST_VMBUS_FIXTURE_H
#define HVRT_TEST_VMBUS_FIXTURE_H

#include "tests/unit/hv_fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hvrt/mem.h>
#include <hvrt/vmbus.h>

#include "tests/hostsim/runtime_sim.h"
#include "tests/hostsim/vmbus_sim.h"
#include "vmbus/vmbus.h"

#define PG 4096u
#define V(a, b) VMBUS_VERSION(a, b)
#define MS(n) ((uint64_t)(n) * 10000u) /* reference time units in n milliseconds */
/* Helpers a test file may leave unused. */
#define FIXTURE static __attribute__((unused))

static struct vmbus_sim vs;
static struct vmbus_sim_config vcfg;
static bool vs_started;

/* ---- the trace hook: the test's own (trace_fn), dispatched from the sim ---- */

static void (*trace_fn)(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len);

FIXTURE void fixture_trace(void *ctx, unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	(void)ctx;
	if (trace_fn)
		trace_fn(dir, kind, relid, bytes, len);
}

/* The message type of a traced channel message (0 when too short). */
static inline uint32_t msg_type(const void *bytes, size_t len)
{
	uint32_t t = 0;
	if (len >= 4)
		memcpy(&t, bytes, 4);
	return t;
}

static inline uint32_t u32_at(const void *bytes, size_t off)
{
	uint32_t v;
	memcpy(&v, (const uint8_t *)bytes + off, 4);
	return v;
}

/* ---- bring-up ---- */

/* Starts hv_sim with cfg and the VMBus host with vcfg, and brings hv/ up (SynIC, clocks, stimers). */
FIXTURE void boot(void)
{
	start();
	vmbus_sim_start(&vs, &sim, &vcfg);
	vs_started = true;
	vs.trace = fixture_trace;
	hv_early_init();
	hv_init();
}

static inline uint64_t now(void)
{
	return hv_sim_now(&sim);
}

/* The guest's channel of relid (connects first), or NULL. */
FIXTURE struct hvrt_channel *channel(uint32_t relid)
{
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch))
		if (hvrt_channel_offer(ch)->relid == relid)
			return ch;
	return NULL;
}

/* Boots, adds n echo devices (instances 1..n) and connects; returns the first echo's relid. */
FIXTURE uint32_t up_echo(unsigned n)
{
	uint32_t first = 0;

	boot();
	for (unsigned i = 1; i <= n; i++) {
		uint32_t relid = vmbus_sim_add_echo(&vs, i);
		if (i == 1)
			first = relid;
	}
	assert_int_equal(hvrt_vmbus_connect(), 0);
	return first;
}

/* Violations of rule: at least one; then forgets them all. */
#define expect_violation(rule) vmbus_sim_expect_violation(&vs, (rule))

#define expect_clean() vmbus_sim_expect_clean(&vs)

/* An elapsed reference time within [lo, hi] (100 ns units), with both in the message. */
FIXTURE void check_elapsed(uint64_t t0, uint64_t lo, uint64_t hi, const char *file, int line)
{
	uint64_t el = now() - t0;

	if (el < lo || el > hi)
		fail_msg("%s:%d: took %llu.%04llu ms of reference time; expected %llu.%04llu to %llu.%04llu ms", file,
			 line, (unsigned long long)(el / 10000), (unsigned long long)(el % 10000),
			 (unsigned long long)(lo / 10000), (unsigned long long)(lo % 10000),
			 (unsigned long long)(hi / 10000), (unsigned long long)(hi % 10000));
}
#define assert_elapsed(t0, lo, hi) check_elapsed((t0), (lo), (hi), __FILE__, __LINE__)

/* The sim's message log from entry from on, to stderr (for a failure's context). */
FIXTURE void dump_log(size_t from)
{
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);
	for (size_t i = from; i < n; i++)
		fprintf(stderr, "  #%zu %s type %u size %u conn %#x relid %u gpadl %#x at %llu\n", i,
			log[i].to_guest ? "h->g" : "g->h", log[i].type, log[i].size, log[i].connection, log[i].relid,
			log[i].gpadl, (unsigned long long)log[i].time);
}

/* ---- packets the guest received (on_packet = collect) ---- */

#define GOT_MAX 64u
#define GOT_BYTES 4160u

struct got_packet {
	struct hvrt_channel *ch;
	uint16_t type, flags;
	uint64_t trans_id;
	uint32_t len;
	uint8_t data[GOT_BYTES];
};

static struct got_packet got[GOT_MAX];
static unsigned ngot;

FIXTURE void collect(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ctx;
	assert_true(ngot < GOT_MAX);
	assert_true(pkt->payload_len <= GOT_BYTES);
	assert_true(pkt->raw_len >= 16 && (const uint8_t *)pkt->payload >= (const uint8_t *)pkt->raw);
	struct got_packet *g = &got[ngot++];
	g->ch = ch;
	g->type = pkt->type;
	g->flags = pkt->flags;
	g->trans_id = pkt->trans_id;
	g->len = pkt->payload_len;
	memcpy(g->data, pkt->payload, pkt->payload_len);
}

/* Opens ch with the default rings and collect() as on_packet; 0 or the error. */
FIXTURE int open_collect(struct hvrt_channel *ch)
{
	struct hvrt_channel_config c = { .on_packet = collect };
	return hvrt_channel_open(ch, &c);
}

/* ---- one test per child ---- */

struct vmbus_test {
	void (*fn)(void **state);
};

static bool in_child;

static int vsetup(void)
{
	setup(NULL);
	vmbus_sim_config_hyperv(&vcfg);
	vs_started = false;
	trace_fn = NULL;
	ngot = 0;
	return 0;
}

/* After the test: disconnect, then the host's verdict, then hv_sim. */
static void vfinish(void)
{
	unsigned v = 0;

	if (vs_started) {
		memset(&vs.fault, 0, sizeof(vs.fault));
		vs.edit = NULL;
		trace_fn = NULL;
		hvrt_vmbus_disconnect();
		v = vmbus_sim_stop(&vs);
		vs_started = false;
	}
	teardown(NULL);
	if (v)
		fail_msg("vmbus_sim: %u violations left (printed above)", v);
}

static void vmbus_forked(void **state)
{
	const struct vmbus_test *t = *state;
	int status = 0;

	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		in_child = true;
		vsetup();
		t->fn(NULL);
		vfinish();
		fflush(stdout);
		fflush(stderr);
		exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		fail_msg("waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status))
		fail_msg("the test's child died of signal %d (its output is above)", WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the test failed in its child (exit status %d, its report is above)", WEXITSTATUS(status));
}

/*
 * A failure in the child goes back into cmocka's runner there, which runs
 * the test's teardown and then prints the failure (cmocka holds the message
 * until then: on stderr) and moves on. The teardown sends the child's
 * stdout to /dev/null, so its runner's own "[  FAILED  ]" and "[ RUN ]"
 * lines do not mix with the parent's; the next test's setup, or the group's
 * teardown after the last test, ends the child.
 */
static int vmbus_child_failed(void **state)
{
	(void)state;
	if (in_child) {
		fflush(stdout);
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
	}
	return 0;
}

static int vmbus_child_ends(void **state)
{
	(void)state;
	if (in_child) {
		fflush(stderr);
		_exit(1);
	}
	return 0;
}

#define VT(f) { #f, vmbus_forked, vmbus_child_ends, vmbus_child_failed, &(struct vmbus_test){ f } }
#define run_vmbus_tests(tests) cmocka_run_group_tests((tests), NULL, vmbus_child_ends)

#endif
