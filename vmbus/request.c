/*
 * Request/response on a channel: an in-band packet with a completion
 * requested, and the completion with the same transaction id, matched as the
 * channel's packets are read. Up to VMBUS_REQUESTS_MAX wait at once per
 * channel (nested waits from callbacks of other channels).
 */
#include <errno.h>
#include <string.h>

#include "vmbus/vmbus.h"

uint64_t hvrt_channel_next_trans_id(struct hvrt_channel *ch)
{
	uint64_t id = ch->next_trans_id++;

	if (ch->next_trans_id == 0)
		ch->next_trans_id = 1;
	return id ? id : hvrt_channel_next_trans_id(ch);
}

bool vmbus_request_complete(struct hvrt_channel *ch, const struct hvrt_packet *pkt)
{
	for (unsigned i = 0; i < VMBUS_REQUESTS_MAX; i++) {
		struct vmbus_request_slot *r = &ch->requests[i];
		if (r->trans_id == 0 || r->done || r->trans_id != pkt->trans_id)
			continue;
		size_t n = pkt->payload_len < r->cap ? pkt->payload_len : r->cap;
		memcpy(r->resp, pkt->payload, n);
		r->result = (int)n;
		r->done = true;
		return true;
	}
	return false;
}

void vmbus_request_fail_all(struct hvrt_channel *ch, int err)
{
	for (unsigned i = 0; i < VMBUS_REQUESTS_MAX; i++) {
		struct vmbus_request_slot *r = &ch->requests[i];
		if (r->trans_id != 0 && !r->done) {
			r->result = err;
			r->done = true;
		}
	}
}

static bool request_done(void *ctx)
{
	return ((struct vmbus_request_slot *)ctx)->done;
}

/* Milliseconds of budget left since start (reference time), 0 when spent. */
static unsigned ms_left(uint64_t start, unsigned budget_ms)
{
	uint64_t spent = (vmbus_now() - start) / 10000;
	return spent >= budget_ms ? 0 : budget_ms - (unsigned)spent;
}

/*
 * send_request - sends the request, waiting for room within the budget
 * A busy channel's ring (or its set of awaited completions) is full for a
 * while: that is back-pressure, not an error the caller should have to
 * retry around.
 */
static int send_request(struct hvrt_channel *ch, const void *req, size_t len, uint64_t id, uint64_t start,
			unsigned timeout_ms)
{
	for (;;) {
		int err = hvrt_channel_send(ch, req, len, id, true);
		if (err != -EAGAIN)
			return err;
		unsigned left = ms_left(start, timeout_ms);
		if (left == 0)
			return -ETIMEDOUT;
		err = hvrt_channel_wait_writable(ch, len, left);
		if (err)
			return err;
	}
}

/*
 * A polled channel is read only by its owner, and a channel's own on_packet
 * callback runs while the channel is being read: in both the completion
 * could never be seen, so they get an error instead of a timeout.
 */
int hvrt_channel_request(struct hvrt_channel *ch, const void *req, size_t len, void *resp, size_t cap,
			 unsigned timeout_ms)
{
	if (ch->rescinded || ch->state == VMBUS_CHANNEL_RELEASED)
		return -ENODEV;
	if (ch->polled)
		return -EOPNOTSUPP;
	if (ch->draining)
		return -EDEADLK;
	vmbus_run_due_work();
	struct vmbus_request_slot *slot = NULL;
	for (unsigned i = 0; i < VMBUS_REQUESTS_MAX && !slot; i++) {
		if (ch->requests[i].trans_id == 0)
			slot = &ch->requests[i];
	}
	if (!slot)
		return -EBUSY;
	*slot = (struct vmbus_request_slot){ .trans_id = hvrt_channel_next_trans_id(ch), .resp = resp, .cap = cap };
	vmbus_channel_get(ch);
	uint64_t start = vmbus_now();
	int err = send_request(ch, req, len, slot->trans_id, start, timeout_ms);
	if (!err)
		err = vmbus_wait(request_done, slot, ms_left(start, timeout_ms));
	if (!err)
		err = slot->result;
	slot->trans_id = 0;
	vmbus_channel_put(ch);
	return err;
}
