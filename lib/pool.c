/* SPDX-License-Identifier: MIT */
/* pool.c — the pool state machine and the malloc refill path.
 *
 * A pool belongs to one heap and serves one size class.  Its states, as in
 * obmalloc's usedpools comment:
 *
 *   used   linked on heap->pools[cls]; it has blocks on free or local_free,
 *          or never-used room between bump and end.  The list head is the
 *          pool the malloc fast path pops from.
 *   full   unlinked (full == 1): free == local_free == NULL and bump == end.
 *          The first local free into it links it back at the tail.
 *   empty  nused == 0.  Given back to its arena at once, unless it is the
 *          only pool of its class in the heap (kept so that a program that
 *          mallocs and frees one block in a loop never touches the arena lock).
 *
 * Free lists are split as in mimalloc: malloc pops `free`, free pushes
 * `local_free`, and the slow path moves local_free over when free runs dry.
 * That keeps `free_is_zero` exact without a store on the free path: a list
 * carved from zeroed memory stays zero (but for the link and canary words)
 * until it is replaced by a list of freed blocks.
 *
 * Double frees: every block on a free list carries the canary
 * (address ^ pmi_secret) in word 1, and every pop checks and clears it.  A
 * block freed twice is on the lists twice, so it is popped twice, and the
 * second pop finds a cleared canary and aborts before the block can be
 * handed out again.  The free fast path also catches the common
 * free(p); free(p) at once (p == local_free), and the slow free paths check
 * the canary itself.
 * Runs only on slow paths; touches only pools of the heap it is given.
 */
#include "os.h"
#include "sizeclass.h"

#include <errno.h>

/* ---- Class lists ------------------------------------------------------- */
/* h->pools[cls] is the head; head->prev is the tail (the list is circular in
 * the prev direction only, so the tail is one load away); tail->next ==
 * NULL.  New pools go to the head; pools that stop being full go to the
 * tail, so they collect more frees before malloc reaches them again instead
 * of bouncing between full and used on every free (obmalloc links them at
 * the front). */
static bool pool_is_only(const pm_heap_t *h, const pm_pool_t *pool) {
  return h->pools[pool->cls] == pool && pool->next == NULL;
}

static void pool_link_head(pm_heap_t *h, pm_pool_t *pool) {
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
  pm_pool_t *head = h->pools[pool->cls];
  if (head == &pmi_pool_empty) {
    pool_link_head(h, pool);
    return;
  }
  pm_pool_t *tail = head->prev;
  tail->next = pool;
  pool->prev = tail;
  pool->next = NULL;
  head->prev = pool;
  pool->in_list = 1;
}

