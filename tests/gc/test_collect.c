/* SPDX-License-Identifier: MIT */
/* tests/gc/test_collect.c — the cycle collector (issue 4): self-cycles, long
 * cycles, generations and promotion, thresholds triggering, the bytes
 * trigger, freeze/unfreeze, SAVEALL and the garbage list, statistics,
 * callbacks, introspection, uncollectable objects and memory going back
 * to the OS after a big collection.
 */
#include "config.h"
#include "../tap.h"
#include "gcnode.h"
#include "gc/gc_internal.h"   /* the validators (unit style: libpm_internal) */
#include <poolmalloc.h>

/* Every test starts from an empty young generation and default settings. */
static void fresh(void) {
  gcn_log_reset();
  pm_gc_set_threshold(2000, 10, 10);
  pm_gc_set_bytes_threshold((size_t)64 << 20);
  pm_gc_set_debug(0);
  pm_gc_set_trim_threshold((size_t)1 << 20);
  pm_gc_enable();
  pm_gc_collect(2);
}

TEST(self_cycle_is_collected) {
  fresh();
  gcnode_t *n = gcn_new();
  uint32_t id = n->id;
  gcn_link(n, 0, n);
  pm_decref(n);
  expect_eq(gcn_freed[id], 0);
  expect_eq(pm_gc_collect(0), 1);
  expect_eq(gcn_freed[id], 1);
  expect_ge(gcn_cleared[id], 1);  /* the collector's clear, then death's (idempotent) */
}

TEST(reachable_cycle_survives) {
  fresh();
  gcnode_t *a = gcn_new(), *b = gcn_new();
  gcn_link(a, 0, b);
  gcn_link(b, 0, a);
  pm_decref(b);                 /* a is still held by us */
  expect_eq(pm_gc_collect(2), 0);
  expect_eq(gcn_freed[b->id], 0);
  gcn_link(a, 0, NULL);         /* b dies by refcount now */
  pm_decref(a);
}

TEST(long_cycle_is_collected) {
  fresh();
  enum { N = 100000 };
  gcnode_t *first = gcn_new(), *prev = first;
  uint32_t id0 = first->id;
  for (int i = 1; i < N; i++) {
    gcnode_t *n = gcn_new();
    prev->ref[0] = n;           /* steal */
    prev = n;
  }
  gcn_link(prev, 0, first);
  pm_decref(first);
  expect_eq(pm_gc_collect(2), N);
  size_t nfreed = 0;
  for (uint32_t i = 0; i < N; i++) nfreed += gcn_freed[id0 + i];
  expect_eq(nfreed, N);
}

TEST(cycle_hanging_off_a_live_object_survives_and_garbage_below_it_does_not) {
  fresh();
  gcnode_t *root = gcn_new(), *a = gcn_new(), *b = gcn_new(), *c = gcn_new();
  gcn_link(root, 0, a);
  gcn_link(a, 0, b);
  gcn_link(b, 0, a);
  gcn_link(c, 0, c);
  gcn_link(b, 1, c);            /* c is reachable through b */
  uint32_t ic = c->id;
  pm_decref(a), pm_decref(b), pm_decref(c);
  expect_eq(pm_gc_collect(2), 0);
  expect_eq(gcn_freed[ic], 0);
  gcn_link(root, 0, NULL);      /* now a, b, c are all garbage */
  expect_eq(pm_gc_collect(2), 3);
  expect_eq(gcn_freed[ic], 1);
  pm_decref(root);
}

TEST(survivors_are_promoted_through_the_generations) {
  fresh();
  gcnode_t *n = gcn_new();
  gcn_link(n, 0, n);            /* keep our reference too: n survives */
  void *objs[4];
  size_t k = pm_gc_get_objects(0, objs, 4);
  expect_true(k >= 1);
  expect_eq(pm_gc_gen_size(0), k);
  pm_gc_collect(0);
  expect_eq(pm_gc_gen_size(0), 0);
  expect_eq(pm_gc_get_objects(1, objs, 4), 1);
  expect_true(objs[0] == n);
  pm_gc_collect(1);
  expect_eq(pm_gc_gen_size(1), 0);
  expect_true(pm_gc_get_objects(2, objs, 4) >= 1);
  /* a gen-0 collection no longer looks at it */
  pm_decref(n);
  expect_eq(pm_gc_collect(0), 0);
  expect_eq(gcn_freed[n->id], 0);
  expect_eq(pm_gc_collect(1), 0);
  expect_eq(pm_gc_collect(2), 1);
}

