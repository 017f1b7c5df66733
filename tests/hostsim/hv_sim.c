/*
 * The simulated Hyper-V host: CPUID, synthetic MSRs, time, hypercalls and
 * SynIC delivery. What it models and why: tests/hostsim/hv_sim.h.
 */
#include "tests/hostsim/hv_sim.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#define HV_SIM_MAGIC 0x4d495348u /* "HSIM" */

#define HV_MSR_FIRST 0x40000000u
#define HV_MSR_LAST 0x400001ffu
#define MSR_VP_RUNTIME 0x40000010u
#define MSR_ICR 0x40000071u
#define MSR_TPR 0x40000072u
#define MSR_VP_ASSIST 0x40000073u
#define MSR_SINT15 (HV_MSR_SINT0 + HV_SINT_COUNT - 1)
#define MSR_STIMER_LAST (HV_MSR_STIMER0_CONFIG + 2 * HV_STIMER_COUNT_MAX - 1)
#define MSR_CRASH_P4 (HV_MSR_CRASH_P0 + 4)

#define STIMER_AUTO_ENABLE (1ull << 3)
#define STIMER_DIRECT (1ull << 12)
#define STIMER_SINT(config) ((unsigned)((config) >> HV_STIMER_SINT_SHIFT) & 0xfu)

/* Control word bits KVM treats as reserved: 31:27, 47:44, 63:60. */
#define CALL_RSVD_MASK (0xf000000000000000ull | 0x0000f00000000000ull | 0x00000000f8000000ull)
#define HV_STATUS_INVALID_PORT_ID 0x0011u
#define CONNECTION_ID_MASK 0x00ffffffull

#define NO_TIME UINT64_MAX
#define REF_HZ 10000000u /* reference time ticks per second */

/* ---- configuration ---- */

void hv_sim_config_default(struct hv_sim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->vendor = HV_SIM_VENDOR_HYPERV;
	cfg->cpu = HV_SIM_CPU_AMD;
	memcpy(cfg->vendor_id, "Microsoft Hv", 13);
	cfg->max_leaf = HV_CPUID_LIMITS;
	cfg->interface = HV_INTERFACE_HV1;
	cfg->priv_msrs = 0x00000a7fu;
	cfg->priv_calls = 0x00000030u;
	cfg->features = 0x108u;
	cfg->recommendations = 0x28u;
	cfg->spin_retries = 0xffffffffu;
	cfg->max_vps = 1024;
	cfg->tsc_hz = 2500000000ull;
	cfg->apic_hz = 1000000000ull;
	cfg->start_time = 5 * REF_HZ;             /* the partition has run 5 s */
	cfg->tsc_at_zero = 12 * cfg->tsc_hz;      /* the TSC counted 12 s before it was made */
	cfg->synic_version = 1;
	cfg->rdtsc_cost = 1;
}

void hv_sim_config_vendor(struct hv_sim_config *cfg, enum hv_sim_vendor vendor)
{
	cfg->vendor = vendor;
	switch (vendor) {
	case HV_SIM_VENDOR_HYPERV:
	case HV_SIM_VENDOR_NONE:
		break;
	case HV_SIM_VENDOR_KVM:
		memcpy(cfg->vendor_id, "KVMKVMKVM\0\0\0", 13);
		cfg->max_leaf = 0x40000001u;
		cfg->interface = 0x01007afbu; /* KVM's paravirtual feature bits, not "Hv#1" */
		break;
	case HV_SIM_VENDOR_TCG:
		memcpy(cfg->vendor_id, "TCGTCGTCGTCG", 13);
		cfg->max_leaf = 0x40000001u;
		cfg->interface = 0;
		break;
	}
}

void hv_sim_config_crash(struct hv_sim_config *cfg, bool message)
{
	cfg->features |= HV_FEATURE_CRASH_MSRS;
	cfg->crash_ctl = HV_CRASH_CTL_NOTIFY | (message ? HV_CRASH_CTL_MESSAGE : 0);
}

void hv_sim_config_reset(struct hv_sim_config *cfg, bool recommend)
{
	cfg->priv_msrs |= HV_PRIV_RESET;
	if (recommend)
		cfg->recommendations |= HV_RECOMMEND_RESET_MSR;
}

void hv_sim_config_isolation(struct hv_sim_config *cfg, uint32_t eax, uint32_t ebx)
{
	cfg->max_leaf = HV_CPUID_ISOLATION;
	cfg->isolation_eax = eax;
	cfg->isolation_ebx = ebx;
}

/* ---- time ---- */

uint64_t hv_sim_now(const struct hv_sim *sim)
{
	return sim->now;
}

uint64_t hv_sim_tsc(const struct hv_sim *sim)
{
	return sim->tsc_at_zero + (uint64_t)((unsigned __int128)sim->now * sim->cfg.tsc_hz / REF_HZ);
}

