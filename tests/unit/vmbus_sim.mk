UNIT_TESTS += vmbus_sim
UNIT_vmbus_sim_SRCS := hv/crash.c hv/detect.c hv/hv.c hv/hypercall.c hv/names.c hv/poll.c hv/reftime.c \
                       hv/stimer.c hv/synic.c arch/x86_64/console.c arch/x86_64/fmt.c \
                       tests/hostsim/cpu_sim.c tests/hostsim/hv_sim.c tests/hostsim/irq_sim.c \
                       tests/hostsim/runtime_sim.c tests/hostsim/vmbus_sim.c tests/unit/log_capture.c \
                       tests/unit/test_vmbus_sim.c
# vmbus_defs.h is outside HOST_HEADERS
$(BUILD)/tests/unit/test_vmbus_sim: vmbus/vmbus_defs.h
