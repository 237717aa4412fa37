/* gc/dealloc.c — the death of an object: finalizer, weak references,
 * clear(), free, in bounded C stack whatever the finalizers and callbacks
 * do (issue 4; issue 13, bug 2; docs/gc.md, "Object life").
 *
 * Owns: pm_obj_dealloc_ (the slow path of pm_decref reaching zero), the
 * per-thread trampoline that runs every death, the dead mark written into
 * a header before its block is freed, and the debug quarantine.  Never
 * calls malloc or stdio.
 *
 * The trampoline (CPython's trashcan, without its depth limit, and covering
 * tp_finalize and weak-reference callbacks as CPython's does): every death
 * is pushed on the calling thread's pending stack, linked through the
 * header's next field; only the outermost one runs the drain loop, which
 * pops deaths and runs the queued weak-reference callbacks until both are
 * empty.  A finalizer, callback or clear() that drops the last reference to
 * another object therefore only pushes it and returns: any chain of deaths
 * runs in constant C stack, and everything is freed before the pm_decref
 * that started it returns.
 *
 * Stages of a pending death (the header's gc_refs; the object is untracked,
 * its refcount is 0):
 *
 *   FINALIZE[_TRACKED] ──pop──> FINALIZED set, re-tracked into gen 0 if it
 *        was tracked (as CPython's subtype_dealloc), refcnt 1, finalize()
 *        ├── a reference was stored (resurrected) ──> LIVE again, done
 *        └── refcount back to 0 ──> detach ──> pushed as FREE
 *   (types without finalize, or finalized before, are detached at once)
 *   detach: untracked, counted dead, weak references cleared and their
 *        callbacks queued (newest first), so they run before clear()
 *   FREE ──pop (after every queued callback)──> clear(), dealloc(), the
 *        dead mark, pmi_free (or the quarantine)
 *
 * Levels: a collection saves the thread's level and starts a fresh one
 * (pmi_dealloc_level_enter), so the deaths its phases cause complete inside
 * the phase (issue 13, item 5); collections do not nest, so there are at
 * most two levels.  Thread-local state only: no lock except around the
 * layer's lists and counters (gc_internal.h, locking rules).
 */
#include "gc_internal.h"

static __thread pmi_dealloc_level_t dealloc_tls __attribute__((tls_model("initial-exec")));

#define DEATH_FINALIZE 1u           /* needs finalize(); was untracked   */
#define DEATH_FINALIZE_TRACKED 2u   /* needs finalize(); was tracked     */
#define DEATH_FREE 3u               /* detached: clear, dealloc, free    */

/* ---- The dead mark and the quarantine -------------------------------------- */
/* A freed block's type word points here (never registered, so validation
 * fails however the allocator reuses the other words); a quarantined one
 * also keeps its old type in next and QUARANTINE_MARK in prev. */
PM_INTERNAL const pm_type_t pmi_dealloc_dead_type = {.name = "<freed>"};
#define QUARANTINE_MARK ((uintptr_t)0x9E3779B0u)

PM_INTERNAL bool pmi_dealloc_is_quarantined(const pm_gchead_t *h) {
  return gc_type(h) == &pmi_dealloc_dead_type && h->prev == QUARANTINE_MARK;
}
PM_INTERNAL const pm_type_t *pmi_dealloc_quarantined_type(const pm_gchead_t *h) {
  return (const pm_type_t *)h->next;
}

static void quarantine_free_oldest_locked(void) {
  pm_gchead_t *old = pmi_gc.quarantine[pmi_gc.quarantine_tail++ % PM_GC_QUARANTINE];
  pmi_gc.quarantine_bytes -= pmi_usable_size(old);
  pmi_free(old);
}

/* Parks h, poisoned, in the quarantine (PM_GC_DEBUG_QUARANTINE); the oldest
 * entries go once there are PM_GC_QUARANTINE of them or their bytes would
 * pass PM_GC_QUARANTINE_BYTES (issue 13, item 10: a count bound alone let
 * 4096 objects, one per pool, pin half the heap). */
static void quarantine_locked(pm_gchead_t *h) {
  size_t bytes = pmi_usable_size(h);
  h->next = (pm_gchead_t *)gc_type(h);   /* remembered for the diagnostic */
  h->prev = QUARANTINE_MARK;
  h->type_bits = (uintptr_t)&pmi_dealloc_dead_type;
  __atomic_store_n(&h->refcnt, 0, __ATOMIC_RELAXED);
  if (bytes > PM_GC_QUARANTINE_BYTES) { pmi_free(h); return; }
  while (pmi_gc.quarantine_head != pmi_gc.quarantine_tail &&
         (pmi_gc.quarantine_head - pmi_gc.quarantine_tail == PM_GC_QUARANTINE ||
          pmi_gc.quarantine_bytes + bytes > PM_GC_QUARANTINE_BYTES))
    quarantine_free_oldest_locked();
  pmi_gc.quarantine[pmi_gc.quarantine_head++ % PM_GC_QUARANTINE] = h;
  pmi_gc.quarantine_bytes += bytes;
  pm_assert_internal(pmi_gc.quarantine_head - pmi_gc.quarantine_tail <= PM_GC_QUARANTINE);
}

PM_INTERNAL size_t pmi_dealloc_quarantine_release_locked(void) {
  size_t bytes = pmi_gc.quarantine_bytes;
  while (pmi_gc.quarantine_head != pmi_gc.quarantine_tail) quarantine_free_oldest_locked();
  pm_assert(pmi_gc.quarantine_bytes == 0);
  return bytes;
}

/* ---- Stages ---------------------------------------------------------------- */
/* detach: the object leaves the layer's books and its weak references are
 * cleared; their callbacks are queued on the level (run before clear()). */
