/* SPDX-License-Identifier: MIT */
/* arena.c — carving 1 MiB arenas into pools, and giving memory back.
 *
 * Owns every pm_arena_t and the arena lock.  pool.c takes runs of blank
 * slots from here (pmi_arena_pool_alloc: the head descriptor, heap == NULL,
 * for pool.c to initialise) and gives them back when its pool is empty
 * (pmi_arena_pool_free); nothing here runs on a fast path, and nothing here
 * calls up into pool.c or heap.c.
 * Arenas are mapped alone or, past POOLMALLOC_THP_MB, in 2 MiB pairs advised
 * for huge pages ("Huge pages" below).
 * Address space: an arena's chunk is marked in the chunk map and its slots
 * in the slot map right after it is mapped, before any pool of it is handed
 * out, and both are cleared before it is unmapped (the chunk-map rule,
 * pagemap.c).  Blank descriptors (types.h): no owner, each slot its own
 * head, so that a pointer into a slot no pool ever used reaches a
 * descriptor that says so.
 *
 * Best fit, fullest first (obmalloc's usable_arenas / nfp2lasta, adapted to
 * pools of several slots): arenas sit on bucket[in_pair][longest run of free
 * slots]; a pool of n slots is carved from the first arena of the lowest
 * bucket >= n (of the set it may use, "Huge pages" below), so it comes
 * from the most fragmented arena that can hold it, and empty arenas
 * (bucket 63) are used last, drain, and go back to the OS.
 * Finding the arena is O(1) in the number of arenas: the first candidate
 * fits unless the class needs an aligned start (pmi_class_info.align_slots).
 *
 * Slot states inside an arena (free_mask, dirty_mask, zero_mask):
 *
 *   in a pool --pool freed--> free+dirty --decay/trim: DONTNEED--> free+zero
 *       ^                         |         (MADV_FREE: free, not zero)
 *       +------pool carved--------+-------------------------------+
 *
 * Decay runs in epochs of half the delay (POOLMALLOC_DECAY_MS): at each
 * epoch, slots that were already dirty at the previous epoch and have not
 * been reused since are purged, so a slot is purged between half the delay
 * and the delay after its pool emptied, and slots that churn never are.  An
 * arena whose 63 slots are all free and all that old is unmapped instead.
 * malloc_trim purges and unmaps at once.
 * Invariants: see types.h; pmi_arena_is_valid checks them.
 *
 * The secure library (docs/security.md, "Metadata out of the blocks'
 * reach"): the header and the per-block bits fill slots 0..1 but their last
 * page, which is a guard, and slot 63 is a guard, so a linear overflow or
 * underflow from any block ends in a fault before it reaches this arena's
 * metadata or the mapping above it.  Both guards are set before the arena is
 * marked; pools are carved from slots 2..62 only.
 */
#include "os.h"

#include <pthread.h>

#define ARENA_ALL_SLOTS ((~(uint64_t)0 << PM_ARENA_FIRST_SLOT) & (~(uint64_t)0 >> (63 - PM_ARENA_LAST_SLOT)))
#define ARENA_USABLE_SLOTS PM_ARENA_POOL_SLOTS

static struct {
  pthread_mutex_t lock;
  pm_arena_t *bucket[2][PM_ARENA_SLOTS];   /* [in_pair][longest free run]; [.][0] = full */
  pm_arena_t *all;                      /* every arena                       */
  size_t narenas;
  char *spare;                          /* the untouched upper half of the last
                                           huge-page pair mapped, or NULL */
  uint64_t next_epoch_ns;               /* next decay epoch; MAX if all clean;
                                           written under the lock, read
                                           without it: relaxed */
} arenas = {.lock = PM_LOCK_INITIALIZER, .next_epoch_ns = UINT64_MAX};

/* ---- Bucket lists ------------------------------------------------------ */
static void arena_unlink_bucket(pm_arena_t *a) {
  pm_assert_internal(a->prev != NULL ? a->prev->next == a : arenas.bucket[a->in_pair][a->bucket] == a);
  pm_assert_internal(a->next == NULL || a->next->prev == a);
  if (a->prev != NULL) a->prev->next = a->next;
  else arenas.bucket[a->in_pair][a->bucket] = a->next;
  if (a->next != NULL) a->next->prev = a->prev;
  a->next = a->prev = NULL;
}

