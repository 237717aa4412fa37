/* SPDX-License-Identifier: MIT */
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
 * tp_finalize and weak-reference callbacks as CPython's does): only the
 * outermost death on a thread (per level, below) runs the drain loop; a
 * death that starts while it runs is only pushed on one of the level's two
 * stacks, linked through the header's next field, and the loop pops them
 * until both are empty.  A finalizer, callback or clear() that drops the
 * last reference to another object therefore only pushes it and returns:
 * any chain of deaths runs in constant C stack, and everything is freed
 * before the pm_decref that started it returns.
 *
 *   ready   detached deaths with nothing to wait for: clear() and free
 *   slow    deaths that wait for finalize() (stage FINALIZE[_TRACKED]), or
 *           for the weak-reference callbacks queued before them (FREE)
 *   callbacks  the queued callbacks, run one at a time, before slow
 *
 * Stages of a death on slow (the header's gc_refs; the object is untracked,
 * its refcount is 0):
 *
 *   FINALIZE[_TRACKED] ──pop──> FINALIZED set, re-tracked into gen 0 if it
 *        was tracked (as CPython's subtype_dealloc), refcnt 1, finalize()
 *        ├── a reference was stored (resurrected) ──> LIVE again, done
 *        └── refcount back to 0 ──> detach ──> ready (or slow as FREE)
 *   (types without finalize, or finalized before, are detached at once)
 *   detach: untracked, counted dead, weak references cleared and their
 *        callbacks queued (newest first), so they run before clear()
 *   FREE ──pop, after every queued callback──> ready
 *   ready ──pop──> clear(), dealloc(), the dead mark, pmi_free (or the
 *        quarantine)
 *
 * Cost: pm_obj_dealloc_'s fast path (fixed size, no finalizer, no weak
 * reference, lock uncontended) makes no call before its tail call, so a
 * nested death is the books and a push; callgrind counts 11% fewer
 * instructions than c6a47e2 for freeing a 10^5-node tree (docs/gc.md).
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
  pm_atomic_store_relaxed(&h->refcnt, 0);
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
PM_INLINE void dealloc_books_locked(pm_gchead_t *h, size_t bytes) {
  pm_assert_internal(gc_lock_held(&pmi_gc.lock));
  if (gc_is_tracked(h)) {
    gc_list_remove_untrack(h);
    if (pmi_gc.count[0] > 0) pmi_gc.count[0]--;   /* as PyObject_GC_Del */
  }
  pm_assert(pmi_gc.live_objects > 0 && pmi_gc.live_bytes >= bytes);
  pmi_gc.live_objects--;
  pmi_gc.live_bytes -= bytes;
}
PM_INLINE void dealloc_detach_locked(pm_gchead_t *h, size_t bytes, pmi_wrlist_t *callbacks) {
  bool weakrefs = (gc_flags(h) & PM_GCF_WEAKREFS) != 0;
  dealloc_books_locked(h, bytes);
  if (weakrefs) pmi_weakref_clear_locked(gc_obj(h), callbacks);
}

/* The two stacks: ready (FREE, nothing queued before it: the hot path of
 * every nested death) and slow (FINALIZE stages, and FREE objects whose
 * callbacks were queued when they were detached; stage in gc_refs). */
PM_INLINE void dealloc_push_ready(pmi_dealloc_level_t *lv, pm_gchead_t *h) {
  h->next = lv->ready;
  lv->ready = h;
}
PM_INLINE void dealloc_push_slow(pmi_dealloc_level_t *lv, pm_gchead_t *h, uint32_t stage) {
  h->gc_refs = stage;
  h->next = lv->slow;
  lv->slow = h;
}
/* A detached object: ready, unless its callbacks must run first. */
PM_INLINE void dealloc_push_detached(pmi_dealloc_level_t *lv, pm_gchead_t *h) {
  if (pm_likely(lv->callbacks.first == NULL)) dealloc_push_ready(lv, h);
  else dealloc_push_slow(lv, h, DEATH_FREE);
}

