/* SPDX-License-Identifier: MIT */
/* gc/object.c — GC objects: the hidden header, the type registry, creation,
 * the refcount slow paths and the deep-dealloc trampoline (issue 4).
 *
 * Owns: pm_type_ready, pm_obj_* and the three slow paths behind the inline
 * pm_incref/pm_decref of include/poolmalloc/gc.h.  Memory comes from
 * pmi_calloc/pmi_free (direct calls, no PLT); never malloc, never stdio.
 *
 * Life of an object (states of one header; docs/gc.md, "Object life"):
 *
 *   pm_obj_new ──> LIVE (refcnt >= 1, tracked iff type->traverse)
 *   LIVE ── decref to 0 ──> DYING: finalize (once, PEP 442; may resurrect
 *           back to LIVE), weak references cleared and their callbacks run,
 *           untracked, pushed on this thread's pending stack
 *   DYING ── trampoline ──> clear() drops its references, dealloc() frees
 *           its resources, the block goes back to the pool (or, with
 *           PM_GC_DEBUG_QUARANTINE, waits poisoned in the quarantine ring)
 *   LIVE ── pm_obj_make_immortal ──> IMMORTAL (never leaves)
 *
 * The trampoline (CPython's "trashcan", without its depth limit): a
 * dealloc that starts while another is running on the same thread only
 * pushes the object on a thread-local stack linked through the header's
 * next field (free once untracked); the outermost dealloc pops until the
 * stack is empty.  So freeing a million-long chain uses O(1) C stack.
 */
#include "gc_internal.h"
#include <errno.h>
#include <string.h>

/* ---- The type registry (open addressing on the type's address) ---------- */
static size_t type_slot(const pm_type_t *t, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)t * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 32) & (cap - 1);
}

PM_INTERNAL bool pmi_object_type_known_locked(const pm_type_t *t) {
  if (pm_likely(t == pmi_gc.last_type && t != NULL)) return true;
  if (pmi_gc.types_cap == 0 || t == NULL) return false;
  for (size_t i = type_slot(t, pmi_gc.types_cap);; i = (i + 1) & (pmi_gc.types_cap - 1)) {
    if (pmi_gc.types[i] == t) { pmi_gc.last_type = t; return true; }
    if (pmi_gc.types[i] == NULL) return false;
  }
}

static int type_register_locked(const pm_type_t *t) {
  if (pmi_object_type_known_locked(t)) return 0;
  if ((pmi_gc.ntypes + 1) * 2 > pmi_gc.types_cap) {
    size_t ncap = pmi_gc.types_cap ? pmi_gc.types_cap * 2 : 64;
    const pm_type_t **nt = pmi_calloc(ncap, sizeof *nt);
    if (nt == NULL) return -1;
    for (size_t i = 0; i < pmi_gc.types_cap; i++) {
      const pm_type_t *x = pmi_gc.types[i];
      if (x == NULL) continue;
      size_t j = type_slot(x, ncap);
      while (nt[j] != NULL) j = (j + 1) & (ncap - 1);
      nt[j] = x;
    }
    pmi_free((void *)pmi_gc.types);
    pmi_gc.types = nt;
    pmi_gc.types_cap = ncap;
  }
  size_t j = type_slot(t, pmi_gc.types_cap);
  while (pmi_gc.types[j] != NULL) j = (j + 1) & (pmi_gc.types_cap - 1);
  pmi_gc.types[j] = t;
  pmi_gc.ntypes++;
  return 0;
}

PM_EXPORT int pm_type_ready(pm_type_t *type) {
  if (type == NULL || ((uintptr_t)type & PM_OBJF_MASK) != 0 || (type->traverse && !type->clear)) {
    errno = EINVAL;
    return -1;
  }
  if (type->ready_ == PM_GC_TYPE_READY) return 0;
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  int rc = type_register_locked(type);
  if (rc == 0) type->ready_ = PM_GC_TYPE_READY;
  gc_unlock(&pmi_gc.lock);
  if (rc != 0) errno = ENOMEM;
  return rc;
}

/* ---- Validation and diagnostics ------------------------------------------ */
/* The header of a freed object waiting in the quarantine. */
static const pm_type_t gc_freed_type = {.name = "<freed>"};
#define GC_QUARANTINE_MARK ((uintptr_t)0x9E3779B0u)

PM_INTERNAL bool pmi_object_is_valid_locked(const void *p) {
  if (p == NULL || ((uintptr_t)p & (PM_ALIGN - 1)) != 0) return false;
  if (!pmi_alloc_owns(p)) return false;
  pm_gchead_t *h = gc_head(p);
  if (!pmi_alloc_owns(h)) return false;
  return pmi_object_type_known_locked(gc_type(h));
}

