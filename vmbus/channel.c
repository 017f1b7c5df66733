/*
 * Channels: open and close, and the packets on their rings.
 *
 * One page allocation holds both rings, guest -> host first, and one GPADL
 * describes it (facts 2.6). The host's side of a ring is untrusted: a
 * broken index or descriptor breaks the channel (logged, closed), never the
 * system.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hvrt/hv.h>
#include <hvrt/log.h>
#include <hvrt/mem.h>

#include "vmbus/capture_hook.h"
#include "vmbus/vmbus.h"

#define DEFAULT_RING_BYTES (16u * 1024)
#define DEFAULT_MAX_PACKET (4096u + 64)
#define RING_BYTES_MAX (16u * 1024 * 1024)
#define VMBUS_GPADL_PAGES_MAX ((UINT16_MAX - sizeof(struct vmbus_gpa_range)) / 8)
#define GPA_RANGES_MAX_BYTES 1024u
#define WRITABLE_RECHECK_MS 1u
/* The ring space of a packet with no payload: descriptor and trailer. */
#define MIN_PACKET_RING_BYTES (sizeof(struct vmbus_packet_desc) + VMBUS_PACKET_TRAILER)
#define MAX_AWAITED (1u << 20)

static struct vmbus_channels {
	uint64_t events_unopened; /* signals for channels that are not open */
	uint64_t broken;
} channels;

/* --- answers from the host --- */

void vmbus_open_result_message(const void *msg, size_t len)
{
	struct vmbus_msg_open_result m;
	(void)len;

	memcpy(&m, msg, sizeof(m));
	struct hvrt_channel *ch = vmbus_channel_by_relid(m.child_relid);
	if (!ch || ch->state != VMBUS_CHANNEL_OPENING || m.open_id != m.child_relid) {
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "ignored OPENCHANNEL_RESULT for relid %u (open id %u)", m.child_relid,
			 m.open_id);
		return;
	}
	ch->open_status = m.status;
	ch->open_answered = true;
}

void vmbus_modify_response_message(const void *msg, size_t len)
{
	struct vmbus_msg_modify_channel m;
	(void)len;

	memcpy(&m, msg, sizeof(m));
	struct hvrt_channel *ch = vmbus_channel_by_relid(m.child_relid);
	if (!ch)
		return;
	ch->modify_status = m.target_vp;
	ch->modify_answered = true;
}

static bool open_answered(void *ctx)
{
	struct hvrt_channel *ch = ctx;
	return ch->open_answered || ch->rescinded;
}

static bool modify_answered(void *ctx)
{
	struct hvrt_channel *ch = ctx;
	return ch->modify_answered || ch->rescinded;
}

/* --- open and close --- */

void vmbus_channel_free_rings(struct hvrt_channel *ch)
{
	if (ch->ring_pages)
		hvrt_page_free(ch->ring_pages, ch->ring_bytes / HVRT_PAGE_SIZE);
	ch->ring_pages = NULL;
	ch->ring_bytes = 0;
}

/* The pages may still be the host's: never hand them out again (a host that never answered). */
static void abandon_rings(struct hvrt_channel *ch, const char *why)
{
	hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "relid %u: ring pages kept (%zu KiB): %s", ch->offer.relid,
		 ch->ring_bytes / 1024, why);
	ch->ring_pages = NULL;
	ch->ring_bytes = 0;
}

/*
 * Hard-won (Linux's history): a host does not answer for a rescinded channel,
 * although the facts have the guest tear its GPADLs down. So the teardown is
 * still sent, but waited for briefly (VMBUS_RESCINDED_TEARDOWN_MS);
 * unanswered, the pages are abandoned.
 */

/*
 * close_rings - CLOSECHANNEL, then the ring GPADL's teardown, then the pages
 * The pages are freed only once the host said TORNDOWN: until then it may
 * still write them.
 */
