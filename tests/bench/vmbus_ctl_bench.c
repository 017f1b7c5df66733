/*
 * Control messages per second through the simulated host, run by
 * tests/bench/vmbus_ctl_bench.py (make bench):
 *
 *     vmbus_ctl_bench WORKLOAD ITERATIONS
 *
 * connects the guest's VMBus layer (hv/ and vmbus/, hosted) to the simulated
 * host (tests/hostsim/vmbus_sim.h on hv_sim, Hyper-V preset, one echo
 * device), warms up, then runs ITERATIONS of one workload:
 *
 *     gpadl     hvrt_channel_gpadl_create of one page + teardown (4 messages)
 *     gpadl300  the same with 300 pages (header, 10 bodies: 14 messages)
 *     open      hvrt_channel_open + hvrt_channel_close with 16 KiB rings
 *               (GPADL, OPENCHANNEL, CLOSECHANNEL, teardown: 7 messages)
 *
 * and prints one line: "WORKLOAD iterations=N messages=M cpu_ns=T", where M
 * counts every control message both ways (the sim's log) and T is the
 * process CPU time of the loop (CLOCK_PROCESS_CPUTIME_ID): guest and host
 * together, since both run here. Callgrind instrumentation is on only around
 * the loop, so under callgrind --instr-atstart=no, Ir / M is the instructions
 * per control message, both sides included.
 *
 * Built without sanitizers at -O2 (mk/tests.mk); the sim's own checks stay
 * on: a violation fails the run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <valgrind/callgrind.h>

#include <hvrt/hv.h>
#include <hvrt/log.h>
#include <hvrt/mem.h>
#include <hvrt/vmbus.h>

#include "arch/x86_64/console.h"
#include "arch/x86_64/cpu.h"
#include "hv/hv.h"
#include "tests/hostsim/hv_sim.h"
#include "tests/hostsim/runtime_sim.h"
#include "tests/hostsim/vmbus_sim.h"

#define WARMUP 200u

static struct hv_sim sim;
static struct vmbus_sim vs;

static void to_stderr(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	fwrite(buf, 1, len, stderr);
}

static __attribute__((noreturn)) void die(const char *what, int err)
{
	fprintf(stderr, "vmbus_ctl_bench: %s: %d\n", what, err);
	exit(1);
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum workload { GPADL, GPADL300, OPEN };

static void run(enum workload w, struct hvrt_channel *ch, void *buf, unsigned n)
{
	struct hvrt_channel_config cfg = { .send_ring_bytes = 16384, .recv_ring_bytes = 16384 };
	size_t bytes = w == GPADL300 ? 300 * HVRT_PAGE_SIZE : HVRT_PAGE_SIZE;
	uint32_t handle;
	int err;

	for (unsigned i = 0; i < n; i++) {
		if (w == OPEN) {
			if ((err = hvrt_channel_open(ch, &cfg)) != 0)
				die("hvrt_channel_open", err);
			hvrt_channel_close(ch);
			continue;
		}
		if ((err = hvrt_channel_gpadl_create(ch, buf, bytes, &handle)) != 0)
			die("hvrt_channel_gpadl_create", err);
		if ((err = hvrt_channel_gpadl_teardown(ch, handle)) != 0)
			die("hvrt_channel_gpadl_teardown", err);
	}
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "gpadl", "gpadl300", "open" };
	enum workload w = GPADL;
	unsigned n;

	if (argc != 3 || (n = (unsigned)strtoul(argv[2], NULL, 0)) == 0) {
		fprintf(stderr, "usage: %s gpadl|gpadl300|open ITERATIONS\n", argv[0]);
		return 2;
	}
	while (w <= OPEN && strcmp(argv[1], names[w]) != 0)
		w++;
	if (w > OPEN) {
		fprintf(stderr, "vmbus_ctl_bench: unknown workload %s\n", argv[1]);
		return 2;
	}

	hv_sim_start(&sim, NULL);
	console_reset();
	console_add_sink(to_stderr, NULL);
	hvrt_log_set_level(HVRT_LOG_WARN);
	runtime_sim_guest_fresh();
	vmbus_sim_start(&vs, &sim, NULL);
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	hv_early_init();
	hv_init();
	int err = hvrt_vmbus_connect();
	if (err)
		die("hvrt_vmbus_connect", err);
	struct hvrt_channel *ch = hvrt_vmbus_next(NULL);
	if (!ch || hvrt_channel_offer(ch)->relid != relid)
		die("no echo channel", 0);
	void *buf = hvrt_page_alloc(300);
	if (!buf)
		die("hvrt_page_alloc", 0);

	run(w, ch, buf, WARMUP);
	size_t before = vs.nlog;
	CALLGRIND_ZERO_STATS;
	CALLGRIND_START_INSTRUMENTATION;
	uint64_t t0 = cpu_ns();
	run(w, ch, buf, n);
	uint64_t t1 = cpu_ns();
	CALLGRIND_STOP_INSTRUMENTATION;
	size_t messages = vs.nlog - before;

	printf("%s iterations=%u messages=%zu cpu_ns=%llu\n", names[w], n, messages, (unsigned long long)(t1 - t0));
	hvrt_page_free(buf, 300);
	hvrt_vmbus_disconnect();
	unsigned violations = vmbus_sim_stop(&vs);
	runtime_sim_guest_stop();
	hv_sim_stop(&sim);
	if (violations) {
		fprintf(stderr, "vmbus_ctl_bench: %u violations of the host's rules (printed above)\n", violations);
		return 1;
	}
	return 0;
}
