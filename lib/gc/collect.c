/* SPDX-License-Identifier: MIT */
/* gc/collect.c — the generational cycle collector (issues 4 and 13;
 * docs/gc.md, "The collector").
 *
 * Owns: pm_gc_collect, the automatic triggers (allocation counts, bytes),
 * the phases of one collection and CPython's validate_list.  The algorithm
 * is CPython's (Modules/gcmodule.c, gc_collect_main), phase for phase:
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
 *                     zero through ordinary decrefs, dealloc.c frees it)
 *   uncollectable:    redo update/subtract/move on the survivors of clear();
 *                     those still unreachable are uncollectable and go to
 *                     gc.garbage, the others (alive for a reason) to gen[g+1]
 *   trim:             if many bytes were freed, return emptied pools now
 *
 * Pre- and postconditions of each phase are checked by
 * pmi_collect_list_is_valid at PM_DEBUG >= 3 (CPython's validate_list).
 *
 * States of an object during a collection (flags in the low bits of prev,
 * as gc.c's "_gc_prev values" block):
 *   outside young:          neither flag; never decremented
 *   young, not yet scanned: COLLECTING; gc_refs = external refs so far
 *   young, scanned:         no flag (reachable, its referents were visited)
 *   tentatively unreachable: COLLECTING|UNREACHABLE, on `unreachable`
 *   untracked by user code during the collection: no flag, on no list
 * Invariant after move_unreachable: no edge leads from a young object to
 * an unreachable one; every unreachable object has gc_refs == 0.
 *
 * The collector runs with the layer lock held (recursive: finalizers and
 * clear() free objects through dealloc.c), at a fresh dealloc level, so
 * every death a phase causes is complete when the next phase starts.  The
 * visitors get their state through one collect_ctx_t, never file statics.
 * Never malloc, never stdio.
 */
#include "gc_internal.h"
#include <time.h>

/* The state of one pass over a set, passed to the visitors as their arg
 * (never file statics: issue 12). */
typedef struct collect_ctx_s {
  pm_gchead_t *young;          /* move_unreachable: the set's list     */
} collect_ctx_t;

/* ---- validate_list (PM_DEBUG >= 3) --------------------------------------- */
PM_INTERNAL bool pmi_collect_list_is_valid(const pm_gchead_t *l, uintptr_t mask, uintptr_t want) {
  size_t n = 0, limit = pmi_gc.live_objects + 1;
  const pm_gchead_t *prev = l;
  for (const pm_gchead_t *h = l->next; h != l; prev = h, h = h->next) {
    if (h == NULL || gc_prev(h) != prev || ++n > limit) return false;
    if ((gc_flags(h) & mask) != want) return false;
    if (!pmi_object_type_known_locked(gc_type(h)) || gc_type(h)->traverse == NULL) return false;
  }
  return gc_prev(l) == prev;
}
#define COLLECT_VALIDATE(l, mask, want) \
  pm_assert_expensive(pmi_collect_list_is_valid((l), (mask), (want)))

/* The whole layer outside a collection: every list valid and free of
 * collector flags, and no more tracked objects than live ones. */
PM_INTERNAL bool pmi_collect_state_is_valid(void) {
  size_t tracked = 0;
  const pm_gchead_t *lists[] = {&pmi_gc.gen[0], &pmi_gc.gen[1], &pmi_gc.gen[2],
                                &pmi_gc.permanent, &pmi_gc.immortal, &pmi_gc.garbage};
  for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
    if (!pmi_collect_list_is_valid(lists[i], PM_GCF_COLLECTOR, 0)) return false;
    tracked += gc_list_size(lists[i]);
  }
  for (const pm_gchead_t *h = pmi_gc.immortal.next; h != &pmi_gc.immortal; h = h->next)
    if (!gc_is_immortal(h)) return false;
  return tracked <= pmi_gc.live_objects;
}

/* ---- Phase helpers ------------------------------------------------------- */
/* A traverse reported something that is not a live GC object: a foreign
 * pointer, a plain malloc block, or a freed object (issue 13, bug 4).  The
 * graph can no longer be trusted: the documented line, then abort, in
 * every build.  visit_decref only notes the bad target and skips the edge
 * (so the hot visitor and loop keep no extra state); after the pass, the
 * objects' edges are walked again to name the one that reported it. */