static void arena_link_bucket(pm_arena_t *a) {
  a->bucket = pm_longest_run64(a->free_mask);
  a->prev = NULL;
  a->next = arenas.bucket[a->in_pair][a->bucket];
  if (a->next != NULL) a->next->prev = a;
  arenas.bucket[a->in_pair][a->bucket] = a;
}

static void arena_set_free_mask_locked(pm_arena_t *a, uint64_t free_mask) {
  pm_assert((free_mask & ~ARENA_ALL_SLOTS) == 0);   /* the header (and secure guard) slots are never free */
  arena_unlink_bucket(a);
  a->free_mask = free_mask;
  a->nfree = pm_popcount64(free_mask);
  arena_link_bucket(a);
}

/* ---- Creating and destroying arenas ----------------------------------- */
/* Huge pages.  An arena is 1 MiB; x86-64's transparent huge page is 2 MiB,
 * and the kernel backs a range with one only if the whole 2 MiB-aligned
 * range lies in one mapping advised for it (THP "madvise" mode) when it is
 * first touched.  So once the process maps PM_OPTION_THP_MB MiB of arenas,
 * arenas for dense pools come in pairs: one 2 MiB-aligned mapping, advised,
 * whose lower half becomes the arena and whose upper half waits untouched
 * in arenas.spare for the next one.  The first touch then faults in 2 MiB
 * at once, and the pair costs one TLB entry instead of 512.  The price is
 * RSS and zeroing: a pair is resident whole, however few of its pages are
 * in use.  Hence the two sets of arenas (bucket[in_pair]): pools whose
 * blocks are at most a page (dense: carving writes every page) go to pairs
 * first, then to single arenas; pools of bigger blocks, whose pages a
 * program may never touch, only to single arenas.  Below the threshold
 * (small programs; 8 MiB is about what a core's second-level TLB covers in
 * 4 KiB pages) and in the secure library (whose guard pages split
 * mappings) every arena is single.  Purging a slot or unmapping half a
 * pair splits the huge page; the rest stays mapped.
 * Invariant: arenas.spare, when set, is the upper half of a pair whose lower
 * half is a live arena, and it is unmapped with that arena.
 * *in_pair: asked for a pair; false on return if the arena is single. */
static pm_arena_t *arena_map_locked(bool *in_pair) {
  char *pair = arenas.spare;
  if (*in_pair && pair != NULL) {
    pm_assert(((pm_arena_t *)(pair - PM_CHUNK_SIZE))->magic == PM_ARENA_MAGIC);
    arenas.spare = NULL;
    pmi_counters_mapped(-(ptrdiff_t)PM_CHUNK_SIZE);   /* counted again as an arena */
    return (pm_arena_t *)pair;
  }
  if (!*in_pair || (pair = pmi_os_map_huge(PM_HUGE_PAGE_SIZE, PM_HUGE_PAGE_SIZE)) == NULL) {
    pm_arena_t *a = pmi_os_map(PM_CHUNK_SIZE, PM_CHUNK_SIZE);
    if (a != NULL) pmi_os_name(a, PM_CHUNK_SIZE, "poolmalloc arena");
    *in_pair = false;
    return a;
  }
  pmi_os_name(pair, PM_HUGE_PAGE_SIZE, "poolmalloc arena");   /* whole: a name splits a mapping */
  arenas.spare = pair + PM_CHUNK_SIZE;
  pmi_counters_mapped((ptrdiff_t)PM_CHUNK_SIZE);
  return (pm_arena_t *)pair;
}

static void arena_unmap_locked(pm_arena_t *a) {
  if ((char *)a + PM_CHUNK_SIZE == arenas.spare) {   /* the lower half of a pair: both go */
    arenas.spare = NULL;
    pmi_os_unmap(a, PM_HUGE_PAGE_SIZE);
    pmi_counters_mapped(-(ptrdiff_t)PM_CHUNK_SIZE);
    return;
  }
  pmi_os_unmap(a, PM_CHUNK_SIZE);
}

