/*
 * Hyper-V core, the runtime's side: what boot/start.c calls, and what the
 * layers above (vmbus/, drivers/) use. The application's side is
 * include/hvrt/hv.h.
 *
 * Each file keeps its own state: detect.c (the host), hypercall.c, synic.c,
 * reftime.c, stimer.c, crash.c; hv.c brings them up in order.
 */
#ifndef HVRT_HV_HV_H
#define HVRT_HV_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hvrt/hv.h>

#include "hv/hv_defs.h"

/* SINT numbers the runtime itself takes (docs/hv.md). */
#define HV_SINT_VMBUS 2u
#define HV_SINT_RUNTIME_TIMER 3u
/* The one IDT vector every SINT raises; what arrived is found by scanning. */
#define HV_SYNIC_VECTOR 0x40u

/* --- detect.c: CPUID only --- */

/* Fills host from CPUID (no MSR is touched). Returns true if it is Hyper-V ("Hv#1"). */
bool hv_detect(struct hvrt_host *host);
/* The runtime's one host record (detect.c owns it). */
struct hvrt_host *hv_host_mut(void);

/* --- hypercall.c --- */

/*
 * hv_hypercall_init - write the guest OS ID and enable the hypercall page
 * @host: detection result; hypercall fields are filled in
 * Return: 0, -ENODEV (not offered), -ENOMEM, or -EIO (the host refused an MSR).
 */
int hv_hypercall_init(struct hvrt_host *host);
/* Forgets the page (tests; a later issue's hand-off). The host's MSR is left as it is. */
void hv_hypercall_reset(void);
bool hv_hypercall_ready(void);

/* Guest OS ID hvrt writes (docs/hv.md explains the encoding). */
uint64_t hv_guest_os_id(void);

/* A simple call: input and output pages by GPA (0 when none). Returns the HV_STATUS. */
uint16_t hv_call(uint16_t code, uint64_t input_gpa, uint64_t output_gpa);
/* A fast call with 16 bytes of input in registers. Returns the HV_STATUS. */
uint16_t hv_call_fast(uint16_t code, uint64_t in1, uint64_t in2);
/*
 * A rep call of count elements, re-issued from where the host stopped until
 * all are done or one fails. *done (optional) gets the reps completed.
 * Returns the HV_STATUS of the last call.
 */
uint16_t hv_call_rep(uint16_t code, uint32_t count, uint64_t input_gpa, uint64_t output_gpa, uint32_t *done);

/* The errno value for an HV_STATUS (0 for success). */
int hv_status_errno(uint16_t status);

/*
 * hv_post_message - HvCallPostMessage
 * @connection: the host's message connection id
 * @type:       message type (VMBus uses 1); must be 1..0x7fffffff
 * @payload, @size: up to 240 bytes
 * @status:     (optional) the last HV_STATUS
 * Return: 0 or a negative errno. A full host queue (INSUFFICIENT_BUFFERS or
 * INSUFFICIENT_MEMORY) is retried with a growing back-off for about a second
 * before -EAGAIN; other errors come back at once.
 */
int hv_post_message(uint32_t connection, uint32_t type, const void *payload, size_t size, uint16_t *status);

/* HvCallSignalEvent on connection, flag. Returns 0 or a negative errno; *status as above. */
int hv_signal_event(uint32_t connection, uint16_t flag, uint16_t *status);

/* --- synic.c --- */

/* What a SINT's owner handles; both run from hvrt_poll(), never in the interrupt. */
struct hv_sint_ops {
	/* A message copied out of the slot (payload_size already bounded to 240). */
	void (*message)(void *ctx, unsigned sint, const struct hv_message *msg);
	/* One event flag that was set (and is now cleared); NULL: the SINT has no events. */
	void (*event)(void *ctx, unsigned sint, unsigned flag);
	void *ctx;
};

/* Enables SIMP, SIEFP and SCONTROL on the boot CPU. Returns 0, -ENODEV, -ENOMEM or -EIO. */
int hv_synic_init(struct hvrt_host *host);
/*
 * Takes a SINT: programs its vector and unmasks it. Returns 0, -ENODEV (no
 * SynIC), -EINVAL (sint 0 or >= 16), -EBUSY (taken) or -EIO.
 */
int hv_synic_claim(unsigned sint, const struct hv_sint_ops *ops);
/* Masks a SINT and forgets its owner. */
void hv_synic_release(unsigned sint);
bool hv_synic_ready(void);
/* Handles every pending message and event. Returns how many. */
int hv_synic_poll(void);
/* True when the SynIC interrupt came since the last poll (check with interrupts off). */
bool hv_synic_pending(void);
/* Masks every SINT, disables SCONTROL, SIMP and SIEFP (before exit or a hand-off). */
void hv_synic_shutdown(void);

/* --- reftime.c --- */

/* Picks the best clock (reference TSC page, TIME_REF_COUNT) and gives it to libc-glue. */
int hv_reftime_init(struct hvrt_host *host);
void hv_reftime_reset(void);
/* Reads the partition reference time (100 ns). Returns false without a Hyper-V clock. */
bool hv_reftime_read(uint64_t *time_100ns);
/* False when the last read was carried on with the TSC (the host's page was invalid, no counter). */
bool hv_reftime_from_host(void);
/* Reads the frequency MSRs when offered (before TSC calibration). */
void hv_read_frequencies(struct hvrt_host *host);

/* --- stimer.c --- */

/* Makes stimers usable if the host offers them and the SynIC is up; arms the runtime's sleep timer. */
int hv_stimer_init(struct hvrt_host *host);
void hv_stimer_reset(void);
/*
 * Halts until reference time reaches deadline (100 ns), running hvrt_poll()
 * meanwhile. Stimer 0 wakes it, with the LAPIC timer as a backstop in case
 * the host loses the expiry.
 */
void hv_stimer_sleep_until(uint64_t deadline);
/*
 * The same, but returns as soon as done(ctx) is true (checked after each
 * hvrt_poll(), so a message that arrives ends the wait at once). Returns
 * whether done; false at the deadline or without a Hyper-V clock.
 */
bool hv_stimer_wait(uint64_t deadline, bool (*done)(void *ctx), void *ctx);

/* --- crash.c --- */

/* Registers the crash MSRs with the panic path when the host offers them. */
int hv_crash_init(struct hvrt_host *host);
void hv_crash_reset(void);

/* --- poll.c --- */

/*
 * Work a layer above runs from every hvrt_poll(), after the SynIC (NULL:
 * none); hook returns what it handled. pending says whether a poll now would
 * find work (noted without an interrupt): waits do not halt while it does.
 */
void hv_poll_set_hook(int (*hook)(void), bool (*pending)(void));
bool hv_poll_pending(void);

/* --- hv.c --- */

/* Detects the host and reads what must be known before clocks are calibrated. */
void hv_early_init(void);
/* Sets up hypercalls, SynIC, reference time, stimers and crash reporting, each as far as the host allows. */
void hv_init(void);

#endif
