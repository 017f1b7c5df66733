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
	if (ch->driver || ch->rescinded || !matches(drv, ch))
		return;
	ch->driver = drv;
	int err = drv->probe ? drv->probe(ch, drv->ctx) : 0;
	if (err) {
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
	if (drv->remove)
		drv->remove(ch, drv->ctx);
}

void vmbus_drivers_reset(void)
{
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch))
		vmbus_driver_detach(ch);
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
	drivers.list[slot] = drv;
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch))
		probe(drv, ch);
	return 0;
}

void hvrt_vmbus_unregister(const struct hvrt_vmbus_driver *drv)
{
	for (unsigned i = 0; i < VMBUS_DRIVERS_MAX; i++) {
		if (drivers.list[i] == drv)
			drivers.list[i] = NULL;
	}
	if (!vmbus_connected())
		return;
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch)) {
		if (ch->driver == drv)
			vmbus_driver_detach(ch);
	}
}

const struct hvrt_vmbus_driver *hvrt_channel_driver(const struct hvrt_channel *ch)
{
	return ch->driver;
}
