/* SPDX-License-Identifier: MIT */
/* slotmap.c — the descriptor of every 16 KiB slot of our arenas.
 *
 * free must turn a pointer into its pool before it can check anything.  The
 * chunk map (pagemap.c) answers "is this chunk an arena?" in one byte, and
 * the arena header then gives the slot's descriptor: two dependent loads,
 * a compare, and an address computation before the third load, 21
 * instructions of free's fast path.  This map answers the whole question at
 * once, one pointer per slot, in 14 (issue 8 §3; docs/design.md, "What the
 * checks cost on the fast path"):
 *
 *   address: | root index (18 bits) | leaf index (16 bits) | offset (14 bits) |
 *   pmi_slotmap_root[root index] -> leaf (512 KiB of pointers, mapped on
 *   first use, never freed; NULL = no arena in those 1 GiB)
 *   leaf[leaf index] = &arena->pools[slot], or NULL (not an arena slot)
 *
 * An entry points at the slot's descriptor, not at the pool: descriptors
 * live as long as their arena, so entries change only when an arena is
 * mapped or unmapped (under the arena lock), never when pools are made or
 * blanked; the reader follows ->head like every other lookup.
 *
 * The chunk-map rule holds for this map too: an arena's entries are written
 * before any pointer into it escapes, and cleared before its range can be
 * mapped again (arena.c sets and clears both maps together).  Entries are
 * pointer-sized atomic stores; readers use relaxed loads and no lock.
 * Address space: 2 MiB of bss for the root (untouched pages cost nothing)
 * and 512 KiB per GiB of address space that holds an arena, resident only
 * where written (4 KiB per 8 arenas).
 * Never calls malloc: leaves come from pmi_os_map.
 */
#include "os.h"

pm_pool_t **pmi_slotmap_root[PM_SLOTMAP_ROOT_SIZE];

#define SLOTMAP_LEAF_BYTES (PM_SLOTMAP_LEAF_SIZE * sizeof(pm_pool_t *))

/* The leaf covering slot index s, mapped on first use; NULL + ENOMEM.
 * Its only writers hold the arena lock, so no other thread can install the
 * leaf meanwhile (pagemap.c's leaves, written from large.c too, need a CAS). */
static pm_pool_t **slotmap_leaf(uintptr_t s) {
  pm_pool_t ***slot = &pmi_slotmap_root[s >> PM_SLOTMAP_LEAF_SHIFT];
  pm_pool_t **leaf = pm_atomic_load_relaxed(slot);
  if (leaf == NULL && (leaf = pmi_os_map(SLOTMAP_LEAF_BYTES, PM_PAGE_SIZE)) != NULL)
    pm_atomic_store_release(slot, leaf);
  return leaf;
}

bool pmi_slotmap_set_arena(pm_arena_t *a) {
  uintptr_t s = (uintptr_t)a >> PM_SLOT_SHIFT;
  pm_assert(((uintptr_t)a & PM_CHUNK_MASK) == 0 && (uintptr_t)a >> PM_VA_BITS == 0);
  pm_pool_t **leaf = slotmap_leaf(s);   /* one leaf holds a whole arena: 1 GiB is a multiple of 1 MiB */
  if (leaf == NULL) return false;
  for (unsigned i = 0; i < PM_ARENA_SLOTS; i++) {
    pm_assert(leaf[(s + i) & PM_SLOTMAP_LEAF_MASK] == NULL);
    pm_atomic_store_release(&leaf[(s + i) & PM_SLOTMAP_LEAF_MASK], &a->pools[i]);
  }
  return true;
}

void pmi_slotmap_clear_arena(const pm_arena_t *a) {
  uintptr_t s = (uintptr_t)a >> PM_SLOT_SHIFT;
  pm_pool_t **leaf = pm_atomic_load_acquire(&pmi_slotmap_root[s >> PM_SLOTMAP_LEAF_SHIFT]);
  pm_assert(leaf != NULL);
  for (unsigned i = 0; i < PM_ARENA_SLOTS; i++) {
    pm_assert(leaf[(s + i) & PM_SLOTMAP_LEAF_MASK] == &a->pools[i]);
    pm_atomic_store_release(&leaf[(s + i) & PM_SLOTMAP_LEAF_MASK], NULL);
  }
}
