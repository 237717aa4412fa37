/* SPDX-License-Identifier: MIT */
/* tests/unit/large.c — large blocks: regions, spans, the thread cache.
 *
 * Requests above PM_MEDIUM_MAX are spans of whole chunks of a region
 * (lib/large_region.c).  These tests check, each against the region's own
 * bitmaps (pmi_large_region_is_valid) as well as through the public API:
 * statistics; reuse of freed memory across sizes (split, coalesce) without
 * new page faults; the bounds of the cache (5/4 of the recent peak, the
 * LARGE_CACHE_MB cap, decay, trim); realloc in place and moving; the chunk
 * map (freed headers stay marked while cached, interior chunks never are);
 * each thread's cache of one-chunk blocks (reuse, bound, ageing, thread
 * exit, fork); threads sharing all of it; calloc; aligned blocks; a request
 * bigger than a region; and that a header naming the wrong span is refused.
 */
#define PM_FAULT_SEAM 1
#include "config.h"
#include "internal.h"
#include "os.h"
#include "sizeclass.h"
#include "../tap.h"
#include "pattern.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)
/* A request that needs exactly k chunks (the header page comes first). */
#define CHUNKS(k) ((size_t)(k) * MIB - PM_PAGE_SIZE)

static char *chunk_of(const void *p) { return (char *)((uintptr_t)p & ~(uintptr_t)PM_CHUNK_MASK); }

static bool regions_valid(void) {
  pthread_mutex_lock(&pmi_large_lock);
  bool ok = pmi_large_region_is_valid();
  pthread_mutex_unlock(&pmi_large_lock);
  return ok;
}

/* Nothing cached, no region reserved, and the recent peak forgotten (trim
 * ends one epoch each time; the peak spans four). */
static void large_fresh(void) {
  pmi_init();
  for (int i = 0; i < 5; i++) pm_malloc_trim(0);
}

static long minor_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

static size_t tcache_held(void) {
  pm_large_tcache_t *tc = pmi_large_tcache_tls;
  return tc == NULL ? 0 : tc->n;
}

/* ---- Statistics ------------------------------------------------------------ */
TEST(large_blocks_are_counted) {
  large_fresh();
  pm_stats_t s0, s1, s2;
  pm_stats_get(&s0);
  size_t size = (size_t)3 << 20;
  char *p = pm_malloc(size);
  require_not_null(p);
  pat_fill(p, size, 7);   /* the request: UBSan checks stores against it */
  pm_stats_get(&s1);
  expect_eq(s1.nlarge, s0.nlarge + 1);
  expect_ge(s1.large_allocated, s0.large_allocated + size);
  expect_le(s1.large_allocated, s0.large_allocated + size + ((size_t)2 << 20));
  expect_ge(s1.peak_mapped, size);
  expect_eq(pmi_pagemap_kind(p), PM_CHUNK_LARGE);
  expect_eq(pat_bad(p, size, 7), size);
  pm_free(p);
  pm_stats_get(&s2);
  expect_eq(s2.nlarge, s0.nlarge);
  expect_eq(s2.large_allocated, s0.large_allocated);
  expect_true(regions_valid());
}

TEST(freed_spans_are_cached_until_trim) {
  large_fresh();
  pm_stats_t s0, s1, s2;
  pm_stats_get(&s0);
  expect_eq(s0.large_cached, 0);
  void *p = pm_malloc((size_t)2 << 20);   /* three chunks: not a thread-cache block */
  require_not_null(p);
  pm_free(p);
  pm_stats_get(&s1);
  expect_eq(s1.large_cached, (size_t)3 << 20);
  void *q = pm_malloc((size_t)2 << 20);   /* served from the cache */
  expect_eq((uintptr_t)q, (uintptr_t)p);
  pm_stats_get(&s2);
  expect_eq(s2.large_cached, 0);
  pm_free(q);
  expect_eq(pm_malloc_trim(0), 1);
  pm_stats_get(&s2);
  expect_eq(s2.large_cached, 0);
  expect_eq(pmi_large_region_reserved(), 0);   /* the wholly free region went back */
  expect_true(regions_valid());
}

/* ---- Reuse across sizes ------------------------------------------------------ */
/* Issue 8 §1's example: a 12 MiB request is served from a freed 20 MiB span
 * and the rest stays free for the next request; freeing both coalesces them
 * again; memory that was faulted in once is not faulted in again. */
TEST(a_freed_span_serves_a_smaller_request_and_keeps_the_rest) {
  large_fresh();
  char *a = pm_malloc(CHUNKS(20));
  require_not_null(a);
  memset(a, 1, CHUNKS(20));
  char *x = pm_malloc(CHUNKS(2));     /* a neighbour, so a's run ends at its end */
  require_not_null(x);
  pm_free(a);
  long f0 = minor_faults();
  char *b = pm_malloc(CHUNKS(12));
  require_not_null(b);
  expect_eq((uintptr_t)b, (uintptr_t)a);
  memset(b, 2, CHUNKS(12));
  long faults = minor_faults() - f0;
  tap_note("touching 12 MiB of reused memory took %ld page faults", faults);
  expect_lt(faults, (long)(CHUNKS(12) / PM_PAGE_SIZE / 8));   /* 3072 if it were fresh */
  char *c = pm_malloc(CHUNKS(8));
  require_not_null(c);
  expect_eq((uintptr_t)c, (uintptr_t)(a + 12 * MIB));   /* the split remainder */
  expect_true(regions_valid());
  pm_free(b);
  pm_free(c);
  char *d = pm_malloc(CHUNKS(20));   /* b and c coalesced back into a's span */
  expect_eq((uintptr_t)d, (uintptr_t)a);
  pm_free(d);
  pm_free(x);
  expect_true(regions_valid());
}