TEST(counts_follow_cpython) {
  fresh();
  long c[3];
  pm_gc_get_count(c);
  expect_eq(c[0], 0);
  gcnode_t *n[5];
  for (int i = 0; i < 5; i++) n[i] = gcn_new();
  pm_gc_get_count(c);
  expect_eq(c[0], 5);
  pm_decref(n[4]);              /* deallocation decrements, as PyObject_GC_Del */
  pm_gc_get_count(c);
  expect_eq(c[0], 4);
  pm_gc_collect(0);
  pm_gc_get_count(c);
  expect_eq(c[0], 0);
  expect_eq(c[1], 1);
  pm_gc_collect(1);
  pm_gc_get_count(c);
  expect_eq(c[1], 0);
  expect_eq(c[2], 1);
  for (int i = 0; i < 4; i++) pm_decref(n[i]);
}

static int ncb_start, ncb_stop, last_gen;
static long last_collected;
static void on_gc(int phase, const pm_gc_info_t *info, void *data) {
  if (phase == PM_GC_PHASE_START) ncb_start++;
  else { ncb_stop++; last_collected = info->collected; }
  last_gen = info->generation;
  (*(int *)data)++;
}

TEST(threshold_triggers_automatic_collection_and_callbacks_run) {
  fresh();
  int calls = 0;
  ncb_start = ncb_stop = 0;
  require_eq(pm_gc_callback_add(on_gc, &calls), 0);
  pm_gc_set_threshold(100, 10, 10);
  long t[3];
  pm_gc_get_threshold(t);
  expect_eq(t[0], 100);
  for (int i = 0; i < 99; i++) {
    gcnode_t *n = gcn_new();
    gcn_link(n, 0, n);
    pm_decref(n);
  }
  expect_eq(ncb_start, 0);
  gcnode_t *n = gcn_new();      /* the 101st allocation crosses 100 */
  gcn_link(n, 0, n);
  pm_decref(n);
  gcnode_t *m = gcn_new();
  expect_eq(ncb_start, 1);
  expect_eq(ncb_stop, 1);
  expect_eq(last_gen, 0);
  expect_eq(last_collected, 100);
  expect_eq(calls, 2);
  pm_decref(m);
  /* disabled: no automatic collection */
  pm_gc_disable();
  expect_false(pm_gc_isenabled());
  for (int i = 0; i < 500; i++) pm_decref(gcn_new());
  for (int i = 0; i < 300; i++) { gcnode_t *x = gcn_new(); gcn_link(x, 0, x); pm_decref(x); }
  expect_eq(ncb_start, 1);
  pm_gc_enable();
  expect_eq(pm_gc_callback_remove(on_gc, &calls), 0);
  expect_eq(pm_gc_callback_remove(on_gc, &calls), -1);
  pm_gc_collect(2);
  expect_eq(ncb_start, 1);
  pm_gc_set_threshold(2000, 10, 10);
}

TEST(older_generations_follow_their_thresholds) {
  fresh();
  pm_gc_set_threshold(10, 2, 1000);
  pm_gc_stats_t before[3], after[3];
  pm_gc_get_stats(before);
  for (int i = 0; i < 10 * 8; i++) pm_decref(gcn_new());  /* untracked by refcount */
  for (int i = 0; i < 10 * 8; i++) { gcnode_t *x = gcn_new(); gcn_link(x, 0, x); pm_decref(x); }
  pm_gc_get_stats(after);
  size_t g0 = after[0].collections - before[0].collections;
  size_t g1 = after[1].collections - before[1].collections;
  expect_gt(g0, 0);
  expect_gt(g1, 0);
  expect_lt(g1, g0);            /* gen 1 runs after every 3rd gen-0 one */
  expect_eq(after[2].collections, before[2].collections);
  expect_ge(after[0].collected + after[1].collected - before[0].collected - before[1].collected, 70);
  pm_gc_set_threshold(2000, 10, 10);
  pm_gc_collect(2);
}

