/*
 * Packets per second and time per round trip through the simulated host,
 * run by tests/nested/chan_bench.py (make bench) beside the same numbers
 * through QEMU's host (tests/nested/chanbench):
 *
 *     vmbus_chan_bench WORKLOAD N [qemu|hyperv]
 *
 * connects the guest's VMBus layer (hv/ and vmbus/, hosted) to the simulated
 * host (tests/hostsim/vmbus_sim.h on hv_sim; the QEMU preset unless hyperv is
 * given) with three devices: two of vmbus_sim's echo devices, the first
 * opened polled and the second interrupt-driven, and this file's stand-in for
 * hvrt-test's SEND and DISCARD (below), opened polled; all with 64 KiB rings
 * as the guest image has them. Then it runs one of the image's workloads
 * (tests/nested/chanbench/workloads.h, the same code):
 *
 *     rtt-poll      N round trips of 64 bytes, spinning on hvrt_channel_recv
 *     rtt-request   N hvrt_channel_request of 64 bytes
 *     echo256       N packets of 256 bytes streamed and echoed (round trips)
 *     echo1500      the same with 1500 bytes
 *     in256         N packets of 256 bytes host -> guest (a SEND)
 *     in1500        the same with 1500 bytes
 *     out256        N packets of 256 bytes guest -> host (a DISCARD)
 *     out1500       the same with 1500 bytes
 *
 * printing workloads.h's result line. Times are host wall time
 * (CLOCK_MONOTONIC) of guest and host together, since both run in this
 * process: the host serves a ring inside the guest's signal hypercall. Under
 * callgrind --instr-atstart=no only the measured loop is instrumented, so Ir
 * divided by N is the instructions per round trip or per packet.
 *
 * The stand-in device takes hvrt-test's control packets SEND and DISCARD for
 * its own channel (index 0) with the same formats and statuses, and echoes
 * like vmbus_sim's echo device otherwise. vmbus_sim calls a device only for a
 * guest packet and holds at most VMBUS_SIM_BACKLOG of its packets waiting for
 * ring space, so a SEND's packets are handed over as that backlog empties:
 * the bench wraps vmbus_sim's hv_sim observer, which runs after every
 * hypercall (the guest's signal that it freed the space the host asked for
 * among them), and tops the backlog up from there. QEMU's device writes
 * straight into the ring instead, and waits for the same signal when it is
 * full.
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
#include "tests/hostsim/runtime_sim.h"
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
#define SEND_MAX 65536u

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

/* The stand-in for hvrt-test's SEND and DISCARD (see the top of the file). */
struct bench_dev {
	uint32_t relid;
	const struct vmbus_sim_channel *ch;
	uint32_t send_left, send_next, send_size; /* a SEND's packets still to hand over */
	uint32_t discard_left;                    /* in-band packets still to drop */
	uint8_t buf[SEND_MAX];
	uint8_t ramp[512];                        /* byte j is (uint8_t)j: the SEND pattern is windows of it */
	hv_sim_observer_fn sim_observer;          /* vmbus_sim's, which the bench's wraps */
	void *sim_observer_ctx;
};

static struct bench_dev bdev;

/* Hands the SEND's packets over while the backlog has room (built as hvrt-test builds them). */
static void dev_top_up(struct bench_dev *d)
{
	while (d->send_left && d->ch && d->ch->open && d->ch->nbacklog < VMBUS_SIM_BACKLOG) {
		uint32_t seq = d->send_next, head[2] = { CB_CTL_MAGIC, seq };

		memcpy(d->buf, head, sizeof(head));
		/* byte i = (uint8_t)(seq * 31 + i), 256 at a time */
		for (uint32_t i = 8, k; i < d->send_size; i += k) {
			k = d->send_size - i < 256 ? d->send_size - i : 256;
			memcpy(d->buf + i, d->ramp + ((seq * 31u + i) & 255u), k);
		}
		int r = vmbus_sim_send(&vs, d->relid, VMBUS_PACKET_DATA_INBAND, 0, seq, d->buf, d->send_size);
		if (r)
			fail_msg("vmbus_chan_bench: SEND packet %u: vmbus_sim_send %d", seq, r);
		d->send_next++;
		d->send_left--;
	}
}

/* hvrt-test's status for a control packet: 0 when it is carried out. */
static uint32_t dev_status(const struct bench_dev *d, const struct cb_control *c)
{
	if (c->channel != 0 || !d->ch || !d->ch->open)
		return 1;
	switch (c->cmd) {
	case CB_CTL_SEND:
		return c->size < 8 || c->size > SEND_MAX ||
		       sizeof(struct vmbus_packet_desc) + ((c->size + 7u) & ~7u) + VMBUS_PACKET_TRAILER >= d->ch->in.size;
	case CB_CTL_DISCARD:
		return 0;
	default:
		return 1;
	}
}

