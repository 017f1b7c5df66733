/*
 * crash: fails on purpose, to show (and test) what the runtime reports.
 *
 *   crash            write through a NULL pointer: page fault report, exit 125
 *   crash abort      abort(): panic with a backtrace, exit 125
 *   crash assert     a failed assert(): panic naming the expression, exit 125
 *   crash oom        malloc until it fails: a clear message, then exit 3
 *   crash stack      recurse without end: the stack overflow is reported, exit 125
 *   crash exit N     exit(N), to check how statuses reach the host
 *   crash badfree    hvrt_page_free of hvrt's own image: panic, exit 125
 *   crash doublefree hvrt_page_free of the same page twice: panic, exit 125
 *   crash sleep      nanosleep 50 ms, then usleep 20 ms, reporting how long each took; exit 0
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hvrt/hvrt.h>

/* Opaque to the compiler, so the write below stays a plain store instead of a trap it inserts. */
static int *volatile target;

/*
 * Not a leaf and no tail call (the result of puts is used after it), so it
 * has a frame of its own and the backtrace shows main as its caller: gcc
 * leaves out the frame of a function that calls nothing.
 */
static __attribute__((noinline)) int write_through(int *p)
{
	*(volatile int *)p = 42;
	return puts("still running after a NULL write: page 0 is mapped") + 1;
}

static int exhaust_heap(void)
{
	size_t total = 0, chunk = 1 << 20;
	void *last = NULL;

	for (;;) {
		void **block = malloc(chunk);
		if (!block) {
			printf("malloc failed after %zu MiB, as expected\n", total >> 20);
			return 3;
		}
		*block = last;
		last = block;
		total += chunk;
	}
}

static long long elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

/* Each frame keeps a buffer live across the call, so the compiler cannot turn this into a loop. */
static __attribute__((noinline)) unsigned recurse(unsigned depth)
{
	volatile char frame[512];

	frame[0] = (char)depth;
	if (depth == ~0u) /* never true: it only makes the recursion look finite to the compiler */
		return 0;
	return recurse(depth + 1) + frame[0];
}

static int sleep_check(void)
{
	struct timespec a, b, req = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };

	clock_gettime(CLOCK_MONOTONIC, &a);
	if (nanosleep(&req, NULL) != 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = elapsed_ns(&a, &b);
	printf("slept %lld us\n", ns / 1000);

	clock_gettime(CLOCK_MONOTONIC, &a);
	if (usleep(20000) != 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns2 = elapsed_ns(&a, &b);
	printf("usleep %lld us\n", ns2 / 1000);

	/* The host times this one: a wrong TSC frequency would fool the guest's own clock. */
	printf("sleep 1 s: start\n");
	fflush(stdout);
	sleep(1);
	printf("sleep 1 s: end\n");
	return ns >= req.tv_nsec && ns2 >= 20000000LL ? 0 : 2;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "pagefault";

	printf("crash: %s\n", mode);
	fflush(stdout);
	if (strcmp(mode, "abort") == 0)
		abort();
	if (strcmp(mode, "assert") == 0)
		assert(argc == 42);
	if (strcmp(mode, "oom") == 0)
		return exhaust_heap();
	if (strcmp(mode, "sleep") == 0)
		return sleep_check();
	if (strcmp(mode, "stack") == 0)
		return (int)recurse(0);
	if (strcmp(mode, "exit") == 0 && argc > 2)
		exit(atoi(argv[2]));
	if (strcmp(mode, "badfree") == 0)
		hvrt_page_free((void *)(uintptr_t)hvrt_boot_info()->image_base, 1);
	if (strcmp(mode, "doublefree") == 0) {
		void *page = hvrt_page_alloc(1);
		hvrt_page_free(page, 1);
		hvrt_page_free(page, 1);
	}
	return write_through(target) > 0;
}
