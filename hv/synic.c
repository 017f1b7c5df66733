/*
 * The synthetic interrupt controller of the boot CPU: the message page
 * (SIMP), the event-flags page (SIEFP), the SINTs and their owners.
 *
 * The interrupt only notes that something arrived; hv_synic_poll(), run from
 * hvrt_poll(), empties the message slots and event flags of every claimed
 * SINT and calls their owners. A message slot is taken the TLFS way: copy
 * out, free the slot, barrier, then EOM if the host has another one queued.
 */
#include <errno.h>
#include <string.h>

#include <hvrt/log.h>
#include <hvrt/mem.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/trap.h"
#include "hv/hv.h"

static struct synic_state {
	struct hv_message *simp;        /* 16 message slots, one per SINT */
	uint8_t *siefp;                 /* 16 x 256 bytes of event flags */
	bool ready;
	bool auto_eoi;
	volatile uint32_t pending;      /* set by the interrupt, cleared by poll */
	uint32_t unowned_warned;        /* SINTs whose stray message was reported */
	uint32_t released;              /* SINTs given back: late messages for them are expected */
	struct hv_sint_ops owner[HV_SINT_COUNT];
	bool claimed[HV_SINT_COUNT];
} synic;

static void synic_interrupt(void *ctx, struct trap_frame *frame)
{
	(void)ctx;
	(void)frame;
	synic.pending = 1;
	if (!synic.auto_eoi)
		lapic_eoi();
}

bool hv_synic_ready(void)
{
	return synic.ready;
}

bool hv_synic_pending(void)
{
	return synic.pending != 0;
}

/* Disables a SynIC page; false if the host may still have it enabled (disabling refused). */
static bool page_released(uint32_t msr)
{
	uint64_t v;
	return cpu_wrmsr_safe(msr, 0) == 0 || (cpu_rdmsr_safe(msr, &v) == 0 && !(v & HV_MSR_ENABLE));
}

/* Sets the enable bit and the page (if any), keeping the reserved bits 11:1 as the host has them. */
static int enable_msr(uint32_t msr, const void *page)
{
	uint64_t v;

	if (cpu_rdmsr_safe(msr, &v))
		return -EIO;
	v |= HV_MSR_ENABLE;
	if (page)
		v = (v & ~HV_MSR_PAGE_MASK) | (uint64_t)(uintptr_t)page;
	return cpu_wrmsr_safe(msr, v);
}

/*
 * hv_synic_init - enable the SynIC on the boot CPU
 * @host: detection result; the synic fields are filled in
 * Return: 0, -ENODEV (no SynIC offered), -ENOMEM, -EBUSY (vector taken),
 * or -EIO (the host refused an MSR).
 *
 * Order as Linux and the TLFS: SIMP, SIEFP, then SCONTROL; SINTs are
 * programmed when claimed. A page the host leaves disabled after it was
 * written means no SynIC, not a half-working one.
 */