static pm_arena_t *arena_create_locked(bool in_pair) {
  pm_arena_t *a = arena_map_locked(&in_pair);
  if (a == NULL) return NULL;
  if (pm_config_secure &&
      (!pmi_os_guard((char *)a + PM_ARENA_FIRST_SLOT * PM_SLOT_SIZE - PM_PAGE_SIZE, PM_PAGE_SIZE) ||
       !pmi_os_guard((char *)a + (PM_ARENA_LAST_SLOT + 1) * PM_SLOT_SIZE,
                     (PM_ARENA_SLOTS - PM_ARENA_LAST_SLOT - 1) * PM_SLOT_SIZE))) {
    arena_unmap_locked(a);          /* the kernel is out of mappings */
    return NULL;
  }
  /* Both maps, before any pool of it escapes.  The descriptors the slot map
   * points at are written first: a reader may follow an entry at once. */
  for (unsigned s = 0; s < PM_ARENA_SLOTS; s++) a->pools[s].head = &a->pools[s];
  if (!pmi_pagemap_set(a, PM_CHUNK_ARENA, PM_CHUNK_SIZE)) {
    arena_unmap_locked(a);
    return NULL;
  }
  if (!pmi_slotmap_set_arena(a)) {
    pmi_pagemap_set(a, PM_CHUNK_FOREIGN, 0);
    arena_unmap_locked(a);
    return NULL;
  }
  a->magic = PM_ARENA_MAGIC;
  a->in_pair = in_pair;
  a->free_mask = ARENA_ALL_SLOTS;
  a->zero_mask = ARENA_ALL_SLOTS;
  a->nfree = ARENA_USABLE_SLOTS;
  pm_assert(a->dirty_mask == 0 && a->dirty_old_mask == 0);   /* fresh: the kernel zeroed it */
  arena_link_bucket(a);
  a->all_next = arenas.all;
  if (arenas.all != NULL) arenas.all->all_prev = a;
  arenas.all = a;
  arenas.narenas++;
  pmi_counters_mapped((ptrdiff_t)PM_CHUNK_SIZE);
  return a;
}

static void arena_destroy_locked(pm_arena_t *a) {
  pm_assert(a->magic == PM_ARENA_MAGIC && a->nfree == ARENA_USABLE_SLOTS && arenas.narenas > 0);
  pm_assert_expensive(pmi_arena_is_valid(a));
  arena_unlink_bucket(a);
  if (a->all_prev != NULL) a->all_prev->all_next = a->all_next;
  else arenas.all = a->all_next;
  if (a->all_next != NULL) a->all_next->all_prev = a->all_prev;
  arenas.narenas--;
  a->magic = 0;                               /* a stale pointer into it now fails validation */
  pmi_slotmap_clear_arena(a);                /* both maps, before the range can be mapped again */
  pmi_pagemap_set(a, PM_CHUNK_FOREIGN, 0);
  arena_unmap_locked(a);
  pmi_counters_mapped(-(ptrdiff_t)PM_CHUNK_SIZE);
  pm_atomic_add_relaxed(&pmi_counters.narena_unmaps, 1);
}

static uint64_t epoch_ns(void) { return (uint64_t)pmi_option(PM_OPTION_DECAY_MS) * 500000u; }

/* ---- Pools ------------------------------------------------------------- */
/* Mask of the lowest run of n free slots in free_mask starting on a
 * multiple of align slots (a power of two), or 0. */
static uint64_t arena_find_run(uint64_t free_mask, unsigned n, unsigned align) {
  static const uint64_t aligned_starts[9] = {[1] = ~0ull, [2] = 0x5555555555555555ull,
                                             [4] = 0x1111111111111111ull, [8] = 0x0101010101010101ull};
  uint64_t runs = free_mask;   /* bit i: slots i..i+have-1 all free */
  for (unsigned have = 1; have < n;) {
    unsigned step = have < n - have ? have : n - have;
    runs &= runs >> step;
    have += step;
  }
  uint64_t starts = runs & aligned_starts[align];
  if (starts == 0) return 0;
  unsigned first = (unsigned)__builtin_ctzll(starts);
  uint64_t run = n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1);
  return run << first;
}

/* The first arena of the lowest bucket of set `in_pair` with room for the
 * run, or NULL; *run is set to it. */
static pm_arena_t *arena_find_locked(unsigned in_pair, unsigned nslots, unsigned align_slots, uint64_t *run) {
  for (unsigned b = nslots; b < PM_ARENA_SLOTS; b++)
    for (pm_arena_t *a = arenas.bucket[in_pair][b]; a != NULL; a = a->next)
      if ((*run = arena_find_run(a->free_mask, nslots, align_slots)) != 0) return a;
  return NULL;
}

