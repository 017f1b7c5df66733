/*
 * Transaction ids awaiting a completion: a small open-addressing hash set.
 *
 * The set is as large as the send ring can hold packets that ask for a
 * completion (channel.c sizes it), so a lookup stays O(1) however many the
 * host sits on. Deletion shifts the probe chain back instead of leaving
 * tombstones, so a long-lived channel never degrades.
 */
#include <errno.h>
#include <stdlib.h>

#include "vmbus/awaited.h"

#define AWAITED_MAX (1u << 24)

/* Fibonacci hashing: the app's ids are often sequential, which this spreads. */
static uint32_t home_slot(const struct vmbus_awaited *set, uint64_t id)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (set->slots - 1);
}

int vmbus_awaited_init(struct vmbus_awaited *set, uint32_t max)
{
	uint32_t slots = 8;

	*set = (struct vmbus_awaited){ 0 };
	if (max == 0 || max > AWAITED_MAX)
		return -EINVAL;
	/* At most three quarters full: probe chains stay short. */
	while (slots < max + max / 3 + 1)
		slots *= 2;
	set->ids = malloc((size_t)slots * sizeof(*set->ids));
	set->used = calloc(slots, 1);
	if (!set->ids || !set->used) {
		vmbus_awaited_free(set);
		return -ENOMEM;
	}
	set->slots = slots;
	set->max = max;
	return 0;
}

void vmbus_awaited_free(struct vmbus_awaited *set)
{
	free(set->ids);
	free(set->used);
	*set = (struct vmbus_awaited){ 0 };
}

int vmbus_awaited_add(struct vmbus_awaited *set, uint64_t id)
{
	if (set->count >= set->max)
		return -EAGAIN;
	uint32_t i = home_slot(set, id);
	while (set->used[i])
		i = (i + 1) & (set->slots - 1);
	set->ids[i] = id;
	set->used[i] = 1;
	set->count++;
	return 0;
}

/*
 * remove_slot - empties slot hole and closes the gap behind it
 * An entry further along the chain moves back into the hole unless its home
 * slot lies cyclically in (hole, entry]: moving it would put it before its
 * home, where no lookup would find it.
 */
static void remove_slot(struct vmbus_awaited *set, uint32_t hole)
{
	uint32_t mask = set->slots - 1;

	for (uint32_t j = (hole + 1) & mask; set->used[j]; j = (j + 1) & mask) {
		uint32_t home = home_slot(set, set->ids[j]);
		if (((j - home) & mask) < ((j - hole) & mask))
			continue;
		set->ids[hole] = set->ids[j];
		hole = j;
	}
	set->used[hole] = 0;
	set->count--;
}

bool vmbus_awaited_take(struct vmbus_awaited *set, uint64_t id)
{
	if (set->count == 0)
		return false;
	for (uint32_t i = home_slot(set, id); set->used[i]; i = (i + 1) & (set->slots - 1)) {
		if (set->ids[i] == id) {
			remove_slot(set, i);
			return true;
		}
	}
	return false;
}