int hv_synic_init(struct hvrt_host *host)
{
	uint64_t simp, siefp, version;
	int err;

	if (!host->hyperv || !(host->privileges & HV_PRIV_SYNIC))
		return -ENODEV;
	if (synic.ready)
		return 0;
	/*
	 * Every SINT masked first, whatever happens next: a firmware may have
	 * left one pointing at its own vector, and interrupts come on after this.
	 */
	for (unsigned i = 0; i < HV_SINT_COUNT; i++) {
		if (cpu_wrmsr_safe(HV_MSR_SINT0 + i, HV_SINT_MASKED)) {
			hvrt_log(HVRT_LOG_WARN, "hv", "the host refused a SynIC MSR access; no SynIC");
			return -EIO;
		}
	}
	synic.auto_eoi = !(host->recommendations & HV_RECOMMEND_AUTO_EOI_DEPRECATED);
	synic.simp = hvrt_page_alloc(1);
	synic.siefp = hvrt_page_alloc(1);
	err = -ENOMEM;
	if (!synic.simp || !synic.siefp)
		goto free_pages;
	err = trap_set_handler(HV_SYNIC_VECTOR, synic_interrupt, NULL);
	if (err)
		goto free_pages;

	err = -EIO;
	if (cpu_rdmsr_safe(HV_MSR_SVERSION, &version) || enable_msr(HV_MSR_SIMP, synic.simp) ||
	    enable_msr(HV_MSR_SIEFP, synic.siefp) || enable_msr(HV_MSR_SCONTROL, NULL))
		goto refused;
	if (cpu_rdmsr_safe(HV_MSR_SIMP, &simp) || cpu_rdmsr_safe(HV_MSR_SIEFP, &siefp))
		goto refused;
	if (!(simp & HV_MSR_ENABLE) || (simp & HV_MSR_PAGE_MASK) != (uint64_t)(uintptr_t)synic.simp ||
	    !(siefp & HV_MSR_ENABLE) || (siefp & HV_MSR_PAGE_MASK) != (uint64_t)(uintptr_t)synic.siefp) {
		hvrt_log(HVRT_LOG_WARN, "hv", "the host did not take the SynIC pages (SIMP 0x%llx, SIEFP 0x%llx)",
			 (unsigned long long)simp, (unsigned long long)siefp);
		goto disable;
	}
	synic.ready = true;
	host->synic = true;
	host->synic_version = (uint32_t)version;
	host->synic_vector = HV_SYNIC_VECTOR;
	host->auto_eoi = synic.auto_eoi;
	return 0;

refused:
	hvrt_log(HVRT_LOG_WARN, "hv", "the host refused a SynIC MSR access; no SynIC");
disable:
	cpu_wrmsr_safe(HV_MSR_SCONTROL, 0);
	/* A page the host may still have enabled stays its own: kept, never reused. */
	if (!page_released(HV_MSR_SIMP))
		synic.simp = NULL;
	if (!page_released(HV_MSR_SIEFP))
		synic.siefp = NULL;
	trap_set_handler(HV_SYNIC_VECTOR, NULL, NULL);
	err = -EIO;
free_pages:
	if (synic.siefp)
		hvrt_page_free(synic.siefp, 1);
	if (synic.simp)
		hvrt_page_free(synic.simp, 1);
	synic = (struct synic_state){ 0 };
	return err;
}

int hv_synic_claim(unsigned sint, const struct hv_sint_ops *ops)
{
	uint64_t value = HV_SYNIC_VECTOR;

	if (!synic.ready)
		return -ENODEV;
	/* SINT 0 is left alone: the TLFS reserves no use for it, but hosts deliver their own intercepts there. */
	if (sint == 0 || sint >= HV_SINT_COUNT || !ops || !ops->message)
		return -EINVAL;
	if (synic.claimed[sint])
		return -EBUSY;
	if (synic.auto_eoi)
		value |= HV_SINT_AUTO_EOI;
	synic.owner[sint] = *ops;
	synic.claimed[sint] = true;
	synic.released &= ~(1u << sint);
	if (cpu_wrmsr_safe(HV_MSR_SINT0 + sint, value)) {
		synic.claimed[sint] = false;
		return -EIO;
	}
	return 0;
}

void hv_synic_release(unsigned sint)
{
	if (!synic.ready || sint >= HV_SINT_COUNT || !synic.claimed[sint])
		return;
	cpu_wrmsr_safe(HV_MSR_SINT0 + sint, HV_SINT_MASKED);
	synic.claimed[sint] = false;
	synic.owner[sint] = (struct hv_sint_ops){ 0 };
	/*
	 * A message the host sent before the mask (a timer's last expiry, say)
	 * may still sit in the slot or the host's queue: it is the old owner's,
	 * and is taken and dropped quietly when it comes.
	 */
	synic.released |= 1u << sint;
}