static void pool_unlink(pm_heap_t *h, pm_pool_t *pool) {
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

static void pool_release(pm_heap_t *h, pm_pool_t *pool) {
  pm_assert(pool->nused == 0 && pool->heap == h);
  if (pool->in_list) pool_unlink(h, pool);
  h->npools--;
  pmi_arena_pool_free(pool);
}

/* ---- Refill ------------------------------------------------------------ */
/* Carves up to a page worth of never-used blocks into `free`. */
static void pool_carve(pm_pool_t *pool) {
  size_t bs = pool->block_size;
  size_t n = PM_EXTEND_BYTES / bs, left = (size_t)(pool->end - pool->bump) / bs;
  if (n == 0) n = 1;
  if (n > left) n = left;
  char *b = pool->bump, *last = b + (n - 1) * bs;
  for (char *p = b; p < last; p += bs) {
    ((pm_block_t *)p)->next = (pm_block_t *)(p + bs);
    ((pm_block_t *)p)->canary = pmi_canary(p);
  }
  ((pm_block_t *)last)->next = NULL;
  ((pm_block_t *)last)->canary = pmi_canary(last);
  pool->free = (pm_block_t *)b;
  pool->free_is_zero = pool->bump_is_zero;
  pool->bump = last + bs;
}

/* Makes pool->free non-empty if the pool has anything left. */
static bool pool_refill(pm_pool_t *pool) {
  if (pool->local_free != NULL) {
    pool->free = pool->local_free;
    pool->local_free = NULL;
    pool->free_is_zero = 0;
    return true;
  }
  if (pool->bump < pool->end) {
    pool_carve(pool);
    return true;
  }
  return false;
}

uintptr_t pmi_secret;   /* set once by pmi_init, before any block exists */

void pmi_pool_reuse_fatal(const void *b) { pmi_fatal("double free of %p", b); }

void *pmi_pool_malloc_slow(pm_heap_t *h, unsigned cls) {
  if (pm_unlikely(h == &pmi_heap_empty)) {
    h = pmi_heap_get();
    if (h == NULL) {
      errno = ENOMEM;
      return NULL;
    }
  }
  if (pm_unlikely(++h->tick % PM_HOUSEKEEP_EVERY == 0)) pmi_heap_housekeep(h);
  if (atomic_load_explicit(&h->remote, memory_order_relaxed) != NULL) pmi_heap_drain_remote(h);

  pm_pool_t *pool = h->pools[cls], *next;
  if (pm_likely(pool->local_free != NULL)) {   /* the common refill: no list walk */
    pm_assert_expensive(pmi_pool_is_valid(pool));
    pool_refill(pool);
    return pmi_pool_pop(pool);
  }
  for (; pool != &pmi_pool_empty && pool != NULL; pool = next) {
    next = pool->next;
    if (pool->free != NULL || pool_refill(pool)) return pmi_pool_pop(pool);   /* it is the head */
    pool_unlink(h, pool);                /* used -> full */
    pool->full = 1;
  }
  pool = pmi_arena_pool_alloc(h, cls);
  if (pool == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  h->npools++;
  pool_link_head(h, pool);
  pool_carve(pool);
  return pmi_pool_pop(pool);
}

/* ---- Free events ------------------------------------------------------- */
void pmi_pool_free_event(pm_heap_t *h, pm_pool_t *pool) {
  if (pool->full) {                      /* full -> used */
    pool->full = 0;
    pool_link_tail(h, pool);
  }
  pm_assert_expensive(pmi_pool_is_valid(pool));
  if (pool->nused == 0 && !pool_is_only(h, pool))
    pool_release(h, pool);               /* used -> empty, back to the arena */
}

void pmi_pool_release_empty(pm_heap_t *h) {
  for (unsigned c = 0; c < PM_NCLASSES; c++) {
    pm_pool_t *next;
    for (pm_pool_t *pool = h->pools[c]; pool != &pmi_pool_empty && pool != NULL; pool = next) {
      next = pool->next;
      if (pool->nused == 0) pool_release(h, pool);
    }
  }
}

/* ---- Validation (PM_DEBUG >= 3) ----------------------------------------- */
/* A block freed twice makes its free list loop back to it (its first link is
 * overwritten by the second push): Floyd's cycle search finds the loop's
 * entry, which is that block, so the validator can name the misuse instead
 * of failing an assertion.  Stops at the first pointer that is not a block. */
static void pool_list_check_loop(const pm_pool_t *pool, const pm_block_t *list) {
  const pm_block_t *slow = list, *fast = list;
  while (fast != NULL && pmi_pool_is_block(pool, fast) && fast->next != NULL &&
         pmi_pool_is_block(pool, fast->next)) {
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
    if (!pmi_pool_is_block(pool, b) || n > pool->capacity) return SIZE_MAX;
  return n;
}

bool pmi_pool_is_valid(const pm_pool_t *pool) {
  pool_list_check_loop(pool, pool->free);
  pool_list_check_loop(pool, pool->local_free);
  size_t nfree = pool_list_length(pool, pool->free), nlocal = pool_list_length(pool, pool->local_free);
  size_t unused = (size_t)(pool->end - pool->bump) / pool->block_size;
  return pool->heap != NULL && pool->head_offset == 0 && pool->bump >= pool->start &&
         pool->bump <= pool->end && nfree != SIZE_MAX && nlocal != SIZE_MAX &&
         pool->nused + nfree + nlocal + unused <= pool->capacity &&
         (!pool->full || (nfree == 0 && nlocal == 0 && unused == 0 && !pool->in_list));
}
