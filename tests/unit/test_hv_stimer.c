/*
 * Unit tests for hv/stimer.c on the simulated Hyper-V host.
 *
 * Pinned down:
 *  - init takes SINT3 for the runtime's timer 0 and programs it stopped,
 *    auto-enable, COUNT before CONFIG; it refuses without stimers, SynIC or
 *    a reference clock, gives the SINT back when the host refuses the MSRs;
 *  - a one-shot fires its callback once, from hvrt_poll(), with the
 *    expiration and delivery times of the message; a periodic timer fires
 *    every period until stopped; stopping gives the SINT back when its last
 *    user goes, exactly once (a one-shot that fired still holds it);
 *  - an expiry already queued when its timer is stopped or started again is
 *    the past run's: dropped quietly, never given to the new run's callback;
 *  - bad arguments, a SINT someone else owns and a refused MSR are errors
 *    that leave the runtime's own timer working;
 *  - the runtime's sleep (the installed clock) returns at the deadline or
 *    just after, never before, woken by stimer 0; when the host loses the
 *    expiry the LAPIC backstop ends it at most 10 ms late; without stimers
 *    the LAPIC timer, and without either a busy wait, still end it; without
 *    a LAPIC timer it spins without halting, stimer 0 armed once per sleep;
 *  - while the clock is carried on with the TSC (page invalid, no counter)
 *    stimer 0 is not armed: the LAPIC timer alone ends the sleep, on time;
 *  - expiries of timers not running and foreign messages on the timer SINT
 *    are reported once and otherwise ignored.
 */
#include "tests/unit/hv_fixture.h"

#define MS 10000u /* 1 ms in 100 ns units */

struct fired {
	unsigned n;
	struct hvrt_stimer_event ev[64];
	uint64_t at[64]; /* the host's time when the callback ran */
	void *ctx;
};

static struct fired fired;

static void on_timer(void *ctx, const struct hvrt_stimer_event *event)
{
	assert_true(fired.n < 64);
	fired.ctx = ctx;
	fired.at[fired.n] = hv_sim_now(&sim);
	fired.ev[fired.n++] = *event;
}

static struct hvrt_host *h;

/* Index in the MSR log of the last write of msr, or -1. */
static long last_write(uint32_t msr)
{
	long found = -1;
	for (long i = 0; (i = hv_sim_msr_find(&sim, (size_t)i, msr, true)) >= 0; i++)
		found = i;
	return found;
}

/* Detection, reference clock, SynIC; stimers only when told. */
static void base(void)
{
	memset(&fired, 0, sizeof(fired));
	h = detect();
	assert_int_equal(hv_reftime_init(h), 0);
	assert_int_equal(hv_synic_init(h), 0);
}

static void up(void)
{
	base();
	assert_int_equal(hv_stimer_init(h), 0);
}

/* ---- init ---- */

static void test_init(void **state)
{
	(void)state;
	start();
	base();
	size_t from = sim.msr_count;
	assert_int_equal(hv_stimer_init(h), 0);
	assert_int_equal(h->stimers, 4);
	assert_int_equal(sim.sint[3], 0x40 | HV_SINT_AUTO_EOI);
	long count = hv_sim_msr_find(&sim, from, HV_MSR_STIMER0_COUNT, true);
	long config = hv_sim_msr_find(&sim, from, HV_MSR_STIMER0_CONFIG, true);
	assert_true(count >= 0 && config > count);
	assert_int_equal(sim.msr_log[count].value, 0);
	assert_int_equal(sim.msr_log[config].value, 1u << 3 | 3u << 16); /* auto-enable, SINT3, not enabled */
	assert_false(sim.stimer[0].config & HV_STIMER_ENABLE);
	assert_int_equal(sim.stimer[0].due, 0);
	/* the SINT is the runtime's now */
	struct hv_sint_ops ops = { .message = (void (*)(void *, unsigned, const struct hv_message *))1 };
	assert_int_equal(hv_synic_claim(3, &ops), -EBUSY);
	assert_int_equal(loglen, 0);
}

