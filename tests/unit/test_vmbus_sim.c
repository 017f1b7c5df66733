/*
 * Self-tests of the simulated VMBus host (tests/hostsim/vmbus_sim.c), driven
 * by a minimal hand-written guest: channel messages built from
 * vmbus/vmbus_defs.h and posted with hv_post_message() on hv/ booted over
 * hv_sim, messages and events taken through hv/synic.c, and a small ring
 * writer and reader of its own (nothing of vmbus/ is linked).
 *
 * Pinned down: the rules and faults vmbus_sim.h promises, each shown to
 * work (a violation a test provokes is checked, then cleared: the teardown
 * fails any test that leaves one), and the hooks added to hv_sim for it.
 */
#include <hvrt/mem.h>

#include "arch/x86_64/lapic.h"
#include "tests/hostsim/vmbus_sim.h"
#include "tests/unit/hv_fixture.h"

#define PG 4096u
#define V(a, b) VMBUS_VERSION(a, b)

static struct vmbus_sim vs;
static struct vmbus_sim_config vcfg;
static bool vs_started;

/* ---- the minimal guest ---- */

#define GUEST_MSGS 512u

struct gring {
	volatile struct vmbus_ring_control *ctl;
	uint8_t *data;
	uint32_t size;
};

struct gchan {
	uint32_t relid, conn, gpadl;
	uint8_t *pages;
	unsigned npages, out_pages;
	struct gring out, in;
	bool monitor;
	uint8_t monitor_id;
};

static struct guest {
	struct hv_message msg[GUEST_MSGS];
	unsigned nmsg, taken;
	unsigned event[HV_EVENT_FLAGS_COUNT];
	unsigned events;
	uint32_t conn;       /* where messages go now */
	uint32_t version;
	uint8_t *intpage, *monitor1, *monitor2;
	struct vmbus_msg_offer offer[64];
	unsigned offer_size[64];
	unsigned noffers;
	uint32_t next_gpadl;
} g;

static void on_msg(void *ctx, unsigned sint, const struct hv_message *m)
{
	(void)ctx;
	assert_int_equal(sint, 2);
	assert_int_equal(m->message_type, VMBUS_MESSAGE_TYPE);
	assert_true(g.nmsg < GUEST_MSGS);
	g.msg[g.nmsg++] = *m;
}

static void on_event(void *ctx, unsigned sint, unsigned flag)
{
	(void)ctx;
	assert_int_equal(sint, 2);
	g.event[flag]++;
	g.events++;
}

static const struct hv_sint_ops vmbus_ops = { .message = on_msg, .event = on_event };