/* Best fit: of two free runs, the smaller one that fits is used. */
TEST(placement_is_best_fit) {
  large_fresh();
  char *v[5];
  size_t k[5] = {6, 2, 3, 2, 2};
  for (int i = 0; i < 5; i++) require_not_null(v[i] = pm_malloc(CHUNKS(k[i])));
  pm_free(v[0]);   /* a run of 6 */
  pm_free(v[2]);   /* a run of 3 between two live blocks */
  char *p = pm_malloc(CHUNKS(3));
  expect_eq((uintptr_t)p, (uintptr_t)v[2]);
  char *q = pm_malloc(CHUNKS(4));
  expect_eq((uintptr_t)q, (uintptr_t)v[0]);
  pm_free(p), pm_free(q), pm_free(v[1]), pm_free(v[3]), pm_free(v[4]);
  expect_true(regions_valid());
}

/* ---- The bounds of the cache -------------------------------------------------- */
/* Holes that best fit cannot fill are purged once live + dirty exceeds 5/4
 * of the recent peak of live bytes (large_region.c, "The cache bound"). */
TEST(the_cache_is_bounded_by_the_recent_peak) {
  long decay = pmi_option_values[PM_OPTION_DECAY_MS];
  pmi_option_values[PM_OPTION_DECAY_MS] = 3600000;   /* no epoch during the test */
  large_fresh();
  char *v[20], *w[10];
  for (int i = 0; i < 20; i++) require_not_null(v[i] = pm_malloc(CHUNKS(2)));   /* 40 live */
  for (int i = 0; i < 20; i += 2) pm_free(v[i]);       /* 10 holes of 2: 20 dirty, 20 live */
  pm_stats_t s;
  pm_stats_get(&s);
  expect_eq(s.large_cached, 20 * MIB);                  /* 40 <= 5/4 * 40: all kept */
  for (int i = 0; i < 10; i++) require_not_null(w[i] = pm_malloc(CHUNKS(3)));   /* fit no hole */
  pm_stats_get(&s);
  /* live 50 = the peak, so at most 5/4 * 50 - 50 = 12.5 MiB may stay
   * cached (at the 7th block, live 41 allowed 10.25: 10 MiB are left) */
  expect_eq(s.large_allocated, 50 * MIB);
  expect_le(s.large_cached, 12 * MIB + MIB / 2);
  expect_eq(s.large_cached, 10 * MIB);                  /* only the excess went back */
  expect_true(regions_valid());
  for (int i = 1; i < 20; i += 2) pm_free(v[i]);
  for (int i = 0; i < 10; i++) pm_free(w[i]);
  pm_stats_get(&s);
  expect_le(s.large_cached, 50 * MIB + 50 * MIB / 4);   /* live 0: 5/4 of the peak */
  pmi_option_values[PM_OPTION_DECAY_MS] = decay;
  large_fresh();
}

TEST(large_cache_mb_caps_the_cache_and_decay_ms_0_disables_it) {
  long cap = pmi_option_values[PM_OPTION_LARGE_CACHE_MB];
  large_fresh();
  pmi_option_values[PM_OPTION_LARGE_CACHE_MB] = 2;
  char *p = pm_malloc(CHUNKS(8));
  require_not_null(p);
  pm_free(p);
  pm_stats_t s;
  pm_stats_get(&s);
  expect_le(s.large_cached, 2 * MIB);
  pmi_option_values[PM_OPTION_LARGE_CACHE_MB] = 0;   /* 0: nothing is kept */
  p = pm_malloc(CHUNKS(8));
  require_not_null(p);
  pm_free(p);
  pm_stats_get(&s);
  expect_eq(s.large_cached, 0);
  pmi_option_values[PM_OPTION_LARGE_CACHE_MB] = cap;
  long decay = pmi_option_values[PM_OPTION_DECAY_MS];
  pmi_option_values[PM_OPTION_DECAY_MS] = 0;         /* POOLMALLOC_DECAY_MS=0: back at once */
  p = pm_malloc(CHUNKS(8));
  require_not_null(p);
  pm_free(p);
  pm_stats_get(&s);
  expect_eq(s.large_cached, 0);
  pmi_option_values[PM_OPTION_DECAY_MS] = decay;
  expect_true(regions_valid());
}

/* When the bound is exceeded, the span just freed is purged last: it is the
 * one the next request will likely reuse, and purging it would make a
 * malloc/free loop fault its block in again every time. */
