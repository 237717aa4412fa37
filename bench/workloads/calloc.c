/* SPDX-License-Identifier: MIT */
/* bench/workloads/calloc.c — calloc+free pairs.
 *
 * Owns: "calloc_free".  One op = calloc(1, size), read one byte per cache
 * line (so a lazily zeroed mapping pays its page faults here, as a real
 * caller would), free.  Shows whether an allocator skips the memset for
 * memory it knows is already zero (fresh mmap) and what it pays otherwise.
 */
#include <stdlib.h>

#include "harness.h"

static const long sizes[] = {64, 1024, 4096, 65536, 1048576, 0};
static const long quick_sizes[] = {64, 65536, 0};

static void *calloc_setup(long arg) { return (void *)(uintptr_t)arg; }

static void calloc_run(void *state, long n) {
  size_t size = (size_t)(uintptr_t)state;
  uintptr_t acc = 0;
  for (long i = 0; i < n; i++) {
    unsigned char *p = calloc(1, size);
    if (p == NULL) pmb_oom("calloc_free", size);
    for (size_t j = 0; j < size; j += 64) acc += p[j];
    acc += p[size - 1];
    free(p);
  }
  pmb_sink = acc;
}

static void calloc_teardown(void *state) { (void)state; }

const pmb_workload_t pmb_workload_calloc_free = {
    .name = "calloc_free",
    .doc = "calloc(1, size) + read every cache line + free",
    .args = sizes,
    .quick_args = quick_sizes,
    .batch = 1,
    .setup = calloc_setup,
    .run = calloc_run,
    .teardown = calloc_teardown,
};
