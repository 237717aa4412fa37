/* SPDX-License-Identifier: MIT */
/* tests/unit/pool.c — the pool life cycle: fill, empty, keep, reuse, release.
 *
 * Fills several pools of one class, checks that every block belongs to a
 * pool of that class (found by masking, no header), that no pool holds more
 * than its capacity and that nused counts the blocks out; empties them,
 * checks that the heap keeps them (within its budget of empty pools) and
 * that filling again needs no new memory, and that after the decay delay
 * they go back to their arena; checks that slots freed by one class serve
 * another (an empty pool is reusable for any class); and that a heap keeps
 * no more than PM_HEAP_EMPTY_BYTES of empty pools.
 */
#include "config.h"
#include "internal.h"
#include "sizeclass.h"
#include "../tap.h"
#include "pattern.h"
#include <stdlib.h>

static void no_decay(void) {
  pmi_init();
  pmi_option_values[PM_OPTION_DECAY_MS] = 3600000;   /* keep empty slots mapped */
}

/* ---- Fill, empty, reuse -------------------------------------------------- */
static void fill_empty_reuse(unsigned cls) {
  const pm_class_info_t *ci = &pmi_class_info[cls];
  size_t n = 3 * (size_t)ci->capacity + 1, size = pmi_class_size(cls);
  size_t req = cls == 0 ? 0 : size;   /* class 0 is malloc(0) */
  void **blk = calloc(n, sizeof *blk), **again = calloc(n, sizeof *again);
  require_true(blk && again);
  for (size_t i = 0; i < n; i++) {
    blk[i] = pm_malloc(req);
    require_not_null(blk[i]);
    pat_fill(blk[i], size, i);
  }
  size_t npools = 0;
  for (size_t i = 0; i < n; i++) {
    pm_pool_t *pool = pmi_arena_pool_of(blk[i]);
    expect_eq(pool->cls, cls);
    expect_eq(pool->block_size, size);
    expect_true(pmi_pool_is_block(pool, blk[i]));
    expect_false(pmi_pool_is_block(pool, (char *)blk[i] + 8));
    size_t mine = 0, first = 1;
    for (size_t j = 0; j < n; j++) {
      if (pmi_arena_pool_of(blk[j]) != pool) continue;
      mine++;
      if (j < i) first = 0;
    }
    if (!first) continue;
    npools++;
    expect_le(mine, ci->capacity);
    expect_eq(pool->nused, mine);
  }
  expect_ge(npools, 4);
  for (size_t i = 0; i < n; i++) expect_eq(pat_bad(blk[i], size, i), size);
  pm_stats_t s1, s2;
  pm_stats_get(&s1);
  for (size_t i = 0; i < n; i++) pm_free(blk[i]);
  /* Emptied pools stay with the heap, within its budget of empty pools. */
  pm_heap_t *h = pmi_heap_tls;
  expect_le(h->empty_bytes, PM_HEAP_EMPTY_BYTES);
  expect_gt(h->empty_bytes, 0);
  for (size_t i = 0; i < n; i++) require_not_null(again[i] = pm_malloc(req));
  pm_stats_get(&s2);
  expect_le(s2.arena_mapped, s1.arena_mapped);   /* filling again took no new memory */
  expect_eq(s2.small_allocated, s1.small_allocated);
  for (size_t i = 0; i < n; i++) pm_free(again[i]);
  /* After the decay delay, housekeeping gives them back to their arena. */
  pmi_pool_release_old_empty(h, UINT64_MAX);
  expect_eq(h->empty_bytes, 0);
  size_t owned = 0;
  for (size_t i = 0; i < n; i++) owned += pmi_arena_pool_of(blk[i])->heap != NULL;
  expect_eq(owned, 0);
  free(blk), free(again);
}

TEST(pool_fill_empty_reuse_small) {
  no_decay();
  unsigned classes[] = {0, 1, 2, 3, 7, 16, 31, 32};
  for (size_t i = 0; i < sizeof classes / sizeof *classes; i++) fill_empty_reuse(classes[i]);
}

TEST(pool_fill_empty_reuse_medium) {
  no_decay();
  unsigned classes[] = {PM_NSMALL, PM_NSMALL + 7, PM_NSMALL + 20, PM_NSMALL + 41, PM_NCLASSES - 1};
  for (size_t i = 0; i < sizeof classes / sizeof *classes; i++) fill_empty_reuse(classes[i]);
}

/* ---- An empty pool serves any class ------------------------------------- */
/* Fill whole arenas with 32-byte pools until a second new arena appears,
 * empty every pool, then ask for the same number of slots in 512-byte
 * pools: if emptied slots could not change class, new arenas would be
 * mapped. */