static void test_init_not_possible(void **state)
{
	(void)state;
	/* no stimer privilege */
	cfg.priv_msrs &= ~HV_PRIV_STIMERS;
	start();
	base();
	assert_int_equal(hv_stimer_init(h), -ENODEV);
	assert_int_equal(h->stimers, 0);
	assert_int_equal(sim.sint[3], HV_SINT_MASKED);
	assert_int_equal(hvrt_stimer_start(1, 5, false, 100, on_timer, NULL), -ENODEV);
	assert_int_equal(hvrt_stimer_stop(1), -ENODEV);
	teardown(NULL);

	/* no SynIC */
	setup(NULL);
	start();
	h = detect();
	assert_int_equal(hv_reftime_init(h), 0);
	assert_int_equal(hv_stimer_init(h), -ENODEV);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_STIMER0_CONFIG, true), 0);
	teardown(NULL);

	/* no reference clock */
	setup(NULL);
	cfg.priv_msrs &= ~(HV_PRIV_TIME_REF_COUNT | HV_PRIV_REFERENCE_TSC);
	start();
	h = detect();
	assert_int_equal(hv_synic_init(h), 0);
	assert_int_equal(hv_stimer_init(h), -ENODEV);
	assert_int_equal(sim.sint[3], HV_SINT_MASKED);
	teardown(NULL);

	/* SINT3 taken by someone else */
	setup(NULL);
	start();
	base();
	struct hv_sint_ops ops = { .message = (void (*)(void *, unsigned, const struct hv_message *))1 };
	assert_int_equal(hv_synic_claim(3, &ops), 0);
	assert_int_equal(hv_stimer_init(h), -EBUSY);
	assert_int_equal(h->stimers, 0);
	hv_synic_release(3);
}

/* The host refuses STIMER0_CONFIG: -EIO, a warning, SINT3 given back. */
static void test_init_refused(void **state)
{
	(void)state;
	start();
	base();
	hv_sim_fault_msr(&sim, HV_MSR_STIMER0_CONFIG, false, true);
	assert_int_equal(hv_stimer_init(h), -EIO);
	assert_logged("hvrt: hv: warning: the host refused the synthetic timer MSRs");
	assert_int_equal(h->stimers, 0);
	assert_int_equal(sim.sint[3], HV_SINT_MASKED);
	assert_int_equal(hvrt_stimer_start(1, 5, false, 100, on_timer, NULL), -ENODEV);
}

/* ---- application timers ---- */

/* One-shot at an absolute time: nothing before, one callback after, with the message's times. */
static void test_one_shot(void **state)
{
	int token;
	(void)state;
	start();
	up();
	uint64_t when = hv_sim_now(&sim) + 5 * MS;
	size_t from = sim.msr_count;
	assert_int_equal(hvrt_stimer_start(1, 5, false, when, on_timer, &token), 0);
	long count = last_write(HV_MSR_STIMER0_COUNT + 2);
	long config = last_write(HV_MSR_STIMER0_CONFIG + 2);
	assert_true(count >= (long)from && config > count); /* count first, then enable */
	assert_int_equal(sim.msr_log[count].value, when);
	assert_int_equal(sim.msr_log[config].value, HV_STIMER_ENABLE | 5u << 16);
	assert_int_equal(sim.sint[5], 0x40 | HV_SINT_AUTO_EOI);

	hv_sim_advance(&sim, when - 1 - hv_sim_now(&sim));
	hvrt_poll();
	assert_int_equal(fired.n, 0);
	hv_sim_advance(&sim, 1);
	assert_int_equal(fired.n, 0); /* not from the interrupt */
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(fired.n, 1);
	assert_ptr_equal(fired.ctx, &token);
	assert_int_equal(fired.ev[0].timer, 1);
	assert_int_equal(fired.ev[0].expiration_time, when);
	assert_int_equal(fired.ev[0].delivery_time, when);
	hv_sim_advance(&sim, 100 * MS);
	assert_int_equal(hvrt_poll(), 0);
	assert_int_equal(fired.n, 1);
	assert_int_equal(sim.stimer[1].fired, 1);

	/* a host that delivers the expiry twice: the one-shot is over, no second callback, no alarm */
	struct hv_timer_message_payload p = { .timer_index = 1, .expiration_time = when };
	assert_true(hv_sim_post(&sim, 5, HV_MESSAGE_TYPE_TIMER_EXPIRED, &p, sizeof(p)));
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(fired.n, 1);
	assert_not_logged("not running there");
}

/* A one-shot in the past fires at once; the delivery time is when it went into the slot. */
static void test_one_shot_in_past(void **state)
{
	(void)state;
	start();
	up();
	uint64_t then = hv_sim_now(&sim) - 1000;
	assert_int_equal(hvrt_stimer_start(2, 4, false, then, on_timer, NULL), 0);
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(fired.n, 1);
	assert_int_equal(fired.ev[0].timer, 2);
	assert_true(fired.ev[0].delivery_time >= then);
}

