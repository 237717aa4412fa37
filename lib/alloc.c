/* SPDX-License-Identifier: MIT */
/* alloc.c — the public entry points: malloc, free and the rest of the family.
 *
 * Fast paths only.  malloc of a small block is: one TLS load, a shift, two
 * loads, the popped block's range and canary checks and a pop; free is
 * three slot-map loads to the pool (slotmap.c), three checks (owner,
 * carved block start, not the block freed last) and a push that never reads
 * the block, so freeing a cold block does not wait for memory (pool.c
 * explains how double frees are still caught before reuse).  Everything
 * else tail-calls out of line: heap.c (refill, remote frees), large.c.
 * Each function is defined once as hidden pmi_* (for internal callers such as
 * the GC layer) with an exported pm_* alias; override.c includes this file
 * to add the libc names (aliases must live in the defining unit).
 * The secure library (pm_config_secure) routes every entry point to
 * secure.c first: in libpoolmalloc.so those branches fold away.
 * Never calls malloc; errno is set only on failure.
 */
#define _GNU_SOURCE 1
#include "os.h"
#include "sizeclass.h"

#include <errno.h>
#include <string.h>

#define PM_PUBLIC(name, impl) extern __typeof__(impl) name __attribute__((alias(#impl), visibility("default")))

/* ---- Debug fills (PM_DEBUG >= 1; mimalloc's 0xD0/0xDF) ------------------- */
#define PM_FILL_ALLOC 0xD0
#define PM_FILL_FREE 0xDF
static void alloc_debug_fill(void *p, size_t size, int pattern, size_t skip) {
  if (size > skip) memset((char *)p + skip, pattern, size - skip);
}

/* ---- Misuse ------------------------------------------------------------- */
PM_NOINLINE PM_COLD PM_NORETURN static void alloc_invalid(const char *what, const void *p, unsigned kind) {
  if (kind == PM_CHUNK_FOREIGN) pmi_fatal("invalid %s of %p (not allocated by poolmalloc)", what, p);
  pmi_fatal("invalid %s of %p (not the start of a block)", what, p);
}

/* pool, the pool of arena pointer p, after checking that p is a block of a
 * pool in use and not free (for realloc and malloc_usable_size, which read
 * or keep the block anyway); aborts with a diagnostic for the operation
 * `what` otherwise. */
static pm_pool_t *alloc_checked_pool(pm_pool_t *pool, const void *p, const char *what) {
  if (pm_atomic_load_acquire(&pool->heap) == NULL)
    alloc_invalid(what, p, PM_CHUNK_FOREIGN);
  if (!pmi_pool_is_block(pool, p)) alloc_invalid(what, p, PM_CHUNK_ARENA);
  uintptr_t canary = ((const pm_block_t *)p)->canary;
  if (canary == pmi_canary(p)) pmi_fatal("%s of freed block %p", what, p);
  return pool;
}

/* ---- Out of memory (issue 7 §5) ----------------------------------------- */
/* Large requests go straight to the OS; when it refuses, everything cached
 * or empty is released and the request is tried once more.  (Pool refills
 * do the same in heap.c.) */
static void *alloc_large(size_t size, size_t alignment, bool zero) {
  void *p = NULL;
  if (pm_unlikely(pmi_heap_tls == &pmi_heap_empty)) pmi_heap_get();   /* a heap: its large cache */
  if (pm_likely(size <= PM_LARGE_MAX && alignment <= PM_LARGE_MAX_ALIGN) &&
      ((p = pmi_large_malloc(size, alignment, zero)) != NULL ||
       (pmi_heap_reclaim() && (p = pmi_large_malloc(size, alignment, zero)) != NULL)))
    return p;
  errno = ENOMEM;
  return NULL;
}

/* ---- malloc -------------------------------------------------------------- */
/* The miss path takes the pool's local frees inline: alternating malloc and
 * free of one block no longer goes through the heap's slow path every other
 * call (issue 8 §2).  Housekeeping and the remote drain run when both lists
 * are empty.  While the profiler is on, every fresh list must pass its cut
 * (pool.c), so the miss path stands aside: a load and a branch per list,
 * never per block.  True when pool->free has a block to pop now. */
PM_INLINE bool alloc_pool_ready(pm_pool_t *pool) {
  if (pm_likely(pool->free != NULL)) return true;
  if (pool->local_free == NULL || pmi_prof_on) return false;
  pmi_pool_take_local(pool);
  return true;
}

PM_INLINE void *alloc_from_class(pm_heap_t *h, size_t cls) {
  pm_pool_t *pool = h->pools[cls];
  if (pm_unlikely(!alloc_pool_ready(pool))) return pmi_heap_malloc_slow(h, (unsigned)cls);
  return pmi_pool_pop(pool);
}

