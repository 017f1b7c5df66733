/*
 * Unit tests for hv/hypercall.c on the simulated Hyper-V host.
 *
 * Pinned down:
 *  - the guest OS ID (open-source encoding, hvrt's version) is written
 *    before the hypercall page is enabled, and one already set is kept;
 *  - a page the firmware enabled is reused where it lies outside the RAM
 *    hvrt hands out (no memory map, a reserved region), moved to a page of
 *    hvrt's own when it lies in that RAM, and reused with a warning when the
 *    firmware locked it there; a host that keeps its old page when hvrt
 *    writes a new one has that page used and hvrt's freed; otherwise a
 *    fresh page is given, and the host's code in it (AMD or Intel) is
 *    checked before use;
 *  - a host that refuses any of the MSR accesses, keeps the page disabled or
 *    leaves it empty gives -EIO with a warning, leaves no page allocated and
 *    no page enabled; no memory gives -ENOMEM;
 *  - simple, fast and rep calls put the control word together right; a rep
 *    call is re-issued from where the host stopped, ends on an error with
 *    the reps done, and gives up on a host that makes no progress;
 *  - HvPostMessage: the input the host sees, every refusal mapped to errno,
 *    a full queue retried with a growing back-off and given up after about
 *    a second, bad arguments refused before any hypercall;
 *  - HvSignalEvent is a fast call with the connection in the low half.
 */
#include <stdio.h>

#include <hvrt/version.h>

#include "tests/unit/hv_fixture.h"

#define PAGE 4096u

/* Detection and hv_hypercall_init, which must succeed. */
static struct hvrt_host *up(void)
{
	struct hvrt_host *h = detect();
	assert_int_equal(hv_hypercall_init(h), 0);
	assert_true(hv_hypercall_ready());
	return h;
}

/* Nothing of hvrt's left enabled in the host and no page left allocated. */
static void assert_clean_failure(void)
{
	assert_false(hv_hypercall_ready());
	assert_false(hv_host_mut()->hypercalls);
	assert_false(sim.hypercall & HV_MSR_ENABLE);
	assert_int_equal(hv_sim_pages_live(&sim), 0);
}

/* ---- the guest OS ID and the page ---- */

/* Bit 63 open source, type 0x7f in 62:56, id 0x48 in 55:48, version major.minor.patch 8.8.16 in 47:16, build 0. */
static void test_guest_os_id_value(void **state)
{
	(void)state;
	uint64_t id = hv_guest_os_id();
	assert_int_equal(id >> 63, 1);
	assert_int_equal((id >> 56) & 0x7f, 0x7f);
	assert_int_equal((id >> 48) & 0xff, 0x48);
	assert_int_equal((id >> 40) & 0xff, HVRT_VERSION_MAJOR);
	assert_int_equal((id >> 32) & 0xff, HVRT_VERSION_MINOR);
	assert_int_equal((id >> 16) & 0xffff, HVRT_VERSION_PATCH);
	assert_int_equal(id & 0xffff, 0);
	assert_int_equal(id, 0xff48000000000000ull | (uint64_t)HVRT_VERSION_MAJOR << 40 |
				     (uint64_t)HVRT_VERSION_MINOR << 32 | (uint64_t)HVRT_VERSION_PATCH << 16);
}

/*
 * The nested host: GUEST_OS_ID read, found 0 and written, then HYPERCALL
 * read, written with a fresh page and read back; the page holds vmmcall;
 * ret and its first instruction is recorded. Two pages: the hypercall page
 * and the PostMessage input.
 */
static void test_init_fresh_page(void **state)
{
	(void)state;
	start();
	struct hvrt_host *h = up();
	long w_id = hv_sim_msr_find(&sim, 0, HV_MSR_GUEST_OS_ID, true);
	long w_hc = hv_sim_msr_find(&sim, 0, HV_MSR_HYPERCALL, true);
	assert_true(w_id >= 0 && w_hc > w_id);
	assert_true(hv_sim_msr_find(&sim, 0, HV_MSR_GUEST_OS_ID, false) < w_id);
	assert_true(hv_sim_msr_find(&sim, (size_t)w_hc, HV_MSR_HYPERCALL, false) > w_hc); /* read back */
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_GUEST_OS_ID, true), 1);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 1);
	assert_int_equal(sim.guest_os_id, hv_guest_os_id());
	assert_int_equal(h->guest_os_id, hv_guest_os_id());

	assert_true(sim.hypercall & HV_MSR_ENABLE);
	uint64_t gpa = sim.hypercall & HV_MSR_PAGE_MASK;
	assert_int_equal(gpa % PAGE, 0);
	assert_true(hv_sim_is_ram(&sim, gpa, PAGE));
	assert_int_equal(h->hypercall_page, gpa);
	assert_true(h->hypercalls);
	assert_false(h->hypercall_page_reused);
	assert_memory_equal(h->hypercall_insn, "\x0f\x01\xd9", 3);
	assert_memory_equal((const void *)(uintptr_t)gpa, "\x0f\x01\xd9\xc3", 4);
	assert_int_equal(hv_sim_pages_live(&sim), 2);
	assert_int_equal(loglen, 0);
}

