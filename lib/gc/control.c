/* SPDX-License-Identifier: MIT */
/* gc/control.c — the control API of the GC layer, the counterpart of the
 * switches of Python's gc module (issue 4), and the layer's state.
 *
 * Owns: the single struct pmi_gc_state instance (pmi_gc) with its defaults
 * and its fork handlers, enable/disable, thresholds, counts, freeze/
 * unfreeze, debug flags and the garbage list, per-generation statistics and
 * start/stop callbacks.  The object queries (get_objects, referrers,
 * referents, the DOT dump) are introspect.c's.
 * Every function takes the layer lock with a plain gc_lock/gc_unlock pair
 * around its body (gc_internal.h, locking rules); none allocates (callers
 * pass buffers), none uses stdio.
 */
#include "gc_internal.h"
#include <pthread.h>

PM_INTERNAL __thread char pmi_gc_tid __attribute__((tls_model("initial-exec")));

PM_INTERNAL struct pmi_gc_state pmi_gc = {
    .enabled = true,
    .debug = PM_DEBUG > 0 ? PM_GC_DEBUG_QUARANTINE : 0,
    .threshold = {2000, 10, 10},           /* CPython 3.12's defaults */
    .bytes_threshold = (size_t)64 << 20,
    .trim_threshold = (size_t)1 << 20,
};

/* ---- fork ------------------------------------------------------------------ */
/* No other thread may hold the layer lock at the moment of the fork, or the
 * child could never take it: prepare takes it.  Registered after the core's
 * handlers, so ours prepare first (a holder of our lock may still need the
 * allocator's locks) and run last in the child.  The child's only thread is
 * the forking one, whose TLS address is the owner recorded before.
 *
 * Everything else the lock protects is consistent at that moment, except
 * what belongs to a thread that is not in the child (issue 13, bug 1):
 *   - a collection running in another thread (between its START callbacks
 *     and its end, where it does not hold the lock): the child has none
 *     running, so its mark is cleared.  A collection of the forking thread
 *     itself (fork from a callback or finalizer) goes on in the child.
 *   - objects whose death was under way in another thread: they leak in the
 *     child (they were already off the layer's books or, refcount 0 and
 *     still tracked, are roots forever); nothing can reach them. */
static void control_fork_prepare(void) { gc_lock(&pmi_gc.lock); }
static void control_fork_parent(void) { gc_unlock(&pmi_gc.lock); }
static void control_fork_child(void) {
  pm_assert(gc_lock_held(&pmi_gc.lock));
  if (pmi_gc.collector != gc_self()) pmi_gc.collector = 0;
  gc_unlock(&pmi_gc.lock);
}

PM_INTERNAL void pmi_control_init_locked(void) {
  pm_assert_internal(gc_lock_held(&pmi_gc.lock));
  for (int i = 0; i < PM_GC_NGEN; i++) gc_list_init(&pmi_gc.gen[i]);
  gc_list_init(&pmi_gc.permanent);
  gc_list_init(&pmi_gc.immortal);
  gc_list_init(&pmi_gc.garbage);
  pmi_gc.lists_ready = true;
  pthread_atfork(control_fork_prepare, control_fork_parent, control_fork_child);
}

/* Takes the lock and makes sure the lists exist. */
static void control_lock(void) {
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
}
static void control_unlock(void) { gc_unlock(&pmi_gc.lock); }

/* ---- Switches and thresholds -------------------------------------------- */
PM_EXPORT void pm_gc_enable(void) {
  control_lock();
  pmi_gc.enabled = true;
  control_unlock();
}
PM_EXPORT void pm_gc_disable(void) {
  control_lock();
  pmi_gc.enabled = false;
  control_unlock();
}
PM_EXPORT int pm_gc_isenabled(void) {
  control_lock();
  int r = pmi_gc.enabled;
  control_unlock();
  return r;
}

PM_EXPORT void pm_gc_set_threshold(long t0, long t1, long t2) {
  control_lock();
  pmi_gc.threshold[0] = t0 < 0 ? 0 : t0;
  pmi_gc.threshold[1] = t1 < 0 ? 0 : t1;
  pmi_gc.threshold[2] = t2 < 0 ? 0 : t2;
  control_unlock();
}
PM_EXPORT void pm_gc_get_threshold(long out[3]) {
  control_lock();
  for (int i = 0; i < PM_GC_NGEN; i++) out[i] = pmi_gc.threshold[i];
  control_unlock();
}
PM_EXPORT void pm_gc_set_bytes_threshold(size_t bytes) {
  control_lock();
  pmi_gc.bytes_threshold = bytes;
  control_unlock();
}
PM_EXPORT size_t pm_gc_get_bytes_threshold(void) {
  control_lock();
  size_t r = pmi_gc.bytes_threshold;
  control_unlock();
  return r;
}
PM_EXPORT void pm_gc_set_trim_threshold(size_t bytes) {
  control_lock();
  pmi_gc.trim_threshold = bytes;
  control_unlock();
}
PM_EXPORT void pm_gc_get_count(long out[3]) {
  control_lock();
  for (int i = 0; i < PM_GC_NGEN; i++) out[i] = pmi_gc.count[i];
  control_unlock();
}
PM_EXPORT void pm_gc_set_atomic_default(int atomic) {
  control_lock();
  pmi_gc.atomic_default = atomic != 0;
  control_unlock();
}
PM_EXPORT size_t pm_gc_live_objects(void) {
  control_lock();
  size_t r = pmi_gc.live_objects;
  control_unlock();
  return r;
}
/* debug is also read without the lock (dealloc.c, per free): atomic
 * accesses, written under the lock. */
