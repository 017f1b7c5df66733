/*
 * Self-tests of the simulated Hyper-V host (tests/hostsim/hv_sim.c), driven
 * through the simulated CPU directly, without hv/: the rules its header
 * promises, so the hv/ tests stand on a host that behaves as documented.
 */
#include <hvrt/mem.h>

#include "arch/x86_64/lapic.h"
#include "arch/x86_64/tsc.h"

#include "tests/unit/hv_fixture.h"

#define MS 10000u

static uint64_t rd(uint32_t msr)
{
	uint64_t v = 0;
	assert_int_equal(cpu_rdmsr_safe(msr, &v), 0);
	return v;
}

static void wr(uint32_t msr, uint64_t v)
{
	assert_int_equal(cpu_wrmsr_safe(msr, v), 0);
}

static bool gp_rd(uint32_t msr)
{
	uint64_t v;
	return cpu_rdmsr_safe(msr, &v) != 0;
}

static bool gp_wr(uint32_t msr, uint64_t v)
{
	return cpu_wrmsr_safe(msr, v) != 0;
}

/* Privileges, unknown MSRs, read-only MSRs, reserved values KVM refuses. */
static void test_msr_rules(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_TIME_REF_COUNT;
	start();
	assert_true(gp_rd(HV_MSR_TIME_REF_COUNT));          /* privilege bit clear */
	assert_true(gp_rd(HV_MSR_CRASH_CTL));               /* EDX bit 10 clear */
	assert_true(gp_rd(HV_MSR_RESET));                   /* EAX bit 7 clear */
	assert_true(gp_rd(0x40000050));                     /* unknown */
	assert_true(gp_wr(0x400000f0, 0));
	assert_true(gp_rd(0x10));                           /* not a Hyper-V MSR at all */
	assert_true(gp_wr(HV_MSR_VP_INDEX, 1));             /* read-only */
	assert_true(gp_wr(HV_MSR_SVERSION, 1));
	assert_true(gp_wr(HV_MSR_TSC_FREQUENCY, 1));
	assert_true(gp_wr(HV_MSR_APIC_FREQUENCY, 1));
	assert_int_equal(rd(HV_MSR_SVERSION), 1);
	assert_int_equal(rd(HV_MSR_TSC_FREQUENCY), 2500000000ull);
	assert_int_equal(rd(HV_MSR_SINT0 + 4), HV_SINT_MASKED);     /* reset value */
	assert_true(gp_wr(HV_MSR_SINT0 + 4, 0x0f));                 /* vector < 16, unmasked */
	wr(HV_MSR_SINT0 + 4, HV_SINT_MASKED);                        /* vector 0 masked is fine */
	wr(HV_MSR_SINT0 + 4, 0x10 | HV_SINT_MASKED);
	assert_true(gp_wr(HV_MSR_STIMER0_CONFIG, 1ull << 12 | 1)); /* direct mode without EDX bit 19 */
	assert_int_equal(rd(HV_MSR_EOM), 0);
	/* the log holds every access, faults marked */
	assert_true(sim.msr_log[0].gp);
	assert_int_equal(sim.msr_log[0].msr, HV_MSR_TIME_REF_COUNT);
	assert_int_equal(hv_sim_hv_msr_accesses(&sim), sim.msr_count - 1);
	cfg.priv_msrs |= HV_PRIV_TIME_REF_COUNT;
	teardown(NULL);

	setup(NULL);
	start();
	hv_sim_advance(&sim, 777);
	assert_int_equal(rd(HV_MSR_TIME_REF_COUNT), cfg.start_time + 777);
	assert_true(gp_wr(HV_MSR_TIME_REF_COUNT, 5));
	/* injected faults: after one good read, and writes dropped */
	hv_sim_fault_msr_after(&sim, HV_MSR_VP_INDEX, true, false, 1);
	assert_false(gp_rd(HV_MSR_VP_INDEX));
	assert_true(gp_rd(HV_MSR_VP_INDEX));
	hv_sim_ignore_msr_writes(&sim, HV_MSR_SCONTROL);
	wr(HV_MSR_SCONTROL, 1);
	assert_int_equal(rd(HV_MSR_SCONTROL), 0);
}

