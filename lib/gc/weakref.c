/* SPDX-License-Identifier: MIT */
/* gc/weakref.c — weak references to GC objects, with callbacks (issues 4
 * and 13).
 *
 * Owns: pm_weakref_type, pm_weakref_new/get/count/getweakrefs, the table
 * that maps a referent to the list of weak references pointing at it, and
 * the owned weak references that weak containers and finalizers use.  The
 * table lives here rather than in the object header so that objects nobody
 * weakly references (nearly all) pay nothing: the header only carries the
 * PM_GCF_WEAKREFS flag.  Everything runs under the layer lock; memory
 * comes from pmi_calloc.  Never malloc, never stdio.
 *
 * A weak reference is an ordinary GC object (type pm_weakref_type) holding
 *   referent   borrowed; NULL once the referent died
 *   callback   optional, called as callback(wr, cb_obj)
 *   cb_obj     a strong reference (traversed), so whatever the callback
 *              can reach through it is alive when it runs
 *   owner      for owned weak references only: the weak container or
 *              finalizer it serves (borrowed; NULL once that one is gone)
 *
 * A referent's list (as CPython's): the shared callback-less weak reference
 * first, if there is one (pm_weakref_new(o, NULL, NULL) returns it again
 * with a new reference, as CPython reuses the basic ref), then the others,
 * newest first.  Callbacks run in list order: newest first (issue 13,
 * item 8).
 *
 * Ordering (docs/gc.md, "Weak references"), the guarantee being that a
 * callback never sees a half-destroyed object:
 *   refcount death:  finalize -> detach every weakref (referent = NULL)
 *                    -> callbacks -> clear() -> free (dealloc.c)
 *   cycle garbage:   unreachable set found -> detach the weakrefs of every
 *                    unreachable object -> callbacks of the weakrefs that are
 *                    themselves reachable (weakrefs inside the garbage are
 *                    cleared silently, as in CPython's handle_weakrefs) ->
 *                    finalizers -> clear().
 *
 * Threads (gc.h, "Thread model"): the callbacks run in the thread where the
 * referent dies, and the layer holds a reference to the weak reference
 * around them.  So a weak reference is ATOMIC whenever its referent is, and
 * a callback object given with an atomic referent must be atomic or
 * immortal (its count is dropped wherever the weak reference dies).
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
  pmi_weakref_t *cb_next;          /* queued-callback list       */
  void *owner;                     /* owned weakrefs: borrowed   */
  size_t slot;                     /* owned weakrefs: the owner's index */
};

/* ---- The referent table (weakref.c's state; under the layer lock) ------ */
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

/* Is wr the shareable kind (no callback, no callback object, no owner)? */
static bool wr_is_basic(const pmi_weakref_t *wr) {
  return wr->callback == NULL && wr->cb_obj == NULL && wr->owner == NULL;
}

/* Unlinks wr from its referent's list (lock held). */
static void wr_detach_locked(pmi_weakref_t *wr) {
  pm_assert_internal(gc_lock_held(&pmi_gc.lock));
  void *r = wr->referent;
  if (r == NULL) return;
  pm_assert_internal(gc_flags(gc_head(r)) & PM_GCF_WEAKREFS);
  wr->referent = NULL;
  wr_entry_t *e = wr_find(r);
  pm_assert(e != NULL);
  if (e == NULL) return;
  if (wr->prev) wr->prev->next = wr->next;
  else e->head = wr->next;
  if (wr->next) wr->next->prev = wr->prev;
  wr->next = wr->prev = NULL;
  if (e->head == NULL) {
    wr_delete(e);
    gc_flag_clear(gc_head(r), PM_GCF_WEAKREFS);
  }
  pm_assert_expensive(wr_find(r) == NULL || wr_find(r)->head != NULL);
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
  wr->owner = NULL;
  gc_unlock(&pmi_gc.lock);
  PM_CLEAR(wr->cb_obj);
}

PM_EXPORT pm_type_t pm_weakref_type = {
    .name = "weakref",
    .basicsize = sizeof(pmi_weakref_t),
    .traverse = weakref_traverse,
    .clear = weakref_clear,
};

/* ---- Creation ------------------------------------------------------------- */
/* Links a new weak reference into referent's list: a basic one at the
 * head, any other right after the basic one (so newest first).  Returns
 * false (ENOMEM, or EINVAL if the referent is already dying). */
