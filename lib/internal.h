/* SPDX-License-Identifier: MIT */
/* internal.h — the cross-file API of the allocator, grouped by owning file.
 *
 * Every name here is pmi_<module>_<verb> and hidden: nothing in this header
 * is exported from libpoolmalloc.so.  Nothing declared here may call malloc.
 */
#ifndef PM_INTERNAL_H
#define PM_INTERNAL_H

#include "types.h"
#include "atomic.h"
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
/* For the statistics walkers only: they read counters other threads update
 * without atomics (pool->nused), a stale value being good enough, and must
 * not make ThreadSanitizer report the fast paths that update them. */
#define PM_NO_TSAN __attribute__((no_sanitize("thread")))
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
/* Set bits, without the libgcc call __builtin_popcountll becomes on CPUs
 * without POPCNT (issue 8 §2): the SWAR sum, a dozen instructions. */
PM_INLINE unsigned pm_popcount64(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return (unsigned)((x * 0x0101010101010101ull) >> 56);
}
/* Length of the longest run of set bits, in six steps instead of one per
 * bit: runs[k] has bit i set when bits i..i+2^k-1 all are; the run found so
 * far (bit i set when bits i..i+len-1 are) grows by 32, 16, ..., 1 where it
 * can (arena.c buckets arenas by it). */
PM_INLINE unsigned pm_longest_run64(uint64_t mask) {
  if (mask == 0) return 0;
  uint64_t runs[6];
  runs[0] = mask;
  for (unsigned k = 1; k < 6; k++) runs[k] = runs[k - 1] & (runs[k - 1] >> (1u << (k - 1)));
  uint64_t found = mask;
  unsigned len = 1;
  for (int k = 5; k >= 0; k--) {
    uint64_t longer = found & (runs[k] >> len);
    if (longer != 0) {
      found = longer;
      len += 1u << k;
    }
  }
  return len;
}

/* Do the len bytes at p (both multiples of 16) read as zero?  Four 16-byte
 * vector loads per step (SSE2 / NEON), for the secure library's checks on
 * reuse, which read whole blocks. */
typedef uint64_t pm_v2_t __attribute__((vector_size(16), may_alias));
PM_INLINE bool pm_is_zero16(const void *p, size_t len) {
  const pm_v2_t *v = (const pm_v2_t *)p, *end = (const pm_v2_t *)((const char *)p + len);
  pm_v2_t acc = {0, 0};
  for (; end - v >= 4; v += 4) acc |= v[0] | v[1] | v[2] | v[3];
  for (; v < end; v++) acc |= v[0];
  return (acc[0] | acc[1]) == 0;
}

/* ---- Locks --------------------------------------------------------------- */
/* The three allocator locks (arena.c, large.c, heap.c) are glibc adaptive
 * mutexes: their critical sections are a few dozen instructions, so a
 * contended lock spins briefly before it sleeps, instead of paying a futex
 * wait and wake each time (mstress: 1,400 futex calls per run otherwise).
 * No path holds two of them at once.  fork.c's handlers take them all
 * before fork and release them in the parent and in the child (the child's
 * one thread is the one that took them: unlocking is legal, and unlike
 * re-initialising by assignment ThreadSanitizer can follow it). */
#include <pthread.h>
#define PM_LOCK_INITIALIZER PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP

/* ---- fmt.c: formatting and failing without malloc ------------------------ */
/* A snprintf subset: %s %c %d %i %u %x %p %% with l, ll and z modifiers, a
 * field width, and a precision for strings (%.*s).  Always NUL-terminates; returns the length it wanted. */
PM_INTERNAL size_t pmi_fmt_vformat(char *buf, size_t size, const char *fmt, va_list ap);
PM_INTERNAL size_t pmi_fmt_format(char *buf, size_t size, const char *fmt, ...) PM_PRINTF(3, 4);
PM_INTERNAL void pmi_fmt_print(int fd, const char *fmt, ...) PM_PRINTF(2, 3);
/* "poolmalloc: <message>\n" on stderr. */
PM_INTERNAL void pmi_fmt_message(const char *fmt, ...) PM_PRINTF(1, 2);
/* Misuse or internal failure: one line on stderr, then abort(). */
PM_INTERNAL PM_NORETURN PM_COLD void pmi_fatal(const char *fmt, ...) PM_PRINTF(1, 2);
PM_INTERNAL PM_NORETURN PM_COLD void pmi_fmt_assert_fail(const char *cond, const char *file, int line);

