/* SPDX-License-Identifier: MIT */
/* gc/control.c — the control and introspection API of the GC layer, the
 * counterpart of Python's gc module (issue 4), and the layer's state.
 *
 * Owns: the single struct pmi_gc_state instance (pmi_gc) with its defaults,
 * enable/disable, thresholds, counts, get_objects/get_referrers/
 * get_referents, freeze/unfreeze, debug flags and the garbage list,
 * per-generation statistics and start/stop callbacks.
 * Every function takes the layer lock; none allocates (callers pass
 * buffers), none uses stdio.
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

/* fork(): no other thread may hold the layer lock at the moment of the
 * fork, or the child could never take it.  Registered after the core's
 * handlers, so ours prepare first (a holder of our lock may still need the
 * allocator's locks) and run last in the child.  The child's only thread
 * is the forking one, whose TLS address is the owner recorded before. */
static void control_fork_prepare(void) { gc_lock(&pmi_gc.lock); }
static void control_fork_release(void) { gc_unlock(&pmi_gc.lock); }

PM_INTERNAL void pmi_control_init_locked(void) {
  for (int i = 0; i < PM_GC_NGEN; i++) gc_list_init(&pmi_gc.gen[i]);
  gc_list_init(&pmi_gc.permanent);
  gc_list_init(&pmi_gc.immortal);
  gc_list_init(&pmi_gc.garbage);
  pmi_gc.lists_ready = true;
  pthread_atfork(control_fork_prepare, control_fork_release, control_fork_release);
}

#define GC_LOCKED(...)                                                         \
  do {                                                                         \
    gc_lock(&pmi_gc.lock);                                                     \
    gc_ensure_init_locked();                                                   \
    __VA_ARGS__;                                                               \
    gc_unlock(&pmi_gc.lock);                                                   \
  } while (0)

/* ---- Switches and thresholds -------------------------------------------- */
PM_EXPORT void pm_gc_enable(void) { GC_LOCKED(pmi_gc.enabled = true); }
PM_EXPORT void pm_gc_disable(void) { GC_LOCKED(pmi_gc.enabled = false); }
PM_EXPORT int pm_gc_isenabled(void) { int r; GC_LOCKED(r = pmi_gc.enabled); return r; }

PM_EXPORT void pm_gc_set_threshold(long t0, long t1, long t2) {
  GC_LOCKED(pmi_gc.threshold[0] = t0 < 0 ? 0 : t0; pmi_gc.threshold[1] = t1 < 0 ? 0 : t1;
            pmi_gc.threshold[2] = t2 < 0 ? 0 : t2);
}
PM_EXPORT void pm_gc_get_threshold(long out[3]) {
  GC_LOCKED(for (int i = 0; i < PM_GC_NGEN; i++) out[i] = pmi_gc.threshold[i]);
}
PM_EXPORT void pm_gc_set_bytes_threshold(size_t bytes) { GC_LOCKED(pmi_gc.bytes_threshold = bytes); }
PM_EXPORT size_t pm_gc_get_bytes_threshold(void) { size_t r; GC_LOCKED(r = pmi_gc.bytes_threshold); return r; }
PM_EXPORT void pm_gc_set_trim_threshold(size_t bytes) { GC_LOCKED(pmi_gc.trim_threshold = bytes); }
PM_EXPORT void pm_gc_get_count(long out[3]) {
  GC_LOCKED(for (int i = 0; i < PM_GC_NGEN; i++) out[i] = pmi_gc.count[i]);
}
PM_EXPORT void pm_gc_set_atomic_default(int atomic) { GC_LOCKED(pmi_gc.atomic_default = atomic != 0); }
PM_EXPORT size_t pm_gc_live_objects(void) { size_t r; GC_LOCKED(r = pmi_gc.live_objects); return r; }
PM_EXPORT void pm_gc_set_debug(unsigned flags) { GC_LOCKED(pmi_gc.debug = flags); }
PM_EXPORT unsigned pm_gc_get_debug(void) { unsigned r; GC_LOCKED(r = pmi_gc.debug); return r; }

static pm_gchead_t *control_list(int gen) {
  if (gen >= 0 && gen < PM_GC_NGEN) return &pmi_gc.gen[gen];
  if (gen == PM_GC_PERMANENT) return &pmi_gc.permanent;
  return NULL;
}

PM_EXPORT size_t pm_gc_gen_size(int gen) {
  size_t n = 0;
  GC_LOCKED(pm_gchead_t *l = control_list(gen); n = l ? gc_list_size(l) : 0);
  return n;
}

/* ---- Objects and references ------------------------------------------------ */
/* Every list that holds tracked objects, for the -1 ("all") queries. */
static pm_gchead_t *control_all_lists(int i) {
  switch (i) {
    case 0: case 1: case 2: return &pmi_gc.gen[i];
    case 3: return &pmi_gc.permanent;
    case 4: return &pmi_gc.immortal;
    case 5: return &pmi_gc.garbage;
    default: return NULL;
  }
}

