UNIT_TESTS += vmbus_capture
UNIT_vmbus_capture_SRCS := vmbus/capture.c vmbus/capture_api.c arch/x86_64/console.c arch/x86_64/fmt.c \
                           tests/hostsim/cpu_sim.c tests/unit/test_vmbus_capture.c
# The vmbus/ headers the test depends on, named here too in case HOST_HEADERS does not look in vmbus/.
$(BUILD)/tests/unit/test_vmbus_capture: vmbus/capture.h vmbus/vmbus_defs.h