static void close_rings(struct hvrt_channel *ch)
{
	struct vmbus_msg_relid close = { .header.type = VMBUS_MSG_CLOSECHANNEL, .child_relid = ch->offer.relid };

	if (ch->ring_pages && vmbus_connected()) {
		vmbus_post(&close, sizeof(close));
		int err = vmbus_gpadl_teardown_within(ch->offer.relid, ch->ring_gpadl,
						      ch->rescinded ? VMBUS_RESCINDED_TEARDOWN_MS : VMBUS_REPLY_TIMEOUT_MS);
		if (err)
			abandon_rings(ch, "no GPADL_TORNDOWN");
	}
	vmbus_channel_free_rings(ch);
	free(ch->rx_buf);
	ch->rx_buf = NULL;
	vmbus_awaited_free(&ch->awaited);
}

static int check_config(const struct hvrt_channel_config *cfg, uint32_t *send, uint32_t *recv, uint32_t *max_packet,
			uint32_t *max_awaited)
{
	*send = cfg->send_ring_bytes ? cfg->send_ring_bytes : DEFAULT_RING_BYTES;
	*recv = cfg->recv_ring_bytes ? cfg->recv_ring_bytes : DEFAULT_RING_BYTES;
	*max_packet = cfg->max_packet_bytes ? cfg->max_packet_bytes : DEFAULT_MAX_PACKET;
	/* As many as the send ring holds of the smallest such packet: the limit binds only on a host that sits on them. */
	*max_awaited = cfg->max_awaited_completions ? cfg->max_awaited_completions : *send / MIN_PACKET_RING_BYTES;
	if (*max_awaited > MAX_AWAITED)
		return -EINVAL;
	if (*send % HVRT_PAGE_SIZE || *recv % HVRT_PAGE_SIZE || *send > RING_BYTES_MAX || *recv > RING_BYTES_MAX)
		return -EINVAL;
	/* Both rings and their control pages in one GPADL, whose range_buflen is 16 bits. */
	if (2 + (*send + *recv) / HVRT_PAGE_SIZE > VMBUS_GPADL_PAGES_MAX)
		return -EINVAL;
	if (cfg->user_data_len > VMBUS_OPEN_USER_DATA_MAX || (cfg->user_data_len && !cfg->user_data))
		return -EINVAL;
	if (*max_packet < sizeof(struct vmbus_packet_desc) || *max_packet > *recv)
		return -EINVAL;
	/* Only the boot CPU polls its SynIC (no SMP yet): interrupts for another VP would be lost. */
	if (cfg->target_vp != vmbus_vp())
		return -EINVAL;
	return 0;
}

/* The state an open that failed leaves: rings given back (or abandoned), the relid released if due. */
/*
 * The channel stays OPENING until its rings are given back: a call that comes
 * in during the teardown's wait must not find it OFFERED and open it anew
 * on rings about to be freed.
 */
static void undo_open(struct hvrt_channel *ch, uint32_t gpadl, bool posted_open)
{
	if (ch->state == VMBUS_CHANNEL_RELEASED)
		return; /* the bus went away meanwhile: what the rings were is gone with it */
	/* A host that answers late may open it yet: close it as if it had. */
	if (posted_open && !ch->rescinded) {
		struct vmbus_msg_relid close = { .header.type = VMBUS_MSG_CLOSECHANNEL, .child_relid = ch->offer.relid };
		vmbus_post(&close, sizeof(close));
	}
	if (gpadl && vmbus_gpadl_teardown_within(ch->offer.relid, gpadl,
						 ch->rescinded ? VMBUS_RESCINDED_TEARDOWN_MS : VMBUS_REPLY_TIMEOUT_MS) != 0)
		abandon_rings(ch, "its GPADL is not torn down");
	vmbus_channel_free_rings(ch);
	free(ch->rx_buf);
	ch->rx_buf = NULL;
	vmbus_awaited_free(&ch->awaited);
	if (ch->state != VMBUS_CHANNEL_RELEASED)
		ch->state = VMBUS_CHANNEL_OFFERED;
}

