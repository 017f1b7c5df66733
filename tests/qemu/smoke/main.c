/* hvrtsmoke: hvrt's public channel API against QEMU's hvrt-test device (scratch proof, issue 5). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <hvrt/hvrt.h>
#include <hvrt/hv.h>
#include <hvrt/system.h>
#include <hvrt/vmbus.h>

static unsigned failed;
#define CHECK(c, ...) do { printf("%s ", (c) ? "PASS" : "FAIL"); printf(__VA_ARGS__); printf("\n"); if (!(c)) failed++; } while (0)

struct gpa_sum { uint64_t fnv; uint32_t bytes; uint32_t ranges; } __attribute__((packed));
static uint8_t pages[3 * 4096] __attribute__((aligned(4096)));
static uint8_t buf[8192] __attribute__((aligned(8)));

static int recv_wait(struct hvrt_channel *ch, struct hvrt_packet *pkt)
{
	uint64_t end = hvrt_uptime_ns() + 2000000000ull;
	for (;;) {
		int n = hvrt_channel_recv(ch, buf, sizeof(buf), pkt);
		if (n != -EAGAIN)
			return n;
		if (hvrt_uptime_ns() > end)
			return -ETIMEDOUT;
		hvrt_poll();
	}
}

static uint64_t fnv(const uint8_t *p, size_t n, uint64_t h)
{
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

int main(void)
{
	struct hvrt_guid cls;
	struct hvrt_packet pkt;
	int err = hvrt_vmbus_connect();
	if (err) { printf("no VMBus %d\n", err); return 1; }
	hvrt_guid_parse("6876d3a1-2c5e-4f0b-9d47-68767274e001", &cls);
	unsigned nch = 0;
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch)) {
		if (!hvrt_guid_equal(&hvrt_channel_offer(ch)->class_id, &cls))
			continue;
		unsigned idx = hvrt_channel_offer(ch)->sub_channel_index;
		struct hvrt_channel_config cfg = { .polled = true };
		nch++;
		err = hvrt_channel_open(ch, &cfg);
		CHECK(err == 0, "ch%u open: %d", idx, err);
		if (err) continue;
		/* in-band with completion */
		uint8_t msg[40];
		for (unsigned i = 0; i < sizeof(msg); i++) msg[i] = (uint8_t)(i * 7 + idx);
		err = hvrt_channel_send(ch, msg, sizeof(msg), 77, true);
		int n = err ? err : recv_wait(ch, &pkt);
		CHECK(n >= (int)sizeof(msg) && pkt.type == 11 && pkt.trans_id == 77 && !memcmp(pkt.payload, msg, sizeof(msg)),
		      "ch%u in-band echo as completion: n=%d type=%u trans=%" PRIu64, idx, n, pkt.type, pkt.trans_id);
		/* in-band without completion */
		err = hvrt_channel_send(ch, msg, 24, 99, false);
		n = err ? err : recv_wait(ch, &pkt);
		CHECK(n >= 24 && pkt.type == 6 && pkt.trans_id == 99 && !memcmp(pkt.payload, msg, 24),
		      "ch%u in-band echo in-band: n=%d type=%u trans=%" PRIu64, idx, n, pkt.type, pkt.trans_id);
		/* GPA direct: two ranges, the first at an offset over a page boundary */
		for (unsigned i = 0; i < sizeof(pages); i++) pages[i] = (uint8_t)(i * 13 + idx);
		struct hvrt_buffer b[2] = { { pages + 100, 5000 }, { pages + 2 * 4096, 4096 } };
		err = hvrt_channel_send_gpa(ch, b, 2, NULL, 0, 5, true);
		n = err ? err : recv_wait(ch, &pkt);
		uint64_t want = fnv(pages + 2 * 4096, 4096, fnv(pages + 100, 5000, 0xcbf29ce484222325ull));
		struct gpa_sum s = { 0 };
		if (n >= 16) memcpy(&s, pkt.payload, 16);
		CHECK(n >= 16 && pkt.type == 11 && pkt.trans_id == 5 && s.fnv == want && s.bytes == 9096 && s.ranges == 2,
		      "ch%u GPA-direct checksum: n=%d type=%u fnv=%016" PRIx64 " (want %016" PRIx64 ") bytes=%u ranges=%u",
		      idx, n, pkt.type, s.fnv, want, s.bytes, s.ranges);
		/* control: SEND 5 packets of 64 bytes on this channel */
		uint32_t ctl[5] = { 0x48565254u, 3, idx, 5, 64 };
		err = hvrt_channel_send(ch, ctl, sizeof(ctl), 1234, true);
		n = err ? err : recv_wait(ch, &pkt);
		CHECK(n >= 4 && pkt.type == 11 && pkt.trans_id == 1234 && *(const uint32_t *)pkt.payload == 0,
		      "ch%u control SEND acknowledged: n=%d type=%u", idx, n, pkt.type);
		unsigned got = 0;
		for (unsigned k = 0; k < 5; k++) {
			n = recv_wait(ch, &pkt);
			const uint8_t *p = pkt.payload;
			if (n >= 64 && pkt.type == 6 && pkt.trans_id == k && ((const uint32_t *)p)[1] == k && p[63] == (uint8_t)(k * 31 + 63))
				got++;
		}
		CHECK(got == 5, "ch%u 5 unprompted packets: %u good", idx, got);
	}
	CHECK(nch == 3, "%u channels of the echo class", nch);
	{
		struct hvrt_channel *c0 = NULL, *c2 = NULL;
		for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch))
			if (hvrt_guid_equal(&hvrt_channel_offer(ch)->class_id, &cls)) {
				if (hvrt_channel_offer(ch)->sub_channel_index == 0) c0 = ch;
				if (hvrt_channel_offer(ch)->sub_channel_index == 2) c2 = ch;
			}
		uint32_t stall[5] = { 0x48565254u, 1, 2, 0, 0 }, resume[5] = { 0x48565254u, 2, 2, 0, 0 };
		int n = hvrt_channel_send(c0, stall, sizeof(stall), 1, true);
		n = n ? n : recv_wait(c0, &pkt);
		CHECK(n >= 4 && pkt.type == 11 && *(const uint32_t *)pkt.payload == 0, "stall ch2 (told on ch0): %d", n);
		uint8_t m[16] = "stalled?";
		hvrt_channel_send(c2, m, sizeof(m), 42, true);
		n = recv_wait(c2, &pkt);
		CHECK(n == -ETIMEDOUT, "ch2 stalled: no answer in 2 s (%d)", n);
		n = hvrt_channel_send(c0, resume, sizeof(resume), 2, true);
		n = n ? n : recv_wait(c0, &pkt);
		CHECK(n >= 4 && pkt.type == 11 && *(const uint32_t *)pkt.payload == 0, "resume ch2 (told on ch0): %d", n);
		n = recv_wait(c2, &pkt);
		CHECK(n >= 16 && pkt.type == 11 && pkt.trans_id == 42 && !memcmp(pkt.payload, m, 16), "ch2 answers after resume: %d", n);
	}
	for (struct hvrt_channel *ch = hvrt_vmbus_find(&cls, NULL); ch; ch = hvrt_vmbus_find(&cls, ch))
		if (!hvrt_channel_offer(ch)->sub_channel_index) {
			err = hvrt_channel_close(ch);
			CHECK(err == 0, "close primary (and sub-channels): %d", err);
		}
	err = hvrt_vmbus_disconnect();
	CHECK(err == 0, "disconnect (UNLOAD): %d", err);
	printf("%u failed\n", failed);
	return failed;
}
