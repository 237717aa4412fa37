/* SPDX-License-Identifier: MIT */
/* bench/harness.h — the tiny C harness API behind the micro benchmarks.
 *
 * Owns: the contract between one workload (plain C, one file per workload in bench/workloads/) and
 * the driver that times it (bench/micro.cc, Google Benchmark).  A workload is
 * three functions:
 *
 *     state = setup(arg)      allocate nothing the timed loop depends on
 *                             except the workload's own bookkeeping
 *     run(state, n)           perform exactly n "ops" (the unit each
 *                             workload's doc string names); n is always a
 *                             multiple of the workload's batch
 *     teardown(state)         free everything; the heap is back to how
 *                             setup() found it (nothing leaks across runs)
 *
 * Invariants:
 *   - run() is the only timed part.  ns/op = wall time of run() / n.
 *   - Each workload uses only the C library's malloc family, so the same
 *     binary measures whichever allocator is LD_PRELOADed.  Nothing here
 *     links poolmalloc (issue 3: "measured exactly as users deploy it").
 *   - Workloads are deterministic: their pseudo-random choices come from
 *     bench_rng_* (bench/rng.h) seeded with a constant, so every allocator sees the same
 *     request stream.
 *   - run() writes into every block it allocates (one byte per cache line at
 *     least) so no allocator wins by never touching memory, and feeds the
 *     result to pmb_sink so the compiler cannot drop the work.
 */
#ifndef PM_BENCH_HARNESS_H
#define PM_BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Workload descriptor --------------------------------------------- */
typedef struct pmb_workload_s {
  const char *name;         /* Google Benchmark name, e.g. "malloc_free"  */
  const char *doc;          /* what one op is, for docs/benchmarks.md     */
  const long *args;         /* 0-terminated parameter list (sizes, ...),
                               NULL for a workload without a parameter    */
  const long *quick_args;   /* subset used by --quick, NULL = args        */
  long batch;               /* run(n) gets n % batch == 0                 */
  void *(*setup)(long arg);
  void (*run)(void *state, long n);
  void (*teardown)(void *state);
} pmb_workload_t;

/* NULL-terminated table of every workload, defined in workloads/table.c. */
extern const pmb_workload_t *const pmb_workloads[];

/* ---- Helpers shared by the workloads ---------------------------------- */
/* xorshift64*: deterministic, cheap, no libc state. */

/* Touch a fresh block: one write per 64-byte line (and the last byte). */
static inline void pmb_touch(void *p, size_t size) {
  volatile unsigned char *c = (volatile unsigned char *)p;
  if (size == 0) return;
  for (size_t i = 0; i < size; i += 64) c[i] = (unsigned char)i;
  c[size - 1] = 1;
}

/* Results flow here so the optimiser keeps every allocation. */
extern volatile uintptr_t pmb_sink;

/* Abort with a message when the allocator under test returns NULL. */
void pmb_oom(const char *workload, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* PM_BENCH_HARNESS_H */
