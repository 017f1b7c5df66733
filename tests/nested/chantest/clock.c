/*
 * Time and waiting. Partition reference time (100 ns) is what the figures
 * are measured in: the same clock as the host's, whatever the TSC does
 * under nested TCG.
 */
#include "chantest.h"

/* now_ref - partition reference time, in 100 ns */
uint64_t now_ref(void)
{
	uint64_t t = 0;

	hvrt_reftime(&t);
	return t;
}

/* ms_since - milliseconds since t0 (reference time), for the figures */
unsigned ms_since(uint64_t t0)
{
	return (unsigned)((now_ref() - t0) / TICKS_PER_MS);
}

/*
 * wait_until - run the event loop until done(ctx), at most timeout_ms
 * usleep halts and runs hvrt_poll() on every wake-up, so callbacks (on_packet,
 * on_rescind) run meanwhile and the host's threads get the CPU (the nested
 * host has one). Return: whether done(ctx) held in time.
 */
bool wait_until(bool (*done)(void *ctx), void *ctx, unsigned timeout_ms)
{
	uint64_t end = now_ref() + (uint64_t)timeout_ms * TICKS_PER_MS;

	hvrt_poll();
	while (!done(ctx)) {
		if (now_ref() >= end)
			return done(ctx);
		usleep(WAIT_STEP_US);
	}
	return true;
}
