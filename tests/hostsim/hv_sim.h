/*
 * A simulated Hyper-V host for the hosted unit tests of hv/.
 *
 * It plugs into the simulated CPU (cpu_sim.h: CPUID, RDMSR/WRMSR, RDTSC, HLT,
 * the hypercall page) and, through tests/hostsim/irq_sim.c and runtime_sim.c,
 * stands in for the arch code hv/ calls (trap_set_handler, lapic_eoi,
 * lapic_timer_arm, tsc_deadline_after_ns, hvrt_page_alloc/free,
 * glue_clock_install, power_set_crash_reporter/reset). All of its state is one
 * struct hv_sim; the doubles find it as the ctx of the installed cpu_sim ops.
 * A guest physical address is the host pointer (hvrt is identity-mapped).
 * The doubles behave as the real code where hv/ can tell: glue_clock_install
 * reads the new clock's now_ns() once, as libc-glue/time.c does to carry
 * CLOCK_MONOTONIC over, so hv/ sees that first reading at install time.
 *
 * It is meant to be as strict as the real host: anything the guest gets wrong
 * that a host would refuse is refused the same way (#GP, an HV_STATUS), and
 * anything only a broken guest would do fails the test at once. Sources:
 * TLFS and ../shared/docs/hyperv-protocol-facts.md section 1 ("facts"), KVM's
 * Hyper-V emulation (arch/x86/kvm/hyperv.c) and QEMU's hyperv.c as
 * ../shared/docs/test-hosts.md section 2 measured them ("KVM", "QEMU").
 *
 * What it models, rule by rule
 *
 * CPUID (hv_sim_config)
 *  - leaf 1 ECX bit 31 set unless the vendor is HV_SIM_VENDOR_NONE; leaf 0
 *    answers a max basic leaf of 0xd; any other basic leaf fails the test.
 *  - 0x40000000..max_leaf as configured; a hypervisor leaf above max_leaf
 *    fails the test (the guest must check EAX of 0x40000000 first).
 *  - the default is the nested host of test-hosts.md: "Microsoft Hv", max
 *    leaf 0x40000005, "Hv#1", privileges EAX=0x00000a7f EBX=0x00000030,
 *    EDX=0x108, the AMD hypercall page 0f 01 d9 c3. Guessed, since the probe
 *    did not report them: version leaf all zero (hv/detect.c says KVM reports
 *    build 0, version 0.0), recommendations 0x28 (QEMU's hv-relaxed and
 *    hv-vapic), spin retries 0xffffffff, limits 0x40000005 = 1024/0/0.
 *  - KVM ("KVMKVMKVM", max leaf 0x40000001, its feature bits in 0x40000001),
 *    TCG ("TCGTCGTCGTCG", max leaf 0x40000001, all zero; test-hosts.md
 *    section 1) and no hypervisor (ECX bit 31 clear; the 0x4000xxxx leaves
 *    then answer Hyper-V look-alike values, as a trap for a guest that skips
 *    the bit-31 check: a real CPU returns some basic leaf's data there).
 *  - on any vendor but Hyper-V, touching a Hyper-V MSR (0x40000000..0x400001ff)
 *    fails the test: TCG would silently return 0, KVM would #GP (test-hosts.md),
 *    and hvrt must detect by CPUID alone.
 *
 * MSRs (each access is logged in msr_log)
 *  - #GP for an MSR whose privilege bit (0x40000003 EAX, or EDX bit 10 for the
 *    crash MSRs) is clear, for MSRs the sim does not know, for writes to the
 *    read-only VP_INDEX, VP_RUNTIME, TIME_REF_COUNT, SVERSION, TSC_FREQUENCY
 *    and APIC_FREQUENCY (KVM refuses the guest's writes to them), for a
 *    SINT vector below 16 that is not masked (KVM synic_set_sint), and for a
 *    STIMER in direct mode without 0x40000003 EDX bit 19 (KVM with
 *    enforce_cpuid). Those are the reserved-value checks KVM makes; other
 *    reserved bits are stored as written, as KVM does.
 *  - any MSR can be made to #GP on read and/or write although advertised,
 *    at once or after some accesses worked (hv_sim_fault_msr*), or to drop
 *    its writes (hv_sim_ignore_msr_writes).
 *  - GUEST_OS_ID: a HYPERCALL enable written while it is 0 is ignored (the
 *    MSR keeps its old value), and writing 0 disables the hypercall page: the
 *    KVM behaviour (it keeps the page disabled without an ID and drops the
 *    enable bit when the ID goes back to 0); the TLFS only says the ID must
 *    be set first.
 *  - HYPERCALL: enabling writes 4 bytes into the page (AMD 0f 01 d9 c3,
 *    Intel 0f 01 c1 c3), as KVM does; disabling leaves them. The lock bit is
 *    stored but not modelled. The fault hypercall_keeps_address makes a host
 *    that, with a page already enabled, takes an enabling write but keeps the
 *    page where it was (the GPA field reads back the old address).
 *  - the GPA of every page the guest hands the host (HYPERCALL, SIMP, SIEFP,
 *    REFERENCE_TSC, a PostMessage input) must lie in a page from
 *    hvrt_page_alloc (or one the sim owns): anything else fails the test,
 *    since in the hosted build the host would write into random memory (KVM
 *    would #GP or ignore it). Freeing a page the host still has enabled also
 *    fails the test: on Hyper-V the page stays an overlay, on KVM the host
 *    keeps writing it.
 *  - SIMP and SIEFP are zeroed when enabled (KVM kvm_clear_guest), SCONTROL
 *    bit 0 enables delivery, SVERSION reads synic_version (1), EOM reads 0
 *    (KVM) and a write redelivers queued messages; SINTs reset to 0x10000.
 *  - STIMERn (n 0..3): CONFIG bit 0 enable, 1 periodic, 3 auto-enable,
 *    19:16 SINT; COUNT is an absolute reference time for a one-shot (in the
 *    past: fires at once, TLFS 15.3.1) and the period for a periodic timer;
 *    writing COUNT 0 disables the timer and a non-zero COUNT sets enable when
 *    auto-enable is on (KVM stimer_set_count). Enabling with SINT 0 in message
 *    mode leaves the timer disabled (KVM clears enable; TLFS calls SINT 0
 *    invalid there). A one-shot clears its enable bit once it fired.
 *  - CRASH_P0..P4 record what was written; CRASH_CTL reads cfg.crash_ctl (KVM:
 *    1 << 63, notify only) and a write with bit 63 records a crash with a
 *    snapshot of P0..P4 (guest writes never change what it reads, as in KVM).
 *  - RESET: a write of bit 0 is recorded; reads give 0.
 *  - REFERENCE_TSC: enabling fills the page at once (KVM does it on the next
 *    entry): sequence 1 (then 2, 3, ... on each update, never 0), scale =
 *    ceil(10^7 * 2^64 / tsc_hz) and an offset such that
 *    high64(tsc * scale) + offset is exactly the reference time whenever
 *    tsc_hz is a multiple of 10 MHz (off by at most 1 otherwise).
 *  - EOI (0x40000070) is an APIC EOI; ICR, TPR and VP_ASSIST_PAGE are stored.
 *
 * Time
 *  - the reference clock counts 100 ns units from cfg.start_time; the TSC is
 *    tsc_at_zero + time * tsc_hz / 10^7. Every RDTSC costs cfg.rdtsc_cost
 *    units (default 1), so a busy-wait on the TSC ends. hv_sim_advance()
 *    moves time and fires what falls due on the way, in order.
 *  - the guest's idea of the TSC rate (the tsc_hz() double, and the rate
 *    tsc_deadline_after_ns() converts with) is cfg.guest_tsc_hz, by default
 *    (0) cfg.tsc_hz: another value stands for a calibration that is off, or a
 *    migration to a host whose TSC runs at another rate (TSC_FREQUENCY still
 *    reads cfg.tsc_hz, the truth).
 *  - hv_sim_move_tsc() moves the TSC by a signed amount at once (a migration
 *    to a host whose TSC reads elsewhere): the LAPIC timer keeps the time it
 *    had left and an enabled reference TSC page gets the new offset (and stays
 *    invalid if it was); the reftsc_torn fault moves it the same way.
 *  - a halt (cpu_halt, cpu_irq_enable_and_halt) first delivers any interrupt
 *    already pending; otherwise it moves time to the next stimer expiry or
 *    LAPIC timer deadline and keeps going until an interrupt is delivered. With
 *    nothing armed it steps 1 ms at a time and fails the test after
 *    HV_SIM_IDLE_HALTS such steps in a row (a hang becomes a failure), and
 *    after HV_SIM_MAX_HALTS halts in all. A halt with interrupts off fails
 *    the test.
 *
 * Hypercalls (cpu_sim's hypercall hook)
 *  - the call must go through the enabled hypercall page, still holding its
 *    code, or the test fails.
 *  - the control word is decoded (code 15:0, fast 16, variable header 26:17,
 *    rep count 43:32, rep start 59:48); bits 31:27, 47:44 and 63:60 set ->
 *    INVALID_HYPERCALL_INPUT (KVM's reserved mask; bit 31 "nested" is only for
 *    an L1 hypervisor, which hvrt never is).
 *  - HvPostMessage (0x5c): needs 0x40000003 EBX bit 4 (ACCESS_DENIED); rep or
 *    variable header -> INVALID_HYPERCALL_INPUT (KVM); fast ->
 *    INVALID_HYPERCALL_CODE (QEMU); input not 8-byte aligned or crossing a
 *    page -> INVALID_ALIGNMENT; message_type 0 or >= 0x80000000, payload_size
 *    > 240 or the reserved word non-zero -> INVALID_PARAMETER (TLFS; QEMU
 *    says INVALID_HYPERCALL_INPUT for the size); an unregistered connection
 *    -> INVALID_CONNECTION_ID; then the fault post_busy; then the
 *    connection's callback gives the status. Every attempt whose input
 *    could be read (alignment passed) is recorded in posted[].
 *  - HvSignalEvent (0x5d): needs EBX bit 5; fast only (KVM would also take
 *    the slow form: the TLFS lists the call as fast); rep or variable header
 *    or reserved bits (connection id 31:24, 63:48) -> INVALID_HYPERCALL_INPUT;
 *    a non-zero flag number -> INVALID_PORT_ID (KVM and QEMU: they use no
 *    flag numbers); an unregistered connection -> INVALID_CONNECTION_ID.
 *  - a rep call (sim->rep.code, e.g. 0x0003): rep count 0 or start >= count ->
 *    INVALID_HYPERCALL_INPUT; completes at most rep.per_call reps per call and
 *    returns SUCCESS with reps-completed = start + done, so the guest must
 *    re-issue it; faults: no progress at all, or a status at rep fail_at.
 *  - simple calls with rep fields set -> INVALID_HYPERCALL_INPUT; any other
 *    code goes to sim->call_fn, else INVALID_HYPERCALL_CODE.
 *
 * SynIC delivery
 *  - hv_sim_post() queues a message for a SINT (HV_SIM_QUEUE_MAX deep). The
 *    head goes into the SIMP slot when SCONTROL and SIMP are enabled, the
 *    SINT is unmasked and the slot is free (message_type 0), and then raises
 *    the SINT's vector. A message that finds the slot full sets MessagePending
 *    (bit 0 of message_flags) on the slot; a message written while others
 *    still wait carries the flag itself. An EOM write, a SINT unmask, SCONTROL
 *    or SIMP enable retry delivery. This is the TLFS queue; KVM drops a
 *    one-shot timer's expiry that finds the slot full instead, which the
 *    stimer_lost fault stands for.
 *  - hv_sim_set_event() sets a bit in the SINT's SIEFP area (when SIEFP and
 *    SCONTROL are enabled) and raises the vector if the bit was clear and
 *    the SINT unmasked.
 *  - timer expiries take the same path: type 0x80000010, 24-byte payload
 *    (timer index, expiration time, delivery time = when it entered the
 *    slot). A periodic timer whose previous expiry still waits in the queue
 *    skips a period instead of queueing another (counted in missed).
 *
 * Interrupts (irq_sim.c)
 *  - raising a vector sets it in a 256-bit IRR; with interrupts on it is
 *    delivered at once, highest first, to the handler trap_set_handler
 *    registered (none fails the test). A SINT with AutoEOI delivers without
 *    setting the ISR; otherwise the vector stays in service until
 *    lapic_eoi(), and vectors of its priority class or lower wait. An EOI with
 *    nothing in service is counted as stray; hv_sim_stop() fails the test if
 *    any EOI was stray or an interrupt was never EOI'd.
 *  - the LAPIC timer (lapic_timer_arm) is one-shot at a TSC deadline and
 *    raises VECTOR_LAPIC_TIMER; with no handler registered (lapic.c is not
 *    linked) it only wakes the CPU.
 *
 * Hooks for simulated devices (vmbus_sim.h uses them; added with it)
 *  - hv_sim_at(): a callback when reference time reaches a value; time
 *    moves to it in halts like to a timer expiry, so a delayed host answer
 *    wakes a guest that waits for it.
 *  - the observer runs after every hypercall, whenever time may have moved,
 *    after an EOM write and when the guest halts (before anything is
 *    delivered): where a host polls guest memory (VMBus monitor pages) and
 *    checks what a waiting guest must have done first.
 *  - the page user: hvrt_page_free asks it too (hv_sim_page_in_use); a
 *    device host answers for the pages the guest lent it (GPADLs).
 *  - HV_SIM_CONNECTIONS is 64 (was 16): one event connection per channel.
 *
 * Limits
 *  - one virtual processor; no VP assist page semantics, no direct-mode
 *    stimers, no SINT polling or proxy bits, no hypercall MSR lock, no XMM
 *    fast calls, no nested (L1) registers, no save/restore.
 *  - interrupts are delivered synchronously, at the instant they are raised
 *    (if IF is set) or when IF is set again, never in the middle of a C
 *    statement of the guest the way real hardware could; likewise the host
 *    never writes a page between two instructions of the guest, so races
 *    such as a flag set between a read and a clear of the event area cannot
 *    be produced (the torn reference TSC read is staged at the RDTSC).
 *  - version, recommendation and limit values of the default host are
 *    guesses (see above); CPUID leaves 0x40000007..0x4000000b read as zero.
 *  - the sim knows only the PostMessage/SignalEvent statuses listed above;
 *    what QEMU's VMBus server answers is up to the connection callbacks.
 */
