/* SPDX-License-Identifier: MIT */
/* prof.c — sampled allocation-site profiling: which blocks are sampled,
 * and the hooks the allocator core calls (docs/profiling.md).
 *
 * Sampling (as in tcmalloc and jemalloc): allocated bytes form a Poisson
 * process of rate 1/interval, and a block is sampled when a point of the
 * process falls in it, so a block of s bytes is sampled with probability
 * p(s) = 1 - exp(-s/interval), independently of every other block, and a
 * sample stands for 1/p(s) blocks: the estimates are unbiased.
 *
 * Cut free lists (why the fast paths pay nothing, on or off): each pool
 * keeps the bytes left to its next sample (pool->prof_left, an exponential
 * draw of mean interval): a Poisson process by bytes per pool, and the
 * union of independent processes of one rate is that process for the
 * whole heap.  (Per pool and not per thread: no thread-local array, whose
 * initial-exec TLS would not fit if the library is dlopen'ed.)  When the
 * slow path installs a list of L blocks (pool.c calls pmi_prof_pop_fresh)
 * and the countdown is more than L blocks' bytes, it is decremented and
 * nothing else happens; otherwise it ends at block G = ceil(left /
 * block_size), and the list is cut after block G-1, the rest parked on
 * pool->prof_stash.  Carrying the countdown over is exact even when a list
 * is dropped before it is used up (its pool emptied): by memorylessness,
 * an exponential known to exceed x exceeds it by another exponential of
 * the same mean, independent of what came before.  The malloc fast path pops the G-1
 * blocks untouched, finds free == NULL at the cut, and misses into the
 * slow path, which sees the stash (pmi_prof_pop_stash): the first stashed
 * block is the sample.  It is popped, recorded, and the rest of the stash
 * is treated as a freshly installed list with a new draw.  L needs no walk: right after an install
 *     L = capacity - nused - (end - bump) / block_size
 * (types.h's pool equation with local_free == NULL and no stash; blocks
 * freed remotely but not drained still count in nused).  Only a cut walks
 * G - 1 links, and cuts happen once per sample.
 *
 * Frees: a pool holding sampled blocks has its `sampled` byte set; free's
 * one test reads `full` and `sampled` as one 16-bit word (types.h), so a
 * local free into such a pool calls pmi_pool_free_event, which hands us
 * the block just pushed; we look it up and drop it from the live set.
 * Remote frees reach us when the owner drains them.  Large blocks are
 * decided with one draw each in large.c's paths (slow paths anyway).
 *
 * Per-thread state (initial-exec TLS): the generator, the recursion guard
 * (an allocation made while we capture a stack is never sampled) and the
 * last sampled block (for annotations).  Lock: pmi_prof_lock (prof_table.c)
 * on the slow paths only; never held across a call that may allocate.
 */
#define _GNU_SOURCE 1
#include "prof.h"

#include <errno.h>
#include <math.h>
#include <unistd.h>

bool pmi_prof_on;
pmi_prof_counters_t pmi_prof_counters;
static double prof_interval_bytes = 524288.0;

static __thread uint64_t prof_rng __attribute__((tls_model("initial-exec")));
static __thread int prof_busy __attribute__((tls_model("initial-exec")));
static __thread const void *prof_last __attribute__((tls_model("initial-exec")));

double pmi_prof_interval(void) { return prof_interval_bytes; }

double pmi_prof_weight(size_t size) { return 1.0 / -expm1(-(double)size / prof_interval_bytes); }

/* ---- Draws ---------------------------------------------------------------- */
static uint64_t prof_random(void) {   /* xorshift64*, seeded per thread */
  uint64_t x = prof_rng;
  if (pm_unlikely(x == 0)) x = (pmi_prim_random() ^ (uintptr_t)&prof_rng) | 1;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  prof_rng = x;
  return x * 0x2545f4914f6cdd1dull;
}

/* U uniform in (0, 1]. */
static double prof_uniform(void) { return (double)((prof_random() >> 11) + 1) * 0x1.0p-53; }

/* Bytes to the next sample: exponential with mean interval. */
static double prof_draw_bytes(void) { return -log(prof_uniform()) * prof_interval_bytes; }

/* ---- Recording -------------------------------------------------------------- */
/* Captures the stack and adds b to the live set; false if it was not
 * recorded (recursion, or our tables could not grow). */
