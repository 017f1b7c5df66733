/*
 * Unit tests of the guest's offers, rescinds and driver registry
 * (vmbus/offer.c, vmbus/driver.c, vmbus/events.c, vmbus/guid.c through
 * <hvrt/vmbus.h>) against the simulated host, each test in a child process
 * of its own (vmbus_fixture.h).
 *
 * Pinned down:
 *  - every OFFERCHANNEL field reaches struct hvrt_vmbus_offer, from
 *    Hyper-V's 196-byte and QEMU's 200-byte offers; a 190-byte offer (0.13)
 *    has no connection id or dedicated flag: connection 2;
 *  - class names for every line of vmbus/classes.def, GUID text both ways;
 *  - channels in relid order, hvrt_vmbus_find by class, hot-add after the
 *    connection (probed from the next poll);
 *  - sub-channels linked to their primary (hvrt_channel_subchannel,
 *    hvrt_channel_primary), not found by hvrt_vmbus_find, closed before
 *    their primary, their own primaries once it is rescinded;
 *  - offers with relid 0, above 2047 or in use, and short ones, are ignored
 *    with a log; a monitor id above 127 falls back to signalling by
 *    hypercall, and the channel works;
 *  - a rescind of a closed channel: RELID_RELEASED from the next poll; of an
 *    open one: on_rescind, pending requests -ENODEV, sends -ENODEV, and
 *    RELID_RELEASED only after hvrt_channel_close; a rescind while opening;
 *    the relid offered again is a new channel; the old object stays, every
 *    call on it failing;
 *  - drivers: registered before and after the offers, a probe that declines
 *    (the next driver gets the channel), remove on rescind, on unregister
 *    and at disconnect (before the channels close), 16 drivers at most, the
 *    same one twice, sub-channels only with the flag, a driver that opens in
 *    probe and closes in remove through a whole rescind.
 */
#include "tests/unit/vmbus_fixture.h"

#define SCSI_CLASS "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"
#define KVP_CLASS "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"

static struct hvrt_guid guid_of(const char *text)
{
	struct hvrt_guid g;
	assert_int_equal(hvrt_guid_parse(text, &g), 0);
	return g;
}

/* Posts a channel message to the guest as a host would, past the simulated host, and polls. */
static void host_message(const void *msg, size_t len)
{
	assert_true(hv_sim_post(&sim, VMBUS_MESSAGE_SINT, VMBUS_MESSAGE_TYPE, msg, len));
	hvrt_poll();
}

/* ---- offer fields ---- */

/* A device with every offer field set to something of its own. */
static void full_device(struct vmbus_sim_device *d, uint32_t relid)
{
	vmbus_sim_device_init(&vs, d, SCSI_CLASS, "11223344-5566-7788-99aa-bbccddeeff00");
	d->relid = relid;
	d->flags = VMBUS_OFFER_FLAG_ENUMERATE_DEVICE | VMBUS_OFFER_FLAG_NAMED_PIPE;
	d->mmio_megabytes = 0x1234;
	d->mmio_megabytes_optional = 0x4321;
	for (unsigned i = 0; i < sizeof(d->user_def); i++)
		d->user_def[i] = (uint8_t)(0xa0 + i);
	d->monitor_allocated = true;
	d->monitor_id = 97;
}

static void check_full_offer(const struct hvrt_vmbus_offer *o, const struct vmbus_sim_device *d, bool has_ids)
{
	assert_memory_equal(o->class_id.bytes, d->class_id.bytes, 16);
	assert_memory_equal(o->instance_id.bytes, d->instance_id.bytes, 16);
	char text[HVRT_GUID_STRING_LEN];
	assert_string_equal(hvrt_guid_format(&o->class_id, text), SCSI_CLASS);
	assert_string_equal(hvrt_guid_format(&o->instance_id, text), "11223344-5566-7788-99aa-bbccddeeff00");
	assert_int_equal(o->relid, d->relid);
	assert_int_equal(o->sub_channel_index, 0);
	assert_int_equal(o->flags, VMBUS_OFFER_FLAG_ENUMERATE_DEVICE | VMBUS_OFFER_FLAG_NAMED_PIPE);
	assert_int_equal(o->mmio_megabytes, 0x1234);
	assert_int_equal(o->mmio_megabytes_optional, 0x4321);
	assert_memory_equal(o->user_defined, d->user_def, 120);
	assert_true(o->monitor_allocated);
	assert_int_equal(o->monitor_id, 97);
	if (has_ids) {
		assert_int_equal(o->dedicated_interrupt, d->dedicated_interrupt);
		assert_int_equal(o->connection_id, vmbus_sim_channel(&vs, d->relid)->connection_id);
	} else {
		assert_false(o->dedicated_interrupt);
		assert_int_equal(o->connection_id, VMBUS_EVENT_CONNECTION);
	}
	assert_string_equal(hvrt_vmbus_class_name(&o->class_id), "Synthetic SCSI controller (storvsc)");
}

