/*
 * hvrt_start: the one C entry of both boot paths.
 *
 * Order matters: the console first, so anything after can explain a failure;
 * the command line before any allocation, so `hvrt.memmap=raw` can show the
 * firmware's map untouched; the IDT before anything that follows firmware
 * pointers, so a fault is reported rather than a silent reset; ACPI before
 * paging, since the BIOS data area at 0x40e is in page 0, which the new map
 * leaves out to catch NULL pointers; UEFI boot-services memory only after the
 * new tables are loaded, since the firmware's tables live there until then.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hvrt/hvrt.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/console.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuinfo.h"
#include "arch/x86_64/fbcon.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/pagealloc.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/physmem.h"
#include "arch/x86_64/power.h"
#include "arch/x86_64/rtc.h"
#include "arch/x86_64/trap.h"
#include "arch/x86_64/tsc.h"
#include "arch/x86_64/uart.h"
#include "boot/bootinfo.h"
#include "boot/cmdline.h"
#include "boot/start.h"
#include "hv/hv.h"
#include "libc-glue/glue.h"

/* RAM below 1 MiB stays out of the allocator: firmware data and, later, SMP start-up code live there. */
#define LOW_MEMORY_END (1ull << 20)

int main(int argc, char **argv);

static struct runtime {
	struct hvrt_boot_info *bi;
	struct hvrt_system sys;
	struct uart uart;
	struct fbcon fbcon;
	struct pagealloc pages;
	struct acpi_info acpi;
	bool memmap_print;
	bool memmap_raw;
	bool acpi_tried;
	uint32_t path; /* enum hvrt_boot_path, known from the first moment */
	/* TSC at each start-up stage, printed with hvrt.log=debug once the TSC rate is known. */
	struct boot_stamp {
		const char *stage;
		uint64_t tsc;
	} stamps[12];
	unsigned nstamps;
} rt;

static void stamp(const char *stage)
{
	if (rt.nstamps < sizeof(rt.stamps) / sizeof(rt.stamps[0]))
		rt.stamps[rt.nstamps++] = (struct boot_stamp){ .stage = stage, .tsc = cpu_rdtsc() };
}

static void print_stamps(void)
{
	for (unsigned i = 1; i < rt.nstamps; i++)
		hvrt_log(HVRT_LOG_DEBUG, "boot", "%-12s %6llu us", rt.stamps[i].stage,
			 (unsigned long long)(tsc_ticks_to_ns(rt.stamps[i].tsc - rt.stamps[i - 1].tsc, tsc_hz()) / 1000));
}

const char *hvrt_version(void)
{
	return HVRT_VERSION_STRING;
}

const struct hvrt_boot_info *hvrt_boot_info(void)
{
	return rt.bi;
}

const struct hvrt_system *hvrt_system(void)
{
	return &rt.sys;
}

uint64_t hvrt_uptime_ns(void)
{
	return glue_uptime_ns();
}

const char *hvrt_tsc_source_name(uint32_t source)
{
	switch (source) {
	case HVRT_TSC_CPUID:
		return "CPUID";
	case HVRT_TSC_PIT:
		return "PIT";
	case HVRT_TSC_PM_TIMER:
		return "ACPI PM timer";
	case HVRT_TSC_ASSUMED:
		return "assumed";
	case HVRT_TSC_HYPERV:
		return "Hyper-V MSR";
	default:
		return "unknown";
	}
}

void boot_console_init(uint32_t path)
{
	rt.path = path;
	if (uart_init(&rt.uart, UART_COM1) == 0)
		console_add_sink(uart_write, &rt.uart);
}

static void setup_acpi(uint64_t rsdp_hint);

void boot_fail(const char *what, int err)
{
	hvrt_log(HVRT_LOG_ERROR, "boot", "cannot start: %s (error %d)", what, err);
	/* A Gen1 VM has no other way to power off than ACPI S5. */
	if (!rt.acpi_tried)
		setup_acpi(rt.bi ? rt.bi->acpi_rsdp : 0);
	hvrt_poweroff(HVRT_EXIT_PANIC);
}

void *hvrt_page_alloc(size_t count)
{
	uint64_t addr = pagealloc_alloc(&rt.pages, count);

	if (!addr)
		return NULL;
	memset((void *)(uintptr_t)addr, 0, count * PAGE_SIZE);
	return (void *)(uintptr_t)addr;
}

/*
 * Pages that are free already, or that the allocator could never have given
 * out (hvrt's image, firmware memory, MMIO, the first megabyte), are a bug
 * in the caller: stop before they are handed to someone else.
 */
void hvrt_page_free(void *pages, size_t count)
{
	uint64_t addr = (uint64_t)(uintptr_t)pages;

	if (count == 0)
		return;
	if (count > UINT64_MAX / PAGE_SIZE || addr < LOW_MEMORY_END ||
	    !memmap_covers(rt.bi, addr, (uint64_t)count * PAGE_SIZE, HVRT_MEM_RAM))
		hvrt_panic("hvrt_page_free(%p, %zu): not pages hvrt_page_alloc hands out", pages, count);
	int err = pagealloc_free(&rt.pages, addr, count);
	if (err)
		hvrt_panic("hvrt_page_free(%p, %zu): %s", pages, count,
			   err == -EINVAL ? "pages not allocated (double free?)" : "allocator full");
}

