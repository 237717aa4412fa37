/* SPDX-License-Identifier: MIT */
/* tests/stress/mapping_race.c — valid programs that race large mappings
 * against each other (issue 7 §1).
 *
 * Each case runs a four-thread workload in a fresh process (this program,
 * re-executed with --workload NAME) for PM_RACE_SECONDS (5 by default) and
 * requires it to exit 0: a poolmalloc abort ("invalid free of 0x… (not
 * allocated by poolmalloc)" on the user pointer of a large mapping, as on
 * 5802951/c6a47e2) or a lost byte is a failed case, reported with the
 * signal and the time it took.  Each workload runs twice: with the default
 * options, and with POOLMALLOC_LARGE_CACHE_MB=0, where every large malloc
 * maps and every large free unmaps, so new mappings meet the addresses
 * that realloc's moves give up far more often (the default cache serves
 * most 300 KB requests from mappings freed earlier).
 *
 *   realloc_moves_race_new_mappings  the program: two threads loop
 *       p = malloc(150000..650000); keep = malloc(200000);
 *       p = realloc(p, 1..3 MB); free(keep); free(p);
 *     two loop q = malloc(300000); memset(q, 1, 64); free(q).
 *     realloc moves mappings with mremap while the other threads map and
 *     unmap 300 KB blocks: a chunk-map update that lags behind the mapping
 *     it describes loses the mark of another thread's new block.
 *   mixed_api_large_mappings  four threads, eight slots each plus a shared
 *     exchange: malloc across the 128 KiB threshold, posix_memalign /
 *     aligned_alloc / memalign with 128 KiB .. 1 MiB alignment, realloc
 *     growing to 4 MiB and shrinking back below 128 KiB, frees by the
 *     allocating thread and by others.
 * Every block carries a pattern keyed by its address in its first and last
 * 64 bytes, checked before each free and across each realloc.
 */
#define _GNU_SOURCE 1
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#define TAP_NO_MAIN 1
#include "../tap.h"

static double race_seconds = 5;
static struct timespec race_start;

static double race_elapsed(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - race_start.tv_sec) + (double)(now.tv_nsec - race_start.tv_nsec) / 1e9;
}

static int race_over(void) { return race_elapsed() >= race_seconds; }

static uint64_t race_rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  return *s = x;
}

/* ---- Marks: 64 bytes at each end, keyed by the block's first address ---- */
static void mark(unsigned char *p, size_t n, uint64_t key) {
  for (size_t i = 0; i < 64 && i < n; i++) p[i] = (unsigned char)(key >> (i % 8 * 8)) ^ (unsigned char)i;
  for (size_t i = n > 64 ? n - 64 : n; i < n; i++) p[i] = (unsigned char)(key >> (i % 8 * 8)) ^ (unsigned char)(i * 7);
}

/* 0 if the marks of an n-byte block are intact in its first `keep` bytes. */
static int mark_bad(const unsigned char *p, size_t n, size_t keep, uint64_t key) {
  for (size_t i = 0; i < 64 && i < n && i < keep; i++)
    if (p[i] != ((unsigned char)(key >> (i % 8 * 8)) ^ (unsigned char)i)) return 1;
  for (size_t i = n > 64 ? n - 64 : n; i < n && i < keep; i++)
    if (p[i] != ((unsigned char)(key >> (i % 8 * 8)) ^ (unsigned char)(i * 7))) return 1;
  return 0;
}

static void lost(const char *what, const void *p, size_t n) {
  fprintf(stderr, "mapping_race: %s: block %p (%zu bytes) lost its contents\n", what, p, n);
  _exit(1);
}

/* One step of the realloc workloads: an n-byte block, a block of `after`
 * bytes allocated after it (so it often cannot grow in place), the first
 * grown to m bytes by realloc and its marks checked, both freed. */
static void grow_past(size_t n, size_t after, size_t m, const char *what) {
  unsigned char *p = malloc(n), *keep = malloc(after);
  if (!p || !keep) lost("malloc returned NULL", p, n);
  uint64_t key = (uintptr_t)p;
  mark(p, n, key);
  memset(keep, 2, 64);
  unsigned char *q = realloc(p, m);
  if (!q) lost("realloc returned NULL", p, m);
  if (mark_bad(q, n, n, key)) lost(what, q, n);
  free(keep);
  free(q);
}

