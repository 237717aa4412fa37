/* SPDX-License-Identifier: MIT */
/* pool.c — the pool state machine: set-up, refill, free events, release.
 *
 * A pool belongs to one heap and serves one size class.  Its states, as in
 * obmalloc's usedpools comment:
 *
 *   blank  its slots belong to no pool (heap == NULL, each slot's descriptor
 *          its own head); arena.c hands out blank slots and pool_init makes
 *          them a pool (every slot's head -> the first slot's descriptor).
 *   used   linked on heap->pools[cls]; it has blocks on free or local_free,
 *          or never-carved room past start + carved.  The list head is the
 *          pool the malloc fast path pops from.
 *   full   unlinked (full == 1): free == local_free == NULL and every block
 *          is carved.  The first local free into it links it back at the tail.
 *   empty  nused == 0.  Kept by its heap, still linked on its class list,
 *          on the heap's list of empty pools (oldest first), so that a
 *          program that frees a batch and allocates it again never touches
 *          the arena lock nor carves again (issue 8 §2).  Given back to its
 *          arena (-> blank) when the heap keeps more than PM_HEAP_EMPTY_BYTES
 *          of empty pools (the oldest first), when it has been empty for the
 *          decay delay (heap housekeeping), or at trim and thread exit.  A
 *          kept pool that serves a malloc again is used; it leaves the empty
 *          list lazily, the next time the list is pruned.  When its heap
 *          needs a new pool of another class with the same slot count, the
 *          newest such kept pool is remade for it in place (empty -> used,
 *          pool_recycle, under the arena lock), before any slot is taken
 *          from an arena: its memory is resident already.
 *
 * Free lists are split as in mimalloc: malloc pops `free`, free pushes
 * `local_free`, and the slow path moves local_free over when free runs dry.
 * That keeps `free_is_zero` exact without a store on the free path: a list
 * carved from zeroed memory stays zero (but for the link and canary words)
 * until it is replaced by a list of freed blocks.
 *
 * ---- Free-block canaries (issue 7 §2, §4) --------------------------------
 * Every block on a free list carries pmi_canary(address) in word 1: the
 * address times a random odd key, rotated by 32 bits, times a second odd key.
 * The rotation between the multiplies breaks the bit-by-bit structure that
 * would let a few (address, canary) pairs be solved for the keys, so one
 * freed block read through a dangling pointer gives an attacker its own
 * canary and nothing else (the old `address ^ secret` gave the secret away).
 * It is not a cryptographic MAC; the secure library (issue 9) is where that
 * belongs.  Every pop checks, before it reads the block, that the block lies
 * in the pool's carved range (a forged link to a global or the stack is
 * refused without following it), then that its canary is intact, and clears
 * it.  Blocks waiting on a remote-free stack carry the canary ^ 1.
 *
 * ---- Double frees ------------------------------------------------------
 * A block freed twice is on the lists twice, so it is popped twice, and the
 * second pop finds its canary cleared (or overwritten by its owner) and
 * aborts before a second owner gets it.  Earlier catches: free(p); free(p)
 * in one thread (p == local_free, the fast path); a remote free of a block
 * that already carries a canary (heap.c); a drained remote block that was
 * also freed locally (heap.c).  A double free also makes nused count one
 * block too few, which could otherwise make a pool with live blocks look
 * empty: so before an empty pool is released, pool_check_empty walks its
 * lists and proves that every carved block is on them exactly once.  The
 * walk costs at most what carving those blocks cost.
 *
 * ---- The secure library (issue 9; docs/security.md) ----------------------
 * Allocated bits.  Each block has two bits in its arena's header (types.h,
 * pm_block_bits_t), out of any block's reach: alloc (written by the pool's
 * owner only) and remote.  A block is handed out exactly when alloc is set
 * and remote is clear.  A free checks that and flips it at once, so every
 * double or invalid free is caught at the free itself: the owner clears
 * alloc with a plain store; any other thread sets remote with one atomic
 * or, whose old value also catches two threads freeing the block at once.
 * Remote frees leave alloc set, so the O(1) splice of heap.c's messages
 * needs no bit work: the pop that hands the block out again clears remote
 * (atomic and).  States of (alloc, remote) at a pop:
 *     (0, 0) free, freed by its owner        -> (1, 0)
 *     (1, 1) free, freed by another thread   -> (1, 0)
 *     (0, 1) freed by both at once           -> fatal (double free)
 *     (1, 0) in use, yet on a free list      -> fatal (forged link)
 * Authenticated links.  Word 0 of a listed block is next ^ pool->key (a
 * random key per pool) and word 1 is pmi_canary_link(block, next), a keyed
 * hash of the block's address and of its link: a link rewritten through a
 * dangling pointer fails the check before it is followed, even when it
 * points at another block of the pool.  Blocks on a remote-free message keep
 * the default format (heap.c); pmi_pool_splice_secure checks and re-links
 * them when the owner takes the message.
 * Check on reuse.  The secure free zeroes the whole block (secure.c), so a
 * block leaving a free list must read as zero past its two list words: the
 * pop checks it (pmi_pool_check_zero), catching a write after free when the
 * block is handed out again.  Released pools have their list words cleared
 * too, so every blank slot reads as zero and freshly carved blocks pass.
 * Blocks of PM_SPARSE_MIN bytes and more are cleared and checked on their
 * resident pages only (os.c, mincore): a page that is not resident reads as
 * zero, and a write after free makes its page resident, so it is seen;
 * touching the pages a program never used would only fault them in.
 * Neighbours.  A local free also checks the free blocks just before and
 * after the block (pmi_pool_check_neighbours).
 * Carve order.  pool_carve links each page's new blocks (at least 8 of
 * them) in a random order, so the next allocation's address is not the last
 * one's plus block_size.
 * Guard slots.  Pools of PM_POOL_GUARD_MIN_SLOTS slots or more (blocks of
 * 5 KiB and up) take one more slot, made PROT_NONE while the pool lives:
 * an overflow off the pool's last block faults.  It costs address space
 * only (an eighth of the pool at most), never memory.
 *
 * Runs only on slow paths; touches only pools of the heap it is given.
 * Never calls up into heap.c (heap.c owns the heap-level slow path).
 */
