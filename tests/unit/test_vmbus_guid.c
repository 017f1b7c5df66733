/*
 * GUID text and the class name table (vmbus/guid.c, vmbus/classes.def).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <hvrt/vmbus.h>

/* facts 2.11: SCSI ba6163d9-04a1-4d29-b605-72e2ffb1dc7f is d9 63 61 ba a1 04 29 4d b6 05 72 e2 ff b1 dc 7f. */
static const struct hvrt_guid scsi_wire = { { 0xd9, 0x63, 0x61, 0xba, 0xa1, 0x04, 0x29, 0x4d, 0xb6, 0x05, 0x72, 0xe2,
					      0xff, 0xb1, 0xdc, 0x7f } };

static void test_format_wire_order(void **state)
{
	char text[HVRT_GUID_STRING_LEN];
	(void)state;

	assert_ptr_equal(hvrt_guid_format(&scsi_wire, text), text);
	assert_string_equal(text, "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f");
}

static void test_parse_round_trip(void **state)
{
	struct hvrt_guid g;
	char text[HVRT_GUID_STRING_LEN];
	(void)state;

	assert_int_equal(hvrt_guid_parse("BA6163D9-04a1-4D29-b605-72E2FFB1DC7F", &g), 0);
	assert_memory_equal(g.bytes, scsi_wire.bytes, 16);
	assert_true(hvrt_guid_equal(&g, &scsi_wire));
	for (unsigned i = 0; i < 16; i++)
		g.bytes[i] = (uint8_t)(i * 17 + 3);
	struct hvrt_guid back;
	assert_int_equal(hvrt_guid_parse(hvrt_guid_format(&g, text), &back), 0);
	assert_true(hvrt_guid_equal(&g, &back));
	back.bytes[15] ^= 1;
	assert_false(hvrt_guid_equal(&g, &back));
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"ba6163d9-04a1-4d29-b605-72e2ffb1dc7",   /* short */
		"ba6163d9-04a1-4d29-b605-72e2ffb1dc7f0", /* long */
		"ba6163d904a1-4d29-b605-72e2ffb1dc7f-",  /* dash misplaced */
		"ba6163d9-04a1-4d29-b605_72e2ffb1dc7f",
		"ga6163d9-04a1-4d29-b605-72e2ffb1dc7f",  /* not hex */
		"ba6163d9-04a1-4d29-b605-72e2ffb1dc7 ",
		"{ba6163d9-04a1-4d29-b605-72e2ffb1dc7f}",
	};
	struct hvrt_guid g = scsi_wire;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hvrt_guid_parse(bad[i], &g), -EINVAL);
		assert_true(hvrt_guid_equal(&g, &scsi_wire)); /* untouched on failure */
	}
}

/* Every line of classes.def parses and names its class; unknown classes have no name. */
static void test_class_names(void **state)
{
	static const struct {
		const char *guid, *name;
	} table[] = {
#define VMBUS_CLASS(id, guid, name) { guid, name },
#include "vmbus/classes.def"
#undef VMBUS_CLASS
	};
	struct hvrt_guid g;
	(void)state;

	assert_true(sizeof(table) / sizeof(table[0]) >= 24);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		assert_int_equal(hvrt_guid_parse(table[i].guid, &g), 0);
		assert_string_equal(hvrt_vmbus_class_name(&g), table[i].name);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(table[i].guid, table[j].guid);
	}
	assert_string_equal(hvrt_vmbus_class_name(&scsi_wire), "Synthetic SCSI controller (storvsc)");
	assert_int_equal(hvrt_guid_parse("00000000-0000-0000-0000-000000000001", &g), 0);
	assert_null(hvrt_vmbus_class_name(&g));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_wire_order),
		cmocka_unit_test(test_parse_round_trip),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_class_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
