/* SPDX-License-Identifier: MIT */
/* bench/programs/prog.h — shared bits of the whole-program benchmarks.
 *
 * Owns: argument parsing, the deterministic RNG and the fatal-error helper
 * used by larson.c, xmalloc.c, falseshare.c, mstress.c and textbuild.c.
 * Each program prints exactly one result line that depends only on its
 * arguments (never on timing or scheduling), so tools/bench-run can check
 * that every allocator computed the same thing.  Timing is done from the
 * outside (wait4 rusage), never here.
 */
#ifndef PM_BENCH_PROG_H
#define PM_BENCH_PROG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../rng.h"

static inline void prog_die(const char *prog, const char *what) {
  fprintf(stderr, "%s: %s\n", prog, what);
  exit(2);
}

/* argv[i] as a positive long, or dflt when absent. */
static inline long prog_arg(int argc, char **argv, int i, long dflt, const char *prog) {
  if (i >= argc) return dflt;
  char *end;
  long v = strtol(argv[i], &end, 10);
  if (*end != '\0' || v <= 0) prog_die(prog, "arguments must be positive integers");
  return v;
}

static inline void *prog_malloc(size_t size, const char *prog) {
  void *p = malloc(size);
  if (p == NULL) prog_die(prog, "out of memory");
  return p;
}


/* Write one byte per cache line so an allocation is really used. */
static inline void prog_touch(void *p, size_t size, unsigned char v) {
  unsigned char *c = p;
  for (size_t i = 0; i < size; i += 64) c[i] = v;
  c[size - 1] = v;
}

#endif /* PM_BENCH_PROG_H */
