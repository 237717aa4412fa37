/* SPDX-License-Identifier: MIT */
/* tests/gc/test_wrthreads.c — weak references whose referent dies in
 * another thread (issue 13, bug 3; gc.h, "Thread model").
 *
 * The rule: a weak reference is ATOMIC whenever its referent is, because
 * the referent's death (in whichever thread drops it) makes the layer take
 * and drop a reference to the weak reference around its callback.  On
 * c6a47e2 the weak reference stayed non-atomic, so an owner thread using
 * only its own weak reference lost counts against those updates: a
 * premature free or a leak, and a use after free under ThreadSanitizer.
 * Run this program under TSan too (docs/testing.md, "ThreadSanitizer").
 */
#include "../tap.h"
#include "gcnode.h"
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>

static void quiet_clear(void *self) {
  gcnode_t *n = self;
  for (int i = 0; i < GCNODE_MAX; i++) PM_CLEAR(n->ref[i]);
}
static pm_type_t atomic_type = {.name = "anode", .basicsize = sizeof(gcnode_t),
                                .traverse = gcn_traverse, .clear = quiet_clear,
                                .flags = PM_TYPE_ATOMIC};
static pm_type_t plain_type = {.name = "pnode", .basicsize = sizeof(gcnode_t),
                               .traverse = gcn_traverse, .clear = quiet_clear};

TEST(weakref_to_an_atomic_referent_is_atomic) {
  void *a = pm_obj_new(&atomic_type), *p = pm_obj_new(&plain_type);
  void *wa = pm_weakref_new(a, NULL, NULL), *wp = pm_weakref_new(p, NULL, NULL);
  require_not_null(wa);
  require_not_null(wp);
  expect_true(PM_GCHEAD(wa)->type_bits & PM_OBJF_ATOMIC);
  expect_false(PM_GCHEAD(wp)->type_bits & PM_OBJF_ATOMIC);
  pm_decref(wa), pm_decref(wp), pm_decref(a), pm_decref(p);
}

/* The callback object's count is dropped wherever the weak reference dies,
 * so with an atomic referent it must be atomic (or immortal) too. */
TEST(callback_object_of_an_atomic_referent_must_be_atomic) {
  void *a = pm_obj_new(&atomic_type), *p = pm_obj_new(&plain_type);
  void *ca = pm_obj_new(&atomic_type);
  errno = 0;
  expect_null(pm_weakref_new(a, NULL, p));
  expect_eq(errno, EINVAL);
  void *ok = pm_weakref_new(a, NULL, ca);
  expect_not_null(ok);
  pm_obj_make_immortal(p);
  void *ok2 = pm_weakref_new(a, NULL, p);
  expect_not_null(ok2);
  pm_xdecref(ok), pm_xdecref(ok2);
  pm_decref(ca), pm_decref(a);
}

/* ---- The race itself ------------------------------------------------------ */
/* The main thread owns wr and only increfs/decrefs it; the killer thread
 * drops the referent's last reference, so the referent dies there and the
 * layer takes and drops its own reference to wr around the callback. */
#define ROUNDS 3000
static _Atomic(void *) to_kill;
static _Atomic int callback_done, kill_done, killer_stop;
static void on_death(void *wr, void *cb_obj) { atomic_store(&callback_done, 1); }

static void *killer(void *arg) {
  for (;;) {
    void *r;
    while ((r = atomic_exchange(&to_kill, NULL)) == NULL)
      if (atomic_load(&killer_stop)) return NULL;
    pm_decref(r);                            /* returns after the callbacks */
    atomic_store(&kill_done, 1);
  }
}

TEST(owner_thread_keeps_exact_count_of_its_weakref) {
  size_t live0 = pm_gc_live_objects();
  atomic_store(&killer_stop, 0);
  pthread_t t;
  require_eq(pthread_create(&t, NULL, killer, NULL), 0);
  int bad = 0;
  for (int round = 0; round < ROUNDS; round++) {
    void *r = pm_obj_new(&atomic_type);
    void *wr = pm_weakref_new(r, on_death, NULL);
    atomic_store(&callback_done, 0);
    atomic_store(&kill_done, 0);
    atomic_store(&to_kill, r);               /* our reference goes to the killer */
    while (!atomic_load(&kill_done)) {
      pm_incref(wr);
      pm_decref(wr);
    }
    if (!atomic_load(&callback_done) || pm_obj_refcnt(wr) != 1) { bad++; continue; }   /* leave it */
    pm_decref(wr);
  }
  atomic_store(&killer_stop, 1);
  pthread_join(t, NULL);
  expect_eq(bad, 0);
  expect_eq(pm_gc_live_objects(), live0);
}

/* pm_weakref_get from the owner while the referent dies elsewhere: either
 * the referent (a new reference, usable) or NULL, never a dying object. */
TEST(weakref_get_races_with_death_in_another_thread) {
  size_t live0 = pm_gc_live_objects();
  atomic_store(&killer_stop, 0);
  pthread_t t;
  require_eq(pthread_create(&t, NULL, killer, NULL), 0);
  int got = 0, missed = 0;
  for (int round = 0; round < ROUNDS; round++) {
    gcnode_t *r = pm_obj_new(&atomic_type);
    r->id = 77;
    void *wr = pm_weakref_new(r, NULL, NULL);
    atomic_store(&kill_done, 0);
    atomic_store(&to_kill, r);
    for (;;) {
      gcnode_t *g = pm_weakref_get(wr);
      if (g == NULL) { missed++; break; }
      if (g->id != 77) { got = -1000000; }
      got++;
      pm_decref(g);
    }
    while (!atomic_load(&kill_done)) {}
    atomic_store(&kill_done, 0);
    pm_decref(wr);
  }
  atomic_store(&killer_stop, 1);
  pthread_join(t, NULL);
  tap_note("%d successful gets, %d rounds ended by the death", got, missed);
  expect_ge(got, 0);
  expect_eq(missed, ROUNDS);
  expect_eq(pm_gc_live_objects(), live0);
}

/* weakref.finalize of an atomic referent: the referent dies in the killer
 * thread while this thread calls the finalizer; it runs exactly once. */
static _Atomic int fin_runs;
static void count_fin(void *obj, void *data) { atomic_fetch_add(&fin_runs, 1); }

TEST(finalizer_runs_exactly_once_when_death_races_a_call) {
  size_t live0 = pm_gc_live_objects();
  atomic_store(&killer_stop, 0);
  pthread_t t;
  require_eq(pthread_create(&t, NULL, killer, NULL), 0);
  int bad = 0;
  for (int round = 0; round < ROUNDS; round++) {
    void *r = pm_obj_new(&atomic_type);
    void *f = pm_finalize_new(r, count_fin, NULL, NULL);
    atomic_store(&fin_runs, 0);
    atomic_store(&kill_done, 0);
    atomic_store(&to_kill, r);
    int called = pm_finalize_call(f);
    while (!atomic_load(&kill_done)) {}
    bad += atomic_load(&fin_runs) != 1 || called < 0;
    pm_decref(f);
  }
  atomic_store(&killer_stop, 1);
  pthread_join(t, NULL);
  expect_eq(bad, 0);
  expect_eq(pm_gc_live_objects(), live0);
}