/* Takes one message out of sint's slot; returns 1 if there was one. */
static int take_message(unsigned sint)
{
	volatile struct hv_message *slot = &synic.simp[sint];
	struct hv_message msg;

	if (slot->message_type == HV_MESSAGE_TYPE_NONE)
		return 0;
	memcpy(&msg, (const void *)slot, sizeof(msg));
	slot->message_type = HV_MESSAGE_TYPE_NONE;
	/*
	 * The slot must read as free before the host is told to refill it. The
	 * pending flag is read from the slot after that, not from the copy: the
	 * host may set it between the copy and the clear, and a missed EOM leaves
	 * the next message queued for good (KVM retries only on EOM).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (slot->message_flags & HV_MESSAGE_FLAG_PENDING)
		cpu_wrmsr(HV_MSR_EOM, 0);

	if (msg.payload_size > HV_MESSAGE_PAYLOAD_MAX) {
		hvrt_log(HVRT_LOG_WARN, "hv", "SINT%u: message type 0x%x claims %u payload bytes; cut to %u", sint,
			 msg.message_type, msg.payload_size, HV_MESSAGE_PAYLOAD_MAX);
		msg.payload_size = HV_MESSAGE_PAYLOAD_MAX;
	}
	if (synic.claimed[sint]) {
		synic.owner[sint].message(synic.owner[sint].ctx, sint, &msg);
	} else if (synic.released & (1u << sint)) {
		hvrt_log(HVRT_LOG_DEBUG, "hv", "SINT%u: message type 0x%x for its former owner (dropped)", sint,
			 msg.message_type);
	} else if (!(synic.unowned_warned & (1u << sint))) {
		synic.unowned_warned |= 1u << sint;
		hvrt_log(HVRT_LOG_WARN, "hv", "SINT%u: message type 0x%x for nobody (dropped)", sint, msg.message_type);
	}
	return 1;
}

/* Clears and dispatches sint's event flags, a 64-bit word at a time. */
static int take_events(unsigned sint)
{
	uint64_t *words = (uint64_t *)(void *)(synic.siefp + sint * HV_EVENT_FLAGS_BYTES);
	int handled = 0;

	for (unsigned w = 0; w < HV_EVENT_FLAGS_BYTES / 8; w++) {
		if (__atomic_load_n(&words[w], __ATOMIC_RELAXED) == 0)
			continue;
		/* Test and clear in one step: a flag the host sets meanwhile stays for the next poll. */
		uint64_t bits = __atomic_exchange_n(&words[w], 0, __ATOMIC_ACQ_REL);
		while (bits) {
			unsigned bit = (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			/* An owner's handler may release the SINT (a disconnect): the rest go nowhere. */
			if (synic.claimed[sint] && synic.owner[sint].event)
				synic.owner[sint].event(synic.owner[sint].ctx, sint, w * 64 + bit);
			handled++;
		}
	}
	return handled;
}

int hv_synic_poll(void)
{
	int handled = 0;

	if (!synic.ready)
		return 0;
	synic.pending = 0;
	for (unsigned sint = 1; sint < HV_SINT_COUNT; sint++) {
		if (synic.claimed[sint] && synic.owner[sint].event)
			handled += take_events(sint);
		/* A slot refilled by the EOM is taken in the same poll, up to a bound against a flooding host. */
		for (int n = 0; n < 64 && take_message(sint); n++)
			handled++;
	}
	return handled;
}

void hv_synic_shutdown(void)
{
	if (!synic.ready)
		return;
	for (unsigned i = 0; i < HV_SINT_COUNT; i++)
		cpu_wrmsr_safe(HV_MSR_SINT0 + i, HV_SINT_MASKED);
	cpu_wrmsr_safe(HV_MSR_SCONTROL, 0);
	cpu_wrmsr_safe(HV_MSR_SIMP, 0);
	cpu_wrmsr_safe(HV_MSR_SIEFP, 0);
	trap_set_handler(HV_SYNIC_VECTOR, NULL, NULL);
	/* The pages stay allocated: the host may still have been writing them a moment ago. */
	synic = (struct synic_state){ 0 };
}
