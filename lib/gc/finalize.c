/* SPDX-License-Identifier: MIT */
/* gc/finalize.c — Python's weakref.finalize for C: a function that runs
 * once, when an object dies or at exit (issue 13; docs/gc.md,
 * "weakref.finalize").
 *
 * Owns: the finalizer type and pm_finalize_*, the registry of alive
 * finalizers and the exit hook.
 *
 * A finalizer f for referent r is a GC object holding
 *   wr         an owned weak reference to r (weakref.c), whose callback
 *              runs f when r dies
 *   fn, data   the function and a plain pointer passed to it
 *   obj        a GC object passed to it, held strongly until f runs
 * and, while alive, it sits in the registry, which holds a reference to it
 * (CPython's finalize._registry), so the caller may drop its own.
 *
 * States:  ALIVE (in the registry) ──r dies, or pm_finalize_call, or the
 *          exit hook (atexit set)──> DEAD: out of the registry, wr
 *          disowned, fn(obj, data) called exactly once (not at all once
 *          the exit hook has run: CPython's _shutdown)
 *          ALIVE ──pm_finalize_detach──> DEAD without the call
 * Every transition out of ALIVE happens under the layer lock, which is
 * what makes "exactly once" true when r dies in one thread while another
 * calls or detaches f.
 *
 * At exit (a library destructor: no atexit() call, which may allocate),
 * the alive finalizers with atexit set run newest first, as CPython's
 * finalize._exitfunc; those created meanwhile are picked up too.
 * Threads: a finalizer of an ATOMIC referent is ATOMIC, and its obj must be
 * ATOMIC or immortal (fn and the drop of obj run where r dies).
 */
#include "gc_internal.h"
#include <errno.h>

struct pmi_finalize_s {
  void *wr;                        /* owned weak reference, strong        */
  pm_finalize_fn fn;
  void *obj;                       /* strong, may be NULL                 */
  void *data;
  bool alive, atexit;
  uint64_t index;                  /* creation order                      */
  pmi_finalize_t *reg_prev, *reg_next;   /* the registry, while alive     */
};

static int finalize_traverse(void *self, pm_visit_fn visit, void *arg) {
  pmi_finalize_t *f = self;
  PM_VISIT(f->wr);
  PM_VISIT(f->obj);
  return 0;
}

static void finalize_clear(void *self) {
  pmi_finalize_t *f = self;
  gc_lock(&pmi_gc.lock);
  if (f->wr) pmi_weakref_disown_locked(f->wr);
  gc_unlock(&pmi_gc.lock);
  PM_CLEAR(f->wr);
  PM_CLEAR(f->obj);
}

static pm_type_t finalize_type = {.name = "finalize", .basicsize = sizeof(pmi_finalize_t),
                                  .traverse = finalize_traverse, .clear = finalize_clear};

static pmi_finalize_t *finalize_of(const void *f) {
  if (f == NULL || pm_obj_type(f) != &finalize_type) { errno = EINVAL; return NULL; }
  return (pmi_finalize_t *)f;
}

/* ALIVE -> DEAD.  Returns what the caller must call and drop (outside the
 * lock): the registry's reference to f comes back in *registry_ref. */
typedef struct finalize_taken_s {
  pm_finalize_fn fn;
  void *obj, *data;
  pmi_finalize_t *registry_ref;
} finalize_taken_t;

static finalize_taken_t finalize_take_locked(pmi_finalize_t *f) {
  pm_assert_internal(gc_lock_held(&pmi_gc.lock));
  finalize_taken_t t = {0};
  /* alive <=> in the registry */
  pm_assert_internal(f->alive == (f->reg_prev != NULL || pmi_gc.finalizers_first == f));
  if (!f->alive) return t;
  f->alive = false;
  if (f->reg_prev) f->reg_prev->reg_next = f->reg_next;
  else pmi_gc.finalizers_first = f->reg_next;
  if (f->reg_next) f->reg_next->reg_prev = f->reg_prev;
  else pm_atomic_store_release(&pmi_gc.finalizers_last, f->reg_prev);
  f->reg_prev = f->reg_next = NULL;
  if (f->wr) pmi_weakref_disown_locked(f->wr);
  t = (finalize_taken_t){f->fn, f->obj, f->data, f};
  f->obj = NULL;
  return t;
}

/* Calls fn (unless shut down), then drops obj and the registry's reference. */
static void finalize_run(finalize_taken_t t, bool call) {
  if (t.registry_ref == NULL) return;
  if (call && t.fn) t.fn(t.obj, t.data);
  pm_xdecref(t.obj);
  pm_decref(t.registry_ref);
}

/* The owned weak reference's callback: the referent died. */
static void finalize_on_death(void *wr, void *unused) {
  gc_lock(&pmi_gc.lock);
  pmi_finalize_t *f = pmi_weakref_owner_locked(wr, NULL);
  finalize_taken_t t = f ? finalize_take_locked(f) : (finalize_taken_t){0};
  bool call = !pmi_gc.finalize_shutdown;
  gc_unlock(&pmi_gc.lock);
  finalize_run(t, call);
}