/* Runs finalize() (PEP 442: at most once).  Returns false if the object
 * was resurrected, true if it is detached and must be freed. */
static bool dealloc_finalize(pmi_dealloc_level_t *lv, pm_gchead_t *h) {
  const pm_type_t *t = gc_type(h);
  void *o = gc_obj(h);
  gc_lock(&pmi_gc.lock);
  pm_assert(!(gc_flags(h) & PM_GCF_FINALIZED));
  gc_flag_set(h, PM_GCF_FINALIZED);
  h->next = NULL;
  if (h->gc_refs == DEATH_FINALIZE_TRACKED) gc_list_append(h, &pmi_gc.gen[0]);
  h->gc_refs = 0;
  gc_unlock(&pmi_gc.lock);
  pm_atomic_store_relaxed(&h->refcnt, 1);
  t->finalize(o);
  if (pm_atomic_sub_acq_rel(&h->refcnt, 1) != 1) return false;
  size_t bytes = gc_object_bytes(t, h);
  gc_lock(&pmi_gc.lock);
  dealloc_detach_locked(h, bytes, &lv->callbacks);
  gc_unlock(&pmi_gc.lock);
  return true;
}

/* clear(), dealloc(), then the memory goes: the dead mark first, so that a
 * dangling pointer to the block fails validation (issue 13, bug 4).  (next
 * is stale here: a dying object's refcount is 0, so the layer never reads
 * it as a list link.) */
PM_INLINE void dealloc_free(pm_gchead_t *h) {
  const pm_type_t *t = gc_type(h);
  void *o = gc_obj(h);
  if (t->clear) t->clear(o);            /* may push more deaths */
  if (t->dealloc) t->dealloc(o);
  if (pm_likely(!(pm_atomic_load_relaxed(&pmi_gc.debug) & PM_GC_DEBUG_QUARANTINE))) {
    h->type_bits = (uintptr_t)&pmi_dealloc_dead_type;
    pmi_free(h);
  } else {
    gc_lock(&pmi_gc.lock);
    quarantine_locked(h);
    gc_unlock(&pmi_gc.lock);
  }
}

/* One step of the slow work: a queued callback first (callbacks must see
 * their referent untouched, and the objects they wait for are on slow),
 * else the top of slow. */
static PM_NOINLINE void dealloc_slow_step(pmi_dealloc_level_t *lv) {
  if (lv->callbacks.first != NULL) {
    pmi_weakref_run_one(pmi_weakref_list_pop(&lv->callbacks));
    return;
  }
  pm_gchead_t *h = lv->slow;
  lv->slow = h->next;
  pm_assert(h->gc_refs >= DEATH_FINALIZE && h->gc_refs <= DEATH_FREE);
  if (h->gc_refs == DEATH_FREE) dealloc_push_ready(lv, h);
  else if (dealloc_finalize(lv, h)) dealloc_push_detached(lv, h);
}

/* The trampoline loop (lv->active is set): everything ready is freed, then
 * the slow work goes one step at a time, until both are empty. */
static void dealloc_drain(pmi_dealloc_level_t *lv) {
  for (;;) {
    pm_gchead_t *h;
    while ((h = lv->ready) != NULL) {
      lv->ready = h->next;
      dealloc_free(h);
    }
    if (pm_likely(lv->slow == NULL && lv->callbacks.first == NULL)) break;
    dealloc_slow_step(lv);
  }
}