PM_NOINLINE static void *alloc_malloc_slow(size_t size) {
  if (size <= PM_MEDIUM_MAX) return alloc_from_class(pmi_heap_tls, pmi_medium_class(size));
  return alloc_large(size, PM_ALIGN, false);
}

static void *alloc_malloc_debug(size_t size) {
  void *p = size <= PM_MEDIUM_MAX ? alloc_from_class(pmi_heap_tls, pmi_size_to_class(size))
                                  : alloc_large(size, PM_ALIGN, false);
  if (p != NULL) alloc_debug_fill(p, size, PM_FILL_ALLOC, 0);
  return p;
}

void *pmi_malloc(size_t size) {
  if (pm_config_secure) return pmi_secure_malloc(size);
  if (PM_DEBUG > 0) return alloc_malloc_debug(size);
  if (pm_likely(size <= PM_SMALL_MAX)) return alloc_from_class(pmi_heap_tls, pmi_small_class(size));
  return alloc_malloc_slow(size);
}

/* ---- free ---------------------------------------------------------------- */
/* Not the owner's fast path: a remote free (the common case here), a debug
 * build, or misuse.  pool is p's descriptor and p one of its carved block
 * starts (the fast path checked).  A local free does not read the block (a
 * double free is caught when the block is popped, pool.c); a remote one
 * does (heap.c). */
PM_NOINLINE static void alloc_free_arena_slow(void *p, pm_pool_t *pool) {
  pm_heap_t *owner = pm_atomic_load_acquire(&pool->heap), *h = pmi_heap_tls;
  if (owner == NULL) alloc_invalid("free", p, PM_CHUNK_FOREIGN);   /* a blank pool */
  if (PM_DEBUG > 0) alloc_debug_fill(p, pool->block_size, PM_FILL_FREE, sizeof(pm_block_t));
  if (owner != h) {
    pmi_heap_remote_free(pool, p);
    return;
  }
  if (p == pool->local_free) pmi_fatal("double free of %p", p);
  pmi_pool_push_local(h, pool, p);
}

/* Frees p, a block of pool that the caller has just checked (realloc). */
static void alloc_free_checked(void *p, pm_pool_t *pool) {
  if (PM_DEBUG > 0) alloc_debug_fill(p, pool->block_size, PM_FILL_FREE, sizeof(pm_block_t));
  pm_heap_t *h = pmi_heap_tls;
  if (pool->heap != h) pmi_heap_remote_free(pool, p);
  else pmi_pool_push_local(h, pool, p);
}

/* p is not a carved block start of its slot's pool (or the pool is blank). */
PM_NOINLINE PM_COLD PM_NORETURN static void alloc_free_invalid(const void *p, const pm_pool_t *pool) {
  alloc_invalid("free", p, pm_atomic_load_relaxed(&pool->heap) == NULL ? PM_CHUNK_FOREIGN : PM_CHUNK_ARENA);
}

PM_NOINLINE static void alloc_free_other(void *p, unsigned kind) {
  if (p == NULL) return;
  if (kind == PM_CHUNK_FOREIGN) {
    pmi_foreign_free(p);
    return;
  }
  pm_large_t *hdr = pmi_large_header(p, kind);
  if (hdr == NULL) alloc_invalid("free", p, kind);
  if (!hdr->live) pmi_fatal("double free of %p", p);
  pmi_large_free(hdr);
}

void pmi_free(void *p) {
  if (pm_config_secure) return pmi_secure_free(p);
  pm_pool_t *slot = pmi_slotmap_slot(p);
  if (pm_unlikely(slot == NULL)) return alloc_free_other(p, pmi_pagemap_kind(p));
  pm_pool_t *pool = slot->head;
  pm_heap_t *h = pmi_heap_tls;
  if (pm_unlikely(!pmi_pool_is_block(pool, p))) alloc_free_invalid(p, pool);
  if (pm_unlikely(PM_DEBUG > 0 || pool->heap != h || p == pool->local_free)) return alloc_free_arena_slow(p, pool);
  pmi_pool_push_local(h, pool, p);
}

/* ---- usable size --------------------------------------------------------- */
size_t pmi_usable_size(const void *p) {
  if (pm_config_secure) return pmi_secure_usable_size(p);
  pm_pool_t *slot = pmi_slotmap_slot(p);
  if (slot != NULL) return alloc_checked_pool(slot->head, p, "malloc_usable_size")->block_size;
  if (p == NULL) return 0;
  unsigned kind = pmi_pagemap_kind(p);
  if (kind == PM_CHUNK_FOREIGN) {
    size_t n = pmi_foreign_usable_size(p);
    if (n == SIZE_MAX) alloc_invalid("malloc_usable_size", p, kind);
    return n;
  }
  pm_large_t *hdr = pmi_large_header(p, kind);
  if (hdr == NULL || !hdr->live) alloc_invalid("malloc_usable_size", p, kind);
  return hdr->usable;
}

