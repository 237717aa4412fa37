/* SPDX-License-Identifier: MIT */
/* tests/gc/test_finalize.c — PEP 442 finalization and weak references
 * (issue 4): finalizers run exactly once and before anything in their cycle
 * is cleared, resurrection keeps the object and everything it reaches,
 * weak references are cleared (and callbacks run) on death by refcount and
 * inside cycles, never letting a callback see a half-destroyed object.
 */
#include "../tap.h"
#include "gcnode.h"

static void fresh(void) {
  gcn_log_reset();
  pm_gc_set_debug(0);
  pm_gc_enable();
  pm_gc_collect(2);
}

/* ---- Finalizers ------------------------------------------------------------ */
TEST(finalizer_runs_once_on_refcount_death) {
  fresh();
  gcnode_t *n = gcn_new_fin();
  uint32_t id = n->id;
  pm_decref(n);
  expect_eq(gcn_finalized[id], 1);
  expect_eq(gcn_freed[id], 1);
  expect_lt(gcn_final_seq[id], gcn_clear_seq[id]);
}

static void *saved;
static void resurrect(gcnode_t *n) {
  if (saved == NULL) { pm_incref(n); saved = n; }
}

TEST(finalizer_resurrects_on_refcount_path_and_never_runs_again) {
  fresh();
  saved = NULL;
  gcn_on_finalize = resurrect;
  gcnode_t *n = gcn_new_fin();
  uint32_t id = n->id;
  pm_decref(n);
  expect_true(saved == n);
  expect_eq(gcn_freed[id], 0);
  expect_eq(gcn_cleared[id], 0);
  expect_eq(pm_obj_refcnt(n), 1);
  expect_true(pm_obj_is_finalized(n));
  gcn_on_finalize = NULL;
  saved = NULL;
  pm_decref(n);
  expect_eq(gcn_finalized[id], 1);
  expect_eq(gcn_freed[id], 1);
}

TEST(cycle_finalizers_all_run_before_any_clear) {
  fresh();
  enum { N = 50 };
  gcnode_t *n[N];
  for (int i = 0; i < N; i++) n[i] = gcn_new_fin();
  for (int i = 0; i < N; i++) gcn_link(n[i], 0, n[(i + 1) % N]), gcn_link(n[i], 1, n[(i * 7) % N]);
  uint32_t id0 = n[0]->id;
  for (int i = 0; i < N; i++) pm_decref(n[i]);
  expect_eq(pm_gc_collect(2), N);
  uint64_t last_final = 0, first_clear = UINT64_MAX;
  for (uint32_t i = id0; i < id0 + N; i++) {
    expect_eq(gcn_finalized[i], 1);
    expect_eq(gcn_freed[i], 1);
    if (gcn_final_seq[i] > last_final) last_final = gcn_final_seq[i];
    if (gcn_clear_seq[i] && gcn_clear_seq[i] < first_clear) first_clear = gcn_clear_seq[i];
  }
  expect_lt(last_final, first_clear);
}

TEST(resurrection_in_a_cycle_keeps_everything_it_reaches) {
  fresh();
  saved = NULL;
  gcnode_t *a = gcn_new_fin(), *b = gcn_new(), *c = gcn_new(), *z = gcn_new();
  uint32_t ia = a->id, ib = b->id, ic = c->id, iz = z->id;
  gcn_link(a, 0, b);
  gcn_link(b, 0, a);
  gcn_link(b, 1, c);            /* c: only reachable from the cycle */
  gcn_link(z, 0, z);            /* z: an unrelated garbage cycle */
  pm_decref(a), pm_decref(b), pm_decref(c), pm_decref(z);
  gcn_on_finalize = resurrect;
  expect_eq(pm_gc_collect(2), 1);   /* only z is garbage in the end */
  gcn_on_finalize = NULL;
  expect_true(saved == a);
  expect_eq(gcn_finalized[ia], 1);
  expect_eq(gcn_cleared[ia] + gcn_cleared[ib] + gcn_cleared[ic], 0);
  expect_eq(gcn_freed[iz], 1);
  expect_true(pm_obj_is_tracked(a) && pm_obj_is_tracked(c));
  /* drop it again: collected without a second finalization */
  saved = NULL;
  pm_decref(a);
  expect_eq(pm_gc_collect(2), 3);
  expect_eq(gcn_finalized[ia], 1);
  expect_eq(gcn_freed[ia] + gcn_freed[ib] + gcn_freed[ic], 3);
}

