UNIT_TESTS += vmbus_guid
UNIT_vmbus_guid_SRCS := vmbus/guid.c tests/unit/test_vmbus_guid.c
