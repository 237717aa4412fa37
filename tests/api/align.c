/* SPDX-License-Identifier: MIT */
/* tests/api/align.c — posix_memalign, aligned_alloc, memalign, valloc and
 * pvalloc by their C-library names (and pm_*), with their error cases:
 * EINVAL for alignments that are not powers of two (posix_memalign also for
 * alignments below sizeof(void *)), ENOMEM for impossible sizes, memalign
 * rounding a bad alignment up as glibc does, pvalloc(0) giving one page.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <poolmalloc.h>
#include "../tap.h"
#include "../unit/pattern.h"

TEST(posix_memalign_every_power_of_two) {
  for (size_t a = sizeof(void *); a <= ((size_t)2 << 20); a *= 2) {
    void *p = NULL;
    expect_eq(posix_memalign(&p, a, a + 3), 0);
    require_not_null(p);
    expect_eq((uintptr_t)p % a, 0);
    expect_ge(malloc_usable_size(p), a + 3);
    pat_fill(p, a + 3, a);
    expect_eq(pat_bad(p, a + 3, a), a + 3);
    free(p);
  }
}

TEST(posix_memalign_errors) {
  void *p = (void *)&p;
  expect_eq(posix_memalign(&p, 0, 8), EINVAL);
  expect_eq(posix_memalign(&p, 4, 8), EINVAL);   /* below sizeof(void *) */
  expect_eq(posix_memalign(&p, 24, 8), EINVAL);
  expect_eq(posix_memalign(&p, 4097, 8), EINVAL);
  expect_eq(pm_posix_memalign(&p, 48, 8), EINVAL);
  expect_eq((uintptr_t)p, (uintptr_t)&p);   /* untouched, as glibc */
  expect_eq(posix_memalign(&p, 64, SIZE_MAX - 32), ENOMEM);
  expect_eq(posix_memalign(&p, 64, (size_t)PTRDIFF_MAX + 1), ENOMEM);
  int saved = errno = 77;
  expect_eq(posix_memalign(&p, 32, 0), 0);   /* size 0: a unique pointer */
  expect_not_null(p);
  expect_eq(errno, saved);   /* posix_memalign reports by return value */
  free(p);
}

TEST(aligned_alloc_semantics) {
  for (size_t a = 1; a <= 65536; a *= 2) {
    void *p = aligned_alloc(a, 3 * a);
    require_not_null(p);
    expect_eq((uintptr_t)p % (a < 16 ? 16 : a), 0);
    free(p);
  }
  size_t bad[] = {0, 3, 12, 48, 1000};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    errno = 0;
    expect_null(aligned_alloc(bad[i], 64));
    expect_eq(errno, EINVAL);
    errno = 0;
    expect_null(pm_aligned_alloc(bad[i], 64));
    expect_eq(errno, EINVAL);
  }
  errno = 0;
  expect_null(aligned_alloc(4096, SIZE_MAX - 4096));
  expect_eq(errno, ENOMEM);
}

TEST(memalign_rounds_up_like_glibc) {
  size_t al[] = {1, 8, 16, 24, 100, 4096, 5000, (size_t)1 << 20};
  for (size_t i = 0; i < sizeof al / sizeof *al; i++) {
    size_t want = 16;
    while (want < al[i]) want *= 2;
    void *p = memalign(al[i], 40), *q = pm_memalign(al[i], 40);
    require_true(p && q);
    expect_eq((uintptr_t)p % want, 0);
    expect_eq((uintptr_t)q % want, 0);
    free(p), pm_free(q);
  }
  errno = 0;
  expect_null(memalign(64, SIZE_MAX));
  expect_eq(errno, ENOMEM);
}

TEST(valloc_and_pvalloc) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  void *p = valloc(1), *q = pvalloc(0), *r = pvalloc(page + 1), *s = pm_valloc(3 * page), *t = pm_pvalloc(0);
  require_true(p && q && r && s && t);
  expect_eq((uintptr_t)p % page, 0);
  expect_eq((uintptr_t)q % page, 0);
  expect_eq((uintptr_t)r % page, 0);
  expect_eq((uintptr_t)s % page, 0);
  expect_eq((uintptr_t)t % page, 0);
  expect_ge(malloc_usable_size(q), page);      /* pvalloc(0): one page */
  expect_ge(malloc_usable_size(r), 2 * page);  /* pvalloc rounds the size up */
  expect_ge(malloc_usable_size(s), 3 * page);
  expect_ge(malloc_usable_size(t), page);
  pat_fill(r, 2 * page, 2);
  expect_eq(pat_bad(r, 2 * page, 2), 2 * page);
  free(p), free(q), free(r), pm_free(s), pm_free(t);
  errno = 0;
  expect_null(valloc(SIZE_MAX - 100));
  expect_eq(errno, ENOMEM);
  errno = 0;
  expect_null(pvalloc(SIZE_MAX - 100));
  expect_eq(errno, ENOMEM);
}
