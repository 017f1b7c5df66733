/*
 * Unit tests for arch/x86_64/pagealloc.c, the physical page allocator.
 *
 * After every operation check_invariants() verifies the free list: sorted,
 * page aligned, non-empty, disjoint, never touching (touching ranges must
 * have been merged), and free_pages equal to the pages the ranges hold. A
 * randomized run compares the allocator with a page bitmap model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86_64/pagealloc.h"

#define P(n) ((uint64_t)(n) * PAGE_SIZE)

static void check_invariants(const struct pagealloc *pa)
{
	uint64_t pages = 0;

	assert_true(pa->count <= PAGEALLOC_RANGES_MAX);
	for (unsigned i = 0; i < pa->count; i++) {
		const struct pagealloc_range *r = &pa->ranges[i];
		assert_int_equal(r->base % PAGE_SIZE, 0);
		assert_int_equal(r->end % PAGE_SIZE, 0);
		assert_true(r->base < r->end);
		if (i > 0)
			assert_true(pa->ranges[i - 1].end < r->base); /* disjoint and merged */
		pages += (r->end - r->base) / PAGE_SIZE;
	}
	assert_int_equal(pa->free_pages, pages);
}

struct want_range {
	uint64_t base, end;
};

static void assert_ranges(const struct pagealloc *pa, const struct want_range *w, unsigned n)
{
	check_invariants(pa);
	for (unsigned i = 0; i < n && i < pa->count; i++)
		if (pa->ranges[i].base != w[i].base || pa->ranges[i].end != w[i].end)
			fail_msg("range %u: got [0x%llx, 0x%llx), expected [0x%llx, 0x%llx)", i,
				 (unsigned long long)pa->ranges[i].base, (unsigned long long)pa->ranges[i].end,
				 (unsigned long long)w[i].base, (unsigned long long)w[i].end);
	assert_int_equal(pa->count, n);
}

#define RANGES(pa, ...)                                                                        \
	do {                                                                                   \
		static const struct want_range want_[] = { __VA_ARGS__ };                      \
		assert_ranges((pa), want_, sizeof(want_) / sizeof(want_[0]));                  \
	} while (0)

static struct pagealloc pa;

static int setup(void **state)
{
	(void)state;
	memset(&pa, 0xaa, sizeof(pa));
	pagealloc_init(&pa);
	assert_int_equal(pa.count, 0);
	assert_int_equal(pa.free_pages, 0);
	return 0;
}

/* ---- add ---- */

/* Ranges shrink inward to whole pages; ones too small for a page are ignored (and succeed). */
static void test_add_alignment(void **state)
{
	(void)state;
	assert_int_equal(pagealloc_add(&pa, 0x1001, 0x3000), 0); /* [0x1001, 0x4001) -> [0x2000, 0x4000) */
	RANGES(&pa, { 0x2000, 0x4000 });
	assert_int_equal(pa.free_pages, 2);

	assert_int_equal(pagealloc_add(&pa, 0x10000, 0x1fff), 0); /* less than a page at the end */
	RANGES(&pa, { 0x2000, 0x4000 }, { 0x10000, 0x11000 });

	/* nothing whole inside */
	assert_int_equal(pagealloc_add(&pa, 0x20001, 0x1fff), 0); /* [0x20001, 0x22000): exactly one page 0x21000 */
	RANGES(&pa, { 0x2000, 0x4000 }, { 0x10000, 0x11000 }, { 0x21000, 0x22000 });
	assert_int_equal(pagealloc_add(&pa, 0x30001, 0x1ffe), 0);
	assert_int_equal(pagealloc_add(&pa, 0x40000, 0xfff), 0);
	assert_int_equal(pagealloc_add(&pa, 0x50000, 0), 0);
	assert_int_equal(pagealloc_add(&pa, 0x60800, 0x1000), 0);
	RANGES(&pa, { 0x2000, 0x4000 }, { 0x10000, 0x11000 }, { 0x21000, 0x22000 });
	assert_int_equal(pa.free_pages, 4);
}

