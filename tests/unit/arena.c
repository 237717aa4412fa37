/* SPDX-License-Identifier: MIT */
/* tests/unit/arena.c — arenas go back to the OS.
 *
 * After a program frees what it allocated, pm_malloc_trim(0) unmaps the
 * empty arenas at once (narenas down, narena_unmaps up, arena_mapped down)
 * and the resident set really shrinks (MADV_DONTNEED by default); with no
 * trim, the decay path releases them on its own once the delay has passed,
 * and not before; churning medium buffers costs no syscall per call.
 * Past POOLMALLOC_THP_MB, arenas of small blocks come in 2 MiB-aligned pairs
 * advised for transparent huge pages, and both halves of a pair leave with
 * the arenas.
 * The byte counters are exact here: this program is single-threaded and
 * nothing but the test calls pm_*.
 */
#include "config.h"
#include "internal.h"
#include "sizeclass.h"
#include "../tap.h"
#include "pattern.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define NBLK 65536   /* 65536 x 256 B = 16 MiB */

static size_t rss_bytes(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- Trim ---------------------------------------------------------------- */
TEST(trim_unmaps_empty_arenas) {
  static void *blk[NBLK];
  pmi_init();
  pm_malloc_trim(0);
  pm_stats_t s0, s1, s2, s3;
  pm_stats_get(&s0);
  for (size_t i = 0; i < NBLK; i++) require_not_null(blk[i] = pm_malloc(256));
  pm_stats_get(&s1);
  expect_eq(s1.small_allocated - s0.small_allocated, (size_t)NBLK * 256);
  expect_ge(s1.narenas, s0.narenas + 16);
  expect_ge(s1.arena_mapped, s0.arena_mapped + ((size_t)16 << 20));
  expect_ge(s1.peak_mapped, s1.arena_mapped);
  expect_ge(s1.pool_in_use, (size_t)NBLK * 256);
  for (size_t i = 0; i < NBLK; i++) pm_free(blk[i]);
  pm_stats_get(&s2);
  expect_eq(s2.small_allocated, s0.small_allocated);
  expect_eq(pm_malloc_trim(0), 1);
  pm_stats_get(&s3);
  expect_le(s3.narenas, s0.narenas);
  expect_ge(s3.narena_unmaps, s1.narena_unmaps + 16);
  expect_le(s3.arena_mapped, s0.arena_mapped);
  expect_ge(s3.peak_mapped, s1.arena_mapped);
  expect_eq(pm_malloc_trim(0), 0);   /* nothing left to give back */
}

TEST(rss_drops_after_free_and_trim) {
  enum { N = 8192 };   /* 8192 x 8 KiB = 64 MiB, medium blocks */
  static void *blk[N];
  pm_malloc_trim(0);
  size_t r0 = rss_bytes();
  skip_if(r0 == 0, "/proc/self/statm unreadable");
  for (size_t i = 0; i < N; i++) {
    require_not_null(blk[i] = pm_malloc(8192));
    memset(blk[i], 0x5a, 8192);
  }
  size_t r1 = rss_bytes();
  expect_ge(r1, r0 + ((size_t)60 << 20));
  for (size_t i = 0; i < N; i++) pm_free(blk[i]);
  pm_malloc_trim(0);
  size_t r2 = rss_bytes();
  expect_le(r2, r0 + ((size_t)8 << 20));
  tap_note("rss: %zu KiB -> %zu KiB -> %zu KiB", r0 >> 10, r1 >> 10, r2 >> 10);
}

/* ---- Decay without trim ---------------------------------------------------- */
/* With a 0 ms delay, housekeeping (run every PM_HOUSEKEEP_EVERY slow-path
 * calls) must release emptied arenas without anyone calling trim.  Slow
 * paths are provoked by cycling through fresh 64 KiB blocks. */
TEST(decay_releases_empty_arenas_without_trim) {
  static void *blk[NBLK];
  long saved = pmi_option_values[PM_OPTION_DECAY_MS];
  pmi_option_values[PM_OPTION_DECAY_MS] = 0;
  pm_malloc_trim(0);
  pm_stats_t s0, s1, s2;
  pm_stats_get(&s0);
  for (size_t i = 0; i < NBLK; i++) require_not_null(blk[i] = pm_malloc(256));
  for (size_t i = 0; i < NBLK; i++) pm_free(blk[i]);
  pm_stats_get(&s1);
  int rounds = 0;
  for (; rounds < 1000; rounds++) {
    pm_stats_get(&s2);
    if (s2.narena_unmaps >= s1.narena_unmaps + 8 || s2.npurges > s1.npurges + 8) break;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
    void *v[16];
    for (int i = 0; i < 16; i++) v[i] = pm_malloc(65536);
    for (int i = 0; i < 16; i++) pm_free(v[i]);
  }
  tap_note("released after %d rounds: unmaps %zu -> %zu, purges %zu -> %zu", rounds,
           s1.narena_unmaps, s2.narena_unmaps, s1.npurges, s2.npurges);
  expect_lt(rounds, 1000);
  pmi_option_values[PM_OPTION_DECAY_MS] = saved;
}

/* ---- Hysteresis ------------------------------------------------------------ */
/* With a one-hour delay, freed memory stays mapped and unpurged however many
 * slow paths run: a program that frees and allocates again does not thrash
 * the OS. */
TEST(nothing_is_released_before_the_delay) {
  static void *blk[NBLK];
  long saved = pmi_option_values[PM_OPTION_DECAY_MS];
  pmi_option_values[PM_OPTION_DECAY_MS] = 3600000;
  pm_malloc_trim(0);
  for (size_t i = 0; i < NBLK; i++) require_not_null(blk[i] = pm_malloc(256));
  for (size_t i = 0; i < NBLK; i++) pm_free(blk[i]);
  pm_stats_t s1, s2;
  pm_stats_get(&s1);
  for (int round = 0; round < 300; round++) {
    void *v[16];
    for (int i = 0; i < 16; i++) v[i] = pm_malloc(65536);
    for (int i = 0; i < 16; i++) pm_free(v[i]);
  }
  pm_stats_get(&s2);
  expect_eq(s2.narena_unmaps, s1.narena_unmaps);
  expect_eq(s2.npurges, s1.npurges);
  expect_ge(s2.arena_mapped, s1.arena_mapped);
  expect_eq(pm_malloc_trim(0), 1);   /* trim does not wait for the delay */
  pmi_option_values[PM_OPTION_DECAY_MS] = saved;
}

/* ---- No syscall per call ------------------------------------------------------ */
/* A program that churns 4 KiB..64 KiB buffers must not map or unmap an arena
 * (or purge) per call: over 200 000 malloc/free pairs, arenas mapped
 * (narenas + narena_unmaps) and purges may move by a handful, not per call. */
TEST(medium_churn_needs_no_syscall_per_call) {
  enum { OPS = 200000, LIVE = 16 };
  void *live[LIVE] = {0};
  pm_stats_t s0, s1;
  pm_stats_get(&s0);
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < OPS; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int k = (int)(x % LIVE);
    pm_free(live[k]);
    require_not_null(live[k] = pm_malloc(4096 + (size_t)(x >> 20) % (60 * 1024)));
  }
  for (int k = 0; k < LIVE; k++) pm_free(live[k]);
  pm_stats_get(&s1);
  size_t maps = (s1.narenas + s1.narena_unmaps) - (s0.narenas + s0.narena_unmaps);
  size_t purges = s1.npurges - s0.npurges;
  tap_note("%d operations: %zu arena maps, %zu purges", OPS, maps, purges);
  expect_le(maps, 64);   /* pools of up to 32 classes x 512 KiB: a few arenas, once */
  expect_le(purges, OPS / 100);
}