/* Periodic: every period, N times, expiration times a period apart; stop ends it and frees the SINT. */
static void test_periodic(void **state)
{
	(void)state;
	start();
	up();
	uint64_t t0 = hv_sim_now(&sim);
	assert_int_equal(hvrt_stimer_start(3, 6, true, 2 * MS, on_timer, NULL), 0);
	assert_int_equal(sim.stimer[3].config & (HV_STIMER_ENABLE | HV_STIMER_PERIODIC),
			 HV_STIMER_ENABLE | HV_STIMER_PERIODIC);
	for (unsigned i = 0; i < 10; i++) {
		hv_sim_advance(&sim, 2 * MS);
		assert_int_equal(hvrt_poll(), 1);
	}
	assert_int_equal(fired.n, 10);
	/* the host starts the period at the CONFIG write, a tick or two after t0 (each RDTSC costs time) */
	uint64_t start = fired.ev[0].expiration_time - 2 * MS;
	assert_true(start >= t0 && start <= t0 + 10);
	for (unsigned i = 0; i < 10; i++) {
		assert_int_equal(fired.ev[i].timer, 3);
		assert_int_equal(fired.ev[i].expiration_time, start + (i + 1) * 2 * MS);
	}
	assert_int_equal(hvrt_stimer_stop(3), 0);
	assert_int_equal(sim.stimer[3].config, 0);
	assert_int_equal(sim.stimer[3].count, 0);
	assert_int_equal(sim.sint[6], HV_SINT_MASKED);
	hv_sim_advance(&sim, 20 * MS);
	hvrt_poll();
	assert_int_equal(fired.n, 10);
}

/* Not polled for a while: the host keeps one expiry in the slot and one queued; the rest are skipped. */
static void test_periodic_slow_poll(void **state)
{
	(void)state;
	start();
	up();
	assert_int_equal(hvrt_stimer_start(1, 6, true, MS, on_timer, NULL), 0);
	hv_sim_advance(&sim, 10 * MS);
	assert_int_equal(hvrt_poll(), 2);
	assert_int_equal(fired.n, 2);
	assert_int_equal(sim.stimer[1].missed, 8);
	hv_sim_advance(&sim, MS);
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(fired.n, 3);
}

/* Stopped before it is due: no callback; stopping idle or bad timers. */
static void test_stop(void **state)
{
	(void)state;
	start();
	assert_int_equal(hvrt_stimer_stop(1), -ENODEV);
	up();
	assert_int_equal(hvrt_stimer_start(1, 5, false, hv_sim_now(&sim) + MS, on_timer, NULL), 0);
	assert_int_equal(hvrt_stimer_stop(1), 0);
	assert_int_equal(sim.sint[5], HV_SINT_MASKED);
	hv_sim_advance(&sim, 10 * MS);
	assert_int_equal(hvrt_poll(), 0);
	assert_int_equal(fired.n, 0);
	assert_int_equal(hvrt_stimer_stop(2), 0); /* never started */
	assert_int_equal(hvrt_stimer_stop(0), -EINVAL);
	assert_int_equal(hvrt_stimer_stop(4), -EINVAL);
	/* the runtime's timer still works */
	assert_int_equal(sim.sint[3], 0x40 | HV_SINT_AUTO_EOI);
}

/* Restarting a running timer replaces it. */
static void test_restart(void **state)
{
	(void)state;
	start();
	up();
	uint64_t now = hv_sim_now(&sim);
	assert_int_equal(hvrt_stimer_start(1, 5, false, now + MS, on_timer, NULL), 0);
	assert_int_equal(hvrt_stimer_start(1, 7, false, now + 3 * MS, on_timer, NULL), 0);
	assert_int_equal(sim.sint[5], HV_SINT_MASKED);
	hv_sim_advance(&sim, 5 * MS);
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(fired.n, 1);
	assert_int_equal(fired.ev[0].expiration_time, now + 3 * MS);
}

/* Writes of msr in the MSR log from index from on. */
static unsigned writes_since(size_t from, uint32_t msr)
{
	unsigned n = 0;
	for (size_t i = from; i < sim.msr_count; i++)
		n += sim.msr_log[i].msr == msr && sim.msr_log[i].write;
	return n;
}

/*
 * Stopped with its expiry already in the slot (it fell due, the poll has not
 * run yet): the poll takes the message without a callback and without a
 * warning. On the runtime's SINT3, which stays claimed after the stop.
 */
static void test_stop_with_expiry_queued(void **state)
{
	(void)state;
	start();
	up();
	uint64_t now = hv_sim_now(&sim);
	assert_int_equal(hvrt_stimer_start(1, 3, false, now + MS, on_timer, NULL), 0);
	hv_sim_advance(&sim, 2 * MS);
	assert_int_equal(sim.stimer[1].fired, 1);
	assert_int_equal(hvrt_stimer_stop(1), 0);
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(fired.n, 0);
	assert_int_equal(loglen, 0);
	assert_int_equal(sim.sint[3], 0x40 | HV_SINT_AUTO_EOI);
}

