/*
 * Unit tests for hv/synic.c on the simulated Hyper-V host.
 *
 * Pinned down:
 *  - init masks every SINT, then enables SIMP, SIEFP and SCONTROL, in that
 *    order, with two fresh pages and the handler of vector 0x40;
 *  - every refusal (an MSR that faults, pages the host does not take, the
 *    vector taken, no memory, no privilege) leaves the SynIC disabled, the
 *    handler removed and no page allocated;
 *  - a SINT a firmware left unmasked on its own vector, with its SynIC on and
 *    a message waiting, never interrupts on that vector once hvrt is up
 *    (hv_init runs with interrupts off, as at boot), nor after an init that
 *    failed for want of memory or of the vector; the message arrives on
 *    hvrt's vector once the SINT is claimed;
 *  - claim/release: the SINT's vector, AutoEOI only when not deprecated,
 *    -EINVAL, -EBUSY, -ENODEV, -EIO;
 *  - a message is copied out, the slot freed, and EOM written only when the
 *    host has another queued; a queue of messages arrives whole and in order
 *    in one poll; a lying payload size is cut to 240;
 *  - event flags are test-and-cleared a word at a time across the whole
 *    2048-flag area, and a flag the host sets meanwhile is not lost;
 *  - a message for a SINT nobody owns is dropped, with one warning;
 *  - AutoEOI SINTs are never EOI'd, others exactly once per interrupt;
 *  - shutdown masks and disables everything and keeps the pages.
 */
#include "tests/unit/hv_fixture.h"

#define PAGE 4096u

struct recorder {
	unsigned messages;
	struct hv_message msg[40];
	unsigned msg_sint[40];
	bool slot_free_in_callback; /* the slot read empty while the owner ran */
	unsigned events;
	unsigned event_flag[64];
	unsigned event_sint[64];
	int set_flag_during; /* a flag the "host" sets while event 0 is handled, -1: none */
};

static struct recorder rec;

static void on_message(void *ctx, unsigned sint, const struct hv_message *msg)
{
	struct recorder *r = ctx;
	volatile struct hv_message *slot =
		(volatile struct hv_message *)(uintptr_t)((sim.simp & HV_MSR_PAGE_MASK) + sint * 256u);

	assert_true(r->messages < 40);
	assert_true((const void *)msg != (const void *)slot);
	r->slot_free_in_callback = slot->message_type == HV_MESSAGE_TYPE_NONE;
	r->msg[r->messages] = *msg;
	r->msg_sint[r->messages] = sint;
	r->messages++;
}

static void on_event(void *ctx, unsigned sint, unsigned flag)
{
	struct recorder *r = ctx;

	assert_true(r->events < 64);
	r->event_flag[r->events] = flag;
	r->event_sint[r->events] = sint;
	r->events++;
	if (flag == 0 && r->set_flag_during >= 0) {
		assert_true(hv_sim_set_event(&sim, sint, (unsigned)r->set_flag_during));
		r->set_flag_during = -1;
	}
}

static const struct hv_sint_ops msg_ops = { .message = on_message, .ctx = &rec };
static const struct hv_sint_ops msg_event_ops = { .message = on_message, .event = on_event, .ctx = &rec };

static struct hvrt_host *up(void)
{
	struct hvrt_host *h = detect();
	memset(&rec, 0, sizeof(rec));
	rec.set_flag_during = -1;
	assert_int_equal(hv_synic_init(h), 0);
	assert_true(hv_synic_ready());
	return h;
}

static void assert_synic_off(void)
{
	assert_false(hv_synic_ready());
	assert_false(hv_host_mut()->synic);
	assert_false(sim.scontrol & HV_MSR_ENABLE);
	assert_false(sim.simp & HV_MSR_ENABLE);
	assert_false(sim.siefp & HV_MSR_ENABLE);
	assert_null(sim.vec[HV_SYNIC_VECTOR].fn);
	assert_int_equal(hv_sim_pages_live(&sim), 0);
	assert_int_equal(hv_synic_claim(2, &msg_ops), -ENODEV);
	assert_int_equal(hv_synic_poll(), 0);
}

