UNIT_TESTS += vmbus_awaited
UNIT_vmbus_awaited_SRCS := vmbus/awaited.c tests/unit/test_vmbus_awaited.c
$(BUILD)/tests/unit/test_vmbus_awaited: vmbus/awaited.h