/* The same on a SINT of its own, which the stop gives back: still no callback and no warning. */
static void test_stop_with_expiry_queued_own_sint(void **state)
{
	(void)state;
	start();
	up();
	uint64_t now = hv_sim_now(&sim);
	assert_int_equal(hvrt_stimer_start(1, 5, false, now + MS, on_timer, NULL), 0);
	hv_sim_advance(&sim, 2 * MS);
	assert_int_equal(sim.stimer[1].fired, 1);
	assert_int_equal(hvrt_stimer_stop(1), 0);
	hvrt_poll();
	assert_int_equal(fired.n, 0);
	assert_not_logged("warning");
}

static int ctx_old, ctx_new;

/*
 * A one-shot started again (same timer, same SINT, a new time and context)
 * while its first expiry waits in the slot: the poll drops that expiry
 * quietly instead of calling the new run's callback with it; the new one
 * fires at its own time with its own expiration time.
 */
static void test_restart_one_shot_with_expiry_queued(void **state)
{
	(void)state;
	start();
	up();
	uint64_t now = hv_sim_now(&sim);
	assert_int_equal(hvrt_stimer_start(1, 5, false, now + MS, on_timer, &ctx_old), 0);
	hv_sim_advance(&sim, 2 * MS);
	assert_int_equal(sim.stimer[1].fired, 1);
	uint64_t when = hv_sim_now(&sim) + 5 * MS;
	assert_int_equal(hvrt_stimer_start(1, 5, false, when, on_timer, &ctx_new), 0);
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(fired.n, 0);
	hv_sim_advance(&sim, when - 1 - hv_sim_now(&sim));
	hvrt_poll();
	assert_int_equal(fired.n, 0);
	hv_sim_advance(&sim, 1);
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(fired.n, 1);
	assert_ptr_equal(fired.ctx, &ctx_new);
	assert_int_equal(fired.ev[0].expiration_time, when);
	assert_true(fired.at[0] >= when);
	assert_int_equal(loglen, 0);
}

/*
 * A periodic timer started again with another period and context while an
 * expiry of the first run waits in the slot: that expiry is dropped, and the
 * new run's expiries come a new period apart from its own start.
 */
static void test_restart_periodic_with_expiry_queued(void **state)
{
	(void)state;
	start();
	up();
	assert_int_equal(hvrt_stimer_start(2, 6, true, 2 * MS, on_timer, &ctx_old), 0);
	hv_sim_advance(&sim, 3 * MS);
	assert_int_equal(sim.stimer[2].fired, 1);
	uint64_t t0 = hv_sim_now(&sim);
	assert_int_equal(hvrt_stimer_start(2, 6, true, 5 * MS, on_timer, &ctx_new), 0);
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(fired.n, 0);
	for (unsigned i = 0; i < 3; i++) {
		hv_sim_advance(&sim, 5 * MS);
		assert_int_equal(hvrt_poll(), 1);
	}
	assert_int_equal(fired.n, 3);
	/* the host starts the period at the CONFIG write, a tick or two after t0 */
	uint64_t start = fired.ev[0].expiration_time - 5 * MS;
	assert_true(start >= t0 && start <= t0 + 10);
	for (unsigned i = 0; i < 3; i++) {
		assert_ptr_equal(fired.ctx, &ctx_new);
		assert_int_equal(fired.ev[i].timer, 2);
		assert_int_equal(fired.ev[i].expiration_time, start + (i + 1) * 5 * MS);
	}
	assert_int_equal(loglen, 0);
}

/*
 * A one-shot that fired still holds its SINT: unmasked until
 * hvrt_stimer_stop, which masks it exactly once (a second stop writes
 * nothing). One on the runtime's SINT3 never takes that SINT away from the
 * runtime, however often it is stopped: the sleep still wakes by stimer 0.
 */