static volatile struct hv_message *slot(unsigned sint)
{
	return (volatile struct hv_message *)(uintptr_t)((sim.simp & HV_MSR_PAGE_MASK) + sint * 256u);
}

/* ---- init ---- */

/* The only MSR accesses were the 16 SINT masks, which come first whatever fails after them. */
static void assert_sints_masked_only(void)
{
	assert_int_equal(sim.msr_count, HV_SINT_COUNT);
	for (unsigned i = 0; i < HV_SINT_COUNT; i++) {
		assert_int_equal(sim.msr_log[i].msr, HV_MSR_SINT0 + i);
		assert_true(sim.msr_log[i].write);
		assert_int_equal(sim.msr_log[i].value, HV_SINT_MASKED);
	}
}

static void test_init_order_and_values(void **state)
{
	(void)state;
	start();
	struct hvrt_host *h = up();

	/*
	 * SINT0..15 masked, SVERSION read, then SIMP, SIEFP, SCONTROL each read and
	 * written (read-modify-write keeps the reserved bits), then the read-backs:
	 * the only accesses, in order.
	 */
	assert_int_equal(sim.msr_count, 25);
	for (unsigned i = 0; i < 16; i++) {
		assert_int_equal(sim.msr_log[i].msr, HV_MSR_SINT0 + i);
		assert_true(sim.msr_log[i].write);
		assert_int_equal(sim.msr_log[i].value, HV_SINT_MASKED);
	}
	assert_int_equal(sim.msr_log[16].msr, HV_MSR_SVERSION);
	assert_false(sim.msr_log[16].write);
	static const uint32_t rmw[3] = { HV_MSR_SIMP, HV_MSR_SIEFP, HV_MSR_SCONTROL };
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(sim.msr_log[17 + 2 * i].msr, rmw[i]);
		assert_false(sim.msr_log[17 + 2 * i].write);
		assert_int_equal(sim.msr_log[18 + 2 * i].msr, rmw[i]);
		assert_true(sim.msr_log[18 + 2 * i].write);
	}
	assert_int_equal(sim.msr_log[22].value, 1);
	assert_int_equal(sim.msr_log[23].msr, HV_MSR_SIMP);
	assert_int_equal(sim.msr_log[24].msr, HV_MSR_SIEFP);
	assert_false(sim.msr_log[23].write || sim.msr_log[24].write);
	uint64_t simp = sim.msr_log[18].value, siefp = sim.msr_log[20].value;
	assert_int_equal(simp & 0xfff, 1);
	assert_int_equal(siefp & 0xfff, 1);
	assert_true((simp & HV_MSR_PAGE_MASK) != (siefp & HV_MSR_PAGE_MASK));
	assert_true(hv_sim_is_ram(&sim, simp & HV_MSR_PAGE_MASK, PAGE));
	assert_true(hv_sim_is_ram(&sim, siefp & HV_MSR_PAGE_MASK, PAGE));
	assert_int_equal(sim.simp, simp);
	assert_int_equal(sim.siefp, siefp);
	assert_int_equal(sim.scontrol, 1);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(sim.sint[i], HV_SINT_MASKED);

	assert_true(h->synic);
	assert_int_equal(h->synic_version, 1);
	assert_int_equal(h->synic_vector, 0x40);
	assert_true(h->auto_eoi);
	assert_non_null(sim.vec[0x40].fn);
	assert_int_equal(hv_sim_pages_live(&sim), 2);
	assert_false(hv_synic_pending());
	assert_int_equal(loglen, 0);
}

static void check_refusal(uint32_t msr, bool read, unsigned skip)
{
	setup(NULL);
	start();
	hv_sim_fault_msr_after(&sim, msr, read, !read, skip);
	assert_int_equal(hv_synic_init(detect()), -EIO);
	assert_logged("hvrt: hv: warning: the host refused a SynIC MSR access; no SynIC");
	assert_synic_off();
	teardown(NULL);
}

/* Each MSR of the sequence refused in turn. */
static void test_init_refusals(void **state)
{
	(void)state;
	check_refusal(HV_MSR_SINT0, false, 0);
	check_refusal(HV_MSR_SINT0 + 9, false, 0);
	check_refusal(HV_MSR_SVERSION, true, 0);
	check_refusal(HV_MSR_SIMP, false, 0);
	check_refusal(HV_MSR_SIEFP, false, 0);
	check_refusal(HV_MSR_SCONTROL, false, 0);
	check_refusal(HV_MSR_SIMP, true, 0);  /* the read-back */
	check_refusal(HV_MSR_SIEFP, true, 0);
}

