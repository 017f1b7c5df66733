/*
 * Unit tests for arch/x86_64/fmt.c, the runtime's own snprintf.
 *
 * Every supported conversion is compared byte for byte, return value
 * included, with the host C library's snprintf on the same arguments; the
 * few behaviours the C standard leaves open (a lone '%', unknown conversions,
 * a NULL %s) are pinned to what fmt.c documents.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <hvrt/log.h>

static char host[512], mine[512];

static void compare(const char *where, int host_n, int mine_n)
{
	if (host_n != mine_n || memcmp(host, mine, (size_t)host_n + 1) != 0)
		fail_msg("%s:\n  host: %d \"%s\"\n  hvrt: %d \"%s\"", where, host_n, host, mine_n, mine);
}

#define STR2(x) #x
#define STR(x) STR2(x)
/* Formats the arguments with both and compares. */
#define SAME(...)                                                                              \
	do {                                                                                   \
		memset(host, 0x7e, sizeof(host));                                              \
		memset(mine, 0x7e, sizeof(mine));                                              \
		int host_n_ = snprintf(host, sizeof(host), __VA_ARGS__);                       \
		int mine_n_ = hvrt_snprintf(mine, sizeof(mine), __VA_ARGS__);                  \
		compare("line " STR(__LINE__) ": " #__VA_ARGS__, host_n_, mine_n_);            \
	} while (0)

/* Through a pointer: formats the compiler would (rightly) warn about. */
static int (*volatile unchecked_snprintf)(char *, size_t, const char *, ...) = hvrt_snprintf;

static int (*volatile unchecked_host_snprintf)(char *, size_t, const char *, ...) = snprintf;

/* SAME for arguments the compiler's format check would refuse. */
#define SAME_UNCHECKED(...)                                                                    \
	do {                                                                                   \
		memset(host, 0x7e, sizeof(host));                                              \
		memset(mine, 0x7e, sizeof(mine));                                              \
		int host_n_ = unchecked_host_snprintf(host, sizeof(host), __VA_ARGS__);        \
		int mine_n_ = unchecked_snprintf(mine, sizeof(mine), __VA_ARGS__);             \
		compare("line " STR(__LINE__) ": " #__VA_ARGS__, host_n_, mine_n_);            \
	} while (0)

/* Formats with hvrt only and checks the exact text. */
#define IS(want, ...)                                                                          \
	do {                                                                                   \
		int mine_n_ = unchecked_snprintf(mine, sizeof(mine), __VA_ARGS__);             \
		assert_string_equal(mine, want);                                               \
		assert_int_equal(mine_n_, strlen(want));                                       \
	} while (0)

/* Signed and unsigned decimal, hex, with the extremes of int. */
static void test_integers(void **state)
{
	(void)state;
	SAME("%d", 0);
	SAME("%d", 1);
	SAME("%d", -1);
	SAME("%d", 42);
	SAME("%d", INT_MAX);
	SAME("%d", INT_MIN);
	SAME("%i", -12345);
	SAME("%i", INT_MIN);
	SAME("%u", 0u);
	SAME("%u", 3000000000u);
	SAME("%u", UINT_MAX);
	SAME("%x", 0u);
	SAME("%x", 0xdeadbeefu);
	SAME("%X", 0xdeadbeefu);
	SAME("%x", UINT_MAX);
	SAME("%X", 0xabcdef01u);
	SAME("%x", 10u);
}

/* Field width, '-' and '0' flags, and width from the arguments. */
static void test_width_flags(void **state)
{
	(void)state;
	SAME("[%5d]", 42);
	SAME("[%-5d]", 42);
	SAME("[%05d]", 42);
	SAME("[%05d]", -42);
	SAME("[%5d]", -42);
	SAME("[%-5d]", -42);
	IS("[42   ]", "[%-05d]", 42); /* '-' beats '0' */
	/* '#': 0x before a non-zero hexadecimal number, inside the padding as C puts it */
	SAME("[%#x]", 0xdeadbeefu);
	SAME("[%#x]", 0u);
	SAME("[%#X]", 255u);
	SAME("[%#10x]", 0x1fu);
	SAME("[%-#10x]", 0x1fu);
	SAME("[%#010x]", 0x1fu);
	SAME("[%#lx]", 0x123456789abcdefUL);
	SAME("[%#x] %d", 0x10u, 7); /* the next argument is not shifted */
	IS("[42   ]", "[%0-5d]", 42);
	IS("[-42  ]", "[%-05d]", -42);
	SAME("[%1d]", 12345);
	SAME("[%2d]", -12345);
	SAME("[%08x]", 0xbeefu);
	SAME("[%8X]", 0xbeefu);
	SAME("[%-8x]", 0xbeefu);
	SAME("[%010u]", 4000000000u);
	SAME("[%20d]", INT_MIN);
	SAME("[%020d]", INT_MIN);
	SAME("[%*d]", 6, 42);
	SAME("[%*d]", -6, 42);
	SAME("[%-*d]", 6, 42);
	SAME("[%0*d]", 6, -42);
	SAME("[%*d]", 0, 7);
	SAME("[%*s]", 5, "ab");
	SAME("[%*s]", -5, "ab");
	SAME("[%100d]", 1);
}

/* Strings, characters, precision for %s, and %%. */
static void test_strings_chars(void **state)
{
	(void)state;
	SAME("%s", "");
	SAME("%s", "hello");
	SAME("[%10s]", "hello");
	SAME("[%-10s]", "hello");
	SAME("[%3s]", "hello");
	SAME("[%.3s]", "hello");
	SAME("[%.0s]", "hello");
	SAME("[%.10s]", "hello");
	SAME("[%8.3s]", "hello");
	SAME("[%-8.3s]", "hello");
	SAME("[%.*s]", 2, "hello");
	SAME("[%.*s]", 0, "hello");
	SAME("[%.*s]", -1, "hello"); /* a negative precision is as if omitted */
	SAME("[%*.*s]", 6, 2, "hello");
	SAME("%c", 'x');
	SAME("[%3c]", 'x');
	SAME("[%-3c]", 'x');
	SAME("%c%c%c", 'a', 'b', 'c');
	SAME("%%");
	SAME("100%% of %d%%", 5);
	SAME("%s=%d (0x%x)%c", "key", -7, 0x1fu, '!');
	SAME("no conversions at all");
	IS("", "");
}

/*
 * With a precision, %s reads no byte past it: the array need not be
 * NUL-terminated (C11 7.21.6.1p8). The bytes end flush against a PROT_NONE
 * page, so a read past them faults (cmocka reports the signal as a failure).
 */
static void test_precision_stops_reading(void **state)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + page, page, PROT_NONE), 0);
	char *abc = map + page - 3;
	memcpy(abc, "abc", 3);
	int n3 = hvrt_snprintf(mine, sizeof(mine), "[%.3s]", abc);
	int n0 = hvrt_snprintf(host, sizeof(host), "[%.*s]", 0, map + page);
	munmap(map, 2 * page);
	assert_int_equal(n3, 5);
	assert_string_equal(mine, "[abc]");
	assert_int_equal(n0, 2);
	assert_string_equal(host, "[]");
}

