/* SPDX-License-Identifier: MIT */
/* tests/unit/remote.c — remote frees reach their owner in batches, whole.
 *
 * A thread that frees blocks of another heap collects them (heap.c, "Remote
 * frees"): a chain per pool, sealed into messages, and an outbox of
 * messages for one owner that is pushed with one CAS.  These tests free
 * from a helper thread that stays alive (so its exit hook does not flush)
 * and look at the owner heap's remote stack between steps:
 *   - frees that hop from pool to pool are not pushed one by one: the owner
 *     sees nothing until PM_REMOTE_BATCH blocks are waiting, then all of
 *     them at once (the bug this catches: one CAS per block, the cost that
 *     made shared-table programs slow);
 *   - a message for another owner sends the outbox first;
 *   - a thread's exit sends what is left;
 *   - an outbox deals its messages to the owner's lanes in turn, and the
 *     drain takes every lane whole, whichever is longer;
 *   - after the owner drains, every block is on its pool's local list and
 *     nused counts it free (nothing lost, nothing counted twice).
 */
#include <pthread.h>
#include <semaphore.h>
#include "sizeclass.h"
#include "../tap.h"

#define NPOOLS PM_REMOTE_BATCH

/* One block from each of n different pools of the calling thread. */
static void blocks_in_distinct_pools(void **out, size_t n) {
  size_t got = 0;
  for (size_t size = 16; got < n && size <= PM_MEDIUM_MAX; size += 16) {
    void *p = pmi_malloc(size);
    require_not_null(p);
    bool fresh = true;
    for (size_t i = 0; i < got; i++) fresh &= pmi_arena_pool_of(out[i]) != pmi_arena_pool_of(p);
    if (fresh) out[got++] = p;
    else pmi_free(p);
  }
  require_eq(got, n);
}

/* The entry of the one message waiting for h, in whichever lane. */
static uintptr_t only_message(pm_heap_t *h) {
  uintptr_t entry = 0;
  for (unsigned lane = 0; lane < PM_REMOTE_LANES; lane++) {
    uintptr_t e = pm_atomic_load_acquire(&h->remote[lane]);
    if (e == 0) continue;
    expect_eq(entry, 0);   /* no second lane holds one */
    entry = e;
  }
  return entry;
}

/* The messages waiting in one lane of h; each must hold one block. */
static size_t lane_messages(pm_heap_t *h, unsigned lane) {
  size_t messages = 0;
  for (uintptr_t e = pm_atomic_load_acquire(&h->remote[lane]); e != 0; messages++) {
    expect_true(e & 1);
    e = (uintptr_t)((pm_block_t *)(e & ~(uintptr_t)1))->next;
  }
  return messages;
}

/* ---- A helper thread that frees on request ------------------------------- */
static struct {
  sem_t go, done;
  void **blocks;
  size_t n;
  bool quit;
} helper;

static void *helper_main(void *arg) {
  for (;;) {
    sem_wait(&helper.go);
    if (helper.quit) return NULL;
    for (size_t i = 0; i < helper.n; i++) pmi_free(helper.blocks[i]);
    if (helper.n == 0) pmi_heap_flush_remote();
    sem_post(&helper.done);
  }
}

static void helper_free(void **blocks, size_t n) {
  helper.blocks = blocks;
  helper.n = n;
  sem_post(&helper.go);
  sem_wait(&helper.done);
}

/* The helper sends its chain and outbox now (as malloc_trim does). */
static void helper_flush(void) { helper_free(NULL, 0); }

static pthread_t helper_start(void) {
  pthread_t t;
  helper.quit = false;
  sem_init(&helper.go, 0, 0);
  sem_init(&helper.done, 0, 0);
  require_eq(pthread_create(&t, NULL, helper_main, NULL), 0);
  return t;
}

static void helper_stop(pthread_t t) {
  helper.quit = true;
  sem_post(&helper.go);
  pthread_join(t, NULL);
}

/* Every block is back on its pool's local list, counted free. */
static void expect_drained_free(void **blocks, size_t n, const uint32_t *nused_before) {
  for (size_t i = 0; i < n; i++) {
    pm_pool_t *pool = pmi_arena_pool_of(blocks[i]);
    expect_eq(pool->nused, nused_before[i] - 1);
    bool listed = false;
    for (pm_block_t *b = pool->local_free; b != NULL; b = b->next) listed |= b == blocks[i];
    expect_true(listed);
  }
}

