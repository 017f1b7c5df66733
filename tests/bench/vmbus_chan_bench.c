/*
 * Packets per second and time per round trip through the simulated host's
 * echo device, run by tests/nested/chan_bench.py (make bench) beside the
 * same numbers through QEMU's host (tests/nested/chanbench):
 *
 *     vmbus_chan_bench WORKLOAD N [qemu|hyperv]
 *
 * connects the guest's VMBus layer (hv/ and vmbus/, hosted) to the simulated
 * host (tests/hostsim/vmbus_sim.h on hv_sim; the QEMU preset unless hyperv is
 * given) with two echo devices, opens the first polled and the second
 * interrupt-driven, both with 64 KiB rings as the guest image does, and runs
 * one of the image's workloads (tests/nested/chanbench/workloads.h, the same
 * code):
 *
 *     rtt-poll      N round trips of 64 bytes, spinning on hvrt_channel_recv
 *     rtt-request   N hvrt_channel_request of 64 bytes
 *     stream256     N packets of 256 bytes streamed and echoed
 *     stream1500    the same with 1500 bytes
 *
 * printing workloads.h's result line. Times are host wall time
 * (CLOCK_MONOTONIC) of guest and host together, since both run in this
 * process: the host serves a ring inside the guest's signal hypercall. Under
 * callgrind --instr-atstart=no only the measured loop is instrumented, so Ir
 * divided by N is the instructions per round trip or per echoed packet.
 *
 * Built without sanitizers at -O2 (mk/tests.mk); the sim's checks stay on:
 * a violation fails the run.
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
#include <hvrt/vmbus.h>

#include "arch/x86_64/console.h"
#include "arch/x86_64/cpu.h"
#include "hv/hv.h"
#include "tests/hostsim/hv_sim.h"
#include "tests/hostsim/vmbus_sim.h"

static uint64_t cb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Callgrind counts the measured loops only (after the warm-up, before the report). */
#define CB_MEASURE_BEGIN()                                                                                             \
	do {                                                                                                           \
		CALLGRIND_ZERO_STATS;                                                                                  \
		CALLGRIND_START_INSTRUMENTATION;                                                                       \
	} while (0)
#define CB_MEASURE_END() CALLGRIND_STOP_INSTRUMENTATION

#include "tests/nested/chanbench/workloads.h"

#define RING (64u * 1024u)

static struct hv_sim sim;
static struct vmbus_sim vs;

static void to_stderr(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	fwrite(buf, 1, len, stderr);
}

static unsigned strays;

static void on_packet(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ch;
	(void)pkt;
	(void)ctx;
	strays++;
}

static struct hvrt_channel *channel(uint32_t relid)
{
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch))
		if (hvrt_channel_offer(ch)->relid == relid)
			return ch;
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "rtt-poll", "rtt-request", "stream256", "stream1500" };
	unsigned w = 0, n;
	struct vmbus_sim_config vcfg;

	if (argc < 3 || argc > 4 || (n = (unsigned)strtoul(argv[2], NULL, 0)) == 0 ||
	    (argc == 4 && strcmp(argv[3], "qemu") != 0 && strcmp(argv[3], "hyperv") != 0)) {
		fprintf(stderr, "usage: %s rtt-poll|rtt-request|stream256|stream1500 N [qemu|hyperv]\n", argv[0]);
		return 2;
	}
	while (w < 4 && strcmp(argv[1], names[w]) != 0)
		w++;
	if (w == 4) {
		fprintf(stderr, "vmbus_chan_bench: unknown workload %s\n", argv[1]);
		return 2;
	}
	bool hyperv = argc == 4 && strcmp(argv[3], "hyperv") == 0;
	if (hyperv)
		vmbus_sim_config_hyperv(&vcfg);
	else
		vmbus_sim_config_qemu(&vcfg);

	hv_sim_start(&sim, NULL);
	console_reset();
	console_add_sink(to_stderr, NULL);
	hvrt_log_set_level(HVRT_LOG_WARN);
	hv_hypercall_reset();
	hv_reftime_reset();
	hv_stimer_reset();
	hv_crash_reset();
	cpu_irq_enable();
	vmbus_sim_start(&vs, &sim, &vcfg);
	uint32_t polled_relid = vmbus_sim_add_echo(&vs, 1);
	uint32_t irq_relid = vmbus_sim_add_echo(&vs, 2);
	hv_early_init();
	hv_init();
	int err = hvrt_vmbus_connect();
	struct hvrt_channel *polled = err ? NULL : channel(polled_relid);
	struct hvrt_channel *irq = err ? NULL : channel(irq_relid);
	if (!polled || !irq) {
		fprintf(stderr, "vmbus_chan_bench: connect %d, or no echo channels\n", err);
		return 1;
	}
	struct hvrt_channel_config pc = { .send_ring_bytes = RING, .recv_ring_bytes = RING, .polled = true };
	struct hvrt_channel_config ic = { .send_ring_bytes = RING, .recv_ring_bytes = RING, .on_packet = on_packet };
	if ((err = hvrt_channel_open(polled, &pc)) != 0 || (err = hvrt_channel_open(irq, &ic)) != 0) {
		fprintf(stderr, "vmbus_chan_bench: open: %d\n", err);
		return 1;
	}
	printf("chanbench start clock=host-wall host=sim-%s ring=%u\n", hyperv ? "hyperv" : "qemu", RING);
	switch (w) {
	case 0:
		err = cb_rtt_poll(polled, 64, n);
		break;
	case 1:
		err = cb_rtt_request(irq, 64, n);
		break;
	default:
		err = cb_stream(polled, w == 2 ? 256 : 1500, n);
		break;
	}
	if (!err && strays) {
		fprintf(stderr, "vmbus_chan_bench: %u packets that were no completion\n", strays);
		err = -EIO;
	}

	hvrt_vmbus_disconnect();
	unsigned violations = vmbus_sim_stop(&vs);
	cpu_irq_disable();
	hv_synic_shutdown();
	hv_stimer_reset();
	hv_reftime_reset();
	hv_hypercall_reset();
	hv_crash_reset();
	hv_sim_stop(&sim);
	if (violations) {
		fprintf(stderr, "vmbus_chan_bench: %u violations of the host's rules (printed above)\n", violations);
		return 1;
	}
	return err ? 1 : 0;
}
