/*
 * Commands for the device (struct control): sent and answered at once, or
 * sent later from a synthetic timer, so that the host acts in the middle of
 * one of hvrt's blocking calls.
 */
#include "chantest.h"

/*
 * control - a command for the device, sent on channel via, answered there
 * hvrt_channel_request waits for room itself when the channel is busy (a
 * stream fills its ring): that is part of what is tested.
 * Return: the device's status (0 done, 1 unknown command or channel) or a
 * negative errno.
 */
int control(unsigned via, uint32_t cmd, unsigned target, uint32_t count, uint32_t size)
{
	struct control c = { CTL_MAGIC, cmd, target, count, size };
	uint8_t resp[8];

	int n = hvrt_channel_request(chans[via], &c, sizeof(c), resp, sizeof(resp), REPLY_MS);
	if (n < 0)
		return n;
	if (n < 4)
		return -EPROTO;
	uint32_t status;
	memcpy(&status, resp, 4);
	return (int)status;
}

/* control_ok - a command for the device: sent, checked, a failure naming it */
bool control_ok(unsigned via, uint32_t cmd, unsigned target, uint32_t count, uint32_t size)
{
	static const char *const names[] = { "?", "STALL", "RESUME", "SEND", "RESCIND", "BAD_LENGTH", "BAD_OFFSET",
					     "BAD_TYPE", "STRAY_COMPLETION" };
	int st = control(via, cmd, target, count, size);

	return EXPECT(st == 0, "control %s for channel %u on channel %u: %s %d%s",
		      cmd < sizeof(names) / sizeof(names[0]) ? names[cmd] : "?", target, via, st < 0 ? "error" : "status",
		      st, st == 1 ? " (the device does not know the command: an older tests/qemu patch?)" : "");
}

/*
 * timed_send - the timer's expiry: sends the control packet (from whichever poll it comes in)
 * When it came is kept, by the guest's clock and the host's: a check
 * measures from the moment the packet went out, not from when it was due.
 */
static void timed_send(void *ctx, const struct hvrt_stimer_event *event)
{
	struct timed *t = ctx;

	t->sent_at = now_ref();
	t->expired = event->expiration_time;
	t->delivered = event->delivery_time;
	t->sent = hvrt_channel_send(chans[t->via], &t->c, sizeof(t->c), 4, false);
}

/*
 * timed_control - a command for the device, sent on channel via in ms
 * It asks for no answer. The expiry runs from whichever poll comes then,
 * those inside hvrt's own waits too: this is how a check makes the host act
 * in the middle of a blocking call. Return: hvrt_stimer_start's.
 */
int timed_control(struct timed *t, unsigned ms, unsigned via, uint32_t cmd, unsigned target)
{
	*t = (struct timed){ via, { CTL_MAGIC, cmd, target, 0, 0 }, -EINPROGRESS, 0, 0, 0, 0 };
	t->when = now_ref() + (uint64_t)ms * TICKS_PER_MS;
	return hvrt_stimer_start(CONTROL_TIMER, CONTROL_SINT, false, t->when, timed_send, t);
}
