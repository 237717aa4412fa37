/* SPDX-License-Identifier: MIT */
/* heap.c — thread-local heaps: creation, remote frees, thread exit.
 *
 * Each thread allocates from its own pm_heap_t, found through one
 * initial-exec TLS load.  Every thread starts on pmi_heap_empty, a constant
 * heap whose class lists all point at the empty pool, so the malloc fast
 * path needs no "is this thread initialised?" test (mimalloc's
 * _mi_heap_empty): the first malloc simply misses into pmi_heap_malloc_slow,
 * which calls pmi_heap_get.
 *
 * Heap states:
 *   ACTIVE     owned by a live thread; only that thread touches its pools.
 *   ABANDONED  its thread exited while blocks were still out; it keeps its
 *              pools.  A new thread adopts it whole (pool->heap pointers
 *              stay valid), or a housekeeping thread takes it off the list,
 *              drains its remote frees and returns its empty pools.
 *   UNUSED     no pools left; reused as-is by the next new thread.
 *   ORPHANED   in a fork child, the heap of a thread that did not survive
 *              the fork.  That thread may have been stopped halfway through
 *              a pop or a push (the fast paths take no lock), so nothing in
 *              the child ever walks its pools again: not adopted, not
 *              collected.  Blocks it handed out stay valid and may be freed
 *              in the child (they go on its remote stack, which nobody
 *              drains): the child leaks at most those pools, and never
 *              trusts a half-updated list.
 * Transitions: (new) -> ACTIVE -> ABANDONED | UNUSED -> ACTIVE (adopted or
 * reused); any but the forking thread's -> ORPHANED in a fork child.
 * Heaps are never unmapped, so pool->heap is always safe to dereference.
 *
 * Remote frees: a block freed by a thread that does not own its pool is
 * pushed on one of the owner heap's `remote` stacks (its lanes), in chains
 * of up to PM_REMOTE_BATCH blocks per CAS (heap_pending_t); the owner takes
 * each whole stack with one exchange on its next slow path.  No pop-one, so
 * no ABA.  A block's pool cannot be released while the block is on a remote
 * stack, because remote-freed blocks still count in pool->nused.
 *
 * Quarantine (the secure library only; docs/security.md, "Delayed reuse"):
 * blocks the thread frees wait in its heap's quarantine before they reach a
 * free list (see "Quarantine" below).
 */
#define _GNU_SOURCE 1
#include "os.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>

__thread pm_heap_t *pmi_heap_tls __attribute__((tls_model("initial-exec"))) = (pm_heap_t *)&pmi_heap_empty;
const pm_heap_t pmi_heap_empty = {.pools = {[0 ... PM_NCLASSES - 1] = (pm_pool_t *)&pmi_pool_empty}};

static struct {
  pthread_mutex_t lock;
  pthread_key_t key;
  bool key_ok;
  pm_heap_t *all;           /* registry of every heap ever made */
  pm_heap_t *abandoned;     /* ABANDONED heaps (list_next)      */
  pm_heap_t *unused;        /* UNUSED heaps (list_next)         */
  size_t nabandoned;        /* |abandoned|, read without the lock: relaxed */
  size_t nheaps;
  pm_meta_area_t meta;      /* where heaps are carved */
} heaps = {.lock = PM_LOCK_INITIALIZER};

/* ---- Acquiring a heap --------------------------------------------------- */
static pm_heap_t *heap_carve_locked(void) {
  pm_heap_t *h = pmi_os_meta_carve(&heaps.meta, sizeof(pm_heap_t), "poolmalloc heaps");
  if (h == NULL) return NULL;
  pm_assert(h->state == 0 && h->npools == 0 && !pmi_heap_has_remote(h));   /* fresh metadata: zero */
  for (unsigned c = 0; c < PM_NCLASSES; c++) h->pools[c] = (pm_pool_t *)&pmi_pool_empty;
  if (pm_config_secure) h->rng = pmi_prim_random() | 1;
  h->all_next = heaps.all;
  heaps.all = h;
  heaps.nheaps++;
  return h;
}

static pm_heap_t *heap_pop(pm_heap_t **list) {
  pm_heap_t *h = *list;
  if (h != NULL) *list = h->list_next;
  return h;
}