PM_EXPORT void *pm_finalize_new(void *referent, pm_finalize_fn fn, void *obj, void *data) {
  if (referent == NULL || fn == NULL) { errno = EINVAL; return NULL; }
  bool atomic = gc_is_atomic(gc_head(referent));
  if (obj && atomic && !gc_is_atomic(gc_head(obj)) && !gc_is_immortal(gc_head(obj))) {
    errno = EINVAL;
    return NULL;
  }
  pmi_finalize_t *f = pm_obj_new_flags(&finalize_type, 0, atomic ? PM_OBJ_ATOMIC : 0);
  if (f == NULL) return NULL;
  f->wr = pmi_weakref_new_owned(referent, finalize_on_death, f, 0);
  if (f->wr == NULL) {
    int err = errno;
    pm_decref(f);
    errno = err;
    return NULL;
  }
  f->fn = fn;
  f->obj = obj;
  if (obj) pm_incref(obj);
  f->data = data;
  f->atexit = true;
  pm_incref(f);                          /* the registry's reference */
  gc_lock(&pmi_gc.lock);
  pm_assert(!f->alive && f->reg_prev == NULL && f->reg_next == NULL);
  f->alive = true;
  f->index = pmi_gc.finalizers_made++;
  f->reg_prev = pmi_gc.finalizers_last;
  if (f->reg_prev) f->reg_prev->reg_next = f;
  else pmi_gc.finalizers_first = f;
  pm_atomic_store_release(&pmi_gc.finalizers_last, f);   /* read unlocked at exit */
  gc_unlock(&pmi_gc.lock);
  return f;
}

PM_EXPORT int pm_finalize_call(void *fp) {
  pmi_finalize_t *f = finalize_of(fp);
  if (f == NULL) return -1;
  gc_lock(&pmi_gc.lock);
  finalize_taken_t t = finalize_take_locked(f);
  bool call = !pmi_gc.finalize_shutdown;
  gc_unlock(&pmi_gc.lock);
  finalize_run(t, call);
  return t.registry_ref != NULL;
}

PM_EXPORT int pm_finalize_detach(void *fp, void **referent, void **obj, void **data) {
  pmi_finalize_t *f = finalize_of(fp);
  if (f == NULL) return -1;
  gc_lock(&pmi_gc.lock);
  void *r = f->alive && f->wr ? pmi_weakref_get_locked(f->wr) : NULL;
  finalize_taken_t t = finalize_take_locked(f);
  gc_unlock(&pmi_gc.lock);
  if (t.registry_ref == NULL) return 0;
  if (referent) *referent = r; else pm_xdecref(r);
  if (obj) *obj = t.obj; else pm_xdecref(t.obj);
  if (data) *data = t.data;
  pm_decref(t.registry_ref);
  return 1;
}

PM_EXPORT int pm_finalize_alive(const void *fp) {
  pmi_finalize_t *f = finalize_of(fp);
  if (f == NULL) return -1;
  gc_lock(&pmi_gc.lock);
  int r = f->alive;
  gc_unlock(&pmi_gc.lock);
  return r;
}

PM_EXPORT int pm_finalize_set_atexit(void *fp, int run_at_exit) {
  pmi_finalize_t *f = finalize_of(fp);
  if (f == NULL) return -1;
  gc_lock(&pmi_gc.lock);
  f->atexit = run_at_exit != 0;
  gc_unlock(&pmi_gc.lock);
  return 0;
}

PM_EXPORT int pm_finalize_get_atexit(const void *fp) {
  pmi_finalize_t *f = finalize_of(fp);
  if (f == NULL) return -1;
  gc_lock(&pmi_gc.lock);
  int r = f->atexit;
  gc_unlock(&pmi_gc.lock);
  return r;
}

/* ---- At exit ------------------------------------------------------------------ */
/* Newest first, each picked under the lock, so finalizers that create new
 * ones are seen; afterwards no finalizer function runs any more.  Every
 * process that loads the library runs this: one that never made a
 * finalizer only reads a pointer, and one whose other thread still holds
 * the layer lock at exit (the program exits without joining it) skips the
 * exit-time finalizers rather than hanging in a destructor. */
static bool finalize_lock_at_exit(void) {
  for (int tries = 0; tries < 1000; tries++) {
    if (gc_lock_try(&pmi_gc.lock)) return true;
    sched_yield();
  }
  return false;
}

__attribute__((destructor)) static void finalize_at_exit(void) {
  if (pm_atomic_load_acquire(&pmi_gc.finalizers_last) == NULL) return;
  for (;;) {
    if (!finalize_lock_at_exit()) return;
    pmi_finalize_t *f = pmi_gc.finalizers_last;
    while (f && !f->atexit) f = f->reg_prev;
    finalize_taken_t t = f ? finalize_take_locked(f) : (finalize_taken_t){0};
    if (f == NULL) pmi_gc.finalize_shutdown = true;
    gc_unlock(&pmi_gc.lock);
    if (f == NULL) break;
    finalize_run(t, true);
  }
}