static uint32_t u32at(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static int vsetup(void **state)
{
	setup(state);
	vmbus_sim_config_hyperv(&vcfg);
	memset(&g, 0, sizeof(g));
	g.next_gpadl = 0xe1e10;
	vs_started = false;
	return 0;
}

static int vteardown(void **state)
{
	unsigned v = 0;

	if (vs_started) {
		v = vmbus_sim_stop(&vs);
		vs_started = false;
	}
	teardown(state);
	if (v)
		fail_msg("vmbus_sim: %u violations left (printed above)", v);
	return 0;
}

#define VT(f) cmocka_unit_test_setup_teardown(f, vsetup, vteardown)

/* Starts hv_sim with cfg and the VMBus host with vcfg, boots hv/ and takes SINT2. */
static void boot(void)
{
	start();
	vmbus_sim_start(&vs, &sim, &vcfg);
	vs_started = true;
	hv_early_init();
	hv_init();
	assert_true(hv_synic_ready());
	assert_int_equal(hv_synic_claim(2, &vmbus_ops), 0);
	g.intpage = hvrt_page_alloc(1);
	g.monitor1 = hvrt_page_alloc(1);
	g.monitor2 = hvrt_page_alloc(1);
	g.conn = VMBUS_MESSAGE_CONNECTION;
}

/* Violations of rule: at least one; then forgets all. */
#define expect_violation(rule) vmbus_sim_expect_violation(&vs, (rule))

#define expect_clean() vmbus_sim_expect_clean(&vs)

static uint16_t post_on(uint32_t conn, const void *msg, size_t len)
{
	uint16_t st = 0;
	hv_post_message(conn, VMBUS_MESSAGE_TYPE, msg, len, &st);
	return st;
}

static void gpost(const void *msg, size_t len)
{
	assert_int_equal(post_on(g.conn, msg, len), HV_STATUS_SUCCESS);
}

/* The next message the guest got, waiting up to 100 ms of simulated time. */
static const struct hv_message *next_msg(void)
{
	if (g.taken == g.nmsg)
		g.taken = g.nmsg = 0; /* all taken: start the buffer over */
	for (int i = 0; i < 100 && g.taken == g.nmsg; i++) {
		hv_synic_poll();
		if (g.taken == g.nmsg)
			hv_sim_advance(&sim, 10000);
	}
	return g.taken < g.nmsg ? &g.msg[g.taken++] : NULL;
}

static const struct hv_message *expect_msg(uint32_t type)
{
	const struct hv_message *m = next_msg();
	if (!m)
		fail_msg("no message; wanted type %u", type);
	if (u32at(m->payload) != type)
		fail_msg("message type %u (%u bytes); wanted %u", u32at(m->payload), m->payload_size, type);
	return m;
}

static void expect_no_msg(void)
{
	const struct hv_message *m = next_msg();
	if (m)
		fail_msg("unexpected message type %u", u32at(m->payload));
}

static void send_contact(uint32_t version, uint32_t conn)
{
	struct vmbus_msg_initiate_contact c = {
		.header.type = VMBUS_MSG_INITIATE_CONTACT,
		.version = version,
		.target_vcpu = 0,
		.monitor_page1 = (uint64_t)(uintptr_t)g.monitor1,
		.monitor_page2 = (uint64_t)(uintptr_t)g.monitor2,
	};
	if (version >= V(5, 0))
		c.msg_sint = 2;
	else
		c.interrupt_page = (uint64_t)(uintptr_t)g.intpage;
	assert_int_equal(post_on(conn, &c, sizeof(c)), HV_STATUS_SUCCESS);
}

/* INITIATE_CONTACT on the right connection; returns version_supported and the response. */
static bool contact(uint32_t version, struct vmbus_msg_version_response *resp)
{
	struct vmbus_msg_version_response r;

	send_contact(version, version >= V(5, 0) ? VMBUS_MESSAGE_CONNECTION_5 : VMBUS_MESSAGE_CONNECTION);
	const struct hv_message *m = expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	memset(&r, 0, sizeof(r));
	memcpy(&r, m->payload, m->payload_size < sizeof(r) ? m->payload_size : sizeof(r));
	if (resp)
		*resp = r;
	if (r.version_supported && !r.connection_state) {
		g.version = version;
		g.conn = version >= V(5, 0) ? r.msg_connection_id : VMBUS_MESSAGE_CONNECTION;
	}
	return r.version_supported;
}

/* REQUESTOFFERS; collects the offers up to ALLOFFERS_DELIVERED. */
static void request_offers(void)
{
	struct vmbus_msg_header h = { .type = VMBUS_MSG_REQUESTOFFERS };
	gpost(&h, sizeof(h));
	for (;;) {
		const struct hv_message *m = next_msg();
		assert_non_null(m);
		uint32_t t = u32at(m->payload);
		if (t == VMBUS_MSG_ALLOFFERS_DELIVERED)
			return;
		assert_int_equal(t, VMBUS_MSG_OFFERCHANNEL);
		assert_true(g.noffers < 64);
		memset(&g.offer[g.noffers], 0, sizeof(g.offer[0]));
		memcpy(&g.offer[g.noffers], m->payload,
		       m->payload_size < sizeof(g.offer[0]) ? m->payload_size : sizeof(g.offer[0]));
		g.offer_size[g.noffers++] = m->payload_size;
	}
}

static void connect(uint32_t version)
{
	assert_true(contact(version, NULL));
	request_offers();
}

static const struct vmbus_msg_offer *offer_of(uint32_t relid)
{
	for (unsigned i = 0; i < g.noffers; i++)
		if (g.offer[i].child_relid == relid)
			return &g.offer[i];
	fail_msg("no offer for relid %u", relid);
	return NULL;
}

/* ---- GPADLs ---- */

/* Sends GPADL_HEADER and the bodies for pages (one range, offset 0) of buf. */
static void gpadl_send(uint32_t relid, uint32_t handle, const void *buf, unsigned pages)
{
	uint8_t m[VMBUS_MESSAGE_MAX];
	uint64_t pfn0 = (uint64_t)(uintptr_t)buf >> 12;
	struct vmbus_msg_gpadl_header h = {
		.header.type = VMBUS_MSG_GPADL_HEADER, .child_relid = relid, .gpadl = handle,
		.range_buflen = (uint16_t)(8 + 8 * pages), .range_count = 1,
	};
	struct vmbus_gpa_range r = { .byte_count = pages * PG, .byte_offset = 0 };
	unsigned n = pages < VMBUS_GPADL_HEADER_PFNS ? pages : VMBUS_GPADL_HEADER_PFNS;

	memcpy(m, &h, sizeof(h));
	memcpy(m + sizeof(h), &r, sizeof(r));
	for (unsigned i = 0; i < n; i++) {
		uint64_t pfn = pfn0 + i;
		memcpy(m + sizeof(h) + sizeof(r) + 8 * i, &pfn, 8);
	}
	gpost(m, sizeof(h) + sizeof(r) + 8 * n);
	for (unsigned done = n, num = 0; done < pages; num++) {
		struct vmbus_msg_gpadl_body b = { .header.type = VMBUS_MSG_GPADL_BODY, .msg_number = num, .gpadl = handle };
		unsigned k = pages - done < VMBUS_GPADL_BODY_PFNS ? pages - done : VMBUS_GPADL_BODY_PFNS;
		memcpy(m, &b, sizeof(b));
		for (unsigned i = 0; i < k; i++) {
			uint64_t pfn = pfn0 + done + i;
			memcpy(m + sizeof(b) + 8 * i, &pfn, 8);
		}
		gpost(m, sizeof(b) + 8 * k);
		done += k;
	}
}

/* A GPADL over pages of buf: the GPADL_CREATED status. */
static uint32_t gpadl_create(uint32_t relid, uint32_t handle, const void *buf, unsigned pages)
{
	gpadl_send(relid, handle, buf, pages);
	const struct hv_message *m = expect_msg(VMBUS_MSG_GPADL_CREATED);
	struct vmbus_msg_gpadl_created c;
	memcpy(&c, m->payload, sizeof(c));
	assert_int_equal(m->payload_size, sizeof(c));
	assert_int_equal(c.gpadl, handle);
	assert_int_equal(c.child_relid, relid);
	return c.status;
}

static void gpadl_teardown(uint32_t relid, uint32_t handle)
{
	struct vmbus_msg_gpadl_teardown t = { .header.type = VMBUS_MSG_GPADL_TEARDOWN, .child_relid = relid,
					      .gpadl = handle };
	gpost(&t, sizeof(t));
	const struct hv_message *m = expect_msg(VMBUS_MSG_GPADL_TORNDOWN);
	assert_int_equal(m->payload_size, sizeof(struct vmbus_msg_gpadl_torndown));
	assert_int_equal(u32at(m->payload + 8), handle);
}

/* ---- channels and the guest's rings ---- */

static uint32_t pad8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

static void gring_init(struct gring *r, uint8_t *pages, unsigned npages)
{
	r->ctl = (volatile struct vmbus_ring_control *)pages;
	r->data = pages + PG;
	r->size = (npages - 1) * PG;
}

static uint32_t gring_used(const struct gring *r, uint32_t w, uint32_t rd)
{
	return w >= rd ? w - rd : r->size - (rd - w);
}

static void gring_copy_in(struct gring *r, uint32_t off, const void *src, uint32_t len)
{
	const uint8_t *s = src;
	for (uint32_t i = 0; i < len; i++)
		r->data[(off + i) % r->size] = s[i];
}

static void gring_copy_out(const struct gring *r, uint32_t off, void *dst, uint32_t len)
{
	uint8_t *d = dst;
	for (uint32_t i = 0; i < len; i++)
		d[i] = r->data[(off + i) % r->size];
}

/* Writes bytes (a packet, descriptor first) with padding and trailer; *sig: the reader must be signalled. */
static int gring_write(struct gring *r, const void *bytes, uint32_t len, bool *sig)
{
	uint32_t w = r->ctl->write_index, rd = r->ctl->read_index, total = pad8(len) + 8;
	static const uint8_t zero[8];

	if (total >= r->size - gring_used(r, w, rd))
		return -EAGAIN;
	gring_copy_in(r, w, bytes, len);
	gring_copy_in(r, (w + len) % r->size, zero, pad8(len) - len);
	uint64_t trailer = (uint64_t)w << 32;
	gring_copy_in(r, (w + pad8(len)) % r->size, &trailer, 8);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r->ctl->write_index = (w + total) % r->size;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*sig = w == r->ctl->read_index && !r->ctl->interrupt_mask;
	return 0;
}

static void gsignal(const struct gchan *c)
{
	if (c->monitor) {
		uint32_t *pending = (uint32_t *)(void *)(g.monitor2 + 8 + (c->monitor_id / 32) * 8);
		__atomic_fetch_or(pending, 1u << (c->monitor_id % 32), __ATOMIC_SEQ_CST);
		return;
	}
	uint16_t st;
	assert_int_equal(hv_signal_event(c->conn, 0, &st), 0);
}

/* One packet to the host; signals as the rules say. 0 or -EAGAIN. */
static int gsend(struct gchan *c, uint16_t type, uint16_t flags, uint64_t trans, const void *payload, uint32_t len)
{
	uint8_t buf[8192];
	struct vmbus_packet_desc d = {
		.type = type, .offset8 = 2, .len8 = (uint16_t)(pad8(16 + len) / 8), .flags = flags, .trans_id = trans,
	};
	bool sig;

	assert_true(16 + len <= sizeof(buf));
	memcpy(buf, &d, sizeof(d));
	memcpy(buf + 16, payload, len);
	int r = gring_write(&c->out, buf, 16 + len, &sig);
	if (r == 0 && sig)
		gsignal(c);
	return r;
}

struct gpkt {
	struct vmbus_packet_desc desc;
	uint8_t data[8192];
	uint32_t len;
};

/*
 * Reads one packet from the host -> guest ring; 1, or 0 when empty. Signals
 * the host when it asked for space and this read gave it (facts 2.8).
 */
static int grecv(struct gchan *c, struct gpkt *p)
{
	struct gring *r = &c->in;
	uint32_t w = r->ctl->write_index, rd = r->ctl->read_index;

	if (w == rd)
		return 0;
	uint32_t before = r->size - gring_used(r, w, rd);
	gring_copy_out(r, rd, &p->desc, sizeof(p->desc));
	p->len = p->desc.len8 * 8u;
	assert_true(p->desc.offset8 >= 2 && p->desc.offset8 <= p->desc.len8);
	assert_true(p->len + 8 <= gring_used(r, w, rd));
	assert_true(p->len <= sizeof(p->data));
	gring_copy_out(r, rd, p->data, p->len);
	uint64_t trailer;
	gring_copy_out(r, (rd + p->len) % r->size, &trailer, 8);
	assert_int_equal(trailer, vs.cfg.host_trailers ? (uint64_t)rd << 32 : 0);
	rd = (rd + p->len + 8) % r->size;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r->ctl->read_index = rd;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint32_t want = r->ctl->pending_send_sz;
	uint32_t after = r->size - gring_used(r, r->ctl->write_index, rd);
	if (want && before <= want && after > want)
		gsignal(c);
	return 1;
}

static void open_result(uint32_t relid, uint32_t open_id, uint32_t status)
{
	const struct hv_message *m = expect_msg(VMBUS_MSG_OPENCHANNEL_RESULT);
	struct vmbus_msg_open_result r;
	assert_int_equal(m->payload_size, sizeof(r));
	memcpy(&r, m->payload, sizeof(r));
	assert_int_equal(r.child_relid, relid);
	assert_int_equal(r.open_id, open_id);
	assert_int_equal(r.status, status);
}

static void send_open(uint32_t relid, uint32_t gpadl, uint32_t offset, uint32_t vp)
{
	struct vmbus_msg_open o = {
		.header.type = VMBUS_MSG_OPENCHANNEL, .child_relid = relid, .open_id = relid + 100, .ring_gpadl = gpadl,
		.target_vp = vp, .downstream_page_offset = offset,
	};
	gpost(&o, sizeof(o));
}

/* A GPADL over out_pages + in_pages fresh pages, then OPENCHANNEL; the open's status. */
static uint32_t chan_open_status(struct gchan *c, uint32_t relid, unsigned out_pages, unsigned in_pages)
{
	memset(c, 0, sizeof(*c));
	c->relid = relid;
	c->npages = out_pages + in_pages;
	c->out_pages = out_pages;
	c->pages = hvrt_page_alloc(c->npages);
	c->gpadl = g.next_gpadl++;
	assert_int_equal(gpadl_create(relid, c->gpadl, c->pages, c->npages), 0);
	gring_init(&c->out, c->pages, out_pages);
	gring_init(&c->in, c->pages + out_pages * PG, in_pages);
	const struct vmbus_msg_offer *o = offer_of(relid);
	c->conn = o->connection_id;
	c->monitor = o->monitor_allocated & 1;
	c->monitor_id = o->monitor_id;
	send_open(relid, c->gpadl, out_pages, 0);
	const struct hv_message *m = expect_msg(VMBUS_MSG_OPENCHANNEL_RESULT);
	return u32at(m->payload + 16);
}

/* A 2 + 2 page channel opened with target_vp vp. */
static void chan_open_vp(struct gchan *c, uint32_t relid, uint32_t vp)
{
	memset(c, 0, sizeof(*c));
	c->relid = relid;
	c->npages = 4;
	c->out_pages = 2;
	c->pages = hvrt_page_alloc(4);
	c->gpadl = g.next_gpadl++;
	assert_int_equal(gpadl_create(relid, c->gpadl, c->pages, 4), 0);
	gring_init(&c->out, c->pages, 2);
	gring_init(&c->in, c->pages + 2 * PG, 2);
	c->conn = offer_of(relid)->connection_id;
	send_open(relid, c->gpadl, 2, vp);
	open_result(relid, relid + 100, 0);
}

static void chan_open(struct gchan *c, uint32_t relid, unsigned out_pages, unsigned in_pages)
{
	assert_int_equal(chan_open_status(c, relid, out_pages, in_pages), 0);
	assert_true(vmbus_sim_channel(&vs, relid)->open);
}

static void send_close(uint32_t relid)
{
	struct vmbus_msg_relid m = { .header.type = VMBUS_MSG_CLOSECHANNEL, .child_relid = relid };
	gpost(&m, sizeof(m));
}

static void chan_close(struct gchan *c)
{
	send_close(c->relid);
	gpadl_teardown(c->relid, c->gpadl);
	hvrt_page_free(c->pages, c->npages);
	c->pages = NULL;
}

/* The standard start: boot, connect at version with one echo device; relid of it. */
static uint32_t up_with_echo(uint32_t version)
{
	boot();
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	connect(version);
	return relid;
}

/* ---- hv_sim's hooks ---- */

static unsigned fired[8], nfired;
static uint64_t fired_at[8];

static void timed_cb(void *ctx, struct hv_sim *s)
{
	assert_true(nfired < 8);
	fired_at[nfired] = hv_sim_now(s);
	fired[nfired++] = (unsigned)(uintptr_t)ctx;
}

static void wake_cb(void *ctx, struct hv_sim *s)
{
	timed_cb(ctx, s);
	hv_sim_raise(s, 0x50, false);
}

static unsigned ticks[4];

static void observer_cb(void *ctx, struct hv_sim *s, enum hv_sim_tick why)
{
	(void)ctx;
	(void)s;
	ticks[why]++;
}

static const void *asked_addr;

static bool page_user_cb(void *ctx, const struct hv_sim *s, const void *addr, size_t count)
{
	(void)ctx;
	(void)s;
	(void)count;
	asked_addr = addr;
	return false;
}

static void wake_handler(void *ctx, struct trap_frame *frame)
{
	(void)ctx;
	(void)frame;
	lapic_eoi();
}

/* hv_sim_at fires in time order during advance and halts; cancel; the observer's ticks; the page user. */
static void test_hv_sim_hooks(void **state)
{
	(void)state;
	start();
	nfired = 0;
	uint64_t t0 = hv_sim_now(&sim);
	assert_true(hv_sim_at(&sim, t0 + 300, timed_cb, (void *)3));
	assert_true(hv_sim_at(&sim, t0 + 100, timed_cb, (void *)1));
	assert_true(hv_sim_at(&sim, t0 + 200, timed_cb, (void *)2));
	assert_true(hv_sim_at(&sim, t0 + 250, timed_cb, (void *)9));
	assert_int_equal(hv_sim_cancel(&sim, timed_cb, (void *)9), 1);
	hv_sim_advance(&sim, 150);
	assert_int_equal(nfired, 1);
	assert_int_equal(fired_at[0], t0 + 100); /* at its time, not at the end of the step */
	hv_sim_advance(&sim, 1000);
	assert_int_equal(nfired, 3);
	assert_int_equal(fired[1], 2);
	assert_int_equal(fired[2], 3);
	assert_int_equal(fired_at[2], t0 + 300);
	for (unsigned i = 0; i < HV_SIM_TIMED_MAX; i++)
		assert_true(hv_sim_at(&sim, t0 + 5000000, timed_cb, (void *)7));
	assert_false(hv_sim_at(&sim, t0, timed_cb, (void *)7)); /* all slots taken */
	assert_int_equal(hv_sim_cancel(&sim, timed_cb, (void *)7), HV_SIM_TIMED_MAX);

	/* a halt moves time to the callback like to a timer; the callback's interrupt ends the halt */
	assert_int_equal(trap_set_handler(0x50, wake_handler, NULL), 0);
	hv_sim_set_observer(&sim, observer_cb, NULL);
	uint64_t t1 = hv_sim_now(&sim);
	/* the callback raises vector 0x50, as a host posting a message raises the SINT */
	assert_true(hv_sim_at(&sim, t1 + 777777, wake_cb, (void *)4));
	nfired = 0;
	cpu_halt();
	assert_int_equal(nfired, 1);
	assert_int_equal(hv_sim_now(&sim), t1 + 777777); /* straight to it, no idle steps */
	assert_true(ticks[HV_SIM_TICK_HALT] >= 1);
	assert_true(ticks[HV_SIM_TICK_TIME] >= 1);
	/* the observer after hypercalls and EOM writes */
	hv_early_init();
	hv_init();
	unsigned before = ticks[HV_SIM_TICK_HYPERCALL];
	uint16_t st;
	hv_post_message(7, 1, "x", 1, &st);
	assert_int_equal(st, HV_STATUS_INVALID_CONNECTION_ID);
	assert_int_equal(ticks[HV_SIM_TICK_HYPERCALL], before + 1);
	cpu_wrmsr(HV_MSR_EOM, 0);
	assert_int_equal(ticks[HV_SIM_TICK_EOM], 1);
	hv_sim_set_observer(&sim, NULL, NULL);
	trap_set_handler(0x50, NULL, NULL);

	/* the page user is asked when the guest frees pages */
	hv_sim_set_page_user(&sim, page_user_cb, NULL);
	void *p = hvrt_page_alloc(2);
	hvrt_page_free(p, 2);
	assert_ptr_equal(asked_addr, p);
	hv_sim_set_page_user(&sim, NULL, NULL);
}

/* ---- negotiation ---- */

/* Hyper-V: 5.3 on connection 4, 0x800074 afterwards, 196-byte offers with OVMM connection ids. */
static void test_negotiate_hyperv(void **state)
{
	(void)state;
	boot();
	struct vmbus_sim_device dev;
	vmbus_sim_device_init(&vs, &dev, "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f", "11111111-2222-3333-4455-667788990011");
	dev.monitor_allocated = true;
	dev.monitor_id = 33;
	dev.mmio_megabytes = 8;
	dev.flags = VMBUS_OFFER_FLAG_ENUMERATE_DEVICE;
	dev.user_def[0] = 0xab;
	uint32_t scsi = vmbus_sim_add_device(&vs, &dev);
	uint32_t echo = vmbus_sim_add_echo(&vs, 7);
	assert_int_equal(scsi, 1);
	assert_int_equal(echo, 2);

	struct vmbus_msg_version_response r;
	assert_true(contact(V(5, 3), &r));
	assert_int_equal(g.msg[0].payload_size, 16);
	assert_int_equal(r.connection_state, 0);
	assert_int_equal(r.msg_connection_id, 0x800074);
	assert_int_equal(g.conn, 0x800074);
	assert_int_equal(vs.version, V(5, 3));
	request_offers();
	assert_int_equal(g.noffers, 2);
	assert_int_equal(g.offer_size[0], 196);
	const struct vmbus_msg_offer *o = offer_of(scsi);
	struct vmbus_guid want;
	assert_true(vmbus_sim_guid("ba6163d9-04a1-4d29-b605-72e2ffb1dc7f", &want));
	assert_memory_equal(&o->if_type, &want, 16);
	assert_int_equal(o->if_type.bytes[0], 0xd9); /* facts 2.11: d9 63 61 ba a1 04 29 4d b6 05 ... */
	assert_int_equal(o->if_type.bytes[4], 0xa1);
	assert_int_equal(o->if_type.bytes[8], 0xb6);
	assert_int_equal(o->monitor_allocated, 1);
	assert_int_equal(o->monitor_id, 33);
	assert_int_equal(o->mmio_megabytes, 8);
	assert_int_equal(o->flags, 1);
	assert_int_equal(o->user_def[0], 0xab);
	assert_int_equal(o->dedicated_interrupt, 0);
	assert_int_equal(o->connection_id, scsi | 2u << 12); /* OVMM ConnectionId::new(relid, VTL0, SINT2) */
	assert_int_equal(offer_of(echo)->connection_id, echo | 2u << 12);
	/* the log has the conversation in order */
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);
	assert_int_equal(n, 6);
	assert_int_equal(log[0].type, VMBUS_MSG_INITIATE_CONTACT);
	assert_false(log[0].to_guest);
	assert_int_equal(log[0].connection, 4);
	assert_int_equal(log[0].size, 40);
	assert_int_equal(log[1].type, VMBUS_MSG_VERSION_RESPONSE);
	assert_true(log[1].to_guest);
	assert_int_equal(log[2].type, VMBUS_MSG_REQUESTOFFERS);
	assert_int_equal(log[2].connection, 0x800074);
	assert_int_equal(log[3].relid, scsi);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_OFFERCHANNEL), 2);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_ALLOFFERS_DELIVERED), 1);

	/* after 5.x, connection 1 is the wrong one (processed, but a violation) */
	struct vmbus_msg_header h = { .type = VMBUS_MSG_REQUESTOFFERS };
	assert_int_equal(post_on(VMBUS_MESSAGE_CONNECTION, &h, sizeof(h)), HV_STATUS_SUCCESS);
	assert_int_equal(vmbus_sim_violations(&vs, VMBUS_SIM_RULE_ORDER), 1); /* and a second REQUESTOFFERS */
	expect_violation(VMBUS_SIM_RULE_CONNECTION);
	/* connection 4 takes only INITIATE_CONTACT */
	struct vmbus_msg_gpadl_teardown t = { .header.type = VMBUS_MSG_GPADL_TEARDOWN, .gpadl = 5 };
	assert_int_equal(post_on(VMBUS_MESSAGE_CONNECTION_5, &t, sizeof(t)), HV_STATUS_SUCCESS);
	assert_true(vmbus_sim_violations(&vs, VMBUS_SIM_RULE_CONNECTION) >= 1);
	expect_violation(VMBUS_SIM_RULE_GPADL); /* and the teardown named nothing */
	/* an unregistered connection is the hypervisor's answer */
	assert_int_equal(post_on(0x800075, &h, sizeof(h)), HV_STATUS_INVALID_CONNECTION_ID);
	expect_clean();
}

