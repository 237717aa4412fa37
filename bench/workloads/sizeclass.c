/* SPDX-License-Identifier: MIT */
/* bench/workloads/sizeclass.c — malloc+free pairs, one size per benchmark.
 *
 * Owns: the "malloc_free" workload.  One op = malloc(size), write one byte
 * per cache line, free.  The sizes walk the size classes from 8 B to 1 MiB
 * so the table shows where each allocator switches strategy (pool, page
 * run, mmap).  The hottest possible path: a single block recycled through
 * the thread cache.  Never calls anything but malloc/free.
 */
#include <stdlib.h>

#include "harness.h"

static const long sizes[] = {8,    16,    32,    64,     128,    256,     512, 1024,
                             4096, 16384, 65536, 262144, 1048576, 0};
static const long quick_sizes[] = {16, 512, 65536, 1048576, 0};

static void *sizeclass_setup(long arg) { return (void *)(uintptr_t)arg; }

static void sizeclass_run(void *state, long n) {
  size_t size = (size_t)(uintptr_t)state;
  uintptr_t acc = 0;
  for (long i = 0; i < n; i++) {
    void *p = malloc(size);
    if (p == NULL) pmb_oom("malloc_free", size);
    pmb_touch(p, size);
    acc += (uintptr_t)p;
    free(p);
  }
  pmb_sink = acc;
}

static void sizeclass_teardown(void *state) { (void)state; }

const pmb_workload_t pmb_workload_malloc_free = {
    .name = "malloc_free",
    .doc = "malloc(size) + touch + free of one block",
    .args = sizes,
    .quick_args = quick_sizes,
    .batch = 1,
    .setup = sizeclass_setup,
    .run = sizeclass_run,
    .teardown = sizeclass_teardown,
};
