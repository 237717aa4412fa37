/* SPDX-License-Identifier: MIT */
/* tests/api/basic.c — malloc, free, calloc, realloc, reallocarray by their
 * C-library names, linked against libpoolmalloc (so the override is what
 * answers), plus the same family under the pm_ prefix.
 *
 * Semantics are glibc's: malloc(0) is unique and freeable, free(NULL) is a
 * no-op, realloc(NULL, n) is malloc(n), realloc(p, 0) frees p and returns
 * NULL, every failure is NULL with errno == ENOMEM, n*size overflow fails
 * cleanly, and the old block survives a failed realloc.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poolmalloc.h>
#include "../tap.h"
#include "../unit/pattern.h"

/* ---- The override is in force --------------------------------------------- */
TEST(libc_names_reach_poolmalloc) {
  pm_stats_t s0, s1;
  pm_stats_get(&s0);
  void *p = malloc(100000);   /* medium: counted in small_allocated */
  require_not_null(p);
  pm_stats_get(&s1);
  expect_ge(s1.small_allocated, s0.small_allocated + 100000);
  expect_eq(pm_malloc_usable_size(p), malloc_usable_size(p));
  free(p);
  skip_if(!PM_TEST_OVERRIDE, PM_TEST_NO_OVERRIDE);
  char *s = strdup("allocated inside the C library");   /* libc's own malloc call */
  require_not_null(s);
  expect_eq(pm_malloc_usable_size(s), 32);   /* our class size: we allocated it */
  pm_free(s);                                 /* and we can free it */
}

/* ---- malloc and free ---------------------------------------------------------- */
TEST(malloc_zero_is_unique_and_freeable) {
  enum { N = 100 };
  void *v[N];
  for (int i = 0; i < N; i++) {
    require_not_null(v[i] = malloc(0));
    for (int j = 0; j < i; j++) expect_ne((uintptr_t)v[i], (uintptr_t)v[j]);
  }
  for (int i = 0; i < N; i++) free(v[i]);
  void *p = pm_malloc(0);
  expect_not_null(p);
  pm_free(p);
}

TEST(free_null_is_a_noop) {
  errno = 1234;
  free(NULL);
  pm_free(NULL);
  expect_eq(errno, 1234);
}

TEST(malloc_is_16_aligned_and_writable) {
  for (size_t s = 1; s < ((size_t)1 << 22); s = s * 2 + 3) {
    char *p = malloc(s);
    require_not_null(p);
    expect_eq((uintptr_t)p % 16, 0);
    expect_ge(malloc_usable_size(p), s);
    pat_fill(p, s, s);
    expect_eq(pat_bad(p, s, s), s);
    free(p);
  }
}

TEST(malloc_failure_is_enomem) {
  size_t sizes[] = {(size_t)PTRDIFF_MAX + 1, SIZE_MAX, SIZE_MAX - 15, (size_t)1 << 50};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    errno = 0;
    expect_null(malloc(sizes[i]));
    expect_eq(errno, ENOMEM);
    errno = 0;
    expect_null(pm_malloc(sizes[i]));
    expect_eq(errno, ENOMEM);
  }
}

TEST(success_leaves_errno_alone) {
  errno = 4321;
  void *p = malloc(10), *q = calloc(3, 3), *r = realloc(NULL, 1000000);
  expect_true(p && q && r);
  free(p), free(q), free(r);
  expect_eq(errno, 4321);
  /* Huge alignments map with a hint first; a missed hint must not leak
   * EEXIST (or anything else) into errno when the allocation succeeds.
   * ThreadSanitizer kills a program whose mapping lands outside its
   * application ranges ("mmap at bad address"), so it stops at 4 GiB. */
#ifdef __SANITIZE_THREAD__
  const size_t max_align = (size_t)1 << 32;
#else
  const size_t max_align = (size_t)1 << 43;
#endif
  for (size_t align = (size_t)1 << 20; align <= max_align; align <<= 1) {
    errno = 4321;
    void *a = aligned_alloc(align, 64);
    expect_not_null(a);
    expect_eq(errno, 4321);
    free(a);
  }
}

/* ---- calloc -------------------------------------------------------------------- */
TEST(calloc_zeroes_and_checks_overflow) {
  for (size_t s = 1; s < ((size_t)1 << 21); s = s * 3 + 1) {
    char *p = malloc(s);
    require_not_null(p);
    memset(p, 0xff, s);
    free(p);
    char *q = calloc(s, 1);
    require_not_null(q);
    expect_eq(pat_nonzero(q, s), s);
    free(q);
  }
  size_t big = (size_t)1 << 33;
  errno = 0;
  expect_null(calloc(big, big));
  expect_eq(errno, ENOMEM);
  errno = 0;
  expect_null(calloc(SIZE_MAX, 2));
  expect_eq(errno, ENOMEM);
  errno = 0;
  expect_null(pm_calloc(2, SIZE_MAX));
  expect_eq(errno, ENOMEM);
  void *z = calloc(0, 0);
  expect_not_null(z);
  free(z);
}

/* ---- realloc and reallocarray ---------------------------------------------- */
TEST(realloc_null_is_malloc) {
  char *p = realloc(NULL, 50);
  require_not_null(p);
  expect_eq(malloc_usable_size(p), 64);
  free(p);
  p = pm_realloc(NULL, 0);
  expect_not_null(p);
  pm_free(p);
}

TEST(realloc_to_zero_frees) {
  pm_stats_t s0, s1;
  char *p = malloc(300000);
  require_not_null(p);
  pm_stats_get(&s0);
  errno = 0;
  expect_null(realloc(p, 0));
  pm_stats_get(&s1);
  expect_eq(s1.nlarge + 1, s0.nlarge);   /* the large block went away */
  expect_eq(errno, 0);
}

TEST(realloc_preserves_contents_and_failure_keeps_block) {
  char *p = malloc(10);
  require_not_null(p);
  pat_fill(p, 10, 1);
  size_t have = 10;
  for (size_t s = 11; s < ((size_t)1 << 23); s = s * 5 / 2) {
    p = realloc(p, s);
    require_not_null(p);
    expect_eq(pat_bad(p, have, 1), have);
    pat_fill(p, s, 1);
    have = s;
  }
  errno = 0;
  expect_null(realloc(p, SIZE_MAX));
  expect_eq(errno, ENOMEM);
  expect_eq(pat_bad(p, have, 1), have);
  free(p);
}

TEST(reallocarray_checks_overflow) {
  int *a = reallocarray(NULL, 100, sizeof(int));
  require_not_null(a);
  for (int i = 0; i < 100; i++) a[i] = i * 7;
  int *b = reallocarray(a, 100000, sizeof(int));
  require_not_null(b);
  for (int i = 0; i < 100; i++) expect_eq(b[i], i * 7);
  errno = 0;
  expect_null(reallocarray(b, SIZE_MAX / 2, 4));
  expect_eq(errno, ENOMEM);
  for (int i = 0; i < 100; i++) expect_eq(b[i], i * 7);   /* untouched */
  errno = 0;
  expect_null(pm_reallocarray(b, (size_t)1 << 32, (size_t)1 << 32));
  expect_eq(errno, ENOMEM);
  b = pm_reallocarray(b, 50, sizeof(int));
  require_not_null(b);
  for (int i = 0; i < 50; i++) expect_eq(b[i], i * 7);
  free(b);
}
