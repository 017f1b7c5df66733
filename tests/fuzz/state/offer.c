/* vmbus/offer.c as it is, and where its state lives (tests/fuzz/state.h). */
#include "vmbus/offer.c"

#include "tests/fuzz/state.h"
FUZZ_STATE(offers)

/* The head of the list of released channel objects. */
struct hvrt_channel *fuzz_offers_released(void);
struct hvrt_channel *fuzz_offers_released(void)
{
	return offers.released;
}

/*
 * Frees the channel objects released since head was the list's head: once
 * the state is restored, nothing refers to them. -1 (nothing freed) when a
 * channel is still in the table or head is not on the list.
 */
int fuzz_offers_free_since(struct hvrt_channel *head);
int fuzz_offers_free_since(struct hvrt_channel *head)
{
	struct hvrt_channel *ch;

	for (unsigned r = 0; r <= VMBUS_RELID_MAX; r++)
		if (offers.by_relid[r])
			return -1;
	for (ch = offers.released; ch && ch != head; ch = ch->next_released)
		;
	if (ch != head)
		return -1;
	while (offers.released != head) {
		ch = offers.released;
		offers.released = ch->next_released;
		free(ch);
	}
	return 0;
}