static bool prof_record(const void *b, size_t size) {
  if (prof_busy) {
    pm_atomic_add_relaxed(&pmi_prof_counters.nskipped, 1);
    return false;
  }
  prof_busy = 1;
  void *pcs[PM_PROF_MAX_DEPTH];
  unsigned depth = pmi_prof_backtrace(pcs, PM_PROF_MAX_DEPTH);
  double w = pmi_prof_weight(size);
  pthread_mutex_lock(&pmi_prof_lock);
  pmi_prof_site_t *site = pmi_prof_site_get_locked(pcs, depth, NULL);
  bool ok = site != NULL && pmi_prof_sample_add_locked((uintptr_t)b, site, size);
  if (ok) {
    site->live_n++;
    site->live_bytes += size;
    site->alloc_n++;
    site->alloc_bytes += size;
    site->est_live_n += w;
    site->est_live_bytes += w * (double)size;
    pmi_prof_counters.nsampled++;
  } else {
    pmi_prof_counters.nskipped++;
  }
  pthread_mutex_unlock(&pmi_prof_lock);
  if (ok) prof_last = b;
  prof_busy = 0;
  return ok;
}

/* Removes b from the live set; false if it was not there. */
static bool prof_forget(const void *b) {
  pthread_mutex_lock(&pmi_prof_lock);
  pmi_prof_sample_t *s = pmi_prof_sample_find_locked((uintptr_t)b);
  if (s != NULL) {
    double w = pmi_prof_weight(s->size);
    pmi_prof_site_t *site = s->site;
    site->live_n--;
    site->live_bytes -= s->size;
    site->est_live_n -= w;
    site->est_live_bytes -= w * (double)s->size;
    if (site->live_n == 0) site->est_live_n = site->est_live_bytes = 0;   /* no drift */
    pmi_prof_sample_remove_locked(s);
    pmi_prof_counters.nfreed++;
  }
  pthread_mutex_unlock(&pmi_prof_lock);
  if (b == prof_last) prof_last = NULL;
  return s != NULL;
}

/* ---- Cut free lists (pool.c's hooks) ------------------------------------- */
/* pool->free holds len blocks: if the class's countdown ends inside them,
 * cut the list just before the block where it ends. */
static void prof_cut(pm_pool_t *pool, uint64_t len) {
  double left = pool->prof_left, span = (double)len * pool->block_size;
  if (left <= 0) left = prof_draw_bytes();
  if (left > span) {                     /* no sample in this list */
    pool->prof_left = (float)(left - span);
    return;
  }
  uint64_t g = (uint64_t)ceil(left / pool->block_size);
  if (g < 1) g = 1;
  if (g > len) g = len;
  pool->prof_left = 0;                   /* drawn afresh after the sample */
  pm_block_t *before = pool->free;
  if (g == 1) {
    pool->prof_stash = pool->free;
    pool->free = NULL;
  } else {
    for (uint64_t i = 2; i < g; i++) before = pmi_pool_next(pool, before);   /* block g-1 */
    pool->prof_stash = pmi_pool_next(pool, before);
    pmi_pool_link(pool, before, NULL);
  }
  pool->prof_nstash = (uint16_t)(len - (g - 1));
}

void *pmi_prof_pop_fresh(pm_pool_t *pool) {
  uint64_t len = pool->carved / pool->block_size - pool->nused;   /* local_free is empty */
  if (PM_DEBUG >= 2) {   /* the equation of types.h, checked by a walk */
    uint64_t n = 0;
    for (pm_block_t *b = pool->free; b != NULL; b = pmi_pool_next(pool, b)) n++;
    pm_assert_internal(n == len && pool->local_free == NULL && pool->prof_stash == NULL);
  }
  prof_cut(pool, len);
  if (pool->free == NULL) return pmi_prof_pop_stash(pool);
  return pmi_pool_pop(pool);
}

void *pmi_prof_pop_stash(pm_pool_t *pool) {
  uint32_t n = pool->prof_nstash;
  pool->free = pool->prof_stash;
  pool->prof_stash = NULL;
  pool->prof_nstash = 0;
  void *b = pmi_pool_pop(pool);
  if (n > 1) prof_cut(pool, n - 1);
  if (prof_record(b, pool->block_size)) {
    pool->prof_nsampled++;
    pool->sampled = 1;
  }
  return b;
}

void pmi_prof_free_event(pm_pool_t *pool, void *b) {
  if (prof_forget(b) && --pool->prof_nsampled == 0) pool->sampled = 0;
}

