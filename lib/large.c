/* SPDX-License-Identifier: MIT */
/* large.c — blocks above PM_MEDIUM_MAX, one mapping each.
 *
 * Layout (types.h): a pm_large_t header page, then the user's pages.  The
 * mapping starts on a chunk boundary, so the chunk holding the user pointer
 * is marked PM_CHUNK_LARGE and the header is found at its base.  For
 * alignments of a chunk or more the user pointer is itself a chunk base
 * (PM_CHUNK_LARGE_AT_BASE) and the header is the page below it.
 *
 * Mappings are multiples of PM_PAGEMAP_EXTENT_UNIT (16 KiB) so that the
 * chunk map can say exactly how much of the first chunk is ours.
 * realloc grows or shrinks in place with mremap; when the neighbouring range
 * is taken the pages are moved (not copied) to a new chunk-aligned range.
 * Freed mappings of ordinary alignment wait in a small cache (at most
 * PM_LARGE_CACHE_SLOTS entries and POOLMALLOC_LARGE_CACHE_MB bytes) for
 * reuse by a request that leaves at most a quarter or 1 MiB of them unused
 * (large_slack_ok); entries older than the decay delay are unmapped.  A cached header keeps live == 0 and its chunk stays
 * marked, so a second free of it is reported as a double free.
 * Locking: one mutex for the cache, never held across a system call; the
 * live counters are atomics.
 *
 * Address space (the chunk-map rule, pagemap.c; issue 7 §1).  Every path
 * that maps, unmaps, moves or reuses a range keeps the map right at every
 * instant another thread can observe:
 *   malloc (fresh)  map, write the header, mark, then return the pointer;
 *   malloc (cached) the mapping never stopped being marked; re-mark it;
 *   free            cache it (still marked, live == 0, so a second free is
 *                   a double free) or clear the mark, then munmap;
 *   evict, decay    take it out of the cache under the lock, clear the
 *                   mark, then munmap (nobody else can reach it any more);
 *   realloc grow    mremap in place, then widen the mark;
 *   realloc shrink  narrow the mark, then mremap in place;
 *   realloc move    clear the old mark, mremap to the new range, then mark
 *                   the new one; if the move fails, restore the old mark.
 * The bug this replaced cleared the old mark after the move, when another
 * thread could already have mapped (and marked) the old range.
 *
 * ---- The secure library (issue 9; docs/security.md) ----------------------
 * Guard pages: a secure mapping is
 *     [header page][guard page][user data ...][guard page]
 * (LARGE_GAP = two pages from the header to the user pointer, and
 * LARGE_TAIL_GUARD = one page at the end, not counted in usable), so no
 * linear overflow or underflow from the block reaches its header or the
 * next mapping.  The guards are set before the chunk is marked and stay set
 * while the mapping is cached.  secure.c hands freed mappings over with
 * their user pages zeroed and PROT_NONE (so a use after free faults while
 * they are cached too); a cached mapping is made read-write again when it
 * is reused.  secure.c never calls pmi_large_realloc (it moves pages
 * itself: mremap cannot move a mapping split by guards), and it clears
 * `live` itself (one atomic exchange, so two frees racing in two threads
 * are told apart) before the mapping reaches pmi_large_free.  That is all
 * of this file's secure code: LARGE_GAP, LARGE_TAIL_GUARD,
 * large_set_guards, the unguard on reuse from the cache and the assertion
 * in pmi_large_free.
 */
#include "os.h"

#include <pthread.h>
#include <string.h>

typedef struct large_cached_s {
  char *base;
  size_t size;
  uint64_t freed_ns;
} large_cached_t;

static struct {
  pthread_mutex_t lock;
  large_cached_t cache[PM_LARGE_CACHE_SLOTS];
  unsigned ncached;
  size_t cached_bytes;
  size_t nlive, live_bytes;             /* counters, outside the lock: relaxed */
} large = {.lock = PM_LOCK_INITIALIZER};

/* ---- Secure layout (see the header) ---------------------------------------- */
#define LARGE_GAP (pm_config_secure ? 2 * PM_PAGE_SIZE : PM_PAGE_SIZE)   /* header .. user */
#define LARGE_TAIL_GUARD (pm_config_secure ? PM_PAGE_SIZE : 0)

/* The guard below hdr's user pointer and the one ending its mapping. */
static bool large_set_guards(const pm_large_t *hdr) {
  return pmi_os_guard((char *)hdr->user - PM_PAGE_SIZE, PM_PAGE_SIZE) &&
         pmi_os_guard(hdr->map_base + hdr->map_size - LARGE_TAIL_GUARD, LARGE_TAIL_GUARD);
}