PM_EXPORT void pm_gc_set_debug(unsigned flags) {
  control_lock();
  pm_atomic_store_relaxed(&pmi_gc.debug, flags);
  if (!(flags & PM_GC_DEBUG_QUARANTINE)) pmi_dealloc_quarantine_release_locked();
  control_unlock();
}
PM_EXPORT unsigned pm_gc_get_debug(void) { return pm_atomic_load_relaxed(&pmi_gc.debug); }

static pm_gchead_t *control_list(int gen) {
  if (gen >= 0 && gen < PM_GC_NGEN) return &pmi_gc.gen[gen];
  if (gen == PM_GC_PERMANENT) return &pmi_gc.permanent;
  return NULL;
}

PM_EXPORT size_t pm_gc_gen_size(int gen) {
  control_lock();
  pm_gchead_t *l = control_list(gen);
  size_t n = l ? gc_list_size(l) : 0;
  control_unlock();
  return n;
}

/* ---- Freeze (gc.freeze: before fork, keep the heap's pages shared) -------- */
PM_EXPORT void pm_gc_freeze(void) {
  control_lock();
  pm_assert_expensive(pmi_collect_state_is_valid());
  for (int i = 0; i < PM_GC_NGEN; i++) gc_list_merge(&pmi_gc.gen[i], &pmi_gc.permanent);
  pmi_gc.count[0] = 0;
  control_unlock();
}
PM_EXPORT void pm_gc_unfreeze(void) {
  control_lock();
  gc_list_merge(&pmi_gc.permanent, &pmi_gc.gen[PM_GC_NGEN - 1]);
  control_unlock();
}
PM_EXPORT size_t pm_gc_get_freeze_count(void) { return pm_gc_gen_size(PM_GC_PERMANENT); }

/* ---- The garbage list (gc.garbage) ---------------------------------------- */
PM_EXPORT size_t pm_gc_get_garbage(void **out, size_t cap) {
  size_t n = 0;
  control_lock();
  for (pm_gchead_t *h = pmi_gc.garbage.next; h != &pmi_gc.garbage; h = h->next, n++)
    if (n < cap) out[n] = gc_obj(h);
  control_unlock();
  return n;
}

/* The list's reference is dropped after the object is back in generation 2
 * (the drop may free it, or anything it holds, right away). */
PM_EXPORT void pm_gc_clear_garbage(void) {
  control_lock();
  while (!gc_list_is_empty(&pmi_gc.garbage)) {
    pm_gchead_t *h = pmi_gc.garbage.next;
    pm_assert_internal((gc_flags(h) & PM_GCF_COLLECTOR) == 0);
    gc_list_move(h, &pmi_gc.gen[PM_GC_NGEN - 1]);
    pm_decref(gc_obj(h));
  }
  control_unlock();
}

/* `gc.garbage.remove(o)`: one entry only. */
PM_EXPORT int pm_gc_garbage_remove(void *o) {
  int rc = -1;
  control_lock();
  for (pm_gchead_t *h = pmi_gc.garbage.next; h != &pmi_gc.garbage; h = h->next) {
    if (gc_obj(h) != o) continue;
    gc_list_move(h, &pmi_gc.gen[PM_GC_NGEN - 1]);
    rc = 0;
    break;
  }
  control_unlock();
  if (rc == 0) pm_decref(o);
  return rc;
}

/* ---- Statistics and callbacks -------------------------------------------- */
PM_EXPORT void pm_gc_get_stats(pm_gc_stats_t out[PM_GC_NGEN]) {
  control_lock();
  for (int i = 0; i < PM_GC_NGEN; i++) out[i] = pmi_gc.stats[i];
  control_unlock();
}

PM_EXPORT int pm_gc_callback_add(pm_gc_callback_fn fn, void *data) {
  int rc = -1;
  control_lock();
  for (int i = 0; i < PM_GC_MAX_CALLBACKS; i++) {
    if (pmi_gc.callbacks[i].fn != NULL) continue;
    pmi_gc.callbacks[i] = (gc_callback_t){fn, data};
    rc = 0;
    break;
  }
  control_unlock();
  return rc;
}

PM_EXPORT int pm_gc_callback_remove(pm_gc_callback_fn fn, void *data) {
  int rc = -1;
  control_lock();
  for (int i = 0; i < PM_GC_MAX_CALLBACKS; i++) {
    if (pmi_gc.callbacks[i].fn != fn || pmi_gc.callbacks[i].data != data) continue;
    pmi_gc.callbacks[i] = (gc_callback_t){NULL, NULL};
    rc = 0;
    break;
  }
  control_unlock();
  return rc;
}

/* Called without the lock, so a callback may stop other threads that are
 * waiting for it; the table is copied first. */
PM_INTERNAL void pmi_control_callbacks(int phase, const pm_gc_info_t *info) {
  gc_callback_t cbs[PM_GC_MAX_CALLBACKS];
  control_lock();
  for (int i = 0; i < PM_GC_MAX_CALLBACKS; i++) cbs[i] = pmi_gc.callbacks[i];
  control_unlock();
  for (int i = 0; i < PM_GC_MAX_CALLBACKS; i++)
    if (cbs[i].fn) cbs[i].fn(phase, info, cbs[i].data);
}