/* ---- Large blocks ---------------------------------------------------------- */
void pmi_prof_large_malloc(void *user) {
  pm_large_t *hdr = pmi_large_header(user, pmi_pagemap_kind(user));
  if (hdr == NULL || hdr->sampled) return;
  double p = -expm1(-(double)hdr->usable / prof_interval_bytes);
  if (prof_uniform() <= p && prof_record(user, hdr->usable)) hdr->sampled = 1;
}

void pmi_prof_large_free(pm_large_t *hdr) {
  prof_forget(hdr->user);
  hdr->sampled = 0;
}

/* ---- Annotations ------------------------------------------------------------ */
/* The site of the sample moves to the (same stack, name) site, so identical
 * stacks allocating different types are told apart. */
void pmi_prof_annotate(const void *block, const char *name) {
  if (!pmi_prof_on || block == NULL || block != prof_last) return;
  pthread_mutex_lock(&pmi_prof_lock);
  pmi_prof_sample_t *s = pmi_prof_sample_find_locked((uintptr_t)block);
  if (s != NULL && s->site->annotation != name) {
    pmi_prof_site_t *old = s->site;
    pmi_prof_site_t *site = pmi_prof_site_get_locked(old->pcs, old->depth, name);
    if (site != NULL) {
      double w = pmi_prof_weight(s->size);
      old->live_n--, old->alloc_n--;
      old->live_bytes -= s->size, old->alloc_bytes -= s->size;
      old->est_live_n -= w, old->est_live_bytes -= w * (double)s->size;
      if (old->live_n == 0) old->est_live_n = old->est_live_bytes = 0;
      site->live_n++, site->alloc_n++;
      site->live_bytes += s->size, site->alloc_bytes += s->size;
      site->est_live_n += w, site->est_live_bytes += w * (double)s->size;
      s->site = site;
    }
  }
  pthread_mutex_unlock(&pmi_prof_lock);
}

PM_EXPORT void pm_prof_annotate(const void *block, const char *name) { pmi_prof_annotate(block, name); }

/* ---- Control ---------------------------------------------------------------- */
void pmi_prof_init(void) {
  pmi_prof_on = pmi_option(PM_OPTION_PROF) || pmi_option(PM_OPTION_LEAKS);
  prof_interval_bytes = (double)pmi_option(PM_OPTION_PROF_INTERVAL);
}

int pmi_prof_report_fd = 2;

void pmi_prof_start(void) {
  if (!pmi_prof_on) return;
  /* A private copy of stderr for the leak report, as stats.c keeps one:
   * programs such as coreutils close fd 2 before our destructor runs. */
  if (pmi_option(PM_OPTION_LEAKS) && pmi_option_path(PM_OPTION_PATH_LEAKS_FILE)[0] == '\0') {
    int fd = pmi_prim_dup_cloexec(2);
    if (fd >= 0) pmi_prof_report_fd = fd;
  }
  prof_busy = 1;                         /* the priming walk is not a sample */
  pmi_prof_stack_prime();
  prof_busy = 0;
  pmi_prof_dump_start();
}

void pmi_prof_at_exit(void) {
  if (!pmi_prof_on) return;
  prof_busy = 1;                         /* nothing we do here is sampled */
  if (pmi_option(PM_OPTION_PROF)) {
    const char *path = pmi_option_path(PM_OPTION_PATH_PROF_FILE);
    char def[64];
    if (path[0] == '\0') {
      pmi_fmt_format(def, sizeof def, "poolmalloc.%d.heap", (int)getpid());
      path = def;
    }
    if (pmi_prof_dump_path(path) != 0) pmi_fmt_message("cannot write the heap profile to %s", path);
  }
  if (pmi_option(PM_OPTION_LEAKS)) pmi_prof_leak_report();
  prof_busy = 0;
}

PM_EXPORT int pm_prof_enabled(void) {
  pmi_init_ensure();
  return pmi_prof_on;
}

PM_EXPORT size_t pm_prof_interval(void) {
  pmi_init_ensure();
  return (size_t)prof_interval_bytes;
}

PM_EXPORT int pm_prof_dump(const char *path) {
  pmi_init_ensure();
  if (!pmi_prof_on || path == NULL) {
    errno = EINVAL;
    return -1;
  }
  int busy = prof_busy;
  prof_busy = 1;
  int rc = pmi_prof_dump_path(path);
  prof_busy = busy;
  return rc;
}

void pmi_prof_fork_prepare(void) { pthread_mutex_lock(&pmi_prof_lock); }
void pmi_prof_fork_parent(void) { pthread_mutex_unlock(&pmi_prof_lock); }
void pmi_prof_fork_child(void) { pthread_mutex_unlock(&pmi_prof_lock); }
