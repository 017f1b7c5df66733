/*
 * Extra controls of the runtime doubles in runtime_sim.c (the page allocator,
 * clock and power hooks hv/ and vmbus/ call in the hosted build).
 */
#ifndef HVRT_HOSTSIM_RUNTIME_SIM_H
#define HVRT_HOSTSIM_RUNTIME_SIM_H

#include <stdbool.h>

/* Runs the hook power_set_shutdown() installed, once, as a clean exit would. Returns whether there was one. */
bool runtime_sim_shutdown(void);

/*
 * The guest's hv/ module state, for runs that boot the guest on a started
 * hv_sim more than once in one process (each test, each bench):
 * runtime_sim_guest_fresh() forgets what a previous run set up and turns
 * interrupts on; runtime_sim_guest_stop() turns them off, shuts the SynIC
 * down and forgets the rest, before hv_sim_stop().
 */
void runtime_sim_guest_fresh(void);
void runtime_sim_guest_stop(void);

#endif