/*
 * SIMP enabled, then SIEFP refused, then the host refuses to disable SIMP
 * again: the SIMP page stays the host's and is kept (the sim fails the test
 * on freeing an enabled page); the SIEFP page, never taken, is freed.
 */
static void test_init_enabled_page_kept(void **state)
{
	(void)state;
	start();
	hv_sim_fault_msr_after(&sim, HV_MSR_SIMP, false, true, 1);
	hv_sim_fault_msr(&sim, HV_MSR_SIEFP, false, true);
	assert_int_equal(hv_synic_init(detect()), -EIO);
	assert_logged("refused a SynIC MSR access");
	assert_true(sim.simp & HV_MSR_ENABLE);
	assert_int_equal(hv_sim_pages_live(&sim), 1);
	assert_false(hv_synic_ready());
	assert_null(sim.vec[HV_SYNIC_VECTOR].fn);
}

/* SIMP or SIEFP writes the host ignores: "did not take the SynIC pages", nothing left on. */
static void test_init_pages_not_taken(void **state)
{
	(void)state;
	start();
	hv_sim_ignore_msr_writes(&sim, HV_MSR_SIEFP);
	assert_int_equal(hv_synic_init(detect()), -EIO);
	assert_logged("hvrt: hv: warning: the host did not take the SynIC pages (SIMP 0x");
	assert_synic_off();
	teardown(NULL);

	setup(NULL);
	start();
	hv_sim_ignore_msr_writes(&sim, HV_MSR_SIMP);
	assert_int_equal(hv_synic_init(detect()), -EIO);
	assert_logged("did not take the SynIC pages");
	assert_synic_off();
}

static void dummy_handler(void *ctx, struct trap_frame *frame)
{
	(void)ctx;
	(void)frame;
}

/* No privilege, no Hyper-V, no memory, the vector taken: nothing touched, nothing kept. */
static void test_init_not_possible(void **state)
{
	(void)state;
	cfg.priv_msrs &= ~HV_PRIV_SYNIC;
	start();
	struct hvrt_host *h = detect();
	assert_int_equal(hv_synic_init(h), -ENODEV);
	h->hyperv = false;
	h->privileges = ~0ull;
	assert_int_equal(hv_synic_init(h), -ENODEV);
	assert_int_equal(sim.msr_count, 0);
	assert_synic_off();
	teardown(NULL);

	setup(NULL);
	start();
	sim.fault.alloc_fail_in = 2;
	assert_int_equal(hv_synic_init(detect()), -ENOMEM);
	assert_sints_masked_only();
	assert_synic_off();
	teardown(NULL);

	setup(NULL);
	start();
	assert_int_equal(trap_set_handler(HV_SYNIC_VECTOR, dummy_handler, NULL), 0);
	assert_int_equal(hv_synic_init(detect()), -EBUSY);
	assert_sints_masked_only();
	assert_int_equal(hv_sim_pages_live(&sim), 0);
	assert_ptr_equal(sim.vec[HV_SYNIC_VECTOR].fn, dummy_handler); /* someone else's, left alone */
	assert_false(hv_synic_ready());
	trap_set_handler(HV_SYNIC_VECTOR, NULL, NULL);
}

#define FW_VECTOR 0x50 /* the firmware's SynIC vector: hvrt registers no handler there */

/* The SynIC as a firmware left it: SIMP (a page of the sim's) and SCONTROL on, SINT2 unmasked on FW_VECTOR. */
static volatile struct hv_message *firmware_synic(void)
{
	void *page = hv_sim_page(&sim);
	assert_int_equal(cpu_wrmsr_safe(HV_MSR_SIMP, (uint64_t)(uintptr_t)page | HV_MSR_ENABLE), 0);
	assert_int_equal(cpu_wrmsr_safe(HV_MSR_SCONTROL, HV_MSR_ENABLE), 0);
	assert_int_equal(cpu_wrmsr_safe(HV_MSR_SINT0 + 2, FW_VECTOR), 0);
	sim.msr_count = 0; /* the firmware's accesses are not hvrt's */
	return (volatile struct hv_message *)((uint8_t *)page + 2 * 256);
}