TEST(empty_pool_slots_serve_another_class) {
  no_decay();
  pm_malloc_trim(0);
  pm_stats_t s0, s1, s2;
  pm_stats_get(&s0);
  size_t cap = 1 << 22, n = 0;
  void **blk = calloc(cap, sizeof *blk);
  require_not_null(blk);
  for (;;) {
    require_lt(n, cap);
    require_not_null(blk[n++] = pm_malloc(32));
    if (n % 64) continue;
    pm_stats_get(&s1);
    if (s1.narenas >= s0.narenas + 2) break;
  }
  size_t slots_a = pmi_class_info[2].nslots;
  size_t slots_used = (n + pmi_class_info[2].capacity - 1) / pmi_class_info[2].capacity * slots_a;
  for (size_t i = 0; i < n; i++) pm_free(blk[i]);
  pmi_pool_release_old_empty(pmi_heap_tls, UINT64_MAX);   /* as the decay delay would */
  unsigned cls_b = 32;
  size_t per_pool = pmi_class_info[cls_b].capacity, slots_b = pmi_class_info[cls_b].nslots;
  size_t m = slots_used / slots_b * per_pool;
  for (size_t i = 0; i < m; i++) require_not_null(blk[i] = pm_malloc(512));
  pm_stats_get(&s2);
  expect_le(s2.narenas, s1.narenas);
  expect_eq(s2.narena_unmaps, s1.narena_unmaps);
  for (size_t i = 0; i < m; i++) pm_free(blk[i]);
  free(blk);
  expect_eq(pm_malloc_trim(0), 1);
}

/* A heap's kept empty pool becomes a pool of another class of the same
 * slot count in place (pool.c, pool_recycle): a program moving through
 * classes (textbuild: strings grown by realloc) reuses resident slots
 * instead of carving fresh ones while the emptied pools wait for decay
 * (9.8 MB peak RSS against 2.7 MB before the heaps kept empty pools). */
TEST(a_kept_empty_pool_is_remade_for_another_class_in_place) {
  no_decay();
  pm_malloc_trim(0);
  unsigned a = PM_NCLASSES, b = PM_NCLASSES;
  for (unsigned c = 1; c < PM_NCLASSES && b == PM_NCLASSES; c++)
    for (unsigned d = c + 1; d < PM_NCLASSES; d++)
      if (pmi_class_info[c].nslots == pmi_class_info[d].nslots && pmi_class_info[c].nslots > 1 &&
          pmi_class_info[d].align_slots == 1) {
        a = c, b = d;
        break;
      }
  require_lt(b, PM_NCLASSES);
  tap_note("classes %u (%u B) and %u (%u B), %u slots", a, pmi_class_info[a].block_size, b,
           pmi_class_info[b].block_size, pmi_class_info[a].nslots);
  char *p = pm_malloc(pmi_class_size(a));
  require_not_null(p);
  pm_pool_t *pa = pmi_arena_pool_of(p);
  pat_fill(p, pmi_class_size(a), 7);
  pm_free(p);                                  /* empty, kept by the heap */
  expect_true(pa->in_empty);
  pm_stats_t s0, s1;
  pm_stats_get(&s0);
  char *q = pm_malloc(pmi_class_size(b));
  require_not_null(q);
  pm_pool_t *pb = pmi_arena_pool_of(q);
  expect_eq((uintptr_t)pb, (uintptr_t)pa);     /* the same slots */
  expect_eq(pb->cls, b);
  expect_true(!pb->in_empty && pb->nused == 1 && !pb->carved_is_zero);
  expect_true(pmi_pool_is_valid(pb));
  pm_stats_get(&s1);
  expect_eq(s1.pool_in_use, s0.pool_in_use);   /* no new pool from the arena */
  pat_fill(q, pmi_class_size(b), 8);
  expect_eq(pat_bad(q, pmi_class_size(b), 8), pmi_class_size(b));
  pm_free(q);
  expect_eq(pm_malloc_trim(0), 1);
}

/* One-slot pools are not remade: two small classes whose blocks come and go
 * in turns (sqlite3) passed one pool back and forth, a list walk and a
 * carve per turn. */
TEST(a_kept_empty_one_slot_pool_stays_with_its_class) {
  no_decay();
  pm_malloc_trim(0);
  unsigned a = PM_NCLASSES, b = PM_NCLASSES;
  for (unsigned c = PM_NCLASSES - 1; c > 0 && b == PM_NCLASSES; c--)
    for (unsigned d = c - 1; d > 0; d--)
      if (pmi_class_info[c].nslots == 1 && pmi_class_info[d].nslots == 1) {
        a = c, b = d;
        break;
      }
  require_lt(b, PM_NCLASSES);
  tap_note("classes %u (%u B) and %u (%u B)", a, pmi_class_info[a].block_size, b, pmi_class_info[b].block_size);
  char *p = pm_malloc(pmi_class_size(a));
  require_not_null(p);
  pm_pool_t *pa = pmi_arena_pool_of(p);
  pm_free(p);                                  /* empty, kept by the heap */
  expect_true(pa->in_empty);
  char *q = pm_malloc(pmi_class_size(b));
  require_not_null(q);
  expect_ne((uintptr_t)pmi_arena_pool_of(q), (uintptr_t)pa);
  expect_eq(pa->cls, a);                       /* still class a's, still kept */
  expect_true(pa->in_empty && pa->nused == 0);
  char *r = pm_malloc(pmi_class_size(a));
  expect_eq((uintptr_t)pmi_arena_pool_of(r), (uintptr_t)pa);
  pm_free(r);
  pm_free(q);
  expect_eq(pm_malloc_trim(0), 1);
}