static void test_init_intel_page(void **state)
{
	(void)state;
	cfg.cpu = HV_SIM_CPU_INTEL;
	start();
	struct hvrt_host *h = up();
	assert_memory_equal(h->hypercall_insn, "\x0f\x01\xc1", 3);
	assert_memory_equal((const void *)(uintptr_t)h->hypercall_page, "\x0f\x01\xc1\xc3", 4);
}

/* A firmware page inside RAM the allocator hands out is not reused: hvrt moves the page to its own. */
static void test_firmware_page_in_ram_moved(void **state)
{
	(void)state;
	start();
	void *fw = hv_sim_firmware_hypercall(&sim, 1ull << 40);
	struct hvrt_boot_info bi = { .memmap_count = 1 };
	bi.memmap[0] = (struct hvrt_mem_region){ .base = (uint64_t)(uintptr_t)fw, .length = 4096, .type = HVRT_MEM_RAM };
	sim.boot_info = &bi;
	struct hvrt_host *h = up();
	sim.boot_info = NULL;
	assert_true(h->hypercalls);
	assert_false(h->hypercall_page_reused);
	assert_int_not_equal(h->hypercall_page, (uint64_t)(uintptr_t)fw);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 1);
	assert_int_equal(sim.guest_os_id, 1ull << 40);
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	assert_int_equal(hv_post_message(1, 1, "x", 1, NULL), 0);
}

/* A memory map of two regions: [page, page + 4 KiB) of type page_type, and RAM right after it. */
static struct hvrt_boot_info memmap_around(const void *page, uint32_t page_type)
{
	uint64_t base = (uint64_t)(uintptr_t)page;
	struct hvrt_boot_info bi = { .memmap_count = 2 };
	bi.memmap[0] = (struct hvrt_mem_region){ .base = base, .length = PAGE, .type = page_type };
	bi.memmap[1] = (struct hvrt_mem_region){ .base = base + PAGE, .length = 16 * PAGE, .type = HVRT_MEM_RAM };
	return bi;
}

/* The firmware's page in a reserved region, RAM next to it: reused where it is, no HYPERCALL write. */
static void test_firmware_page_reserved_reused(void **state)
{
	(void)state;
	start();
	void *fw = hv_sim_firmware_hypercall(&sim, 1ull << 40);
	struct hvrt_boot_info bi = memmap_around(fw, HVRT_MEM_RESERVED);
	sim.boot_info = &bi;
	struct hvrt_host *h = up();
	sim.boot_info = NULL;
	assert_true(h->hypercall_page_reused);
	assert_int_equal(h->hypercall_page, (uint64_t)(uintptr_t)fw);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 0);
	assert_int_equal(hv_sim_pages_live(&sim), 1); /* the PostMessage input only */
	assert_int_equal(loglen, 0);
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	assert_int_equal(hv_post_message(1, 1, "x", 1, NULL), 0);
}

/*
 * The firmware's page in RAM hvrt hands out, with the lock bit (1) set: it
 * cannot move, so it is used where it is, never written, and a warning says
 * where it lies.
 */