static void large_account(ptrdiff_t nlive, ptrdiff_t bytes) {
  pm_atomic_add_relaxed(&large.nlive, (size_t)nlive);
  pm_atomic_add_relaxed(&large.live_bytes, (size_t)bytes);
}

/* Marks the chunk of hdr's user pointer with the part of it the mapping
 * covers.  False (ENOMEM) only if the chunk map could not grow. */
static bool large_mark(const pm_large_t *hdr) {
  char *chunk = (char *)((uintptr_t)hdr->user & ~(uintptr_t)PM_CHUNK_MASK);
  size_t covered = (size_t)(hdr->map_base + hdr->map_size - chunk);
  if (covered > PM_CHUNK_SIZE) covered = PM_CHUNK_SIZE;
  unsigned kind = chunk == hdr->user ? PM_CHUNK_LARGE_AT_BASE : PM_CHUNK_LARGE;
  return pmi_pagemap_set(chunk, kind, covered);
}

static void large_unmark(const void *user) {
  pmi_pagemap_set((void *)((uintptr_t)user & ~(uintptr_t)PM_CHUNK_MASK), PM_CHUNK_FOREIGN, 0);
}

/* Writes the header of a block at user in [base, base + map_size). */
static pm_large_t *large_header_init(char *base, size_t map_size, char *user, size_t alignment) {
  pm_large_t *hdr = (pm_large_t *)(((uintptr_t)user & PM_CHUNK_MASK) == 0 ? user - LARGE_GAP : base);
  hdr->magic = PM_LARGE_MAGIC ^ (uintptr_t)user;
  hdr->user = user;
  hdr->map_base = base;
  hdr->map_size = map_size;
  hdr->usable = (size_t)(base + map_size - LARGE_TAIL_GUARD - user);
  hdr->alignment = alignment;
  hdr->live = 1;
  hdr->sampled = 0;
  return hdr;
}

/* Bytes to map for size bytes at offset: whole extent units. */
static size_t large_map_size(size_t offset, size_t size) {
  return pm_align_up(offset + (size == 0 ? 1 : size) + LARGE_TAIL_GUARD, PM_PAGEMAP_EXTENT_UNIT);
}

/* A block may keep a mapping bigger than it needs by a quarter, or by up to
 * PM_LARGE_SLACK_MAX: reusing a cached 1 MiB mapping for a 300 KiB request
 * costs no RSS that the cache was not already holding, and lets realloc
 * grow into it without a system call or a page fault. */
#define PM_LARGE_SLACK_MAX PM_CHUNK_SIZE
static bool large_slack_ok(size_t map_size, size_t need) {
  return map_size - need <= need / 4 || map_size - need <= PM_LARGE_SLACK_MAX;
}

/* ---- The cache of freed mappings ---------------------------------------- */
static char *large_cache_take(size_t need, size_t *size_out) {
  pthread_mutex_lock(&large.lock);
  unsigned best = PM_LARGE_CACHE_SLOTS;
  for (unsigned i = 0; i < large.ncached; i++) {
    size_t s = large.cache[i].size;
    if (s >= need && large_slack_ok(s, need) && (best == PM_LARGE_CACHE_SLOTS || s < large.cache[best].size))
      best = i;
  }
  char *base = NULL;
  if (best != PM_LARGE_CACHE_SLOTS) {
    base = large.cache[best].base;
    *size_out = large.cache[best].size;
    large.cached_bytes -= *size_out;
    large.cache[best] = large.cache[--large.ncached];
  }
  pthread_mutex_unlock(&large.lock);
  return base;
}

/* A cached mapping (user pointer one page in): unmark, then unmap. */
static void large_unmap(char *base, size_t size) {
  large_unmark(base + LARGE_GAP);
  pmi_os_unmap(base, size);
  pmi_counters_mapped(-(ptrdiff_t)size);
}

/* Keeps the mapping if it fits; otherwise (or evicting the oldest to make
 * room) unmaps.  Unmapping happens after the lock is dropped. */
static void large_cache_put(char *base, size_t size) {
  size_t cap = (size_t)pmi_option(PM_OPTION_LARGE_CACHE_MB) << 20;
  large_cached_t evicted[PM_LARGE_CACHE_SLOTS + 1];
  unsigned nevicted = 0;
  pthread_mutex_lock(&large.lock);
  if (size > cap) {
    evicted[nevicted++] = (large_cached_t){base, size, 0};
  } else {
    while (large.ncached == PM_LARGE_CACHE_SLOTS || large.cached_bytes + size > cap) {
      unsigned oldest = 0;
      for (unsigned i = 1; i < large.ncached; i++)
        if (large.cache[i].freed_ns < large.cache[oldest].freed_ns) oldest = i;
      evicted[nevicted++] = large.cache[oldest];
      large.cached_bytes -= large.cache[oldest].size;
      large.cache[oldest] = large.cache[--large.ncached];
    }
    large.cache[large.ncached++] = (large_cached_t){base, size, pmi_prim_now_ns()};
    large.cached_bytes += size;
  }
  pthread_mutex_unlock(&large.lock);
  for (unsigned i = 0; i < nevicted; i++) large_unmap(evicted[i].base, evicted[i].size);
}

