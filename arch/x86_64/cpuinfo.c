/*
 * CPUID: vendor, brand string, family/model/stepping, hypervisor vendor.
 */
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuinfo.h"

static void copy_regs(char *dst, const uint32_t *regs, unsigned count)
{
	memcpy(dst, regs, count * 4);
	dst[count * 4] = '\0';
}

void cpuinfo_read(struct hvrt_system *sys)
{
	struct cpuid_regs r = cpu_cpuid(0, 0);
	uint32_t vendor[3] = { r.ebx, r.edx, r.ecx };
	copy_regs(sys->cpu_vendor, vendor, 3);

	r = cpu_cpuid(1, 0);
	uint32_t family = (r.eax >> 8) & 0xf, model = (r.eax >> 4) & 0xf;
	if (family == 0xf)
		family += (r.eax >> 20) & 0xff;
	if (family == 0x6 || family >= 0xf)
		model |= ((r.eax >> 16) & 0xf) << 4;
	sys->cpu_family = family;
	sys->cpu_model = model;
	sys->cpu_stepping = r.eax & 0xf;
	sys->hypervisor_present = (r.ecx & (1u << 31)) != 0;

	sys->cpu_brand[0] = '\0';
	if (cpu_cpuid(0x80000000u, 0).eax >= 0x80000004u) {
		uint32_t brand[12];
		for (unsigned i = 0; i < 3; i++) {
			struct cpuid_regs b = cpu_cpuid(0x80000002u + i, 0);
			brand[i * 4 + 0] = b.eax;
			brand[i * 4 + 1] = b.ebx;
			brand[i * 4 + 2] = b.ecx;
			brand[i * 4 + 3] = b.edx;
		}
		char raw[49];
		copy_regs(raw, brand, 12);
		/* Brand strings are padded with blanks on either side. */
		const char *s = raw;
		while (*s == ' ')
			s++;
		size_t n = strlen(s);
		while (n && s[n - 1] == ' ')
			n--;
		memcpy(sys->cpu_brand, s, n);
		sys->cpu_brand[n] = '\0';
	}

	sys->hypervisor_vendor[0] = '\0';
	if (sys->hypervisor_present) {
		r = cpu_cpuid(0x40000000u, 0);
		uint32_t hv[3] = { r.ebx, r.ecx, r.edx };
		copy_regs(sys->hypervisor_vendor, hv, 3);
	}
}