TEST(the_span_just_freed_is_purged_last) {
  long cap = pmi_option_values[PM_OPTION_LARGE_CACHE_MB];
  large_fresh();
  pmi_option_values[PM_OPTION_LARGE_CACHE_MB] = 8;
  char *v[12];
  for (int i = 0; i < 12; i++) require_not_null(v[i] = pm_malloc(CHUNKS(2)));
  for (int i = 0; i < 12; i += 2) pm_free(v[i]);   /* 12 MiB of holes: 8 stay dirty */
  char *p = pm_malloc(CHUNKS(3));
  require_not_null(p);
  memset(p, 3, CHUNKS(3));
  pm_free(p);                                       /* over the cap: holes go, not p */
  pm_stats_t s;
  pm_stats_get(&s);
  expect_le(s.large_cached, 8 * MIB);
  long f0 = minor_faults();
  char *q = pm_malloc(CHUNKS(3));
  expect_eq((uintptr_t)q, (uintptr_t)p);
  memset(q, 4, CHUNKS(3));
  long faults = minor_faults() - f0;
  tap_note("touching the reused 3 MiB took %ld page faults", faults);
  expect_lt(faults, (long)(CHUNKS(3) / PM_PAGE_SIZE / 8));
  pm_free(q);
  for (int i = 1; i < 12; i += 2) pm_free(v[i]);
  pmi_option_values[PM_OPTION_LARGE_CACHE_MB] = cap;
  expect_true(regions_valid());
}

/* A chunk dirty at one epoch and still dirty at the next goes back; a
 * region that stayed wholly free and clean for an epoch is unmapped. */
TEST(decay_returns_cached_spans_then_the_region) {
  large_fresh();
  char *p = pm_malloc(CHUNKS(4));
  require_not_null(p);
  pm_free(p);
  uint64_t t = pmi_prim_now_ns() + (uint64_t)3600 * 1000000000u;   /* far past any due epoch */
  uint64_t half = (uint64_t)pmi_option(PM_OPTION_DECAY_MS) * 500000u;
  pm_stats_t s;
  pmi_large_decay(t, false);   /* epoch: the chunks are dirty, now "old" */
  pm_stats_get(&s);
  expect_eq(s.large_cached, 4 * MIB);
  expect_true(pmi_large_decay(t + half, false));   /* still dirty: purged */
  pm_stats_get(&s);
  expect_eq(s.large_cached, 0);
  expect_gt(pmi_large_region_reserved(), 0);
  pmi_large_decay(t + 2 * half, false);   /* wholly free and clean for an epoch */
  expect_eq(pmi_large_region_reserved(), 0);
  expect_true(regions_valid());
}

/* Memory reused within the delay is never purged. */
TEST(spans_reused_within_the_delay_are_not_purged) {
  large_fresh();
  uint64_t t = pmi_prim_now_ns() + (uint64_t)3600 * 1000000000u;
  uint64_t half = (uint64_t)pmi_option(PM_OPTION_DECAY_MS) * 500000u;
  char *p = pm_malloc(CHUNKS(4));
  require_not_null(p);
  pm_free(p);
  pmi_large_decay(t, false);
  p = pm_malloc(CHUNKS(4));   /* reused: no longer dirty */
  expect_not_null(p);
  pm_free(p);                 /* dirty again, but new */
  pmi_large_decay(t + half, false);
  pm_stats_t s;
  pm_stats_get(&s);
  expect_eq(s.large_cached, 4 * MIB);
  large_fresh();
}

/* ---- realloc ------------------------------------------------------------------- */
TEST(realloc_grows_and_shrinks_in_place) {
  large_fresh();
  char *p = pm_malloc(CHUNKS(2));
  require_not_null(p);
  pat_fill(p, CHUNKS(2), 11);
  char *q = pm_realloc(p, CHUNKS(6));   /* the chunks after p are free */
  expect_eq((uintptr_t)q, (uintptr_t)p);
  expect_eq(pat_bad(q, CHUNKS(2), 11), CHUNKS(2));
  expect_ge(pm_malloc_usable_size(q), CHUNKS(6));
  pat_fill(q, CHUNKS(6), 12);
  expect_true(regions_valid());
  q = pm_realloc(p, CHUNKS(3));         /* the last three chunks go back */
  expect_eq((uintptr_t)q, (uintptr_t)p);
  expect_eq(pat_bad(q, CHUNKS(3), 12), CHUNKS(3));
  char *r = pm_malloc(CHUNKS(3));
  expect_eq((uintptr_t)r, (uintptr_t)(p + 3 * MIB));
  q = pm_realloc(p, CHUNKS(3) - 100000);   /* the same span: only the extent changes */
  expect_eq((uintptr_t)q, (uintptr_t)p);
  expect_lt(pm_malloc_usable_size(q), CHUNKS(3));
  expect_eq(pat_bad(q, CHUNKS(3) - 100000, 12), CHUNKS(3) - 100000);
  pm_free(q);
  pm_free(r);
  expect_true(regions_valid());
}

/* When the next chunk is taken the block moves; the old header stays marked
 * with live == 0, so a stale free of it is still a double free. */
TEST(realloc_moves_when_the_next_chunk_is_taken) {
  large_fresh();
  char *p = pm_malloc(CHUNKS(2)), *n = pm_malloc(CHUNKS(2));
  require_not_null(p);
  require_not_null(n);
  expect_eq((uintptr_t)n, (uintptr_t)(p + 2 * MIB));
  pat_fill(p, CHUNKS(2), 21);
  pat_fill(n, CHUNKS(2), 22);
  char *q = pm_realloc(p, CHUNKS(5));
  require_not_null(q);
  expect_ne((uintptr_t)q, (uintptr_t)p);
  expect_eq(pat_bad(q, CHUNKS(2), 21), CHUNKS(2));
  expect_eq(pat_bad(n, CHUNKS(2), 22), CHUNKS(2));
  expect_eq(pmi_pagemap_kind(p), PM_CHUNK_LARGE);
  pm_large_t *old = pmi_large_header(p, PM_CHUNK_LARGE);
  require_not_null(old);
  expect_eq(old->live, 0);
  expect_eq(pmi_pagemap_kind(q), PM_CHUNK_LARGE);
  pm_free(q);
  pm_free(n);
  expect_true(regions_valid());
}

