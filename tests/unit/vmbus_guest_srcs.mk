# No test of its own: the sources every test of the guest VMBus layer against the simulated host
# links (tests/unit/vmbus_fixture.h): all of hv/ and vmbus/, the console, and the simulated host.
# The UNIT_vmbus_*_SRCS that use it are set with '=', so it is read when the rules are made, whatever
# the include order; the wildcards follow files added to hv/ and vmbus/.
VMBUS_GUEST_TEST_SRCS := $(sort $(wildcard hv/*.c)) $(sort $(wildcard vmbus/*.c)) \
                         arch/x86_64/console.c arch/x86_64/fmt.c \
                         tests/hostsim/cpu_sim.c tests/hostsim/hv_sim.c tests/hostsim/irq_sim.c \
                         tests/hostsim/runtime_sim.c tests/hostsim/vmbus_sim.c tests/unit/log_capture.c