/* Names o's type without trusting its header more than necessary. */
static const char *object_type_name(const void *o) {
  if (o == NULL || !pmi_alloc_owns(o) || ((uintptr_t)o & (PM_ALIGN - 1)))
    return "?";
  pm_gchead_t *h = gc_head(o);
  if (gc_type(h) == &gc_freed_type && h->prev == GC_QUARANTINE_MARK) {
    const pm_type_t *was = (const pm_type_t *)h->next;
    return was && was->name ? was->name : "?";
  }
  const pm_type_t *t = gc_type(h);
  if (!pmi_object_type_known_locked(t)) return "?";
  return t->name ? t->name : "?";
}

PM_INTERNAL void pmi_object_misuse(const char *what, const void *o) {
  if (pm_config_debug)
    pmi_fatal("gc: %s %p (type %s)", what, o, object_type_name(o));
  pmi_fmt_message("gc: %s %p (type %s)", what, o, object_type_name(o));
}

/* Classifies o: NULL if it is a live object, else what is wrong with it. */
static const char *object_problem(const void *o) {
  if (o == NULL) return "NULL object";
  if (((uintptr_t)o & (PM_ALIGN - 1)) != 0 || !pmi_alloc_owns(o) ||
      !pmi_alloc_owns(gc_head(o)))
    return "not a GC object";
  pm_gchead_t *h = gc_head(o);
  if (gc_type(h) == &gc_freed_type && h->prev == GC_QUARANTINE_MARK) return "use of freed object";
  if (!pmi_object_type_known_locked(gc_type(h))) return "not a GC object (or freed)";
  if (gc_refcnt(h) == 0) return "use of object with refcount 0 (freed?)";
  return NULL;
}

PM_EXPORT void pm_obj_check(const void *o) {
  gc_lock(&pmi_gc.lock);
  const char *problem = object_problem(o);
  gc_unlock(&pmi_gc.lock);
  if (problem) pmi_fatal("gc: %s %p (type %s)", problem, o, object_type_name(o));
}

/* ---- Creation ----------------------------------------------------------- */
/* The bytes an object is accounted for (live_bytes, the bytes trigger):
 * header + basicsize for fixed-size types, which needs no lookup in the
 * allocator, and the block's usable size for variable-size ones. */
static inline size_t object_bytes(const pm_type_t *t, const pm_gchead_t *h) {
  return t->itemsize ? pmi_usable_size(h) : PM_GC_HEADER_SIZE + t->basicsize;
}

PM_EXPORT void *pm_obj_new_flags(pm_type_t *type, size_t nitems, unsigned flags) {
  if (pm_unlikely(type == NULL || type->ready_ != PM_GC_TYPE_READY)) {
    if (pm_type_ready(type) != 0) return NULL;
  }
  size_t size;
  if (__builtin_mul_overflow(nitems, type->itemsize, &size) ||
      __builtin_add_overflow(size, type->basicsize, &size) ||
      __builtin_add_overflow(size, (size_t)PM_GC_HEADER_SIZE, &size)) {
    errno = ENOMEM;
    return NULL;
  }
  pm_gchead_t *h = pmi_malloc(size);
  if (pm_unlikely(h == NULL)) return NULL;
  /* malloc + clearing only the client part beats calloc for small objects:
   * the header is written field by field below anyway. */
  memset(gc_obj(h), 0, size - PM_GC_HEADER_SIZE);
  h->next = NULL;
  h->prev = 0;
  h->gc_refs = 0;
  size_t usable = object_bytes(type, h);
  bool atomic = (flags & PM_OBJ_ATOMIC) || (type->flags & PM_TYPE_ATOMIC) || pmi_gc.atomic_default;
  h->type_bits = (uintptr_t)type | (atomic ? PM_OBJF_ATOMIC : 0);
  __atomic_store_n(&h->refcnt, 1, __ATOMIC_RELAXED);
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  pmi_gc.live_objects++;
  pmi_gc.live_bytes += usable;
  pmi_gc.bytes_since_young += usable;
  pmi_gc.bytes_since_full += usable;
  if (type->traverse && !(flags & PM_OBJ_UNTRACKED)) {
    gc_list_append(h, &pmi_gc.gen[0]);
    pmi_gc.count[0]++;
  }
  int gen = pmi_collect_pick_locked();
  gc_unlock(&pmi_gc.lock);
  if (pm_unlikely(gen >= 0)) pm_gc_collect(gen);   /* our reference keeps h alive */
  return gc_obj(h);
}

