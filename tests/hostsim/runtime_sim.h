/*
 * Extra controls of the runtime doubles in runtime_sim.c (the page allocator,
 * clock and power hooks hv/ and vmbus/ call in the hosted build).
 */
#ifndef HVRT_HOSTSIM_RUNTIME_SIM_H
#define HVRT_HOSTSIM_RUNTIME_SIM_H

#include <stdbool.h>

/* Runs the hook power_set_shutdown() installed, once, as a clean exit would. Returns whether there was one. */
bool runtime_sim_shutdown(void);

#endif