static void test_one_shot_holds_sint_until_stop(void **state)
{
	(void)state;
	start();
	up();
	uint64_t now = hv_sim_now(&sim);
	assert_int_equal(hvrt_stimer_start(1, 5, false, now + MS, on_timer, NULL), 0);
	assert_int_equal(hvrt_stimer_start(2, 3, false, now + MS, on_timer, NULL), 0);
	hv_sim_advance(&sim, 2 * MS);
	assert_int_equal(hvrt_poll(), 2);
	assert_int_equal(fired.n, 2);
	assert_int_equal(sim.sint[5], 0x40 | HV_SINT_AUTO_EOI);
	assert_int_equal(sim.sint[3], 0x40 | HV_SINT_AUTO_EOI);
	hv_sim_advance(&sim, 10 * MS);
	assert_int_equal(sim.sint[5], 0x40 | HV_SINT_AUTO_EOI);

	size_t from = sim.msr_count;
	assert_int_equal(hvrt_stimer_stop(1), 0);
	assert_int_equal(sim.sint[5], HV_SINT_MASKED);
	assert_int_equal(sim.sint[3], 0x40 | HV_SINT_AUTO_EOI);
	assert_int_equal(hvrt_stimer_stop(1), 0);
	assert_int_equal(hvrt_stimer_stop(2), 0);
	assert_int_equal(sim.sint[3], 0x40 | HV_SINT_AUTO_EOI);
	assert_int_equal(hvrt_stimer_stop(2), 0);
	assert_int_equal(sim.sint[3], 0x40 | HV_SINT_AUTO_EOI);
	assert_int_equal(writes_since(from, HV_MSR_SINT0 + 5), 1);
	assert_int_equal(writes_since(from, HV_MSR_SINT0 + 3), 0);

	uint64_t deadline = (hv_sim_now(&sim) + 3 * MS) * 100;
	sim.clock->sleep_until_ns(deadline);
	assert_true(hv_sim_now(&sim) * 100 >= deadline);
	assert_int_equal(sim.stimer[0].fired, 1);
	assert_int_equal(sim.lapic_fires, 0);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	start();
	up();
	uint64_t when = hv_sim_now(&sim) + MS;
	assert_int_equal(hvrt_stimer_start(0, 5, false, when, on_timer, NULL), -EINVAL);
	assert_int_equal(hvrt_stimer_start(4, 5, false, when, on_timer, NULL), -EINVAL);
	assert_int_equal(hvrt_stimer_start(1, 0, false, when, on_timer, NULL), -EINVAL);
	assert_int_equal(hvrt_stimer_start(1, 16, false, when, on_timer, NULL), -EINVAL);
	assert_int_equal(hvrt_stimer_start(1, 5, false, 0, on_timer, NULL), -EINVAL);
	assert_int_equal(hvrt_stimer_start(1, 5, true, 0, on_timer, NULL), -EINVAL);
	assert_int_equal(hvrt_stimer_start(1, 5, false, when, NULL, NULL), -EINVAL);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_STIMER0_CONFIG + 2, true), 0);
}

static void vmbus_message(void *ctx, unsigned sint, const struct hv_message *msg)
{
	(void)ctx;
	(void)sint;
	(void)msg;
}

/* A SINT with another owner (VMBus on 2): -EBUSY, no timer MSR written. */
static void test_sint_busy(void **state)
{
	struct hv_sint_ops vmbus = { .message = vmbus_message };
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(2, &vmbus), 0);
	assert_int_equal(hvrt_stimer_start(1, 2, false, hv_sim_now(&sim) + MS, on_timer, NULL), -EBUSY);
	assert_int_equal(sim.stimer[1].config, 0);
	assert_int_equal(sim.stimer[1].count, 0);
}

/* Two timers on one SINT: it stays claimed until the last stops. */
static void test_shared_sint(void **state)
{
	(void)state;
	start();
	up();
	uint64_t now = hv_sim_now(&sim);
	assert_int_equal(hvrt_stimer_start(1, 7, false, now + MS, on_timer, NULL), 0);
	assert_int_equal(hvrt_stimer_start(2, 7, false, now + 2 * MS, on_timer, NULL), 0);
	hv_sim_advance(&sim, 3 * MS);
	assert_int_equal(hvrt_poll(), 2);
	assert_int_equal(fired.n, 2);
	assert_int_equal(fired.ev[0].timer, 1);
	assert_int_equal(fired.ev[1].timer, 2);
	assert_int_equal(hvrt_stimer_stop(1), 0);
	assert_int_equal(sim.sint[7], 0x40 | HV_SINT_AUTO_EOI);
	assert_int_equal(hvrt_stimer_stop(2), 0);
	assert_int_equal(sim.sint[7], HV_SINT_MASKED);
}

/* The host refuses a timer's CONFIG: -EIO, the SINT given back, nothing fires. */
static void test_start_refused(void **state)
{
	(void)state;
	start();
	up();
	hv_sim_fault_msr(&sim, HV_MSR_STIMER0_CONFIG + 2, false, true);
	assert_int_equal(hvrt_stimer_start(1, 5, false, hv_sim_now(&sim) + MS, on_timer, NULL), -EIO);
	assert_int_equal(sim.sint[5], HV_SINT_MASKED);
	hv_sim_advance(&sim, 10 * MS);
	assert_int_equal(hvrt_poll(), 0);
	assert_int_equal(fired.n, 0);
}

