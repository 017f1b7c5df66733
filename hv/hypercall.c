/*
 * Hypercalls: the guest OS ID, the hypercall page, simple, fast and rep
 * calls, and the two calls VMBus lives on (HvPostMessage, HvSignalEvent).
 */
#include <errno.h>
#include <string.h>

#include <hvrt/boot.h>
#include <hvrt/hv.h>
#include <hvrt/log.h>
#include <hvrt/mem.h>
#include <hvrt/version.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "hv/hv.h"

/*
 * Open-source encoding (TLFS): bit 63 set, OS type 62:56, OS id 55:48,
 * version 47:16, build 15:0. Microsoft allocates OS types and hvrt has none,
 * so it uses type 0x7f, the top of the 7-bit field, far from every allocated
 * type (1 Linux, 2 FreeBSD, 3 Xen, 4 Illumos); OS id 0x48 ('H'); the
 * version field holds hvrt's major.minor.patch as 8.8.16 bits. The
 * hypervisor checks nothing but "not zero"; docs/hv.md gives the value.
 */
#define HVRT_OS_TYPE 0x7full
#define HVRT_OS_ID 0x48ull

/* HvPostMessage back-off: 1 us doubling to 64 ms, about 1 s in all, then -EAGAIN. */
#define POST_RETRY_FIRST_US 1u
#define POST_RETRY_MAX_US 65536u
#define POST_RETRY_TOTAL_US 1000000u

static struct hypercall_state {
	const void *page;                       /* the enabled hypercall page, NULL before */
	struct hv_post_message_input *post_in;  /* PostMessage input: one page, 8-byte aligned */
} hc;

uint64_t hv_guest_os_id(void)
{
	uint64_t version = (uint64_t)(HVRT_VERSION_MAJOR & 0xff) << 24 | (uint64_t)(HVRT_VERSION_MINOR & 0xff) << 16 |
			   (uint64_t)(HVRT_VERSION_PATCH & 0xffff);
	return HV_GUEST_OS_ID_OPEN_SOURCE | HVRT_OS_TYPE << HV_GUEST_OS_TYPE_SHIFT |
	       HVRT_OS_ID << HV_GUEST_OS_ID_SHIFT | version << HV_GUEST_OS_VERSION_SHIFT;
}

bool hv_hypercall_ready(void)
{
	return hc.page != NULL;
}

void hv_hypercall_reset(void)
{
	hc = (struct hypercall_state){ 0 };
}

/*
 * True when addr lies in RAM the page allocator hands out. A firmware's
 * hypercall page there (in boot-services memory hvrt has reclaimed, say)
 * would one day be given to someone as a buffer, with the host's overlay
 * on it: hvrt moves the hypercall page to a page of its own instead.
 */
static bool in_free_ram(uint64_t addr)
{
	const struct hvrt_boot_info *bi = hvrt_boot_info();

	for (unsigned i = 0; bi && i < bi->memmap_count && i < HVRT_MEMMAP_MAX; i++) {
		const struct hvrt_mem_region *r = &bi->memmap[i];
		if (r->type == HVRT_MEM_RAM && addr >= r->base && addr - r->base < r->length)
			return true;
	}
	return false;
}

/*
 * hv_hypercall_init - enable the hypercall page (TLFS "establishing the hypercall interface")
 * @host: detection result; guest_os_id and the hypercall fields are filled in
 * Return: 0, -ENODEV if the host does not offer the hypercall MSRs, -ENOMEM,
 * or -EIO if the host refused an MSR or the page never appeared.
 *
 * A firmware that ran before hvrt may have enabled the page already: it is
 * partition-wide, so it is reused as it is, unless it lies in RAM hvrt hands
 * out (then it is moved, see in_free_ram). Hyper-V's own UEFI disables the
 * page and clears the guest OS ID at ExitBootServices. Otherwise a page
 * of hvrt's own free RAM is given: Hyper-V overlays it (what lies beneath is
 * hidden, which is harmless for a page nobody else uses), while KVM writes
 * the page's code into that RAM and refuses a GPA with no RAM behind it.
 */