/* A big block that cannot grow in place is copied, once, into a mapping of
 * its own, which from then on grows, shrinks and moves with mremap (no
 * more copies); if that mapping cannot be made, it is copied within the
 * regions. */
TEST(a_big_block_that_must_move_gets_a_mapping_of_its_own) {
  large_fresh();
  char *p = pm_malloc(CHUNKS(40)), *blocker = pm_malloc(CHUNKS(1) - 300000);
  require_not_null(p);
  require_not_null(blocker);
  require_eq((uintptr_t)blocker, (uintptr_t)(p + 40 * MIB));
  pat_fill(p, CHUNKS(40), 51);
  pm_stats_t s0, s1;
  pm_stats_get(&s0);
  char *q = pm_realloc(p, CHUNKS(80));
  require_not_null(q);
  expect_ne((uintptr_t)q, (uintptr_t)p);
  expect_eq(pat_bad(q, CHUNKS(40), 51), CHUNKS(40));
  pm_large_t *h = pmi_large_header(q, pmi_pagemap_kind(q));
  require_not_null(h);
  expect_eq(h->region, UINT32_MAX);                   /* a mapping of its own */
  pm_stats_get(&s1);
  expect_eq(s1.nlarge, s0.nlarge);
  if (pmi_os_can_move_pages()) {       /* its pages moved along: nothing left to cache */
    expect_eq(pmi_pagemap_kind(p), PM_CHUNK_FOREIGN);   /* the span was purged, marks and all */
    expect_eq(s1.large_cached, s0.large_cached);
  } else {                             /* copied: the old span is freed and cached */
    pm_large_t *old = pmi_large_header(p, PM_CHUNK_LARGE);
    expect_true(old != NULL && old->live == 0);
  }
  expect_true(regions_valid());
  pat_fill(q, CHUNKS(80), 52);
  char *r = pm_realloc(q, (size_t)200 << 20);         /* mremap: in place or moved */
  require_not_null(r);
  expect_eq(pat_bad(r, CHUNKS(80), 52), CHUNKS(80));
  h = pmi_large_header(r, pmi_pagemap_kind(r));
  require_not_null(h);
  expect_eq(h->region, UINT32_MAX);                   /* still its own: not copied */
  char *t = pm_realloc(r, (size_t)60 << 20);          /* shrinks in place */
  expect_eq((uintptr_t)t, (uintptr_t)r);
  expect_eq(pat_bad(t, (size_t)60 << 20, 52), (size_t)60 << 20);
  char *big = pm_malloc(CHUNKS(40));                  /* another one, freed as it is */
  require_not_null(big);
  char *own = pm_realloc(big, CHUNKS(33) + (64 << 20));
  require_not_null(own);
  pm_free(own);
  expect_eq(pmi_pagemap_kind(own), PM_CHUNK_FOREIGN); /* unmapped, never cached */
  /* shrunk to one chunk, it goes back to a region: a mapping of its own
   * must never pass for a one-chunk block of the thread cache */
  char *u = pm_realloc(t, 300 << 10);
  require_not_null(u);
  expect_eq(pat_bad(u, 300 << 10, 52), 300 << 10);
  pm_large_t *hu = pmi_large_header(u, pmi_pagemap_kind(u));
  require_not_null(hu);
  expect_ne(hu->region, UINT32_MAX);
  pm_free(u);
  pm_malloc_trim(0);                                  /* flushes the thread cache */
  expect_true(regions_valid());
  /* when no mapping can be made for it, the block is copied within the regions */
  char *a = pm_malloc(CHUNKS(40)), *b = pm_malloc(CHUNKS(1) - 300000);
  require_not_null(a);
  require_not_null(b);
  pat_fill(a, CHUNKS(40), 53);
  pmi_os_fail_next(pmi_os_can_move_pages() ? 2 : 1);   /* the move's target, then the copy's */
  char *c = pm_realloc(a, CHUNKS(80));
  pmi_os_fail_next(0);
  require_not_null(c);
  expect_eq(pat_bad(c, CHUNKS(40), 53), CHUNKS(40));
  pm_large_t *hc = pmi_large_header(c, PM_CHUNK_LARGE);
  require_not_null(hc);
  expect_ne(hc->region, UINT32_MAX);
  pm_free(c);
  pm_free(b);
  pm_free(blocker);
  expect_true(regions_valid());
}

/* The move out of a region (large.c, large_region_move_out) takes several
 * system calls; whichever of them the OS refuses, realloc either returns
 * the grown block with its contents or NULL with the old block intact
 * (the refused second move copies the pages back into the span). */
