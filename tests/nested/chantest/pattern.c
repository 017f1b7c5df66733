/*
 * Data the receiver can recompute: the bytes packets are cut from, the
 * hashes that pick lengths and offsets, and the device's GPA-direct
 * checksum (FNV-1a 64).
 */
#include "chantest.h"

uint8_t pattern[PATTERN_BYTES];

/* mix64 - splitmix64's finaliser: lengths and offsets from a sequence number, spread evenly */
uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * pattern_init - random bytes that packets are cut from
 * No byte is 0x54, the magic's first (little-endian) byte: no echoed packet
 * may ever look like a control packet to the device.
 */
void pattern_init(void)
{
	for (unsigned i = 0; i < PATTERN_BYTES; i += 8) {
		uint64_t r = mix64(i);
		memcpy(pattern + i, &r, 8);
	}
	for (unsigned i = 0; i < PATTERN_BYTES; i++) {
		if (pattern[i] == (CTL_MAGIC & 0xff))
			pattern[i]++;
	}
}

/* fnv1a64 - n more bytes after h (start with FNV_BASIS): the device's GPA-direct checksum */
uint64_t fnv1a64(uint64_t h, const uint8_t *p, size_t n)
{
	while (n--)
		h = (h ^ *p++) * FNV_PRIME;
	return h;
}

/* first_difference - the first byte where a and b differ (len if none): a failure names it */
uint32_t first_difference(const uint8_t *a, const uint8_t *b, uint32_t len)
{
	uint32_t i = 0;

	while (i < len && a[i] == b[i])
		i++;
	return i;
}

/* echo_matches - whether a packet is the echo of len pattern bytes from off (the zero padding to 8 included) */
bool echo_matches(const uint8_t *got, uint32_t got_len, uint32_t off, uint32_t len)
{
	if (got_len != round8(len) || memcmp(got, pattern + off, len) != 0)
		return false;
	for (uint32_t i = len; i < got_len; i++) {
		if (got[i])
			return false;
	}
	return true;
}