/* ACTIVE (its thread exited) or ABANDONED (collected) -> ABANDONED | UNUSED. */
static void heap_push_locked(pm_heap_t *h) {
  pm_assert(h->state == PM_HEAP_ACTIVE || h->state == PM_HEAP_ABANDONED);
  pm_assert(h != pmi_heap_tls);
  pm_assert_expensive(pmi_heap_is_valid(h));
  if (h->npools > 0) {
    h->state = PM_HEAP_ABANDONED;
    h->list_next = heaps.abandoned;
    heaps.abandoned = h;
    pm_atomic_add_relaxed(&heaps.nabandoned, 1);
  } else {
    h->state = PM_HEAP_UNUSED;
    h->list_next = heaps.unused;
    heaps.unused = h;
  }
}

pm_heap_t *pmi_heap_get(void) {
  pm_heap_t *h = pmi_heap_tls;
  if (h != &pmi_heap_empty) return h;
  pmi_init_ensure();
  pthread_mutex_lock(&heaps.lock);
  h = heap_pop(&heaps.abandoned);        /* adopt: reuses its pools at once */
  if (h != NULL) pm_atomic_sub_relaxed(&heaps.nabandoned, 1);
  else if ((h = heap_pop(&heaps.unused)) == NULL) h = heap_carve_locked();
  pm_assert(h == NULL || h->state != PM_HEAP_ACTIVE);
  pm_assert(h == NULL || h->state != PM_HEAP_UNUSED || h->npools == 0);
  if (h != NULL) h->state = PM_HEAP_ACTIVE;   /* (new) | ABANDONED | UNUSED -> ACTIVE */
  pthread_mutex_unlock(&heaps.lock);
  if (h == NULL) return NULL;
  pmi_heap_tls = h;   /* before setspecific, which may itself call malloc */
  if (heaps.key_ok) pthread_setspecific(heaps.key, h);
  pmi_large_tcache_attach();   /* the exit hook flushes it (issue 8 §1) */
  return h;
}

/* ---- Remote frees ------------------------------------------------------- */
/* A block freed by a thread that does not own its pool joins that thread's
 * pending chain for the pool.  When the thread frees into another pool, the
 * chain is sealed into one message and posted to the thread's outbox, which
 * collects messages for one owner heap.  The outbox goes to the owner's
 * remote stack with one CAS when a message for another owner arrives;
 * chain and outbox together when they hold PM_REMOTE_BATCH blocks, at the
 * thread's housekeeping (every PM_HOUSEKEEP_EVERY malloc slow paths), at
 * its exit and at malloc_trim.  Frees that hop from pool to pool (a shared
 * table of random blocks, larson's handed-over arrays) therefore cost one
 * CAS per PM_REMOTE_BATCH blocks, not one each (snmalloc batches per owner
 * the same way).  The owner splices each message into its pool's local_free
 * in O(1), without touching the blocks in between (issue 8 §2; mimalloc's
 * page-level thread-free lists do the same).  A thread that only frees
 * gets a heap on its first remote free, for the exit hook that flushes its
 * chain and outbox (if even that fails, it pushes each block at once).
 *
 * Lanes.  A heap has PM_REMOTE_LANES remote stacks, and an outbox deals its
 * messages to them in turn.  Reading a message is a cache miss (another
 * core wrote it), and the next message's address is inside it, so a drain
 * of one stack waits for one miss after another; the drain walks the lanes
 * side by side, and their misses overlap.
 *
 * A message (word 0 of its link holder links it to the next message):
 *
 *   one block:    entry = b | 1;  link holder b;  b->canary intact
 *   n >= 2:       entry = head;   head->canary = canary(head) ^ tail;
 *                 link holder tail;  tail->canary = canary(tail) ^ n
 *
 * The borrowed words are keyed like the canaries they stand in for, so a
 * block that was freed twice and handed out again meanwhile (its words now
 * the program's data) does not decode into a plausible message: the drain
 * checks them, restores the two canaries and splices.  Remote-freed blocks
 * still count in pool->nused until spliced, so their pool cannot be
 * released, nor their heap become UNUSED, while they wait in a chain, an
 * outbox or a remote stack; pops and the release walk catch a double free
 * of a block inside a chain.  At most PM_REMOTE_BATCH - 1 blocks wait in one
 * thread's chain and outbox. */
typedef struct heap_pending_s {
  pm_pool_t *pool;              /* the chain: blocks of this pool        */
  pm_block_t *head, *tail;
  uintptr_t n;
  pm_heap_t *owner;             /* the outbox: sealed messages for owner */
  uintptr_t out_blocks;         /* (0: the outbox is empty)              */
  unsigned lane;                /* the lane the next message joins       */
  uintptr_t out_first[PM_REMOTE_LANES];   /* entry of a lane's newest message */
  pm_block_t *out_last[PM_REMOTE_LANES];  /* link holder of its oldest        */
} heap_pending_t;
static __thread heap_pending_t heap_pending __attribute__((tls_model("initial-exec")));