/* Hyper-V's 196-byte offer: every field, the connection id relid | SINT 2 << 12. */
static void test_offer_fields_hyperv(void **state)
{
	(void)state;
	boot();
	struct vmbus_sim_device d;
	full_device(&d, 77);
	d.dedicated_interrupt = true;
	vmbus_sim_add_device(&vs, &d);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);
	bool seen = false;
	for (size_t i = 0; i < n; i++)
		if (log[i].type == VMBUS_MSG_OFFERCHANNEL) {
			assert_int_equal(log[i].size, 196);
			seen = true;
		}
	assert_true(seen);
	struct hvrt_channel *ch = channel(77);
	assert_non_null(ch);
	check_full_offer(hvrt_channel_offer(ch), &d, true);
	assert_int_equal(hvrt_channel_offer(ch)->connection_id, 77u | 2u << 12);
	assert_true(hvrt_channel_offer(ch)->dedicated_interrupt);
	assert_ptr_equal(hvrt_channel_primary(ch), ch);
	assert_false(hvrt_channel_rescinded(ch));
	assert_false(hvrt_channel_is_open(ch));
	assert_null(hvrt_channel_driver(ch));
	expect_clean();
}

/* QEMU's 200-byte offer (its struct unpacked): the same fields, connection 16 + relid. */
static void test_offer_fields_qemu(void **state)
{
	(void)state;
	vmbus_sim_config_qemu(&vcfg);
	boot();
	struct vmbus_sim_device d;
	full_device(&d, 5);
	vmbus_sim_add_device(&vs, &d);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(vmbus_sim_log(&vs, &(size_t){ 0 })[5].size, 200); /* 4.1, 4.0, REQUESTOFFERS, offer */
	struct hvrt_channel *ch = channel(5);
	assert_non_null(ch);
	check_full_offer(hvrt_channel_offer(ch), &d, true);
	assert_int_equal(hvrt_channel_offer(ch)->connection_id, 16 + 5);
	assert_true(hvrt_channel_offer(ch)->dedicated_interrupt); /* QEMU's default */
	expect_clean();
}

/* A 190-byte offer (Hyper-V at 0.13): no connection id and no dedicated flag; the channel uses connection 2. */
static void test_offer_fields_v013(void **state)
{
	(void)state;
	vcfg.highest_version = V(0, 13);
	boot();
	struct vmbus_sim_device d;
	full_device(&d, 9);
	d.dedicated_interrupt = true; /* not in a 190-byte offer */
	d.monitor_allocated = false;
	uint32_t echo = vmbus_sim_add_echo(&vs, 1);
	vmbus_sim_add_device(&vs, &d);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(hvrt_vmbus_version(), V(0, 13));
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);
	for (size_t i = 0; i < n; i++)
		if (log[i].type == VMBUS_MSG_OFFERCHANNEL)
			assert_int_equal(log[i].size, 190);
	const struct hvrt_vmbus_offer *o = hvrt_channel_offer(channel(9));
	assert_int_equal(o->connection_id, VMBUS_EVENT_CONNECTION);
	assert_false(o->dedicated_interrupt);
	assert_int_equal(o->mmio_megabytes, 0x1234);
	assert_memory_equal(o->user_defined, d.user_def, 120);
	/* and the echo channel works through the interrupt page and connection 2 */
	struct hvrt_channel *ch = channel(echo);
	assert_int_equal(hvrt_channel_offer(ch)->connection_id, VMBUS_EVENT_CONNECTION);
	assert_int_equal(open_collect(ch), 0);
	for (unsigned i = 0; i < 20; i++) {
		assert_int_equal(hvrt_channel_send(ch, &i, sizeof(i), i, false), 0);
		hvrt_poll();
	}
	assert_int_equal(ngot, 20);
	assert_int_equal(vs.stray_signals, 0);
	assert_int_equal(vmbus_sim_channel(&vs, echo)->signals, 20);
	hvrt_channel_close(ch);
	expect_clean();
}

/* ---- names ---- */

static const struct {
	const char *guid, *name;
} classes[] = {
#define VMBUS_CLASS(id, guid, name) { guid, name },
#include "vmbus/classes.def"
#undef VMBUS_CLASS
};