/* A NUL %c is output like any byte and counted. */
static void test_nul_char(void **state)
{
	(void)state;
	int host_n = snprintf(host, sizeof(host), "a%cb", 0);
	int mine_n = hvrt_snprintf(mine, sizeof(mine), "a%cb", 0);
	assert_int_equal(host_n, 3);
	assert_int_equal(mine_n, 3);
	assert_memory_equal(mine, "a\0b", 4);
}

/* %p: 0x and lowercase hex, padded by the width. */
static void test_pointers(void **state)
{
	(void)state;
	SAME("%p", (void *)0x1234);
	SAME("%p", (void *)(uintptr_t)0xffff800000001000ull);
	SAME("%p", (void *)(uintptr_t)UINT64_MAX);
	SAME("[%20p]", (void *)0xabc);
	SAME("[%-20p]", (void *)0xabc);
	SAME("%p", (void *)&host);
}

/* l, ll and z modifiers up to 64-bit extremes. */
static void test_long_modifiers(void **state)
{
	(void)state;
	SAME("%ld", LONG_MIN);
	SAME("%ld", LONG_MAX);
	SAME("%lu", ULONG_MAX);
	SAME("%lx", 0x123456789abcdefUL);
	SAME("%lX", 0xfedcba9876543210UL);
	SAME("%li", -1L);
	SAME("%lld", (long long)INT64_MIN);
	SAME("%lld", (long long)INT64_MAX);
	SAME("%llu", (unsigned long long)UINT64_MAX);
	SAME("%llx", (unsigned long long)UINT64_MAX);
	SAME("%llX", 0xabcdef0123456789ULL);
	SAME("[%025lld]", (long long)INT64_MIN);
	SAME("[%-25llu]", (unsigned long long)UINT64_MAX);
	SAME("%zu", SIZE_MAX);
	SAME("%zu", (size_t)0);
	SAME("%zx", (size_t)0xdeadbeefcafeULL);
	SAME("%zd", (ssize_t)-5);
	SAME("%zd", (ssize_t)LONG_MIN);
	SAME("[%8zu]", (size_t)1234);
	/* arguments after a 64-bit one are still picked up right */
	SAME("%llu %d %lu %s", 1ULL << 40, -3, 7UL, "end");
}

/*
 * hh and h convert the (promoted) argument to char or short, as C requires.
 * A signed char byte printed with %hhx is the classic case.
 */
