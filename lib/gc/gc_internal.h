/* SPDX-License-Identifier: MIT */
/* gc_internal.h — shared state and list primitives of the GC object layer.
 *
 * Owns: the layer's global state (struct pmi_gc_state, one instance pmi_gc,
 * defined in control.c), the recursive layer lock, the doubly linked
 * generation lists and the collector flag bits kept in the low bits of
 * pm_gchead_t.prev.  Used by object.c, collect.c, weakref.c and control.c.
 * Never calls malloc or stdio (objects come from pmi_malloc).
 *
 * Header fields (include/poolmalloc/gc.h draws the layout):
 *   next       NULL <=> the object is not tracked (on no list)
 *   prev       previous list node | PM_GCF_* flags (headers are 16-aligned,
 *              so 4 low bits are free); written only under the layer lock
 *   type_bits  const pm_type_t * | PM_OBJF_ATOMIC; immutable after creation
 *   refcnt     the reference count (>= PM_REFCNT_IMMORTAL: immortal)
 *   gc_refs    scratch during a collection: refcnt minus the references
 *              from other objects of the set being collected
 *
 * Lists (every one is circular with a sentinel pm_gchead_t):
 *   gen[0..2]   tracked objects by generation (new objects enter gen[0])
 *   permanent   frozen objects (pm_gc_freeze), never collected
 *   immortal    tracked immortal objects, never collected
 *   garbage     objects kept by PM_GC_DEBUG_SAVEALL (one ref each held)
 * Invariant: a tracked object is on exactly one list; the sum of the list
 * lengths == the number of tracked objects.
 */
#ifndef PM_GC_INTERNAL_H
#define PM_GC_INTERNAL_H

#include "internal.h"
#include <poolmalloc/gc.h>
#include <sched.h>

_Static_assert(sizeof(pm_gchead_t) == PM_GC_HEADER_SIZE, "the object header is 32 bytes");
_Static_assert(PM_GC_HEADER_SIZE % PM_ALIGN == 0, "client structs keep malloc's alignment");

/* ---- Flags in the low bits of prev ------------------------------------- */
#define PM_GCF_COLLECTING ((uintptr_t)1)   /* in the set being collected       */
#define PM_GCF_UNREACHABLE ((uintptr_t)2)  /* on the tentatively-unreachable list */
#define PM_GCF_FINALIZED ((uintptr_t)4)    /* finalize already ran (PEP 442)  */
#define PM_GCF_WEAKREFS ((uintptr_t)8)     /* has an entry in the weakref table */
#define PM_GCF_MASK ((uintptr_t)15)
#define PM_OBJF_MASK ((uintptr_t)7)

#define PM_GC_TYPE_READY 0x67637479u       /* "gcty": pm_type_t.ready_ */

PM_INLINE pm_gchead_t *gc_head(const void *o) { return (pm_gchead_t *)((char *)o - PM_GC_HEADER_SIZE); }
PM_INLINE void *gc_obj(pm_gchead_t *h) { return (char *)h + PM_GC_HEADER_SIZE; }
PM_INLINE const pm_type_t *gc_type(const pm_gchead_t *h) { return (const pm_type_t *)(h->type_bits & ~PM_OBJF_MASK); }
PM_INLINE pm_gchead_t *gc_prev(const pm_gchead_t *h) { return (pm_gchead_t *)(h->prev & ~PM_GCF_MASK); }
PM_INLINE uintptr_t gc_flags(const pm_gchead_t *h) { return h->prev & PM_GCF_MASK; }
PM_INLINE void gc_set_prev(pm_gchead_t *h, pm_gchead_t *p) { h->prev = (uintptr_t)p | (h->prev & PM_GCF_MASK); }
PM_INLINE void gc_flag_set(pm_gchead_t *h, uintptr_t f) { h->prev |= f; }
PM_INLINE void gc_flag_clear(pm_gchead_t *h, uintptr_t f) { h->prev &= ~f; }
PM_INLINE bool gc_is_tracked(const pm_gchead_t *h) { return h->next != NULL; }
PM_INLINE uint32_t gc_refcnt(const pm_gchead_t *h) {
  return __atomic_load_n(&((pm_gchead_t *)h)->refcnt, __ATOMIC_RELAXED);
}