bool pmi_large_decay(uint64_t now_ns, bool force) {
  uint64_t delay = (uint64_t)pmi_option(PM_OPTION_DECAY_MS) * 1000000u;
  large_cached_t evicted[PM_LARGE_CACHE_SLOTS];
  unsigned nevicted = 0;
  pthread_mutex_lock(&large.lock);
  for (unsigned i = 0; i < large.ncached;) {
    if (force || now_ns - large.cache[i].freed_ns >= delay) {
      evicted[nevicted++] = large.cache[i];
      large.cached_bytes -= large.cache[i].size;
      large.cache[i] = large.cache[--large.ncached];
    } else {
      i++;
    }
  }
  pthread_mutex_unlock(&large.lock);
  for (unsigned i = 0; i < nevicted; i++) large_unmap(evicted[i].base, evicted[i].size);
  return nevicted > 0;
}

/* ---- malloc, free, realloc ---------------------------------------------- */
static void *large_malloc(size_t size, size_t alignment, bool zero);

/* The profiler sees every large block (prof.c decides whether to sample). */
void *pmi_large_malloc(size_t size, size_t alignment, bool zero) {
  void *user = large_malloc(size, alignment, zero);
  if (pm_unlikely(pmi_prof_on) && user != NULL) pmi_prof_large_malloc(user);
  return user;
}

static void *large_malloc(size_t size, size_t alignment, bool zero) {
  pm_assert(size <= PM_LARGE_MAX && alignment <= PM_LARGE_MAX_ALIGN);
  size_t offset = alignment <= PM_PAGE_SIZE ? LARGE_GAP : alignment;
  size_t map_size = large_map_size(offset, size);
  if (offset == LARGE_GAP) {
    size_t cached_size;
    char *base = large_cache_take(map_size, &cached_size);
    if (base != NULL) {                   /* still marked: re-mark cannot fail */
      pm_large_t *hdr = large_header_init(base, cached_size, base + offset, alignment);
      if (pm_config_secure && !pmi_os_unguard(hdr->user, hdr->usable)) {   /* it waited PROT_NONE */
        large_unmap(base, cached_size);
        goto fresh;
      }
      large_mark(hdr);
      if (zero) memset(hdr->user, 0, map_size - offset);
      large_account(1, (ptrdiff_t)cached_size);
      return hdr->user;
    }
  }
fresh:;
  char *base = pmi_os_map(map_size, alignment < PM_CHUNK_SIZE ? PM_CHUNK_SIZE : alignment);
  if (base == NULL) return NULL;
  pm_large_t *hdr = large_header_init(base, map_size, base + offset, alignment);
  if ((pm_config_secure && !large_set_guards(hdr)) || !large_mark(hdr)) {   /* before the pointer escapes */
    pmi_os_unmap(base, map_size);
    return NULL;
  }
  pmi_counters_mapped((ptrdiff_t)map_size);
  large_account(1, (ptrdiff_t)map_size);
  return hdr->user;
}

pm_large_t *pmi_large_header(const void *p, unsigned kind) {
  uintptr_t u = (uintptr_t)p, chunk = u & ~(uintptr_t)PM_CHUNK_MASK;
  if ((u & (PM_PAGE_SIZE - 1)) != 0) return NULL;
  pm_large_t *hdr;
  if (kind == PM_CHUNK_LARGE && u != chunk) hdr = (pm_large_t *)chunk;
  else if (kind == PM_CHUNK_LARGE_AT_BASE && u == chunk) hdr = (pm_large_t *)(u - LARGE_GAP);
  else return NULL;
  return hdr->magic == (PM_LARGE_MAGIC ^ u) && hdr->user == p ? hdr : NULL;
}

void pmi_large_free(pm_large_t *hdr) {
  pm_assert(hdr->live == 1 || pm_config_secure);   /* secure.c cleared it at the free */
  if (pm_unlikely(hdr->sampled)) pmi_prof_large_free(hdr);
  hdr->live = 0;
  large_account(-1, -(ptrdiff_t)hdr->map_size);
  if (hdr->alignment <= PM_PAGE_SIZE) {
    large_cache_put(hdr->map_base, hdr->map_size);   /* stays marked */
  } else {                                  /* hdr is inside the mapping */
    char *base = hdr->map_base;
    size_t size = hdr->map_size;
    large_unmark(hdr->user);
    pmi_os_unmap(base, size);
    pmi_counters_mapped(-(ptrdiff_t)size);
  }
}