#include "os.h"
#include "sizeclass.h"

#include <errno.h>
#include <string.h>

pm_keys_t pmi_keys;   /* set once by pmi_init, before any block exists */
const pm_pool_t pmi_pool_empty;

/* ---- Class lists ------------------------------------------------------- */
/* h->pools[cls] is the head; head->prev is the tail (the list is circular in
 * the prev direction only, so the tail is one load away); tail->next ==
 * NULL.  New pools go to the head; pools that stop being full go to the
 * tail, so they collect more frees before malloc reaches them again instead
 * of bouncing between full and used on every free (obmalloc links them at
 * the front). */
static void pool_link_head(pm_heap_t *h, pm_pool_t *pool) {
  pm_assert(!pool->in_list && !pool->full);
  pm_pool_t *head = h->pools[pool->cls];
  if (head == &pmi_pool_empty) {
    pool->next = NULL;
    pool->prev = pool;
  } else {
    pool->next = head;
    pool->prev = head->prev;
    head->prev = pool;
  }
  h->pools[pool->cls] = pool;
  pool->in_list = 1;
}

static void pool_link_tail(pm_heap_t *h, pm_pool_t *pool) {
  pm_assert(!pool->in_list && !pool->full);
  pm_pool_t *head = h->pools[pool->cls];
  if (head == &pmi_pool_empty) {
    pool_link_head(h, pool);
    return;
  }
  pm_pool_t *tail = head->prev;
  pm_assert_internal(tail->next == NULL);
  tail->next = pool;
  pool->prev = tail;
  pool->next = NULL;
  head->prev = pool;
  pool->in_list = 1;
}

static void pool_unlink(pm_heap_t *h, pm_pool_t *pool) {
  pm_assert(pool->in_list && pool->heap == h);
  pm_pool_t *head = h->pools[pool->cls];
  if (pool == head) {
    if (pool->next != NULL) pool->next->prev = pool->prev;
    h->pools[pool->cls] = pool->next != NULL ? pool->next : (pm_pool_t *)&pmi_pool_empty;
  } else {
    pool->prev->next = pool->next;
    if (pool->next != NULL) pool->next->prev = pool->prev;
    else head->prev = pool->prev;          /* it was the tail */
  }
  pool->next = pool->prev = NULL;
  pool->in_list = 0;
}

/* ---- Blank -> used ----------------------------------------------------- */
/* Secure: does class cls get a guard slot after its pools? */
static unsigned pool_guard_slots(unsigned cls) {
  return pm_config_secure && pmi_class_info[cls].nslots >= PM_POOL_GUARD_MIN_SLOTS;
}

/* A per-pool key: a keyed hash of the pool's address and a counter, so no
 * two pools (nor two lives of one pool) share one. */
static uint64_t pool_new_key(const char *start) {
  static uint64_t counter;   /* relaxed */
  uint64_t n = pm_atomic_add_relaxed(&counter, 1) + 1;
  return pmi_canary((const void *)((uintptr_t)start ^ (n * 0x9e3779b97f4a7c15ull)));
}

/* Makes the blank head descriptor `pool` (nslots slots from arena.c, plus a
 * guard slot where pool_guard_slots says so) a pool of class cls owned by h.
 * `zero`: its slots read as zero.  False if the guard could not be set (the
 * slots are still blank). */
