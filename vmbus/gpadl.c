/*
 * GPADLs (facts 2.6): a page list the host may map, sent as one GPADL_HEADER
 * (26 page numbers) and as many GPADL_BODY messages (28 each) as the rest
 * needs, answered by one GPADL_CREATED; GPADL_TEARDOWN is answered by
 * GPADL_TORNDOWN.
 *
 * Hard-won: QEMU's server silently drops a header it does not accept, and a
 * create for a handle that already exists (test-hosts.md 2); only the
 * timeout notices. Such a handle is never reused: the host may still create
 * it late.
 */
#include <errno.h>
#include <string.h>

#include <hvrt/log.h>
#include <hvrt/mem.h>

#include "vmbus/vmbus.h"

#define GPADL_PENDING_MAX 16u

struct gpadl_wait {
	uint32_t handle; /* 0: free */
	uint32_t relid;
	bool created, torndown;
	bool rescinded;  /* its channel went away: the host will not answer */
	uint32_t status;
};

static struct vmbus_gpadls {
	uint32_t next_handle;
	struct gpadl_wait wait[GPADL_PENDING_MAX];
	uint64_t stray;
} gpadls;

static struct gpadl_wait *find_wait(uint32_t handle)
{
	for (unsigned i = 0; i < GPADL_PENDING_MAX; i++) {
		if (gpadls.wait[i].handle == handle)
			return &gpadls.wait[i];
	}
	return NULL;
}

/* Unique for the life of the connection, never 0. */
static uint32_t new_handle(void)
{
	if (++gpadls.next_handle == 0)
		gpadls.next_handle = 1;
	return gpadls.next_handle;
}

void vmbus_gpadl_created_message(const void *msg, size_t len)
{
	struct vmbus_msg_gpadl_created m;
	(void)len;

	memcpy(&m, msg, sizeof(m));
	struct gpadl_wait *w = m.gpadl ? find_wait(m.gpadl) : NULL;
	if (!w) {
		gpadls.stray++;
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "GPADL_CREATED for unknown handle %#x", m.gpadl);
		return;
	}
	w->status = m.status;
	w->created = true;
}

void vmbus_gpadl_torndown_message(const void *msg, size_t len)
{
	struct vmbus_msg_gpadl_torndown m;
	(void)len;

	memcpy(&m, msg, sizeof(m));
	struct gpadl_wait *w = m.gpadl ? find_wait(m.gpadl) : NULL;
	if (!w) {
		gpadls.stray++;
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "GPADL_TORNDOWN for unknown handle %#x", m.gpadl);
		return;
	}
	w->torndown = true;
}

static bool created(void *ctx)
{
	struct gpadl_wait *w = ctx;
	return w->created || w->rescinded;
}

static bool torndown(void *ctx)
{
	struct gpadl_wait *w = ctx;
	return w->torndown || w->rescinded;
}

void vmbus_gpadl_rescind(uint32_t relid)
{
	for (unsigned i = 0; i < GPADL_PENDING_MAX; i++) {
		if (gpadls.wait[i].handle && gpadls.wait[i].relid == relid)
			gpadls.wait[i].rescinded = true;
	}
}

/*
 * Sends the page numbers of buf: a header, then bodies. Returns 0 or a
 * negative errno; *reached says whether the header got to the host (then it
 * may hold the pages, whatever happens next).
 */
