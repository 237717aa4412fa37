/* SPDX-License-Identifier: MIT */
/* types.h — every core structure of poolmalloc, and the tunables.
 *
 * Address space (see docs/design.md, "Memory layout"):
 *
 *   chunk = 1 MiB, aligned.  Every chunk we own is either an ARENA or holds
 *   the user pointer of a LARGE block; pagemap.c keeps a byte per chunk.
 *
 *   arena (one chunk, 64 slots of 16 KiB)
 *   +--------+--------+--------+--------+-----------------+--------+
 *   | slot 0 | slot 1 | slot 2 | slot 3 |       ...       | slot 63|
 *   | header | pool A | pool B (3 slots, medium class)     |  free  |
 *   +--------+--------+--------------------------+--------+--------+
 *    pm_arena_t: masks, list links, pools[64] descriptors (one per slot;
 *    a multi-slot pool's later descriptors point back to its head).
 *
 *   pool (1..32 slots, blocks of one size class, no per-block header)
 *   +-------+-------+-------+-------+---------------------+-----+
 *   | block | block | block | block |  never carved       |waste|
 *   +-------+-------+-------+-------+---------------------+-----+
 *   start                   start + carved   start + capacity * block_size
 *
 *   block while free: word 0 = next free block, word 1 = canary, a keyed
 *   hash of the block's address (pool.c, "Free-block canaries"), so that a
 *   second free is recognised and a forged link is refused.
 *
 *   large block (a span of whole chunks of a region, large_region.c; or a
 *   mapping of its own, large.c: when aligned to 1 MiB or more, with the
 *   header one page below the chunk-aligned user pointer, and once realloc
 *   has grown it out of its region)
 *   +-------------+------------------------------------------+
 *   | pm_large_t  |  user data (usable_size, 16 KiB units)    |
 *   +-------------+------------------------------------------+
 *   base          user = base + max(page, alignment)
 *
 * Invariants (checked by the *_is_valid walkers at PM_DEBUG >= 3):
 *   pool:  nused + |free| + |local_free| + (capacity - carved / block_size)
 *            + (blocks freed remotely, not yet drained) == capacity
 *          every block on free, local_free or prof_stash is a block start
 *          below start + carved, and carries its canary
 *          (+ prof_nstash blocks cut off the free list by the profiler)
 *          full == 1  <=>  the pool is unlinked from its heap's class list
 *                          because free == local_free == prof_stash == NULL
 *                          and carved == capacity * block_size
 *          sampled == 1 <=> prof_nsampled > 0 (prof.c, "Free events")
 *          heap == NULL <=> the pool's slots are free in its arena
 *   arena: nfree == popcount(free_mask); dirty_mask and zero_mask are
 *          disjoint subsets of free_mask; dirty_old_mask is a subset of
 *          dirty_mask
 *          the arena sits on the bucket of its longest free run (best fit)
 *   heap:  pools[c] is the head of class c's list of non-full pools, or
 *          &pmi_pool_empty; it is written only by its owning thread (or by
 *          whoever holds it off every list while abandoned).
 */
#ifndef PM_TYPES_H
#define PM_TYPES_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* mremap, MAP_* extensions, adaptive mutexes */
#endif
#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef PM_SECURE
#define PM_SECURE 0   /* 1 for libpoolmalloc-secure (lib/lib.mk); checked below */
#endif

/* ---- Main tunable settings --------------------------------------------- */
#define PM_CHUNK_SHIFT 20                       /* arenas are 1 MiB, as obmalloc's */
#define PM_CHUNK_SIZE ((size_t)1 << PM_CHUNK_SHIFT)
#define PM_CHUNK_MASK (PM_CHUNK_SIZE - 1)
#define PM_HUGE_PAGE_SIZE ((size_t)2 << 20)     /* x86-64's transparent huge page */

#define PM_SLOT_SHIFT 14                        /* 16 KiB: obmalloc's pool size */
#define PM_SLOT_SIZE ((size_t)1 << PM_SLOT_SHIFT)
#define PM_ARENA_SLOTS (PM_CHUNK_SIZE / PM_SLOT_SIZE)   /* 64 */
#define PM_POOL_MAX_SLOTS 32                    /* 512 KiB: the largest pool */