static bool pool_init(pm_pool_t *pool, pm_heap_t *h, unsigned cls, bool zero) {
  const pm_class_info_t *ci = &pmi_class_info[cls];
  pm_arena_t *a = pmi_arena_of(pool);
  unsigned slot = (unsigned)(pool - a->pools), guard = pool_guard_slots(cls);
  pm_assert(pool->heap == NULL && slot >= PM_ARENA_FIRST_SLOT && slot + ci->nslots + guard <= PM_ARENA_LAST_SLOT + 1);
  char *start = (char *)a + (size_t)slot * PM_SLOT_SIZE;
  if (guard && !pmi_os_guard(start + ci->nslots * PM_SLOT_SIZE, PM_SLOT_SIZE)) return false;
  for (unsigned i = 0; i < ci->nslots + guard; i++) a->pools[slot + i].head = pool;
  if (pm_config_secure) {   /* no block of these slots is handed out yet */
    uint64_t m;
    memset(pmi_pool_bits(start, &m), 0, (size_t)ci->nslots * PM_SLOT_SIZE / PM_ALIGN / 64 * sizeof(pm_block_bits_t));
    pool->key = pool_new_key(start);
  }
  pool->free = pool->local_free = NULL;
  pool->start = start;
  pool->recip = ci->recip;
  pool->nused = 0;
  pool->block_size = ci->block_size;
  pm_atomic_store_relaxed(&pool->carved, 0);
  pool->capacity = (uint16_t)ci->capacity;
  pool->full = 0;
  pool->free_is_zero = 0;
  pool->cls = (uint8_t)cls;
  pool->next = pool->prev = NULL;
  pool->nslots = (uint8_t)(ci->nslots + guard);
  pool->carved_is_zero = zero;
  pool->in_list = 0;
  pool->empty_next = pool->empty_prev = NULL;
  pool->in_empty = 0;
  pool->sampled = 0;                     /* prof.c: no samples, no cut list */
  pool->prof_nsampled = pool->prof_nstash = 0;
  pool->prof_stash = NULL;
  pool->prof_left = 0;
  /* Last: another thread that finds this descriptor through a block of the
   * pool (alloc.c) reads the fields above only after it sees heap. */
  pm_atomic_store_release(&pool->heap, h);
  return true;
}

/* ---- Refill ------------------------------------------------------------ */
/* Secure: carve at least this many blocks at once, so that big blocks are
 * shuffled too (it writes two words of each: a page per block at most). */
#define POOL_CARVE_SHUFFLE_MIN 8

/* Secure: links the n new blocks at b in a random order (a Fisher-Yates
 * shuffle driven by splitmix64 of the pool's secret key and offset). */
static void pool_carve_shuffled(pm_pool_t *pool, char *b, size_t n, size_t bs) {
  uint16_t order[PM_EXTEND_BYTES / PM_ALIGN > POOL_CARVE_SHUFFLE_MIN ? PM_EXTEND_BYTES / PM_ALIGN : POOL_CARVE_SHUFFLE_MIN];
  uint64_t x = pool->key ^ (uint64_t)(b - pool->start);
  for (size_t i = 0; i < n; i++) order[i] = (uint16_t)i;
  for (size_t i = n - 1; i > 0; i--) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    size_t j = (size_t)((z ^ (z >> 31)) % (i + 1));
    uint16_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (size_t i = 0; i < n; i++)
    pmi_pool_link(pool, (pm_block_t *)(b + order[i] * bs), i + 1 < n ? (pm_block_t *)(b + order[i + 1] * bs) : NULL);
  pool->free = (pm_block_t *)(b + order[0] * bs);
}

/* Carves up to a page worth of never-used blocks into `free`. */
static void pool_carve(pm_pool_t *pool) {
  size_t bs = pool->block_size, carved = pool->carved;
  size_t n = PM_EXTEND_BYTES / bs, left = pool->capacity - carved / bs;
  pm_assert(pool->free == NULL && left > 0);
  if (n == 0) n = 1;
  if (pm_config_secure && n < POOL_CARVE_SHUFFLE_MIN) n = POOL_CARVE_SHUFFLE_MIN;   /* something to shuffle */
  if (n > left) n = left;
  char *b = pool->start + carved, *last = b + (n - 1) * bs;
  if (pm_config_secure) {
    pool_carve_shuffled(pool, b, n, bs);
  } else {
    for (char *p = b; p < last; p += bs) pmi_pool_link(pool, (pm_block_t *)p, (pm_block_t *)(p + bs));
    pmi_pool_link(pool, (pm_block_t *)last, NULL);
    pool->free = (pm_block_t *)b;
  }
  pool->free_is_zero = pool->carved_is_zero;
  /* Relaxed store after the blocks are written: a thread that frees one of
   * them got it from this thread through the program's own synchronisation. */
  pm_atomic_store_relaxed(&pool->carved, (uint32_t)(carved + n * bs));
}

