/* SPDX-License-Identifier: MIT */
/* bench/programs/mstress.c — mixed-size allocation stress with threads.
 *
 * Models: mimalloc-bench's mstress/xmalloc mix and the "mixed sizes, shared
 * ownership" pattern of real servers: all threads share one table of SLOTS
 * atomic pointers.  Each step a thread picks a random slot, swaps in a new
 * block and frees what it took out, which another thread probably
 * allocated.  Sizes are mixed: 90% 16 B..1 KiB, 9% 1..64 KiB, 1% 64 KiB..1 MiB,
 * so small pools, medium runs and mmap-backed blocks all churn together and
 * the heap's peak footprint (peak RSS) says how well an allocator reuses
 * and returns memory.
 *
 * Usage: mstress [threads=2] [iterations=500000] [slots=20000]
 *   iterations per thread.
 * Prints: total bytes requested (argument-determined).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "prog.h"

#define PROG "mstress"

static struct {
  void *_Atomic *table;
  long nslots, iterations;
} ms;

typedef struct ms_arg_s {
  uint64_t seed;
  unsigned long long requested;
} ms_arg_t;

static size_t ms_size(bench_rng_t *rng) {
  uint64_t pick = bench_rng_below(rng, 100);
  if (pick < 90) return 16 + (size_t)bench_rng_below(rng, 1024 - 16 + 1);
  if (pick < 99) return 1024 + (size_t)bench_rng_below(rng, 65536 - 1024 + 1);
  return 65536 + (size_t)bench_rng_below(rng, 1048576 - 65536 + 1);
}

static void *ms_worker(void *varg) {
  ms_arg_t *a = varg;
  bench_rng_t rng;
  bench_rng_seed(&rng, a->seed);
  unsigned long long req = 0;
  for (long i = 0; i < ms.iterations; i++) {
    size_t size = ms_size(&rng);
    void *p = prog_malloc(size, PROG);
    prog_touch(p, size < 4096 ? size : 4096, (unsigned char)i);
    req += size;
    long k = (long)bench_rng_below(&rng, (uint64_t)ms.nslots);
    free(atomic_exchange_explicit(&ms.table[k], p, memory_order_acq_rel));
  }
  a->requested = req;
  return NULL;
}

int main(int argc, char **argv) {
  long nthreads = prog_arg(argc, argv, 1, 2, PROG);
  ms.iterations = prog_arg(argc, argv, 2, 500000, PROG);
  ms.nslots = prog_arg(argc, argv, 3, 20000, PROG);
  ms.table = calloc((size_t)ms.nslots, sizeof *ms.table);
  pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
  ms_arg_t *args = calloc((size_t)nthreads, sizeof *args);
  if (!ms.table || !tids || !args) prog_die(PROG, "out of memory");
  for (long t = 0; t < nthreads; t++) {
    args[t].seed = (uint64_t)t * 31 + 3;
    if (pthread_create(&tids[t], NULL, ms_worker, &args[t]) != 0) prog_die(PROG, "pthread_create failed");
  }
  unsigned long long total = 0;
  for (long t = 0; t < nthreads; t++) {
    pthread_join(tids[t], NULL);
    total += args[t].requested;
  }
  for (long k = 0; k < ms.nslots; k++) free(atomic_load(&ms.table[k]));
  free((void *)ms.table);
  free(tids);
  free(args);
  printf("mstress: requested %llu bytes\n", total);
  return 0;
}
