/*
 * The simulated VMBus host: control messages, GPADLs, channels, the host
 * side of the rings, devices and faults. What it models and why:
 * tests/hostsim/vmbus_sim.h.
 */
#include "tests/hostsim/vmbus_sim.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VS_MAGIC 0x53554256u /* "VBUS" */
#define PAGE 4096u
#define HDR sizeof(struct vmbus_msg_header)
#define GPADL_HEADER_RANGE_MAX 216u /* range bytes a GPADL_HEADER holds: 27 u64 in 240 - 20 */
#define MAX_PFN (1ull << 40)        /* 52-bit guest physical addresses */
#define STATUS_CONNECTION_REFUSED 0xc0000236u

static const uint32_t known_versions[] = {
	VMBUS_VERSION_0_13, VMBUS_VERSION_1_1, VMBUS_VERSION_2_4, VMBUS_VERSION_3_0, VMBUS_VERSION_4_0,
	VMBUS_VERSION_4_1,  VMBUS_VERSION_5_0, VMBUS_VERSION_5_1, VMBUS_VERSION_5_2, VMBUS_VERSION_5_3,
};

/* ---- configuration ---- */

static void config_common(struct vmbus_sim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ring_min_pages = 2;
	cfg->max_relid = VMBUS_RELID_MAX;
	cfg->offer_order = VMBUS_SIM_ORDER_ADDED;
	cfg->unneeded_signals = 2;
	cfg->unneeded_signals_pct = 1;
}

void vmbus_sim_config_qemu(struct vmbus_sim_config *cfg)
{
	config_common(cfg);
	cfg->name = "QEMU 7.2";
	cfg->highest_version = VMBUS_VERSION_4_0;
	cfg->connection4 = false;
	cfg->msg_connection_id = VMBUS_MESSAGE_CONNECTION;
	cfg->conn_id_base = 16;
	cfg->conn_id_sint = false;
	cfg->dedicated_default = true;
	cfg->offer_size = 200;
	cfg->offer_size_v1 = 200;
	cfg->version_response_size = 12;
	cfg->version_response_version = false;
	cfg->open_fail_status = 1;
	cfg->gpadl_fail_status = 1; /* QEMU never fails one; the fault uses this */
	cfg->gpadl_simple_only = true;
	cfg->host_trailers = false;
	cfg->space_bugs = true;
}

void vmbus_sim_config_hyperv(struct vmbus_sim_config *cfg)
{
	config_common(cfg);
	cfg->name = "Hyper-V";
	cfg->highest_version = VMBUS_VERSION_5_3;
	cfg->connection4 = true;
	cfg->msg_connection_id = 0x800074u; /* OVMM/MSVM VMBUS_MESSAGE_REDIRECT_CONNECTION_ID */
	cfg->conn_id_base = 0;
	cfg->conn_id_sint = true;
	cfg->dedicated_default = false;
	cfg->offer_size = sizeof(struct vmbus_msg_offer);
	cfg->offer_size_v1 = VMBUS_OFFER_SIZE_V1;
	cfg->version_response_size = sizeof(struct vmbus_msg_version_response);
	cfg->version_response_version = true;
	cfg->open_fail_status = 0x8000ffffu; /* OVMM STATUS_UNSUCCESSFUL */
	cfg->gpadl_fail_status = 0x8000ffffu;
	cfg->gpadl_simple_only = false;
	cfg->host_trailers = true;
	cfg->space_bugs = false;
}

/* ---- small helpers ---- */

static const char *msg_name(uint32_t type)
{
	static const char *const names[] = {
		"INVALID", "OFFERCHANNEL", "RESCIND_CHANNELOFFER", "REQUESTOFFERS", "ALLOFFERS_DELIVERED",
		"OPENCHANNEL", "OPENCHANNEL_RESULT", "CLOSECHANNEL", "GPADL_HEADER", "GPADL_BODY", "GPADL_CREATED",
		"GPADL_TEARDOWN", "GPADL_TORNDOWN", "RELID_RELEASED", "INITIATE_CONTACT", "VERSION_RESPONSE",
		"UNLOAD", "UNLOAD_RESPONSE", "OPEN_RESERVED_CHANNEL", "CLOSE_RESERVED_CHANNEL",
		"CLOSE_RESERVED_RESPONSE", "TL_CONNECT_REQUEST", "MODIFYCHANNEL", "TL_CONNECT_RESULT",
		"MODIFYCHANNEL_RESPONSE",
	};
	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint32_t pad8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

static bool version_known(uint32_t v)
{
	for (size_t i = 0; i < sizeof(known_versions) / sizeof(known_versions[0]); i++)
		if (known_versions[i] == v)
			return true;
	return false;
}

static __attribute__((format(printf, 3, 4))) void violation(struct vmbus_sim *vs, enum vmbus_sim_rule rule,
							     const char *fmt, ...)
{
	va_list ap;

	vs->by_rule[rule]++;
	if (vs->nviolations < VMBUS_SIM_VIOLATIONS) {
		struct vmbus_sim_violation *v = &vs->violation[vs->nviolations];
		v->rule = rule;
		v->time = hv_sim_now(vs->sim);
		va_start(ap, fmt);
		vsnprintf(v->text, sizeof(v->text), fmt, ap);
		va_end(ap);
	}
	vs->nviolations++;
}

static const char *const rule_names[VMBUS_SIM_RULE_COUNT] = {
	"message", "connection", "order", "version", "contact", "relid", "gpadl",
	"open", "ring", "packet", "signal", "memory", "rescind",
};

unsigned vmbus_sim_violations(const struct vmbus_sim *vs, int rule)
{
	if (rule < 0)
		return vs->nviolations;
	return rule < VMBUS_SIM_RULE_COUNT ? vs->by_rule[rule] : 0;
}

void vmbus_sim_clear_violations(struct vmbus_sim *vs)
{
	vs->nviolations = 0;
	memset(vs->by_rule, 0, sizeof(vs->by_rule));
}

void vmbus_sim_print_violations(const struct vmbus_sim *vs)
{
	unsigned kept = vs->nviolations < VMBUS_SIM_VIOLATIONS ? vs->nviolations : VMBUS_SIM_VIOLATIONS;

	for (unsigned i = 0; i < kept; i++)
		print_error("vmbus_sim (%s): violation [%s] at %llu: %s\n", vs->cfg.name ? vs->cfg.name : "?",
			    rule_names[vs->violation[i].rule], (unsigned long long)vs->violation[i].time,
			    vs->violation[i].text);
	if (vs->nviolations > kept)
		print_error("vmbus_sim: ... and %u more violations\n", vs->nviolations - kept);
}

bool vmbus_sim_guid(const char *t, struct vmbus_guid *g)
{
	uint8_t raw[16];
	unsigned n = 0;

	for (const char *p = t; *p && n < 32; p++) {
		if (*p == '-')
			continue;
		int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
			: (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
		if (d < 0)
			return false;
		if (n % 2 == 0)
			raw[n / 2] = (uint8_t)(d << 4);
		else
			raw[n / 2] |= (uint8_t)d;
		n++;
	}
	if (n != 32 || strlen(t) != 36)
		return false;
	/* facts 2.11: the first three fields little-endian, the last 8 bytes in order */
	static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	for (unsigned i = 0; i < 16; i++)
		g->bytes[i] = raw[order[i]];
	return true;
}

/* ---- the trace point: every message, packet and signal passes here ---- */

static void msg_ids(uint32_t type, const uint8_t *b, size_t len, uint32_t *relid, uint32_t *gpadl)
{
	*relid = *gpadl = 0;
	switch (type) {
	case VMBUS_MSG_OFFERCHANNEL:
		if (len >= offsetof(struct vmbus_msg_offer, child_relid) + 4)
			*relid = rd32(b + offsetof(struct vmbus_msg_offer, child_relid));
		return;
	case VMBUS_MSG_RESCIND_CHANNELOFFER:
	case VMBUS_MSG_OPENCHANNEL:
	case VMBUS_MSG_OPENCHANNEL_RESULT:
	case VMBUS_MSG_CLOSECHANNEL:
	case VMBUS_MSG_RELID_RELEASED:
	case VMBUS_MSG_MODIFYCHANNEL:
	case VMBUS_MSG_MODIFYCHANNEL_RESPONSE:
		if (len >= 12)
			*relid = rd32(b + 8);
		if (type == VMBUS_MSG_OPENCHANNEL && len >= 20)
			*gpadl = rd32(b + 16);
		return;
	case VMBUS_MSG_GPADL_HEADER:
	case VMBUS_MSG_GPADL_CREATED:
	case VMBUS_MSG_GPADL_TEARDOWN:
		if (len >= 16) {
			*relid = rd32(b + 8);
			*gpadl = rd32(b + 12);
		}
		return;
	case VMBUS_MSG_GPADL_BODY:
		if (len >= 16)
			*gpadl = rd32(b + 12);
		return;
	case VMBUS_MSG_GPADL_TORNDOWN:
		if (len >= 12)
			*gpadl = rd32(b + 8);
		return;
	default:
		return;
	}
}

static void sim_trace(struct vmbus_sim *vs, unsigned dir, unsigned kind, uint32_t relid, const void *bytes,
		      size_t len, uint32_t connection)
{
	if (kind == VMBUS_SIM_TRACE_MESSAGE) {
		if (vs->nlog == vs->log_cap) {
			size_t cap = vs->log_cap ? vs->log_cap * 2 : 128;
			struct vmbus_sim_msg *l = realloc(vs->log, cap * sizeof(*l));
			if (!l)
				fail_msg("vmbus_sim: out of memory for the message log");
			vs->log = l;
			vs->log_cap = cap;
		}
		struct vmbus_sim_msg *m = &vs->log[vs->nlog++];
		*m = (struct vmbus_sim_msg){
			.to_guest = dir == VMBUS_SIM_TO_GUEST, .size = (uint32_t)len, .connection = connection,
			.time = hv_sim_now(vs->sim),
		};
		m->type = len >= 4 ? rd32(bytes) : 0;
		msg_ids(m->type, bytes, len, &m->relid, &m->gpadl);
	}
	if (vs->trace)
		vs->trace(vs->trace_ctx, dir, kind, relid, bytes, len);
}

/* ---- host -> guest messages: the outbox ---- */

static void outbox_timer(void *ctx, struct hv_sim *sim);

/*
 * A late head message wakes a halted guest when it is due. One that is due
 * but finds the SINT queue full waits for the guest's EOM (or the next step)
 * instead: a timer for it would fire again at once, for ever.
 */
static void arm_outbox_timer(struct vmbus_sim *vs)
{
	if (vs->timer_armed || !vs->nout || vs->outbox[0].due <= hv_sim_now(vs->sim))
		return;
	if (!hv_sim_at(vs->sim, vs->outbox[0].due, outbox_timer, vs))
		fail_msg("vmbus_sim: no timed callback slot left in hv_sim");
	vs->timer_armed = true;
}

/* Posts what is due, in order, as long as the SINT queue takes it. */
static void outbox_flush(struct vmbus_sim *vs)
{
	while (vs->nout) {
		struct vmbus_sim_outmsg *m = &vs->outbox[0];
		if (m->due > hv_sim_now(vs->sim))
			break;
		if (!hv_sim_post(vs->sim, m->sint, VMBUS_MESSAGE_TYPE, m->bytes, m->len))
			break; /* the SINT queue is full: again after the next EOM or step */
		uint32_t relid, gpadl;
		msg_ids(rd32(m->bytes), m->bytes, m->len, &relid, &gpadl);
		sim_trace(vs, VMBUS_SIM_TO_GUEST, VMBUS_SIM_TRACE_MESSAGE, relid, m->bytes, m->len, 0);
		vs->nout--;
		memmove(&vs->outbox[0], &vs->outbox[1], vs->nout * sizeof(*m));
	}
	arm_outbox_timer(vs);
}

static void outbox_timer(void *ctx, struct hv_sim *sim)
{
	struct vmbus_sim *vs = ctx;
	(void)sim;
	vs->timer_armed = false;
	outbox_flush(vs);
}

static void send_msg(struct vmbus_sim *vs, const void *msg, size_t len)
{
	uint32_t type = rd32(msg);

	if (len > VMBUS_MESSAGE_MAX)
		fail_msg("vmbus_sim: a %zu-byte %s", len, msg_name(type));
	if (type < 32 && (vs->fault.drop_answers & (1u << type)))
		return;
	if (vs->nout >= VMBUS_SIM_OUTBOX)
		fail_msg("vmbus_sim: %u host messages wait and the guest takes none", vs->nout);
	struct vmbus_sim_outmsg *m = &vs->outbox[vs->nout++];
	memset(m, 0, sizeof(*m));
	m->due = hv_sim_now(vs->sim) + vs->fault.answer_delay;
	m->sint = vs->sint;
	m->len = (uint32_t)len;
	memcpy(m->bytes, msg, len);
	if (vs->edit) {
		vs->edit(vs->edit_ctx, vs, m->bytes, &m->len);
		if (m->len > VMBUS_MESSAGE_MAX)
			fail_msg("vmbus_sim: the edit hook made a %u-byte message", m->len);
	}
	outbox_flush(vs);
}

/* ---- channels and GPADLs: lookup ---- */

static struct vmbus_sim_channel *find_channel(struct vmbus_sim *vs, uint32_t relid)
{
	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++)
		if (vs->ch[i].used && vs->ch[i].relid == relid)
			return &vs->ch[i];
	return NULL;
}

const struct vmbus_sim_channel *vmbus_sim_channel(const struct vmbus_sim *vs, uint32_t relid)
{
	return find_channel((struct vmbus_sim *)vs, relid);
}

/* A channel the guest knows of in this connection: offered, not released. */
static struct vmbus_sim_channel *offered_channel(struct vmbus_sim *vs, uint32_t relid)
{
	struct vmbus_sim_channel *ch = find_channel(vs, relid);
	return ch && ch->offered ? ch : NULL;
}

static struct vmbus_sim_gpadl *find_gpadl(struct vmbus_sim *vs, uint32_t handle)
{
	for (unsigned i = 0; i < vs->ngpadl; i++)
		if (vs->gpadl[i].handle == handle)
			return &vs->gpadl[i];
	return NULL;
}

const struct vmbus_sim_gpadl *vmbus_sim_find_gpadl(const struct vmbus_sim *vs, uint32_t handle)
{
	return find_gpadl((struct vmbus_sim *)vs, handle);
}

static void gpadl_remove(struct vmbus_sim *vs, struct vmbus_sim_gpadl *g)
{
	free(g->buf);
	free(g->pfn);
	free(g->range);
	*g = vs->gpadl[--vs->ngpadl];
}

unsigned vmbus_sim_gpadls(const struct vmbus_sim *vs)
{
	return vs->ngpadl;
}

unsigned vmbus_sim_gpadl_pages(const struct vmbus_sim *vs)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vs->ngpadl; i++)
		n += vs->gpadl[i].complete ? vs->gpadl[i].npfn : 0;
	return n;
}