int hv_hypercall_init(struct hvrt_host *host)
{
	uint64_t id, msr;
	void *page = NULL;
	int err;

	if (!host->hyperv || !(host->privileges & HV_PRIV_HYPERCALL))
		return -ENODEV;
	err = cpu_rdmsr_safe(HV_MSR_GUEST_OS_ID, &id);
	if (err)
		goto refused;
	if (id == 0) {
		id = hv_guest_os_id();
		err = cpu_wrmsr_safe(HV_MSR_GUEST_OS_ID, id);
		if (err)
			goto refused;
	}
	host->guest_os_id = id;

	err = cpu_rdmsr_safe(HV_MSR_HYPERCALL, &msr);
	if (err)
		goto refused;
	/* A locked page cannot move: it is used where it is, with a warning if it lies in RAM hvrt hands out. */
	if ((msr & HV_MSR_ENABLE) && (msr & HV_MSR_HYPERCALL_LOCKED) && in_free_ram(msr & HV_MSR_PAGE_MASK))
		hvrt_log(HVRT_LOG_WARN, "hv", "the firmware locked the hypercall page at 0x%llx, in free RAM",
			 (unsigned long long)(msr & HV_MSR_PAGE_MASK));
	if ((msr & HV_MSR_ENABLE) && ((msr & HV_MSR_HYPERCALL_LOCKED) || !in_free_ram(msr & HV_MSR_PAGE_MASK))) {
		host->hypercall_page_reused = true;
	} else {
		page = hvrt_page_alloc(1);
		if (!page)
			return -ENOMEM;
		msr = (msr & ~HV_MSR_PAGE_MASK) | ((uint64_t)(uintptr_t)page & HV_MSR_PAGE_MASK) | HV_MSR_ENABLE;
		err = cpu_wrmsr_safe(HV_MSR_HYPERCALL, msr);
		if (err)
			goto refused_free;
		uint64_t written = msr;
		err = cpu_rdmsr_safe(HV_MSR_HYPERCALL, &msr);
		if (err) {
			/* The write may have enabled it: the page is the host's until disabled again. */
			if (cpu_wrmsr_safe(HV_MSR_HYPERCALL, written & ~HV_MSR_ENABLE) == 0)
				goto refused_free;
			goto refused;
		}
		if (!(msr & HV_MSR_ENABLE)) {
			hvrt_log(HVRT_LOG_WARN, "hv", "the host did not enable the hypercall page");
			err = -EIO;
			goto free_page;
		}
		if ((msr & HV_MSR_PAGE_MASK) != (uint64_t)(uintptr_t)page) {
			/* The host kept the page it had: that one is the hypercall page, and ours was never taken. */
			hvrt_log(HVRT_LOG_WARN, "hv", "the host kept the hypercall page at 0x%llx",
				 (unsigned long long)(msr & HV_MSR_PAGE_MASK));
			hvrt_page_free(page, 1);
			page = NULL;
			host->hypercall_page_reused = true;
		}
	}
	host->hypercall_page = msr & HV_MSR_PAGE_MASK;

	/* An empty page would send the first call into zeroes; a page of code starts with 0f 01. */
	const uint8_t *code = (const uint8_t *)(uintptr_t)host->hypercall_page;
	memcpy(host->hypercall_insn, code, sizeof(host->hypercall_insn));
	if (code[0] != 0x0f || code[1] != 0x01) {
		hvrt_log(HVRT_LOG_WARN, "hv", "the hypercall page holds %02x %02x %02x, not a hypercall; not using it",
			 code[0], code[1], code[2]);
		err = -EIO;
		goto disable;
	}

	hc.post_in = hvrt_page_alloc(1);
	if (!hc.post_in) {
		err = -ENOMEM;
		goto disable;
	}
	hc.page = code;
	host->hypercalls = true;
	return 0;

disable:
	if (!host->hypercall_page_reused && cpu_wrmsr_safe(HV_MSR_HYPERCALL, msr & ~HV_MSR_ENABLE) != 0)
		page = NULL; /* still enabled: it stays the host's, never reused for anything else */
free_page:
	if (page)
		hvrt_page_free(page, 1);
	return err;
refused_free:
	hvrt_page_free(page, 1);
refused:
	hvrt_log(HVRT_LOG_WARN, "hv", "the host refused a hypercall MSR access; no hypercalls");
	return -EIO;
}

static uint64_t call(uint64_t control, uint64_t in, uint64_t out)
{
	if (!hc.page)
		return HV_STATUS_INVALID_HYPERCALL_CODE; /* never reached by callers that checked readiness */
	return cpu_hypercall(hc.page, control, in, out);
}

uint16_t hv_call(uint16_t code, uint64_t input_gpa, uint64_t output_gpa)
{
	return HV_RESULT_STATUS(call(code, input_gpa, output_gpa));
}

uint16_t hv_call_fast(uint16_t code, uint64_t in1, uint64_t in2)
{
	return HV_RESULT_STATUS(call(code | HV_CALL_FAST, in1, in2));
}