#define PM_ALIGN 16                             /* glibc's malloc alignment */
#define PM_SMALL_MAX 512                        /* obmalloc's SMALL_REQUEST_THRESHOLD */
#define PM_NSMALL (PM_SMALL_MAX / PM_ALIGN + 1) /* classes 0..32, class 0 = malloc(0) */
#define PM_MEDIUM_STEPS 8                       /* classes per doubling: <= 12.5% waste */
#define PM_MEDIUM_MAX ((size_t)128 << 10)       /* above this: own mapping (docs/design.md) */
#define PM_NMEDIUM (8 * PM_MEDIUM_STEPS)        /* 512 -> 128 KiB is 8 doublings */
#define PM_NCLASSES (PM_NSMALL + PM_NMEDIUM)    /* 97 */

#define PM_PAGE_SIZE ((size_t)4096)             /* checked against sysconf at init */
#define PM_VA_BITS 48                           /* x86-64 (47) and aarch64 (48) user space */
#define PM_PAGEMAP_LEAF_SHIFT 14                /* a leaf: 16 KiB, one byte per chunk, 16 GiB */
#define PM_PAGEMAP_LEAF_SIZE ((size_t)1 << PM_PAGEMAP_LEAF_SHIFT)
#define PM_PAGEMAP_LEAF_MASK (PM_PAGEMAP_LEAF_SIZE - 1)
#define PM_PAGEMAP_ROOT_SIZE ((size_t)1 << (PM_VA_BITS - PM_CHUNK_SHIFT - PM_PAGEMAP_LEAF_SHIFT))
#define PM_PAGEMAP_KIND_BITS 2                  /* an entry: kind, then extent units */
#define PM_PAGEMAP_EXTENT_UNIT PM_SLOT_SIZE     /* large mappings are multiples of it */
#define PM_SLOTMAP_LEAF_SHIFT 16                /* a leaf: 2^16 slots (1 GiB), 512 KiB */
#define PM_SLOTMAP_LEAF_SIZE ((size_t)1 << PM_SLOTMAP_LEAF_SHIFT)
#define PM_SLOTMAP_LEAF_MASK (PM_SLOTMAP_LEAF_SIZE - 1)
#define PM_SLOTMAP_ROOT_SHIFT (PM_SLOT_SHIFT + PM_SLOTMAP_LEAF_SHIFT)
#define PM_SLOTMAP_ROOT_SIZE ((size_t)1 << (PM_VA_BITS - PM_SLOTMAP_ROOT_SHIFT))   /* 2 MiB of bss */

#define PM_EXTEND_BYTES 4096      /* carve free lists a page at a time (RSS) */
#define PM_HOUSEKEEP_EVERY 64     /* slow-path calls between housekeeping */
#define PM_LARGE_REGION_SIZE ((size_t)1 << 30)   /* address space reserved per large region */
#define PM_LARGE_REGION_MAX 1024  /* large regions at once                   */
#define PM_LARGE_TCACHE_SLOTS 4   /* one-chunk large blocks per thread cache */
#define PM_REMOTE_BATCH 32        /* remote frees pushed per CAS          */
#define PM_REMOTE_LANES 4         /* remote stacks per heap (heap.c)      */
#define PM_HEAP_EMPTY_BYTES ((size_t)2 << 20)   /* empty pools a heap keeps */

/* ---- The secure library (PM_SECURE; docs/security.md) ------------------ */
/* Arena layout: the default library keeps pm_arena_t in slot 0 and pools in
 * slots 1..63.  The secure one keeps pm_arena_t and the per-block bits in
 * slots 0..1, whose last page is a guard (so no block's underflow reaches the
 * metadata), and slot 63 is a guard (so no block's overflow reaches the next
 * mapping, which may be another arena's header or a large block's header). */
