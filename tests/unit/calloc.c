/* SPDX-License-Identifier: MIT */
/* tests/unit/calloc.c — calloc zeroes memory that was used before.
 *
 * Fresh mmap memory is zero and calloc may skip the memset there; these
 * tests make sure it never skips it on REUSED memory: blocks of a class are
 * dirtied, freed, and the same number is calloc'ed again — the reused ones
 * (the test requires that some are) must read as zero.  Covers every class,
 * large blocks (including ones from the large cache) and overflow.
 */
#include "config.h"
#include "internal.h"
#include "sizeclass.h"
#include "../tap.h"
#include "pattern.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

/* Dirty n blocks of size, free them, calloc n again; returns how many of the
 * calloc'ed blocks reuse a dirtied address. */
static size_t dirty_then_calloc(size_t size, size_t n) {
  void **old = calloc(n, sizeof *old), **fresh = calloc(n, sizeof *fresh);
  size_t reused = 0;
  if (!old || !fresh) abort();
  for (size_t i = 0; i < n; i++) {
    require_not_null(old[i] = pm_malloc(size));
    memset(old[i], 0xA5, pm_malloc_usable_size(old[i]));
  }
  for (size_t i = 0; i < n; i++) pm_free(old[i]);
  qsort(old, n, sizeof *old, cmp_ptr);
  for (size_t i = 0; i < n; i++) {
    size_t count = i % 2 ? 1 : size, each = i % 2 ? size : 1;   /* both argument orders */
    require_not_null(fresh[i] = pm_calloc(count, each));
    expect_eq(pat_nonzero(fresh[i], size), size);
    reused += bsearch(&fresh[i], old, n, sizeof *old, cmp_ptr) != NULL;
  }
  for (size_t i = 0; i < n; i++) pm_free(fresh[i]);
  free(old), free(fresh);
  return reused;
}

TEST(calloc_zeroes_reused_blocks_of_every_class) {
  pmi_init();
  for (unsigned c = 0; c < PM_NCLASSES; c++) {
    size_t size = c ? pmi_class_size(c) : 0, n = c < PM_NSMALL ? 300 : 12;
    expect_gt(dirty_then_calloc(size, n), 0);
    if (c) expect_gt(dirty_then_calloc(size - 1, n), 0);
  }
}

TEST(calloc_zeroes_reused_large_blocks) {
  size_t sizes[] = {PM_MEDIUM_MAX + 1, (size_t)1 << 20, ((size_t)3 << 20) + 17};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    expect_gt(dirty_then_calloc(sizes[i], 4), 0);   /* the large cache hands them back */
}

TEST(calloc_of_fresh_memory_is_zero) {
  pm_malloc_trim(0);
  for (size_t size = 16; size <= ((size_t)4 << 20); size = size * 3 + 16) {
    char *p = pm_calloc(1, size);
    require_not_null(p);
    expect_eq(pat_nonzero(p, size), size);
    pm_free(p);
  }
}

TEST(calloc_overflow_and_zero) {
  size_t half = (size_t)1 << (sizeof(size_t) * 4);
  errno = 0;
  expect_null(pm_calloc(half, half));
  expect_eq(errno, ENOMEM);
  errno = 0;
  expect_null(pm_calloc(SIZE_MAX / 2 + 1, 2));
  expect_eq(errno, ENOMEM);
  errno = 0;
  expect_null(pm_calloc((size_t)PTRDIFF_MAX / 16 + 1, 16));
  expect_eq(errno, ENOMEM);
  void *p = pm_calloc(0, 1), *q = pm_calloc(1, 0), *r = pm_calloc(0, SIZE_MAX);
  expect_true(p && q && r);
  expect_true(p != q && q != r && p != r);
  pm_free(p), pm_free(q), pm_free(r);
}