/* Adding next to existing ranges merges; below, between and above keeps order. */
static void test_add_merge_and_order(void **state)
{
	(void)state;
	assert_int_equal(pagealloc_add(&pa, P(10), P(2)), 0);
	assert_int_equal(pagealloc_add(&pa, P(20), P(2)), 0);
	assert_int_equal(pagealloc_add(&pa, P(1), P(2)), 0);  /* below all */
	assert_int_equal(pagealloc_add(&pa, P(30), P(1)), 0); /* above all */
	assert_int_equal(pagealloc_add(&pa, P(15), P(1)), 0); /* between */
	RANGES(&pa, { P(1), P(3) }, { P(10), P(12) }, { P(15), P(16) }, { P(20), P(22) }, { P(30), P(31) });
	assert_int_equal(pagealloc_add(&pa, P(12), P(3)), 0); /* joins 10..12 and 15..16 */
	RANGES(&pa, { P(1), P(3) }, { P(10), P(16) }, { P(20), P(22) }, { P(30), P(31) });
	assert_int_equal(pagealloc_add(&pa, P(22), P(1)), 0); /* joins the previous only */
	assert_int_equal(pagealloc_add(&pa, P(29), P(1)), 0); /* joins the next only */
	RANGES(&pa, { P(1), P(3) }, { P(10), P(16) }, { P(20), P(23) }, { P(29), P(31) });
	assert_int_equal(pa.free_pages, 2 + 6 + 3 + 2);
}

/* Overlapping free memory already added is refused and changes nothing. */
static void test_add_overlap(void **state)
{
	(void)state;
	assert_int_equal(pagealloc_add(&pa, P(10), P(10)), 0);
	assert_int_equal(pagealloc_add(&pa, P(10), P(10)), -EINVAL);  /* same */
	assert_int_equal(pagealloc_add(&pa, P(5), P(6)), -EINVAL);    /* over the start */
	assert_int_equal(pagealloc_add(&pa, P(19), P(5)), -EINVAL);   /* over the end */
	assert_int_equal(pagealloc_add(&pa, P(12), P(1)), -EINVAL);   /* inside */
	assert_int_equal(pagealloc_add(&pa, P(0), P(100)), -EINVAL);  /* around */
	assert_int_equal(pagealloc_add(&pa, P(10), P(1)), -EINVAL);   /* same base */
	RANGES(&pa, { P(10), P(20) });
	assert_int_equal(pa.free_pages, 10);
	/* a wrapping range */
	assert_int_equal(pagealloc_add(&pa, 0xfffffffffffff000ull, 0x2000), -EINVAL);
	RANGES(&pa, { P(10), P(20) });
}

/* PAGEALLOC_RANGES_MAX separate ranges fit; one more is -ENOSPC, but one that merges still fits. */
static void test_add_list_full(void **state)
{
	(void)state;
	for (unsigned i = 0; i < PAGEALLOC_RANGES_MAX; i++)
		assert_int_equal(pagealloc_add(&pa, P(2 * i + 1), P(1)), 0);
	check_invariants(&pa);
	assert_int_equal(pa.count, PAGEALLOC_RANGES_MAX);
	assert_int_equal(pagealloc_add(&pa, P(1000), P(1)), -ENOSPC);
	check_invariants(&pa);
	assert_int_equal(pa.free_pages, PAGEALLOC_RANGES_MAX);
	/* filling a gap merges two ranges into one */
	assert_int_equal(pagealloc_add(&pa, P(2), P(1)), 0);
	check_invariants(&pa);
	assert_int_equal(pa.count, PAGEALLOC_RANGES_MAX - 1);
	assert_int_equal(pa.ranges[0].base, P(1));
	assert_int_equal(pa.ranges[0].end, P(4));
	/* extending the last range needs no entry */
	assert_int_equal(pagealloc_add(&pa, P(2 * PAGEALLOC_RANGES_MAX), P(5)), 0);
	check_invariants(&pa);
}

/* ---- reserve ---- */

static void add_three(void)
{
	assert_int_equal(pagealloc_add(&pa, P(10), P(10)), 0);
	assert_int_equal(pagealloc_add(&pa, P(30), P(10)), 0);
	assert_int_equal(pagealloc_add(&pa, P(50), P(10)), 0);
}

