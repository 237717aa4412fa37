/* internal.h — the cross-file API of the allocator, grouped by owning file.
 *
 * Every name here is pmi_<module>_<verb> and hidden: nothing in this header
 * is exported from libpoolmalloc.so.  Nothing declared here may call malloc.
 */
#ifndef PM_INTERNAL_H
#define PM_INTERNAL_H

#include "types.h"
#include <poolmalloc.h>
#include <stdarg.h>

/* ---- Attributes, assertions, bit helpers -------------------------------- */
#define PM_INTERNAL __attribute__((visibility("hidden")))
#define PM_EXPORT __attribute__((visibility("default")))
#define PM_NOINLINE __attribute__((noinline))
#define PM_COLD __attribute__((cold))
#define PM_NORETURN __attribute__((noreturn))
#define PM_INLINE static inline __attribute__((always_inline))
#define PM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define pm_likely(x) __builtin_expect(!!(x), 1)
#define pm_unlikely(x) __builtin_expect(!!(x), 0)

#define pm_assert_at_level(level, cond)                                        \
  do {                                                                         \
    if (PM_DEBUG >= (level) && pm_unlikely(!(cond)))                           \
      pmi_fmt_assert_fail(#cond, __FILE__, __LINE__);                          \
  } while (0)
#define pm_assert(cond) pm_assert_at_level(1, cond)
#define pm_assert_internal(cond) pm_assert_at_level(2, cond)
#define pm_assert_expensive(cond) pm_assert_at_level(3, cond)

PM_INLINE bool pm_is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }
PM_INLINE size_t pm_align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }
PM_INLINE unsigned pm_log2(size_t x) { return 63u - (unsigned)__builtin_clzll(x); }

/* ---- Locks --------------------------------------------------------------- */
/* The three allocator locks (arena.c, large.c, heap.c) are glibc adaptive
 * mutexes: their critical sections are a few dozen instructions, so a
 * contended lock spins briefly before it sleeps, instead of paying a futex
 * wait and wake each time (mstress: 1,400 futex calls per run otherwise).
 * No path holds two of them at once.  After fork the child re-initialises
 * them with PM_LOCK_RESET. */
#include <pthread.h>
#define PM_LOCK_INITIALIZER PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#define PM_LOCK_RESET(m) (*(m) = (pthread_mutex_t)PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP)

/* ---- fmt.c: formatting and failing without malloc ------------------------ */
/* A snprintf subset: %s %c %d %i %u %x %p %% with l, ll and z modifiers and a
 * field width.  Always NUL-terminates; returns the length it wanted. */
PM_INTERNAL size_t pmi_fmt_vformat(char *buf, size_t size, const char *fmt, va_list ap);
PM_INTERNAL size_t pmi_fmt_format(char *buf, size_t size, const char *fmt, ...) PM_PRINTF(3, 4);
PM_INTERNAL void pmi_fmt_print(int fd, const char *fmt, ...) PM_PRINTF(2, 3);
/* "poolmalloc: <message>\n" on stderr. */
PM_INTERNAL void pmi_fmt_message(const char *fmt, ...) PM_PRINTF(1, 2);
/* Misuse or internal failure: one line on stderr, then abort(). */
PM_INTERNAL PM_NORETURN PM_COLD void pmi_fatal(const char *fmt, ...) PM_PRINTF(1, 2);
PM_INTERNAL PM_NORETURN PM_COLD void pmi_fmt_assert_fail(const char *cond, const char *file, int line);

/* ---- options.c: the POOLMALLOC_* table ---------------------------------- */
typedef enum pm_option_e {
  PM_OPTION_SHOW_STATS,      /* print statistics at exit                  */
  PM_OPTION_DECAY_MS,        /* delay before empty memory goes to the OS  */
  PM_OPTION_PURGE_FREE,      /* purge with MADV_FREE instead of DONTNEED  */
  PM_OPTION_FOREIGN_FREE,    /* 0 = abort on foreign pointers, 1 = libc   */
  PM_OPTION_LARGE_CACHE_MB,  /* bytes the large-mapping cache may hold    */
  PM_OPTION_VERBOSE,         /* report options and unusual events         */
  PM_OPTION_COUNT
} pm_option_t;
PM_INTERNAL extern long pmi_option_values[PM_OPTION_COUNT];
PM_INLINE long pmi_option(pm_option_t o) { return pmi_option_values[o]; }
PM_INTERNAL void pmi_options_init(char **envp, bool secure);
PM_INTERNAL void pmi_options_print(int fd);