/* KVM: no hypercall page without a guest OS ID; writing the ID 0 disables it; the code is written in. */
static void test_hypercall_msr(void **state)
{
	(void)state;
	start();
	uint8_t *page = hvrt_page_alloc(1);
	wr(HV_MSR_HYPERCALL, (uint64_t)(uintptr_t)page | 1);
	assert_int_equal(rd(HV_MSR_HYPERCALL), 0);
	assert_int_equal(page[0], 0);
	wr(HV_MSR_GUEST_OS_ID, 0x8100000000000000ull);
	wr(HV_MSR_HYPERCALL, (uint64_t)(uintptr_t)page | 1);
	assert_int_equal(rd(HV_MSR_HYPERCALL), (uint64_t)(uintptr_t)page | 1);
	assert_memory_equal(page, "\x0f\x01\xd9\xc3", 4);
	wr(HV_MSR_GUEST_OS_ID, 0);
	assert_int_equal(rd(HV_MSR_HYPERCALL), (uint64_t)(uintptr_t)page);
	hvrt_page_free(page, 1);
	assert_int_equal(hv_sim_pages_live(&sim), 0);

	/* hypercall_keeps_address: an enabling write over an enabled page keeps the old one */
	void *fw = hv_sim_firmware_hypercall(&sim, 1);
	sim.fault.hypercall_keeps_address = true;
	page = hvrt_page_alloc(1);
	wr(HV_MSR_HYPERCALL, (uint64_t)(uintptr_t)page | 1);
	assert_int_equal(rd(HV_MSR_HYPERCALL), (uint64_t)(uintptr_t)fw | 1);
	assert_int_equal(page[0], 0);
	hvrt_page_free(page, 1);
	wr(HV_MSR_HYPERCALL, 0); /* disabling still works, and then a new page is taken */
	page = hvrt_page_alloc(1);
	wr(HV_MSR_HYPERCALL, (uint64_t)(uintptr_t)page | 1);
	assert_int_equal(rd(HV_MSR_HYPERCALL), (uint64_t)(uintptr_t)page | 1);
	wr(HV_MSR_HYPERCALL, 0);
	hvrt_page_free(page, 1);
}

/* The reference TSC page: sequence, scale and offset that give the host's time; RDTSC costs time. */
static void test_reference_tsc_page(void **state)
{
	(void)state;
	start();
	struct hv_reference_tsc_page *p = hvrt_page_alloc(1);
	wr(HV_MSR_REFERENCE_TSC, (uint64_t)(uintptr_t)p | 1);
	assert_int_equal(p->tsc_sequence, 1);
	for (int i = 0; i < 4; i++) {
		uint64_t before = hv_sim_now(&sim);
		uint64_t tsc = cpu_rdtsc();
		assert_int_equal(hv_sim_now(&sim), before + 1);
		assert_int_equal(tsc, hv_sim_tsc(&sim));
		uint64_t t = (uint64_t)(((unsigned __int128)tsc * p->tsc_scale) >> 64) + (uint64_t)p->tsc_offset;
		assert_int_equal(t, hv_sim_now(&sim));
		hv_sim_advance(&sim, 1234567891ull);
	}
	hv_sim_reftsc_set_valid(&sim, false);
	assert_int_equal(p->tsc_sequence, 0);
	hv_sim_reftsc_set_valid(&sim, true);
	assert_int_equal(p->tsc_sequence, 2);
	wr(HV_MSR_REFERENCE_TSC, 0);
	hvrt_page_free(p, 1);
}

static unsigned handled;

static void count_handler(void *ctx, struct trap_frame *frame)
{
	(void)ctx;
	assert_int_equal(frame->vector, 0x50);
	handled++;
	lapic_eoi();
}

