/*
 * POSIX clocks for newlib: CLOCK_MONOTONIC from the installed clock (the TSC
 * until the Hyper-V reference clock takes over), CLOCK_REALTIME from the RTC
 * reading at boot plus the monotonic time since, and nanosleep on the
 * clock's own timer (LAPIC timer or Hyper-V synthetic timer).
 */
/* This file implements POSIX calls newlib declares only outside strict ISO C. */
#define _DEFAULT_SOURCE

#include <errno.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86_64/lapic.h"
#include "arch/x86_64/tsc.h"
#include "libc-glue/glue.h"

int gettimeofday(struct timeval *tv, void *tz);

static uint64_t tsc_now_ns(void)
{
	return tsc_uptime_ns();
}

static void tsc_sleep_until_ns(uint64_t deadline)
{
	uint64_t now = tsc_uptime_ns();
	lapic_sleep_until(deadline <= now ? 0 : tsc_deadline_after_ns(deadline - now));
}

static uint64_t tsc_resolution_ns(void)
{
	uint64_t hz = tsc_hz();
	return hz >= 1000000000ull ? 1 : 1000000000ull / hz;
}

static const struct glue_clock tsc_clock = {
	.name = "TSC", .now_ns = tsc_now_ns, .sleep_until_ns = tsc_sleep_until_ns,
	.resolution_ns = tsc_resolution_ns,
};

static struct time_state {
	int64_t epoch_at_init;   /* seconds */
	uint64_t uptime_at_init; /* ns */
	const struct glue_clock *clock;
	uint64_t offset;         /* uptime = clock->now_ns() + offset, modulo 2^64 */
} clock_state = { .clock = &tsc_clock };

uint64_t glue_uptime_ns(void)
{
	/* Unsigned: the offset is a difference modulo 2^64, and wrapping is defined there. */
	return clock_state.clock->now_ns() + clock_state.offset;
}

void glue_clock_install(const struct glue_clock *clock)
{
	uint64_t before = glue_uptime_ns();
	clock_state.clock = clock;
	clock_state.offset = before - clock->now_ns();
}

void glue_time_init(int64_t epoch_now)
{
	clock_state.epoch_at_init = epoch_now;
	clock_state.uptime_at_init = glue_uptime_ns();
}

static void ns_to_timespec(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

int clock_gettime(clockid_t clock, struct timespec *ts)
{
	uint64_t now = glue_uptime_ns();

	if (!ts) {
		errno = EFAULT;
		return -1;
	}
	switch (clock) {
	case CLOCK_MONOTONIC:
		ns_to_timespec(now, ts);
		return 0;
	case CLOCK_REALTIME:
		ns_to_timespec(now - clock_state.uptime_at_init, ts);
		ts->tv_sec += (time_t)clock_state.epoch_at_init;
		return 0;
	default:
		errno = EINVAL;
		return -1;
	}
}

int clock_getres(clockid_t clock, struct timespec *res)
{
	if (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME) {
		errno = EINVAL;
		return -1;
	}
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = (long)clock_state.clock->resolution_ns(); /* below a second */
	}
	return 0;
}

int gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void)tz;
	if (tv) {
		clock_gettime(CLOCK_REALTIME, &ts);
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return 0;
}

/* Sleeps the whole interval (nothing interrupts a sleep here), so *rem is always zero. */
int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000L || req->tv_sec < 0) {
		errno = EINVAL;
		return -1;
	}
	/* Past UINT64_MAX ns (584 years) the sleep is simply endless. */
	uint64_t sec = (uint64_t)req->tv_sec;
	uint64_t ns = sec >= UINT64_MAX / 1000000000ull ? UINT64_MAX
						       : sec * 1000000000ull + (uint64_t)req->tv_nsec;
	/* In the clock's own time base, saturated rather than wrapped. */
	uint64_t now = clock_state.clock->now_ns();
	uint64_t deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
	clock_state.clock->sleep_until_ns(deadline);
	if (rem)
		*rem = (struct timespec){ 0 };
	return 0;
}

unsigned sleep(unsigned seconds)
{
	struct timespec req = { .tv_sec = (time_t)seconds, .tv_nsec = 0 };
	nanosleep(&req, NULL);
	return 0;
}

int usleep(useconds_t usec)
{
	if (usec >= 1000000) {
		errno = EINVAL; /* POSIX allows refusing a second or more */
		return -1;
	}
	struct timespec req = { .tv_sec = 0, .tv_nsec = (long)usec * 1000 };
	return nanosleep(&req, NULL);
}