/* ---- sizeclass.c (inline mapping in sizeclass.h) -------------------------- */
typedef struct pm_class_info_s {
  uint32_t block_size;
  uint32_t capacity;    /* blocks per pool   */
  uint64_t recip;       /* ceil(2^40 / size) */
  uint8_t nslots;       /* slots per pool    */
  uint8_t align_slots;  /* pools start on a multiple of this many slots */
} pm_class_info_t;
PM_INTERNAL extern pm_class_info_t pmi_class_info[PM_NCLASSES];
PM_INTERNAL void pmi_sizeclass_init(void);

/* ---- pagemap.c: which chunks are ours ------------------------------------ */
enum { PM_CHUNK_FOREIGN = 0, PM_CHUNK_ARENA = 1, PM_CHUNK_LARGE = 2, PM_CHUNK_LARGE_AT_BASE = 3 };
#define PM_PAGEMAP_KIND_MASK ((1u << PM_PAGEMAP_KIND_BITS) - 1)
PM_INTERNAL extern uint8_t *pmi_pagemap_root[PM_PAGEMAP_ROOT_SIZE];
/* The raw entry of the chunk holding p (kind | extent units << 2): two
 * dependent loads, no lock.  An arena's entry is exactly PM_CHUNK_ARENA. */
PM_INLINE unsigned pmi_pagemap_entry(const void *p) {
  uintptr_t a = (uintptr_t)p;
  if (pm_unlikely(a >> PM_VA_BITS != 0)) return PM_CHUNK_FOREIGN;
  const uint8_t *leaf =
      __atomic_load_n(&pmi_pagemap_root[a >> (PM_CHUNK_SHIFT + PM_PAGEMAP_LEAF_SHIFT)], __ATOMIC_RELAXED);
  if (pm_unlikely(leaf == NULL)) return PM_CHUNK_FOREIGN;
  return __atomic_load_n(&leaf[(a >> PM_CHUNK_SHIFT) & PM_PAGEMAP_LEAF_MASK], __ATOMIC_RELAXED);
}
/* The kind of the memory at p, exact to PM_PAGEMAP_EXTENT_UNIT: a pointer
 * past the end of a large mapping that ends inside its chunk is foreign. */
PM_INLINE unsigned pmi_pagemap_kind(const void *p) {
  unsigned e = pmi_pagemap_entry(p), units = e >> PM_PAGEMAP_KIND_BITS;
  if (units != 0 && ((uintptr_t)p & PM_CHUNK_MASK) >= (size_t)units * PM_PAGEMAP_EXTENT_UNIT) return PM_CHUNK_FOREIGN;
  return e & PM_PAGEMAP_KIND_MASK;
}
/* Marks the chunk at chunk_base as kind, ours for its first extent bytes (a
 * multiple of PM_PAGEMAP_EXTENT_UNIT; PM_CHUNK_SIZE = all of it; 0 with
 * PM_CHUNK_FOREIGN).  False (ENOMEM) only when a leaf of the map could not
 * be mapped; clearing never fails.  The caller follows the chunk-map rule
 * in pagemap.c. */
PM_INTERNAL bool pmi_pagemap_set(const void *chunk_base, unsigned kind, size_t extent);
/* Makes sure the map can mark p's chunk later without failing (maps its
 * leaf now); false (ENOMEM) if it cannot. */
PM_INTERNAL bool pmi_pagemap_prepare(const void *p);

/* ---- arena.c: pools carved from arenas ----------------------------------- */
PM_INLINE pm_arena_t *pmi_arena_of(const void *p) {
  return (pm_arena_t *)((uintptr_t)p & ~(uintptr_t)PM_CHUNK_MASK);
}
/* The pool descriptor of the slot holding p (p must be in an arena). */
PM_INLINE pm_pool_t *pmi_arena_pool_of(const void *p) {
  pm_arena_t *a = pmi_arena_of(p);
  pm_pool_t *pool = &a->pools[((uintptr_t)p & PM_CHUNK_MASK) >> PM_SLOT_SHIFT];
  return pool - pool->head_offset;
}
/* A run of nslots blank slots starting on a multiple of align_slots: the
 * head descriptor (heap == NULL), for pool.c to initialise; *zero tells
 * whether the slots read as zero.  NULL when no arena could be mapped. */
