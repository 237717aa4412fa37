/* SPDX-License-Identifier: MIT */
/* gc_internal.h — shared state, lock and list primitives of the GC object
 * layer (issues 4, 12 and 13; docs/gc.md).
 *
 * Owns: the layer's global state (struct pmi_gc_state, one instance pmi_gc,
 * defined in control.c), the recursive layer lock, the doubly linked
 * generation lists, the collector flag bits kept in the low bits of
 * pm_gchead_t.prev, and the cross-file API of lib/gc/ (one section per
 * file, as lib/internal.h).  Never calls malloc or stdio (objects come from
 * pmi_malloc); reaches the allocator only through pmi_malloc/pmi_free/
 * pmi_calloc/pmi_usable_size, pmi_alloc_owns and pmi_alloc_trim.
 *
 * Header fields (include/poolmalloc/gc.h draws the layout):
 *   next       NULL <=> the object is not tracked (on no list), except on a
 *              thread's death stacks (dealloc.c), where it is the link
 *   prev       previous list node | PM_GCF_* flags (headers are 16-aligned,
 *              so 4 low bits are free)
 *   type_bits  const pm_type_t * | PM_OBJF_ATOMIC; immutable while the
 *              object lives; set to the dead mark right before the block is
 *              freed (dealloc.c), so a dangling pointer fails validation
 *   refcnt     the reference count (>= PM_REFCNT_IMMORTAL: immortal);
 *              every access atomic, through lib/atomic.h here, with the
 *              rule named at its declaration (include/poolmalloc/gc.h)
 *   gc_refs    scratch: during a collection, refcnt minus the references
 *              from other objects of the set being collected; on the
 *              slow death stack, the stage of the death (dealloc.c)
 *
 * Lists (every one is circular with a sentinel pm_gchead_t):
 *   gen[0..2]   tracked objects by generation (new objects enter gen[0])
 *   permanent   frozen objects (pm_gc_freeze), never collected
 *   immortal    tracked immortal objects, never collected
 *   garbage     gc.garbage: SAVEALL and uncollectable objects (one ref each)
 * Invariant: a tracked object is on exactly one list (those, or one of a
 * running collection's local lists); the collector flags COLLECTING and
 * UNREACHABLE are set only on objects of a running collection's lists.
 *
 * ---- Locking rules ---------------------------------------------------------
 *   1. pmi_gc.lock (recursive) protects every field of pmi_gc, every list
 *      link and flag (next, prev), the type registry, the weakref table
 *      (weakref.c), the finalize registry (finalize.c) and every weak
 *      container (weakmap.c).  Functions named *_locked require it.
 *   2. Written without the lock: refcnt, by pm_incref/pm_decref (plain for
 *      NON-ATOMIC objects, whose owner serialises all use; atomic RMW for
 *      ATOMIC ones); and the header of an object whose death this thread
 *      runs (refcount 0, untracked, reachable by no one else: next as the
 *      stack link, gc_refs as the stage, type_bits as the dead mark).
 *      Read without it, through lib/atomic.h with the rule named at the
 *      field: pmi_gc.debug (relaxed; every free), pmi_gc.finalizers_last
 *      (release/acquire; the exit hook), pm_type_t.ready_ (release/acquire;
 *      every pm_obj_new) and the lock's owner word (gc_lock_t).  Every
 *      atomic access in lib/gc goes through lib/atomic.h (issue 12); only
 *      the public header's inline pm_incref/pm_decref use the builtins
 *      themselves, with the same orders.
 *   3. Lock order: the layer lock may be held while calling into the
 *      allocator (pmi_malloc/pmi_free take the allocator's own locks), never
 *      the other way round; user code (finalize, clear, traverse, callbacks,
 *      hash/equal of weak containers) may run with it held, so such code
 *      must not wait for another thread that uses the layer.
 *   4. A collection holds the lock from its first phase to its last; the
 *      START/STOP callbacks and the final trim run without it.
 *   5. fork: the atfork handlers take the lock around fork(); the child
 *      resets whatever belonged to threads that did not survive
 *      (control.c, control_fork_child).
 * Thread-local state (dealloc.c): each thread's death stacks and
 * weakref callback queue, touched only by that thread.
 */