static int open_channel(struct hvrt_channel *ch, const struct hvrt_channel_config *cfg)
{
	uint32_t send, recv, max_packet, max_awaited, gpadl = 0;
	int err;

	err = check_config(cfg, &send, &recv, &max_packet, &max_awaited);
	if (err)
		return err;
	size_t send_pages = 1 + send / HVRT_PAGE_SIZE, recv_pages = 1 + recv / HVRT_PAGE_SIZE;
	ch->ring_bytes = (send_pages + recv_pages) * HVRT_PAGE_SIZE;
	ch->ring_pages = hvrt_page_alloc(send_pages + recv_pages);
	ch->rx_buf = malloc(max_packet);
	if (!ch->ring_pages || !ch->rx_buf || vmbus_awaited_init(&ch->awaited, max_awaited)) {
		undo_open(ch, 0, false);
		return -ENOMEM;
	}
	ch->rx_cap = max_packet;
	vmbus_ring_init(&ch->tx, ch->ring_pages, send_pages * HVRT_PAGE_SIZE);
	vmbus_ring_init(&ch->rx, (uint8_t *)ch->ring_pages + send_pages * HVRT_PAGE_SIZE, recv_pages * HVRT_PAGE_SIZE);
	ch->polled = cfg->polled;
	ch->on_packet = cfg->on_packet;
	ch->on_rescind = cfg->on_rescind;
	ch->ctx = cfg->ctx;
	if (ch->polled)
		vmbus_ring_set_interrupt_mask(&ch->rx, true);
	ch->state = VMBUS_CHANNEL_OPENING;
	ch->ring_gpadl = 0;

	err = vmbus_gpadl_create(ch->offer.relid, ch->ring_pages, ch->ring_bytes, &gpadl);
	if (err) {
		undo_open(ch, gpadl, false);
		return err;
	}
	ch->ring_gpadl = gpadl;
	struct vmbus_msg_open open = {
		.header.type = VMBUS_MSG_OPENCHANNEL,
		.child_relid = ch->offer.relid,
		.open_id = ch->offer.relid,
		.ring_gpadl = gpadl,
		.target_vp = cfg->target_vp,
		.downstream_page_offset = (uint32_t)send_pages,
	};
	if (cfg->user_data_len)
		memcpy(open.user_data, cfg->user_data, cfg->user_data_len);
	ch->open_answered = false;
	err = vmbus_post(&open, sizeof(open));
	if (!err)
		err = vmbus_wait(open_answered, ch, VMBUS_REPLY_TIMEOUT_MS);
	if (!err && ch->rescinded)
		err = -ENODEV;
	if (!err && ch->open_status != 0) {
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "relid %u: the host refused the open (status %#x)", ch->offer.relid,
			 ch->open_status);
		undo_open(ch, gpadl, false);
		return -EIO;
	}
	if (err) {
		undo_open(ch, gpadl, err == -ETIMEDOUT);
		return err;
	}
	/* Nothing else may have moved it meanwhile (events.c); a disconnect would have made it RELEASED. */
	if (ch->state != VMBUS_CHANNEL_OPENING)
		return -ENOTCONN;
	ch->state = VMBUS_CHANNEL_OPEN;
	/*
	 * The host may have written and signalled while we were OPENING (the
	 * integration services speak first): that signal was not taken, and the
	 * host signals again only once the ring is empty.
	 */
	if (vmbus_ring_has_data(&ch->rx))
		vmbus_event_note(ch->offer.relid);
	return 0;
}

int hvrt_channel_open(struct hvrt_channel *ch, const struct hvrt_channel_config *cfg)
{
	if (!vmbus_may_change_channels())
		return -EDEADLK;
	vmbus_run_due_work();
	if (ch->rescinded || ch->state == VMBUS_CHANNEL_RELEASED)
		return -ENODEV;
	if (ch->state != VMBUS_CHANNEL_OFFERED)
		return -EBUSY;
	if (!vmbus_connected() || vmbus_disconnecting())
		return -ENOTCONN;
	vmbus_channel_get(ch);
	int err = open_channel(ch, cfg);
	vmbus_channel_put(ch);
	return err;
}