typedef struct blob_s { void *self; char data[]; } blob_t;
static int blob_traverse(void *s, pm_visit_fn visit, void *arg) { blob_t *b = s; PM_VISIT(b->self); return 0; }
static void blob_clear(void *s) { blob_t *b = s; PM_CLEAR(b->self); }
static pm_type_t blob_type = {.name = "blob", .basicsize = sizeof(blob_t), .itemsize = 1,
                              .traverse = blob_traverse, .clear = blob_clear};

TEST(bytes_trigger_bounds_memory_held_by_huge_cycles) {
  fresh();
  pm_gc_set_threshold(1000000, 10, 10);   /* counts alone would never fire */
  pm_gc_set_bytes_threshold((size_t)8 << 20);
  expect_eq(pm_gc_get_bytes_threshold(), (size_t)8 << 20);
  size_t live0 = pm_gc_live_objects();
  size_t max_live = 0;
  for (int i = 0; i < 200; i++) {          /* 200 MiB of 1 MiB self-cycles */
    blob_t *b = pm_obj_new_var(&blob_type, 1 << 20);
    require_not_null(b);
    b->self = b;
    pm_incref(b);
    pm_decref(b);
    size_t live = pm_gc_live_objects() - live0;
    if (live > max_live) max_live = live;
  }
  expect_le(max_live, 17);
  pm_gc_set_bytes_threshold(0);
  pm_gc_set_threshold(2000, 10, 10);
  pm_gc_collect(2);
  expect_eq(pm_gc_live_objects(), live0);
}

TEST(freeze_moves_everything_to_the_permanent_generation) {
  fresh();
  gcnode_t *a = gcn_new();
  gcn_link(a, 0, a);
  pm_decref(a);                 /* garbage, but frozen before collection */
  pm_gc_freeze();
  expect_ge(pm_gc_get_freeze_count(), 1);
  expect_eq(pm_gc_gen_size(0) + pm_gc_gen_size(1) + pm_gc_gen_size(2), 0);
  expect_eq(pm_gc_collect(2), 0);
  expect_eq(gcn_freed[a->id], 0);
  pm_gc_unfreeze();
  expect_eq(pm_gc_get_freeze_count(), 0);
  expect_ge(pm_gc_gen_size(2), 1);
  expect_eq(pm_gc_collect(2), 1);
}

TEST(saveall_keeps_garbage_on_the_garbage_list) {
  fresh();
  pm_gc_set_debug(PM_GC_DEBUG_SAVEALL);
  expect_eq(pm_gc_get_debug(), PM_GC_DEBUG_SAVEALL);
  gcnode_t *a = gcn_new(), *b = gcn_new();
  uint32_t ia = a->id;
  gcn_link(a, 0, b);
  gcn_link(b, 0, a);
  pm_decref(a), pm_decref(b);
  expect_eq(pm_gc_collect(2), 2);
  expect_eq(gcn_cleared[ia], 0);
  void *g[4];
  expect_eq(pm_gc_get_garbage(g, 4), 2);
  expect_true((g[0] == a && g[1] == b) || (g[0] == b && g[1] == a));
  expect_eq(pm_obj_refcnt(a), 2);
  pm_gc_set_debug(0);
  pm_gc_clear_garbage();
  expect_eq(pm_gc_get_garbage(g, 4), 0);
  expect_eq(gcn_freed[ia], 0);
  expect_eq(pm_gc_collect(2), 2);
  expect_eq(gcn_freed[ia], 1);
}

