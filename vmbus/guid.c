/*
 * GUIDs: the canonical text form and the table of device classes hvrt knows
 * by name (vmbus/classes.def). On the wire the first three fields are
 * little-endian, so the text's first 8 hex digits are bytes 3..0 (facts 2.11).
 */
#include <errno.h>
#include <string.h>

#include <hvrt/vmbus.h>

/* Byte index of each pair of hex digits in text order. */
static const uint8_t text_order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };

static const char class_text[][HVRT_GUID_STRING_LEN] = {
#define VMBUS_CLASS(id, guid, name) guid,
#include "vmbus/classes.def"
#undef VMBUS_CLASS
};
static const char class_name[][48] = {
#define VMBUS_CLASS(id, guid, name) name,
#include "vmbus/classes.def"
#undef VMBUS_CLASS
};
_Static_assert(sizeof(class_text) / sizeof(class_text[0]) == sizeof(class_name) / sizeof(class_name[0]),
	       "one name per class");

char *hvrt_guid_format(const struct hvrt_guid *guid, char buf[HVRT_GUID_STRING_LEN])
{
	static const char hex[] = "0123456789abcdef";
	char *p = buf;

	for (unsigned i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		uint8_t b = guid->bytes[text_order[i]];
		*p++ = hex[b >> 4];
		*p++ = hex[b & 15];
	}
	*p = '\0';
	return buf;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hvrt_guid_parse(const char *text, struct hvrt_guid *guid)
{
	struct hvrt_guid g;
	const char *p = text;

	for (unsigned i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10) {
			if (*p++ != '-')
				return -EINVAL;
		}
		int hi = hex_value(p[0]), lo = hi < 0 ? -1 : hex_value(p[1]);
		if (lo < 0)
			return -EINVAL;
		g.bytes[text_order[i]] = (uint8_t)(hi << 4 | lo);
		p += 2;
	}
	if (*p != '\0')
		return -EINVAL;
	*guid = g;
	return 0;
}

bool hvrt_guid_equal(const struct hvrt_guid *a, const struct hvrt_guid *b)
{
	return memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

const char *hvrt_vmbus_class_name(const struct hvrt_guid *class_id)
{
	char text[HVRT_GUID_STRING_LEN];

	hvrt_guid_format(class_id, text);
	for (size_t i = 0; i < sizeof(class_text) / sizeof(class_text[0]); i++) {
		if (strcmp(text, class_text[i]) == 0)
			return class_name[i];
	}
	return NULL;
}
