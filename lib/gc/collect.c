/* SPDX-License-Identifier: MIT */
/* gc/collect.c — the generational cycle collector (issue 4; docs/gc.md).
 *
 * Owns: pm_gc_collect, the automatic triggers (allocation counts, bytes),
 * and the phases of one collection.  The algorithm is CPython's
 * (Modules/gcmodule.c, gc_collect_main), phase for phase:
 *
 *   young = gen[g] + every younger generation       (merge)
 *   update_refs:      gc_refs = refcnt, flag COLLECTING          for young
 *   subtract_refs:    for each edge a->b inside young: b.gc_refs--
 *                     now gc_refs(o) == references from outside young
 *   move_unreachable: gc_refs > 0 objects are roots; everything reachable
 *                     from a root stays in young, the rest moves to
 *                     `unreachable` (flag UNREACHABLE).  No stack: objects
 *                     found reachable are appended to young's tail and
 *                     scanned when the loop gets there.
 *   promote:          young (the survivors) joins gen[g+1]
 *   handle_weakrefs:  detach weakrefs to unreachable objects; callbacks of
 *                     reachable weakrefs run now, while nothing is touched
 *   finalize:         finalize() of each unreachable object, once (PEP 442)
 *   resurrection:     redo update/subtract/move on `unreachable`; whatever
 *                     a finalizer made reachable again joins gen[g+1]
 *   delete:           clear() each remaining object (its refcount drops to
 *                     zero through ordinary decrefs, object.c frees it);
 *                     survivors of clear() are "uncollectable" -> gen[g+1]
 *   trim:             if many bytes were freed, return emptied pools now
 *
 * States of an object during a collection (flags in the low bits of prev,
 * as gc.c's "_gc_prev values" block):
 *   outside young:          neither flag; never decremented
 *   young, not yet scanned: COLLECTING; gc_refs = external refs so far
 *   young, scanned:         no flag (reachable, its referents were visited)
 *   tentatively unreachable: COLLECTING|UNREACHABLE, on `unreachable`
 * Invariant after move_unreachable: no edge leads from a young object to
 * an unreachable one; every unreachable object has gc_refs == 0.
 *
 * The collector runs with the layer lock held (recursive: finalizers and
 * clear() free objects through object.c).  Never malloc, never stdio.
 */
#include "gc_internal.h"

/* ---- Phase helpers ------------------------------------------------------- */
/* Reports a traverse that visits something that is not a live GC object;
 * the edge is then ignored (documented release behaviour). */
static PM_NOINLINE PM_COLD void collect_bad_edge(const void *from, const void *to) {
  const pm_type_t *t = gc_type(gc_head(from));
  if (pm_config_debug)
    pmi_fatal("gc: traverse of %p (type %s) reports non-GC pointer %p", from,
              t && t->name ? t->name : "?", to);
  pmi_fmt_message("gc: traverse of %p (type %s) reports non-GC pointer %p", from,
                  t && t->name ? t->name : "?", to);
}

/* update_refs: gc_refs = refcnt and flag COLLECTING for every object of l.
 * A tracked object with refcount 0 is dying in another thread, which is
 * waiting for the lock to untrack it (or was, at a fork: then it leaks in
 * the child): it is made a root, so nothing it references is touched. */
static void collect_update_refs(pm_gchead_t *l) {
  for (pm_gchead_t *h = l->next; h != l; h = h->next) {
    uint32_t r = gc_refcnt(h);
    h->gc_refs = r == 0 ? 1 : r;
    gc_flag_set(h, PM_GCF_COLLECTING);
  }
}

static const void *visit_from;   /* the object being traversed (lock held) */
static size_t bad_edges;         /* edges subtract_refs rejected (lock held) */

/* Every edge is validated once per pass over a set, in subtract_refs; the
 * graph cannot change before move_unreachable walks the same edges, so that
 * pass validates only if subtract_refs found a bad one (validation is a
 * dependent load per edge: it would cost more than the pass itself). */
