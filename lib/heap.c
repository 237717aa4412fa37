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
 * pushed on the owner heap's `remote` stack, in chains of up to
 * PM_REMOTE_BATCH blocks per CAS (heap_pending_t); the owner takes the whole
 * stack with one exchange on its next slow path.  No pop-one, so
 * no ABA.  A block's pool cannot be released while the block is on a remote
 * stack, because remote-freed blocks still count in pool->nused.
 */
#define _GNU_SOURCE 1
#include "os.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>

__thread pm_heap_t *pmi_heap_tls __attribute__((tls_model("initial-exec"))) = (pm_heap_t *)&pmi_heap_empty;
const pm_pool_t pmi_pool_empty;
const pm_heap_t pmi_heap_empty = {.pools = {[0 ... PM_NCLASSES - 1] = (pm_pool_t *)&pmi_pool_empty}};

#define HEAP_META_CHUNK ((size_t)64 << 10)

static struct {
  pthread_mutex_t lock;
  pthread_key_t key;
  bool key_ok;
  pm_heap_t *all;           /* registry of every heap ever made */
  pm_heap_t *abandoned;     /* ABANDONED heaps (list_next)      */
  pm_heap_t *unused;        /* UNUSED heaps (list_next)         */
  _Atomic size_t nabandoned;
  size_t nheaps;
  char *meta_cur, *meta_end;
} heaps = {.lock = PM_LOCK_INITIALIZER};