/* Every class in classes.def by name; unknown classes have none; GUID text round trips. */
static void test_class_names(void **state)
{
	(void)state;
	char text[HVRT_GUID_STRING_LEN];

	assert_true(sizeof(classes) / sizeof(classes[0]) >= 20);
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		struct hvrt_guid g = guid_of(classes[i].guid);
		const char *name = hvrt_vmbus_class_name(&g);
		assert_non_null(name);
		assert_string_equal(name, classes[i].name);
		assert_string_equal(hvrt_guid_format(&g, text), classes[i].guid);
		struct vmbus_guid wire;
		assert_true(vmbus_sim_guid(classes[i].guid, &wire)); /* the host's own parser agrees */
		assert_memory_equal(wire.bytes, g.bytes, 16);
	}
	struct hvrt_guid other = guid_of("00000000-0000-0000-0000-000000000001");
	assert_null(hvrt_vmbus_class_name(&other));
	/* facts 2.11's example: ba6163d9-... is d9 63 61 ba a1 04 29 4d b6 05 ... on the wire */
	struct hvrt_guid scsi = guid_of(SCSI_CLASS);
	assert_int_equal(scsi.bytes[0], 0xd9);
	assert_int_equal(scsi.bytes[3], 0xba);
	assert_int_equal(scsi.bytes[4], 0xa1);
	assert_int_equal(scsi.bytes[8], 0xb6);
	assert_int_equal(hvrt_guid_parse("ba6163d9-04a1-4d29-b605-72e2ffb1dc7", &scsi), -EINVAL);
	assert_int_equal(hvrt_guid_parse("ba6163d9x04a1-4d29-b605-72e2ffb1dc7f", &scsi), -EINVAL);
	assert_int_equal(hvrt_guid_parse("BA6163D9-04A1-4D29-B605-72E2FFB1DC7F", &scsi), 0);
	assert_string_equal(hvrt_guid_format(&scsi, text), SCSI_CLASS);
	/* the echo device's class, offered by the sim, by name */
	uint32_t relid = up_echo(1);
	assert_string_equal(hvrt_vmbus_class_name(&hvrt_channel_offer(channel(relid))->class_id), "hvrt test echo device");
}

/* ---- enumeration and hot-add ---- */

static unsigned probes, removes;
static struct hvrt_channel *probed[32], *removed[32];
static int probe_result;

static int count_probe(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	assert_true(probes < 32);
	probed[probes++] = ch;
	return probe_result;
}

static void count_remove(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	assert_true(removes < 32);
	removed[removes++] = ch;
}