unsigned vmbus_sim_open_channels(const struct vmbus_sim *vs)
{
	unsigned n = 0;
	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++)
		n += vs->ch[i].used && vs->ch[i].open;
	return n;
}

unsigned vmbus_sim_count(const struct vmbus_sim *vs, uint32_t type)
{
	unsigned n = 0;
	for (size_t i = 0; i < vs->nlog; i++)
		n += vs->log[i].type == type;
	return n;
}

const struct vmbus_sim_msg *vmbus_sim_log(const struct vmbus_sim *vs, size_t *count)
{
	*count = vs->nlog;
	return vs->log;
}

unsigned vmbus_sim_outbox(const struct vmbus_sim *vs)
{
	return vs->nout;
}

static bool ram(const struct vmbus_sim *vs, uint64_t gpa, size_t len)
{
	return hv_sim_is_ram(vs->sim, gpa, len);
}

/* ---- the host side of the rings ---- */

static uint8_t *ring_at(const struct vmbus_sim_ring *r, uint32_t off)
{
	return (uint8_t *)(uintptr_t)((r->pfn[off / PAGE] << 12) + off % PAGE);
}

static void ring_copy_out(const struct vmbus_sim_ring *r, uint32_t off, void *buf, uint32_t len)
{
	uint8_t *b = buf;
	while (len) {
		uint32_t n = PAGE - off % PAGE;
		if (n > len)
			n = len;
		memcpy(b, ring_at(r, off), n);
		b += n;
		len -= n;
		off = (off + n) % r->size;
	}
}

static void ring_copy_in(const struct vmbus_sim_ring *r, uint32_t off, const void *buf, uint32_t len)
{
	const uint8_t *b = buf;
	while (len) {
		uint32_t n = PAGE - off % PAGE;
		if (n > len)
			n = len;
		memcpy(ring_at(r, off), b, n);
		b += n;
		len -= n;
		off = (off + n) % r->size;
	}
}

static uint32_t ring_used(uint32_t size, uint32_t write, uint32_t read)
{
	return write >= read ? write - read : size - (read - write);
}

static bool index_ok(const struct vmbus_sim_ring *r, uint32_t i)
{
	return i < r->size && i % 8 == 0;
}

static void channel_break(struct vmbus_sim *vs, struct vmbus_sim_channel *ch)
{
	(void)vs;
	ch->broken = true;
}

static void backlog_clear(struct vmbus_sim_channel *ch)
{
	for (unsigned i = 0; i < ch->nbacklog; i++)
		free(ch->backlog[i].bytes);
	ch->nbacklog = 0;
}

static void channel_teardown_rings(struct vmbus_sim_channel *ch)
{
	backlog_clear(ch);
	free(ch->out.pfn);
	free(ch->in.pfn);
	memset(&ch->out, 0, sizeof(ch->out));
	memset(&ch->in, 0, sizeof(ch->in));
	ch->nwanted = 0;
	ch->in_pending = 0;
	ch->open = false;
	ch->broken = false;
}

/* Whether the host may touch the channel's ring pages at all. */
static bool rings_live(const struct vmbus_sim_channel *ch)
{
	return ch->open && !ch->broken && !ch->rescinded;
}

/* The guest's read index on the host -> guest ring, checked; false: broken. */
static bool in_read_index(struct vmbus_sim *vs, struct vmbus_sim_channel *ch, uint32_t *ri)
{
	volatile struct vmbus_ring_control *c = ch->in.control;
	uint32_t r = c->read_index;

	if (c->write_index != ch->in_write) {
		violation(vs, VMBUS_SIM_RULE_RING, "relid %u: the guest wrote the host's write_index of the host->guest "
			  "ring (%u, host wrote %u)", ch->relid, c->write_index, ch->in_write);
		c->write_index = ch->in_write;
	}
	if (c->pending_send_sz != ch->in_pending) {
		violation(vs, VMBUS_SIM_RULE_RING, "relid %u: the guest changed the host's pending_send_sz (%u, host "
			  "wrote %u)", ch->relid, c->pending_send_sz, ch->in_pending);
		c->pending_send_sz = ch->in_pending;
	}
	if (!index_ok(&ch->in, r)) {
		violation(vs, VMBUS_SIM_RULE_RING, "relid %u: host->guest read_index %u outside the %u-byte data area "
			  "or not a multiple of 8", ch->relid, r, ch->in.size);
		channel_break(vs, ch);
		return false;
	}
	/* The reader can only move forward, and never past what was written. */
	if (ring_used(ch->in.size, r, ch->in_seen_read) > ring_used(ch->in.size, ch->in_write, ch->in_seen_read)) {
		violation(vs, VMBUS_SIM_RULE_RING, "relid %u: host->guest read_index %u moved past the write_index %u "
			  "(was %u)", ch->relid, r, ch->in_write, ch->in_seen_read);
		channel_break(vs, ch);
		return false;
	}
	ch->in_seen_read = r;
	*ri = r;
	return true;
}

static uint32_t sint_of(const struct vmbus_sim *vs)
{
	return vs->sint;
}

/* Raises the channel's interrupt in the guest (facts 2.7). */
static void host_signal(struct vmbus_sim *vs, struct vmbus_sim_channel *ch)
{
	if (vs->version >= VMBUS_VERSION_2_4 && ch->target_vp == VMBUS_VP_NO_INTERRUPTS) {
		ch->events_suppressed++;
		return;
	}
	if (vs->fault.lost_interrupts) {
		vs->fault.lost_interrupts--;
		ch->events_lost++;
		return;
	}
	ch->events++;
	sim_trace(vs, VMBUS_SIM_TO_GUEST, VMBUS_SIM_TRACE_SIGNAL, ch->relid, NULL, 0, 0);
	if (vs->version >= VMBUS_VERSION_2_4) {
		hv_sim_set_event(vs->sim, sint_of(vs), ch->relid);
		return;
	}
	if (vs->interrupt_page) {
		uint8_t *p = (uint8_t *)(uintptr_t)vs->interrupt_page;
		__atomic_fetch_or(&p[ch->relid / 8], (uint8_t)(1u << (ch->relid % 8)), __ATOMIC_SEQ_CST);
	}
	hv_sim_set_event(vs->sim, sint_of(vs), 0);
}

/*
 * Writes one packet (bytes: descriptor, payload, padding) into the host ->
 * guest ring, with the trailer when asked. 0, -EAGAIN (no room now), -EIO
 * (the ring is broken).
 */
