/*
 * Reading a libFuzzer input front to back: little-endian integers and byte
 * strings, 0 past the end, so any input is a valid one. The layouts are
 * simple enough to write seeds by hand (tests/fuzz/make_seeds.py).
 */
#ifndef HVRT_FUZZ_INPUT_H
#define HVRT_FUZZ_INPUT_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

struct fuzz_input {
	const uint8_t *data;
	size_t pos, size;
};

static inline void fuzz_input_init(struct fuzz_input *in, const uint8_t *data, size_t size)
{
	in->data = data;
	in->pos = 0;
	in->size = size;
}

static inline size_t fuzz_left(const struct fuzz_input *in)
{
	return in->size - in->pos;
}

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
	return in->pos < in->size ? in->data[in->pos++] : 0;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t v = fuzz_u8(in);
	return (uint16_t)(v | fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t v = fuzz_u16(in);
	return v | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_input *in)
{
	uint64_t v = fuzz_u32(in);
	return v | (uint64_t)fuzz_u32(in) << 32;
}

/* Up to n bytes into dst, the rest of dst zeroed. Returns how many came from the input. */
static inline size_t fuzz_bytes(struct fuzz_input *in, void *dst, size_t n)
{
	size_t have = fuzz_left(in) < n ? fuzz_left(in) : n;

	if (have)
		memcpy(dst, in->data + in->pos, have);
	if (n > have)
		memset((uint8_t *)dst + have, 0, n - have);
	in->pos += have;
	return have;
}

/* A promise the code under test broke: say where and what, then abort (libFuzzer keeps the input). */
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: broken promise: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