/* QEMU 7.2: no connection 4, 5.x refused on 1, 4.0 accepted with a 12-byte answer, 200-byte offers. */
static void test_negotiate_qemu(void **state)
{
	(void)state;
	vmbus_sim_config_qemu(&vcfg);
	boot();
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);

	/* Linux's order: 5.3 on connection 4 gets INVALID_CONNECTION_ID from the hypervisor */
	struct vmbus_msg_initiate_contact c = {
		.header.type = VMBUS_MSG_INITIATE_CONTACT, .version = V(5, 3), .msg_sint = 2,
		.monitor_page1 = (uint64_t)(uintptr_t)g.monitor1, .monitor_page2 = (uint64_t)(uintptr_t)g.monitor2,
	};
	assert_int_equal(post_on(VMBUS_MESSAGE_CONNECTION_5, &c, sizeof(c)), HV_STATUS_INVALID_CONNECTION_ID);
	expect_no_msg();
	/* a 5.0 on connection 1 (what the nested probe did) is refused, and hvrt must not do it */
	send_contact(V(5, 0), VMBUS_MESSAGE_CONNECTION);
	const struct hv_message *m = expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	assert_int_equal(m->payload_size, 12);
	assert_int_equal(m->payload[8], 0);
	expect_violation(VMBUS_SIM_RULE_CONNECTION);
	struct vmbus_msg_version_response r;
	assert_false(contact(V(4, 1), &r));
	assert_true(contact(V(4, 0), &r));
	assert_int_equal(r.msg_connection_id, 0); /* QEMU sends 12 bytes: nothing there */
	request_offers();
	assert_int_equal(g.noffers, 1);
	assert_int_equal(g.offer_size[0], 200);
	const struct vmbus_msg_offer *o = offer_of(relid);
	assert_int_equal(o->connection_id, 16 + relid);
	assert_int_equal(o->dedicated_interrupt, 1);
	assert_int_equal(o->monitor_allocated, 0);
	assert_int_equal(relid, 1);
	/* signals: 2 and 16 + relid answer 0, others INVALID_CONNECTION_ID */
	uint16_t st;
	assert_int_equal(hv_signal_event(2, 0, &st), 0);
	assert_int_equal(hv_signal_event(16 + relid, 0, &st), 0);
	assert_int_equal(hv_signal_event(0x40, 0, &st), -ENOTCONN);
	assert_int_equal(st, HV_STATUS_INVALID_CONNECTION_ID);
	expect_clean();
}

/* The guest walks down refused versions; unknown versions are violations; INITIATE_CONTACT resets the bus. */
static void test_negotiate_fallback(void **state)
{
	(void)state;
	vcfg.refused[0] = V(5, 3);
	vcfg.refused[1] = V(5, 2);
	vcfg.nrefused = 2;
	uint32_t relid = up_with_echo(V(5, 1));
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_VERSION_RESPONSE), 1);
	assert_false(contact(V(5, 3), NULL)); /* a new contact: refused, and the old connection is gone */
	assert_false(vs.connected);
	assert_false(contact(V(5, 2), NULL));
	assert_true(contact(V(5, 1), NULL));
	assert_false(contact(V(4, 2), NULL)); /* no such version */
	expect_violation(VMBUS_SIM_RULE_VERSION);
	assert_true(contact(V(3, 0), NULL));
	assert_int_equal(g.conn, 1);
	request_offers();
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	uint32_t gp2 = g.next_gpadl++;
	uint8_t *extra = hvrt_page_alloc(1);
	assert_int_equal(gpadl_create(relid, gp2, extra, 1), 0);
	/* contact again with a channel open and two GPADLs: all of it goes (QEMU) */
	assert_true(contact(V(3, 0), NULL));
	assert_int_equal(vs.reset_open, 1);
	assert_int_equal(vs.reset_gpadls, 2);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	assert_int_equal(vmbus_sim_open_channels(&vs), 0);
	g.noffers = 0;
	request_offers();
	assert_int_equal(g.noffers, 1); /* offered again */
	hvrt_page_free(c.pages, c.npages); /* the host let go with the reset: no violation */
	hvrt_page_free(extra, 1);
	expect_clean();
}

/* INITIATE_CONTACT fields: target VP, pages, SINT, VTL, reserved. */
static void test_contact_rules(void **state)
{
	(void)state;
	boot();
	struct vmbus_msg_initiate_contact c = {
		.header.type = VMBUS_MSG_INITIATE_CONTACT, .version = V(3, 0), .target_vcpu = 1,
		.interrupt_page = (uint64_t)(uintptr_t)g.intpage, .monitor_page1 = (uint64_t)(uintptr_t)g.monitor1,
		.monitor_page2 = (uint64_t)(uintptr_t)g.monitor2,
	};
	gpost(&c, sizeof(c));
	expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	expect_violation(VMBUS_SIM_RULE_CONTACT); /* no VP 1 */
	c.target_vcpu = 0;
	c.monitor_page2 = c.monitor_page1;
	gpost(&c, sizeof(c));
	expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	expect_violation(VMBUS_SIM_RULE_CONTACT); /* the same page twice */
	c.monitor_page2 = (uint64_t)(uintptr_t)g.monitor2 + 8;
	gpost(&c, sizeof(c));
	expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	expect_violation(VMBUS_SIM_RULE_CONTACT); /* not aligned */
	static uint8_t not_ram[2 * PG];
	c.monitor_page2 = ((uint64_t)(uintptr_t)not_ram + PG - 1) & ~(uint64_t)(PG - 1);
	gpost(&c, sizeof(c));
	expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	expect_violation(VMBUS_SIM_RULE_CONTACT); /* not the guest's RAM */
	c.monitor_page2 = (uint64_t)(uintptr_t)g.monitor2;
	c.version = V(1, 1);
	c.interrupt_page = 0; /* needed below 2.4 */
	gpost(&c, sizeof(c));
	expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	expect_violation(VMBUS_SIM_RULE_CONTACT);
	c.version = V(2, 4); /* from 2.4 it may be 0 */
	gpost(&c, sizeof(c));
	expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	expect_clean();
	c.version = V(5, 0);
	c.msg_sint = 5; /* masked */
	assert_int_equal(post_on(4, &c, sizeof(c)), 0);
	expect_violation(VMBUS_SIM_RULE_CONTACT);
	expect_no_msg(); /* the answer went to SINT5, which the guest keeps masked */
	c.msg_sint = 2;
	c.msg_vtl = 1;
	assert_int_equal(post_on(4, &c, sizeof(c)), 0);
	expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	expect_violation(VMBUS_SIM_RULE_CONTACT);
	c.msg_vtl = 0;
	c.feature_flags = 1;
	assert_int_equal(post_on(4, &c, sizeof(c)), 0);
	expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	expect_violation(VMBUS_SIM_RULE_CONTACT);
	c.feature_flags = 0;
	assert_int_equal(post_on(4, &c, sizeof(c)), 0);
	expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	c.version = V(4, 0);
	assert_int_equal(post_on(4, &c, sizeof(c)), 0); /* < 5.0 on connection 4 */
	expect_msg(VMBUS_MSG_VERSION_RESPONSE);
	expect_violation(VMBUS_SIM_RULE_CONNECTION);
	expect_clean();
}

/* ---- message rules ---- */

/* Sizes, types, header, SynIC message type, order before contact, REQUESTOFFERS twice. */
static void test_message_rules(void **state)
{
	(void)state;
	boot();
	vmbus_sim_add_echo(&vs, 1);
	/* before contact */
	struct vmbus_msg_header h = { .type = VMBUS_MSG_REQUESTOFFERS };
	gpost(&h, sizeof(h));
	expect_no_msg();
	expect_violation(VMBUS_SIM_RULE_ORDER);
	struct vmbus_msg_gpadl_teardown t = { .header.type = VMBUS_MSG_GPADL_TEARDOWN, .gpadl = 1 };
	gpost(&t, sizeof(t));
	expect_violation(VMBUS_SIM_RULE_ORDER);
	/* a short INITIATE_CONTACT is dropped */
	struct vmbus_msg_initiate_contact c = { .header.type = VMBUS_MSG_INITIATE_CONTACT, .version = V(4, 0) };
	gpost(&c, 32);
	expect_no_msg();
	expect_violation(VMBUS_SIM_RULE_MESSAGE);
	assert_true(contact(V(4, 0), NULL));
	expect_clean();
	/* too long: processed, still a violation */
	uint8_t big[16] = { VMBUS_MSG_REQUESTOFFERS };
	gpost(big, sizeof(big));
	expect_violation(VMBUS_SIM_RULE_MESSAGE);
	expect_msg(VMBUS_MSG_OFFERCHANNEL);
	expect_msg(VMBUS_MSG_ALLOFFERS_DELIVERED);
	gpost(&h, sizeof(h)); /* twice */
	expect_violation(VMBUS_SIM_RULE_ORDER);
	expect_no_msg();
	/* a host-to-guest type, an unknown type, the reserved-channel messages */
	uint32_t bad[] = { VMBUS_MSG_OFFERCHANNEL, VMBUS_MSG_VERSION_RESPONSE, 18, 19, 99, 0 };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vmbus_msg_relid m = { .header.type = bad[i], .child_relid = 1 };
		gpost(&m, sizeof(m));
		expect_violation(VMBUS_SIM_RULE_MESSAGE);
	}
	/* header padding, a message shorter than a header, SynIC message type 2 */
	struct vmbus_msg_relid pad = { .header.type = VMBUS_MSG_CLOSECHANNEL, .header.padding = 1, .child_relid = 9 };
	gpost(&pad, sizeof(pad));
	assert_int_equal(vmbus_sim_violations(&vs, VMBUS_SIM_RULE_MESSAGE), 1);
	expect_violation(VMBUS_SIM_RULE_RELID); /* and relid 9 is nobody */
	gpost(&h, 4);
	expect_violation(VMBUS_SIM_RULE_MESSAGE);
	uint16_t st;
	assert_int_equal(hv_post_message(1, 2, &h, sizeof(h), &st), 0);
	expect_violation(VMBUS_SIM_RULE_MESSAGE);
	/* newer than the version: MODIFYCHANNEL at 4.0 */
	struct vmbus_msg_modify_channel mc = { .header.type = VMBUS_MSG_MODIFYCHANNEL, .child_relid = 1 };
	gpost(&mc, sizeof(mc));
	expect_violation(VMBUS_SIM_RULE_VERSION);
	/* UNLOAD answers and resets; after it, the bus wants a contact again */
	struct vmbus_msg_header u = { .type = VMBUS_MSG_UNLOAD };
	gpost(&u, sizeof(u));
	const struct hv_message *m = expect_msg(VMBUS_MSG_UNLOAD_RESPONSE);
	assert_int_equal(m->payload_size, 8);
	assert_false(vs.connected);
	gpost(&h, sizeof(h));
	expect_violation(VMBUS_SIM_RULE_ORDER);
	expect_clean();
}

