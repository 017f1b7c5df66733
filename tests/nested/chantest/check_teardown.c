/* The end: the bus let go of (UNLOAD), after which every channel is dead. */
#include "chantest.h"

/*
 * check_teardown - every channel closed, then hvrt_vmbus_disconnect (UNLOAD)
 * Every channel is dead after it. The case checks in QEMU's trace that no
 * GPADL was left and that UNLOAD came last.
 */
void check_teardown(unsigned arg)
{
	(void)arg;

	close_all();
	for (unsigned i = 0; i < NCHAN; i++)
		EXPECT(!hvrt_channel_is_open(chans[i]), "channel %u still open", i);
	int err = hvrt_vmbus_disconnect();
	EXPECT(err == 0 && hvrt_vmbus_version() == 0, "disconnect: %d, version %#" PRIx32 " after it", err,
	       hvrt_vmbus_version());
	int send = hvrt_channel_send(chans[0], "x", 1, 1, false);
	EXPECT(send == -ENODEV || send == -ENOTCONN, "send after the disconnect: %d (want -ENODEV or -ENOTCONN)", send);
	int open = open_chan(0, 16384, 16384, false);
	EXPECT(open == -ENODEV, "open after the disconnect: %d (want -ENODEV)", open);
	note("every channel closed, UNLOAD answered; after it send %d, open %d", send, open);
}