/*
 * Boot after such a firmware: its SINT2 unmasked on FW_VECTOR, its slot
 * still holding a message it never took, so the host's next message for
 * SINT2 waits in the queue. hv_init runs with interrupts off (boot/start.c),
 * then interrupts come on: nothing arrives on FW_VECTOR (the sim fails the
 * test on an interrupt with no handler), neither then nor when the host
 * posts more; once VMBus claims SINT2 the waiting messages come on hvrt's
 * vector, in order.
 */
static void test_firmware_sint_left_unmasked(void **state)
{
	(void)state;
	start();
	cpu_irq_disable();
	volatile struct hv_message *fw_slot = firmware_synic();
	fw_slot->message_type = 1; /* the firmware's last message, never taken */
	assert_true(hv_sim_post(&sim, 2, 1, "queued", 6));
	assert_int_equal(sim.queue_len[2], 1);
	assert_int_equal(sim.interrupts, 0);

	hv_early_init();
	hv_init();
	struct hvrt_host *h = hv_host_mut();
	assert_true(h->synic);
	assert_int_equal(h->stimers, 4);
	for (unsigned i = 0; i < HV_SINT_COUNT; i++)
		assert_int_equal(sim.sint[i], i == HV_SINT_RUNTIME_TIMER ? (0x40 | HV_SINT_AUTO_EOI) : HV_SINT_MASKED);
	cpu_irq_enable();
	assert_int_equal(sim.delivered[FW_VECTOR], 0);
	assert_true(hv_sim_post(&sim, 2, 1, "later", 5));
	assert_int_equal(sim.delivered[FW_VECTOR], 0);
	assert_int_equal(sim.queue_len[2], 2);

	memset(&rec, 0, sizeof(rec));
	assert_int_equal(hv_synic_claim(HV_SINT_VMBUS, &msg_ops), 0);
	assert_int_equal(hv_synic_poll(), 2);
	assert_int_equal(rec.messages, 2);
	assert_memory_equal(rec.msg[0].payload, "queued", 6);
	assert_memory_equal(rec.msg[1].payload, "later", 5);
	assert_int_equal(sim.delivered[FW_VECTOR], 0);
	assert_true(sim.delivered[0x40] >= 1);
	assert_not_logged("warning");
}

/*
 * The same firmware SINT2, and hv_synic_init fails (no memory for the
 * pages; the vector taken): the SINTs were masked first all the same, so a
 * message the host posts afterwards waits instead of interrupting on
 * FW_VECTOR.
 */
static void check_firmware_sint_on_failure(bool no_memory)
{
	setup(NULL);
	start();
	cpu_irq_disable();
	firmware_synic();
	if (no_memory)
		sim.fault.alloc_fail_in = 2;
	else
		assert_int_equal(trap_set_handler(HV_SYNIC_VECTOR, dummy_handler, NULL), 0);
	assert_int_equal(hv_synic_init(detect()), no_memory ? -ENOMEM : -EBUSY);
	assert_sints_masked_only();
	cpu_irq_enable();
	assert_true(hv_sim_post(&sim, 2, 1, "late", 4));
	assert_int_equal(sim.delivered[FW_VECTOR], 0);
	assert_int_equal(sim.queue_len[2], 1);
	if (!no_memory)
		trap_set_handler(HV_SYNIC_VECTOR, NULL, NULL);
	teardown(NULL);
}

static void test_firmware_sint_init_fails(void **state)
{
	(void)state;
	check_firmware_sint_on_failure(true);
	check_firmware_sint_on_failure(false);
}

/* ---- claim and release ---- */