#define HEAP_MSG_SINGLE ((uintptr_t)1)

/* Pushes the messages first..last (last's link holder ends the run) on
 * owner's remote stack of that lane. */
static void heap_push_messages(pm_heap_t *owner, unsigned lane, uintptr_t first, pm_block_t *last_link_holder) {
  pm_assert(lane < PM_REMOTE_LANES);
  uintptr_t head = pm_atomic_load_relaxed(&owner->remote[lane]);
  do last_link_holder->next = (pm_block_t *)head;
  while (!pm_atomic_cas_weak_release(&owner->remote[lane], &head, first));
}

static void heap_send_outbox(heap_pending_t *q) {
  if (q->out_blocks == 0) return;
  pm_assert(q->owner != NULL);
  for (unsigned lane = 0; lane < PM_REMOTE_LANES; lane++) {
    if (q->out_first[lane] == 0) continue;
    pm_assert(q->out_last[lane] != NULL);
    heap_push_messages(q->owner, lane, q->out_first[lane], q->out_last[lane]);
    q->out_first[lane] = 0;
    q->out_last[lane] = NULL;
  }
  q->owner = NULL;
  q->out_blocks = 0;
}

/* Seals the pending chain into a message and posts it to the outbox. */
static void heap_seal_chain(heap_pending_t *q) {
  pm_assert(q->head != NULL && q->n > 0);
  pm_heap_t *owner = q->pool->heap;
  uintptr_t entry = (uintptr_t)q->head;
  pm_block_t *link_holder = q->tail;
  if (q->n == 1) {
    entry |= HEAP_MSG_SINGLE;
  } else {
    q->head->canary ^= (uintptr_t)q->tail;   /* canary(head) ^ tail */
    q->tail->canary ^= q->n;                 /* canary(tail) ^ n    */
  }
  if (q->owner != owner) heap_send_outbox(q);
  q->owner = owner;
  unsigned lane = q->lane;
  q->lane = (lane + 1) % PM_REMOTE_LANES;
  if (q->out_first[lane] == 0) q->out_last[lane] = link_holder;
  else link_holder->next = (pm_block_t *)q->out_first[lane];
  q->out_first[lane] = entry;
  q->out_blocks += q->n;
  q->head = q->tail = NULL;
  q->n = 0;
}

void pmi_heap_flush_remote(void) {
  heap_pending_t *q = &heap_pending;
  if (q->head != NULL) heap_seal_chain(q);
  heap_send_outbox(q);
}

/* Double frees through the remote path are caught here, at the free: a
 * block that already carries its canary (freed by its owner, or waiting in
 * a chain) is not a live block.  This path writes the block anyway, and the
 * freeing thread has usually just used it, so the load is cheap. */
void pmi_heap_remote_free(pm_pool_t *pool, pm_block_t *b) {
  if (pm_unlikely(b->canary == pmi_canary(b))) pmi_fatal("double free of %p", (void *)b);
  b->canary = pmi_canary(b);
  if (pm_unlikely(pmi_heap_tls == &pmi_heap_empty) && pmi_heap_get() == NULL) {
    heap_push_messages(pool->heap, 0, (uintptr_t)b | HEAP_MSG_SINGLE, b);   /* no exit hook: at once */
    return;
  }
  heap_pending_t *q = &heap_pending;
  if (q->pool != pool) {
    if (q->head != NULL) heap_seal_chain(q);
    q->pool = pool;
  }
  b->next = q->head;
  if (q->head == NULL) q->tail = b;
  q->head = b;
  if (++q->n + q->out_blocks >= PM_REMOTE_BATCH) pmi_heap_flush_remote();
}

/* A message whose borrowed words do not make sense was written after it
 * was freed (or the same block was freed twice while in flight). */
PM_NOINLINE PM_COLD PM_NORETURN static void heap_bad_message(const void *head) {
  pmi_fatal("corrupted remote-free chain at %p (a double free, or a write after free)", head);
}

/* Every word a message borrowed is checked before it is followed, so a
 * chain broken by a write after free or a double free ends in a diagnostic,
 * not in a wild read.  Splices the message at entry; returns the next. */