#ifndef PM_GC_INTERNAL_H
#define PM_GC_INTERNAL_H

#include "internal.h"   /* and atomic.h: the layer's atomics are the core's */
#include <poolmalloc/gc.h>
#include <sched.h>
#include <string.h>

_Static_assert(sizeof(pm_gchead_t) == PM_GC_HEADER_SIZE, "the object header is 32 bytes");
_Static_assert(PM_GC_HEADER_SIZE % PM_ALIGN == 0, "client structs keep malloc's alignment");

/* ---- Flags in the low bits of prev ------------------------------------- */
#define PM_GCF_COLLECTING ((uintptr_t)1)   /* in the set being collected       */
#define PM_GCF_UNREACHABLE ((uintptr_t)2)  /* on the tentatively-unreachable list */
#define PM_GCF_FINALIZED ((uintptr_t)4)    /* finalize already ran (PEP 442)  */
#define PM_GCF_WEAKREFS ((uintptr_t)8)     /* has an entry in the weakref table */
#define PM_GCF_MASK ((uintptr_t)15)
#define PM_GCF_COLLECTOR (PM_GCF_COLLECTING | PM_GCF_UNREACHABLE)
#define PM_OBJF_MASK ((uintptr_t)7)

#define PM_GC_TYPE_READY 0x67637479u       /* "gcty": pm_type_t.ready_ */

PM_INLINE pm_gchead_t *gc_head(const void *o) { return (pm_gchead_t *)((char *)o - PM_GC_HEADER_SIZE); }
PM_INLINE void *gc_obj(pm_gchead_t *h) { return (char *)h + PM_GC_HEADER_SIZE; }
PM_INLINE const pm_type_t *gc_type(const pm_gchead_t *h) { return (const pm_type_t *)(h->type_bits & ~PM_OBJF_MASK); }
PM_INLINE bool gc_is_atomic(const pm_gchead_t *h) { return (h->type_bits & PM_OBJF_ATOMIC) != 0; }
PM_INLINE pm_gchead_t *gc_prev(const pm_gchead_t *h) { return (pm_gchead_t *)(h->prev & ~PM_GCF_MASK); }
PM_INLINE uintptr_t gc_flags(const pm_gchead_t *h) { return h->prev & PM_GCF_MASK; }
PM_INLINE void gc_set_prev(pm_gchead_t *h, pm_gchead_t *p) { h->prev = (uintptr_t)p | (h->prev & PM_GCF_MASK); }
PM_INLINE void gc_flag_set(pm_gchead_t *h, uintptr_t f) { h->prev |= f; }
PM_INLINE void gc_flag_clear(pm_gchead_t *h, uintptr_t f) { h->prev &= ~f; }
PM_INLINE bool gc_is_tracked(const pm_gchead_t *h) { return h->next != NULL; }
PM_INLINE uint32_t gc_refcnt(const pm_gchead_t *h) {
  return pm_atomic_load_relaxed(&h->refcnt);
}
PM_INLINE bool gc_is_immortal(const pm_gchead_t *h) { return gc_refcnt(h) >= PM_REFCNT_IMMORTAL; }

/* ---- The layer lock: recursive, uncontended cost one CAS ----------------- */
/* Recursive because finalizers, weakref callbacks and clear functions run
 * inside a collection and free objects through the same paths.  While the
 * process has a single thread (glibc's __libc_single_threaded, which only
 * ever goes from 1 to 0, and only in the thread calling pthread_create) the
 * lock is taken with a relaxed store instead of a CAS: no other thread exists
 * to race with, and a thread created while we hold it sees a correct owner
 * and waits. */