TEST(stats_count_collections_and_collected) {
  fresh();
  pm_gc_stats_t s0[3], s1[3];
  pm_gc_get_stats(s0);
  for (int i = 0; i < 7; i++) { gcnode_t *x = gcn_new(); gcn_link(x, 0, x); pm_decref(x); }
  expect_eq(pm_gc_collect(1), 7);
  pm_gc_get_stats(s1);
  expect_eq(s1[1].collections, s0[1].collections + 1);
  expect_eq(s1[1].collected, s0[1].collected + 7);
  expect_eq(s1[0].collections, s0[0].collections);
}

/* clear() that does not drop the reference: the object survives the
 * collection, unreachable.  That is CPython's "uncollectable" (issue 13,
 * item 5): counted, and moved to the garbage list, which holds a reference
 * to it, so later collections do not examine it again. */
static void stubborn_clear(void *self) { (void)self; }
static pm_type_t stubborn_type = {.name = "stubborn", .basicsize = sizeof(gcnode_t),
                                  .traverse = gcn_traverse, .clear = stubborn_clear};

TEST(objects_surviving_clear_are_uncollectable_and_go_to_garbage) {
  fresh();
  gcnode_t *s = pm_obj_new(&stubborn_type);
  gcn_link(s, 0, s);
  pm_decref(s);
  pm_gc_stats_t st0[3], st1[3];
  pm_gc_get_stats(st0);
  expect_eq(pm_gc_collect(2), 1);
  pm_gc_get_stats(st1);
  expect_eq(st1[2].uncollectable, st0[2].uncollectable + 1);
  void *g[4];
  expect_eq(pm_gc_get_garbage(g, 4), 1);
  expect_true(g[0] == s);
  expect_eq(pm_obj_refcnt(s), 2);       /* its own, and the list's */
  expect_eq(pm_gc_collect(2), 0);       /* not examined again */
  expect_eq(pm_gc_garbage_remove(s), 0);
  expect_eq(pm_gc_garbage_remove(s), -1);
  expect_eq(pm_gc_get_garbage(g, 4), 0);
  expect_true(pm_obj_is_tracked(s));
  expect_eq(pm_obj_refcnt(s), 1);
  s->ref[0] = NULL;             /* break it by hand */
  pm_decref(s);
}

/* A clear() that stores its object in a live one: alive after the
 * collection for a reason, so not uncollectable (CPython: "it may die
 * later"), and back in an older generation. */
static void *adopter_slot;
static void adopting_clear(void *self) {
  gcnode_t *n = self;
  if (adopter_slot == NULL) { pm_incref(n); adopter_slot = n; }
  for (int i = 0; i < GCNODE_MAX; i++) PM_CLEAR(n->ref[i]);
}
static pm_type_t adopting_type = {.name = "adopting", .basicsize = sizeof(gcnode_t),
                                  .traverse = gcn_traverse, .clear = adopting_clear};

TEST(objects_resurrected_by_clear_are_not_uncollectable) {
  fresh();
  adopter_slot = NULL;
  gcnode_t *s = pm_obj_new(&adopting_type);
  gcn_link(s, 0, s);
  pm_decref(s);
  pm_gc_stats_t st0[3], st1[3];
  pm_gc_get_stats(st0);
  size_t old0 = pm_gc_gen_size(2);
  expect_eq(pm_gc_collect(2), 1);
  pm_gc_get_stats(st1);
  expect_eq(st1[2].uncollectable, st0[2].uncollectable);
  expect_eq(pm_gc_get_garbage(NULL, 0), 0);
  expect_true(adopter_slot == s);
  expect_true(pm_obj_is_tracked(s));
  expect_eq(pm_gc_gen_size(2), old0 + 1);
  void *keep = adopter_slot;
  pm_decref(keep);              /* no references left: freed by refcount */
  expect_eq(pm_gc_gen_size(2), old0);
  adopter_slot = NULL;
}