#ifndef HVRT_HOSTSIM_HV_SIM_H
#define HVRT_HOSTSIM_HV_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hvrt/boot.h>

#include "arch/x86_64/power.h"
#include "arch/x86_64/trap.h"
#include "hv/hv_defs.h"
#include "libc-glue/glue.h"
#include "tests/hostsim/cpu_sim.h"

#define HV_SIM_QUEUE_MAX 32u        /* messages a SINT's host queue holds */
#define HV_SIM_POSTED_MAX 512u      /* PostMessage attempts recorded */
#define HV_SIM_IDLE_STEP 10000u     /* 1 ms: a halt with nothing armed moves time this far */
#define HV_SIM_IDLE_HALTS 10000u    /* ... this many times in a row, then the test fails */
#define HV_SIM_MAX_HALTS 2000000u   /* halts in one test before it counts as a hang */
#define HV_SIM_MSR_FAULTS 8u
#define HV_SIM_CONNECTIONS 64u      /* vmbus_sim registers one event connection per channel */
#define HV_SIM_TIMED_MAX 64u        /* timed callbacks (hv_sim_at) waiting at once */
#define HV_SIM_REP_LOG 64u

enum hv_sim_vendor {
	HV_SIM_VENDOR_HYPERV, /* vendor_id (default "Microsoft Hv") with the Hyper-V leaves */
	HV_SIM_VENDOR_KVM,    /* "KVMKVMKVM": KVM without hv-* flags */
	HV_SIM_VENDOR_TCG,    /* "TCGTCGTCGTCG": plain QEMU */
	HV_SIM_VENDOR_NONE,   /* bare metal: CPUID.1:ECX bit 31 clear */
};