/* Message queue: slot, MessagePending, EOM; the vector raised per message put in the slot. */
static void test_message_delivery(void **state)
{
	(void)state;
	start();
	handled = 0;
	assert_int_equal(trap_set_handler(0x50, count_handler, NULL), 0);
	struct hv_message *simp = hvrt_page_alloc(1);
	memset(simp, 0xff, 4096);
	assert_true(hv_sim_post(&sim, 1, 7, "a", 1));
	assert_true(hv_sim_post(&sim, 1, 8, "b", 1));
	wr(HV_MSR_SIMP, (uint64_t)(uintptr_t)simp | 1);
	assert_int_equal(simp[1].message_type, 0); /* zeroed on enable; SCONTROL still off */
	wr(HV_MSR_SCONTROL, 1);
	assert_int_equal(simp[1].message_type, 0); /* SINT masked */
	wr(HV_MSR_SINT0 + 1, 0x50);
	assert_int_equal(simp[1].message_type, 7);
	assert_int_equal(simp[1].message_flags, HV_MESSAGE_FLAG_PENDING);
	assert_int_equal(handled, 1);
	assert_int_equal(sim.eois, 1);
	simp[1].message_type = 0;
	wr(HV_MSR_EOM, 0);
	assert_int_equal(simp[1].message_type, 8);
	assert_int_equal(simp[1].message_flags, 0);
	assert_int_equal(handled, 2);
	/* a third behind a full slot: the flag is set on the slot */
	assert_true(hv_sim_post(&sim, 1, 9, "c", 1));
	assert_int_equal(simp[1].message_flags, HV_MESSAGE_FLAG_PENDING);
	wr(HV_MSR_EOM, 0); /* EOM with the slot still full: nothing moves */
	assert_int_equal(sim.eoms_slot_busy, 1);
	assert_int_equal(simp[1].message_type, 8);
	simp[1].message_type = 0;
	wr(HV_MSR_EOM, 0);
	assert_int_equal(simp[1].message_type, 9);
	simp[1].message_type = 0;
	wr(HV_MSR_EOM, 0);
	assert_int_equal(sim.eoms_unneeded, 1);
	wr(HV_MSR_SINT0 + 1, HV_SINT_MASKED);
	wr(HV_MSR_SIMP, 0);
	wr(HV_MSR_SCONTROL, 0);
	trap_set_handler(0x50, NULL, NULL);
}

/* Stimers: absolute one-shot, auto-enable, SINT 0 refused in message mode, periodic, COUNT 0 stops. */
static void test_stimer_rules(void **state)
{
	(void)state;
	start();
	uint64_t now = hv_sim_now(&sim);
	wr(HV_MSR_STIMER0_CONFIG, HV_STIMER_ENABLE); /* SINT 0: stays off */
	wr(HV_MSR_STIMER0_COUNT, now + MS);
	assert_int_equal(rd(HV_MSR_STIMER0_CONFIG), 0);
	assert_int_equal(sim.stimer[0].due, 0);
	wr(HV_MSR_STIMER0_CONFIG, 1u << 3 | 4u << 16); /* auto-enable: the next COUNT starts it */
	assert_int_equal(sim.stimer[0].due, 0);
	wr(HV_MSR_STIMER0_COUNT, now + 2 * MS);
	assert_true(rd(HV_MSR_STIMER0_CONFIG) & HV_STIMER_ENABLE);
	assert_int_equal(sim.stimer[0].due, now + 2 * MS);
	hv_sim_advance(&sim, 2 * MS);
	assert_int_equal(sim.stimer[0].fired, 1);
	assert_false(rd(HV_MSR_STIMER0_CONFIG) & HV_STIMER_ENABLE); /* a one-shot is over */
	assert_int_equal(sim.queue_len[4], 1);
	/* periodic, then COUNT 0 stops it */
	wr(HV_MSR_STIMER0_COUNT + 2, MS);
	wr(HV_MSR_STIMER0_CONFIG + 2, HV_STIMER_ENABLE | HV_STIMER_PERIODIC | 5u << 16);
	hv_sim_advance(&sim, 3 * MS);
	assert_int_equal(sim.stimer[1].fired, 1); /* one queued, later ones skipped while it waits */
	assert_int_equal(sim.stimer[1].missed, 2);
	wr(HV_MSR_STIMER0_COUNT + 2, 0);
	assert_false(rd(HV_MSR_STIMER0_CONFIG + 2) & HV_STIMER_ENABLE);
	assert_int_equal(sim.stimer[1].due, 0);
}