int hvrt_channel_close(struct hvrt_channel *ch)
{
	/* An on_packet runs on top of a frame that may be reading this channel's rings. */
	if (!vmbus_may_change_channels())
		return -EDEADLK;
	if (ch->state == VMBUS_CHANNEL_OPENING)
		return -EBUSY;
	vmbus_run_due_work();
	if (ch->state == VMBUS_CHANNEL_OFFERED || ch->state == VMBUS_CHANNEL_RELEASED ||
	    ch->state == VMBUS_CHANNEL_CLOSING) {
		vmbus_channel_release_if_due(ch);
		return 0;
	}
	vmbus_channel_get(ch);
	/* A primary's open sub-channels go first, as their device expects (Linux does the same). */
	if (ch->offer.sub_channel_index == 0) {
		for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
			struct hvrt_channel *sub = vmbus_channel_by_relid(r);
			if (sub && sub != ch && sub->primary == ch)
				hvrt_channel_close(sub);
		}
	}
	ch->state = VMBUS_CHANNEL_CLOSING;
	vmbus_request_fail_all(ch, -ENOTCONN);
	close_rings(ch);
	ch->on_packet = NULL;
	ch->on_rescind = NULL;
	/* Never bring a channel back from RELEASED (a disconnect at exit, under us). */
	if (ch->state == VMBUS_CHANNEL_CLOSING)
		ch->state = VMBUS_CHANNEL_OFFERED;
	vmbus_channel_put(ch);
	return 0;
}

bool hvrt_channel_is_open(const struct hvrt_channel *ch)
{
	return ch->state == VMBUS_CHANNEL_OPEN;
}

void vmbus_channel_break(struct hvrt_channel *ch, const char *why, int err)
{
	if (ch->state != VMBUS_CHANNEL_OPEN)
		return;
	channels.broken++;
	hvrt_log(HVRT_LOG_ERROR, VMBUS_LOG, "relid %u: %s (%d); channel closed", ch->offer.relid, why, err);
	ch->state = VMBUS_CHANNEL_BROKEN;
	vmbus_request_fail_all(ch, -EIO);
}

/* A broken channel's rings go back once nobody is reading them. */
static void finish_break(struct hvrt_channel *ch)
{
	if (ch->state == VMBUS_CHANNEL_BROKEN && !ch->draining && ch->ring_pages) {
		vmbus_channel_get(ch);
		/* CLOSING while the teardown waits: a close that comes in meanwhile has nothing to do. */
		ch->state = VMBUS_CHANNEL_CLOSING;
		close_rings(ch);
		if (ch->state == VMBUS_CHANNEL_CLOSING)
			ch->state = VMBUS_CHANNEL_BROKEN;
		vmbus_channel_put(ch);
	}
}

/* --- sending --- */

static void commit_reads(struct hvrt_channel *ch);

/* 0 when packets may move; else why not. A rescinded channel's host reads nothing more. */
static int channel_usable(const struct hvrt_channel *ch)
{
	if (ch->state == VMBUS_CHANNEL_BROKEN)
		return -EIO;
	if (ch->rescinded || ch->state == VMBUS_CHANNEL_RELEASED)
		return -ENODEV;
	if (ch->state != VMBUS_CHANNEL_OPEN)
		return -ENOTCONN;
	return 0;
}

/*
 * channel_write - writes one packet and signals the host if it must
 * A packet asking for a completion is noted first (its id awaited), and the
 * note taken back if the write fails: the host's answer may come from the
 * very next poll.
 */
static int channel_write(struct hvrt_channel *ch, const struct vmbus_ring_piece *pieces, unsigned count)
{
	const struct vmbus_packet_desc *desc = pieces[0].data;
	bool signal = false, awaits = (desc->flags & VMBUS_PACKET_FLAG_COMPLETION_REQUESTED) != 0;

	int err = channel_usable(ch);
	if (err)
		return err;
	if (awaits && vmbus_awaited_add(&ch->awaited, desc->trans_id))
		return -EAGAIN;
	err = vmbus_ring_write(&ch->tx, pieces, count, &signal);
	if (err && awaits)
		vmbus_awaited_take(&ch->awaited, desc->trans_id);
	if (err == -EIO) {
		vmbus_channel_break(ch, "the host's read index is corrupt", err);
		finish_break(ch);
		return err;
	}
	if (err)
		return err;
	vmbus_capture_packet(VMBUS_CAPTURE_GUEST_TO_HOST, ch->offer.relid, &ch->offer.class_id, pieces, count);
	if (signal)
		vmbus_signal_host(ch);
	return 0;
}