size_t hvrt_page_free_count(void)
{
	return (size_t)rt.pages.free_pages;
}

static int runtime_option(void *ctx, const char *key, const char *value)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	(void)ctx;

	if (strcmp(key, "log") == 0) {
		for (unsigned i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
			if (strcmp(value, levels[i]) == 0) {
				hvrt_log_set_level((enum hvrt_log_level)i);
				return 0;
			}
		}
		return -EINVAL;
	}
	if (strcmp(key, "memmap") == 0) {
		if (value[0] == '\0')
			rt.memmap_print = true;
		else if (strcmp(value, "raw") == 0)
			rt.memmap_raw = true;
		else
			return -EINVAL;
		return 0;
	}
	return -ENOENT;
}

/* Dumps the firmware's map as hex, 16 bytes a line, for captures (tests/unit/data). */
static void print_raw_map(const struct boot_raw_map *raw)
{
	const unsigned char *p = raw->data;

	hvrt_log_always("memmap", "raw %s map: %zu bytes, descriptor size %zu",
		 raw->desc_size ? "UEFI" : "multiboot", raw->size, raw->desc_size);
	for (size_t off = 0; off < raw->size; off += 16) {
		char line[64];
		size_t n = 0;
		for (size_t i = off; i < raw->size && i < off + 16; i++)
			n += (size_t)hvrt_snprintf(line + n, sizeof(line) - n, "%02x", p[i]);
		hvrt_log_always("memmap", "raw %s", line);
	}
}

static void print_map(const struct hvrt_boot_info *bi)
{
	for (unsigned i = 0; i < bi->memmap_count; i++) {
		const struct hvrt_mem_region *r = &bi->memmap[i];
		hvrt_log_always("memmap", "%016llx-%016llx %s", (unsigned long long)r->base,
			 (unsigned long long)(r->base + r->length - 1), hvrt_mem_type_name(r->type));
	}
}

/* Pages for the allocator: free RAM above 1 MiB; a range that no longer fits the list is left out. */
static void give_pages(const struct hvrt_boot_info *bi, uint32_t type)
{
	for (unsigned i = 0; i < bi->memmap_count; i++) {
		const struct hvrt_mem_region *r = &bi->memmap[i];
		if (r->type != type)
			continue;
		int err = pagealloc_add(&rt.pages, r->base, r->length);
		if (err == -ENOSPC)
			hvrt_log(HVRT_LOG_WARN, "memory", "more than %u free ranges: %llu KiB at 0x%llx left unused",
				 PAGEALLOC_RANGES_MAX, (unsigned long long)(r->length >> 10),
				 (unsigned long long)r->base);
		else if (err)
			boot_fail("page allocator", err);
	}
	int err = pagealloc_reserve(&rt.pages, 0, LOW_MEMORY_END);
	if (err)
		boot_fail("page allocator", err);
}

static void setup_memory(struct hvrt_boot_info *bi)
{
	int err = memmap_mark(bi, bi->image_base, bi->image_end - bi->image_base, HVRT_MEM_BOOT);
	if (err)
		boot_fail("memory map", err);
	if (rt.memmap_print)
		print_map(bi);

	/* Boot-services memory waits: the firmware's page tables, GDT and IDT are still in use there. */
	pagealloc_init(&rt.pages);
	give_pages(bi, HVRT_MEM_RAM);
}

/* After hvrt runs on its own descriptor and page tables, UEFI boot-services memory is free. */
static void reclaim_boot_services(struct hvrt_boot_info *bi)
{
	give_pages(bi, HVRT_MEM_BOOT_SERVICES);
	int err = memmap_reclaim_boot_services(bi);
	if (err)
		boot_fail("memory map", err);
	rt.sys.ram_bytes = memmap_bytes(bi, HVRT_MEM_RAM) + memmap_bytes(bi, HVRT_MEM_BOOT);
}

/* Finds and parses the ACPI tables: from UEFI's pointer, or the legacy BIOS scan on multiboot. */
static void setup_acpi(uint64_t rsdp_hint)
{
	uint64_t rsdp = rsdp_hint;

	rt.acpi_tried = true;
	if (!rsdp && rt.path == HVRT_BOOT_MULTIBOOT && acpi_find_rsdp(phys_identity_map, NULL, &rsdp) != 0)
		rsdp = 0;
	if (!rsdp) {
		hvrt_log(HVRT_LOG_WARN, "acpi", "no ACPI tables found");
		return;
	}
	int err = acpi_parse(phys_identity_map, NULL, rsdp, &rt.acpi);
	if (err) {
		hvrt_log(HVRT_LOG_WARN, "acpi", "ACPI tables unusable (error %d)", err);
		return;
	}
	power_set_acpi(&rt.acpi);
}