static void test_reserve_start_end(void **state)
{
	(void)state;
	add_three();
	assert_int_equal(pagealloc_reserve(&pa, P(10), P(2)), 0); /* start */
	RANGES(&pa, { P(12), P(20) }, { P(30), P(40) }, { P(50), P(60) });
	assert_int_equal(pagealloc_reserve(&pa, P(38), P(2)), 0); /* end */
	RANGES(&pa, { P(12), P(20) }, { P(30), P(38) }, { P(50), P(60) });
	/* unaligned: every page the range touches goes */
	assert_int_equal(pagealloc_reserve(&pa, P(12) + 0x800, 0x1000), 0); /* touches pages 12 and 13 */
	RANGES(&pa, { P(14), P(20) }, { P(30), P(38) }, { P(50), P(60) });
	assert_int_equal(pagealloc_reserve(&pa, P(59) + 0xfff, 1), 0); /* the last byte */
	RANGES(&pa, { P(14), P(20) }, { P(30), P(38) }, { P(50), P(59) });
	assert_int_equal(pa.free_pages, 6 + 8 + 9);
}

static void test_reserve_middle_split(void **state)
{
	(void)state;
	add_three();
	assert_int_equal(pagealloc_reserve(&pa, P(33), P(2) + 1), 0); /* pages 33, 34, 35 */
	RANGES(&pa, { P(10), P(20) }, { P(30), P(33) }, { P(36), P(40) }, { P(50), P(60) });
	assert_int_equal(pa.free_pages, 10 + 3 + 4 + 10);
}

static void test_reserve_whole_and_outside(void **state)
{
	(void)state;
	add_three();
	assert_int_equal(pagealloc_reserve(&pa, P(30), P(10)), 0); /* exactly a range */
	RANGES(&pa, { P(10), P(20) }, { P(50), P(60) });
	assert_int_equal(pagealloc_reserve(&pa, P(20), P(30)), 0); /* the hole between: nothing */
	assert_int_equal(pagealloc_reserve(&pa, P(100), P(1)), 0);
	assert_int_equal(pagealloc_reserve(&pa, P(12), 0), 0);     /* empty: nothing */
	RANGES(&pa, { P(10), P(20) }, { P(50), P(60) });
	assert_int_equal(pa.free_pages, 20);
}

static void test_reserve_spanning(void **state)
{
	(void)state;
	add_three();
	/* from inside the first, across the second, into the third */
	assert_int_equal(pagealloc_reserve(&pa, P(15), P(40)), 0);
	RANGES(&pa, { P(10), P(15) }, { P(55), P(60) });
	assert_int_equal(pa.free_pages, 10);

	/* all of it */
	setup(NULL);
	add_three();
	assert_int_equal(pagealloc_reserve(&pa, 0, P(1000)), 0);
	check_invariants(&pa);
	assert_int_equal(pa.count, 0);
	assert_int_equal(pa.free_pages, 0);
}

/* Reserving to the end of the address space takes everything from base up. */
static void test_reserve_to_top(void **state)
{
	(void)state;
	add_three();
	assert_int_equal(pagealloc_reserve(&pa, P(35), UINT64_MAX - P(35)), 0);
	RANGES(&pa, { P(10), P(20) }, { P(30), P(35) });
	assert_int_equal(pa.free_pages, 15);

	setup(NULL);
	add_three();
	assert_int_equal(pagealloc_reserve(&pa, 0, UINT64_MAX), 0); /* "everything" */
	check_invariants(&pa);
	assert_int_equal(pa.count, 0);
	assert_int_equal(pa.free_pages, 0);

	setup(NULL);
	add_three();
	assert_int_equal(pagealloc_reserve(&pa, P(55), UINT64_MAX), 0); /* wraps: clamps to the top */
	RANGES(&pa, { P(10), P(20) }, { P(30), P(40) }, { P(50), P(55) });
}

/* A split with the list full is -ENOSPC and leaves the accounting consistent. */
static void test_reserve_split_list_full(void **state)
{
	(void)state;
	for (unsigned i = 0; i < PAGEALLOC_RANGES_MAX; i++)
		assert_int_equal(pagealloc_add(&pa, P(10 * i + 10), P(5)), 0);
	uint64_t before = pa.free_pages;
	assert_int_equal(pagealloc_reserve(&pa, P(12), P(1)), -ENOSPC);
	check_invariants(&pa);
	assert_int_equal(pa.free_pages, before);
	assert_int_equal(pa.ranges[0].base, P(10));
	assert_int_equal(pa.ranges[0].end, P(15));
	/* trimming an end needs no entry */
	assert_int_equal(pagealloc_reserve(&pa, P(10), P(1)), 0);
	check_invariants(&pa);
	assert_int_equal(pa.free_pages, before - 1);
}