/* ---- options.c: the POOLMALLOC_* table ---------------------------------- */
typedef enum pm_option_e {   /* one PM_OPTION_<NAME> per number of options.def */
#define PM_OPTION(name, value_default, min, max, doc) PM_OPTION_##name,
#include "options.def"
  PM_OPTION_COUNT
} pm_option_t;
PM_INTERNAL extern long pmi_option_values[PM_OPTION_COUNT];
PM_INLINE long pmi_option(pm_option_t o) { return pmi_option_values[o]; }
/* Options whose value is a path (copied at start-up; "" when unset). */
typedef enum pm_option_path_e {   /* one PM_OPTION_PATH_<NAME> per path of options.def */
#define PM_OPTION_PATH(name, doc) PM_OPTION_PATH_##name,
#include "options.def"
  PM_OPTION_PATH_COUNT
} pm_option_path_t;
/* The path given, or "" when the option is unset. */
PM_INTERNAL const char *pmi_option_path(pm_option_path_t o);
PM_INTERNAL void pmi_options_init(char **envp, bool secure);
PM_INTERNAL void pmi_options_print(int fd);

/* ---- sizeclass.c (inline mapping in sizeclass.h) -------------------------- */
typedef struct pm_class_info_s {
  uint32_t block_size;
  uint32_t capacity;    /* blocks per pool   */
  uint64_t recip;       /* ceil(2^64 / size) */
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
  uintptr_t root = (uintptr_t)p >> (PM_CHUNK_SHIFT + PM_PAGEMAP_LEAF_SHIFT);
  if (pm_unlikely(root >= PM_PAGEMAP_ROOT_SIZE)) return PM_CHUNK_FOREIGN;   /* above user space */
  const uint8_t *leaf = pm_atomic_load_relaxed(&pmi_pagemap_root[root]);
  if (pm_unlikely(leaf == NULL)) return PM_CHUNK_FOREIGN;
  return pm_atomic_load_relaxed(&leaf[((uintptr_t)p >> PM_CHUNK_SHIFT) & PM_PAGEMAP_LEAF_MASK]);
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

/* The base of the 1 MiB chunk holding p (what the chunk map is indexed by). */
PM_INLINE char *pmi_chunk_base(const void *p) { return (char *)((uintptr_t)p & ~(uintptr_t)PM_CHUNK_MASK); }

/* ---- slotmap.c: the descriptor of every slot of our arenas --------------- */
PM_INTERNAL extern pm_pool_t **pmi_slotmap_root[PM_SLOTMAP_ROOT_SIZE];
/* The descriptor of the 16 KiB slot holding p if p lies in one of our
 * arenas (its ->head is the pool), else NULL (foreign, large, or out of
 * range): free's fast path, three dependent loads and no lock, where the
 * chunk map takes two loads and the arena header a third after an address
 * computation (issue 8 §3). */
PM_INLINE pm_pool_t *pmi_slotmap_slot(const void *p) {
  uintptr_t root = (uintptr_t)p >> PM_SLOTMAP_ROOT_SHIFT;
  if (pm_unlikely(root >= PM_SLOTMAP_ROOT_SIZE)) return NULL;   /* above user space */
  pm_pool_t **leaf = pm_atomic_load_relaxed(&pmi_slotmap_root[root]);
  if (pm_unlikely(leaf == NULL)) return NULL;
  return pm_atomic_load_relaxed(&leaf[((uintptr_t)p >> PM_SLOT_SHIFT) & PM_SLOTMAP_LEAF_MASK]);
}
/* Points the entries of every slot of arena a at a's descriptors (after it
 * is mapped, before any pool of it escapes; the caller holds the arena
 * lock); false (ENOMEM) only when a leaf could not be mapped. */
PM_INTERNAL bool pmi_slotmap_set_arena(pm_arena_t *a);
/* Clears a's entries (before its range can be mapped again; the caller
 * holds the arena lock); never fails. */
PM_INTERNAL void pmi_slotmap_clear_arena(const pm_arena_t *a);

/* ---- arena.c: pools carved from arenas ----------------------------------- */
PM_INLINE pm_arena_t *pmi_arena_of(const void *p) { return (pm_arena_t *)pmi_chunk_base(p); }
/* The pool descriptor of the slot holding p (p must be in an arena). */
PM_INLINE pm_pool_t *pmi_arena_pool_of(const void *p) {
  pm_arena_t *a = pmi_arena_of(p);
  return a->pools[((uintptr_t)p & PM_CHUNK_MASK) >> PM_SLOT_SHIFT].head;
}
/* A run of nslots blank slots starting on a multiple of align_slots: the
 * head descriptor (heap == NULL), for pool.c to initialise; *zero tells
 * whether the slots read as zero.  dense: the pool's blocks are at most a
 * page, so carving writes every page of it (it may go to a huge-page
 * arena).  NULL when no arena could be mapped. */
PM_INTERNAL pm_pool_t *pmi_arena_pool_alloc(unsigned nslots, unsigned align_slots, bool dense, bool *zero);
/* Gives the nslots slots of a released (blank) pool back to its arena,
 * dirty until decay. */
PM_INTERNAL void pmi_arena_pool_free(pm_pool_t *pool, unsigned nslots);
/* Purges dirty slots and unmaps empty arenas older than the decay delay
 * (all of them when force); returns true if memory went back to the OS. */
PM_INTERNAL bool pmi_arena_decay(uint64_t now_ns, bool force);
PM_INTERNAL void pmi_arena_stats(pm_stats_t *out);
PM_INTERNAL void pmi_arena_walk(void (*fn)(const pm_arena_t *a, void *arg), void *arg);
PM_INTERNAL const pm_pool_t *pmi_arena_slot_pool(const pm_arena_t *a, unsigned slot);
/* The arena lock, held by pool.c while a pool changes class in place
 * (pool_recycle), so that the walks above never read a pool half remade. */
PM_INTERNAL void pmi_arena_lock(void);
PM_INTERNAL void pmi_arena_unlock(void);
PM_INTERNAL void pmi_arena_fork_prepare(void);
PM_INTERNAL void pmi_arena_fork_parent(void);
PM_INTERNAL void pmi_arena_fork_child(void);
PM_INTERNAL bool pmi_arena_is_valid(const pm_arena_t *a);

/* ---- pool.c: the pool state machine -------------------------------------- */
/* Bytes of pool ever carved into blocks (relaxed: other threads read it). */
PM_INLINE uint32_t pmi_pool_carved(const pm_pool_t *pool) {
  return pm_atomic_load_relaxed(&pool->carved);
}
/* Is p the start of a block of pool that has been carved (so it may have
 * been handed out)?  p must lie in pool's slots (p >= start).  One
 * multiply, the exact-division test: with recip = ceil(2^64 / size) =
 * (2^64 + e) / size, e < size, off * recip = idx * 2^64 + (idx * e +
 * rem * recip) where rem = off % size, so the product modulo 2^64 is below
 * recip exactly when rem == 0 (idx * e is at most the pool size, 2^20, far
 * below recip >= 2^64 / 2^17; and with rem >= 1 the sum stays below 2^64).
 * Modulo 2^64 is what the machine's multiply gives: no mask. */
PM_INLINE bool pmi_pool_is_block(const pm_pool_t *pool, const void *p) {
  uint64_t off = (uint64_t)((const char *)p - pool->start);
  return off * pool->recip < pool->recip && off < pmi_pool_carved(pool);
}
/* The index of the block holding offset off of pool (off < carved): the
 * high half of off * recip. */
PM_INLINE size_t pmi_pool_block_index(const pm_pool_t *pool, uint64_t off) {
  return (size_t)(((unsigned __int128)off * pool->recip) >> 64);
}
/* The empty pool: every class list of a heap with no pool of that class
 * points here (free == NULL, so the malloc fast path misses). */
PM_INTERNAL extern const pm_pool_t pmi_pool_empty;
/* Free-block canaries (pool.c): a keyed hash of the block's address in word
 * 1 of every free block, not invertible from one (address, canary) pair. */
typedef struct pm_keys_s {
  uint64_t mul0, mul1;          /* odd, random per process (pmi_init)  */
  uint64_t tail;                /* secure: the tail canaries' own key  */
} pm_keys_t;
PM_INTERNAL extern pm_keys_t pmi_keys;
PM_INLINE uintptr_t pmi_canary(const void *b) {
  uint64_t x = (uint64_t)(uintptr_t)b * pmi_keys.mul0;
  return (uintptr_t)(((x << 32) | (x >> 32)) * pmi_keys.mul1);
}
/* The pool part of malloc's refill for class cls in heap h: a block
 * (canary cleared), or NULL when no arena could be mapped. */
PM_INTERNAL void *pmi_pool_malloc_refill(pm_heap_t *h, unsigned cls);
/* A popped block that is outside the pool or lacks its canary. */
PM_INTERNAL PM_NORETURN PM_COLD void pmi_pool_pop_fatal(const pm_pool_t *pool, const pm_block_t *b);
/* After a local free or a splice of n blocks starting at first (now the
 * head of local_free) made the pool empty or un-full, or freed into a pool
 * holding profiled blocks. */
PM_INTERNAL void pmi_pool_free_event(pm_heap_t *h, pm_pool_t *pool, pm_block_t *first, uint32_t n);

/* ---- pool.c, the secure library's block state (docs/security.md) -------- */
/* Free-list links are authenticated: word 0 holds next ^ pool->key and word
 * 1 a keyed hash of the block's address and of the link, so a link rewritten
 * through a dangling pointer (or an overflow) is refused before it is
 * followed (pool.c, "Authenticated links"). */
PM_INLINE uintptr_t pmi_canary_link(const void *b, const void *next) {
  uintptr_t n = (uintptr_t)next;
  return pmi_canary((const void *)((uintptr_t)b ^ (n << 16 | n >> 48)));
}
/* The allocated bits of block p (pool.c, "Allocated bits"); *mask selects
 * its bit in both words. */
PM_INLINE pm_block_bits_t *pmi_pool_bits(const void *p, uint64_t *mask) {
  uintptr_t g = ((uintptr_t)p & PM_CHUNK_MASK) / PM_ALIGN - PM_ARENA_FIRST_SLOT * (PM_SLOT_SIZE / PM_ALIGN);
  *mask = (uint64_t)1 << (g % 64);
  return &pmi_arena_of(p)->bits[g / 64];
}
/* Misuse the bits reveal: fatal, with the address. */
PM_INTERNAL PM_NORETURN PM_COLD void pmi_pool_double_free(const void *p);
PM_INTERNAL PM_NORETURN PM_COLD void pmi_pool_handout_fatal(const pm_pool_t *pool, const void *b, bool allocated);
/* Block p of pool (its owner's, being freed): the free blocks within 32
 * bytes before and after it must be intact; fatal otherwise (pool.c,
 * "Neighbours"). */
PM_INTERNAL void pmi_pool_check_neighbours(const pm_pool_t *pool, const void *p);
/* Words 2.. of a popped block are not all zero: written after its free. */
PM_INTERNAL void pmi_pool_check_zero(const pm_pool_t *pool, const pm_block_t *b);
/* Block p of pool is freed (after the caller's range checks): its bits say
 * it was handed out, else a double free.  local: by the pool's owner (plain
 * store); otherwise its remote bit is set with one atomic or, which also
 * catches two other threads freeing it at once. */
PM_INLINE void pmi_pool_mark_free(const pm_pool_t *pool, const void *p, bool local) {
  uint64_t m;
  pm_block_bits_t *bits = pmi_pool_bits(p, &m);
  uint64_t a = pm_atomic_load_relaxed(&bits->alloc);
  if (local) {
    if (pm_unlikely(!(a & m) || (pm_atomic_load_relaxed(&bits->remote) & m))) pmi_pool_double_free(p);
    pm_atomic_store_relaxed(&bits->alloc, a & ~m);
  } else if (pm_unlikely(!(a & m) || (pm_atomic_fetch_or_acq_rel(&bits->remote, m) & m))) {
    pmi_pool_double_free(p);
  }
}
/* Is block p of pool handed out (bits only; for realloc and usable size)? */
PM_INLINE bool pmi_pool_is_allocated(const void *p) {
  uint64_t m;
  pm_block_bits_t *bits = pmi_pool_bits(p, &m);
  return (pm_atomic_load_relaxed(&bits->alloc) & m) && !(pm_atomic_load_relaxed(&bits->remote) & m);
}
/* A block leaves a free list (secure pop): it must be free by its bits
 * (alloc clear, or alloc and remote set: freed by another thread), and it
 * becomes handed out; then words 2.. must still be zero. */
PM_INLINE void pmi_pool_handout(const pm_pool_t *pool, pm_block_t *b) {
  uint64_t m;
  pm_block_bits_t *bits = pmi_pool_bits(b, &m);
  uint64_t a = pm_atomic_load_relaxed(&bits->alloc), r = pm_atomic_load_relaxed(&bits->remote);
  if (pm_likely(!(a & m))) {
    if (pm_unlikely(r & m)) pmi_pool_handout_fatal(pool, b, false);   /* freed locally and remotely */
    pm_atomic_store_relaxed(&bits->alloc, a | m);
  } else {
    if (pm_unlikely(!(r & m))) pmi_pool_handout_fatal(pool, b, true);  /* a listed block in use */
    pm_atomic_fetch_and_acq_rel(&bits->remote, ~m);
  }
  uint32_t bs = pool->block_size;
  if (bs <= 64) {                        /* inline: up to three 16-byte granules */
    const pm_v2_t *v = (const pm_v2_t *)(b + 1);
    pm_v2_t acc = {0, 0};
    for (uint32_t k = 1; k < bs / 16; k++) acc |= v[k - 1];
    if (pm_likely((acc[0] | acc[1]) == 0)) return;
  }
  pmi_pool_check_zero(pool, b);
}
/* Writes the free-list words of b: link to next (both libraries' formats). */
PM_INLINE void pmi_pool_link(const pm_pool_t *pool, pm_block_t *b, pm_block_t *next) {
  if (pm_config_secure) {
    b->next = (pm_block_t *)((uintptr_t)next ^ pool->key);
    b->canary = pmi_canary_link(b, next);
  } else {
    b->next = next;
    b->canary = pmi_canary(b);
  }
}
/* The link of a listed block, decoded (not checked). */
PM_INLINE pm_block_t *pmi_pool_next(const pm_pool_t *pool, const pm_block_t *b) {
  return pm_config_secure ? (pm_block_t *)((uintptr_t)b->next ^ pool->key) : b->next;
}
/* Does listed block b carry the canary of its link next? */
PM_INLINE bool pmi_pool_link_ok(const pm_block_t *b, const pm_block_t *next) {
  return b->canary == (pm_config_secure ? pmi_canary_link(b, next) : pmi_canary(b));
}

/* The one pop (malloc's fast path and pool.c's refill): pool->free != NULL.
 * The range check refuses a forged link before the block is read; the
 * canary check catches double frees and writes after free (pool.c).  The
 * secure library also checks that the block starts a block, authenticates
 * its link, clears both words and hands it out by its bits. */
PM_INLINE void *pmi_pool_pop(pm_pool_t *pool) {
  pm_block_t *b = pool->free;
  if (pm_config_secure) {   /* (no block-start test: a link that passes its MAC is one we wrote) */
    if (pm_unlikely((uint64_t)((char *)b - pool->start) >= pool->carved)) pmi_pool_pop_fatal(pool, b);
    pm_block_t *next = pmi_pool_next(pool, b);
    if (pm_unlikely(b->canary != pmi_canary_link(b, next))) pmi_pool_pop_fatal(pool, b);
    pool->free = next;
    b->next = NULL;
    b->canary = 0;
    pool->nused++;
    pmi_pool_handout(pool, b);
    return b;
  }
  if (pm_unlikely((uint64_t)((char *)b - pool->start) >= pool->carved || b->canary != pmi_canary(b)))
    pmi_pool_pop_fatal(pool, b);
  pool->free = b->next;
  b->canary = 0;
  pool->nused++;
  return b;
}
/* free is empty: local_free becomes the list malloc pops (the refill that
 * needs no lock and no list walk; malloc's miss path does it inline). */
PM_INLINE void pmi_pool_take_local(pm_pool_t *pool) {
  pool->free = pool->local_free;
  pool->local_free = NULL;
  pool->free_is_zero = 0;
}
/* When a pool last became empty, in units of 2^PM_POOL_STAMP_SHIFT ns
 * (pool.c, "Decay"). */
#define PM_POOL_STAMP_SHIFT 20
PM_INLINE uint32_t pmi_pool_stamp(uint64_t ns) { return (uint32_t)(ns >> PM_POOL_STAMP_SHIFT); }
/* A free that empties a pool already kept on h's empty list (a malloc/free
 * loop on one block) only moves its stamp; true when that was all. */
PM_INLINE bool pmi_pool_restamp_kept(pm_heap_t *h, pm_pool_t *pool) {
  /* An atomic load of its own, so that GCC does not hoist it into free's
   * fast path, which tests free_events once already. */
  if (pm_atomic_load_relaxed(&pool->free_events) != 0 || !pool->in_empty) return false;
  pool->emptied = pmi_pool_stamp(h->now_ns);
  return true;
}
/* The one local push (free's fast path, the remote drain, the slow free):
 * by the owner, or by whoever holds an abandoned heap off its list.  The
 * restamp is inline: without the call, a malloc/free loop on a class with
 * no other live block costs 13 instructions less per pair (106 -> 93). */
PM_INLINE void pmi_pool_push_local(pm_heap_t *h, pm_pool_t *pool, pm_block_t *b) {
  pmi_pool_link(pool, b, pool->local_free);
  pool->local_free = b;
  if (pm_unlikely(--pool->nused == 0 || pool->free_events) && !pmi_pool_restamp_kept(h, pool))
    pmi_pool_free_event(h, pool, b, 1);
}
/* Splices a chain head..tail of n blocks of pool (freed by other threads,
 * linked through word 0, canaries in place) into local_free (heap.c's drain). */
PM_INTERNAL void pmi_pool_splice_secure(pm_pool_t *pool, pm_block_t *head, uint32_t n);
PM_INLINE void pmi_pool_splice_local(pm_heap_t *h, pm_pool_t *pool, pm_block_t *head, pm_block_t *tail, uint32_t n) {
  if (pm_config_secure) pmi_pool_splice_secure(pool, head, n);   /* checks and relinks: pool.c */
  else tail->next = pool->local_free;
  pool->local_free = head;
  pool->nused -= n;
  if (pm_unlikely(pool->nused == 0 || pool->free_events)) pmi_pool_free_event(h, pool, head, n);
}
/* Gives back the empty pools h keeps that were empty before before_ns
 * (heap housekeeping: the decay delay). */
PM_INTERNAL void pmi_pool_release_old_empty(pm_heap_t *h, uint64_t before_ns);
/* Gives every empty pool of h back to its arena (trim, thread exit). */
PM_INTERNAL void pmi_pool_release_empty(pm_heap_t *h);
PM_INTERNAL bool pmi_pool_is_valid(const pm_pool_t *pool);
/* Walks h's list of class cls (pool.c); the number of pools, SIZE_MAX if broken. */
PM_INTERNAL size_t pmi_pool_list_check(const pm_heap_t *h, unsigned cls);

/* ---- cxx_runtime.c: the C++ runtime, weakly (cxx_new.cc) ---------------- */
typedef void (*pmi_cxx_handler_fn)(void);
/* The current new-handler; NULL when there is none or no C++ runtime. */
PM_INTERNAL pmi_cxx_handler_fn pmi_cxx_new_handler(void);
/* Throws std::bad_alloc, or aborts with a diagnostic without a C++ runtime. */
PM_INTERNAL PM_NORETURN void pmi_cxx_throw_bad_alloc(size_t size);

/* ---- heap.c: thread-local heaps ----------------------------------------- */
PM_INTERNAL extern __thread pm_heap_t *pmi_heap_tls __attribute__((tls_model("initial-exec")));
PM_INTERNAL extern const pm_heap_t pmi_heap_empty;
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
/* Hands b, a block of pool (owned by another heap), to its owner: batched
 * per pool, pushed lock-free on the owner's remote stack. */
PM_INTERNAL void pmi_heap_remote_free(pm_pool_t *pool, pm_block_t *b);
/* Pushes this thread's batch of remote frees now. */
PM_INTERNAL void pmi_heap_flush_remote(void);
/* Turns the remote-free stacks into local frees. */
PM_INTERNAL void pmi_heap_drain_remote(pm_heap_t *h);
/* Whether another thread has posted frees to h that it has not drained. */
PM_INLINE bool pmi_heap_has_remote(const pm_heap_t *h) {
  uintptr_t any = 0;
  for (unsigned lane = 0; lane < PM_REMOTE_LANES; lane++) any |= pm_atomic_load_relaxed(&h->remote[lane]);
  return any != 0;
}
/* Every PM_HOUSEKEEP_EVERY slow-path calls: push this thread's batch of
 * remote frees, decay, collect an abandoned heap. */
PM_INTERNAL void pmi_heap_housekeep(pm_heap_t *h);
/* malloc_trim: drain, release empty pools, decay everything now. */
PM_INTERNAL bool pmi_heap_trim(void);
/* The secure library's quarantine: p (checked, scrubbed, its bits flipped
 * by the caller; bytes it holds in memory, a multiple of 16, below 4 GiB;
 * large: a large block) waits in h's quarantine, and a random older block
 * leaves it for its pool, its owner or large.c.  h may be NULL (no heap):
 * p is released at once. */
PM_INTERNAL void pmi_heap_quarantine(pm_heap_t *h, void *p, size_t bytes, bool large);
/* Releases every block of h's quarantine (thread exit, trim). */
PM_INTERNAL void pmi_heap_quarantine_flush(pm_heap_t *h);
PM_INTERNAL size_t pmi_heap_count(void);
PM_INTERNAL void pmi_heap_walk(void (*fn)(const pm_heap_t *h, void *arg), void *arg);
PM_INTERNAL void pmi_heap_fork_prepare(void);
PM_INTERNAL void pmi_heap_fork_parent(void);
PM_INTERNAL void pmi_heap_fork_child(void);
PM_INTERNAL void pmi_heap_thread_init(void);
/* Every class list of h walked and checked, and no more pools listed than
 * h owns (PM_DEBUG >= 3 callers; h held by the caller alone). */
PM_INTERNAL bool pmi_heap_is_valid(const pm_heap_t *h);

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
/* Secure library: fatal unless hdr's block has a mapping of its own, as
 * every secure large block does (a forged header otherwise). */
PM_INTERNAL void pmi_large_check_own(const pm_large_t *hdr, const char *what);
PM_INTERNAL void *pmi_large_realloc(pm_large_t *hdr, size_t size);
/* Decay epoch (this thread's cache, then the regions); force: give back
 * everything cached now (malloc_trim, out-of-memory reclaim). */
PM_INTERNAL bool pmi_large_decay(uint64_t now_ns, bool force);
PM_INTERNAL void pmi_large_stats(pm_stats_t *out);
/* Address space the large regions reserve (statistics). */
PM_INTERNAL size_t pmi_large_reserved(void);
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
/* pmi_large_region_give for a span whose pages were moved away (realloc's
 * move out of a region): its chunks are purged at once, marks and all, so
 * they are not counted as memory held. */
PM_INTERNAL size_t pmi_large_region_give_moved(uint32_t region, char *base);
/* Makes the live span at base nchunks long, in place: shrinking always
 * works, growing only into free chunks right after it.  Returns the new
 * length (nchunks on success, the old length when it cannot grow), or 0 if
 * there is no such live span. */
PM_INTERNAL size_t pmi_large_region_resize(uint32_t region, char *base, size_t nchunks);
/* Purges what has been dirty since the previous epoch and unmaps regions
 * that were wholly free and clean at it, when an epoch is due (or
 * everything now when force); true if memory went back to the OS. */
PM_INTERNAL bool pmi_large_region_decay(uint64_t now_ns, bool force);
/* Called WITHOUT pmi_large_lock, after any call that may have released a
 * region (decay): unmaps the regions it retired. */
PM_INTERNAL void pmi_large_region_unmap_retired(void);
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
  pm_atomic_store_relaxed(&tc->n, n);
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
  pm_atomic_store_relaxed(&tc->n, tc->n + 1);
  if (pm_unlikely(++tc->tick == PM_LARGE_TCACHE_CHECK)) pmi_large_tcache_check(tc);
  return true;
}