PM_EXPORT size_t pm_gc_get_objects(int gen, void **out, size_t cap) {
  size_t n = 0;
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  for (int i = 0;; i++) {
    pm_gchead_t *l = gen == -1 ? control_all_lists(i) : (i == 0 ? control_list(gen) : NULL);
    if (l == NULL) break;
    for (pm_gchead_t *h = l->next; h != l; h = h->next, n++)
      if (n < cap) out[n] = gc_obj(h);
  }
  gc_unlock(&pmi_gc.lock);
  return n;
}

typedef struct refs_query_s {
  const void *target;
  bool hit;
  void **out;
  size_t cap, n;
} refs_query_t;

static int visit_find(void *o, void *arg) {
  refs_query_t *q = arg;
  if (o == q->target) { q->hit = true; return 1; }
  return 0;
}

PM_EXPORT size_t pm_gc_get_referrers(const void *o, void **out, size_t cap) {
  refs_query_t q = {.target = o};
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  for (int i = 0; control_all_lists(i); i++) {
    pm_gchead_t *l = control_all_lists(i);
    for (pm_gchead_t *h = l->next; h != l; h = h->next) {
      q.hit = false;
      gc_type(h)->traverse(gc_obj(h), visit_find, &q);
      if (q.hit) {
        if (q.n < cap) out[q.n] = gc_obj(h);
        q.n++;
      }
    }
  }
  gc_unlock(&pmi_gc.lock);
  return q.n;
}

static int visit_collect(void *o, void *arg) {
  refs_query_t *q = arg;
  if (q->n < q->cap) q->out[q->n] = o;
  q->n++;
  return 0;
}

PM_EXPORT size_t pm_gc_get_referents(void *o, void **out, size_t cap) {
  refs_query_t q = {.out = out, .cap = cap};
  const pm_type_t *t = gc_type(gc_head(o));
  if (t->traverse == NULL) return 0;
  gc_lock(&pmi_gc.lock);
  t->traverse(o, visit_collect, &q);
  gc_unlock(&pmi_gc.lock);
  return q.n;
}

/* ---- Freeze (gc.freeze: before fork, keep the heap's pages shared) -------- */
PM_EXPORT void pm_gc_freeze(void) {
  GC_LOCKED(for (int i = 0; i < PM_GC_NGEN; i++) gc_list_merge(&pmi_gc.gen[i], &pmi_gc.permanent);
            pmi_gc.count[0] = 0);
}
PM_EXPORT void pm_gc_unfreeze(void) {
  GC_LOCKED(gc_list_merge(&pmi_gc.permanent, &pmi_gc.gen[PM_GC_NGEN - 1]));
}
PM_EXPORT size_t pm_gc_get_freeze_count(void) { return pm_gc_gen_size(PM_GC_PERMANENT); }

/* ---- The garbage list (PM_GC_DEBUG_SAVEALL) ------------------------------ */
PM_EXPORT size_t pm_gc_get_garbage(void **out, size_t cap) {
  size_t n = 0;
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  for (pm_gchead_t *h = pmi_gc.garbage.next; h != &pmi_gc.garbage; h = h->next, n++)
    if (n < cap) out[n] = gc_obj(h);
  gc_unlock(&pmi_gc.lock);
  return n;
}

PM_EXPORT void pm_gc_clear_garbage(void) {
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  while (!gc_list_is_empty(&pmi_gc.garbage)) {
    pm_gchead_t *h = pmi_gc.garbage.next;
    gc_list_move(h, &pmi_gc.gen[PM_GC_NGEN - 1]);
    pm_decref(gc_obj(h));
  }
  gc_unlock(&pmi_gc.lock);
}

/* ---- Statistics and callbacks -------------------------------------------- */
PM_EXPORT void pm_gc_get_stats(pm_gc_stats_t out[PM_GC_NGEN]) {
  GC_LOCKED(for (int i = 0; i < PM_GC_NGEN; i++) out[i] = pmi_gc.stats[i]);
}

PM_EXPORT int pm_gc_callback_add(pm_gc_callback_fn fn, void *data) {
  int rc = -1;
  GC_LOCKED(for (int i = 0; i < PM_GC_MAX_CALLBACKS; i++) if (pmi_gc.callbacks[i].fn == NULL) {
    pmi_gc.callbacks[i] = (gc_callback_t){fn, data};
    rc = 0;
    break;
  });
  return rc;
}

PM_EXPORT int pm_gc_callback_remove(pm_gc_callback_fn fn, void *data) {
  int rc = -1;
  GC_LOCKED(for (int i = 0; i < PM_GC_MAX_CALLBACKS; i++) if (pmi_gc.callbacks[i].fn == fn &&
                                                             pmi_gc.callbacks[i].data == data) {
    pmi_gc.callbacks[i] = (gc_callback_t){NULL, NULL};
    rc = 0;
    break;
  });
  return rc;
}

/* Called without the lock, so a callback may stop other threads that are
 * waiting for it; the table is copied first. */
PM_INTERNAL void pmi_control_callbacks(int phase, const pm_gc_info_t *info) {
  gc_callback_t cbs[PM_GC_MAX_CALLBACKS];
  GC_LOCKED(for (int i = 0; i < PM_GC_MAX_CALLBACKS; i++) cbs[i] = pmi_gc.callbacks[i]);
  for (int i = 0; i < PM_GC_MAX_CALLBACKS; i++)
    if (cbs[i].fn) cbs[i].fn(phase, info, cbs[i].data);
}