/* ---- alloc / free ---- */

/* First fit: the lowest range large enough, from its start. */
static void test_alloc_first_fit(void **state)
{
	(void)state;
	assert_int_equal(pagealloc_add(&pa, P(10), P(2)), 0);
	assert_int_equal(pagealloc_add(&pa, P(20), P(8)), 0);
	assert_int_equal(pagealloc_add(&pa, P(40), P(4)), 0);

	assert_int_equal(pagealloc_alloc(&pa, 4), P(20));
	RANGES(&pa, { P(10), P(12) }, { P(24), P(28) }, { P(40), P(44) });
	assert_int_equal(pagealloc_alloc(&pa, 1), P(10));
	assert_int_equal(pagealloc_alloc(&pa, 1), P(11)); /* empties the first range */
	RANGES(&pa, { P(24), P(28) }, { P(40), P(44) });
	assert_int_equal(pagealloc_alloc(&pa, 4), P(24));
	assert_int_equal(pagealloc_alloc(&pa, 4), P(40));
	check_invariants(&pa);
	assert_int_equal(pa.count, 0);
	assert_int_equal(pa.free_pages, 0);
}

/* No range large enough, zero pages, or an absurd count: 0, nothing changes. */
static void test_alloc_exhaustion(void **state)
{
	(void)state;
	assert_int_equal(pagealloc_alloc(&pa, 1), 0);
	assert_int_equal(pagealloc_add(&pa, P(10), P(3)), 0);
	assert_int_equal(pagealloc_add(&pa, P(20), P(3)), 0);
	assert_int_equal(pagealloc_alloc(&pa, 4), 0); /* 6 free, but not contiguous */
	assert_int_equal(pagealloc_alloc(&pa, 0), 0);
	assert_int_equal(pagealloc_alloc(&pa, SIZE_MAX), 0);
	assert_int_equal(pagealloc_alloc(&pa, SIZE_MAX / PAGE_SIZE), 0);
	RANGES(&pa, { P(10), P(13) }, { P(20), P(23) });
	assert_int_equal(pa.free_pages, 6);
	for (int i = 0; i < 6; i++)
		assert_int_not_equal(pagealloc_alloc(&pa, 1), 0);
	assert_int_equal(pagealloc_alloc(&pa, 1), 0);
	assert_int_equal(pa.free_pages, 0);
}

/* Freeing merges with the previous range, the next, or both. */
static void test_free_merges(void **state)
{
	(void)state;
	assert_int_equal(pagealloc_add(&pa, P(10), P(10)), 0);
	uint64_t a = pagealloc_alloc(&pa, 2); /* 10-11 */
	uint64_t b = pagealloc_alloc(&pa, 3); /* 12-14 */
	uint64_t c = pagealloc_alloc(&pa, 1); /* 15 */
	assert_int_equal(a, P(10));
	assert_int_equal(b, P(12));
	assert_int_equal(c, P(15));
	RANGES(&pa, { P(16), P(20) });

	assert_int_equal(pagealloc_free(&pa, b, 3), 0); /* alone */
	RANGES(&pa, { P(12), P(15) }, { P(16), P(20) });
	assert_int_equal(pagealloc_free(&pa, c, 1), 0); /* both neighbours */
	RANGES(&pa, { P(12), P(20) });
	assert_int_equal(pagealloc_free(&pa, a + P(1), 1), 0); /* the next */
	RANGES(&pa, { P(11), P(20) });
	assert_int_equal(pagealloc_free(&pa, a, 1), 0);
	RANGES(&pa, { P(10), P(20) });
	assert_int_equal(pa.free_pages, 10);

	/* the previous */
	uint64_t d = pagealloc_alloc(&pa, 10);
	assert_int_equal(d, P(10));
	assert_int_equal(pagealloc_free(&pa, P(10), 4), 0);
	assert_int_equal(pagealloc_free(&pa, P(14), 2), 0);
	RANGES(&pa, { P(10), P(16) });
	assert_int_equal(pagealloc_free(&pa, P(16), 0), 0); /* nothing */
	RANGES(&pa, { P(10), P(16) });
}

