/* SPDX-License-Identifier: MIT */
/* tests/stress/threads.c — many threads, shared blocks, exits with live blocks.
 *
 * Workers allocate blocks of mixed sizes (small, medium, some large), keep
 * some, and swap others through a shared board so that most frees happen in
 * a thread that did not allocate the block (remote frees).  Every block
 * carries its size and seed in its first 16 bytes and a pattern after them,
 * checked before every free.  Workers exit with live blocks that other,
 * newer threads (which adopt the abandoned heaps) check and free.  At the
 * end, after malloc_trim, poolmalloc's in-use count is back where it
 * started: no block was lost and none was counted twice.  Finally one thread
 * reallocs the blocks of another (exited, then still running) thread, and
 * malloc_trim / statistics run while threads allocate.
 */
#define _GNU_SOURCE 1
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poolmalloc.h>
#include "../tap.h"
#include "../unit/pattern.h"

#define NWORKERS 4
#define NBOARD 2048
#define NLOCAL 512
#define ITERS 150000

typedef struct { size_t size; uint64_t seed; } hdr_t;

static _Atomic(hdr_t *) board[NBOARD];
static hdr_t *leftover[NWORKERS][NLOCAL];
static atomic_size_t nchecked, nremote;

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  return *s = x;
}

static size_t pick_size(uint64_t r) {
  unsigned kind = r % 100;
  r >>= 8;
  if (kind < 70) return sizeof(hdr_t) + r % 497;            /* small */
  if (kind < 97) return 513 + r % (kind < 90 ? 16384 : 130000);   /* medium */
  return 131073 + r % (1 << 20);                             /* large */
}

/* Checks the whole block up to 4 KiB, then its head and tail. */
static size_t span(size_t n) { return n < 4096 ? n : 2048; }

static hdr_t *block_new(uint64_t *rng) {
  size_t size = pick_size(rng_next(rng));
  hdr_t *h = malloc(size);
  if (!h) return NULL;
  h->size = size;
  h->seed = rng_next(rng);
  size_t body = size - sizeof *h, n = span(body);
  pat_fill(h + 1, n, h->seed);
  if (n < body) pat_fill((char *)(h + 1) + body - n, n, h->seed ^ 1);
  return h;
}

static void block_check_free(hdr_t *h) {
  if (!h) return;
  size_t body = h->size - sizeof *h, n = span(body);
  expect_ge(malloc_usable_size(h), h->size);
  expect_eq(pat_bad(h + 1, n, h->seed), n);
  if (n < body) expect_eq(pat_bad((char *)(h + 1) + body - n, n, h->seed ^ 1), n);
  atomic_fetch_add_explicit(&nchecked, 1, memory_order_relaxed);
  free(h);
}

/* ---- Workers ----------------------------------------------------------------- */
static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  uint64_t rng = 0x9E3779B97F4A7C15ULL * (id + 1);
  hdr_t *local[NLOCAL] = {0};
  for (int i = 0; i < ITERS; i++) {
    uint64_t r = rng_next(&rng);
    hdr_t *b = block_new(&rng);
    expect_not_null(b);
    if (r & 1) {
      hdr_t **slot = &local[(r >> 1) % NLOCAL];
      block_check_free(*slot);
      *slot = b;
    } else {
      hdr_t *old = atomic_exchange(&board[(r >> 1) % NBOARD], b);
      if (old) atomic_fetch_add_explicit(&nremote, 1, memory_order_relaxed);
      block_check_free(old);
    }
  }
  for (int i = 0; i < NLOCAL; i++) {   /* exit with half the blocks still live */
    if (i % 2) block_check_free(local[i]);
    else leftover[id][i] = local[i];
  }
  return NULL;
}

/* A newer thread: allocates (adopting an abandoned heap), then frees the
 * blocks an exited worker left behind. */