PM_INLINE uintptr_t heap_take_message(pm_heap_t *h, uintptr_t entry) {
  pm_block_t *head = (pm_block_t *)(entry & ~HEAP_MSG_SINGLE), *tail = head;
  if (pm_unlikely(pmi_pagemap_entry(head) != PM_CHUNK_ARENA)) heap_bad_message(head);
  pm_pool_t *pool = pmi_arena_pool_of(head);
  if (pm_unlikely(pool->heap != h || !pmi_pool_is_block(pool, head))) heap_bad_message(head);
  uintptr_t n = 1, head_canary = pmi_canary(head);
  if (entry & HEAP_MSG_SINGLE) {
    /* Handed out again while its remote free was in flight: freed twice. */
    if (pm_unlikely(head->canary != head_canary)) pmi_fatal("double free of %p", (void *)head);
    entry = (uintptr_t)head->next;
  } else {
    tail = (pm_block_t *)(head->canary ^ head_canary);
    if (pm_unlikely((uint64_t)((char *)tail - pool->start) >= pool->carved || !pmi_pool_is_block(pool, tail)))
      heap_bad_message(head);
    uintptr_t tail_canary = pmi_canary(tail);
    n = tail->canary ^ tail_canary;
    if (pm_unlikely(n < 2 || n > pool->nused)) heap_bad_message(head);
    entry = (uintptr_t)tail->next;
    head->canary = head_canary;
    tail->canary = tail_canary;
  }
  pmi_pool_splice_local(h, pool, head, tail, (uint32_t)n);
  return entry;
}

/* The lanes side by side, one message of each in turn, so that the cache
 * misses of reading them overlap (see "Lanes" above). */
void pmi_heap_drain_remote(pm_heap_t *h) {
  uintptr_t e[PM_REMOTE_LANES], any = 0;
  for (unsigned lane = 0; lane < PM_REMOTE_LANES; lane++) {
    e[lane] = pm_atomic_load_relaxed(&h->remote[lane]) != 0 ? pm_atomic_exchange_acquire(&h->remote[lane], 0) : 0;
    any |= e[lane];
  }
  while (any != 0) {
    any = 0;
    for (unsigned lane = 0; lane < PM_REMOTE_LANES; lane++) {
      if (e[lane] != 0) e[lane] = heap_take_message(h, e[lane]);
      any |= e[lane];
    }
  }
}

/* ---- Quarantine (the secure library) -------------------------------------- */
/* Freed blocks are held back in the freeing thread's heap: up to
 * PM_QUARANTINE_SLOTS of them, and PM_QUARANTINE_BYTES of memory (a large
 * block counts its resident pages).  Once full, each new entry takes the place of a random one,
 * which leaves, so how long a block waits is unpredictable (64 frees on
 * average) and a dangling pointer does not reliably meet the next
 * allocation of its size.  The caller has already done everything that
 * detects misuse at the free (bits, canary; secure.c) and zeroed the block,
 * so a block in quarantine is free in every sense but one: no list holds
 * it.  Leaving, a small or medium block must still be zero in the two words
 * the list will overwrite (the rest is checked when it is handed out again,
 * pool.c), and goes to its pool's local list or, through the remote path,
 * to its owner; a large one goes to large.c (zeroed and PROT_NONE until
 * reused).  Blocks in quarantine still count in their pool's nused, so
 * their pools stay put.  Flushed at thread exit and by malloc_trim. */
#define HEAP_QUARANTINE_LARGE 1u   /* quarantine_size[i] bit: a large block */

static void heap_quarantine_release(pm_heap_t *h, void *p, uint32_t size) {
  if (pm_likely(!(size & HEAP_QUARANTINE_LARGE))) {
    pm_pool_t *pool = pmi_arena_pool_of(p);
    pm_block_t *b = p;
    if (pm_unlikely(b->next != NULL || b->canary != 0))
      pmi_fatal("write after free of %p: it was written while in quarantine", p);
    if (h != NULL && pool->heap == h) pmi_pool_push_local(h, pool, b);
    else pmi_heap_remote_free(pool, b);   /* (h == NULL: the thread has no heap) */
    return;
  }
  pm_large_t *hdr = pmi_large_header(p, pmi_pagemap_kind(p));
  if (hdr == NULL) pmi_fatal("corrupted large block %p in quarantine", p);
  pmi_large_free(hdr);                    /* its pages stay PROT_NONE until reused (large.c) */
}