/* A kept empty pool that empties again (a malloc/free loop on one block,
 * which the local push handles inline) gets a fresh stamp: decay measures
 * from its last use, not from when the heap first kept it. */
TEST(a_kept_pool_emptied_again_is_stamped_anew) {
  no_decay();
  pm_malloc_trim(0);
  pm_heap_t *h = pmi_heap_tls;
  char *p = pm_malloc(3000);
  require_not_null(p);
  pm_pool_t *pool = pmi_arena_pool_of(p);
  pm_free(p);                                  /* empty, kept by the heap */
  require_true(pool->in_empty && pool->nused == 0);
  uint32_t kept_at = pool->emptied;
  h->now_ns += (uint64_t)10 << PM_POOL_STAMP_SHIFT;   /* the clock moves on */
  char *q = pm_malloc(3000);
  expect_eq((uintptr_t)pmi_arena_pool_of(q), (uintptr_t)pool);
  pm_free(q);                                  /* emptied again */
  expect_true(pool->in_empty);
  expect_eq(pool->emptied, kept_at + 10);
  expect_eq(pm_malloc_trim(0), 1);
}

/* ---- A heap keeps a bounded amount of empty pools ------------------------- */
/* Frees twice the budget's worth of 16 KiB pools: the heap keeps at most
 * PM_HEAP_EMPTY_BYTES of them and gives the rest back to the arena at once. */
TEST(a_heap_keeps_a_bounded_amount_of_empty_pools) {
  no_decay();
  pm_malloc_trim(0);
  size_t per_pool = pmi_class_info[4].capacity, npools = 2 * PM_HEAP_EMPTY_BYTES / PM_SLOT_SIZE;
  size_t n = npools * per_pool;
  void **blk = calloc(n, sizeof *blk);
  require_not_null(blk);
  for (size_t i = 0; i < n; i++) require_not_null(blk[i] = pm_malloc(64));
  pm_stats_t s1, s2;
  pm_stats_get(&s1);
  for (size_t i = 0; i < n; i++) pm_free(blk[i]);
  pm_stats_get(&s2);
  pm_heap_t *h = pmi_heap_tls;
  expect_le(h->empty_bytes, PM_HEAP_EMPTY_BYTES);
  expect_ge(h->empty_bytes, PM_HEAP_EMPTY_BYTES - PM_SLOT_SIZE);
  /* pool_in_use counts the pools heaps own: the kept ones and no more. */
  expect_le(s2.pool_in_use, s1.pool_in_use - (npools * PM_SLOT_SIZE - PM_HEAP_EMPTY_BYTES));
  free(blk);
  expect_eq(pm_malloc_trim(0), 1);
  expect_eq(h->empty_bytes, 0);
}

/* ---- The block-start test --------------------------------------------------- */
/* pmi_pool_is_block replaces a division by one multiply (internal.h); check
 * it, and pmi_pool_block_index, against exact division at every byte offset
 * of a pool of every class,
 * fully carved and carved only up to a third of its blocks (a block past the
 * carved ones was never handed out: freeing it is invalid, issue 7 §3). */
TEST(is_block_agrees_with_division_everywhere) {
  pmi_init();
  for (unsigned c = 0; c < PM_NCLASSES; c++) {
    const pm_class_info_t *ci = &pmi_class_info[c];
    uint32_t carved_blocks[2] = {ci->capacity, ci->capacity / 3};
    for (int k = 0; k < 2; k++) {
      pm_pool_t pool = {.start = (char *)(uintptr_t)PM_CHUNK_SIZE, .recip = ci->recip,
                        .block_size = ci->block_size, .capacity = ci->capacity,
                        .carved = carved_blocks[k] * ci->block_size};
      size_t span = (size_t)ci->nslots * PM_SLOT_SIZE, wrong = 0;
      for (size_t off = 0; off < span; off++) {
        bool exact = off % ci->block_size == 0 && off / ci->block_size < carved_blocks[k];
        wrong += pmi_pool_is_block(&pool, pool.start + off) != exact;
        wrong += pmi_pool_block_index(&pool, off) != off / ci->block_size;
      }
      expect_eq(wrong, 0);
    }
  }
}