static void test_short_modifiers(void **state)
{
	(void)state;
	SAME("%hhd", (signed char)'A');
	SAME("%hhd", (signed char)-100);
	SAME("%hd", (short)-1234);
	SAME("%hu", (unsigned short)65535);
	SAME("%hhx", (signed char)-1);  /* the promoted int is -1: ff, not ffffffff */
	SAME("%hx", (short)-1);         /* ffff */
	SAME("%hhu", (signed char)-56); /* 200 */
	SAME("%hu", (short)-25536);     /* 40000 */
	/* out-of-range ints, which C converts to the narrow type */
	SAME_UNCHECKED("%hhd", 300);   /* 44 */
	SAME_UNCHECKED("%hhd", 200);   /* -56 */
	SAME_UNCHECKED("%hhu", 257);   /* 1 */
	SAME_UNCHECKED("%hhX", 0x1ab); /* AB */
	SAME_UNCHECKED("%hd", 70000);  /* 4464 */
	SAME_UNCHECKED("%hd", 40000);  /* -25536 */
	SAME_UNCHECKED("%hu", 65537);  /* 1 */
	SAME("%02hhx%02hhx", (signed char)-16, (signed char)5); /* f005 */
}

/* What C leaves undefined, pinned to fmt.c's documented choices. */
static void test_own_behaviour(void **state)
{
	const char *volatile null_str = NULL; /* opaque to the compiler */

	(void)state;
	IS("(null)", "%s", null_str);
	IS("[  (null)]", "[%8s]", null_str);
	IS("abc%", "abc%");
	IS("%q", "%q");
	IS("50%!", "50%!");
}

/* Truncation: the full length is returned, the buffer is cut and NUL-terminated, nothing written past size. */
static void test_truncation(void **state)
{
	char buf[32];

	(void)state;
	for (size_t size = 0; size <= 20; size++) {
		memset(buf, 0x7e, sizeof(buf));
		memset(host, 0x7e, sizeof(host));
		int n = hvrt_snprintf(buf, size, "hello %d%s", 12345, "!!");
		int hn = snprintf(host, size, "hello %d%s", 12345, "!!");
		assert_int_equal(n, 13);
		assert_int_equal(hn, 13);
		if (size == 0) {
			assert_int_equal((unsigned char)buf[0], 0x7e);
		} else {
			size_t kept = size - 1 < 13 ? size - 1 : 13;
			assert_memory_equal(buf, "hello 12345!!", kept);
			assert_int_equal(buf[kept], '\0');
			assert_memory_equal(buf, host, kept + 1);
		}
		for (size_t i = size; i < sizeof(buf); i++)
			if ((unsigned char)buf[i] != 0x7e)
				fail_msg("size %zu: byte %zu written", size, i);
	}

	/* size 0 with no buffer at all */
	assert_int_equal(hvrt_snprintf(NULL, 0, "%s %d", "abc", 123456), 10);

	/* size 1: only the NUL */
	memset(buf, 0x7e, sizeof(buf));
	assert_int_equal(hvrt_snprintf(buf, 1, "%20d", 5), 20);
	assert_int_equal(buf[0], '\0');
	assert_int_equal((unsigned char)buf[1], 0x7e);

	/* cut in the middle of padding, of a number, of a string */
	assert_int_equal(hvrt_snprintf(buf, 4, "%-8d|", 12), 9);
	assert_string_equal(buf, "12 ");
	assert_int_equal(hvrt_snprintf(buf, 6, "%llu", (unsigned long long)UINT64_MAX), 20);
	assert_string_equal(buf, "18446");
	assert_int_equal(hvrt_snprintf(buf, 3, "%s", "truncate"), 8);
	assert_string_equal(buf, "tr");
	/* an exact fit */
	assert_int_equal(hvrt_snprintf(buf, 6, "%s", "exact"), 5);
	assert_string_equal(buf, "exact");
}

static int via_va_list(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int via_va_list(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = hvrt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* hvrt_vsnprintf takes the same arguments through a va_list. */
static void test_vsnprintf(void **state)
{
	(void)state;
	assert_int_equal(via_va_list(mine, sizeof(mine), "%s:%d:%llx", "f", -9, 0xabcULL), 8);
	assert_string_equal(mine, "f:-9:abc");
	assert_int_equal(via_va_list(mine, 4, "%s", "abcdef"), 6);
	assert_string_equal(mine, "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_width_flags),
		cmocka_unit_test(test_strings_chars),
		cmocka_unit_test(test_precision_stops_reading),
		cmocka_unit_test(test_nul_char),
		cmocka_unit_test(test_pointers),
		cmocka_unit_test(test_long_modifiers),
		cmocka_unit_test(test_short_modifiers),
		cmocka_unit_test(test_own_behaviour),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_vsnprintf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
