/* SPDX-License-Identifier: MIT */
/* gc/weakref.c — weak references to GC objects, with callbacks (issue 4).
 *
 * Owns: pm_weakref_type, pm_weakref_new/get/count, and the table that maps
 * a referent to the list of weak references pointing at it.  The table
 * lives here rather than in the object header so that objects nobody
 * weakly references (nearly all) pay nothing: the header only carries the
 * PM_GCF_WEAKREFS flag.  Everything runs under the layer lock; memory
 * comes from pmi_calloc.  Never malloc, never stdio.
 *
 * A weak reference is an ordinary GC object (type pm_weakref_type) holding
 *   referent   borrowed; NULL once the referent died
 *   callback   optional, called as callback(wr, cb_obj)
 *   cb_obj     a strong reference (traversed), so whatever the callback
 *              can reach through it is alive when it runs
 *
 * Ordering (docs/gc.md, "Weak references"), the guarantee being that a
 * callback never sees a half-destroyed object:
 *   refcount death:  finalize -> detach every weakref (referent = NULL)
 *                    -> callbacks -> clear() -> free
 *   cycle garbage:   unreachable set found -> detach the weakrefs of every
 *                    unreachable object -> callbacks of the weakrefs that are
 *                    themselves reachable (weakrefs inside the garbage are
 *                    cleared silently, as in CPython's handle_weakrefs) ->
 *                    finalizers -> clear().
 *
 * Table invariant: an entry (referent, head) exists  <=>  head != NULL
 * <=>  PM_GCF_WEAKREFS is set on the referent.  Linear probing, deletion
 * by backward shift (no tombstones), load factor <= 1/2.
 */
#include "gc_internal.h"
#include <errno.h>

struct pmi_weakref_s {
  void *referent;                  /* NULL once cleared          */
  pm_weakref_cb callback;
  void *cb_obj;                    /* strong, may be NULL        */
  pmi_weakref_t *next, *prev;      /* weakrefs to the same object */
  pmi_weakref_t *cb_next;          /* deferred-callback list     */
};

/* ---- The referent table ------------------------------------------------- */
typedef struct wr_entry_s { void *key; pmi_weakref_t *head; } wr_entry_t;
static struct {
  wr_entry_t *slots;
  size_t cap, n;
} wr_table;

static size_t wr_hash(const void *k, size_t cap) {
  return (size_t)(((uint64_t)(uintptr_t)k * 0x9E3779B97F4A7C15ull) >> 29) & (cap - 1);
}

static wr_entry_t *wr_find(const void *k) {
  if (wr_table.cap == 0) return NULL;
  for (size_t i = wr_hash(k, wr_table.cap);; i = (i + 1) & (wr_table.cap - 1)) {
    if (wr_table.slots[i].key == k) return &wr_table.slots[i];
    if (wr_table.slots[i].key == NULL) return NULL;
  }
}

static bool wr_grow(void) {
  size_t ncap = wr_table.cap ? wr_table.cap * 2 : 64;
  wr_entry_t *ns = pmi_calloc(ncap, sizeof *ns);
  if (ns == NULL) return false;
  for (size_t i = 0; i < wr_table.cap; i++) {
    wr_entry_t e = wr_table.slots[i];
    if (e.key == NULL) continue;
    size_t j = wr_hash(e.key, ncap);
    while (ns[j].key != NULL) j = (j + 1) & (ncap - 1);
    ns[j] = e;
  }
  pmi_free(wr_table.slots);
  wr_table.slots = ns;
  wr_table.cap = ncap;
  return true;
}

static wr_entry_t *wr_insert(void *k) {
  if ((wr_table.n + 1) * 2 > wr_table.cap && !wr_grow()) return NULL;
  size_t i = wr_hash(k, wr_table.cap);
  while (wr_table.slots[i].key != NULL) i = (i + 1) & (wr_table.cap - 1);
  wr_table.slots[i].key = k;
  wr_table.slots[i].head = NULL;
  wr_table.n++;
  return &wr_table.slots[i];
}

/* Knuth's algorithm R: shift later members of the cluster back. */
static void wr_delete(wr_entry_t *e) {
  size_t mask = wr_table.cap - 1, i = (size_t)(e - wr_table.slots), j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (wr_table.slots[j].key == NULL) break;
    size_t k = wr_hash(wr_table.slots[j].key, wr_table.cap);
    /* move j to i unless k lies cyclically in (i, j] */
    if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
      wr_table.slots[i] = wr_table.slots[j];
      i = j;
    }
  }
  wr_table.slots[i].key = NULL;
  wr_table.slots[i].head = NULL;
  wr_table.n--;
}