/* A halt goes to the next stimer expiry and ends with its interrupt. */
static void test_halt_to_next_event(void **state)
{
	(void)state;
	start();
	handled = 0;
	assert_int_equal(trap_set_handler(0x50, count_handler, NULL), 0);
	struct hv_message *simp = hvrt_page_alloc(1);
	wr(HV_MSR_SIMP, (uint64_t)(uintptr_t)simp | 1);
	wr(HV_MSR_SCONTROL, 1);
	wr(HV_MSR_SINT0 + 6, 0x50);
	uint64_t due = hv_sim_now(&sim) + 7 * MS;
	wr(HV_MSR_STIMER0_COUNT + 4, due);
	wr(HV_MSR_STIMER0_CONFIG + 4, HV_STIMER_ENABLE | 6u << 16);
	cpu_irq_enable_and_halt();
	assert_int_equal(hv_sim_now(&sim), due);
	assert_int_equal(handled, 1);
	assert_int_equal(simp[6].message_type, HV_MESSAGE_TYPE_TIMER_EXPIRED);
	struct hv_timer_message_payload p;
	memcpy(&p, simp[6].payload, sizeof(p));
	assert_int_equal(p.timer_index, 2);
	assert_int_equal(p.expiration_time, due);
	assert_int_equal(p.delivery_time, due);
	/* interrupts off: a raised vector waits for them */
	simp[6].message_type = 0;
	cpu_irq_disable();
	assert_true(hv_sim_post(&sim, 6, 1, NULL, 0));
	assert_int_equal(handled, 1);
	cpu_irq_enable();
	assert_int_equal(handled, 2);
	wr(HV_MSR_SINT0 + 6, HV_SINT_MASKED);
	wr(HV_MSR_SIMP, 0);
	trap_set_handler(0x50, NULL, NULL);
}

static uint64_t call(uint64_t control, uint64_t in, uint64_t out)
{
	return cpu_hypercall((const void *)(uintptr_t)(sim.hypercall & HV_MSR_PAGE_MASK), control, in, out);
}