TEST(a_move_out_of_a_region_survives_a_refusal_at_every_step) {
  large_fresh();
  for (int skip = 0; skip < 8; skip++) {
    char *a = pm_malloc(CHUNKS(40)), *b = pm_malloc(CHUNKS(1) - 300000);
    require_not_null(a);
    require_not_null(b);
    pat_fill(a, CHUNKS(40), (unsigned)(60 + skip));
    pmi_os_fail_after(skip, 3);          /* and the copy's mappings after it */
    char *c = pm_realloc(a, CHUNKS(80));
    pmi_os_fail_next(0);
    char *live = c != NULL ? c : a;
    expect_eq(pat_bad(live, CHUNKS(40), (unsigned)(60 + skip)), CHUNKS(40));
    expect_true(pmi_large_header(live, pmi_pagemap_kind(live)) != NULL);
    pm_free(live);
    pm_free(b);
    expect_true(regions_valid());
  }
  pm_malloc_trim(0);
  expect_true(regions_valid());
}

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
  /* shrinking stays in place */
  size_t u = pm_malloc_usable_size(p), smaller = u / 2 + u / 4;
  char *q = pm_realloc(p, smaller);
  expect_eq((uintptr_t)q, (uintptr_t)p);
  expect_eq(pat_bad(q, smaller, 42), smaller);
  expect_ge(pm_malloc_usable_size(q), smaller);
  pm_free(q);
  expect_true(regions_valid());
}

/* Two large blocks grow in turns, so each growth tends to run into the
 * other: the block must then move, with the contents intact either way. */
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
  expect_true(regions_valid());
}

TEST(large_realloc_grows_in_place_inside_the_usable_size) {
  char *p = pm_malloc(PM_MEDIUM_MAX + 1);
  require_not_null(p);
  size_t u = pm_malloc_usable_size(p);
  expect_eq((uintptr_t)pm_realloc(p, u), (uintptr_t)p);
  pm_free(p);
}

/* Inside the block's last extent unit realloc changes nothing (the fast
 * return in pmi_large_realloc); one unit further down the extent shrinks. */
