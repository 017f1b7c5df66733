/*
 * The runtime's VMBus capture (hvrt_vmbus_capture_start, vmbus/capture_api.c)
 * against a second capture the simulated host keeps of the same traffic
 * (vs.trace into its own struct vmbus_capture): two recorders on the two
 * sides of the bus, written by different code, must agree. Each test in a
 * child process of its own (vmbus_fixture.h).
 *
 * Pinned down, after a session with every kind of traffic (negotiation,
 * offers, GPADLs, opens, in-band packets, completions, a request, GPA-direct
 * packets, a rescind, a close, UNLOAD), both captures written as pcapng and
 * parsed back:
 *  - the same control messages, byte for byte with the same relid, in the
 *    same order in each direction (the interleaving of the two directions
 *    may differ: the host records an answer when it queues it, the guest
 *    when it takes it);
 *  - the same ring packets in the same order per channel and direction;
 *    the guest records what it writes before the padding to 8, the host the
 *    whole len8 x 8 bytes, which pcapng allows (docs/capture.md): the host's
 *    extra bytes must be the zero padding;
 *  - the same number of signals per channel and direction;
 *  - no record dropped or cut, the channel's class on every packet;
 *  - tools/vmbus-capture.py decodes both files (written to $HVRT_TEST_TMPDIR
 *    or /tmp, removed when the test passes), and their control lines agree;
 *  - on QEMU the guest's capture also holds the 5.x contacts QEMU refused
 *    at the post, which the host never saw ("as given to HvPostMessage",
 *    docs/capture.md); after them the two agree as on Hyper-V.
 */
#include "tests/unit/vmbus_fixture.h"

#include <hvrt/vmbus_capture.h>

#include "vmbus/capture.h"

#define CAPTURE_BYTES (1u << 20)

static struct vmbus_capture host_cap;
static uint8_t host_ring[CAPTURE_BYTES] __attribute__((aligned(8)));

static void host_record(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	static const uint8_t kinds[] = {
		[VMBUS_SIM_TRACE_MESSAGE] = VMBUS_CAPTURE_CONTROL,
		[VMBUS_SIM_TRACE_PACKET] = VMBUS_CAPTURE_PACKET,
		[VMBUS_SIM_TRACE_SIGNAL] = VMBUS_CAPTURE_SIGNAL,
	};
	const struct vmbus_sim_channel *ch = kind == VMBUS_SIM_TRACE_PACKET ? vmbus_sim_channel(&vs, relid) : NULL;
	assert_true(kind < sizeof(kinds));
	vmbus_capture_record(&host_cap, dir == VMBUS_SIM_TO_HOST ? VMBUS_CAPTURE_TO_HOST : VMBUS_CAPTURE_TO_GUEST,
			     kinds[kind], relid, ch ? &ch->dev.class_id : NULL, hv_sim_now(&sim), bytes, len);
}

/* ---- a pcapng file in memory, parsed back into records ---- */

struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static int bytes_sink(void *ctx, const void *data, size_t len)
{
	struct bytes *b = ctx;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

struct rec {
	uint8_t dir, kind, flags;
	uint32_t relid;
	uint8_t class_guid[16];
	uint32_t len;
	const uint8_t *data;
};

struct recs {
	struct rec *r;
	size_t n;
};

/* The EPBs of a pcapng file (the format itself is test_vmbus_capture.c's business). */
static struct recs parse(const struct bytes *f)
{
	struct recs out = { calloc(65536, sizeof(struct rec)), 0 };
	assert_non_null(out.r);
	size_t off = 0;
	while (off + 12 <= f->len) {
		uint32_t type = u32_at(f->p, off), blen = u32_at(f->p, off + 4);
		assert_true(blen >= 12 && blen % 4 == 0 && off + blen <= f->len);
		if (type == VMBUS_CAPTURE_PCAPNG_EPB) {
			uint32_t caplen = u32_at(f->p, off + 20), origlen = u32_at(f->p, off + 24);
			assert_int_equal(caplen, origlen); /* nothing cut */
			assert_true(caplen >= VMBUS_CAPTURE_HDR_SIZE);
			struct vmbus_capture_hdr h;
			memcpy(&h, f->p + off + 28, sizeof(h));
			assert_int_equal(h.version, VMBUS_CAPTURE_VERSION);
			assert_true(out.n < 65536);
			struct rec *r = &out.r[out.n++];
			r->dir = h.direction;
			r->kind = h.kind;
			r->flags = h.flags;
			r->relid = h.relid;
			memcpy(r->class_guid, h.class_guid.bytes, 16);
			r->len = caplen - VMBUS_CAPTURE_HDR_SIZE;
			r->data = f->p + off + 28 + VMBUS_CAPTURE_HDR_SIZE;
			assert_int_equal(r->len, h.orig_len);
			assert_false(r->flags & VMBUS_CAPTURE_FLAG_TRUNCATED);
		}
		off += blen;
	}
	assert_int_equal(off, f->len);
	return out;
}

/* The next record of a stream after *i: kind, direction, and (relid != ~0) channel. */
static const struct rec *next_of(const struct recs *rs, size_t *i, unsigned kind, unsigned dir, uint32_t relid)
{
	for (; *i < rs->n; (*i)++) {
		const struct rec *r = &rs->r[*i];
		if (r->kind == kind && r->dir == dir && (relid == ~0u || r->relid == relid)) {
			(*i)++;
			return r;
		}
	}
	return NULL;
}

/* skip: guest records first that never reached the host (posts it refused), each an INITIATE_CONTACT. */
static void compare_control(const struct recs *g, const struct recs *h, unsigned dir, unsigned skip, unsigned *count)
{
	size_t gi = 0, hi = 0;
	for (unsigned i = 0; i < skip; i++) {
		const struct rec *a = next_of(g, &gi, VMBUS_CAPTURE_CONTROL, dir, ~0u);
		assert_non_null(a);
		assert_int_equal(msg_type(a->data, a->len), VMBUS_MSG_INITIATE_CONTACT);
		assert_true(u32_at(a->data, 8) >= V(5, 0));
	}
	for (unsigned n = 0;; n++) {
		const struct rec *a = next_of(g, &gi, VMBUS_CAPTURE_CONTROL, dir, ~0u);
		const struct rec *b = next_of(h, &hi, VMBUS_CAPTURE_CONTROL, dir, ~0u);
		if (!a && !b) {
			*count = n;
			return;
		}
		if (!a || !b)
			fail_msg("control message %u %s: only the %s has it", n, dir ? "h->g" : "g->h", a ? "guest" : "host");
		if (a->len != b->len || memcmp(a->data, b->data, a->len) != 0 || a->relid != b->relid)
			fail_msg("control message %u %s: guest type %u, %u bytes, relid %u; host type %u, %u bytes, relid %u",
				 n, dir ? "h->g" : "g->h", msg_type(a->data, a->len), a->len, a->relid,
				 msg_type(b->data, b->len), b->len, b->relid);
	}
}

static void compare_packets(const struct recs *g, const struct recs *h, uint32_t relid, unsigned dir, unsigned *count)
{
	size_t gi = 0, hi = 0;
	for (unsigned n = 0;; n++) {
		const struct rec *a = next_of(g, &gi, VMBUS_CAPTURE_PACKET, dir, relid);
		const struct rec *b = next_of(h, &hi, VMBUS_CAPTURE_PACKET, dir, relid);
		if (!a && !b) {
			*count = n;
			return;
		}
		if (!a || !b)
			fail_msg("relid %u packet %u %s: only the %s has it", relid, n, dir ? "h->g" : "g->h",
				 a ? "guest" : "host");
		assert_true(a->flags & VMBUS_CAPTURE_FLAG_CLASS);
		assert_true(b->flags & VMBUS_CAPTURE_FLAG_CLASS);
		assert_memory_equal(a->class_guid, b->class_guid, 16);
		/* the same bytes; one of the two may stop before the zero padding to 8 */
		uint32_t common = a->len < b->len ? a->len : b->len;
		const struct rec *longer = a->len < b->len ? b : a;
		if (memcmp(a->data, b->data, common) != 0 || (longer->len + 7) / 8 != (common + 7) / 8)
			fail_msg("relid %u packet %u %s: guest %u bytes, host %u bytes, not the same packet", relid, n,
				 dir ? "h->g" : "g->h", a->len, b->len);
		for (uint32_t k = common; k < longer->len; k++)
			assert_int_equal(longer->data[k], 0);
		uint16_t len8;
		memcpy(&len8, a->data + 4, 2);
		assert_int_equal(len8 * 8u, (common + 7) & ~7u);
	}
}

static unsigned count_of(const struct recs *rs, unsigned kind, unsigned dir, uint32_t relid)
{
	unsigned n = 0;
	for (size_t i = 0; i < rs->n; i++)
		n += rs->r[i].kind == kind && rs->r[i].dir == dir && rs->r[i].relid == relid;
	return n;
}

/* ---- the decoder ---- */

static const char *decoder_path(void)
{
	static char path[4096];
	const char *src = getenv("HVRT_SRCDIR");
	char prefix[64] = ".";

	if (src) {
		snprintf(path, sizeof(path), "%s/tools/vmbus-capture.py", src);
		return path;
	}
	for (int up = 0; up < 6; up++) {
		snprintf(path, sizeof(path), "%s/tools/vmbus-capture.py", prefix);
		if (access(path, R_OK) == 0)
			return path;
		snprintf(prefix + strlen(prefix), sizeof(prefix) - strlen(prefix), "/..");
	}
	fail_msg("tools/vmbus-capture.py not found: run from the source tree or set HVRT_SRCDIR");
	return NULL;
}

static char *decode(const char *file)
{
	static char cmd[8192];
	size_t cap = 1 << 20, n = 0;
	char *out = malloc(cap);
	assert_non_null(out);
	snprintf(cmd, sizeof(cmd), "python3 '%s' '%s' 2>&1", decoder_path(), file);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t got_now;
	while ((got_now = fread(out + n, 1, cap - 1 - n, p)) > 0) {
		n += got_now;
		if (n == cap - 1) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
	}
	out[n] = '\0';
	int status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s", out);
		fail_msg("tools/vmbus-capture.py %s failed (status %d)", file, status);
	}
	return out;
}