/* ---- zero.c: malloc(0) of the secure library ----------------------------- */
/* A distinct 16-byte slot of PROT_NONE memory, or NULL with errno = ENOMEM. */
PM_INTERNAL void *pmi_zero_malloc(void);
/* Does p lie in a zero-size region? */
PM_INTERNAL bool pmi_zero_owns(const void *p);
/* p (owned): fatal on a double or invalid free. */
PM_INTERNAL void pmi_zero_free(void *p);
/* p (owned) is handed out, else fatal naming the operation `what`. */
PM_INTERNAL void pmi_zero_check_live(const void *p, const char *what);

/* ---- secure.c: the secure library's entry points ------------------------ */
/* alloc.c's entry points call these when pm_config_secure (docs/security.md). */
PM_INTERNAL void *pmi_secure_malloc(size_t size);
PM_INTERNAL void pmi_secure_free(void *p);
PM_INTERNAL void *pmi_secure_realloc(void *p, size_t size);
PM_INTERNAL void *pmi_secure_aligned(size_t alignment, size_t size);
/* The size requested for p (malloc_usable_size of the secure library). */
PM_INTERNAL size_t pmi_secure_usable_size(const void *p);
/* free_sized and C++ sized delete: size must be the size requested for p. */
PM_INTERNAL void pmi_secure_check_size(const void *p, size_t size, const char *what);
/* The secure memcpy's check of [p, p + n), n > 0, destination (write) or
 * source: inside the requested bytes of a block in use, when p is in one. */