TEST(large_realloc_within_the_last_extent_unit_changes_nothing) {
  char *p = pm_malloc(CHUNKS(2) + 1);
  require_not_null(p);
  size_t u = pm_malloc_usable_size(p);
  char *q = pm_realloc(p, u);   /* all of it, as far as the compiler's object-size checks know */
  require_eq((uintptr_t)q, (uintptr_t)p);
  pat_fill(q, u, 13);
  for (size_t s = u - PM_PAGEMAP_EXTENT_UNIT + 1; s <= u; s += 1000) {
    expect_eq((uintptr_t)pm_realloc(p, s), (uintptr_t)p);
    expect_eq(pm_malloc_usable_size(p), u);
  }
  expect_eq((uintptr_t)pm_realloc(p, u - PM_PAGEMAP_EXTENT_UNIT), (uintptr_t)p);
  expect_eq(pm_malloc_usable_size(p), u - PM_PAGEMAP_EXTENT_UNIT);
  expect_eq(pat_bad(p, u - PM_PAGEMAP_EXTENT_UNIT, 13), u - PM_PAGEMAP_EXTENT_UNIT);
  pm_free(p);
  expect_true(regions_valid());
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

/* ---- The chunk map -------------------------------------------------------------- */
/* A freed block's header stays marked (live == 0) while its span is cached,
 * and is unmarked before its page is purged. */
TEST(freed_headers_stay_marked_until_purged) {
  large_fresh();
  char *p = pm_malloc(CHUNKS(2)), *t = pm_malloc(256 << 10);
  require_not_null(p);
  require_not_null(t);
  pm_free(p);
  pm_free(t);   /* into this thread's cache */
  expect_eq(pmi_pagemap_kind(p), PM_CHUNK_LARGE);
  expect_eq(pmi_pagemap_kind(t), PM_CHUNK_LARGE);
  pm_large_t *hp = pmi_large_header(p, PM_CHUNK_LARGE), *ht = pmi_large_header(t, PM_CHUNK_LARGE);
  require_not_null(hp);
  require_not_null(ht);
  expect_eq(hp->live, 0);
  expect_eq(ht->live, 0);
  pm_malloc_trim(0);
  expect_eq(pmi_pagemap_kind(p), PM_CHUNK_FOREIGN);
  expect_eq(pmi_pagemap_kind(t), PM_CHUNK_FOREIGN);
  expect_true(regions_valid());
}

/* Chunks inside a live block are never marked, even where an old freed
 * header used to be: a pointer there is foreign, and user data there is
 * never read as a header. */
TEST(interior_chunks_of_a_live_block_are_never_marked) {
  large_fresh();
  char *x = pm_malloc(CHUNKS(2)), *y = pm_malloc(CHUNKS(2)), *z = pm_malloc(CHUNKS(2));
  require_not_null(x);
  require_not_null(y);
  require_not_null(z);
  pm_free(y);
  pm_free(x);   /* one free run of 4 chunks holding two freed headers */
  expect_eq(pmi_pagemap_kind(y), PM_CHUNK_LARGE);
  char *w = pm_malloc(CHUNKS(4));
  expect_eq((uintptr_t)w, (uintptr_t)x);
  expect_eq(pmi_pagemap_kind(y), PM_CHUNK_FOREIGN);   /* now inside w */
  for (size_t i = 1; i < 4; i++) expect_eq(pmi_pagemap_entry(chunk_of(w) + i * MIB), PM_CHUNK_FOREIGN);
  expect_null(pmi_large_header(w + PM_PAGE_SIZE, PM_CHUNK_LARGE));   /* page-aligned, not the start */
  pm_free(w);
  pm_free(z);
  expect_true(regions_valid());
}

/* The region's bitmaps, not the header, say what a free releases: a header
 * that names another region or a chunk that starts no live span is refused. */
TEST(the_region_refuses_spans_it_does_not_hold) {
  large_fresh();
  char *p = pm_malloc(CHUNKS(3));
  require_not_null(p);
  pm_large_t *h = pmi_large_header(p, PM_CHUNK_LARGE);
  require_not_null(h);
  pthread_mutex_lock(&pmi_large_lock);
  expect_eq(pmi_large_region_give(h->region + 1, chunk_of(p)), 0);
  expect_eq(pmi_large_region_give(PM_LARGE_REGION_MAX + 5, chunk_of(p)), 0);
  expect_eq(pmi_large_region_give(h->region, chunk_of(p) + MIB), 0);   /* inside the span */
  expect_eq(pmi_large_region_resize(h->region, chunk_of(p) + MIB, 1), 0);
  expect_true(pmi_large_region_is_valid());
  pthread_mutex_unlock(&pmi_large_lock);
  pm_free(p);
  pthread_mutex_lock(&pmi_large_lock);
  expect_eq(pmi_large_region_give(h->region, chunk_of(p)), 0);   /* already free */
  pthread_mutex_unlock(&pmi_large_lock);
  expect_true(regions_valid());
}

/* ---- Each thread's cache of one-chunk blocks ----------------------------------- */
TEST(a_one_chunk_pair_reuses_the_same_block_through_the_thread_cache) {
  large_fresh();
  char *p = pm_malloc(256 << 10);
  require_not_null(p);
  pm_free(p);
  expect_eq(tcache_held(), 1);
  for (int i = 0; i < 1000; i++) {
    char *q = pm_malloc(256 << 10);
    require_eq((uintptr_t)q, (uintptr_t)p);
    q[i] = 1;
    pm_free(q);
  }
  char *r = pm_malloc(700 << 10);   /* another extent: the same block, re-marked */
  expect_eq((uintptr_t)r, (uintptr_t)p);
  expect_ge(pm_malloc_usable_size(r), 700 << 10);
  expect_eq(pmi_pagemap_kind(r + (700 << 10) - 1), PM_CHUNK_LARGE);
  pm_free(r);
  char *s = pm_malloc(200 << 10);
  expect_eq((uintptr_t)s, (uintptr_t)p);
  expect_eq(pmi_pagemap_kind(s + (400 << 10)), PM_CHUNK_FOREIGN);   /* extent narrowed */
  pm_free(s);
  expect_true(regions_valid());
}

TEST(the_thread_cache_is_bounded_and_counted_as_cached) {
  large_fresh();
  pm_stats_t s0, s1;
  pm_stats_get(&s0);
  enum { N = PM_LARGE_TCACHE_SLOTS + 3 };
  char *v[N];
  for (int i = 0; i < N; i++) require_not_null(v[i] = pm_malloc(300 << 10));
  for (int i = 0; i < N; i++) pm_free(v[i]);
  expect_eq(tcache_held(), PM_LARGE_TCACHE_SLOTS);
  pm_stats_get(&s1);
  expect_eq(s1.nlarge, s0.nlarge);
  expect_eq(s1.large_allocated, s0.large_allocated);
  expect_eq(s1.large_cached, (size_t)N * MIB);   /* slots + region, a chunk each */
  pm_malloc_trim(0);
  expect_eq(tcache_held(), 0);
  pm_stats_get(&s1);
  expect_eq(s1.large_cached, 0);
  expect_true(regions_valid());
}

/* Blocks that sat at the bottom of the stack through a whole decay delay
 * go back to their region; the ones in use stay. */
TEST(the_thread_cache_ages) {
  large_fresh();
  char *a = pm_malloc(300 << 10), *b = pm_malloc(300 << 10);
  require_not_null(a);
  require_not_null(b);
  pm_free(a);
  pm_free(b);
  require_eq(tcache_held(), 2);
  uint64_t t = pmi_prim_now_ns() + (uint64_t)3600 * 1000000000u;
  uint64_t delay = (uint64_t)pmi_option(PM_OPTION_DECAY_MS) * 1000000u;
  pmi_large_tcache_decay(t, false);   /* starts an interval */
  expect_eq(tcache_held(), 2);
  pm_free(pm_malloc(300 << 10));      /* b is used again: a is not */
  pmi_large_tcache_decay(t + delay, false);
  expect_eq(tcache_held(), 1);
  pmi_large_tcache_decay(t + 2 * delay, false);
  expect_eq(tcache_held(), 0);
  expect_true(regions_valid());
}

static void *tcache_thread(void *arg) {
  for (int i = 0; i < 3; i++) {
    void *p = pm_malloc(400 << 10);
    if (p == NULL) return NULL;
    ((char **)arg)[i] = p;
  }
  for (int i = 0; i < 3; i++) pm_free(((char **)arg)[i]);
  return arg;   /* the blocks sit in this thread's cache until it exits */
}

TEST(a_thread_cache_is_flushed_at_thread_exit) {
  large_fresh();
  char *blocks[3];
  pthread_t t;
  require_eq(pthread_create(&t, NULL, tcache_thread, blocks), 0);
  void *ret;
  pthread_join(t, &ret);
  require_not_null(ret);
  pthread_mutex_lock(&pmi_large_lock);
  size_t held = pmi_large_tcache_count_locked();
  pthread_mutex_unlock(&pmi_large_lock);
  expect_eq(held, tcache_held());   /* only this thread's */
  for (int i = 0; i < 3; i++) {
    pm_large_t *h = pmi_large_header(blocks[i], PM_CHUNK_LARGE);
    expect_true(h != NULL && h->live == 0);   /* freed, cached in the region */
  }
  pm_stats_t s;
  pm_stats_get(&s);
  expect_ge(s.large_cached, 3 * MIB);
  expect_true(regions_valid());
  large_fresh();
}

/* Threads share the regions and free each other's blocks (some of them
 * one-chunk blocks, which go to the freeing thread's cache), realloc them,
 * trim and read statistics, all at once: the contents survive, the regions
 * stay valid, and once the threads have exited (flushing their caches) and
 * this one trims, nothing is live or cached.  Built with -fsanitize=thread,
 * this is the large-block race test. */
enum { SHARE_SLOTS = 16, SHARE_OPS = 600 };
static _Atomic(char *) share_board[SHARE_SLOTS];
static _Atomic long share_bad;

static size_t share_size(uint64_t r) {
  return r % 3 != 0 ? (128 << 10) + 1 + (size_t)(r >> 8) % (800 << 10) : MIB + (size_t)(r >> 8) % (6 * MIB);
}

static void share_put(char *p, size_t size) {
  memcpy(p, &size, sizeof size);
  memset(p + sizeof size, (unsigned char)size, 64);
  memset(p + size - 64, (unsigned char)(size >> 8), 64);
}

static bool share_ok(const char *p) {
  size_t size;
  memcpy(&size, p, sizeof size);
  for (int i = 0; i < 64; i++)
    if ((unsigned char)p[sizeof size + i] != (unsigned char)size || (unsigned char)p[size - 64 + i] != (unsigned char)(size >> 8))
      return false;
  return true;
}

static void *share_worker(void *arg) {
  uint64_t r = (uintptr_t)arg * 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < SHARE_OPS; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    unsigned k = (unsigned)(r >> 40) % SHARE_SLOTS, op = (unsigned)(r >> 20) % 16;
    if (op < 10) {
      size_t size = share_size(r);
      char *p = op == 0 ? pm_calloc(1, size) : pm_malloc(size);
      if (p == NULL) continue;
      share_put(p, size);
      char *old = atomic_exchange(&share_board[k], p);
      if (old != NULL && !share_ok(old)) atomic_fetch_add(&share_bad, 1);
      pm_free(old);
    } else if (op < 14) {
      char *p = atomic_exchange(&share_board[k], NULL);
      if (p == NULL) continue;
      if (!share_ok(p)) atomic_fetch_add(&share_bad, 1);
      size_t size = share_size(r >> 3);
      char *q = pm_realloc(p, size);
      if (q == NULL) {
        pm_free(p);
        continue;
      }
      share_put(q, size);
      char *old = atomic_exchange(&share_board[k], q);
      if (old != NULL && !share_ok(old)) atomic_fetch_add(&share_bad, 1);
      pm_free(old);
    } else if (op == 14 && (r >> 50) % 16 == 0) {
      pm_malloc_trim(0);
    } else {
      pm_stats_t st;
      pm_stats_get(&st);
    }
  }
  return NULL;
}

