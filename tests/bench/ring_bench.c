/*
 * Loopback benchmark of vmbus/ring.c, run under callgrind by
 * tests/bench/ring_bench.py (make bench):
 *
 *     ring_bench PACKETS PAYLOAD_BYTES
 *
 * writes PACKETS in-band packets of PAYLOAD_BYTES into one ring with a 64 KiB
 * data area and reads each straight back out, committing the read index each
 * time: one write, one read and one commit per packet, the whole cost of a
 * packet's trip through a ring. Instrumentation is on only around that loop
 * (the warm-up before it resolves the PLT and warms nothing else callgrind
 * would see), so instructions per packet = Ir / PACKETS.
 *
 * ring.c is built with the library's own code generation (mk/tests.mk: -Os,
 * general registers only, no sanitizers) but hosted, so its memcpy is
 * glibc's, not newlib's; the counts include memcpy's instructions.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/callgrind.h>

#include <hvrt/mem.h>

#include "vmbus/ring.h"

#define DATA_BYTES (64u * 1024u)
#define PAYLOAD_MAX 8192u
#define WARMUP 1000u

static uint8_t pages[HVRT_PAGE_SIZE + DATA_BYTES] __attribute__((aligned(4096)));
static uint8_t payload[PAYLOAD_MAX];
static uint8_t buf[sizeof(struct vmbus_packet_desc) + PAYLOAD_MAX];

/* Returns how many writes or reads did not do what they should. */
static unsigned round_trips(struct vmbus_ring *ring, size_t len, unsigned packets)
{
	struct vmbus_packet_desc desc = {
		.type = VMBUS_PACKET_DATA_INBAND,
		.offset8 = sizeof(desc) / 8,
		.len8 = (uint16_t)((sizeof(desc) + len + 7) / 8),
	};
	struct vmbus_ring_piece pieces[2] = { { &desc, sizeof(desc) }, { payload, len } };
	struct vmbus_ring_packet pkt;
	unsigned bad = 0;
	bool signal;

	for (unsigned i = 0; i < packets; i++) {
		desc.trans_id = i;
		bad += vmbus_ring_write(ring, pieces, 2, &signal) != 0;
		bad += vmbus_ring_read(ring, buf, sizeof(buf), &pkt) != desc.len8 * 8;
		vmbus_ring_read_commit(ring);
	}
	return bad;
}

int main(int argc, char **argv)
{
	struct vmbus_ring ring;
	unsigned packets, bad;
	size_t len;

	if (argc != 3 || (packets = (unsigned)strtoul(argv[1], NULL, 0)) == 0 ||
	    (len = strtoul(argv[2], NULL, 0)) > PAYLOAD_MAX) {
		fprintf(stderr, "usage: %s PACKETS PAYLOAD_BYTES (at most %u)\n", argv[0], PAYLOAD_MAX);
		return 2;
	}
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	if (vmbus_ring_init(&ring, pages, sizeof(pages))) {
		fprintf(stderr, "ring_bench: vmbus_ring_init failed\n");
		return 1;
	}

	bad = round_trips(&ring, len, WARMUP);
	CALLGRIND_ZERO_STATS;
	CALLGRIND_START_INSTRUMENTATION;
	bad += round_trips(&ring, len, packets);
	CALLGRIND_STOP_INSTRUMENTATION;

	if (bad || memcmp(buf + sizeof(struct vmbus_packet_desc), payload, len) != 0) {
		fprintf(stderr, "ring_bench: %u failed writes or reads, or the last packet came back changed\n", bad);
		return 1;
	}
	printf("ring_bench: %u packets of %zu payload bytes\n", packets, len);
	return 0;
}