PM_INTERNAL void pmi_secure_check_copy(const void *p, size_t n, bool write);

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
/* A fine monotonic clock in nanoseconds (collection durations). */
PM_INTERNAL uint64_t pmi_alloc_clock_ns(void);
/* Names the block p just allocated, if the profiler sampled it (the GC
 * layer passes its type name: docs/profiling.md, "Annotations"). */
PM_INLINE void pmi_alloc_annotate(const void *p, const char *name);   /* defined below prof.c's */

/* ---- foreign.c: pointers that are not ours ------------------------------ */
/* Hands p to libc (POOLMALLOC_FOREIGN_FREE=1) or reports it and aborts. */
PM_INTERNAL void pmi_foreign_free(void *p);
/* libc's usable size of p, or SIZE_MAX when foreign pointers are not allowed. */
PM_INTERNAL size_t pmi_foreign_usable_size(const void *p);

/* ---- counters.c: process-wide event counters ------------------------------ */
typedef struct pm_counters_s {
  size_t mapped;                /* arena + large bytes mapped now   */
  size_t peak_mapped;           /* all four: relaxed (counters)     */
  size_t npurges;
  size_t narena_unmaps;
  size_t purged_bytes;          /* bytes given back by madvise, ever */
} pm_counters_t;
PM_INTERNAL extern pm_counters_t pmi_counters;
/* Bytes mapped changed by delta (peak_mapped follows). */
PM_INTERNAL void pmi_counters_mapped(ptrdiff_t delta);

