/* SPDX-License-Identifier: MIT */
/* tests/unit/align.c — every power-of-two alignment from 16 B to 4 MiB.
 *
 * Through pm_aligned_alloc, pm_posix_memalign and pm_memalign, for several
 * sizes per alignment (small, medium and large blocks): the pointer is
 * aligned, the usable size covers the request, and a batch of aligned blocks
 * kept alive together holds its patterns (no overlap).  Also: plain blocks
 * are 16-aligned in every class.
 */
#include "config.h"
#include "internal.h"
#include "sizeclass.h"
#include "os.h"
#include "../tap.h"
#include "pattern.h"
#include <errno.h>

enum { NSIZES = 7, NFUN = 3 };

static void *aligned_by(int fun, size_t align, size_t size) {
  void *p = NULL;
  switch (fun) {
  case 0: return pm_aligned_alloc(align, size);
  case 1: return pm_posix_memalign(&p, align, size) == 0 ? p : NULL;
  default: return pm_memalign(align, size);
  }
}

TEST(every_power_of_two_alignment) {
  pmi_init();
  for (size_t align = 16; align <= ((size_t)4 << 20); align *= 2) {
    size_t sizes[NSIZES] = {1, 24, align - 8, align, align + 1, 3 * align + 5, 150000};
    void *blk[NFUN][NSIZES];
    for (int f = 0; f < NFUN; f++)
      for (int i = 0; i < NSIZES; i++) {
        void *p = blk[f][i] = aligned_by(f, align, sizes[i]);
        require_not_null(p);
        expect_eq((uintptr_t)p % align, 0);
        size_t u = pm_malloc_usable_size(p);
        expect_ge(u, sizes[i]);
        pat_fill(p, u, align * 31 + f * 7 + i);
      }
    for (int f = 0; f < NFUN; f++)
      for (int i = 0; i < NSIZES; i++) {
        size_t u = pm_malloc_usable_size(blk[f][i]);
        expect_eq(pat_bad(blk[f][i], u, align * 31 + f * 7 + i), u);
        if (f == 0) pm_free_aligned_sized(blk[f][i], align, sizes[i]);
        else pm_free(blk[f][i]);
      }
  }
}

TEST(many_aligned_blocks_of_one_size) {
  enum { N = 200 };
  void *v[N];
  for (size_t align = 32; align <= 65536; align *= 4) {
    for (int i = 0; i < N; i++) {
      require_not_null(v[i] = pm_aligned_alloc(align, 48));
      expect_eq((uintptr_t)v[i] % align, 0);
      pat_fill(v[i], 48, i);
    }
    for (int i = 0; i < N; i++) {
      expect_eq(pat_bad(v[i], 48, i), 48);
      pm_free(v[i]);
    }
  }
}

TEST(plain_blocks_are_16_aligned) {
  for (size_t s = 0; s <= PM_MEDIUM_MAX + 8192; s += s < 1024 ? 1 : 509) {
    void *p = pm_malloc(s);
    require_not_null(p);
    expect_eq((uintptr_t)p % 16, 0);
    pm_free(p);
  }
}

TEST(valloc_and_pvalloc_are_page_aligned) {
  size_t page = pmi_prim_page_size();
  for (size_t s = 0; s < 5 * page; s += page / 2 + 1) {
    char *p = pm_valloc(s), *q = pm_pvalloc(s);
    require_true(p && q);
    expect_eq((uintptr_t)p % page, 0);
    expect_eq((uintptr_t)q % page, 0);
    expect_ge(pm_malloc_usable_size(p), s);
    expect_ge(pm_malloc_usable_size(q), s ? pm_align_up(s, page) : page);
    pm_free(p), pm_free(q);
  }
}

TEST(bad_alignments_are_einval) {
  void *p = (void *)1;
  size_t bad[] = {0, 3, 4, 24, 48, 100, (size_t)1 << 63 | 1};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    expect_eq(pm_posix_memalign(&p, bad[i], 16), EINVAL);
    if (bad[i] == 4) continue;   /* aligned_alloc accepts small powers of two */
    errno = 0;
    expect_null(pm_aligned_alloc(bad[i], 16));
    expect_eq(errno, EINVAL);
  }
  expect_eq((uintptr_t)p, 1);   /* untouched on failure */
  void *q = pm_memalign(24, 10);   /* rounds up to 32, as glibc does */
  require_not_null(q);
  expect_eq((uintptr_t)q % 32, 0);
  pm_free(q);
}

TEST(alignments_beyond_a_chunk) {
  for (size_t align = (size_t)8 << 20; align <= ((size_t)256 << 20); align *= 4) {
    size_t sizes[] = {1, 100000, align + 1};
    for (size_t i = 0; i < 3; i++) {
      char *p = pm_aligned_alloc(align, sizes[i]);
      require_not_null(p);
      expect_eq((uintptr_t)p % align, 0);
      expect_ge(pm_malloc_usable_size(p), sizes[i]);
      pat_fill(p, sizes[i], i);
      expect_eq(pat_bad(p, sizes[i], i), sizes[i]);
      pm_free(p);
    }
  }
  pm_malloc_trim(0);
}