/* MODIFYCHANNEL from 4.1, answered from 5.3; TL_CONNECT_REQUEST refused. */
static void test_modify_and_tl(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	struct vmbus_msg_modify_channel mc = { .header.type = VMBUS_MSG_MODIFYCHANNEL, .child_relid = relid };
	gpost(&mc, sizeof(mc));
	const struct hv_message *m = expect_msg(VMBUS_MSG_MODIFYCHANNEL_RESPONSE);
	assert_int_equal(u32at(m->payload + 8), relid);
	assert_int_equal(u32at(m->payload + 12), 0);
	mc.target_vp = 3;
	gpost(&mc, sizeof(mc));
	m = expect_msg(VMBUS_MSG_MODIFYCHANNEL_RESPONSE);
	assert_int_not_equal(u32at(m->payload + 12), 0);
	expect_violation(VMBUS_SIM_RULE_OPEN);
	uint8_t tl[40] = { VMBUS_MSG_TL_CONNECT_REQUEST };
	tl[8] = 0x11;
	gpost(tl, sizeof(tl));
	m = expect_msg(VMBUS_MSG_TL_CONNECT_RESULT);
	assert_int_equal(m->payload_size, 44);
	assert_int_equal(m->payload[8], 0x11);
	assert_int_equal(u32at(m->payload + 40), 0xc0000236u);
	chan_close(&c);
	gpost(&mc, sizeof(mc)); /* closed now */
	expect_violation(VMBUS_SIM_RULE_OPEN);
	expect_no_msg();
	expect_clean();
}

/* ---- GPADLs ---- */

/* 1, 26, 27 and 300 pages: header and bodies as facts 2.6 says, CREATED, pages held, TORNDOWN. */
static void test_gpadl_sizes(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	static const unsigned sizes[] = { 1, 26, 27, 300 };
	static const unsigned bodies[] = { 0, 0, 1, 10 };
	uint8_t *buf[4];
	unsigned total = 0;

	for (unsigned i = 0; i < 4; i++) {
		buf[i] = hvrt_page_alloc(sizes[i]);
		unsigned before = vmbus_sim_count(&vs, VMBUS_MSG_GPADL_BODY);
		assert_int_equal(gpadl_create(relid, 100 + i, buf[i], sizes[i]), 0);
		assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_GPADL_BODY) - before, bodies[i]);
		const struct vmbus_sim_gpadl *gp = vmbus_sim_find_gpadl(&vs, 100 + i);
		assert_non_null(gp);
		assert_true(gp->complete);
		assert_int_equal(gp->npfn, sizes[i]);
		assert_int_equal(gp->pfn[sizes[i] - 1], ((uint64_t)(uintptr_t)buf[i] >> 12) + sizes[i] - 1);
		assert_int_equal(gp->bodies, bodies[i]);
		total += sizes[i];
		assert_int_equal(vmbus_sim_gpadls(&vs), i + 1);
		assert_int_equal(vmbus_sim_gpadl_pages(&vs), total);
	}
	/* the header of a 300-page GPADL is full: 236 bytes */
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);
	unsigned headers = 0;
	for (size_t i = 0; i < n; i++)
		if (log[i].type == VMBUS_MSG_GPADL_HEADER && ++headers == 4)
			assert_int_equal(log[i].size, 20 + 8 + 26 * 8);
	for (unsigned i = 0; i < 4; i++) {
		gpadl_teardown(relid, 100 + i);
		hvrt_page_free(buf[i], sizes[i]);
	}
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	expect_clean();
}

/* Every GPADL rule. */
static void test_gpadl_rules(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	uint8_t *buf = hvrt_page_alloc(4);
	uint8_t m[VMBUS_MESSAGE_MAX];
	struct vmbus_msg_gpadl_header h = {
		.header.type = VMBUS_MSG_GPADL_HEADER, .child_relid = relid, .gpadl = 7, .range_buflen = 16, .range_count = 1,
	};
	uint64_t pfn = (uint64_t)(uintptr_t)buf >> 12;

	/* a relid never offered */
	gpadl_send(relid + 5, 1, buf, 1);
	expect_no_msg();
	expect_violation(VMBUS_SIM_RULE_RELID);
	/* a duplicate handle */
	assert_int_equal(gpadl_create(relid, 2, buf, 1), 0);
	gpadl_send(relid, 2, buf + PG, 1);
	expect_no_msg();
	expect_violation(VMBUS_SIM_RULE_GPADL);
	/* rangecount 0 */
	h.range_count = 0;
	memcpy(m, &h, sizeof(h));
	struct vmbus_gpa_range r = { .byte_count = PG, .byte_offset = 0 };
	memcpy(m + 20, &r, 8);
	memcpy(m + 28, &pfn, 8);
	gpost(m, 36);
	expect_violation(VMBUS_SIM_RULE_GPADL);
	/* an offset past the page, a byte count of 0: CREATED with a failure status */
	h.range_count = 1;
	memcpy(m, &h, sizeof(h));
	r.byte_offset = PG;
	memcpy(m + 20, &r, 8);
	gpost(m, 36);
	assert_int_not_equal(u32at(expect_msg(VMBUS_MSG_GPADL_CREATED)->payload + 16), 0);
	expect_violation(VMBUS_SIM_RULE_GPADL);
	assert_null(vmbus_sim_find_gpadl(&vs, 7));
	r = (struct vmbus_gpa_range){ .byte_count = 0 };
	memcpy(m + 20, &r, 8);
	gpost(m, 36);
	assert_int_not_equal(u32at(expect_msg(VMBUS_MSG_GPADL_CREATED)->payload + 16), 0);
	expect_violation(VMBUS_SIM_RULE_GPADL);
	/* range_buflen that disagrees with the range: 2 pages named, 1 PFN given */
	r = (struct vmbus_gpa_range){ .byte_count = 2 * PG };
	memcpy(m + 20, &r, 8);
	gpost(m, 36);
	assert_int_not_equal(u32at(expect_msg(VMBUS_MSG_GPADL_CREATED)->payload + 16), 0);
	expect_violation(VMBUS_SIM_RULE_GPADL);
	/* a PFN that is no guest RAM */
	r = (struct vmbus_gpa_range){ .byte_count = PG };
	memcpy(m + 20, &r, 8);
	uint64_t bogus = 0x12345;
	memcpy(m + 28, &bogus, 8);
	gpost(m, 36);
	assert_int_not_equal(u32at(expect_msg(VMBUS_MSG_GPADL_CREATED)->payload + 16), 0);
	expect_violation(VMBUS_SIM_RULE_MEMORY);
	/* a header with fewer PFNs than it could carry (range_buflen 24, 1 PFN in the header, 1 in a body) */
	h.range_buflen = 24;
	memcpy(m, &h, sizeof(h));
	r = (struct vmbus_gpa_range){ .byte_count = 2 * PG };
	memcpy(m + 20, &r, 8);
	memcpy(m + 28, &pfn, 8);
	gpost(m, 36);
	expect_violation(VMBUS_SIM_RULE_MESSAGE);
	struct vmbus_msg_gpadl_body b = { .header.type = VMBUS_MSG_GPADL_BODY, .gpadl = 7 };
	memcpy(m, &b, sizeof(b));
	uint64_t pfn1 = pfn + 1;
	memcpy(m + 16, &pfn1, 8);
	gpost(m, 24);
	assert_int_equal(u32at(expect_msg(VMBUS_MSG_GPADL_CREATED)->payload + 16), 0);
	expect_clean();
	/* a body for nothing; a body of a bad size; a body past range_buflen */
	gpost(m, 24);
	expect_violation(VMBUS_SIM_RULE_GPADL);
	gpost(m, 20);
	expect_violation(VMBUS_SIM_RULE_MESSAGE);
	h.gpadl = 8;
	memcpy(m, &h, sizeof(h));
	memcpy(m + 20, &r, 8);
	memcpy(m + 28, &pfn, 8);
	gpost(m, 36);
	expect_violation(VMBUS_SIM_RULE_MESSAGE); /* it could have carried both PFNs */
	b.gpadl = 8;
	memcpy(m, &b, sizeof(b));
	memcpy(m + 16, &pfn1, 8);
	memcpy(m + 24, &pfn1, 8);
	gpost(m, 32);
	assert_int_not_equal(u32at(expect_msg(VMBUS_MSG_GPADL_CREATED)->payload + 16), 0);
	expect_violation(VMBUS_SIM_RULE_GPADL);
	/* two ranges with offsets (a buffer not page aligned): Hyper-V takes it */
	uint8_t two[20 + 8 + 8 + 8 + 16];
	struct vmbus_msg_gpadl_header h2 = { .header.type = VMBUS_MSG_GPADL_HEADER, .child_relid = relid, .gpadl = 9,
					     .range_buflen = 8 + 8 + 8 + 16, .range_count = 2 };
	struct vmbus_gpa_range r1 = { .byte_count = 100, .byte_offset = 4000 };  /* 2 pages */
	struct vmbus_gpa_range r2 = { .byte_count = 10, .byte_offset = 8 };      /* 1 page */
	uint64_t p2 = pfn + 2, p3 = pfn + 3;
	memcpy(two, &h2, 20);
	memcpy(two + 20, &r1, 8);
	memcpy(two + 28, &pfn, 8);
	memcpy(two + 36, &pfn1, 8);
	memcpy(two + 44, &r2, 8);
	memcpy(two + 52, &p2, 8);
	(void)p3;
	gpost(two, 20 + 40);
	assert_int_equal(u32at(expect_msg(VMBUS_MSG_GPADL_CREATED)->payload + 16), 0);
	const struct vmbus_sim_gpadl *gp = vmbus_sim_find_gpadl(&vs, 9);
	assert_int_equal(gp->npfn, 3);
	assert_int_equal(gp->range[1].offset, 8);
	assert_int_equal(gp->range[1].first, 2);
	expect_clean();
	/* teardown: unknown handle, wrong relid */
	struct vmbus_msg_gpadl_teardown t = { .header.type = VMBUS_MSG_GPADL_TEARDOWN, .child_relid = relid, .gpadl = 55 };
	gpost(&t, sizeof(t));
	expect_violation(VMBUS_SIM_RULE_GPADL);
	expect_no_msg();
	t.gpadl = 9;
	t.child_relid = relid + 1;
	gpost(&t, sizeof(t));
	expect_msg(VMBUS_MSG_GPADL_TORNDOWN);
	expect_violation(VMBUS_SIM_RULE_GPADL);
	/* a teardown before the bodies came */
	h.gpadl = 10;
	h.range_buflen = 24;
	memcpy(m, &h, sizeof(h));
	memcpy(m + 20, &r, 8);
	memcpy(m + 28, &pfn, 8);
	gpost(m, 36);
	t.gpadl = 10;
	t.child_relid = relid;
	gpost(&t, sizeof(t));
	expect_msg(VMBUS_MSG_GPADL_TORNDOWN);
	expect_violation(VMBUS_SIM_RULE_GPADL);
	gpadl_teardown(relid, 2);
	gpadl_teardown(relid, 7);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	hvrt_page_free(buf, 4);
	expect_clean();
}

/* QEMU drops what it does not take (no answer, no violation: a host limit); the fault makes CREATED fail. */
static void test_gpadl_qemu_and_faults(void **state)
{
	(void)state;
	vmbus_sim_config_qemu(&vcfg);
	uint32_t relid = up_with_echo(V(4, 0));
	uint8_t *buf = hvrt_page_alloc(2);
	uint8_t m[64];
	struct vmbus_msg_gpadl_header h = { .header.type = VMBUS_MSG_GPADL_HEADER, .child_relid = relid, .gpadl = 1,
					    .range_buflen = 16, .range_count = 1 };
	struct vmbus_gpa_range r = { .byte_count = 100, .byte_offset = 8 };
	uint64_t pfn = (uint64_t)(uintptr_t)buf >> 12;
	memcpy(m, &h, 20);
	memcpy(m + 20, &r, 8);
	memcpy(m + 28, &pfn, 8);
	gpost(m, 36);
	expect_no_msg();
	assert_int_equal(vs.dropped, 1);
	expect_clean();
	vs.fault.gpadl_fail = 1;
	assert_int_equal(gpadl_create(relid, 2, buf, 2), 1); /* QEMU's failure status is what cfg says */
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	assert_int_equal(gpadl_create(relid, 2, buf, 2), 0);
	vs.fault.drop_answers = 1u << VMBUS_MSG_GPADL_TORNDOWN;
	struct vmbus_msg_gpadl_teardown t = { .header.type = VMBUS_MSG_GPADL_TEARDOWN, .child_relid = relid, .gpadl = 2 };
	gpost(&t, sizeof(t));
	expect_no_msg(); /* torn down, never answered */
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	vs.fault.drop_answers = 0;
	hvrt_page_free(buf, 2);
	expect_clean();
}

/* ---- channels ---- */