static int send_simple(struct hvrt_channel *ch, uint16_t type, const void *data, size_t len, uint64_t trans_id,
		       uint16_t flags)
{
	if (len > UINT16_MAX * 8u - sizeof(struct vmbus_packet_desc) || (len && !data))
		return -EMSGSIZE;
	struct vmbus_packet_desc desc = {
		.type = type,
		.offset8 = sizeof(desc) / 8,
		.len8 = (uint16_t)((sizeof(desc) + len + 7) / 8),
		.flags = flags,
		.trans_id = trans_id,
	};
	struct vmbus_ring_piece pieces[2] = { { &desc, sizeof(desc) }, { data, len } };
	return channel_write(ch, pieces, len ? 2 : 1);
}

int hvrt_channel_send(struct hvrt_channel *ch, const void *data, size_t len, uint64_t trans_id, bool want_completion)
{
	return send_simple(ch, VMBUS_PACKET_DATA_INBAND, data, len, trans_id,
			   want_completion ? VMBUS_PACKET_FLAG_COMPLETION_REQUESTED : 0);
}

int hvrt_channel_send_completion(struct hvrt_channel *ch, uint64_t trans_id, const void *data, size_t len)
{
	return send_simple(ch, VMBUS_PACKET_COMPLETION, data, len, trans_id, 0);
}

int hvrt_channel_send_gpa(struct hvrt_channel *ch, const struct hvrt_buffer *bufs, unsigned count, const void *data,
			  size_t len, uint64_t trans_id, bool want_completion)
{
	uint8_t head[sizeof(struct vmbus_packet_gpa_direct) + GPA_RANGES_MAX_BYTES];
	size_t used = sizeof(struct vmbus_packet_gpa_direct);

	if (count == 0 || !bufs || (len && !data))
		return -EINVAL;
	for (unsigned i = 0; i < count; i++) {
		uint64_t addr = (uint64_t)(uintptr_t)bufs[i].addr;
		uint32_t offset = (uint32_t)(addr % HVRT_PAGE_SIZE);
		size_t pages = (offset + (size_t)bufs[i].len + HVRT_PAGE_SIZE - 1) / HVRT_PAGE_SIZE;
		if (bufs[i].len == 0)
			return -EINVAL;
		if (used + sizeof(struct vmbus_gpa_range) + pages * 8 > sizeof(head))
			return -EMSGSIZE;
		struct vmbus_gpa_range range = { .byte_count = bufs[i].len, .byte_offset = offset };
		memcpy(head + used, &range, sizeof(range));
		used += sizeof(range);
		for (size_t p = 0; p < pages; p++) {
			uint64_t pfn = addr / HVRT_PAGE_SIZE + p;
			memcpy(head + used, &pfn, 8);
			used += 8;
		}
	}
	if (len > UINT16_MAX * 8u - used)
		return -EMSGSIZE;
	struct vmbus_packet_gpa_direct gpa = {
		.desc = {
			.type = VMBUS_PACKET_DATA_GPA_DIRECT,
			.offset8 = (uint16_t)(used / 8),
			.len8 = (uint16_t)((used + len + 7) / 8),
			.flags = want_completion ? VMBUS_PACKET_FLAG_COMPLETION_REQUESTED : 0,
			.trans_id = trans_id,
		},
		.range_count = count,
	};
	memcpy(head, &gpa, sizeof(gpa));
	struct vmbus_ring_piece pieces[2] = { { head, used }, { data, len } };
	return channel_write(ch, pieces, len ? 2 : 1);
}

struct writable_wait {
	struct hvrt_channel *ch;
	long need;
};

/* Room in the ring, and for one more awaited completion (a send may ask for one). */
static bool writable(void *ctx)
{
	struct writable_wait *w = ctx;
	if (channel_usable(w->ch))
		return true;
	long space = vmbus_ring_write_space(&w->ch->tx);
	return space < 0 || (space >= w->need && !vmbus_awaited_full(&w->ch->awaited));
}

/*
 * Hard-won: QEMU's host does not signal when it empties a ring in one batch,
 * and treats free space equal to pending_send_sz as "was not blocked"
 * (test-hosts.md 3). So ask for 8 bytes more than needed, and look at the
 * ring again every millisecond instead of trusting the signal alone.
 */
