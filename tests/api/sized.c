/* SPDX-License-Identifier: MIT */
/* tests/api/sized.c — C23 free_sized / free_aligned_sized, glibc's
 * __libc_* aliases, and memory handed across libc (strdup, getline, qsort
 * buffers, printf to a memstream) all reaching poolmalloc.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poolmalloc.h>
#include "../tap.h"
#include "../unit/pattern.h"

/* glibc 2.36 declares neither C23 function nor the __libc_* names. */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t alignment, size_t size);
void *__libc_malloc(size_t size);
void __libc_free(void *p);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);

/* ---- free_sized / free_aligned_sized -------------------------------------- */
TEST(free_sized_with_the_requested_size) {
  pm_stats_t s0, s1;
  pm_stats_get(&s0);
  for (size_t s = 1; s < ((size_t)1 << 22); s = s * 2 + 1) {
    void *p = malloc(s);
    require_not_null(p);
    free_sized(p, s);
    void *q = pm_malloc(s);
    require_not_null(q);
    pm_free_sized(q, s);
  }
  free_sized(NULL, 0);
  pm_stats_get(&s1);
  expect_eq(s1.small_allocated, s0.small_allocated);   /* everything went back */
  expect_eq(s1.nlarge, s0.nlarge);
}

TEST(free_aligned_sized_with_the_requested_alignment) {
  for (size_t a = 16; a <= ((size_t)1 << 21); a *= 4) {
    void *p = aligned_alloc(a, 3 * a);
    require_not_null(p);
    expect_eq((uintptr_t)p % a, 0);
    free_aligned_sized(p, a, 3 * a);
    void *q = pm_aligned_alloc(a, 100);
    require_not_null(q);
    pm_free_aligned_sized(q, a, 100);
  }
  free_aligned_sized(NULL, 64, 0);
}

/* ---- glibc's internal names ------------------------------------------------- */
TEST(libc_internal_aliases_are_ours) {
  skip_if(!PM_TEST_OVERRIDE, PM_TEST_NO_OVERRIDE);
  pm_stats_t s0, s1;
  pm_stats_get(&s0);
  char *a = __libc_malloc(100000);
  char *b = __libc_calloc(1000, 100);
  char *c = __libc_memalign(4096, 100000);
  char *d = __libc_valloc(100000);
  char *e = __libc_pvalloc(100000);
  require_true(a && b && c && d && e);
  pm_stats_get(&s1);
  expect_ge(s1.small_allocated + s1.large_allocated,
            s0.small_allocated + s0.large_allocated + 5 * 100000);   /* counted by us */
  expect_eq(pat_nonzero(b, 100000), 100000);
  expect_eq((uintptr_t)c % 4096, 0);
  expect_eq((uintptr_t)d % 4096, 0);
  expect_eq((uintptr_t)e % 4096, 0);
  pat_fill(a, 100000, 1);
  a = __libc_realloc(a, 500000);
  require_not_null(a);
  expect_eq(pat_bad(a, 100000, 1), 100000);
  expect_ge(pm_malloc_usable_size(a), 500000);
  __libc_free(a), __libc_free(b), __libc_free(c), __libc_free(d), __libc_free(e);
}

/* ---- Memory that crosses the C library ------------------------------------ */
static int cmp_int(const void *x, const void *y) { return *(const int *)x - *(const int *)y; }

TEST(memory_from_inside_libc_is_ours) {
  skip_if(!PM_TEST_OVERRIDE, PM_TEST_NO_OVERRIDE);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);   /* libc grows buf with realloc */
  require_not_null(f);
  for (int i = 0; i < 20000; i++) fprintf(f, "line %d\n", i);
  fclose(f);
  require_not_null(buf);
  expect_ge(pm_malloc_usable_size(buf), len);   /* ours, or this aborts */
  expect_eq(strncmp(buf + len - 11, "line 19999\n", 11), 0);
  free(buf);
  char *line = NULL;
  size_t cap = 0;
  f = fmemopen((char *)"hello poolmalloc\n", 17, "r");
  require_not_null(f);
  expect_eq(getline(&line, &cap, f), 17);
  expect_ge(pm_malloc_usable_size(line), cap);
  fclose(f);
  free(line);
  enum { N = 300000 };   /* qsort's merge buffer comes from malloc */
  int *v = malloc(N * sizeof *v);
  require_not_null(v);
  for (int i = 0; i < N; i++) v[i] = (int)((i * 2654435761u) % 1000003);
  qsort(v, N, sizeof *v, cmp_int);
  for (int i = 1; i < N; i++) if (v[i - 1] > v[i]) { expect_le(v[i - 1], v[i]); break; }
  free(v);
}