/* OPENCHANNEL rules, CLOSECHANNEL, the ring GPADL held while open. */
static void test_open_rules(void **state)
{
	(void)state;
	boot();
	uint32_t relid = vmbus_sim_add_echo(&vs, 1), other = vmbus_sim_add_echo(&vs, 2);
	connect(V(5, 3));
	uint8_t *p = hvrt_page_alloc(6);
	assert_int_equal(gpadl_create(relid, 1, p, 4), 0);
	assert_int_equal(gpadl_create(other, 2, p + 4 * PG, 2), 0);

	send_open(relid + 10, 1, 2, 0); /* not offered: dropped */
	expect_no_msg();
	expect_violation(VMBUS_SIM_RULE_RELID);
	send_open(relid, 99, 2, 0); /* no such GPADL */
	open_result(relid, relid + 100, vcfg.open_fail_status);
	expect_violation(VMBUS_SIM_RULE_OPEN);
	send_open(relid, 2, 1, 0); /* another relid's GPADL */
	open_result(relid, relid + 100, vcfg.open_fail_status);
	expect_violation(VMBUS_SIM_RULE_OPEN);
	send_open(relid, 1, 1, 0); /* a 1-page guest->host ring */
	open_result(relid, relid + 100, vcfg.open_fail_status);
	expect_violation(VMBUS_SIM_RULE_OPEN);
	send_open(relid, 1, 3, 0); /* a 1-page host->guest ring */
	open_result(relid, relid + 100, vcfg.open_fail_status);
	expect_violation(VMBUS_SIM_RULE_OPEN);
	send_open(relid, 1, 2, 1); /* VP 1 does not exist */
	open_result(relid, relid + 100, vcfg.open_fail_status);
	expect_violation(VMBUS_SIM_RULE_OPEN);
	((struct vmbus_ring_control *)p)->write_index = 12; /* not a multiple of 8 */
	send_open(relid, 1, 2, 0);
	open_result(relid, relid + 100, vcfg.open_fail_status);
	expect_violation(VMBUS_SIM_RULE_RING);
	((struct vmbus_ring_control *)p)->write_index = 0;
	send_open(relid, 1, 2, 0);
	open_result(relid, relid + 100, 0);
	const struct vmbus_sim_channel *ch = vmbus_sim_channel(&vs, relid);
	assert_true(ch->open);
	assert_int_equal(ch->out.size, PG);
	assert_int_equal(ch->in.size, PG);
	assert_int_equal(((struct vmbus_ring_control *)(p + 2 * PG))->feature_bits & 1, 1);
	send_open(relid, 1, 2, 0); /* twice */
	open_result(relid, relid + 100, vcfg.open_fail_status);
	expect_violation(VMBUS_SIM_RULE_OPEN);
	/* the ring GPADL cannot go while the channel is open: no answer */
	struct vmbus_msg_gpadl_teardown t = { .header.type = VMBUS_MSG_GPADL_TEARDOWN, .child_relid = relid, .gpadl = 1 };
	gpost(&t, sizeof(t));
	expect_no_msg();
	expect_violation(VMBUS_SIM_RULE_GPADL);
	send_close(relid);
	expect_no_msg(); /* no reply */
	assert_false(vmbus_sim_channel(&vs, relid)->open);
	send_close(relid);
	expect_violation(VMBUS_SIM_RULE_OPEN);
	/* the open fault, then a good open with no interrupts wanted */
	vs.fault.open_fail = 1;
	send_open(relid, 1, 2, 0);
	open_result(relid, relid + 100, vcfg.open_fail_status);
	assert_false(vmbus_sim_channel(&vs, relid)->open);
	expect_clean();
	send_open(relid, 1, 2, VMBUS_VP_NO_INTERRUPTS);
	open_result(relid, relid + 100, 0);
	send_close(relid);
	gpadl_teardown(relid, 1);
	gpadl_teardown(other, 2);
	hvrt_page_free(p, 6);
	expect_clean();
}

/* The echo device: in-band back in-band, completion when asked; events only on empty -> non-empty. */
static void test_echo_inband(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 3, 3);
	struct gpkt p;
	const char *msg = "hello, host";

	assert_int_equal(gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, 0x1234, msg, 12), 0);
	hv_synic_poll();
	assert_int_equal(g.event[relid], 1);
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(p.desc.type, VMBUS_PACKET_DATA_INBAND);
	assert_int_equal(p.desc.trans_id, 0x1234);
	assert_int_equal(p.desc.offset8, 2);
	assert_int_equal(p.len, 16 + 16);
	assert_memory_equal(p.data + 16, msg, 12);
	assert_int_equal(grecv(&c, &p), 0);
	assert_int_equal(gsend(&c, VMBUS_PACKET_DATA_INBAND, VMBUS_PACKET_FLAG_COMPLETION_REQUESTED, 77, msg, 5), 0);
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(p.desc.type, VMBUS_PACKET_COMPLETION);
	assert_int_equal(p.desc.trans_id, 77);
	assert_memory_equal(p.data + 16, msg, 5);
	hv_synic_poll();
	assert_int_equal(g.event[relid], 2);

	/* a batch: the guest writes three without reading; one signal, one event */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, i, &i, sizeof(i)), 0);
	hv_synic_poll();
	assert_int_equal(g.event[relid], 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(grecv(&c, &p), 1);
		assert_int_equal(p.desc.trans_id, i);
	}
	/* wrap both rings many times with sizes up to 3000 bytes */
	uint8_t big[3000];
	for (unsigned i = 0; i < 200; i++) {
		uint32_t len = 1 + (i * 733) % sizeof(big);
		memset(big, (int)i, len);
		assert_int_equal(gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, 1000 + i, big, len), 0);
		assert_int_equal(grecv(&c, &p), 1);
		assert_int_equal(p.desc.trans_id, 1000 + i);
		assert_int_equal(p.len, pad8(16 + len));
		assert_memory_equal(p.data + 16, big, len);
	}
	const struct vmbus_sim_channel *ch = vmbus_sim_channel(&vs, relid);
	assert_int_equal(ch->packets_in, 205);
	assert_int_equal(ch->packets_out, 205);
	assert_int_equal(ch->unneeded_signals, 0);
	assert_int_equal(ch->signals, 205);
	chan_close(&c);
	expect_clean();
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= VMBUS_SIM_FNV_PRIME;
	}
	return h;
}

/* Writes a GPA-direct packet: ranges given as bytes, a small in-band tail. */
static int gsend_gpa(struct gchan *c, uint64_t trans, const void *ranges, uint32_t rlen, uint32_t count)
{
	uint8_t buf[1024];
	struct vmbus_packet_gpa_direct d = {
		.desc = { .type = VMBUS_PACKET_DATA_GPA_DIRECT, .offset8 = (uint16_t)((24 + rlen) / 8),
			  .len8 = (uint16_t)((24 + rlen + 8) / 8), .flags = VMBUS_PACKET_FLAG_COMPLETION_REQUESTED,
			  .trans_id = trans },
		.range_count = count,
	};
	bool sig;
	memcpy(buf, &d, 24);
	memcpy(buf + 24, ranges, rlen);
	memcpy(buf + 24 + rlen, "tailtail", 8);
	int r = gring_write(&c->out, buf, 24 + rlen + 8, &sig);
	if (r == 0 && sig)
		gsignal(c);
	return r;
}

/* GPA-direct: both range encodings, the FNV-1a answer, and every range rule. */
static void test_echo_gpa_direct(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(4, 0));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	uint8_t *buf = hvrt_page_alloc(4);
	for (unsigned i = 0; i < 4 * PG; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	uint64_t pfn = (uint64_t)(uintptr_t)buf >> 12;
	struct gpkt p;
	struct vmbus_sim_echo_gpa res;

	/* page-buffer form: three {len, offset, pfn} entries */
	uint8_t rb[256];
	uint32_t e[3][2] = { { 100, 10 }, { 4096, 0 }, { 50, 4046 } };
	for (unsigned i = 0; i < 3; i++) {
		uint64_t pf = pfn + i;
		memcpy(rb + 16 * i, e[i], 8);
		memcpy(rb + 16 * i + 8, &pf, 8);
	}
	assert_int_equal(gsend_gpa(&c, 42, rb, 48, 3), 0);
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(p.desc.type, VMBUS_PACKET_COMPLETION);
	assert_int_equal(p.desc.trans_id, 42);
	memcpy(&res, p.data + 16, sizeof(res));
	uint64_t want = fnv(VMBUS_SIM_FNV_BASIS, buf + 10, 100);
	want = fnv(want, buf + PG, PG);
	want = fnv(want, buf + 2 * PG + 4046, 50);
	assert_int_equal(res.fnv1a64, want);
	assert_int_equal(res.bytes, 100 + 4096 + 50);
	assert_int_equal(res.ranges, 3);

	/* multi-page form: one range of 3 pages from offset 4000 */
	uint32_t mp[2] = { 2 * PG + 10, 4000 };
	memcpy(rb, mp, 8);
	for (unsigned i = 0; i < 3; i++) {
		uint64_t pf = pfn + i;
		memcpy(rb + 8 + 8 * i, &pf, 8);
	}
	assert_int_equal(gsend_gpa(&c, 43, rb, 32, 1), 0);
	assert_int_equal(grecv(&c, &p), 1);
	memcpy(&res, p.data + 16, sizeof(res));
	assert_int_equal(res.fnv1a64, fnv(VMBUS_SIM_FNV_BASIS, buf + 4000, 2 * PG + 10));
	assert_int_equal(res.ranges, 1);
	expect_clean();

	/* the rules: a range past the area; too few PFNs; a PFN not RAM; count 0; offset past a page; ranges short */
	assert_int_equal(gsend_gpa(&c, 44, rb, 24, 1), 0); /* 3 pages need 3 PFNs, 2 given */
	expect_violation(VMBUS_SIM_RULE_PACKET);
	assert_int_equal(gsend_gpa(&c, 45, rb, 32, 2), 0);
	expect_violation(VMBUS_SIM_RULE_PACKET);
	assert_int_equal(gsend_gpa(&c, 46, rb, 32, 0), 0);
	expect_violation(VMBUS_SIM_RULE_PACKET);
	uint64_t bogus = 0x777;
	memcpy(rb + 16, &bogus, 8);
	assert_int_equal(gsend_gpa(&c, 47, rb, 32, 1), 0);
	expect_violation(VMBUS_SIM_RULE_MEMORY);
	uint32_t off[2] = { 8, 4096 };
	memcpy(rb, off, 8);
	memcpy(rb + 8, &pfn, 8);
	assert_int_equal(gsend_gpa(&c, 48, rb, 16, 1), 0);
	expect_violation(VMBUS_SIM_RULE_PACKET);
	uint32_t one[2] = { 8, 0 };
	memcpy(rb, one, 8);
	memcpy(rb + 16, one, 8); /* 16 spare bytes the count does not cover */
	assert_int_equal(gsend_gpa(&c, 49, rb, 32, 1), 0);
	expect_violation(VMBUS_SIM_RULE_PACKET);
	assert_int_equal(grecv(&c, &p), 0); /* none of them answered */
	const struct vmbus_sim_channel *ch = vmbus_sim_channel(&vs, relid);
	assert_int_equal(ch->packets_in, 8);
	chan_close(&c);
	hvrt_page_free(buf, 4);
	expect_clean();
}

/* ---- signals ---- */

/* Unneeded signals past the threshold; a guest that waits without signalling. */
static void test_signal_rules(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	struct gpkt p;
	uint64_t x = 5;

	/* two unneeded signals are tolerated */
	gsignal(&c);
	gsignal(&c);
	assert_int_equal(vmbus_sim_check(&vs), 0);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->unneeded_signals, 2);
	/* signalling on every packet, even when the ring was not empty: a stalled host makes it show */
	vmbus_sim_stall(&vs, relid, true);
	assert_int_equal(gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, 1, &x, 8), 0); /* needed */
	assert_int_equal(gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, 2, &x, 8), 0); /* ring not empty: no signal */
	gsignal(&c);                                                            /* unneeded */
	assert_int_equal(vmbus_sim_channel(&vs, relid)->unneeded_signals, 3);
	vmbus_sim_check(&vs);
	expect_violation(VMBUS_SIM_RULE_SIGNAL);
	vmbus_sim_stall(&vs, relid, false); /* resumes: both are answered */
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(grecv(&c, &p), 0);

	/* a packet written without the signal, then the guest waits: the host would never look */
	uint8_t buf[32];
	struct vmbus_packet_desc d = { .type = VMBUS_PACKET_DATA_INBAND, .offset8 = 2, .len8 = 3, .trans_id = 9 };
	bool sig;
	memcpy(buf, &d, 16);
	memcpy(buf + 16, &x, 8);
	assert_int_equal(gring_write(&c.out, buf, 24, &sig), 0);
	assert_true(sig);
	hv_synic_poll(); /* a guest takes its events before it halts, or no new one can wake it */
	cpu_halt(); /* the sim's halt check: a violation, then the host serves it so the test goes on */
	expect_violation(VMBUS_SIM_RULE_SIGNAL);
	hv_synic_poll();
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(p.desc.trans_id, 9);
	/* stray signals on connection 2 count too */
	for (unsigned i = 0; i < 3; i++) {
		uint16_t st;
		assert_int_equal(hv_signal_event(VMBUS_EVENT_CONNECTION, 0, &st), 0);
	}
	assert_int_equal(vs.stray_signals, 3);
	vmbus_sim_check(&vs);
	expect_violation(VMBUS_SIM_RULE_SIGNAL);
	chan_close(&c);
	expect_clean();
}

