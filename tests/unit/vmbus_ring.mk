UNIT_TESTS += vmbus_ring
UNIT_vmbus_ring_SRCS := vmbus/ring.c tests/unit/test_vmbus_ring.c
# The headers under test, named here too: the binary rebuilds when they change whatever HOST_HEADERS covers.
$(BUILD)/tests/unit/test_vmbus_ring: vmbus/ring.h vmbus/vmbus_defs.h
