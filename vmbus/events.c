/*
 * What hvrt_poll() runs for VMBus, after the SynIC, and the rules for
 * running user code.
 *
 * The SINT2 event handler only notes which channels the host signalled, one
 * bit per relid; this file reads those channels. Every bit is taken with its
 * own test-and-clear, so a wait nested inside a callback (an on_packet that
 * makes a request on another channel) still finds the bits its caller had
 * not reached: taking a whole word at once would hide them in the caller's
 * frame, and the host, which signals only on empty to non-empty, would never
 * signal them again.
 *
 * Who runs where:
 *  - on_packet runs wherever a poll runs, waits of ours included (a request
 *    waits for its completion while other channels are served). It may send,
 *    receive and make requests on other channels; what would tear state out
 *    from under a frame below it (open, close, GPADLs, disconnect, driver
 *    registration) is refused there with -EDEADLK (vmbus_in_packet_callback).
 *  - Offer work (driver probes and removes, on_rescind, releasing a relid)
 *    runs only from a poll the app makes itself: never inside a wait of ours
 *    (vmbus_wait) nor inside any callback. A probe opens its channel and
 *    waits; offers probed inside each other's waits would nest as deep as the
 *    host likes, and a remove inside an open's wait would close what the open
 *    is still building.
 */
#include <string.h>

#include "hv/hv.h"
#include "vmbus/vmbus.h"

#define EVENT_WORDS ((VMBUS_RELID_MAX + 1) / 64)
#define WORK_PASSES 8u /* offer work noted by offer work (a probe's open) gets this many more passes */

static struct vmbus_events {
	uint64_t pending[EVENT_WORDS];
	bool any;           /* some bit may be set */
	bool work_due;      /* vmbus_offers_work() has something to do */
	unsigned depth;     /* vmbus_poll frames on the stack */
	unsigned waits;     /* vmbus_wait frames on the stack */
	unsigned callbacks; /* user callbacks on the stack (any kind) */
	unsigned packet_callbacks; /* on_packet calls on the stack */
	bool exiting;       /* the app is exiting: the frames below never run again */
} events;

void vmbus_event_note(uint32_t relid)
{
	if (relid == 0 || relid > VMBUS_RELID_MAX)
		return;
	__atomic_fetch_or(&events.pending[relid / 64], 1ull << (relid % 64), __ATOMIC_RELAXED);
	events.any = true;
}

void vmbus_work_note(void)
{
	events.work_due = true;
}

void vmbus_wait_enter(void)
{
	events.waits++;
}

void vmbus_wait_leave(void)
{
	events.waits--;
}

void vmbus_callback_enter(bool packet)
{
	events.callbacks++;
	if (packet)
		events.packet_callbacks++;
}

void vmbus_callback_leave(bool packet)
{
	events.callbacks--;
	if (packet)
		events.packet_callbacks--;
}

bool vmbus_in_packet_callback(void)
{
	return events.packet_callbacks != 0;
}

bool vmbus_in_callback(void)
{
	return events.callbacks != 0;
}

/*
 * Open, close, GPADLs, MODIFYCHANNEL: not from an on_packet (its caller is
 * reading some channel's rings), and not while a wait of ours is in
 * progress (reached through a callback of any kind, an app's synthetic
 * timer too: the wait's caller is building or tearing down state). At exit
 * anything goes: the frames below never resume.
 */
bool vmbus_may_change_channels(void)
{
	return events.exiting || (events.packet_callbacks == 0 && events.waits == 0);
}

/* Disconnect, driver registration: only from the app's own code, outside waits and callbacks. */
bool vmbus_may_change_bus(void)
{
	return events.exiting || (events.callbacks == 0 && events.waits == 0);
}

void vmbus_set_exiting(void)
{
	events.exiting = true;
}

bool vmbus_exiting(void)
{
	return events.exiting;
}

/* Offer work may run: no wait of ours and no callback below us. */
static bool at_top_level(void)
{
	return events.waits == 0 && events.callbacks == 0;
}

static int take_events(void)
{
	int n = 0;

	events.any = false;
	for (unsigned w = 0; w < EVENT_WORDS; w++) {
		uint64_t seen = __atomic_load_n(&events.pending[w], __ATOMIC_RELAXED);
		while (seen) {
			unsigned bit = (unsigned)__builtin_ctzll(seen);
			uint64_t mask = 1ull << bit;
			seen &= seen - 1;
			/* A nested frame may have taken it meanwhile. */
			if (__atomic_fetch_and(&events.pending[w], ~mask, __ATOMIC_ACQ_REL) & mask) {
				vmbus_channel_event(w * 64 + bit);
				n++;
			}
		}
	}
	return n;
}

static int vmbus_poll(void)
{
	int n = 0;

	events.depth++;
	/*
	 * An outer frame clears any before it dispatches what it saw, so a
	 * nested frame (a wait inside a callback) always scans: the bits its
	 * caller has not reached are still set, and only it can take them now.
	 */
	if (events.any || events.depth > 1)
		n += take_events();
	for (unsigned pass = 0; pass < WORK_PASSES && events.work_due && at_top_level(); pass++) {
		events.work_due = false;
		n += vmbus_offers_work();
	}
	events.depth--;
	return n;
}

void vmbus_run_due_work(void)
{
	for (unsigned pass = 0; pass < WORK_PASSES && events.work_due && at_top_level(); pass++) {
		events.work_due = false;
		vmbus_offers_work();
	}
}

/*
 * Whether a poll now would find work this context may do: the runtime's
 * waits do not halt while it would (a note leaves no interrupt behind).
 */
static bool vmbus_work_pending(void)
{
	return events.any || (events.work_due && at_top_level());
}

void vmbus_events_attach(bool on)
{
	memset(events.pending, 0, sizeof(events.pending));
	events.any = false;
	events.work_due = false;
	if (on)
		hv_poll_set_hook(vmbus_poll, vmbus_work_pending);
	else
		hv_poll_set_hook(NULL, NULL);
}