static bool pool_is_carved_out(const pm_pool_t *pool) {
  return pool->carved == pool->capacity * pool->block_size;
}

/* Makes pool->free (empty) non-empty if the pool has anything left. */
static bool pool_refill(pm_pool_t *pool) {
  pm_assert(pool->free == NULL);
  if (pool->local_free != NULL) {
    pmi_pool_take_local(pool);
    return true;
  }
  if (!pool_is_carved_out(pool)) {
    pool_carve(pool);
    return true;
  }
  return false;
}

/* A list was just installed on pool->free: the profiler (when on) picks
 * where its next sample falls and cuts the list there (prof.c, "Cut free
 * lists"), so the fast paths stay as they are. */
static void *pool_pop_fresh(pm_pool_t *pool) {
  if (pm_unlikely(pmi_prof_on)) return pmi_prof_pop_fresh(pool);
  return pmi_pool_pop(pool);
}

static pm_pool_t *pool_recycle(pm_heap_t *h, unsigned cls);

/* The head may have changed since the fast path missed (heap.c's remote
 * drain can release the head pool), so the new head may still have blocks
 * on `free`: refilling it then would drop them (a leak that pool_check_empty
 * later reported as a double free). */
void *pmi_pool_malloc_refill(pm_heap_t *h, unsigned cls) {
  pm_pool_t *pool = h->pools[cls], *next;
  if (pm_unlikely(pool->prof_stash != NULL) && pool->free == NULL) return pmi_prof_pop_stash(pool);   /* a sample is next */
  if (pm_likely(pool->free == NULL && pool->local_free != NULL)) {   /* the common refill: no walk */
    pm_assert_expensive(pmi_pool_is_valid(pool));
    pool_refill(pool);
    return pool_pop_fresh(pool);
  }
  for (; pool != NULL && pool != &pmi_pool_empty; pool = next) {   /* tail->next == NULL */
    next = pool->next;
    if (pool->free != NULL) return pmi_pool_pop(pool);                        /* it is the head */
    if (pool->prof_stash != NULL) return pmi_prof_pop_stash(pool);
    if (pool_refill(pool)) return pool_pop_fresh(pool);
    pool_unlink(h, pool);                /* used -> full */
    pool->full = 1;
  }
  bool zero;
  unsigned nslots = pmi_class_info[cls].nslots + pool_guard_slots(cls);
  pool = pool_recycle(h, cls);
  if (pool == NULL) {
    bool dense = pmi_class_info[cls].block_size <= PM_PAGE_SIZE;   /* carving writes every page */
    pool = pmi_arena_pool_alloc(nslots, pmi_class_info[cls].align_slots, dense, &zero);
    if (pool == NULL) return NULL;
    if (!pool_init(pool, h, cls, zero)) {  /* blank -> used; or out of mappings */
      pmi_arena_pool_free(pool, nslots);
      return NULL;
    }
  }
  h->npools++;
  pool_link_head(h, pool);
  pool_carve(pool);
  return pool_pop_fresh(pool);
}

/* ---- Used -> empty -> blank -------------------------------------------- */
/* Proves that the empty pool holds no live block before its slots are
 * reused: every carved block is on free or local_free exactly once.  A
 * double free leaves nused one short, so without this walk a pool could be
 * released with a live block in it (issue 7 §2).  Visited blocks get their
 * canary cleared, so a block met twice (a looped list) is recognised. */
static void pool_check_empty(pm_pool_t *pool) {
  size_t nblocks = 0, carved_blocks = pool->carved / pool->block_size;
  pm_block_t *lists[3] = {pool->free, pool->local_free, pool->prof_stash};
  for (int i = 0; i < 3; i++) {
    for (pm_block_t *b = lists[i], *next; b != NULL; b = next, nblocks++) {
      if ((uint64_t)((char *)b - pool->start) >= pool->carved || !pmi_pool_is_block(pool, b) ||
          nblocks >= carved_blocks)
        pmi_fatal("corrupted free list in the pool at %p (block %p)", (void *)pool->start, (void *)b);
      next = pmi_pool_next(pool, b);
      if (!pmi_pool_link_ok(b, next)) pmi_fatal("double free of %p", (void *)b);
      b->canary = 0;
      if (pm_config_secure) b->next = NULL;   /* released slots read as zero */
    }
  }
  if (nblocks != carved_blocks)
    pmi_fatal("double free in the pool at %p: it looks empty but %zu of its blocks are not free",
              (void *)pool->start, carved_blocks - nblocks);
}

