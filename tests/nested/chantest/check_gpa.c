/*
 * GPA-direct packets (hvrt_channel_send_gpa): the device reads the guest
 * pages a packet names and answers with their checksum, the way it echoes:
 * a completion when the packet asked for one, else in-band with its
 * transaction id. hvrt breaks a channel on a completion nobody awaits, so a
 * device that answered a packet without the flag with a completion would
 * fail here too.
 */
#include "chantest.h"

/* A GPA-direct packet: ranges (offset into the buffer block, length) and in-band bytes after them. */
struct gpa_case {
	const char *what;
	unsigned count;
	struct {
		uint32_t off, len;
	} r[3];
	uint32_t data_len;
};

#define GPA_BLOCK_PAGES 160u
#define GPA_MANY 64u /* hvrt's most ranges: 1 KiB of them, 16 bytes each */

/*
 * send_gpa_ok - one GPA-direct packet on channel idx and the device's checksum
 * The answer must carry FNV-1a 64 of the bytes in range order, their count
 * and the range count, with the packet's id: as a completion when
 * want_completion, else in-band (and the channel still open: hvrt would
 * have broken it on a completion it did not await).
 */
static bool send_gpa_ok(unsigned idx, const char *what, const struct hvrt_buffer *bufs, unsigned count,
			uint32_t data_len, uint64_t id, bool want_completion)
{
	const char *how = want_completion ? "with a completion" : "in-band";
	unsigned want_type = want_completion ? PKT_COMPLETION : PKT_INBAND;
	uint64_t want = FNV_BASIS;
	uint32_t bytes = 0;

	for (unsigned k = 0; k < count; k++) {
		want = fnv1a64(want, bufs[k].addr, bufs[k].len);
		bytes += bufs[k].len;
	}
	int err = hvrt_channel_send_gpa(chans[idx], bufs, count, pattern, data_len, id, want_completion);
	if (!EXPECT(err == 0, "%s, %s: send on channel %u: %d", what, how, idx, err))
		return false;
	const struct rx_entry *e = next_packet(idx, REPLY_MS);
	if (!EXPECT(e, "%s, %s: no answer on channel %u (%s)", what, how, idx,
		    hvrt_channel_is_open(chans[idx]) ? "still open" : "closed by hvrt: a completion it did not await?"))
		return false;
	struct gpa_sum sum = { 0, 0, 0 };
	if (e->len >= sizeof(sum))
		memcpy(&sum, e->data, sizeof(sum));
	return EXPECT(e->type == want_type && e->flags == 0 && e->trans_id == id && e->len == sizeof(sum) &&
			      sum.fnv1a64 == want && sum.bytes == bytes && sum.ranges == count,
		      "%s, %s, on channel %u: type %u flags %#x id %#" PRIx64 " %" PRIu32 " bytes: fnv %016" PRIx64
		      " bytes %" PRIu32 " ranges %" PRIu32 " (want %u, 0, %#" PRIx64 ", 16: %016" PRIx64 " %" PRIu32 " %u)",
		      what, how, idx, e->type, e->flags, e->trans_id, e->len, sum.fnv1a64, sum.bytes, sum.ranges, want_type,
		      id, want, bytes, count);
}

/* gpa_limits - what hvrt refuses before anything reaches the host: too many ranges or pages, no bytes */
static void gpa_limits(uint8_t *block, struct hvrt_buffer *bufs)
{
	bufs[GPA_MANY] = (struct hvrt_buffer){ block + 150 * PAGE, 1 };
	int err = hvrt_channel_send_gpa(chans[0], bufs, GPA_MANY + 1, NULL, 0, 1, true);
	EXPECT(err == -EMSGSIZE, "65 ranges: %d (want -EMSGSIZE)", err);
	bufs[0] = (struct hvrt_buffer){ block + 1, 127 * PAGE };
	err = hvrt_channel_send_gpa(chans[0], bufs, 1, NULL, 0, 1, true);
	EXPECT(err == -EMSGSIZE, "127 pages from offset 1 (128 pages): %d (want -EMSGSIZE)", err);
	bufs[0] = (struct hvrt_buffer){ block, 0 };
	err = hvrt_channel_send_gpa(chans[0], bufs, 1, NULL, 0, 1, true);
	EXPECT(err == -EINVAL, "an empty buffer: %d (want -EINVAL)", err);
	err = hvrt_channel_send_gpa(chans[0], bufs, 0, NULL, 0, 1, true);
	EXPECT(err == -EINVAL, "no buffer: %d (want -EINVAL)", err);
}

