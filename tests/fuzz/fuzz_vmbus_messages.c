/*
 * libFuzzer target: the guest's VMBus layer (vmbus/, hv/synic.c) against a
 * host that says whatever the input says.
 *
 * The guest runs hosted on the simulated Hyper-V (tests/hostsim/hv_sim.h)
 * with the simulated VMBus host (vmbus_sim.h, QEMU 7.2 preset unless the
 * input asks for the Hyper-V one), which offers one echo device. Each input:
 *
 *   1. a fresh VMBus host (vmbus_sim_start) on the long-lived hv_sim, the
 *      guest connects (hvrt_vmbus_connect) and opens the echo channel
 *      through the public API, as an app would;
 *   2. the input's operations, each followed by hvrt_poll() (unless its
 *      opcode has bit 7 set: then the next one follows at once, so several
 *      messages can wait in the SynIC queue for a wait of the guest's to
 *      find): control messages posted on SINT2 past the simulated host,
 *      some with a lying SynIC header, some due at a later reference time
 *      (so they land inside a wait of the guest's); raw, lying and
 *      well-formed packets in the echo channel's host -> guest ring; lying
 *      write indices; event flags and interrupt-page bits; scribbles on the
 *      ring control pages; a rewrite of the host's next genuine answer, or
 *      none at all; and guest calls (send, request, GPADL create and
 *      teardown, close and open again, receive, wait for room, GPA-direct
 *      send, MODIFYCHANNEL) to put the guest in the states the lies hit;
 *   3. hvrt_vmbus_disconnect(), which must return.
 * The guest must not crash (ASan, UBSan), hang (hv_sim fails a guest that
 * halts with nothing armed, or more than HV_SIM_MAX_HALTS times in one
 * input; libFuzzer's -timeout catches a spin) or break a promise of the
 * public API (on_packet's packet inside its buffer; a request from
 * on_packet gets -EDEADLK, or -ENODEV once rescinded). A failure of the
 * simulator (its fail_msg) aborts too, with its message: the harness only
 * uses sim features that fail on guest bugs, so such an abort is a finding
 * as well.
 *
 * Input layout (tests/fuzz/make_seeds.py writes seeds):
 *   u8 config: bit 0 Hyper-V preset (else QEMU 7.2), bit 1 max_packet_bytes
 *      256 (else the default 4160), bit 2 a polled channel, bit 3 on_packet
 *      makes a request on its own channel (must get -EDEADLK), bit 4 a 4-page
 *      receive ring (else 2 pages), bit 5 a second device, of a class of the
 *      harness's own (FUZZ_CLASS), which the harness's driver opens when it
 *      is offered (so do fuzzed offers of that class), bit 6 an extended
 *      config byte follows, bit 7 on_rescind closes the channel
 *   [u8 extended config: bits 0-2 the host's highest version (version_cap[]:
 *      the preset's, 3.0, 2.4, 1.1, 0.13, 5.0, 4.1, 4.0), bit 3 the echo
 *      device signalled through the monitor page, bit 4 the host lies from
 *      its first message (then: an OP_EDIT spec, u8 connection_state fault,
 *      u32 drop_answers, and one OP_MSG_LATER message, all before the
 *      connection; the connection or the open may then fail, and the input
 *      ends there), bit 5 the traffic capture records the input and is
 *      written out at the end]
 *   then operations: u8 opcode (low 7 bits % OP_COUNT, bit 7: no poll after
 *   it) and its arguments, as enum op says; at most OPS_MAX.
 *
 * Handle fields of GPADL_CREATED (@12) and GPADL_TORNDOWN (@8) in injected
 * messages are relative to the handle of this input's ring GPADL (0 is it,
 * 1 the next one the guest makes), so a seed does not depend on how many
 * GPADLs came before it.
 *
 * Every input starts from the same guest: vmbus/ keeps its state for the
 * life of the program (channel objects are never freed, handles count up,
 * VMBUS_CHANNELS_MAX objects at most), so its files are compiled through
 * tests/fuzz/state/ and their state is saved after a warm-up cycle and put
 * back after each input, once the input's channel objects are freed; hv/
 * stays up throughout (after the disconnect it holds nothing of the input).
 *
 * What the simulator is told to tolerate, since a host does it here: its
 * violation records are ignored (forged messages make the guest do what the
 * strict host's own state calls wrong: a RELID_RELEASED after a forged
 * rescind, say), and pages the guest abandoned (a ring whose GPADL_TORNDOWN
 * never came) are freed after the input once the bus is unloaded and the
 * host stopped, so memory stays bounded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hvrt/hv.h>
#include <hvrt/log.h>
#include <hvrt/mem.h>
#include <hvrt/vmbus.h>
#include <hvrt/vmbus_capture.h>

#include "arch/x86_64/console.h"
#include "arch/x86_64/cpu.h"
#include "hv/hv.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/state.h"
#include "tests/hostsim/hv_sim.h"
#include "tests/hostsim/vmbus_sim.h"
#include "vmbus/vmbus.h"

#define OPS_MAX 256u
#define PG HVRT_PAGE_SIZE
#define BUFS_MAX 8u
#define BASELINE_MAX 64u
#define LATER_MAX 8u
/* A class no real device has: fuzzed offers of it are probed by fuzz_driver. */
#define FUZZ_CLASS "66757a7a-7666-4d62-8000-000000000001"