pm_pool_t *pmi_arena_pool_alloc(unsigned nslots, unsigned align_slots, bool dense, bool *zero) {
  uint64_t run = 0;
  pthread_mutex_lock(&arenas.lock);
  bool pair = dense && !pm_config_secure &&
              arenas.narenas >= (size_t)pmi_option(PM_OPTION_THP_MB) * ((size_t)1 << 20) / PM_CHUNK_SIZE;
  pm_arena_t *a = pair ? arena_find_locked(1, nslots, align_slots, &run) : NULL;
  if (a == NULL) a = arena_find_locked(0, nslots, align_slots, &run);
  if (a == NULL) {
    a = arena_create_locked(pair);
    if (a == NULL) {
      pthread_mutex_unlock(&arenas.lock);
      return NULL;
    }
    run = arena_find_run(a->free_mask, nslots, align_slots);
  }
  pm_assert(run != 0 && (a->free_mask & run) == run);
  pm_assert_expensive(pmi_arena_is_valid(a));
  *zero = (a->zero_mask & run) == run;
  a->zero_mask &= ~run;
  a->dirty_mask &= ~run;
  a->dirty_old_mask &= ~run;
  arena_set_free_mask_locked(a, a->free_mask & ~run);   /* free -> in a pool */
  pthread_mutex_unlock(&arenas.lock);
  pm_pool_t *pool = &a->pools[__builtin_ctzll(run)];
  pm_assert(pool->heap == NULL);          /* blank: pool.c initialises it */
  return pool;
}

void pmi_arena_pool_free(pm_pool_t *pool, unsigned nslots) {
  pm_arena_t *a = pmi_arena_of(pool);
  unsigned slot = (unsigned)(pool - a->pools);
  uint64_t run = (nslots == 64 ? ~(uint64_t)0 : (((uint64_t)1 << nslots) - 1)) << slot;
  pm_assert(pool->heap == NULL && slot >= PM_ARENA_FIRST_SLOT && slot + nslots <= PM_ARENA_LAST_SLOT + 1);
  uint64_t now = pmi_prim_now_ns();
  pthread_mutex_lock(&arenas.lock);
  pm_assert((a->free_mask & run) == 0);
  a->dirty_mask |= run;
  arena_set_free_mask_locked(a, a->free_mask | run);   /* in a pool -> free + dirty */
  pm_assert_expensive(pmi_arena_is_valid(a));
  if (arenas.next_epoch_ns == UINT64_MAX) pm_atomic_store_relaxed(&arenas.next_epoch_ns, now + epoch_ns());
  pthread_mutex_unlock(&arenas.lock);
  pmi_arena_decay(now, false);
}

/* ---- Decay: giving memory back to the OS ------------------------------ */
static void arena_purge_locked(pm_arena_t *a, uint64_t dirty) {
  pm_assert((dirty & ~a->dirty_mask) == 0);   /* only free, dirty slots are purged */
  while (dirty != 0) {
    unsigned first = (unsigned)__builtin_ctzll(dirty);
    unsigned len = (unsigned)__builtin_ctzll(~(dirty >> first));
    if (first + len > 64) len = 64 - first;
    uint64_t run = (len == 64 ? ~(uint64_t)0 : (((uint64_t)1 << len) - 1)) << first;
    if (pmi_os_purge((char *)a + (size_t)first * PM_SLOT_SIZE, (size_t)len * PM_SLOT_SIZE))
      a->zero_mask |= run;
    pm_atomic_add_relaxed(&pmi_counters.npurges, 1);
    pm_atomic_add_relaxed(&pmi_counters.purged_bytes, (size_t)len * PM_SLOT_SIZE);
    dirty &= ~run;
    a->dirty_mask &= ~run;                    /* free + dirty -> free (+ zero) */
  }
}

bool pmi_arena_decay(uint64_t now_ns, bool force) {
  if (!force && now_ns < pm_atomic_load_relaxed(&arenas.next_epoch_ns)) return false;
  bool released = false, dirty_left = false;
  force |= epoch_ns() == 0;                  /* POOLMALLOC_DECAY_MS=0: at once */
  pthread_mutex_lock(&arenas.lock);
  for (pm_arena_t *a = arenas.all, *next_a; a != NULL; a = next_a) {
    next_a = a->all_next;
    uint64_t expired = force ? a->dirty_mask : a->dirty_mask & a->dirty_old_mask;
    if (a->nfree == ARENA_USABLE_SLOTS && expired == a->dirty_mask && (expired != 0 || force)) {
      arena_destroy_locked(a);
      released = true;
      continue;
    }
    if (expired != 0) {
      arena_purge_locked(a, expired);
      released = true;
    }
    a->dirty_old_mask = a->dirty_mask;
    pm_assert_expensive(pmi_arena_is_valid(a));
    dirty_left |= a->dirty_mask != 0;
  }
  pm_atomic_store_relaxed(&arenas.next_epoch_ns, dirty_left ? now_ns + epoch_ns() : UINT64_MAX);
  pthread_mutex_unlock(&arenas.lock);
  return released;
}