PM_INTERNAL pm_pool_t *pmi_arena_pool_alloc(unsigned nslots, unsigned align_slots, bool *zero);
/* Gives the nslots slots of a released (blank) pool back to its arena,
 * dirty until decay. */
PM_INTERNAL void pmi_arena_pool_free(pm_pool_t *pool, unsigned nslots);
/* Purges dirty slots and unmaps empty arenas older than the decay delay
 * (all of them when force); returns true if memory went back to the OS. */
PM_INTERNAL bool pmi_arena_decay(uint64_t now_ns, bool force);
PM_INTERNAL void pmi_arena_stats(pm_stats_t *out);
PM_INTERNAL void pmi_arena_fork_prepare(void);
PM_INTERNAL void pmi_arena_fork_parent(void);
PM_INTERNAL void pmi_arena_fork_child(void);
PM_INTERNAL bool pmi_arena_is_valid(const pm_arena_t *a);

/* ---- pool.c: the pool state machine -------------------------------------- */
/* Bytes of pool ever carved into blocks (relaxed: other threads read it). */
PM_INLINE uint32_t pmi_pool_carved(const pm_pool_t *pool) {
  return __atomic_load_n(&pool->carved, __ATOMIC_RELAXED);
}
/* Is p the start of a block of pool that has been carved (so it may have
 * been handed out)?  p must lie in pool's slots (p >= start).  One
 * multiply: with recip = ceil(2^40 / size) = (2^40 + e) / size, e < size,
 * off * recip = idx * 2^40 + (idx * e + rem * recip) where rem = off % size,
 * so the low 40 bits are below recip exactly when rem == 0 (idx * e is at
 * most the pool size, 2^19, and recip is at least 2^40 / 2^17 = 2^23). */
PM_INLINE bool pmi_pool_is_block(const pm_pool_t *pool, const void *p) {
  uint64_t off = (uint64_t)((const char *)p - pool->start);
  return ((off * pool->recip) & (((uint64_t)1 << 40) - 1)) < pool->recip && off < pmi_pool_carved(pool);
}
/* Free-block canaries (pool.c): a keyed hash of the block's address in word
 * 1 of every free block, not invertible from one (address, canary) pair. */
typedef struct pm_keys_s {
  uint64_t mul0, mul1;          /* odd, random per process (pmi_init)  */
} pm_keys_t;
PM_INTERNAL extern pm_keys_t pmi_keys;
PM_INLINE uintptr_t pmi_canary(const void *b) {
  uint64_t x = (uint64_t)(uintptr_t)b * pmi_keys.mul0;
  return (uintptr_t)(((x << 32) | (x >> 32)) * pmi_keys.mul1);
}
/* The canary of a block waiting on a remote-free stack: the owner's drain
 * tells it from a block that was also freed locally (a double free). */
PM_INLINE uintptr_t pmi_canary_remote(const void *b) { return pmi_canary(b) ^ 1; }
/* The pool part of malloc's refill for class cls in heap h: a block
 * (canary cleared), or NULL when no arena could be mapped. */
PM_INTERNAL void *pmi_pool_malloc_refill(pm_heap_t *h, unsigned cls);
/* A popped block that is outside the pool or lacks its canary. */
PM_INTERNAL PM_NORETURN PM_COLD void pmi_pool_pop_fatal(const pm_pool_t *pool, const pm_block_t *b);
/* After a local free made the pool empty or un-full. */
PM_INTERNAL void pmi_pool_free_event(pm_heap_t *h, pm_pool_t *pool);
/* The one pop (malloc's fast path and pool.c's refill): pool->free != NULL.
 * The range check refuses a forged link before the block is read; the
 * canary check catches double frees and writes after free (pool.c). */