static int in_write(struct vmbus_sim *vs, struct vmbus_sim_channel *ch, const uint8_t *bytes, uint32_t len,
		    bool trailer, bool signal)
{
	uint32_t ri;

	if (!rings_live(ch))
		return -EIO;
	if (!in_read_index(vs, ch, &ri))
		return -EIO;
	uint32_t total = pad8(len) + (trailer ? VMBUS_PACKET_TRAILER : 0);
	uint32_t free_bytes = ch->in.size - ring_used(ch->in.size, ch->in_write, ri);
	if (total >= free_bytes)
		return -EAGAIN; /* never fill the ring: equal indices mean empty */
	bool was_empty = ch->in_write == ri;
	uint32_t start = ch->in_write;
	ring_copy_in(&ch->in, start, bytes, len);
	if (pad8(len) > len) {
		static const uint8_t zero[8];
		ring_copy_in(&ch->in, (start + len) % ch->in.size, zero, pad8(len) - len);
	}
	if (trailer) {
		uint64_t t = vs->cfg.host_trailers ? (uint64_t)start << 32 : 0; /* QEMU writes none: they read 0 */
		ring_copy_in(&ch->in, (start + pad8(len)) % ch->in.size, &t, 8);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ch->in_write = (start + total) % ch->in.size;
	ch->in.control->write_index = ch->in_write;
	ch->packets_out++;
	ch->bytes_out += len;
	sim_trace(vs, VMBUS_SIM_TO_GUEST, VMBUS_SIM_TRACE_PACKET, ch->relid, bytes, len, 0);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (signal && was_empty && !ch->in.control->interrupt_mask)
		host_signal(vs, ch);
	return 0;
}

/* Writes what waits in the backlog; asks for space with pending_send_sz when it does not fit. */
static void backlog_flush(struct vmbus_sim *vs, struct vmbus_sim_channel *ch)
{
	while (ch->nbacklog && rings_live(ch)) {
		struct vmbus_sim_backlog *b = &ch->backlog[0];
		int r = in_write(vs, ch, b->bytes, b->len, true, true);
		if (r == -EAGAIN) {
			ch->in_pending = b->len + VMBUS_PACKET_TRAILER;
			ch->in.control->pending_send_sz = ch->in_pending;
			return;
		}
		if (r)
			return;
		free(b->bytes);
		ch->nbacklog--;
		memmove(&ch->backlog[0], &ch->backlog[1], ch->nbacklog * sizeof(*b));
	}
	if (!ch->nbacklog && ch->in_pending && rings_live(ch)) {
		ch->in_pending = 0;
		ch->in.control->pending_send_sz = 0;
	}
}

static int queue_packet(struct vmbus_sim *vs, struct vmbus_sim_channel *ch, const void *desc, uint32_t desc_len,
			const void *payload, size_t len)
{
	if (!rings_live(ch))
		return -ENOTCONN;
	if (len > VMBUS_SIM_PACKET_MAX)
		return -EMSGSIZE;
	uint32_t n = pad8(desc_len + (uint32_t)len);
	if (n + VMBUS_PACKET_TRAILER >= ch->in.size)
		return -EMSGSIZE;
	if (ch->nbacklog >= VMBUS_SIM_BACKLOG)
		return -ENOSPC;
	uint8_t *bytes = calloc(1, n);
	if (!bytes)
		fail_msg("vmbus_sim: out of memory for a packet");
	memcpy(bytes, desc, desc_len);
	if (len)
		memcpy(bytes + desc_len, payload, len);
	ch->backlog[ch->nbacklog++] = (struct vmbus_sim_backlog){ .bytes = bytes, .len = n };
	backlog_flush(vs, ch);
	return 0;
}

int vmbus_sim_send(struct vmbus_sim *vs, uint32_t relid, uint16_t type, uint16_t flags, uint64_t trans_id,
		   const void *payload, size_t len)
{
	struct vmbus_sim_channel *ch = find_channel(vs, relid);

	if (!ch || !rings_live(ch))
		return -ENOTCONN;
	if (len > UINT16_MAX * 8u)
		return -EMSGSIZE;
	struct vmbus_packet_desc d = {
		.type = type, .offset8 = 2, .len8 = (uint16_t)(pad8((uint32_t)(16 + len)) / 8), .flags = flags,
		.trans_id = trans_id,
	};
	if ((flags & VMBUS_PACKET_FLAG_COMPLETION_REQUESTED) && type != VMBUS_PACKET_COMPLETION) {
		if (ch->nwanted >= VMBUS_SIM_WANTED)
			return -ENOSPC;
	}
	int r = queue_packet(vs, ch, &d, sizeof(d), payload, len);
	if (r == 0 && (flags & VMBUS_PACKET_FLAG_COMPLETION_REQUESTED) && type != VMBUS_PACKET_COMPLETION)
		ch->wanted[ch->nwanted++] = trans_id;
	return r;
}

int vmbus_sim_send_desc(struct vmbus_sim *vs, uint32_t relid, const struct vmbus_packet_desc *desc,
			const void *payload, size_t len)
{
	struct vmbus_sim_channel *ch = find_channel(vs, relid);

	if (!ch || !rings_live(ch))
		return -ENOTCONN;
	if (len > VMBUS_SIM_PACKET_MAX)
		return -EMSGSIZE;
	uint32_t n = pad8((uint32_t)(sizeof(*desc) + len));
	uint8_t *bytes = calloc(1, n);
	if (!bytes)
		fail_msg("vmbus_sim: out of memory for a packet");
	memcpy(bytes, desc, sizeof(*desc));
	if (len)
		memcpy(bytes + sizeof(*desc), payload, len);
	int r = in_write(vs, ch, bytes, n, true, true);
	free(bytes);
	return r;
}

int vmbus_sim_send_raw(struct vmbus_sim *vs, uint32_t relid, const void *bytes, size_t len)
{
	struct vmbus_sim_channel *ch = find_channel(vs, relid);

	if (!ch || !rings_live(ch))
		return -ENOTCONN;
	if (len == 0 || len > VMBUS_SIM_PACKET_MAX)
		return -EMSGSIZE;
	return in_write(vs, ch, bytes, (uint32_t)len, false, true);
}

void vmbus_sim_set_write_index(struct vmbus_sim *vs, uint32_t relid, uint32_t value)
{
	struct vmbus_sim_channel *ch = find_channel(vs, relid);

	if (!ch || !rings_live(ch))
		fail_msg("vmbus_sim_set_write_index: relid %u is not open", relid);
	ch->in.control->write_index = value;
	ch->in_write = value; /* the host believes its own lie, so it does not flag the guest for it */
	ch->packets_out++;
	host_signal(vs, ch);
	/* A lying index breaks the ring for the host too: it writes no more there. */
	channel_break(vs, ch);
}

bool vmbus_sim_spurious(struct vmbus_sim *vs, uint32_t relid)
{
	struct vmbus_sim_channel *ch = find_channel(vs, relid);

	if (!ch)
		return false;
	ch->events_spurious++;
	sim_trace(vs, VMBUS_SIM_TO_GUEST, VMBUS_SIM_TRACE_SIGNAL, relid, NULL, 0, 0);
	return hv_sim_set_event(vs->sim, sint_of(vs), vs->version >= VMBUS_VERSION_2_4 || !vs->version ? relid : 0);
}

/* ---- guest packets: checks, then the device ---- */

bool vmbus_sim_range_read(const struct vmbus_sim *vs, const struct vmbus_sim_range *r, uint32_t off, void *buf,
			  uint32_t len)
{
	if (off > r->len || len > r->len - off)
		return false;
	uint8_t *b = buf;
	uint64_t pos = (uint64_t)r->offset + off;
	while (len) {
		unsigned page = (unsigned)(pos / PAGE);
		uint32_t in = (uint32_t)(pos % PAGE), n = PAGE - in;
		if (n > len)
			n = len;
		if (page >= r->npfn)
			return false;
		uint64_t gpa = (r->pfn[page] << 12) + in;
		if (!ram(vs, gpa, n))
			return false;
		memcpy(b, (const void *)(uintptr_t)gpa, n);
		b += n;
		len -= n;
		pos += n;
	}
	return true;
}

/* Parses and checks a GPA-direct packet's ranges (facts 2.9). */
static bool gpa_ranges(struct vmbus_sim *vs, struct vmbus_sim_channel *ch, const uint8_t *p, uint32_t payload_off,
		       struct vmbus_sim_range **out, unsigned *nout)
{
	*out = NULL;
	*nout = 0;
	if (payload_off < sizeof(struct vmbus_packet_gpa_direct)) {
		violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: GPA-direct packet with offset8 %u: no room for its "
			  "range count", ch->relid, payload_off / 8);
		return false;
	}
	uint32_t reserved = rd32(p + 16), count = rd32(p + 20);
	if (reserved != 0)
		violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: GPA-direct reserved field 0x%x", ch->relid, reserved);
	if (count == 0 || count > (payload_off - 24) / 16) {
		violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: GPA-direct range_count %u does not fit %u bytes of "
			  "ranges", ch->relid, count, payload_off - 24);
		return false;
	}
	struct vmbus_sim_range *r = calloc(count, sizeof(*r));
	if (!r)
		fail_msg("vmbus_sim: out of memory");
	uint32_t pos = 24;
	for (uint32_t i = 0; i < count; i++) {
		if (payload_off - pos < 8) {
			violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: GPA-direct range %u starts past the ranges "
				  "area (offset8 %u)", ch->relid, i, payload_off / 8);
			goto bad;
		}
		r[i].len = rd32(p + pos);
		r[i].offset = rd32(p + pos + 4);
		pos += 8;
		if (r[i].len == 0 || r[i].offset >= PAGE) {
			violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: GPA-direct range %u: %u bytes at offset %u", ch->relid,
				  i, r[i].len, r[i].offset);
			goto bad;
		}
		uint64_t npfn = ((uint64_t)r[i].offset + r[i].len + PAGE - 1) / PAGE;
		if (npfn > (payload_off - pos) / 8) {
			violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: GPA-direct range %u needs %llu PFNs, past the "
				  "ranges area", ch->relid, i, (unsigned long long)npfn);
			goto bad;
		}
		r[i].npfn = (unsigned)npfn;
		r[i].pfn = (const uint64_t *)(const void *)(p + pos);
		for (unsigned k = 0; k < r[i].npfn; k++) {
			uint64_t pfn = rd64(p + pos + 8 * k);
			uint32_t lo = k == 0 ? r[i].offset : 0;
			uint64_t end = (uint64_t)r[i].offset + r[i].len - (uint64_t)k * PAGE;
			uint32_t hi = end > PAGE ? PAGE : (uint32_t)end;
			if (pfn >= MAX_PFN || !ram(vs, (pfn << 12) + lo, hi - lo)) {
				violation(vs, VMBUS_SIM_RULE_MEMORY, "relid %u: GPA-direct range %u names PFN 0x%llx, "
					  "not live guest memory", ch->relid, i, (unsigned long long)pfn);
				goto bad;
			}
		}
		pos += 8 * r[i].npfn;
	}
	if (pos != payload_off) {
		violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: GPA-direct ranges end at %u, offset8 says %u", ch->relid,
			  pos, payload_off);
		goto bad;
	}
	*out = r;
	*nout = count;
	return true;
bad:
	free(r);
	return false;
}

static void echo_device(struct vmbus_sim *vs, uint32_t relid, const struct vmbus_sim_packet *pkt)
{
	int r = 0;

	switch (pkt->desc.type) {
	case VMBUS_PACKET_DATA_INBAND: {
		bool completion = (pkt->desc.flags & VMBUS_PACKET_FLAG_COMPLETION_REQUESTED) != 0;
		r = vmbus_sim_send(vs, relid, completion ? VMBUS_PACKET_COMPLETION : VMBUS_PACKET_DATA_INBAND, 0,
				   pkt->desc.trans_id, pkt->data + pkt->payload_offset, pkt->len - pkt->payload_offset);
		break;
	}
	case VMBUS_PACKET_DATA_GPA_DIRECT: {
		struct vmbus_sim_echo_gpa res = { .fnv1a64 = VMBUS_SIM_FNV_BASIS, .ranges = pkt->nranges };
		uint8_t buf[512];
		for (unsigned i = 0; i < pkt->nranges; i++) {
			for (uint32_t off = 0; off < pkt->ranges[i].len;) {
				uint32_t n = pkt->ranges[i].len - off;
				if (n > sizeof(buf))
					n = sizeof(buf);
				if (!vmbus_sim_range_read(vs, &pkt->ranges[i], off, buf, n))
					fail_msg("vmbus_sim: echo: a checked range could not be read");
				for (uint32_t k = 0; k < n; k++) {
					res.fnv1a64 ^= buf[k];
					res.fnv1a64 *= VMBUS_SIM_FNV_PRIME;
				}
				off += n;
				res.bytes += n;
			}
		}
		/* As an in-band echo: a completion only when one was asked for (a guest breaks on any other). */
		bool completion = (pkt->desc.flags & VMBUS_PACKET_FLAG_COMPLETION_REQUESTED) != 0;
		r = vmbus_sim_send(vs, relid, completion ? VMBUS_PACKET_COMPLETION : VMBUS_PACKET_DATA_INBAND, 0,
				   pkt->desc.trans_id, &res, sizeof(res));
		break;
	}
	default:
		break; /* completions of the host's own requests: nothing to do */
	}
	if (r)
		fail_msg("vmbus_sim: echo device on relid %u could not answer (%d)", relid, r);
}

/* One checked packet from the guest: bookkeeping, then the device. */
static void deliver(struct vmbus_sim *vs, struct vmbus_sim_channel *ch, struct vmbus_sim_packet *pkt)
{
	if (pkt->desc.type == VMBUS_PACKET_COMPLETION) {
		unsigned i;
		for (i = 0; i < ch->nwanted && ch->wanted[i] != pkt->desc.trans_id; i++)
			;
		if (i == ch->nwanted) {
			violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: completion for trans_id 0x%llx, which no host "
				  "packet asked for", ch->relid, (unsigned long long)pkt->desc.trans_id);
		} else {
			ch->wanted[i] = ch->wanted[--ch->nwanted];
			pkt->answered_request = true;
			ch->completions++;
		}
	}
	if (ch->dev.echo)
		echo_device(vs, ch->relid, pkt);
	else if (ch->dev.packet)
		ch->dev.packet(ch->dev.ctx, vs, ch->relid, pkt);
}