static bool wr_link_locked(pmi_weakref_t *wr, void *referent) {
  pm_assert_internal(gc_lock_held(&pmi_gc.lock));
  pm_assert(wr->referent == NULL && wr->next == NULL && wr->prev == NULL);
  if (gc_refcnt(gc_head(referent)) == 0) { errno = EINVAL; return false; }   /* dying */
  /* the table entry exists exactly when the flag is set */
  pm_assert_internal(!(gc_flags(gc_head(referent)) & PM_GCF_WEAKREFS) == (wr_find(referent) == NULL));
  wr_entry_t *e = wr_find(referent);
  if (e == NULL && (e = wr_insert(referent)) == NULL) { errno = ENOMEM; return false; }
  wr->referent = referent;
  pmi_weakref_t *after = e->head && wr_is_basic(e->head) && !wr_is_basic(wr) ? e->head : NULL;
  wr->prev = after;
  wr->next = after ? after->next : e->head;
  if (wr->next) wr->next->prev = wr;
  if (after) after->next = wr;
  else e->head = wr;
  gc_flag_set(gc_head(referent), PM_GCF_WEAKREFS);
  return true;
}

/* A weak reference is atomic whenever its referent is (bug 3). */
static pmi_weakref_t *wr_alloc(void *referent) {
  return pm_obj_new_flags(&pm_weakref_type, 0, gc_is_atomic(gc_head(referent)) ? PM_OBJ_ATOMIC : 0);
}

PM_EXPORT void *pm_weakref_new(void *referent, pm_weakref_cb callback, void *cb_obj) {
  if (referent == NULL) { errno = EINVAL; return NULL; }
  pm_gchead_t *rh = gc_head(referent);
  if (cb_obj && gc_is_atomic(rh) && !gc_is_atomic(gc_head(cb_obj)) && !gc_is_immortal(gc_head(cb_obj))) {
    errno = EINVAL;             /* its count would be dropped in a foreign thread */
    return NULL;
  }
  if (callback == NULL && cb_obj == NULL) {   /* the shared basic reference */
    gc_lock(&pmi_gc.lock);
    wr_entry_t *e = (gc_flags(rh) & PM_GCF_WEAKREFS) ? wr_find(referent) : NULL;
    pmi_weakref_t *basic = e && wr_is_basic(e->head) ? e->head : NULL;
    if (basic) pm_incref(basic);
    gc_unlock(&pmi_gc.lock);
    if (basic) return basic;
  }
  pmi_weakref_t *wr = wr_alloc(referent);
  if (wr == NULL) return NULL;
  wr->callback = callback;
  wr->cb_obj = cb_obj;
  if (cb_obj) pm_incref(cb_obj);
  gc_lock(&pmi_gc.lock);
  pmi_weakref_t *basic = NULL;
  if (wr_is_basic(wr)) {        /* another thread may have made one meanwhile */
    wr_entry_t *e = (gc_flags(rh) & PM_GCF_WEAKREFS) ? wr_find(referent) : NULL;
    if (e && wr_is_basic(e->head)) pm_incref(basic = e->head);
  }
  bool ok = basic != NULL || wr_link_locked(wr, referent);
  gc_unlock(&pmi_gc.lock);
  if (basic || !ok) {
    int err = errno;
    pm_decref(wr);
    errno = err;
    return basic;
  }
  return wr;
}

PM_INTERNAL void *pmi_weakref_new_owned(void *referent, pm_weakref_cb callback, void *owner,
                                        size_t slot) {
  pmi_weakref_t *wr = wr_alloc(referent);
  if (wr == NULL) return NULL;
  wr->callback = callback;
  wr->owner = owner;
  wr->slot = slot;
  gc_lock(&pmi_gc.lock);
  bool ok = wr_link_locked(wr, referent);
  gc_unlock(&pmi_gc.lock);
  if (!ok) {
    int err = errno;
    wr->owner = NULL;
    pm_decref(wr);
    errno = err;
    return NULL;
  }
  return wr;
}

PM_INTERNAL void *pmi_weakref_owner_locked(void *wrp, size_t *slot) {
  pmi_weakref_t *wr = wrp;
  if (slot) *slot = wr->slot;
  return wr->owner;
}
PM_INTERNAL void pmi_weakref_set_slot_locked(void *wrp, size_t slot) { ((pmi_weakref_t *)wrp)->slot = slot; }
PM_INTERNAL void pmi_weakref_disown_locked(void *wrp) {
  pmi_weakref_t *wr = wrp;
  pm_assert_internal(gc_lock_held(&pmi_gc.lock));
  wr->owner = NULL;
  wr->callback = NULL;
  wr_detach_locked(wr);
}
PM_INTERNAL void *pmi_weakref_referent_locked(void *wrp) { return ((pmi_weakref_t *)wrp)->referent; }