/* The decoded control lines of one direction, from the direction column on, one per line. */
static char *control_lines(const char *decoded, const char *dir)
{
	size_t cap = strlen(decoded) + 1, n = 0;
	char *out = malloc(cap);
	assert_non_null(out);
	for (const char *line = decoded; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *d = strstr(line, dir);
		if (d && d < line + len && strstr(line, " control ") && strstr(line, " control ") < line + len) {
			memcpy(out + n, d, (size_t)(line + len - d));
			n += (size_t)(line + len - d);
			out[n++] = '\n';
		}
		line = end ? end + 1 : line + len;
	}
	out[n] = '\0';
	return out;
}

static void write_file(const char *path, const struct bytes *b)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b->p, 1, b->len, f), b->len);
	assert_int_equal(fclose(f), 0);
}

/* ---- the session ---- */

static void session(bool qemu)
{
	if (qemu)
		vmbus_sim_config_qemu(&vcfg);
	boot();
	uint32_t a = vmbus_sim_add_echo(&vs, 1), b = vmbus_sim_add_echo(&vs, 2);
	assert_int_equal(vmbus_capture_init(&host_cap, host_ring, sizeof(host_ring)), 0);
	trace_fn = host_record;
	assert_int_equal(hvrt_vmbus_capture_start(CAPTURE_BYTES), 0);

	assert_int_equal(hvrt_vmbus_connect(), 0);
	struct hvrt_channel *ca = channel(a), *cb = channel(b);
	assert_int_equal(open_collect(ca), 0);
	assert_int_equal(hvrt_channel_open(cb, &(struct hvrt_channel_config){ .send_ring_bytes = 2 * PG,
									   .recv_ring_bytes = 3 * PG,
									   .on_packet = collect }),
			 0);
	static uint8_t payload[3000];
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	for (unsigned i = 0; i < 40; i++) {
		ngot = 0;
		assert_int_equal(hvrt_channel_send(i % 2 ? cb : ca, payload, (i * 97) % 3000, i, i % 3 == 0), 0);
		hvrt_poll();
		assert_int_equal(ngot, 1);
	}
	uint8_t resp[16];
	assert_int_equal(hvrt_channel_request(ca, "request", 7, resp, sizeof(resp), 100), 8);
	uint8_t *mem = hvrt_page_alloc(40);
	struct hvrt_buffer bufs[2] = { { mem + 100, 5000 }, { mem + 3 * PG, 64 } };
	ngot = 0;
	assert_int_equal(hvrt_channel_send_gpa(cb, bufs, 2, "tail", 4, 0x900, true), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	uint32_t h;
	assert_int_equal(hvrt_channel_gpadl_create(ca, mem, 40 * PG, &h), 0); /* a header and a body */
	assert_int_equal(hvrt_channel_gpadl_teardown(ca, h), 0);
	hvrt_page_free(mem, 40);
	/* the host's own packet asking for a completion, and ours */
	ngot = 0;
	assert_int_equal(vmbus_sim_send(&vs, b, VMBUS_PACKET_DATA_INBAND, VMBUS_PACKET_FLAG_COMPLETION_REQUESTED, 0x77,
					"host", 4),
			 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	assert_int_equal(hvrt_channel_send_completion(cb, 0x77, "ok", 2), 0);
	/* a rescind of an open channel, closed by us; then the other closed; then UNLOAD */
	vmbus_sim_rescind(&vs, b);
	hvrt_poll();
	hvrt_channel_close(cb);
	hvrt_channel_close(ca);
	hvrt_vmbus_disconnect();
	hvrt_vmbus_capture_stop();
	trace_fn = NULL;
}

static void agree(bool qemu)
{
	session(qemu);
	struct bytes gf = { 0 }, hf = { 0 };
	assert_int_equal(hvrt_vmbus_capture_write(bytes_sink, &gf), 0);
	assert_int_equal(vmbus_capture_write(&host_cap, bytes_sink, &hf), 0);
	struct vmbus_capture *rt = vmbus_capture_runtime();
	assert_null(rt); /* stopped */
	assert_int_equal(host_cap.dropped, 0);
	assert_int_equal(host_cap.truncated, 0);
	struct recs g = parse(&gf), h = parse(&hf);

	unsigned to_host, to_guest;
	compare_control(&g, &h, VMBUS_CAPTURE_TO_HOST, qemu ? 4 : 0, &to_host);
	compare_control(&g, &h, VMBUS_CAPTURE_TO_GUEST, 0, &to_guest);
	/*
	 * Contact (QEMU: 4.1 and 4.0; the 5.x posts it refused are in the
	 * guest's capture only), REQUESTOFFERS, 3 GPADLs (one with a body), 2
	 * opens, 3 teardowns, RELID_RELEASED, 2 closes, UNLOAD; the answers.
	 */
	assert_int_equal(to_host, 15 + qemu);
	assert_int_equal(to_guest, 14 + qemu);
	assert_int_equal(to_host + to_guest, vs.nlog);
	unsigned pkts[2][2];
	for (uint32_t relid = 1; relid <= 2; relid++)
		for (unsigned dir = 0; dir < 2; dir++) {
			compare_packets(&g, &h, relid, dir, &pkts[relid - 1][dir]);
			unsigned gs = count_of(&g, VMBUS_CAPTURE_SIGNAL, dir, relid);
			unsigned hs = count_of(&h, VMBUS_CAPTURE_SIGNAL, dir, relid);
			if (gs != hs)
				fail_msg("relid %u %s: %u signals in the guest's capture, %u in the host's", relid,
					 dir ? "h->g" : "g->h", gs, hs);
		}
	assert_int_equal(pkts[0][0], 20 + 1);     /* 20 in-band, the request */
	assert_int_equal(pkts[1][0], 20 + 1 + 1); /* 20 in-band, GPA-direct, our completion */
	assert_int_equal(pkts[0][1], 20 + 1);     /* echoes, the completion */
	assert_int_equal(pkts[1][1], 20 + 1 + 1); /* echoes, the GPA answer, the host's own */
	assert_int_equal(vmbus_sim_channel(&vs, 1)->packets_in, pkts[0][0]);

	/* both files through the decoder; their control lines agree */
	char dir[512], gpath[600], hpath[600];
	const char *base = getenv("HVRT_TEST_TMPDIR");
	snprintf(dir, sizeof(dir), "%s/hvrt-capture-sim-XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(gpath, sizeof(gpath), "%s/guest.pcapng", dir);
	snprintf(hpath, sizeof(hpath), "%s/host.pcapng", dir);
	write_file(gpath, &gf);
	write_file(hpath, &hf);
	char *gd = decode(gpath), *hd = decode(hpath);
	static const char *const want[] = {
		"INITIATE_CONTACT", "VERSION_RESPONSE", "OFFERCHANNEL", "ALLOFFERS_DELIVERED", "GPADL_HEADER", "GPADL_BODY",
		"GPADL_CREATED", "OPENCHANNEL_RESULT", "DATA_INBAND", "DATA_USING_GPA_DIRECT", "COMP", "RESCIND_CHANNELOFFER",
		"CLOSECHANNEL", "GPADL_TORNDOWN", "RELID_RELEASED", "UNLOAD_RESPONSE", "signal",
	};
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(gd, want[i]) || !strstr(hd, want[i])) {
			fprintf(stderr, "guest:\n%s\nhost:\n%s", gd, hd);
			fail_msg("a decoded capture lacks %s", want[i]);
		}
	}
	char want_summary[64];
	snprintf(want_summary, sizeof(want_summary), "%zu records, 0 dropped", g.n);
	assert_non_null(strstr(gd, want_summary));
	snprintf(want_summary, sizeof(want_summary), "%zu records, 0 dropped", h.n);
	assert_non_null(strstr(hd, want_summary));
	for (int d = 0; d < 2; d++) {
		char *gl = control_lines(gd, d ? "h->g" : "g->h"), *hl = control_lines(hd, d ? "h->g" : "g->h");
		const char *from = gl;
		for (unsigned skip = d == 0 && qemu ? 4 : 0; skip; skip--) {
			assert_non_null(strstr(from, "INITIATE_CONTACT (14) version 5."));
			from = strchr(from, '\n') + 1;
		}
		if (strcmp(from, hl) != 0) {
			fprintf(stderr, "guest:\n%s\nhost:\n%s", gl, hl);
			fail_msg("the decoded control messages differ");
		}
		free(gl);
		free(hl);
	}
	printf("%s: %zu + %zu records, decoded from %s\n", qemu ? "QEMU" : "Hyper-V", g.n, h.n, dir);
	assert_int_equal(unlink(gpath), 0);
	assert_int_equal(unlink(hpath), 0);
	assert_int_equal(rmdir(dir), 0);
	free(gd);
	free(hd);
	free(g.r);
	free(h.r);
	free(gf.p);
	free(hf.p);
	expect_clean();
}

static void test_capture_agrees_hyperv(void **state)
{
	(void)state;
	agree(false);
}

/* QEMU: the guest also records the four 5.x contacts QEMU's missing connection 4 refused at the post. */
static void test_capture_agrees_qemu(void **state)
{
	(void)state;
	agree(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		VT(test_capture_agrees_hyperv),
		VT(test_capture_agrees_qemu),
	};
	return run_vmbus_tests(tests);
}