static void test_firmware_page_locked_in_ram(void **state)
{
	(void)state;
	start();
	void *fw = hv_sim_firmware_hypercall(&sim, 1ull << 40);
	sim.hypercall |= HV_MSR_HYPERCALL_LOCKED;
	struct hvrt_boot_info bi = memmap_around(fw, HVRT_MEM_RAM);
	sim.boot_info = &bi;
	struct hvrt_host *h = up();
	sim.boot_info = NULL;
	assert_true(h->hypercall_page_reused);
	assert_int_equal(h->hypercall_page, (uint64_t)(uintptr_t)fw);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 0);
	assert_int_equal(hv_sim_pages_live(&sim), 1);
	char want[96];
	snprintf(want, sizeof(want), "hvrt: hv: warning: the firmware locked the hypercall page at 0x%llx, in free RAM",
		 (unsigned long long)(uintptr_t)fw);
	assert_logged(want);
	assert_int_equal(loglines, 1);
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	assert_int_equal(hv_post_message(1, 1, "x", 1, NULL), 0);
	teardown(NULL);

	/* locked outside RAM: reused, nothing to warn about */
	setup(NULL);
	start();
	fw = hv_sim_firmware_hypercall(&sim, 1ull << 40);
	sim.hypercall |= HV_MSR_HYPERCALL_LOCKED;
	bi = memmap_around(fw, HVRT_MEM_RESERVED);
	sim.boot_info = &bi;
	h = up();
	sim.boot_info = NULL;
	assert_true(h->hypercall_page_reused);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 0);
	assert_int_equal(loglen, 0);
}

/*
 * The firmware's page in RAM, so hvrt moves it; but the host keeps the page
 * it had (the read-back gives the old address). That page is the hypercall
 * page: hvrt uses it, frees its own (never taken), and says so.
 */
static void test_host_keeps_old_page(void **state)
{
	(void)state;
	start();
	void *fw = hv_sim_firmware_hypercall(&sim, 1ull << 40);
	sim.fault.hypercall_keeps_address = true;
	struct hvrt_boot_info bi = memmap_around(fw, HVRT_MEM_RAM);
	sim.boot_info = &bi;
	struct hvrt_host *h = up();
	sim.boot_info = NULL;
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 1);
	assert_int_equal(sim.hypercall & HV_MSR_PAGE_MASK, (uint64_t)(uintptr_t)fw);
	assert_true(h->hypercall_page_reused);
	assert_int_equal(h->hypercall_page, (uint64_t)(uintptr_t)fw);
	assert_int_equal(sim.allocs, 2);
	assert_int_equal(sim.frees, 1);
	assert_int_equal(hv_sim_pages_live(&sim), 1); /* the PostMessage input only */
	char want[80];
	snprintf(want, sizeof(want), "hvrt: hv: warning: the host kept the hypercall page at 0x%llx",
		 (unsigned long long)(uintptr_t)fw);
	assert_logged(want);
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	assert_int_equal(hv_post_message(1, 1, "x", 1, NULL), 0);
}

/* A guest OS ID already set (the Hyper-V UEFI writes one with only bit 40) is kept. */
static void test_existing_guest_os_id_kept(void **state)
{
	(void)state;
	start();
	sim.guest_os_id = 1ull << 40;
	struct hvrt_host *h = up();
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_GUEST_OS_ID, true), 0);
	assert_int_equal(sim.guest_os_id, 1ull << 40);
	assert_int_equal(h->guest_os_id, 1ull << 40);
}

/* The firmware enabled the page: it is used as it is, never rewritten; only the input page is allocated. */
static void test_firmware_page_reused(void **state)
{
	(void)state;
	start();
	void *fw = hv_sim_firmware_hypercall(&sim, 1ull << 40);
	struct hvrt_host *h = up();
	assert_true(h->hypercall_page_reused);
	assert_int_equal(h->hypercall_page, (uint64_t)(uintptr_t)fw);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 0);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_GUEST_OS_ID, true), 0);
	assert_int_equal(sim.allocs, 1);
	assert_int_equal(hv_sim_pages_live(&sim), 1);
	/* and calls go through it */
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	assert_int_equal(hv_post_message(1, 1, "x", 1, NULL), 0);
}

/* A firmware page that holds no code: refused, but left enabled, since it is not hvrt's. */
static void test_firmware_page_empty(void **state)
{
	(void)state;
	start();
	sim.fault.hypercall_page_empty = true;
	hv_sim_firmware_hypercall(&sim, 1ull << 40);
	struct hvrt_host *h = detect();
	assert_int_equal(hv_hypercall_init(h), -EIO);
	assert_logged("hvrt: hv: warning: the hypercall page holds 00 00 00, not a hypercall; not using it");
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 0);
	assert_true(sim.hypercall & HV_MSR_ENABLE);
	assert_false(hv_hypercall_ready());
	assert_int_equal(hv_sim_pages_live(&sim), 0);
}

