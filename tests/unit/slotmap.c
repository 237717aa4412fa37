/* SPDX-License-Identifier: MIT */
/* tests/unit/slotmap.c — the slot map: every arena slot to its descriptor.
 *
 * free finds a block's pool through the slot map (issue 8 §3), so the map
 * must agree with the arenas at every step: each slot of a mapped arena
 * points at that arena's descriptor for it (whose head is the block's
 * pool), every other address (large blocks, foreign memory, NULL, above user
 * space) has no entry, an unmapped arena's entries are gone before its range
 * can be reused, and a leaf that cannot be mapped fails the arena cleanly.
 */
#define PM_FAULT_SEAM 1   /* pmi_os_fail_next (os.h) */
#include "config.h"
#include "internal.h"
#include "os.h"
#include "../tap.h"
#include <stdint.h>

static pm_arena_t *arena_of(const void *p) { return (pm_arena_t *)((uintptr_t)p & ~(uintptr_t)PM_CHUNK_MASK); }

TEST(every_slot_of_an_arena_points_at_its_descriptor) {
  pmi_init();
  char *small = pm_malloc(48), *medium = pm_malloc(40 << 10);
  require_not_null(small);
  require_not_null(medium);
  pm_arena_t *a = arena_of(small);
  for (unsigned s = 0; s < PM_ARENA_SLOTS; s++) {
    char *in = (char *)a + (size_t)s * PM_SLOT_SIZE;
    expect_true(pmi_slotmap_slot(in) == &a->pools[s]);
    expect_true(pmi_slotmap_slot(in + PM_SLOT_SIZE - 1) == &a->pools[s]);
  }
  expect_true(pmi_slotmap_slot(small)->head == pmi_arena_pool_of(small));
  expect_true(pmi_slotmap_slot(medium)->head == pmi_arena_pool_of(medium));
  /* a multi-slot pool: its last byte's slot leads to the same head */
  pm_pool_t *mp = pmi_arena_pool_of(medium);
  expect_true(pmi_slotmap_slot(mp->start + (size_t)mp->nslots * PM_SLOT_SIZE - 1)->head == mp);
  expect_true(pmi_slotmap_slot(a)->head->heap == NULL);   /* the header's slot: a blank descriptor */
  pm_free(small);
  pm_free(medium);
}

TEST(other_addresses_have_no_entry) {
  static char global[64];
  int local;
  char *large = pm_malloc(300 << 10);
  require_not_null(large);
  expect_null(pmi_slotmap_slot(large));
  expect_null(pmi_slotmap_slot(global));
  expect_null(pmi_slotmap_slot(&local));
  expect_null(pmi_slotmap_slot(NULL));
  expect_null(pmi_slotmap_slot((void *)((uintptr_t)1 << PM_VA_BITS)));
  expect_null(pmi_slotmap_slot((void *)(uintptr_t)-4096));
  pm_free(large);
}

/* Trim unmaps the empty arenas: their entries must be gone (a later mapping
 * of the range, by anyone, must not look like an arena to free). */
TEST(an_unmapped_arena_has_no_entries) {
  enum { N = 20000 };
  static void *blk[N];
  pm_malloc_trim(0);
  for (size_t i = 0; i < N; i++) require_not_null(blk[i] = pm_malloc(256));
  pm_arena_t *last = arena_of(blk[N - 1]);
  expect_true(pmi_slotmap_slot((char *)last + PM_CHUNK_SIZE / 2) == &last->pools[PM_ARENA_SLOTS / 2]);
  for (size_t i = 0; i < N; i++) pm_free(blk[i]);
  expect_eq(pm_malloc_trim(0), 1);
  size_t cleared = 0;
  for (size_t i = 0; i < N; i += 64) cleared += pmi_slotmap_slot(blk[i]) == NULL;
  expect_gt(cleared, 0);                /* some arenas went back to the OS ... */
  for (size_t i = 0; i < N; i += 64)    /* ... and every address left agrees with the chunk map */
    expect_eq(pmi_slotmap_slot(blk[i]) != NULL, pmi_pagemap_kind(blk[i]) == PM_CHUNK_ARENA);
}

/* Leaves are mapped on first use, far from everything of ours too; when the
 * leaf cannot be mapped, setting fails (the arena is not made) and nothing
 * is left behind.  The arena is never touched: only its address is used. */
TEST(leaves_are_mapped_on_demand_and_failure_is_clean) {
  pm_arena_t *far = (pm_arena_t *)((uintptr_t)1 << 41);   /* 2 TiB: nothing of ours */
  size_t root = (uintptr_t)far >> PM_SLOTMAP_ROOT_SHIFT;
  require_null(pmi_slotmap_root[root]);
  pmi_arena_lock();                     /* the maps' writers' lock */
  pmi_os_fail_next(1);
  expect_false(pmi_slotmap_set_arena(far));
  pmi_os_fail_next(0);
  expect_null(pmi_slotmap_root[root]);
  expect_null(pmi_slotmap_slot(far));
  require_true(pmi_slotmap_set_arena(far));
  expect_not_null(pmi_slotmap_root[root]);
  expect_true(pmi_slotmap_slot((char *)far + 5 * PM_SLOT_SIZE + 100) == &far->pools[5]);
  pmi_slotmap_clear_arena(far);
  expect_null(pmi_slotmap_slot(far));
  expect_null(pmi_slotmap_slot((char *)far + PM_CHUNK_SIZE - 1));
  pmi_arena_unlock();
}