/* Which instruction the hypercall page holds. */
enum hv_sim_cpu {
	HV_SIM_CPU_AMD,   /* 0f 01 d9 c3: vmmcall; ret (the nested host) */
	HV_SIM_CPU_INTEL, /* 0f 01 c1 c3: vmcall; ret */
};

struct hv_sim_config {
	enum hv_sim_vendor vendor;
	enum hv_sim_cpu cpu;
	char vendor_id[13];         /* 0x40000000 EBX:ECX:EDX for HV_SIM_VENDOR_HYPERV */
	uint32_t max_leaf;          /* 0x40000000 EAX */
	uint32_t interface;         /* 0x40000001 EAX */
	uint32_t build;             /* 0x40000002 EAX */
	uint32_t version;           /* 0x40000002 EBX: major 31:16, minor 15:0 */
	uint32_t service_pack;      /* 0x40000002 ECX */
	uint32_t service;           /* 0x40000002 EDX: branch 31:24, number 23:0 */
	uint32_t priv_msrs;         /* 0x40000003 EAX */
	uint32_t priv_calls;        /* 0x40000003 EBX */
	uint32_t power;             /* 0x40000003 ECX */
	uint32_t features;          /* 0x40000003 EDX */
	uint32_t recommendations;   /* 0x40000004 EAX */
	uint32_t spin_retries;      /* 0x40000004 EBX */
	uint32_t phys_bits;         /* 0x40000004 ECX */
	uint32_t max_vps, max_lps, max_irq_vectors; /* 0x40000005 */
	uint32_t hw_features;       /* 0x40000006 EAX */
	uint32_t isolation_eax, isolation_ebx; /* 0x4000000C, when max_leaf reaches it */
	uint64_t crash_ctl;         /* what CRASH_CTL reads */
	uint64_t tsc_hz, apic_hz;   /* the simulated TSC, and what the frequency MSRs say */
	uint64_t start_time;        /* reference time when the sim starts (100 ns) */
	uint64_t tsc_at_zero;       /* TSC at reference time 0 */
	uint32_t vp_index;
	uint32_t synic_version;
	uint32_t rdtsc_cost;        /* 100 ns units each RDTSC moves time by */
	uint64_t guest_tsc_hz;      /* the TSC rate the guest believes (tsc_hz()); 0: tsc_hz */
};