static int send_pages(uint32_t relid, uint32_t handle, const void *buf, size_t pages, bool *reached)
{
	uint8_t msg[VMBUS_MESSAGE_MAX];
	uint64_t pfn0 = (uint64_t)(uintptr_t)buf / HVRT_PAGE_SIZE;
	size_t sent = pages < VMBUS_GPADL_HEADER_PFNS ? pages : VMBUS_GPADL_HEADER_PFNS;

	struct vmbus_msg_gpadl_header *h = (void *)msg;
	memset(msg, 0, sizeof(msg));
	h->header.type = VMBUS_MSG_GPADL_HEADER;
	h->child_relid = relid;
	h->gpadl = handle;
	h->range_count = 1;
	h->range_buflen = (uint16_t)(sizeof(struct vmbus_gpa_range) + pages * 8);
	h->range[0].byte_count = (uint32_t)(pages * HVRT_PAGE_SIZE);
	h->range[0].byte_offset = 0;
	for (size_t i = 0; i < sent; i++) {
		uint64_t pfn = pfn0 + i;
		memcpy((uint8_t *)h->range[0].pfn + i * 8, &pfn, 8);
	}
	int err = vmbus_post(msg, sizeof(*h) + sizeof(struct vmbus_gpa_range) + sent * 8);
	*reached = err == 0;
	for (uint32_t n = 1; !err && sent < pages; n++) {
		size_t count = pages - sent < VMBUS_GPADL_BODY_PFNS ? pages - sent : VMBUS_GPADL_BODY_PFNS;
		struct vmbus_msg_gpadl_body *b = (void *)msg;
		memset(msg, 0, sizeof(msg));
		b->header.type = VMBUS_MSG_GPADL_BODY;
		b->msg_number = n;
		b->gpadl = handle;
		for (size_t i = 0; i < count; i++) {
			uint64_t pfn = pfn0 + sent + i;
			memcpy((uint8_t *)b->pfn + i * 8, &pfn, 8);
		}
		err = vmbus_post(msg, sizeof(*b) + count * 8);
		sent += count;
	}
	return err;
}

/*
 * vmbus_gpadl_create - describe a buffer to the host
 * @relid:  the channel it is for
 * @buf:    page aligned; @bytes a multiple of 4096
 * @handle: the new handle; on failure 0 if nothing reached the host, else
 *          the handle the host may hold: the pages stay the host's until a
 *          vmbus_gpadl_teardown() of it succeeds
 * Return: 0, -EINVAL, -ENOTCONN, -EBUSY (too many in flight), -ETIMEDOUT
 * (no GPADL_CREATED), -ENODEV (the channel was rescinded) or -EIO (the host
 * refused it).
 */
int vmbus_gpadl_create(uint32_t relid, const void *buf, size_t bytes, uint32_t *handle)
{
	size_t pages = bytes / HVRT_PAGE_SIZE;

	*handle = 0;
	if (!buf || (uintptr_t)buf % HVRT_PAGE_SIZE || bytes == 0 || bytes % HVRT_PAGE_SIZE)
		return -EINVAL;
	/* range_buflen is 16 bits: 8 + 8 per page. */
	if (sizeof(struct vmbus_gpa_range) + pages * 8 > UINT16_MAX)
		return -EINVAL;
	if (!vmbus_connected())
		return -ENOTCONN;
	struct gpadl_wait *w = find_wait(0);
	if (!w)
		return -EBUSY;
	uint32_t made = new_handle();
	*w = (struct gpadl_wait){ .handle = made, .relid = relid };
	bool reached = false;
	int err = send_pages(relid, made, buf, pages, &reached);
	if (!err)
		err = vmbus_wait(created, w, VMBUS_REPLY_TIMEOUT_MS);
	if (!err && w->rescinded && !w->created)
		err = -ENODEV;
	if (!err && w->status != 0) {
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "GPADL %#x refused by the host: status %#x", w->handle, w->status);
		w->handle = 0;
		return -EIO; /* refused: the host holds nothing */
	}
	if (err) {
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "GPADL %#x (%zu pages) for relid %u: %d", w->handle, pages, relid, err);
		/* The header reached the host, and its answer may come late: it may hold the pages. */
		*handle = reached ? made : 0; /* made, not w->handle: a disconnect meanwhile wipes the slot */
		if (w->handle == made)
			w->handle = 0;
		return err;
	}
	*handle = w->handle;
	w->handle = 0;
	return 0;
}

/*
 * vmbus_gpadl_teardown_within - ask the host to forget a GPADL
 * Return: 0, -ENOTCONN, -EBUSY, -ENODEV (rescinded meanwhile) or -ETIMEDOUT.
 * Only after 0 may the pages be reused: until GPADL_TORNDOWN the host may
 * still access them.
 */