static void test_claim_release(void **state)
{
	struct hv_sint_ops no_message = { .event = on_event };
	(void)state;
	start();
	assert_int_equal(hv_synic_claim(5, &msg_ops), -ENODEV);
	up();
	assert_int_equal(hv_synic_claim(0, &msg_ops), -EINVAL);
	assert_int_equal(hv_synic_claim(16, &msg_ops), -EINVAL);
	assert_int_equal(hv_synic_claim(5, NULL), -EINVAL);
	assert_int_equal(hv_synic_claim(5, &no_message), -EINVAL);
	assert_int_equal(sim.sint[5], HV_SINT_MASKED);

	assert_int_equal(hv_synic_claim(5, &msg_ops), 0);
	assert_int_equal(sim.sint[5], 0x40 | HV_SINT_AUTO_EOI);
	assert_int_equal(hv_synic_claim(5, &msg_event_ops), -EBUSY);
	assert_int_equal(hv_synic_claim(15, &msg_ops), 0);
	assert_int_equal(sim.sint[15], 0x40 | HV_SINT_AUTO_EOI);

	hv_synic_release(5);
	assert_int_equal(sim.sint[5], HV_SINT_MASKED);
	assert_int_equal(sim.sint[15], 0x40 | HV_SINT_AUTO_EOI);
	hv_synic_release(5);  /* twice: nothing */
	hv_synic_release(16); /* out of range: nothing */
	assert_int_equal(hv_synic_claim(5, &msg_event_ops), 0);

	/* a refused SINT write: -EIO and not claimed */
	hv_sim_fault_msr(&sim, HV_MSR_SINT0 + 7, false, true);
	assert_int_equal(hv_synic_claim(7, &msg_ops), -EIO);
	sim.fault.ngp = 0;
	assert_int_equal(hv_synic_claim(7, &msg_ops), 0);
	assert_int_equal(sim.sint[7], 0x40 | HV_SINT_AUTO_EOI);
}

/* With AutoEOI deprecated (0x40000004 EAX bit 9) the SINTs are programmed without it. */
static void test_claim_auto_eoi_deprecated(void **state)
{
	(void)state;
	cfg.recommendations |= HV_RECOMMEND_AUTO_EOI_DEPRECATED;
	start();
	struct hvrt_host *h = up();
	assert_false(h->auto_eoi);
	assert_int_equal(hv_synic_claim(2, &msg_ops), 0);
	assert_int_equal(sim.sint[2], 0x40);
}

/* ---- messages ---- */

/* One message: interrupt, copied out, slot freed before the owner runs, no EOM (nothing pending). */
static void test_message_copy_clear_no_eom(void **state)
{
	uint8_t payload[24];
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(4, &msg_ops), 0);
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(0xa0 + i);
	assert_false(hv_synic_pending());
	assert_true(hv_sim_post(&sim, 4, 0x1234, payload, sizeof(payload)));
	assert_int_equal(sim.delivered[0x40], 1);
	assert_true(hv_synic_pending());
	assert_int_equal(slot(4)->message_type, 0x1234);
	assert_int_equal(rec.messages, 0); /* nothing runs in the interrupt */

	assert_int_equal(hv_synic_poll(), 1);
	assert_false(hv_synic_pending());
	assert_int_equal(rec.messages, 1);
	assert_int_equal(rec.msg_sint[0], 4);
	assert_int_equal(rec.msg[0].message_type, 0x1234);
	assert_int_equal(rec.msg[0].payload_size, 24);
	assert_memory_equal(rec.msg[0].payload, payload, 24);
	assert_true(rec.slot_free_in_callback);
	assert_int_equal(slot(4)->message_type, 0);
	assert_int_equal(sim.eoms, 0);
	assert_int_equal(hv_synic_poll(), 0);
	assert_int_equal(rec.messages, 1);
}

/* Two at once: the second waits with MessagePending; one EOM after the slot is free; both in one poll. */
static void test_message_pending_eom(void **state)
{
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(2, &msg_ops), 0);
	assert_true(hv_sim_post(&sim, 2, 1, "first", 5));
	assert_true(hv_sim_post(&sim, 2, 1, "second", 6));
	assert_int_equal(slot(2)->message_flags & HV_MESSAGE_FLAG_PENDING, HV_MESSAGE_FLAG_PENDING);
	assert_int_equal(sim.queue_len[2], 1);
	assert_int_equal(hv_synic_poll(), 2);
	assert_int_equal(rec.messages, 2);
	assert_memory_equal(rec.msg[0].payload, "first", 5);
	assert_memory_equal(rec.msg[1].payload, "second", 6);
	assert_int_equal(sim.eoms, 1);
	assert_int_equal(sim.eoms_slot_busy, 0);
	assert_int_equal(sim.eoms_unneeded, 0);
	assert_int_equal(sim.queue_len[2], 0);
	assert_int_equal(sim.messages_delivered[2], 2);
}