#define PM_ARENA_FIRST_SLOT (PM_SECURE ? 2 : 1) /* the first slot pools may use */
#define PM_ARENA_LAST_SLOT (PM_SECURE ? 62 : 63) /* the last slot pools may use */
#define PM_ARENA_POOL_SLOTS (PM_ARENA_LAST_SLOT - PM_ARENA_FIRST_SLOT + 1)
#define PM_ARENA_BIT_PAIRS (PM_SECURE ? PM_ARENA_POOL_SLOTS * PM_SLOT_SIZE / PM_ALIGN / 64 : 0)
#define PM_TAG_SIZE 4             /* secure: the tail canary of every block   */
#define PM_QUARANTINE_SLOTS (PM_SECURE ? 64 : 1)   /* freed blocks held back */
#define PM_QUARANTINE_BYTES ((size_t)2 << 20)       /* ... and their bytes    */
#define PM_POOL_GUARD_MIN_SLOTS 8 /* secure: pools this wide get a guard slot */
#define PM_SPARSE_MIN ((size_t)16 << 10)   /* secure: blocks this big are zeroed and
                                              checked on their resident pages only */

#if PM_SMALL_MAX % PM_ALIGN != 0 || PM_CHUNK_SHIFT - PM_SLOT_SHIFT != 6
#error "the arena free mask is one uint64_t and small classes are 16 bytes apart"
#endif
_Static_assert(PM_MEDIUM_MAX == (size_t)PM_SMALL_MAX << (PM_NMEDIUM / PM_MEDIUM_STEPS),
               "medium classes must end exactly at PM_MEDIUM_MAX");
_Static_assert(PM_MEDIUM_MAX * 4 <= PM_POOL_MAX_SLOTS * PM_SLOT_SIZE,
               "the largest pool must hold at least four of the largest medium blocks");
_Static_assert(PM_POOL_MAX_SLOTS < PM_ARENA_SLOTS - PM_ARENA_FIRST_SLOT, "pool wider than an arena");
_Static_assert(PM_MEDIUM_MAX / PM_SLOT_SIZE <= 8, "arena_find_run aligns pool starts to at most 8 slots");
_Static_assert(PM_CHUNK_SIZE / PM_PAGEMAP_EXTENT_UNIT <= 1u << (8 - PM_PAGEMAP_KIND_BITS),
               "a chunk's extent in units must fit beside the kind in one byte");
_Static_assert(PM_DEBUG >= 0 && PM_DEBUG <= 3, "PM_DEBUG is 0..3");
_Static_assert(PM_GC == 0 || PM_GC == 1, "PM_GC is 0 or 1");

/* PM_SECURE is not a configure knob: lib/lib.mk compiles the same sources
 * twice, and libpoolmalloc-secure.so gets -DPM_SECURE=1 (issue 9;
 * docs/security.md).  Code tests pm_config_secure, so both variants compile
 * every time and the default library's paths fold the secure branches away. */
_Static_assert(PM_SECURE == 0 || PM_SECURE == 1, "PM_SECURE is 0 or 1");

static const bool pm_config_debug = PM_DEBUG > 0;
static const bool pm_config_secure = PM_SECURE;

/* ---- Blocks ------------------------------------------------------------ */
typedef struct pm_block_s {
  struct pm_block_s *next;  /* next free block                                */
  uintptr_t canary;         /* while free: pmi_canary(address) (^ 1 while on  */
                            /* a remote-free stack); 0 once handed out        */
} pm_block_t;

struct pm_heap_s;

/* ---- Pools ------------------------------------------------------------- */
/* One descriptor per arena slot, in the arena header: two cache lines,
 * split by who writes them.  The first is the owner's working line: the
 * list heads and counts that every malloc and free of the pool writes, and
 * the slow path's list links.  The second is read-mostly: what a thread
 * needs to check and route a free (heap, start, recip, carved, head),
 * written when the pool is set up, carved or profiled, and (free_is_zero)
 * when the owner takes its local frees back, once per refill of `free`,
 * not per block.  So a thread freeing another heap's block reads a line
 * its owner does not keep writing, and the line can stay shared between
 * their caches instead of moving on every free (mstress's shared table,
 * xmalloc's consumers; docs/design.md has the measurements).
 * Threads: the owner heap's thread reads and writes every field; another
 * thread freeing a block of the pool reads heap, start, recip, carved and
 * block_size (set before the pool's first block escapes; carved only grows
 * while the pool is owned, and is read and written with relaxed atomics). */
