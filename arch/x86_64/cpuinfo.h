/* CPU and hypervisor identification from CPUID. */
#ifndef HVRT_ARCH_CPUINFO_H
#define HVRT_ARCH_CPUINFO_H

#include <hvrt/system.h>

/* Fills the CPU and hypervisor fields of sys. */
void cpuinfo_read(struct hvrt_system *sys);

#endif