/*
 * check_gpa - GPA-direct packets of every shape, answered both ways
 * Single- and multi-page, aligned or not, one to 64 ranges, with and
 * without in-band bytes, on every channel, each sent once asking for a
 * completion and once not; and the API's own limits, which never reach the
 * host.
 */
void check_gpa(unsigned arg)
{
	static const struct gpa_case cases[] = {
		{ "one aligned page", 1, { { 0, PAGE } }, 0 },
		{ "100 bytes inside a page", 1, { { 1000, 100 } }, 0 },
		{ "the last byte of a page", 1, { { PAGE - 1, 1 } }, 0 },
		{ "10000 bytes from offset 100 (3 pages)", 1, { { 100, 10000 } }, 0 },
		{ "125 pages from offset 2000 (126 pages)", 1, { { 2000, 125 * PAGE } }, 0 },
		{ "127 aligned pages", 1, { { 0, 127 * PAGE } }, 0 },
		{ "two unaligned ranges over page boundaries", 2, { { 4000, 200 }, { 3 * PAGE + 7, 5000 } }, 0 },
		{ "three ranges and 40 in-band bytes", 3, { { 5 * PAGE + 4095, 2 }, { 10, 3 }, { 7 * PAGE, 2 * PAGE } }, 40 },
	};
	const unsigned ncases = sizeof(cases) / sizeof(cases[0]);
	struct hvrt_buffer bufs[GPA_MANY + 1], many[GPA_MANY];
	unsigned sent[2] = { 0, 0 };
	(void)arg;

	uint8_t *block = hvrt_page_alloc(GPA_BLOCK_PAGES);
	if (!EXPECT(block, "no %u pages for the buffers", GPA_BLOCK_PAGES))
		return;
	for (unsigned i = 0; i < GPA_BLOCK_PAGES * PAGE; i += 4096)
		memcpy(block + i, pattern + (i * 7) % (PATTERN_BYTES - 4096), 4096);
	if (!open_all()) {
		close_all();
		hvrt_page_free(block, GPA_BLOCK_PAGES);
		return;
	}
	/*
	 * For 16 and 64 ranges: each inside one page of its own (every other
	 * page: no two could merge into one host mapping).
	 */
	for (unsigned j = 0; j < GPA_MANY; j++) {
		uint32_t off = (j * 61) % 4000;
		many[j] = (struct hvrt_buffer){ block + 2 * j * PAGE + off, 1 + (j * 97) % (PAGE - off) };
	}
	for (unsigned want = 0; want < 2; want++) {
		uint64_t base = 0x6a00000000000000ull | (uint64_t)want << 40;
		for (unsigned k = 0; k < ncases; k++) {
			const struct gpa_case *c = &cases[k];
			for (unsigned j = 0; j < c->count; j++)
				bufs[j] = (struct hvrt_buffer){ block + c->r[j].off, c->r[j].len };
			for (unsigned i = 0; i < NCHAN; i++)
				sent[want] += send_gpa_ok(i, c->what, bufs, c->count, c->data_len, base + k * 16 + i, want);
		}
		for (unsigned i = 0; i < NCHAN; i++) {
			sent[want] += send_gpa_ok(i, "16 single-page ranges", many, 16, 0, base + 0x100 + i, want);
			sent[want] += send_gpa_ok(i, "64 single-page ranges", many, GPA_MANY, 0, base + 0x200 + i, want);
		}
	}
	gpa_limits(block, bufs);
	for (unsigned i = 0; i < NCHAN; i++) {
		EXPECT(rxs[i].count == 0 && rxs[i].overflow == 0, "channel %u: %u packets nobody asked for", i,
		       rxs[i].count + rxs[i].overflow);
		EXPECT(hvrt_channel_is_open(chans[i]), "channel %u was closed by hvrt", i);
	}
	note("%u checksums right, %u as completions and %u in-band: 1 to 127 pages, aligned or not, 1, 2, 3, 16 and 64 "
	     "ranges, on all 3 channels",
	     sent[0] + sent[1], sent[1], sent[0]);
	close_all();
	hvrt_page_free(block, GPA_BLOCK_PAGES);
}