uint64_t hv_sim_time_of_tsc(const struct hv_sim *sim, uint64_t tsc)
{
	if (tsc <= sim->tsc_at_zero)
		return 0;
	unsigned __int128 t = ((unsigned __int128)(tsc - sim->tsc_at_zero) * REF_HZ + sim->cfg.tsc_hz - 1) /
			      sim->cfg.tsc_hz;
	return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

uint64_t hv_sim_guest_tsc_hz(const struct hv_sim *sim)
{
	return sim->cfg.guest_tsc_hz ? sim->cfg.guest_tsc_hz : sim->cfg.tsc_hz;
}

static uint64_t next_event(const struct hv_sim *sim)
{
	uint64_t next = NO_TIME;

	for (unsigned i = 0; i < HV_STIMER_COUNT_MAX; i++)
		if (sim->stimer[i].due && sim->stimer[i].due < next)
			next = sim->stimer[i].due;
	if (sim->lapic_armed) {
		uint64_t t = hv_sim_time_of_tsc(sim, sim->lapic_deadline);
		if (t < next)
			next = t;
	}
	for (unsigned i = 0; i < sim->ntimed; i++)
		if (sim->timed[i].due < next)
			next = sim->timed[i].due;
	return next;
}

/* ---- timed callbacks and the observer (for simulated devices such as vmbus_sim) ---- */

bool hv_sim_at(struct hv_sim *sim, uint64_t time, hv_sim_timed_fn fn, void *ctx)
{
	if (sim->ntimed >= HV_SIM_TIMED_MAX)
		return false;
	sim->timed[sim->ntimed++] = (struct hv_sim_timed){ .due = time, .fn = fn, .ctx = ctx };
	return true;
}

unsigned hv_sim_cancel(struct hv_sim *sim, hv_sim_timed_fn fn, void *ctx)
{
	unsigned n = 0;

	for (unsigned i = 0; i < sim->ntimed;) {
		if (sim->timed[i].fn == fn && sim->timed[i].ctx == ctx) {
			sim->ntimed--;
			memmove(&sim->timed[i], &sim->timed[i + 1], (sim->ntimed - i) * sizeof(sim->timed[0]));
			n++;
		} else {
			i++;
		}
	}
	return n;
}

/* Runs the callbacks due at the current time, earliest (then first registered) first, one at a time. */
static void fire_timed(struct hv_sim *sim)
{
	for (;;) {
		int best = -1;
		for (unsigned i = 0; i < sim->ntimed; i++)
			if (sim->timed[i].due <= sim->now && (best < 0 || sim->timed[i].due < sim->timed[best].due))
				best = (int)i;
		if (best < 0)
			return;
		struct hv_sim_timed t = sim->timed[best];
		/* Keep the order of the rest: a callback may register more while it runs. */
		memmove(&sim->timed[best], &sim->timed[best + 1], (sim->ntimed - (unsigned)best - 1) * sizeof(t));
		sim->ntimed--;
		t.fn(t.ctx, sim);
	}
}

void hv_sim_set_observer(struct hv_sim *sim, hv_sim_observer_fn fn, void *ctx)
{
	sim->observer = fn;
	sim->observer_ctx = ctx;
}

void hv_sim_set_page_user(struct hv_sim *sim, hv_sim_page_user_fn fn, void *ctx)
{
	sim->page_user = fn;
	sim->page_user_ctx = ctx;
}

static void observe(struct hv_sim *sim, enum hv_sim_tick why)
{
	if (!sim->observer || sim->in_observer)
		return;
	sim->in_observer = true;
	sim->observer(sim->observer_ctx, sim, why);
	sim->in_observer = false;
}

/* ---- SynIC ---- */

static bool synic_on(const struct hv_sim *sim)
{
	return (sim->scontrol & HV_MSR_ENABLE) != 0;
}

static volatile struct hv_message *slot_of(const struct hv_sim *sim, unsigned sint)
{
	return (volatile struct hv_message *)(uintptr_t)((sim->simp & HV_MSR_PAGE_MASK) +
							 sint * sizeof(struct hv_message));
}

static void raise_sint(struct hv_sim *sim, unsigned sint)
{
	uint64_t v = sim->sint[sint];
	hv_sim_raise(sim, (uint8_t)(v & HV_SINT_VECTOR_MASK), (v & HV_SINT_AUTO_EOI) != 0);
}

/* Puts the head of sint's queue into its slot if the slot can take it. */
static void try_deliver(struct hv_sim *sim, unsigned sint)
{
	if (!sim->queue_len[sint] || !synic_on(sim) || !(sim->simp & HV_MSR_ENABLE) ||
	    (sim->sint[sint] & HV_SINT_MASKED))
		return;
	volatile struct hv_message *slot = slot_of(sim, sint);
	if (slot->message_type != HV_MESSAGE_TYPE_NONE) {
		slot->message_flags |= HV_MESSAGE_FLAG_PENDING;
		return;
	}
	struct hv_sim_queued q = sim->queue[sint][0];
	sim->queue_len[sint]--;
	memmove(&sim->queue[sint][0], &sim->queue[sint][1], sim->queue_len[sint] * sizeof(q));
	if (q.timer >= 0) {
		struct hv_timer_message_payload p;
		memcpy(&p, q.msg.payload, sizeof(p));
		p.delivery_time = sim->now;
		memcpy(q.msg.payload, &p, sizeof(p));
		sim->stimer[q.timer].queued = false;
	}
	if (sim->queue_len[sint])
		q.msg.message_flags |= HV_MESSAGE_FLAG_PENDING;
	/* Everything but the type first: the guest takes a slot by its type. */
	memcpy((void *)((uintptr_t)slot + 4), (const uint8_t *)&q.msg + 4, sizeof(q.msg) - 4);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	slot->message_type = q.msg.message_type;
	sim->messages_delivered[sint]++;
	raise_sint(sim, sint);
}

static void try_deliver_all(struct hv_sim *sim)
{
	for (unsigned i = 0; i < HV_SINT_COUNT; i++)
		try_deliver(sim, i);
}

static bool enqueue(struct hv_sim *sim, unsigned sint, const struct hv_message *msg, int timer)
{
	if (sint >= HV_SINT_COUNT)
		fail_msg("hv_sim: a message for SINT%u", sint);
	if (sim->queue_len[sint] >= HV_SIM_QUEUE_MAX)
		return false;
	struct hv_sim_queued *q = &sim->queue[sint][sim->queue_len[sint]++];
	q->msg = *msg;
	q->timer = timer;
	if (timer >= 0)
		sim->stimer[timer].queued = true;
	try_deliver(sim, sint);
	return true;
}

bool hv_sim_post_message(struct hv_sim *sim, unsigned sint, const struct hv_message *msg)
{
	return enqueue(sim, sint, msg, -1);
}

bool hv_sim_post(struct hv_sim *sim, unsigned sint, uint32_t type, const void *payload, size_t len)
{
	struct hv_message msg;

	if (len > HV_MESSAGE_PAYLOAD_MAX)
		return false;
	memset(&msg, 0, sizeof(msg));
	msg.message_type = type;
	msg.payload_size = (uint8_t)len;
	if (len)
		memcpy(msg.payload, payload, len);
	return enqueue(sim, sint, &msg, -1);
}

bool hv_sim_set_event(struct hv_sim *sim, unsigned sint, unsigned flag)
{
	if (sint >= HV_SINT_COUNT || flag >= HV_EVENT_FLAGS_COUNT)
		fail_msg("hv_sim_set_event: SINT%u flag %u", sint, flag);
	if (!synic_on(sim) || !(sim->siefp & HV_MSR_ENABLE))
		return false;
	uint8_t *byte = (uint8_t *)(uintptr_t)((sim->siefp & HV_MSR_PAGE_MASK) + sint * HV_EVENT_FLAGS_BYTES + flag / 8);
	uint8_t bit = (uint8_t)(1u << (flag % 8));
	uint8_t was = __atomic_fetch_or(byte, bit, __ATOMIC_SEQ_CST);
	sim->events_set++;
	if (!(was & bit) && !(sim->sint[sint] & HV_SINT_MASKED))
		raise_sint(sim, sint);
	return true;
}

/* ---- synthetic timers ---- */

static void stimer_expire(struct hv_sim *sim, unsigned i)
{
	struct hv_sim_stimer *t = &sim->stimer[i];
	uint64_t due = t->due;
	bool periodic = (t->config & HV_STIMER_PERIODIC) != 0;

	if (periodic) {
		t->due = due + t->count;
	} else {
		t->due = 0;
		t->config &= ~HV_STIMER_ENABLE;
	}
	if (sim->fault.stimer_lost) {
		sim->fault.stimer_lost--;
		t->lost++;
		return;
	}
	if (periodic && t->queued) {
		t->missed++;
		return;
	}
	struct hv_message msg;
	struct hv_timer_message_payload p = { .timer_index = i, .expiration_time = due };
	memset(&msg, 0, sizeof(msg));
	msg.message_type = HV_MESSAGE_TYPE_TIMER_EXPIRED;
	msg.payload_size = sizeof(p);
	memcpy(msg.payload, &p, sizeof(p));
	t->fired++;
	if (!enqueue(sim, STIMER_SINT(t->config), &msg, (int)i))
		t->lost++;
}

/* Fires everything due at the current time, in timer order, then the LAPIC timer. */
static void fire_due(struct hv_sim *sim)
{
	for (unsigned i = 0; i < HV_STIMER_COUNT_MAX; i++)
		if (sim->stimer[i].due && sim->stimer[i].due <= sim->now)
			stimer_expire(sim, i);
	if (sim->lapic_armed && hv_sim_tsc(sim) >= sim->lapic_deadline) {
		sim->lapic_armed = false;
		sim->lapic_fires++;
		if (sim->vec[VECTOR_LAPIC_TIMER].fn)
			hv_sim_raise(sim, VECTOR_LAPIC_TIMER, false);
		else
			sim->lapic_wakes++;
	}
	fire_timed(sim);
}

static void run_until(struct hv_sim *sim, uint64_t target)
{
	for (;;) {
		uint64_t e = next_event(sim);
		if (e > target)
			break;
		if (e > sim->now)
			sim->now = e;
		fire_due(sim);
	}
	if (target > sim->now)
		sim->now = target;
	observe(sim, HV_SIM_TICK_TIME);
}

void hv_sim_advance(struct hv_sim *sim, uint64_t t100ns)
{
	run_until(sim, sim->now + t100ns);
}

static void stimer_restart(struct hv_sim *sim, unsigned i)
{
	struct hv_sim_stimer *t = &sim->stimer[i];

	t->due = 0;
	if (!(t->config & HV_STIMER_ENABLE) || t->count == 0)
		return;
	if (t->config & HV_STIMER_PERIODIC)
		t->due = sim->now + t->count;
	else
		t->due = t->count > sim->now ? t->count : sim->now; /* in the past: at once (TLFS) */
	fire_due(sim);
}

static int stimer_write(struct hv_sim *sim, uint32_t msr, uint64_t v)
{
	unsigned i = (msr - HV_MSR_STIMER0_CONFIG) / 2;
	struct hv_sim_stimer *t = &sim->stimer[i];

	if ((msr - HV_MSR_STIMER0_CONFIG) % 2 == 0) {
		if (v & STIMER_DIRECT) {
			if (!(sim->cfg.features & HV_FEATURE_STIMER_DIRECT))
				return -1;
			fail_msg("hv_sim: STIMER%u direct mode is not modelled", i);
		}
		t->config = v;
		if ((v & HV_STIMER_ENABLE) && STIMER_SINT(v) == 0)
			t->config &= ~HV_STIMER_ENABLE; /* message mode needs a SINT */
	} else {
		t->count = v;
		if (v == 0)
			t->config &= ~HV_STIMER_ENABLE;
		else if ((t->config & STIMER_AUTO_ENABLE) && STIMER_SINT(t->config) != 0)
			t->config |= HV_STIMER_ENABLE;
	}
	stimer_restart(sim, i);
	return 0;
}

/* ---- reference TSC page ---- */

static void reftsc_fill(struct hv_sim *sim)
{
	struct hv_reference_tsc_page *p = (struct hv_reference_tsc_page *)(uintptr_t)(sim->reference_tsc &
										     HV_MSR_PAGE_MASK);
	uint64_t scale = (uint64_t)((((unsigned __int128)REF_HZ << 64) + sim->cfg.tsc_hz - 1) / sim->cfg.tsc_hz);
	int64_t offset = -(int64_t)(uint64_t)(((unsigned __int128)sim->tsc_at_zero * scale) >> 64);

	p->tsc_sequence = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	p->tsc_scale = scale;
	p->tsc_offset = offset;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (sim->fault.reftsc_invalid)
		return;
	if (++sim->reftsc_sequence == 0)
		sim->reftsc_sequence = 1;
	p->tsc_sequence = sim->reftsc_sequence;
}

void hv_sim_move_tsc(struct hv_sim *sim, int64_t ticks)
{
	uint64_t lapic_time = sim->lapic_armed ? hv_sim_time_of_tsc(sim, sim->lapic_deadline) : 0;
	uint64_t step = ticks < 0 ? (uint64_t)0 - (uint64_t)ticks : (uint64_t)ticks;

	if (ticks < 0 && step > sim->tsc_at_zero)
		fail_msg("hv_sim: moving the TSC back by %llu ticks takes it below 0 at reference time 0",
			 (unsigned long long)step);
	sim->tsc_at_zero = ticks < 0 ? sim->tsc_at_zero - step : sim->tsc_at_zero + step;
	if (sim->lapic_armed) /* the LAPIC timer counts down in time, not in TSC values */
		sim->lapic_deadline = sim->tsc_at_zero +
				      (uint64_t)((unsigned __int128)lapic_time * sim->cfg.tsc_hz / REF_HZ);
	if (sim->reference_tsc & HV_MSR_ENABLE)
		reftsc_fill(sim);
}

void hv_sim_reftsc_set_valid(struct hv_sim *sim, bool valid)
{
	sim->fault.reftsc_invalid = !valid;
	if (sim->reference_tsc & HV_MSR_ENABLE)
		reftsc_fill(sim);
}

/* ---- pages the guest gives the host ---- */

static void need_ram(const struct hv_sim *sim, const char *what, uint64_t gpa, size_t len)
{
	if (!hv_sim_is_ram(sim, gpa, len))
		fail_msg("hv_sim: %s at GPA 0x%llx, which is no page the guest allocated", what, (unsigned long long)gpa);
}

bool hv_sim_page_in_use(const struct hv_sim *sim, const void *addr, size_t count)
{
	uint64_t lo = (uint64_t)(uintptr_t)addr, hi = lo + count * 4096u;
	const uint64_t msrs[] = { sim->hypercall, sim->simp, sim->siefp, sim->reference_tsc, sim->vp_assist };

	for (size_t i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		uint64_t gpa = msrs[i] & HV_MSR_PAGE_MASK;
		if ((msrs[i] & HV_MSR_ENABLE) && gpa >= lo && gpa < hi)
			return true;
	}
	return sim->page_user && sim->page_user(sim->page_user_ctx, sim, addr, count);
}

/* ---- MSRs ---- */

static bool msr_known(uint32_t msr)
{
	return msr == HV_MSR_GUEST_OS_ID || msr == HV_MSR_HYPERCALL || msr == HV_MSR_VP_INDEX ||
	       msr == HV_MSR_RESET || msr == MSR_VP_RUNTIME || msr == HV_MSR_TIME_REF_COUNT ||
	       msr == HV_MSR_REFERENCE_TSC || msr == HV_MSR_TSC_FREQUENCY || msr == HV_MSR_APIC_FREQUENCY ||
	       (msr >= HV_MSR_EOI && msr <= MSR_VP_ASSIST) || (msr >= HV_MSR_SCONTROL && msr <= HV_MSR_EOM) ||
	       (msr >= HV_MSR_SINT0 && msr <= MSR_SINT15) ||
	       (msr >= HV_MSR_STIMER0_CONFIG && msr <= MSR_STIMER_LAST) ||
	       (msr >= HV_MSR_CRASH_P0 && msr <= HV_MSR_CRASH_CTL);
}

/* The privilege (0x40000003 EAX, or EDX for the crash MSRs) an MSR needs. */
static bool msr_allowed(const struct hv_sim *sim, uint32_t msr)
{
	uint32_t eax = sim->cfg.priv_msrs;

	if (msr == HV_MSR_GUEST_OS_ID || msr == HV_MSR_HYPERCALL)
		return eax & HV_PRIV_HYPERCALL;
	if (msr == HV_MSR_VP_INDEX)
		return eax & HV_PRIV_VP_INDEX;
	if (msr == HV_MSR_RESET)
		return eax & HV_PRIV_RESET;
	if (msr == MSR_VP_RUNTIME)
		return eax & HV_PRIV_VP_RUNTIME;
	if (msr == HV_MSR_TIME_REF_COUNT)
		return eax & HV_PRIV_TIME_REF_COUNT;
	if (msr == HV_MSR_REFERENCE_TSC)
		return eax & HV_PRIV_REFERENCE_TSC;
	if (msr == HV_MSR_TSC_FREQUENCY || msr == HV_MSR_APIC_FREQUENCY)
		return eax & HV_PRIV_FREQUENCY_MSRS;
	if (msr >= HV_MSR_EOI && msr <= MSR_VP_ASSIST)
		return eax & HV_PRIV_APIC_MSRS;
	if ((msr >= HV_MSR_SCONTROL && msr <= HV_MSR_EOM) || (msr >= HV_MSR_SINT0 && msr <= MSR_SINT15))
		return eax & HV_PRIV_SYNIC;
	if (msr >= HV_MSR_STIMER0_CONFIG && msr <= MSR_STIMER_LAST)
		return eax & HV_PRIV_STIMERS;
	if (msr >= HV_MSR_CRASH_P0 && msr <= HV_MSR_CRASH_CTL)
		return sim->cfg.features & HV_FEATURE_CRASH_MSRS;
	return false;
}

/* An injected fault for this access: 1 #GP, 2 drop the write, 0 none. Counts down skips. */
static int msr_fault(struct hv_sim *sim, uint32_t msr, bool write)
{
	for (unsigned i = 0; i < sim->fault.ngp; i++) {
		struct hv_sim_faults *f = &sim->fault;
		if (f->gp[i].msr != msr)
			continue;
		if (f->gp[i].ignore && write)
			return 2;
		if (!(write ? f->gp[i].write : f->gp[i].read))
			continue;
		if (f->gp[i].skip) {
			f->gp[i].skip--;
			continue;
		}
		return 1;
	}
	return 0;
}

static void add_fault(struct hv_sim *sim, uint32_t msr, bool read, bool write, bool ignore, unsigned skip)
{
	if (sim->fault.ngp >= HV_SIM_MSR_FAULTS)
		fail_msg("hv_sim: too many MSR faults");
	sim->fault.gp[sim->fault.ngp].msr = msr;
	sim->fault.gp[sim->fault.ngp].read = read;
	sim->fault.gp[sim->fault.ngp].write = write;
	sim->fault.gp[sim->fault.ngp].ignore = ignore;
	sim->fault.gp[sim->fault.ngp].skip = skip;
	sim->fault.ngp++;
}

void hv_sim_fault_msr(struct hv_sim *sim, uint32_t msr, bool read, bool write)
{
	add_fault(sim, msr, read, write, false, 0);
}

void hv_sim_fault_msr_after(struct hv_sim *sim, uint32_t msr, bool read, bool write, unsigned skip)
{
	add_fault(sim, msr, read, write, false, skip);
}

void hv_sim_ignore_msr_writes(struct hv_sim *sim, uint32_t msr)
{
	add_fault(sim, msr, false, false, true, 0);
}

static void log_access(struct hv_sim *sim, uint32_t msr, bool write, bool gp, uint64_t value)
{
	if (sim->msr_count == sim->msr_cap) {
		size_t cap = sim->msr_cap ? sim->msr_cap * 2 : 256;
		struct hv_sim_msr_access *log = realloc(sim->msr_log, cap * sizeof(*log));
		if (!log)
			fail_msg("hv_sim: out of memory for the MSR log");
		sim->msr_log = log;
		sim->msr_cap = cap;
	}
	sim->msr_log[sim->msr_count++] = (struct hv_sim_msr_access){
		.msr = msr, .write = write, .gp = gp, .value = value, .time = sim->now,
	};
}

static void check_vendor(const struct hv_sim *sim, uint32_t msr, bool write, uint64_t value)
{
	if (sim->cfg.vendor != HV_SIM_VENDOR_HYPERV && msr >= HV_MSR_FIRST && msr <= HV_MSR_LAST)
		fail_msg("hv_sim: %s of Hyper-V MSR 0x%x (0x%llx) on a host that is not Hyper-V", write ? "wrmsr" : "rdmsr",
			 msr, (unsigned long long)value);
}

static int rdmsr_inner(struct hv_sim *sim, uint32_t msr, uint64_t *v)
{
	if (!msr_known(msr) || !msr_allowed(sim, msr) || msr_fault(sim, msr, false))
		return -1;
	switch (msr) {
	case HV_MSR_GUEST_OS_ID:
		*v = sim->guest_os_id;
		return 0;
	case HV_MSR_HYPERCALL:
		*v = sim->hypercall;
		return 0;
	case HV_MSR_VP_INDEX:
		*v = sim->cfg.vp_index;
		return 0;
	case MSR_VP_RUNTIME:
	case HV_MSR_TIME_REF_COUNT:
		*v = sim->now;
		return 0;
	case HV_MSR_REFERENCE_TSC:
		*v = sim->reference_tsc;
		return 0;
	case HV_MSR_TSC_FREQUENCY:
		*v = sim->cfg.tsc_hz;
		return 0;
	case HV_MSR_APIC_FREQUENCY:
		*v = sim->cfg.apic_hz;
		return 0;
	case MSR_ICR:
		*v = sim->icr;
		return 0;
	case MSR_TPR:
		*v = sim->tpr;
		return 0;
	case MSR_VP_ASSIST:
		*v = sim->vp_assist;
		return 0;
	case HV_MSR_SCONTROL:
		*v = sim->scontrol;
		return 0;
	case HV_MSR_SVERSION:
		*v = sim->cfg.synic_version;
		return 0;
	case HV_MSR_SIEFP:
		*v = sim->siefp;
		return 0;
	case HV_MSR_SIMP:
		*v = sim->simp;
		return 0;
	case HV_MSR_CRASH_CTL:
		*v = sim->cfg.crash_ctl;
		return 0;
	default:
		break;
	}
	if (msr >= HV_MSR_SINT0 && msr <= MSR_SINT15)
		*v = sim->sint[msr - HV_MSR_SINT0];
	else if (msr >= HV_MSR_STIMER0_CONFIG && msr <= MSR_STIMER_LAST)
		*v = (msr - HV_MSR_STIMER0_CONFIG) % 2 ? sim->stimer[(msr - HV_MSR_STIMER0_CONFIG) / 2].count
						       : sim->stimer[(msr - HV_MSR_STIMER0_CONFIG) / 2].config;
	else if (msr >= HV_MSR_CRASH_P0 && msr <= MSR_CRASH_P4)
		*v = sim->crash_p[msr - HV_MSR_CRASH_P0];
	else
		*v = 0; /* RESET, EOI, EOM (KVM reads them as 0) */
	return 0;
}

static int write_hypercall(struct hv_sim *sim, uint64_t v)
{
	if (sim->fault.hypercall_stays_disabled)
		return 0;
	if (sim->guest_os_id == 0)
		return 0; /* KVM: no guest OS ID, no hypercall page; the write is dropped */
	if ((v & HV_MSR_ENABLE) && (sim->hypercall & HV_MSR_ENABLE) && sim->fault.hypercall_keeps_address)
		v = (v & ~HV_MSR_PAGE_MASK) | (sim->hypercall & HV_MSR_PAGE_MASK);
	if (v & HV_MSR_ENABLE) {
		static const uint8_t amd[4] = { 0x0f, 0x01, 0xd9, 0xc3 }, intel[4] = { 0x0f, 0x01, 0xc1, 0xc3 };
		uint64_t gpa = v & HV_MSR_PAGE_MASK;
		need_ram(sim, "the hypercall page", gpa, 4096);
		memcpy(sim->hypercall_code, sim->cfg.cpu == HV_SIM_CPU_INTEL ? intel : amd, 4);
		if (!sim->fault.hypercall_page_empty)
			memcpy((void *)(uintptr_t)gpa, sim->hypercall_code, 4);
		sim->hypercall_enables++;
	}
	sim->hypercall = v;
	return 0;
}

static void write_eom(struct hv_sim *sim)
{
	bool waiting = false;

	sim->eoms++;
	for (unsigned i = 0; i < HV_SINT_COUNT; i++) {
		if (!sim->queue_len[i])
			continue;
		waiting = true;
		if ((sim->simp & HV_MSR_ENABLE) && slot_of(sim, i)->message_type != HV_MESSAGE_TYPE_NONE)
			sim->eoms_slot_busy++;
	}
	if (!waiting)
		sim->eoms_unneeded++;
	try_deliver_all(sim);
	observe(sim, HV_SIM_TICK_EOM);
}

static void crash(struct hv_sim *sim, uint64_t ctl)
{
	sim->crashes++;
	sim->crash_ctl_written = ctl;
	memcpy(sim->crash_params, sim->crash_p, sizeof(sim->crash_params));
	sim->crash_message[0] = '\0';
	if (ctl & HV_CRASH_CTL_MESSAGE) {
		if (!(sim->cfg.crash_ctl & HV_CRASH_CTL_MESSAGE))
			fail_msg("hv_sim: a crash message on a host whose CRASH_CTL does not offer one");
		uint64_t len = sim->crash_p[4];
		if (len >= sizeof(sim->crash_message))
			fail_msg("hv_sim: crash message of %llu bytes", (unsigned long long)len);
		need_ram(sim, "the crash message", sim->crash_p[3], len ? len : 1);
		memcpy(sim->crash_message, (const void *)(uintptr_t)sim->crash_p[3], len);
		sim->crash_message[len] = '\0';
	}
}

static int wrmsr_inner(struct hv_sim *sim, uint32_t msr, uint64_t v)
{
	if (!msr_known(msr) || !msr_allowed(sim, msr))
		return -1;
	switch (msr_fault(sim, msr, true)) {
	case 1:
		return -1;
	case 2:
		return 0;
	default:
		break;
	}
	switch (msr) {
	case HV_MSR_GUEST_OS_ID:
		sim->guest_os_id = v;
		if (v == 0)
			sim->hypercall &= ~HV_MSR_ENABLE;
		return 0;
	case HV_MSR_HYPERCALL:
		return write_hypercall(sim, v);
	case HV_MSR_VP_INDEX:
	case MSR_VP_RUNTIME:
	case HV_MSR_TIME_REF_COUNT:
	case HV_MSR_TSC_FREQUENCY:
	case HV_MSR_APIC_FREQUENCY:
	case HV_MSR_SVERSION:
		return -1; /* read-only */
	case HV_MSR_RESET:
		if (v & 1)
			sim->resets++;
		return 0;
	case HV_MSR_REFERENCE_TSC:
		if (v & HV_MSR_ENABLE)
			need_ram(sim, "the reference TSC page", v & HV_MSR_PAGE_MASK, 4096);
		sim->reference_tsc = v;
		if (v & HV_MSR_ENABLE)
			reftsc_fill(sim);
		return 0;
	case HV_MSR_EOI:
		hv_sim_eoi(sim);
		return 0;
	case MSR_ICR:
		sim->icr = v;
		return 0;
	case MSR_TPR:
		sim->tpr = v;
		return 0;
	case MSR_VP_ASSIST:
		if (v & HV_MSR_ENABLE)
			need_ram(sim, "the VP assist page", v & HV_MSR_PAGE_MASK, 4096);
		sim->vp_assist = v;
		return 0;
	case HV_MSR_SCONTROL:
		sim->scontrol = v;
		try_deliver_all(sim);
		return 0;
	case HV_MSR_SIEFP:
	case HV_MSR_SIMP:
		if (v & HV_MSR_ENABLE) {
			need_ram(sim, msr == HV_MSR_SIMP ? "SIMP" : "SIEFP", v & HV_MSR_PAGE_MASK, 4096);
			memset((void *)(uintptr_t)(v & HV_MSR_PAGE_MASK), 0, 4096); /* KVM clears the page */
		}
		*(msr == HV_MSR_SIMP ? &sim->simp : &sim->siefp) = v;
		try_deliver_all(sim);
		return 0;
	case HV_MSR_EOM:
		write_eom(sim);
		return 0;
	case HV_MSR_CRASH_CTL:
		if (v & HV_CRASH_CTL_NOTIFY)
			crash(sim, v);
		return 0;
	default:
		break;
	}
	if (msr >= HV_MSR_SINT0 && msr <= MSR_SINT15) {
		if ((v & HV_SINT_VECTOR_MASK) < HV_SINT_VECTOR_MIN && !(v & HV_SINT_MASKED))
			return -1; /* KVM synic_set_sint: vectors 16..255 only */
		sim->sint[msr - HV_MSR_SINT0] = v;
		try_deliver(sim, msr - HV_MSR_SINT0);
		return 0;
	}
	if (msr >= HV_MSR_STIMER0_CONFIG && msr <= MSR_STIMER_LAST)
		return stimer_write(sim, msr, v);
	if (msr >= HV_MSR_CRASH_P0 && msr <= MSR_CRASH_P4) {
		sim->crash_p[msr - HV_MSR_CRASH_P0] = v;
		return 0;
	}
	return -1;
}

static int sim_rdmsr(void *ctx, uint32_t msr, uint64_t *value)
{
	struct hv_sim *sim = ctx;

	check_vendor(sim, msr, false, 0);
	int r = rdmsr_inner(sim, msr, value);
	log_access(sim, msr, false, r != 0, r ? 0 : *value);
	return r;
}

static int sim_wrmsr(void *ctx, uint32_t msr, uint64_t value)
{
	struct hv_sim *sim = ctx;

	check_vendor(sim, msr, true, value);
	/* Logged first: the write may deliver interrupts whose handlers touch MSRs too. */
	log_access(sim, msr, true, false, value);
	size_t at = sim->msr_count - 1;
	int r = wrmsr_inner(sim, msr, value);
	sim->msr_log[at].gp = r != 0;
	return r;
}

/* ---- CPUID ---- */

static struct cpuid_regs vendor_leaf(const struct hv_sim *sim)
{
	struct cpuid_regs r = { .eax = sim->cfg.max_leaf };
	memcpy(&r.ebx, sim->cfg.vendor_id, 4);
	memcpy(&r.ecx, sim->cfg.vendor_id + 4, 4);
	memcpy(&r.edx, sim->cfg.vendor_id + 8, 4);
	return r;
}

static struct cpuid_regs hyperv_leaf(const struct hv_sim *sim, uint32_t leaf)
{
	const struct hv_sim_config *c = &sim->cfg;

	switch (leaf) {
	case HV_CPUID_VENDOR:
		return vendor_leaf(sim);
	case HV_CPUID_INTERFACE:
		return (struct cpuid_regs){ .eax = c->interface };
	case HV_CPUID_VERSION:
		return (struct cpuid_regs){ c->build, c->version, c->service_pack, c->service };
	case HV_CPUID_FEATURES:
		return (struct cpuid_regs){ c->priv_msrs, c->priv_calls, c->power, c->features };
	case HV_CPUID_RECOMMENDATIONS:
		return (struct cpuid_regs){ c->recommendations, c->spin_retries, c->phys_bits, 0 };
	case HV_CPUID_LIMITS:
		return (struct cpuid_regs){ c->max_vps, c->max_lps, c->max_irq_vectors, 0 };
	case HV_CPUID_HW_FEATURES:
		return (struct cpuid_regs){ .eax = c->hw_features };
	case HV_CPUID_ISOLATION:
		return (struct cpuid_regs){ .eax = c->isolation_eax, .ebx = c->isolation_ebx };
	default:
		return (struct cpuid_regs){ 0 };
	}
}

static struct cpuid_regs sim_cpuid(void *ctx, uint32_t leaf, uint32_t subleaf)
{
	struct hv_sim *sim = ctx;
	(void)subleaf;

	if (leaf == 0) {
		struct cpuid_regs r = { .eax = 0xd };
		const char *id = sim->cfg.cpu == HV_SIM_CPU_INTEL ? "GenuineIntel" : "AuthenticAMD";
		memcpy(&r.ebx, id, 4);
		memcpy(&r.edx, id + 4, 4);
		memcpy(&r.ecx, id + 8, 4);
		return r;
	}
	if (leaf == 1)
		return (struct cpuid_regs){ .eax = 0x00a00f11u, .ebx = 0x00000800u,
					    .ecx = 0x76d8320bu | (sim->cfg.vendor != HV_SIM_VENDOR_NONE ? 1u << 31 : 0),
					    .edx = 0x178bfbffu };
	if (leaf >= HV_CPUID_VENDOR && leaf <= 0x4fffffffu) {
		if (sim->cfg.vendor == HV_SIM_VENDOR_NONE)
			return hyperv_leaf(sim, leaf); /* the trap described in hv_sim.h */
		if (leaf > sim->cfg.max_leaf)
			fail_msg("hv_sim: CPUID leaf 0x%x, above the hypervisor's maximum 0x%x", leaf, sim->cfg.max_leaf);
		if (sim->cfg.vendor != HV_SIM_VENDOR_HYPERV)
			return leaf == HV_CPUID_VENDOR ? vendor_leaf(sim)
						       : (struct cpuid_regs){ .eax = sim->cfg.interface };
		return hyperv_leaf(sim, leaf);
	}
	fail_msg("hv_sim: unexpected CPUID leaf 0x%x", leaf);
	return (struct cpuid_regs){ 0 };
}

/* ---- hypercalls ---- */

static struct hv_sim_connection *find_connection(struct hv_sim *sim, uint32_t id, bool events)
{
	for (unsigned i = 0; i < sim->nconn; i++)
		if (sim->conn[i].id == id && (events ? sim->conn[i].events : sim->conn[i].messages))
			return &sim->conn[i];
	return NULL;
}

struct hv_sim_connection *hv_sim_add_connection(struct hv_sim *sim, uint32_t id, bool messages, bool events,
						hv_sim_post_fn post, hv_sim_signal_fn signal, void *ctx)
{
	if (sim->nconn >= HV_SIM_CONNECTIONS)
		fail_msg("hv_sim: too many connections");
	struct hv_sim_connection *c = &sim->conn[sim->nconn++];
	*c = (struct hv_sim_connection){
		.id = id, .post = post, .signal = signal, .ctx = ctx, .messages = messages, .events = events,
	};
	return c;
}

static uint16_t post_message(struct hv_sim *sim, const struct hv_sim_call *c)
{
	if (!(sim->cfg.priv_calls & HV_PRIV_POST_MESSAGES))
		return HV_STATUS_ACCESS_DENIED;
	if (c->rep_count || c->rep_start || c->varhead)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (c->fast)
		return HV_STATUS_INVALID_HYPERCALL_CODE;
	if ((c->input & 7) || (c->input & 0xfff) + sizeof(struct hv_post_message_input) > 4096)
		return HV_STATUS_INVALID_ALIGNMENT;
	need_ram(sim, "the PostMessage input", c->input, sizeof(struct hv_post_message_input));

	const struct hv_post_message_input *in = (const struct hv_post_message_input *)(uintptr_t)c->input;
	struct hv_sim_posted rec = {
		.connection = in->connection_id, .type = in->message_type, .size = in->payload_size, .time = sim->now,
	};
	memcpy(rec.payload, in->payload, sizeof(rec.payload));
	struct hv_sim_connection *conn = NULL;
	uint16_t st;
	if (in->message_type == 0 || in->message_type >= 0x80000000u || in->payload_size > HV_MESSAGE_PAYLOAD_MAX ||
	    in->reserved != 0) {
		st = HV_STATUS_INVALID_PARAMETER;
	} else if (!(conn = find_connection(sim, in->connection_id, false))) {
		st = HV_STATUS_INVALID_CONNECTION_ID;
	} else if (sim->fault.post_busy) {
		sim->fault.post_busy--;
		st = sim->fault.post_busy_status ? sim->fault.post_busy_status : HV_STATUS_INSUFFICIENT_BUFFERS;
	} else {
		conn->posts++;
		st = conn->post ? conn->post(conn->ctx, sim, &rec) : HV_STATUS_SUCCESS;
	}
	rec.status = st;
	if (sim->nposted < HV_SIM_POSTED_MAX)
		sim->posted[sim->nposted] = rec;
	sim->nposted++;
	return st;
}

static uint16_t signal_event(struct hv_sim *sim, const struct hv_sim_call *c)
{
	if (!(sim->cfg.priv_calls & HV_PRIV_SIGNAL_EVENTS))
		return HV_STATUS_ACCESS_DENIED;
	if (c->rep_count || c->rep_start || c->varhead || !c->fast)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (c->input & 0x0000ffff00000000ull)
		return HV_STATUS_INVALID_PORT_ID; /* KVM and QEMU use no flag numbers */
	if (c->input & ~CONNECTION_ID_MASK)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	struct hv_sim_connection *conn = find_connection(sim, (uint32_t)c->input, true);
	if (!conn)
		return HV_STATUS_INVALID_CONNECTION_ID;
	uint16_t st = conn->signal ? conn->signal(conn->ctx, sim, (uint32_t)c->input) : HV_STATUS_SUCCESS;
	if (st == HV_STATUS_SUCCESS) {
		conn->signals++;
		sim->signals++;
	}
	return st;
}

static uint64_t rep_call(struct hv_sim *sim, const struct hv_sim_call *c)
{
	if (c->rep_count == 0 || c->rep_start >= c->rep_count)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (sim->rep.calls < HV_SIM_REP_LOG) {
		sim->rep.start[sim->rep.calls] = c->rep_start;
		sim->rep.count[sim->rep.calls] = c->rep_count;
	}
	sim->rep.calls++;
	unsigned n = c->rep_count - c->rep_start;
	if (sim->rep.per_call && n > sim->rep.per_call)
		n = sim->rep.per_call;
	if (sim->rep.no_progress)
		n = 0;
	uint16_t st = HV_STATUS_SUCCESS;
	if (sim->rep.fail_at >= 0 && (unsigned)sim->rep.fail_at >= c->rep_start &&
	    (unsigned)sim->rep.fail_at < c->rep_start + n) {
		n = (unsigned)sim->rep.fail_at - c->rep_start;
		st = sim->rep.fail_status;
	}
	return st | (uint64_t)(c->rep_start + n) << HV_CALL_REP_COUNT_SHIFT;
}

static uint64_t hypercall_inner(struct hv_sim *sim, uintptr_t page, uint64_t control, uint64_t input,
				uint64_t output);

static uint64_t sim_hypercall(void *ctx, uintptr_t page, uint64_t control, uint64_t input, uint64_t output)
{
	struct hv_sim *sim = ctx;
	uint64_t r = hypercall_inner(sim, page, control, input, output);

	observe(sim, HV_SIM_TICK_HYPERCALL);
	return r;
}

static uint64_t hypercall_inner(struct hv_sim *sim, uintptr_t page, uint64_t control, uint64_t input,
				uint64_t output)
{
	if (!(sim->hypercall & HV_MSR_ENABLE))
		fail_msg("hv_sim: hypercall 0x%llx through %p while the hypercall page is disabled",
			 (unsigned long long)control, (void *)page);
	if (page != (sim->hypercall & HV_MSR_PAGE_MASK))
		fail_msg("hv_sim: hypercall through %p, not the hypercall page 0x%llx", (void *)page,
			 (unsigned long long)(sim->hypercall & HV_MSR_PAGE_MASK));
	if (sim->fault.hypercall_page_empty || memcmp((const void *)page, sim->hypercall_code, 4) != 0)
		fail_msg("hv_sim: hypercall through a page that holds no hypercall code");

	struct hv_sim_call c = {
		.control = control,
		.code = (uint16_t)control,
		.fast = (control & HV_CALL_FAST) != 0,
		.varhead = (unsigned)(control >> HV_CALL_VARHEAD_SHIFT) & 0x3ff,
		.rep_count = (unsigned)(control >> HV_CALL_REP_COUNT_SHIFT) & HV_CALL_REP_MAX,
		.rep_start = (unsigned)(control >> HV_CALL_REP_START_SHIFT) & HV_CALL_REP_MAX,
		.input = input,
		.output = output,
	};
	sim->last_call = c;
	sim->calls++;
	if (control & CALL_RSVD_MASK)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (c.code == HVCALL_POST_MESSAGE)
		return post_message(sim, &c);
	if (c.code == HVCALL_SIGNAL_EVENT)
		return signal_event(sim, &c);
	if (sim->rep.code && c.code == sim->rep.code)
		return rep_call(sim, &c);
	if (sim->call_fn)
		return sim->call_fn(sim->call_ctx, sim, &c);
	return HV_STATUS_INVALID_HYPERCALL_CODE;
}

/* ---- the CPU ---- */

static uint64_t sim_rdtsc(void *ctx)
{
	struct hv_sim *sim = ctx;

	sim->rdtscs++;
	hv_sim_advance(sim, sim->cfg.rdtsc_cost);
	if (sim->fault.reftsc_torn && (sim->reference_tsc & HV_MSR_ENABLE)) {
		/* The host updated the page (a migration moved the TSC) between the guest's two sequence reads. */
		sim->fault.reftsc_torn--;
		uint64_t step = sim->cfg.tsc_hz % REF_HZ ? 2500000007ull : sim->cfg.tsc_hz / REF_HZ * 1000003u;
		hv_sim_move_tsc(sim, (int64_t)step);
	}
	return hv_sim_tsc(sim);
}

static void sim_halt(void *ctx)
{
	struct hv_sim *sim = ctx;

	if (++sim->halts > HV_SIM_MAX_HALTS)
		fail_msg("hv_sim: %u halts: the guest never stopped waiting", HV_SIM_MAX_HALTS);
	if (!cpu_sim_irqs_on())
		fail_msg("hv_sim: halt with interrupts off: nothing could wake the CPU");
	uint64_t wakes = sim->interrupts + sim->lapic_wakes;
	observe(sim, HV_SIM_TICK_HALT);
	hv_sim_deliver(sim);
	while (sim->interrupts + sim->lapic_wakes == wakes) {
		if (++sim->idle_halts > HV_SIM_IDLE_HALTS)
			fail_msg("hv_sim: the CPU halted and nothing woke it for %u steps (now %llu)", HV_SIM_IDLE_HALTS,
				 (unsigned long long)sim->now);
		uint64_t e = next_event(sim);
		run_until(sim, e == NO_TIME ? sim->now + HV_SIM_IDLE_STEP : (e > sim->now ? e : sim->now));
	}
	sim->idle_halts = 0;
}

static void sim_irq_enabled(void *ctx)
{
	hv_sim_deliver(ctx);
}

struct hv_sim *hv_sim_current(void)
{
	struct hv_sim *sim = cpu_sim_ctx();
	return sim && sim->magic == HV_SIM_MAGIC ? sim : NULL;
}

void hv_sim_start(struct hv_sim *sim, const struct hv_sim_config *cfg)
{
	memset(sim, 0, sizeof(*sim));
	if (cfg)
		sim->cfg = *cfg;
	else
		hv_sim_config_default(&sim->cfg);
	if (sim->cfg.tsc_hz < REF_HZ)
		fail_msg("hv_sim: a TSC of %llu Hz", (unsigned long long)sim->cfg.tsc_hz);
	sim->magic = HV_SIM_MAGIC;
	sim->now = sim->cfg.start_time;
	sim->tsc_at_zero = sim->cfg.tsc_at_zero;
	for (unsigned i = 0; i < HV_SINT_COUNT; i++)
		sim->sint[i] = HV_SINT_MASKED;
	sim->rep.fail_at = -1;

	struct cpu_sim_ops ops = {
		.ctx = sim,
		.cpuid = sim_cpuid,
		.rdmsr = sim_rdmsr,
		.wrmsr = sim_wrmsr,
		.rdtsc = sim_rdtsc,
		.halt = sim_halt,
		.hypercall = sim_hypercall,
		.irq_enabled = sim_irq_enabled,
	};
	cpu_sim_install(&ops);
}

void hv_sim_stop(struct hv_sim *sim)
{
	bool in_service = sim->isr[0] | sim->isr[1] | sim->isr[2] | sim->isr[3];
	uint64_t stray = sim->stray_eois;

	cpu_sim_install(NULL);
	for (size_t i = 0; i < sim->npages; i++)
		if (sim->pages[i].live)
			free(sim->pages[i].addr);
	free(sim->pages);
	free(sim->msr_log);
	sim->pages = NULL;
	sim->msr_log = NULL;
	sim->npages = sim->pages_cap = sim->msr_count = sim->msr_cap = 0;
	sim->magic = 0;
	if (stray)
		fail_msg("hv_sim: %llu EOIs with no interrupt in service", (unsigned long long)stray);
	if (in_service)
		fail_msg("hv_sim: an interrupt was never EOI'd (ISR %016llx%016llx%016llx%016llx)",
			 (unsigned long long)sim->isr[3], (unsigned long long)sim->isr[2],
			 (unsigned long long)sim->isr[1], (unsigned long long)sim->isr[0]);
}

void *hv_sim_firmware_hypercall(struct hv_sim *sim, uint64_t guest_os_id)
{
	void *page = hv_sim_page(sim);

	if (!sim->guest_os_id)
		sim->guest_os_id = guest_os_id;
	write_hypercall(sim, (uint64_t)(uintptr_t)page | HV_MSR_ENABLE);
	return page;
}

/* ---- MSR log queries ---- */

unsigned hv_sim_msr_count(const struct hv_sim *sim, uint32_t msr, bool write)
{
	unsigned n = 0;
	for (size_t i = 0; i < sim->msr_count; i++)
		n += sim->msr_log[i].msr == msr && sim->msr_log[i].write == write;
	return n;
}

bool hv_sim_last_write(const struct hv_sim *sim, uint32_t msr, uint64_t *value)
{
	for (size_t i = sim->msr_count; i-- > 0;)
		if (sim->msr_log[i].msr == msr && sim->msr_log[i].write) {
			*value = sim->msr_log[i].value;
			return true;
		}
	return false;
}

long hv_sim_msr_find(const struct hv_sim *sim, size_t from, uint32_t msr, bool write)
{
	for (size_t i = from; i < sim->msr_count; i++)
		if (sim->msr_log[i].msr == msr && sim->msr_log[i].write == write)
			return (long)i;
	return -1;
}

unsigned hv_sim_hv_msr_accesses(const struct hv_sim *sim)
{
	unsigned n = 0;
	for (size_t i = 0; i < sim->msr_count; i++)
		n += sim->msr_log[i].msr >= HV_MSR_FIRST && sim->msr_log[i].msr <= HV_MSR_LAST;
	return n;
}