/* Both rings full: backlog, pending_send_sz, the guest's space signal; a guest that forgets it. */
static void test_ring_full(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 2, 2); /* 4 KiB of data each way */
	struct gpkt p;
	uint8_t payload[1000];
	unsigned sent = 0, got = 0;

	memset(payload, 0x5a, sizeof(payload));
	/* the guest does not read: the host->guest ring fills (3 echoes of 1040 bytes fit), then the backlog */
	while (gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, sent, payload, sizeof(payload)) == 0)
		sent++;
	const struct vmbus_sim_channel *ch = vmbus_sim_channel(&vs, relid);
	assert_int_equal(ch->packets_out, 3);
	assert_int_equal(ch->nbacklog, 1);      /* the 4th echo waits */
	assert_int_equal(ch->in_pending, 1024); /* and the host asked for its room: 1016 + trailer */
	assert_int_equal(c.in.ctl->pending_send_sz, 1024);
	assert_int_equal(ch->packets_in, 4);    /* it reads no more guest packets meanwhile */
	assert_int_equal(sent, 7);              /* so the guest->host ring filled too */
	/* the guest reads; its space signal lets the host go on, until everything is echoed */
	for (unsigned tries = 0; got < sent && tries < 100; tries++) {
		while (grecv(&c, &p)) {
			assert_int_equal(p.desc.trans_id, got);
			got++;
		}
		hv_synic_poll();
	}
	assert_int_equal(got, sent);
	assert_int_equal(grecv(&c, &p), 0);
	assert_int_equal(ch->nbacklog, 0);
	assert_int_equal(ch->in_pending, 0);
	assert_int_equal(c.in.ctl->pending_send_sz, 0);
	assert_true(ch->space_signals >= 1);
	assert_int_equal(ch->unneeded_signals, 0);
	expect_clean();

	/* the host honours the guest's pending_send_sz: it signals when it frees that much */
	vmbus_sim_stall(&vs, relid, true);
	sent = 0;
	while (gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, sent, payload, 100) == 0)
		sent++;
	c.out.ctl->pending_send_sz = 1000;
	c.in.ctl->interrupt_mask = 1; /* the guest polls its ring: no data events, so only the space event comes */
	hv_synic_poll();
	unsigned ev = g.event[relid];
	vmbus_sim_stall(&vs, relid, false); /* drains: free goes from < 1000 to > 1000 */
	hv_synic_poll();
	assert_int_equal(g.event[relid], ev + 1);
	c.out.ctl->pending_send_sz = 0;
	c.in.ctl->interrupt_mask = 0;
	got = 0;
	while (grecv(&c, &p))
		got++;
	assert_int_equal(got, sent);

	/* a guest that reads but never gives the space signal is caught when it waits */
	sent = 0;
	while (gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, sent, payload, sizeof(payload)) == 0)
		sent++;
	assert_int_equal(ch->nbacklog, 1);
	uint32_t rd = c.in.ctl->read_index, w = c.in.ctl->write_index;
	c.in.ctl->read_index = w; /* consume everything, silently */
	(void)rd;
	hv_synic_poll();
	cpu_halt();
	expect_violation(VMBUS_SIM_RULE_SIGNAL);
	for (unsigned tries = 0; tries < 100 && (grecv(&c, &p) || ch->nbacklog); tries++)
		hv_synic_poll();
	assert_int_equal(ch->nbacklog, 0);
	assert_int_equal(grecv(&c, &p), 0);
	chan_close(&c);
	expect_clean();
}

/* A monitored channel signals through monitor page 2, seen on the next hypercall or time step. */
static void test_monitor_signal(void **state)
{
	(void)state;
	boot();
	struct vmbus_sim_device dev;
	vmbus_sim_device_init(&vs, &dev, VMBUS_SIM_ECHO_CLASS, "00000000-0000-0000-0000-000000000042");
	dev.echo = true;
	dev.monitor_allocated = true;
	dev.monitor_id = 70; /* group 2, bit 6 */
	uint32_t relid = vmbus_sim_add_device(&vs, &dev);
	connect(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	assert_true(c.monitor);
	struct gpkt p;
	uint32_t x = 1;
	assert_int_equal(gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, 5, &x, 4), 0);
	uint32_t *pending = (uint32_t *)(void *)(g.monitor2 + 8 + 2 * 8);
	assert_int_equal(*pending, 1u << 6);
	assert_int_equal(grecv(&c, &p), 0); /* not yet: the host polls */
	hv_sim_advance(&sim, 1);
	assert_int_equal(*pending, 0);       /* the host cleared it */
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(p.desc.trans_id, 5);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->monitor_signals, 1);
	/* the guest may still use HvSignalEvent on the offer's connection (Linux's low-latency mode) */
	c.monitor = false;
	assert_int_equal(gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, 6, &x, 4), 0);
	assert_int_equal(grecv(&c, &p), 1);
	c.monitor = true;
	/* a halt polls too */
	assert_int_equal(gsend(&c, VMBUS_PACKET_DATA_INBAND, 0, 7, &x, 4), 0);
	hv_synic_poll();
	cpu_halt();
	hv_synic_poll();
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(p.desc.trans_id, 7);
	chan_close(&c);
	expect_clean();
}

/* ---- bad guest rings and packets ---- */

/* Each bad descriptor or index breaks the channel for the host, with its violation. */
static void test_bad_guest_packets(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	struct gchan c;
	struct gpkt p;
	uint8_t buf[64];
	bool sig;
	struct {
		struct vmbus_packet_desc d;
		uint32_t len;
		int rule;
	} cases[] = {
		{ { .type = 6, .offset8 = 1, .len8 = 3 }, 24, VMBUS_SIM_RULE_PACKET },   /* offset8 < 2 */
		{ { .type = 6, .offset8 = 4, .len8 = 3 }, 24, VMBUS_SIM_RULE_PACKET },   /* offset8 > len8 */
		{ { .type = 6, .offset8 = 2, .len8 = 200 }, 24, VMBUS_SIM_RULE_PACKET }, /* len8 past the data */
		{ { .type = 0x42, .offset8 = 2, .len8 = 3 }, 24, VMBUS_SIM_RULE_PACKET }, /* unknown type */
		{ { .type = 7, .offset8 = 2, .len8 = 3 }, 24, VMBUS_SIM_RULE_PACKET },   /* a host-only type */
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		chan_open(&c, relid, 2, 2);
		memset(buf, 0, sizeof(buf));
		memcpy(buf, &cases[i].d, 16);
		assert_int_equal(gring_write(&c.out, buf, cases[i].len, &sig), 0);
		gsignal(&c);
		expect_violation(cases[i].rule);
		assert_true(vmbus_sim_channel(&vs, relid)->broken);
		assert_int_equal(grecv(&c, &p), 0);
		chan_close(&c);
	}
	/* a wrong trailer: recorded, the packet still served */
	chan_open(&c, relid, 2, 2);
	struct vmbus_packet_desc d = { .type = 6, .offset8 = 2, .len8 = 3, .trans_id = 3 };
	memcpy(buf, &d, 16);
	assert_int_equal(gring_write(&c.out, buf, 24, &sig), 0);
	uint64_t bad = 0x1234;
	gring_copy_in(&c.out, 24, &bad, 8);
	gsignal(&c);
	expect_violation(VMBUS_SIM_RULE_PACKET);
	assert_int_equal(grecv(&c, &p), 1);
	/* indices: not a multiple of 8, past the data, the host's own fields */
	c.out.ctl->write_index += 4;
	gsignal(&c);
	expect_violation(VMBUS_SIM_RULE_RING);
	chan_close(&c);
	chan_open(&c, relid, 2, 2);
	c.out.ctl->write_index = 2 * PG;
	gsignal(&c);
	expect_violation(VMBUS_SIM_RULE_RING);
	chan_close(&c);
	chan_open(&c, relid, 2, 2);
	c.out.ctl->read_index = 64; /* the host's field */
	c.out.ctl->write_index = 64;
	gsignal(&c);
	expect_violation(VMBUS_SIM_RULE_RING);
	chan_close(&c);
	chan_open(&c, relid, 2, 2);
	assert_int_equal(gsend(&c, 6, 0, 1, buf, 8), 0);
	assert_int_equal(grecv(&c, &p), 1);
	c.in.ctl->write_index = 0; /* the host's field of the other ring */
	assert_int_equal(gsend(&c, 6, 0, 2, buf, 8), 0);
	expect_violation(VMBUS_SIM_RULE_RING);
	assert_int_equal(grecv(&c, &p), 1); /* the host put its index back and wrote */
	c.in.ctl->read_index = 8; /* moved back behind data it read: past the write index from the old position */
	assert_int_equal(gsend(&c, 6, 0, 3, buf, 8), 0);
	expect_violation(VMBUS_SIM_RULE_RING);
	chan_close(&c);
	/* a completion nobody asked for; one the host asked for */
	chan_open(&c, relid, 2, 2);
	assert_int_equal(gsend(&c, VMBUS_PACKET_COMPLETION, 0, 0xdead, buf, 8), 0);
	expect_violation(VMBUS_SIM_RULE_PACKET);
	assert_int_equal(vmbus_sim_send(&vs, relid, 6, VMBUS_PACKET_FLAG_COMPLETION_REQUESTED, 0xbeef, "ask", 3), 0);
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(p.desc.flags, 1);
	assert_int_equal(gsend(&c, VMBUS_PACKET_COMPLETION, 0, 0xbeef, buf, 8), 0);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->completions, 1);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->nwanted, 0);
	chan_close(&c);
	expect_clean();
}

/* Host-side lies for the guest's tests: descriptors, raw bytes, indices, unknown types, stray completions. */
static void test_host_lies(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	struct vmbus_packet_desc d = { .type = 6, .offset8 = 2, .len8 = 1000, .trans_id = 1 };
	uint64_t pay = 0x1122334455667788ull;

	assert_int_equal(vmbus_sim_send_desc(&vs, relid, &d, &pay, 8), 0);
	struct vmbus_packet_desc seen;
	gring_copy_out(&c.in, 0, &seen, 16);
	assert_int_equal(seen.len8, 1000); /* as given: past the ring */
	assert_int_equal(c.in.ctl->write_index, 32);
	hv_synic_poll();
	assert_int_equal(g.event[relid], 1);
	c.in.ctl->read_index = 32; /* the guest skips it */
	d = (struct vmbus_packet_desc){ .type = 6, .offset8 = 5, .len8 = 3 };
	assert_int_equal(vmbus_sim_send_desc(&vs, relid, &d, &pay, 8), 0);
	gring_copy_out(&c.in, 32, &seen, 16);
	assert_int_equal(seen.offset8, 5);
	c.in.ctl->read_index = 64;
	d = (struct vmbus_packet_desc){ .type = 0x42, .offset8 = 1, .len8 = 3 };
	assert_int_equal(vmbus_sim_send_desc(&vs, relid, &d, &pay, 8), 0);
	c.in.ctl->read_index = 96;
	assert_int_equal(vmbus_sim_send(&vs, relid, VMBUS_PACKET_COMPLETION, 0, 0xfeed, &pay, 8), 0);
	struct gpkt p;
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(p.desc.type, VMBUS_PACKET_COMPLETION);
	assert_int_equal(p.desc.trans_id, 0xfeed);
	uint8_t raw[12] = { 1, 2, 3 };
	assert_int_equal(vmbus_sim_send_raw(&vs, relid, raw, sizeof(raw)), 0);
	assert_int_equal(c.in.ctl->write_index, 128 + 16); /* no trailer, padded to 8 */
	assert_int_equal(c.in.data[128], 1);
	vmbus_sim_set_write_index(&vs, relid, 12345);
	assert_int_equal(c.in.ctl->write_index, 12345);
	assert_int_equal(vmbus_sim_send(&vs, relid, 6, 0, 1, &pay, 8), -ENOTCONN); /* the host writes no more there */
	chan_close(&c);
	expect_clean();
}

/* ---- faults ---- */

