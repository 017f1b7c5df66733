/*
 * Drivers by class GUID: probed on each matching offer (at registration for
 * offers already there, later on hot-add), removed on rescind.
 */
#include <errno.h>
#include <stddef.h>

#include <hvrt/log.h>

#include "vmbus/vmbus.h"

#define VMBUS_DRIVERS_MAX 16u

static struct vmbus_drivers {
	const struct hvrt_vmbus_driver *list[VMBUS_DRIVERS_MAX];
} drivers;

static bool matches(const struct hvrt_vmbus_driver *drv, const struct hvrt_channel *ch)
{
	if (ch->offer.sub_channel_index != 0 && !drv->subchannels)
		return false;
	return hvrt_guid_equal(&drv->class_id, &ch->offer.class_id);
}

/*
 * probe - offer a channel to the driver in slot
 * Each driver sees each channel once, whoever gets there first: register()
 * for the channels already offered, the poll's offer work for new ones.
 */
static void probe(unsigned slot, struct hvrt_channel *ch)
{
	const struct hvrt_vmbus_driver *drv = drivers.list[slot];

	/* Not OFFERED: someone opened it already (a driver its sub-channels, from the primary's probe). */
	if (!drv || ch->driver || ch->rescinded || ch->state != VMBUS_CHANNEL_OFFERED || !matches(drv, ch) ||
	    (ch->probed & (1u << slot)))
		return;
	ch->probed |= (uint16_t)(1u << slot);
	ch->driver = drv;
	vmbus_channel_get(ch);
	vmbus_callback_enter(false);
	int err = drv->probe ? drv->probe(ch, drv->ctx) : 0;
	vmbus_callback_leave(false);
	/* A rescind during the probe already ran remove() (deferred work) or will: only a refusal unbinds. */
	if (err && ch->driver == drv) {
		ch->driver = NULL;
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "driver %s declined relid %u: %d", drv->name, ch->offer.relid, err);
	}
	vmbus_channel_put(ch);
}

void vmbus_driver_attach(struct hvrt_channel *ch)
{
	for (unsigned i = 0; i < VMBUS_DRIVERS_MAX && !ch->driver; i++)
		probe(i, ch);
}

void vmbus_driver_detach(struct hvrt_channel *ch)
{
	const struct hvrt_vmbus_driver *drv = ch->driver;

	if (!drv)
		return;
	ch->driver = NULL;
	vmbus_channel_get(ch);
	vmbus_callback_enter(false);
	if (drv->remove)
		drv->remove(ch, drv->ctx);
	vmbus_callback_leave(false);
	vmbus_channel_put(ch);
}

void vmbus_drivers_detach_all(void)
{
	for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
		struct hvrt_channel *ch = vmbus_channel_by_relid(r);
		if (ch)
			vmbus_driver_detach(ch);
	}
}

int hvrt_vmbus_register(const struct hvrt_vmbus_driver *drv)
{
	unsigned slot = VMBUS_DRIVERS_MAX;

	/* A probe runs here: not on top of a callback's frames or inside a wait (events.c). */
	if (!vmbus_may_change_bus())
		return -EDEADLK;
	for (unsigned i = 0; i < VMBUS_DRIVERS_MAX; i++) {
		if (drivers.list[i] == drv)
			return -EBUSY;
		if (!drivers.list[i] && slot == VMBUS_DRIVERS_MAX)
			slot = i;
	}
	if (slot == VMBUS_DRIVERS_MAX)
		return -ENOSPC;
	drivers.list[slot] = drv;
	if (vmbus_connect() != 0)
		return 0; /* probed on the offers of a later connection */
	/* By relid: a probe may wait, and the table change meanwhile. */
	for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
		struct hvrt_channel *ch = vmbus_channel_by_relid(r);
		if (ch)
			probe(slot, ch);
	}
	return 0;
}

int hvrt_vmbus_unregister(const struct hvrt_vmbus_driver *drv)
{
	if (!vmbus_may_change_bus())
		return -EDEADLK;
	unsigned slot = VMBUS_DRIVERS_MAX;
	for (unsigned i = 0; i < VMBUS_DRIVERS_MAX; i++) {
		if (drivers.list[i] == drv)
			slot = i;
	}
	if (slot == VMBUS_DRIVERS_MAX)
		return 0;
	drivers.list[slot] = NULL;
	for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
		struct hvrt_channel *ch = vmbus_channel_by_relid(r);
		if (!ch)
			continue;
		if (ch->driver == drv)
			vmbus_driver_detach(ch);
		ch->probed &= (uint16_t)~(1u << slot); /* the slot's next driver is another */
	}
	return 0;
}

const struct hvrt_vmbus_driver *hvrt_channel_driver(const struct hvrt_channel *ch)
{
	return ch->driver;
}