typedef struct gc_lock_s {
  uintptr_t owner;              /* gc_self() of the holder, or 0; taken   */
                                /* by CAS with acquire (or a relaxed      */
                                /* store while single-threaded), dropped  */
                                /* by a release store; reads relaxed      */
  unsigned depth;               /* owner only (holder's recursion depth)  */
} gc_lock_t;
PM_INTERNAL extern __thread char pmi_gc_tid __attribute__((tls_model("initial-exec")));
extern char __libc_single_threaded;
/* This thread's identity: the address of a TLS byte (never 0). */
PM_INLINE uintptr_t gc_self(void) { return (uintptr_t)&pmi_gc_tid; }
PM_INLINE void gc_lock(gc_lock_t *l) {
  uintptr_t me = gc_self();
  uintptr_t cur = pm_atomic_load_relaxed(&l->owner);
  if (cur == me) { l->depth++; return; }
  if (pm_likely(__libc_single_threaded) && cur == 0) {
    pm_atomic_store_relaxed(&l->owner, me);
  } else {
    for (unsigned spins = 0;; spins++) {
      uintptr_t expect = 0;
      if (pm_atomic_cas_weak_acquire(&l->owner, &expect, me)) break;
      if (spins > 64) sched_yield();
    }
  }
  l->depth = 1;
}
/* gc_lock without waiting: false if another thread holds the lock. */
PM_INLINE bool gc_lock_try(gc_lock_t *l) {
  uintptr_t me = gc_self();
  uintptr_t cur = pm_atomic_load_relaxed(&l->owner);
  if (cur == me) { l->depth++; return true; }
  if (pm_likely(__libc_single_threaded) && cur == 0) {
    pm_atomic_store_relaxed(&l->owner, me);
  } else {
    uintptr_t expect = 0;
    if (!pm_atomic_cas_strong_acquire(&l->owner, &expect, me)) return false;
  }
  l->depth = 1;
  return true;
}
PM_INLINE bool gc_lock_held(gc_lock_t *l) {
  return pm_atomic_load_relaxed(&l->owner) == gc_self() && l->depth > 0;
}
PM_INLINE void gc_unlock(gc_lock_t *l) {
  pm_assert(gc_lock_held(l));
  if (--l->depth == 0) pm_atomic_store_release(&l->owner, 0);
}

/* ---- The layer's state (SQLite's "struct Mem5Global mem5" idea) --------- */
#define PM_GC_MAX_CALLBACKS 16
/* The debug quarantine (PM_GC_DEBUG_QUARANTINE): at most this many freed
 * objects and this many bytes wait poisoned before their memory is reused;
 * every collection empties it (issue 13, item 10). */
#define PM_GC_QUARANTINE 4096
#define PM_GC_QUARANTINE_BYTES ((size_t)1 << 20)

typedef struct gc_callback_s { pm_gc_callback_fn fn; void *data; } gc_callback_t;
typedef struct pmi_finalize_s pmi_finalize_t;

/* Every field is under pmi_gc.lock (rule 1); debug and finalizers_last
 * are also read without it (rule 2, the rules named at each field are
 * lib/atomic.h's). */
struct pmi_gc_state {
  gc_lock_t lock;                  /* its own rules (gc_lock_t)        */
  pm_gchead_t gen[PM_GC_NGEN];     /* generation lists                 */
  pm_gchead_t permanent;           /* frozen                           */
  pm_gchead_t immortal;            /* tracked immortals                */
  pm_gchead_t garbage;             /* gc.garbage                       */
  bool lists_ready;
  bool enabled;
  bool atomic_default;
  bool finalize_shutdown;          /* the exit-time finalizers ran     */
  uintptr_t collector;             /* gc_self() of the collecting thread, 0: none */
  void *bad_edge;                  /* a non-object a traverse reported (fatal) */
  unsigned debug;                  /* PM_GC_DEBUG_*; relaxed: written  */
                                   /* under the lock, read without it  */
                                   /* on every free                    */
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
  /* debug quarantine of freed objects: a ring, oldest at quarantine_tail */
  pm_gchead_t *quarantine[PM_GC_QUARANTINE];
  size_t quarantine_head, quarantine_tail, quarantine_bytes;
  /* weakref.finalize registry (finalize.c): alive finalizers, oldest first */
  pmi_finalize_t *finalizers_first;
  pmi_finalize_t *finalizers_last; /* release/acquire: stored with     */
                                   /* release under the lock, loaded  */
                                   /* with acquire by the exit hook;  */
                                   /* the lock holder reads plainly   */
  uint64_t finalizers_made;
};
PM_INTERNAL extern struct pmi_gc_state pmi_gc;