typedef struct pm_pool_s {
  /* ---- the owner's working line ---- */
  pm_block_t *free;             /* malloc pops here (owner only)          */
  pm_block_t *local_free;       /* free pushes here (owner only)          */
  struct pm_pool_s *next;       /* heap's class list                      */
  struct pm_pool_s *prev;
  struct pm_pool_s *empty_next; /* heap's list of kept empty pools        */
  struct pm_pool_s *empty_prev;
  uint32_t nused;               /* blocks out and not locally freed       */
  uint32_t emptied;             /* when it last became empty, in units of */
                                /* 2^20 ns (PM_POOL_STAMP_SHIFT; wraps)   */
  float prof_left;              /* bytes to the pool's next sample (0: draw) */
  union {                       /* free's one test: any free event due?   */
    struct {
      uint8_t full;             /* unlinked: nothing left to hand out     */
      uint8_t sampled;          /* holds profiled blocks (prof.c)         */
    };
    uint16_t free_events;       /* full | sampled, read by the local push */
  };
  uint16_t prof_nsampled;       /* live profiled blocks in the pool       */
  /* ---- the read-mostly line ---- */
  struct pm_pool_s *head;       /* the descriptor of the pool this slot   */
                                /* belongs to (itself in a head); a slot  */
                                /* past a pool's end may point to a stale */
                                /* or another pool: is_block rejects it   */
  struct pm_heap_s *heap;       /* owner; NULL while free in the arena    */
  char *start;                  /* first block                            */
  uint64_t recip;               /* ceil(2^64 / block_size)                */
  uint64_t key;                 /* secure: free-list links are xor'ed with */
                                /* it (random per pool life, pool.c)      */
  pm_block_t *prof_stash;       /* free list cut after a sampled block    */
  uint32_t carved;              /* bytes from start ever put on a list    */
  uint32_t block_size;          /* bytes per block                        */
  uint16_t capacity;            /* blocks in the pool                     */
  uint16_t prof_nstash;         /* blocks on prof_stash                   */
  uint8_t cls;                  /* size class                             */
  uint8_t nslots;               /* slots spanned (head only; secure: with */
                                /* the guard slot, pool.c)                */
  uint8_t free_is_zero;         /* blocks on `free` are zero past word 1  */
  uint8_t carved_is_zero : 1;   /* [start + carved, end) reads as zero    */
  uint8_t in_list : 1;          /* linked on heap->pools[cls]             */
  uint8_t in_empty : 1;         /* linked on heap's empty list            */
} pm_pool_t;
_Static_assert(offsetof(pm_pool_t, head) == 64, "the read-mostly fields start the second cache line");
_Static_assert(sizeof(pm_pool_t) == 128, "pool descriptors are two cache lines");
_Static_assert(PM_POOL_MAX_SLOTS * PM_SLOT_SIZE <= UINT32_MAX, "pool offsets fit in 32 bits");
_Static_assert(PM_SLOT_SIZE * PM_POOL_MAX_SLOTS / PM_ALIGN <= UINT16_MAX, "block counts fit capacity and the prof_n* fields");

/* ---- Per-block bits (secure library) -------------------------------------- */
/* One pair of words per 64 granules of 16 bytes of an arena's pool slots
 * (pool.c, "Allocated bits"): a block is handed out exactly when its alloc
 * bit is set and its remote bit clear.  Only the pool's owner writes alloc
 * (plain stores); threads freeing a block they do not own set remote with
 * an atomic or, and the owner clears it (atomic and) when it hands the block
 * out again.  The two words share a cache line. */
typedef struct pm_block_bits_s {
  uint64_t alloc;               /* owner: handed out                      */
  uint64_t remote;              /* freed by another thread since          */
} pm_block_bits_t;

/* ---- Arenas ------------------------------------------------------------ */
#define PM_ARENA_MAGIC 0x706d6172656e6121ULL   /* "pmarena!" */
/* Threads: every field but pools[] changes under the arena lock (arena.c);
 * each pools[] descriptor belongs to the heap that owns its pool. */
