/* SPDX-License-Identifier: MIT */
/* large_tcache.c — each thread's small cache of freed one-chunk large blocks
 * (issue 8 §1: a 256 KiB malloc + free pair without a lock or a clock read).
 *
 * A freed large block whose span is one chunk (requests up to 1 MiB - 4 KiB
 * at ordinary alignment) goes on its thread's stack of at most
 * PM_LARGE_TCACHE_SLOTS blocks, with live = 0 and its chunk still marked (a
 * second free is a double free); the thread's next such malloc pops it and
 * sets live = 1.  Both are a few loads and stores on thread-local memory
 * (the inline halves in internal.h).  From the region's point of view the
 * span stays handed out, so nothing else can take it; statistics count the
 * blocks as cached, not live.
 *
 * Bounds and flushes (a flush gives the spans back to their regions as free
 * dirty chunks, under pmi_large_lock):
 *   count   PM_LARGE_TCACHE_SLOTS blocks, so at most that many MiB per thread
 *   age     every PM_LARGE_TCACHE_CHECK pushes, and at the thread's heap
 *           housekeeping, the clock is read; once the decay delay has passed
 *           since the previous check, the blocks that sat at the bottom of
 *           the stack through the whole interval (below its low-water mark)
 *           are flushed.  A thread that stops allocating keeps its blocks
 *           (at most 4 MiB) until its next check or housekeeping, a trim or
 *           its exit, as its pools keep their dirty pages.
 *   trim    malloc_trim and the out-of-memory reclaim flush the calling
 *           thread's cache (pmi_large_decay with force); other threads'
 *           caches are theirs alone (no lock on the fast path), so they go
 *           back at those threads' next check, trim or exit.
 *   exit    heap.c's thread-exit hook calls pmi_large_tcache_thread_exit:
 *           flush, and the cache is off for the rest of the thread's life.
 * A cache is used only by a thread that has a heap (so the exit hook will
 * run): heap.c attaches one when it gives a thread its heap, and alloc.c
 * gives a heap to a thread whose first request is large.  None in the
 * secure library (every secure large block has a mapping of its own).  Cache records are never freed.  Their
 * states (under pmi_large_lock):
 *   FREE      no thread; n == 0.  Taken by the next thread that attaches.
 *   OWNED     its thread pushes and pops without the lock.
 *   ORPHANED  in a fork child, the record of a thread that did not survive
 *             the fork (it may have stopped in the middle of a push): never
 *             touched again, so its blocks leak (at most
 *             PM_LARGE_TCACHE_SLOTS MiB per such thread) but stay counted.
 * Transitions: FREE -> OWNED (attach) -> FREE (thread exit, after a flush);
 * OWNED -> ORPHANED (fork child, every thread but the forking one).
 * Threads: a record's slots are touched only by its thread; its count is
 * also read (relaxed) by statistics under pmi_large_lock.  Never calls malloc.
 */
#include "os.h"

__thread pm_large_tcache_t *pmi_large_tcache_tls __attribute__((tls_model("initial-exec")));
static __thread bool tcache_off __attribute__((tls_model("initial-exec")));   /* after thread exit */


enum { TCACHE_FREE = 0, TCACHE_OWNED = 1, TCACHE_ORPHANED = 2 };

static struct {               /* under pmi_large_lock */
  pm_large_tcache_t *all;     /* every record ever made                    */
  pm_meta_area_t meta;        /* where records are carved                */
} tcaches;

/* ---- Attaching and detaching ---------------------------------------------- */
static pm_large_tcache_t *tcache_acquire_locked(void) {
  for (pm_large_tcache_t *tc = tcaches.all; tc != NULL; tc = tc->next)
    if (tc->state == TCACHE_FREE) return tc;
  pm_large_tcache_t *tc = pmi_os_meta_carve(&tcaches.meta, sizeof(pm_large_tcache_t), "poolmalloc large caches");
  if (tc == NULL) return NULL;
  tc->next = tcaches.all;
  tcaches.all = tc;
  return tc;
}

