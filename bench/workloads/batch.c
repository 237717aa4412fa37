/* SPDX-License-Identifier: MIT */
/* bench/workloads/batch.c — allocate N blocks, then free all N.
 *
 * Owns: "batch_lifo", "batch_fifo", "batch_random".  One op = one malloc
 * plus (later) one free; a batch is N = 1000 mallocs of the same size
 * followed by 1000 frees in last-in-first-out, first-in-first-out or a
 * fixed pseudo-random order.  LIFO is the free-list's best case, FIFO walks
 * the blocks in address order, random scatters frees across pages the way
 * a real program's object graph dies.  The random permutation is drawn once
 * in setup so the timed loop spends nothing on the RNG.
 */
#include <stdlib.h>

#include "harness.h"

#define BATCH_N 1000

enum batch_order { BATCH_LIFO, BATCH_FIFO, BATCH_RANDOM };

typedef struct batch_state_s {
  size_t size;
  enum batch_order order;
  void *blocks[BATCH_N];
  unsigned perm[BATCH_N];
} batch_state_t;

static const long sizes[] = {16, 64, 256, 1024, 8192, 0};
static const long quick_sizes[] = {64, 1024, 0};

static void *batch_setup_order(long arg, enum batch_order order) {
  batch_state_t *st = malloc(sizeof *st);
  if (st == NULL) pmb_oom("batch setup", sizeof *st);
  st->size = (size_t)arg;
  st->order = order;
  for (unsigned i = 0; i < BATCH_N; i++) st->perm[i] = i;
  if (order == BATCH_RANDOM) {
    bench_rng_t rng;
    bench_rng_seed(&rng, 42);
    for (unsigned i = BATCH_N - 1; i > 0; i--) {
      unsigned j = (unsigned)bench_rng_below(&rng, i + 1);
      unsigned t = st->perm[i];
      st->perm[i] = st->perm[j];
      st->perm[j] = t;
    }
  } else if (order == BATCH_LIFO) {
    for (unsigned i = 0; i < BATCH_N; i++) st->perm[i] = BATCH_N - 1 - i;
  }
  return st;
}

static void *batch_setup_lifo(long arg) { return batch_setup_order(arg, BATCH_LIFO); }
static void *batch_setup_fifo(long arg) { return batch_setup_order(arg, BATCH_FIFO); }
static void *batch_setup_random(long arg) { return batch_setup_order(arg, BATCH_RANDOM); }

static void batch_run(void *state, long n) {
  batch_state_t *st = state;
  uintptr_t acc = 0;
  for (long done = 0; done < n; done += BATCH_N) {
    for (unsigned i = 0; i < BATCH_N; i++) {
      void *p = malloc(st->size);
      if (p == NULL) pmb_oom("batch", st->size);
      pmb_touch(p, st->size < 64 ? st->size : 64);
      st->blocks[i] = p;
    }
    for (unsigned i = 0; i < BATCH_N; i++) {
      void *p = st->blocks[st->perm[i]];
      acc += (uintptr_t)p;
      free(p);
    }
  }
  pmb_sink = acc;
}

static void batch_teardown(void *state) { free(state); }

#define BATCH_WORKLOAD(suffix, doc_text)                \
  const pmb_workload_t pmb_workload_batch_##suffix = { \
      .name = "batch_" #suffix,                         \
      .doc = doc_text,                                  \
      .args = sizes,                                    \
      .quick_args = quick_sizes,                        \
      .batch = BATCH_N,                                 \
      .setup = batch_setup_##suffix,                    \
      .run = batch_run,                                 \
      .teardown = batch_teardown,                       \
  }

BATCH_WORKLOAD(lifo, "1000 x malloc(size), then free newest first; op = malloc+free");
BATCH_WORKLOAD(fifo, "1000 x malloc(size), then free oldest first; op = malloc+free");
BATCH_WORKLOAD(random, "1000 x malloc(size), then free in a fixed random order; op = malloc+free");