int hvrt_channel_wait_writable(struct hvrt_channel *ch, size_t bytes, unsigned timeout_ms)
{
	struct writable_wait w = { ch, (long)vmbus_ring_packet_bytes(sizeof(struct vmbus_packet_desc), bytes) };

	int err = channel_usable(ch);
	if (err)
		return err;
	if (writable(&w))
		return vmbus_ring_write_space(&ch->tx) < 0 ? -EIO : 0;
	vmbus_run_due_work();
	/*
	 * From this channel's own on_packet, the reads of the batch so far are
	 * not yet published; a host that waits for room to answer before it
	 * reads more of ours must see them.
	 */
	if (ch->draining)
		commit_reads(ch);
	vmbus_channel_get(ch);
	vmbus_ring_set_pending_send(&ch->tx, (uint32_t)w.need + 8);
	err = -ETIMEDOUT;
	for (unsigned waited = 0; waited < timeout_ms && err == -ETIMEDOUT; waited += WRITABLE_RECHECK_MS)
		err = vmbus_wait(writable, &w, WRITABLE_RECHECK_MS);
	if (ch->state == VMBUS_CHANNEL_OPEN)
		vmbus_ring_set_pending_send(&ch->tx, 0);
	int usable = channel_usable(ch);
	if (usable)
		err = usable;
	else if (vmbus_ring_write_space(&ch->tx) < 0) {
		vmbus_channel_break(ch, "the host's read index is corrupt", -EIO);
		finish_break(ch);
		err = -EIO;
	}
	vmbus_channel_put(ch);
	return err;
}

/* --- receiving --- */

/*
 * read_one - the next packet, copied out and checked
 * Return: payload length, -EAGAIN (none), -EMSGSIZE, or -EIO after breaking
 * the channel. Completions a request waits for are taken here (-EINPROGRESS).
 */
static int read_one(struct hvrt_channel *ch, void *buf, size_t cap, struct hvrt_packet *pkt)
{
	struct vmbus_ring_packet rp;

	int n = vmbus_ring_read(&ch->rx, buf, cap, &rp);
	if (n == 0)
		return -EAGAIN;
	if (n == -EMSGSIZE) {
		pkt->raw_len = rp.len; /* what the caller's buffer must hold */
		return n;
	}
	if (n == -EIO) {
		vmbus_channel_break(ch, "the host wrote a malformed packet or index", n);
		return n;
	}
	if (n < 0)
		return n;
	/*
	 * A type VMBus does not define is a broken host (issue 5's test device
	 * sends one on purpose): the channel cannot be trusted to be in step.
	 */
	if (rp.desc.type == VMBUS_PACKET_INVALID || rp.desc.type > VMBUS_PACKET_ADDITIONAL_DATA) {
		vmbus_channel_break(ch, "the host sent a packet of unknown type", -EIO);
		return -EIO;
	}
	struct vmbus_ring_piece piece = { buf, rp.len };
	vmbus_capture_packet(VMBUS_CAPTURE_HOST_TO_GUEST, ch->offer.relid, &ch->offer.class_id, &piece, 1);
	pkt->type = rp.desc.type;
	pkt->flags = rp.desc.flags;
	pkt->trans_id = rp.desc.trans_id;
	pkt->raw = buf;
	pkt->raw_len = rp.len;
	pkt->payload = (const uint8_t *)buf + rp.payload_offset;
	pkt->payload_len = rp.len - rp.payload_offset;
	if (pkt->type != VMBUS_PACKET_COMPLETION)
		return (int)pkt->payload_len;
	/*
	 * A completion for nothing we sent (issue 5's test device sends one on
	 * purpose) means the host is out of step with this channel: whatever it
	 * answers next could be taken for the answer to something else.
	 */
	if (!vmbus_awaited_take(&ch->awaited, pkt->trans_id)) {
		hvrt_log(HVRT_LOG_ERROR, VMBUS_LOG,
			 "relid %u: completion for transaction id %#llx that was never sent: closing the channel",
			 ch->offer.relid, (unsigned long long)pkt->trans_id);
		vmbus_channel_break(ch, "the host completed a transaction never sent", -EIO);
		return -EIO;
	}
	if (vmbus_request_complete(ch, pkt))
		return -EINPROGRESS;
	return (int)pkt->payload_len;
}