/* ---- Lists -------------------------------------------------------------- */
PM_INLINE void gc_list_init(pm_gchead_t *l) { l->next = l; l->prev = (uintptr_t)l; }
PM_INLINE bool gc_list_is_empty(const pm_gchead_t *l) { return l->next == l; }
PM_INLINE void gc_list_append(pm_gchead_t *h, pm_gchead_t *l) {
  pm_gchead_t *last = gc_prev(l);
  h->next = l;
  gc_set_prev(h, last);
  last->next = h;
  gc_set_prev(l, h);
}
PM_INLINE void gc_list_remove(pm_gchead_t *h) {
  pm_gchead_t *p = gc_prev(h), *n = h->next;
  p->next = n;
  gc_set_prev(n, p);
  h->next = NULL;
}
PM_INLINE void gc_list_move(pm_gchead_t *h, pm_gchead_t *l) {
  gc_list_remove(h);
  gc_list_append(h, l);
}
/* Appends every node of from to to; from becomes empty. */
PM_INLINE void gc_list_merge(pm_gchead_t *from, pm_gchead_t *to) {
  if (gc_list_is_empty(from)) return;
  pm_gchead_t *to_last = gc_prev(to), *first = from->next, *last = gc_prev(from);
  to_last->next = first;
  gc_set_prev(first, to_last);
  last->next = to;
  gc_set_prev(to, last);
  gc_list_init(from);
}
PM_INLINE size_t gc_list_size(const pm_gchead_t *l) {
  size_t n = 0;
  for (const pm_gchead_t *h = l->next; h != l; h = h->next) n++;
  return n;
}

/* ---- The layer lock: recursive, uncontended cost one CAS ----------------- */
/* Recursive because finalizers, weakref callbacks and clear functions run
 * inside a collection and free objects through the same paths.  While the
 * process has a single thread (glibc's __libc_single_threaded, which only
 * ever goes from 1 to 0, and only in the thread calling pthread_create) the
 * lock is taken with plain stores: no other thread exists to race with, and
 * a thread created while we hold it sees a correct owner and waits. */
typedef struct gc_lock_s {
  _Atomic uintptr_t owner;      /* address of the owner's TLS byte, or 0 */
  unsigned depth;               /* written by the owner only             */
} gc_lock_t;
PM_INTERNAL extern __thread char pmi_gc_tid __attribute__((tls_model("initial-exec")));
extern char __libc_single_threaded;
PM_INLINE void gc_lock(gc_lock_t *l) {
  uintptr_t me = (uintptr_t)&pmi_gc_tid;
  uintptr_t cur = atomic_load_explicit(&l->owner, memory_order_relaxed);
  if (cur == me) { l->depth++; return; }
  if (pm_likely(__libc_single_threaded) && cur == 0) {
    atomic_store_explicit(&l->owner, me, memory_order_relaxed);
  } else {
    for (unsigned spins = 0;; spins++) {
      uintptr_t expect = 0;
      if (atomic_compare_exchange_weak_explicit(&l->owner, &expect, me, memory_order_acquire,
                                                memory_order_relaxed))
        break;
      if (spins > 64) sched_yield();
    }
  }
  l->depth = 1;
}
PM_INLINE void gc_unlock(gc_lock_t *l) {
  if (--l->depth == 0) atomic_store_explicit(&l->owner, 0, memory_order_release);
}

/* ---- The layer's state (SQLite's "struct Mem5Global mem5" idea) --------- */
#define PM_GC_MAX_CALLBACKS 16
#define PM_GC_QUARANTINE 4096

typedef struct gc_callback_s { pm_gc_callback_fn fn; void *data; } gc_callback_t;