/*
 * A refused start on the runtime's SINT3, then a stop of that timer (or
 * another start): SINT3 must stay the runtime's. Were the failed start's
 * share given back twice, SINT3 would be masked under the runtime's sleep.
 */
static void test_start_refused_keeps_shared_sint(void **state)
{
	(void)state;
	start();
	up();
	hv_sim_fault_msr(&sim, HV_MSR_STIMER0_CONFIG + 2, false, true);
	assert_int_equal(hvrt_stimer_start(1, 3, false, hv_sim_now(&sim) + MS, on_timer, NULL), -EIO);
	assert_int_equal(sim.sint[3], 0x40 | HV_SINT_AUTO_EOI);
	assert_int_equal(hvrt_stimer_stop(1), 0);
	assert_int_equal(sim.sint[3], 0x40 | HV_SINT_AUTO_EOI);
	assert_int_equal(hvrt_stimer_start(1, 3, false, hv_sim_now(&sim) + MS, on_timer, NULL), -EIO);
	assert_int_equal(hvrt_stimer_start(1, 3, false, hv_sim_now(&sim) + MS, on_timer, NULL), -EIO);
	assert_int_equal(sim.sint[3], 0x40 | HV_SINT_AUTO_EOI);
	/* the runtime's sleep still wakes by its stimer */
	uint64_t deadline = (hv_sim_now(&sim) + 3 * MS) * 100;
	sim.clock->sleep_until_ns(deadline);
	assert_true(hv_sim_now(&sim) * 100 >= deadline);
	assert_int_equal(sim.lapic_fires, 0);
}

/* ---- the runtime's sleep ---- */

/* Woken by stimer 0 at the deadline, not before and only a few RDTSCs after; no backstop needed. */
static void test_sleep_until(void **state)
{
	(void)state;
	start();
	up();
	assert_non_null(sim.clock);
	uint64_t deadline = sim.clock->now_ns() + 5000000; /* 5 ms */
	sim.clock->sleep_until_ns(deadline);
	uint64_t end = hv_sim_now(&sim) * 100;
	assert_true(end >= deadline);
	assert_true(end <= deadline + 10 * 100);
	assert_true(sim.halts >= 1);
	assert_int_equal(sim.stimer[0].fired, 1);
	assert_int_equal(sim.lapic_fires, 0);
	uint64_t count;
	assert_true(hv_sim_last_write(&sim, HV_MSR_STIMER0_COUNT, &count));
	assert_int_equal(count, deadline / 100);
	assert_true(cpu_read_rflags() & 0x200); /* interrupts as they were */

	/* a deadline between two 100 ns ticks is rounded up */
	deadline = sim.clock->now_ns() + 1234567;
	sim.clock->sleep_until_ns(deadline);
	assert_true(hv_sim_now(&sim) * 100 >= deadline);
	assert_true(hv_sim_last_write(&sim, HV_MSR_STIMER0_COUNT, &count));
	assert_int_equal(count, deadline / 100 + 1);

	/* a deadline already past: no halt */
	uint64_t halts = sim.halts;
	sim.clock->sleep_until_ns(sim.clock->now_ns() - 1000);
	assert_int_equal(sim.halts, halts);
}

/* With interrupts off on entry the sleep still ends, and leaves them off. */
static void test_sleep_irqs_off(void **state)
{
	(void)state;
	start();
	up();
	cpu_irq_disable();
	uint64_t deadline = sim.clock->now_ns() + 2000000;
	sim.clock->sleep_until_ns(deadline);
	assert_true(hv_sim_now(&sim) * 100 >= deadline);
	assert_false(cpu_read_rflags() & 0x200);
	cpu_irq_enable();
}

/* The host loses the expiry: the LAPIC backstop ends the sleep, at most 10 ms late. */
static void test_sleep_lost_expiry(void **state)
{
	(void)state;
	start();
	up();
	sim.fault.stimer_lost = 1;
	uint64_t deadline = sim.clock->now_ns() + 5000000;
	sim.clock->sleep_until_ns(deadline);
	uint64_t end = hv_sim_now(&sim) * 100;
	assert_true(end >= deadline);
	assert_true(end <= deadline + 10000000 + 1000);
	assert_int_equal(sim.stimer[0].lost, 1);
	assert_int_equal(sim.lapic_fires, 1);
}