static void dealloc_detach_locked(pm_gchead_t *h, size_t bytes, pmi_wrlist_t *callbacks) {
  pm_assert_internal(gc_lock_held(&pmi_gc.lock));
  if (gc_is_tracked(h)) {
    gc_list_remove_untrack(h);
    if (pmi_gc.count[0] > 0) pmi_gc.count[0]--;   /* as PyObject_GC_Del */
  }
  pm_assert(pmi_gc.live_objects > 0 && pmi_gc.live_bytes >= bytes);
  pmi_gc.live_objects--;
  pmi_gc.live_bytes -= bytes;
  if (gc_flags(h) & PM_GCF_WEAKREFS) pmi_weakref_clear_locked(gc_obj(h), callbacks);
}

static void dealloc_push(pmi_dealloc_level_t *lv, pm_gchead_t *h, uint32_t stage) {
  h->gc_refs = stage;
  h->next = lv->pending;
  lv->pending = h;
}

/* Runs finalize() (PEP 442: at most once).  Returns false if the object
 * was resurrected, true if it is detached and must be freed. */
static bool dealloc_finalize(pmi_dealloc_level_t *lv, pm_gchead_t *h) {
  const pm_type_t *t = gc_type(h);
  void *o = gc_obj(h);
  gc_lock(&pmi_gc.lock);
  pm_assert(!(gc_flags(h) & PM_GCF_FINALIZED));
  gc_flag_set(h, PM_GCF_FINALIZED);
  if (h->gc_refs == DEATH_FINALIZE_TRACKED) gc_list_append(h, &pmi_gc.gen[0]);
  h->gc_refs = 0;
  gc_unlock(&pmi_gc.lock);
  __atomic_store_n(&h->refcnt, 1, __ATOMIC_RELAXED);
  t->finalize(o);
  if (__atomic_fetch_sub(&h->refcnt, 1, __ATOMIC_ACQ_REL) != 1) return false;
  size_t bytes = pmi_object_bytes(h);
  gc_lock(&pmi_gc.lock);
  dealloc_detach_locked(h, bytes, &lv->callbacks);
  gc_unlock(&pmi_gc.lock);
  return true;
}

/* clear(), dealloc(), then the memory goes: the dead mark first, so that a
 * dangling pointer to the block fails validation (issue 13, bug 4). */
static void dealloc_free(pm_gchead_t *h) {
  const pm_type_t *t = gc_type(h);
  void *o = gc_obj(h);
  if (t->clear) t->clear(o);            /* may push more deaths */
  if (t->dealloc) t->dealloc(o);
  if (pm_likely(!(__atomic_load_n(&pmi_gc.debug, __ATOMIC_RELAXED) & PM_GC_DEBUG_QUARANTINE))) {
    h->type_bits = (uintptr_t)&pmi_dealloc_dead_type;
    pmi_free(h);
  } else {
    gc_lock(&pmi_gc.lock);
    quarantine_locked(h);
    gc_unlock(&pmi_gc.lock);
  }
}

/* The trampoline: queued callbacks first (they must see their referent's
 * object untouched), then the most recent death. */
static void dealloc_drain(pmi_dealloc_level_t *lv) {
  lv->active = true;
  for (;;) {
    pmi_weakref_t *wr = pmi_weakref_list_pop(&lv->callbacks);
    if (wr != NULL) {
      pmi_weakref_run_one(wr);
      continue;
    }
    pm_gchead_t *h = lv->pending;
    if (h == NULL) break;
    lv->pending = h->next;
    h->next = NULL;
    pm_assert(h->gc_refs >= DEATH_FINALIZE && h->gc_refs <= DEATH_FREE);
    if (h->gc_refs == DEATH_FREE) dealloc_free(h);
    else if (dealloc_finalize(lv, h)) dealloc_push(lv, h, DEATH_FREE);
  }
  lv->active = false;
}

PM_EXPORT void pm_obj_dealloc_(void *o) {
  pm_gchead_t *h = gc_head(o);
  const pm_type_t *t = gc_type(h);
  if (pm_unlikely(t == &pmi_dealloc_dead_type)) {   /* release: ignore the call */
    pmi_object_misuse("decref of freed object", o);
    return;
  }
  pm_assert(gc_refcnt(h) == 0);
  pmi_dealloc_level_t *lv = &dealloc_tls;
  uint32_t stage = DEATH_FREE;
  size_t bytes = t->finalize ? 0 : pmi_object_bytes(h);
  gc_lock(&pmi_gc.lock);
  if (t->finalize && !(gc_flags(h) & PM_GCF_FINALIZED)) {
    bool tracked = gc_is_tracked(h);
    if (tracked) gc_list_remove_untrack(h);
    stage = tracked ? DEATH_FINALIZE_TRACKED : DEATH_FINALIZE;
  } else {
    if (t->finalize) bytes = pmi_object_bytes(h);
    dealloc_detach_locked(h, bytes, &lv->callbacks);
  }
  gc_unlock(&pmi_gc.lock);
  dealloc_push(lv, h, stage);
  if (!lv->active) dealloc_drain(lv);
}

/* ---- Levels (collect.c) ---------------------------------------------------- */
PM_INTERNAL void pmi_dealloc_level_enter(pmi_dealloc_level_t *saved) {
  *saved = dealloc_tls;
  dealloc_tls = (pmi_dealloc_level_t){0};
}

PM_INTERNAL void pmi_dealloc_level_leave(const pmi_dealloc_level_t *saved) {
  /* every death started inside the level ran to its end there */
  pm_assert(dealloc_tls.pending == NULL && dealloc_tls.callbacks.first == NULL && !dealloc_tls.active);
  dealloc_tls = *saved;
}
