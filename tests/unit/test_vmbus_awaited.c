/*
 * The set of transaction ids awaiting a completion (vmbus/awaited.c): a
 * multiset with a bound, checked against a plain array that does the same by
 * brute force.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>

#include "vmbus/awaited.h"

static void test_add_take(void **state)
{
	struct vmbus_awaited set;
	(void)state;

	assert_int_equal(vmbus_awaited_init(&set, 4), 0);
	assert_false(vmbus_awaited_take(&set, 0));
	assert_int_equal(vmbus_awaited_add(&set, 0), 0); /* 0 is an id like any other */
	assert_int_equal(vmbus_awaited_add(&set, 7), 0);
	assert_int_equal(vmbus_awaited_add(&set, 7), 0);
	assert_int_equal(vmbus_awaited_add(&set, UINT64_MAX), 0);
	assert_true(vmbus_awaited_full(&set));
	assert_int_equal(vmbus_awaited_add(&set, 9), -EAGAIN);
	assert_false(vmbus_awaited_take(&set, 9));
	assert_true(vmbus_awaited_take(&set, 7));
	assert_true(vmbus_awaited_take(&set, 7));
	assert_false(vmbus_awaited_take(&set, 7)); /* each send counts once */
	assert_true(vmbus_awaited_take(&set, 0));
	assert_true(vmbus_awaited_take(&set, UINT64_MAX));
	assert_int_equal(set.count, 0);
	vmbus_awaited_free(&set);
	vmbus_awaited_free(&set); /* twice is harmless */
}

static void test_bounds(void **state)
{
	struct vmbus_awaited set;
	(void)state;

	assert_int_equal(vmbus_awaited_init(&set, 0), -EINVAL);
	assert_int_equal(vmbus_awaited_init(&set, (1u << 24) + 1), -EINVAL);
	assert_int_equal(vmbus_awaited_init(&set, 1), 0);
	assert_int_equal(vmbus_awaited_add(&set, 5), 0);
	assert_int_equal(vmbus_awaited_add(&set, 6), -EAGAIN);
	vmbus_awaited_free(&set);
	/* at most three quarters full, a power of two */
	assert_int_equal(vmbus_awaited_init(&set, 682), 0);
	assert_int_equal(set.slots, 1024);
	vmbus_awaited_free(&set);
}

/* Random adds and takes against a reference array, over ids that collide often. */
static void test_random_against_reference(void **state)
{
	enum { MAX = 300, ROUNDS = 200000 };
	uint64_t ref[MAX];
	unsigned nref = 0;
	struct vmbus_awaited set;
	(void)state;

	srand(12345);
	assert_int_equal(vmbus_awaited_init(&set, MAX), 0);
	for (unsigned round = 0; round < ROUNDS; round++) {
		/* Small ids repeat; multiples of the slot count land on one home slot. */
		uint64_t id = (rand() % 2) ? (uint64_t)(rand() % 64) : (uint64_t)(rand() % 512) * set.slots;
		if (rand() % 2) {
			int err = vmbus_awaited_add(&set, id);
			if (nref == MAX) {
				assert_int_equal(err, -EAGAIN);
			} else {
				assert_int_equal(err, 0);
				ref[nref++] = id;
			}
		} else {
			unsigned i;
			for (i = 0; i < nref && ref[i] != id; i++)
				;
			bool there = i < nref;
			assert_int_equal(vmbus_awaited_take(&set, id), there);
			if (there)
				ref[i] = ref[--nref];
		}
		assert_int_equal(set.count, nref);
	}
	/* everything still there can be taken, and then nothing */
	while (nref)
		assert_true(vmbus_awaited_take(&set, ref[--nref]));
	for (uint64_t id = 0; id < 64; id++)
		assert_false(vmbus_awaited_take(&set, id));
	vmbus_awaited_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_take),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_random_against_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
