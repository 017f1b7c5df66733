UNIT_TESTS += vmbus_gpadl
UNIT_vmbus_gpadl_SRCS = $(VMBUS_GUEST_TEST_SRCS) tests/unit/test_vmbus_gpadl.c