/*
 * The simulators fail through cmocka's fail_msg, which outside a cmocka test
 * exits with status 255; linked with --wrap=_fail, it aborts here instead,
 * so libFuzzer reports a crash with the simulator's message and a stack.
 */
void __wrap__fail(const char *file, int line);
void __wrap__fail(const char *file, int line)
{
	fprintf(stderr, "fuzz_vmbus_messages: simulator failure at %s:%d (message above)\n", file, line);
	abort();
}

static struct hv_sim sim;
static struct vmbus_sim vs;
static bool verbose;

/* The input's state. */
static struct fz {
	uint8_t config;
	uint32_t relid;           /* the echo device's */
	struct hvrt_channel *ch;  /* its channel (freed after the input: state_restore) */
	uint32_t gpadl_base;      /* its ring GPADL: injected handles are relative to it */
	bool host_rescinded;      /* vmbus_sim_rescind was called */
	struct hvrt_channel_config cfg;
	struct {
		void *pages;
		size_t count;
		uint32_t handle;  /* GPADL (0: none, or torn down) */
	} buf[BUFS_MAX];
	unsigned nbuf;
	struct {
		bool armed;
		uint8_t type;     /* 0xff: any */
		uint8_t offset;
		uint32_t value;
		uint8_t len;      /* 0: keep */
	} edit;
	unsigned in_packet;       /* on_packet frames */
	bool capture;             /* the capture records this input */
	struct later {
		bool used;
		struct hv_message msg;
	} later[LATER_MAX];       /* messages due at a later reference time (OP_MSG_LATER) */
} fz;

static void *baseline[BASELINE_MAX]; /* guest pages live between inputs (SynIC, hypercall, monitor pages) */
static unsigned nbaseline;
static bool have_baseline;

/* vmbus/'s state (tests/fuzz/state.h), saved after the warm-up and put back after every input. */
struct fuzz_state fuzz_state_rt(void);
struct fuzz_state fuzz_state_channels(void);
struct fuzz_state fuzz_state_conn(void);
struct fuzz_state fuzz_state_drivers(void);
struct fuzz_state fuzz_state_events(void);
struct fuzz_state fuzz_state_gpadls(void);
struct fuzz_state fuzz_state_offers(void);
struct hvrt_channel *fuzz_offers_released(void);
int fuzz_offers_free_since(struct hvrt_channel *head);

static struct fuzz_state (*const state_of[])(void) = {
	fuzz_state_rt, fuzz_state_channels, fuzz_state_conn, fuzz_state_drivers,
	fuzz_state_events, fuzz_state_gpadls, fuzz_state_offers,
};
#define NSTATES (sizeof(state_of) / sizeof(state_of[0]))
static struct {
	struct fuzz_state where;
	void *saved;
} state[NSTATES];
static struct hvrt_channel *released_head; /* the released channels' list at the snapshot */

static void state_save(void)
{
	for (unsigned i = 0; i < NSTATES; i++) {
		state[i].where = state_of[i]();
		state[i].saved = malloc(state[i].where.size);
		CHECK(state[i].saved, "out of memory");
		memcpy(state[i].saved, state[i].where.addr, state[i].where.size);
	}
	released_head = fuzz_offers_released();
}

/* After the disconnect: the input's channel objects go (nothing will refer to them), then the state. */
static void state_restore(void)
{
	CHECK(fuzz_offers_free_since(released_head) == 0, "a channel is still in the table after the disconnect");
	for (unsigned i = 0; i < NSTATES; i++)
		memcpy(state[i].where.addr, state[i].saved, state[i].where.size);
}

/* ---- the guest's callbacks ---- */

