UNIT_TESTS += vmbus_connect
UNIT_vmbus_connect_SRCS = $(VMBUS_GUEST_TEST_SRCS) tests/unit/test_vmbus_connect.c