/* Relid order, find by class with prev, and a device hot-added after the connection. */
static void test_enumerate_and_hot_add(void **state)
{
	(void)state;
	vcfg.offer_order = VMBUS_SIM_ORDER_REVERSE;
	boot();
	struct vmbus_sim_device d;
	vmbus_sim_device_init(&vs, &d, KVP_CLASS, "242ff919-07db-4180-9c2e-b86cb68c8c55");
	d.relid = 30;
	vmbus_sim_add_device(&vs, &d);
	uint32_t e1 = vmbus_sim_add_echo(&vs, 1), e2 = vmbus_sim_add_echo(&vs, 2);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	uint32_t want[] = { e1, e2, 30 };
	unsigned i = 0;
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch), i++) {
		assert_true(i < 3);
		assert_int_equal(hvrt_channel_offer(ch)->relid, want[i]);
	}
	assert_int_equal(i, 3);
	struct hvrt_guid echo = guid_of(VMBUS_SIM_ECHO_CLASS), kvp = guid_of(KVP_CLASS);
	struct hvrt_channel *a = hvrt_vmbus_find(&echo, NULL);
	assert_non_null(a);
	assert_int_equal(hvrt_channel_offer(a)->relid, e1);
	struct hvrt_channel *b = hvrt_vmbus_find(&echo, a);
	assert_int_equal(hvrt_channel_offer(b)->relid, e2);
	assert_null(hvrt_vmbus_find(&echo, b));
	assert_int_equal(hvrt_channel_offer(hvrt_vmbus_find(&kvp, NULL))->relid, 30);

	/* hot-add: a driver registered for the class sees it from the next poll */
	static struct hvrt_vmbus_driver drv = { .name = "kvp", .probe = count_probe, .remove = count_remove };
	drv.class_id = kvp;
	probes = 0;
	assert_int_equal(hvrt_vmbus_register(&drv), 0);
	assert_int_equal(probes, 1);
	vmbus_sim_device_init(&vs, &d, KVP_CLASS, "242ff919-07db-4180-9c2e-b86cb68c8c56");
	d.relid = 31;
	vmbus_sim_add_device(&vs, &d);
	assert_int_equal(probes, 1); /* nothing before the guest polls */
	hvrt_poll();
	assert_int_equal(probes, 2);
	assert_int_equal(hvrt_channel_offer(probed[1])->relid, 31);
	assert_ptr_equal(hvrt_channel_driver(probed[1]), &drv);
	struct hvrt_channel *hot = hvrt_vmbus_find(&kvp, hvrt_vmbus_find(&kvp, NULL));
	assert_ptr_equal(hot, probed[1]);
	/* and a hot-added echo works at once */
	uint32_t e3 = vmbus_sim_add_echo(&vs, 3);
	hvrt_poll();
	assert_int_equal(open_collect(channel(e3)), 0);
	assert_int_equal(hvrt_channel_send(channel(e3), "hot", 3, 3, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	hvrt_vmbus_unregister(&drv);
	assert_int_equal(removes, 2);
	expect_clean();
}

/* ---- sub-channels ---- */

#define SUB_INSTANCE "6876d3a1-2c5e-4f0b-9d47-000000000042"

static uint32_t add_echo_sub(uint16_t index, uint32_t relid)
{
	struct vmbus_sim_device d;
	vmbus_sim_device_init(&vs, &d, VMBUS_SIM_ECHO_CLASS, SUB_INSTANCE);
	d.echo = true;
	d.sub_channel_index = index;
	d.relid = relid;
	return vmbus_sim_add_device(&vs, &d);
}

/* Closes are logged in order by the sim: the relid of the n-th CLOSECHANNEL after from. */
static uint32_t nth_close(size_t from, unsigned nth)
{
	size_t n;
	const struct vmbus_sim_msg *log = vmbus_sim_log(&vs, &n);
	for (size_t i = from; i < n; i++)
		if (!log[i].to_guest && log[i].type == VMBUS_MSG_CLOSECHANNEL && nth-- == 0)
			return log[i].relid;
	return 0;
}

static void test_subchannels(void **state)
{
	(void)state;
	boot();
	uint32_t p = add_echo_sub(0, 10), s1 = add_echo_sub(1, 11), s2 = add_echo_sub(2, 12);
	uint32_t other = vmbus_sim_add_echo(&vs, 1); /* same class, another instance */
	assert_int_equal(hvrt_vmbus_connect(), 0);
	struct hvrt_channel *prim = channel(p), *c1 = channel(s1), *c2 = channel(s2), *o = channel(other);
	assert_ptr_equal(hvrt_channel_subchannel(prim, 0), prim);
	assert_ptr_equal(hvrt_channel_subchannel(prim, 1), c1);
	assert_ptr_equal(hvrt_channel_subchannel(prim, 2), c2);
	assert_null(hvrt_channel_subchannel(prim, 3));
	assert_null(hvrt_channel_subchannel(o, 1));
	assert_ptr_equal(hvrt_channel_primary(c1), prim);
	assert_ptr_equal(hvrt_channel_primary(c2), prim);
	assert_ptr_equal(hvrt_channel_primary(o), o);
	assert_int_equal(hvrt_channel_offer(c2)->sub_channel_index, 2);
	/* find walks primaries only */
	struct hvrt_guid echo = guid_of(VMBUS_SIM_ECHO_CLASS);
	unsigned found = 0;
	for (struct hvrt_channel *ch = hvrt_vmbus_find(&echo, NULL); ch; ch = hvrt_vmbus_find(&echo, ch)) {
		assert_int_equal(hvrt_channel_offer(ch)->sub_channel_index, 0);
		found++;
	}
	assert_int_equal(found, 2);
	/* a sub-channel offered later (a device protocol asked for it) */
	uint32_t s3 = add_echo_sub(3, 13);
	hvrt_poll();
	assert_ptr_equal(hvrt_channel_subchannel(prim, 3), channel(s3));
	/* each works on its own; closing the primary closes its open sub-channels first */
	assert_int_equal(open_collect(prim), 0);
	assert_int_equal(open_collect(c1), 0);
	assert_int_equal(open_collect(c2), 0);
	assert_int_equal(hvrt_channel_send(c2, "two", 3, 2, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	assert_ptr_equal(got[0].ch, c2);
	size_t from = vs.nlog;
	hvrt_channel_close(prim);
	assert_false(hvrt_channel_is_open(c1));
	assert_false(hvrt_channel_is_open(c2));
	assert_int_equal(vmbus_sim_open_channels(&vs), 0);
	assert_int_equal(nth_close(from, 2), p);
	assert_true(nth_close(from, 0) == s1 || nth_close(from, 0) == s2);
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	/* a rescinded primary: its sub-channels become their own primaries */
	vmbus_sim_rescind(&vs, p);
	hvrt_poll();
	assert_int_equal(vs.releases, 1);
	assert_ptr_equal(hvrt_channel_primary(c1), c1);
	assert_ptr_equal(hvrt_channel_primary(c2), c2);
	assert_int_equal(open_collect(c1), 0);
	hvrt_channel_close(c1);
	expect_clean();
}

/* ---- bad offers ---- */

static struct vmbus_msg_offer raw_offer(uint32_t relid)
{
	struct vmbus_msg_offer o;
	memset(&o, 0, sizeof(o));
	o.header.type = VMBUS_MSG_OFFERCHANNEL;
	assert_true(vmbus_sim_guid(KVP_CLASS, &o.if_type));
	assert_true(vmbus_sim_guid("00000000-0000-0000-0000-0000000000ff", &o.if_instance));
	o.child_relid = relid;
	o.connection_id = relid;
	return o;
}

static unsigned channel_count(void)
{
	unsigned n = 0;
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch))
		n++;
	return n;
}

/* Relid 0, relid past 2047, a relid in use, a short offer: logged and ignored; nothing breaks. */
static void test_bad_offers(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	static struct hvrt_vmbus_driver drv = { .name = "kvp", .probe = count_probe, .remove = count_remove };
	drv.class_id = guid_of(KVP_CLASS);
	probes = 0;
	assert_int_equal(hvrt_vmbus_register(&drv), 0);
	struct hvrt_channel *echo = channel(relid);
	const struct hvrt_vmbus_offer before = *hvrt_channel_offer(echo);

	struct vmbus_msg_offer o = raw_offer(0);
	host_message(&o, sizeof(o));
	assert_logged("ignored an offer with relid 0");
	o = raw_offer(2048);
	host_message(&o, sizeof(o));
	assert_logged("ignored an offer with relid 2048");
	o = raw_offer(0xffffffffu);
	host_message(&o, sizeof(o));
	assert_logged("ignored an offer with relid 4294967295");
	o = raw_offer(relid); /* the echo's relid, another class */
	host_message(&o, sizeof(o));
	assert_logged("ignored a second offer for relid");
	assert_memory_equal(hvrt_channel_offer(echo), &before, sizeof(before)); /* the first stays as it was */
	o = raw_offer(40);
	host_message(&o, VMBUS_OFFER_SIZE_V1 - 1);
	assert_logged("dropped a short message");
	assert_int_equal(channel_count(), 1);
	assert_int_equal(probes, 0);
	/* relid 2047 is the last good one */
	o = raw_offer(2047);
	host_message(&o, sizeof(o));
	assert_int_equal(channel_count(), 2);
	assert_int_equal(probes, 1);
	assert_int_equal(hvrt_channel_offer(probed[0])->relid, 2047);
	/* the echo still works */
	assert_int_equal(open_collect(echo), 0);
	assert_int_equal(hvrt_channel_send(echo, "ok", 2, 1, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	hvrt_channel_close(echo);
	/* a rescind of a relid nobody has */
	struct vmbus_msg_relid r = { .header.type = VMBUS_MSG_RESCIND_CHANNELOFFER, .child_relid = 1234 };
	host_message(&r, sizeof(r));
	assert_logged("ignored a rescind of unknown relid 1234");
	r.child_relid = 99999;
	host_message(&r, sizeof(r));
	assert_int_equal(vs.releases, 0);
	hvrt_vmbus_unregister(&drv);
	/* the relid 2047 channel is the guest's alone: the disconnect must not post for it beyond UNLOAD */
	expect_clean();
}

/* The host's offer for relid says monitor id 200 (it allocated 5): rewritten on its way out. */
static void monitor_200(void *ctx, struct vmbus_sim *v, uint8_t *msg, uint32_t *len)
{
	(void)ctx;
	(void)v;
	if (msg_type(msg, *len) == VMBUS_MSG_OFFERCHANNEL && *len >= 190)
		msg[offsetof(struct vmbus_msg_offer, monitor_id)] = 200;
}

/* A monitor id above 127 cannot name a trigger bit: the guest signals by hypercall, and the channel works. */
static void test_monitor_id_out_of_range(void **state)
{
	(void)state;
	boot();
	struct vmbus_sim_device d;
	vmbus_sim_device_init(&vs, &d, VMBUS_SIM_ECHO_CLASS, "6876d3a1-2c5e-4f0b-9d47-000000000007");
	d.echo = true;
	d.monitor_allocated = true;
	d.monitor_id = 5;
	uint32_t relid = vmbus_sim_add_device(&vs, &d);
	vs.edit = monitor_200;
	assert_int_equal(hvrt_vmbus_connect(), 0);
	vs.edit = NULL;
	assert_logged("monitor id 200 out of range; signalling by hypercall");
	struct hvrt_channel *ch = channel(relid);
	assert_false(hvrt_channel_offer(ch)->monitor_allocated);
	assert_int_equal(hvrt_channel_offer(ch)->monitor_id, 200);
	assert_int_equal(open_collect(ch), 0);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(hvrt_channel_send(ch, &i, 4, i, false), 0);
		hvrt_poll();
	}
	assert_int_equal(ngot, 5);
	const struct vmbus_sim_channel *sc = vmbus_sim_channel(&vs, relid);
	assert_int_equal(sc->signals, 5);
	assert_int_equal(sc->monitor_signals, 0);
	/* nothing was set in the monitor page, where bit 200 would be outside trigger_group */
	hvrt_channel_close(ch);
	expect_clean();
}

/* ---- rescind ---- */

static unsigned rescinds;
static struct hvrt_channel *rescinded_ch;

static void on_rescind(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	rescinds++;
	rescinded_ch = ch;
}

/* A closed channel rescinded: RELID_RELEASED from the next poll; the object stays, its calls fail; the relid comes back. */
static void test_rescind_closed(void **state)
{
	(void)state;
	uint32_t relid = up_echo(2);
	struct hvrt_channel *ch = channel(relid);
	static struct hvrt_vmbus_driver drv = { .name = "echo", .probe = count_probe, .remove = count_remove };
	drv.class_id = guid_of(VMBUS_SIM_ECHO_CLASS);
	probes = removes = 0;
	assert_int_equal(hvrt_vmbus_register(&drv), 0);
	assert_int_equal(probes, 2);
	vmbus_sim_rescind(&vs, relid);
	assert_int_equal(vs.releases, 0);
	hvrt_poll();
	assert_int_equal(vs.releases, 1);
	assert_int_equal(vs.last_released, relid);
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_RELID_RELEASED), 1);
	assert_int_equal(removes, 1);
	assert_ptr_equal(removed[0], ch);
	assert_true(hvrt_channel_rescinded(ch));
	assert_null(hvrt_channel_driver(ch));
	assert_null(channel(relid)); /* gone from the table */
	/* the object stays; every call on it fails */
	assert_int_equal(open_collect(ch), -ENODEV);
	assert_int_equal(hvrt_channel_send(ch, "x", 1, 1, false), -ENODEV);
	uint8_t buf[64];
	struct hvrt_packet pkt;
	assert_true(hvrt_channel_recv(ch, buf, sizeof(buf), &pkt) < 0);
	assert_int_equal(hvrt_channel_request(ch, "x", 1, buf, sizeof(buf), 100), -ENODEV);
	uint32_t handle = 1;
	uint8_t *page = hvrt_page_alloc(1);
	assert_int_equal(hvrt_channel_gpadl_create(ch, page, PG, &handle), -ENODEV);
	hvrt_page_free(page, 1);
	hvrt_channel_close(ch); /* nothing to do, and no second RELID_RELEASED */
	hvrt_poll();
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_RELID_RELEASED), 1);
	/* the relid offered again: a new channel, probed */
	assert_int_equal(vmbus_sim_add_echo(&vs, 9), relid);
	hvrt_poll();
	struct hvrt_channel *again = channel(relid);
	assert_non_null(again);
	assert_ptr_not_equal(again, ch);
	assert_false(hvrt_channel_rescinded(again));
	assert_int_equal(probes, 3);
	assert_int_equal(open_collect(again), 0);
	assert_int_equal(hvrt_channel_send(again, "y", 1, 1, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	hvrt_channel_close(again);
	expect_clean();
}

/* The device rescinds its channel instead of answering a request. */
static void rescind_instead(void *ctx, struct vmbus_sim *v, uint32_t relid, const struct vmbus_sim_packet *pkt)
{
	(void)ctx;
	if (pkt->desc.type == VMBUS_PACKET_DATA_INBAND)
		vmbus_sim_rescind(v, relid);
}

/*
 * An open channel rescinded while a request waits: the request ends with
 * -ENODEV at once, on_rescind runs, sends fail -ENODEV, and RELID_RELEASED
 * comes only after hvrt_channel_close (which still closes and tears down).
 */
static void test_rescind_open(void **state)
{
	(void)state;
	boot();
	struct vmbus_sim_device d;
	vmbus_sim_device_init(&vs, &d, KVP_CLASS, "242ff919-07db-4180-9c2e-b86cb68c8c55");
	d.packet = rescind_instead;
	uint32_t relid = vmbus_sim_add_device(&vs, &d);
	uint32_t other = vmbus_sim_add_echo(&vs, 1);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	struct hvrt_channel *ch = channel(relid), *oc = channel(other);
	struct hvrt_channel_config c = { .on_packet = collect, .on_rescind = on_rescind };
	assert_int_equal(hvrt_channel_open(ch, &c), 0);
	assert_int_equal(open_collect(oc), 0);
	rescinds = 0;
	uint8_t resp[16];
	uint64_t t0 = now();
	assert_int_equal(hvrt_channel_request(ch, "please", 6, resp, sizeof(resp), 2000), -ENODEV);
	assert_elapsed(t0, 0, MS(1));
	assert_true(hvrt_channel_rescinded(ch));
	hvrt_poll(); /* the callbacks run from the outermost poll */
	assert_int_equal(rescinds, 1);
	assert_ptr_equal(rescinded_ch, ch);
	assert_int_equal(hvrt_channel_send(ch, "late", 4, 1, false), -ENODEV);
	assert_int_equal(hvrt_channel_request(ch, "late", 4, resp, sizeof(resp), 100), -ENODEV);
	hvrt_poll();
	assert_int_equal(vs.releases, 0); /* still open: not released */
	assert_int_equal(vmbus_sim_count(&vs, VMBUS_MSG_RELID_RELEASED), 0);
	size_t from = vs.nlog;
	hvrt_channel_close(ch);
	assert_int_equal(nth_close(from, 0), relid);
	assert_int_equal(vmbus_sim_gpadls(&vs), 1); /* the other channel's rings */
	hvrt_poll();
	assert_int_equal(vs.releases, 1);
	assert_int_equal(vs.last_released, relid);
	assert_int_equal(rescinds, 1);
	/* the other channel is untouched */
	assert_int_equal(hvrt_channel_send(oc, "still", 5, 5, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	assert_ptr_equal(got[0].ch, oc);
	expect_clean();
}

/* The host rescinds the channel the moment the guest posts OPENCHANNEL. */
static uint32_t rescind_on_open;

static void rescind_on_open_trace(unsigned dir, unsigned kind, uint32_t relid, const void *bytes, size_t len)
{
	if (dir == VMBUS_SIM_TO_HOST && kind == VMBUS_SIM_TRACE_MESSAGE &&
	    msg_type(bytes, len) == VMBUS_MSG_OPENCHANNEL && relid == rescind_on_open) {
		rescind_on_open = 0;
		vmbus_sim_rescind(&vs, relid);
	}
}

/* A rescind racing the open: -ENODEV, the ring GPADL torn down and its pages back, RELID_RELEASED without a close. */
static void test_rescind_while_opening(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	struct hvrt_channel *ch = channel(relid);
	trace_fn = rescind_on_open_trace;
	rescind_on_open = relid;
	rescinds = 0;
	size_t pages = hv_sim_pages_live(&sim);
	struct hvrt_channel_config c = { .on_packet = collect, .on_rescind = on_rescind };
	assert_int_equal(hvrt_channel_open(ch, &c), -ENODEV);
	assert_false(hvrt_channel_is_open(ch));
	assert_int_equal(vmbus_sim_gpadls(&vs), 0);
	assert_int_equal(hv_sim_pages_live(&sim), pages);
	hvrt_poll();
	assert_int_equal(vs.releases, 1);
	/* on_rescind may run inside the open's wait (docs/vmbus.md: the outermost poll), once at most */
	assert_true(rescinds <= 1);
	assert_int_equal(vmbus_sim_open_channels(&vs), 0);
	assert_int_equal(open_collect(ch), -ENODEV);
	expect_clean();
}

/* ---- drivers ---- */

static unsigned declines;

static int declining_probe(struct hvrt_channel *ch, void *ctx)
{
	(void)ch;
	(void)ctx;
	declines++;
	return -ENOTSUP;
}

/*
 * Registered before the connection: hvrt_vmbus_register() connects the bus,
 * and every channel of the class is probed once by each driver that does not
 * hold one yet: a declining driver too, once, not again.
 */
static void test_driver_register_before_connect(void **state)
{
	(void)state;
	boot();
	uint32_t e1 = vmbus_sim_add_echo(&vs, 1), e2 = vmbus_sim_add_echo(&vs, 2);
	static struct hvrt_vmbus_driver no = { .name = "no", .probe = declining_probe };
	no.class_id = guid_of(VMBUS_SIM_ECHO_CLASS);
	declines = 0;
	assert_int_equal(hvrt_vmbus_register(&no), 0); /* connects the bus */
	assert_int_equal(hvrt_vmbus_version(), V(5, 3));
	assert_int_equal(declines, 2);
	assert_logged("driver no declined relid");
	assert_null(hvrt_channel_driver(channel(e1)));
	assert_null(hvrt_channel_driver(channel(e2)));
	hvrt_vmbus_unregister(&no);
	expect_clean();
}

/* Registered after the offers: probed at once; a decline passes a hot-added channel to the next driver; remove. */
static void test_driver_register(void **state)
{
	(void)state;
	uint32_t e1 = up_echo(2), e2 = e1 + 1;
	static struct hvrt_vmbus_driver no = { .name = "no", .probe = declining_probe };
	static struct hvrt_vmbus_driver yes = { .name = "yes", .probe = count_probe, .remove = count_remove };
	no.class_id = yes.class_id = guid_of(VMBUS_SIM_ECHO_CLASS);
	probes = removes = declines = 0;
	probe_result = 0;
	assert_int_equal(hvrt_vmbus_register(&no), 0);
	assert_int_equal(declines, 2);
	assert_int_equal(hvrt_vmbus_register(&yes), 0);
	assert_int_equal(probes, 2);
	assert_ptr_equal(hvrt_channel_driver(channel(e1)), &yes);
	assert_ptr_equal(hvrt_channel_driver(channel(e2)), &yes);
	assert_int_equal(hvrt_vmbus_register(&yes), -EBUSY);
	assert_int_equal(probes, 2);
	/* hot-add: the first driver declines, the second takes it */
	uint32_t e3 = vmbus_sim_add_echo(&vs, 3);
	hvrt_poll();
	assert_int_equal(declines, 3);
	assert_int_equal(probes, 3);
	assert_ptr_equal(hvrt_channel_driver(channel(e3)), &yes);
	/* unregister: remove() for each channel held; then nobody holds them */
	hvrt_vmbus_unregister(&yes);
	assert_int_equal(removes, 3);
	assert_null(hvrt_channel_driver(channel(e1)));
	hvrt_vmbus_unregister(&yes); /* twice: nothing */
	assert_int_equal(removes, 3);
	hvrt_vmbus_unregister(&no);
	/* registered again: probed again */
	assert_int_equal(hvrt_vmbus_register(&yes), 0);
	assert_int_equal(probes, 6);
	/* a disconnect runs remove() for each */
	hvrt_vmbus_disconnect();
	assert_int_equal(removes, 6);
	/* still registered: the next connection's offers are probed, each once */
	assert_int_equal(hvrt_vmbus_connect(), 0);
	assert_int_equal(probes, 9);
	hvrt_vmbus_unregister(&yes);
	assert_int_equal(removes, 9);
	expect_clean();
}

/* Sixteen drivers at most. */
static void test_driver_limit(void **state)
{
	(void)state;
	uint32_t relid = up_echo(1);
	static struct hvrt_vmbus_driver many[17];
	for (unsigned i = 0; i < 17; i++) {
		many[i] = (struct hvrt_vmbus_driver){ .name = "many", .probe = count_probe, .remove = count_remove };
		many[i].class_id = guid_of(KVP_CLASS);
		many[i].class_id.bytes[15] = (uint8_t)i;
	}
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(hvrt_vmbus_register(&many[i]), 0);
	assert_int_equal(hvrt_vmbus_register(&many[16]), -ENOSPC);
	hvrt_vmbus_unregister(&many[3]);
	assert_int_equal(hvrt_vmbus_register(&many[16]), 0);
	assert_int_equal(hvrt_vmbus_register(&many[3]), -ENOSPC);
	for (unsigned i = 0; i < 17; i++)
		hvrt_vmbus_unregister(&many[i]);
	assert_int_equal(probes, 0);
	(void)relid;
	expect_clean();
}

/* Sub-channels go only to a driver that asks for them. */
static void test_driver_subchannels(void **state)
{
	(void)state;
	boot();
	uint32_t p = add_echo_sub(0, 10), s1 = add_echo_sub(1, 11);
	assert_int_equal(hvrt_vmbus_connect(), 0);
	static struct hvrt_vmbus_driver prim = { .name = "primary only", .probe = count_probe, .remove = count_remove };
	static struct hvrt_vmbus_driver subs = { .name = "with subs", .probe = count_probe, .remove = count_remove,
						 .subchannels = true };
	prim.class_id = subs.class_id = guid_of(VMBUS_SIM_ECHO_CLASS);
	probes = 0;
	assert_int_equal(hvrt_vmbus_register(&prim), 0);
	assert_int_equal(probes, 1);
	assert_ptr_equal(hvrt_channel_driver(channel(p)), &prim);
	assert_null(hvrt_channel_driver(channel(s1)));
	assert_int_equal(hvrt_vmbus_register(&subs), 0);
	assert_int_equal(probes, 2);
	assert_ptr_equal(hvrt_channel_driver(channel(s1)), &subs);
	uint32_t s2 = add_echo_sub(2, 12);
	hvrt_poll();
	assert_ptr_equal(hvrt_channel_driver(channel(s2)), &subs);
	hvrt_vmbus_unregister(&prim);
	hvrt_vmbus_unregister(&subs);
	expect_clean();
}

/* The doc's driver: opens in probe, closes in remove; a rescind closes and releases it. */
static unsigned echo_removes;

static int echo_probe(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	struct hvrt_channel_config c = { .on_packet = collect };
	return hvrt_channel_open(ch, &c);
}

static void echo_remove(struct hvrt_channel *ch, void *ctx)
{
	(void)ctx;
	echo_removes++;
	hvrt_channel_close(ch);
}

static void test_driver_open_close(void **state)
{
	(void)state;
	boot();
	uint32_t e1 = vmbus_sim_add_echo(&vs, 1), e2 = vmbus_sim_add_echo(&vs, 2);
	static struct hvrt_vmbus_driver drv = { .name = "echo", .probe = echo_probe, .remove = echo_remove };
	drv.class_id = guid_of(VMBUS_SIM_ECHO_CLASS);
	echo_removes = 0;
	assert_int_equal(hvrt_vmbus_register(&drv), 0);
	assert_int_equal(vmbus_sim_open_channels(&vs), 2);
	assert_true(hvrt_channel_is_open(channel(e1)));
	assert_int_equal(hvrt_channel_send(channel(e2), "drv", 3, 1, false), 0);
	hvrt_poll();
	assert_int_equal(ngot, 1);
	/* a hot-added one is opened by the probe from the next poll */
	uint32_t e3 = vmbus_sim_add_echo(&vs, 3);
	hvrt_poll();
	assert_int_equal(vmbus_sim_open_channels(&vs), 3);
	/* rescind: remove closes it, then it is released */
	vmbus_sim_rescind(&vs, e1);
	hvrt_poll();
	assert_int_equal(echo_removes, 1);
	assert_int_equal(vs.releases, 1);
	assert_int_equal(vmbus_sim_open_channels(&vs), 2);
	/* a disconnect: remove for the two left, before the UNLOAD, so they are closed by the driver */
	hvrt_vmbus_disconnect();
	assert_int_equal(echo_removes, 3);
	assert_int_equal(vs.reset_open, 0);
	assert_int_equal(vs.reset_gpadls, 0);
	(void)e3;
	hvrt_vmbus_unregister(&drv);
	expect_clean();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		VT(test_offer_fields_hyperv),
		VT(test_offer_fields_qemu),
		VT(test_offer_fields_v013),
		VT(test_class_names),
		VT(test_enumerate_and_hot_add),
		VT(test_subchannels),
		VT(test_bad_offers),
		VT(test_monitor_id_out_of_range),
		VT(test_rescind_closed),
		VT(test_rescind_open),
		VT(test_rescind_while_opening),
		VT(test_driver_register_before_connect),
		VT(test_driver_register),
		VT(test_driver_limit),
		VT(test_driver_subchannels),
		VT(test_driver_open_close),
	};
	return run_vmbus_tests(tests);
}