/* ---- The program --------------------------------------------------- */
static void *realloc_worker(void *arg) {
  uint64_t rng = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1);
  while (!race_over()) {
    size_t n = 150000 + race_rand(&rng) % 500001;
    grow_past(n, 200000, 1000000 + race_rand(&rng) % 2000001, "realloc");
  }
  return NULL;
}

static void *malloc_worker(void *arg) {
  (void)arg;
  while (!race_over()) {
    unsigned char *q = malloc(300000);
    if (!q) lost("malloc returned NULL", q, 300000);
    memset(q, 1, 64);
    free(q);
  }
  return NULL;
}

static void realloc_program(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    if (pthread_create(&t[i], NULL, i < 2 ? realloc_worker : malloc_worker, (void *)(uintptr_t)i) != 0) _exit(2);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
}

/* ---- Moves out of a region --------------------------------------------------
 * Blocks of 33..40 MiB with a 1 MiB block after them, grown by realloc to
 * 64..100 MiB: they cannot grow in place, so their pages move out of their
 * region (large.c, large_region_move_out: two mremaps through a mapping of
 * their own size) while another thread maps and unmaps memory of its own
 * wherever the kernel puts it, and a third allocates. */
static void *moveout_worker(void *arg) {
  uint64_t rng = 0xD1B54A32D192ED03ULL * ((uintptr_t)arg + 1);
  while (!race_over()) {
    size_t n = ((size_t)33 << 20) + race_rand(&rng) % ((size_t)7 << 20);
    grow_past(n, (size_t)1 << 20, ((size_t)64 << 20) + race_rand(&rng) % ((size_t)36 << 20), "realloc out of a region");
  }
  return NULL;
}

static void *mmap_worker(void *arg) {
  uint64_t rng = 0xA0761D6478BD642FULL * ((uintptr_t)arg + 1);
  while (!race_over()) {
    size_t n = ((size_t)1 + race_rand(&rng) % 8) << 20;
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) continue;
    p[0] = 1;
    munmap(p, n);
  }
  return NULL;
}

static void moveout_program(void) {
  pthread_t t[4];
  void *(*fn[4])(void *) = {moveout_worker, moveout_worker, mmap_worker, malloc_worker};
  for (int i = 0; i < 4; i++)
    if (pthread_create(&t[i], NULL, fn[i], (void *)(uintptr_t)i) != 0) _exit(2);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
}

/* ---- The mixed-API workload ------------------------------------------------ */
#define MIX_SLOTS 8
#define MIX_SHARED 16
typedef struct { unsigned char *p; size_t n; uint64_t key; } mix_block_t;
static mix_block_t *_Atomic mix_shared[MIX_SHARED];

static void mix_free(mix_block_t *b) {
  if (mark_bad(b->p, b->n, b->n, b->key)) lost("before free", b->p, b->n);
  free(b->p);
  b->p = NULL;
}

static unsigned char *mix_alloc(uint64_t *rng, size_t *n) {
  uint64_t r = race_rand(rng);
  size_t align = (size_t)128 << 10 << (r % 4);                  /* 128 KiB .. 1 MiB */
  *n = 64000 + (size_t)((r >> 8) % 2000000);                   /* across 128 KiB */
  void *p = NULL;
  switch ((r >> 40) % 4) {
  case 0: p = malloc(*n); break;
  case 1: if (posix_memalign(&p, align, *n) != 0) p = NULL; break;
  case 2: p = aligned_alloc(align, *n); break;
  default: p = memalign(align, *n); break;
  }
  if (p == NULL) lost("allocation returned NULL", p, *n);
  if ((r >> 40) % 4 != 0 && (uintptr_t)p % align != 0) {
    fprintf(stderr, "mapping_race: %p is not aligned to %zu\n", p, align);
    _exit(1);
  }
  return p;
}