TEST(threads_share_regions_and_caches) {
  large_fresh();
  pm_stats_t s0, s1;
  pm_stats_get(&s0);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) require_eq(pthread_create(&t[i], NULL, share_worker, (void *)(uintptr_t)(i + 1)), 0);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  for (int k = 0; k < SHARE_SLOTS; k++) {
    char *p = atomic_exchange(&share_board[k], NULL);
    if (p != NULL && !share_ok(p)) atomic_fetch_add(&share_bad, 1);
    pm_free(p);
  }
  expect_eq(atomic_load(&share_bad), 0);
  expect_true(regions_valid());
  large_fresh();
  pm_stats_get(&s1);
  expect_eq(s1.nlarge, s0.nlarge);
  expect_eq(s1.large_cached, 0);
  expect_eq(pmi_large_region_reserved(), 0);
}

/* fork while another thread holds blocks in its cache: in the child that
 * thread is gone, its cache is orphaned (its blocks stay counted as cached,
 * never handed out), and large blocks work as before. */
static pthread_mutex_t fork_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fork_cv = PTHREAD_COND_INITIALIZER;
static int fork_stage;

static void *fork_holder(void *arg) {
  char **v = arg;
  for (int i = 0; i < 3; i++) v[i] = pm_malloc(500 << 10);
  for (int i = 0; i < 3; i++) pm_free(v[i]);   /* into this thread's cache */
  pthread_mutex_lock(&fork_mu);
  fork_stage = 1;
  pthread_cond_broadcast(&fork_cv);
  while (fork_stage != 2) pthread_cond_wait(&fork_cv, &fork_mu);
  pthread_mutex_unlock(&fork_mu);
  return NULL;
}