static int visit_decref(void *o, void *arg) {
  if (pm_unlikely(!gc_object_is_valid_locked(o))) {
    bad_edges++;
    collect_bad_edge(visit_from, o);
    return 0;
  }
  pm_gchead_t *h = gc_head(o);
  if (gc_flags(h) & PM_GCF_COLLECTING) {
    if (pm_unlikely(h->gc_refs == 0)) {
      /* more references reported than counted: a missing incref */
      pmi_object_misuse("traverse reports more references than the refcount of", o);
      return 0;
    }
    h->gc_refs--;
  }
  return 0;
}

/* subtract_refs: remove the references internal to l. */
static void collect_subtract_refs(pm_gchead_t *l) {
  bad_edges = 0;
  for (pm_gchead_t *h = l->next; h != l; h = h->next) {
    void *o = gc_obj(h);
    visit_from = o;
    gc_type(h)->traverse(o, visit_decref, NULL);
  }
}

static int visit_reachable(void *o, void *arg) {
  pm_gchead_t *young = arg;
  if (pm_unlikely(bad_edges != 0) && !gc_object_is_valid_locked(o)) return 0;   /* reported */
  pm_gchead_t *h = gc_head(o);
  uintptr_t f = gc_flags(h);
  if (!(f & PM_GCF_COLLECTING)) return 0;      /* not in young, or scanned */
  if (f & PM_GCF_UNREACHABLE) {
    /* moved to unreachable too early: back to young's tail, to be scanned */
    gc_list_remove(h);
    gc_flag_clear(h, PM_GCF_UNREACHABLE);
    gc_list_append(h, young);
    h->gc_refs = 1;
  } else if (h->gc_refs == 0) {
    h->gc_refs = 1;                            /* scanned when the loop gets here */
  }
  return 0;
}

/* move_unreachable: leaves the reachable objects of young in young (flags
 * cleared) and moves the others to unreachable (COLLECTING|UNREACHABLE). */
static void collect_move_unreachable(pm_gchead_t *young, pm_gchead_t *unreachable) {
  pm_gchead_t *h = young->next;
  while (h != young) {
    if (h->gc_refs > 0) {
      gc_flag_clear(h, PM_GCF_COLLECTING);
      void *o = gc_obj(h);
      visit_from = o;
      gc_type(h)->traverse(o, visit_reachable, young);
      h = h->next;
    } else {
      pm_gchead_t *next = h->next;
      gc_list_move(h, unreachable);
      gc_flag_set(h, PM_GCF_UNREACHABLE);
      h = next;
    }
  }
}

/* handle_weakrefs: detach the weakrefs of every object of l; returns the
 * callbacks to run (weakrefs that are not garbage themselves). */
static pmi_weakref_t *collect_weakrefs(pm_gchead_t *l) {
  pmi_weakref_t *callbacks = NULL;
  for (pm_gchead_t *h = l->next; h != l; h = h->next)
    if (gc_flags(h) & PM_GCF_WEAKREFS) pmi_weakref_clear_locked(gc_obj(h), &callbacks);
  return callbacks;
}

/* finalize_garbage: returns true if any finalizer ran.  Objects are moved
 * to a side list one at a time, so a finalizer that frees objects of l
 * (they unlink themselves) cannot break the iteration. */
static bool collect_finalize(pm_gchead_t *l) {
  pm_gchead_t seen;
  gc_list_init(&seen);
  bool ran = false;
  while (!gc_list_is_empty(l)) {
    pm_gchead_t *h = l->next;
    gc_list_move(h, &seen);
    const pm_type_t *t = gc_type(h);
    if (t->finalize && !(gc_flags(h) & PM_GCF_FINALIZED)) {
      gc_flag_set(h, PM_GCF_FINALIZED);
      void *o = gc_obj(h);
      pm_incref(o);
      t->finalize(o);
      pm_decref(o);
      ran = true;
    }
  }
  gc_list_merge(&seen, l);
  return ran;
}

