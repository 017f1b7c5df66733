UNIT_TESTS += vmbus_channel
UNIT_vmbus_channel_SRCS = $(VMBUS_GUEST_TEST_SRCS) tests/unit/test_vmbus_channel.c
