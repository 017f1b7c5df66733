/*
 * hvrt_poll: the event loop's one step. Interrupt handlers only note what
 * arrived; the work, and every callback, happens here: first the SynIC's
 * messages and event flags, then the work a layer above deferred to the loop
 * (VMBus: channel events, driver probes, rescinds), if one is linked in.
 */
#include <hvrt/hv.h>

#include "hv/hv.h"

static struct hv_poll {
	int (*hook)(void);
	bool (*pending)(void);
} poll;

void hv_poll_set_hook(int (*hook)(void), bool (*pending)(void))
{
	poll.hook = hook;
	poll.pending = pending;
}

bool hv_poll_pending(void)
{
	return poll.pending && poll.pending();
}

int hvrt_poll(void)
{
	int n = hv_synic_poll();

	if (poll.hook)
		n += poll.hook();
	return n;
}