/* A finalizer that breaks its own cycle frees objects mid-phase. */
static void break_cycle(gcnode_t *n) { gcn_link(n, 0, NULL); }
TEST(finalizer_that_breaks_the_cycle) {
  fresh();
  gcn_on_finalize = break_cycle;
  gcnode_t *a = gcn_new_fin(), *b = gcn_new_fin(), *c = gcn_new_fin();
  uint32_t ia = a->id;
  gcn_link(a, 0, b), gcn_link(b, 0, c), gcn_link(c, 0, a);
  pm_decref(a), pm_decref(b), pm_decref(c);
  long found = pm_gc_collect(2);
  gcn_on_finalize = NULL;
  expect_le(found, 3);
  for (uint32_t i = ia; i < ia + 3; i++) {
    expect_eq(gcn_finalized[i], 1);
    expect_eq(gcn_freed[i], 1);
  }
}

/* ---- Weak references ---------------------------------------------------- */
static int ncallbacks;
static void *cb_seen_referent;
static uint8_t cb_seen_cleared;
static uint32_t watch_id;
static void on_dead(void *wr, void *cb_obj) {
  ncallbacks++;
  cb_seen_referent = pm_weakref_get(wr);
  cb_seen_cleared = gcn_cleared[watch_id];
}

TEST(weakref_get_and_clear_on_refcount_death) {
  fresh();
  ncallbacks = 0;
  gcnode_t *n = gcn_new();
  watch_id = n->id;
  void *wr = pm_weakref_new(n, on_dead, NULL);
  require_not_null(wr);
  expect_eq(pm_weakref_count(n), 1);
  void *got = pm_weakref_get(wr);
  expect_true(got == n);
  expect_eq(pm_obj_refcnt(n), 2);
  pm_decref(got);
  cb_seen_referent = (void *)1;
  pm_decref(n);
  expect_eq(ncallbacks, 1);
  expect_null(cb_seen_referent);
  expect_eq(cb_seen_cleared, 0);   /* the callback ran before clear() */
  expect_null(pm_weakref_get(wr));
  pm_decref(wr);
}

TEST(weakref_dies_first_without_callback) {
  fresh();
  ncallbacks = 0;
  gcnode_t *n = gcn_new();
  void *wr = pm_weakref_new(n, on_dead, NULL);
  pm_decref(wr);
  expect_eq(pm_weakref_count(n), 0);
  pm_decref(n);
  expect_eq(ncallbacks, 0);
}

TEST(weakref_to_cycle_is_cleared_before_the_cycle_is_touched) {
  fresh();
  ncallbacks = 0;
  gcnode_t *a = gcn_new(), *b = gcn_new();
  watch_id = b->id;
  uint32_t ia = a->id;
  gcn_link(a, 0, b), gcn_link(b, 0, a);
  void *wr = pm_weakref_new(a, on_dead, NULL);
  pm_decref(a), pm_decref(b);
  cb_seen_referent = (void *)1;
  expect_eq(pm_gc_collect(2), 2);
  expect_eq(ncallbacks, 1);
  expect_null(cb_seen_referent);
  expect_eq(cb_seen_cleared, 0);
  expect_eq(gcn_freed[ia], 1);
  expect_null(pm_weakref_get(wr));
  pm_decref(wr);
}

TEST(weakref_inside_the_garbage_gets_no_callback) {
  fresh();
  ncallbacks = 0;
  gcnode_t *a = gcn_new();
  uint32_t ia = a->id;
  void *wr = pm_weakref_new(a, on_dead, NULL);
  gcn_link(a, 0, a);
  a->ref[1] = wr;               /* a owns its own weakref: both are garbage */
  pm_decref(a);
  expect_eq(pm_gc_collect(2), 2);
  expect_eq(ncallbacks, 0);
  expect_eq(gcn_freed[ia], 1);
}

TEST(cycle_through_a_weakref_is_not_a_strong_cycle) {
  fresh();
  ncallbacks = 0;
  gcnode_t *a = gcn_new();
  uint32_t ia = a->id;
  watch_id = ia;
  a->ref[0] = pm_weakref_new(a, on_dead, NULL);   /* a -> wr ~~> a */
  pm_decref(a);
  expect_eq(gcn_freed[ia], 1);                    /* no collection needed */
  expect_eq(ncallbacks, 1);
  expect_eq(cb_seen_cleared, 0);
}

