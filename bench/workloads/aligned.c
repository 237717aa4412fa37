/* SPDX-License-Identifier: MIT */
/* bench/workloads/aligned.c — over-aligned allocation.
 *
 * Owns: "aligned_alloc".  One op = posix_memalign(&p, alignment, 1000),
 * touch, free.  The request size is fixed so the row isolates what the
 * alignment costs: 64 (a cache line, usually free), 256, 4096 (a page) and
 * 65536 (larger than most allocators' natural block alignment, forcing
 * over-allocation and trimming).
 */
#include <stdlib.h>

#include "harness.h"

#define ALIGNED_SIZE 1000

static const long alignments[] = {64, 256, 4096, 65536, 0};
static const long quick_alignments[] = {64, 4096, 0};

static void *aligned_setup(long arg) { return (void *)(uintptr_t)arg; }

static void aligned_run(void *state, long n) {
  size_t alignment = (size_t)(uintptr_t)state;
  uintptr_t acc = 0;
  for (long i = 0; i < n; i++) {
    void *p = NULL;
    if (posix_memalign(&p, alignment, ALIGNED_SIZE) != 0 || p == NULL)
      pmb_oom("aligned_alloc", ALIGNED_SIZE);
    if (((uintptr_t)p & (alignment - 1)) != 0) pmb_oom("aligned_alloc: misaligned", alignment);
    pmb_touch(p, ALIGNED_SIZE);
    acc += (uintptr_t)p;
    free(p);
  }
  pmb_sink = acc;
}

static void aligned_teardown(void *state) { (void)state; }

const pmb_workload_t pmb_workload_aligned_alloc = {
    .name = "aligned_alloc",
    .doc = "posix_memalign(alignment, 1000 B) + touch + free",
    .args = alignments,
    .quick_args = quick_alignments,
    .batch = 1,
    .setup = aligned_setup,
    .run = aligned_run,
    .teardown = aligned_teardown,
};