/* handle_resurrected_objects: objects of unreachable that a finalizer made
 * reachable again go to old; the rest move to final. */
static void collect_resurrected(pm_gchead_t *unreachable, pm_gchead_t *final, pm_gchead_t *old) {
  for (pm_gchead_t *h = unreachable->next; h != unreachable; h = h->next)
    gc_flag_clear(h, PM_GCF_UNREACHABLE);
  collect_update_refs(unreachable);
  collect_subtract_refs(unreachable);
  collect_move_unreachable(unreachable, final);
  gc_list_merge(unreachable, old);
}

/* delete_garbage: clear() every object of l.  Returns how many survived
 * their clear (uncollectable); they join old. */
static long collect_delete(pm_gchead_t *l, pm_gchead_t *old) {
  pm_gchead_t survivors;
  gc_list_init(&survivors);
  while (!gc_list_is_empty(l)) {
    pm_gchead_t *h = l->next;
    gc_flag_clear(h, PM_GCF_COLLECTING | PM_GCF_UNREACHABLE);
    gc_list_move(h, &survivors);       /* unlinks itself if freed */
    void *o = gc_obj(h);
    pm_incref(o);
    gc_type(h)->clear(o);
    pm_decref(o);
  }
  long n = (long)gc_list_size(&survivors);
  gc_list_merge(&survivors, old);
  return n;
}

/* SAVEALL: every object of l goes to the garbage list with a reference. */
static void collect_save(pm_gchead_t *l) {
  while (!gc_list_is_empty(l)) {
    pm_gchead_t *h = l->next;
    gc_flag_clear(h, PM_GCF_COLLECTING | PM_GCF_UNREACHABLE);
    gc_list_move(h, &pmi_gc.garbage);
    pm_incref(gc_obj(h));
  }
}

/* ---- One collection ------------------------------------------------------ */
static long collect_locked(int gen, long *uncollectable_out) {
  pm_gchead_t *young = &pmi_gc.gen[gen];
  pm_gchead_t *old = gen + 1 < PM_GC_NGEN ? &pmi_gc.gen[gen + 1] : young;
  pm_gchead_t unreachable, final;
  gc_list_init(&unreachable);
  gc_list_init(&final);

  /* counts as CPython: this generation's count restarts, the next one's
   * counts one more collection of this one */
  if (gen + 1 < PM_GC_NGEN) pmi_gc.count[gen + 1]++;
  for (int i = 0; i <= gen; i++) pmi_gc.count[i] = 0;
  for (int i = 0; i < gen; i++) gc_list_merge(&pmi_gc.gen[i], young);

  collect_update_refs(young);
  collect_subtract_refs(young);
  collect_move_unreachable(young, &unreachable);

  /* promote the survivors */
  if (gen == 2) {
    pmi_gc.long_lived_pending = 0;
    pmi_gc.long_lived_total = gc_list_size(young);
  } else if (gen == 1) {
    pmi_gc.long_lived_pending += gc_list_size(young);
  }
  if (young != old) gc_list_merge(young, old);

  if (gc_list_is_empty(&unreachable)) {
    *uncollectable_out = 0;
    return 0;
  }
  pmi_weakref_t *callbacks = collect_weakrefs(&unreachable);
  if (callbacks) pmi_weakref_run_callbacks(callbacks);

  if (collect_finalize(&unreachable)) {
    collect_resurrected(&unreachable, &final, old);
    /* finalizers may have created weakrefs to the garbage: detach them
     * too, before anything is cleared */
    callbacks = collect_weakrefs(&final);
    if (callbacks) pmi_weakref_run_callbacks(callbacks);
  } else {
    gc_list_merge(&unreachable, &final);
  }
  long found = (long)gc_list_size(&final);
  if (pmi_gc.debug & PM_GC_DEBUG_SAVEALL) {
    collect_save(&final);
    *uncollectable_out = 0;
  } else {
    *uncollectable_out = collect_delete(&final, old);
  }
  return found;
}