/* ---- Acquiring a heap --------------------------------------------------- */
static pm_heap_t *heap_carve_locked(void) {
  size_t size = pm_align_up(sizeof(pm_heap_t), 64);
  if (heaps.meta_cur == NULL || heaps.meta_cur + size > heaps.meta_end) {
    char *m = pmi_os_map(HEAP_META_CHUNK, PM_PAGE_SIZE);
    if (m == NULL) return NULL;
    pmi_os_name(m, HEAP_META_CHUNK, "poolmalloc heaps");
    heaps.meta_cur = m;
    heaps.meta_end = m + HEAP_META_CHUNK;
  }
  pm_heap_t *h = (pm_heap_t *)heaps.meta_cur;
  heaps.meta_cur += size;
  for (unsigned c = 0; c < PM_NCLASSES; c++) h->pools[c] = (pm_pool_t *)&pmi_pool_empty;
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

static void heap_push_locked(pm_heap_t *h) {
  if (h->npools > 0) {
    h->state = PM_HEAP_ABANDONED;
    h->list_next = heaps.abandoned;
    heaps.abandoned = h;
    atomic_fetch_add_explicit(&heaps.nabandoned, 1, memory_order_relaxed);
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
  if (h != NULL) atomic_fetch_sub_explicit(&heaps.nabandoned, 1, memory_order_relaxed);
  else if ((h = heap_pop(&heaps.unused)) == NULL) h = heap_carve_locked();
  if (h != NULL) h->state = PM_HEAP_ACTIVE;
  pthread_mutex_unlock(&heaps.lock);
  if (h == NULL) return NULL;
  pmi_heap_tls = h;   /* before setspecific, which may itself call malloc */
  if (heaps.key_ok) pthread_setspecific(heaps.key, h);
  return h;
}

/* ---- Remote frees ------------------------------------------------------- */
/* Blocks this thread freed for one other heap, not yet pushed: consecutive
 * remote frees to the same owner are chained here and pushed with one CAS
 * per PM_REMOTE_BATCH blocks.  Flushed when the owner changes, by this
 * thread's housekeeping (every PM_HOUSEKEEP_EVERY malloc slow paths), at its
 * exit and by malloc_trim, so at most PM_REMOTE_BATCH - 1 blocks wait, and
 * only while this thread neither allocates much nor exits.  Threads without a heap (no exit hook) push at once. */
typedef struct heap_pending_s {
  pm_heap_t *owner;
  pm_block_t *head, *tail;
  unsigned n;
} heap_pending_t;
static __thread heap_pending_t heap_pending __attribute__((tls_model("initial-exec")));

static void heap_push_chain(pm_heap_t *owner, pm_block_t *first, pm_block_t *last) {
  pm_block_t *head = atomic_load_explicit(&owner->remote, memory_order_relaxed);
  do last->next = head;
  while (!atomic_compare_exchange_weak_explicit(&owner->remote, &head, first, memory_order_release,
                                                memory_order_relaxed));
}

void pmi_heap_flush_remote(void) {
  heap_pending_t *q = &heap_pending;
  if (q->head == NULL) return;
  heap_push_chain(q->owner, q->head, q->tail);
  q->head = q->tail = NULL;
  q->n = 0;
}

/* Double frees through the remote path are caught here, at the free: a
 * block that already carries a canary (freed by its owner, or waiting on a
 * remote stack) is not a live block.  This path writes the block anyway,
 * and the freeing thread has usually just used it, so the load is cheap. */
void pmi_heap_remote_free(pm_heap_t *owner, pm_block_t *b) {
  if (pm_unlikely(b->canary == pmi_canary(b) || b->canary == pmi_canary_remote(b)))
    pmi_fatal("double free of %p", (void *)b);
  b->canary = pmi_canary_remote(b);
  if (pmi_heap_tls == &pmi_heap_empty) {
    heap_push_chain(owner, b, b);
    return;
  }
  heap_pending_t *q = &heap_pending;
  if (q->owner != owner) {
    pmi_heap_flush_remote();
    q->owner = owner;
  }
  b->next = q->head;
  if (q->head == NULL) q->tail = b;
  q->head = b;
  if (++q->n >= PM_REMOTE_BATCH) pmi_heap_flush_remote();
}

/* A block that arrives without its remote canary was also freed locally
 * while it waited (a double free across threads): caught before it is
 * pushed a second time, which would corrupt the pool's count. */
void pmi_heap_drain_remote(pm_heap_t *h) {
  pm_block_t *b = atomic_exchange_explicit(&h->remote, NULL, memory_order_acquire);
  while (b != NULL) {
    if (pm_unlikely(b->canary != pmi_canary_remote(b))) pmi_fatal("double free of %p", (void *)b);
    pm_block_t *next = b->next;
    pm_pool_t *pool = pmi_arena_pool_of(b);
    pm_assert(pool->heap == h && pmi_pool_is_block(pool, b));
    pmi_pool_push_local(h, pool, b);
    b = next;
  }
}

/* ---- malloc's slow path ------------------------------------------------- */
void *pmi_heap_malloc_slow(pm_heap_t *h, unsigned cls) {
  if (pm_unlikely(h == &pmi_heap_empty) && (h = pmi_heap_get()) == NULL) {
    if (!pmi_heap_reclaim() || (h = pmi_heap_get()) == NULL) goto enomem;
  }
  if (pm_unlikely(++h->tick % PM_HOUSEKEEP_EVERY == 0)) pmi_heap_housekeep(h);
  if (atomic_load_explicit(&h->remote, memory_order_relaxed) != NULL) pmi_heap_drain_remote(h);
  void *p = pmi_pool_malloc_refill(h, cls);
  if (pm_likely(p != NULL)) return p;
  if (pmi_heap_reclaim() && (p = pmi_pool_malloc_refill(h, cls)) != NULL) return p;   /* issue 7 §5 */
enomem:
  errno = ENOMEM;
  return NULL;
}

/* ---- Thread exit and abandoned heaps ------------------------------------ */
/* Returns what it can of h to the arenas; h must be held by the caller
 * alone (its own thread, or taken off the abandoned list). */
static void heap_collect(pm_heap_t *h) {
  pmi_heap_drain_remote(h);
  pmi_pool_release_empty(h);
}

static void heap_thread_exit(void *arg) {
  pm_heap_t *h = arg;
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
  if (atomic_load_explicit(&heaps.nabandoned, memory_order_relaxed) == 0) return false;
  if (wait) pthread_mutex_lock(&heaps.lock);
  else if (pthread_mutex_trylock(&heaps.lock) != 0) return false;
  pm_heap_t *h = heap_pop(&heaps.abandoned);
  if (h != NULL) atomic_fetch_sub_explicit(&heaps.nabandoned, 1, memory_order_relaxed);
  pthread_mutex_unlock(&heaps.lock);
  if (h == NULL) return false;
  heap_collect(h);
  pthread_mutex_lock(&heaps.lock);
  heap_push_locked(h);
  pthread_mutex_unlock(&heaps.lock);
  return true;
}

void pmi_heap_housekeep(pm_heap_t *h) {
  pmi_heap_flush_remote();
  uint64_t now = pmi_os_now_ns();
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
  pmi_heap_flush_remote();
  pm_heap_t *h = pmi_heap_tls;
  if (h != &pmi_heap_empty) heap_collect(h);
  size_t n = atomic_load_explicit(&heaps.nabandoned, memory_order_relaxed);
  while (n-- > 0 && heap_collect_one_abandoned(true)) {
  }
  uint64_t now = pmi_os_now_ns();
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

void pmi_heap_thread_init(void) {
  heaps.key_ok = pthread_key_create(&heaps.key, heap_thread_exit) == 0;
}

/* ---- fork --------------------------------------------------------------- */
void pmi_heap_fork_prepare(void) { pthread_mutex_lock(&heaps.lock); }
void pmi_heap_fork_parent(void) { pthread_mutex_unlock(&heaps.lock); }

/* Only the forking thread survives.  Heaps that were abandoned or unused at
 * the fork were consistent (they are changed only under the heap lock, which
 * the fork held) and stay on their lists; every heap that was ACTIVE in
 * another thread is ORPHANED (see the states above). */
void pmi_heap_fork_child(void) {
  PM_LOCK_RESET(&heaps.lock);
  for (pm_heap_t *h = heaps.all; h != NULL; h = h->all_next)
    if (h != pmi_heap_tls && h->state == PM_HEAP_ACTIVE) h->state = PM_HEAP_ORPHANED;
}