/* The nested host of test-hosts.md section 2 (see the top of this file). */
void hv_sim_config_default(struct hv_sim_config *cfg);
/* Another hypervisor (or none): the vendor leaves as that host gives them. */
void hv_sim_config_vendor(struct hv_sim_config *cfg, enum hv_sim_vendor vendor);
/* Crash MSRs (EDX bit 10); CRASH_CTL reads notify, plus message when asked. */
void hv_sim_config_crash(struct hv_sim_config *cfg, bool message);
/* The RESET MSR offered (EAX bit 7) and, when recommend, recommended (0x40000004 EAX bit 4). */
void hv_sim_config_reset(struct hv_sim_config *cfg, bool recommend);
/* The isolation leaf 0x4000000C (max leaf raised to it). */
void hv_sim_config_isolation(struct hv_sim_config *cfg, uint32_t eax, uint32_t ebx);

/* One MSR access of the guest. */
struct hv_sim_msr_access {
	uint32_t msr;
	bool write;
	bool gp;        /* it faulted */
	uint64_t value; /* written, or read (0 when it faulted) */
	uint64_t time;
};

/* One HvPostMessage attempt. */
struct hv_sim_posted {
	uint32_t connection;
	uint32_t type;
	uint32_t size;
	uint16_t status; /* what the guest got */
	uint64_t time;
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
};

