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

static void probe(const struct hvrt_vmbus_driver *drv, struct hvrt_channel *ch)
{
	if (ch->driver || ch->rescinded || ch->state == VMBUS_CHANNEL_RELEASED || !matches(drv, ch))
		return;
	ch->driver = drv;
	ch->busy++;
	int err = drv->probe ? drv->probe(ch, drv->ctx) : 0;
	ch->busy--;
	/* A rescind during the probe already ran remove() (deferred work) or will: only a refusal unbinds. */
	if (err && ch->driver == drv) {
		ch->driver = NULL;
		hvrt_log(HVRT_LOG_WARN, VMBUS_LOG, "driver %s declined relid %u: %d", drv->name, ch->offer.relid, err);
	}
}

void vmbus_driver_attach(struct hvrt_channel *ch)
{
	for (unsigned i = 0; i < VMBUS_DRIVERS_MAX && !ch->driver; i++) {
		if (drivers.list[i])
			probe(drivers.list[i], ch);
	}
}

void vmbus_driver_detach(struct hvrt_channel *ch)
{
	const struct hvrt_vmbus_driver *drv = ch->driver;

	if (!drv)
		return;
	ch->driver = NULL;
	ch->busy++;
	if (drv->remove)
		drv->remove(ch, drv->ctx);
	ch->busy--;
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

	for (unsigned i = 0; i < VMBUS_DRIVERS_MAX; i++) {
		if (drivers.list[i] == drv)
			return -EBUSY;
		if (!drivers.list[i] && slot == VMBUS_DRIVERS_MAX)
			slot = i;
	}
	if (slot == VMBUS_DRIVERS_MAX)
		return -ENOSPC;
	/*
	 * Connect first: the offers that come meanwhile are probed by the
	 * drivers already there, and then by this one here, once each. Offers
	 * still due for probing get it from the poll with everyone else.
	 */
	int connected = vmbus_connect();
	drivers.list[slot] = drv;
	if (connected != 0)
		return 0; /* probed on the offers of a later connection */
	/* By relid: a probe may wait, and the table change meanwhile. */
	for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
		struct hvrt_channel *ch = vmbus_channel_by_relid(r);
		if (ch && !ch->probe_due)
			probe(drv, ch);
	}
	return 0;
}

void hvrt_vmbus_unregister(const struct hvrt_vmbus_driver *drv)
{
	for (unsigned i = 0; i < VMBUS_DRIVERS_MAX; i++) {
		if (drivers.list[i] == drv)
			drivers.list[i] = NULL;
	}
	for (unsigned r = 1; r <= VMBUS_RELID_MAX; r++) {
		struct hvrt_channel *ch = vmbus_channel_by_relid(r);
		if (ch && ch->driver == drv)
			vmbus_driver_detach(ch);
	}
}

const struct hvrt_vmbus_driver *hvrt_channel_driver(const struct hvrt_channel *ch)
{
	return ch->driver;
}
