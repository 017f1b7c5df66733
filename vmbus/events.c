/*
 * What hvrt_poll() runs for VMBus, after the SynIC.
 *
 * The SINT2 event handler only notes which channels the host signalled, one
 * bit per relid; this file reads those channels. Every bit is taken with its
 * own test-and-clear, so a wait nested inside a callback (an on_packet that
 * makes a request on another channel) still finds the bits its caller had
 * not reached: taking a whole word at once would hide them in the caller's
 * frame, and the host, which signals only on empty to non-empty, would never
 * signal them again.
 *
 * Offer work (driver probes, rescind callbacks, releasing a relid) runs only
 * from the outermost poll: a probe opens its channel and waits, and if the
 * next offer were probed inside that wait, a host offering many devices would
 * nest probes as deep as it likes.
 */
#include <string.h>

#include "hv/hv.h"
#include "vmbus/vmbus.h"

#define EVENT_WORDS ((VMBUS_RELID_MAX + 1) / 64)

static struct vmbus_events {
	uint64_t pending[EVENT_WORDS];
	bool any;       /* some bit may be set */
	bool work_due;  /* vmbus_offers_work() has something to do */
	unsigned depth; /* vmbus_poll frames on the stack */
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
	if (events.work_due && events.depth == 1) {
		events.work_due = false;
		n += vmbus_offers_work();
	}
	events.depth--;
	return n;
}

void vmbus_events_attach(bool on)
{
	memset(events.pending, 0, sizeof(events.pending));
	events.any = false;
	events.work_due = false;
	hv_poll_set_hook(on ? vmbus_poll : NULL);
}
