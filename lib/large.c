/* SPDX-License-Identifier: MIT */
/* large.c — blocks above PM_MEDIUM_MAX, one mapping each.
 *
 * Layout (types.h): a pm_large_t header page, then the user's pages.  The
 * mapping starts on a chunk boundary, so the chunk holding the user pointer
 * is marked PM_CHUNK_LARGE and the header is found at its base.  For
 * alignments of a chunk or more the user pointer is itself a chunk base
 * (PM_CHUNK_LARGE_AT_BASE) and the header is the page below it.
 *
 * realloc grows or shrinks in place with mremap; when the neighbouring range
 * is taken the pages are moved (not copied) to a new chunk-aligned range.
 * Freed mappings of ordinary alignment wait in a small cache (at most
 * PM_LARGE_CACHE_SLOTS entries and POOLMALLOC_LARGE_CACHE_MB bytes) for
 * reuse by a request that leaves at most a quarter or 1 MiB of them unused
 * (large_slack_ok); entries older than the decay delay are unmapped.  A cached header keeps live == 0 and its chunk stays
 * marked, so a second free of it is reported as a double free.
 * Locking: one mutex for the cache, never held across a system call; the
 * live counters are atomics.
 */
#include "os.h"

#include <errno.h>
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
  _Atomic size_t nlive, live_bytes;     /* counters, outside the lock */
} large = {.lock = PM_LOCK_INITIALIZER};

static void large_account(ptrdiff_t nlive, ptrdiff_t bytes) {
  atomic_fetch_add_explicit(&large.nlive, (size_t)nlive, memory_order_relaxed);
  atomic_fetch_add_explicit(&large.live_bytes, (size_t)bytes, memory_order_relaxed);
}

static void *large_header_init(char *base, size_t map_size, char *user, size_t alignment) {
  pm_large_t *hdr = (pm_large_t *)(((uintptr_t)user & PM_CHUNK_MASK) == 0 ? user - PM_PAGE_SIZE : base);
  hdr->magic = PM_LARGE_MAGIC ^ (uintptr_t)user;
  hdr->user = user;
  hdr->map_base = base;
  hdr->map_size = map_size;
  hdr->usable = (size_t)(base + map_size - user);
  hdr->alignment = alignment;
  hdr->live = 1;
  pmi_pagemap_set(pmi_arena_of(user), hdr == (pm_large_t *)base ? PM_CHUNK_LARGE : PM_CHUNK_LARGE_AT_BASE);
  return user;
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

static void large_unmap(char *base, size_t size) {
  pmi_pagemap_set(base, PM_CHUNK_FOREIGN);
  pmi_os_unmap(base, size);
  pmi_stats_mapped(-(ptrdiff_t)size);
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
    large.cache[large.ncached++] = (large_cached_t){base, size, pmi_os_now_ns()};
    large.cached_bytes += size;
  }
  pthread_mutex_unlock(&large.lock);
  for (unsigned i = 0; i < nevicted; i++) large_unmap(evicted[i].base, evicted[i].size);
}

