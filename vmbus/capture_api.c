/*
 * The runtime's own VMBus capture: one instance of vmbus/capture.c over
 * pages from the page allocator, behind <hvrt/vmbus_capture.h>.
 *
 * The VMBus layer records through vmbus_capture_runtime(), which is NULL
 * unless recording is on, so a runtime without a capture pays one load and
 * one test per message or packet.
 */
#include <errno.h>
#include <string.h>

#include <hvrt/log.h>
#include <hvrt/mem.h>
#include <hvrt/vmbus_capture.h>

#include "vmbus/capture.h"

static struct runtime_capture {
	struct vmbus_capture cap;
	void *pages;    /* the ring, NULL before the first start */
	size_t npages;
	bool recording; /* vmbus_capture_runtime() hands the capture out */
} rt;

struct vmbus_capture *vmbus_capture_runtime(void)
{
	return rt.recording ? &rt.cap : NULL;
}

int hvrt_vmbus_capture_start(size_t bytes)
{
	if (bytes == 0 || bytes > SIZE_MAX - (HVRT_PAGE_SIZE - 1))
		return -EINVAL;
	size_t npages = (bytes + HVRT_PAGE_SIZE - 1) / HVRT_PAGE_SIZE;

	/* The old ring goes first: a restart with a large ring must not need both at once. */
	hvrt_vmbus_capture_stop();
	if (rt.pages) {
		hvrt_page_free(rt.pages, rt.npages);
		rt.pages = NULL;
		rt.npages = 0;
	}
	void *pages = hvrt_page_alloc(npages);
	if (!pages) {
		hvrt_log(HVRT_LOG_WARN, "vmbus", "no %zu contiguous pages for a VMBus capture", npages);
		return -ENOMEM;
	}
	/* A page is far larger than VMBUS_CAPTURE_MIN_BYTES, and page-aligned: init cannot refuse it. */
	vmbus_capture_init(&rt.cap, pages, npages * HVRT_PAGE_SIZE);
	rt.pages = pages;
	rt.npages = npages;
	rt.recording = true;
	hvrt_log(HVRT_LOG_INFO, "vmbus", "capturing VMBus traffic into %zu KiB", npages * (HVRT_PAGE_SIZE / 1024));
	return 0;
}

void hvrt_vmbus_capture_stop(void)
{
	rt.recording = false;
	vmbus_capture_enable(rt.pages ? &rt.cap : NULL, false);
}

/* Stops recording while the capture is read (the sink may cause VMBus traffic); says whether it was on. */
static bool pause_recording(void)
{
	bool was = rt.recording;
	hvrt_vmbus_capture_stop();
	return was;
}

static void resume_recording(bool was)
{
	if (!was)
		return;
	vmbus_capture_enable(&rt.cap, true);
	rt.recording = true;
}

/* One line to every console, its newline in the same write so no other output lands inside it. */
static void console_line(void *ctx, const char *line)
{
	char buf[VMBUS_CAPTURE_LINE_CHARS + 2];
	size_t len = strlen(line);

	(void)ctx;
	if (len > sizeof(buf) - 1) {
		/* The marker lines are short and the base64 lines 76: this is only for safety. */
		hvrt_console_write(line, len);
		hvrt_console_write("\n", 1);
		return;
	}
	memcpy(buf, line, len);
	buf[len] = '\n';
	hvrt_console_write(buf, len + 1);
}

int hvrt_vmbus_capture_dump(void)
{
	if (!rt.pages)
		return -ENOENT;
	bool was = pause_recording();
	int err = vmbus_capture_write_console(&rt.cap, console_line, NULL);
	resume_recording(was);
	return err;
}

int hvrt_vmbus_capture_write(int (*sink)(void *ctx, const void *bytes, size_t len), void *ctx)
{
	if (!sink)
		return -EINVAL;
	if (!rt.pages)
		return -ENOENT;
	bool was = pause_recording();
	int err = vmbus_capture_write(&rt.cap, sink, ctx);
	resume_recording(was);
	return err;
}