/* Why the observer (hv_sim_set_observer) runs. */
enum hv_sim_tick {
	HV_SIM_TICK_HYPERCALL, /* after every hypercall, whatever it returned */
	HV_SIM_TICK_TIME,      /* reference time may have moved (hv_sim_advance, RDTSC, a halt's step) */
	HV_SIM_TICK_EOM,       /* the guest wrote EOM */
	HV_SIM_TICK_HALT,      /* the guest halts: it waits for the host (before anything is delivered) */
};

/* A decoded hypercall. */
struct hv_sim_call {
	uint64_t control;
	uint16_t code;
	bool fast;
	unsigned varhead;
	unsigned rep_count, rep_start;
	uint64_t input, output;
};

struct hv_sim;

/* A message connection's host side: the status for the guest (HV_STATUS_SUCCESS normally). */
typedef uint16_t (*hv_sim_post_fn)(void *ctx, struct hv_sim *sim, const struct hv_sim_posted *msg);
/* An event connection's host side. */
typedef uint16_t (*hv_sim_signal_fn)(void *ctx, struct hv_sim *sim, uint32_t connection);
/* Hypercall codes the sim does not model: returns RAX. */
typedef uint64_t (*hv_sim_call_fn)(void *ctx, struct hv_sim *sim, const struct hv_sim_call *call);
/* A timed callback (hv_sim_at). */
typedef void (*hv_sim_timed_fn)(void *ctx, struct hv_sim *sim);
/* The observer: a simulated device that polls guest memory (vmbus_sim's monitor pages). */
typedef void (*hv_sim_observer_fn)(void *ctx, struct hv_sim *sim, enum hv_sim_tick why);
/* Asked by hvrt_page_free (through hv_sim_page_in_use): true if the host still uses those pages. */
typedef bool (*hv_sim_page_user_fn)(void *ctx, const struct hv_sim *sim, const void *addr, size_t count);