static void *adopter(void *arg) {
  int id = (int)(intptr_t)arg;
  uint64_t rng = 12345 + id;
  hdr_t *mine[64];
  for (int i = 0; i < 64; i++) mine[i] = block_new(&rng);
  for (int w = id; w < NWORKERS; w += 2)
    for (int i = 0; i < NLOCAL; i++) block_check_free(leftover[w][i]), leftover[w][i] = NULL;
  for (int i = 0; i < 64; i++) block_check_free(mine[i]);
  return NULL;
}

static void run(void *(*fn)(void *), int n) {
  pthread_t t[NWORKERS];
  for (int i = 0; i < n; i++) require_eq(pthread_create(&t[i], NULL, fn, (void *)(intptr_t)i), 0);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
}

static size_t in_use(void) {
  pm_stats_t s;
  malloc_trim(0);
  pm_stats_get(&s);
  return s.small_allocated + s.large_allocated;
}

TEST(threads_share_blocks_and_exit_with_live_ones) {
  run(adopter, 2);   /* warm-up: thread start-up allocations are made once */
  size_t base = in_use();
  pm_stats_t s0;
  pm_stats_get(&s0);
  run(worker, NWORKERS);
  pm_stats_t s1;
  pm_stats_get(&s1);
  expect_gt(s1.nheaps, s0.nheaps);
  run(adopter, 2);
  for (int i = 0; i < NBOARD; i++) block_check_free(atomic_exchange(&board[i], NULL));
  tap_note("%zu blocks checked, %zu freed by another thread", (size_t)nchecked, (size_t)nremote);
  expect_gt(nremote, ITERS / 2);
  size_t end = in_use();
  expect_le(end, base + 4096);
  expect_ge(end + 4096, base);
}

TEST(heaps_are_reused_not_multiplied) {
  pm_stats_t s0, s1;
  pm_stats_get(&s0);
  for (int round = 0; round < 20; round++) run(adopter, 2);
  pm_stats_get(&s1);
  expect_le(s1.nheaps, s0.nheaps + 2);   /* exited threads' heaps are adopted */
}

/* ---- realloc of another thread's blocks ------------------------------------- */
enum { NCROSS = 2000 };
static hdr_t *cross[NCROSS];

static atomic_int cross_phase;   /* 1: blocks ready, 2: realloc done */

/* Allocates the blocks; with arg != NULL stays alive until they were
 * realloc'ed, so the frees of moved blocks are remote frees to a live heap. */
static void *cross_alloc(void *arg) {
  uint64_t rng = 777;
  for (int i = 0; i < NCROSS; i++) cross[i] = block_new(&rng);
  atomic_store(&cross_phase, 1);
  while (arg && atomic_load(&cross_phase) != 2) usleep(1000);
  return NULL;
}

/* Grows or shrinks every block (moving most of them: a remote free of the
 * old block) and checks what survived. */
static void *cross_realloc(void *arg) {
  for (int i = 0; i < NCROSS; i++) {
    hdr_t *h = cross[i];
    if (!h) continue;
    size_t keep = h->size - sizeof *h, n = span(keep);
    size_t nsize = i % 2 ? h->size * 2 + 100 : sizeof *h + (h->size - sizeof *h) / 3;
    uint64_t seed = h->seed;
    hdr_t *q = realloc(h, nsize);
    expect_not_null(q);
    if (!q) continue;
    size_t check = nsize - sizeof *q < n ? nsize - sizeof *q : n;
    expect_eq(pat_bad(q + 1, check, seed), check);
    q->size = nsize;
    pat_fill(q + 1, span(nsize - sizeof *q), q->seed = seed + 1);
    if (span(nsize - sizeof *q) < nsize - sizeof *q)
      pat_fill((char *)(q + 1) + (nsize - sizeof *q) - span(nsize - sizeof *q), span(nsize - sizeof *q), q->seed ^ 1);
    cross[i] = q;
  }
  return arg;
}