/* An application timer due during the sleep runs from the sleep's poll; the sleep still ends on time. */
static void test_sleep_runs_callbacks(void **state)
{
	(void)state;
	start();
	up();
	uint64_t now = hv_sim_now(&sim);
	assert_int_equal(hvrt_stimer_start(1, 5, false, now + MS, on_timer, NULL), 0);
	uint64_t deadline = (now + 4 * MS) * 100;
	sim.clock->sleep_until_ns(deadline);
	assert_int_equal(fired.n, 1);
	assert_true(fired.at[0] >= now + MS && fired.at[0] < now + 4 * MS);
	assert_true(hv_sim_now(&sim) * 100 >= deadline);
	assert_true(hv_sim_now(&sim) * 100 <= deadline + 1000);
}

/* A callback that sleeps itself, inside a sleep: stimer 0 is re-armed for its shorter deadline. */
static void nested_sleep(void *ctx, const struct hvrt_stimer_event *ev)
{
	uint64_t *until = ctx;
	(void)ev;
	sim.clock->sleep_until_ns(*until);
}

/*
 * After the nested sleep the outer one must arm stimer 0 for its own
 * deadline again: before, it remembered its deadline in its own frame and
 * was woken only by the LAPIC backstop, 10 ms late (the review's finding).
 */
static void test_sleep_nested_rearms(void **state)
{
	(void)state;
	start();
	up();
	uint64_t now = hv_sim_now(&sim);
	uint64_t inner = (now + 2 * MS) * 100;
	assert_int_equal(hvrt_stimer_start(1, 5, false, now + MS, nested_sleep, &inner), 0);
	uint64_t deadline = (now + 4 * MS) * 100;
	sim.clock->sleep_until_ns(deadline);
	uint64_t end = hv_sim_now(&sim) * 100;
	assert_true(end >= deadline);
	assert_true(end <= deadline + 1000);
	assert_int_equal(sim.lapic_fires, 0);
	assert_int_equal(sim.stimer[0].fired, 2);
}

/* No stimers: the LAPIC timer alone wakes the sleep, at the deadline or just after. */
static void test_sleep_without_stimers(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_STIMERS;
	start();
	base();
	assert_int_equal(hv_stimer_init(h), -ENODEV);
	uint64_t deadline = sim.clock->now_ns() + 3000000;
	sim.clock->sleep_until_ns(deadline);
	uint64_t end = hv_sim_now(&sim) * 100;
	assert_true(end >= deadline);
	assert_true(end <= deadline + 2000);
	assert_true(sim.lapic_fires >= 1);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_STIMER0_COUNT, true), 0);
}

/* Neither stimers nor a LAPIC timer: a busy wait, no halt, still not early. */
static void test_sleep_busy_wait(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_STIMERS;
	start();
	base();
	sim.fault.no_lapic_timer = true;
	uint64_t deadline = sim.clock->now_ns() + 1000000;
	sim.clock->sleep_until_ns(deadline);
	assert_true(hv_sim_now(&sim) * 100 >= deadline);
	assert_int_equal(sim.halts, 0);
}

/*
 * Only the page, and it goes invalid: the clock is carried on with the TSC,
 * which the host's stimers do not follow. A 100 ms sleep then arms no stimer
 * (no STIMER0_COUNT write) and ends on time by the LAPIC timer alone, armed
 * for the deadline itself (no 10 ms backstop). Once the page is valid again
 * the next sleep is stimer 0's, with the LAPIC timer only as the backstop.
 */
static void test_sleep_while_extrapolated(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_TIME_REF_COUNT;
	start();
	up();
	hv_sim_reftsc_set_valid(&sim, false);
	unsigned counts = hv_sim_msr_count(&sim, HV_MSR_STIMER0_COUNT, true);
	uint64_t fires = sim.lapic_fires;
	uint64_t deadline = sim.clock->now_ns() + 100000000; /* 100 ms */
	assert_false(hv_reftime_from_host());
	sim.clock->sleep_until_ns(deadline);
	uint64_t end = hv_sim_now(&sim) * 100;
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_STIMER0_COUNT, true), counts);
	assert_int_equal(sim.stimer[0].fired, 0);
	assert_true(sim.lapic_fires > fires);
	assert_true(end >= deadline); /* the guest's TSC rate is right here: carried on exactly */
	assert_true(end <= deadline + 1000);

	hv_sim_reftsc_set_valid(&sim, true);
	fires = sim.lapic_fires;
	deadline = sim.clock->now_ns() + 100000000;
	assert_true(hv_reftime_from_host());
	sim.clock->sleep_until_ns(deadline);
	end = hv_sim_now(&sim) * 100;
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_STIMER0_COUNT, true), counts + 1);
	uint64_t count;
	assert_true(hv_sim_last_write(&sim, HV_MSR_STIMER0_COUNT, &count));
	assert_int_equal(count, deadline / 100);
	assert_int_equal(sim.stimer[0].fired, 1);
	assert_int_equal(sim.lapic_fires, fires);
	assert_true(end >= deadline && end <= deadline + 1000);
}