/* Lost and spurious interrupts; VERSION_RESPONSE with a failed state; no answer at all. */
static void test_interrupt_faults(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	struct gpkt p;
	uint32_t x = 0;

	vs.fault.lost_interrupts = 1;
	assert_int_equal(gsend(&c, 6, 0, 1, &x, 4), 0);
	hv_synic_poll();
	assert_int_equal(g.event[relid], 0); /* the data is there, the interrupt is not */
	assert_int_equal(vmbus_sim_channel(&vs, relid)->events_lost, 1);
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(gsend(&c, 6, 0, 2, &x, 4), 0);
	hv_synic_poll();
	assert_int_equal(g.event[relid], 1);
	assert_int_equal(grecv(&c, &p), 1);
	assert_true(vmbus_sim_spurious(&vs, relid));
	hv_synic_poll();
	assert_int_equal(g.event[relid], 2);
	assert_int_equal(grecv(&c, &p), 0); /* nothing new */
	assert_int_equal(vmbus_sim_channel(&vs, relid)->events_spurious, 1);
	/* the guest masks interrupts (polling): data, no event */
	c.in.ctl->interrupt_mask = 1;
	assert_int_equal(gsend(&c, 6, 0, 3, &x, 4), 0);
	hv_synic_poll();
	assert_int_equal(g.event[relid], 2);
	assert_int_equal(grecv(&c, &p), 1);
	c.in.ctl->interrupt_mask = 0;
	chan_close(&c);
	/* an open that wants no interrupts gets none */
	unsigned ev = g.event[relid];
	chan_open_vp(&c, relid, VMBUS_VP_NO_INTERRUPTS);
	assert_int_equal(gsend(&c, 6, 0, 4, &x, 4), 0);
	hv_synic_poll();
	assert_int_equal(g.event[relid], ev);
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->events_suppressed, 1);
	/* and the guest may not write the host's pending_send_sz */
	c.in.ctl->pending_send_sz = 64;
	assert_int_equal(gsend(&c, 6, 0, 5, &x, 4), 0);
	expect_violation(VMBUS_SIM_RULE_RING);
	assert_int_equal(grecv(&c, &p), 1);
	chan_close(&c);

	/* the connection refused with connection_state 1, although the version is fine */
	vs.fault.contact_state = 1;
	struct vmbus_msg_version_response r;
	assert_true(contact(V(5, 3), &r));
	assert_int_equal(r.connection_state, 1);
	assert_false(vs.connected);
	vs.fault.contact_state = 0;
	/* no VERSION_RESPONSE at all: the host is connected, the guest does not know */
	vs.fault.drop_answers = 1u << VMBUS_MSG_VERSION_RESPONSE;
	send_contact(V(5, 3), 4);
	expect_no_msg();
	assert_true(vs.connected);
	vs.fault.drop_answers = 0;
	expect_clean();
}

/* Slow answers: the guest halts, time moves to the answer, the SINT wakes it. */
static void test_answer_delay(void **state)
{
	(void)state;
	boot();
	vmbus_sim_add_echo(&vs, 1);
	vs.fault.answer_delay = 5000000; /* 0.5 s */
	uint64_t t0 = hv_sim_now(&sim);
	send_contact(V(5, 3), 4);
	hv_synic_poll();
	assert_int_equal(g.nmsg, 0);
	assert_int_equal(vmbus_sim_outbox(&vs), 1);
	cpu_halt(); /* hv_sim moves time to the answer (hv_sim_at), as to a timer */
	hv_synic_poll();
	assert_int_equal(g.nmsg, 1);
	assert_true(hv_sim_now(&sim) >= t0 + 5000000);
	assert_true(hv_sim_now(&sim) < t0 + 5000000 + 10000);
	g.conn = 0x800074;
	/* a burst keeps its order: offers, then ALLOFFERS, each late */
	struct vmbus_msg_header h = { .type = VMBUS_MSG_REQUESTOFFERS };
	gpost(&h, sizeof(h));
	assert_int_equal(vmbus_sim_outbox(&vs), 2);
	cpu_halt();
	hv_synic_poll();
	assert_int_equal(u32at(g.msg[1].payload), VMBUS_MSG_OFFERCHANNEL);
	assert_int_equal(u32at(g.msg[2].payload), VMBUS_MSG_ALLOFFERS_DELIVERED);
	vs.fault.answer_delay = 0;
	expect_clean();
}

/* More host messages than the SINT queue holds: the outbox drains as the guest takes them. */
static void test_outbox_and_busy_queue(void **state)
{
	(void)state;
	boot();
	for (unsigned i = 0; i < 40; i++)
		vmbus_sim_add_echo(&vs, i);
	assert_true(contact(V(5, 3), NULL));
	/* the host's message queue refuses posts for a while: hv/ retries */
	sim.fault.post_busy = 3;
	struct vmbus_msg_header h = { .type = VMBUS_MSG_REQUESTOFFERS };
	gpost(&h, sizeof(h));
	assert_int_equal(sim.fault.post_busy, 0);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_REQUESTOFFERS), 1); /* the refused posts never reached it */
	assert_int_equal(sim.nposted - 1, 4);                                   /* 3 refused, then taken */
	/* 33 fit hv_sim's SINT queue and slot; the rest wait in the host's outbox */
	assert_int_equal(vmbus_sim_outbox(&vs), 41 - 1 - HV_SIM_QUEUE_MAX);
	for (;;) {
		const struct hv_message *m = next_msg();
		assert_non_null(m);
		if (u32at(m->payload) == VMBUS_MSG_ALLOFFERS_DELIVERED)
			break;
		memcpy(&g.offer[g.noffers++], m->payload, sizeof(g.offer[0]));
	}
	assert_int_equal(g.noffers, 40);
	assert_int_equal(vmbus_sim_outbox(&vs), 0);
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(g.offer[i].child_relid, i + 1);
	expect_clean();
}

/* Offer order and hot-add. */
static void test_offer_order_hot_add(void **state)
{
	(void)state;
	vcfg.offer_order = VMBUS_SIM_ORDER_REVERSE;
	boot();
	struct vmbus_sim_device dev;
	vmbus_sim_device_init(&vs, &dev, VMBUS_SIM_ECHO_CLASS, "00000000-0000-0000-0000-000000000001");
	dev.relid = 9;
	vmbus_sim_add_device(&vs, &dev);
	vmbus_sim_add_echo(&vs, 2); /* relid 1 */
	vmbus_sim_add_echo(&vs, 3); /* relid 2 */
	connect(V(5, 3));
	assert_int_equal(g.offer[0].child_relid, 9);
	assert_int_equal(g.offer[1].child_relid, 2);
	assert_int_equal(g.offer[2].child_relid, 1);
	/* a device added now is offered at once */
	uint32_t hot = vmbus_sim_add_echo(&vs, 4);
	assert_int_equal(hot, 3);
	const struct hv_message *m = expect_msg(VMBUS_MSG_OFFERCHANNEL);
	assert_int_equal(u32at(m->payload + offsetof(struct vmbus_msg_offer, child_relid)), 3);
	/* a sub-channel of relid 1 */
	vmbus_sim_device_init(&vs, &dev, VMBUS_SIM_ECHO_CLASS, "6876d3a1-2c5e-4f0b-9d47-000000000002");
	dev.sub_channel_index = 1;
	dev.echo = true;
	uint32_t sub = vmbus_sim_add_device(&vs, &dev);
	m = expect_msg(VMBUS_MSG_OFFERCHANNEL);
	assert_int_equal(u32at(m->payload + offsetof(struct vmbus_msg_offer, child_relid)), sub);
	assert_int_equal(m->payload[offsetof(struct vmbus_msg_offer, sub_channel_index)], 1);
	expect_clean();
}

/* Rescind: the guest closes, tears down, releases; the rules of RELID_RELEASED. */
static void test_rescind(void **state)
{
	(void)state;
	boot();
	uint32_t a = vmbus_sim_add_echo(&vs, 1), b = vmbus_sim_add_echo(&vs, 2);
	connect(V(5, 3));
	struct gchan ca, cb;
	chan_open(&ca, a, 2, 2);
	chan_open(&cb, b, 2, 2);
	struct gpkt p;
	uint32_t x = 0;

	/* RELID_RELEASED without a rescind */
	struct vmbus_msg_relid rel = { .header.type = VMBUS_MSG_RELID_RELEASED, .child_relid = a };
	gpost(&rel, sizeof(rel));
	expect_violation(VMBUS_SIM_RULE_RESCIND);
	/* rescind while open: the host stops serving at once */
	vmbus_sim_rescind(&vs, a);
	const struct hv_message *m = expect_msg(VMBUS_MSG_RESCIND_CHANNELOFFER);
	assert_int_equal(m->payload_size, 12);
	assert_int_equal(u32at(m->payload + 8), a);
	assert_int_equal(gsend(&ca, 6, 0, 1, &x, 4), 0);
	assert_int_equal(grecv(&ca, &p), 0);
	send_open(a, ca.gpadl, 2, 0); /* an open racing the rescind: refused, no violation */
	open_result(a, a + 100, vcfg.open_fail_status);
	chan_close(&ca);
	gpost(&rel, sizeof(rel));
	assert_null(vmbus_sim_channel(&vs, a));
	assert_int_equal(vs.releases, 1);
	assert_int_equal(vs.last_released, a);
	uint16_t st;
	assert_int_equal(hv_signal_event(ca.conn, 0, &st), -ENOTCONN); /* its connection is gone */
	expect_clean();
	/* the relid can be reused */
	assert_int_equal(vmbus_sim_add_echo(&vs, 9), a);
	expect_msg(VMBUS_MSG_OFFERCHANNEL);
	/* released while open and with a GPADL left */
	vmbus_sim_rescind(&vs, b);
	expect_msg(VMBUS_MSG_RESCIND_CHANNELOFFER);
	rel.child_relid = b;
	gpost(&rel, sizeof(rel));
	assert_int_equal(vmbus_sim_violations(&vs, VMBUS_SIM_RULE_RESCIND), 2);
	vmbus_sim_clear_violations(&vs);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	hvrt_page_free(cb.pages, cb.npages);
	/* a device not offered yet just goes */
	vmbus_sim_add_echo(&vs, 10);
	expect_msg(VMBUS_MSG_OFFERCHANNEL);
	expect_clean();
}

/* The guest frees pages the host holds: a violation, and the host lets go of them. */
static void test_page_freed_early(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	hvrt_page_free(c.pages, c.npages);
	expect_violation(VMBUS_SIM_RULE_MEMORY);
	assert_true(vmbus_sim_channel(&vs, relid)->broken);
	assert_true(vmbus_sim_find_gpadl(&vs, c.gpadl)->gone);
	uint16_t st;
	assert_int_equal(hv_signal_event(c.conn, 0, &st), 0); /* the host does not touch the freed ring */
	send_close(relid);
	gpadl_teardown(relid, c.gpadl);
	hvrt_page_free(g.monitor2, 1);
	expect_violation(VMBUS_SIM_RULE_MEMORY);
	assert_int_equal(vs.monitor_page2, 0);
	g.monitor2 = NULL;
	expect_clean();
}

static unsigned trace_msgs[2], trace_pkts[2], trace_sigs[2];

static void trace_cb(void *ctx, unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	(void)ctx;
	(void)relid;
	(void)bytes;
	(void)len;
	assert_true(dir <= VMBUS_SIM_TO_GUEST);
	if (kind == VMBUS_SIM_TRACE_MESSAGE)
		trace_msgs[dir]++;
	else if (kind == VMBUS_SIM_TRACE_PACKET)
		trace_pkts[dir]++;
	else
		trace_sigs[dir]++;
}

/* The trace hook sees every message, packet and signal both ways; the log matches. */
static void test_trace(void **state)
{
	(void)state;
	boot();
	memset(trace_msgs, 0, sizeof(trace_msgs));
	memset(trace_pkts, 0, sizeof(trace_pkts));
	memset(trace_sigs, 0, sizeof(trace_sigs));
	vs.trace = trace_cb;
	uint32_t relid = vmbus_sim_add_echo(&vs, 1);
	connect(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	struct gpkt p;
	assert_int_equal(gsend(&c, 6, 0, 1, "abc", 3), 0);
	assert_int_equal(grecv(&c, &p), 1);
	chan_close(&c);
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);
	unsigned to_guest = 0;
	for (size_t i = 0; i < n; i++)
		to_guest += log[i].to_guest;
	assert_int_equal(trace_msgs[VMBUS_SIM_TO_GUEST], to_guest);
	assert_int_equal(trace_msgs[VMBUS_SIM_TO_HOST], n - to_guest);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_CLOSECHANNEL), 1);
	assert_int_equal(trace_pkts[0], 1);
	assert_int_equal(trace_pkts[1], 1);
	assert_int_equal(trace_sigs[0], 1);
	assert_int_equal(trace_sigs[1], 1);
	expect_clean();
}

/* 0.13 on Hyper-V: 190-byte offers, signals on connection 2 through the interrupt page both ways; no UNLOAD_RESPONSE. */
static void test_old_versions(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(0, 13));
	assert_int_equal(g.offer_size[0], 190);
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	assert_int_equal(vmbus_sim_channel(&vs, relid)->connection_id, VMBUS_EVENT_CONNECTION);
	c.conn = VMBUS_EVENT_CONNECTION;
	struct gpkt p;
	uint32_t x = 0;
	/* the guest sets its relid bit in the guest->host half, then signals connection 2 */
	g.intpage[VMBUS_INTERRUPT_PAGE_HALF + relid / 8] |= (uint8_t)(1u << (relid % 8));
	assert_int_equal(gsend(&c, 6, 0, 1, &x, 4), 0);
	assert_int_equal(g.intpage[VMBUS_INTERRUPT_PAGE_HALF + relid / 8], 0); /* the host took it */
	hv_synic_poll();
	assert_int_equal(g.event[0], 1); /* below 2.4: flag 0 ... */
	assert_int_equal(g.event[relid], 0);
	assert_true(g.intpage[relid / 8] & (1u << (relid % 8))); /* ... and the relid in the host->guest half */
	assert_int_equal(grecv(&c, &p), 1);
	/* without the bit the host cannot tell which channel: a stray signal, nothing served */
	assert_int_equal(gsend(&c, 6, 0, 2, &x, 4), 0);
	assert_int_equal(grecv(&c, &p), 0);
	assert_int_equal(vs.stray_signals, 1);
	g.intpage[VMBUS_INTERRUPT_PAGE_HALF + relid / 8] |= (uint8_t)(1u << (relid % 8));
	gsignal(&c);
	assert_int_equal(grecv(&c, &p), 1);
	chan_close(&c);
	struct vmbus_msg_header u = { .type = VMBUS_MSG_UNLOAD };
	gpost(&u, sizeof(u));
	expect_no_msg(); /* UNLOAD_RESPONSE is 1.1+ */
	assert_int_equal(vs.unloads, 1);
	/* 1.1 on QEMU's rules: 200-byte offers with a connection id, dedicated: signals there work */
	expect_clean();
}

