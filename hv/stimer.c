/*
 * Synthetic timers, in message mode: an expiry arrives as a timer-expired
 * message on the timer's SINT, and its callback runs from hvrt_poll().
 *
 * Timer 0 is the runtime's: every sleep arms it for its deadline (one-shot,
 * absolute reference time, auto-enable) on HV_SINT_RUNTIME_TIMER, with the
 * LAPIC timer as a backstop; without a LAPIC timer the sleep polls. Timers 1..3
 * are the application's (hvrt_stimer_start). Direct mode (an APIC vector
 * instead of a message) is not used: message mode works on every host that
 * has stimers, and the runtime needs no lower latency than it gives.
 */
#include <errno.h>

#include <hvrt/hv.h>
#include <hvrt/log.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/tsc.h"
#include "hv/hv.h"

/*
 * A lost expiry costs at most this much: the LAPIC timer ends the halt then.
 * Long enough that a wake-up by it is told from the stimer's (hvtest).
 */
#define BACKSTOP_100NS 100000u /* 10 ms */

struct stimer {
	bool active;
	bool holds_sint;   /* counted in sint_users until stopped (a fired one-shot still holds it) */
	bool periodic;
	unsigned sint;
	uint64_t when;     /* one-shot: its expiry; periodic: its period */
	uint64_t armed_at; /* reference time of the start: expiries due before it are a past run's */
	hvrt_stimer_fn fn;
	void *ctx;
};

static struct stimer_state {
	bool ready;
	struct stimer timer[HV_STIMER_COUNT_MAX];
	unsigned sint_users[HV_SINT_COUNT]; /* timers using each SINT (the runtime's counts as one) */
	uint32_t strays;                    /* expiries for timers not running: the first is logged */
	uint64_t sleep_armed;               /* the deadline stimer 0 holds for the runtime's waits, 0: none */
} st;

static uint32_t config_msr(unsigned timer)
{
	return HV_MSR_STIMER0_CONFIG + 2 * timer;
}

static uint32_t count_msr(unsigned timer)
{
	return HV_MSR_STIMER0_COUNT + 2 * timer;
}

static void timer_message(void *ctx, unsigned sint, const struct hv_message *msg)
{
	struct hv_timer_message_payload p;
	(void)ctx;

	if (msg->message_type != HV_MESSAGE_TYPE_TIMER_EXPIRED || msg->payload_size < sizeof(p)) {
		hvrt_log(HVRT_LOG_WARN, "hv", "SINT%u: unexpected message type 0x%x (%u bytes) for the timers", sint,
			 msg->message_type, msg->payload_size);
		return;
	}
	__builtin_memcpy(&p, msg->payload, sizeof(p));
	if (p.timer_index == 0) {
		/* The runtime's sleep timer: waking up was all it was for; a one-shot is spent. */
		if (p.expiration_time == st.sleep_armed)
			st.sleep_armed = 0;
		return;
	}
	struct stimer *t = p.timer_index < HV_STIMER_COUNT_MAX ? &st.timer[p.timer_index] : NULL;
	/*
	 * An expiry queued before the timer was stopped or started again is the
	 * past run's: normal, and dropped quietly. This run's are due at or after
	 * its start, or exactly at the one-shot time it was given (a time in the
	 * past fires at once, and a host may report either).
	 */
	if (t && t->fn && t->sint == sint &&
	    (!t->active || (p.expiration_time < t->armed_at && p.expiration_time != t->when))) {
		hvrt_log(HVRT_LOG_DEBUG, "hv", "timer %u: an earlier run's expiry, dropped", p.timer_index);
		return;
	}
	if (!t || !t->active || t->sint != sint) {
		if (st.strays++ == 0)
			hvrt_log(HVRT_LOG_WARN, "hv", "SINT%u: expiry of timer %u, which is not running there", sint,
				 p.timer_index);
		return;
	}
	if (!t->periodic)
		t->active = false;
	struct hvrt_stimer_event ev = {
		.timer = p.timer_index, .expiration_time = p.expiration_time, .delivery_time = p.delivery_time,
	};
	t->fn(t->ctx, &ev);
}

static const struct hv_sint_ops timer_ops = { .message = timer_message };

static int use_sint(unsigned sint)
{
	if (st.sint_users[sint] == 0) {
		int err = hv_synic_claim(sint, &timer_ops);
		if (err)
			return err;
	}
	st.sint_users[sint]++;
	return 0;
}

static void unuse_sint(unsigned sint)
{
	if (st.sint_users[sint] && --st.sint_users[sint] == 0)
		hv_synic_release(sint);
}

void hv_stimer_reset(void)
{
	st = (struct stimer_state){ 0 };
}

/*
 * hv_stimer_init - make the synthetic timers usable
 * @host: detection result; host->stimers is set
 * Return: 0, -ENODEV (no stimers, SynIC or reference clock) or the error
 * of claiming the runtime timer's SINT or of its MSR.
 */