TEST(fork_with_another_threads_cache) {
  large_fresh();
  char *v[3];
  pthread_t t;
  require_eq(pthread_create(&t, NULL, fork_holder, v), 0);
  pthread_mutex_lock(&fork_mu);
  while (fork_stage != 1) pthread_cond_wait(&fork_cv, &fork_mu);
  pthread_mutex_unlock(&fork_mu);
  pid_t pid = fork();
  if (pid == 0) {                              /* the child: one thread */
    int bad = 0;
    for (int i = 0; i < 50; i++) {
      char *p = pm_malloc(500 << 10), *q = pm_malloc(CHUNKS(3));
      if (p == NULL || q == NULL) _exit(2);
      for (int k = 0; k < 3; k++) bad |= p == v[k] || q == v[k];   /* orphans are never reused */
      memset(p, 1, 500 << 10);
      memset(q, 2, CHUNKS(3));
      pm_free(p);
      pm_free(q);
    }
    pm_malloc_trim(0);
    pm_stats_t s;
    pm_stats_get(&s);
    bad |= s.large_cached != 3 * MIB;          /* only the orphaned cache's blocks */
    pthread_mutex_lock(&pmi_large_lock);
    bad |= !pmi_large_region_is_valid();
    pthread_mutex_unlock(&pmi_large_lock);
    _exit(bad ? 1 : 0);
  }
  require_gt(pid, 0);
  int status = 0;
  waitpid(pid, &status, 0);
  expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  pthread_mutex_lock(&fork_mu);
  fork_stage = 2;
  pthread_cond_broadcast(&fork_cv);
  pthread_mutex_unlock(&fork_mu);
  pthread_join(t, NULL);
  expect_true(regions_valid());
  large_fresh();
  pm_stats_t s;
  pm_stats_get(&s);
  expect_eq(s.large_cached, 0);                /* in the parent the thread exited */
}

/* ---- calloc, alignment, sizes ---------------------------------------------------- */
TEST(calloc_of_reused_memory_is_zero) {
  large_fresh();
  char *p = pm_malloc(CHUNKS(4));
  require_not_null(p);
  memset(p, 0xAB, CHUNKS(4));
  pm_free(p);
  char *q = pm_calloc(1, CHUNKS(4));
  expect_eq((uintptr_t)q, (uintptr_t)p);
  size_t nonzero = 0;
  for (size_t i = 0; i < CHUNKS(4); i++) nonzero += q[i] != 0;
  expect_eq(nonzero, 0);
  pm_free(q);
  char *t = pm_malloc(256 << 10);
  require_not_null(t);
  memset(t, 0xCD, 256 << 10);
  pm_free(t);   /* into the thread cache */
  char *u = pm_calloc(256, 1024);
  expect_eq((uintptr_t)u, (uintptr_t)t);
  nonzero = 0;
  for (size_t i = 0; i < (256 << 10); i++) nonzero += u[i] != 0;
  expect_eq(nonzero, 0);
  pm_free(u);
  char *f = pm_calloc(1, CHUNKS(30));   /* fresh chunks: zero without a memset */
  require_not_null(f);
  nonzero = 0;
  for (size_t i = 0; i < CHUNKS(30); i += 4096) nonzero += f[i] != 0;
  expect_eq(nonzero, 0);
  pm_free(f);
}

TEST(aligned_large_blocks) {
  large_fresh();
  void *p = NULL;
  require_eq(pm_posix_memalign(&p, 64 << 10, 300 << 10), 0);   /* a region block, offset 64 KiB */
  expect_eq((uintptr_t)p % (64 << 10), 0);
  expect_eq(pmi_pagemap_kind(p), PM_CHUNK_LARGE);
  pat_fill(p, 300 << 10, 31);
  void *q = pm_realloc(p, 3 << 20);   /* grows in place: the offset stays */
  expect_eq((uintptr_t)q, (uintptr_t)p);
  expect_eq(pat_bad(q, 300 << 10, 31), 300 << 10);
  pm_free(q);
  void *r = pm_aligned_alloc(2 << 20, 5 << 20);   /* a mapping of its own */
  require_not_null(r);
  expect_eq((uintptr_t)r % (2 << 20), 0);
  expect_eq(pmi_pagemap_kind(r), PM_CHUNK_LARGE_AT_BASE);
  pm_free(r);
  expect_eq(pmi_pagemap_kind(r), PM_CHUNK_FOREIGN);   /* never cached */
  expect_true(regions_valid());
}

/* A request of 0 bytes at an alignment that is a multiple of the chunk map's
 * 16 KiB unit once put the user pointer at the very end of its extent, so
 * the chunk map did not cover it and malloc_usable_size and free called it
 * not ours (the fuzzer found it: aligned_alloc(1 << 19, 0)). */
TEST(aligned_zero_byte_large_blocks_are_ours) {
  large_fresh();
  for (size_t align = 16 << 10; align <= (4u << 20); align <<= 1) {
    void *p = pm_aligned_alloc(align, 0);
    require_not_null(p);
    expect_eq((uintptr_t)p % align, 0);
    expect_gt(pm_malloc_usable_size(p), 0);
    memset(p, 7, pm_malloc_usable_size(p));
    pm_free(p);
  }
  expect_true(regions_valid());
}

/* A request bigger than a region gets a region of its own size, which is
 * split for later requests like any other. */
TEST(a_request_bigger_than_a_region) {
  large_fresh();
  size_t big = PM_LARGE_REGION_SIZE + 3 * MIB;
  char *p = pm_malloc(big);
  require_not_null(p);
  p[0] = 1, p[big - 1] = 2;
  expect_ge(pmi_large_region_reserved(), big);
  pm_free(p);
  char *q = pm_malloc(CHUNKS(5));
  expect_eq((uintptr_t)q, (uintptr_t)p);   /* the only free run */
  pm_free(q);
  expect_true(regions_valid());
  large_fresh();
  expect_eq(pmi_large_region_reserved(), 0);
}

/* ---- Failure --------------------------------------------------------------------- */
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
  expect_true(regions_valid());
}