/* A queue of 20 messages, all delivered in order by one poll, one EOM for each refill. */
static void test_message_queue_in_order(void **state)
{
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(9, &msg_ops), 0);
	for (uint32_t i = 0; i < 20; i++)
		assert_true(hv_sim_post(&sim, 9, 100 + i, &i, sizeof(i)));
	assert_int_equal(hv_synic_poll(), 20);
	assert_int_equal(rec.messages, 20);
	for (uint32_t i = 0; i < 20; i++) {
		uint32_t v;
		memcpy(&v, rec.msg[i].payload, sizeof(v));
		assert_int_equal(rec.msg[i].message_type, 100 + i);
		assert_int_equal(v, i);
	}
	assert_int_equal(sim.eoms, 19);
	assert_int_equal(sim.eoms_slot_busy, 0);
	assert_int_equal(sim.eoms_unneeded, 0);
	/* every interrupt is AutoEOI on this host: none EOI'd */
	assert_int_equal(sim.auto_eoi_deliveries, sim.delivered[0x40]);
	assert_int_equal(sim.eois, 0);
}

/* A queue on two SINTs at once: each owner gets its own, in order. */
static void test_messages_two_sints(void **state)
{
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(2, &msg_ops), 0);
	assert_int_equal(hv_synic_claim(3, &msg_ops), 0);
	for (uint32_t i = 0; i < 3; i++) {
		assert_true(hv_sim_post(&sim, 3, 30 + i, NULL, 0));
		assert_true(hv_sim_post(&sim, 2, 20 + i, NULL, 0));
	}
	assert_int_equal(hv_synic_poll(), 6);
	unsigned n2 = 0, n3 = 0;
	for (unsigned i = 0; i < rec.messages; i++) {
		if (rec.msg_sint[i] == 2)
			assert_int_equal(rec.msg[i].message_type, 20 + n2++);
		else
			assert_int_equal(rec.msg[i].message_type, 30 + n3++);
	}
	assert_int_equal(n2, 3);
	assert_int_equal(n3, 3);
}

/* A host that claims 255 payload bytes: the owner sees 240, and a warning says so. */
static void test_lying_payload_size(void **state)
{
	struct hv_message m;
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(6, &msg_ops), 0);
	memset(&m, 0x5a, sizeof(m));
	m.message_type = 0x77;
	m.payload_size = 255;
	m.message_flags = 0;
	assert_true(hv_sim_post_message(&sim, 6, &m));
	assert_int_equal(hv_synic_poll(), 1);
	assert_int_equal(rec.msg[0].payload_size, 240);
	assert_int_equal(rec.msg[0].originator, 0x5a5a5a5a5a5a5a5aull);
	assert_logged("hvrt: hv: warning: SINT6: message type 0x77 claims 255 payload bytes; cut to 240");
}

/* A message waiting for a masked SINT arrives when the SINT is claimed. */
static void test_message_waits_for_claim(void **state)
{
	(void)state;
	start();
	up();
	assert_true(hv_sim_post(&sim, 7, 5, "early", 5));
	assert_int_equal(sim.delivered[0x40], 0);
	assert_int_equal(slot(7)->message_type, 0);
	assert_int_equal(hv_synic_claim(7, &msg_ops), 0);
	assert_int_equal(sim.delivered[0x40], 1);
	assert_int_equal(hv_synic_poll(), 1);
	assert_memory_equal(rec.msg[0].payload, "early", 5);
}

/*
 * A message left in the slot of a SINT its owner gave back (a timer's last
 * expiry, say) is the old owner's: dropped quietly. One on a SINT nobody
 * ever claimed is dropped with one warning for that SINT.
 */