/* ---- Huge pages -------------------------------------------------------------- */
/* Whether the /proc/self/smaps entry that holds p says MADV_HUGEPAGE ("hg"
 * in VmFlags): 1 or 0, -1 if no entry holds p. */
static int advised_huge(const void *p) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (f == NULL) return -1;
  char line[512];
  unsigned long lo, hi;
  bool in = false;
  int found = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {   /* a mapping's first line */
      if (in) break;
      in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
    } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
      found = strstr(line, " hg") != NULL;
      break;
    }
  }
  fclose(f);
  return found;
}

static bool is_mapped(const void *p) {
  unsigned char v;
  return mincore((void *)((uintptr_t)p & ~(uintptr_t)4095), 4096, &v) == 0 || errno != ENOMEM;
}

static size_t arenas_of(void *const *blk, size_t n, uintptr_t *out, size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uintptr_t a = (uintptr_t)blk[i] & ~(uintptr_t)PM_CHUNK_MASK;
    size_t j = 0;
    while (j < k && out[j] != a) j++;
    if (j == k && k < max) out[k++] = a;
  }
  return k;
}

/* With POOLMALLOC_THP_MB=0, every arena of small blocks is a half of a
 * 2 MiB-aligned pair (the upper half only once the lower is in use), the
 * pair is one mapping advised for huge pages, and trim unmaps both halves,
 * the spare included; arenas of blocks over a page are not advised.  With
 * "never", arenas are mapped alone, without the advice. */