/* Double and partial double frees, unaligned and wrapping frees are refused and change nothing. */
static void test_free_errors(void **state)
{
	(void)state;
	assert_int_equal(pagealloc_add(&pa, P(10), P(10)), 0);
	uint64_t a = pagealloc_alloc(&pa, 4);
	assert_int_equal(a, P(10));
	assert_int_equal(pagealloc_free(&pa, a, 4), 0);
	assert_int_equal(pagealloc_free(&pa, a, 4), -EINVAL);         /* double */
	assert_int_equal(pagealloc_free(&pa, P(19), 1), -EINVAL);     /* never allocated */
	RANGES(&pa, { P(10), P(20) });

	a = pagealloc_alloc(&pa, 4);
	assert_int_equal(pagealloc_free(&pa, a, 5), -EINVAL);         /* one page too many */
	assert_int_equal(pagealloc_free(&pa, a + 0x800, 1), -EINVAL); /* unaligned */
	assert_int_equal(pagealloc_free(&pa, a + 1, 1), -EINVAL);
	assert_int_equal(pagealloc_free(&pa, 0xfffffffffffff000ull, 2), -EINVAL); /* wraps */
	assert_int_equal(pagealloc_free(&pa, 0xfffffffffffff000ull, 1), -EINVAL); /* ends at 2^64 */
	assert_int_equal(pagealloc_free(&pa, P(1), SIZE_MAX), -EINVAL);
	RANGES(&pa, { P(14), P(20) });
	assert_int_equal(pa.free_pages, 6);
	assert_int_equal(pagealloc_free(&pa, a, 4), 0);
	RANGES(&pa, { P(10), P(20) });
}

static void test_largest(void **state)
{
	(void)state;
	assert_int_equal(pagealloc_largest(&pa), 0);
	assert_int_equal(pagealloc_add(&pa, P(10), P(3)), 0);
	assert_int_equal(pagealloc_add(&pa, P(20), P(7)), 0);
	assert_int_equal(pagealloc_add(&pa, P(40), P(5)), 0);
	assert_int_equal(pagealloc_largest(&pa), P(7));
	assert_int_equal(pagealloc_alloc(&pa, 4), P(20)); /* leaves 24..27 */
	assert_int_equal(pagealloc_largest(&pa), P(5));
	assert_int_equal(pagealloc_add(&pa, P(13), P(7)), 0); /* joins 10..13 into 10..20 */
	assert_int_equal(pagealloc_largest(&pa), P(10));
}

/* ---- randomized comparison with a bitmap ---- */

#define MODEL_PAGES 512
#define MODEL_BASE P(256) /* page 0 is never given to the allocator */

static uint8_t model[MODEL_PAGES]; /* 1 = free */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic across runs and compilers */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned model_runs(void)
{
	unsigned runs = 0;
	for (unsigned i = 0; i < MODEL_PAGES; i++)
		if (model[i] && (i == 0 || !model[i - 1]))
			runs++;
	return runs;
}

static void compare_with_model(void)
{
	uint64_t free_pages = 0, largest = 0, run = 0;

	check_invariants(&pa);
	/* ranges and bitmap describe the same pages */
	unsigned r = 0;
	for (unsigned i = 0; i < MODEL_PAGES; i++) {
		uint64_t addr = MODEL_BASE + P(i);
		while (r < pa.count && pa.ranges[r].end <= addr)
			r++;
		int in = r < pa.count && pa.ranges[r].base <= addr;
		if (in != model[i])
			fail_msg("page %u: allocator says %s, model says %s", i, in ? "free" : "used",
				 model[i] ? "free" : "used");
		free_pages += model[i];
		run = model[i] ? run + 1 : 0;
		if (run > largest)
			largest = run;
	}
	assert_int_equal(pa.free_pages, free_pages);
	assert_int_equal(pagealloc_largest(&pa), P(largest));
	assert_int_equal(pa.count, model_runs());
}

/* First fit over the bitmap: the lowest run of count free pages. */
static int model_first_fit(size_t count)
{
	size_t run = 0;
	for (unsigned i = 0; i < MODEL_PAGES; i++) {
		run = model[i] ? run + 1 : 0;
		if (run == count)
			return (int)(i + 1 - count);
	}
	return -1;
}

