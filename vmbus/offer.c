/*
 * Offers: the channel table, indexed by relid, filled by OFFERCHANNEL at any
 * time (hot-add) and emptied by RESCIND_CHANNELOFFER (hot-remove). A rescinded
 * channel keeps its relid until it is closed; then RELID_RELEASED lets the
 * host reuse it (facts 2.5).
 *
 * The message handlers only record: drivers are probed, and told of a
 * rescind, from the outermost hvrt_poll() (events.c), never inside a wait of
 * someone else's. Channel objects are never freed (vmbus.h): a released one
 * moves to a list and every call on it fails.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hvrt/log.h>

#include "vmbus/vmbus.h"

static struct vmbus_offers {
	struct hvrt_channel *by_relid[VMBUS_RELID_MAX + 1];
	struct hvrt_channel *released; /* given back: kept so no pointer dangles */
	unsigned count;
	unsigned objects;              /* channel objects ever made (never freed) */
	uint64_t refused_relid[(VMBUS_RELID_MAX + 1) / 64]; /* offers turned away: their rescind is released */
	uint64_t refused;
} offers;

/*
 * parse_offer - fill the public view of an OFFERCHANNEL
 * A short (0.13, 190-byte) offer has no connection id: its channels signal
 * the shared event connection.
 */
static void parse_offer(const struct vmbus_msg_offer *m, size_t len, struct hvrt_vmbus_offer *o)
{
	memcpy(o->class_id.bytes, m->if_type.bytes, 16);
	memcpy(o->instance_id.bytes, m->if_instance.bytes, 16);
	o->relid = m->child_relid;
	o->sub_channel_index = m->sub_channel_index;
	o->flags = m->flags;
	o->mmio_megabytes = m->mmio_megabytes;
	o->mmio_megabytes_optional = m->mmio_megabytes_optional;
	o->monitor_id = m->monitor_id;
	o->monitor_allocated = (m->monitor_allocated & 1) != 0;
	memcpy(o->user_defined, m->user_def, sizeof(o->user_defined));
	if (len >= sizeof(*m)) {
		o->dedicated_interrupt = (m->dedicated_interrupt & 1) != 0;
		o->connection_id = m->connection_id;
	} else {
		o->dedicated_interrupt = false;
		o->connection_id = VMBUS_EVENT_CONNECTION;
	}
}

static struct hvrt_channel *find_primary(const struct hvrt_vmbus_offer *o)
{
	for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
		struct hvrt_channel *ch = offers.by_relid[r];
		if (ch && !ch->rescinded && ch->offer.sub_channel_index == 0 &&
		    hvrt_guid_equal(&ch->offer.class_id, &o->class_id) &&
		    hvrt_guid_equal(&ch->offer.instance_id, &o->instance_id))
			return ch;
	}
	return NULL;
}

