UNIT_TESTS += vmbus_capture_sim
UNIT_vmbus_capture_sim_SRCS = $(VMBUS_GUEST_TEST_SRCS) tests/unit/test_vmbus_capture_sim.c