/* Finalizer types: untracked and pushed, finalized by the loop. */
static PM_NOINLINE void dealloc_start_finalize(pmi_dealloc_level_t *lv, pm_gchead_t *h) {
  gc_lock(&pmi_gc.lock);
  bool needs = !(gc_flags(h) & PM_GCF_FINALIZED);
  bool tracked = gc_is_tracked(h);
  if (needs && tracked) gc_list_remove_untrack(h);
  if (!needs) dealloc_detach_locked(h, gc_object_bytes(gc_type(h), h), &lv->callbacks);
  gc_unlock(&pmi_gc.lock);
  if (!needs) dealloc_push_detached(lv, h);
  else dealloc_push_slow(lv, h, tracked ? DEATH_FINALIZE_TRACKED : DEATH_FINALIZE);
  if (lv->active) return;
  lv->active = true;
  dealloc_drain(lv);
  lv->active = false;
}

/* The outermost death of a level: straight to clear() unless callbacks
 * must run first, then whatever that queued. */
static PM_NOINLINE void dealloc_outermost(pmi_dealloc_level_t *lv, pm_gchead_t *h) {
  lv->active = true;
  if (pm_unlikely(lv->callbacks.first != NULL)) dealloc_push_slow(lv, h, DEATH_FREE);
  else dealloc_free(h);
  if (lv->ready != NULL || lv->slow != NULL || lv->callbacks.first != NULL) dealloc_drain(lv);
  lv->active = false;
}

/* Every death the fast path of pm_obj_dealloc_ does not take. */
static PM_NOINLINE void dealloc_general(pmi_dealloc_level_t *lv, pm_gchead_t *h) {
  const pm_type_t *t = gc_type(h);
  if (pm_unlikely(t == &pmi_dealloc_dead_type)) {   /* release: ignore the call */
    pmi_object_misuse("decref of freed object", gc_obj(h));
    return;
  }
  pm_assert(gc_refcnt(h) == 0);
  if (t->finalize) {
    dealloc_start_finalize(lv, h);
    return;
  }
  size_t bytes = gc_object_bytes(t, h);
  gc_lock(&pmi_gc.lock);
  dealloc_detach_locked(h, bytes, &lv->callbacks);
  gc_unlock(&pmi_gc.lock);
  if (lv->active) dealloc_push_detached(lv, h);   /* a death inside a death */
  else dealloc_outermost(lv, h);
}

/* The fast path covers the commonest deaths: fixed size, no finalizer, no
 * weak references, the lock free or ours.  It makes no call before its
 * tail call, so it saves no registers: a nested death (a clear() dropping
 * the last reference to a child) costs only the books and the push. */
PM_EXPORT void pm_obj_dealloc_(void *o) {
  pm_gchead_t *h = gc_head(o);
  const pm_type_t *t = gc_type(h);
  pmi_dealloc_level_t *lv = &dealloc_tls;
  if (pm_likely(t->finalize == NULL && t->itemsize == 0) &&
      pm_likely(t != &pmi_dealloc_dead_type && gc_lock_try(&pmi_gc.lock))) {
    if (pm_likely(!(gc_flags(h) & PM_GCF_WEAKREFS))) {
      pm_assert(gc_refcnt(h) == 0);
      dealloc_books_locked(h, PM_GC_HEADER_SIZE + t->basicsize);
      gc_unlock(&pmi_gc.lock);
      if (lv->active) dealloc_push_detached(lv, h);
      else dealloc_outermost(lv, h);
      return;
    }
    gc_unlock(&pmi_gc.lock);
  }
  dealloc_general(lv, h);
}

/* ---- Levels (collect.c) ---------------------------------------------------- */
PM_INTERNAL void pmi_dealloc_level_enter(pmi_dealloc_level_t *saved) {
  *saved = dealloc_tls;
  dealloc_tls = (pmi_dealloc_level_t){0};
}

PM_INTERNAL void pmi_dealloc_level_leave(const pmi_dealloc_level_t *saved) {
  /* every death started inside the level ran to its end there */
  pm_assert(dealloc_tls.ready == NULL && dealloc_tls.slow == NULL &&
            dealloc_tls.callbacks.first == NULL && !dealloc_tls.active);
  dealloc_tls = *saved;
}