/* A random index below n (xorshift64, then Lemire's multiply-shift). */
static uint32_t heap_rand_below(pm_heap_t *h, uint32_t n) {
  uint64_t x = h->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  h->rng = x;
  return (uint32_t)(((x >> 32) * n) >> 32);
}

/* Entry i leaves: replaced by p (size) when p != NULL, else by the last. */
static void heap_quarantine_swap(pm_heap_t *h, uint32_t i, void *p, uint32_t size) {
  void *q = h->quarantine[i];
  uint32_t qsize = h->quarantine_size[i];
  if (p != NULL) {
    h->quarantine[i] = p;
    h->quarantine_size[i] = size;
  } else {
    uint32_t last = --h->nquarantined;
    h->quarantine[i] = h->quarantine[last];
    h->quarantine_size[i] = h->quarantine_size[last];
  }
  h->quarantine_bytes += (size & ~HEAP_QUARANTINE_LARGE) - (qsize & ~HEAP_QUARANTINE_LARGE);
  heap_quarantine_release(h, q, qsize);
}

void pmi_heap_quarantine(pm_heap_t *h, void *p, size_t bytes, bool large) {
  uint32_t size = (uint32_t)bytes | (large ? HEAP_QUARANTINE_LARGE : 0);
  if (!pm_config_secure || pm_unlikely(h == NULL)) {   /* (only the secure library quarantines) */
    heap_quarantine_release(NULL, p, size);
    return;
  }
  if (pm_likely(h->nquarantined == PM_QUARANTINE_SLOTS)) {
    heap_quarantine_swap(h, heap_rand_below(h, PM_QUARANTINE_SLOTS), p, size);
  } else {
    h->quarantine[h->nquarantined] = p;
    h->quarantine_size[h->nquarantined++] = size;
    h->quarantine_bytes += bytes;
  }
  while (pm_unlikely(h->quarantine_bytes > PM_QUARANTINE_BYTES) && h->nquarantined > 1)
    heap_quarantine_swap(h, heap_rand_below(h, h->nquarantined), NULL, 0);
}

void pmi_heap_quarantine_flush(pm_heap_t *h) {
  if (!pm_config_secure) return;
  while (h->nquarantined > 0) heap_quarantine_swap(h, h->nquarantined - 1, NULL, 0);
}

/* ---- malloc's slow path ------------------------------------------------- */
void *pmi_heap_malloc_slow(pm_heap_t *h, unsigned cls) {
  void *p = NULL;
  if (pm_unlikely(h == &pmi_heap_empty) && (h = pmi_heap_get()) == NULL &&
      (!pmi_heap_reclaim() || (h = pmi_heap_get()) == NULL)) {
    errno = ENOMEM;
    return NULL;
  }
  if (pm_unlikely(++h->tick % PM_HOUSEKEEP_EVERY == 0)) pmi_heap_housekeep(h);
  if (pmi_heap_has_remote(h)) pmi_heap_drain_remote(h);
  if (pm_likely((p = pmi_pool_malloc_refill(h, cls)) != NULL)) return p;
  if (pmi_heap_reclaim() && (p = pmi_pool_malloc_refill(h, cls)) != NULL) return p;   /* issue 7 §5 */
  errno = ENOMEM;
  return NULL;
}

/* ---- Thread exit and abandoned heaps ------------------------------------ */
/* Returns what it can of h to the arenas; h must be held by the caller
 * alone (its own thread, or taken off the abandoned list). */
static void heap_collect(pm_heap_t *h) {
  pm_assert(h->state == PM_HEAP_ACTIVE || h->state == PM_HEAP_ABANDONED);
  pmi_heap_drain_remote(h);
  pmi_pool_release_empty(h);
  pm_assert_expensive(pmi_heap_is_valid(h));
}

static void heap_thread_exit(void *arg) {
  pm_heap_t *h = arg;
  if (pm_config_secure) pmi_heap_quarantine_flush(h);   /* before the heap is given up */
  pmi_heap_flush_remote();
  pmi_large_tcache_thread_exit();   /* issue 8 §1: the thread's large-block cache */
  if (pmi_heap_tls == h) pmi_heap_tls = (pm_heap_t *)&pmi_heap_empty;
  heap_collect(h);
  pthread_mutex_lock(&heaps.lock);
  heap_push_locked(h);
  pthread_mutex_unlock(&heaps.lock);
}