static void on_packet(struct hvrt_channel *ch, const struct hvrt_packet *pkt, void *ctx)
{
	(void)ctx;
	const uint8_t *raw = pkt->raw, *payload = pkt->payload;
	CHECK(pkt->raw_len >= 16 && pkt->raw_len <= ch->rx_cap && pkt->raw_len % 8 == 0, "raw_len %u (cap %zu)",
	      pkt->raw_len, ch->rx_cap);
	CHECK(payload >= raw + 16 && payload + pkt->payload_len == raw + pkt->raw_len,
	      "payload at +%td, %u bytes, of a %u-byte packet", payload - raw, pkt->payload_len, pkt->raw_len);
	/* Touch every byte: ASan checks the buffer really is that large. */
	volatile uint8_t sum = 0;
	for (uint32_t i = 0; i < pkt->raw_len; i++)
		sum += raw[i];
	(void)sum;
	fz.in_packet++;
	if ((fz.config & 8) && fz.in_packet == 1) {
		uint8_t resp[16];
		int r = hvrt_channel_request(ch, "x", 1, resp, sizeof(resp), 10);
		/* A rescinded channel says -ENODEV first (hvrt_channel_request checks that before anything). */
		CHECK(r == -EDEADLK || (r == -ENODEV && hvrt_channel_rescinded(ch)),
		      "a request from the channel's own on_packet: %d", r);
	}
	if ((pkt->flags & VMBUS_PACKET_FLAG_COMPLETION_REQUESTED) && pkt->type != VMBUS_PACKET_COMPLETION)
		hvrt_channel_send_completion(ch, pkt->trans_id, NULL, 0);
	fz.in_packet--;
}

/* A rescinded channel's sends fail at once (-EIO if a lie broke it first); bit 7 of config: closed here. */
static void on_rescind(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	CHECK(hvrt_channel_rescinded(ch), "on_rescind of a channel that is not rescinded");
	int r = hvrt_channel_send(ch, "x", 1, 1, false);
	CHECK(r == -ENODEV || r == -EIO, "a send on a rescinded channel: %d", r);
	if (fz.config & 128)
		hvrt_channel_close(ch);
}

static int fuzz_probe(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	struct hvrt_channel_config c = {
		.send_ring_bytes = 2 * PG, .recv_ring_bytes = 2 * PG, .target_vp = hvrt_host()->vp_index,
		.on_packet = on_packet, .on_rescind = on_rescind,
	};
	return hvrt_channel_open(ch, &c);
}

static void fuzz_remove(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	hvrt_channel_close(ch);
}

static struct hvrt_vmbus_driver fuzz_driver = { .name = "fuzz", .probe = fuzz_probe, .remove = fuzz_remove };

/* ---- the lying host ---- */

/* Rewrites the host's next genuine message of the chosen type (once). */
static void edit_message(void *ctx, struct vmbus_sim *v, uint8_t *msg, uint32_t *len)
{
	(void)ctx;
	(void)v;
	if (!fz.edit.armed || (fz.edit.type != 0xff && msg[0] != fz.edit.type))
		return;
	fz.edit.armed = false;
	if (fz.edit.len)
		*len = fz.edit.len % (VMBUS_MESSAGE_MAX + 1);
	if (fz.edit.offset + 4u <= VMBUS_MESSAGE_MAX)
		memcpy(msg + fz.edit.offset, &fz.edit.value, 4);
}

/* GPADL handles in injected messages count from this input's ring GPADL. */
static void rebase_handles(uint8_t *msg, size_t len)
{
	uint32_t type, h;
	size_t at;

	if (len < 4)
		return;
	memcpy(&type, msg, 4);
	if (type == VMBUS_MSG_GPADL_CREATED)
		at = offsetof(struct vmbus_msg_gpadl_created, gpadl);
	else if (type == VMBUS_MSG_GPADL_TORNDOWN)
		at = offsetof(struct vmbus_msg_gpadl_torndown, gpadl);
	else
		return;
	if (len < at + 4)
		return;
	memcpy(&h, msg + at, 4);
	h += fz.gpadl_base;
	memcpy(msg + at, &h, 4);
}

/* Queues a message on the VMBus SINT; when the queue is full the guest takes some first. */
static void post(const struct hv_message *m)
{
	if (!hv_sim_post_message(&sim, VMBUS_MESSAGE_SINT, m)) {
		hvrt_poll();
		hv_sim_post_message(&sim, VMBUS_MESSAGE_SINT, m);
	}
}

static void post_payload(const uint8_t *payload, size_t len)
{
	struct hv_message m;

	memset(&m, 0, sizeof(m));
	m.message_type = VMBUS_MESSAGE_TYPE;
	m.payload_size = (uint8_t)len;
	memcpy(m.payload, payload, len);
	rebase_handles(m.payload, len);
	post(&m);
}

/*
 * A message due later: it comes in the middle of whatever the guest then
 * waits for (hv_sim moves time to it in the guest's halt), as a slow or
 * lying host's answer would. Only queued from there: the guest is not
 * re-entered from inside its halt.
 */
static void later_fire(void *ctx, struct hv_sim *s)
{
	struct later *l = ctx;
	l->used = false;
	hv_sim_post_message(s, VMBUS_MESSAGE_SINT, &l->msg);
}