int vmbus_gpadl_teardown_within(uint32_t relid, uint32_t handle, unsigned timeout_ms)
{
	if (handle == 0)
		return -EINVAL; /* never one of ours: new_handle() skips it */
	if (!vmbus_connected())
		return -ENOTCONN;
	struct gpadl_wait *w = find_wait(0);
	if (!w)
		return -EBUSY;
	*w = (struct gpadl_wait){ .handle = handle, .relid = relid };
	struct vmbus_msg_gpadl_teardown m = {
		.header.type = VMBUS_MSG_GPADL_TEARDOWN, .child_relid = relid, .gpadl = handle,
	};
	int err = vmbus_post(&m, sizeof(m));
	if (!err)
		err = vmbus_wait(torndown, w, timeout_ms);
	if (!err && !w->torndown)
		err = -ENODEV;
	if (err)
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "GPADL %#x teardown: %d", handle, err);
	w->handle = 0;
	return err;
}

int vmbus_gpadl_teardown(uint32_t relid, uint32_t handle)
{
	return vmbus_gpadl_teardown_within(relid, handle, VMBUS_REPLY_TIMEOUT_MS);
}

/*
 * vmbus_gpadl_post_raw - post a GPADL message as given and wait for its answer
 * For tests of how a host treats a malformed GPADL: the caller builds the
 * message; handle is the one it names. Return: 0 (created with status 0),
 * -EIO (created with another status), -ETIMEDOUT or a post error.
 */
int vmbus_gpadl_post_raw(uint32_t handle, const void *msg, size_t len, unsigned timeout_ms)
{
	struct gpadl_wait *w = find_wait(0);

	if (!w || handle == 0 || find_wait(handle))
		return -EBUSY;
	*w = (struct gpadl_wait){ .handle = handle };
	int err = vmbus_post(msg, len);
	if (!err)
		err = vmbus_wait(created, w, timeout_ms);
	if (!err && w->status != 0)
		err = -EIO;
	w->handle = 0;
	return err;
}

void vmbus_gpadl_reset(void)
{
	memset(gpadls.wait, 0, sizeof(gpadls.wait));
}

/*
 * The app's GPADLs are kept on their channel: a rescinded channel's relid is
 * released only once they are torn down (facts 2.5), and the channel is held
 * while one is made, so a rescind meanwhile cannot release it.
 */
static uint32_t *app_gpadl_slot(struct hvrt_channel *ch, uint32_t handle)
{
	for (unsigned i = 0; i < VMBUS_APP_GPADLS_MAX; i++) {
		if (ch->gpadl[i] == handle)
			return &ch->gpadl[i];
	}
	return NULL;
}

int hvrt_channel_gpadl_create(struct hvrt_channel *ch, void *buf, size_t bytes, uint32_t *handle)
{
	*handle = 0;
	if (!vmbus_may_change_channels())
		return -EDEADLK;
	if (ch->rescinded || ch->state == VMBUS_CHANNEL_RELEASED)
		return -ENODEV;
	vmbus_run_due_work();
	uint32_t *slot = app_gpadl_slot(ch, 0);
	if (!slot)
		return -ENOSPC;
	vmbus_channel_get(ch);
	int err = vmbus_gpadl_create(ch->offer.relid, buf, bytes, handle);
	/* Made, or maybe held by the host after a failure: the app tears it down either way. */
	*slot = *handle;
	vmbus_channel_put(ch);
	return err;
}

/* A rescinded channel's host may not answer (channel.c): it gets 100 ms, and the handle counts as gone. */
int hvrt_channel_gpadl_teardown(struct hvrt_channel *ch, uint32_t handle)
{
	if (!vmbus_may_change_channels())
		return -EDEADLK;
	if (ch->state == VMBUS_CHANNEL_RELEASED)
		return -ENODEV;
	uint32_t *slot = handle ? app_gpadl_slot(ch, handle) : NULL;
	if (!slot)
		return -EINVAL; /* not a GPADL of this channel's */
	vmbus_channel_get(ch);
	int err = vmbus_gpadl_teardown_within(ch->offer.relid, handle,
					      ch->rescinded ? VMBUS_RESCINDED_TEARDOWN_MS : VMBUS_REPLY_TIMEOUT_MS);
	if (err == 0 || ch->rescinded)
		*slot = 0;
	vmbus_channel_put(ch);
	return err;
}
