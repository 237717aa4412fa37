/* SPDX-License-Identifier: MIT */
/* bench/icount/ops.c — the fast-path operations whose cost `make bench-icount`
 * counts in instructions (tools/bench-icount runs this under callgrind).
 *
 *   ops OP N    does N repetitions of OP with callgrind's collection on
 *               only around them (CALLGRIND_TOGGLE_COLLECT; the runner
 *               passes --collect-atstart=no), so set-up is not counted;
 *               the runner runs N and 2N and divides the difference by N,
 *               which leaves out everything that does not grow with N.
 *
 * OP is one of the rows of docs/benchmarks.md, "Instruction counts":
 *   pair16        malloc(16) + free, another 16-byte block live
 *   pair2048      malloc(2048) + free (a medium class), another one live
 *   calloc64      calloc(1, 64) + free
 *   realloc       malloc(32), realloc to 200 (moves to another class), free
 *   regrow        realloc of one block within its class (97..112 bytes: in
 *                 place), as a text builder growing a string does
 *   batch2048     1000 x malloc(2048), then 1000 x free (per block)
 *   remote64      a block malloc'ed by this thread, freed by another
 *                 (the freeing thread's cost: the remote free)
 *   owner64       the same, the owner's cost: its malloc that drains them
 *   pair256k      malloc(256 KiB) + free (a large block)
 * Written against the C library's names, so any allocator can be
 * preloaded; links nothing of ours.  -fno-builtin keeps GCC from deleting
 * the pairs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

static void *volatile sink;

static void ops_pair(long n, size_t size) {
  void *keep = malloc(size);
  CALLGRIND_TOGGLE_COLLECT;
  for (long i = 0; i < n; i++) {
    void *p = malloc(size);
    sink = p;
    free(p);
  }
  CALLGRIND_TOGGLE_COLLECT;
  free(keep);
}

static void ops_calloc(long n) {
  CALLGRIND_TOGGLE_COLLECT;
  for (long i = 0; i < n; i++) {
    void *p = calloc(1, 64);
    sink = p;
    free(p);
  }
  CALLGRIND_TOGGLE_COLLECT;
}

static void ops_realloc(long n) {
  CALLGRIND_TOGGLE_COLLECT;
  for (long i = 0; i < n; i++) {
    void *p = malloc(32);
    p = realloc(p, 200);
    sink = p;
    free(p);
  }
  CALLGRIND_TOGGLE_COLLECT;
}

static void ops_regrow(long n) {
  void *p = malloc(97);
  CALLGRIND_TOGGLE_COLLECT;
  for (long i = 0; i < n; i++) p = realloc(p, 97 + (size_t)(i & 15));
  CALLGRIND_TOGGLE_COLLECT;
  sink = p;
  free(p);
}

static void ops_batch(long n) {
  static void *v[1000];
  long rounds = n / 1000 > 0 ? n / 1000 : 1;
  CALLGRIND_TOGGLE_COLLECT;
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < 1000; i++) v[i] = malloc(2048);
    for (int i = 0; i < 1000; i++) free(v[i]);
  }
  CALLGRIND_TOGGLE_COLLECT;
}

/* ---- Cross-thread ----------------------------------------------------------- */
static void **xblocks;
static long xn;
static int xcount_frees;   /* the freeing thread toggles collection */

static void *ops_freer(void *arg) {
  if (xcount_frees) CALLGRIND_TOGGLE_COLLECT;
  for (long i = 0; i < xn; i++) free(xblocks[i]);
  if (xcount_frees) CALLGRIND_TOGGLE_COLLECT;
  return arg;
}

static void ops_alloc_all(int counted) {
  if (counted) CALLGRIND_TOGGLE_COLLECT;
  for (long i = 0; i < xn; i++) xblocks[i] = malloc(64);
  if (counted) CALLGRIND_TOGGLE_COLLECT;
}

static void ops_free_remotely(int counted) {
  pthread_t t;
  xcount_frees = counted;
  if (pthread_create(&t, NULL, ops_freer, NULL) != 0) exit(2);
  pthread_join(t, NULL);
}

/* Two warm-up rounds (pools exist, heaps are set up), then the counted one:
 * the remote frees (remote64), or the owner's mallocs right after them,
 * which take the freed blocks back (owner64). */
static void ops_cross(long n, int count_frees) {
  xn = n;
  xblocks = malloc((size_t)n * sizeof *xblocks);
  for (int round = 0; round < 2; round++) {
    ops_alloc_all(0);
    ops_free_remotely(0);
  }
  ops_alloc_all(0);
  ops_free_remotely(count_frees);
  if (!count_frees) ops_alloc_all(1);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ops OP N\n");
    return 2;
  }
  const char *op = argv[1];
  long n = atol(argv[2]);
  if (!strcmp(op, "pair16")) ops_pair(n, 16);
  else if (!strcmp(op, "pair2048")) ops_pair(n, 2048);
  else if (!strcmp(op, "calloc64")) ops_calloc(n);
  else if (!strcmp(op, "realloc")) ops_realloc(n);
  else if (!strcmp(op, "regrow")) ops_regrow(n);
  else if (!strcmp(op, "batch2048")) ops_batch(n);
  else if (!strcmp(op, "remote64")) ops_cross(n, 1);
  else if (!strcmp(op, "owner64")) ops_cross(n, 0);
  else if (!strcmp(op, "pair256k")) ops_pair(n, 256 << 10);
  else {
    fprintf(stderr, "ops: unknown operation %s\n", op);
    return 2;
  }
  return 0;
}