PM_INLINE void *pmi_pool_pop(pm_pool_t *pool) {
  pm_block_t *b = pool->free;
  if (pm_unlikely((uint64_t)((char *)b - pool->start) >= pool->carved || b->canary != pmi_canary(b)))
    pmi_pool_pop_fatal(pool, b);
  pool->free = b->next;
  b->canary = 0;
  pool->nused++;
  return b;
}
/* The one local push (free's fast path, the remote drain, the slow free):
 * by the owner, or by whoever holds an abandoned heap off its list. */
PM_INLINE void pmi_pool_push_local(pm_heap_t *h, pm_pool_t *pool, pm_block_t *b) {
  b->next = pool->local_free;
  b->canary = pmi_canary(b);
  pool->local_free = b;
  if (pm_unlikely(--pool->nused == 0 || pool->full)) pmi_pool_free_event(h, pool);
}
/* Gives every empty pool of h back to its arena (trim, thread exit). */
PM_INTERNAL void pmi_pool_release_empty(pm_heap_t *h);
PM_INTERNAL bool pmi_pool_is_valid(const pm_pool_t *pool);

/* ---- heap.c: thread-local heaps ----------------------------------------- */
PM_INTERNAL extern __thread pm_heap_t *pmi_heap_tls __attribute__((tls_model("initial-exec")));
PM_INTERNAL extern const pm_heap_t pmi_heap_empty;
PM_INTERNAL extern const pm_pool_t pmi_pool_empty;
/* The calling thread's heap, created (or adopted) on first use; NULL only
 * if the metadata for a heap could not be mapped. */
PM_INTERNAL pm_heap_t *pmi_heap_get(void);
/* malloc's slow path for class cls (alloc.c's fast path missed): the
 * thread's heap on first use, housekeeping, the remote drain, then the pool
 * refill; when the OS refuses memory, reclaims and retries once.  A block,
 * or NULL with errno = ENOMEM. */
PM_INTERNAL void *pmi_heap_malloc_slow(pm_heap_t *h, unsigned cls);
/* The OS refused a mapping: release everything cached or empty (as
 * malloc_trim) so that one retry can succeed.  False if nothing went back. */
PM_INTERNAL bool pmi_heap_reclaim(void);
/* Hands b to its owner's remote-free stack (lock-free, batched per owner). */
PM_INTERNAL void pmi_heap_remote_free(pm_heap_t *owner, pm_block_t *b);
/* Pushes this thread's batch of remote frees now. */
PM_INTERNAL void pmi_heap_flush_remote(void);
/* Turns the remote-free stack into local frees. */
PM_INTERNAL void pmi_heap_drain_remote(pm_heap_t *h);
/* Every PM_HOUSEKEEP_EVERY slow-path calls: push this thread's batch of
 * remote frees, decay, collect an abandoned heap. */
PM_INTERNAL void pmi_heap_housekeep(pm_heap_t *h);
/* malloc_trim: drain, release empty pools, decay everything now. */
PM_INTERNAL bool pmi_heap_trim(void);
PM_INTERNAL size_t pmi_heap_count(void);
PM_INTERNAL void pmi_heap_fork_prepare(void);
PM_INTERNAL void pmi_heap_fork_parent(void);
PM_INTERNAL void pmi_heap_fork_child(void);
PM_INTERNAL void pmi_heap_thread_init(void);

/* ---- large.c: blocks above PM_MEDIUM_MAX ---------------------------------- */
/* Requests above these fail at once (alloc.c), without a reclaim. */
#define PM_LARGE_MAX ((size_t)PTRDIFF_MAX - 2 * PM_CHUNK_SIZE)
#define PM_LARGE_MAX_ALIGN ((size_t)PTRDIFF_MAX / 4)
/* A block of size bytes (<= PM_LARGE_MAX) aligned to alignment, zeroed if
 * asked; NULL when the OS refuses (errno untouched). */
PM_INTERNAL void *pmi_large_malloc(size_t size, size_t alignment, bool zero);
/* The header of the large block whose user pointer is p, or NULL if p is
 * not one (kind is pmi_pagemap_kind(p)). */