static void post_later(uint64_t delay, const uint8_t *payload, size_t len)
{
	for (unsigned i = 0; i < LATER_MAX; i++) {
		struct later *l = &fz.later[i];
		if (l->used)
			continue;
		memset(&l->msg, 0, sizeof(l->msg));
		l->msg.message_type = VMBUS_MESSAGE_TYPE;
		l->msg.payload_size = (uint8_t)len;
		memcpy(l->msg.payload, payload, len);
		rebase_handles(l->msg.payload, len);
		l->used = hv_sim_at(&sim, hv_sim_now(&sim) + delay, later_fire, l);
		return;
	}
}

static const struct vmbus_sim_channel *host_channel(void)
{
	return vmbus_sim_channel(&vs, fz.relid);
}

/* The host still serves the echo channel's rings (what vmbus_sim's ring calls need). */
static bool rings_live(void)
{
	const struct vmbus_sim_channel *c = host_channel();
	return c && c->open && !c->broken && !c->rescinded;
}

/* ---- per input ---- */

/* Pages and SynIC state the previous input may have left, so each input starts the same. */
static void host_reset(void)
{
	sim.halts = 0;
	sim.idle_halts = 0;
	sim.msr_count = 0;
	memset(&sim.fault, 0, sizeof(sim.fault));
	sim.queue_len[VMBUS_MESSAGE_SINT] = 0;
	if (sim.simp & HV_MSR_ENABLE) {
		volatile struct hv_message *slot =
			(volatile struct hv_message *)(uintptr_t)(sim.simp & HV_MSR_PAGE_MASK) + VMBUS_MESSAGE_SINT;
		slot->message_type = HV_MESSAGE_TYPE_NONE;
		slot->message_flags = 0;
	}
	if (sim.siefp & HV_MSR_ENABLE)
		memset((void *)(uintptr_t)((sim.siefp & HV_MSR_PAGE_MASK) + VMBUS_MESSAGE_SINT * HV_EVENT_FLAGS_BYTES), 0,
		       HV_EVENT_FLAGS_BYTES);
	sim.nconn = 0; /* vmbus_sim_start registers its connections again */
}

/* Highest versions the extended config can cap the host at (index 0: the preset's own). */
static const uint32_t version_cap[8] = {
	0, VMBUS_VERSION_3_0, VMBUS_VERSION_2_4, VMBUS_VERSION_1_1, VMBUS_VERSION_0_13, VMBUS_VERSION_5_0,
	VMBUS_VERSION_4_1, VMBUS_VERSION_4_0,
};

static void read_edit(struct fuzz_input *in)
{
	fz.edit.type = fuzz_u8(in);
	fz.edit.offset = fuzz_u8(in);
	fz.edit.value = fuzz_u32(in);
	fz.edit.len = fuzz_u8(in);
	fz.edit.armed = true;
}

static void post_later(uint64_t delay, const uint8_t *payload, size_t len);
static size_t read_typed_msg(struct fuzz_input *in, uint8_t *b);

/*
 * The host, the connection and the open echo channel. Returns false when the
 * input's own pre-connect lies kept the guest from getting there (then only
 * the disconnect follows); without them every step must work.
 */
static bool input_begin(struct fuzz_input *in)
{
	struct vmbus_sim_config vcfg;
	uint8_t config = fuzz_u8(in), ext = (config & 64) ? fuzz_u8(in) : 0;
	bool lies = ext & 16;

	memset(&fz, 0, sizeof(fz));
	fz.config = config;
	host_reset();
	if (config & 1)
		vmbus_sim_config_hyperv(&vcfg);
	else
		vmbus_sim_config_qemu(&vcfg);
	if (version_cap[ext & 7] && version_cap[ext & 7] < vcfg.highest_version)
		vcfg.highest_version = version_cap[ext & 7];
	vmbus_sim_start(&vs, &sim, &vcfg);
	vs.edit = edit_message;
	if (ext & 8) { /* the echo device signalled through the monitor page */
		struct vmbus_sim_device dev;
		vmbus_sim_device_init(&vs, &dev, VMBUS_SIM_ECHO_CLASS, "6876d3a1-2c5e-4f0b-9d47-000000000001");
		dev.echo = true;
		dev.monitor_allocated = true;
		dev.monitor_id = 37;
		fz.relid = vmbus_sim_add_device(&vs, &dev);
	} else {
		fz.relid = vmbus_sim_add_echo(&vs, 1);
	}
	if (config & 32) {
		struct vmbus_sim_device dev;
		vmbus_sim_device_init(&vs, &dev, FUZZ_CLASS, "66757a7a-0000-4000-8000-000000000002");
		vmbus_sim_add_device(&vs, &dev); /* offered at connect; fuzz_driver opens it from the first poll */
	}
	if (ext & 32) { /* the traffic capture records every host message and packet */
		CHECK(hvrt_vmbus_capture_start(16 * 1024) == 0, "capture");
		fz.capture = true;
	}
	if (lies) { /* the host lies from the first message: the version, the offers */
		uint8_t b[512];
		read_edit(in);
		vs.fault.contact_state = fuzz_u8(in);
		vs.fault.drop_answers = fuzz_u32(in) & ~(1u << VMBUS_MSG_UNLOAD_RESPONSE);
		uint64_t delay = (uint64_t)fuzz_u16(in) * 1000;
		size_t len = read_typed_msg(in, b);
		post_later(delay, b, len);
	}

	int err = hvrt_vmbus_connect();
	memset(&vs.fault, 0, sizeof(vs.fault));
	CHECK(err == 0 || lies, "connect: %d", err);
	if (err)
		return false;
	for (struct hvrt_channel *c = hvrt_vmbus_next(NULL); c; c = hvrt_vmbus_next(c))
		if (hvrt_channel_offer(c)->relid == fz.relid)
			fz.ch = c;
	CHECK(fz.ch || lies, "no channel for the echo device's relid %u", fz.relid);
	if (!fz.ch)
		return false;
	fz.cfg = (struct hvrt_channel_config){
		.send_ring_bytes = 2 * PG,
		.recv_ring_bytes = (config & 16) ? 4 * PG : 2 * PG,
		.max_packet_bytes = (config & 2) ? 256 : 0,
		.target_vp = hvrt_host()->vp_index,
		.on_packet = on_packet,
		.on_rescind = on_rescind,
		.polled = (config & 4) != 0,
	};
	err = hvrt_channel_open(fz.ch, &fz.cfg);
	CHECK(err == 0 || lies, "open of the echo channel: %d", err);
	/* The guest's own record of its ring GPADL: what a lying host did to the open does not move it. */
	fz.gpadl_base = fz.ch->ring_gpadl;
	return true;
}