struct hv_sim_timed {
	uint64_t due;
	hv_sim_timed_fn fn;
	void *ctx;
};

struct hv_sim_connection {
	uint32_t id;
	hv_sim_post_fn post;     /* NULL: messages are accepted */
	hv_sim_signal_fn signal; /* NULL: signals are accepted */
	void *ctx;
	bool messages, events;   /* which calls it takes */
	unsigned posts, signals; /* accepted so far */
};

struct hv_sim_queued {
	struct hv_message msg;
	int timer; /* the stimer whose expiry it is, or -1 */
};

struct hv_sim_stimer {
	uint64_t config, count;
	uint64_t due;        /* reference time of the next expiry; 0: not running */
	bool queued;         /* an expiry waits in the SINT queue */
	unsigned fired;      /* expiries queued for the guest */
	unsigned lost;       /* dropped by the stimer_lost fault */
	unsigned missed;     /* periodic expiries skipped because the last still waited */
};

/* A page from hvrt_page_alloc (or owned by the sim). */
struct hv_sim_page {
	void *addr;
	size_t count;
	bool live;
	bool sim_owned;
};

/* Faults on demand; set them between hv_sim_start() and the code under test. */
struct hv_sim_faults {
	bool hypercall_stays_disabled; /* HYPERCALL writes are accepted and ignored */
	bool hypercall_page_empty;     /* enabling writes no code into the page */
	bool hypercall_keeps_address;  /* enabling while enabled keeps the old page (GPA unchanged) */
	bool reftsc_invalid;           /* the reference TSC page is filled with sequence 0 */
	unsigned reftsc_torn;          /* the next n RDTSCs find the page updated since the guest read it */
	unsigned post_busy;            /* the next n PostMessages get post_busy_status */
	uint16_t post_busy_status;     /* HV_STATUS_INSUFFICIENT_BUFFERS unless set */
	unsigned stimer_lost;          /* the next n stimer expiries vanish */
	bool no_lapic_timer;           /* lapic_timer_arm() returns false */
	unsigned alloc_fail_in;        /* the n-th hvrt_page_alloc() from now returns NULL (0: none) */
	struct {
		uint32_t msr;
		bool read, write;          /* which accesses #GP */
		bool ignore;               /* writes are accepted and dropped instead */
		unsigned skip;             /* matching accesses that still work first */
	} gp[HV_SIM_MSR_FAULTS];       /* hv_sim_fault_msr*(); ngp = 0 clears them */
	unsigned ngp;
};

struct hv_sim {
	uint32_t magic;
	struct hv_sim_config cfg;
	/* What hvrt_boot_info() returns (NULL: no boot information, as before boot). */
	const struct hvrt_boot_info *boot_info;
	struct hv_sim_faults fault;

	/* time */
	uint64_t now;            /* reference time, 100 ns */
	uint64_t tsc_at_zero;    /* changes when the reftsc_torn fault moves the TSC */
	uint64_t rdtscs;

	/* MSR state */
	uint64_t guest_os_id, hypercall, reference_tsc, scontrol, simp, siefp;
	uint64_t sint[HV_SINT_COUNT];
	struct hv_sim_stimer stimer[HV_STIMER_COUNT_MAX];
	uint64_t crash_p[5];
	uint64_t icr, tpr, vp_assist;
	uint32_t reftsc_sequence; /* last sequence written to the page */
	uint8_t hypercall_code[4];
	uint64_t hypercall_enables;
	uint64_t eoms, eoms_unneeded, eoms_slot_busy;
	unsigned crashes;
	uint64_t crash_ctl_written, crash_params[5]; /* at the last crash */
	char crash_message[4096];                    /* the message page's text (CRASH_CTL bit 62) */
	unsigned resets;

	/* MSR log */
	struct hv_sim_msr_access *msr_log;
	size_t msr_count, msr_cap;

	/* SynIC queues */
	struct hv_sim_queued queue[HV_SINT_COUNT][HV_SIM_QUEUE_MAX];
	unsigned queue_len[HV_SINT_COUNT];
	uint64_t messages_delivered[HV_SINT_COUNT];
	uint64_t events_set;

