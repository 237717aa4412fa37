/* SPDX-License-Identifier: MIT */
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
typedef enum pm_option_e {   /* one PM_OPTION_<NAME> per line of options.def */
#define PM_OPTION(name, value_default, min, max, doc) PM_OPTION_##name,
#include "options.def"
#undef PM_OPTION
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
PM_INTERNAL extern uint8_t pmi_pagemap_bits[PM_NCHUNKS / 4];
/* The kind of the chunk holding p: two bits, one load, no lock. */
PM_INLINE unsigned pmi_pagemap_kind(const void *p) {
  uintptr_t chunk = (uintptr_t)p >> PM_CHUNK_SHIFT;
  if (pm_unlikely(chunk >= PM_NCHUNKS)) return PM_CHUNK_FOREIGN;
  return (pmi_pagemap_bits[chunk >> 2] >> ((chunk & 3) * 2)) & 3u;
}
PM_INTERNAL void pmi_pagemap_set(const void *chunk_base, unsigned kind);

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
/* A pool of class cls owned by h, with no blocks carved yet; NULL + ENOMEM. */
PM_INTERNAL pm_pool_t *pmi_arena_pool_alloc(pm_heap_t *h, unsigned cls);
/* Gives an empty pool's slots back to its arena (dirty until decay). */
PM_INTERNAL void pmi_arena_pool_free(pm_pool_t *pool);
/* Purges dirty slots and unmaps empty arenas older than the decay delay
 * (all of them when force); returns true if memory went back to the OS. */
PM_INTERNAL bool pmi_arena_decay(uint64_t now_ns, bool force);
PM_INTERNAL void pmi_arena_stats(pm_stats_t *out);
PM_INTERNAL void pmi_arena_fork_prepare(void);
PM_INTERNAL void pmi_arena_fork_parent(void);
PM_INTERNAL void pmi_arena_fork_child(void);
PM_INTERNAL bool pmi_arena_is_valid(const pm_arena_t *a);

/* ---- pool.c: the pool state machine -------------------------------------- */
/* Is p the start of a block of pool (and inside its capacity)?  One
 * multiply: with recip = ceil(2^40 / size) = (2^40 + e) / size, e < size,
 * off * recip = idx * 2^40 + (idx * e + rem * recip) where rem = off % size,
 * so the low 40 bits are below recip exactly when rem == 0 (idx * e is at
 * most the pool size, 2^19, and recip is at least 2^40 / 2^17 = 2^23). */
PM_INLINE bool pmi_pool_is_block(const pm_pool_t *pool, const void *p) {
  uint64_t prod = (uint64_t)((const char *)p - pool->start) * pool->recip;
  return (prod & (((uint64_t)1 << 40) - 1)) < pool->recip && (prod >> 40) < pool->capacity;
}
/* Every block on a free list carries this canary in word 1. */
PM_INTERNAL extern uintptr_t pmi_secret;   /* canary key, random per process */
PM_INLINE uintptr_t pmi_canary(const void *b) { return (uintptr_t)b ^ pmi_secret; }
/* Refill path of malloc for class cls: returns a block (canary cleared) or
 * NULL with errno = ENOMEM. */
PM_INTERNAL void *pmi_pool_malloc_slow(pm_heap_t *h, unsigned cls);
/* A popped block without its canary: it was freed twice. */
PM_INTERNAL PM_NORETURN PM_COLD void pmi_pool_reuse_fatal(const void *b);
/* After a local free made the pool empty or un-full. */
PM_INTERNAL void pmi_pool_free_event(pm_heap_t *h, pm_pool_t *pool);
/* The one pop (malloc's fast path and pool.c's refill): pool->free != NULL.
 * The canary check is what catches double frees (pool.c, "Double frees"). */
PM_INLINE void *pmi_pool_pop(pm_pool_t *pool) {
  pm_block_t *b = pool->free;
  if (pm_unlikely(b->canary != pmi_canary(b))) pmi_pool_reuse_fatal(b);
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

/* ---- large.c: one mapping per block ------------------------------------- */
PM_INTERNAL void *pmi_large_malloc(size_t size, size_t alignment, bool zero);
/* The header of the large block whose user pointer is p, or NULL if p is
 * not one (kind is pmi_pagemap_kind(p)). */
PM_INTERNAL pm_large_t *pmi_large_header(const void *p, unsigned kind);
PM_INTERNAL void pmi_large_free(pm_large_t *hdr);
PM_INTERNAL void *pmi_large_realloc(pm_large_t *hdr, size_t size);
PM_INTERNAL bool pmi_large_decay(uint64_t now_ns, bool force);
PM_INTERNAL void pmi_large_stats(pm_stats_t *out);
PM_INTERNAL void pmi_large_fork_prepare(void);
PM_INTERNAL void pmi_large_fork_parent(void);
PM_INTERNAL void pmi_large_fork_child(void);

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
