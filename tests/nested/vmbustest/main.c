/*
 * vmbustest: hvrt's VMBus core against the nested real host (KVM's Hyper-V
 * and QEMU 7.2's VMBus server, test-hosts.md section 2). Run by
 * tests/nested/vmbus_cases.py with -trace 'vmbus_*', which also checks
 * what QEMU saw and decodes the capture dumped at the end. Each check prints one "PASS name: ..." or "FAIL name: ..."
 * line; the exit status is the number of failures.
 *
 * QEMU offers no devices, so this covers the connection (the fallback from
 * 5.x to 4.0, offers, UNLOAD and reconnect) and GPADLs, which QEMU's server
 * takes without an open channel (it does not check the relid).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hvrt/hvrt.h>
#include <hvrt/vmbus.h>

#include "vmbus/vmbus.h"

#define TICKS_PER_MS 10000u

static unsigned passed, failed;

static void result(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s %s: ", ok ? "PASS" : "FAIL", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		passed++;
	else
		failed++;
}

static uint64_t now_ref(void)
{
	uint64_t t = 0;
	hvrt_reftime(&t);
	return t;
}

/* Entry to connected: uptime counts from hvrt's entry. */
static void check_connect(void)
{
	uint64_t t0 = now_ref();
	int err = hvrt_vmbus_connect();
	uint64_t took = now_ref() - t0;
	uint64_t since_entry_us = hvrt_uptime_ns() / 1000;
	uint32_t v = hvrt_vmbus_version();

	result(err == 0 && v == VMBUS_VERSION_4_0, "connect",
	       "error %d, version %" PRIu32 ".%" PRIu32 " (QEMU refuses 5.x on connection 4 and 4.1)", err, v >> 16,
	       v & 0xffff);
	printf("vmbus-connect-time: %" PRIu64 ".%02" PRIu64 " ms in hvrt_vmbus_connect, %" PRIu64 ".%03" PRIu64
	       " ms after entry\n",
	       took / TICKS_PER_MS, took % TICKS_PER_MS / 100, since_entry_us / 1000, since_entry_us % 1000);
	unsigned n = 0;
	for (struct hvrt_channel *ch = hvrt_vmbus_next(NULL); ch; ch = hvrt_vmbus_next(ch))
		n++;
	result(err == 0 && n == 0, "offers", "%u channels offered (QEMU 7.2 offers none)", n);
}

/* GPADLs of 1, 26 (header only), 27 (one body) and 300 pages (11 bodies). */
static void check_gpadls(void)
{
	static const unsigned sizes[] = { 1, 26, 27, 300 };
	uint32_t handles[4] = { 0 };
	void *bufs[4];
	int ok = 1;

	for (unsigned i = 0; i < 4; i++) {
		bufs[i] = hvrt_page_alloc(sizes[i]);
		int err = bufs[i] ? vmbus_gpadl_create(1, bufs[i], sizes[i] * HVRT_PAGE_SIZE, &handles[i]) : -ENOMEM;
		printf("gpadl %u pages: create %d handle %#" PRIx32 "\n", sizes[i], err, handles[i]);
		ok &= err == 0;
	}
	for (unsigned i = 1; i < 4; i++)
		ok &= handles[i] != handles[i - 1] && handles[i] != 0;
	for (unsigned i = 0; i < 4; i++) {
		int err = handles[i] ? vmbus_gpadl_teardown(1, handles[i]) : -EINVAL;
		printf("gpadl %u pages: teardown %d\n", sizes[i], err);
		ok &= err == 0;
		if (err == 0)
			hvrt_page_free(bufs[i], sizes[i]);
	}
	result(ok, "gpadl", "1, 26, 27 and 300 pages created and torn down, unique handles");
}

/* QEMU drops a header it does not take (byte_offset != 0) without a word: the wait must time out. */
static void check_gpadl_dropped(void)
{
	uint8_t msg[sizeof(struct vmbus_msg_gpadl_header) + sizeof(struct vmbus_gpa_range) + 8];
	struct vmbus_msg_gpadl_header *h = (void *)msg;
	void *page = hvrt_page_alloc(1);
	uint64_t pfn = (uint64_t)(uintptr_t)page / HVRT_PAGE_SIZE;

	memset(msg, 0, sizeof(msg));
	h->header.type = VMBUS_MSG_GPADL_HEADER;
	h->child_relid = 1;
	h->gpadl = 0x7e570001;
	h->range_count = 1;
	h->range_buflen = sizeof(struct vmbus_gpa_range) + 8;
	h->range[0].byte_count = 100;
	h->range[0].byte_offset = 8;
	memcpy(msg + sizeof(*h) + sizeof(struct vmbus_gpa_range), &pfn, 8);
	uint64_t t0 = now_ref();
	int err = vmbus_gpadl_post_raw(h->gpadl, msg, sizeof(msg), 200);
	uint64_t took = now_ref() - t0;
	result(err == -ETIMEDOUT, "gpadl-dropped", "malformed header: %d after %" PRIu64 " ms (want -ETIMEDOUT)", err,
	       took / TICKS_PER_MS);
	/* The page stays allocated: a host that had taken it could still write it. */
}

/* UNLOAD, then a second connection: what a next stage after hvrt would do. */
static void check_reconnect(void)
{
	hvrt_vmbus_disconnect();
	int gone = hvrt_vmbus_version() == 0;
	int err = hvrt_vmbus_connect();
	result(gone && err == 0 && hvrt_vmbus_version() == VMBUS_VERSION_4_0, "reconnect",
	       "after UNLOAD: version %s, connect again: %d", gone ? "0" : "kept", err);
}

int main(void)
{
	/* Everything from the first contact on is recorded; the case decodes the dump with tools/vmbus-capture.py. */
	int cap = hvrt_vmbus_capture_start(256 * 1024);
	if (cap)
		result(0, "capture", "hvrt_vmbus_capture_start: %d", cap);
	check_connect();
	check_gpadls();
	check_gpadl_dropped();
	check_reconnect();
	if (cap == 0) {
		fflush(stdout);
		int err = hvrt_vmbus_capture_dump();
		result(err == 0, "capture", "dumped: %d", err);
	}
	printf("vmbustest: %u passed, %u failed\n", passed, failed);
	/* exit() disconnects: QEMU's trace must end with UNLOAD. */
	return (int)failed;
}
