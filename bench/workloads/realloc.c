/* SPDX-License-Identifier: MIT */
/* bench/workloads/realloc.c — growing one buffer from 1 B to 1 MiB.
 *
 * Owns: "realloc_double" and "realloc_add16".  One op = one realloc call.
 * A chain starts with malloc(1), grows to 1 MiB either by doubling (21
 * calls) or by +16 bytes a step (65536 calls, the pattern of naive string
 * and vector building), writes the newly added bytes after every step, and
 * frees the buffer; the batch is one whole chain.  Rewards in-place growth
 * and mremap for large blocks; punishes allocators that copy every time.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define REALLOC_MAX ((size_t)1 << 20)

typedef struct realloc_state_s {
  size_t step; /* 0 = doubling, else the additive step */
} realloc_state_t;

static realloc_state_t state_double = {0};
static realloc_state_t state_add16 = {16};

static void *realloc_setup_double(long arg) { return &state_double; }
static void *realloc_setup_add16(long arg) { return &state_add16; }

static void realloc_chain(size_t step) {
  size_t size = 1;
  unsigned char *p = malloc(size);
  if (p == NULL) pmb_oom("realloc", size);
  p[0] = 1;
  while (size < REALLOC_MAX) {
    size_t next = step ? size + step : size * 2;
    if (step && size == 1) next = 16; /* 1, 16, 32, ...: 65536 calls */
    unsigned char *q = realloc(p, next);
    if (q == NULL) pmb_oom("realloc", next);
    memset(q + size, (int)(next & 0xff), next - size);
    p = q;
    size = next;
  }
  pmb_sink = (uintptr_t)p + p[size - 1];
  free(p);
}

static void realloc_run(void *state, long n) {
  realloc_state_t *st = state;
  long per_chain = st->step ? (long)(REALLOC_MAX / st->step) : 20;
  for (long done = 0; done < n; done += per_chain) realloc_chain(st->step);
}

static void realloc_teardown(void *state) { (void)state; }

const pmb_workload_t pmb_workload_realloc_double = {
    .name = "realloc_double",
    .doc = "realloc a buffer 1 B -> 1 MiB by doubling, writing the new part; op = one realloc",
    .args = NULL,
    .quick_args = NULL,
    .batch = 20,
    .setup = realloc_setup_double,
    .run = realloc_run,
    .teardown = realloc_teardown,
};

const pmb_workload_t pmb_workload_realloc_add16 = {
    .name = "realloc_add16",
    .doc = "realloc a buffer 1 B -> 1 MiB in +16 B steps, writing the new part; op = one realloc",
    .args = NULL,
    .quick_args = NULL,
    .batch = (long)(REALLOC_MAX / 16),
    .setup = realloc_setup_add16,
    .run = realloc_run,
    .teardown = realloc_teardown,
};