/* ---- The heap's empty pools ----------------------------------------------- */
static size_t pool_bytes(const pm_pool_t *pool) { return (size_t)pool->nslots * PM_SLOT_SIZE; }

static void pool_empty_unlink(pm_heap_t *h, pm_pool_t *pool) {
  pm_assert(pool->in_empty && h->empty_bytes >= pool_bytes(pool));
  if (pool->empty_prev != NULL) pool->empty_prev->empty_next = pool->empty_next;
  else h->empty_oldest = pool->empty_next;
  if (pool->empty_next != NULL) pool->empty_next->empty_prev = pool->empty_prev;
  else h->empty_newest = pool->empty_prev;
  pool->empty_next = pool->empty_prev = NULL;
  pool->in_empty = 0;
  h->empty_bytes -= pool_bytes(pool);
}

/* pool->emptied: the heap's clock (h->now_ns) in units of 2^20 ns, about a
 * millisecond, in 32 bits that wrap every 52 days.  Ages are differences
 * from the clock's present, modulo 2^32: right for any pool emptied less
 * than 52 days ago (housekeeping gives pools back after the decay delay,
 * seconds).  A time after the clock's present is later than every pool. */
static bool pool_emptied_before(const pm_heap_t *h, const pm_pool_t *pool, uint64_t ns) {
  if (ns > h->now_ns) return true;
  uint32_t age = pmi_pool_stamp(h->now_ns) - pool->emptied;
  return age > (h->now_ns - ns) >> PM_POOL_STAMP_SHIFT;
}

static void pool_empty_append(pm_heap_t *h, pm_pool_t *pool) {
  pm_assert(!pool->in_empty);
  pool->empty_prev = h->empty_newest;
  pool->empty_next = NULL;
  if (h->empty_newest != NULL) h->empty_newest->empty_next = pool;
  else h->empty_oldest = pool;
  h->empty_newest = pool;
  pool->in_empty = 1;
  pool->emptied = pmi_pool_stamp(h->now_ns);
  h->empty_bytes += pool_bytes(pool);
}

static void pool_release(pm_heap_t *h, pm_pool_t *pool);

/* Gives back the oldest kept pools while the heap keeps more than `keep`
 * bytes or, when before_ns is not 0, pools empty since before before_ns;
 * pools that serve mallocs again just leave the list. */
static void pool_empty_prune(pm_heap_t *h, size_t keep, uint64_t before_ns) {
  pm_pool_t *pool, *next;
  for (pool = h->empty_oldest; pool != NULL; pool = next) {
    next = pool->empty_next;
    if (pool->nused != 0) pool_empty_unlink(h, pool);         /* reused: empty -> used */
    else if (h->empty_bytes > keep || (before_ns != 0 && pool_emptied_before(h, pool, before_ns))) pool_release(h, pool);
    else if (before_ns == 0) break;       /* within budget; nothing is too old */
  }
}

/* used -> empty: keep it, within the heap's budget.  A pool still on the
 * list (emptied, reused, emptied again: a malloc/free loop) only has its
 * time refreshed; the list's order is that of first emptying. */
static void pool_retire(pm_heap_t *h, pm_pool_t *pool) {
  if (pm_likely(pool->in_empty)) {
    pool->emptied = pmi_pool_stamp(h->now_ns);
    return;
  }
  pool_empty_append(h, pool);
  if (h->empty_bytes > PM_HEAP_EMPTY_BYTES) pool_empty_prune(h, PM_HEAP_EMPTY_BYTES, 0);
}

void pmi_pool_release_old_empty(pm_heap_t *h, uint64_t before_ns) {
  if (h->empty_oldest != NULL) pool_empty_prune(h, PM_HEAP_EMPTY_BYTES, before_ns);
}

/* ---- Empty -> blank -------------------------------------------------------- */
/* The empty pool leaves h: proven empty, off h's lists, its guard lifted;
 * its slots are still held (then pool_blank). */
static void pool_leave_heap(pm_heap_t *h, pm_pool_t *pool) {
  pm_assert(pool->nused == 0 && pool->heap == h);
  pool_check_empty(pool);
  if (pool->in_empty) pool_empty_unlink(h, pool);
  if (pool->in_list) pool_unlink(h, pool);
  h->npools--;
  pool->free = pool->local_free = NULL;
  if (pool_guard_slots(pool->cls) && !pmi_os_unguard(pool->start + (pool->nslots - 1) * PM_SLOT_SIZE, PM_SLOT_SIZE))
    pmi_fatal("cannot lift the guard slot of the pool at %p", (void *)pool->start);
}