TEST(referrers_and_referents) {
  fresh();
  gcnode_t *a = gcn_new(), *b = gcn_new(), *c = gcn_new();
  gcn_link(a, 0, c);
  gcn_link(b, 0, c);
  gcn_link(b, 1, a);
  void *out[8];
  size_t n = pm_gc_get_referrers(c, out, 8);
  expect_eq(n, 2);
  expect_true((out[0] == a && out[1] == b) || (out[0] == b && out[1] == a));
  expect_eq(pm_gc_get_referents(b, out, 8), 2);
  expect_true(out[0] == c && out[1] == a);
  expect_eq(pm_gc_get_referents(c, out, 8), 0);
  expect_eq(pm_gc_get_referrers(b, out, 8), 0);
  size_t all = pm_gc_get_objects(-1, NULL, 0);
  expect_ge(all, 3);
  pm_decref(b), pm_decref(a), pm_decref(c);
}

static long inner_result = 0;
static void collect_from_finalizer(gcnode_t *n) { inner_result = pm_gc_collect(2); }

TEST(collect_returns_minus_one_when_reentered) {
  fresh();
  gcn_on_finalize = collect_from_finalizer;
  gcnode_t *n = gcn_new_fin();
  uint32_t id = n->id;
  gcn_link(n, 0, n);
  pm_decref(n);
  expect_eq(pm_gc_collect(2), 1);
  expect_eq(inner_result, -1);
  expect_eq(gcn_freed[id], 1);
  gcn_on_finalize = NULL;
}

/* Issue 4, "memory goes back promptly": a collection that frees many
 * objects ends by returning the emptied pools, without waiting for decay. */
TEST(big_collection_returns_memory_to_the_os) {
  fresh();
  pm_gc_disable();
  enum { N = 200000 };          /* ~16 MiB of 80-byte blocks */
  gcnode_t *first = gcn_new(), *prev = first;
  for (int i = 1; i < N; i++) {
    gcnode_t *n = gcn_new();
    prev->ref[0] = n;
    prev = n;
  }
  gcn_link(prev, 0, first);
  pm_decref(first);
  pm_stats_t before, after;
  pm_stats_get(&before);
  expect_eq(pm_gc_collect(2), N);
  pm_stats_get(&after);
  pm_gc_enable();
  tap_note("arena_resident %zu -> %zu, pool_in_use %zu -> %zu", before.arena_resident,
           after.arena_resident, before.pool_in_use, after.pool_in_use);
  expect_ge(before.arena_resident, (size_t)N * 72);
  expect_le(after.arena_resident + (size_t)N * 72 / 2, before.arena_resident);
}

/* ---- validate_list (issue 12 §1) ----------------------------------------- */
/* The walker that PM_DEBUG >= 3 runs between phases: it must catch a broken
 * back link and a stray collector flag (called directly here, whatever the
 * build's debug level). */
TEST(validate_list_catches_broken_links_and_stray_flags) {
  fresh();
  gcnode_t *a = gcn_new(), *b = gcn_new(), *c = gcn_new();
  gc_lock(&pmi_gc.lock);
  pm_gchead_t *l = &pmi_gc.gen[0];
  expect_true(pmi_collect_list_is_valid(l, PM_GCF_COLLECTOR, 0));
  expect_true(pmi_collect_state_is_valid());
  pm_gchead_t *hb = PM_GCHEAD(b);
  gc_flag_set(hb, PM_GCF_UNREACHABLE);
  expect_false(pmi_collect_list_is_valid(l, PM_GCF_COLLECTOR, 0));
  expect_false(pmi_collect_state_is_valid());
  gc_flag_clear(hb, PM_GCF_UNREACHABLE);
  pm_gchead_t *saved = gc_prev(hb);
  gc_set_prev(hb, PM_GCHEAD(c));          /* a wrong back link */
  expect_false(pmi_collect_list_is_valid(l, PM_GCF_COLLECTOR, 0));
  gc_set_prev(hb, saved);
  expect_true(pmi_collect_list_is_valid(l, PM_GCF_COLLECTOR, 0));
  gc_unlock(&pmi_gc.lock);
  pm_decref(a), pm_decref(b), pm_decref(c);
}
