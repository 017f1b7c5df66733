/*
 * Unit tests for libc-glue/heap.c: sbrk() over a fixed block, as newlib's
 * malloc drives it. The heap holds addresses only, so a made-up range is used.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <hvrt/log.h>

#include "arch/x86_64/console.h"
#include "libc-glue/heap.h"
#include "tests/unit/log_capture.h"


#define BASE ((uintptr_t)0x40000000)
#define SIZE ((size_t)0x100000)
#define FAIL ((void *)-1)

static struct heap h;

static int setup(void **state)
{
	(void)state;
	log_capture_start();
	memset(&h, 0xaa, sizeof(h));
	heap_init(&h, BASE, SIZE);
	errno = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	console_reset();
	return 0;
}

/* sbrk returns the old break and moves it by the increment, both ways; 0 just reads it. */
static void test_grow_shrink(void **state)
{
	(void)state;
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)BASE);
	assert_ptr_equal(heap_sbrk(&h, 0x1000), (void *)BASE);
	assert_ptr_equal(heap_sbrk(&h, 0x10), (void *)(BASE + 0x1000));
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)(BASE + 0x1010));
	assert_ptr_equal(heap_sbrk(&h, -0x10), (void *)(BASE + 0x1010));
	assert_ptr_equal(heap_sbrk(&h, -0x1000), (void *)(BASE + 0x1000));
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)BASE);
	assert_int_equal(errno, 0);
	assert_int_equal(loglen, 0);
}

/* The whole block can be taken, to its last byte, and given back entirely. */
static void test_exact_limits(void **state)
{
	(void)state;
	assert_ptr_equal(heap_sbrk(&h, (intptr_t)SIZE - 1), (void *)BASE);
	assert_ptr_equal(heap_sbrk(&h, 1), (void *)(BASE + SIZE - 1));
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)(BASE + SIZE));
	assert_ptr_equal(heap_sbrk(&h, -(intptr_t)SIZE), (void *)(BASE + SIZE));
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)BASE);
	assert_int_equal(errno, 0);
}

/* Growing past the end: refused, break unchanged, ENOMEM, and the numbers in the log. */
static void test_grow_past_end(void **state)
{
	(void)state;
	assert_ptr_equal(heap_sbrk(&h, 0x3000), (void *)BASE);
	assert_ptr_equal(heap_sbrk(&h, (intptr_t)SIZE), FAIL);
	assert_int_equal(errno, ENOMEM);
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)(BASE + 0x3000));
	assert_string_equal(logbuf,
			    "hvrt: heap: error: out of memory: 1048576 more bytes asked, 12288 of 1048576 in use\n");

	/* one byte past the end */
	log_clear();
	errno = 0;
	assert_ptr_equal(heap_sbrk(&h, (intptr_t)(SIZE - 0x3000) + 1), FAIL);
	assert_int_equal(errno, ENOMEM);
	assert_string_equal(logbuf,
			    "hvrt: heap: error: out of memory: 1036289 more bytes asked, 12288 of 1048576 in use\n");

	/* a request that would wrap the address space */
	errno = 0;
	assert_ptr_equal(heap_sbrk(&h, INTPTR_MAX), FAIL);
	assert_int_equal(errno, ENOMEM);
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)(BASE + 0x3000));
}

/* Shrinking below the start: refused with ENOMEM, break unchanged. */
static void test_shrink_below_base(void **state)
{
	(void)state;
	assert_ptr_equal(heap_sbrk(&h, -1), FAIL);
	assert_int_equal(errno, ENOMEM);
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)BASE);

	assert_ptr_equal(heap_sbrk(&h, 0x100), (void *)BASE);
	errno = 0;
	assert_ptr_equal(heap_sbrk(&h, -0x101), FAIL);
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_ptr_equal(heap_sbrk(&h, INTPTR_MIN), FAIL);
	assert_int_equal(errno, ENOMEM);
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)(BASE + 0x100));
	assert_ptr_equal(heap_sbrk(&h, -0x100), (void *)(BASE + 0x100));
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)BASE);
}

/* Four refusals are logged; later ones are still refused, silently. */
static void test_log_limit(void **state)
{
	(void)state;
	for (int i = 0; i < 10; i++) {
		errno = 0;
		assert_ptr_equal(heap_sbrk(&h, (intptr_t)SIZE + 1 + i), FAIL);
		assert_int_equal(errno, ENOMEM);
		assert_int_equal(loglines, i < 4 ? (unsigned)i + 1 : 4u);
	}
	assert_non_null(strstr(logbuf, "out of memory: 1048580 more bytes asked, 0 of 1048576 in use\n"));
	assert_null(strstr(logbuf, "1048581 more bytes"));
	/* growing within bounds still works */
	assert_ptr_equal(heap_sbrk(&h, 0x10), (void *)BASE);
	assert_int_equal(loglines, 4u);
}

/* An empty heap refuses every growth. */
static void test_empty_heap(void **state)
{
	(void)state;
	heap_init(&h, BASE, 0);
	assert_ptr_equal(heap_sbrk(&h, 0), (void *)BASE);
	assert_ptr_equal(heap_sbrk(&h, 1), FAIL);
	assert_int_equal(errno, ENOMEM);
	assert_non_null(strstr(logbuf, "1 more bytes asked, 0 of 0 in use"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_grow_shrink),
		T(test_exact_limits),
		T(test_grow_past_end),
		T(test_shrink_below_base),
		T(test_log_limit),
		T(test_empty_heap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
