UNIT_TESTS += vmbus_reentry
UNIT_vmbus_reentry_SRCS = $(VMBUS_GUEST_TEST_SRCS) tests/unit/test_vmbus_reentry.c
