/* SPDX-License-Identifier: MIT */
/* bench/gc/allocbench.c — the plain malloc/free side of the GC layer's
 * allocation benchmark (issue 4; bench/suites/gc.sh): the same batches as
 * `gcbench micro obj-alloc` (allocate 1000 blocks of 32 bytes, free them
 * all, repeat) through malloc/free.  Links no allocator: the suite runs it
 * under each allocator with LD_PRELOAD.
 *
 *   allocbench N     prints "ns_per_op=..." (one malloc + one free = 1 op)
 */
#include "graph.h"

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: allocbench N\n"); return 2; }
  enum { BATCH = 1000 };
  static void *volatile batch[BATCH];
  size_t rounds = strtoull(argv[1], NULL, 10) / BATCH;
  double t0 = graph_now();
  for (size_t r = 0; r < rounds; r++) {
    for (int i = 0; i < BATCH; i++) batch[i] = malloc(32);
    for (int i = 0; i < BATCH; i++) free(batch[i]);
  }
  double t1 = graph_now();
  printf("ns_per_op=%.4f\n", (t1 - t0) * 1e9 / (double)(rounds * BATCH));
  return 0;
}