void pmi_large_tcache_attach(void) {
  if (pm_config_secure || pmi_large_tcache_tls != NULL || tcache_off) return;
  if (pmi_option(PM_OPTION_LARGE_CACHE_MB) == 0 || pmi_option(PM_OPTION_DECAY_MS) == 0) return;
  pthread_mutex_lock(&pmi_large_lock);
  pm_large_tcache_t *tc = tcache_acquire_locked();
  if (tc != NULL) {
    pm_assert(tc->state == TCACHE_FREE && tc->n == 0);   /* FREE -> OWNED */
    tc->state = TCACHE_OWNED;
    tc->low = 0;
    tc->tick = 0;
  }
  pthread_mutex_unlock(&pmi_large_lock);
  if (tc != NULL) tc->check_ns = pmi_prim_now_ns();
  pmi_large_tcache_tls = tc;
}

/* Gives back the first n blocks of tc (the oldest) and closes the gap. */
static bool tcache_flush(pm_large_tcache_t *tc, uint32_t n) {
  if (n == 0) return false;
  uint32_t have = tc->n;
  pm_assert(tc->state == TCACHE_OWNED && n <= have && have <= PM_LARGE_TCACHE_SLOTS);
  pthread_mutex_lock(&pmi_large_lock);
  for (uint32_t i = 0; i < n; i++) pmi_large_give_locked(tc->slot[i]);
  pthread_mutex_unlock(&pmi_large_lock);
  for (uint32_t i = n; i < have; i++) tc->slot[i - n] = tc->slot[i];
  pm_atomic_store_relaxed(&tc->n, have - n);
  tc->low = have - n;
  return true;
}

void pmi_large_tcache_thread_exit(void) {
  pm_large_tcache_t *tc = pmi_large_tcache_tls;
  tcache_off = true;
  if (tc == NULL) return;
  pmi_large_tcache_tls = NULL;
  tcache_flush(tc, tc->n);
  pthread_mutex_lock(&pmi_large_lock);
  pm_assert(tc->state == TCACHE_OWNED && tc->n == 0);   /* OWNED -> FREE, empty */
  tc->state = TCACHE_FREE;
  pthread_mutex_unlock(&pmi_large_lock);
}

/* ---- Ageing ------------------------------------------------------------------ */
/* The blocks below the low-water mark were not popped since the last check;
 * once a whole decay delay has passed, they go back to their regions. */
static bool tcache_age(pm_large_tcache_t *tc, uint64_t now) {
  tc->tick = 0;
  uint64_t delay = (uint64_t)pmi_option(PM_OPTION_DECAY_MS) * 1000000u;
  if (now < tc->check_ns) tc->check_ns = now;   /* a caller's clock behind ours */
  if (now - tc->check_ns < delay) return false;
  bool flushed = tcache_flush(tc, tc->low);
  tc->low = tc->n;
  tc->check_ns = now;
  return flushed;
}

void pmi_large_tcache_check(pm_large_tcache_t *tc) { tcache_age(tc, pmi_prim_now_ns()); }

bool pmi_large_tcache_decay(uint64_t now_ns, bool force) {
  pm_large_tcache_t *tc = pmi_large_tcache_tls;
  if (tc == NULL) return false;
  return force ? tcache_flush(tc, tc->n) : tcache_age(tc, now_ns);
}

/* ---- Statistics and fork ------------------------------------------------------ */
size_t pmi_large_tcache_count_locked(void) {
  size_t n = 0;
  for (pm_large_tcache_t *tc = tcaches.all; tc != NULL; tc = tc->next)
    if (tc->state != TCACHE_FREE) n += pm_atomic_load_relaxed(&tc->n);
  return n;
}

void pmi_large_tcache_fork_child(void) {
  for (pm_large_tcache_t *tc = tcaches.all; tc != NULL; tc = tc->next)
    if (tc->state == TCACHE_OWNED && tc != pmi_large_tcache_tls) tc->state = TCACHE_ORPHANED;
}
