/* SPDX-License-Identifier: MIT */
/* gcnode.h — a test object type for the GC layer tests (tests/gc/).
 *
 * A node has an id and up to GCNODE_MAX strong references.  Every lifecycle
 * event is logged per id (finalize count, clear count, freed flag) so that
 * tests can check what died, in which order and how often, without touching
 * freed memory.  Include once per test program, after tap.h.
 */
#ifndef PM_TESTS_GCNODE_H
#define PM_TESTS_GCNODE_H

#include <poolmalloc/gc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GCNODE_MAX 4
#define GCNODE_LOG_IDS (1u << 21)

typedef struct gcnode_s {
  uint32_t id;
  uint32_t nrefs;
  void *ref[GCNODE_MAX];
} gcnode_t;

/* Per-id event log. */
static uint8_t *gcn_finalized;   /* times finalize ran   */
static uint8_t *gcn_cleared;     /* times clear ran      */
static uint8_t *gcn_freed;       /* dealloc hook ran     */
static uint64_t gcn_event_seq;   /* global event counter */
static uint64_t *gcn_clear_seq, *gcn_final_seq;
static void (*gcn_on_finalize)(gcnode_t *n);   /* test hook */
static void (*gcn_on_clear)(gcnode_t *n);      /* test hook */

static void gcn_log_reset(void) {
  size_t n = GCNODE_LOG_IDS;
  if (!gcn_finalized) {
    gcn_finalized = calloc(n, 1), gcn_cleared = calloc(n, 1), gcn_freed = calloc(n, 1);
    gcn_clear_seq = calloc(n, 8), gcn_final_seq = calloc(n, 8);
  } else {
    memset(gcn_finalized, 0, n), memset(gcn_cleared, 0, n), memset(gcn_freed, 0, n);
    memset(gcn_clear_seq, 0, n * 8), memset(gcn_final_seq, 0, n * 8);
  }
  gcn_event_seq = 0;
  gcn_on_finalize = NULL;
  gcn_on_clear = NULL;
}

__attribute__((constructor)) static void gcn_log_init(void) { gcn_log_reset(); }

static int gcn_traverse(void *self, pm_visit_fn visit, void *arg) {
  gcnode_t *n = self;
  for (uint32_t i = 0; i < GCNODE_MAX; i++) PM_VISIT(n->ref[i]);
  return 0;
}
/* The hooks run in whichever thread drops the last reference, and the
 * threaded tests share id 0: the log is written with relaxed atomics (a
 * plain ++ here is a data race ThreadSanitizer reports). */
static void gcn_clear(void *self) {
  gcnode_t *n = self;
  __atomic_fetch_add(&gcn_cleared[n->id], 1, __ATOMIC_RELAXED);
  __atomic_store_n(&gcn_clear_seq[n->id], __atomic_add_fetch(&gcn_event_seq, 1, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  if (gcn_on_clear) gcn_on_clear(n);
  for (uint32_t i = 0; i < GCNODE_MAX; i++) PM_CLEAR(n->ref[i]);
}
static void gcn_finalize(void *self) {
  gcnode_t *n = self;
  __atomic_fetch_add(&gcn_finalized[n->id], 1, __ATOMIC_RELAXED);
  __atomic_store_n(&gcn_final_seq[n->id], __atomic_add_fetch(&gcn_event_seq, 1, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  if (gcn_on_finalize) gcn_on_finalize(n);
}
static void gcn_dealloc(void *self) {
  gcnode_t *n = self;
  __atomic_fetch_add(&gcn_freed[n->id], 1, __ATOMIC_RELAXED);
}

static pm_type_t gcnode_type = {
    .name = "gcnode", .basicsize = sizeof(gcnode_t),
    .traverse = gcn_traverse, .clear = gcn_clear, .dealloc = gcn_dealloc,
};
__attribute__((unused)) static pm_type_t gcnode_fin_type = {
    .name = "gcnode_fin", .basicsize = sizeof(gcnode_t),
    .traverse = gcn_traverse, .clear = gcn_clear, .finalize = gcn_finalize,
    .dealloc = gcn_dealloc,
};
/* A leaf: no traverse, never tracked. */
__attribute__((unused)) static pm_type_t gcleaf_type = {
    .name = "gcleaf", .basicsize = sizeof(gcnode_t), .dealloc = gcn_dealloc,
};

static uint32_t gcn_next_id = 1;
static gcnode_t *gcn_new_type(pm_type_t *t) {
  gcnode_t *n = pm_obj_new(t);
  if (n) n->id = gcn_next_id++ % GCNODE_LOG_IDS;
  return n;
}
__attribute__((unused)) static gcnode_t *gcn_new(void) { return gcn_new_type(&gcnode_type); }
__attribute__((unused)) static gcnode_t *gcn_new_fin(void) { return gcn_new_type(&gcnode_fin_type); }

/* Stores a new strong reference to to in from's slot i (dropping the old). */
__attribute__((unused)) static void gcn_link(gcnode_t *from, unsigned i, void *to) {
  void *old = from->ref[i];
  if (to) pm_incref(to);
  from->ref[i] = to;
  if (old) pm_decref(old);
}

#endif /* PM_TESTS_GCNODE_H */