/* ---- stats.c: reports ------------------------------------------------------ */
PM_INTERNAL void pmi_stats_init(void);
PM_INTERNAL void pmi_stats_at_exit(void);

/* ---- prof.c: sampled allocation-site profiling (docs/profiling.md) ------ */
/* Set once at start-up; read only on slow paths, never on a fast path. */
PM_INTERNAL extern bool pmi_prof_on;
/* The slow path installed a fresh free list on pool (free was NULL, the
 * list holds every free block the pool has: local_free is empty and the
 * rest is uncarved): draws where the next sample falls, cuts the list
 * there, and pops.  (alloc.c's inline refill stands aside while the
 * profiler is on, so every fresh list passes here.) */
PM_INTERNAL void *pmi_prof_pop_fresh(pm_pool_t *pool);
/* pool->free ran dry at a cut: the first stashed block is a sample. */
PM_INTERNAL void *pmi_prof_pop_stash(pm_pool_t *pool);
/* A local free into a pool with sampled blocks: b may be one of them. */
PM_INTERNAL void pmi_prof_free_event(pm_pool_t *pool, void *b);
/* Large blocks: decide and record (after the header is set up), forget. */
PM_INTERNAL void pmi_prof_large_malloc(void *user);
PM_INTERNAL void pmi_prof_large_free(pm_large_t *hdr);
/* Attach a static name to the block just sampled by this thread (the GC
 * layer passes its type name; see docs/profiling.md, "Annotations"). */
