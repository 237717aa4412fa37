/* SPDX-License-Identifier: MIT */
/* bench/workloads/churn.c — an interpreter's small-object churn.
 *
 * Owns: "interp_churn".  One op = one malloc of 16..512 B plus, sooner or
 * later, its free.  The lifetimes mimic a bytecode interpreter (CPython's
 * measurements in obmalloc's design notes: most objects die young, a few
 * live for the whole run):
 *   ~70%  temporaries: pushed on a 16-deep stack, freed within a few ops;
 *   ~25%  medium: kept in a 4096-slot ring, freed 4096 such allocations later;
 *   ~5%   long-lived: replace a random slot of a 32768-object table that
 *         setup() fills first, so the heap is fragmented and warm.
 * Sizes are skewed small (the minimum of two uniform draws, 8-byte steps),
 * as objects in an interpreter are.  The request stream is fixed by a
 * constant seed; the table is filled in setup and freed in teardown, so
 * only the steady state is timed.
 */
#include <stdlib.h>

#include "harness.h"

#define CHURN_STACK 16
#define CHURN_RING 4096
#define CHURN_TABLE 32768

typedef struct churn_state_s {
  bench_rng_t rng;
  unsigned sp;
  unsigned ring_pos;
  void *stack[CHURN_STACK];
  void *ring[CHURN_RING];
  void *table[CHURN_TABLE];
} churn_state_t;

static size_t churn_size(bench_rng_t *rng) {
  uint64_t a = bench_rng_below(rng, 63), b = bench_rng_below(rng, 63);
  return 16 + 8 * (size_t)(a < b ? a : b); /* 16..512, mostly small */
}

static void *churn_alloc(bench_rng_t *rng) {
  size_t size = churn_size(rng);
  unsigned char *p = malloc(size);
  if (p == NULL) pmb_oom("interp_churn", size);
  p[0] = (unsigned char)size; /* an object header write */
  p[size - 1] = 0;
  return p;
}

static void *churn_setup(long arg) {
  churn_state_t *st = calloc(1, sizeof *st);
  if (st == NULL) pmb_oom("churn setup", sizeof *st);
  bench_rng_seed(&st->rng, 7);
  for (unsigned i = 0; i < CHURN_TABLE; i++) st->table[i] = churn_alloc(&st->rng);
  return st;
}

static void churn_run(void *state, long n) {
  churn_state_t *st = state;
  bench_rng_t *rng = &st->rng;
  for (long i = 0; i < n; i++) {
    unsigned kind = (unsigned)bench_rng_below(rng, 100);
    void *p = churn_alloc(rng);
    if (kind < 70) {
      if (st->sp == CHURN_STACK) { /* pop a few: the expression finished */
        unsigned pop = 1 + (unsigned)bench_rng_below(rng, CHURN_STACK);
        while (pop--) free(st->stack[--st->sp]);
      }
      st->stack[st->sp++] = p;
    } else if (kind < 95) {
      unsigned slot = st->ring_pos++ % CHURN_RING;
      free(st->ring[slot]); /* free(NULL) while the ring first fills */
      st->ring[slot] = p;
    } else {
      unsigned slot = (unsigned)bench_rng_below(rng, CHURN_TABLE);
      free(st->table[slot]);
      st->table[slot] = p;
    }
  }
  pmb_sink = (uintptr_t)st->sp;
}

static void churn_teardown(void *state) {
  churn_state_t *st = state;
  while (st->sp) free(st->stack[--st->sp]);
  for (unsigned i = 0; i < CHURN_RING; i++) free(st->ring[i]);
  for (unsigned i = 0; i < CHURN_TABLE; i++) free(st->table[i]);
  free(st);
}

const pmb_workload_t pmb_workload_interp_churn = {
    .name = "interp_churn",
    .doc = "interpreter-shaped churn of 16-512 B objects, 70% temporaries, 25% medium, 5% long-lived",
    .args = NULL,
    .quick_args = NULL,
    .batch = 1,
    .setup = churn_setup,
    .run = churn_run,
    .teardown = churn_teardown,
};