void vmbus_offer_message(const void *msg, size_t len)
{
	struct vmbus_msg_offer m;
	struct hvrt_vmbus_offer o;
	char text[HVRT_GUID_STRING_LEN];

	memset(&m, 0, sizeof(m));
	memcpy(&m, msg, len < sizeof(m) ? len : sizeof(m));
	parse_offer(&m, len, &o);
	/* The relid is an index here and an event flag number: 1..2047. */
	if (o.relid == 0 || o.relid > VMBUS_RELID_MAX) {
		offers.refused++;
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "ignored an offer with relid %u (must be 1..%u)", o.relid,
			 VMBUS_RELID_MAX);
		return;
	}
	if (offers.by_relid[o.relid]) {
		offers.refused++;
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "ignored a second offer for relid %u", o.relid);
		return;
	}
	if (o.monitor_allocated && o.monitor_id > VMBUS_MONITOR_ID_MAX) {
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "relid %u: monitor id %u out of range; signalling by hypercall",
			 o.relid, o.monitor_id);
		o.monitor_allocated = false;
	}
	if (offers.objects >= VMBUS_CHANNELS_MAX) {
		offers.refused++;
		offers.refused_relid[o.relid / 64] |= 1ull << (o.relid % 64);
		hvrt_log(HVRT_LOG_ERROR, VMBUS_LOG, "relid %u: refused: %u offers already made (a host offering and "
			 "rescinding for ever?)", o.relid, offers.objects);
		return;
	}
	struct hvrt_channel *ch = calloc(1, sizeof(*ch));
	if (!ch) {
		offers.refused++;
		hvrt_log(HVRT_LOG_ERROR, VMBUS_LOG, "relid %u: no memory for the channel", o.relid);
		return;
	}
	offers.objects++;
	ch->offer = o;
	ch->state = VMBUS_CHANNEL_OFFERED;
	ch->next_trans_id = 1;
	ch->primary = ch;
	if (o.sub_channel_index != 0) {
		ch->primary = find_primary(&o);
		if (!ch->primary) {
			hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "relid %u: sub-channel %u of %s has no primary", o.relid,
				 o.sub_channel_index, hvrt_guid_format(&o.instance_id, text));
			ch->primary = ch;
		}
	}
	offers.by_relid[o.relid] = ch;
	offers.count++;
	ch->probe_due = true;
	vmbus_work_note();
}

void vmbus_rescind_message(const void *msg, size_t len)
{
	struct vmbus_msg_relid m;
	(void)len;

	memcpy(&m, msg, sizeof(m));
	struct hvrt_channel *ch = vmbus_channel_by_relid(m.child_relid);
	/* An offer we turned away still holds its relid on the host's side: give it back. */
	if (!ch && m.child_relid <= VMBUS_RELID_MAX &&
	    (offers.refused_relid[m.child_relid / 64] & (1ull << (m.child_relid % 64)))) {
		struct vmbus_msg_relid released = { .header.type = VMBUS_MSG_RELID_RELEASED, .child_relid = m.child_relid };
		offers.refused_relid[m.child_relid / 64] &= ~(1ull << (m.child_relid % 64));
		vmbus_post(&released, sizeof(released));
		return;
	}
	if (!ch || ch->rescinded) {
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "ignored a rescind of unknown relid %u", m.child_relid);
		return;
	}
	ch->rescinded = true;
	hvrt_log(HVRT_LOG_INFO, VMBUS_LOG, "relid %u rescinded", ch->offer.relid);
	/* Nothing the host would answer for this channel is waited for any longer. */
	vmbus_request_fail_all(ch, -ENODEV);
	vmbus_gpadl_rescind(ch->offer.relid);
	ch->probe_due = false;
	ch->rescind_due = true;
	vmbus_work_note();
}

/* Sub-channels cannot outlive their primary: they become their own. */
static void orphan_subchannels(struct hvrt_channel *primary)
{
	for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
		struct hvrt_channel *sub = offers.by_relid[r];
		if (sub && sub != primary && sub->primary == primary)
			sub->primary = sub;
	}
}

void vmbus_channel_release_if_due(struct hvrt_channel *ch)
{
	struct vmbus_msg_relid m = { .header.type = VMBUS_MSG_RELID_RELEASED, .child_relid = ch->offer.relid };

	/* Facts 2.5: closed, its GPADLs torn down, and only then RELID_RELEASED. */
	if (!ch->rescinded || ch->rescind_due || ch->busy || ch->state != VMBUS_CHANNEL_OFFERED)
		return;
	for (unsigned i = 0; i < VMBUS_APP_GPADLS_MAX; i++) {
		if (ch->gpadl[i])
			return;
	}
	if (offers.by_relid[ch->offer.relid] == ch) {
		offers.by_relid[ch->offer.relid] = NULL;
		offers.count--;
	}
	if (ch->offer.sub_channel_index == 0)
		orphan_subchannels(ch);
	ch->state = VMBUS_CHANNEL_RELEASED;
	ch->next_released = offers.released;
	offers.released = ch;
	if (vmbus_connected())
		vmbus_post(&m, sizeof(m));
}