/* Moves hdr's mapping to a new chunk-aligned range of new_size bytes (the
 * kernel moves the pages; nothing is copied).  The new chunk's map leaf is
 * made to exist first, so marking it afterwards cannot fail; the old mark is
 * cleared before the old range becomes free.  NULL: nothing changed. */
static char *large_move(pm_large_t *hdr, size_t new_size) {
  char *user = hdr->user, *base = hdr->map_base;
  size_t offset = (size_t)(user - base), old_size = hdr->map_size, alignment = hdr->alignment;
  char *target = pmi_os_map(new_size, PM_CHUNK_SIZE);
  if (target == NULL) return NULL;
  if (!pmi_pagemap_prepare(target)) {
    pmi_os_unmap(target, new_size);
    return NULL;
  }
  large_unmark(user);
  if (!pmi_os_move_to(base, old_size, new_size, target)) {
    large_mark(hdr);                         /* the old range never stopped being ours */
    return NULL;
  }
  pm_large_t *moved = large_header_init(target, new_size, target + offset, alignment);
  large_mark(moved);
  return moved->user;
}

static void *large_realloc(pm_large_t *hdr, size_t size);

/* PM_MEDIUM_MAX < size <= PM_LARGE_MAX.  Returns the (possibly moved)
 * block, or NULL with the old block untouched.  For the profiler a resized
 * block is a new allocation: the old sample (if any) is forgotten and the
 * new size gets its own draw; on failure the block is no longer sampled
 * (a negligible bias). */
void *pmi_large_realloc(pm_large_t *hdr, size_t size) {
  if (pm_unlikely(hdr->sampled)) pmi_prof_large_free(hdr);
  void *user = large_realloc(hdr, size);
  if (pm_unlikely(pmi_prof_on) && user != NULL) pmi_prof_large_malloc(user);
  return user;
}

/* PM_MEDIUM_MAX < size <= PM_LARGE_MAX.  Returns the (possibly moved)
 * block, or NULL with the old block untouched. */
static void *large_realloc(pm_large_t *hdr, size_t size) {
  char *user = hdr->user, *base = hdr->map_base;
  pm_assert(hdr->live == 1 && size <= PM_LARGE_MAX);
  if (hdr->alignment > PM_PAGE_SIZE) {        /* rare: keep it simple, copy */
    void *q = large_malloc(size, PM_ALIGN, false);
    if (q == NULL) return NULL;
    memcpy(q, user, size < hdr->usable ? size : hdr->usable);
    pmi_large_free(hdr);
    return q;
  }
  size_t offset = (size_t)(user - base), old_size = hdr->map_size;
  size_t new_size = large_map_size(offset, size);
  if (new_size <= old_size && large_slack_ok(old_size, new_size)) {   /* fits */
    hdr->usable = old_size - offset;
    return user;
  }
  if (new_size < old_size) {                  /* shrink: narrow the mark first */
    hdr->map_size = new_size;
    large_mark(hdr);
    if (!pmi_os_resize_in_place(base, old_size, new_size)) {
      hdr->map_size = old_size;
      large_mark(hdr);
      hdr->usable = old_size - offset;
      return user;                            /* keep the bigger mapping */
    }
    hdr->usable = new_size - offset;
  } else if (pmi_os_resize_in_place(base, old_size, new_size)) {   /* grow, then widen */
    hdr->map_size = new_size;
    hdr->usable = new_size - offset;
    large_mark(hdr);                          /* same chunk: its leaf exists */
  } else {
    user = large_move(hdr, new_size);
    if (user == NULL) return NULL;
  }
  pmi_counters_mapped((ptrdiff_t)new_size - (ptrdiff_t)old_size);
  large_account(0, (ptrdiff_t)new_size - (ptrdiff_t)old_size);
  return user;
}

/* ---- Statistics and fork ------------------------------------------------- */
void pmi_large_stats(pm_stats_t *out) {
  pthread_mutex_lock(&large.lock);
  out->nlarge = pm_atomic_load_relaxed(&large.nlive);
  out->large_allocated = pm_atomic_load_relaxed(&large.live_bytes);
  out->large_cached = large.cached_bytes;
  pthread_mutex_unlock(&large.lock);
}

void pmi_large_fork_prepare(void) { pthread_mutex_lock(&large.lock); }
void pmi_large_fork_parent(void) { pthread_mutex_unlock(&large.lock); }
void pmi_large_fork_child(void) { pthread_mutex_unlock(&large.lock); }