/* used -> blank: no owner, each slot its own head again. */
static void pool_blank(pm_pool_t *pool) {
  pm_atomic_store_relaxed(&pool->heap, NULL);
  for (unsigned i = 1; i < pool->nslots; i++) pool[i].head = &pool[i];
}

static void pool_release(pm_heap_t *h, pm_pool_t *pool) {
  pool_leave_heap(h, pool);
  pool_blank(pool);
  pmi_arena_pool_free(pool, pool->nslots);
}

/* A new pool of class cls, made in place from the newest empty pool h keeps
 * that spans as many slots and starts where the class may start: its slots
 * were written already, so a program that moves through many classes (a
 * string grown by realloc) keeps reusing the same resident memory instead
 * of carving fresh slots while up to PM_HEAP_EMPTY_BYTES of emptied pools
 * of other classes wait for decay.  Only pools of several slots: a one-slot
 * pool saves one slot, and the class it is taken from usually wants it
 * back at once, so small classes passed their pools round (sqlite3: 60 000
 * remakes, 5 % of its instructions, for no change in peak RSS).  NULL if
 * none fits (and always in the secure library, whose pools carry guard
 * slots and keys). */
static pm_pool_t *pool_recycle(pm_heap_t *h, unsigned cls) {
  const pm_class_info_t *ci = &pmi_class_info[cls];
  if (pm_config_secure || ci->nslots == 1) return NULL;
  pm_pool_t *pool = h->empty_newest;
  for (; pool != NULL; pool = pool->empty_prev) {
    unsigned slot = (unsigned)(pool - pmi_arena_of(pool)->pools);
    if (pool->nused == 0 && pool->nslots == ci->nslots && slot % ci->align_slots == 0) break;
  }
  if (pool == NULL) return NULL;
  pm_assert(pool->in_empty && pool->cls != cls);   /* a pool of cls would have served */
  pool_leave_heap(h, pool);             /* proven empty, as before any release */
  /* Under the arena lock: a statistics walk that read heap before it went
   * NULL must not read the new class's fields with the old ones. */
  pmi_arena_lock();
  pool_blank(pool);
  bool ok = pool_init(pool, h, cls, false);     /* no guard slot to set: cannot fail */
  pmi_arena_unlock();
  pm_assert(ok);
  (void)ok;
  return pool;
}

void pmi_pool_free_event(pm_heap_t *h, pm_pool_t *pool, pm_block_t *first, uint32_t n) {
  if (pm_likely(pmi_pool_restamp_kept(h, pool))) return;   /* emptied again (a remote splice) */
  if (pm_unlikely(pool->sampled))          /* the blocks just pushed may be profiled */
    for (pm_block_t *b = first; n-- > 0 && pool->sampled; b = pmi_pool_next(pool, b)) pmi_prof_free_event(pool, b);
  if (pool->full) {                      /* full -> used */
    pool->full = 0;
    pool_link_tail(h, pool);
  }
  pm_assert_expensive(pmi_pool_is_valid(pool));
  if (pool->nused == 0) pool_retire(h, pool);   /* used -> empty (kept) */
}

void pmi_pool_release_empty(pm_heap_t *h) {
  for (unsigned c = 0; c < PM_NCLASSES; c++) {
    pm_pool_t *next;
    for (pm_pool_t *pool = h->pools[c]; pool != NULL && pool != &pmi_pool_empty; pool = next) {
      next = pool->next;
      if (pool->nused == 0) pool_release(h, pool);
    }
  }
}

/* ---- The secure library's checks (see the header) -------------------------- */
/* A remote-free message's blocks (head first, n of them, default format:
 * raw links, plain canaries) join local_free: each is checked (in the pool,
 * a block start, its canary, freed by another thread by its bits) and
 * re-linked in the authenticated format; the caller updates the list head
 * and nused. */
void pmi_pool_splice_secure(pm_pool_t *pool, pm_block_t *head, uint32_t n) {
  pm_block_t *b = head;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t m;
    if ((uint64_t)((char *)b - pool->start) >= pool->carved || !pmi_pool_is_block(pool, b) ||
        b->canary != pmi_canary(b))
      pmi_fatal("corrupted remote-free chain at %p (a double free, or a write after free)", (void *)b);
    pm_block_bits_t *bits = pmi_pool_bits(b, &m);
    if ((pm_atomic_load_relaxed(&bits->alloc) & pm_atomic_load_relaxed(&bits->remote) & m) == 0)
      pmi_fatal("double free of %p", (void *)b);   /* also freed by its owner */
    pm_block_t *next = i + 1 < n ? b->next : pool->local_free;
    pmi_pool_link(pool, b, next);
    b = next;
  }
}