PM_INTERNAL pm_large_t *pmi_large_header(const void *p, unsigned kind);
/* hdr->live == 1.  Aborts if the header's region does not hold that block. */
PM_INTERNAL void pmi_large_free(pm_large_t *hdr);
PM_INTERNAL void *pmi_large_realloc(pm_large_t *hdr, size_t size);
/* Decay epoch (this thread's cache, then the regions); force: give back
 * everything cached now (malloc_trim, out-of-memory reclaim). */
PM_INTERNAL bool pmi_large_decay(uint64_t now_ns, bool force);
PM_INTERNAL void pmi_large_stats(pm_stats_t *out);
PM_INTERNAL void pmi_large_fork_prepare(void);
PM_INTERNAL void pmi_large_fork_parent(void);
PM_INTERNAL void pmi_large_fork_child(void);
/* The lock of the regions and of the registry of thread caches. */
PM_INTERNAL extern pthread_mutex_t pmi_large_lock;
/* Gives a freed region block's span back (hdr->live already 0); aborts if
 * the region holds no such block.  Caller holds pmi_large_lock. */
PM_INTERNAL void pmi_large_give_locked(pm_large_t *hdr);

/* ---- large_region.c: regions of chunks behind large blocks ---------------- */
/* All of these but pmi_large_region_due run under pmi_large_lock. */
typedef struct pm_lspan_s {
  char *base;                   /* first chunk                             */
  size_t nchunks;
  uint32_t region;              /* index in the region table               */
  bool zero;                    /* every chunk reads as zero               */
} pm_lspan_t;
/* A span of nchunks free chunks, reserving a region if none fits; its first
 * chunk is to be marked by the caller.  False when the OS refuses. */
PM_INTERNAL bool pmi_large_region_take(size_t nchunks, pm_lspan_t *out);
/* Frees the live span starting at base in region: its chunks become free
 * and dirty (base stays marked).  Returns its length in chunks, or 0 if
 * region has no live span starting at base. */
PM_INTERNAL size_t pmi_large_region_give(uint32_t region, char *base);
/* Makes the live span at base nchunks long, in place: shrinking always
 * works, growing only into free chunks right after it.  Returns the new
 * length (nchunks on success, the old length when it cannot grow), or 0 if
 * there is no such live span. */
PM_INTERNAL size_t pmi_large_region_resize(uint32_t region, char *base, size_t nchunks);
/* Purges what has been dirty since the previous epoch and unmaps regions
 * that were wholly free and clean at it, when an epoch is due (or
 * everything now when force); true if memory went back to the OS. */
PM_INTERNAL bool pmi_large_region_decay(uint64_t now_ns, bool force);
/* Is a decay epoch due?  The one call here that needs no lock. */
PM_INTERNAL bool pmi_large_region_due(uint64_t now_ns);
PM_INTERNAL void pmi_large_region_stats(size_t *nlive, size_t *live_bytes, size_t *dirty_bytes);
PM_INTERNAL size_t pmi_large_region_reserved(void);
PM_INTERNAL bool pmi_large_region_is_valid(void);

/* ---- large_tcache.c: each thread's cache of one-chunk large blocks -------- */
typedef struct pm_large_tcache_s {
  pm_large_t *slot[PM_LARGE_TCACHE_SLOTS];   /* a stack, oldest first       */
  uint32_t n;                   /* blocks held (relaxed: statistics read it) */
  uint32_t low;                 /* fewest held since the last check          */
  uint32_t tick;                /* pushes since the last check               */
  uint32_t state;               /* free / owned / orphaned (under the lock)  */
  uint64_t check_ns;            /* clock at the last check                   */
  struct pm_large_tcache_s *next;   /* every record (under the lock)         */
} pm_large_tcache_t;
#define PM_LARGE_TCACHE_CHECK 64   /* pushes between clock reads */
PM_INTERNAL extern __thread pm_large_tcache_t *pmi_large_tcache_tls __attribute__((tls_model("initial-exec")));
/* Gives this thread a cache if it may have one (first slow-path call). */
PM_INTERNAL void pmi_large_tcache_attach(void);
PM_INTERNAL void pmi_large_tcache_check(pm_large_tcache_t *tc);
/* This thread's cache: flush what aged (or everything when force). */
PM_INTERNAL bool pmi_large_tcache_decay(uint64_t now_ns, bool force);
/* heap.c's thread-exit hook: flush, and no cache for this thread again. */
PM_INTERNAL void pmi_large_tcache_thread_exit(void);
PM_INTERNAL size_t pmi_large_tcache_count_locked(void);
PM_INTERNAL void pmi_large_tcache_fork_child(void);
/* A one-chunk block freed earlier by this thread (live == 0, still marked),
 * or NULL. */