static void test_unowned_message_dropped_once(void **state)
{
	(void)state;
	start();
	up();
	for (int round = 0; round < 3; round++) {
		assert_int_equal(hv_synic_claim(6, &msg_ops), 0);
		assert_true(hv_sim_post(&sim, 6, 0x99, "lost", 4));
		hv_synic_release(6);
		assert_int_equal(hv_synic_poll(), 1);
		assert_int_equal(slot(6)->message_type, 0);
	}
	assert_int_equal(rec.messages, 0);
	assert_int_equal(loglines, 0);

	/* The sim holds messages for masked SINTs, as a host does: a lying host writes the slot itself. */
	for (int round = 0; round < 3; round++) {
		slot(9)->payload_size = 4;
		slot(9)->message_type = 0x99;
		assert_int_equal(hv_synic_poll(), 1);
		assert_int_equal(slot(9)->message_type, 0);
	}
	assert_int_equal(rec.messages, 0);
	assert_logged("hvrt: hv: warning: SINT9: message type 0x99 for nobody (dropped)");
	assert_int_equal(log_count("for nobody"), 1);
	assert_int_equal(loglines, 1);
}

/* ---- events ---- */

/* Flags in several words, the first and last included: each reported once, all cleared. */
static void test_events_across_words(void **state)
{
	static const unsigned flags[] = { 0, 5, 63, 64, 1000, 2047 };
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(2, &msg_event_ops), 0);
	for (unsigned i = 0; i < 6; i++)
		assert_true(hv_sim_set_event(&sim, 2, flags[i]));
	assert_int_equal(sim.delivered[0x40], 6);
	assert_true(hv_sim_set_event(&sim, 2, 5)); /* already set: no new interrupt */
	assert_int_equal(sim.delivered[0x40], 6);
	assert_int_equal(hv_synic_poll(), 6);
	assert_int_equal(rec.events, 6);
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(rec.event_flag[i], flags[i]);
		assert_int_equal(rec.event_sint[i], 2);
	}
	const uint8_t *area = (const uint8_t *)(uintptr_t)(sim.siefp & HV_MSR_PAGE_MASK);
	for (unsigned i = 0; i < PAGE; i++)
		assert_int_equal(area[i], 0);
	assert_int_equal(hv_synic_poll(), 0);
}

/* An event handler that gives its SINT up (a VMBus disconnect from a callback). */
static void on_event_release(void *ctx, unsigned sint, unsigned flag)
{
	on_event(ctx, sint, flag);
	hv_synic_release(sint);
}

static const struct hv_sint_ops release_ops = { .message = on_message, .event = on_event_release, .ctx = &rec };

/*
 * The flags after the one whose handler released the SINT go nowhere: the
 * owner is gone, and calling its (or a NULL) handler would be a crash.
 */
static void test_events_owner_released_meanwhile(void **state)
{
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(2, &release_ops), 0);
	assert_true(hv_sim_set_event(&sim, 2, 3));
	assert_true(hv_sim_set_event(&sim, 2, 4));
	hv_synic_poll();
	assert_int_equal(rec.events, 1);
	assert_int_equal(rec.event_flag[0], 3);
}

/*
 * The host sets flags while the owner handles flag 0: flag 1 (in the word
 * already taken) waits for the next poll, flag 70 (a word not yet read) is
 * reported in this one. Neither is lost or reported twice.
 */
static void test_events_set_meanwhile(void **state)
{
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(2, &msg_event_ops), 0);
	assert_true(hv_sim_set_event(&sim, 2, 0));
	rec.set_flag_during = 1;
	assert_int_equal(hv_synic_poll(), 1);
	assert_int_equal(rec.events, 1);
	assert_int_equal(hv_synic_poll(), 1);
	assert_int_equal(rec.events, 2);
	assert_int_equal(rec.event_flag[1], 1);

	assert_true(hv_sim_set_event(&sim, 2, 0));
	rec.set_flag_during = 70;
	assert_int_equal(hv_synic_poll(), 2);
	assert_int_equal(rec.events, 4);
	assert_int_equal(rec.event_flag[3], 70);
	assert_int_equal(hv_synic_poll(), 0);
}

