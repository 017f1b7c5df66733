/*
 * lsvmbus: lists every channel the host offers, like Linux's lsvmbus.
 *
 *   lsvmbus       one line per channel
 *   lsvmbus -v    also the instance GUID, connection id, flags and MMIO
 */
#include <stdio.h>
#include <string.h>

#include <hvrt/hvrt.h>
#include <hvrt/vmbus.h>

static void print_channel(struct hvrt_channel *ch, int verbose)
{
	const struct hvrt_vmbus_offer *o = hvrt_channel_offer(ch);
	char class_text[HVRT_GUID_STRING_LEN], instance_text[HVRT_GUID_STRING_LEN];
	const char *name = hvrt_vmbus_class_name(&o->class_id);

	hvrt_guid_format(&o->class_id, class_text);
	hvrt_guid_format(&o->instance_id, instance_text);
	printf("VMBUS ID %3lu: Class_ID = {%s} - %s\n", (unsigned long)o->relid, class_text,
	       name ? name : "Unknown");
	printf("\tDevice_ID = {%s}\n", instance_text);
	if (o->sub_channel_index)
		printf("\tSub-channel %u of relid %lu\n", o->sub_channel_index,
		       (unsigned long)hvrt_channel_offer(hvrt_channel_primary(ch))->relid);
	if (o->monitor_allocated)
		printf("\tMonitor ID = %u\n", o->monitor_id);
	else
		printf("\tMonitor ID = none (signalled by hypercall)\n");
	if (verbose) {
		printf("\tConnection ID = %lu, dedicated interrupt: %s\n", (unsigned long)o->connection_id,
		       o->dedicated_interrupt ? "yes" : "no");
		printf("\tFlags = %#06x, MMIO = %u MiB (+%u MiB optional)\n", o->flags, o->mmio_megabytes,
		       o->mmio_megabytes_optional);
	}
}

int main(int argc, char **argv)
{
	int verbose = argc > 1 && strcmp(argv[1], "-v") == 0;

	int err = hvrt_vmbus_connect();
	if (err) {
		printf("lsvmbus: no VMBus (error %d)\n", err);
		return 1;
	}
	uint32_t v = hvrt_vmbus_version();
	printf("VMBus version %lu.%lu\n", (unsigned long)(v >> 16), (unsigned long)(v & 0xffff));
	unsigned n = 0;
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch), n++)
		print_channel(ch, verbose);
	printf("%u channel%s offered\n", n, n == 1 ? "" : "s");
	return 0;
}