void pmi_pool_check_zero(const pm_pool_t *pool, const pm_block_t *b) {
  size_t len = pool->block_size - sizeof(pm_block_t);
  if (pm_likely(len + sizeof(pm_block_t) >= PM_SPARSE_MIN ? pmi_os_is_zero_resident(b + 1, len) : pm_is_zero16(b + 1, len)))
    return;
  const unsigned char *c = (const unsigned char *)(b + 1);
  while (*c == 0) c++;
  pmi_fatal("write after free of %p: byte %zu changed while it was free", (const void *)b,
            (size_t)(c - (const unsigned char *)b));
}

/* Neighbours.  A byte written just past a small block (or just before
 * it) lands in the next (or previous) block, beyond this block's canary.
 * So a local free also checks the blocks within POOL_NEIGHBOUR bytes on
 * either side that are free by their bits (alloc and remote clear): only
 * the owner touches those (another thread freeing one would die on its
 * bits), so reading them races with nothing.  A listed one must carry the
 * canary of its link; any other byte of theirs must be zero.  Blocks in use
 * are their owners' business, and are skipped. */
#define POOL_NEIGHBOUR 32

/* Is [lo, hi) of free block b (offsets multiples of 16) as it should be? */
static bool pool_free_part_ok(const pm_pool_t *pool, const char *b, size_t lo, size_t hi) {
  uint64_t m;
  pm_block_bits_t *bits = pmi_pool_bits(b, &m);
  if ((pm_atomic_load_relaxed(&bits->alloc) | pm_atomic_load_relaxed(&bits->remote)) & m) return true;
  const pm_block_t *blk = (const pm_block_t *)b;
  if (lo < sizeof(pm_block_t)) {
    if ((blk->next != NULL || blk->canary != 0) && !pmi_pool_link_ok(blk, pmi_pool_next(pool, blk))) return false;
    lo = sizeof(pm_block_t);
  }
  if (hi <= lo) return true;
  if (hi - lo == 16) {                   /* 32-byte blocks: one granule */
    const pm_v2_t *v = (const pm_v2_t *)(b + lo);
    return ((*v)[0] | (*v)[1]) == 0;
  }
  return pm_is_zero16(b + lo, hi - lo);
}

/* Is block b free by its bits? */
static bool pool_is_free_block(const void *b) {
  uint64_t m;
  pm_block_bits_t *bits = pmi_pool_bits(b, &m);
  return !((pm_atomic_load_relaxed(&bits->alloc) | pm_atomic_load_relaxed(&bits->remote)) & m);
}

PM_NOINLINE PM_COLD PM_NORETURN static void pool_neighbour_fatal(const void *p, const char *b, bool after) {
  if (after)
    pmi_fatal("heap overflow of %p: the free block after it, at %p, was overwritten (or written after its free)", p,
              (const void *)b);
  pmi_fatal("heap underflow of %p: the free block before it, at %p, was overwritten (or written after its free)", p,
            (const void *)b);
}

void pmi_pool_check_neighbours(const pm_pool_t *pool, const void *p) {
  size_t bs = pool->block_size, off = (size_t)((const char *)p - pool->start);
  size_t limit = (size_t)pool->capacity * bs, after = off + bs;
  if (pm_likely(bs >= 48)) {             /* one block each side; the window before is past its list words */
    const char *b = (const char *)p + bs, *a = (const char *)p - bs;
    if (after < limit && pool_is_free_block(b)) {
      const pm_block_t *blk = (const pm_block_t *)b;
      if (((blk->next != NULL || blk->canary != 0) && !pmi_pool_link_ok(blk, pmi_pool_next(pool, blk))) ||
          !pm_is_zero16(b + sizeof(pm_block_t), POOL_NEIGHBOUR - sizeof(pm_block_t)))
        pool_neighbour_fatal(p, b, true);
    }
    if (off >= bs && pool_is_free_block(a) && !pm_is_zero16(a + bs - POOL_NEIGHBOUR, POOL_NEIGHBOUR))
      pool_neighbour_fatal(p, a, false);
    return;
  }
  for (size_t b = after; b < after + POOL_NEIGHBOUR && b < limit; b += bs)
    if (!pool_free_part_ok(pool, pool->start + b, 0, b + bs <= after + POOL_NEIGHBOUR ? bs : after + POOL_NEIGHBOUR - b))
      pool_neighbour_fatal(p, pool->start + b, true);
  for (size_t b = off; b >= bs && b + POOL_NEIGHBOUR > off;) {
    b -= bs;
    if (!pool_free_part_ok(pool, pool->start + b, b + POOL_NEIGHBOUR >= off + bs ? 0 : off - POOL_NEIGHBOUR - b, bs))
      pool_neighbour_fatal(p, pool->start + b, false);
  }
}