/* ---- Statistics, fork, validation -------------------------------------- */
/* Reads other heaps' pool counters without stopping them (PM_NO_TSAN): an
 * aligned 32-bit load is never torn, and a stats snapshot may be stale. */
PM_NO_TSAN void pmi_arena_stats(pm_stats_t *out) {
  pthread_mutex_lock(&arenas.lock);
  out->narenas = arenas.narenas;
  out->arena_mapped = arenas.narenas * PM_CHUNK_SIZE;
  out->arena_resident = 0;
  for (pm_arena_t *a = arenas.all; a != NULL; a = a->all_next) {
    size_t clean = a->in_pair ? 0 : pm_popcount64(a->free_mask & ~a->dirty_mask);   /* a bound */
    out->arena_resident += PM_CHUNK_SIZE - clean * PM_SLOT_SIZE;
    for (unsigned s = PM_ARENA_FIRST_SLOT; s <= PM_ARENA_LAST_SLOT; s++) {
      const pm_pool_t *pool = pmi_arena_slot_pool(a, s);
      if (pool == NULL) continue;
      uint32_t nused = pool->nused;   /* racy by design: see arena_stats_racy */
      out->pool_in_use += (size_t)pool->nslots * PM_SLOT_SIZE;
      out->small_allocated += (size_t)nused * pool->block_size;
      out->small_free += (size_t)(pool->capacity - nused) * pool->block_size;
    }
  }
  pthread_mutex_unlock(&arenas.lock);
}

/* The pool that slot `slot` heads, or NULL: a free slot, a slot inside a
 * pool, or a slot handed out to pool.c whose pool_init has not finished (its
 * descriptor still holds the previous pool's nslots, so counting it counted
 * slots twice).  heap is stored last by pool_init (release), so once it
 * reads non-NULL the fields are the pool's own.  Under the arena lock, so
 * the pool's slots cannot go back to the arena meanwhile. */
PM_NO_TSAN const pm_pool_t *pmi_arena_slot_pool(const pm_arena_t *a, unsigned slot) {
  const pm_pool_t *pool = &a->pools[slot];
  if (pool->head != pool || ((a->free_mask >> slot) & 1)) return NULL;
  return pm_atomic_load_acquire(&pool->heap) != NULL ? pool : NULL;
}

/* stats_json.c and timeline.c: fn sees every arena under the arena lock
 * (fn must not allocate or take another lock of ours). */
void pmi_arena_walk(void (*fn)(const pm_arena_t *a, void *arg), void *arg) {
  pthread_mutex_lock(&arenas.lock);
  for (pm_arena_t *a = arenas.all; a != NULL; a = a->all_next) fn(a, arg);
  pthread_mutex_unlock(&arenas.lock);
}

void pmi_arena_lock(void) { pthread_mutex_lock(&arenas.lock); }
void pmi_arena_unlock(void) { pthread_mutex_unlock(&arenas.lock); }

void pmi_arena_fork_prepare(void) { pthread_mutex_lock(&arenas.lock); }
void pmi_arena_fork_parent(void) { pthread_mutex_unlock(&arenas.lock); }
void pmi_arena_fork_child(void) { pthread_mutex_unlock(&arenas.lock); }

bool pmi_arena_is_valid(const pm_arena_t *a) {
  return a->magic == PM_ARENA_MAGIC && (a->free_mask & ~ARENA_ALL_SLOTS) == 0 &&
         a->nfree == pm_popcount64(a->free_mask) &&
         (a->dirty_mask & ~a->free_mask) == 0 && (a->zero_mask & ~a->free_mask) == 0 &&
         (a->dirty_mask & a->zero_mask) == 0 && (a->dirty_old_mask & ~a->dirty_mask) == 0 &&
         a->bucket == pm_longest_run64(a->free_mask);
}