/* Hypercall decoding and the PostMessage / SignalEvent checks. */
static void test_hypercall_checks(void **state)
{
	(void)state;
	start();
	hv_sim_firmware_hypercall(&sim, 1);
	hv_sim_add_connection(&sim, 1, true, false, NULL, NULL, NULL);
	hv_sim_add_connection(&sim, 2, false, true, NULL, NULL, NULL);
	uint8_t *page = hvrt_page_alloc(1);
	struct hv_post_message_input *in = (void *)page;
	uint64_t gpa = (uint64_t)(uintptr_t)page;
	in->connection_id = 1;
	in->message_type = 1;
	in->payload_size = 240;
	assert_int_equal(call(HVCALL_POST_MESSAGE, gpa, 0), HV_STATUS_SUCCESS);
	assert_int_equal(call(HVCALL_POST_MESSAGE | 1ull << 27, gpa, 0), HV_STATUS_INVALID_HYPERCALL_INPUT);
	assert_int_equal(call(HVCALL_POST_MESSAGE | 1ull << 32, gpa, 0), HV_STATUS_INVALID_HYPERCALL_INPUT);
	assert_int_equal(call(HVCALL_POST_MESSAGE | HV_CALL_FAST, gpa, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(call(HVCALL_POST_MESSAGE, gpa + 4, 0), HV_STATUS_INVALID_ALIGNMENT);
	assert_int_equal(call(HVCALL_POST_MESSAGE, gpa + 4096 - 128, 0), HV_STATUS_INVALID_ALIGNMENT);
	in->payload_size = 241;
	assert_int_equal(call(HVCALL_POST_MESSAGE, gpa, 0), HV_STATUS_INVALID_PARAMETER);
	in->payload_size = 0;
	in->message_type = 0x80000000u;
	assert_int_equal(call(HVCALL_POST_MESSAGE, gpa, 0), HV_STATUS_INVALID_PARAMETER);
	in->message_type = 1;
	in->reserved = 1;
	assert_int_equal(call(HVCALL_POST_MESSAGE, gpa, 0), HV_STATUS_INVALID_PARAMETER);
	in->reserved = 0;
	in->connection_id = 2; /* an event connection */
	assert_int_equal(call(HVCALL_POST_MESSAGE, gpa, 0), HV_STATUS_INVALID_CONNECTION_ID);
	assert_int_equal(sim.nposted, 5); /* recorded once the input could be read */

	assert_int_equal(call(HVCALL_SIGNAL_EVENT | HV_CALL_FAST, 2, 0), HV_STATUS_SUCCESS);
	assert_int_equal(call(HVCALL_SIGNAL_EVENT, gpa, 0), HV_STATUS_INVALID_HYPERCALL_INPUT);
	assert_int_equal(call(HVCALL_SIGNAL_EVENT | HV_CALL_FAST, 1ull << 32 | 2, 0), 0x11);
	assert_int_equal(call(HVCALL_SIGNAL_EVENT | HV_CALL_FAST, 1ull << 24 | 2, 0), HV_STATUS_INVALID_HYPERCALL_INPUT);
	assert_int_equal(call(HVCALL_SIGNAL_EVENT | HV_CALL_FAST, 1, 0), HV_STATUS_INVALID_CONNECTION_ID);
	assert_int_equal(sim.signals, 1);

	sim.rep.code = 3;
	sim.rep.per_call = 2;
	assert_int_equal(call(3, 0, 0), HV_STATUS_INVALID_HYPERCALL_INPUT);           /* rep count 0 */
	assert_int_equal(call(3 | 4ull << 32 | 4ull << 48, 0, 0), HV_STATUS_INVALID_HYPERCALL_INPUT);
	assert_int_equal(call(3 | 5ull << 32 | 1ull << 48, 0, 0), HV_STATUS_SUCCESS | 3ull << 32);
	assert_int_equal(call(0x99, 0, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
	assert_int_equal(sim.last_call.code, 0x99);
}

/*
 * The guest's TSC rate (tsc_hz() and tsc_deadline_after_ns()) follows
 * cfg.guest_tsc_hz, the host's TSC does not; hv_sim_move_tsc moves the TSC
 * both ways, keeps the LAPIC timer's remaining time and re-offsets the page.
 */
static void test_guest_tsc_rate_and_moves(void **state)
{
	(void)state;
	start();
	assert_int_equal(tsc_hz(), cfg.tsc_hz); /* by default the guest knows the rate */
	teardown(NULL);

	setup(NULL);
	cfg.guest_tsc_hz = 2000000000ull;
	start();
	assert_int_equal(tsc_hz(), 2000000000ull);
	assert_int_equal(rd(HV_MSR_TSC_FREQUENCY), cfg.tsc_hz);
	uint64_t before = hv_sim_tsc(&sim);
	uint64_t d = tsc_deadline_after_ns(1000000); /* 1 ms at the guest's 2 GHz: 2e6 ticks */
	assert_int_equal(d, before + 250 + 2000000);     /* its RDTSC cost 100 ns = 250 ticks */
	assert_int_equal(hv_sim_time_of_tsc(&sim, d) - hv_sim_now(&sim), 8000); /* 0.8 ms of the host's */

	struct hv_reference_tsc_page *p = hvrt_page_alloc(1);
	wr(HV_MSR_REFERENCE_TSC, (uint64_t)(uintptr_t)p | 1);
	assert_true(lapic_timer_arm(hv_sim_tsc(&sim) + 5 * 250 * MS / 10)); /* 0.5 ms */
	uint64_t due = hv_sim_time_of_tsc(&sim, sim.lapic_deadline);
	static const int64_t moves[] = { -3 * 2500000000ll, 7 * 2500000000ll + 12345 };
	for (unsigned i = 0; i < 2; i++) {
		uint64_t tsc = hv_sim_tsc(&sim);
		hv_sim_move_tsc(&sim, moves[i]);
		assert_int_equal(hv_sim_tsc(&sim), tsc + (uint64_t)moves[i]);
		assert_int_equal(hv_sim_time_of_tsc(&sim, sim.lapic_deadline), due);
		uint64_t t = cpu_rdtsc();
		assert_int_equal((uint64_t)(((unsigned __int128)t * p->tsc_scale) >> 64) + (uint64_t)p->tsc_offset,
				 hv_sim_now(&sim));
	}
	/* an invalid page stays invalid */
	hv_sim_reftsc_set_valid(&sim, false);
	hv_sim_move_tsc(&sim, -2500000000ll);
	assert_int_equal(p->tsc_sequence, 0);
	hv_sim_advance(&sim, MS);
	assert_int_equal(sim.lapic_fires, 1);
	wr(HV_MSR_REFERENCE_TSC, 0);
	hvrt_page_free(p, 1);
}

static unsigned now_calls;

static uint64_t counting_now(void)
{
	now_calls++;
	return 42;
}

static void no_sleep(uint64_t deadline)
{
	(void)deadline;
}

static uint64_t res_100(void)
{
	return 100;
}

/* glue_clock_install reads the new clock once, as libc-glue/time.c does. */
static void test_clock_install_reads_once(void **state)
{
	static const struct glue_clock c = {
		.name = "counting", .now_ns = counting_now, .sleep_until_ns = no_sleep, .resolution_ns = res_100,
	};
	(void)state;
	start();
	now_calls = 0;
	glue_clock_install(&c);
	assert_int_equal(now_calls, 1);
	assert_ptr_equal(sim.clock, &c);
	assert_int_equal(sim.clock_installs, 1);
}

/* Pages: zeroed and aligned, counted, RAM only while live. */
static void test_pages(void **state)
{
	(void)state;
	start();
	uint8_t *a = hvrt_page_alloc(2);
	assert_int_equal((uintptr_t)a % 4096, 0);
	for (unsigned i = 0; i < 8192; i++)
		assert_int_equal(a[i], 0);
	assert_int_equal(hv_sim_pages_live(&sim), 2);
	assert_true(hv_sim_is_ram(&sim, (uint64_t)(uintptr_t)a + 4000, 4000));
	assert_false(hv_sim_is_ram(&sim, (uint64_t)(uintptr_t)a + 8000, 200));
	void *own = hv_sim_page(&sim);
	assert_int_equal(hv_sim_pages_live(&sim), 2);
	assert_true(hv_sim_is_ram(&sim, (uint64_t)(uintptr_t)own, 4096));
	hvrt_page_free(a, 2);
	assert_int_equal(hv_sim_pages_live(&sim), 0);
	sim.fault.alloc_fail_in = 2;
	void *b = hvrt_page_alloc(1);
	assert_non_null(b);
	assert_null(hvrt_page_alloc(1));
	void *c = hvrt_page_alloc(1);
	assert_non_null(c);
	hvrt_page_free(b, 1);
	hvrt_page_free(c, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_msr_rules),
		T(test_hypercall_msr),
		T(test_reference_tsc_page),
		T(test_message_delivery),
		T(test_stimer_rules),
		T(test_halt_to_next_event),
		T(test_hypercall_checks),
		T(test_pages),
		T(test_guest_tsc_rate_and_moves),
		T(test_clock_install_reads_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
