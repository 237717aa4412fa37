/* SPDX-License-Identifier: MIT */
/* tests/unit/realloc.c — realloc across every class boundary.
 *
 * One block walks up through every size-class boundary (the last size of a
 * class and the first of the next) into the large path and back down; at
 * every step the old contents must be intact.  realloc within the block's
 * class, or down to at least half the block, must not move it.
 */
#include "config.h"
#include "internal.h"
#include "sizeclass.h"
#include "../tap.h"
#include "pattern.h"
#include <errno.h>

static size_t boundaries[2 * PM_NCLASSES + 8];

static size_t make_boundaries(void) {
  size_t n = 0;
  for (unsigned c = 1; c < PM_NCLASSES; c++) {
    boundaries[n++] = pmi_class_size(c);
    boundaries[n++] = pmi_class_size(c) + 1;
  }
  boundaries[n++] = ((size_t)1 << 20) + 1;
  boundaries[n++] = (size_t)4 << 20;
  return n;
}

/* realloc p (holding `have` pattern bytes of seed) to size, check, refill. */
static char *step(char *p, size_t *have, size_t size, uint64_t seed) {
  char *q = pm_realloc(p, size);
  require_not_null(q);
  size_t keep = *have < size ? *have : size;
  expect_eq(pat_bad(q, keep, seed), keep);
  expect_ge(pm_malloc_usable_size(q), size);
  pat_fill(q, size, seed);
  *have = size;
  return q;
}

TEST(realloc_up_and_down_every_class_boundary) {
  pmi_init();
  size_t n = make_boundaries(), have = 1;
  char *p = pm_malloc(1);
  require_not_null(p);
  pat_fill(p, 1, 77);
  for (size_t i = 0; i < n; i++) p = step(p, &have, boundaries[i], 77);
  for (size_t i = n; i-- > 0;) p = step(p, &have, boundaries[i], 77);
  p = step(p, &have, 1, 77);
  pm_free(p);
}

TEST(realloc_jumps_between_distant_classes) {
  size_t n = make_boundaries(), have = 8;
  char *p = pm_malloc(8);
  require_not_null(p);
  pat_fill(p, 8, 3);
  for (size_t i = 0; i < n; i++) {
    p = step(p, &have, boundaries[(i * 37) % n], 3);
    p = step(p, &have, boundaries[n - 1 - (i * 11) % n], 3);
  }
  pm_free(p);
}

TEST(realloc_stays_in_place_within_the_class) {
  for (unsigned c = 1; c < PM_NCLASSES; c++) {
    size_t bs = pmi_class_size(c);
    char *p = pm_malloc(bs);
    require_not_null(p);
    pat_fill(p, bs, c);
    size_t lo = bs / 2 > 0 ? bs / 2 : 1;   /* half the block .. the block */
    for (size_t s = lo; s <= bs; s += (bs - lo) / 7 + 1) {
      char *q = pm_realloc(p, s);
      expect_eq((uintptr_t)q, (uintptr_t)p);
      if (q != p) { p = q; break; }
    }
    expect_eq(pat_bad(p, lo, c), lo);
    pm_free(p);
  }
}

TEST(realloc_null_zero_and_failure) {
  char *p = pm_realloc(NULL, 100);   /* = malloc */
  require_not_null(p);
  expect_eq(pm_malloc_usable_size(p), 112);
  pat_fill(p, 100, 1);
  errno = 0;
  expect_null(pm_realloc(p, SIZE_MAX));
  expect_eq(errno, ENOMEM);
  expect_eq(pat_bad(p, 100, 1), 100);   /* the old block survives a failure */
  char *r = pm_reallocarray(p, 10, 20);
  require_not_null(r);
  expect_eq(pat_bad(r, 100, 1), 100);
  errno = 0;
  expect_null(pm_reallocarray(r, SIZE_MAX / 2, 3));
  expect_eq(errno, ENOMEM);
  expect_eq(pat_bad(r, 100, 1), 100);
  expect_null(pm_realloc(r, 0));   /* frees, as glibc */
}
