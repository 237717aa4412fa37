/* SPDX-License-Identifier: MIT */
/* tests/misuse/delayed_reuse.c — a freed block must not come straight back
 * (the secure library's quarantine and shuffled carving; docs/security.md,
 * "Delayed reuse").  Usage: delayed_reuse SIZE.  Two measurements:
 *   adjacent  in a fresh heap, 200 blocks of SIZE in a row: how many come
 *             at the previous one's address plus the first stride;
 *   reuse     after 1000 blocks of SIZE were allocated and freed (so their
 *             pool's free blocks are all on free lists), 1000 times:
 *             p = malloc(SIZE); free(p); q = malloc(SIZE); free(q), counting
 *             q == p (a use after free of p landing in q).
 * Prints both counts; exits 0 when no block came straight back and fewer
 * than half of the new blocks were adjacent, 3 otherwise. */
#include "misuse.h"
#include <malloc.h>

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
  static char *run[200];
  for (int i = 0; i < 200; i++) run[i] = malloc(size);
  ptrdiff_t stride = run[1] - run[0];
  int adjacent = 0;
  for (int i = 1; i < 200; i++) adjacent += run[i] - run[i - 1] == stride;
  for (int i = 0; i < 200; i++) free(run[i]);
  static char *warm[1000];
  for (int i = 0; i < 1000; i++) warm[i] = malloc(size);
  for (int i = 999; i >= 0; i--) free(warm[i]);
  int reused = 0;
  for (int i = 0; i < 1000; i++) {
    void *p = malloc(size);
    free(p);
    void *q = malloc(size);
    reused += q == p;
    free(q);
  }
  printf("reused %d of 1000, adjacent %d of 199\n", reused, adjacent);
  return reused == 0 && adjacent < 100 ? 0 : misuse_not_detected();
}