/* The host takes the write but the page stays disabled: -EIO, the page given back. */
static void test_page_stays_disabled(void **state)
{
	(void)state;
	start();
	sim.fault.hypercall_stays_disabled = true;
	struct hvrt_host *h = detect();
	assert_int_equal(hv_hypercall_init(h), -EIO);
	assert_logged("hvrt: hv: warning: the host did not enable the hypercall page");
	assert_clean_failure();
}

/* Enabled but empty: the code check refuses it, the page is disabled again and freed. */
static void test_page_empty(void **state)
{
	(void)state;
	start();
	sim.fault.hypercall_page_empty = true;
	struct hvrt_host *h = detect();
	assert_int_equal(hv_hypercall_init(h), -EIO);
	assert_logged("the hypercall page holds 00 00 00, not a hypercall");
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 2);
	assert_clean_failure();
}

/* Without a guest OS ID KVM drops the enable: a GUEST_OS_ID write that is ignored shows as a page that stays off. */
static void test_guest_os_id_write_ignored(void **state)
{
	(void)state;
	start();
	hv_sim_ignore_msr_writes(&sim, HV_MSR_GUEST_OS_ID);
	struct hvrt_host *h = detect();
	assert_int_equal(hv_hypercall_init(h), -EIO);
	assert_logged("the host did not enable the hypercall page");
	assert_clean_failure();
}

static void check_refused(uint32_t msr, bool read, bool write, unsigned skip)
{
	setup(NULL);
	start();
	hv_sim_fault_msr_after(&sim, msr, read, write, skip);
	struct hvrt_host *h = detect();
	assert_int_equal(hv_hypercall_init(h), -EIO);
	assert_logged("hvrt: hv: warning: the host refused a hypercall MSR access; no hypercalls");
	assert_clean_failure();
	assert_int_equal(hv_call(0x46, 0, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(sim.calls, 0);
	teardown(NULL);
}

/* Each MSR access of the sequence refused in turn, the read-back of HYPERCALL included. */
static void test_refused_msrs(void **state)
{
	(void)state;
	check_refused(HV_MSR_GUEST_OS_ID, true, false, 0);
	check_refused(HV_MSR_GUEST_OS_ID, false, true, 0);
	check_refused(HV_MSR_HYPERCALL, true, false, 0);
	check_refused(HV_MSR_HYPERCALL, false, true, 0);
	check_refused(HV_MSR_HYPERCALL, true, false, 1); /* the write worked, its read-back faults */
}

/*
 * The page was enabled and cannot be disabled again (the read-back or the
 * code check failed, then the disabling write faults): it stays the host's,
 * so it is never freed (the sim fails the test on freeing an enabled page).
 */
static void test_enabled_page_kept(void **state)
{
	(void)state;
	start();
	hv_sim_fault_msr_after(&sim, HV_MSR_HYPERCALL, true, false, 1);
	hv_sim_fault_msr_after(&sim, HV_MSR_HYPERCALL, false, true, 1);
	struct hvrt_host *h = detect();
	assert_int_equal(hv_hypercall_init(h), -EIO);
	assert_logged("refused a hypercall MSR access");
	assert_true(sim.hypercall & HV_MSR_ENABLE);
	assert_int_equal(hv_sim_pages_live(&sim), 1);
	assert_false(hv_hypercall_ready());
	teardown(NULL);

	setup(NULL);
	start();
	sim.fault.hypercall_page_empty = true;
	hv_sim_fault_msr_after(&sim, HV_MSR_HYPERCALL, false, true, 1);
	assert_int_equal(hv_hypercall_init(detect()), -EIO);
	assert_logged("not a hypercall");
	assert_true(sim.hypercall & HV_MSR_ENABLE);
	assert_int_equal(hv_sim_pages_live(&sim), 1);
}

/* No hypercall privilege, or no Hyper-V at all: -ENODEV without an MSR access. */
static void test_not_offered(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_HYPERCALL;
	start();
	struct hvrt_host *h = detect();
	assert_int_equal(hv_hypercall_init(h), -ENODEV);
	assert_int_equal(sim.msr_count, 0);

	h->hyperv = false;
	h->privileges = ~0ull;
	assert_int_equal(hv_hypercall_init(h), -ENODEV);
	assert_int_equal(sim.msr_count, 0);
	assert_int_equal(sim.allocs, 0);
}

/* No page for the hypercall page, then none for the PostMessage input: -ENOMEM, nothing left behind. */
static void test_no_memory(void **state)
{
	(void)state;
	start();
	sim.fault.alloc_fail_in = 1;
	struct hvrt_host *h = detect();
	assert_int_equal(hv_hypercall_init(h), -ENOMEM);
	assert_clean_failure();
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 0);

	sim.fault.alloc_fail_in = 2;
	assert_int_equal(hv_hypercall_init(h), -ENOMEM);
	assert_clean_failure();
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_HYPERCALL, true), 2); /* enabled, then disabled */
}