void pmi_pool_double_free(const void *p) { pmi_fatal("double free of %p", p); }

void pmi_pool_handout_fatal(const pm_pool_t *pool, const void *b, bool allocated) {
  if (!allocated) pmi_fatal("double free of %p (freed by its owner and by another thread)", b);
  pmi_fatal("corrupted free list in the pool at %p: it hands out %p, which is in use", (void *)pool->start, b);
}

/* ---- Diagnostics --------------------------------------------------------- */
void pmi_pool_pop_fatal(const pm_pool_t *pool, const pm_block_t *b) {
  if ((uint64_t)((const char *)b - pool->start) >= pool->carved || !pmi_pool_is_block(pool, b))
    pmi_fatal("corrupted free list in the pool at %p: link to %p, outside the pool (write after free)",
              (void *)pool->start, (const void *)b);
  if (pm_config_secure)
    pmi_fatal("write after free of %p: its free-list link or canary was overwritten", (const void *)b);
  if (b->canary == 0) pmi_fatal("double free of %p", (const void *)b);
  pmi_fatal("double free or write after free of %p (its free-list canary was overwritten)", (const void *)b);
}

/* ---- Validation (PM_DEBUG >= 3) ----------------------------------------- */
/* Class list cls of h: links consistent both ways (head->prev is the tail,
 * tail->next == NULL), every pool owned by h, of class cls, linked, not
 * full, and valid itself.  Returns the number of pools on the list, or
 * SIZE_MAX when the list is broken. */
size_t pmi_pool_list_check(const pm_heap_t *h, unsigned cls) {
  const pm_pool_t *head = h->pools[cls];
  if (head == &pmi_pool_empty) return 0;
  size_t n = 0;
  const pm_pool_t *prev = head->prev;   /* the tail */
  for (const pm_pool_t *p = head; p != NULL; prev = p, p = p->next, n++) {
    if (p->heap != h || p->cls != cls || !p->in_list || p->full || n >= h->npools)
      return SIZE_MAX;
    if (p != head && p->prev != prev) return SIZE_MAX;
    if (!pmi_pool_is_valid(p)) return SIZE_MAX;
  }
  return head->prev == prev ? n : SIZE_MAX;
}

/* A block freed twice makes its free list loop back to it (its first link is
 * overwritten by the second push): Floyd's cycle search finds the loop's
 * entry, which is that block, so the validator can name the misuse instead
 * of failing an assertion.  Stops at the first pointer that is not a block. */
static bool pool_holds_block(const pm_pool_t *pool, const void *b) {
  return (uint64_t)((const char *)b - pool->start) < pool->carved && pmi_pool_is_block(pool, b);
}

static void pool_list_check_loop(const pm_pool_t *pool, const pm_block_t *list) {
  const pm_block_t *slow = list, *fast = list;
  while (fast != NULL && pool_holds_block(pool, fast) && pmi_pool_next(pool, fast) != NULL &&
         pool_holds_block(pool, pmi_pool_next(pool, fast))) {
    slow = pmi_pool_next(pool, slow);
    fast = pmi_pool_next(pool, pmi_pool_next(pool, fast));
    if (slow == fast) {
      for (slow = list; slow != fast; slow = pmi_pool_next(pool, slow), fast = pmi_pool_next(pool, fast)) {
      }
      pmi_fatal("double free of %p", (const void *)slow);
    }
  }
}

static size_t pool_list_length(const pm_pool_t *pool, const pm_block_t *b) {
  size_t n = 0;
  for (; b != NULL; b = pmi_pool_next(pool, b), n++)
    if (!pool_holds_block(pool, b) || !pmi_pool_link_ok(b, pmi_pool_next(pool, b)) || n > pool->capacity)
      return SIZE_MAX;
  return n;
}

bool pmi_pool_is_valid(const pm_pool_t *pool) {
  pool_list_check_loop(pool, pool->free);
  pool_list_check_loop(pool, pool->local_free);
  size_t nfree = pool_list_length(pool, pool->free), nlocal = pool_list_length(pool, pool->local_free);
  size_t nstash = pool_list_length(pool, pool->prof_stash);
  size_t carved_blocks = pool->carved / pool->block_size;
  return pool->heap != NULL && pool->head == pool && pool->carved % pool->block_size == 0 &&
         carved_blocks <= pool->capacity && nfree != SIZE_MAX && nlocal != SIZE_MAX &&
         nstash == pool->prof_nstash && pool->nused + nfree + nlocal + nstash <= carved_blocks &&
         (pool->sampled != 0) == (pool->prof_nsampled != 0) &&
         (!pool->full || (nfree == 0 && nlocal == 0 && nstash == 0 && pool_is_carved_out(pool) && !pool->in_list));
}