/* Takes one abandoned heap off the list, collects it, puts it back. */
static bool heap_collect_one_abandoned(bool wait) {
  if (pm_atomic_load_relaxed(&heaps.nabandoned) == 0) return false;
  if (wait) pthread_mutex_lock(&heaps.lock);
  else if (pthread_mutex_trylock(&heaps.lock) != 0) return false;
  pm_heap_t *h = heap_pop(&heaps.abandoned);
  if (h != NULL) pm_atomic_sub_relaxed(&heaps.nabandoned, 1);
  pthread_mutex_unlock(&heaps.lock);
  if (h == NULL) return false;
  heap_collect(h);
  pthread_mutex_lock(&heaps.lock);
  heap_push_locked(h);
  pthread_mutex_unlock(&heaps.lock);
  return true;
}

void pmi_heap_housekeep(pm_heap_t *h) {
  pm_assert(h == pmi_heap_tls && h->state == PM_HEAP_ACTIVE);
  pm_assert_expensive(pmi_heap_is_valid(h));
  pmi_heap_flush_remote();
  uint64_t now = pmi_prim_now_ns(), delay = (uint64_t)pmi_option(PM_OPTION_DECAY_MS) * 1000000u;
  h->now_ns = now;
  pmi_pool_release_old_empty(h, now > delay ? now - delay : 1);
  pmi_arena_decay(now, false);
  pmi_large_decay(now, false);
  heap_collect_one_abandoned(false);
}

bool pmi_heap_reclaim(void) {
  bool released = pmi_heap_trim();
  if (pmi_option(PM_OPTION_VERBOSE))
    pmi_fmt_message("out of memory: released cached and empty memory (%s), retrying once",
                    released ? "some" : "none");
  return released;
}

bool pmi_heap_trim(void) {
  if (pm_config_secure && pmi_heap_tls != &pmi_heap_empty) pmi_heap_quarantine_flush(pmi_heap_tls);
  pmi_heap_flush_remote();
  pm_heap_t *h = pmi_heap_tls;
  if (h != &pmi_heap_empty) heap_collect(h);
  size_t n = pm_atomic_load_relaxed(&heaps.nabandoned);
  while (n-- > 0 && heap_collect_one_abandoned(true)) {
  }
  uint64_t now = pmi_prim_now_ns();
  bool released = pmi_arena_decay(now, true);
  released |= pmi_large_decay(now, true);
  return released;
}

size_t pmi_heap_count(void) {
  pthread_mutex_lock(&heaps.lock);
  size_t n = heaps.nheaps;
  pthread_mutex_unlock(&heaps.lock);
  return n;
}

/* stats_json.c: fn sees every heap ever made, under the heap lock (fn
 * must not allocate or take another lock of ours; the heaps' pools belong
 * to their threads and are only read). */
void pmi_heap_walk(void (*fn)(const pm_heap_t *h, void *arg), void *arg) {
  pthread_mutex_lock(&heaps.lock);
  for (pm_heap_t *h = heaps.all; h != NULL; h = h->all_next) fn(h, arg);
  pthread_mutex_unlock(&heaps.lock);
}

void pmi_heap_thread_init(void) {
  heaps.key_ok = pthread_key_create(&heaps.key, heap_thread_exit) == 0;
}

bool pmi_heap_is_valid(const pm_heap_t *h) {
  size_t listed = 0;
  for (unsigned c = 0; c < PM_NCLASSES; c++) {
    size_t n = pmi_pool_list_check(h, c);
    if (n == SIZE_MAX) return false;
    listed += n;
  }
  return listed <= h->npools && h->state >= PM_HEAP_ACTIVE && h->state <= PM_HEAP_ORPHANED;
}

/* ---- fork --------------------------------------------------------------- */
void pmi_heap_fork_prepare(void) { pthread_mutex_lock(&heaps.lock); }
void pmi_heap_fork_parent(void) { pthread_mutex_unlock(&heaps.lock); }

/* Only the forking thread survives.  Heaps that were abandoned or unused at
 * the fork were consistent (they are changed only under the heap lock, which
 * the fork held) and stay on their lists; every heap that was ACTIVE in
 * another thread is ORPHANED (see the states above). */
void pmi_heap_fork_child(void) {
  pthread_mutex_unlock(&heaps.lock);
  for (pm_heap_t *h = heaps.all; h != NULL; h = h->all_next)
    if (h != pmi_heap_tls && h->state == PM_HEAP_ACTIVE) h->state = PM_HEAP_ORPHANED;
}