/*
 * Stimers but no LAPIC timer, and the host loses the expiry: the sleep
 * polls the clock instead of halting (nothing else could end a halt), ends
 * at its deadline, and arms stimer 0 once per sleep, not once per spin.
 */
static void test_sleep_no_lapic_timer_lost_expiry(void **state)
{
	(void)state;
	start();
	up();
	sim.fault.no_lapic_timer = true;
	sim.fault.stimer_lost = 1;
	unsigned counts = hv_sim_msr_count(&sim, HV_MSR_STIMER0_COUNT, true);
	uint64_t deadline = sim.clock->now_ns() + 5000000;
	sim.clock->sleep_until_ns(deadline);
	uint64_t end = hv_sim_now(&sim) * 100;
	assert_true(end >= deadline && end <= deadline + 1000);
	assert_int_equal(sim.stimer[0].lost, 1);
	assert_int_equal(sim.halts, 0);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_STIMER0_COUNT, true), counts + 1);

	/* the next sleep, its expiry delivered: the same, one more write */
	deadline = sim.clock->now_ns() + 5000000;
	sim.clock->sleep_until_ns(deadline);
	end = hv_sim_now(&sim) * 100;
	assert_true(end >= deadline && end <= deadline + 1000);
	assert_int_equal(sim.stimer[0].fired, 1);
	assert_int_equal(sim.halts, 0);
	assert_int_equal(hv_sim_msr_count(&sim, HV_MSR_STIMER0_COUNT, true), counts + 2);
	assert_true(cpu_read_rflags() & 0x200);
}

/* ---- strays ---- */

/* An expiry for a timer that is not running, and a foreign message on SINT3: one warning each. */
static void test_strays(void **state)
{
	struct hv_timer_message_payload p = { .timer_index = 2, .expiration_time = 5 };
	(void)state;
	start();
	up();
	assert_true(hv_sim_post(&sim, 3, HV_MESSAGE_TYPE_TIMER_EXPIRED, &p, sizeof(p)));
	assert_true(hv_sim_post(&sim, 3, HV_MESSAGE_TYPE_TIMER_EXPIRED, &p, sizeof(p)));
	p.timer_index = 9;
	assert_true(hv_sim_post(&sim, 3, HV_MESSAGE_TYPE_TIMER_EXPIRED, &p, sizeof(p)));
	assert_true(hv_sim_post(&sim, 3, 1, "vmbus?", 6));
	assert_true(hv_sim_post(&sim, 3, HV_MESSAGE_TYPE_TIMER_EXPIRED, &p, 8)); /* too short */
	assert_int_equal(hvrt_poll(), 5);
	assert_int_equal(fired.n, 0);
	assert_logged("hvrt: hv: warning: SINT3: expiry of timer 2, which is not running there");
	assert_int_equal(log_count("which is not running"), 1);
	assert_logged("hvrt: hv: warning: SINT3: unexpected message type 0x1 (6 bytes) for the timers");
	assert_logged("SINT3: unexpected message type 0x80000010 (8 bytes) for the timers");

	/* an expiry of timer 1 on the wrong SINT */
	assert_int_equal(hvrt_stimer_start(1, 5, false, hv_sim_now(&sim) + 100 * MS, on_timer, NULL), 0);
	p.timer_index = 1;
	assert_true(hv_sim_post(&sim, 3, HV_MESSAGE_TYPE_TIMER_EXPIRED, &p, sizeof(p)));
	assert_int_equal(hvrt_poll(), 1);
	assert_int_equal(fired.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init),
		T(test_init_not_possible),
		T(test_init_refused),
		T(test_one_shot),
		T(test_one_shot_in_past),
		T(test_periodic),
		T(test_periodic_slow_poll),
		T(test_stop),
		T(test_restart),
		T(test_stop_with_expiry_queued),
		T(test_stop_with_expiry_queued_own_sint),
		T(test_restart_one_shot_with_expiry_queued),
		T(test_restart_periodic_with_expiry_queued),
		T(test_one_shot_holds_sint_until_stop),
		T(test_bad_arguments),
		T(test_sint_busy),
		T(test_shared_sint),
		T(test_start_refused),
		T(test_start_refused_keeps_shared_sint),
		T(test_sleep_until),
		T(test_sleep_irqs_off),
		T(test_sleep_lost_expiry),
		T(test_sleep_runs_callbacks),
		T(test_sleep_nested_rearms),
		T(test_sleep_without_stimers),
		T(test_sleep_busy_wait),
		T(test_sleep_while_extrapolated),
		T(test_sleep_no_lapic_timer_lost_expiry),
		T(test_strays),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