TEST(realloc_of_another_threads_blocks) {
  for (int stay = 0; stay < 2; stay++) {
    pthread_t a, b;
    atomic_store(&cross_phase, 0);
    require_eq(pthread_create(&a, NULL, cross_alloc, stay ? (void *)1 : NULL), 0);
    if (!stay) pthread_join(a, NULL);   /* the owner exited: its heap is abandoned */
    while (atomic_load(&cross_phase) != 1) usleep(1000);
    require_eq(pthread_create(&b, NULL, cross_realloc, NULL), 0);
    pthread_join(b, NULL);
    atomic_store(&cross_phase, 2);
    if (stay) pthread_join(a, NULL);
    for (int i = 0; i < NCROSS; i++) block_check_free(cross[i]), cross[i] = NULL;
  }
}

/* ---- trim and statistics while threads allocate ------------------------------ */
/* malloc_trim purges and unmaps while other threads take pools from the same
 * arenas; pm_stats_get and malloc_info walk pools other threads are
 * changing.  Neither may disturb a live block. */
static atomic_int churn_stop;

static void *churn(void *arg) {
  uint64_t rng = 99 + (uintptr_t)arg;
  hdr_t *live[256] = {0};
  while (!atomic_load(&churn_stop)) {
    for (int i = 0; i < 256; i++) {
      block_check_free(live[i]);
      live[i] = block_new(&rng);
    }
    for (int i = 0; i < 256; i += 2) block_check_free(live[i]), live[i] = NULL;   /* empty pools */
  }
  for (int i = 0; i < 256; i++) block_check_free(live[i]);
  return NULL;
}

/* Medium blocks of many classes, so that pools of different slot counts
 * are carved from slots that other pools left: a statistics walk that
 * counted a slot handed out but not yet made a pool read the previous
 * pool's slot count and counted more pool bytes than arenas hold (CI,
 * 8393390: 24477696 in pools of 24117248 mapped). */
static void *carve_churn(void *arg) {
  uint64_t rng = 7 + (uintptr_t)arg;
  void *live[64] = {0};
  while (!atomic_load(&churn_stop)) {
    for (int i = 0; i < 64; i++) {
      free(live[i]);
      live[i] = malloc(512 + rng_next(&rng) % 24000);
    }
    for (int i = 0; i < 64; i++) free(live[i]), live[i] = NULL;   /* every pool empties */
  }
  return NULL;
}

TEST(stats_are_one_snapshot_while_pools_are_carved) {
  pthread_t t[2];
  atomic_store(&churn_stop, 0);
  for (int i = 0; i < 2; i++) require_eq(pthread_create(&t[i], NULL, carve_churn, (void *)(intptr_t)i), 0);
  unsigned bad = 0;
  for (int round = 0; round < 200000; round++) {
    pm_stats_t s;
    pm_stats_get(&s);
    if (s.pool_in_use > s.arena_mapped || s.small_allocated + s.small_free > s.pool_in_use) {
      if (bad++ == 0) tap_note("round %d: pools %zu, mapped %zu, blocks %zu", round, s.pool_in_use, s.arena_mapped,
                               s.small_allocated + s.small_free);
    }
  }
  atomic_store(&churn_stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  expect_eq(bad, 0);
}

TEST(trim_and_stats_while_threads_allocate) {
  pthread_t t[3];
  atomic_store(&churn_stop, 0);
  for (int i = 0; i < 3; i++) require_eq(pthread_create(&t[i], NULL, churn, (void *)(intptr_t)i), 0);
  size_t before = atomic_load(&nchecked);
  for (int round = 0; round < 300; round++) {
    malloc_trim(0);
    pm_stats_t s;
    pm_stats_get(&s);
    expect_ge(s.arena_mapped, s.pool_in_use);
    FILE *f = fopen("/dev/null", "w");
    if (f) malloc_info(0, f), fclose(f);
    usleep(1000);
  }
  atomic_store(&churn_stop, 1);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  tap_note("%zu blocks checked while trimming", (size_t)(atomic_load(&nchecked) - before));
  expect_gt(atomic_load(&nchecked), before + 1000);
}
