/* SPDX-License-Identifier: MIT */
/* tests/stress/large.c — threads churning large blocks (issue 8 §1).
 *
 * Workers swap large blocks (128 KiB .. 1 MiB, the thread-cache sizes, and
 * 1 .. 16 MiB, region spans) through a shared board, so most blocks are
 * freed by a thread that did not allocate them; they also realloc blocks
 * they take off the board (growing and shrinking in place, or moving; one
 * realloc in 20 to 32-48 MiB, which moves a block into a mapping of its
 * own and grows and shrinks it with mremap),
 * calloc some (which must read as zero wherever they are reused from),
 * and now and then call malloc_trim and read the statistics while the
 * others work.  Workers exit and new ones start (each exit flushes that
 * thread's cache).  Every block carries its size and seed in its first 16
 * bytes and a pattern at every 4 KiB and in its last 64 bytes, checked
 * before it is freed or reallocated.  At the end, after every worker has
 * exited and the main thread trims, no large block is live or cached.
 *
 * Environment: PM_STRESS_SECONDS (default 2), PM_STRESS_THREADS (default
 * 4); for a soak, e.g. PM_STRESS_SECONDS=300 tests/stress/large.
 */
#define _GNU_SOURCE 1
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poolmalloc.h>
#define TAP_NO_MAIN 1
#include "../tap.h"

#define NBOARD 48
#define STRIDE 4096

typedef struct { size_t size; uint64_t seed; } blk_t;

static _Atomic(blk_t *) board[NBOARD];
static atomic_long nops, nbad, nmoved, nfreed_remote;

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  return *s = x;
}

static size_t pick_size(uint64_t r) {
  if (r % 10 < 6) return (128 << 10) + 1 + (size_t)(r >> 8) % (896 << 10);
  return ((size_t)1 << 20) + (size_t)(r >> 8) % ((size_t)15 << 20);
}

static unsigned char pat(uint64_t seed, size_t i) { return (unsigned char)((seed >> (i % 56)) ^ (i / STRIDE)); }

static void blk_fill(blk_t *b, size_t size, uint64_t seed) {
  b->size = size;
  b->seed = seed;
  unsigned char *c = (unsigned char *)b;
  for (size_t i = STRIDE; i < size; i += STRIDE) c[i] = pat(seed, i);
  for (size_t i = size - 64; i < size; i++) c[i] = pat(seed, i);
}

/* Checks the first n bytes' pattern (n <= the block's size). */
static int blk_ok(const blk_t *b, size_t n) {
  const unsigned char *c = (const unsigned char *)b;
  for (size_t i = STRIDE; i < n - 64; i += STRIDE)
    if (c[i] != pat(b->seed, i)) return 0;
  if (n == b->size)
    for (size_t i = n - 64; i < n; i++)
      if (c[i] != pat(b->seed, i)) return 0;
  return 1;
}

static void blk_free(blk_t *b) {
  if (b == NULL) return;
  if (!blk_ok(b, b->size)) atomic_fetch_add(&nbad, 1);
  free(b);
}

static int zero_sampled(const unsigned char *c, size_t size) {
  for (size_t i = 0; i < size; i += STRIDE / 2)
    if (c[i] != 0) return 0;
  return c[size - 1] == 0;
}

static void *worker(void *arg) {
  uint64_t rng = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < 400; i++) {
    uint64_t r = rng_next(&rng);
    unsigned op = r % 100;
    size_t k = (size_t)(r >> 32) % NBOARD;
    if (op < 60) {                             /* replace a slot's block */
      size_t size = pick_size(rng_next(&rng));
      blk_t *b;
      if (op < 10) {
        b = calloc(1, size);
        if (b != NULL && !zero_sampled((unsigned char *)b, size)) atomic_fetch_add(&nbad, 1);
      } else {
        b = malloc(size);
      }
      if (b == NULL) continue;
      blk_fill(b, size, rng_next(&rng));
      blk_t *old = atomic_exchange(&board[k], b);
      if (old != NULL) atomic_fetch_add(&nfreed_remote, 1);
      blk_free(old);
    } else if (op < 90) {                      /* realloc a block taken off the board */
      blk_t *b = atomic_exchange(&board[k], NULL);
      if (b == NULL) continue;
      uint64_t rr = rng_next(&rng);   /* 1 in 20: 32-48 MiB, a mapping of its own */
      size_t size = rr % 20 == 0 ? ((size_t)32 << 20) + (size_t)(rr >> 8) % ((size_t)16 << 20) : pick_size(rr >> 5);
      size_t keep = size < b->size ? size : b->size;
      if (!blk_ok(b, keep < 128 ? b->size : keep)) atomic_fetch_add(&nbad, 1);
      uint64_t seed = b->seed;
      blk_t *q = realloc(b, size);
      if (q == NULL) {
        blk_free(b);
        continue;
      }
      if (q != b) atomic_fetch_add(&nmoved, 1);
      if (q->seed != seed || !blk_ok(q, keep)) atomic_fetch_add(&nbad, 1);
      blk_fill(q, size, rng_next(&rng));
      blk_free(atomic_exchange(&board[k], q));
    } else if (op < 99) {                      /* a short-lived block of this thread */
      size_t size = pick_size(rng_next(&rng));
      blk_t *b = malloc(size);
      if (b == NULL) continue;
      blk_fill(b, size, rng_next(&rng));
      blk_free(b);
    } else if ((r >> 20) % 8 == 0) {           /* rarely: trim while others work */
      malloc_trim(0);
    } else {
      pm_stats_t s;
      pm_stats_get(&s);
    }
    atomic_fetch_add(&nops, 1);
  }
  return NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double seconds = 2;
static int nthreads = 4;

TEST(threads_churn_large_blocks_and_nothing_is_lost) {
  pm_stats_t s0, s1;
  malloc_trim(0);
  pm_stats_get(&s0);
  double end = now_s() + seconds;
  long rounds = 0;
  while (now_s() < end) {                      /* generations of workers */
    pthread_t t[64];
    for (int i = 0; i < nthreads; i++)
      require_eq(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(rounds * 64 + i + 1)), 0);
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    rounds++;
  }
  for (int k = 0; k < NBOARD; k++) blk_free(atomic_exchange(&board[k], NULL));
  expect_eq(atomic_load(&nbad), 0);
  tap_note("%ld ops in %ld rounds of %d threads, %ld frees of another thread's block, %ld moves",
           atomic_load(&nops), rounds, nthreads, atomic_load(&nfreed_remote), atomic_load(&nmoved));
  malloc_trim(0);
  pm_stats_get(&s1);
  expect_eq(s1.nlarge, s0.nlarge);
  expect_eq(s1.large_allocated, s0.large_allocated);
  expect_eq(s1.large_cached, 0);   /* every worker's cache was flushed at its exit */
  expect_gt(atomic_load(&nops), 1000);
}

int main(int argc, char **argv) {
  const char *sec = getenv("PM_STRESS_SECONDS"), *thr = getenv("PM_STRESS_THREADS");
  if (sec != NULL) seconds = atof(sec);
  if (thr != NULL) nthreads = atoi(thr);
  if (nthreads < 1 || nthreads > 64) nthreads = 4;
  return tap_main(argc, argv);
}
