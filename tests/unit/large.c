/* tests/unit/large.c — large blocks: own mapping, cache, mremap growth.
 *
 * Requests above PM_MEDIUM_MAX get a page-granular mapping that the stats
 * count (nlarge, large_allocated); freed mappings wait in a bounded cache
 * that trim empties; realloc of a large block grows (mremap) and shrinks
 * with the contents preserved, shrinks in place, and crosses back into the
 * pools; absurd sizes fail with ENOMEM.
 */
#include "config.h"
#include "internal.h"
#include "sizeclass.h"
#include "../tap.h"
#include "pattern.h"
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

/* ---- Mapping and statistics ---------------------------------------------- */
TEST(large_blocks_are_counted) {
  pmi_init();
  pm_malloc_trim(0);
  pm_stats_t s0, s1, s2;
  pm_stats_get(&s0);
  size_t size = (size_t)3 << 20;
  char *p = pm_malloc(size);
  require_not_null(p);
  pat_fill(p, pm_malloc_usable_size(p), 7);
  pm_stats_get(&s1);
  expect_eq(s1.nlarge, s0.nlarge + 1);
  expect_ge(s1.large_allocated, s0.large_allocated + size);
  expect_le(s1.large_allocated, s0.large_allocated + size + ((size_t)2 << 20));
  expect_ge(s1.peak_mapped, size);
  expect_eq(pmi_pagemap_kind(p) >= PM_CHUNK_LARGE, 1);
  expect_eq(pat_bad(p, pm_malloc_usable_size(p), 7), pm_malloc_usable_size(p));
  pm_free(p);
  pm_stats_get(&s2);
  expect_eq(s2.nlarge, s0.nlarge);
  expect_eq(s2.large_allocated, s0.large_allocated);
}

TEST(freed_mappings_are_cached_until_trim) {
  pm_malloc_trim(0);
  pm_stats_t s0, s1, s2;
  pm_stats_get(&s0);
  expect_eq(s0.large_cached, 0);
  void *p = pm_malloc((size_t)1 << 20);
  require_not_null(p);
  pm_free(p);
  pm_stats_get(&s1);
  expect_ge(s1.large_cached, (size_t)1 << 20);
  void *q = pm_malloc((size_t)1 << 20);   /* served from the cache */
  require_not_null(q);
  pm_stats_get(&s2);
  expect_lt(s2.large_cached, s1.large_cached);
  pm_free(q);
  expect_eq(pm_malloc_trim(0), 1);
  pm_stats_get(&s2);
  expect_eq(s2.large_cached, 0);
}

TEST(the_large_cache_is_bounded) {
  enum { N = 64 };
  void *v[N];
  pm_malloc_trim(0);
  for (int i = 0; i < N; i++) require_not_null(v[i] = pm_malloc(((size_t)2 << 20) + 4096 * i));
  for (int i = 0; i < N; i++) pm_free(v[i]);
  pm_stats_t s;
  pm_stats_get(&s);
  size_t limit = (size_t)pmi_option(PM_OPTION_LARGE_CACHE_MB) << 20;
  expect_le(s.large_cached, limit);
  pm_malloc_trim(0);
}

/* ---- realloc --------------------------------------------------------------- */
TEST(large_realloc_grows_with_contents_preserved) {
  size_t size = 200 * 1000;
  char *p = pm_malloc(size);
  require_not_null(p);
  pat_fill(p, size, 42);
  int moved = 0, steps = 0;
  while (size < ((size_t)96 << 20)) {
    size_t next = size * 2 + 12345;
    char *q = pm_realloc(p, next);
    require_not_null(q);
    moved += q != p, steps++;
    require_eq(pat_bad(q, size, 42), size);
    pat_fill(q + size, next - size, 42 + steps);   /* new tail: any content, now ours */
    pat_fill(q, next, 42);
    p = q, size = next;
  }
  tap_note("%d growth steps, %d moved", steps, moved);
  /* shrinking to between half the block and the block stays in place */
  size_t u = pm_malloc_usable_size(p), smaller = u / 2 + u / 4;
  char *q = pm_realloc(p, smaller);
  expect_eq((uintptr_t)q, (uintptr_t)p);
  expect_eq(pat_bad(q, smaller, 42), smaller);
  expect_ge(pm_malloc_usable_size(q), smaller);
  pm_free(q);
}

/* Two large blocks mapped one after the other grow in turns, so each
 * growth tends to run into the other mapping: mremap must then move the
 * block (or the allocator copy it), with the contents intact either way. */
TEST(interleaved_large_growth_moves_or_grows_intact) {
  size_t size[2] = {150000, 150000};
  char *p[2];
  for (int k = 0; k < 2; k++) {
    require_not_null(p[k] = pm_malloc(size[k]));
    pat_fill(p[k], size[k], 100 + k);
  }
  int moved = 0;
  for (int step = 0; step < 24; step++) {
    int k = step & 1;
    size_t next = size[k] + size[k] / 2 + 4096 * (size_t)step;
    char *q = pm_realloc(p[k], next);
    require_not_null(q);
    moved += q != p[k];
    expect_eq(pat_bad(q, size[k], 100 + k), size[k]);
    expect_eq(pat_bad(p[!k], size[!k], 100 + !k), size[!k]);   /* the neighbour is untouched */
    pat_fill(q, next, 100 + k);
    p[k] = q, size[k] = next;
  }
  tap_note("%d of 24 growth steps moved the block", moved);
  pm_free(p[0]), pm_free(p[1]);
}

TEST(large_realloc_grows_in_place_inside_the_usable_size) {
  char *p = pm_malloc(PM_MEDIUM_MAX + 1);
  require_not_null(p);
  size_t u = pm_malloc_usable_size(p);
  expect_eq((uintptr_t)pm_realloc(p, u), (uintptr_t)p);
  pm_free(p);
}

TEST(large_to_small_and_back) {
  char *p = pm_malloc((size_t)1 << 20);
  require_not_null(p);
  pat_fill(p, 100, 5);
  char *q = pm_realloc(p, 100);
  require_not_null(q);
  expect_eq(pm_malloc_usable_size(q), 112);
  expect_eq(pat_bad(q, 100, 5), 100);
  char *r = pm_realloc(q, (size_t)2 << 20);
  require_not_null(r);
  expect_eq(pat_bad(r, 100, 5), 100);
  expect_ge(pm_malloc_usable_size(r), (size_t)2 << 20);
  pm_free(r);
}

/* ---- Failure --------------------------------------------------------------- */
TEST(absurd_sizes_fail_with_enomem) {
  size_t sizes[] = {(size_t)1 << 47, (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 4096, SIZE_MAX};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    errno = 0;
    expect_null(pm_malloc(sizes[i]));
    expect_eq(errno, ENOMEM);
  }
  char *p = pm_malloc((size_t)1 << 20);
  require_not_null(p);
  pat_fill(p, (size_t)1 << 20, 9);
  errno = 0;
  expect_null(pm_realloc(p, (size_t)1 << 47));
  expect_eq(errno, ENOMEM);
  expect_eq(pat_bad(p, (size_t)1 << 20, 9), (size_t)1 << 20);   /* untouched */
  pm_free(p);
}