/* QEMU: an echo channel end to end at 4.0 and at 2.4, and UNLOAD with things left open (counted, not failed). */
static void test_qemu_channel_and_unload(void **state)
{
	(void)state;
	vmbus_sim_config_qemu(&vcfg);
	uint32_t relid = up_with_echo(V(4, 0));
	struct gchan c;
	chan_open(&c, relid, 4, 4);
	assert_int_equal(c.conn, 16 + relid);
	struct gpkt p;
	for (unsigned i = 0; i < 50; i++) {
		assert_int_equal(gsend(&c, 6, i % 2, i, &i, 4), 0);
		assert_int_equal(grecv(&c, &p), 1);
		assert_int_equal(p.desc.type, i % 2 ? VMBUS_PACKET_COMPLETION : VMBUS_PACKET_DATA_INBAND);
	}
	assert_int_equal(vmbus_sim_open_channels(&vs), 1);
	assert_int_equal(vmbus_sim_gpadls(&vs), 1);
	struct vmbus_msg_header u = { .type = VMBUS_MSG_UNLOAD };
	gpost(&u, sizeof(u));
	expect_msg(VMBUS_MSG_UNLOAD_RESPONSE);
	assert_int_equal(vs.reset_open, 1);
	assert_int_equal(vs.reset_gpadls, 1);
	assert_int_equal(vmbus_sim_open_channels(&vs), 0);
	hvrt_page_free(c.pages, c.npages);
	/* again at 2.4: events by relid, the dedicated connection */
	g.noffers = 0;
	connect(V(2, 4));
	chan_open(&c, relid, 2, 2);
	hv_synic_poll();
	unsigned ev = g.event[relid];
	assert_int_equal(gsend(&c, 6, 0, 1, "x", 1), 0);
	hv_synic_poll();
	assert_int_equal(g.event[relid], ev + 1);
	assert_int_equal(grecv(&c, &p), 1);
	chan_close(&c);
	expect_clean();
}

/* QEMU's pending_send_sz bugs: free == pending is "not blocked"; emptying the ring in one batch signals nothing. */
static void test_qemu_space_bugs(void **state)
{
	(void)state;
	vmbus_sim_config_qemu(&vcfg);
	uint32_t relid = up_with_echo(V(4, 0));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	struct gpkt p;
	uint8_t payload[100];

	memset(payload, 1, sizeof(payload));
	c.in.ctl->interrupt_mask = 1; /* no data events: only space events would show */
	hv_synic_poll();
	unsigned ev = g.event[relid];
	vmbus_sim_stall(&vs, relid, true);
	unsigned sent = 0;
	while (gsend(&c, 6, 0, sent, payload, sizeof(payload)) == 0)
		sent++;
	c.out.ctl->pending_send_sz = 1000;
	vmbus_sim_stall(&vs, relid, false); /* the batch empties the ring: QEMU does not signal */
	hv_synic_poll();
	assert_int_equal(g.event[relid], ev);
	while (grecv(&c, &p))
		;
	c.out.ctl->pending_send_sz = 0;
	chan_close(&c);

	/* free == pending_send_sz: QEMU counts it as not blocked. A batch that stops early (the echoes back up). */
	for (int bugs = 1; bugs >= 0; bugs--) {
		vs.cfg.space_bugs = bugs;
		chan_open(&c, relid, 4, 2); /* 12 KiB up, 4 KiB down: 3 echoes of 1024 fit */
		c.in.ctl->interrupt_mask = 1;
		hv_synic_poll();
		ev = g.event[relid];
		uint8_t big[1000];
		memset(big, 2, sizeof(big));
		vmbus_sim_stall(&vs, relid, true);
		sent = 0;
		while (gsend(&c, 6, 0, sent, big, sizeof(big)) == 0)
			sent++;
		assert_int_equal(sent, 11);
		uint64_t before = vmbus_sim_channel(&vs, relid)->packets_in;
		uint32_t free_now = c.out.size - gring_used(&c.out, c.out.ctl->write_index, c.out.ctl->read_index);
		c.out.ctl->pending_send_sz = free_now;
		vmbus_sim_stall(&vs, relid, false); /* reads 4 (3 echoed, 1 waits), ring not empty */
		hv_synic_poll();
		assert_int_equal(vmbus_sim_channel(&vs, relid)->packets_in, before + 4);
		assert_int_equal(g.event[relid], ev + (bugs ? 0 : 1));
		c.out.ctl->pending_send_sz = 0;
		c.in.ctl->interrupt_mask = 0;
		for (unsigned tries = 0; tries < 100 && (grecv(&c, &p) || vmbus_sim_channel(&vs, relid)->nbacklog); tries++)
			hv_synic_poll();
		chan_close(&c);
	}
	expect_clean();
}

/* ---- a device of the test's own ---- */

struct kv_dev {
	unsigned packets, opened, closed, released;
	uint64_t last_trans;
};

static void kv_packet(void *ctx, struct vmbus_sim *v, uint32_t relid, const struct vmbus_sim_packet *pkt)
{
	struct kv_dev *d = ctx;
	d->packets++;
	d->last_trans = pkt->desc.trans_id;
	if (pkt->desc.type == VMBUS_PACKET_DATA_INBAND) {
		uint32_t in = u32at(pkt->data + pkt->payload_offset), out = in * 3;
		assert_int_equal(vmbus_sim_send(v, relid, VMBUS_PACKET_COMPLETION, 0, pkt->desc.trans_id, &out, 4), 0);
	}
}

static void kv_event(void *ctx, struct vmbus_sim *v, uint32_t relid, enum vmbus_sim_event ev)
{
	struct kv_dev *d = ctx;
	(void)v;
	(void)relid;
	if (ev == VMBUS_SIM_OPENED) {
		d->opened++;
		/* a device that talks first, with a request the guest must complete */
		assert_int_equal(vmbus_sim_send(v, relid, 6, VMBUS_PACKET_FLAG_COMPLETION_REQUESTED, 0x77, "hi", 2), 0);
	} else if (ev == VMBUS_SIM_CLOSED) {
		d->closed++;
	} else {
		d->released++;
	}
}

static void test_custom_device(void **state)
{
	(void)state;
	boot();
	static struct kv_dev kv;
	memset(&kv, 0, sizeof(kv));
	struct vmbus_sim_device dev;
	vmbus_sim_device_init(&vs, &dev, "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6", "242ff919-07db-4180-9c2e-b86cb68c8c55");
	dev.packet = kv_packet;
	dev.event = kv_event;
	dev.ctx = &kv;
	uint32_t relid = vmbus_sim_add_device(&vs, &dev);
	connect(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	assert_int_equal(kv.opened, 1);
	struct gpkt p;
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(p.desc.trans_id, 0x77);
	assert_int_equal(gsend(&c, VMBUS_PACKET_COMPLETION, 0, 0x77, "ok", 2), 0);
	uint32_t q = 14;
	assert_int_equal(gsend(&c, 6, 0, 5, &q, 4), 0);
	assert_int_equal(grecv(&c, &p), 1);
	assert_int_equal(u32at(p.data + 16), 42);
	assert_int_equal(kv.packets, 2);
	chan_close(&c);
	assert_int_equal(kv.closed, 1);
	vmbus_sim_rescind(&vs, relid);
	expect_msg(VMBUS_MSG_RESCIND_CHANNELOFFER);
	struct vmbus_msg_relid rel = { .header.type = VMBUS_MSG_RELID_RELEASED, .child_relid = relid };
	gpost(&rel, sizeof(rel));
	assert_int_equal(kv.released, 1);
	expect_clean();
}

/* ---- garbage: whatever the guest sends, the sim records and survives (ASan watches) ---- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)rnd_state;
}

static void test_garbage(void **state)
{
	(void)state;
	uint32_t relid = up_with_echo(V(5, 3));
	struct gchan c;
	chan_open(&c, relid, 2, 2);
	uint8_t m[VMBUS_MESSAGE_MAX];

	/* random messages of every type the guest may send, with random sizes and fields */
	static const uint32_t types[] = { 3, 5, 7, 8, 9, 11, 13, 16, 21, 22 };
	for (unsigned i = 0; i < 3000; i++) {
		uint32_t size = 8 + rnd() % (VMBUS_MESSAGE_MAX - 7);
		for (uint32_t k = 0; k < size; k++)
			m[k] = (uint8_t)rnd();
		uint32_t t = types[rnd() % (sizeof(types) / sizeof(types[0]))];
		if (t == 16 || t == 7 || t == 13)
			continue; /* those that would end the connection or channel are tried below */
		memcpy(m, &t, 4);
		memset(m + 4, 0, 4);
		if (rnd() % 2) { /* point at the real relid and GPADL now and then */
			memcpy(m + 8, &relid, 4);
			if (rnd() % 2)
				memcpy(m + 12, &c.gpadl, 4);
		}
		if (t == 8 && rnd() % 2) { /* a header that looks sane, with random PFNs */
			uint16_t buflen = (uint16_t)(8 * (2 + rnd() % 40)), count = (uint16_t)(1 + rnd() % 3);
			memcpy(m + 16, &buflen, 2);
			memcpy(m + 18, &count, 2);
		}
		gpost(m, size);
		while (next_msg())
			;
	}
	assert_true(vmbus_sim_violations(&vs, -1) > 1000); /* about one per message: nearly all are wrong */
	assert_true(vs.nlog > 2000);
	vmbus_sim_clear_violations(&vs);
	/* the channel may be broken or closed by now; start a fresh one */
	if (vmbus_sim_channel(&vs, relid)->open)
		send_close(relid);
	while (vmbus_sim_gpadls(&vs)) {
		struct vmbus_msg_gpadl_teardown t = { .header.type = VMBUS_MSG_GPADL_TEARDOWN, .child_relid =
							     vs.gpadl[0].child_relid, .gpadl = vs.gpadl[0].handle };
		gpost(&t, sizeof(t));
	}
	while (next_msg())
		;
	hvrt_page_free(c.pages, c.npages);
	vmbus_sim_clear_violations(&vs);

	/* random bytes and indices in the guest->host ring */
	for (unsigned i = 0; i < 300; i++) {
		chan_open(&c, relid, 2, 2);
		for (uint32_t k = 0; k < c.out.size; k++)
			c.out.data[k] = (uint8_t)rnd();
		if (rnd() % 4 == 0) { /* a plausible descriptor */
			struct vmbus_packet_desc d = { .type = (uint16_t)(rnd() % 12), .offset8 = (uint16_t)(rnd() % 8),
						       .len8 = (uint16_t)(rnd() % 40), .flags = (uint16_t)rnd(),
						       .trans_id = rnd() };
			memcpy(c.out.data, &d, 16);
			if (d.type == 9) {
				uint32_t cnt = rnd() % 4;
				memcpy(c.out.data + 20, &cnt, 4);
			}
		}
		c.out.ctl->write_index = rnd() % 3 ? (rnd() % c.out.size) & ~7u : rnd();
		gsignal(&c);
		hv_synic_poll();
		struct gpkt p;
		while (grecv(&c, &p))
			;
		send_close(relid);
		gpadl_teardown(relid, c.gpadl);
		hvrt_page_free(c.pages, c.npages);
		vmbus_sim_clear_violations(&vs);
	}
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_hv_sim_hooks),
		VT(test_negotiate_hyperv),
		VT(test_negotiate_qemu),
		VT(test_negotiate_fallback),
		VT(test_contact_rules),
		VT(test_message_rules),
		VT(test_modify_and_tl),
		VT(test_gpadl_sizes),
		VT(test_gpadl_rules),
		VT(test_gpadl_qemu_and_faults),
		VT(test_open_rules),
		VT(test_echo_inband),
		VT(test_echo_gpa_direct),
		VT(test_signal_rules),
		VT(test_ring_full),
		VT(test_monitor_signal),
		VT(test_bad_guest_packets),
		VT(test_host_lies),
		VT(test_interrupt_faults),
		VT(test_answer_delay),
		VT(test_outbox_and_busy_queue),
		VT(test_offer_order_hot_add),
		VT(test_rescind),
		VT(test_page_freed_early),
		VT(test_trace),
		VT(test_old_versions),
		VT(test_qemu_channel_and_unload),
		VT(test_qemu_space_bugs),
		VT(test_custom_device),
		VT(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