/* The guest's write index on the guest -> host ring, checked; false: broken. */
static bool out_write_index(struct vmbus_sim *vs, struct vmbus_sim_channel *ch, uint32_t *wi)
{
	volatile struct vmbus_ring_control *c = ch->out.control;
	uint32_t w = c->write_index;

	if (c->read_index != ch->out_published) {
		violation(vs, VMBUS_SIM_RULE_RING, "relid %u: the guest wrote the host's read_index of the guest->host "
			  "ring (%u, host wrote %u)", ch->relid, c->read_index, ch->out_published);
		c->read_index = ch->out_published;
	}
	if (c->interrupt_mask != 0) {
		violation(vs, VMBUS_SIM_RULE_RING, "relid %u: the guest set the host's interrupt_mask on the "
			  "guest->host ring", ch->relid);
		c->interrupt_mask = 0;
	}
	if (!index_ok(&ch->out, w)) {
		violation(vs, VMBUS_SIM_RULE_RING, "relid %u: guest->host write_index %u outside the %u-byte data area "
			  "or not a multiple of 8", ch->relid, w, ch->out.size);
		channel_break(vs, ch);
		return false;
	}
	if (ring_used(ch->out.size, w, ch->out_read) < ring_used(ch->out.size, ch->out_seen_write, ch->out_read)) {
		violation(vs, VMBUS_SIM_RULE_RING, "relid %u: guest->host write_index went back from %u to %u "
			  "(host read index %u)", ch->relid, ch->out_seen_write, w, ch->out_read);
		channel_break(vs, ch);
		return false;
	}
	ch->out_seen_write = w;
	*wi = w;
	return true;
}

static bool type_ok(uint16_t type)
{
	return type == VMBUS_PACKET_DATA_INBAND || type == VMBUS_PACKET_DATA_GPA_DIRECT ||
	       type == VMBUS_PACKET_COMPLETION;
}

/* Reads one packet at the host's read index; 1: one handled, 0: empty, -1: broken. */
static int out_read_one(struct vmbus_sim *vs, struct vmbus_sim_channel *ch, uint32_t wi)
{
	uint32_t rd = ch->out_read, avail = ring_used(ch->out.size, wi, rd);
	struct vmbus_packet_desc d;

	if (avail == 0)
		return 0;
	if (avail < sizeof(d) + VMBUS_PACKET_TRAILER) {
		violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: %u bytes in the guest->host ring: less than a "
			  "descriptor and trailer", ch->relid, avail);
		channel_break(vs, ch);
		return -1;
	}
	ring_copy_out(&ch->out, rd, &d, sizeof(d));
	uint32_t len = d.len8 * 8u, off = d.offset8 * 8u;
	if (d.len8 < 2 || d.offset8 < 2 || d.offset8 > d.len8 || len + VMBUS_PACKET_TRAILER > avail) {
		violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: guest packet at %u: len8 %u offset8 %u with %u bytes "
			  "in the ring", ch->relid, rd, d.len8, d.offset8, avail);
		channel_break(vs, ch);
		return -1;
	}
	if (!type_ok(d.type)) {
		violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: guest packet type 0x%x (a host takes 6, 9 and 0xB)",
			  ch->relid, d.type);
		channel_break(vs, ch); /* QEMU's recv_peek stalls the channel */
		return -1;
	}
	uint8_t *p = malloc(len);
	if (!p)
		fail_msg("vmbus_sim: out of memory");
	ring_copy_out(&ch->out, rd, p, len);
	uint64_t trailer;
	ring_copy_out(&ch->out, (rd + len) % ch->out.size, &trailer, 8);
	if (trailer != (uint64_t)rd << 32)
		violation(vs, VMBUS_SIM_RULE_PACKET, "relid %u: trailer 0x%llx after the packet at %u (want 0x%llx)",
			  ch->relid, (unsigned long long)trailer, rd, (unsigned long long)((uint64_t)rd << 32));
	ch->out_read = (rd + len + VMBUS_PACKET_TRAILER) % ch->out.size;
	ch->packets_in++;
	ch->bytes_in += len;
	sim_trace(vs, VMBUS_SIM_TO_HOST, VMBUS_SIM_TRACE_PACKET, ch->relid, p, len, 0);

	struct vmbus_sim_packet pkt = { .desc = d, .data = p, .len = len, .payload_offset = off };
	struct vmbus_sim_range *ranges = NULL;
	bool ok = true;
	if (d.type == VMBUS_PACKET_DATA_GPA_DIRECT) {
		ok = gpa_ranges(vs, ch, p, off, &ranges, &pkt.nranges);
		pkt.ranges = ranges;
	}
	if (ok)
		deliver(vs, ch, &pkt);
	free(ranges);
	free(p);
	return 1;
}

/* Serves the channel: backlog first, then the guest's packets, publishing the read index after the batch. */
static void service(struct vmbus_sim *vs, struct vmbus_sim_channel *ch)
{
	uint32_t wi;

	if (!rings_live(ch) || vs->in_host)
		return;
	vs->in_host = true;
	backlog_flush(vs, ch);
	if (ch->stalled || !rings_live(ch) || !out_write_index(vs, ch, &wi)) {
		vs->in_host = false;
		return;
	}
	uint32_t free_before = ch->out.size - ring_used(ch->out.size, wi, ch->out_read);
	while (rings_live(ch) && !ch->nbacklog) {
		if (out_read_one(vs, ch, wi) <= 0)
			break;
		/* the guest may have written more meanwhile (a device callback ran guest code? never: re-read) */
		if (!rings_live(ch) || !out_write_index(vs, ch, &wi))
			break;
	}
	if (rings_live(ch)) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		ch->out.control->read_index = ch->out_published = ch->out_read;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint32_t w = ch->out.control->write_index;
		if (index_ok(&ch->out, w)) {
			uint32_t free_after = ch->out.size - ring_used(ch->out.size, w, ch->out_read);
			uint32_t want = ch->out.control->pending_send_sz;
			/* QEMU: free == pending_send_sz counts as not blocked, and a ring emptied in one batch gets no signal */
			bool blocked = vs->cfg.space_bugs ? free_before < want : free_before <= want;
			bool emptied = vs->cfg.space_bugs && w == ch->out_read;
			if (want && blocked && free_after > want && !emptied)
				host_signal(vs, ch);
			if (w == ch->out_read)
				ch->out_signalled = false;
		}
	}
	vs->in_host = false;
}

/* A guest signal for ch (HvSignalEvent, the monitor page or the interrupt page). */
static void channel_signal(struct vmbus_sim *vs, struct vmbus_sim_channel *ch, bool monitor)
{
	uint32_t wi = 0;

	ch->signals++;
	if (monitor)
		ch->monitor_signals++;
	sim_trace(vs, VMBUS_SIM_TO_HOST, VMBUS_SIM_TRACE_SIGNAL, ch->relid, NULL, 0, 0);
	if (!rings_live(ch)) {
		if (!ch->rescinded)
			ch->unneeded_signals++; /* after a rescind the guest may not know yet */
		return;
	}
	bool space = false;
	if (ch->in_pending) {
		uint32_t ri;
		if (!in_read_index(vs, ch, &ri))
			return;
		space = ch->in.size - ring_used(ch->in.size, ch->in_write, ri) > ch->in_pending;
	}
	if (!out_write_index(vs, ch, &wi))
		return;
	bool data = wi != ch->out_read;
	if (space)
		ch->space_signals++;
	else if (!(data && !ch->out_signalled))
		ch->unneeded_signals++;
	if (data)
		ch->out_signalled = true;
	service(vs, ch);
}

/* ---- connections: signals ---- */

static bool registered(const struct vmbus_sim *vs, uint32_t id)
{
	for (unsigned i = 0; i < vs->nregistered; i++)
		if (vs->registered[i] == id)
			return true;
	return false;
}

/* Below 2.4 every signal makes the host look at the guest -> host half of the interrupt page. */
static unsigned scan_interrupt_page(struct vmbus_sim *vs)
{
	unsigned n = 0;

	if (vs->version >= VMBUS_VERSION_2_4 || !vs->interrupt_page)
		return 0;
	uint8_t *half = (uint8_t *)(uintptr_t)(vs->interrupt_page + VMBUS_INTERRUPT_PAGE_HALF);
	for (unsigned byte = 0; byte < VMBUS_INTERRUPT_PAGE_HALF; byte++) {
		if (!__atomic_load_n(&half[byte], __ATOMIC_RELAXED))
			continue;
		uint8_t bits = __atomic_exchange_n(&half[byte], 0, __ATOMIC_SEQ_CST);
		for (unsigned b = 0; b < 8; b++) {
			if (!(bits & (1u << b)))
				continue;
			struct vmbus_sim_channel *ch = offered_channel(vs, byte * 8 + b);
			if (ch) {
				channel_signal(vs, ch, false);
				n++;
			}
		}
	}
	return n;
}

static uint16_t on_signal(void *ctx, struct hv_sim *sim, uint32_t connection)
{
	struct vmbus_sim *vs = ctx;
	(void)sim;

	if (vs->magic != VS_MAGIC)
		return HV_STATUS_INVALID_CONNECTION_ID;
	unsigned taken = scan_interrupt_page(vs);
	if (connection == VMBUS_EVENT_CONNECTION) {
		if (!taken) {
			vs->stray_signals++;
			sim_trace(vs, VMBUS_SIM_TO_HOST, VMBUS_SIM_TRACE_SIGNAL, 0, NULL, 0, 0);
		}
		return HV_STATUS_SUCCESS;
	}
	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++) {
		struct vmbus_sim_channel *ch = &vs->ch[i];
		if (!ch->used || !ch->offered || ch->connection_id != connection)
			continue;
		/* < 2.4 a channel without a dedicated interrupt is found through the interrupt page only */
		if (vs->version < VMBUS_VERSION_2_4 && !ch->dev.dedicated_interrupt) {
			if (!taken) {
				vs->stray_signals++;
				sim_trace(vs, VMBUS_SIM_TO_HOST, VMBUS_SIM_TRACE_SIGNAL, 0, NULL, 0, 0);
			}
			return HV_STATUS_SUCCESS;
		}
		channel_signal(vs, ch, false);
		return HV_STATUS_SUCCESS;
	}
	return HV_STATUS_INVALID_CONNECTION_ID; /* its channel is gone */
}

static void register_events(struct vmbus_sim *vs, uint32_t id)
{
	if (registered(vs, id))
		return;
	if (vs->nregistered >= HV_SIM_CONNECTIONS)
		fail_msg("vmbus_sim: more than %u event connections", HV_SIM_CONNECTIONS);
	hv_sim_add_connection(vs->sim, id, false, true, NULL, on_signal, vs);
	vs->registered[vs->nregistered++] = id;
}

/* ---- the bus ---- */

static void device_event(struct vmbus_sim *vs, struct vmbus_sim_channel *ch, enum vmbus_sim_event ev)
{
	if (ch->dev.event)
		ch->dev.event(ch->dev.ctx, vs, ch->relid, ev);
}

static void channel_close(struct vmbus_sim *vs, struct vmbus_sim_channel *ch)
{
	channel_teardown_rings(ch);
	ch->closes++;
	device_event(vs, ch, VMBUS_SIM_CLOSED);
}

/* INITIATE_CONTACT and UNLOAD: everything of the old connection goes (QEMU). */
static void bus_reset(struct vmbus_sim *vs)
{
	vs->resets++;
	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++) {
		struct vmbus_sim_channel *ch = &vs->ch[i];
		if (!ch->used)
			continue;
		if (ch->open) {
			vs->reset_open++;
			channel_close(vs, ch);
		}
		channel_teardown_rings(ch);
		ch->offered = false;
		if (ch->rescinded) { /* the host forgets it: the relid is free again */
			ch->used = false;
			vs->releases++;
			vs->last_released = ch->relid;
		}
	}
	vs->reset_gpadls += vs->ngpadl;
	while (vs->ngpadl)
		gpadl_remove(vs, &vs->gpadl[0]);
	vs->connected = false;
	vs->version = 0;
	vs->sint = VMBUS_MESSAGE_SINT;
	vs->msg_conn = VMBUS_MESSAGE_CONNECTION;
	vs->interrupt_page = vs->monitor_page1 = vs->monitor_page2 = 0;
	vs->offers_requested = vs->offers_delivered = false;
}