/* Flags of a SINT without an event handler, or unclaimed, are left alone. */
static void test_events_not_taken(void **state)
{
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(3, &msg_ops), 0);
	assert_true(hv_sim_set_event(&sim, 3, 10));
	assert_true(hv_sim_set_event(&sim, 8, 11)); /* masked: no interrupt */
	assert_int_equal(sim.delivered[0x40], 1);
	assert_int_equal(hv_synic_poll(), 0);
	const uint8_t *area = (const uint8_t *)(uintptr_t)(sim.siefp & HV_MSR_PAGE_MASK);
	assert_int_equal(area[3 * 256 + 1], 1u << 2);
	assert_int_equal(area[8 * 256 + 1], 1u << 3);
}

/* ---- EOI ---- */

/* AutoEOI (the default): delivered without entering service, never EOI'd. */
static void test_auto_eoi_not_eoid(void **state)
{
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(2, &msg_event_ops), 0);
	assert_true(hv_sim_post(&sim, 2, 1, NULL, 0));
	assert_true(hv_sim_set_event(&sim, 2, 3));
	assert_int_equal(sim.delivered[0x40], 2);
	assert_int_equal(sim.auto_eoi_deliveries, 2);
	assert_int_equal(sim.eois, 0);
	assert_int_equal(hv_synic_poll(), 2);
	assert_int_equal(sim.stray_eois, 0);
}

/* AutoEOI deprecated: every interrupt EOI'd exactly once (the sim checks none is left in service). */
static void test_eoi_without_auto_eoi(void **state)
{
	(void)state;
	cfg.recommendations |= HV_RECOMMEND_AUTO_EOI_DEPRECATED;
	start();
	up();
	assert_int_equal(hv_synic_claim(2, &msg_event_ops), 0);
	for (unsigned i = 0; i < 5; i++)
		assert_true(hv_sim_post(&sim, 2, 1, NULL, 0));
	assert_true(hv_sim_set_event(&sim, 2, 3));
	assert_int_equal(sim.eois, sim.delivered[0x40]);
	assert_int_equal(sim.auto_eoi_deliveries, 0);
	assert_int_equal(hv_synic_poll(), 6);
	assert_int_equal(sim.eois, sim.delivered[0x40]);
	assert_int_equal(sim.delivered[0x40], 6); /* 1 + 4 refills after EOM + 1 event */
	assert_int_equal(sim.isr[1], 0);
}

/* ---- shutdown ---- */

static void test_shutdown(void **state)
{
	(void)state;
	start();
	up();
	assert_int_equal(hv_synic_claim(2, &msg_ops), 0);
	assert_int_equal(hv_synic_claim(3, &msg_ops), 0);
	hv_synic_shutdown();
	assert_false(hv_synic_ready());
	for (unsigned i = 0; i < 16; i++)
		assert_true(sim.sint[i] & HV_SINT_MASKED);
	assert_int_equal(sim.scontrol, 0);
	assert_false(sim.simp & HV_MSR_ENABLE);
	assert_false(sim.siefp & HV_MSR_ENABLE);
	assert_null(sim.vec[0x40].fn);
	assert_int_equal(hv_sim_pages_live(&sim), 2); /* kept: the host may have been writing them */
	assert_int_equal(hv_synic_claim(2, &msg_ops), -ENODEV);
	assert_false(hv_sim_set_event(&sim, 2, 1));
	hv_synic_shutdown(); /* twice: nothing */
	/* and it can come up again */
	assert_int_equal(hv_synic_init(hv_host_mut()), 0);
	assert_int_equal(hv_synic_claim(2, &msg_ops), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_order_and_values),
		T(test_init_refusals),
		T(test_init_enabled_page_kept),
		T(test_init_pages_not_taken),
		T(test_init_not_possible),
		T(test_firmware_sint_left_unmasked),
		T(test_firmware_sint_init_fails),
		T(test_claim_release),
		T(test_claim_auto_eoi_deprecated),
		T(test_message_copy_clear_no_eom),
		T(test_message_pending_eom),
		T(test_message_queue_in_order),
		T(test_messages_two_sints),
		T(test_lying_payload_size),
		T(test_message_waits_for_claim),
		T(test_unowned_message_dropped_once),
		T(test_events_across_words),
		T(test_events_owner_released_meanwhile),
		T(test_events_set_meanwhile),
		T(test_events_not_taken),
		T(test_auto_eoi_not_eoid),
		T(test_eoi_without_auto_eoi),
		T(test_shutdown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
