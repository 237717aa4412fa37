/* SPDX-License-Identifier: MIT */
/* pagemap.c — which 1 MiB chunks of the address space are ours, and how much
 * of each.
 *
 * One byte per chunk, in a two-level radix tree over the 48-bit user address
 * space, so that only the parts of the map that cover our mappings are
 * committed (a flat map would reserve 2^28 bytes of address space up front,
 * and RLIMIT_AS counts reservations; issue 7 §5):
 *
 *   address: | root index (14 bits) | leaf index (14 bits) | offset (20 bits) |
 *   pmi_pagemap_root[root index] -> leaf (16 KiB, mapped on first use, never
 *   freed; NULL = every chunk of those 16 GiB is foreign)
 *   leaf[leaf index] = entry:  bits 0-1 kind, bits 2-7 extent
 *      kind 0 FOREIGN        not ours
 *           1 ARENA          an arena: header at the chunk base (extent 0)
 *           2 LARGE          a large block's user pointer lies in this chunk;
 *                            its header is at the chunk base
 *           3 LARGE_AT_BASE  a large block whose user pointer IS the chunk
 *                            base (alignment >= 1 MiB); header one page below
 *      extent 0 = the whole chunk is ours; n = only its first n * 16 KiB
 *           (a large mapping that ends inside its first chunk: the kernel may
 *           hand the rest of that chunk to anyone, and a pointer there is
 *           foreign).
 *
 * The chunk-map rule (docs/design.md, "The chunk-map rule"): a chunk's entry
 * is written before any pointer into it escapes to another thread, and
 * cleared (or narrowed) before the address range it covered can be handed to
 * anyone else — that is, before munmap, before an mremap that moves or
 * shrinks the mapping.  Only the thread that owns a mapping writes its
 * entry, so entries need no lock; they are single-byte atomic stores, and
 * readers (free, realloc, usable_size, the GC layer) use one relaxed load
 * per level and no lock, like obmalloc's address_in_range.
 * Never calls malloc: leaves come from pmi_os_map.
 */
#include "os.h"

uint8_t *pmi_pagemap_root[PM_PAGEMAP_ROOT_SIZE];

/* The leaf covering chunk index c, mapped on first use; NULL + ENOMEM. */
static uint8_t *pagemap_leaf(uintptr_t c) {
  uint8_t **slot = &pmi_pagemap_root[c >> PM_PAGEMAP_LEAF_SHIFT];
  uint8_t *leaf = pm_atomic_load_acquire(slot);
  if (leaf != NULL) return leaf;
  uint8_t *fresh = pmi_os_map(PM_PAGEMAP_LEAF_SIZE, PM_PAGE_SIZE);
  if (fresh == NULL) return NULL;
  if (pm_atomic_cas_strong_acq_rel(slot, &leaf, fresh)) return fresh;
  pmi_os_unmap(fresh, PM_PAGEMAP_LEAF_SIZE);   /* another thread installed one */
  return leaf;
}

bool pmi_pagemap_prepare(const void *p) {
  return (uintptr_t)p >> PM_VA_BITS == 0 && pagemap_leaf((uintptr_t)p >> PM_CHUNK_SHIFT) != NULL;
}

bool pmi_pagemap_set(const void *chunk_base, unsigned kind, size_t extent) {
  uintptr_t c = (uintptr_t)chunk_base >> PM_CHUNK_SHIFT;
  pm_assert(((uintptr_t)chunk_base & PM_CHUNK_MASK) == 0 && (uintptr_t)chunk_base >> PM_VA_BITS == 0);
  pm_assert(kind <= PM_CHUNK_LARGE_AT_BASE && extent <= PM_CHUNK_SIZE && extent % PM_PAGEMAP_EXTENT_UNIT == 0);
  pm_assert(kind != PM_CHUNK_FOREIGN || extent == 0);
  size_t units = extent == PM_CHUNK_SIZE ? 0 : extent / PM_PAGEMAP_EXTENT_UNIT;
  uint8_t entry = (uint8_t)(kind | units << PM_PAGEMAP_KIND_BITS);
  uint8_t *leaf;
  if (kind == PM_CHUNK_FOREIGN) {
    leaf = pm_atomic_load_acquire(&pmi_pagemap_root[c >> PM_PAGEMAP_LEAF_SHIFT]);
    if (leaf == NULL) return true;           /* never marked: nothing to clear */
  } else if ((leaf = pagemap_leaf(c)) == NULL) {
    return false;
  }
  pm_atomic_store_release(&leaf[c & PM_PAGEMAP_LEAF_MASK], entry);
  return true;
}