static int visit_find_bad(void *o, void *arg) {
  if (gc_object_is_valid_locked(o)) return 0;
  *(void **)arg = o;
  return 1;
}
static PM_NOINLINE PM_COLD void collect_bad_edge(void *from) {
  const pm_type_t *t = gc_type(gc_head(from));
  void *bad = NULL;
  t->traverse(from, visit_find_bad, &bad);
  if (bad == NULL) return;
  pmi_fatal("gc: traverse of %p (type %s) reports non-GC pointer %p", from,
            t->name ? t->name : "?", bad);
}
static PM_NOINLINE PM_COLD PM_NORETURN void collect_bad_edge_search(pm_gchead_t *l) {
  for (pm_gchead_t *h = l->next; h != l; h = h->next) collect_bad_edge(gc_obj(h));
  pmi_fatal("gc: a traverse reported non-GC pointer %p", pmi_gc.bad_edge);
}
static PM_NOINLINE PM_COLD int collect_note_bad_edge(void *o) {
  pmi_gc.bad_edge = o;
  return 0;
}

/* update_refs: gc_refs = refcnt and flag COLLECTING for every object of l.
 * A tracked object with refcount 0 is dying in another thread, which is
 * waiting for the lock to untrack it (or was, at a fork: then it leaks in
 * the child): it is made a root, so nothing it references is touched.
 * Returns the number of objects (CPython 3.14's "candidates"). */
static size_t collect_update_refs(pm_gchead_t *l) {
  size_t n = 0;
  for (pm_gchead_t *h = l->next; h != l; h = h->next, n++) {
    uint32_t r = gc_refcnt(h);
    h->gc_refs = r == 0 ? 1 : r;
    gc_flag_set(h, PM_GCF_COLLECTING);
  }
  return n;
}

/* Every edge is validated once per pass over a set, in subtract_refs; the
 * graph cannot change before move_unreachable walks the same edges, so that
 * pass does not validate again (validation is a dependent load per edge:
 * it would cost more than the pass itself), and a bad edge aborts here. */
static int visit_decref(void *o, void *arg) {
  if (pm_unlikely(!gc_object_is_valid_locked(o))) return collect_note_bad_edge(o);
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
  for (pm_gchead_t *h = l->next; h != l; h = h->next) {
    gc_type(h)->traverse(gc_obj(h), visit_decref, NULL);
  }
  if (pm_unlikely(pmi_gc.bad_edge != NULL)) collect_bad_edge_search(l);
}

static int visit_reachable(void *o, void *arg) {
  collect_ctx_t *ctx = arg;
  pm_gchead_t *h = gc_head(o);
  uintptr_t f = gc_flags(h);
  if (!(f & PM_GCF_COLLECTING)) return 0;      /* not in young, or scanned */
  if (f & PM_GCF_UNREACHABLE) {
    /* moved to unreachable too early: back to young's tail, to be scanned */
    gc_list_remove(h);
    gc_flag_clear(h, PM_GCF_UNREACHABLE);
    gc_list_append(h, ctx->young);
    h->gc_refs = 1;
  } else if (h->gc_refs == 0) {
    h->gc_refs = 1;                            /* scanned when the loop gets here */
  }
  return 0;
}

/* move_unreachable: leaves the reachable objects of young in young (flags
 * cleared) and moves the others to unreachable (COLLECTING|UNREACHABLE). */
static void collect_move_unreachable(pm_gchead_t *young, pm_gchead_t *unreachable) {
  collect_ctx_t ctx = {.young = young};
  pm_gchead_t *h = young->next;
  while (h != young) {
    pm_assert_internal(gc_flags(h) & PM_GCF_COLLECTING);
    if (h->gc_refs > 0) {
      gc_flag_clear(h, PM_GCF_COLLECTING);
      gc_type(h)->traverse(gc_obj(h), visit_reachable, &ctx);
      h = h->next;
    } else {
      pm_gchead_t *next = h->next;
      gc_list_move(h, unreachable);
      gc_flag_set(h, PM_GCF_UNREACHABLE);
      h = next;
    }
  }
}

/* The three passes over a set: afterwards set holds its reachable objects
 * (no flags) and out the unreachable ones (COLLECTING|UNREACHABLE). */
static size_t collect_partition(pm_gchead_t *set, pm_gchead_t *out) {
  size_t n = collect_update_refs(set);
  COLLECT_VALIDATE(set, PM_GCF_COLLECTOR, PM_GCF_COLLECTING);
  collect_subtract_refs(set);
  collect_move_unreachable(set, out);
  COLLECT_VALIDATE(set, PM_GCF_COLLECTOR, 0);
  COLLECT_VALIDATE(out, PM_GCF_COLLECTOR, PM_GCF_COLLECTOR);
  return n;
}

/* handle_weakrefs: detach the weakrefs of every object of l; returns the
 * callbacks to run (weakrefs that are not garbage themselves). */