PM_INTERNAL void pmi_prof_annotate(const void *block, const char *name);
PM_INTERNAL void pmi_prof_init(void);         /* core init: options, tables  */
PM_INTERNAL void pmi_prof_start(void);        /* constructor: prime, signal  */
PM_INTERNAL void pmi_prof_at_exit(void);      /* profile, leak report        */
PM_INTERNAL void pmi_prof_fork_prepare(void);
PM_INTERNAL void pmi_prof_fork_parent(void);
PM_INTERNAL void pmi_prof_fork_child(void);
/* alloc.c's narrow API for the GC layer, over the profiler (declared above). */
PM_INLINE void pmi_alloc_annotate(const void *p, const char *name) {
  if (pm_unlikely(pmi_prof_on)) pmi_prof_annotate(p, name);
}

/* ---- stats_json.c, timeline.c -------------------------------------------- */
/* One walk of every arena, pool and heap: what the JSON document and the
 * timeline report (docs/stats.md explains each figure). */
typedef struct pmi_census_class_s {
  size_t npools, pool_bytes;      /* pools of the class, bytes of their slots */
  size_t nused, used_bytes;       /* blocks out (drained or not)              */
  size_t free_bytes;              /* carved blocks not out                    */
  size_t uncarved_bytes;          /* never handed out yet (bump..end)         */
  size_t resident;                /* estimate, see docs/stats.md              */
} pmi_census_class_t;
typedef struct pmi_census_s {
  size_t narenas, arena_mapped, arena_header_resident;
  size_t slots_in_pools, slots_free_dirty, slots_free_clean;
  size_t pool_resident;           /* sum of the classes' resident             */
  pmi_census_class_t cls[PM_NCLASSES];
} pmi_census_t;
PM_INTERNAL void pmi_census_take(pmi_census_t *c);
/* VmRSS of this process in bytes, read from /proc/self/statm (0 if unknown). */
PM_INTERNAL size_t pmi_stats_rss(void);
PM_INTERNAL void pmi_timeline_start(void);     /* constructor: helper thread */
PM_INTERNAL void pmi_timeline_at_exit(void);

/* ---- init.c: process start-up ------------------------------------------- */
/* Idempotent; safe to call recursively from an allocation made while it runs. */
PM_INTERNAL void pmi_init(void);
PM_INTERNAL extern int pmi_init_state;   /* 0 none, 1 core ready, 2 done; release/acquire */
PM_INLINE void pmi_init_ensure(void) {
  if (pm_unlikely(pm_atomic_load_acquire(&pmi_init_state) == 0)) pmi_init();
}

/* ---- fork.c ------------------------------------------------------------- */
PM_INTERNAL void pmi_fork_register(void);

#endif /* PM_INTERNAL_H */
