/*
 * hello: the runtime's banner, then "hello, world".
 *
 * Everything printed comes from hvrt's public API and newlib's stdio.
 */
#include <stdio.h>
#include <time.h>

#include <hvrt/hvrt.h>

int main(int argc, char **argv)
{
	const struct hvrt_boot_info *boot = hvrt_boot_info();
	const struct hvrt_system *sys = hvrt_system();

	printf("hvrt %s, booted by %s\n", hvrt_version(), hvrt_boot_path_name(boot->path));
	printf("command line: %s\n", boot->cmdline[0] ? boot->cmdline : "(none)");
	printf("arguments: %d:", argc);
	for (int i = 0; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf("\n");
	printf("RAM: %llu MiB usable, heap %llu MiB, %zu free pages\n",
	       (unsigned long long)(sys->ram_bytes >> 20), (unsigned long long)(sys->heap_bytes >> 20),
	       hvrt_page_free_count());
	printf("CPU: %s, family %u model %u stepping %u%s%s\n", sys->cpu_vendor, sys->cpu_family,
	       sys->cpu_model, sys->cpu_stepping, sys->cpu_brand[0] ? ", " : "", sys->cpu_brand);
	printf("TSC: %llu.%03llu MHz (%s); LAPIC%s timer %llu kHz\n",
	       (unsigned long long)(sys->tsc_hz / 1000000),
	       (unsigned long long)(sys->tsc_hz / 1000 % 1000), hvrt_tsc_source_name(sys->tsc_source),
	       sys->x2apic ? " (x2APIC)" : "", (unsigned long long)(sys->lapic_timer_hz / 1000));
	if (sys->hypervisor_present)
		printf("hypervisor: present, CPUID vendor \"%s\"\n", sys->hypervisor_vendor);
	else
		printf("hypervisor: none\n");
	printf("host: %s\n", hvrt_host()->name);

	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	printf("time: %04d-%02d-%02d %02d:%02d:%02d UTC, up %llu ms\n", tm.tm_year + 1900, tm.tm_mon + 1,
	       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned long long)(hvrt_uptime_ns() / 1000000));

	printf("hello, world\n");
	return 0;
}