/*
 * hv_call_rep - a rep hypercall, to completion
 *
 * The host may stop early (to keep its latency low) with SUCCESS and fewer
 * reps done; the call is then issued again from the first rep not done,
 * as the TLFS asks. A host that claims success without progress is not
 * asked forever: that ends with HV_STATUS_INVALID_HYPERCALL_INPUT.
 */
uint16_t hv_call_rep(uint16_t code, uint32_t count, uint64_t input_gpa, uint64_t output_gpa, uint32_t *done)
{
	uint32_t start = 0;
	uint16_t status = HV_STATUS_SUCCESS;

	if (count == 0 || count > HV_CALL_REP_MAX) {
		if (done)
			*done = 0;
		return HV_STATUS_INVALID_PARAMETER;
	}
	while (start < count) {
		uint64_t control = code | (uint64_t)count << HV_CALL_REP_COUNT_SHIFT |
				   (uint64_t)start << HV_CALL_REP_START_SHIFT;
		uint64_t result = call(control, input_gpa, output_gpa);
		uint32_t reps = HV_RESULT_REPS_DONE(result);
		status = HV_RESULT_STATUS(result);
		if (reps > count)
			reps = count; /* the host counts in 12 bits; never trust it past what was asked */
		if (status != HV_STATUS_SUCCESS) {
			start = reps > start ? reps : start;
			break;
		}
		if (reps <= start) {
			status = HV_STATUS_INVALID_HYPERCALL_INPUT; /* success without progress */
			break;
		}
		start = reps;
	}
	if (done)
		*done = start;
	return status;
}

int hv_status_errno(uint16_t status)
{
	switch (status) {
	case HV_STATUS_SUCCESS:
		return 0;
	case HV_STATUS_INVALID_HYPERCALL_CODE:
		return -ENOSYS;
	case HV_STATUS_INVALID_HYPERCALL_INPUT:
	case HV_STATUS_INVALID_ALIGNMENT:
	case HV_STATUS_INVALID_PARAMETER:
		return -EINVAL;
	case HV_STATUS_ACCESS_DENIED:
		return -EACCES;
	case HV_STATUS_INSUFFICIENT_MEMORY:
	case HV_STATUS_INSUFFICIENT_BUFFERS:
		return -EAGAIN;
	case HV_STATUS_INVALID_CONNECTION_ID:
		return -ENOTCONN;
	default:
		return -EIO;
	}
}

static void delay_us(uint32_t us)
{
	uint64_t until = tsc_deadline_after_ns((uint64_t)us * 1000);
	while (cpu_rdtsc() < until)
		cpu_pause();
}

int hv_post_message(uint32_t connection, uint32_t type, const void *payload, size_t size, uint16_t *status)
{
	uint16_t st = HV_STATUS_INVALID_HYPERCALL_CODE;
	int err = -ENODEV;

	if (!hc.page)
		goto out;
	err = -EINVAL;
	st = HV_STATUS_INVALID_PARAMETER;
	if (size > HV_MESSAGE_PAYLOAD_MAX || type == 0 || type >= 0x80000000u || (size && !payload))
		goto out;

	struct hv_post_message_input *in = hc.post_in;
	memset(in, 0, sizeof(*in));
	in->connection_id = connection;
	in->message_type = type;
	in->payload_size = (uint32_t)size;
	if (size)
		memcpy(in->payload, payload, size);

	uint32_t wait = POST_RETRY_FIRST_US, waited = 0;
	for (;;) {
		st = hv_call(HVCALL_POST_MESSAGE, (uint64_t)(uintptr_t)in, 0);
		if (st != HV_STATUS_INSUFFICIENT_BUFFERS && st != HV_STATUS_INSUFFICIENT_MEMORY)
			break;
		/* The host's queue for this connection is full: it drains as the host runs. */
		if (waited >= POST_RETRY_TOTAL_US)
			break;
		delay_us(wait);
		waited += wait;
		if (wait < POST_RETRY_MAX_US)
			wait *= 2;
	}
	err = hv_status_errno(st);
out:
	if (status)
		*status = st;
	return err;
}

int hv_signal_event(uint32_t connection, uint16_t flag, uint16_t *status)
{
	uint16_t st = HV_STATUS_INVALID_HYPERCALL_CODE;
	int err = -ENODEV;

	if (hc.page) {
		/* Input: connection_id u32, flag_number u16, reserved u16, in RDX. */
		st = hv_call_fast(HVCALL_SIGNAL_EVENT, (uint64_t)flag << 32 | connection, 0);
		err = hv_status_errno(st);
	}
	if (status)
		*status = st;
	return err;
}