PM_INLINE pm_large_t *pmi_large_tcache_pop(void) {
  pm_large_tcache_t *tc = pmi_large_tcache_tls;
  if (tc == NULL || tc->n == 0) return NULL;
  uint32_t n = tc->n - 1;
  __atomic_store_n(&tc->n, n, __ATOMIC_RELAXED);
  if (n < tc->low) tc->low = n;
  return tc->slot[n];
}
/* Keeps hdr (a one-chunk block being freed) for this thread: false if the
 * thread has no cache or it is full. */
PM_INLINE bool pmi_large_tcache_push(pm_large_t *hdr) {
  pm_large_tcache_t *tc = pmi_large_tcache_tls;
  if (tc == NULL || tc->n == PM_LARGE_TCACHE_SLOTS) return false;
  hdr->live = 0;
  tc->slot[tc->n] = hdr;
  __atomic_store_n(&tc->n, tc->n + 1, __ATOMIC_RELAXED);
  if (pm_unlikely(++tc->tick == PM_LARGE_TCACHE_CHECK)) pmi_large_tcache_check(tc);
  return true;
}

/* ---- alloc.c: the public entry points, hidden twins for internal callers -- */
PM_INTERNAL void *pmi_malloc(size_t size);
PM_INTERNAL void pmi_free(void *p);
PM_INTERNAL void *pmi_calloc(size_t count, size_t size);
PM_INTERNAL void *pmi_realloc(void *p, size_t size);
PM_INTERNAL void *pmi_aligned(size_t alignment, size_t size);
PM_INTERNAL size_t pmi_usable_size(const void *p);
/* The narrow API of the allocator for the GC layer (lib/gc/ uses only this,
 * so arena and chunk-map geometry can change without touching it). */
/* Does p lie in memory poolmalloc manages (an arena or a large mapping)?
 * O(1), no lock; says nothing about whether p is a live block. */
PM_INLINE bool pmi_alloc_owns(const void *p) { return pmi_pagemap_kind(p) != PM_CHUNK_FOREIGN; }
/* malloc_trim(0): returns true if memory went back to the OS. */
PM_INTERNAL bool pmi_alloc_trim(void);

/* ---- foreign.c: pointers that are not ours ------------------------------ */
/* Hands p to libc (POOLMALLOC_FOREIGN_FREE=1) or reports it and aborts. */
PM_INTERNAL void pmi_foreign_free(void *p);
/* libc's usable size of p, or SIZE_MAX when foreign pointers are not allowed. */
PM_INTERNAL size_t pmi_foreign_usable_size(const void *p);

/* ---- stats.c: counters and reports --------------------------------------- */
typedef struct pm_counters_s {
  _Atomic size_t mapped;        /* arena + large bytes mapped now   */
  _Atomic size_t peak_mapped;
  _Atomic size_t npurges;
  _Atomic size_t narena_unmaps;
} pm_counters_t;
PM_INTERNAL extern pm_counters_t pmi_counters;
PM_INTERNAL void pmi_stats_mapped(ptrdiff_t delta);
PM_INTERNAL void pmi_stats_init(void);
PM_INTERNAL void pmi_stats_at_exit(void);

/* ---- init.c: process start-up ------------------------------------------- */
/* Idempotent; safe to call recursively from an allocation made while it runs. */
PM_INTERNAL void pmi_init(void);
PM_INTERNAL extern _Atomic int pmi_init_state;   /* 0 none, 1 core ready, 2 done */
PM_INLINE void pmi_init_ensure(void) {
  if (pm_unlikely(atomic_load_explicit(&pmi_init_state, memory_order_acquire) == 0)) pmi_init();
}

/* ---- fork.c ------------------------------------------------------------- */
PM_INTERNAL void pmi_fork_register(void);

#endif /* PM_INTERNAL_H */
