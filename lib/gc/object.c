/* SPDX-License-Identifier: MIT */
/* gc/object.c — GC objects: the type registry, validation, creation, the
 * accessors, tracking, immortality and the refcount slow paths behind the
 * inline pm_incref/pm_decref of include/poolmalloc/gc.h (issue 4).
 *
 * Owns: pm_type_ready, pm_obj_* except the death path (dealloc.c), and the
 * misuse diagnostics.  Memory comes from pmi_malloc/pmi_calloc (direct
 * calls, no PLT); never malloc, never stdio.
 *
 * Life of an object (states of one header; docs/gc.md, "Object life"):
 *
 *   pm_obj_new ──> LIVE (refcnt >= 1, tracked iff type->traverse)
 *   LIVE ── decref to 0 ──> DYING (dealloc.c: finalize, weak references,
 *           clear, free — in that order, in one loop per thread)
 *   LIVE ── pm_obj_make_immortal ──> IMMORTAL (never leaves)
 *   LIVE ── unreachable cycle ──> found by a collection (collect.c)
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

PM_INTERNAL size_t pmi_object_type_index_locked(const pm_type_t *t) {
  if (pmi_gc.types_cap == 0 || t == NULL) return SIZE_MAX;
  for (size_t i = type_slot(t, pmi_gc.types_cap);; i = (i + 1) & (pmi_gc.types_cap - 1)) {
    if (pmi_gc.types[i] == t) return i;
    if (pmi_gc.types[i] == NULL) return SIZE_MAX;
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

/* ready_ is published with release after the registration, read with
 * acquire without the lock (the first pm_obj_new of a type may race in
 * several threads; ThreadSanitizer found the plain accesses). */
static inline bool type_is_ready(const pm_type_t *t) {
  return pm_atomic_load_acquire(&t->ready_) == PM_GC_TYPE_READY;
}

PM_EXPORT int pm_type_ready(pm_type_t *type) {
  if (type == NULL || ((uintptr_t)type & PM_OBJF_MASK) != 0 || (type->traverse && !type->clear)) {
    errno = EINVAL;
    return -1;
  }
  if (type_is_ready(type)) return 0;
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  int rc = type_register_locked(type);
  if (rc == 0) pm_atomic_store_release(&type->ready_, PM_GC_TYPE_READY);
  gc_unlock(&pmi_gc.lock);
  if (rc != 0) errno = ENOMEM;
  return rc;
}

/* ---- Validation and diagnostics ------------------------------------------ */
/* Validation trusts only two things: pmi_alloc_owns (the memory is the
 * allocator's) and the type registry (the header's type word is a type
 * passed to pm_type_ready).  A freed object fails it whatever the allocator
 * has written into the block since: dealloc.c replaces the type word by
 * the dead mark before freeing (issue 13, bug 4). */
PM_INTERNAL bool pmi_object_is_valid_locked(const void *p) {
  if (p == NULL || ((uintptr_t)p & (PM_ALIGN - 1)) != 0) return false;
  if (!pmi_alloc_owns(p)) return false;
  pm_gchead_t *h = gc_head(p);
  if (!pmi_alloc_owns(h)) return false;
  return pmi_object_type_known_locked(gc_type(h));
}

PM_INTERNAL const char *pmi_object_type_name(const void *o) {
  if (o == NULL || !pmi_alloc_owns(o) || ((uintptr_t)o & (PM_ALIGN - 1)) || !pmi_alloc_owns(gc_head(o)))
    return "?";
  pm_gchead_t *h = gc_head(o);
  if (pmi_dealloc_is_quarantined(h)) {
    const pm_type_t *was = pmi_dealloc_quarantined_type(h);
    return was && was->name ? was->name : "?";
  }
  const pm_type_t *t = gc_type(h);
  if (!pmi_object_type_known_locked(t)) return "?";
  return t->name ? t->name : "?";
}

PM_INTERNAL void pmi_object_misuse(const char *what, const void *o) {
  if (pm_config_debug)
    pmi_fatal("gc: %s %p (type %s)", what, o, pmi_object_type_name(o));
  pmi_fmt_message("gc: %s %p (type %s)", what, o, pmi_object_type_name(o));
}

/* Classifies o: NULL if it is a live object, else what is wrong with it.
 * Lock held. */
static const char *object_problem_locked(const void *o) {
  if (o == NULL) return "NULL object";
  if (((uintptr_t)o & (PM_ALIGN - 1)) != 0 || !pmi_alloc_owns(o) ||
      !pmi_alloc_owns(gc_head(o)))
    return "not a GC object";
  pm_gchead_t *h = gc_head(o);
  if (pmi_dealloc_is_quarantined(h)) return "use of freed object";
  if (!pmi_object_type_known_locked(gc_type(h))) return "not a GC object (or freed)";
  if (gc_refcnt(h) == 0) return "use of object with refcount 0 (freed?)";
  return NULL;
}

PM_EXPORT void pm_obj_check(const void *o) {
  gc_lock(&pmi_gc.lock);
  const char *problem = object_problem_locked(o);
  const char *name = problem ? pmi_object_type_name(o) : NULL;
  gc_unlock(&pmi_gc.lock);
  if (problem) pmi_fatal("gc: %s %p (type %s)", problem, o, name);
}

/* ---- Creation ----------------------------------------------------------- */