static pmi_wrlist_t collect_weakrefs(pm_gchead_t *l) {
  pmi_wrlist_t callbacks = {0};
  for (pm_gchead_t *h = l->next; h != l; h = h->next)
    if (gc_flags(h) & PM_GCF_WEAKREFS) pmi_weakref_clear_locked(gc_obj(h), &callbacks);
  return callbacks;
}

/* finalize_garbage: returns true if any finalizer ran.  Objects are moved
 * to a side list one at a time, so a finalizer that frees or untracks
 * objects of l (they unlink themselves) cannot break the iteration. */
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
  collect_partition(unreachable, final);
  gc_list_merge(unreachable, old);
}

/* Prints "gc: <what> <type 0x...>" for each object of l (DEBUG_COLLECTABLE
 * and DEBUG_UNCOLLECTABLE, CPython's debug_cycle). */
static void collect_debug_list(const char *what, pm_gchead_t *l) {
  for (pm_gchead_t *h = l->next; h != l; h = h->next) {
    const pm_type_t *t = gc_type(h);
    pmi_fmt_message("gc: %s <%s %p>", what, t->name ? t->name : "?", gc_obj(h));
  }
}

/* delete_garbage: clear() every object of l; the ones still alive after
 * every clear() and every death it caused end on survivors. */
static void collect_delete(pm_gchead_t *l, pm_gchead_t *survivors) {
  while (!gc_list_is_empty(l)) {
    pm_gchead_t *h = l->next;
    gc_flag_clear(h, PM_GCF_COLLECTOR);
    gc_list_move(h, survivors);        /* unlinks itself if freed */
    void *o = gc_obj(h);
    pm_incref(o);
    gc_type(h)->clear(o);
    pm_decref(o);
  }
}

/* Moves every object of l to the garbage list, with a reference each. */
static void collect_to_garbage(pm_gchead_t *l) {
  while (!gc_list_is_empty(l)) {
    pm_gchead_t *h = l->next;
    gc_flag_clear(h, PM_GCF_COLLECTOR);
    gc_list_move(h, &pmi_gc.garbage);
    pm_incref(gc_obj(h));
  }
}

/* ---- One collection ------------------------------------------------------ */
typedef struct collect_result_s {
  long collected;              /* unreachable objects found, plus weakrefs
                                  freed right after their callbacks      */
  long uncollectable;          /* unreachable and not freed: gc.garbage  */
  size_t candidates;           /* objects examined                       */
} collect_result_t;

static collect_result_t collect_locked(int gen) {
  collect_result_t res = {0};
  pm_gchead_t *young = &pmi_gc.gen[gen];
  pm_gchead_t *old = gen + 1 < PM_GC_NGEN ? &pmi_gc.gen[gen + 1] : young;
  pm_gchead_t unreachable, final, survivors, uncollectable;
  gc_list_init(&unreachable);
  gc_list_init(&final);
  gc_list_init(&survivors);
  gc_list_init(&uncollectable);
  unsigned debug = pm_atomic_load_relaxed(&pmi_gc.debug);

  /* counts as CPython: this generation's count restarts, the next one's
   * counts one more collection of this one */
  if (gen == PM_GC_NGEN - 1) pm_assert_expensive(pmi_collect_state_is_valid());
  if (gen + 1 < PM_GC_NGEN) pmi_gc.count[gen + 1]++;
  for (int i = 0; i <= gen; i++) pmi_gc.count[i] = 0;
  for (int i = 0; i < gen; i++) gc_list_merge(&pmi_gc.gen[i], young);
  COLLECT_VALIDATE(young, PM_GCF_COLLECTOR, 0);

  res.candidates = collect_partition(young, &unreachable);

  /* promote the survivors */
  if (gen == 2) {
    pmi_gc.long_lived_pending = 0;
    pmi_gc.long_lived_total = gc_list_size(young);
  } else if (gen == 1) {
    pmi_gc.long_lived_pending += gc_list_size(young);
  }
  if (young != old) gc_list_merge(young, old);
  if (gc_list_is_empty(&unreachable)) return res;

  pmi_wrlist_t callbacks = collect_weakrefs(&unreachable);
  res.collected += pmi_weakref_run_callbacks(&callbacks);
  COLLECT_VALIDATE(&unreachable, PM_GCF_COLLECTOR, PM_GCF_COLLECTOR);

  if (collect_finalize(&unreachable)) {
    collect_resurrected(&unreachable, &final, old);
    /* finalizers may have created weakrefs to the garbage: detach them
     * too, before anything is cleared */
    callbacks = collect_weakrefs(&final);
    res.collected += pmi_weakref_run_callbacks(&callbacks);
  } else {
    gc_list_merge(&unreachable, &final);
  }
  COLLECT_VALIDATE(&final, PM_GCF_COLLECTOR, PM_GCF_COLLECTOR);
  res.collected += (long)gc_list_size(&final);
  if (debug & PM_GC_DEBUG_COLLECTABLE) collect_debug_list("collectable", &final);
  if (debug & PM_GC_DEBUG_SAVEALL) {
    collect_to_garbage(&final);
    return res;
  }
  collect_delete(&final, &survivors);
  if (!gc_list_is_empty(&survivors)) {
    /* CPython's uncollectable: unreachable, and the collector could not
     * free them (a clear() that kept a reference).  Objects merely alive
     * for a reason (a clear() that stored one in a live object) rejoin old.
     * Deaths are never deferred past this point (fresh dealloc level). */
    COLLECT_VALIDATE(&survivors, PM_GCF_COLLECTOR, 0);
    collect_partition(&survivors, &uncollectable);
    gc_list_merge(&survivors, old);
    res.uncollectable = (long)gc_list_size(&uncollectable);
    if (debug & PM_GC_DEBUG_UNCOLLECTABLE) collect_debug_list("uncollectable", &uncollectable);
    collect_to_garbage(&uncollectable);
  }
  return res;
}