/* Unlinks wr from its referent's list (lock held). */
static void wr_detach_locked(pmi_weakref_t *wr) {
  void *r = wr->referent;
  if (r == NULL) return;
  wr->referent = NULL;
  wr_entry_t *e = wr_find(r);
  if (e == NULL) return;
  if (wr->prev) wr->prev->next = wr->next;
  else e->head = wr->next;
  if (wr->next) wr->next->prev = wr->prev;
  wr->next = wr->prev = NULL;
  if (e->head == NULL) {
    wr_delete(e);
    gc_flag_clear(gc_head(r), PM_GCF_WEAKREFS);
  }
}

/* ---- The weakref type ---------------------------------------------------- */
static int weakref_traverse(void *self, pm_visit_fn visit, void *arg) {
  pmi_weakref_t *wr = self;
  PM_VISIT(wr->cb_obj);
  return 0;
}

static void weakref_clear(void *self) {
  pmi_weakref_t *wr = self;
  gc_lock(&pmi_gc.lock);
  wr_detach_locked(wr);
  wr->callback = NULL;
  gc_unlock(&pmi_gc.lock);
  PM_CLEAR(wr->cb_obj);
}

PM_EXPORT pm_type_t pm_weakref_type = {
    .name = "weakref",
    .basicsize = sizeof(pmi_weakref_t),
    .traverse = weakref_traverse,
    .clear = weakref_clear,
};

/* ---- Public API --------------------------------------------------------- */
PM_EXPORT void *pm_weakref_new(void *referent, pm_weakref_cb callback, void *cb_obj) {
  if (referent == NULL) { errno = EINVAL; return NULL; }
  pmi_weakref_t *wr = pm_obj_new(&pm_weakref_type);
  if (wr == NULL) return NULL;
  gc_lock(&pmi_gc.lock);
  wr_entry_t *e = NULL;
  if (gc_refcnt(gc_head(referent)) != 0) {   /* a dying object gets no new weakrefs */
    e = wr_find(referent);
    if (e == NULL) e = wr_insert(referent);
  }
  if (e == NULL) {
    gc_unlock(&pmi_gc.lock);
    pm_decref(wr);
    errno = gc_refcnt(gc_head(referent)) ? ENOMEM : EINVAL;
    return NULL;
  }
  wr->referent = referent;
  wr->callback = callback;
  wr->cb_obj = cb_obj;
  if (cb_obj) pm_incref(cb_obj);
  wr->prev = NULL;
  wr->next = e->head;
  if (e->head) e->head->prev = wr;
  e->head = wr;
  gc_flag_set(gc_head(referent), PM_GCF_WEAKREFS);
  gc_unlock(&pmi_gc.lock);
  return wr;
}

PM_EXPORT void *pm_weakref_get(void *wrp) {
  pmi_weakref_t *wr = wrp;
  gc_lock(&pmi_gc.lock);
  void *r = wr->referent;
  if (r) {
    pm_gchead_t *h = gc_head(r);
    uint32_t c = gc_refcnt(h);
    if (c == 0) r = NULL;                       /* dying: too late */
    else if (c < PM_REFCNT_IMMORTAL) {
      if (h->type_bits & PM_OBJF_ATOMIC) {
        while (c != 0 && !__atomic_compare_exchange_n(&h->refcnt, &c, c + 1, true,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
        if (c == 0) r = NULL;
      } else {
        __atomic_store_n(&h->refcnt, c + 1, __ATOMIC_RELAXED);
      }
    }
  }
  gc_unlock(&pmi_gc.lock);
  return r;
}

PM_EXPORT size_t pm_weakref_count(const void *o) {
  size_t n = 0;
  gc_lock(&pmi_gc.lock);
  wr_entry_t *e = wr_find(o);
  for (pmi_weakref_t *wr = e ? e->head : NULL; wr; wr = wr->next) n++;
  gc_unlock(&pmi_gc.lock);
  return n;
}

/* ---- Clearing (called by object.c and collect.c) ------------------------ */
PM_INTERNAL void pmi_weakref_clear_locked(void *o, pmi_weakref_t **defer) {
  wr_entry_t *e = wr_find(o);
  gc_flag_clear(gc_head(o), PM_GCF_WEAKREFS);
  if (e == NULL) return;
  pmi_weakref_t *wr = e->head;
  wr_delete(e);
  while (wr) {
    pmi_weakref_t *next = wr->next;
    pm_gchead_t *wh = gc_head(wr);
    wr->referent = NULL;
    wr->next = wr->prev = NULL;
    if (wr->callback && gc_refcnt(wh) != 0 && !(gc_flags(wh) & PM_GCF_UNREACHABLE)) {
      pm_incref(wr);
      wr->cb_next = *defer;
      *defer = wr;
    }
    wr = next;
  }
}

PM_INTERNAL void pmi_weakref_run_callbacks(pmi_weakref_t *list) {
  while (list) {
    pmi_weakref_t *wr = list;
    list = wr->cb_next;
    wr->cb_next = NULL;
    pm_weakref_cb cb = wr->callback;
    if (cb) cb(wr, wr->cb_obj);
    pm_decref(wr);
  }
}