static void free_bufs(void)
{
	for (unsigned i = 0; i < fz.nbuf; i++)
		hvrt_page_free(fz.buf[i].pages, fz.buf[i].count);
	fz.nbuf = 0;
}

static bool in_baseline(const void *addr)
{
	for (unsigned i = 0; i < nbaseline; i++)
		if (baseline[i] == addr)
			return true;
	return false;
}

/*
 * After the bus is unloaded, the host stopped and vmbus/'s state restored, a
 * guest page outside the baseline is garbage: abandoned by the guest (a ring
 * whose GPADL_TORNDOWN never came) or held by state that is now put back (a
 * capture's ring). Freed here so a long run stays small. The page list drops
 * what is no longer live.
 */
static void reclaim_pages(void)
{
	size_t kept = 0;

	for (size_t i = 0; i < sim.npages; i++) {
		struct hv_sim_page *p = &sim.pages[i];
		if (p->live && !p->sim_owned && !in_baseline(p->addr)) {
			free(p->addr);
			p->live = false;
		}
		if (p->live)
			sim.pages[kept++] = *p;
	}
	sim.npages = kept;
}

static int discard(void *ctx, const void *bytes, size_t len)
{
	(void)ctx;
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += ((const uint8_t *)bytes)[i];
	(void)sum;
	return 0;
}

static void input_end(void)
{
	memset(&vs.fault, 0, sizeof(vs.fault));
	fz.edit.armed = false;
	for (unsigned i = 0; i < LATER_MAX; i++)
		if (fz.later[i].used)
			hv_sim_cancel(&sim, later_fire, &fz.later[i]);
	hvrt_vmbus_disconnect();
	CHECK(!vmbus_connected(), "still connected after hvrt_vmbus_disconnect()");
	if (fz.capture) {
		CHECK(hvrt_vmbus_capture_write(discard, NULL) == 0, "capture write");
		hvrt_vmbus_capture_stop();
	}
	if (verbose)
		vmbus_sim_print_violations(&vs);
	vmbus_sim_stop(&vs); /* its violations: see the top of the file */
	free_bufs();
	if (have_baseline) {
		state_restore();
		reclaim_pages();
	}
}

/* ---- operations ---- */