int hv_stimer_init(struct hvrt_host *host)
{
	uint64_t now;
	int err;

	host->stimers = 0;
	if (!host->hyperv || !(host->privileges & HV_PRIV_STIMERS) || !hv_synic_ready() || !hv_reftime_read(&now))
		return -ENODEV;
	err = use_sint(HV_SINT_RUNTIME_TIMER);
	if (err)
		return err;
	/* Stopped, but armed by every write of a count (auto-enable). */
	if (cpu_wrmsr_safe(count_msr(0), 0) ||
	    cpu_wrmsr_safe(config_msr(0), HV_STIMER_AUTO_ENABLE | (uint64_t)HV_SINT_RUNTIME_TIMER << HV_STIMER_SINT_SHIFT)) {
		hvrt_log(HVRT_LOG_WARN, "hv", "the host refused the synthetic timer MSRs");
		unuse_sint(HV_SINT_RUNTIME_TIMER);
		return -EIO;
	}
	st.timer[0] = (struct stimer){ .active = true, .sint = HV_SINT_RUNTIME_TIMER };
	st.ready = true;
	host->stimers = HV_STIMER_COUNT_MAX;
	return 0;
}

int hvrt_stimer_start(unsigned timer, unsigned sint, bool periodic, uint64_t when, hvrt_stimer_fn fn, void *ctx)
{
	int err;

	if (!st.ready)
		return -ENODEV;
	if (timer == 0 || timer >= HV_STIMER_COUNT_MAX || sint == 0 || sint >= HV_SINT_COUNT || when == 0 || !fn)
		return -EINVAL;
	hvrt_stimer_stop(timer);
	err = use_sint(sint);
	if (err)
		return err;
	uint64_t now = 0;
	hv_reftime_read(&now);
	st.timer[timer] = (struct stimer){
		.active = true, .holds_sint = true, .periodic = periodic, .sint = sint, .when = when, .armed_at = now,
		.fn = fn, .ctx = ctx,
	};
	/* Count first, then enable: the timer starts with the right expiry or period. */
	uint64_t config = HV_STIMER_ENABLE | (periodic ? HV_STIMER_PERIODIC : 0) |
			  (uint64_t)sint << HV_STIMER_SINT_SHIFT;
	if (cpu_wrmsr_safe(count_msr(timer), when) || cpu_wrmsr_safe(config_msr(timer), config)) {
		/* fn too: a later stop must not give the SINT back a second time */
		st.timer[timer] = (struct stimer){ 0 };
		unuse_sint(sint);
		return -EIO;
	}
	return 0;
}

int hvrt_stimer_stop(unsigned timer)
{
	if (!st.ready)
		return -ENODEV;
	if (timer == 0 || timer >= HV_STIMER_COUNT_MAX)
		return -EINVAL;
	cpu_wrmsr_safe(config_msr(timer), 0);
	cpu_wrmsr_safe(count_msr(timer), 0);
	/* fn and sint stay, so an expiry already queued is known as this timer's and dropped quietly. */
	st.timer[timer].active = false;
	if (st.timer[timer].holds_sint) {
		st.timer[timer].holds_sint = false;
		unuse_sint(st.timer[timer].sint);
	}
	return 0;
}

/* TSC deadline for a reference-time delta; the TSC is only the backstop's clock. */
static uint64_t tsc_deadline_after_100ns(uint64_t delta)
{
	return tsc_deadline_after_ns(delta > UINT64_MAX / 100 ? UINT64_MAX : delta * 100);
}

void hv_stimer_sleep_until(uint64_t deadline)
{
	hv_stimer_wait(deadline, NULL, NULL);
}

bool hv_stimer_wait(uint64_t deadline, bool (*done)(void *ctx), void *ctx)
{
	bool irqs_were_on = (cpu_read_rflags() & (1u << 9)) != 0;
	bool finished = false;
	uint64_t now;

	for (;;) {
		hvrt_poll();
		if (done && done(ctx)) {
			finished = true;
			break;
		}
		if (!hv_reftime_read(&now) || now >= deadline)
			break;
		cpu_irq_disable();
		if (hv_synic_pending() || hv_poll_pending()) {
			cpu_irq_enable();
			continue;
		}
		uint64_t left = deadline - now;
		/*
		 * The stimer counts in the host's time: a deadline computed from a
		 * clock carried on with the TSC may already be past there (a storm
		 * of expiries) or far off. Then the LAPIC timer alone wakes us.
		 */
		bool stimer = st.ready && hv_reftime_from_host();
		/*
		 * What stimer 0 holds is module state, not this frame's: a wait
		 * nested inside this one (a callback that blocks) re-arms it for its
		 * own deadline, and this frame must then arm it again.
		 */
		if (stimer && st.sleep_armed != deadline) {
			stimer = cpu_wrmsr_safe(count_msr(0), deadline) == 0;
			st.sleep_armed = stimer ? deadline : 0;
		}
		/* Halt only with the LAPIC timer armed: a stimer expiry alone may be lost. */
		if (lapic_timer_arm(tsc_deadline_after_100ns(stimer ? left + BACKSTOP_100NS : left))) {
			cpu_irq_enable_and_halt();
		} else {
			cpu_irq_enable();
			cpu_pause();
		}
	}
	if (!irqs_were_on)
		cpu_irq_disable();
	return finished;
}
