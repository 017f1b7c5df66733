UNIT_TESTS += vmbus_offers
UNIT_vmbus_offers_SRCS = $(VMBUS_GUEST_TEST_SRCS) tests/unit/test_vmbus_offers.c
