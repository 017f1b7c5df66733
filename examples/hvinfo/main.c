/*
 * hvinfo: everything hvrt found out about the Hyper-V host, like lscpu for
 * Hyper-V: vendor, version, every privilege, feature and recommendation bit
 * by name, limits, clocks and their frequencies, and the SynIC.
 *
 * Uses only the public API (include/hvrt/hv.h). Exits 0 on any machine; on
 * one without Hyper-V it says so and prints what CPUID did say.
 */
#include <inttypes.h>
#include <stdio.h>

#include <hvrt/hvrt.h>

static void print_bits(const char *title, enum hvrt_hv_bits group, uint32_t value)
{
	printf("%-24s 0x%08" PRIx32 "\n", title, value);
	for (unsigned bit = 0; bit < 32; bit++) {
		if (!(value & (1u << bit)))
			continue;
		const char *name = hvrt_hv_bit_name(group, bit);
		printf("    %2u  %s\n", bit, name ? name : "(no published meaning)");
	}
}

static void print_hz(const char *what, uint64_t hz)
{
	if (hz)
		printf("%-24s %" PRIu64 ".%06" PRIu64 " MHz\n", what, hz / 1000000, hz % 1000000);
	else
		printf("%-24s not offered\n", what);
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

int main(void)
{
	const struct hvrt_host *h = hvrt_host();
	const struct hvrt_system *sys = hvrt_system();

	printf("%-24s %s\n", "host", h->name);
	printf("%-24s %s\n", "hypervisor present", yes_no(h->hypervisor));
	if (!h->hypervisor)
		return 0;
	printf("%-24s \"%s\"\n", "vendor", h->vendor);
	printf("%-24s 0x%08" PRIx32 "\n", "highest leaf", h->max_leaf);
	printf("%-24s 0x%08" PRIx32 " (%s)\n", "interface", h->interface,
	       h->interface == 0x31237648u ? "Hv#1" : "not Hyper-V");
	if (!h->hyperv) {
		printf("not Hyper-V: no hypercalls, SynIC, reference time or VMBus\n");
		return 0;
	}
	printf("%-24s %u.%u build %" PRIu32 ", service pack %" PRIu32 ", branch %u, number %" PRIu32 "\n",
	       "version", h->version_major, h->version_minor, h->build, h->service_pack, h->service_branch,
	       h->service_number);
	print_bits("privileges (MSRs)", HVRT_HV_PRIVILEGES_MSRS, (uint32_t)h->privileges);
	print_bits("privileges (calls)", HVRT_HV_PRIVILEGES_CALLS, (uint32_t)(h->privileges >> 32));
	printf("%-24s 0x%08" PRIx32 "\n", "power features", h->power_features);
	print_bits("features", HVRT_HV_FEATURES, h->features);
	print_bits("recommendations", HVRT_HV_RECOMMENDATIONS, h->recommendations);
	if (h->spin_retries == 0xffffffffu)
		printf("%-24s never notify\n", "spin-wait notify after");
	else
		printf("%-24s %" PRIu32 " tries\n", "spin-wait notify after", h->spin_retries);
	if (h->phys_addr_bits)
		printf("%-24s %" PRIu32 "\n", "physical address bits", h->phys_addr_bits);
	printf("%-24s %" PRIu32 " virtual, %" PRIu32 " logical processors, %" PRIu32 " interrupt vectors\n",
	       "limits", h->max_vps, h->max_lps, h->max_irq_vectors);
	printf("%-24s 0x%08" PRIx32 "\n", "host hardware features", h->host_hw_features);
	if (h->isolation_leaf)
		printf("%-24s type %" PRIu32 ", paravisor %s\n", "isolation", h->isolation_type,
		       yes_no(h->isolation_config & 1));
	else
		printf("%-24s leaf absent (not isolated)\n", "isolation");

	printf("%-24s 0x%016" PRIx64 "\n", "guest OS ID", h->guest_os_id);
	if (h->hypercalls)
		printf("%-24s page at 0x%" PRIx64 "%s, first instruction %02x %02x %02x (%s)\n", "hypercalls",
		       h->hypercall_page, h->hypercall_page_reused ? " (set up by the firmware)" : "",
		       h->hypercall_insn[0], h->hypercall_insn[1], h->hypercall_insn[2],
		       h->hypercall_insn[2] == 0xc1 ? "vmcall" : h->hypercall_insn[2] == 0xd9 ? "vmmcall" : "?");
	else
		printf("%-24s off\n", "hypercalls");
	printf("%-24s %" PRIu32 "\n", "VP index", h->vp_index);
	if (h->synic)
		printf("%-24s version %" PRIu32 ", vector 0x%02x, %s\n", "SynIC", h->synic_version, h->synic_vector,
		       h->auto_eoi ? "AutoEOI" : "EOI per interrupt (AutoEOI deprecated)");
	else
		printf("%-24s off\n", "SynIC");

	printf("%-24s %s\n", "clock", hvrt_clock_source_name(h->clock));
	uint64_t t;
	if (hvrt_reftime(&t) == 0)
		printf("%-24s %" PRIu64 ".%07" PRIu64 " s since the partition started\n", "reference time",
		       t / 10000000, t % 10000000);
	print_hz("TSC frequency (MSR)", h->tsc_frequency);
	print_hz("APIC frequency (MSR)", h->apic_frequency);
	printf("%-24s %" PRIu64 " Hz (%s)\n", "TSC in use", sys->tsc_hz, hvrt_tsc_source_name(sys->tsc_source));
	printf("%-24s %u\n", "synthetic timers", h->stimers);
	printf("%-24s %s%s\n", "crash reporting", yes_no(h->crash_msrs),
	       h->crash_message ? " (with message page)" : "");
	printf("%-24s %s\n", "reset through MSR", yes_no(h->reset_msr));
	return 0;
}