/* ---- Reading ------------------------------------------------------------- */
PM_INTERNAL void *pmi_weakref_get_locked(void *wrp) {
  pmi_weakref_t *wr = wrp;
  void *r = wr->referent;
  if (r == NULL) return NULL;
  pm_gchead_t *h = gc_head(r);
  uint32_t c = gc_refcnt(h);
  if (c == 0) return NULL;                    /* dying: too late */
  if (c >= PM_REFCNT_IMMORTAL) return r;
  if (gc_is_atomic(h)) {
    /* never from 0: a death racing in another thread wins */
    while (c != 0 && !pm_atomic_cas_weak_relaxed(&h->refcnt, &c, c + 1)) {}
    return c == 0 ? NULL : r;
  }
  pm_atomic_store_relaxed(&h->refcnt, c + 1);
  return r;
}

PM_EXPORT void *pm_weakref_get(void *wr) {
  gc_lock(&pmi_gc.lock);
  void *r = pmi_weakref_get_locked(wr);
  gc_unlock(&pmi_gc.lock);
  return r;
}

PM_EXPORT size_t pm_weakref_count(const void *o) { return pm_weakref_getweakrefs(o, NULL, 0); }

PM_EXPORT size_t pm_weakref_getweakrefs(const void *o, void **out, size_t cap) {
  size_t n = 0;
  gc_lock(&pmi_gc.lock);
  wr_entry_t *e = (gc_flags(gc_head(o)) & PM_GCF_WEAKREFS) ? wr_find(o) : NULL;
  for (pmi_weakref_t *wr = e ? e->head : NULL; wr; wr = wr->next, n++)
    if (n < cap) out[n] = wr;
  gc_unlock(&pmi_gc.lock);
  return n;
}

/* ---- Clearing (called by dealloc.c and collect.c) ------------------------ */
PM_INTERNAL void pmi_weakref_clear_locked(void *o, pmi_wrlist_t *out) {
  pm_assert_internal(gc_lock_held(&pmi_gc.lock));
  wr_entry_t *e = wr_find(o);
  gc_flag_clear(gc_head(o), PM_GCF_WEAKREFS);
  if (e == NULL) return;
  pmi_weakref_t *wr = e->head;
  wr_delete(e);
  while (wr) {                              /* list order: newest first */
    pm_assert_internal(wr->referent == o);
    pmi_weakref_t *next = wr->next;
    pm_gchead_t *wh = gc_head(wr);
    wr->referent = NULL;
    wr->next = wr->prev = NULL;
    if (wr->callback && gc_refcnt(wh) != 0 && !(gc_flags(wh) & PM_GCF_UNREACHABLE)) {
      pm_incref(wr);
      wr->cb_next = NULL;
      if (out->last) out->last->cb_next = wr;
      else out->first = wr;
      out->last = wr;
    }
    wr = next;
  }
}

PM_INTERNAL pmi_weakref_t *pmi_weakref_list_pop(pmi_wrlist_t *list) {
  pmi_weakref_t *wr = list->first;
  if (wr == NULL) return NULL;
  list->first = wr->cb_next;
  if (list->first == NULL) list->last = NULL;
  wr->cb_next = NULL;
  return wr;
}

PM_INTERNAL bool pmi_weakref_run_one(pmi_weakref_t *wr) {
  pm_assert(wr->referent == NULL && gc_refcnt(gc_head(wr)) != 0);
  gc_lock(&pmi_gc.lock);
  pm_weakref_cb cb = wr->callback;        /* an owner may have cleared it */
  gc_unlock(&pmi_gc.lock);
  if (cb) cb(wr, wr->cb_obj);
  return pmi_object_decref_was_last(wr);
}

PM_INTERNAL long pmi_weakref_run_callbacks(pmi_wrlist_t *list) {
  long freed = 0;
  pmi_weakref_t *wr;
  while ((wr = pmi_weakref_list_pop(list)) != NULL) freed += pmi_weakref_run_one(wr);
  return freed;
}