static uint32_t offer_connection_id(const struct vmbus_sim *vs, const struct vmbus_sim_channel *ch)
{
	if (ch->dev.connection_id)
		return ch->dev.connection_id;
	return vs->cfg.conn_id_base + ch->relid + (vs->cfg.conn_id_sint ? vs->sint << 12 : 0);
}

static void send_offer(struct vmbus_sim *vs, struct vmbus_sim_channel *ch)
{
	uint8_t buf[VMBUS_MESSAGE_MAX];
	struct vmbus_msg_offer o;
	const struct vmbus_sim_device *d = &ch->dev;

	memset(&o, 0, sizeof(o));
	o.header.type = VMBUS_MSG_OFFERCHANNEL;
	o.if_type = d->class_id;
	o.if_instance = d->instance_id;
	o.flags = d->flags;
	o.mmio_megabytes = d->mmio_megabytes;
	memcpy(o.user_def, d->user_def, sizeof(o.user_def));
	o.sub_channel_index = d->sub_channel_index;
	o.mmio_megabytes_optional = d->mmio_megabytes_optional;
	o.child_relid = ch->relid;
	o.monitor_id = d->monitor_allocated ? d->monitor_id : 0;
	o.monitor_allocated = d->monitor_allocated ? 1 : 0;
	o.dedicated_interrupt = d->dedicated_interrupt ? 1 : 0;
	ch->connection_id = vs->version == VMBUS_VERSION_0_13 && vs->cfg.offer_size_v1 < sizeof(o)
				    ? VMBUS_EVENT_CONNECTION
				    : offer_connection_id(vs, ch);
	o.connection_id = ch->connection_id;
	register_events(vs, ch->connection_id);
	unsigned size = vs->version == VMBUS_VERSION_0_13 ? vs->cfg.offer_size_v1 : vs->cfg.offer_size;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &o, size < sizeof(o) ? size : sizeof(o));
	ch->offered = true;
	send_msg(vs, buf, size);
}

static int offer_cmp_key(const struct vmbus_sim *vs, const struct vmbus_sim_channel *a,
			 const struct vmbus_sim_channel *b)
{
	switch (vs->cfg.offer_order) {
	case VMBUS_SIM_ORDER_RELID:
		return a->relid < b->relid ? -1 : a->relid > b->relid;
	case VMBUS_SIM_ORDER_REVERSE:
		return a->relid > b->relid ? -1 : a->relid < b->relid;
	case VMBUS_SIM_ORDER_ADDED:
	default:
		return a->seq < b->seq ? -1 : a->seq > b->seq;
	}
}

static void send_all_offers(struct vmbus_sim *vs)
{
	struct vmbus_sim_channel *list[VMBUS_SIM_CHANNELS];
	unsigned n = 0;

	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++)
		if (vs->ch[i].used && !vs->ch[i].rescinded)
			list[n++] = &vs->ch[i];
	for (unsigned i = 1; i < n; i++) /* insertion sort: a few dozen at most */
		for (unsigned j = i; j > 0 && offer_cmp_key(vs, list[j], list[j - 1]) < 0; j--) {
			struct vmbus_sim_channel *t = list[j];
			list[j] = list[j - 1];
			list[j - 1] = t;
		}
	for (unsigned i = 0; i < n; i++)
		send_offer(vs, list[i]);
	struct vmbus_msg_header all = { .type = VMBUS_MSG_ALLOFFERS_DELIVERED };
	send_msg(vs, &all, sizeof(all));
	vs->offers_delivered = true;
}

void vmbus_sim_device_init(const struct vmbus_sim *vs, struct vmbus_sim_device *dev, const char *class_guid,
			   const char *instance_guid)
{
	memset(dev, 0, sizeof(*dev));
	if (!vmbus_sim_guid(class_guid, &dev->class_id) || !vmbus_sim_guid(instance_guid, &dev->instance_id))
		fail_msg("vmbus_sim_device_init: bad GUID \"%s\" or \"%s\"", class_guid, instance_guid);
	dev->dedicated_interrupt = vs->cfg.dedicated_default;
}

uint32_t vmbus_sim_add_device(struct vmbus_sim *vs, const struct vmbus_sim_device *dev)
{
	uint32_t relid = dev->relid;

	if (relid == 0) {
		for (relid = 1; relid <= vs->cfg.max_relid && find_channel(vs, relid); relid++)
			;
	}
	if (relid == 0 || relid > vs->cfg.max_relid || relid > VMBUS_RELID_MAX || find_channel(vs, relid))
		fail_msg("vmbus_sim_add_device: no relid (asked %u, max %u)", dev->relid, vs->cfg.max_relid);
	if (dev->monitor_allocated) {
		if (dev->monitor_id > VMBUS_MONITOR_ID_MAX)
			fail_msg("vmbus_sim_add_device: monitor id %u", dev->monitor_id);
		for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++)
			if (vs->ch[i].used && vs->ch[i].dev.monitor_allocated &&
			    vs->ch[i].dev.monitor_id == dev->monitor_id)
				fail_msg("vmbus_sim_add_device: monitor id %u taken by relid %u", dev->monitor_id,
					 vs->ch[i].relid);
	}
	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++) {
		struct vmbus_sim_channel *ch = &vs->ch[i];
		if (ch->used)
			continue;
		memset(ch, 0, sizeof(*ch));
		ch->used = true;
		ch->relid = relid;
		ch->seq = vs->seq++;
		ch->dev = *dev;
		ch->dev.relid = relid;
		if (vs->connected && vs->offers_delivered)
			send_offer(vs, ch); /* hot-add */
		return relid;
	}
	fail_msg("vmbus_sim_add_device: more than %u devices", VMBUS_SIM_CHANNELS);
	return 0;
}

uint32_t vmbus_sim_add_echo(struct vmbus_sim *vs, unsigned n)
{
	struct vmbus_sim_device dev;
	char instance[40];

	snprintf(instance, sizeof(instance), "6876d3a1-2c5e-4f0b-9d47-%012x", n);
	vmbus_sim_device_init(vs, &dev, VMBUS_SIM_ECHO_CLASS, instance);
	dev.echo = true;
	return vmbus_sim_add_device(vs, &dev);
}

void vmbus_sim_rescind(struct vmbus_sim *vs, uint32_t relid)
{
	struct vmbus_sim_channel *ch = find_channel(vs, relid);

	if (!ch || ch->rescinded)
		fail_msg("vmbus_sim_rescind: relid %u is no device (or rescinded already)", relid);
	if (!ch->offered) {
		ch->used = false; /* never offered in this connection: it just goes away */
		return;
	}
	ch->rescinded = true;
	struct vmbus_msg_relid m = { .header.type = VMBUS_MSG_RESCIND_CHANNELOFFER, .child_relid = relid };
	send_msg(vs, &m, sizeof(m));
}

void vmbus_sim_stall(struct vmbus_sim *vs, uint32_t relid, bool stalled)
{
	struct vmbus_sim_channel *ch = find_channel(vs, relid);

	if (!ch)
		fail_msg("vmbus_sim_stall: relid %u is no device", relid);
	ch->stalled = stalled;
	if (!stalled)
		service(vs, ch);
}

/* ---- guest messages ---- */

struct gmsg {
	const uint8_t *b;
	uint32_t size, type, connection;
};

/* The size rule: false when the message is too short to parse (dropped). */
static bool size_is(struct vmbus_sim *vs, const struct gmsg *m, uint32_t want)
{
	if (m->size < want) {
		violation(vs, VMBUS_SIM_RULE_MESSAGE, "%s of %u bytes, shorter than its %u: dropped", msg_name(m->type),
			  m->size, want);
		return false;
	}
	if (m->size > want)
		violation(vs, VMBUS_SIM_RULE_MESSAGE, "%s of %u bytes, not %u", msg_name(m->type), m->size, want);
	return true;
}

static bool page_ok(const struct vmbus_sim *vs, uint64_t gpa)
{
	return gpa && gpa % PAGE == 0 && gpa < (MAX_PFN << 12) && ram(vs, gpa, PAGE);
}

static bool refused(const struct vmbus_sim *vs, uint32_t v)
{
	for (unsigned i = 0; i < vs->cfg.nrefused && i < VMBUS_SIM_REFUSED_MAX; i++)
		if (vs->cfg.refused[i] == v)
			return true;
	return false;
}

#define VMAJ(v) ((v) >> 16)
#define VMIN(v) ((v)&0xffffu)

static void on_contact(struct vmbus_sim *vs, const struct gmsg *m)
{
	struct vmbus_msg_initiate_contact c;

	if (!size_is(vs, m, sizeof(c)))
		return;
	memcpy(&c, m->b, sizeof(c));
	bus_reset(vs);
	vs->contacts++;

	uint32_t v = c.version;
	bool known = version_known(v);
	if (!known)
		violation(vs, VMBUS_SIM_RULE_VERSION, "INITIATE_CONTACT for version 0x%x, which no VMBus has", v);
	uint32_t want_conn = v >= VMBUS_VERSION_5_0 ? VMBUS_MESSAGE_CONNECTION_5 : VMBUS_MESSAGE_CONNECTION;
	if (m->connection != want_conn)
		violation(vs, VMBUS_SIM_RULE_CONNECTION, "INITIATE_CONTACT for %u.%u posted to connection %u, not %u",
			  VMAJ(v), VMIN(v), m->connection, want_conn);
	bool accept = known && v <= vs->cfg.highest_version && !refused(vs, v);
	unsigned sint = VMBUS_MESSAGE_SINT;
	uint64_t ip = 0, m1 = 0, m2 = 0;

	if (accept) {
		if (v >= VMBUS_VERSION_3_0 && c.target_vcpu != vs->vp_index)
			violation(vs, VMBUS_SIM_RULE_CONTACT, "INITIATE_CONTACT target_vcpu %u: the only VP is %u",
				  c.target_vcpu, vs->vp_index);
		if (v < VMBUS_VERSION_5_0) {
			if (page_ok(vs, c.interrupt_page))
				ip = c.interrupt_page;
			else if (c.interrupt_page || v < VMBUS_VERSION_2_4)
				violation(vs, VMBUS_SIM_RULE_CONTACT, "INITIATE_CONTACT %u.%u: interrupt page 0x%llx is no "
					  "page-aligned live guest page", VMAJ(v), VMIN(v),
					  (unsigned long long)c.interrupt_page);
		} else {
			if (c.msg_sint == 0 || c.msg_sint >= HV_SINT_COUNT ||
			    (vs->sim->sint[c.msg_sint] & HV_SINT_MASKED))
				violation(vs, VMBUS_SIM_RULE_CONTACT, "INITIATE_CONTACT msg_sint %u: not a SINT the guest "
					  "unmasked", c.msg_sint);
			if (c.msg_sint && c.msg_sint < HV_SINT_COUNT)
				sint = c.msg_sint;
			if (c.msg_vtl != 0)
				violation(vs, VMBUS_SIM_RULE_CONTACT, "INITIATE_CONTACT msg_vtl %u (a normal guest is VTL 0)",
					  c.msg_vtl);
			if (c.reserved != 0 || c.feature_flags != 0)
				violation(vs, VMBUS_SIM_RULE_CONTACT, "INITIATE_CONTACT %u.%u: reserved 0x%x, feature_flags "
					  "0x%x (6.0 only)", VMAJ(v), VMIN(v), c.reserved, c.feature_flags);
		}
		if (page_ok(vs, c.monitor_page1))
			m1 = c.monitor_page1;
		else
			violation(vs, VMBUS_SIM_RULE_CONTACT, "INITIATE_CONTACT monitor page 1 0x%llx is no page-aligned "
				  "live guest page", (unsigned long long)c.monitor_page1);
		if (page_ok(vs, c.monitor_page2))
			m2 = c.monitor_page2;
		else
			violation(vs, VMBUS_SIM_RULE_CONTACT, "INITIATE_CONTACT monitor page 2 0x%llx is no page-aligned "
				  "live guest page", (unsigned long long)c.monitor_page2);
		if ((m1 && m1 == m2) || (ip && (ip == m1 || ip == m2))) {
			violation(vs, VMBUS_SIM_RULE_CONTACT, "INITIATE_CONTACT: the interrupt page 0x%llx and monitor "
				  "pages 0x%llx, 0x%llx are not distinct", (unsigned long long)ip,
				  (unsigned long long)m1, (unsigned long long)m2);
			m2 = m1 == m2 ? 0 : m2;
		}
	}

	struct vmbus_msg_version_response r = {
		.header.type = VMBUS_MSG_VERSION_RESPONSE,
		.version_supported = accept,
		.connection_state = accept ? vs->fault.contact_state : 0,
	};
	if (accept && v >= VMBUS_VERSION_5_0)
		r.msg_connection_id = vs->cfg.msg_connection_id;
	else if (accept && vs->cfg.version_response_version)
		r.msg_connection_id = v;
	vs->sint = sint;
	send_msg(vs, &r, vs->cfg.version_response_size);
	if (!accept || vs->fault.contact_state) {
		vs->sint = VMBUS_MESSAGE_SINT;
		return;
	}
	vs->connected = true;
	vs->version = v;
	vs->msg_conn = v >= VMBUS_VERSION_5_0 ? vs->cfg.msg_connection_id : VMBUS_MESSAGE_CONNECTION;
	vs->interrupt_page = ip;
	vs->monitor_page1 = m1;
	vs->monitor_page2 = m2;
}