TEST(arenas_past_the_threshold_come_in_huge_page_pairs) {
  static void *blk[NBLK];
  static uintptr_t arena[64];
  long saved = pmi_option_values[PM_OPTION_THP_MB];
  pmi_option_values[PM_OPTION_THP_MB] = 0;
  pm_malloc_trim(0);
  for (size_t i = 0; i < NBLK; i++) require_not_null(blk[i] = pm_malloc(256));
  size_t n = arenas_of(blk, NBLK, arena, 64), lower = 0, paired = 0, advised = 0;
  for (size_t i = 0; i < n; i++) {
    bool is_lower = (arena[i] & PM_CHUNK_SIZE) == 0;
    uintptr_t buddy = arena[i] ^ PM_CHUNK_SIZE;
    lower += is_lower;
    for (size_t j = 0; j < n; j++) paired += arena[j] == buddy;
    if (!is_lower) expect_true(is_mapped((void *)buddy));   /* an upper half follows its lower */
    advised += advised_huge((void *)arena[i]) == 1;
  }
  tap_note("%zu arenas: %zu lower halves, %zu in pairs, %zu advised", n, lower, paired, advised);
  expect_ge(n, 16);
  expect_ge(paired, n - 2);        /* the arenas met in use when the test began may be alone */
  skip_if(access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) != 0, "no transparent huge pages");
  expect_ge(advised, n - 2);
  /* Blocks over a page may never be touched: their pools stay out of pairs. */
  enum { NMED = 256 };
  static void *med[NMED];
  for (size_t i = 0; i < NMED; i++) require_not_null(med[i] = pm_malloc(32768));
  size_t nmed = arenas_of(med, NMED, arena + n, 64 - n), med_advised = 0;
  for (size_t i = n; i < n + nmed; i++) med_advised += advised_huge((void *)arena[i]) == 1;
  tap_note("32 KiB blocks: %zu arenas, %zu advised", nmed, med_advised);
  expect_ge(nmed, 4);
  expect_eq(med_advised, 0);
  for (size_t i = 0; i < NMED; i++) pm_free(med[i]);
  for (size_t i = 0; i < NBLK; i++) pm_free(blk[i]);
  expect_eq(pm_malloc_trim(0), 1);
  for (size_t i = 0; i < n; i++)
    if ((arena[i] & PM_CHUNK_SIZE) == 0) expect_true(!is_mapped((void *)(arena[i] + PM_CHUNK_SIZE)));

  pmi_option_values[PM_OPTION_THP_MB] = 1048576;   /* never */
  for (size_t i = 0; i < NBLK; i++) require_not_null(blk[i] = pm_malloc(256));
  n = arenas_of(blk, NBLK, arena, 64);
  advised = 0;
  for (size_t i = 0; i < n; i++) advised += advised_huge((void *)arena[i]) == 1;
  expect_eq(advised, 0);
  for (size_t i = 0; i < NBLK; i++) pm_free(blk[i]);
  pm_malloc_trim(0);
  pmi_option_values[PM_OPTION_THP_MB] = saved;
}

/* ---- Bit helpers the arena relies on -------------------------------------- */
static unsigned naive_longest_run(uint64_t m) {
  unsigned n = 0;
  for (; m != 0; n++) m &= m << 1;
  return n;
}

TEST(popcount_and_longest_run_agree_with_naive_loops) {
  uint64_t x = 88172645463325252ull, wrong = 0;
  for (long i = 0; i < 2000000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint64_t masks[4] = {x & (x >> (i % 7)), ~(x & (x << 1)), x | (x >> 1) | (x >> 2), ~0ull << (i % 64)};
    for (int k = 0; k < 4; k++) {
      wrong += pm_longest_run64(masks[k]) != naive_longest_run(masks[k]);
      wrong += pm_popcount64(masks[k]) != (unsigned)__builtin_popcountll(masks[k]);
    }
  }
  expect_eq(wrong, 0);
  expect_eq(pm_longest_run64(0), 0);
  expect_eq(pm_longest_run64(~0ull), 64);
}