PM_EXPORT void *pm_obj_new_flags(pm_type_t *type, size_t nitems, unsigned flags) {
  if (pm_unlikely(type == NULL || !type_is_ready(type))) {
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
  size_t usable = gc_object_bytes(type, h);
  bool atomic = (flags & PM_OBJ_ATOMIC) || (type->flags & PM_TYPE_ATOMIC) || pmi_gc.atomic_default;
  h->type_bits = (uintptr_t)type | (atomic ? PM_OBJF_ATOMIC : 0);
  pmi_alloc_annotate(h, type->name);   /* a sampled object shows its type in profiles */
  pm_assert(gc_type(h) == type);       /* pm_type_ready checked the alignment */
  pm_atomic_store_relaxed(&h->refcnt, 1);
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
  int r = gc_is_tracked(gc_head(o)) && gc_refcnt(gc_head(o)) != 0;   /* not a pending death */
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

/* A dying object (refcount 0) is never tracked again: its pending-death
 * link lives in next.  Objects of types without traverse hold no
 * references and are never tracked. */
PM_EXPORT void pm_obj_track(void *o) {
  pm_gchead_t *h = gc_head(o);
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  if (!gc_is_tracked(h) && gc_type(h)->traverse && gc_refcnt(h) != 0) {
    pm_assert_internal((gc_flags(h) & PM_GCF_COLLECTOR) == 0);
    gc_list_append(h, gc_is_immortal(h) ? &pmi_gc.immortal : &pmi_gc.gen[0]);
    if (!gc_is_immortal(h)) pmi_gc.count[0]++;
  }
  gc_unlock(&pmi_gc.lock);
}

/* Allowed at any time, from finalizers during a collection too (CPython's
 * tp_finalize may call PyObject_GC_UnTrack; issue 13, item 7): the object
 * leaves the collection's set and its references count as external. */
PM_EXPORT void pm_obj_untrack(void *o) {
  pm_gchead_t *h = gc_head(o);
  gc_lock(&pmi_gc.lock);
  pm_assert_internal(pmi_object_is_valid_locked(o));
  if (gc_is_tracked(h) && gc_refcnt(h) != 0) gc_list_remove_untrack(h);
  gc_unlock(&pmi_gc.lock);
}

PM_EXPORT void pm_obj_make_immortal(void *o) {
  pm_gchead_t *h = gc_head(o);
  gc_lock(&pmi_gc.lock);
  pm_assert(gc_refcnt(h) != 0);
  gc_ensure_init_locked();
  if (gc_refcnt(h) < PM_REFCNT_IMMORTAL) {
    pm_atomic_store_relaxed(&h->refcnt, PM_REFCNT_IMMORTAL_INIT);
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
    pm_atomic_add_relaxed(&h->refcnt, 1);
  gc_lock(&pmi_gc.lock);
  bool freed = pmi_dealloc_is_quarantined(h);
  gc_unlock(&pmi_gc.lock);
  pmi_object_misuse(freed ? "decref of freed object" : "decref below zero of", o);
}

PM_EXPORT void pm_obj_incref_checked_(void *o) {
  gc_lock(&pmi_gc.lock);
  const char *problem = object_problem_locked(o);
  gc_unlock(&pmi_gc.lock);
  if (problem) { pmi_object_misuse(problem, o); return; }
  pm_gchead_t *h = gc_head(o);
  uint32_t r = gc_refcnt(h);
  if (r >= PM_REFCNT_IMMORTAL) return;
  if (h->type_bits & PM_OBJF_ATOMIC) pm_atomic_add_relaxed(&h->refcnt, 1);
  else pm_atomic_store_relaxed(&h->refcnt, r + 1);
}

PM_EXPORT void pm_obj_decref_checked_(void *o) {
  gc_lock(&pmi_gc.lock);
  const char *problem = object_problem_locked(o);
  if (problem && o) {
    pm_gchead_t *h = gc_head(o);
    if (pmi_dealloc_is_quarantined(h)) problem = "decref of freed object";
    else if (pmi_object_is_valid_locked(o) && gc_refcnt(h) == 0) problem = "decref below zero of";
  }
  gc_unlock(&pmi_gc.lock);
  if (problem) { pmi_object_misuse(problem, o); return; }
  pmi_object_decref_was_last(o);
}

/* The inline pm_decref, plus whether it was the last reference (the
 * collector counts weak references freed after their callbacks). */
PM_INTERNAL bool pmi_object_decref_was_last(void *o) {
  pm_gchead_t *h = gc_head(o);
  uint32_t r = gc_refcnt(h);
  if (r >= PM_REFCNT_IMMORTAL) return false;
  if (h->type_bits & PM_OBJF_ATOMIC) {
    r = pm_atomic_sub_release(&h->refcnt, 1);
    if (r == 1) {
      (void)pm_atomic_load_acquire(&h->refcnt);   /* as pm_decref */
      pm_obj_dealloc_(o);
      return true;
    }
    if (pm_unlikely(r == 0)) pm_obj_refcnt_error_(o);
    return false;
  }
  if (pm_unlikely(r <= 1)) {
    if (r == 0) { pm_obj_refcnt_error_(o); return false; }
    pm_atomic_store_relaxed(&h->refcnt, 0);
    pm_obj_dealloc_(o);
    return true;
  }
  pm_atomic_store_relaxed(&h->refcnt, r - 1);
  return false;
}