PM_EXPORT void *pm_obj_new(pm_type_t *type) { return pm_obj_new_flags(type, 0, 0); }
PM_EXPORT void *pm_obj_new_var(pm_type_t *type, size_t nitems) {
  return pm_obj_new_flags(type, nitems, 0);
}

/* ---- Accessors ---------------------------------------------------------- */
PM_EXPORT const pm_type_t *pm_obj_type(const void *o) { return gc_type(gc_head(o)); }
PM_EXPORT uint32_t pm_obj_refcnt(const void *o) { return gc_refcnt(gc_head(o)); }
PM_EXPORT size_t pm_obj_size(const void *o) {
  return pmi_usable_size(gc_head(o)) - PM_GC_HEADER_SIZE;
}
PM_EXPORT int pm_obj_is_tracked(const void *o) {
  gc_lock(&pmi_gc.lock);
  int r = gc_is_tracked(gc_head(o));
  gc_unlock(&pmi_gc.lock);
  return r;
}
PM_EXPORT int pm_gc_is_tracked(const void *o) { return pm_obj_is_tracked(o); }
PM_EXPORT int pm_obj_is_finalized(const void *o) {
  gc_lock(&pmi_gc.lock);
  int r = (gc_flags(gc_head(o)) & PM_GCF_FINALIZED) != 0;
  gc_unlock(&pmi_gc.lock);
  return r;
}

PM_EXPORT void pm_obj_track(void *o) {
  pm_gchead_t *h = gc_head(o);
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  if (!gc_is_tracked(h) && gc_type(h)->traverse) {
    gc_list_append(h, pm_obj_is_immortal(o) ? &pmi_gc.immortal : &pmi_gc.gen[0]);
    if (!pm_obj_is_immortal(o)) pmi_gc.count[0]++;
  }
  gc_unlock(&pmi_gc.lock);
}

PM_EXPORT void pm_obj_untrack(void *o) {
  pm_gchead_t *h = gc_head(o);
  gc_lock(&pmi_gc.lock);
  if (gc_is_tracked(h)) {
    if (pmi_gc.collecting && (gc_flags(h) & PM_GCF_COLLECTING))
      pmi_object_misuse("untrack during a collection of", o);
    else
      gc_list_remove(h);
  }
  gc_unlock(&pmi_gc.lock);
}

PM_EXPORT void pm_obj_make_immortal(void *o) {
  pm_gchead_t *h = gc_head(o);
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  if (gc_refcnt(h) < PM_REFCNT_IMMORTAL) {
    __atomic_store_n(&h->refcnt, PM_REFCNT_IMMORTAL_INIT, __ATOMIC_RELAXED);
    if (gc_is_tracked(h) && !(gc_flags(h) & PM_GCF_COLLECTING)) gc_list_move(h, &pmi_gc.immortal);
  }
  gc_unlock(&pmi_gc.lock);
}

/* ---- Refcount misuse ----------------------------------------------------- */
/* decref of an object whose count is already 0.  Release builds: the count
 * stays 0 and nothing is freed a second time (docs/gc.md, "Misuse"). */
PM_EXPORT void pm_obj_refcnt_error_(void *o) {
  pm_gchead_t *h = gc_head(o);
  if (h->type_bits & PM_OBJF_ATOMIC)   /* the fetch_sub wrapped: undo it */
    __atomic_fetch_add(&h->refcnt, 1, __ATOMIC_RELAXED);
  gc_lock(&pmi_gc.lock);
  bool freed = gc_type(h) == &gc_freed_type && h->prev == GC_QUARANTINE_MARK;
  gc_unlock(&pmi_gc.lock);
  pmi_object_misuse(freed ? "decref of freed object" : "decref below zero of", o);
}

PM_EXPORT void pm_obj_incref_checked_(void *o) {
  gc_lock(&pmi_gc.lock);
  const char *problem = object_problem(o);
  gc_unlock(&pmi_gc.lock);
  if (problem) { pmi_object_misuse(problem, o); return; }
  pm_gchead_t *h = gc_head(o);
  uint32_t r = gc_refcnt(h);
  if (r >= PM_REFCNT_IMMORTAL) return;
  if (h->type_bits & PM_OBJF_ATOMIC) __atomic_fetch_add(&h->refcnt, 1, __ATOMIC_RELAXED);
  else __atomic_store_n(&h->refcnt, r + 1, __ATOMIC_RELAXED);
}

