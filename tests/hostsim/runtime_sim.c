/*
 * Hosted doubles of the runtime services hv/ uses, kept in the installed
 * struct hv_sim: hvrt_page_alloc/free (boot/start.c), glue_clock_install
 * (libc-glue/time.c, which must not be linked into a hosted binary: it
 * defines clock_gettime) and the power hooks (arch/x86_64/power.c).
 * glue_clock_install reads the new clock once, as the real one does.
 *
 * Pages are real, zeroed, 4 KiB-aligned allocations, so the simulated host
 * can write into them at their "guest physical address". Freeing anything
 * that is not a live allocation of the same size, or a page the host still
 * has enabled, fails the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <hvrt/boot.h>
#include <hvrt/mem.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/power.h"
#include "hv/hv.h"
#include "libc-glue/glue.h"
#include "tests/hostsim/runtime_sim.h"
#include "tests/hostsim/hv_sim.h"

static struct hv_sim *need(const char *what)
{
	struct hv_sim *sim = hv_sim_current();

	if (!sim)
		fail_msg("%s without an hv_sim installed", what);
	return sim;
}

static void *track(struct hv_sim *sim, size_t count, bool sim_owned)
{
	if (sim->npages == sim->pages_cap) {
		size_t cap = sim->pages_cap ? sim->pages_cap * 2 : 32;
		struct hv_sim_page *p = realloc(sim->pages, cap * sizeof(*p));
		if (!p)
			fail_msg("hv_sim: out of memory for the page list");
		sim->pages = p;
		sim->pages_cap = cap;
	}
	void *addr = aligned_alloc(HVRT_PAGE_SIZE, count * HVRT_PAGE_SIZE);
	if (!addr)
		fail_msg("hv_sim: out of memory for %zu pages", count);
	memset(addr, 0, count * HVRT_PAGE_SIZE);
	sim->pages[sim->npages++] = (struct hv_sim_page){ .addr = addr, .count = count, .live = true,
							  .sim_owned = sim_owned };
	return addr;
}

void *hvrt_page_alloc(size_t count)
{
	struct hv_sim *sim = need("hvrt_page_alloc");

	if (count == 0 || count > 1024)
		fail_msg("hvrt_page_alloc(%zu)", count);
	if (sim->fault.alloc_fail_in && --sim->fault.alloc_fail_in == 0)
		return NULL;
	sim->allocs++;
	return track(sim, count, false);
}

void hvrt_page_free(void *pages, size_t count)
{
	struct hv_sim *sim = need("hvrt_page_free");

	for (size_t i = 0; i < sim->npages; i++) {
		struct hv_sim_page *p = &sim->pages[i];
		if (!p->live || p->sim_owned || p->addr != pages)
			continue;
		if (p->count != count)
			fail_msg("hvrt_page_free(%p, %zu): it was allocated as %zu pages", pages, count, p->count);
		if (hv_sim_page_in_use(sim, pages, count))
			fail_msg("hvrt_page_free(%p, %zu): the host still has it enabled", pages, count);
		free(pages);
		p->live = false;
		sim->frees++;
		return;
	}
	fail_msg("hvrt_page_free(%p, %zu): not a live allocation (double free?)", pages, count);
}

size_t hvrt_page_free_count(void)
{
	return 1024;
}

void *hv_sim_page(struct hv_sim *sim)
{
	return track(sim, 1, true);
}

size_t hv_sim_pages_live(const struct hv_sim *sim)
{
	size_t n = 0;
	for (size_t i = 0; i < sim->npages; i++)
		n += sim->pages[i].live && !sim->pages[i].sim_owned ? sim->pages[i].count : 0;
	return n;
}

bool hv_sim_is_ram(const struct hv_sim *sim, uint64_t addr, size_t len)
{
	for (size_t i = 0; i < sim->npages; i++) {
		const struct hv_sim_page *p = &sim->pages[i];
		uint64_t lo = (uint64_t)(uintptr_t)p->addr, hi = lo + p->count * HVRT_PAGE_SIZE;
		if (p->live && addr >= lo && addr < hi && len <= hi - addr)
			return true;
	}
	return false;
}

const struct hvrt_boot_info *hvrt_boot_info(void)
{
	return need("hvrt_boot_info")->boot_info;
}

void glue_clock_install(const struct glue_clock *clock)
{
	struct hv_sim *sim = need("glue_clock_install");

	if (!clock || !clock->now_ns || !clock->sleep_until_ns || !clock->resolution_ns)
		fail_msg("glue_clock_install: an incomplete clock");
	sim->clock = clock;
	sim->clock_installs++;
	/* libc-glue/time.c: offset = old uptime - clock->now_ns(), one reading of the new clock. */
	(void)clock->now_ns();
}

void power_set_crash_reporter(void (*report)(void *ctx, const struct power_crash *crash), void *ctx)
{
	struct hv_sim *sim = hv_sim_current();

	if (!sim) {
		if (report)
			fail_msg("power_set_crash_reporter without an hv_sim installed");
		return;
	}
	sim->crash_report = report;
	sim->crash_ctx = ctx;
}

void power_set_reset(void (*reset)(void *ctx), void *ctx)
{
	struct hv_sim *sim = hv_sim_current();

	if (!sim) {
		if (reset)
			fail_msg("power_set_reset without an hv_sim installed");
		return;
	}
	sim->reset_fn = reset;
	sim->reset_ctx = ctx;
}

/* The shutdown hook power.c would run at a clean exit; runtime_sim_shutdown() runs it as an exit would. */
static struct runtime_sim_power {
	void (*shutdown)(void *ctx);
	void *ctx;
} runtime_power;

void power_set_shutdown(void (*shutdown)(void *ctx), void *ctx)
{
	runtime_power.shutdown = shutdown;
	runtime_power.ctx = ctx;
}

bool runtime_sim_shutdown(void)
{
	void (*shutdown)(void *ctx) = runtime_power.shutdown;

	runtime_power.shutdown = NULL;
	if (!shutdown)
		return false;
	shutdown(runtime_power.ctx);
	return true;
}

void runtime_sim_guest_fresh(void)
{
	hv_hypercall_reset();
	hv_reftime_reset();
	hv_stimer_reset();
	hv_crash_reset();
	cpu_irq_enable();
}

void runtime_sim_guest_stop(void)
{
	cpu_irq_disable();
	hv_synic_shutdown();
	hv_stimer_reset();
	hv_reftime_reset();
	hv_hypercall_reset();
	hv_crash_reset();
}
