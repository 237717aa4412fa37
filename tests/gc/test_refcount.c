/* SPDX-License-Identifier: MIT */
/* tests/gc/test_refcount.c — reference counting of the GC layer (issue 4):
 * prompt freeing, the deep-dealloc trampoline (a million-long chain),
 * untracked leaf types, variable-size objects, immortal objects (PEP 683)
 * and the atomic mode under threads.
 */
#include "../tap.h"
#include "gcnode.h"
#include <stdatomic.h>
#include <pthread.h>

TEST(new_object_is_zeroed_counted_and_tracked) {
  gcn_log_reset();
  gcnode_t *n = gcn_new();
  require_not_null(n);
  expect_eq(pm_obj_refcnt(n), 1);
  expect_true(pm_obj_is_tracked(n));
  expect_true(pm_obj_type(n) == &gcnode_type);
  expect_null(n->ref[0]);
  expect_ge(pm_obj_size(n), sizeof(gcnode_t));
  expect_eq((uintptr_t)n % 16, 0);
  size_t live = pm_gc_live_objects();
  uint32_t id = n->id;
  pm_decref(n);
  expect_eq(gcn_freed[id], 1);
  expect_eq(gcn_cleared[id], 1);
  expect_eq(pm_gc_live_objects(), live - 1);
}

TEST(incref_decref_counts_and_frees_at_zero) {
  gcn_log_reset();
  gcnode_t *n = gcn_new();
  uint32_t id = n->id;
  for (int i = 0; i < 100; i++) pm_incref(n);
  expect_eq(pm_obj_refcnt(n), 101);
  for (int i = 0; i < 100; i++) pm_decref(n);
  expect_eq(pm_obj_refcnt(n), 1);
  expect_eq(gcn_freed[id], 0);
  pm_decref(n);
  expect_eq(gcn_freed[id], 1);
}

TEST(children_freed_with_parent) {
  gcn_log_reset();
  gcnode_t *a = gcn_new(), *b = gcn_new(), *c = gcn_new();
  uint32_t ia = a->id, ib = b->id, ic = c->id;
  gcn_link(a, 0, b);
  gcn_link(a, 1, c);
  gcn_link(b, 0, c);
  pm_decref(b);
  pm_decref(c);
  expect_eq(gcn_freed[ib], 0);
  expect_eq(pm_obj_refcnt(c), 2);
  pm_decref(a);
  expect_eq(gcn_freed[ia], 1);
  expect_eq(gcn_freed[ib], 1);
  expect_eq(gcn_freed[ic], 1);
}

TEST(leaf_type_is_untracked) {
  gcn_log_reset();
  gcnode_t *l = gcn_new_type(&gcleaf_type);
  require_not_null(l);
  expect_false(pm_obj_is_tracked(l));
  uint32_t id = l->id;
  pm_decref(l);
  expect_eq(gcn_freed[id], 1);
}

TEST(type_without_clear_is_rejected) {
  static pm_type_t bad = {.name = "bad", .basicsize = 8, .traverse = gcn_traverse};
  expect_eq(pm_type_ready(&bad), -1);
  expect_null(pm_obj_new(&bad));
}

typedef struct vec_s { size_t n; double item[]; } vec_t;
static pm_type_t vec_type = {.name = "vec", .basicsize = sizeof(vec_t), .itemsize = sizeof(double)};

TEST(variable_size_objects) {
  vec_t *v = pm_obj_new_var(&vec_type, 1000);
  require_not_null(v);
  expect_ge(pm_obj_size(v), sizeof(vec_t) + 1000 * sizeof(double));
  for (size_t i = 0; i < 1000; i++) expect_true(v->item[i] == 0.0);
  v->item[999] = 1.5;
  pm_decref(v);
  expect_null(pm_obj_new_var(&vec_type, SIZE_MAX / 4));   /* overflow -> ENOMEM */
}

/* Issue 4: "a million-long linked list freed without stack overflow".  The
 * test runs on a thread with a 64 KiB stack: recursion of even a few
 * hundred frames per thousand nodes would overflow it. */
static void *free_chain(void *arg) {
  size_t len = (size_t)arg;
  gcnode_t *head = gcn_new(), *tail = head;
  for (size_t i = 1; i < len; i++) {
    gcnode_t *n = gcn_new();
    tail->ref[0] = n;              /* steals the new reference */
    tail = n;
  }
  pm_decref(head);
  return NULL;
}

TEST(million_long_chain_frees_iteratively) {
  gcn_log_reset();
  gcn_next_id = 1;
  size_t live = pm_gc_live_objects();
  pm_gc_disable();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t t;
  require_eq(pthread_create(&t, &attr, free_chain, (void *)(size_t)1000000), 0);
  pthread_join(t, NULL);
  pm_gc_enable();
  expect_eq(pm_gc_live_objects(), live);
  size_t nfreed = 0;
  for (uint32_t i = 1; i <= 1000000; i++) nfreed += gcn_freed[i];
  expect_eq(nfreed, 1000000);
}