typedef struct pm_arena_s {
  uint64_t magic;
  uint64_t free_mask;           /* bit i: slot i belongs to no pool       */
  uint64_t dirty_mask;          /* free slots whose pages may be resident */
  uint64_t zero_mask;           /* free slots known to read as zero       */
  uint64_t dirty_old_mask;      /* dirty at the last decay epoch too      */
  uint32_t nfree;               /* popcount(free_mask)                    */
  uint32_t bucket;              /* its list: longest run of free slots    */
  uint32_t in_pair;             /* half of a huge-page pair (arena.c):
                                   resident whole once touched            */
  uint32_t pad32_;
  struct pm_arena_s *next;      /* bucket list (fullest arenas first)     */
  struct pm_arena_s *prev;
  struct pm_arena_s *all_next;  /* every arena, for stats and decay       */
  struct pm_arena_s *all_prev;
  char pad_[128 - 5 * 8 - 4 * 4 - 4 * 8];
  pm_pool_t pools[PM_ARENA_SLOTS];
  pm_block_bits_t bits[];       /* secure: PM_ARENA_BIT_PAIRS pairs       */
} pm_arena_t;
_Static_assert(sizeof(pm_arena_t) <= PM_SLOT_SIZE, "arena header must fit in slot 0");
_Static_assert(sizeof(pm_arena_t) + PM_ARENA_BIT_PAIRS * sizeof(pm_block_bits_t) +
                   (PM_SECURE ? PM_PAGE_SIZE : 0) <= PM_ARENA_FIRST_SLOT * PM_SLOT_SIZE,
               "the secure arena header, its bits and a guard page must fit before the first pool slot");
_Static_assert(PM_POOL_MAX_SLOTS + PM_SECURE <= PM_ARENA_POOL_SLOTS, "a pool and its guard slot fit in an arena");

/* ---- Large blocks ------------------------------------------------------ */
typedef struct pm_large_s {
  uint64_t magic;               /* PM_LARGE_MAGIC ^ (uintptr_t)user       */
  void *user;                   /* the pointer the program holds          */
  char *map_base;               /* start of the mapping                   */
  size_t map_size;              /* bytes mapped                           */
  size_t usable;                /* bytes writable from user               */
  size_t alignment;             /* requested alignment (>= PM_ALIGN)       */
  uint32_t live;                /* 1 until freed                          */
  uint32_t region;              /* large_region.c's index (or UINT32_MAX) */
  uint32_t sampled;             /* recorded by the profiler (prof.c)      */
} pm_large_t;
#define PM_LARGE_MAGIC 0x706d6c6172676521ULL   /* "pmlarge!" */
_Static_assert(offsetof(pm_large_t, region) == 52, "tests/misuse/large_header.c forges the region index at byte 52");

/* ---- Heaps ------------------------------------------------------------- */
typedef enum { PM_HEAP_ACTIVE = 1, PM_HEAP_ABANDONED = 2, PM_HEAP_UNUSED = 3, PM_HEAP_ORPHANED = 4 } pm_heap_state_t;

/* Threads: pools, tick and npools belong to the owning thread (or to whoever
 * holds an abandoned heap off every list); remote is the only field other
 * threads write (atomic, see below); state and the two links change under
 * the heap registry's lock (heap.c). */
typedef struct pm_heap_s {
  pm_pool_t *pools[PM_NCLASSES];        /* class list heads (fast path)      */
  uintptr_t remote[PM_REMOTE_LANES];    /* messages of blocks freed by other */
                                        /* threads (heap.c): CAS push        */
                                        /* (release), exchange pop (acquire) */
  uint32_t tick;                        /* slow-path calls, for housekeeping */
  uint32_t state;                       /* pm_heap_state_t                   */
  size_t npools;                        /* pools owned                       */
  pm_pool_t *empty_oldest, *empty_newest; /* empty pools kept for reuse (pool.c) */
  size_t empty_bytes;                   /* their bytes (may include pools     */
                                        /* reused since: pruned lazily)       */
  uint64_t now_ns;                      /* the clock at the last housekeeping */
  struct pm_heap_s *all_next;           /* registry of every heap (lock)     */
  struct pm_heap_s *list_next;          /* abandoned or unused list (lock)   */
  /* The secure library's quarantine (heap.c): blocks freed by this thread,
   * checked and scrubbed, whose reuse is delayed (owner only). */
  uint32_t nquarantined;                /* used entries of quarantine[]      */
  size_t quarantine_bytes;              /* their bytes                       */
  uint64_t rng;                         /* xorshift state: which to release  */
  void *quarantine[PM_QUARANTINE_SLOTS];
  uint32_t quarantine_size[PM_QUARANTINE_SLOTS];   /* bytes; | 1 when large */
} pm_heap_t;

#endif /* PM_TYPES_H */