/* ---- Lists -------------------------------------------------------------- */
PM_INLINE void gc_list_init(pm_gchead_t *l) { l->next = l; l->prev = (uintptr_t)l; }
PM_INLINE bool gc_list_is_empty(const pm_gchead_t *l) { return l->next == l; }
PM_INLINE void gc_list_append(pm_gchead_t *h, pm_gchead_t *l) {
  pm_assert_internal(h->next == NULL && gc_prev(l)->next == l);
  pm_gchead_t *last = gc_prev(l);
  h->next = l;
  gc_set_prev(h, last);
  last->next = h;
  gc_set_prev(l, h);
}
PM_INLINE void gc_list_remove(pm_gchead_t *h) {
  pm_assert_internal(h->next != NULL && gc_prev(h->next) == h && gc_prev(h)->next == h);
  pm_gchead_t *p = gc_prev(h), *n = h->next;
  p->next = n;
  gc_set_prev(n, p);
  h->next = NULL;
}
/* Untracks h wherever it is, a running collection's lists included: the
 * collector flags go too, so the collector treats it as outside its set
 * (CPython allows untracking from tp_finalize; issue 13, item 7). */
PM_INLINE void gc_list_remove_untrack(pm_gchead_t *h) {
  gc_list_remove(h);
  gc_flag_clear(h, PM_GCF_COLLECTOR);
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

/* Grows a pmi_malloc'd table from old_size to new_size bytes (the narrow
 * allocator API has no realloc); NULL + ENOMEM leaves p untouched. */
PM_INLINE void *gc_table_grow(void *p, size_t old_size, size_t new_size) {
  void *q = pmi_malloc(new_size);
  if (q == NULL) return NULL;
  if (p != NULL) memcpy(q, p, old_size);
  pmi_free(p);
  return q;
}

/* ---- control.c ---------------------------------------------------------- */
/* Initialises the lists on first use (caller holds the lock). */
PM_INTERNAL void pmi_control_init_locked(void);
PM_INLINE void gc_ensure_init_locked(void) { if (pm_unlikely(!pmi_gc.lists_ready)) pmi_control_init_locked(); }
/* Runs the registered callbacks for phase (without the lock). */
PM_INTERNAL void pmi_control_callbacks(int phase, const pm_gc_info_t *info);

/* ---- object.c ----------------------------------------------------------- */
/* Is t a type passed to pm_type_ready?  Caller holds the lock. */
PM_INTERNAL bool pmi_object_type_known_locked(const pm_type_t *t);
/* Its slot in pmi_gc.types (stable until the next pm_type_ready), or
 * SIZE_MAX.  Lock held. */
PM_INTERNAL size_t pmi_object_type_index_locked(const pm_type_t *t);
/* Is p the client pointer of a live layer object?  Cheap enough for every
 * edge of a collection: pmi_alloc_owns (one load), then the type registry.
 * A freed object fails it: its type word holds the dead mark. */
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
/* The name of o's type, without trusting its header more than necessary. */
PM_INTERNAL const char *pmi_object_type_name(const void *o);
/* Diagnoses misuse of o: aborts in debug builds, else prints one line and
 * returns (the caller then takes the documented safe path). */
PM_INTERNAL void pmi_object_misuse(const char *what, const void *o);
/* pm_decref that says whether it dropped the last reference. */
PM_INTERNAL bool pmi_object_decref_was_last(void *o);
/* The bytes an object is accounted for (live_bytes, the bytes trigger):
 * header + basicsize for fixed-size types, which needs no lookup in the
 * allocator, and the block's usable size for variable-size ones. */
PM_INLINE size_t gc_object_bytes(const pm_type_t *t, const pm_gchead_t *h) {
  return t->itemsize ? pmi_usable_size(h) : PM_GC_HEADER_SIZE + t->basicsize;
}

/* ---- dealloc.c: the death of an object ----------------------------------- */
/* Each thread drains the deaths it causes in one loop (the trampoline); a
 * collection runs at a fresh level of it, so that every death its phases
 * cause is complete when the phase goes on.  Levels do not nest further:
 * collections do not nest. */
typedef struct pmi_weakref_s pmi_weakref_t;
/* A list of weak references whose callbacks must run, in running order
 * (newest weak reference first for each referent, as CPython). */
typedef struct pmi_wrlist_s { pmi_weakref_t *first, *last; } pmi_wrlist_t;
typedef struct pmi_dealloc_level_s {
  pm_gchead_t *ready;              /* deaths ready for clear() and free */
  pm_gchead_t *slow;               /* deaths waiting for finalize() or for
                                      their weakref callbacks            */
  pmi_wrlist_t callbacks;          /* weakref callbacks to run, in order */
  bool active;                     /* the drain loop runs on this level */
} pmi_dealloc_level_t;
PM_INTERNAL void pmi_dealloc_level_enter(pmi_dealloc_level_t *saved);
PM_INTERNAL void pmi_dealloc_level_leave(const pmi_dealloc_level_t *saved);
/* Frees every quarantined object; returns their bytes.  Lock held. */
PM_INTERNAL size_t pmi_dealloc_quarantine_release_locked(void);
/* Was o freed into the quarantine?  (Its header remembers the type.) */
PM_INTERNAL bool pmi_dealloc_is_quarantined(const pm_gchead_t *h);
PM_INTERNAL const pm_type_t *pmi_dealloc_quarantined_type(const pm_gchead_t *h);
PM_INTERNAL extern const pm_type_t pmi_dealloc_dead_type;

/* ---- collect.c ---------------------------------------------------------- */
/* Called by pm_obj_new with the lock held, after counting the new object:
 * the generation an automatic collection should collect now, or -1. */
PM_INTERNAL int pmi_collect_pick_locked(void);
/* The debug walker of CPython's validate_list: every node of l is linked
 * both ways, is a live object of a registered type and has (flags & mask)
 * == want.  Lock held.  Run between collection phases at PM_DEBUG >= 3. */
PM_INTERNAL bool pmi_collect_list_is_valid(const pm_gchead_t *l, uintptr_t mask, uintptr_t want);
/* Every list of the layer valid and without collector flags (outside a
 * collection).  Lock held.  PM_DEBUG >= 3: around full collections. */
PM_INTERNAL bool pmi_collect_state_is_valid(void);

/* ---- weakref.c ---------------------------------------------------------- */
/* Detaches every weak reference to o (sets their referent to NULL) and
 * appends those whose callback must run to *out, each with a new
 * reference.  Weak references that are themselves unreachable garbage
 * (PM_GCF_UNREACHABLE) or already dying get no callback.  Lock held. */
PM_INTERNAL void pmi_weakref_clear_locked(void *o, pmi_wrlist_t *out);
/* Runs one queued callback and drops the layer's reference; returns true
 * if that was the last reference (the weak reference is freed). */
PM_INTERNAL bool pmi_weakref_run_one(pmi_weakref_t *wr);
PM_INTERNAL pmi_weakref_t *pmi_weakref_list_pop(pmi_wrlist_t *list);
/* Runs and releases a whole list; returns how many weak references were
 * freed right after their callback (CPython counts them as collected). */
PM_INTERNAL long pmi_weakref_run_callbacks(pmi_wrlist_t *list);
/* A weak reference serving a layer component (a weak container entry, a
 * finalizer): callback(wr, NULL) runs on the referent's death and reads
 * its owner with pmi_weakref_owner_locked.  Never shared. */
PM_INTERNAL void *pmi_weakref_new_owned(void *referent, pm_weakref_cb callback, void *owner,
                                        size_t slot);
/* The owner (NULL once disowned) and slot of an owned weak reference. */
PM_INTERNAL void *pmi_weakref_owner_locked(void *wr, size_t *slot);
PM_INTERNAL void pmi_weakref_set_slot_locked(void *wr, size_t slot);
PM_INTERNAL void pmi_weakref_disown_locked(void *wr);
/* The referent, borrowed, or NULL once it died.  Lock held. */
PM_INTERNAL void *pmi_weakref_referent_locked(void *wr);
/* pm_weakref_get with the lock held. */
PM_INTERNAL void *pmi_weakref_get_locked(void *wr);

#endif /* PM_GC_INTERNAL_H */