enum op {
	OP_MSG,           /* u8 type, u8 len, len - 4 bytes: a message of that type */
	OP_MSG_RAW,       /* u8 len, len bytes: any message */
	OP_MSG_LYING,     /* u32 SynIC type (0: 1), u8 payload_size (any), u8 flags, u8 n, n bytes */
	OP_PACKET_RAW,    /* u16 len, len bytes at the ring's write index (no trailer) */
	OP_PACKET_DESC,   /* 16-byte descriptor as given, u8 n, n * 8 bytes of payload */
	OP_PACKET,        /* u8 type, u8 flags, u64 trans_id, u8 n, n bytes: a well-formed packet */
	OP_WRITE_INDEX,   /* u32: any write index, published and signalled */
	OP_EVENT,         /* u16: an event flag of SINT2 (% 2048) */
	OP_SPURIOUS,      /* the echo channel's flag with no data */
	OP_RING_FIELD,    /* u8 which, u32 value: a word of either ring's control page */
	OP_EDIT,          /* u8 type, u8 offset, u32 value, u8 len: rewrite the host's next such answer */
	OP_DROP,          /* u32: vmbus_sim's drop_answers mask (host messages never sent) */
	OP_RESCIND,       /* the host rescinds the echo device properly */
	OP_ADVANCE,       /* u16: reference time moves this many 100 us */
	OP_SEND,          /* u8 n, u8 flags: hvrt_channel_send of n bytes */
	OP_REQUEST,       /* u8 n, u8 cap: hvrt_channel_request, 20 ms */
	OP_GPADL,         /* u8 pages: hvrt_channel_gpadl_create of 1 to 64 pages */
	OP_TEARDOWN,      /* u8 which: hvrt_channel_gpadl_teardown of one of them */
	OP_CLOSE_OPEN,    /* close the echo channel if open, else open it again */
	OP_RECV,          /* u8 cap: hvrt_channel_recv */
	OP_WAIT_WRITABLE, /* u16 bytes: hvrt_channel_wait_writable, 5 ms */
	OP_SEND_GPA,      /* u8 n: hvrt_channel_send_gpa of a buffer of the harness's */
	OP_SET_VP,        /* u8: hvrt_channel_set_target_vp (the VP, or another) */
	OP_MSG_LATER,     /* u16 delay (100 us), u8 type, u8 len, len - 4 bytes: OP_MSG, that much later */
	OP_INT_PAGE,      /* u16 bit: set in the interrupt page's host half, then event flag 0 (< 2.4) */
	OP_SUBCHANNEL,    /* u8 index: open the echo channel's sub-channel of that index (offered by the input), or close it */
	OP_COUNT
};

static const char *const op_name[OP_COUNT] = {
	"msg", "msg-raw", "msg-lying", "packet-raw", "packet-desc", "packet", "write-index", "event", "spurious",
	"ring-field", "edit", "drop", "rescind", "advance", "send", "request", "gpadl", "teardown", "close-open",
	"recv", "wait-writable", "send-gpa", "set-vp", "msg-later", "int-page", "subchannel",
};