	/* hypercalls */
	struct hv_sim_call last_call;
	uint64_t calls;
	struct hv_sim_connection conn[HV_SIM_CONNECTIONS];
	unsigned nconn;
	struct hv_sim_posted posted[HV_SIM_POSTED_MAX];
	unsigned nposted;        /* attempts; only the first HV_SIM_POSTED_MAX are kept */
	unsigned signals;        /* HvSignalEvent calls that succeeded */
	hv_sim_call_fn call_fn;
	void *call_ctx;
	struct {
		uint16_t code;       /* 0: no rep call */
		unsigned per_call;   /* reps completed per call (0: all) */
		bool no_progress;    /* SUCCESS without completing any */
		int fail_at;         /* rep index that fails with fail_status, -1: none */
		uint16_t fail_status;
		unsigned calls;
		unsigned start[HV_SIM_REP_LOG]; /* rep start of each call */
		unsigned count[HV_SIM_REP_LOG]; /* rep count of each call */
	} rep;

	/* interrupt controller (irq_sim.c) */
	struct {
		trap_handler_fn fn;
		void *ctx;
	} vec[256];
	uint64_t irr[4], isr[4], auto_eoi[4];
	bool in_handler;
	uint64_t delivered[256];
	uint64_t interrupts;      /* all deliveries */
	uint64_t auto_eoi_deliveries;
	uint64_t eois, stray_eois;
	bool lapic_armed;
	uint64_t lapic_deadline;  /* TSC */
	uint64_t lapic_arms, lapic_fires;
	uint64_t lapic_wakes;     /* expiries with no handler for VECTOR_LAPIC_TIMER: they only end a halt */
	uint64_t halts, idle_halts;

	/* timed callbacks and the observer (hv_sim_at, hv_sim_set_observer, hv_sim_set_page_user) */
	struct hv_sim_timed timed[HV_SIM_TIMED_MAX];
	unsigned ntimed;
	hv_sim_observer_fn observer;
	void *observer_ctx;
	bool in_observer;
	hv_sim_page_user_fn page_user;
	void *page_user_ctx;

	/* runtime doubles (runtime_sim.c) */
	struct hv_sim_page *pages;
	size_t npages, pages_cap;
	uint64_t allocs, frees;
	const struct glue_clock *clock;
	unsigned clock_installs;
	void (*crash_report)(void *ctx, const struct power_crash *crash);
	void *crash_ctx;
	void (*reset_fn)(void *ctx);
	void *reset_ctx;
};

/* Zeroes sim, applies cfg (NULL: the default) and installs it as the CPU. Interrupts start off. */
void hv_sim_start(struct hv_sim *sim, const struct hv_sim_config *cfg);
/*
 * Checks the interrupt controller (no stray EOI, nothing left in service),
 * uninstalls the CPU and frees every page. Reset hv/'s state before: its
 * pointers into these pages die here.
 */
void hv_sim_stop(struct hv_sim *sim);

/* Moves reference time forward by t100ns, firing stimers and the LAPIC timer on the way. */
void hv_sim_advance(struct hv_sim *sim, uint64_t t100ns);
/* The reference time (100 ns) and the TSC, without spending time. */
uint64_t hv_sim_now(const struct hv_sim *sim);
uint64_t hv_sim_tsc(const struct hv_sim *sim);
/* The first reference time at which the TSC reads at least tsc. */
uint64_t hv_sim_time_of_tsc(const struct hv_sim *sim, uint64_t tsc);
/* The TSC rate the guest believes: cfg.guest_tsc_hz, or cfg.tsc_hz when that is 0. */
uint64_t hv_sim_guest_tsc_hz(const struct hv_sim *sim);
/* Moves the TSC by ticks (negative: back) without moving reference time; see "Time" above. */
void hv_sim_move_tsc(struct hv_sim *sim, int64_t ticks);

/* Queues a message for sint (payload up to 240 bytes). False: the queue is full or len too long. */
bool hv_sim_post(struct hv_sim *sim, unsigned sint, uint32_t type, const void *payload, size_t len);
/* Queues a message with its header as given (a lying host: payload_size > 240, flags, originator). */
bool hv_sim_post_message(struct hv_sim *sim, unsigned sint, const struct hv_message *msg);
/* Sets event flag (0..2047) of sint. False: SIEFP or the SynIC is disabled. */
bool hv_sim_set_event(struct hv_sim *sim, unsigned sint, unsigned flag);

