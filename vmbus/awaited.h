/*
 * The transaction ids a channel sent with a completion requested and whose
 * completion has not come yet. A completion with any other id is a host that
 * is out of step with the guest (or lying), and breaks the channel
 * (channel.c). Ids may repeat: each send counts once.
 */
#ifndef HVRT_VMBUS_AWAITED_H
#define HVRT_VMBUS_AWAITED_H

#include <stdbool.h>
#include <stdint.h>

struct vmbus_awaited {
	uint64_t *ids;  /* open addressing, linear probing */
	uint8_t *used;  /* per slot: 1 when ids[] holds an id (0 is a valid id) */
	uint32_t slots; /* a power of two, at least a third more than max */
	uint32_t count;
	uint32_t max;
};

/*
 * vmbus_awaited_init - an empty set for up to max ids (1 .. 1 << 24)
 * Return: 0, -EINVAL or -ENOMEM.
 */
int vmbus_awaited_init(struct vmbus_awaited *set, uint32_t max);
/* Frees the set (an uninitialised, zeroed one too). */
void vmbus_awaited_free(struct vmbus_awaited *set);
/* Adds one use of id. Return: 0, or -EAGAIN when max ids await already. */
int vmbus_awaited_add(struct vmbus_awaited *set, uint64_t id);
/* Takes one use of id away. Return: whether id was awaited. */
bool vmbus_awaited_take(struct vmbus_awaited *set, uint64_t id);
static inline bool vmbus_awaited_full(const struct vmbus_awaited *set)
{
	return set->count >= set->max;
}

#endif
