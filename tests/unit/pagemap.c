/* SPDX-License-Identifier: MIT */
/* tests/unit/pagemap.c — the chunk map: kinds, extents, leaves, the rule.
 *
 * The map says, for every 1 MiB chunk, whether it is an arena, holds a large
 * block's user pointer, or is foreign, and how much of a partly used chunk
 * is ours.  These tests check each kind and the extent boundary exactly
 * (a pointer just past a large mapping that ends inside its chunk is
 * foreign), that marks follow blocks through realloc moves and frees, that
 * addresses outside the user address space are foreign, and that a leaf is
 * committed only where something was marked (issue 7 §1, §5).
 */
#include "config.h"
#include "internal.h"
#include "../tap.h"
#include <stdint.h>

static char *chunk_of(const void *p) { return (char *)((uintptr_t)p & ~(uintptr_t)PM_CHUNK_MASK); }

TEST(arenas_and_large_blocks_are_marked) {
  pmi_init();
  void *small = pm_malloc(48), *large = pm_malloc(300 << 10);
  require_not_null(small);
  require_not_null(large);
  expect_eq(pmi_pagemap_entry(small), PM_CHUNK_ARENA);
  expect_eq(pmi_pagemap_kind(small), PM_CHUNK_ARENA);
  expect_eq(pmi_pagemap_kind(chunk_of(small) + PM_CHUNK_SIZE - 1), PM_CHUNK_ARENA);
  expect_eq(pmi_pagemap_kind(large), PM_CHUNK_LARGE);
  expect_true(pmi_alloc_owns(small) && pmi_alloc_owns(large));
  pm_free(small);
  pm_free(large);
}

/* A 300 KiB block covers 304 KiB of its chunk (16 KiB units, with the
 * header page): the map says so exactly, whether the rest of the chunk is
 * the kernel's to give to anyone (a mapping of its own) or the block's
 * region's (issue 8 §1). */
TEST(a_large_chunk_is_ours_only_up_to_its_extent) {
  char *p = pm_malloc(300 << 10);
  require_not_null(p);
  char *base = chunk_of(p);
  size_t end = (size_t)(p + pm_malloc_usable_size(p) - base);
  expect_eq(end % PM_PAGEMAP_EXTENT_UNIT, 0);
  expect_lt(end, PM_CHUNK_SIZE);
  expect_eq(pmi_pagemap_kind(base + end - 1), PM_CHUNK_LARGE);
  expect_eq(pmi_pagemap_kind(base + end), PM_CHUNK_FOREIGN);
  expect_false(pmi_alloc_owns(base + end + 4096));
  pm_free(p);
}

TEST(one_mib_aligned_blocks_are_marked_at_base) {
  void *p = pm_aligned_alloc(PM_CHUNK_SIZE, 200 << 10);
  require_not_null(p);
  expect_eq((uintptr_t)p & PM_CHUNK_MASK, 0);
  expect_eq(pmi_pagemap_kind(p), PM_CHUNK_LARGE_AT_BASE);
  expect_eq(pmi_pagemap_kind((char *)p + (208 << 10)), PM_CHUNK_FOREIGN);
  pm_free(p);
  expect_eq(pmi_pagemap_kind(p), PM_CHUNK_FOREIGN);   /* aligned blocks are never cached */
}

/* A moving realloc marks the new block before it is returned, and leaves
 * the old chunk either unmarked or holding the freed header (live == 0, so
 * that a stale free of it is a double free): never a live-looking block.
 * The block is moved by taking the chunk after it (issue 8 §1: large
 * blocks are spans of a region, and grow in place when they can). */
TEST(marks_follow_a_moved_block) {
  pm_malloc_trim(0);
  char *p = pm_malloc(200 << 10);
  require_not_null(p);
  char *blocker = pm_malloc(2 << 20);   /* best fit puts it right after p */
  require_not_null(blocker);
  require_eq((uintptr_t)chunk_of(blocker), (uintptr_t)chunk_of(p) + PM_CHUNK_SIZE);
  char *q = pm_realloc(p, 8 << 20);   /* cannot grow in place: moves */
  require_not_null(q);
  expect_true(q != p);
  unsigned old_kind = pmi_pagemap_kind(p);
  pm_large_t *old = old_kind == PM_CHUNK_FOREIGN ? NULL : pmi_large_header(p, old_kind);
  expect_true(old_kind == PM_CHUNK_FOREIGN || (old != NULL && old->live == 0));
  expect_eq(pmi_pagemap_kind(q), PM_CHUNK_LARGE);
  expect_eq(pm_malloc_usable_size(q) >= (8u << 20), 1);
  pm_free(q);
  pm_free(blocker);
  pm_malloc_trim(0);
  expect_eq(pmi_pagemap_kind(p), PM_CHUNK_FOREIGN);   /* purged: unmarked first */
}

TEST(addresses_outside_user_space_are_foreign) {
  expect_eq(pmi_pagemap_entry(NULL), PM_CHUNK_FOREIGN);
  expect_eq(pmi_pagemap_entry((void *)(uintptr_t)-4096), PM_CHUNK_FOREIGN);
  expect_eq(pmi_pagemap_entry((void *)((uintptr_t)1 << PM_VA_BITS)), PM_CHUNK_FOREIGN);
  expect_eq(pmi_pagemap_kind((void *)0x1000), PM_CHUNK_FOREIGN);
}

/* Leaves are committed only for regions that hold something of ours: a
 * region far from every mapping has none, and marking and clearing a chunk
 * there (as the map's writers do) works and leaves it foreign. */
TEST(leaves_are_committed_on_demand) {
  uintptr_t far = (uintptr_t)1 << 40;   /* 1 TiB: nothing of ours is there */
  size_t root = far >> (PM_CHUNK_SHIFT + PM_PAGEMAP_LEAF_SHIFT);
  expect_null(pmi_pagemap_root[root]);
  expect_true(pmi_pagemap_set((void *)far, PM_CHUNK_FOREIGN, 0));   /* clearing commits nothing */
  expect_null(pmi_pagemap_root[root]);
  require_true(pmi_pagemap_prepare((void *)far));
  expect_not_null(pmi_pagemap_root[root]);
  expect_true(pmi_pagemap_set((void *)far, PM_CHUNK_LARGE, PM_PAGEMAP_EXTENT_UNIT));
  expect_eq(pmi_pagemap_kind((void *)far), PM_CHUNK_LARGE);
  expect_eq(pmi_pagemap_kind((void *)(far + PM_PAGEMAP_EXTENT_UNIT)), PM_CHUNK_FOREIGN);
  expect_true(pmi_pagemap_set((void *)far, PM_CHUNK_FOREIGN, 0));
  expect_eq(pmi_pagemap_kind((void *)far), PM_CHUNK_FOREIGN);
}