struct pmi_gc_state {
  gc_lock_t lock;
  pm_gchead_t gen[PM_GC_NGEN];     /* generation lists                 */
  pm_gchead_t permanent;           /* frozen                           */
  pm_gchead_t immortal;            /* tracked immortals                */
  pm_gchead_t garbage;             /* SAVEALL list                     */
  bool lists_ready;
  bool enabled;
  bool atomic_default;
  _Atomic bool collecting;         /* a collection is running          */
  unsigned debug;                  /* PM_GC_DEBUG_*                    */
  long threshold[PM_GC_NGEN];
  long count[PM_GC_NGEN];
  size_t long_lived_total;         /* gen-2 survivors of the last full */
  size_t long_lived_pending;       /* promoted into gen 2 since then   */
  size_t bytes_threshold;
  size_t bytes_since_young;        /* allocated since any collection   */
  size_t bytes_since_full;         /* allocated since a full one       */
  size_t live_bytes_after_full;
  size_t trim_threshold;
  size_t live_objects;             /* allocated and not yet freed      */
  size_t live_bytes;               /* their usable sizes with headers  */
  pm_gc_stats_t stats[PM_GC_NGEN];
  gc_callback_t callbacks[PM_GC_MAX_CALLBACKS];
  /* type registry: open addressing on the type's address */
  const pm_type_t **types;
  size_t types_cap, ntypes;
  const pm_type_t *last_type;      /* one-entry cache of the registry  */
  /* debug quarantine of freed objects (PM_GC_DEBUG_QUARANTINE) */
  pm_gchead_t *quarantine[PM_GC_QUARANTINE];
  size_t quarantine_pos;
};
PM_INTERNAL extern struct pmi_gc_state pmi_gc;

/* ---- control.c ---------------------------------------------------------- */
/* Initialises the lists on first use (caller holds the lock). */
PM_INTERNAL void pmi_control_init_locked(void);
PM_INLINE void gc_ensure_init_locked(void) { if (pm_unlikely(!pmi_gc.lists_ready)) pmi_control_init_locked(); }
/* Runs the registered callbacks for phase. */
PM_INTERNAL void pmi_control_callbacks(int phase, const pm_gc_info_t *info);

/* ---- object.c ----------------------------------------------------------- */
/* Is t a type passed to pm_type_ready?  Caller holds the lock. */
PM_INTERNAL bool pmi_object_type_known_locked(const pm_type_t *t);
/* Is p the client pointer of a live layer object?  Cheap enough for every
 * edge of a collection: pmi_alloc_owns (one load), then the type registry. */
PM_INTERNAL bool pmi_object_is_valid_locked(const void *p);
/* Its inline fast path for the collector's visit functions: the header
 * lies in p's chunk unless p is within 32 bytes of the chunk start, and
 * nearly every edge leads to an object of the last type seen. */
PM_INLINE bool gc_object_is_valid_locked(const void *p) {
  if (pm_unlikely(((uintptr_t)p & (PM_ALIGN - 1)) != 0 || ((uintptr_t)p & PM_CHUNK_MASK) < PM_GC_HEADER_SIZE))
    return pmi_object_is_valid_locked(p);
  if (pm_unlikely(!pmi_alloc_owns(p))) return false;
  const pm_type_t *t = gc_type(gc_head(p));
  return pm_likely(t == pmi_gc.last_type && t != NULL) || pmi_object_type_known_locked(t);
}
/* Diagnoses misuse of o: aborts in debug builds, else prints one line and
 * returns (the caller then takes the documented safe path). */
PM_INTERNAL void pmi_object_misuse(const char *what, const void *o);

/* ---- collect.c ---------------------------------------------------------- */
/* Called by pm_obj_new with the lock held, after counting the new object:
 * the generation an automatic collection should collect now, or -1. */
PM_INTERNAL int pmi_collect_pick_locked(void);

/* ---- weakref.c ---------------------------------------------------------- */
/* Detaches every weak reference to o (sets their referent to NULL).  With
 * defer == NULL it then runs their callbacks; otherwise it appends the ones
 * whose callback must run to *defer (each with a new reference).  Weak
 * references that are themselves unreachable garbage (PM_GCF_UNREACHABLE)
 * or already dying get no callback.  Caller holds the lock. */
typedef struct pmi_weakref_s pmi_weakref_t;
PM_INTERNAL void pmi_weakref_clear_locked(void *o, pmi_weakref_t **defer);
/* Runs and releases the callbacks collected by pmi_weakref_clear_locked. */
PM_INTERNAL void pmi_weakref_run_callbacks(pmi_weakref_t *list);

#endif /* PM_GC_INTERNAL_H */
