/*
 * chanbench: packets per second and reference time per round trip through
 * QEMU's VMBus host, against the hvrt-test device (tests/qemu/): its echo,
 * and its SEND and DISCARD commands for each direction alone. Run in the
 * nested host's rebuilt QEMU (-device hvrt-test) by tests/nested/chan_bench.py
 * (make bench); the workloads and the result lines are workloads.h's, the
 * same as the simulator bench's (tests/bench/vmbus_chan_bench.c). Only hvrt's
 * public API.
 *
 *   chanbench [rtt=N] [stream=N] [ring=KIB]
 *
 * rtt: round trips of 64 bytes per mode (2000); stream: packets per stream
 * workload (echo, in, out) and size (256, 1500) (20000); ring: each ring's
 * data area of the channels used, in KiB (64). The polled workloads run on
 * the device's primary channel, the requests on its sub-channel 1
 * (interrupt-driven). Times are partition reference time (hvrt_reftime,
 * 100 ns resolution). Prints "chanbench start ...", the result lines, then
 * "chanbench done errors=N"; the exit status is N.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hvrt/hvrt.h>

static uint64_t cb_now_ns(void)
{
	uint64_t t = 0;
	hvrt_reftime(&t);
	return t * 100;
}

#include "tests/nested/chanbench/workloads.h"

#define TEST_CLASS "6876d3a1-2c5e-4f0b-9d47-68767274e001"

static unsigned strays;

static void on_packet(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ch;
	(void)pkt;
	(void)ctx;
	strays++; /* every answer is a request's completion: anything else is unexpected */
}

/* The value of "name=N" in argv, or def. */
static unsigned arg(int argc, char **argv, const char *name, unsigned def)
{
	size_t len = strlen(name);

	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], name, len) == 0 && argv[i][len] == '=')
			return (unsigned)strtoul(argv[i] + len + 1, NULL, 0);
	return def;
}

int main(int argc, char **argv)
{
	unsigned rtt = arg(argc, argv, "rtt", 2000), stream = arg(argc, argv, "stream", 20000);
	uint32_t ring = arg(argc, argv, "ring", 64) * 1024;
	unsigned errors = 0;
	struct hvrt_guid cls;
	uint64_t t;

	if (hvrt_reftime(&t) != 0) {
		printf("chanbench error clock: no Hyper-V reference time\nchanbench done errors=1\n");
		return 1;
	}
	int err = hvrt_vmbus_connect();
	if (err) {
		printf("chanbench error connect: %d\nchanbench done errors=1\n", err);
		return 1;
	}
	hvrt_guid_parse(TEST_CLASS, &cls);
	struct hvrt_channel *primary = hvrt_vmbus_find(&cls, NULL);
	struct hvrt_channel *sub = primary ? hvrt_channel_subchannel(primary, 1) : NULL;
	if (!primary || !sub) {
		printf("chanbench error channels: no hvrt-test primary channel with sub-channel 1 (-device hvrt-test)\n"
		       "chanbench done errors=1\n");
		return 1;
	}
	struct hvrt_channel_config polled = { .send_ring_bytes = ring, .recv_ring_bytes = ring, .polled = true };
	struct hvrt_channel_config irq = { .send_ring_bytes = ring, .recv_ring_bytes = ring, .on_packet = on_packet };
	if ((err = hvrt_channel_open(primary, &polled)) != 0 || (err = hvrt_channel_open(sub, &irq)) != 0) {
		printf("chanbench error open: %d\nchanbench done errors=1\n", err);
		return 1;
	}
	printf("chanbench start clock=reference host=qemu ring=%" PRIu32 " rtt=%u stream=%u\n", ring, rtt, stream);

	if (rtt && cb_rtt_poll(primary, 64, rtt))
		errors++;
	if (rtt && cb_rtt_request(sub, 64, rtt))
		errors++;
	static const uint32_t sizes[] = { 256, 1500 };
	for (unsigned i = 0; stream && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (cb_echo(primary, sizes[i], stream))
			errors++;
		if (cb_in_stream(primary, 0, sizes[i], stream))
			errors++;
		if (cb_out_stream(primary, 0, sizes[i], stream))
			errors++;
	}
	if (strays) {
		printf("chanbench error strays: %u packets that were no completion\n", strays);
		errors++;
	}

	if ((err = hvrt_channel_close(primary)) != 0) {
		printf("chanbench error close: %d\n", err);
		errors++;
	}
	printf("chanbench done errors=%u\n", errors);
	return (int)errors;
}
