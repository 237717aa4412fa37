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
 *          list lazily, the next time the list is pruned.
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
 * Runs only on slow paths; touches only pools of the heap it is given.
 * Never calls up into heap.c (heap.c owns the heap-level slow path).
 */
#include "os.h"
#include "sizeclass.h"

#include <errno.h>

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
/* Makes the blank head descriptor `pool` (nslots slots from arena.c) a pool
 * of class cls owned by h.  `zero`: its slots read as zero. */
static void pool_init(pm_pool_t *pool, pm_heap_t *h, unsigned cls, bool zero) {
  const pm_class_info_t *ci = &pmi_class_info[cls];
  pm_arena_t *a = pmi_arena_of(pool);
  unsigned slot = (unsigned)(pool - a->pools);
  pm_assert(pool->heap == NULL && slot >= PM_ARENA_FIRST_SLOT && slot + ci->nslots <= PM_ARENA_SLOTS);
  for (unsigned i = 0; i < ci->nslots; i++) a->pools[slot + i].head = pool;
  pool->free = pool->local_free = NULL;
  pool->start = (char *)a + (size_t)slot * PM_SLOT_SIZE;
  pool->recip = ci->recip;
  pool->nused = 0;
  pool->block_size = ci->block_size;
  pm_atomic_store_relaxed(&pool->carved, 0);
  pool->capacity = ci->capacity;
  pool->full = 0;
  pool->free_is_zero = 0;
  pool->cls = (uint8_t)cls;
  pool->next = pool->prev = NULL;
  pool->nslots = ci->nslots;
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
}

/* ---- Refill ------------------------------------------------------------ */
/* Carves up to a page worth of never-used blocks into `free`. */
static void pool_carve(pm_pool_t *pool) {
  size_t bs = pool->block_size, carved = pool->carved;
  size_t n = PM_EXTEND_BYTES / bs, left = pool->capacity - carved / bs;
  pm_assert(pool->free == NULL && left > 0);
  if (n == 0) n = 1;
  if (n > left) n = left;
  char *b = pool->start + carved, *last = b + (n - 1) * bs;
  for (char *p = b; p < last; p += bs) {
    ((pm_block_t *)p)->next = (pm_block_t *)(p + bs);
    ((pm_block_t *)p)->canary = pmi_canary(p);
  }
  ((pm_block_t *)last)->next = NULL;
  ((pm_block_t *)last)->canary = pmi_canary(last);
  pool->free = (pm_block_t *)b;
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
  pool = pmi_arena_pool_alloc(pmi_class_info[cls].nslots, pmi_class_info[cls].align_slots, &zero);
  if (pool == NULL) return NULL;
  pool_init(pool, h, cls, zero);         /* blank -> used */
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
    for (pm_block_t *b = lists[i]; b != NULL; b = b->next, nblocks++) {
      if ((uint64_t)((char *)b - pool->start) >= pool->carved || !pmi_pool_is_block(pool, b) ||
          nblocks >= carved_blocks)
        pmi_fatal("corrupted free list in the pool at %p (block %p)", (void *)pool->start, (void *)b);
      if (b->canary != pmi_canary(b)) pmi_fatal("double free of %p", (void *)b);
      b->canary = 0;
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

static void pool_empty_append(pm_heap_t *h, pm_pool_t *pool) {
  pm_assert(!pool->in_empty);
  pool->empty_prev = h->empty_newest;
  pool->empty_next = NULL;
  if (h->empty_newest != NULL) h->empty_newest->empty_next = pool;
  else h->empty_oldest = pool;
  h->empty_newest = pool;
  pool->in_empty = 1;
  pool->emptied_ns = h->now_ns;
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
    else if (h->empty_bytes > keep || pool->emptied_ns < before_ns) pool_release(h, pool);
    else if (before_ns == 0) break;       /* within budget; nothing is too old */
  }
}

/* used -> empty: keep it, within the heap's budget.  A pool still on the
 * list (emptied, reused, emptied again: a malloc/free loop) only has its
 * time refreshed; the list's order is that of first emptying. */
static void pool_retire(pm_heap_t *h, pm_pool_t *pool) {
  if (pm_likely(pool->in_empty)) {
    pool->emptied_ns = h->now_ns;
    return;
  }
  pool_empty_append(h, pool);
  if (h->empty_bytes > PM_HEAP_EMPTY_BYTES) pool_empty_prune(h, PM_HEAP_EMPTY_BYTES, 0);
}

void pmi_pool_release_old_empty(pm_heap_t *h, uint64_t before_ns) {
  if (h->empty_oldest != NULL) pool_empty_prune(h, PM_HEAP_EMPTY_BYTES, before_ns);
}

/* ---- Empty -> blank -------------------------------------------------------- */
static void pool_release(pm_heap_t *h, pm_pool_t *pool) {
  pm_assert(pool->nused == 0 && pool->heap == h);
  pool_check_empty(pool);
  if (pool->in_empty) pool_empty_unlink(h, pool);
  if (pool->in_list) pool_unlink(h, pool);
  h->npools--;
  pool->free = pool->local_free = NULL;
  pm_atomic_store_relaxed(&pool->heap, NULL);   /* used -> blank */
  for (unsigned i = 1; i < pool->nslots; i++) pool[i].head = &pool[i];
  pmi_arena_pool_free(pool, pool->nslots);
}

void pmi_pool_free_event(pm_heap_t *h, pm_pool_t *pool, pm_block_t *first, uint32_t n) {
  if (pm_likely(pool->free_events == 0 && pool->in_empty)) {   /* emptied again: a malloc/free loop */
    pool->emptied_ns = h->now_ns;
    return;
  }
  if (pm_unlikely(pool->sampled))          /* the blocks just pushed may be profiled */
    for (pm_block_t *b = first; n-- > 0 && pool->sampled; b = b->next) pmi_prof_free_event(pool, b);
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

/* ---- Diagnostics --------------------------------------------------------- */
void pmi_pool_pop_fatal(const pm_pool_t *pool, const pm_block_t *b) {
  if ((uint64_t)((const char *)b - pool->start) >= pool->carved)
    pmi_fatal("corrupted free list in the pool at %p: link to %p, outside the pool (write after free)",
              (void *)pool->start, (const void *)b);
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
  while (fast != NULL && pool_holds_block(pool, fast) && fast->next != NULL && pool_holds_block(pool, fast->next)) {
    slow = slow->next;
    fast = fast->next->next;
    if (slow == fast) {
      for (slow = list; slow != fast; slow = slow->next, fast = fast->next) {
      }
      pmi_fatal("double free of %p", (const void *)slow);
    }
  }
}

static size_t pool_list_length(const pm_pool_t *pool, const pm_block_t *b) {
  size_t n = 0;
  for (; b != NULL; b = b->next, n++)
    if (!pool_holds_block(pool, b) || b->canary != pmi_canary(b) || n > pool->capacity) return SIZE_MAX;
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