/* The collection's duration needs a fine clock (the core's decay clock is
 * the coarse one, 4 ms ticks). */
static uint64_t collect_clock_ns(void) { return pmi_alloc_clock_ns(); }

PM_EXPORT long pm_gc_collect(int gen) {
  if (gen < 0 || gen >= PM_GC_NGEN) gen = PM_GC_NGEN - 1;
  /* The "collection running" mark lives under the lock with the owner's
   * identity, so the fork handlers see it consistently (issue 13, bug 1). */
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  bool busy = pmi_gc.collector != 0;
  if (!busy) pmi_gc.collector = gc_self();
  gc_unlock(&pmi_gc.lock);
  if (busy) return -1;

  pm_gc_info_t info = {.generation = gen};
  pmi_control_callbacks(PM_GC_PHASE_START, &info);
  uint64_t t0 = collect_clock_ns();

  gc_lock(&pmi_gc.lock);
  size_t bytes_before = pmi_gc.live_bytes;
  pmi_dealloc_level_t outer;
  pmi_dealloc_level_enter(&outer);
  collect_result_t res = collect_locked(gen);
  pmi_dealloc_level_leave(&outer);
  pm_assert(res.collected >= 0 && res.uncollectable >= 0);
  pm_assert_expensive(gen != PM_GC_NGEN - 1 || pmi_collect_state_is_valid());
  size_t quarantined = pmi_dealloc_quarantine_release_locked();
  pmi_gc.bytes_since_young = 0;
  if (gen == PM_GC_NGEN - 1) {
    pmi_gc.bytes_since_full = 0;
    pmi_gc.live_bytes_after_full = pmi_gc.live_bytes;
  }
  size_t freed = bytes_before > pmi_gc.live_bytes ? bytes_before - pmi_gc.live_bytes : 0;
  unsigned debug = pm_atomic_load_relaxed(&pmi_gc.debug);
  size_t trim_threshold = pmi_gc.trim_threshold;
  gc_unlock(&pmi_gc.lock);

  /* Issue 4, "memory goes back promptly": the pools this collection
   * emptied go back now rather than after the decay delay; so do those the
   * quarantine pinned (it holds few bytes but one block in many pools). */
  if ((res.collected > 0 && freed >= trim_threshold) || quarantined > 0) pmi_alloc_trim();
  double duration = (double)(collect_clock_ns() - t0) / 1e9;

  gc_lock(&pmi_gc.lock);
  pm_gc_stats_t *st = &pmi_gc.stats[gen];
  st->collections++;
  st->collected += (size_t)res.collected;
  st->uncollectable += (size_t)res.uncollectable;
  st->candidates += res.candidates;
  st->duration += duration;
  gc_unlock(&pmi_gc.lock);
  if (debug & PM_GC_DEBUG_STATS)
    pmi_fmt_message("gc: collected generation %d: %ld unreachable, %ld uncollectable, "
                    "%zu candidates, %zu bytes freed, %lu us",
                    gen, res.collected, res.uncollectable, res.candidates, freed,
                    (unsigned long)(duration * 1e6));

  info.collected = res.collected;
  info.uncollectable = res.uncollectable;
  info.candidates = res.candidates;
  info.duration = duration;
  pmi_control_callbacks(PM_GC_PHASE_STOP, &info);
  gc_lock(&pmi_gc.lock);
  pm_assert(pmi_gc.collector == gc_self());
  pmi_gc.collector = 0;
  gc_unlock(&pmi_gc.lock);
  return res.collected;
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
  if (!pmi_gc.enabled || pmi_gc.threshold[0] == 0 || pmi_gc.collector != 0) return -1;
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
