/* SPDX-License-Identifier: MIT */
/* bench/programs/largegrow.c — the realloc probe of issue 8 §1: one buffer
 * grown by doubling with realloc from 1 MiB to MAX MiB, the new half
 * written each time; with "blockers", a 1 MiB block is allocated after
 * every step, so the buffer often cannot grow in place.  Not part of the
 * timed suite; it prints its own wall time and how often the buffer moved:
 *
 *   LD_PRELOAD=lib/.libs/libpoolmalloc.so bench/programs/largegrow 2048
 *
 * Usage: largegrow MAX_MIB [blockers]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double largegrow_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  size_t max = (size_t)(argc > 1 ? atol(argv[1]) : 512) << 20;
  int blockers = argc > 2;
  void *held[64];
  int nheld = 0, moved = 0;
  double t0 = largegrow_now();
  size_t size = (size_t)1 << 20;
  char *p = malloc(size);
  if (p == NULL) return 2;
  memset(p, 1, size);
  while (size < max) {
    size_t next = size * 2;
    char *q = realloc(p, next);
    if (q == NULL) return 2;
    moved += q != p;
    memset(q + size, 2, next - size);
    p = q, size = next;
    if (blockers && nheld < 64 && (held[nheld] = malloc((size_t)1 << 20)) != NULL) nheld++;
  }
  double t1 = largegrow_now();
  printf("largegrow: to %zu MiB%s: %.1f ms, %d moves\n", max >> 20, blockers ? " with blockers" : "",
         (t1 - t0) * 1e3, moved);
  free(p);
  for (int i = 0; i < nheld; i++) free(held[i]);
  return 0;
}