TEST(immortal_objects_ignore_counts_and_collections) {
  gcn_log_reset();
  gcnode_t *n = gcn_new(), *child = gcn_new();
  uint32_t id = n->id, cid = child->id;
  gcn_link(n, 0, child);
  pm_decref(child);
  gcn_link(n, 1, n);               /* even a self-cycle */
  pm_obj_make_immortal(n);
  expect_true(pm_obj_is_immortal(n));
  uint32_t rc = pm_obj_refcnt(n);
  for (int i = 0; i < 10; i++) pm_decref(n);
  for (int i = 0; i < 3; i++) pm_incref(n);
  expect_eq(pm_obj_refcnt(n), rc);
  pm_gc_collect(2);
  expect_eq(gcn_freed[id], 0);
  expect_eq(gcn_freed[cid], 0);    /* immortal referrers are roots */
  expect_eq(gcn_cleared[id], 0);
  void *objs[8];
  size_t nref = pm_gc_get_referrers(child, objs, 8);
  expect_eq(nref, 1);
  expect_true(nref == 1 && objs[0] == n);
}

/* ---- Atomic mode ---------------------------------------------------------- */
#define NTHREADS 4
#define NOPS 200000
static void *hammer(void *arg) {
  void *o = arg;
  for (int i = 0; i < NOPS; i++) {
    pm_incref(o);
    pm_decref(o);
    pm_incref(o);
  }
  for (int i = 0; i < NOPS; i++) pm_decref(o);
  return NULL;
}

TEST(atomic_objects_count_exactly_across_threads) {
  gcn_log_reset();
  gcnode_t *n = pm_obj_new_flags(&gcnode_type, 0, PM_OBJ_ATOMIC);
  require_not_null(n);
  n->id = 7;
  pthread_t t[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) pthread_create(&t[i], NULL, hammer, n);
  for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
  expect_eq(pm_obj_refcnt(n), 1);
  expect_eq(gcn_freed[7], 0);
  pm_decref(n);
  expect_eq(gcn_freed[7], 1);
}

/* gcnode's logging hooks are not thread-safe (ThreadSanitizer says so):
 * the threads below use a quiet atomic node type. */
static void quiet_clear(void *self) {
  gcnode_t *n = self;
  for (int i = 0; i < GCNODE_MAX; i++) PM_CLEAR(n->ref[i]);
}
static pm_type_t quiet_type = {.name = "quiet", .basicsize = sizeof(gcnode_t),
                               .traverse = gcn_traverse, .clear = quiet_clear,
                               .flags = PM_TYPE_ATOMIC};

/* Threads allocating and freeing through the layer at once (the layer
 * lock).  Automatic collection is off: a collection must not run while other
 * threads change references (docs/gc.md, "Threads"). */
static void *churn(void *arg) {
  for (int i = 0; i < 20000; i++) {
    gcnode_t *a = pm_obj_new(&quiet_type);
    gcnode_t *b = pm_obj_new(&quiet_type);
    a->id = b->id = 0;
    gcn_link(a, 0, b);
    pm_decref(b);
    pm_decref(a);
  }
  return NULL;
}

TEST(layer_is_thread_safe_for_alloc_and_free) {
  gcn_log_reset();
  size_t live = pm_gc_live_objects();
  pm_gc_disable();
  pthread_t t[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) pthread_create(&t[i], NULL, churn, NULL);
  for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
  pm_gc_enable();
  expect_eq(pm_gc_live_objects(), live);
}

TEST(atomic_default_applies_to_new_objects) {
  pm_gc_set_atomic_default(1);
  gcnode_t *n = gcn_new();
  pm_gc_set_atomic_default(0);
  gcnode_t *m = gcn_new();
  expect_true(PM_GCHEAD(n)->type_bits & PM_OBJF_ATOMIC);
  expect_false(PM_GCHEAD(m)->type_bits & PM_OBJF_ATOMIC);
  pm_decref(n);
  pm_decref(m);
}

/* ---- fork --------------------------------------------------------------- */
/* A thread keeps taking the layer lock while the main thread forks; each
 * child must be able to allocate, collect and free (the atfork handlers of
 * control.c).  A deadlocked child is killed by alarm() and fails the test. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static _Atomic int stop_churn;
static void *churn_until_stopped(void *arg) {
  while (!atomic_load(&stop_churn)) {
    gcnode_t *a = pm_obj_new(&quiet_type);
    pm_decref(a);
  }
  return NULL;
}

TEST(fork_while_another_thread_uses_the_layer) {
  pm_gc_disable();
  pthread_t t;
  atomic_store(&stop_churn, 0);
  require_eq(pthread_create(&t, NULL, churn_until_stopped, NULL), 0);
  int ok = 0;
  for (int i = 0; i < 40; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(10);
      gcnode_t *n = gcn_new();
      gcn_link(n, 0, n);
      pm_decref(n);
      _exit(pm_gc_collect(2) >= 1 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  atomic_store(&stop_churn, 1);
  pthread_join(t, NULL);
  pm_gc_enable();
  expect_eq(ok, 40);
}
