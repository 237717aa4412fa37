/* SPDX-License-Identifier: MIT */
/* tests/unit/usable.c — pm_malloc_usable_size is exact and writable.
 *
 * For every request size 0..PM_MEDIUM_MAX the usable size is the block size
 * of the request's class; every usable byte can be written without touching
 * a neighbouring block; large blocks report a page-granular usable size.
 */
#include "config.h"
#include "internal.h"
#include "sizeclass.h"
#include "../tap.h"
#include "pattern.h"
#include <unistd.h>

TEST(usable_size_is_the_class_size_for_every_size) {
  for (size_t s = 0; s <= PM_MEDIUM_MAX; s++) {
    void *p = pm_malloc(s);
    require_not_null(p);
    expect_eq(pm_malloc_usable_size(p), pmi_class_size(pmi_size_to_class(s)));
    expect_eq((uintptr_t)p % PM_ALIGN, 0);
    pm_free(p);
  }
}

TEST(usable_bytes_are_writable_without_touching_neighbours) {
  enum { N = 64 };
  static void *blk[N];
  for (unsigned c = 0; c < PM_NCLASSES; c++) {
    size_t req = c ? pmi_class_size(c) - 1 : 0;
    for (int i = 0; i < N; i++) {
      blk[i] = pm_malloc(req);
      require_not_null(blk[i]);
      pat_fill(blk[i], pm_malloc_usable_size(blk[i]), c * 1000 + i);
    }
    for (int i = 0; i < N; i++) {
      size_t u = pm_malloc_usable_size(blk[i]);
      expect_eq(pat_bad(blk[i], u, c * 1000 + i), u);
      pm_free(blk[i]);
    }
  }
}

/* A large mapping is a whole number of chunk-map extent units (16 KiB), so
 * the map knows exactly how much of its first chunk is ours; the user
 * pointer sits one page in. */
TEST(large_usable_size_is_extent_granular) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t sizes[] = {PM_MEDIUM_MAX + 1, PM_MEDIUM_MAX + page, 200001, 1 << 20, (1 << 20) + 1, 5000017};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    char *p = pm_malloc(sizes[i]);
    require_not_null(p);
    size_t u = pm_malloc_usable_size(p);
    expect_ge(u, sizes[i]);
    expect_lt(u, sizes[i] + PM_PAGEMAP_EXTENT_UNIT);
    expect_eq(u % page, 0);
    expect_eq((u + page) % PM_PAGEMAP_EXTENT_UNIT, 0);
    pat_fill(p, u, i);
    expect_eq(pat_bad(p, u, i), u);
    pm_free(p);
  }
}

TEST(usable_size_of_null_is_zero) { expect_eq(pm_malloc_usable_size(NULL), 0); }