static void setup_clocks(const struct hvrt_boot_info *bi)
{
	hv_early_init();
	struct tsc_refs refs = {
		.pit_first = bi->path == HVRT_BOOT_MULTIBOOT,
		.pm_timer_port = rt.acpi.pm_timer_port,
		.pm_timer_32bit = rt.acpi.pm_timer_32bit,
		.hyperv_hz = hvrt_host()->tsc_frequency,
	};
	rt.sys.tsc_source = tsc_init(&refs);
	rt.sys.tsc_hz = tsc_hz();
	if (hvrt_host()->apic_frequency)
		lapic_set_bus_frequency(hvrt_host()->apic_frequency);

	if (lapic_init() == 0) {
		rt.sys.x2apic = lapic_x2apic();
		rt.sys.lapic_timer_hz = lapic_timer_hz();
	} else {
		hvrt_log(HVRT_LOG_WARN, "lapic", "no local APIC; sleeps will spin");
	}
	/* Before interrupts: hv_init masks every SINT a firmware may have left pointing somewhere. */
	hv_init();
	cpu_irq_enable();

	struct rtc_time t;
	int err = rtc_read(rt.acpi.century, &t);
	int64_t epoch = err ? 0 : rtc_to_epoch(&t);
	if (err || epoch < 0)
		hvrt_log(HVRT_LOG_WARN, "rtc", "no usable CMOS clock (error %d); CLOCK_REALTIME starts at 1970",
			 err ? err : (int)epoch);
	glue_time_init(epoch < 0 ? 0 : epoch);
}

static void setup_heap(void)
{
	/* Half the free memory for malloc, in one block; the rest stays as pages for rings and buffers. */
	uint64_t want = rt.pages.free_pages * PAGE_SIZE / 2;
	uint64_t largest = pagealloc_largest(&rt.pages);
	uint64_t bytes = (want < largest ? want : largest) & ~(uint64_t)(PAGE_SIZE - 1);
	uint64_t base = bytes ? pagealloc_alloc(&rt.pages, bytes / PAGE_SIZE) : 0;

	if (!base)
		boot_fail("no memory for the heap", -ENOMEM);
	glue_heap_init((uintptr_t)base, (size_t)bytes);
	rt.sys.heap_bytes = bytes;
	hvrt_log(HVRT_LOG_DEBUG, "memory", "heap of %llu MiB at 0x%llx", (unsigned long long)(bytes >> 20),
		 (unsigned long long)base);
}

static void fbcon_sink(void *con, const char *buf, size_t len)
{
	fbcon_write(con, buf, len);
}

static void setup_framebuffer(const struct hvrt_boot_info *bi)
{
	if (!bi->fb.base)
		return;
	if (fbcon_init(&rt.fbcon, &bi->fb) != 0) {
		hvrt_log(HVRT_LOG_WARN, "fbcon", "framebuffer %ux%u unusable; console on COM1 only",
			 bi->fb.width, bi->fb.height);
		return;
	}
	console_add_sink(fbcon_sink, &rt.fbcon);
}

void hvrt_start(struct hvrt_boot_info *bi, const struct boot_raw_map *raw, uint64_t stack_lo,
		uint64_t stack_hi)
{
	/* argv lives in this frame, which stays until the VM powers off, like argv on a process stack. */
	struct cmdline_args args;
	int err;

	rt.bi = bi;
	stamp("entry");
	err = cmdline_split(&args, bi->cmdline);
	if (err)
		boot_fail("command line", err);
	cmdline_take_runtime_options(&args, runtime_option, NULL);
	if (args.argc == 0) {
		args.argv[0] = (char *)"hvrt";
		args.argv[1] = NULL;
		args.argc = 1;
	}
	if (rt.memmap_raw && raw && raw->data)
		print_raw_map(raw);

	setup_memory(bi);
	stamp("memory");

	uint64_t guard = stack_lo - PAGE_SIZE;
	struct trap_bounds bounds = {
		.image_base = bi->image_base, .image_end = bi->image_end,
		.stack_lo = stack_lo, .stack_hi = stack_hi, .stack_guard = guard,
	};
	err = trap_init(&rt.pages, &bounds);
	if (err)
		boot_fail("descriptor tables", err);
	stamp("traps");

	if (!rt.acpi_tried)
		setup_acpi(bi->acpi_rsdp);
	stamp("acpi");

	struct paging_layout layout = {
		.holes = { 0, guard }, .nholes = 2,
		.wc_base = bi->fb.base, .wc_size = bi->fb.base ? bi->fb.size : 0,
	};
	err = paging_init(bi, &rt.pages, &layout);
	if (err)
		boot_fail("page tables", err);
	reclaim_boot_services(bi);
	stamp("paging");

	setup_framebuffer(bi);
	setup_clocks(bi);
	stamp("clocks");
	setup_heap();
	cpuinfo_read(&rt.sys);
	stamp("heap, cpu");
	print_stamps();

	exit(main(args.argc, args.argv));
}
