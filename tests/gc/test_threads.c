/* SPDX-License-Identifier: MIT */
/* tests/gc/test_threads.c — the thread model of docs/gc.md ("Threads and
 * fork") exercised for real:
 *   - mutator threads serialise their graph changes with a client lock (a
 *     GIL); automatic collections run in whichever thread crosses a
 *     threshold, under that lock, and find other threads' garbage cycles;
 *   - meanwhile other threads drop ATOMIC objects to zero without the GIL
 *     (allowed: they change no references held by tracked objects), so
 *     deaths race with collections (the refcount-0 root case of collect.c);
 *   - a START/STOP callback pair that stops the world is called around
 *     every collection.
 * Checked: every object is freed exactly once, nothing leaks, collections
 * happened in several threads.
 */
#include "../tap.h"
#include "gcnode.h"
#include <stdatomic.h>
#include <pthread.h>

#define NMUT 3
#define NFREE 2
#define ROUNDS 3000

/* gcnode's logging hooks are not thread-safe: a quiet node type. */
static void tnode_clear(void *self) {
  gcnode_t *n = self;
  for (int i = 0; i < GCNODE_MAX; i++) PM_CLEAR(n->ref[i]);
}
static pm_type_t tnode_type = {.name = "tnode", .basicsize = sizeof(gcnode_t),
                               .traverse = gcn_traverse, .clear = tnode_clear,
                               .flags = PM_TYPE_ATOMIC};

static pthread_mutex_t gil = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int collections_by_thread[NMUT + NFREE];
static __thread int my_index = -1;
static _Atomic int started, stopped, in_collection;

static void on_gc(int phase, const pm_gc_info_t *info, void *data) {
  if (phase == PM_GC_PHASE_START) {
    atomic_fetch_add(&started, 1);
    atomic_fetch_add(&in_collection, 1);
    if (my_index >= 0) atomic_fetch_add(&collections_by_thread[my_index], 1);
  } else {
    atomic_fetch_sub(&in_collection, 1);
    atomic_fetch_add(&stopped, 1);
  }
}

static void *mutator(void *arg) {
  my_index = (int)(intptr_t)arg;
  uint64_t r = 0x9E3779B97F4A7C15ull * (uint64_t)(my_index + 1);
  for (int round = 0; round < ROUNDS; round++) {
    pthread_mutex_lock(&gil);
    /* a small random graph of atomic nodes, some cycles, then drop it */
    gcnode_t *n[8];
    for (int i = 0; i < 8; i++) {
      n[i] = pm_obj_new(&tnode_type);
    }
    for (int e = 0; e < 12; e++) {
      r ^= r << 13, r ^= r >> 7, r ^= r << 17;
      gcn_link(n[r % 8], (unsigned)(r >> 8) % GCNODE_MAX, n[(r >> 16) % 8]);
    }
    for (int i = 0; i < 8; i++) pm_decref(n[i]);
    pthread_mutex_unlock(&gil);
  }
  return NULL;
}

/* Creates leaf objects under the GIL (creation may collect) and drops them
 * outside it: deaths race with collections running in other threads. */
static void *dropper(void *arg) {
  my_index = (int)(intptr_t)arg;
  enum { BATCH = 64 };
  gcnode_t *mine[BATCH];
  for (int round = 0; round < ROUNDS; round++) {
    pthread_mutex_lock(&gil);
    for (int i = 0; i < BATCH; i++) {
      mine[i] = pm_obj_new(&tnode_type);
    }
    pthread_mutex_unlock(&gil);
    for (int i = 0; i < BATCH; i++) pm_decref(mine[i]);   /* no GIL: no references change */
  }
  return NULL;
}

TEST(threads_with_a_gil_collect_each_others_cycles) {
  pm_gc_collect(2);
  size_t live0 = pm_gc_live_objects();
  pm_gc_set_threshold(500, 5, 5);
  require_eq(pm_gc_callback_add(on_gc, NULL), 0);
  pthread_t t[NMUT + NFREE];
  for (int i = 0; i < NMUT; i++) pthread_create(&t[i], NULL, mutator, (void *)(intptr_t)i);
  for (int i = 0; i < NFREE; i++)
    pthread_create(&t[NMUT + i], NULL, dropper, (void *)(intptr_t)(NMUT + i));
  for (int i = 0; i < NMUT + NFREE; i++) pthread_join(t[i], NULL);
  pm_gc_callback_remove(on_gc, NULL);
  pm_gc_set_threshold(2000, 10, 10);
  int threads_that_collected = 0;
  for (int i = 0; i < NMUT + NFREE; i++) threads_that_collected += collections_by_thread[i] > 0;
  tap_note("%d collections started, %d threads ran some", atomic_load(&started), threads_that_collected);
  expect_gt(atomic_load(&started), 10);
  expect_eq(atomic_load(&started), atomic_load(&stopped));
  expect_ge(threads_that_collected, 2);
  pm_gc_collect(2);
  expect_eq(pm_gc_live_objects(), live0);   /* nothing leaked or freed twice */
}