PM_EXPORT void pm_obj_decref_checked_(void *o) {
  gc_lock(&pmi_gc.lock);
  const char *problem = o ? object_problem(o) : "NULL object";
  gc_unlock(&pmi_gc.lock);
  if (problem) {
    pm_gchead_t *h = o ? gc_head(o) : NULL;
    if (h && gc_type(h) == &gc_freed_type) pmi_object_misuse("decref of freed object", o);
    else if (h && pmi_object_type_known_locked(gc_type(h)) && gc_refcnt(h) == 0)
      pmi_object_misuse("decref below zero of", o);
    else pmi_object_misuse(problem, o);
    return;
  }
  pm_gchead_t *h = gc_head(o);
  uint32_t r = gc_refcnt(h);
  if (r >= PM_REFCNT_IMMORTAL) return;
  if (h->type_bits & PM_OBJF_ATOMIC) {
    if (__atomic_fetch_sub(&h->refcnt, 1, __ATOMIC_ACQ_REL) == 1) pm_obj_dealloc_(o);
  } else if (r == 1) {
    __atomic_store_n(&h->refcnt, 0, __ATOMIC_RELAXED);
    pm_obj_dealloc_(o);
  } else {
    __atomic_store_n(&h->refcnt, r - 1, __ATOMIC_RELAXED);
  }
}

/* ---- Deallocation: finalize, weakrefs, trampoline, free ----------------- */
static __thread pm_gchead_t *dealloc_pending __attribute__((tls_model("initial-exec")));
static __thread bool dealloc_active __attribute__((tls_model("initial-exec")));

/* Parks h, poisoned, in the quarantine ring (PM_GC_DEBUG_QUARANTINE) and
 * frees the oldest entry.  Lock held. */
static void object_quarantine_locked(pm_gchead_t *h) {
  h->next = (pm_gchead_t *)gc_type(h);   /* remembered for the diagnostic */
  h->prev = GC_QUARANTINE_MARK;
  h->type_bits = (uintptr_t)&gc_freed_type;
  __atomic_store_n(&h->refcnt, 0, __ATOMIC_RELAXED);
  size_t i = pmi_gc.quarantine_pos++ % PM_GC_QUARANTINE;
  pm_gchead_t *old = pmi_gc.quarantine[i];
  pmi_gc.quarantine[i] = h;
  if (old) pmi_free(old);
}

/* Empties the thread's pending stack: clear, dealloc hook, free. */
static void dealloc_drain(void) {
  dealloc_active = true;
  pm_gchead_t *h;
  while ((h = dealloc_pending) != NULL) {
    dealloc_pending = h->next;
    h->next = NULL;
    const pm_type_t *t = gc_type(h);
    void *o = gc_obj(h);
    if (t->clear) t->clear(o);          /* may push more onto the stack */
    if (t->dealloc) t->dealloc(o);
    if (pm_likely(!(pmi_gc.debug & PM_GC_DEBUG_QUARANTINE))) {
      pmi_free(h);
    } else {
      gc_lock(&pmi_gc.lock);
      object_quarantine_locked(h);
      gc_unlock(&pmi_gc.lock);
    }
  }
  dealloc_active = false;
}

PM_EXPORT void pm_obj_dealloc_(void *o) {
  pm_gchead_t *h = gc_head(o);
  const pm_type_t *t = gc_type(h);
  if (pm_unlikely(t == &gc_freed_type)) {   /* release: ignore the call */
    pmi_object_misuse("decref of freed object", o);
    return;
  }
  /* PEP 442: finalize at most once; a finalizer that stores a reference
   * resurrects the object. */
  if (t->finalize) {
    gc_lock(&pmi_gc.lock);
    bool first = !(gc_flags(h) & PM_GCF_FINALIZED);
    gc_flag_set(h, PM_GCF_FINALIZED);
    gc_unlock(&pmi_gc.lock);
    if (first) {
      __atomic_store_n(&h->refcnt, 1, __ATOMIC_RELAXED);
      t->finalize(o);
      if (__atomic_fetch_sub(&h->refcnt, 1, __ATOMIC_ACQ_REL) != 1) return;
    }
  }
  size_t usable = object_bytes(t, h);
  gc_lock(&pmi_gc.lock);
  if (gc_is_tracked(h)) {
    gc_list_remove(h);
    if (pmi_gc.count[0] > 0) pmi_gc.count[0]--;   /* as PyObject_GC_Del */
  }
  pmi_gc.live_objects--;          /* counted here to need no second lock */
  pmi_gc.live_bytes -= usable;
  pmi_weakref_t *callbacks = NULL;
  if (gc_flags(h) & PM_GCF_WEAKREFS) pmi_weakref_clear_locked(o, &callbacks);
  gc_unlock(&pmi_gc.lock);
  /* The callbacks see the weak reference already cleared and this object
   * not yet touched: nothing they can reach is half destroyed. */
  if (callbacks) pmi_weakref_run_callbacks(callbacks);
  h->next = dealloc_pending;
  dealloc_pending = h;
  if (!dealloc_active) dealloc_drain();
}