/* u8 type, u8 len, then len - 4 bytes: a message of that type in b; returns its length. */
static size_t read_typed_msg(struct fuzz_input *in, uint8_t *b)
{
	uint32_t type = fuzz_u8(in);
	size_t len = fuzz_u8(in) % (VMBUS_MESSAGE_MAX + 1);

	memset(b, 0, VMBUS_MESSAGE_MAX);
	memcpy(b, &type, 4);
	if (len > 4)
		fuzz_bytes(in, b + 4, len - 4);
	return len;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void run_op(struct fuzz_input *in, unsigned op)
{
	uint8_t b[512]; /* a message, or up to 255 bytes of a send */

	switch (op) {
	case OP_MSG:
		post_payload(b, read_typed_msg(in, b));
		break;
	case OP_MSG_RAW: {
		size_t len = fuzz_u8(in) % (VMBUS_MESSAGE_MAX + 1);
		fuzz_bytes(in, b, len);
		post_payload(b, len);
		break;
	}
	case OP_MSG_LYING: {
		struct hv_message m;
		memset(&m, 0, sizeof(m));
		m.message_type = fuzz_u32(in);
		if (m.message_type == 0)
			m.message_type = VMBUS_MESSAGE_TYPE; /* 0 is an empty slot: the guest would never look */
		m.payload_size = fuzz_u8(in);
		m.message_flags = fuzz_u8(in);
		size_t n = fuzz_u8(in) % (VMBUS_MESSAGE_MAX + 1);
		fuzz_bytes(in, m.payload, n);
		rebase_handles(m.payload, n);
		post(&m);
		break;
	}
	case OP_PACKET_RAW: {
		static uint8_t raw[2048];
		size_t len = fuzz_u16(in) % sizeof(raw);
		fuzz_bytes(in, raw, len);
		if (rings_live() && len)
			vmbus_sim_send_raw(&vs, fz.relid, raw, len);
		break;
	}
	case OP_PACKET_DESC: {
		struct vmbus_packet_desc d;
		fuzz_bytes(in, &d, sizeof(d));
		size_t n = (size_t)(fuzz_u8(in) % 128) * 8;
		static uint8_t pay[128 * 8];
		fuzz_bytes(in, pay, n);
		if (rings_live())
			vmbus_sim_send_desc(&vs, fz.relid, &d, pay, n);
		break;
	}
	case OP_PACKET: {
		uint16_t type = fuzz_u8(in), flags = fuzz_u8(in);
		uint64_t trans_id = fuzz_u64(in);
		size_t n = fuzz_u8(in);
		fuzz_bytes(in, b, n);
		if (rings_live())
			vmbus_sim_send(&vs, fz.relid, type, flags, trans_id, b, n);
		break;
	}
	case OP_WRITE_INDEX: {
		uint32_t v = fuzz_u32(in);
		if (rings_live())
			vmbus_sim_set_write_index(&vs, fz.relid, v);
		break;
	}
	case OP_EVENT:
		hv_sim_set_event(&sim, VMBUS_MESSAGE_SINT, fuzz_u16(in) % HV_EVENT_FLAGS_COUNT);
		break;
	case OP_SPURIOUS:
		vmbus_sim_spurious(&vs, fz.relid);
		break;
	case OP_RING_FIELD: {
		uint8_t which = fuzz_u8(in);
		uint32_t v = fuzz_u32(in);
		const struct vmbus_sim_channel *c = host_channel();
		if (!c || !c->open || c->broken)
			break;
		/* out: guest -> host, in: host -> guest; any of the first five words */
		volatile struct vmbus_ring_control *ctl = (which & 1) ? c->in.control : c->out.control;
		static const size_t field[5] = {
			offsetof(struct vmbus_ring_control, write_index), offsetof(struct vmbus_ring_control, read_index),
			offsetof(struct vmbus_ring_control, interrupt_mask),
			offsetof(struct vmbus_ring_control, pending_send_sz),
			offsetof(struct vmbus_ring_control, feature_bits),
		};
		if (ctl)
			*(volatile uint32_t *)(void *)((volatile uint8_t *)ctl + field[(which >> 1) % 5]) = v;
		break;
	}
	case OP_EDIT:
		read_edit(in);
		break;
	case OP_DROP:
		/* Never UNLOAD_RESPONSE: the disconnect at the end would wait 5 s of simulated time for nothing. */
		vs.fault.drop_answers = fuzz_u32(in) & ~(1u << VMBUS_MSG_UNLOAD_RESPONSE);
		break;
	case OP_RESCIND: {
		const struct vmbus_sim_channel *c = host_channel();
		if (c && !c->rescinded && !fz.host_rescinded) {
			fz.host_rescinded = true;
			vmbus_sim_rescind(&vs, fz.relid);
		}
		break;
	}
	case OP_ADVANCE:
		hv_sim_advance(&sim, (uint64_t)fuzz_u16(in) * 1000);
		break;
	case OP_SEND: {
		size_t n = fuzz_u8(in);
		uint8_t flags = fuzz_u8(in);
		fill(b, n, flags);
		hvrt_channel_send(fz.ch, b, n, hvrt_channel_next_trans_id(fz.ch), flags & 1);
		break;
	}
	case OP_REQUEST: {
		size_t n = fuzz_u8(in), cap = fuzz_u8(in);
		uint8_t *resp = malloc(cap ? cap : 1);
		CHECK(resp, "out of memory");
		fill(b, n, (uint8_t)cap);
		int r = hvrt_channel_request(fz.ch, b, n, resp, cap, 20);
		CHECK(r <= (int)cap, "a request returned %d bytes into %zu", r, cap);
		free(resp);
		break;
	}
	case OP_GPADL: {
		size_t pages = 1 + fuzz_u8(in) % 64; /* from 27 pages GPADL_BODY messages follow the header */
		if (fz.nbuf == BUFS_MAX)
			break;
		void *p = hvrt_page_alloc(pages);
		CHECK(p, "out of pages");
		fz.buf[fz.nbuf].pages = p;
		fz.buf[fz.nbuf].count = pages;
		hvrt_channel_gpadl_create(fz.ch, p, pages * PG, &fz.buf[fz.nbuf].handle);
		fz.nbuf++; /* kept to the end even when refused: the host may hold them (the bus is unloaded first) */
		break;
	}
	case OP_TEARDOWN: {
		uint8_t which = fuzz_u8(in);
		if (!fz.nbuf)
			break;
		unsigned i = which % fz.nbuf;
		if (fz.buf[i].handle && hvrt_channel_gpadl_teardown(fz.ch, fz.buf[i].handle) == 0)
			fz.buf[i].handle = 0;
		break;
	}
	case OP_CLOSE_OPEN:
		if (hvrt_channel_is_open(fz.ch))
			hvrt_channel_close(fz.ch);
		else
			hvrt_channel_open(fz.ch, &fz.cfg);
		break;
	case OP_RECV: {
		size_t cap = (size_t)fuzz_u8(in) * 32;
		uint8_t *buf = malloc(cap ? cap : 1);
		struct hvrt_packet pkt;
		CHECK(buf, "out of memory");
		int r = hvrt_channel_recv(fz.ch, buf, cap, &pkt);
		if (r >= 0) {
			CHECK(pkt.raw == buf && pkt.raw_len <= cap && (size_t)r == pkt.payload_len &&
				      (const uint8_t *)pkt.payload + pkt.payload_len == buf + pkt.raw_len,
			      "recv: %d, raw_len %u, cap %zu", r, pkt.raw_len, cap);
		}
		free(buf);
		break;
	}
	case OP_WAIT_WRITABLE:
		hvrt_channel_wait_writable(fz.ch, fuzz_u16(in), 5);
		break;
	case OP_SEND_GPA: {
		size_t n = 1 + fuzz_u8(in) % (2 * PG);
		if (fz.nbuf == BUFS_MAX)
			break;
		void *p = hvrt_page_alloc(2);
		CHECK(p, "out of pages");
		fz.buf[fz.nbuf].pages = p;
		fz.buf[fz.nbuf].count = 2;
		fz.buf[fz.nbuf].handle = 0;
		fz.nbuf++;
		struct hvrt_buffer buf = { (uint8_t *)p + (PG - n % PG) % PG / 2, (uint32_t)n };
		hvrt_channel_send_gpa(fz.ch, &buf, 1, "gpa", 3, hvrt_channel_next_trans_id(fz.ch), true);
		break;
	}
	case OP_SET_VP: {
		uint8_t v = fuzz_u8(in);
		hvrt_channel_set_target_vp(fz.ch, (v & 1) ? hvrt_host()->vp_index : v);
		break;
	}
	case OP_MSG_LATER: {
		uint64_t delay = (uint64_t)fuzz_u16(in) * 1000;
		size_t len = read_typed_msg(in, b);
		post_later(delay, b, len);
		break;
	}
	case OP_SUBCHANNEL: {
		struct hvrt_channel *sub = hvrt_channel_subchannel(fz.ch, fuzz_u8(in));
		struct hvrt_channel_config c = {
			.send_ring_bytes = PG, .recv_ring_bytes = PG, .max_packet_bytes = 512,
			.target_vp = hvrt_host()->vp_index, .on_packet = on_packet, .on_rescind = on_rescind,
		};
		if (sub && hvrt_channel_is_open(sub))
			hvrt_channel_close(sub);
		else if (sub)
			hvrt_channel_open(sub, &c);
		break;
	}
	case OP_INT_PAGE: {
		/* Before 2.4 the host sets the channel's bit in the first half of the interrupt page, then flag 0. */
		uint16_t bit = fuzz_u16(in) % (VMBUS_INTERRUPT_PAGE_HALF * 8);
		if (vs.interrupt_page && hv_sim_is_ram(&sim, vs.interrupt_page, VMBUS_INTERRUPT_PAGE_HALF)) {
			uint8_t *p = (uint8_t *)(uintptr_t)vs.interrupt_page;
			__atomic_fetch_or(&p[bit / 8], (uint8_t)(1u << (bit % 8)), __ATOMIC_SEQ_CST);
		}
		hv_sim_set_event(&sim, VMBUS_MESSAGE_SINT, 0);
		break;
	}
	}
}

/* ---- libFuzzer ---- */

static void stderr_sink(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	fwrite(buf, 1, len, stderr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VMBUS_VERBOSE") != NULL;
	struct hv_sim_config cfg;
	hv_sim_config_default(&cfg);
	hv_sim_start(&sim, &cfg);
	console_reset();
	if (verbose) {
		console_add_sink(stderr_sink, NULL);
		hvrt_log_set_level(HVRT_LOG_DEBUG);
	}
	cpu_irq_enable();
	hv_early_init();
	hv_init();
	CHECK(hv_synic_ready(), "no SynIC on the simulated host");
	CHECK(hvrt_guid_parse(FUZZ_CLASS, &fuzz_driver.class_id) == 0, "class GUID");

	/*
	 * One whole cycle first: what the guest keeps from one connection to the
	 * next is the baseline. The driver is registered while connected, since
	 * registering connects (and the host must be up for that).
	 */
	struct fuzz_input none;
	fuzz_input_init(&none, NULL, 0);
	CHECK(input_begin(&none), "bring-up");
	CHECK(hvrt_vmbus_register(&fuzz_driver) == 0, "driver registration");
	input_end();
	for (size_t i = 0; i < sim.npages && nbaseline < BASELINE_MAX; i++)
		if (sim.pages[i].live && !sim.pages[i].sim_owned)
			baseline[nbaseline++] = sim.pages[i].addr;
	CHECK(nbaseline < BASELINE_MAX, "%u guest pages live between connections", nbaseline);
	state_save();
	have_baseline = true;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in;

	fuzz_input_init(&in, data, size);
	bool up = input_begin(&in);
	for (unsigned n = 0; up && n < OPS_MAX && fuzz_left(&in); n++) {
		uint8_t code = fuzz_u8(&in);
		unsigned op = (code & 0x7f) % OP_COUNT;
		if (verbose)
			fprintf(stderr, "fuzz: op %u %s%s\n", n, op_name[op], code & 0x80 ? " (no poll)" : "");
		run_op(&in, op);
		if (!(code & 0x80))
			hvrt_poll();
	}
	input_end();
	return 0;
}