static void on_request_offers(struct vmbus_sim *vs, const struct gmsg *m)
{
	if (!size_is(vs, m, HDR))
		return;
	if (vs->offers_requested) {
		violation(vs, VMBUS_SIM_RULE_ORDER, "REQUESTOFFERS a second time in one connection");
		return;
	}
	vs->offers_requested = true;
	send_all_offers(vs);
}

static void gpadl_answer(struct vmbus_sim *vs, const struct vmbus_sim_gpadl *g, uint32_t status)
{
	struct vmbus_msg_gpadl_created c = {
		.header.type = VMBUS_MSG_GPADL_CREATED, .child_relid = g->child_relid, .gpadl = g->handle,
		.status = status,
	};
	send_msg(vs, &c, sizeof(c));
}

/* All range bytes arrived: parse, check, answer. */
static void gpadl_complete(struct vmbus_sim *vs, struct vmbus_sim_gpadl *g)
{
	uint32_t pos = 0, len = g->range_buflen;
	bool bad = false;

	g->range = calloc(g->range_count, sizeof(*g->range));
	g->pfn = calloc(len / 8, sizeof(*g->pfn)); /* never more PFNs than u64s in the buffer */
	if (!g->range || !g->pfn)
		fail_msg("vmbus_sim: out of memory");
	for (unsigned r = 0; r < g->range_count && !bad; r++) {
		if (len - pos < 8) {
			violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL 0x%x: range %u starts past range_buflen %u", g->handle, r,
				  len);
			bad = true;
			break;
		}
		uint32_t bytes = rd32(g->buf + pos), offset = rd32(g->buf + pos + 4);
		pos += 8;
		if (bytes == 0 || offset >= PAGE) {
			violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL 0x%x: range %u of %u bytes at offset %u", g->handle, r,
				  bytes, offset);
			bad = true;
			break;
		}
		uint64_t n = ((uint64_t)offset + bytes + PAGE - 1) / PAGE;
		if (n > (len - pos) / 8) {
			violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL 0x%x: range %u (%u bytes at %u) needs %llu PFNs, past "
				  "range_buflen %u", g->handle, r, bytes, offset, (unsigned long long)n, len);
			bad = true;
			break;
		}
		g->range[r].bytes = bytes;
		g->range[r].offset = offset;
		g->range[r].first = g->npfn;
		g->range[r].count = (unsigned)n;
		for (unsigned k = 0; k < n; k++)
			g->pfn[g->npfn++] = rd64(g->buf + pos + 8 * k);
		pos += 8 * (uint32_t)n;
	}
	if (!bad && pos != len) {
		violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL 0x%x: %u ranges end at %u bytes, range_buflen says %u", g->handle,
			  g->range_count, pos, len);
		bad = true;
	}
	for (unsigned i = 0; i < g->npfn && !bad; i++) {
		if (g->pfn[i] >= MAX_PFN || !ram(vs, g->pfn[i] << 12, PAGE)) {
			violation(vs, VMBUS_SIM_RULE_MEMORY, "GPADL 0x%x: PFN %u (0x%llx) is no live guest page", g->handle, i,
				  (unsigned long long)g->pfn[i]);
			bad = true;
		}
	}
	uint32_t status = 0;
	if (bad) {
		status = vs->cfg.gpadl_fail_status;
	} else if (vs->fault.gpadl_fail) {
		vs->fault.gpadl_fail--;
		status = vs->cfg.gpadl_fail_status;
	}
	gpadl_answer(vs, g, status);
	if (status)
		gpadl_remove(vs, g);
	else
		g->complete = true;
}

static void on_gpadl_header(struct vmbus_sim *vs, const struct gmsg *m)
{
	struct vmbus_msg_gpadl_header h;
	uint32_t hs = sizeof(h);

	if (m->size < hs + 8) {
		violation(vs, VMBUS_SIM_RULE_MESSAGE, "GPADL_HEADER of %u bytes: not even one range: dropped", m->size);
		return;
	}
	memcpy(&h, m->b, hs);
	uint32_t bytes = m->size - hs;
	if (!offered_channel(vs, h.child_relid)) {
		violation(vs, VMBUS_SIM_RULE_RELID, "GPADL_HEADER 0x%x for relid %u, which is not offered: dropped", h.gpadl,
			  h.child_relid);
		return;
	}
	if (find_gpadl(vs, h.gpadl)) {
		violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL_HEADER for handle 0x%x, which is in use: dropped", h.gpadl);
		return;
	}
	if (h.range_count == 0 || h.range_buflen < 16 || h.range_buflen % 8 || bytes % 8 || bytes > h.range_buflen) {
		violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL_HEADER 0x%x: rangecount %u, range_buflen %u, %u range bytes "
			  "in the header: dropped", h.gpadl, h.range_count, h.range_buflen, bytes);
		return;
	}
	uint32_t want = h.range_buflen < GPADL_HEADER_RANGE_MAX ? h.range_buflen : GPADL_HEADER_RANGE_MAX;
	if (bytes != want)
		violation(vs, VMBUS_SIM_RULE_MESSAGE, "GPADL_HEADER 0x%x of %u bytes: with range_buflen %u it carries %u",
			  h.gpadl, m->size, h.range_buflen, hs + want);
	if (vs->cfg.gpadl_simple_only) {
		uint32_t count = rd32(m->b + hs), offset = rd32(m->b + hs + 4);
		if (h.range_count != 1 || offset != 0 || count == 0 || count % PAGE ||
		    h.range_buflen != 8 + 8 * (count / PAGE)) {
			vs->dropped++; /* QEMU: anything else is dropped without an answer */
			return;
		}
	}
	if (vs->ngpadl >= VMBUS_SIM_GPADLS) {
		struct vmbus_sim_gpadl tmp = { .handle = h.gpadl, .child_relid = h.child_relid };
		gpadl_answer(vs, &tmp, vs->cfg.gpadl_fail_status); /* out of host resources */
		return;
	}
	if (vs->ngpadl == vs->gpadl_cap) {
		unsigned cap = vs->gpadl_cap ? vs->gpadl_cap * 2 : 16;
		struct vmbus_sim_gpadl *a = realloc(vs->gpadl, cap * sizeof(*a));
		if (!a)
			fail_msg("vmbus_sim: out of memory");
		vs->gpadl = a;
		vs->gpadl_cap = cap;
	}
	struct vmbus_sim_gpadl *g = &vs->gpadl[vs->ngpadl++];
	memset(g, 0, sizeof(*g));
	g->handle = h.gpadl;
	g->child_relid = h.child_relid;
	g->range_buflen = h.range_buflen;
	g->range_count = h.range_count;
	g->time = hv_sim_now(vs->sim);
	g->buf = malloc(h.range_buflen);
	if (!g->buf)
		fail_msg("vmbus_sim: out of memory");
	memcpy(g->buf, m->b + hs, bytes);
	g->have = bytes;
	if (g->have == g->range_buflen)
		gpadl_complete(vs, g);
}

static void on_gpadl_body(struct vmbus_sim *vs, const struct gmsg *m)
{
	struct vmbus_msg_gpadl_body b;
	uint32_t bs = sizeof(b);

	if (m->size < bs + 8 || (m->size - bs) % 8) {
		violation(vs, VMBUS_SIM_RULE_MESSAGE, "GPADL_BODY of %u bytes: not 16 + 8n: dropped", m->size);
		return;
	}
	memcpy(&b, m->b, bs);
	struct vmbus_sim_gpadl *g = find_gpadl(vs, b.gpadl);
	if (!g || g->complete) {
		violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL_BODY for handle 0x%x, which is not being created: dropped",
			  b.gpadl);
		return;
	}
	uint32_t n = m->size - bs;
	if (n > (uint32_t)g->range_buflen - g->have) {
		violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL_BODY for 0x%x: %u more bytes, past range_buflen %u (had %u)",
			  b.gpadl, n, g->range_buflen, g->have);
		gpadl_answer(vs, g, vs->cfg.gpadl_fail_status);
		gpadl_remove(vs, g);
		return;
	}
	memcpy(g->buf + g->have, m->b + bs, n);
	g->have += n;
	g->bodies++;
	if (g->have == g->range_buflen)
		gpadl_complete(vs, g);
}

static struct vmbus_sim_channel *ring_user(struct vmbus_sim *vs, uint32_t handle)
{
	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++)
		if (vs->ch[i].used && vs->ch[i].open && vs->ch[i].ring_gpadl == handle)
			return &vs->ch[i];
	return NULL;
}

static void on_gpadl_teardown(struct vmbus_sim *vs, const struct gmsg *m)
{
	struct vmbus_msg_gpadl_teardown t;

	if (!size_is(vs, m, sizeof(t)))
		return;
	memcpy(&t, m->b, sizeof(t));
	struct vmbus_sim_gpadl *g = find_gpadl(vs, t.gpadl);
	if (!g) {
		violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL_TEARDOWN of handle 0x%x, which the host does not hold", t.gpadl);
		return;
	}
	if (!g->complete)
		violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL_TEARDOWN of 0x%x before all its PFNs came (%u of %u bytes)",
			  t.gpadl, g->have, g->range_buflen);
	if (g->child_relid != t.child_relid)
		violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL_TEARDOWN of 0x%x names relid %u; it belongs to relid %u",
			  t.gpadl, t.child_relid, g->child_relid);
	struct vmbus_sim_channel *ch = ring_user(vs, t.gpadl);
	if (ch) {
		violation(vs, VMBUS_SIM_RULE_GPADL, "GPADL_TEARDOWN of 0x%x, the rings of relid %u, which is open: no "
			  "answer", t.gpadl, ch->relid);
		return;
	}
	gpadl_remove(vs, g);
	struct vmbus_msg_gpadl_torndown d = { .header.type = VMBUS_MSG_GPADL_TORNDOWN, .gpadl = t.gpadl };
	send_msg(vs, &d, sizeof(d));
}

static void open_answer(struct vmbus_sim *vs, const struct vmbus_msg_open *o, uint32_t status)
{
	struct vmbus_msg_open_result r = {
		.header.type = VMBUS_MSG_OPENCHANNEL_RESULT, .child_relid = o->child_relid, .open_id = o->open_id,
		.status = status,
	};
	send_msg(vs, &r, sizeof(r));
}

static bool vp_ok(const struct vmbus_sim *vs, uint32_t vp)
{
	return vp == vs->vp_index || vp == VMBUS_VP_NO_INTERRUPTS;
}