TEST(frees_across_pools_reach_the_owner_in_one_batch) {
  void *blocks[NPOOLS];
  uint32_t nused[NPOOLS];
  blocks_in_distinct_pools(blocks, NPOOLS);
  pm_heap_t *h = pmi_heap_tls;
  for (size_t i = 0; i < NPOOLS; i++) nused[i] = pmi_arena_pool_of(blocks[i])->nused;
  pmi_heap_drain_remote(h);
  pthread_t t = helper_start();
  helper_free(blocks, NPOOLS - 1);
  expect_false(pmi_heap_has_remote(h));   /* all waiting in the helper's outbox */
  helper_free(blocks + NPOOLS - 1, 1);
  expect_true(pmi_heap_has_remote(h));   /* the batch is full: pushed */
  /* One block per pool: single-block messages, dealt to the lanes in turn. */
  for (unsigned lane = 0; lane < PM_REMOTE_LANES; lane++) expect_eq(lane_messages(h, lane), NPOOLS / PM_REMOTE_LANES);
  pmi_heap_drain_remote(h);
  expect_false(pmi_heap_has_remote(h));
  expect_drained_free(blocks, NPOOLS, nused);
  helper_stop(t);
}

static pm_heap_t *other_heap;
static void *other_blocks[2];
static sem_t other_go;

static void *other_owner(void *arg) {
  for (int i = 0; i < 2; i++) other_blocks[i] = pmi_malloc(64);
  other_heap = pmi_heap_tls;
  sem_post((sem_t *)arg);
  sem_wait(&other_go);   /* stays alive, so nothing is adopted or collected */
  pmi_heap_drain_remote(other_heap);
  return NULL;
}

TEST(a_message_for_another_owner_sends_the_outbox_and_exit_sends_the_rest) {
  sem_t ready;
  sem_init(&ready, 0, 0);
  sem_init(&other_go, 0, 0);
  pthread_t o;
  require_eq(pthread_create(&o, NULL, other_owner, &ready), 0);
  sem_wait(&ready);
  void *mine[3];
  uint32_t nused[3];
  blocks_in_distinct_pools(mine, 3);
  for (int i = 0; i < 3; i++) nused[i] = pmi_arena_pool_of(mine[i])->nused;
  pm_heap_t *h = pmi_heap_tls;
  pmi_heap_drain_remote(h);
  pthread_t t = helper_start();
  helper_free(mine, 2);
  helper_free(other_blocks, 2);    /* one pool of the other owner: one chain */
  expect_false(pmi_heap_has_remote(h));    /* mine are sealed in the outbox */
  expect_false(pmi_heap_has_remote(other_heap));
  helper_free(mine + 2, 1);        /* seals the other owner's chain: mine go out first */
  expect_true(pmi_heap_has_remote(h));
  expect_false(pmi_heap_has_remote(other_heap));
  helper_stop(t);                  /* the exit hook sends the rest */
  uintptr_t e = only_message(other_heap);
  expect_ne(e, 0);
  expect_false(e & 1);             /* one message of two blocks */
  pmi_heap_drain_remote(h);
  expect_drained_free(mine, 3, nused);
  sem_post(&other_go);
  pthread_join(o, NULL);
}

/* PM_REMOTE_LANES + 1 messages dealt to the lanes in turn leave one lane a
 * message longer than the rest: lane 0 first (the helper starts there),
 * then, the helper's turn having moved on by one, lane 1, and so on.  The
 * drain must take the longer lane's last message too, whichever it is. */
TEST(lanes_of_unequal_length_are_drained_whole) {
  enum { N = PM_REMOTE_LANES + 1 };
  pm_heap_t *h = pmi_heap_tls;
  pthread_t t = helper_start();
  for (unsigned longer = 0; longer < PM_REMOTE_LANES; longer++) {
    void *mine[N];
    uint32_t nused[N];
    blocks_in_distinct_pools(mine, N);
    for (int i = 0; i < N; i++) nused[i] = pmi_arena_pool_of(mine[i])->nused;
    pmi_heap_drain_remote(h);
    helper_free(mine, N);
    helper_flush();
    for (unsigned lane = 0; lane < PM_REMOTE_LANES; lane++) expect_eq(lane_messages(h, lane), lane == longer ? 2 : 1);
    pmi_heap_drain_remote(h);
    expect_false(pmi_heap_has_remote(h));
    expect_drained_free(mine, N, nused);
  }
  helper_stop(t);
}
