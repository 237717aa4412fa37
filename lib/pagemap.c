/* SPDX-License-Identifier: MIT */
/* pagemap.c — which 1 MiB chunks of the address space are ours.
 *
 * Two bits per chunk over the 47-bit user address space: 2^27 chunks, a
 * 32 MiB array in .bss that costs only the pages a program's heap touches.
 *
 *   address: | chunk index (27 bits) | offset in chunk (20 bits) |
 *   pmi_pagemap_bits[index / 4] >> (index % 4 * 2) & 3
 *      0 FOREIGN          not ours: free() reports it
 *      1 ARENA            an arena: header at the chunk base
 *      2 LARGE            a large block's user pointer lies inside; its
 *                         header is at the chunk base
 *      3 LARGE_AT_BASE    a large block whose user pointer IS the chunk base
 *                         (alignment >= 1 MiB); header one page below
 *
 * Readers (free, realloc, usable_size) use one plain load and no lock, like
 * obmalloc's address_in_range.  Writers change a chunk's bits with an
 * atomic and/or on the byte, since four chunks share a byte and arenas and
 * large blocks are set under different locks.  A chunk is marked before its
 * pointer is handed out and cleared before it is unmapped, so a reader that
 * holds a valid pointer always sees its kind.
 */
#include "internal.h"

uint8_t pmi_pagemap_bits[PM_NCHUNKS / 4];

void pmi_pagemap_set(const void *chunk_base, unsigned kind) {
  uintptr_t chunk = (uintptr_t)chunk_base >> PM_CHUNK_SHIFT;
  pm_assert(((uintptr_t)chunk_base & PM_CHUNK_MASK) == 0 && chunk < PM_NCHUNKS && kind <= 3);
  unsigned shift = (unsigned)(chunk & 3) * 2;
  uint8_t *byte = &pmi_pagemap_bits[chunk >> 2];
  __atomic_fetch_and(byte, (uint8_t)~(3u << shift), __ATOMIC_RELEASE);
  if (kind != PM_CHUNK_FOREIGN) __atomic_fetch_or(byte, (uint8_t)(kind << shift), __ATOMIC_RELEASE);
}