static void dev_packet(void *ctx, struct vmbus_sim *v, uint32_t relid, const struct vmbus_sim_packet *pkt)
{
	struct bench_dev *d = ctx;
	const uint8_t *payload = pkt->data + pkt->payload_offset;
	uint32_t len = pkt->len - pkt->payload_offset, magic = 0;
	bool completion = (pkt->desc.flags & VMBUS_PACKET_FLAG_COMPLETION_REQUESTED) != 0;
	int r = 0;

	if (pkt->desc.type != VMBUS_PACKET_DATA_INBAND)
		return; /* the workloads send nothing else */
	if (len >= sizeof(magic))
		memcpy(&magic, payload, sizeof(magic));
	if (len >= sizeof(struct cb_control) && magic == CB_CTL_MAGIC) {
		struct cb_control c;
		memcpy(&c, payload, sizeof(c));
		uint32_t status = dev_status(d, &c);
		if (completion)
			r = vmbus_sim_send(v, relid, VMBUS_PACKET_COMPLETION, 0, pkt->desc.trans_id, &status, sizeof(status));
		if (!status && c.cmd == CB_CTL_SEND) {
			d->send_left = c.count;
			d->send_next = 0;
			d->send_size = c.size;
			dev_top_up(d);
		} else if (!status) {
			d->discard_left = c.count;
		}
	} else if (d->discard_left) {
		d->discard_left--;
	} else {
		r = vmbus_sim_send(v, relid, completion ? VMBUS_PACKET_COMPLETION : VMBUS_PACKET_DATA_INBAND, 0,
				   pkt->desc.trans_id, payload, len);
	}
	if (r)
		fail_msg("vmbus_chan_bench: the device on relid %u could not answer (%d)", relid, r);
}

/* Opened or closed: hvrt-test's state starts afresh. */
static void dev_event(void *ctx, struct vmbus_sim *v, uint32_t relid, enum vmbus_sim_event ev)
{
	struct bench_dev *d = ctx;
	(void)ev;

	d->ch = vmbus_sim_channel(v, relid);
	d->send_left = d->send_next = d->send_size = d->discard_left = 0;
}

/* vmbus_sim's observer, then the device's top-up. */
static void bench_observer(void *ctx, struct hv_sim *s, enum hv_sim_tick why)
{
	struct bench_dev *d = ctx;

	d->sim_observer(d->sim_observer_ctx, s, why);
	dev_top_up(d);
}

static uint32_t add_bench_dev(void)
{
	struct vmbus_sim_device dev;

	vmbus_sim_device_init(&vs, &dev, VMBUS_SIM_ECHO_CLASS, "6876d3a1-2c5e-4f0b-9d47-000000000003");
	dev.packet = dev_packet;
	dev.event = dev_event;
	dev.ctx = &bdev;
	bdev.relid = vmbus_sim_add_device(&vs, &dev);
	for (unsigned j = 0; j < sizeof(bdev.ramp); j++)
		bdev.ramp[j] = (uint8_t)j;
	bdev.sim_observer = sim.observer;
	bdev.sim_observer_ctx = sim.observer_ctx;
	hv_sim_set_observer(&sim, bench_observer, &bdev);
	return bdev.relid;
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
	static const char *const names[] = { "rtt-poll", "rtt-request", "echo256", "echo1500",
					     "in256",    "in1500",      "out256",  "out1500" };
	const unsigned nnames = sizeof(names) / sizeof(names[0]);
	unsigned w = 0, n;
	struct vmbus_sim_config vcfg;

	if (argc < 3 || argc > 4 || (n = (unsigned)strtoul(argv[2], NULL, 0)) == 0 ||
	    (argc == 4 && strcmp(argv[3], "qemu") != 0 && strcmp(argv[3], "hyperv") != 0)) {
		fprintf(stderr, "usage: %s rtt-poll|rtt-request|echo256|echo1500|in256|in1500|out256|out1500 N "
			"[qemu|hyperv]\n", argv[0]);
		return 2;
	}
	while (w < nnames && strcmp(argv[1], names[w]) != 0)
		w++;
	if (w == nnames) {
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
	runtime_sim_guest_fresh();
	vmbus_sim_start(&vs, &sim, &vcfg);
	uint32_t polled_relid = vmbus_sim_add_echo(&vs, 1);
	uint32_t irq_relid = vmbus_sim_add_echo(&vs, 2);
	uint32_t dev_relid = add_bench_dev();
	hv_early_init();
	hv_init();
	int err = hvrt_vmbus_connect();
	struct hvrt_channel *polled = err ? NULL : channel(polled_relid);
	struct hvrt_channel *irq = err ? NULL : channel(irq_relid);
	struct hvrt_channel *devch = err ? NULL : channel(dev_relid);
	if (!polled || !irq || !devch) {
		fprintf(stderr, "vmbus_chan_bench: connect %d, or no echo channels\n", err);
		return 1;
	}
	struct hvrt_channel_config pc = { .send_ring_bytes = RING, .recv_ring_bytes = RING, .polled = true };
	struct hvrt_channel_config ic = { .send_ring_bytes = RING, .recv_ring_bytes = RING, .on_packet = on_packet };
	if ((err = hvrt_channel_open(polled, &pc)) != 0 || (err = hvrt_channel_open(irq, &ic)) != 0 ||
	    (err = hvrt_channel_open(devch, &pc)) != 0) {
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
	case 2:
	case 3:
		err = cb_echo(polled, w == 2 ? 256 : 1500, n);
		break;
	case 4:
	case 5:
		err = cb_in_stream(devch, 0, w == 4 ? 256 : 1500, n);
		break;
	default:
		err = cb_out_stream(devch, 0, w == 6 ? 256 : 1500, n);
		break;
	}
	if (!err && strays) {
		fprintf(stderr, "vmbus_chan_bench: %u packets that were no completion\n", strays);
		err = -EIO;
	}

	hvrt_vmbus_disconnect();
	hv_sim_set_observer(&sim, bdev.sim_observer, bdev.sim_observer_ctx);
	unsigned violations = vmbus_sim_stop(&vs);
	runtime_sim_guest_stop();
	hv_sim_stop(&sim);
	if (violations) {
		fprintf(stderr, "vmbus_chan_bench: %u violations of the host's rules (printed above)\n", violations);
		return 1;
	}
	return err ? 1 : 0;
}