/* ---- calloc -------------------------------------------------------------- */
/* Zeroes a small block in 16-byte steps (a call to memset costs more than
 * the stores up to a few cache lines). */
PM_INLINE void alloc_zero_small(void *p, size_t size) {
  uint64_t *w = p, *end = (uint64_t *)((char *)p + pm_align_up(size, 16));
  do {
    w[0] = 0;
    w[1] = 0;
  } while ((w += 2) < end);
}

PM_NOINLINE static void *alloc_calloc_slow(size_t total) {
  if (total > PM_MEDIUM_MAX) return alloc_large(total, PM_ALIGN, true);
  pm_block_t *b = pmi_malloc(total);
  if (b == NULL) return NULL;
  if (PM_DEBUG == 0 && pmi_arena_pool_of(b)->free_is_zero) b->next = NULL;   /* fresh: only the link */
  else memset(b, 0, total);
  return b;
}

/* The small fast path pops from the pool it already holds, so it knows
 * whether the block is fresh (only its link to clear: the pop cleared the
 * canary) without finding the pool again (issue 8 §3); its miss path is
 * malloc's (alloc_pool_ready), so a calloc/free loop never leaves it. */
void *pmi_calloc(size_t count, size_t size) {
  size_t total;
  if (pm_unlikely(__builtin_mul_overflow(count, size, &total))) {
    errno = ENOMEM;
    return NULL;
  }
  if (pm_config_secure) return pmi_secure_malloc(total);   /* its blocks come out zeroed */
  if (PM_DEBUG > 0 || total > PM_SMALL_MAX) return alloc_calloc_slow(total);
  pm_pool_t *pool = pmi_heap_tls->pools[pmi_small_class(total)];
  if (pm_unlikely(!alloc_pool_ready(pool))) return alloc_calloc_slow(total);   /* the profiler's cuts too */
  bool fresh = pool->free_is_zero;
  pm_block_t *b = pmi_pool_pop(pool);
  if (fresh) b->next = NULL;
  else alloc_zero_small(b, total);
  return b;
}

/* ---- realloc ------------------------------------------------------------- */
static void *alloc_move(void *p, size_t old_size, size_t size) {
  void *q = pmi_malloc(size);
  if (q == NULL) return NULL;
  memcpy(q, p, old_size < size ? old_size : size);
  pmi_free(p);
  return q;
}

PM_NOINLINE static void *alloc_realloc_other(void *p, size_t size, unsigned kind) {
  if (kind == PM_CHUNK_FOREIGN) {
    size_t old = pmi_foreign_usable_size(p);
    if (old == SIZE_MAX) alloc_invalid("realloc", p, kind);
    void *q = pmi_malloc(size);
    if (q == NULL) return NULL;
    memcpy(q, p, old < size ? old : size);
    pmi_foreign_free(p);
    return q;
  }
  pm_large_t *hdr = pmi_large_header(p, kind);
  if (hdr == NULL) alloc_invalid("realloc", p, kind);
  if (!hdr->live) pmi_fatal("realloc of freed block %p", p);
  if (size <= PM_MEDIUM_MAX) return alloc_move(p, hdr->usable, size);
  void *q = size > PM_LARGE_MAX ? NULL : pmi_large_realloc(hdr, size);
  if (q == NULL && (size > PM_LARGE_MAX || !pmi_heap_reclaim() || (q = pmi_large_realloc(hdr, size)) == NULL))
    errno = ENOMEM;
  return q;
}

void *pmi_realloc(void *p, size_t size) {
  if (pm_config_secure) return pmi_secure_realloc(p, size);
  if (p == NULL) return pmi_malloc(size);
  if (size == 0) {                       /* glibc: free and return NULL */
    pmi_free(p);
    return NULL;
  }
  pm_pool_t *slot = pmi_slotmap_slot(p);
  if (pm_unlikely(slot == NULL)) return alloc_realloc_other(p, size, pmi_pagemap_kind(p));
  pm_pool_t *pool = alloc_checked_pool(slot->head, p, "realloc");
  size_t block_size = pool->block_size;
  if (size <= block_size && (size >= block_size / 2 || block_size <= 64)) return p;   /* in place */
  void *q = pmi_malloc(size);
  if (q == NULL) return NULL;
  memcpy(q, p, block_size < size ? block_size : size);
  alloc_free_checked(p, pool);           /* the checks above stand: no second lookup */
  return q;
}

static void *pmi_reallocarray(void *p, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return pmi_realloc(p, total);
}