/* One channel's due work, with the channel held so no release happens under the callbacks. */
static int channel_work(struct hvrt_channel *ch)
{
	int n = 0;

	vmbus_channel_get(ch);
	if (ch->rescind_due) {
		ch->rescind_due = false;
		if (ch->on_rescind && ch->state != VMBUS_CHANNEL_OFFERED) {
			vmbus_callback_enter(false);
			ch->on_rescind(ch, ch->ctx);
			vmbus_callback_leave(false);
		}
		vmbus_driver_detach(ch);
		n++;
	}
	if (ch->probe_due) {
		ch->probe_due = false;
		vmbus_driver_attach(ch);
		n++;
	}
	vmbus_channel_put(ch);
	return n;
}

int vmbus_offers_work(void)
{
	int n = 0;

	/* By relid, not by pointer: the work may change the table. */
	for (unsigned r = 1; r <= VMBUS_RELID_MAX && vmbus_connected() && !vmbus_disconnecting(); r++) {
		struct hvrt_channel *ch = offers.by_relid[r];
		if (ch && (ch->rescind_due || ch->probe_due || ch->rescinded))
			n += channel_work(ch);
	}
	return n;
}

struct hvrt_channel *vmbus_channel_by_relid(uint32_t relid)
{
	return relid <= VMBUS_RELID_MAX ? offers.by_relid[relid] : NULL;
}

/*
 * After UNLOAD every channel is gone on the host's side. Its ring pages are
 * freed only if the host answered UNLOAD: otherwise it may write them yet.
 */
void vmbus_offers_reset(bool unload_answered)
{
	for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
		struct hvrt_channel *ch = offers.by_relid[r];
		if (!ch)
			continue;
		vmbus_request_fail_all(ch, -ENOTCONN);
		if (unload_answered)
			vmbus_channel_free_rings(ch);
		ch->ring_pages = NULL;
		free(ch->rx_buf);
		ch->rx_buf = NULL;
		ch->state = VMBUS_CHANNEL_RELEASED;
		ch->rescind_due = ch->probe_due = false;
		ch->next_released = offers.released;
		offers.released = ch;
		offers.by_relid[r] = NULL;
	}
	offers.count = 0;
	memset(offers.refused_relid, 0, sizeof(offers.refused_relid));
}

/* --- public --- */

struct hvrt_channel *hvrt_vmbus_next(struct hvrt_channel *prev)
{
	if (vmbus_connect() != 0)
		return NULL;
	for (unsigned r = prev ? prev->offer.relid + 1 : 1; r <= VMBUS_RELID_MAX; r++) {
		if (offers.by_relid[r])
			return offers.by_relid[r];
	}
	return NULL;
}

struct hvrt_channel *hvrt_vmbus_find(const struct hvrt_guid *class_id, struct hvrt_channel *prev)
{
	for (struct hvrt_channel *ch = hvrt_vmbus_next(prev); ch; ch = hvrt_vmbus_next(ch)) {
		if (ch->offer.sub_channel_index == 0 && !ch->rescinded && hvrt_guid_equal(&ch->offer.class_id, class_id))
			return ch;
	}
	return NULL;
}

const struct hvrt_vmbus_offer *hvrt_channel_offer(const struct hvrt_channel *ch)
{
	return &ch->offer;
}

struct hvrt_channel *hvrt_channel_primary(struct hvrt_channel *ch)
{
	return ch->primary;
}

bool hvrt_channel_rescinded(const struct hvrt_channel *ch)
{
	return ch->rescinded;
}

struct hvrt_channel *hvrt_channel_subchannel(struct hvrt_channel *primary, uint16_t index)
{
	if (index == 0)
		return primary;
	for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
		struct hvrt_channel *ch = offers.by_relid[r];
		if (ch && ch != primary && ch->primary == primary && ch->offer.sub_channel_index == index &&
		    !ch->rescinded)
			return ch;
	}
	return NULL;
}