static void commit_reads(struct hvrt_channel *ch)
{
	if (ch->state == VMBUS_CHANNEL_OPEN && vmbus_ring_read_commit(&ch->rx))
		vmbus_signal_host(ch);
}

int hvrt_channel_recv(struct hvrt_channel *ch, void *buf, size_t cap, struct hvrt_packet *pkt)
{
	int n;

	if (ch->state != VMBUS_CHANNEL_OPEN)
		return ch->state == VMBUS_CHANNEL_BROKEN ? -EIO : ch->state == VMBUS_CHANNEL_RELEASED ? -ENODEV : -ENOTCONN;
	do
		n = read_one(ch, buf, cap, pkt);
	while (n == -EINPROGRESS);
	commit_reads(ch);
	finish_break(ch);
	return n;
}

/*
 * drain - read and dispatch what waits, at most a ring's worth
 * A host that keeps the ring full would otherwise keep hvrt_poll() here for
 * good: past the bound the channel is noted for the next poll, so deadlines
 * and the other channels get their turn.
 */
static void drain(struct hvrt_channel *ch)
{
	struct hvrt_packet pkt;
	size_t taken = 0;

	if (ch->draining)
		return;
	ch->draining = true;
	vmbus_channel_get(ch);
	while (ch->state == VMBUS_CHANNEL_OPEN) {
		if (taken >= ch->rx.size) {
			vmbus_event_note(ch->offer.relid);
			break;
		}
		int n = read_one(ch, ch->rx_buf, ch->rx_cap, &pkt);
		if (n >= 0 || n == -EINPROGRESS)
			taken += pkt.raw_len + VMBUS_PACKET_TRAILER;
		if (n == -EAGAIN) {
			/* Publish, then look again: a packet written meanwhile brings no signal. */
			commit_reads(ch);
			if (!vmbus_ring_has_data(&ch->rx))
				break;
			continue;
		}
		if (n == -EMSGSIZE) {
			vmbus_channel_break(ch, "the host sent a packet larger than max_packet_bytes", n);
			break;
		}
		if (n < 0 && n != -EINPROGRESS)
			break;
		if (n >= 0 && ch->on_packet && !vmbus_exiting()) {
			vmbus_callback_enter(true);
			ch->on_packet(ch, &pkt, ch->ctx);
			vmbus_callback_leave(true);
		}
	}
	commit_reads(ch);
	ch->draining = false;
	finish_break(ch);
	vmbus_channel_put(ch);
}

void vmbus_channel_event(uint32_t relid)
{
	struct hvrt_channel *ch = vmbus_channel_by_relid(relid);

	vmbus_capture_signal(VMBUS_CAPTURE_HOST_TO_GUEST, relid, 0);
	if (!ch || ch->state != VMBUS_CHANNEL_OPEN) {
		channels.events_unopened++;
		return;
	}
	if (!ch->polled)
		drain(ch);
}

int hvrt_channel_set_target_vp(struct hvrt_channel *ch, uint32_t vp)
{
	struct vmbus_msg_modify_channel m = {
		.header.type = VMBUS_MSG_MODIFYCHANNEL, .child_relid = ch->offer.relid, .target_vp = vp,
	};

	if (vmbus_version() < VMBUS_VERSION_4_1)
		return -EOPNOTSUPP;
	int err = channel_usable(ch);
	if (err)
		return err;
	/* Only the boot CPU polls its SynIC (no SMP yet). */
	if (vp != vmbus_vp())
		return -EINVAL;
	if (!vmbus_may_change_channels())
		return -EDEADLK;
	ch->modify_answered = false;
	err = vmbus_post(&m, sizeof(m));
	/* Only 5.3 hosts answer (facts 2.3). */
	if (err || vmbus_version() < VMBUS_VERSION_5_3)
		return err;
	vmbus_channel_get(ch);
	err = vmbus_wait(modify_answered, ch, VMBUS_REPLY_TIMEOUT_MS);
	if (!err && !ch->modify_answered)
		err = -ENODEV;
	if (!err && ch->modify_status != 0)
		err = -EIO;
	vmbus_channel_put(ch);
	return err;
}