/* ---- simple, fast and rep calls ---- */

static uint64_t custom_result;

static uint64_t custom_call(void *ctx, struct hv_sim *s, const struct hv_sim_call *c)
{
	(void)ctx;
	(void)s;
	(void)c;
	return custom_result;
}

/* hv_call: code alone in the control word, the two GPAs as given; only the status of RAX comes back. */
static void test_simple_call(void **state)
{
	(void)state;
	start();
	up();
	sim.call_fn = custom_call;
	custom_result = 0x123400000000abcdull;
	assert_int_equal(hv_call(0x0046, 0x1000, 0x2008), 0xabcd);
	assert_int_equal(sim.last_call.control, 0x0046);
	assert_false(sim.last_call.fast);
	assert_int_equal(sim.last_call.rep_count, 0);
	assert_int_equal(sim.last_call.input, 0x1000);
	assert_int_equal(sim.last_call.output, 0x2008);
	/* a code the host does not know */
	sim.call_fn = NULL;
	assert_int_equal(hv_call(0x7777, 0, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
}

/* hv_call_fast: bit 16 set, the two input words in RDX and R8. */
static void test_fast_call(void **state)
{
	(void)state;
	start();
	up();
	sim.call_fn = custom_call;
	custom_result = HV_STATUS_SUCCESS;
	assert_int_equal(hv_call_fast(0x0008, 0x1122334455667788ull, 0x99aabbccddeeff00ull), 0);
	assert_int_equal(sim.last_call.control, 0x10008);
	assert_true(sim.last_call.fast);
	assert_int_equal(sim.last_call.input, 0x1122334455667788ull);
	assert_int_equal(sim.last_call.output, 0x99aabbccddeeff00ull);
}

/* Before init no call reaches the host. */
static void test_call_before_init(void **state)
{
	(void)state;
	start();
	assert_int_equal(hv_call(0x46, 0, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(hv_call_fast(0x46, 0, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(hv_signal_event(2, 0, NULL), -ENODEV);
	assert_int_equal(sim.calls, 0);
}

/* A host that does 3 reps per call: re-issued from 3, 6 and 9 with the same count; 10 done. */
static void test_rep_restart(void **state)
{
	uint32_t done = 0;
	(void)state;
	start();
	up();
	sim.rep.code = 0x0003;
	sim.rep.per_call = 3;
	assert_int_equal(hv_call_rep(0x0003, 10, 0x5000, 0x6000, &done), HV_STATUS_SUCCESS);
	assert_int_equal(done, 10);
	assert_int_equal(sim.rep.calls, 4);
	static const unsigned starts[] = { 0, 3, 6, 9 };
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(sim.rep.start[i], starts[i]);
		assert_int_equal(sim.rep.count[i], 10);
	}
	assert_false(sim.last_call.fast);
	assert_int_equal(sim.last_call.input, 0x5000);
	assert_int_equal(sim.last_call.output, 0x6000);

	/* all at once, and the largest count */
	sim.rep.per_call = 0;
	sim.rep.calls = 0;
	assert_int_equal(hv_call_rep(0x0003, 0xfff, 0, 0, &done), HV_STATUS_SUCCESS);
	assert_int_equal(done, 0xfff);
	assert_int_equal(sim.rep.calls, 1);
	assert_int_equal(sim.last_call.control, 0x0003 | 0xfffull << 32);
}

/* A rep that fails: the status and the reps done before it. */
static void test_rep_error(void **state)
{
	uint32_t done = 99;
	(void)state;
	start();
	up();
	sim.rep.code = 0x0003;
	sim.rep.per_call = 3;
	sim.rep.fail_at = 7;
	sim.rep.fail_status = HV_STATUS_INSUFFICIENT_MEMORY;
	assert_int_equal(hv_call_rep(0x0003, 10, 0, 0, &done), HV_STATUS_INSUFFICIENT_MEMORY);
	assert_int_equal(done, 7);
	assert_int_equal(sim.rep.calls, 3);
	assert_int_equal(sim.rep.start[2], 6);
	/* a first rep that fails */
	sim.rep.fail_at = 0;
	sim.rep.calls = 0;
	assert_int_equal(hv_call_rep(0x0003, 10, 0, 0, NULL), HV_STATUS_INSUFFICIENT_MEMORY);
	assert_int_equal(sim.rep.calls, 1);
}

/* SUCCESS without progress ends at once instead of looping. */
static void test_rep_no_progress(void **state)
{
	uint32_t done = 99;
	(void)state;
	start();
	up();
	sim.rep.code = 0x0003;
	sim.rep.no_progress = true;
	assert_int_equal(hv_call_rep(0x0003, 5, 0, 0, &done), HV_STATUS_INVALID_HYPERCALL_INPUT);
	assert_int_equal(done, 0);
	assert_int_equal(sim.rep.calls, 1);
}

/* A host claiming more reps than asked is believed only up to the count. */
static void test_rep_host_overcounts(void **state)
{
	uint32_t done = 0;
	(void)state;
	start();
	up();
	sim.call_fn = custom_call;
	custom_result = HV_STATUS_SUCCESS | 0x800ull << 32;
	assert_int_equal(hv_call_rep(0x0050, 4, 0, 0, &done), HV_STATUS_SUCCESS);
	assert_int_equal(done, 4);
	assert_int_equal(sim.calls, 1);
}

/* Counts of 0 and above 0xfff are refused before any call. */
static void test_rep_bad_count(void **state)
{
	uint32_t done = 99;
	(void)state;
	start();
	up();
	sim.rep.code = 0x0003;
	assert_int_equal(hv_call_rep(0x0003, 0, 0, 0, &done), HV_STATUS_INVALID_PARAMETER);
	assert_int_equal(done, 0);
	done = 99;
	assert_int_equal(hv_call_rep(0x0003, 0x1000, 0, 0, &done), HV_STATUS_INVALID_PARAMETER);
	assert_int_equal(done, 0);
	assert_int_equal(sim.calls, 0);
}

/* ---- HvPostMessage ---- */

static uint16_t reply_status;

static uint16_t answer(void *ctx, struct hv_sim *s, const struct hv_sim_posted *msg)
{
	(void)ctx;
	(void)s;
	(void)msg;
	return reply_status;
}

/* What the host sees: connection, type, size and payload in a 256-byte input in RAM. */
static void test_post_success(void **state)
{
	uint16_t status = 0xffff;
	uint8_t payload[240];
	(void)state;
	start();
	up();
	struct hv_sim_connection *c = hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(hv_post_message(1, 1, payload, 24, &status), 0);
	assert_int_equal(status, HV_STATUS_SUCCESS);
	assert_int_equal(sim.nposted, 1);
	assert_int_equal(sim.posted[0].connection, 1);
	assert_int_equal(sim.posted[0].type, 1);
	assert_int_equal(sim.posted[0].size, 24);
	assert_memory_equal(sim.posted[0].payload, payload, 24);
	assert_int_equal(c->posts, 1);
	assert_int_equal(sim.last_call.control, HVCALL_POST_MESSAGE);
	assert_int_equal(sim.last_call.input % 8, 0);
	assert_int_equal(sim.last_call.output, 0);

	/* the full 240 bytes; nothing of the longer message is left over in a shorter one */
	assert_int_equal(hv_post_message(1, 0x7fffffff, payload, 240, NULL), 0);
	assert_memory_equal(sim.posted[1].payload, payload, 240);
	assert_int_equal(sim.posted[1].type, 0x7fffffff);
	assert_int_equal(hv_post_message(1, 2, NULL, 0, NULL), 0);
	assert_int_equal(sim.posted[2].size, 0);
	for (unsigned i = 0; i < 240; i++)
		assert_int_equal(sim.posted[2].payload[i], 0);
}

/* Each status mapped to its errno, for the statuses hv_post_message passes on at once. */
static void test_status_errno(void **state)
{
	static const struct {
		uint16_t status;
		int err;
	} table[] = {
		{ HV_STATUS_SUCCESS, 0 },
		{ HV_STATUS_INVALID_HYPERCALL_CODE, -ENOSYS },
		{ HV_STATUS_INVALID_HYPERCALL_INPUT, -EINVAL },
		{ HV_STATUS_INVALID_ALIGNMENT, -EINVAL },
		{ HV_STATUS_INVALID_PARAMETER, -EINVAL },
		{ HV_STATUS_ACCESS_DENIED, -EACCES },
		{ HV_STATUS_INVALID_CONNECTION_ID, -ENOTCONN },
		{ 0x0011, -EIO }, /* INVALID_PORT_ID */
		{ 0x0007, -EIO },
		{ 0x0071, -EIO },
		{ 0xffff, -EIO },
	};
	(void)state;
	start();
	up();
	hv_sim_add_connection(&sim, 9, true, false, answer, NULL, NULL);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		uint16_t status = 0x5555;
		unsigned before = sim.nposted;
		reply_status = table[i].status;
		assert_int_equal(hv_status_errno(table[i].status), table[i].err);
		assert_int_equal(hv_post_message(9, 1, "abc", 3, &status), table[i].err);
		assert_int_equal(status, table[i].status);
		assert_int_equal(sim.nposted, before + 1); /* not retried */
		if (table[i].status != 0xffff)
			assert_non_null(hvrt_hv_status_name(table[i].status));
	}
	assert_int_equal(hv_status_errno(HV_STATUS_INSUFFICIENT_BUFFERS), -EAGAIN);
	assert_int_equal(hv_status_errno(HV_STATUS_INSUFFICIENT_MEMORY), -EAGAIN);
}

/* The host's own refusals: an unknown connection, no PostMessages privilege. */
static void test_post_refused_by_host(void **state)
{
	uint16_t status = 0;
	(void)state;
	start();
	up();
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	assert_int_equal(hv_post_message(7, 1, "x", 1, &status), -ENOTCONN);
	assert_int_equal(status, HV_STATUS_INVALID_CONNECTION_ID);
	assert_string_equal(hvrt_hv_status_name(status), "HV_STATUS_INVALID_CONNECTION_ID");
	teardown(NULL);

	setup(NULL);
	cfg.priv_calls &= ~HV_PRIV_POST_MESSAGES;
	start();
	up();
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	assert_int_equal(hv_post_message(1, 1, "x", 1, &status), -EACCES);
	assert_int_equal(status, HV_STATUS_ACCESS_DENIED);
}

/* INSUFFICIENT_BUFFERS three times: retried after 1, 2, 4 us (at least), then accepted. */
static void check_busy_then_ok(uint16_t busy)
{
	uint16_t status = 0;
	start();
	up();
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	sim.fault.post_busy = 3;
	sim.fault.post_busy_status = busy;
	assert_int_equal(hv_post_message(1, 1, "hey", 3, &status), 0);
	assert_int_equal(status, HV_STATUS_SUCCESS);
	assert_int_equal(sim.nposted, 4);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(sim.posted[i].status, busy);
	assert_int_equal(sim.posted[3].status, HV_STATUS_SUCCESS);
	assert_memory_equal(sim.posted[3].payload, "hey", 3);
	for (unsigned i = 1; i < 4; i++) {
		uint64_t gap = sim.posted[i].time - sim.posted[i - 1].time;
		assert_true(gap >= 10u << (i - 1)); /* 1, 2, 4 us in 100 ns units */
		assert_true(gap <= (10u << (i - 1)) + 20);
	}
}

static void test_post_busy_then_ok(void **state)
{
	(void)state;
	check_busy_then_ok(HV_STATUS_INSUFFICIENT_BUFFERS);
	teardown(NULL);
	setup(NULL);
	check_busy_then_ok(HV_STATUS_INSUFFICIENT_MEMORY);
}

/* Always full: about a second of retries with the back-off capped at 64 ms, then -EAGAIN. */
static void test_post_busy_gives_up(void **state)
{
	uint16_t status = 0;
	(void)state;
	cfg.rdtsc_cost = 10; /* 1 us per RDTSC: the second of waiting costs fewer steps */
	start();
	up();
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	sim.fault.post_busy = 1000000;
	uint64_t t0 = hv_sim_now(&sim);
	assert_int_equal(hv_post_message(1, 1, "x", 1, &status), -EAGAIN);
	assert_int_equal(status, HV_STATUS_INSUFFICIENT_BUFFERS);
	uint64_t waited = hv_sim_now(&sim) - t0;
	assert_true(waited >= 10000000u);   /* 1 s */
	assert_true(waited <= 12000000u);   /* and not much more */
	assert_true(sim.nposted >= 20 && sim.nposted <= 40);
	uint64_t max_gap = 0;
	for (unsigned i = 1; i < sim.nposted; i++) {
		uint64_t gap = sim.posted[i].time - sim.posted[i - 1].time;
		max_gap = gap > max_gap ? gap : max_gap;
	}
	assert_true(max_gap >= 655360 && max_gap <= 655360 + 100); /* 65.536 ms */
}

/* Arguments refused before any hypercall; a call before init gives -ENODEV. */
static void test_post_bad_arguments(void **state)
{
	uint16_t status = 0;
	uint8_t big[241] = { 0 };
	(void)state;
	start();
	assert_int_equal(hv_post_message(1, 1, "x", 1, &status), -ENODEV);
	assert_int_equal(status, HV_STATUS_INVALID_HYPERCALL_CODE);
	up();
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	assert_int_equal(hv_post_message(1, 1, big, 241, &status), -EINVAL);
	assert_int_equal(status, HV_STATUS_INVALID_PARAMETER);
	assert_int_equal(hv_post_message(1, 0, "x", 1, NULL), -EINVAL);
	assert_int_equal(hv_post_message(1, 0x80000000u, "x", 1, NULL), -EINVAL);
	assert_int_equal(hv_post_message(1, 0xffffffffu, "x", 1, NULL), -EINVAL);
	assert_int_equal(hv_post_message(1, 1, NULL, 5, NULL), -EINVAL);
	assert_int_equal(sim.calls, 0);
	assert_int_equal(hv_post_message(1, 1, big, 240, NULL), 0);
	assert_int_equal(sim.calls, 1);
}

/* ---- HvSignalEvent ---- */

static void test_signal_event(void **state)
{
	uint16_t status = 0xffff;
	(void)state;
	start();
	up();
	struct hv_sim_connection *c = hv_sim_add_connection(&sim, 0x17, false, true, NULL, NULL, NULL);
	assert_int_equal(hv_signal_event(0x17, 0, &status), 0);
	assert_int_equal(status, HV_STATUS_SUCCESS);
	assert_int_equal(c->signals, 1);
	assert_int_equal(sim.last_call.control, HVCALL_SIGNAL_EVENT | HV_CALL_FAST);
	assert_int_equal(sim.last_call.input, 0x17);
	assert_int_equal(sim.last_call.output, 0);

	/* an unknown connection, as the nested host answers for 0x40 */
	assert_int_equal(hv_signal_event(0x40, 0, &status), -ENOTCONN);
	assert_int_equal(status, HV_STATUS_INVALID_CONNECTION_ID);
	/* a flag number goes to 47:32; KVM and QEMU answer INVALID_PORT_ID for any */
	assert_int_equal(hv_signal_event(0x17, 5, &status), -EIO);
	assert_int_equal(status, 0x0011);
	assert_int_equal(sim.last_call.input, 5ull << 32 | 0x17);
	/* a message connection is not an event connection */
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	assert_int_equal(hv_signal_event(1, 0, NULL), -ENOTCONN);
	assert_int_equal(c->signals, 1);
	assert_int_equal(sim.signals, 1);
}

static void test_signal_event_denied(void **state)
{
	uint16_t status = 0;
	(void)state;
	cfg.priv_calls &= ~HV_PRIV_SIGNAL_EVENTS;
	start();
	up();
	hv_sim_add_connection(&sim, 2, false, true, NULL, NULL, NULL);
	assert_int_equal(hv_signal_event(2, 0, &status), -EACCES);
	assert_int_equal(status, HV_STATUS_ACCESS_DENIED);
	assert_int_equal(sim.signals, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_os_id_value),
		T(test_init_fresh_page),
		T(test_init_intel_page),
		T(test_existing_guest_os_id_kept),
		T(test_firmware_page_reused),
		T(test_firmware_page_in_ram_moved),
		T(test_firmware_page_reserved_reused),
		T(test_firmware_page_locked_in_ram),
		T(test_host_keeps_old_page),
		T(test_firmware_page_empty),
		T(test_page_stays_disabled),
		T(test_page_empty),
		T(test_guest_os_id_write_ignored),
		T(test_refused_msrs),
		T(test_enabled_page_kept),
		T(test_not_offered),
		T(test_no_memory),
		T(test_simple_call),
		T(test_fast_call),
		T(test_call_before_init),
		T(test_rep_restart),
		T(test_rep_error),
		T(test_rep_no_progress),
		T(test_rep_host_overcounts),
		T(test_rep_bad_count),
		T(test_post_success),
		T(test_status_errno),
		T(test_post_refused_by_host),
		T(test_post_busy_then_ok),
		T(test_post_busy_gives_up),
		T(test_post_bad_arguments),
		T(test_signal_event),
		T(test_signal_event_denied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