static gcnode_t *cb_obj_seen;
static void on_dead_obj(void *wr, void *cb_obj) {
  ncallbacks++;
  cb_obj_seen = cb_obj;
  cb_seen_cleared = gcn_cleared[((gcnode_t *)cb_obj)->id];
}

TEST(callback_object_is_held_strongly_and_intact) {
  fresh();
  ncallbacks = 0;
  gcnode_t *target = gcn_new(), *ctx = gcn_new();
  uint32_t ictx = ctx->id;
  gcn_link(target, 0, target);
  void *wr = pm_weakref_new(target, on_dead_obj, ctx);
  pm_decref(ctx);               /* only the weakref holds ctx now */
  expect_eq(gcn_freed[ictx], 0);
  pm_decref(target);
  expect_eq(pm_gc_collect(2), 1);
  expect_eq(ncallbacks, 1);
  expect_true(cb_obj_seen == ctx);
  expect_eq(cb_seen_cleared, 0);
  pm_decref(wr);
  expect_eq(gcn_freed[ictx], 1);
}

/* A finalizer creates a new weakref to its (still garbage) object: the
 * reference is cleared and its callback runs before any clear(). */
static void *late_wr;
static void make_weakref(gcnode_t *n) { late_wr = pm_weakref_new(n, on_dead, NULL); }
TEST(weakref_created_by_a_finalizer_is_cleared_before_clear) {
  fresh();
  ncallbacks = 0;
  gcn_on_finalize = make_weakref;
  gcnode_t *a = gcn_new_fin(), *b = gcn_new();
  watch_id = b->id;
  gcn_link(a, 0, b), gcn_link(b, 0, a);
  pm_decref(a), pm_decref(b);
  expect_eq(pm_gc_collect(2), 2);
  gcn_on_finalize = NULL;
  require_not_null(late_wr);
  expect_eq(ncallbacks, 1);
  expect_eq(cb_seen_cleared, 0);
  expect_null(pm_weakref_get(late_wr));
  pm_decref(late_wr);
}

TEST(weakref_to_untracked_and_immortal_objects) {
  fresh();
  ncallbacks = 0;
  gcnode_t *leaf = gcn_new_type(&gcleaf_type);
  void *wr = pm_weakref_new(leaf, on_dead, NULL);
  pm_decref(leaf);
  expect_eq(ncallbacks, 1);
  pm_decref(wr);
  gcnode_t *imm = gcn_new();
  pm_obj_make_immortal(imm);
  wr = pm_weakref_new(imm, on_dead, NULL);
  void *got = pm_weakref_get(wr);
  expect_true(got == imm);
  pm_decref(imm);
  pm_gc_collect(2);
  expect_true(pm_weakref_get(wr) == imm);
  pm_decref(wr);
  expect_eq(ncallbacks, 1);
}

TEST(many_weakrefs_to_many_objects) {
  fresh();
  ncallbacks = 0;
  enum { N = 3000 };
  static gcnode_t *objs[N];
  static void *wrs[N * 2];
  for (int i = 0; i < N; i++) {
    objs[i] = gcn_new();
    wrs[2 * i] = pm_weakref_new(objs[i], on_dead, NULL);
    wrs[2 * i + 1] = pm_weakref_new(objs[i], NULL, NULL);
  }
  for (int i = 0; i < N; i += 2) pm_decref(objs[i]);
  expect_eq(ncallbacks, N / 2);
  for (int i = 0; i < N; i++) {
    void *g = pm_weakref_get(wrs[2 * i]);
    expect_true(i % 2 ? g == objs[i] : g == NULL);
    if (g) pm_decref(g);
    if (i % 2) expect_eq(pm_weakref_count(objs[i]), 2);
  }
  for (int i = 1; i < N; i += 2) pm_decref(wrs[2 * i]);   /* drop half the weakrefs */
  for (int i = 1; i < N; i += 2) { expect_eq(pm_weakref_count(objs[i]), 1); pm_decref(objs[i]); }
  expect_eq(ncallbacks, N / 2);   /* the callback-carrying ones died first */
  for (int i = 0; i < N; i++) {
    if (i % 2 == 0) pm_decref(wrs[2 * i]);
    pm_decref(wrs[2 * i + 1]);
  }
}
