/*
 * Hyper-V detection, from CPUID alone.
 *
 * Under TCG every MSR reads as 0 and no write faults, and KVM answers for
 * Hyper-V MSRs only when asked to emulate it, so "the rdmsr worked" proves
 * nothing: only the vendor leaves and the "Hv#1" interface signature count.
 */
#include <string.h>

#include <hvrt/log.h>

#include "arch/x86_64/cpu.h"
#include "hv/hv.h"

#define CPUID_HYPERVISOR_PRESENT (1u << 31)

static struct hvrt_host host;

struct hvrt_host *hv_host_mut(void)
{
	return &host;
}

const struct hvrt_host *hvrt_host(void)
{
	return &host;
}

static void vendor_string(char out[13], const struct cpuid_regs *r)
{
	memcpy(out, &r->ebx, 4);
	memcpy(out + 4, &r->ecx, 4);
	memcpy(out + 8, &r->edx, 4);
	out[12] = '\0';
	/* Printed as it is: keep only printable ASCII from a hypervisor we know nothing of. */
	for (int i = 0; i < 12; i++)
		if (out[i] && (out[i] < 0x20 || out[i] > 0x7e))
			out[i] = '?';
}

/*
 * hv_detect - read the hypervisor leaves
 * @h: filled in; zeroed first
 * Return: true if the hypervisor offers the Hyper-V interface "Hv#1" with
 * the leaves up to 0x40000005 that the TLFS promises with it.
 */
bool hv_detect(struct hvrt_host *h)
{
	memset(h, 0, sizeof(*h));
	if (!(cpu_cpuid(1, 0).ecx & CPUID_HYPERVISOR_PRESENT)) {
		hvrt_snprintf(h->name, sizeof(h->name), "no hypervisor");
		return false;
	}
	h->hypervisor = true;
	struct cpuid_regs r = cpu_cpuid(HV_CPUID_VENDOR, 0);
	h->max_leaf = r.eax;
	vendor_string(h->vendor, &r);
	if (h->max_leaf >= HV_CPUID_INTERFACE)
		h->interface = cpu_cpuid(HV_CPUID_INTERFACE, 0).eax;
	if (h->interface != HV_INTERFACE_HV1 || h->max_leaf < HV_CPUID_LIMITS) {
		hvrt_snprintf(h->name, sizeof(h->name), "no Hyper-V (hypervisor \"%s\")", h->vendor);
		return false;
	}
	h->hyperv = true;

	r = cpu_cpuid(HV_CPUID_VERSION, 0);
	h->build = r.eax;
	h->version_major = (uint16_t)(r.ebx >> 16);
	h->version_minor = (uint16_t)r.ebx;
	h->service_pack = r.ecx;
	h->service_branch = (uint8_t)(r.edx >> 24);
	h->service_number = r.edx & 0xffffff;

	r = cpu_cpuid(HV_CPUID_FEATURES, 0);
	h->privileges = (uint64_t)r.ebx << 32 | r.eax;
	h->power_features = r.ecx;
	h->features = r.edx;

	r = cpu_cpuid(HV_CPUID_RECOMMENDATIONS, 0);
	h->recommendations = r.eax;
	h->spin_retries = r.ebx;
	h->phys_addr_bits = r.ecx & 0x7f;

	r = cpu_cpuid(HV_CPUID_LIMITS, 0);
	h->max_vps = r.eax;
	h->max_lps = r.ebx;
	h->max_irq_vectors = r.ecx;

	if (h->max_leaf >= HV_CPUID_HW_FEATURES)
		h->host_hw_features = cpu_cpuid(HV_CPUID_HW_FEATURES, 0).eax;
	if (h->max_leaf >= HV_CPUID_ISOLATION) {
		r = cpu_cpuid(HV_CPUID_ISOLATION, 0);
		h->isolation_leaf = true;
		h->isolation_config = r.eax;
		h->isolation_type = r.ebx & 0xf;
	}

	/* A host may leave the version leaf empty (hvrt's simulator does; KVM reports 10.0 build 14393). */
	if (h->build || h->version_major || h->version_minor)
		hvrt_snprintf(h->name, sizeof(h->name), "Hyper-V %u.%u build %u (%s)", h->version_major,
			      h->version_minor, h->build, h->vendor);
	else
		hvrt_snprintf(h->name, sizeof(h->name), "Hyper-V interface (%s, no version)", h->vendor);
	return true;
}
