/*
 * hvrt_poll: the event loop's one step. Interrupt handlers only note what
 * arrived; the work, and every callback, happens here.
 */
#include <hvrt/hv.h>

#include "hv/hv.h"

int hvrt_poll(void)
{
	return hv_synic_poll();
}