PM_EXPORT long pm_gc_collect(int gen) {
  if (gen < 0 || gen >= PM_GC_NGEN) gen = PM_GC_NGEN - 1;
  bool expect = false;
  if (!atomic_compare_exchange_strong(&pmi_gc.collecting, &expect, true)) return -1;
  pm_gc_info_t info = {.generation = gen};
  pmi_control_callbacks(PM_GC_PHASE_START, &info);

  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  size_t bytes_before = pmi_gc.live_bytes;
  long uncollectable = 0;
  long found = collect_locked(gen, &uncollectable);
  pmi_gc.stats[gen].collections++;
  pmi_gc.stats[gen].collected += (size_t)found;
  pmi_gc.stats[gen].uncollectable += (size_t)uncollectable;
  pmi_gc.bytes_since_young = 0;
  if (gen == PM_GC_NGEN - 1) {
    pmi_gc.bytes_since_full = 0;
    pmi_gc.live_bytes_after_full = pmi_gc.live_bytes;
  }
  size_t freed = bytes_before > pmi_gc.live_bytes ? bytes_before - pmi_gc.live_bytes : 0;
  unsigned debug = pmi_gc.debug;
  size_t trim_threshold = pmi_gc.trim_threshold;
  gc_unlock(&pmi_gc.lock);

  if (debug & PM_GC_DEBUG_STATS)
    pmi_fmt_message("gc: collected generation %d: %ld unreachable, %ld uncollectable, %zu bytes freed",
                    gen, found, uncollectable, freed);
  /* Issue 4, "memory goes back promptly": the pools this collection
   * emptied go back now rather than after the decay delay. */
  if (found > 0 && freed >= trim_threshold) pmi_alloc_trim();

  info.collected = found;
  info.uncollectable = uncollectable;
  pmi_control_callbacks(PM_GC_PHASE_STOP, &info);
  atomic_store(&pmi_gc.collecting, false);
  return found;
}

/* ---- Automatic collection ------------------------------------------------ */
/* Picks the generation to collect after an allocation, or -1.  CPython's
 * collect_generations (3.12 also collects right after linking the new
 * object: it is safe, the caller's reference makes it a root), plus the
 * bytes trigger of issue 4: young bytes over the threshold collect gen 0;
 * bytes since the last full collection over max(threshold, live bytes after
 * it) — the heap-doubling rule of Lua and Go — collect everything, so
 * garbage cycles holding huge objects cannot grow memory without bound
 * between collections. */
PM_INTERNAL int pmi_collect_pick_locked(void) {
  if (!pmi_gc.enabled || pmi_gc.threshold[0] == 0 || pmi_gc.collecting) return -1;
  if (pmi_gc.bytes_threshold) {
    size_t full_limit = pmi_gc.live_bytes_after_full > pmi_gc.bytes_threshold
                            ? pmi_gc.live_bytes_after_full : pmi_gc.bytes_threshold;
    if (pmi_gc.bytes_since_full > full_limit) return 2;
  }
  if (pmi_gc.count[0] > pmi_gc.threshold[0] ||
      (pmi_gc.bytes_threshold && pmi_gc.bytes_since_young > pmi_gc.bytes_threshold)) {
    for (int i = PM_GC_NGEN - 1; i > 0; i--) {
      if (pmi_gc.count[i] <= pmi_gc.threshold[i]) continue;
      /* full collections only when the pending long-lived objects exceed
       * 25% of those that survived the last one (CPython, since 2.7) */
      if (i == PM_GC_NGEN - 1 && pmi_gc.long_lived_pending < pmi_gc.long_lived_total / 4) continue;
      return i;
    }
    return 0;
  }
  return -1;
}