static void ring_map(struct vmbus_sim_ring *r, const uint64_t *pfn, unsigned pages)
{
	r->control = (volatile struct vmbus_ring_control *)(uintptr_t)(pfn[0] << 12);
	r->pages = pages - 1;
	r->size = r->pages * PAGE;
	r->pfn = malloc(r->pages * sizeof(*r->pfn));
	if (!r->pfn)
		fail_msg("vmbus_sim: out of memory");
	memcpy(r->pfn, pfn + 1, r->pages * sizeof(*r->pfn));
}

static void on_open(struct vmbus_sim *vs, const struct gmsg *m)
{
	struct vmbus_msg_open o;

	if (!size_is(vs, m, sizeof(o)))
		return;
	memcpy(&o, m->b, sizeof(o));
	struct vmbus_sim_channel *ch = offered_channel(vs, o.child_relid);
	if (!ch) {
		violation(vs, VMBUS_SIM_RULE_RELID, "OPENCHANNEL for relid %u, which is not offered: dropped", o.child_relid);
		return;
	}
	if (ch->rescinded) {
		open_answer(vs, &o, vs->cfg.open_fail_status); /* the guest may not have seen the rescind yet */
		return;
	}
	if (ch->open) {
		violation(vs, VMBUS_SIM_RULE_OPEN, "OPENCHANNEL for relid %u, which is open already", o.child_relid);
		open_answer(vs, &o, vs->cfg.open_fail_status);
		return;
	}
	struct vmbus_sim_gpadl *g = find_gpadl(vs, o.ring_gpadl);
	const char *why = NULL;
	if (!g || !g->complete)
		why = "the ring GPADL is not created";
	else if (g->gone)
		why = "the guest freed pages of the ring GPADL";
	else if (g->child_relid != o.child_relid)
		why = "the ring GPADL belongs to another relid";
	if (!why) {
		for (unsigned r = 0; r < g->range_count; r++)
			if (g->range[r].offset != 0 || g->range[r].bytes != g->range[r].count * PAGE)
				why = "the ring GPADL is not made of whole pages";
	}
	if (!why && (o.downstream_page_offset < vs->cfg.ring_min_pages || o.downstream_page_offset >= g->npfn ||
		     g->npfn - o.downstream_page_offset < vs->cfg.ring_min_pages))
		why = "downstream_page_offset leaves a ring too small";
	if (!why && vs->version >= VMBUS_VERSION_2_4 && !vp_ok(vs, o.target_vp))
		why = "target_vp is no VP";
	if (why) {
		violation(vs, VMBUS_SIM_RULE_OPEN, "OPENCHANNEL relid %u, GPADL 0x%x (%u pages), page offset %u, VP %u: %s",
			  o.child_relid, o.ring_gpadl, g ? g->npfn : 0, o.downstream_page_offset, o.target_vp, why);
		open_answer(vs, &o, vs->cfg.open_fail_status);
		return;
	}
	ring_map(&ch->out, g->pfn, o.downstream_page_offset);
	ring_map(&ch->in, g->pfn + o.downstream_page_offset, g->npfn - o.downstream_page_offset);
	volatile struct vmbus_ring_control *oc = ch->out.control, *ic = ch->in.control;
	if (!index_ok(&ch->out, oc->write_index) || !index_ok(&ch->out, oc->read_index) ||
	    !index_ok(&ch->in, ic->write_index) || !index_ok(&ch->in, ic->read_index)) {
		violation(vs, VMBUS_SIM_RULE_RING, "OPENCHANNEL relid %u: ring indices %u/%u and %u/%u outside the data "
			  "areas (%u, %u bytes) or not multiples of 8", o.child_relid, oc->write_index, oc->read_index,
			  ic->write_index, ic->read_index, ch->out.size, ch->in.size);
		channel_teardown_rings(ch);
		open_answer(vs, &o, vs->cfg.open_fail_status);
		return;
	}
	if (vs->fault.open_fail) {
		vs->fault.open_fail--;
		channel_teardown_rings(ch);
		open_answer(vs, &o, vs->cfg.open_fail_status);
		return;
	}
	ch->open = true;
	ch->broken = false;
	ch->opens++;
	ch->open_id = o.open_id;
	ch->ring_gpadl = o.ring_gpadl;
	ch->target_vp = o.target_vp;
	ch->page_offset = o.downstream_page_offset;
	memcpy(ch->user_data, o.user_data, sizeof(ch->user_data));
	ch->out_read = ch->out_published = oc->read_index;
	ch->out_seen_write = oc->write_index;
	ch->out_signalled = false;
	oc->interrupt_mask = 0;
	ch->in_write = ic->write_index;
	ch->in_seen_read = ic->read_index;
	ch->in_pending = 0;
	ic->pending_send_sz = 0;
	ic->feature_bits |= VMBUS_RING_FEATURE_PENDING_SEND_SZ; /* QEMU sets it on its producer ring */
	open_answer(vs, &o, 0);
	device_event(vs, ch, VMBUS_SIM_OPENED);
}

static void on_close(struct vmbus_sim *vs, const struct gmsg *m)
{
	struct vmbus_msg_relid c;

	if (!size_is(vs, m, sizeof(c)))
		return;
	memcpy(&c, m->b, sizeof(c));
	struct vmbus_sim_channel *ch = offered_channel(vs, c.child_relid);
	if (!ch) {
		violation(vs, VMBUS_SIM_RULE_RELID, "CLOSECHANNEL for relid %u, which is not offered", c.child_relid);
		return;
	}
	if (!ch->open) {
		violation(vs, VMBUS_SIM_RULE_OPEN, "CLOSECHANNEL for relid %u, which is not open", c.child_relid);
		return;
	}
	channel_close(vs, ch);
}

static void on_relid_released(struct vmbus_sim *vs, const struct gmsg *m)
{
	struct vmbus_msg_relid c;

	if (!size_is(vs, m, sizeof(c)))
		return;
	memcpy(&c, m->b, sizeof(c));
	struct vmbus_sim_channel *ch = offered_channel(vs, c.child_relid);
	if (!ch) {
		violation(vs, VMBUS_SIM_RULE_RELID, "RELID_RELEASED for relid %u, which is not offered", c.child_relid);
		return;
	}
	if (!ch->rescinded) {
		violation(vs, VMBUS_SIM_RULE_RESCIND, "RELID_RELEASED for relid %u, which was not rescinded: dropped",
			  c.child_relid);
		return;
	}
	if (ch->open) {
		violation(vs, VMBUS_SIM_RULE_RESCIND, "RELID_RELEASED for relid %u while it is still open", c.child_relid);
		channel_close(vs, ch);
	}
	unsigned left = 0;
	for (unsigned i = 0; i < vs->ngpadl;) {
		if (vs->gpadl[i].child_relid == c.child_relid) {
			left++;
			gpadl_remove(vs, &vs->gpadl[i]);
		} else {
			i++;
		}
	}
	if (left)
		violation(vs, VMBUS_SIM_RULE_RESCIND, "RELID_RELEASED for relid %u with %u of its GPADLs not torn down",
			  c.child_relid, left);
	device_event(vs, ch, VMBUS_SIM_RELEASED);
	channel_teardown_rings(ch);
	ch->used = false;
	vs->releases++;
	vs->last_released = c.child_relid;
}

static void on_unload(struct vmbus_sim *vs, const struct gmsg *m)
{
	if (!size_is(vs, m, HDR))
		return;
	bool answer = !vs->connected || vs->version >= VMBUS_VERSION_1_1;
	unsigned sint = vs->sint;
	bus_reset(vs);
	vs->unloads++;
	if (answer) {
		struct vmbus_msg_header h = { .type = VMBUS_MSG_UNLOAD_RESPONSE };
		vs->sint = sint;
		send_msg(vs, &h, sizeof(h));
		vs->sint = VMBUS_MESSAGE_SINT;
	}
}

static void on_modify(struct vmbus_sim *vs, const struct gmsg *m)
{
	struct vmbus_msg_modify_channel c;

	if (!size_is(vs, m, sizeof(c)))
		return;
	memcpy(&c, m->b, sizeof(c));
	struct vmbus_sim_channel *ch = offered_channel(vs, c.child_relid);
	if (!ch || !ch->open) {
		violation(vs, VMBUS_SIM_RULE_OPEN, "MODIFYCHANNEL for relid %u, which is not open", c.child_relid);
		return;
	}
	uint32_t status = 0;
	if (!vp_ok(vs, c.target_vp)) {
		violation(vs, VMBUS_SIM_RULE_OPEN, "MODIFYCHANNEL relid %u to VP %u, which does not exist", c.child_relid,
			  c.target_vp);
		status = vs->cfg.open_fail_status;
	} else {
		ch->target_vp = c.target_vp;
	}
	if (vs->version >= VMBUS_VERSION_5_3) {
		struct vmbus_msg_modify_channel r = {
			.header.type = VMBUS_MSG_MODIFYCHANNEL_RESPONSE, .child_relid = c.child_relid, .target_vp = status,
		};
		send_msg(vs, &r, sizeof(r));
	}
}

static void on_tl_connect(struct vmbus_sim *vs, const struct gmsg *m)
{
	uint8_t r[44];

	if (!(m->size == 56 && vs->version >= VMBUS_VERSION_5_2) && !size_is(vs, m, 40))
		return;
	if (vs->version < VMBUS_VERSION_4_1)
		return;
	memset(r, 0, sizeof(r));
	uint32_t type = VMBUS_MSG_TL_CONNECT_RESULT, status = STATUS_CONNECTION_REFUSED;
	memcpy(r, &type, 4);
	memcpy(r + 8, m->b + 8, 32); /* endpoint and service GUIDs */
	memcpy(r + 40, &status, 4);
	send_msg(vs, r, sizeof(r));
}

static void handle(struct vmbus_sim *vs, const struct gmsg *m)
{
	if (m->type == VMBUS_MSG_INITIATE_CONTACT) {
		on_contact(vs, m);
		return;
	}
	if (m->connection == VMBUS_MESSAGE_CONNECTION_5 && vs->cfg.connection4)
		violation(vs, VMBUS_SIM_RULE_CONNECTION, "%s posted to connection 4, which takes INITIATE_CONTACT only",
			  msg_name(m->type));
	else if (vs->connected && m->connection != vs->msg_conn)
		violation(vs, VMBUS_SIM_RULE_CONNECTION, "%s posted to connection 0x%x; version %u.%u says 0x%x",
			  msg_name(m->type), m->connection, VMAJ(vs->version), VMIN(vs->version), vs->msg_conn);
	if (m->type == VMBUS_MSG_UNLOAD) {
		on_unload(vs, m);
		return;
	}
	switch (m->type) {
	case VMBUS_MSG_REQUESTOFFERS:
	case VMBUS_MSG_OPENCHANNEL:
	case VMBUS_MSG_CLOSECHANNEL:
	case VMBUS_MSG_GPADL_HEADER:
	case VMBUS_MSG_GPADL_BODY:
	case VMBUS_MSG_GPADL_TEARDOWN:
	case VMBUS_MSG_RELID_RELEASED:
	case VMBUS_MSG_MODIFYCHANNEL:
	case VMBUS_MSG_TL_CONNECT_REQUEST:
		break;
	case VMBUS_MSG_OFFERCHANNEL:
	case VMBUS_MSG_RESCIND_CHANNELOFFER:
	case VMBUS_MSG_ALLOFFERS_DELIVERED:
	case VMBUS_MSG_OPENCHANNEL_RESULT:
	case VMBUS_MSG_GPADL_CREATED:
	case VMBUS_MSG_GPADL_TORNDOWN:
	case VMBUS_MSG_VERSION_RESPONSE:
	case VMBUS_MSG_UNLOAD_RESPONSE:
	case 20:
	case VMBUS_MSG_TL_CONNECT_RESULT:
	case VMBUS_MSG_MODIFYCHANNEL_RESPONSE:
		violation(vs, VMBUS_SIM_RULE_MESSAGE, "%s (%u) from the guest: a host-to-guest message", msg_name(m->type),
			  m->type);
		return;
	default:
		violation(vs, VMBUS_SIM_RULE_MESSAGE, "channel message type %u (%s): not one a guest sends here", m->type,
			  msg_name(m->type));
		return;
	}
	if (!vs->connected) {
		violation(vs, VMBUS_SIM_RULE_ORDER, "%s before a successful INITIATE_CONTACT: dropped", msg_name(m->type));
		return;
	}
	if ((m->type == VMBUS_MSG_MODIFYCHANNEL && vs->version < VMBUS_VERSION_4_1) ||
	    (m->type == VMBUS_MSG_TL_CONNECT_REQUEST && vs->version < VMBUS_VERSION_4_0)) {
		violation(vs, VMBUS_SIM_RULE_VERSION, "%s at version %u.%u, older than the message: dropped",
			  msg_name(m->type), VMAJ(vs->version), VMIN(vs->version));
		return;
	}
	switch (m->type) {
	case VMBUS_MSG_REQUESTOFFERS:
		on_request_offers(vs, m);
		break;
	case VMBUS_MSG_OPENCHANNEL:
		on_open(vs, m);
		break;
	case VMBUS_MSG_CLOSECHANNEL:
		on_close(vs, m);
		break;
	case VMBUS_MSG_GPADL_HEADER:
		on_gpadl_header(vs, m);
		break;
	case VMBUS_MSG_GPADL_BODY:
		on_gpadl_body(vs, m);
		break;
	case VMBUS_MSG_GPADL_TEARDOWN:
		on_gpadl_teardown(vs, m);
		break;
	case VMBUS_MSG_RELID_RELEASED:
		on_relid_released(vs, m);
		break;
	case VMBUS_MSG_MODIFYCHANNEL:
		on_modify(vs, m);
		break;
	case VMBUS_MSG_TL_CONNECT_REQUEST:
		on_tl_connect(vs, m);
		break;
	default:
		break;
	}
}