bool pmi_large_decay(uint64_t now_ns, bool force) {
  uint64_t delay = (uint64_t)pmi_option(PM_OPTION_DECAY_MS) * 1000000u;
  if (__atomic_load_n(&large.ncached, __ATOMIC_RELAXED) == 0) return false;
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
void *pmi_large_malloc(size_t size, size_t alignment, bool zero) {
  if (size > PTRDIFF_MAX - 2 * PM_CHUNK_SIZE || alignment > PTRDIFF_MAX / 4) {
    errno = ENOMEM;
    return NULL;
  }
  size_t usable = pm_align_up(size == 0 ? 1 : size, PM_PAGE_SIZE);
  size_t offset = alignment <= PM_PAGE_SIZE ? PM_PAGE_SIZE : alignment;
  size_t map_size = offset + usable;
  if (offset == PM_PAGE_SIZE) {
    size_t cached_size;
    char *base = large_cache_take(map_size, &cached_size);
    if (base != NULL) {
      void *user = large_header_init(base, cached_size, base + offset, alignment);
      if (zero) memset(user, 0, usable);
      large_account(1, (ptrdiff_t)cached_size);
      return user;
    }
  }
  char *base = pmi_os_map(map_size, alignment < PM_CHUNK_SIZE ? PM_CHUNK_SIZE : alignment);
  if (base == NULL) return NULL;
  pmi_stats_mapped((ptrdiff_t)map_size);
  large_account(1, (ptrdiff_t)map_size);
  return large_header_init(base, map_size, base + offset, alignment);
}

pm_large_t *pmi_large_header(const void *p, unsigned kind) {
  uintptr_t u = (uintptr_t)p, chunk = u & ~(uintptr_t)PM_CHUNK_MASK;
  if ((u & (PM_PAGE_SIZE - 1)) != 0) return NULL;
  pm_large_t *hdr;
  if (kind == PM_CHUNK_LARGE && u != chunk) hdr = (pm_large_t *)chunk;
  else if (kind == PM_CHUNK_LARGE_AT_BASE && u == chunk) hdr = (pm_large_t *)(u - PM_PAGE_SIZE);
  else return NULL;
  return hdr->magic == (PM_LARGE_MAGIC ^ u) && hdr->user == p ? hdr : NULL;
}

void pmi_large_free(pm_large_t *hdr) {
  hdr->live = 0;
  large_account(-1, -(ptrdiff_t)hdr->map_size);
  if (hdr->alignment <= PM_PAGE_SIZE) {
    large_cache_put(hdr->map_base, hdr->map_size);
  } else {                                  /* hdr is inside the mapping */
    char *base = hdr->map_base;
    size_t size = hdr->map_size;
    pmi_pagemap_set(pmi_arena_of(hdr->user), PM_CHUNK_FOREIGN);
    pmi_os_unmap(base, size);
    pmi_stats_mapped(-(ptrdiff_t)size);
  }
}

/* size > PM_MEDIUM_MAX.  Returns the (possibly moved) block, or NULL with
 * errno = ENOMEM and the old block untouched. */
void *pmi_large_realloc(pm_large_t *hdr, size_t size) {
  char *user = hdr->user, *base = hdr->map_base;
  if (size > PTRDIFF_MAX - 2 * PM_CHUNK_SIZE) {
    errno = ENOMEM;
    return NULL;
  }
  if (hdr->alignment > PM_PAGE_SIZE) {        /* rare: keep it simple, copy */
    void *q = pmi_large_malloc(size, PM_ALIGN, false);
    if (q == NULL) return NULL;
    memcpy(q, user, size < hdr->usable ? size : hdr->usable);
    pmi_large_free(hdr);
    return q;
  }
  size_t offset = (size_t)(user - base), old_size = hdr->map_size;
  size_t new_size = offset + pm_align_up(size, PM_PAGE_SIZE);
  if (new_size <= old_size && large_slack_ok(old_size, new_size)) {   /* fits */
    hdr->usable = old_size - offset;
    return user;
  }
  if (pmi_os_resize_in_place(base, old_size, new_size)) {
    hdr->map_size = new_size;
    hdr->usable = new_size - offset;
  } else {
    size_t alignment = hdr->alignment;       /* hdr moves with the pages */
    char *moved = pmi_os_move(base, old_size, new_size, PM_CHUNK_SIZE);
    if (moved == NULL) return NULL;
    pmi_pagemap_set(pmi_arena_of(user), PM_CHUNK_FOREIGN);
    large_header_init(moved, new_size, moved + offset, alignment);
    user = moved + offset;
  }
  pmi_stats_mapped((ptrdiff_t)new_size - (ptrdiff_t)old_size);
  large_account(0, (ptrdiff_t)new_size - (ptrdiff_t)old_size);
  return user;
}

/* ---- Statistics and fork ------------------------------------------------- */
void pmi_large_stats(pm_stats_t *out) {
  pthread_mutex_lock(&large.lock);
  out->nlarge = atomic_load_explicit(&large.nlive, memory_order_relaxed);
  out->large_allocated = atomic_load_explicit(&large.live_bytes, memory_order_relaxed);
  out->large_cached = large.cached_bytes;
  pthread_mutex_unlock(&large.lock);
}

void pmi_large_fork_prepare(void) { pthread_mutex_lock(&large.lock); }
void pmi_large_fork_parent(void) { pthread_mutex_unlock(&large.lock); }
void pmi_large_fork_child(void) { PM_LOCK_RESET(&large.lock); }
