/* SPDX-License-Identifier: MIT */
/* bench/programs/larson.c — a Larson-style server simulation.
 *
 * Models: Larson & Krishnan, "Memory allocation for long-running server
 * applications" (ISMM 1998).  A server keeps a working set of blocks per
 * connection; worker threads replace random blocks with new ones of random
 * size, and connections move between threads as old workers exit and new
 * ones start.  Here: NTHREADS arrays of SLOTS blocks; in each of ROUNDS
 * rounds, NTHREADS fresh threads each take one array (array i goes to a
 * different thread number every round) and do OPS replacements: free a
 * random slot, malloc MIN..MAX bytes, write it.  So most frees hit blocks
 * allocated by a thread that has already exited: the abandoned-heap path.
 *
 * Usage: larson [threads=2] [rounds=10] [ops=200000] [slots=1000] [min=16] [max=512]
 * Prints: total bytes requested (a function of the arguments only).
 */
#include <pthread.h>
#include <string.h>

#include "prog.h"

#define PROG "larson"

typedef struct larson_arg_s {
  void **slots;
  size_t *sizes;
  long nslots, ops, min, max;
  uint64_t seed;
  unsigned long long requested;
} larson_arg_t;

static void *larson_worker(void *varg) {
  larson_arg_t *a = varg;
  bench_rng_t rng;
  bench_rng_seed(&rng, a->seed);
  unsigned long long req = 0;
  for (long i = 0; i < a->ops; i++) {
    long k = (long)bench_rng_below(&rng, (uint64_t)a->nslots);
    free(a->slots[k]);
    size_t size = (size_t)(a->min + (long)bench_rng_below(&rng, (uint64_t)(a->max - a->min + 1)));
    a->slots[k] = prog_malloc(size, PROG);
    prog_touch(a->slots[k], size, (unsigned char)i);
    a->sizes[k] = size;
    req += size;
  }
  a->requested = req;
  return NULL;
}

int main(int argc, char **argv) {
  long nthreads = prog_arg(argc, argv, 1, 2, PROG);
  long rounds = prog_arg(argc, argv, 2, 10, PROG);
  long ops = prog_arg(argc, argv, 3, 200000, PROG);
  long nslots = prog_arg(argc, argv, 4, 1000, PROG);
  long min = prog_arg(argc, argv, 5, 16, PROG);
  long max = prog_arg(argc, argv, 6, 512, PROG);
  if (max < min) prog_die(PROG, "max < min");

  larson_arg_t *args = calloc((size_t)nthreads, sizeof *args);
  pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
  if (!args || !tids) prog_die(PROG, "out of memory");
  unsigned long long total = 0;
  bench_rng_t rng;
  bench_rng_seed(&rng, 1);
  for (long t = 0; t < nthreads; t++) {
    args[t].slots = prog_malloc((size_t)nslots * sizeof(void *), PROG);
    args[t].sizes = prog_malloc((size_t)nslots * sizeof(size_t), PROG);
    args[t].nslots = nslots;
    args[t].ops = ops;
    args[t].min = min;
    args[t].max = max;
    for (long k = 0; k < nslots; k++) {
      size_t size = (size_t)(min + (long)bench_rng_below(&rng, (uint64_t)(max - min + 1)));
      args[t].slots[k] = prog_malloc(size, PROG);
      memset(args[t].slots[k], 0, size);
      args[t].sizes[k] = size;
      total += size;
    }
  }
  for (long r = 0; r < rounds; r++) {
    /* Rotate the arrays among thread numbers so a new thread frees blocks
     * that a thread of the previous round allocated and then exited. */
    for (long t = 0; t < nthreads; t++) {
      larson_arg_t *a = &args[(t + r) % nthreads];
      a->seed = (uint64_t)(r * 1000 + t + 17);
      if (pthread_create(&tids[t], NULL, larson_worker, a) != 0)
        prog_die(PROG, "pthread_create failed");
    }
    for (long t = 0; t < nthreads; t++) pthread_join(tids[t], NULL);
    for (long t = 0; t < nthreads; t++) total += args[t].requested;
  }
  for (long t = 0; t < nthreads; t++) {
    for (long k = 0; k < nslots; k++) free(args[t].slots[k]);
    free(args[t].slots);
    free(args[t].sizes);
  }
  free(args);
  free(tids);
  printf("larson: requested %llu bytes\n", total);
  return 0;
}