/* Registers a connection the guest may post to (post) or signal (signal); either callback may be NULL. */
struct hv_sim_connection *hv_sim_add_connection(struct hv_sim *sim, uint32_t id, bool messages, bool events,
						hv_sim_post_fn post, hv_sim_signal_fn signal, void *ctx);
/*
 * Calls fn(ctx, sim) once reference time reaches time: from hv_sim_advance,
 * an RDTSC's step or a halt (which moves time to it, as to a timer), in due
 * order. A time already reached fires at the next step. False: all
 * HV_SIM_TIMED_MAX slots are taken.
 */
bool hv_sim_at(struct hv_sim *sim, uint64_t time, hv_sim_timed_fn fn, void *ctx);
/* Forgets every waiting callback of fn with ctx; returns how many. */
unsigned hv_sim_cancel(struct hv_sim *sim, hv_sim_timed_fn fn, void *ctx);
/* One observer (NULL: none), called as enum hv_sim_tick says; it never runs inside itself. */
void hv_sim_set_observer(struct hv_sim *sim, hv_sim_observer_fn fn, void *ctx);
/* One page user (NULL: none), consulted by hv_sim_page_in_use. */
void hv_sim_set_page_user(struct hv_sim *sim, hv_sim_page_user_fn fn, void *ctx);

/* Makes msr #GP on read and/or write, whatever CPUID says. */
void hv_sim_fault_msr(struct hv_sim *sim, uint32_t msr, bool read, bool write);
/* The same, after skip such accesses have worked (a read-back that faults, say). */
void hv_sim_fault_msr_after(struct hv_sim *sim, uint32_t msr, bool read, bool write, unsigned skip);
/* Makes writes of msr succeed without effect (a host that ignores them). */
void hv_sim_ignore_msr_writes(struct hv_sim *sim, uint32_t msr);
/* Enables the hypercall page as a firmware would have, with a page of the sim's; sets a guest OS ID if none. */
void *hv_sim_firmware_hypercall(struct hv_sim *sim, uint64_t guest_os_id);
/* Marks the reference TSC page valid again (a new sequence) or invalid (sequence 0). */
void hv_sim_reftsc_set_valid(struct hv_sim *sim, bool valid);

/* A zeroed page owned by the sim (not counted as the guest's), freed by hv_sim_stop. */
void *hv_sim_page(struct hv_sim *sim);
/* Pages hvrt_page_alloc handed out and nobody freed. */
size_t hv_sim_pages_live(const struct hv_sim *sim);
/* True if [addr, addr + len) lies within one live page (the guest's or the sim's). */
bool hv_sim_is_ram(const struct hv_sim *sim, uint64_t addr, size_t len);

/* MSR log queries: how many accesses of that kind; the last value written (found: true). */
unsigned hv_sim_msr_count(const struct hv_sim *sim, uint32_t msr, bool write);
bool hv_sim_last_write(const struct hv_sim *sim, uint32_t msr, uint64_t *value);
/* Index in msr_log of the first access of that kind at or after from, or -1. */
long hv_sim_msr_find(const struct hv_sim *sim, size_t from, uint32_t msr, bool write);
/* Accesses to Hyper-V MSRs (0x40000000..0x400001ff) in the log. */
unsigned hv_sim_hv_msr_accesses(const struct hv_sim *sim);

/* --- for the doubles (irq_sim.c, runtime_sim.c) --- */

/* The installed sim, or NULL when cpu_sim's ctx is not one. */
struct hv_sim *hv_sim_current(void);
/* Raises vector; auto_eoi: delivered without entering service. */
void hv_sim_raise(struct hv_sim *sim, uint8_t vector, bool auto_eoi);
/* Delivers whatever is pending and deliverable; returns how many. */
unsigned hv_sim_deliver(struct hv_sim *sim);
/* An EOI (lapic_eoi, the EOI MSR): ends the highest interrupt in service. */
void hv_sim_eoi(struct hv_sim *sim);
/* True if the page at addr (any address inside it) is enabled in a host MSR, or the page user says it uses it. */
bool hv_sim_page_in_use(const struct hv_sim *sim, const void *addr, size_t count);

#endif
