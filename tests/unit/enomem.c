/* SPDX-License-Identifier: MIT */
/* tests/unit/enomem.c — out of memory through the os.c fault seam.
 *
 * pmi_os_fail_next(n) makes the next n OS mappings fail.  Every entry point
 * that needs new memory must then return NULL (or ENOMEM from
 * posix_memalign) with errno == ENOMEM, leave existing blocks intact, and
 * work again once mappings succeed.
 */
#define PM_FAULT_SEAM 1
#include "config.h"
#include "internal.h"
#include "sizeclass.h"
#include "os.h"
#include "../tap.h"
#include "pattern.h"
#include <errno.h>
#include <stdlib.h>

TEST(large_requests_fail_when_mmap_fails) {
  pmi_init();
  pm_free(pm_malloc(1));   /* the heap exists before faults start */
  pm_malloc_trim(0);   /* no large region left: the next large block needs mmap */
  void *p = NULL;
  /* Every mapping fails: a large request tries a whole region, then just
   * the chunks it needs (issue 8 §1), and both must fail. */
  pmi_os_fail_next(1 << 30);
  errno = 0;
  expect_null(pm_malloc((size_t)2 << 20));
  expect_eq(errno, ENOMEM);
  errno = 0;
  expect_null(pm_calloc(1, (size_t)2 << 20));
  expect_eq(errno, ENOMEM);
  expect_eq(pm_posix_memalign(&p, 4096, (size_t)2 << 20), ENOMEM);
  errno = 0;
  expect_null(pm_aligned_alloc((size_t)2 << 20, (size_t)2 << 20));
  expect_eq(errno, ENOMEM);
  pmi_os_fail_next(0);
  p = pm_malloc((size_t)2 << 20);   /* mappings work again */
  expect_not_null(p);
  pm_free(p);
}

TEST(realloc_into_the_large_path_fails_cleanly) {
  pm_malloc_trim(0);
  char *p = pm_malloc(1000);
  require_not_null(p);
  pat_fill(p, 1000, 4);
  pmi_os_fail_next(4);
  errno = 0;
  expect_null(pm_realloc(p, (size_t)8 << 20));
  expect_eq(errno, ENOMEM);
  pmi_os_fail_next(0);
  expect_eq(pat_bad(p, 1000, 4), 1000);
  pm_free(p);
}

/* Small blocks need a new arena only once the mapped ones are full: fill
 * until malloc fails, which must happen (bounded), cleanly, with ENOMEM. */
TEST(small_requests_fail_when_no_arena_can_be_mapped) {
  enum { CAP = 1 << 21 };
  void **blk = calloc(CAP, sizeof *blk);
  require_not_null(blk);
  pm_malloc_trim(0);
  void *first = pm_malloc(48);   /* an arena with free slots exists */
  require_not_null(first);
  pmi_os_fail_next(1 << 30);
  size_t n = 0;
  errno = 0;
  while (n < CAP && (blk[n] = pm_malloc(48)) != NULL) pat_fill(blk[n], 48, n), n++;
  expect_gt(n, 1000);   /* the mapped arena's slots were used first */
  expect_lt(n, CAP);
  expect_eq(errno, ENOMEM);
  errno = 0;
  expect_null(pm_malloc(48));   /* still failing, still clean */
  expect_eq(errno, ENOMEM);
  errno = 0;
  expect_null(pm_malloc(70000));   /* medium pools need arena slots too */
  expect_eq(errno, ENOMEM);
  pmi_os_fail_next(0);
  void *more = pm_malloc(48);
  expect_not_null(more);
  pm_free(more);
  for (size_t i = 0; i < n; i++) {
    expect_eq(pat_bad(blk[i], 48, i), 48);
    pm_free(blk[i]);
  }
  pm_free(first);
  free(blk);
  tap_note("%zu blocks of 48 bytes before ENOMEM", n);
}
