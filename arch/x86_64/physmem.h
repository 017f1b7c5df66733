/*
 * Access to tables the firmware left in physical memory (ACPI, multiboot).
 *
 * Parsers take a phys_map_fn rather than casting addresses, so unit tests can
 * hand them captured tables at made-up addresses, and so every access is
 * bounded: the map function refuses ranges it cannot back.
 */
#ifndef HVRT_ARCH_PHYSMEM_H
#define HVRT_ARCH_PHYSMEM_H

#include <stdint.h>

/* Returns a pointer to len bytes at physical address addr, or NULL. */
typedef const void *(*phys_map_fn)(void *ctx, uint64_t addr, uint64_t len);

/* The identity mapping of the running system: refuses NULL and wrapping ranges. */
const void *phys_identity_map(void *ctx, uint64_t addr, uint64_t len);

#endif