static void *mix_worker(void *arg) {
  uint64_t rng = 0xD1B54A32D192ED03ULL * ((uintptr_t)arg + 1);
  mix_block_t slot[MIX_SLOTS] = {{0}};
  while (!race_over()) {
    uint64_t r = race_rand(&rng);
    mix_block_t *b = &slot[r % MIX_SLOTS];
    unsigned op = (unsigned)((r >> 8) % 10);
    if (b->p == NULL) {
      b->p = mix_alloc(&rng, &b->n);
      b->key = (uintptr_t)b->p;
      mark(b->p, b->n, b->key);
    } else if (op < 4) {                                       /* realloc: grow, or shrink below 128 KiB */
      size_t m = op < 3 ? b->n + b->n / 2 + (size_t)((r >> 16) % (3u << 20)) : 1000 + (size_t)((r >> 16) % 120000);
      if (m > (size_t)4 << 20) m = (size_t)4 << 20;
      unsigned char *q = realloc(b->p, m);
      if (!q) lost("realloc returned NULL", b->p, m);
      if (mark_bad(q, b->n, m, b->key)) lost("realloc", q, b->n);
      b->p = q, b->n = m, b->key = (uintptr_t)q;
      mark(q, m, b->key);
    } else if (op < 7) {
      mix_free(b);
    } else {                                                   /* hand it to another thread */
      mix_block_t *h = malloc(sizeof *h);
      if (!h) lost("malloc returned NULL", h, sizeof *h);
      *h = *b;
      b->p = NULL;
      h = atomic_exchange(&mix_shared[(r >> 16) % MIX_SHARED], h);
      if (h != NULL) {
        mix_free(h);
        free(h);
      }
    }
  }
  for (int i = 0; i < MIX_SLOTS; i++)
    if (slot[i].p) mix_free(&slot[i]);
  return NULL;
}

static void mixed_program(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    if (pthread_create(&t[i], NULL, mix_worker, (void *)(uintptr_t)i) != 0) _exit(2);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < MIX_SHARED; i++) {
    mix_block_t *h = atomic_exchange(&mix_shared[i], NULL);
    if (h) {
      mix_free(h);
      free(h);
    }
  }
}

/* ---- Running a workload in a fresh process ------------------------------- */
static const struct { const char *name; void (*program)(void); } workloads[] = {
    {"realloc", realloc_program},
    {"mixed", mixed_program},
    {"moveout", moveout_program},
};

/* Runs workload `name` in this program re-executed, with the large-mapping
 * cache off if asked (options are read once, at start-up). */
static void run_child(const char *name, int no_cache) {
#ifdef __SANITIZE_THREAD__
  /* With no cache every large free is an munmap; ThreadSanitizer's shadow
   * of that churn runs out of mappings ("failed to deallocate ... unable to
   * unmap", errno ENOMEM) long before the allocator does. */
  skip_if(no_cache, "ThreadSanitizer cannot shadow this much mmap/munmap churn");
#endif
  fflush(stdout);
  fflush(stderr);
  clock_gettime(CLOCK_MONOTONIC, &race_start);
  pid_t pid = fork();
  require_true(pid >= 0);
  if (pid == 0) {
    if (no_cache) setenv("POOLMALLOC_LARGE_CACHE_MB", "0", 1);
    execl("/proc/self/exe", "mapping_race", "--workload", name, (char *)NULL);
    _exit(2);
  }
  int status;
  require_eq(waitpid(pid, &status, 0), pid);
  double took = race_elapsed();
  if (WIFSIGNALED(status))
    tap_note("%s: killed by signal %d (%s) after %.2f s", tap_current, WTERMSIG(status), strsignal(WTERMSIG(status)),
             took);
  else if (WEXITSTATUS(status) != 0)
    tap_note("%s: exit status %d after %.2f s", tap_current, WEXITSTATUS(status), took);
  else
    tap_note("%s: ran %.2f s without a fault", tap_current, took);
  expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(realloc_moves_race_new_mappings) { run_child("realloc", 0); }
TEST(realloc_moves_race_new_mappings_without_cache) { run_child("realloc", 1); }
TEST(mixed_api_large_mappings) { run_child("mixed", 0); }
TEST(mixed_api_large_mappings_without_cache) { run_child("mixed", 1); }
TEST(moves_out_of_regions_race_other_mappings) { run_child("moveout", 0); }

int main(int argc, char **argv) {
  const char *s = getenv("PM_RACE_SECONDS");
  if (s != NULL && atof(s) > 0) race_seconds = atof(s);
  if (argc == 3 && strcmp(argv[1], "--workload") == 0) {
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
      if (strcmp(argv[2], workloads[i].name) == 0) {
        alarm((unsigned)race_seconds + 60);   /* a deadlock fails, by SIGALRM */
        clock_gettime(CLOCK_MONOTONIC, &race_start);
        workloads[i].program();
        return 0;
      }
    return 2;
  }
  return tap_main(argc, argv);
}