static uint16_t on_post(void *ctx, struct hv_sim *sim, const struct hv_sim_posted *p)
{
	struct vmbus_sim *vs = ctx;
	uint8_t b[VMBUS_MESSAGE_MAX];
	(void)sim;

	if (vs->magic != VS_MAGIC)
		return HV_STATUS_INVALID_CONNECTION_ID;
	memset(b, 0, sizeof(b));
	uint32_t size = p->size <= VMBUS_MESSAGE_MAX ? p->size : VMBUS_MESSAGE_MAX;
	memcpy(b, p->payload, size);
	uint32_t relid = 0, gpadl = 0;
	if (size >= 4)
		msg_ids(rd32(b), b, size, &relid, &gpadl);
	sim_trace(vs, VMBUS_SIM_TO_HOST, VMBUS_SIM_TRACE_MESSAGE, relid, b, size, p->connection);
	if (p->type != VMBUS_MESSAGE_TYPE) {
		violation(vs, VMBUS_SIM_RULE_MESSAGE, "HvPostMessage with message_type %u (VMBus uses 1): dropped", p->type);
		return HV_STATUS_SUCCESS;
	}
	if (size < HDR) {
		violation(vs, VMBUS_SIM_RULE_MESSAGE, "a %u-byte message: no channel message header: dropped", size);
		return HV_STATUS_SUCCESS;
	}
	struct gmsg m = { .b = b, .size = size, .type = rd32(b), .connection = p->connection };
	if (rd32(b + 4) != 0)
		violation(vs, VMBUS_SIM_RULE_MESSAGE, "%s with header padding 0x%x", msg_name(m.type), rd32(b + 4));
	handle(vs, &m);
	return HV_STATUS_SUCCESS;
}

/* ---- hv_sim's observer and page user ---- */

static void poll_monitor(struct vmbus_sim *vs)
{
	if (!vs->connected || !vs->monitor_page2)
		return;
	uint8_t *page = (uint8_t *)(uintptr_t)vs->monitor_page2;
	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++) {
		struct vmbus_sim_channel *ch = &vs->ch[i];
		if (!ch->used || !ch->offered || !ch->dev.monitor_allocated)
			continue;
		unsigned group = ch->dev.monitor_id / 32u, bit = ch->dev.monitor_id % 32u;
		uint32_t *pending = (uint32_t *)(void *)(page + offsetof(struct vmbus_monitor_page, trigger_group) +
							   group * 8u);
		if (!(__atomic_load_n(pending, __ATOMIC_RELAXED) & (1u << bit)))
			continue;
		uint32_t was = __atomic_fetch_and(pending, ~(1u << bit), __ATOMIC_SEQ_CST);
		if (was & (1u << bit))
			channel_signal(vs, ch, true);
	}
}

/* The guest waits: anything it should have told the host first is a violation now. */
static void halt_checks(struct vmbus_sim *vs)
{
	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++) {
		struct vmbus_sim_channel *ch = &vs->ch[i];
		uint32_t wi, ri;
		if (!ch->used || !rings_live(ch) || ch->stalled || vs->in_host)
			continue;
		if (ch->in_pending && in_read_index(vs, ch, &ri) &&
		    ch->in.size - ring_used(ch->in.size, ch->in_write, ri) > ch->in_pending) {
			violation(vs, VMBUS_SIM_RULE_SIGNAL, "relid %u: the guest freed the %u bytes the host asked for "
				  "(pending_send_sz) and waits without signalling", ch->relid, ch->in_pending);
			service(vs, ch);
			continue;
		}
		if (!ch->nbacklog && rings_live(ch) && out_write_index(vs, ch, &wi) && wi != ch->out_read &&
		    !ch->out_signalled) {
			violation(vs, VMBUS_SIM_RULE_SIGNAL, "relid %u: the guest waits with %u bytes in the guest->host "
				  "ring it never signalled", ch->relid, ring_used(ch->out.size, wi, ch->out_read));
			ch->out_signalled = true;
			service(vs, ch);
		}
	}
}

static void observer(void *ctx, struct hv_sim *sim, enum hv_sim_tick why)
{
	struct vmbus_sim *vs = ctx;
	(void)sim;

	if (vs->magic != VS_MAGIC)
		return;
	outbox_flush(vs);
	poll_monitor(vs);
	if (why == HV_SIM_TICK_HALT)
		halt_checks(vs);
}

static bool page_user(void *ctx, const struct hv_sim *sim, const void *addr, size_t count)
{
	struct vmbus_sim *vs = ctx;
	uint64_t lo = (uint64_t)(uintptr_t)addr, hi = lo + count * PAGE;
	(void)sim;

	if (vs->magic != VS_MAGIC)
		return false;
	for (unsigned i = 0; i < vs->ngpadl; i++) {
		struct vmbus_sim_gpadl *g = &vs->gpadl[i];
		if (!g->complete || g->gone)
			continue;
		for (unsigned k = 0; k < g->npfn; k++) {
			uint64_t gpa = g->pfn[k] << 12;
			if (gpa < lo || gpa >= hi)
				continue;
			violation(vs, VMBUS_SIM_RULE_MEMORY, "the guest freed page 0x%llx of GPADL 0x%x (relid %u) before "
				  "its teardown", (unsigned long long)gpa, g->handle, g->child_relid);
			g->gone = true;
			struct vmbus_sim_channel *ch = ring_user(vs, g->handle);
			if (ch)
				channel_break(vs, ch);
			break;
		}
	}
	uint64_t *pages[] = { &vs->interrupt_page, &vs->monitor_page1, &vs->monitor_page2 };
	static const char *const names[] = { "interrupt page", "monitor page 1", "monitor page 2" };
	for (unsigned i = 0; i < 3; i++) {
		if (*pages[i] && *pages[i] >= lo && *pages[i] < hi) {
			violation(vs, VMBUS_SIM_RULE_MEMORY, "the guest freed its VMBus %s 0x%llx while connected (UNLOAD "
				  "first)", names[i], (unsigned long long)*pages[i]);
			*pages[i] = 0;
		}
	}
	return false; /* recorded; the free goes ahead and the host lets go */
}

/* ---- start, check, stop ---- */

void vmbus_sim_start(struct vmbus_sim *vs, struct hv_sim *sim, const struct vmbus_sim_config *cfg)
{
	memset(vs, 0, sizeof(*vs));
	vs->magic = VS_MAGIC;
	vs->sim = sim;
	if (cfg)
		vs->cfg = *cfg;
	else
		vmbus_sim_config_hyperv(&vs->cfg);
	if (vs->cfg.max_relid == 0 || vs->cfg.max_relid > VMBUS_RELID_MAX)
		vs->cfg.max_relid = VMBUS_RELID_MAX;
	vs->vp_index = sim->cfg.vp_index;
	vs->sint = VMBUS_MESSAGE_SINT;
	vs->msg_conn = VMBUS_MESSAGE_CONNECTION;
	vs->outbox = calloc(VMBUS_SIM_OUTBOX, sizeof(*vs->outbox));
	if (!vs->outbox)
		fail_msg("vmbus_sim: out of memory");
	if (sim->observer || sim->page_user)
		fail_msg("vmbus_sim_start: hv_sim's observer or page user is taken");
	hv_sim_add_connection(sim, VMBUS_MESSAGE_CONNECTION, true, false, on_post, NULL, vs);
	if (vs->cfg.connection4) {
		hv_sim_add_connection(sim, VMBUS_MESSAGE_CONNECTION_5, true, false, on_post, NULL, vs);
		uint32_t id = vs->cfg.msg_connection_id;
		if (id != VMBUS_MESSAGE_CONNECTION && id != VMBUS_MESSAGE_CONNECTION_5)
			hv_sim_add_connection(sim, id, true, false, on_post, NULL, vs);
	}
	register_events(vs, VMBUS_EVENT_CONNECTION);
	hv_sim_set_observer(sim, observer, vs);
	hv_sim_set_page_user(sim, page_user, vs);
}

unsigned vmbus_sim_check(struct vmbus_sim *vs)
{
	uint64_t packets = 0;

	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++) {
		struct vmbus_sim_channel *ch = &vs->ch[i];
		if (!ch->used)
			continue;
		packets += ch->packets_in;
		uint64_t allowed = vs->cfg.unneeded_signals + ch->packets_in * vs->cfg.unneeded_signals_pct / 100;
		if (ch->unneeded_signals > allowed && !ch->signals_flagged) {
			violation(vs, VMBUS_SIM_RULE_SIGNAL, "relid %u: %u unneeded signals (of %u) for %llu packets; %llu "
				  "allowed", ch->relid, ch->unneeded_signals, ch->signals,
				  (unsigned long long)ch->packets_in, (unsigned long long)allowed);
			ch->signals_flagged = true; /* reported once */
		}
	}
	uint64_t allowed = vs->cfg.unneeded_signals + packets * vs->cfg.unneeded_signals_pct / 100;
	if (vs->stray_signals > allowed && !vs->stray_flagged) {
		violation(vs, VMBUS_SIM_RULE_SIGNAL, "%u signals no channel took; %llu allowed", vs->stray_signals,
			  (unsigned long long)allowed);
		vs->stray_flagged = true;
	}
	return vs->nviolations;
}

unsigned vmbus_sim_stop(struct vmbus_sim *vs)
{
	if (vs->magic != VS_MAGIC)
		return 0;
	unsigned n = vmbus_sim_check(vs);
	if (n)
		vmbus_sim_print_violations(vs);
	for (unsigned i = 0; i < VMBUS_SIM_CHANNELS; i++)
		if (vs->ch[i].used)
			channel_teardown_rings(&vs->ch[i]);
	while (vs->ngpadl)
		gpadl_remove(vs, &vs->gpadl[0]);
	free(vs->gpadl);
	free(vs->outbox);
	free(vs->log);
	vs->gpadl = NULL;
	vs->outbox = NULL;
	vs->log = NULL;
	vs->nlog = vs->log_cap = 0;
	vs->gpadl_cap = 0;
	vs->nout = 0;
	hv_sim_cancel(vs->sim, outbox_timer, vs);
	if (vs->sim->observer == observer)
		hv_sim_set_observer(vs->sim, NULL, NULL);
	if (vs->sim->page_user == page_user)
		hv_sim_set_page_user(vs->sim, NULL, NULL);
	vs->magic = 0;
	return n;
}