/* ---- Aligned allocation -------------------------------------------------- */
/* alignment: a power of two.  Rounding the size up to a multiple of the
 * alignment picks a class whose block size is a multiple of it, and pools
 * start on a multiple of their blocks' natural alignment, so up to
 * PM_MEDIUM_MAX the blocks come out aligned (docs/design.md, "Alignment"). */
void *pmi_aligned(size_t alignment, size_t size) {
  if (pm_config_secure) return pmi_secure_aligned(alignment, size);
  if (alignment <= PM_ALIGN) return pmi_malloc(size);
  if (alignment <= PM_MEDIUM_MAX && size <= PM_MEDIUM_MAX) {
    size_t rounded = pm_align_up(size == 0 ? 1 : size, alignment);
    if (rounded <= PM_MEDIUM_MAX) return pmi_malloc(rounded);
  }
  return alloc_large(size, alignment, false);
}

static int pmi_posix_memalign(void **out, size_t alignment, size_t size) {
  if (!pm_is_pow2(alignment) || alignment % sizeof(void *) != 0) return EINVAL;
  void *p = pmi_aligned(alignment, size);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

static void *pmi_aligned_alloc(size_t alignment, size_t size) {
  if (!pm_is_pow2(alignment)) {
    errno = EINVAL;
    return NULL;
  }
  return pmi_aligned(alignment, size);
}

static void *pmi_memalign(size_t alignment, size_t size) {
  if (alignment > ((size_t)1 << 62)) {     /* glibc: EINVAL past SIZE_MAX/2+1 */
    errno = EINVAL;
    return NULL;
  }
  if (!pm_is_pow2(alignment)) alignment = alignment <= 1 ? 1 : (size_t)2 << pm_log2(alignment - 1);
  return pmi_aligned(alignment, size);
}

static void *pmi_valloc(size_t size) { return pmi_aligned(PM_PAGE_SIZE, size); }

static void *pmi_pvalloc(size_t size) {
  if (size > PTRDIFF_MAX) {
    errno = ENOMEM;
    return NULL;
  }
  return pmi_aligned(PM_PAGE_SIZE, size == 0 ? PM_PAGE_SIZE : pm_align_up(size, PM_PAGE_SIZE));
}

/* ---- C23 sized frees ------------------------------------------------------ */
/* The default library checks that the block can hold size bytes; the secure
 * one, which knows the size asked for (its tail canary), that size is it
 * (C23: the same size as was requested).  C++ sized delete belongs here
 * too, so that it gets the same check. */
static void alloc_check_size(void *p, size_t size, const char *what) {
  if (pm_config_secure) {
    pmi_secure_check_size(p, size, what);
    return;
  }
  size_t usable = pmi_usable_size(p);
  if (size > usable) pmi_fatal("free_sized of %p with size %zu but the block holds %zu bytes", p, size, usable);
}

static void pmi_free_sized(void *p, size_t size) {
  if (p == NULL) return;
  alloc_check_size(p, size, "free_sized");
  pmi_free(p);
}

static void pmi_free_aligned_sized(void *p, size_t alignment, size_t size) {
  if (p == NULL) return;
  if (!pm_is_pow2(alignment) || (uintptr_t)p % alignment != 0)
    pmi_fatal("free_aligned_sized of %p with alignment %zu it does not have", p, alignment);
  alloc_check_size(p, size, "free_aligned_sized");
  pmi_free(p);
}

bool pmi_alloc_trim(void) { return pmi_heap_trim(); }

uint64_t pmi_alloc_clock_ns(void) { return pmi_prim_precise_ns(); }

static int pmi_malloc_trim(size_t pad) { return pmi_alloc_trim() ? 1 : 0; }

/* ---- The pm_* names ------------------------------------------------------- */
PM_PUBLIC(pm_malloc, pmi_malloc);
PM_PUBLIC(pm_free, pmi_free);
PM_PUBLIC(pm_calloc, pmi_calloc);
PM_PUBLIC(pm_realloc, pmi_realloc);
PM_PUBLIC(pm_reallocarray, pmi_reallocarray);
PM_PUBLIC(pm_free_sized, pmi_free_sized);
PM_PUBLIC(pm_free_aligned_sized, pmi_free_aligned_sized);
PM_PUBLIC(pm_posix_memalign, pmi_posix_memalign);
PM_PUBLIC(pm_aligned_alloc, pmi_aligned_alloc);
PM_PUBLIC(pm_memalign, pmi_memalign);
PM_PUBLIC(pm_valloc, pmi_valloc);
PM_PUBLIC(pm_pvalloc, pmi_pvalloc);
PM_PUBLIC(pm_malloc_usable_size, pmi_usable_size);
PM_PUBLIC(pm_malloc_trim, pmi_malloc_trim);