static void test_random_against_model(void **state)
{
	/* outcomes seen, so the run cannot quietly stop exercising a path */
	unsigned allocs = 0, alloc_fails = 0, frees = 0, double_frees = 0, reserves = 0, full = 0;

	(void)state;
	memset(model, 0, sizeof(model));
	/* the whole model area as one range */
	assert_int_equal(pagealloc_add(&pa, MODEL_BASE, P(MODEL_PAGES)), 0);
	memset(model, 1, sizeof(model));
	compare_with_model();

	for (int op = 0; op < 10000; op++) {
		uint64_t x = rng();
		unsigned page = (unsigned)(rng() % MODEL_PAGES);
		size_t count = 1 + (size_t)(rng() % (rng() % 8 == 0 ? 64 : 8));
		if (op >= 6000)
			count = 1; /* single pages fragment the list until it fills */
		if (page + count > MODEL_PAGES)
			count = MODEL_PAGES - page;

		int all_used = 1;
		for (size_t i = 0; i < count; i++)
			if (model[page + i])
				all_used = 0;
		/* the list is full when the model has PAGEALLOC_RANGES_MAX runs */
		int runs_before = (int)model_runs();

		/* the second phase frees more than it allocates: the free list fragments */
		switch (op >= 6000 && x % 4 == 1 ? 2 : x % 4) {
		case 0:
		case 1: { /* alloc */
			int want = model_first_fit(count);
			uint64_t got = pagealloc_alloc(&pa, count);
			if (want < 0) {
				assert_int_equal(got, 0);
				alloc_fails++;
			} else {
				allocs++;
				assert_int_equal(got, MODEL_BASE + P(want));
				memset(model + want, 0, count);
			}
			break;
		}
		case 2: { /* free: valid when every page is in use, else a double free */
			int err = pagealloc_free(&pa, MODEL_BASE + P(page), count);
			if (all_used) {
				memset(model + page, 1, count);
				if ((int)model_runs() > PAGEALLOC_RANGES_MAX) {
					assert_int_equal(err, -ENOSPC);
					memset(model + page, 0, count);
					full++;
				} else {
					assert_int_equal(err, 0);
					frees++;
				}
			} else {
				assert_int_equal(err, -EINVAL);
				double_frees++;
			}
			break;
		}
		case 3: { /* reserve: takes whatever is free in the range */
			uint8_t saved[MODEL_PAGES];
			memcpy(saved, model, sizeof(model));
			memset(model + page, 0, count);
			int err = pagealloc_reserve(&pa, MODEL_BASE + P(page), P(count));
			if ((int)model_runs() > PAGEALLOC_RANGES_MAX && runs_before == PAGEALLOC_RANGES_MAX) {
				assert_int_equal(err, -ENOSPC);
				memcpy(model, saved, sizeof(model));
				full++;
			} else {
				assert_int_equal(err, 0);
				reserves++;
			}
			break;
		}
		}
		compare_with_model();

		/* keep the allocator from draining: top up now and then */
		if (op % 500 == 499 && op < 6000) {
			for (unsigned i = 0; i < MODEL_PAGES; i++) {
				if (model[i])
					continue;
				model[i] = 1;
				if ((int)model_runs() > PAGEALLOC_RANGES_MAX) {
					model[i] = 0;
					continue;
				}
				assert_int_equal(pagealloc_free(&pa, MODEL_BASE + P(i), 1), 0);
			}
			compare_with_model();
		}
	}
	print_message("random run: %u allocs, %u failed, %u frees, %u double frees, %u reserves, %u list full\n",
		      allocs, alloc_fails, frees, double_frees, reserves, full);
	assert_true(allocs > 1000 && alloc_fails > 100 && frees > 100 && double_frees > 100 && reserves > 1000 &&
		    full > 10);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_add_alignment),
		T(test_add_merge_and_order),
		T(test_add_overlap),
		T(test_add_list_full),
		T(test_reserve_start_end),
		T(test_reserve_middle_split),
		T(test_reserve_whole_and_outside),
		T(test_reserve_spanning),
		T(test_reserve_to_top),
		T(test_reserve_split_list_full),
		T(test_alloc_first_fit),
		T(test_alloc_exhaustion),
		T(test_free_merges),
		T(test_free_errors),
		T(test_largest),
		T(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
