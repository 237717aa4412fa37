/* SPDX-License-Identifier: MIT */
/* tests/gc/test_tsan_layer.c — the GC layer's threaded paths with the layer
 * itself built under ThreadSanitizer (tests/gc/gc-tests.mk compiles the
 * allocator and lib/gc/ into this program with -fsanitize=thread; run by
 * tests/gc/tsan.sh, which fails on any report).
 *
 *   first_use_of_a_type_in_many_threads  pm_type_t.ready_ was written under
 *       the lock and read without it: an unsynchronised publish (fixed by a
 *       release store / acquire load; TSan reported it on c6a47e2's code)
 *   weakref_owner_against_foreign_death  issue 13, bug 3: the layer's
 *       reference to a weak reference around its callback, taken in the
 *       thread where an ATOMIC referent dies, against the owner's own
 *       incref/decref (on c6a47e2: a lost count, then a crash)
 *   finalizer_call_against_death         weakref.finalize's exactly-once
 *   atomic_churn_with_collections        deaths racing collections
 * No fork here: the allocator core re-initialises its mutexes in a forked
 * child by assignment, which TSan reports as a double lock.
 */
#include "../tap.h"
#include "gcnode.h"
#include <pthread.h>
#include <stdatomic.h>

#define NT 4
static void quiet_clear(void *self) {
  gcnode_t *n = self;
  for (int i = 0; i < GCNODE_MAX; i++) PM_CLEAR(n->ref[i]);
}

/* ---- first use of a type ----------------------------------------------------- */
static pm_type_t fresh_types[8];
static _Atomic int go;
static void *first_use(void *arg) {
  while (!atomic_load(&go)) {}
  for (int i = 0; i < 8; i++) {
    gcnode_t *n = pm_obj_new(&fresh_types[i]);
    if (n) pm_decref(n);
  }
  return NULL;
}
TEST(first_use_of_a_type_in_many_threads) {
  for (int i = 0; i < 8; i++)
    fresh_types[i] = (pm_type_t){.name = "fresh", .basicsize = sizeof(gcnode_t),
                                 .traverse = gcn_traverse, .clear = quiet_clear,
                                 .flags = PM_TYPE_ATOMIC};
  pthread_t t[NT];
  for (int i = 0; i < NT; i++) require_eq(pthread_create(&t[i], NULL, first_use, NULL), 0);
  atomic_store(&go, 1);
  for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 8; i++) expect_eq(pm_type_ready(&fresh_types[i]), 0);
}

/* ---- a weak reference owned here, its referent dying there ------------------- */
static pm_type_t atomic_type = {.name = "anode", .basicsize = sizeof(gcnode_t),
                                .traverse = gcn_traverse, .clear = quiet_clear,
                                .flags = PM_TYPE_ATOMIC};
static _Atomic(void *) to_kill;
static _Atomic int kill_done, killer_stop;
static void *killer(void *arg) {
  for (;;) {
    void *r;
    while ((r = atomic_exchange(&to_kill, NULL)) == NULL)
      if (atomic_load(&killer_stop)) return NULL;
    pm_decref(r);
    atomic_store(&kill_done, 1);
  }
}
static void on_death(void *wr, void *cb_obj) {}

TEST(weakref_owner_against_foreign_death) {
  atomic_store(&killer_stop, 0);
  pthread_t t;
  require_eq(pthread_create(&t, NULL, killer, NULL), 0);
  int bad = 0;
  for (int round = 0; round < 500; round++) {
    void *r = pm_obj_new(&atomic_type);
    void *wr = pm_weakref_new(r, on_death, NULL);
    atomic_store(&kill_done, 0);
    atomic_store(&to_kill, r);
    while (!atomic_load(&kill_done)) { pm_incref(wr); pm_decref(wr); }
    bad += pm_obj_refcnt(wr) != 1;
    pm_decref(wr);
  }
  atomic_store(&killer_stop, 1);
  pthread_join(t, NULL);
  expect_eq(bad, 0);
}

/* ---- weakref.finalize called while its referent dies -------------------------- */
static _Atomic int fin_runs;
static void count_fin(void *obj, void *data) { atomic_fetch_add(&fin_runs, 1); }
TEST(finalizer_call_against_death) {
  atomic_store(&killer_stop, 0);
  pthread_t t;
  require_eq(pthread_create(&t, NULL, killer, NULL), 0);
  int bad = 0;
  for (int round = 0; round < 500; round++) {
    void *r = pm_obj_new(&atomic_type);
    void *f = pm_finalize_new(r, count_fin, NULL, NULL);
    atomic_store(&fin_runs, 0);
    atomic_store(&kill_done, 0);
    atomic_store(&to_kill, r);
    pm_finalize_call(f);
    while (!atomic_load(&kill_done)) {}
    bad += atomic_load(&fin_runs) != 1;
    pm_decref(f);
  }
  atomic_store(&killer_stop, 1);
  pthread_join(t, NULL);
  expect_eq(bad, 0);
}

/* ---- deaths racing collections ------------------------------------------------ */
static pthread_mutex_t gil = PTHREAD_MUTEX_INITIALIZER;
static void *churn(void *arg) {
  for (int round = 0; round < 300; round++) {
    gcnode_t *n[16];
    pthread_mutex_lock(&gil);          /* graph changes and collections */
    for (int i = 0; i < 16; i++) n[i] = pm_obj_new(&atomic_type);
    for (int i = 0; i < 16; i++) gcn_link(n[i], 0, n[(i + 1) % 16]);
    if (round % 10 == 0) pm_gc_collect(0);
    pthread_mutex_unlock(&gil);
    for (int i = 0; i < 16; i++) pm_decref(n[i]);   /* outside: a garbage ring */
  }
  return NULL;
}
TEST(atomic_churn_with_collections) {
  size_t live0 = pm_gc_live_objects();
  pthread_t t[NT];
  for (int i = 0; i < NT; i++) require_eq(pthread_create(&t[i], NULL, churn, NULL), 0);
  for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
  pm_gc_collect(2);
  expect_eq(pm_gc_live_objects(), live0);
}
