/* SPDX-License-Identifier: MIT */
/* poolmalloc/gc.h — reference counting + a generational cycle collector for
 * C objects allocated from poolmalloc's pools (issue 4; docs/gc.md).
 *
 * A client describes each object type once (pm_type_t), allocates objects
 * with pm_obj_new(), and manages them with pm_incref()/pm_decref().  When a
 * count reaches zero the object is finalized, its weak references cleared,
 * its references dropped (type->clear) and its memory freed before
 * pm_decref() returns — iteratively, so a million-long chain, or a chain
 * whose finalizers or weak-reference callbacks each drop the next link,
 * needs no deep C stack.  Garbage cycles are found by a three-generation
 * collector in the manner of CPython's Modules/gcmodule.c, with PEP 442
 * finalization, weak references with callbacks, weakref.finalize, weak
 * dictionaries and sets, PEP 683 immortal objects, freeze/unfreeze, the
 * introspection of Python's gc module and objgraph-style DOT dumps.
 *
 * Memory layout of one object (header cost: 32 bytes, see docs/gc.md):
 *
 *   +------------+------------+-------------+--------+---------+----------+
 *   | gc next    | gc prev    | type | bits | refcnt | gc_refs | client   |
 *   | 8 bytes    | 8 | flags  | 8 bytes     | 4      | 4       | struct...|
 *   +------------+------------+-------------+--------+---------+----------+
 *   ^ block from pmi_malloc                                    ^ pointer the
 *                                                                client sees
 *
 * Thread model (docs/gc.md, "Threads and fork"):
 *   - An object is either NON-ATOMIC (the default: plain loads and stores,
 *     for single-threaded clients or clients that serialise access with their
 *     own lock, like a GIL) or ATOMIC (incref/decref use atomic RMW and may
 *     run from any thread).  The mode is chosen per type (PM_TYPE_ATOMIC),
 *     per object (pm_obj_new_flags(..., PM_OBJ_ATOMIC)) or for every new
 *     object (pm_gc_set_atomic_default(1)).
 *   - The layer changes the count of a non-atomic object only in a thread
 *     that holds a reference to it or that is running its owner's call.
 *     What runs where an object dies runs in the thread that dropped the
 *     last reference: its finalizer, the callbacks of its weak references
 *     (with the layer holding a reference to each weak reference), the
 *     clear() that drops what it held.  Hence: a weak reference, a finalizer
 *     (pm_finalize_new) or a weak-container entry whose referent is ATOMIC
 *     is itself ATOMIC, and the callback object, the finalizer's obj or the
 *     entry's strong side given with an ATOMIC referent must be ATOMIC or
 *     immortal (else EINVAL).
 *   - The layer's lists and tables are protected by one recursive lock:
 *     allocation, deallocation and collection are safe from any thread.
 *   - A collection reads the object graph: while it runs no other thread may
 *     change references held by tracked objects.  Multi-threaded clients
 *     either collect at their own safepoints (pm_gc_disable() + explicit
 *     pm_gc_collect()) or stop their mutators from a PM_GC_PHASE_START
 *     callback (pm_gc_callback_add) and resume them at PM_GC_PHASE_STOP.
 *   - fork(): the child is consistent and has no collection running, unless
 *     the forking thread itself was collecting (fork from a callback or a
 *     finalizer): that collection goes on in the child.  Objects whose death
 *     was under way in other threads leak in the child.
 *
 * Usable from C and C++ (GCC or Clang: the inline functions use the
 * __atomic builtins, which also work on the plain uint32_t count).  The
 * library itself reaches shared fields only through its lib/atomic.h; a
 * public header cannot include that, so these inline functions use the
 * builtins directly, with the orders named at the fields below.
 */
#ifndef POOLMALLOC_GC_H
#define POOLMALLOC_GC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Types --------------------------------------------------------------- */
/* visit is called once per reference an object holds; a non-zero return
 * stops the traversal and is returned by traverse. */
typedef int (*pm_visit_fn)(void *target, void *arg);

typedef struct pm_type_s {
  const char *name;          /* for diagnostics and pm_gc statistics      */
  size_t basicsize;          /* bytes of the client struct                */
  size_t itemsize;           /* bytes per item for pm_obj_new_var, else 0 */
  /* Calls visit(ref, arg) for every non-NULL object reference the object
   * holds (PM_VISIT does the NULL test), and nothing else: it must not
   * allocate, free or change references.  NULL: the object holds no
   * references and is never tracked by the cycle collector. */
  int (*traverse)(void *self, pm_visit_fn visit, void *arg);
  /* Drops every reference (set the field to NULL, then pm_decref) and leaves
   * the object valid.  Called when the object dies, and by the collector to
   * break cycles.  Required when traverse is set. */
  void (*clear)(void *self);
  /* Optional.  Runs at most once per object (PEP 442), before anything in
   * its cycle is cleared; may resurrect the object by storing a reference. */
  void (*finalize)(void *self);
  /* Optional.  Releases non-object resources (buffers, fds) right before
   * the memory is freed; must not touch other objects. */
  void (*dealloc)(void *self);
  unsigned flags;            /* PM_TYPE_*                                 */
  /* ---- filled in by the layer ---- */
  uint32_t ready_;           /* set by pm_type_ready; release/acquire:    */
                             /* stored with release once registered,      */
                             /* loaded with acquire without the lock      */
} pm_type_t;

#define PM_TYPE_ATOMIC 0x1u    /* objects of this type use atomic counts */

#define PM_VISIT(p)                                                            \
  do {                                                                         \
    if ((p) != NULL) {                                                         \
      int pm_vret_ = visit((void *)(p), arg);                                  \
      if (pm_vret_) return pm_vret_;                                           \
    }                                                                          \
  } while (0)

/* ---- The hidden header (do not touch the fields directly) ---------------- */
typedef struct pm_gchead_s {
  struct pm_gchead_s *next;  /* generation list                           */
  uintptr_t prev;            /* previous | PM_GCF_* collector flags       */
  uintptr_t type_bits;       /* const pm_type_t * | PM_OBJF_* (immutable) */
  uint32_t refcnt;           /* count (>= IMMORTAL: immortal); relaxed    */
                             /* loads; NON-ATOMIC: relaxed stores, the    */
                             /* client serialises them; ATOMIC: RMW,      */
                             /* +1 relaxed, -1 release, and an acquire    */
                             /* load after the last -1                    */
  uint32_t gc_refs;          /* scratch count during a collection         */
} pm_gchead_t;
#define PM_GC_HEADER_SIZE 32
#define PM_OBJF_ATOMIC ((uintptr_t)1)
/* PEP 683: the top bit marks immortality; the count starts at 3 << 30 so
 * that unchecked increments or decrements stay inside the immortal range. */
#define PM_REFCNT_IMMORTAL 0x80000000u
#define PM_REFCNT_IMMORTAL_INIT 0xC0000000u

#define PM_GCHEAD(o) ((pm_gchead_t *)((char *)(o) - PM_GC_HEADER_SIZE))
/* The same for a const object (clients build with -Wcast-qual -Werror). */
#define PM_GCHEAD_CONST(o) ((const pm_gchead_t *)((const char *)(o) - PM_GC_HEADER_SIZE))

/* ---- Objects ------------------------------------------------------------- */
/* Validates and registers a type (done implicitly by the first pm_obj_new).
 * Returns 0, or -1 if the description is invalid (traverse without clear). */
int pm_type_ready(pm_type_t *type);

#define PM_OBJ_ATOMIC 0x1u     /* this object uses atomic counts         */
#define PM_OBJ_UNTRACKED 0x2u  /* do not track (caller tracks it later)  */
/* A zeroed object with refcount 1, tracked if the type has traverse.
 * NULL with errno = ENOMEM on failure.  May run an automatic collection. */
void *pm_obj_new(pm_type_t *type);
void *pm_obj_new_var(pm_type_t *type, size_t nitems);
void *pm_obj_new_flags(pm_type_t *type, size_t nitems, unsigned flags);
const pm_type_t *pm_obj_type(const void *o);
uint32_t pm_obj_refcnt(const void *o);
/* Bytes usable by the client after the header (>= the requested size). */
size_t pm_obj_size(const void *o);
/* CPython's PyObject_GC_Track/UnTrack.  Untracking is allowed at any time,
 * from a finalizer during a collection too: the object then stops being a
 * candidate of that collection, and what it references counts as
 * referenced from outside. */
void pm_obj_track(void *o);
void pm_obj_untrack(void *o);
int pm_obj_is_tracked(const void *o);
int pm_obj_is_finalized(const void *o);
/* PEP 683.  Immortal objects ignore incref/decref, are never freed and are
 * never examined by collections (they are roots).  Irreversible. */
void pm_obj_make_immortal(void *o);
static inline int pm_obj_is_immortal(const void *o) {
  return __atomic_load_n(&PM_GCHEAD_CONST(o)->refcnt, __ATOMIC_RELAXED) >= PM_REFCNT_IMMORTAL;
}
/* Validates that o is a live object of a registered type; on failure prints
 * "poolmalloc: gc: <problem> 0x... (type <name>)" and aborts. */
void pm_obj_check(const void *o);

/* Slow paths of the inline functions (not to be called directly). */
void pm_obj_dealloc_(void *o);
void pm_obj_refcnt_error_(void *o);
void pm_obj_incref_checked_(void *o);
void pm_obj_decref_checked_(void *o);

/* ---- Reference counting -------------------------------------------------- */
/* Define PM_GC_CHECKED before including this header to validate every
 * incref/decref (use after free, non-objects) at the cost of a call. */
#ifdef PM_GC_CHECKED
static inline void pm_incref(void *o) { pm_obj_incref_checked_(o); }
static inline void pm_decref(void *o) { pm_obj_decref_checked_(o); }
#else
static inline void pm_incref(void *o) {
  pm_gchead_t *h = PM_GCHEAD(o);
  uint32_t r = __atomic_load_n(&h->refcnt, __ATOMIC_RELAXED);
  if (__builtin_expect(r >= PM_REFCNT_IMMORTAL, 0)) return;
  if (h->type_bits & PM_OBJF_ATOMIC)
    __atomic_fetch_add(&h->refcnt, 1, __ATOMIC_RELAXED);
  else
    __atomic_store_n(&h->refcnt, r + 1, __ATOMIC_RELAXED);
}
static inline void pm_decref(void *o) {
  pm_gchead_t *h = PM_GCHEAD(o);
  uint32_t r = __atomic_load_n(&h->refcnt, __ATOMIC_RELAXED);
  if (__builtin_expect(r >= PM_REFCNT_IMMORTAL, 0)) return;
  if (h->type_bits & PM_OBJF_ATOMIC) {
    r = __atomic_fetch_sub(&h->refcnt, 1, __ATOMIC_RELEASE);
    if (r == 1) {
      /* Acquire every other thread's release decrement before the object
       * is torn down.  An acquire load of the count (it reads our own 0, the
       * end of the release sequence) rather than a fence: same code on x86,
       * and ThreadSanitizer understands it (issue 13, item 9). */
      (void)__atomic_load_n(&h->refcnt, __ATOMIC_ACQUIRE);
      pm_obj_dealloc_(o);
    } else if (__builtin_expect(r == 0, 0)) {
      pm_obj_refcnt_error_(o);
    }
    return;
  }
  if (__builtin_expect(r <= 1, 0)) {
    if (r == 1) {
      __atomic_store_n(&h->refcnt, 0, __ATOMIC_RELAXED);
      pm_obj_dealloc_(o);
    } else {
      pm_obj_refcnt_error_(o);
    }
    return;
  }
  __atomic_store_n(&h->refcnt, r - 1, __ATOMIC_RELAXED);
}
#endif
static inline void pm_xdecref(void *o) { if (o) pm_decref(o); }
static inline void pm_xincref(void *o) { if (o) pm_incref(o); }
/* Sets *slot to NULL, then drops the old reference (Py_CLEAR). */
#define PM_CLEAR(slot)                                                         \
  do {                                                                         \
    void *pm_old_ = (void *)(slot);                                            \
    if (pm_old_) { (slot) = NULL; pm_decref(pm_old_); }                        \
  } while (0)

/* ---- Weak references ----------------------------------------------------- */
/* A weak reference is itself a GC object (pm_decref it when done).  When its
 * referent dies, the reference is cleared and then, if the weak reference
 * object is still alive and not itself garbage, callback(wr, cb_obj) runs,
 * in the thread where the referent died.  The callbacks of one referent run
 * newest first (as Python's).  cb_obj is NULL or a GC object the weak
 * reference holds strongly.  Without callback and cb_obj, the weak
 * reference is shared: every such call for the same referent returns the
 * same one (with a new reference), as CPython reuses its basic ref.
 * NULL + EINVAL if the referent is already dying, or if it is ATOMIC and
 * cb_obj is neither ATOMIC nor immortal ("Thread model" above).
 * There is no weak proxy: a proxy forwards attribute access and operators
 * to its referent, which C cannot intercept; pm_weakref_get is the way in. */
typedef void (*pm_weakref_cb)(void *wr, void *cb_obj);
void *pm_weakref_new(void *referent, pm_weakref_cb callback, void *cb_obj);
/* The referent with a new strong reference, or NULL if it is dead. */
void *pm_weakref_get(void *wr);
/* weakref.getweakrefcount: weak references currently pointing at o. */
size_t pm_weakref_count(const void *o);
/* weakref.getweakrefs: up to cap of them into out (borrowed; the shared
 * one first, then newest first); returns how many there are. */
size_t pm_weakref_getweakrefs(const void *o, void **out, size_t cap);
extern pm_type_t pm_weakref_type;

/* ---- weakref.finalize ---------------------------------------------------- */
/* fn(obj, data) runs exactly once: when referent dies (in that thread), on
 * pm_finalize_call, or at exit if atexit is set (the default) — whichever
 * comes first, never after pm_finalize_detach and never after the exit-time
 * run.  The layer keeps the finalizer alive until then, so the caller may
 * drop the returned reference at once.  obj is NULL or a GC object held
 * strongly until fn has run (if it references the referent, the referent
 * never dies: as in Python).  At exit the alive finalizers with atexit set
 * run newest first.  NULL + EINVAL/ENOMEM on failure. */
typedef void (*pm_finalize_fn)(void *obj, void *data);
void *pm_finalize_new(void *referent, pm_finalize_fn fn, void *obj, void *data);
/* finalize(): runs fn now if alive; 1 if it ran, 0 if it was dead. */
int pm_finalize_call(void *f);
/* finalize.detach(): if alive, marks it dead without running fn and gives
 * back the referent (a new reference), obj (the finalizer's reference) and
 * data; returns 1, or 0 if it was dead (nothing written). */
int pm_finalize_detach(void *f, void **referent, void **obj, void **data);
int pm_finalize_alive(const void *f);
int pm_finalize_set_atexit(void *f, int run_at_exit);
int pm_finalize_get_atexit(const void *f);

/* ---- Weak containers ------------------------------------------------------ */
/* WeakValueDictionary, WeakKeyDictionary and WeakSet over the layer's
 * objects.  Each is a GC object; an entry vanishes when its weak side dies.
 *   value dict: key held strongly, value weakly
 *   key dict:   key weakly, value strongly
 *   set:        members weakly
 * Keys are compared with ops->hash and ops->equal (NULL ops, or a NULL
 * member: by identity).  They run under the layer lock and must only read
 * the objects.  A set with content equality is an interning table
 * (pm_weakset_find).  Iteration is safe against any change during it,
 * deaths included: it returns every entry present from its start until it
 * is reached, once, with new references. */
typedef struct pm_weak_ops_s {
  size_t (*hash)(const void *obj);
  int (*equal)(const void *a, const void *b);   /* non-zero: equal */
} pm_weak_ops_t;
void *pm_weakvaluedict_new(const pm_weak_ops_t *key_ops);
void *pm_weakkeydict_new(const pm_weak_ops_t *key_ops);
void *pm_weakset_new(const pm_weak_ops_t *ops);
/* d[key] = value; 0, or -1 with errno (EINVAL, ENOMEM). */
int pm_weakdict_set(void *d, void *key, void *value);
/* d.get(key): the value with a new reference, or NULL. */
void *pm_weakdict_get(void *d, const void *key);
/* del d[key]: 0, or -1 if absent. */
int pm_weakdict_del(void *d, const void *key);
int pm_weakset_add(void *s, void *o);
int pm_weakset_discard(void *s, const void *o);
int pm_weakset_contains(void *s, const void *o);
/* The member equal to probe, with a new reference, or NULL. */
void *pm_weakset_find(void *s, const void *probe);
/* Live entries of a weak dict or set. */
size_t pm_weak_len(void *c);
typedef struct pm_weak_iter_s {
  void *container;
  size_t pos;
} pm_weak_iter_t;
void pm_weak_iter_begin(pm_weak_iter_t *it, void *c);
/* 1 and *key, *value (new references; NULL pointers: not wanted; value is
 * NULL for sets), or 0 at the end. */
int pm_weak_iter_next(pm_weak_iter_t *it, void **key, void **value);
/* Required after every begin. */
void pm_weak_iter_end(pm_weak_iter_t *it);

/* ---- The collector ------------------------------------------------------- */
#define PM_GC_NGEN 3
#define PM_GC_PERMANENT 3      /* the frozen generation, for counts only */

/* Collects generation gen (0..2; 2 = full; out of range = 2) and every
 * younger one; returns the number of unreachable objects found (resurrected
 * ones excluded) plus the weak references freed right after their callbacks
 * (as CPython), or -1 if a collection is already running (re-entered from
 * a finalizer or callback, or in another thread). */
long pm_gc_collect(int gen);
void pm_gc_enable(void);
void pm_gc_disable(void);
int pm_gc_isenabled(void);
/* CPython's thresholds: gen 0 runs after t0 net allocations, gen 1 after t1
 * gen-0 collections, gen 2 after t2 gen-1 collections (and only when the
 * objects awaiting a first full collection exceed 25% of the long-lived
 * ones).  Defaults 2000/10/10; t0 == 0 disables automatic collection. */
void pm_gc_set_threshold(long t0, long t1, long t2);
void pm_gc_get_threshold(long out[3]);
/* The bytes trigger: when this many bytes have been allocated through the
 * layer since the last collection, gen 0 is collected; once the bytes since
 * the last full collection exceed max(bytes, live bytes after it), a full
 * one is.  0 disables it.  Default 64 MiB. */
void pm_gc_set_bytes_threshold(size_t bytes);
size_t pm_gc_get_bytes_threshold(void);
/* gc.get_count(): out[0] net allocations since the last gen-0 collection,
 * out[1] gen-0 collections since the last gen-1 one, out[2] likewise. */
void pm_gc_get_count(long out[3]);
/* Objects currently in generation gen (0..2, or PM_GC_PERMANENT). */
size_t pm_gc_gen_size(int gen);
/* Collections that find garbage and free at least this many bytes (or that
 * empty the debug quarantine) end with a pm_malloc_trim-style release of
 * the emptied pools.  Default 1 MiB; 0: every collection that finds
 * garbage. */
void pm_gc_set_trim_threshold(size_t bytes);

/* Up to cap tracked objects of generation gen (0..2, PM_GC_PERMANENT, or -1:
 * every tracked object — the generations, the permanent one, the tracked
 * immortals and the garbage list) into out; returns how many there are.
 * Borrowed pointers. */
size_t pm_gc_get_objects(int gen, void **out, size_t cap);
/* Tracked objects that refer to o; returns how many there are. */
size_t pm_gc_get_referrers(const void *o, void **out, size_t cap);
/* gc.get_referrers(*objs): tracked objects referring to any of objs. */
size_t pm_gc_get_referrers_many(void *const *objs, size_t nobjs, void **out, size_t cap);
/* Objects o refers to (by its traverse); returns how many there are. */
size_t pm_gc_get_referents(void *o, void **out, size_t cap);
/* gc.get_referents(*objs): the referents of each of objs, in order. */
size_t pm_gc_get_referents_many(void *const *objs, size_t nobjs, void **out, size_t cap);
/* gc.freeze(): every object of generations 0..2 moves to the permanent
 * generation and is ignored by collections; unfreeze() moves them back to
 * generation 2. */
void pm_gc_freeze(void);
void pm_gc_unfreeze(void);
size_t pm_gc_get_freeze_count(void);
/* gc.is_tracked: 1 if o is tracked (a candidate for collection), else 0. */
int pm_gc_is_tracked(const void *o);

/* Debug flags (gc.set_debug, with CPython's values); lines go to stderr. */
#define PM_GC_DEBUG_STATS 0x1u       /* one line per collection             */
#define PM_GC_DEBUG_COLLECTABLE 0x2u /* "gc: collectable <type 0x...>" for
                                        each unreachable object found        */
#define PM_GC_DEBUG_UNCOLLECTABLE 0x4u /* "gc: uncollectable <type 0x...>"  */
#define PM_GC_DEBUG_SAVEALL 0x20u    /* garbage goes to the garbage list    */
#define PM_GC_DEBUG_LEAK (PM_GC_DEBUG_COLLECTABLE | PM_GC_DEBUG_UNCOLLECTABLE | PM_GC_DEBUG_SAVEALL)
#define PM_GC_DEBUG_QUARANTINE 0x100u /* keep freed objects poisoned a while
                                        so pm_obj_check names use-after-free
                                        (on by default in --enable-debug;
                                        at most 4096 objects and 1 MiB, and
                                        emptied by every collection) */
void pm_gc_set_debug(unsigned flags);
unsigned pm_gc_get_debug(void);
/* gc.garbage: the uncollectable objects (unreachable, but still alive after
 * the collector cleared them all), and every unreachable object found while
 * SAVEALL was set.  The list holds one reference to each. */
size_t pm_gc_get_garbage(void **out, size_t cap);
/* Drops the list's references; the objects go back to generation 2. */
void pm_gc_clear_garbage(void);
/* gc.garbage.remove(o): the same for one object; 0, or -1 if not listed. */
int pm_gc_garbage_remove(void *o);

/* Per-generation statistics (gc.get_stats). */
typedef struct pm_gc_stats_s {
  size_t collections;     /* collections of this generation           */
  size_t collected;       /* as pm_gc_collect returns, summed         */
  size_t uncollectable;   /* moved to the garbage list                */
  size_t candidates;      /* objects examined (CPython 3.14)          */
  double duration;        /* seconds spent collecting (CPython 3.14)  */
} pm_gc_stats_t;
void pm_gc_get_stats(pm_gc_stats_t out[PM_GC_NGEN]);

/* gc.callbacks: fn(phase, gen, info, data) around every collection. */
enum { PM_GC_PHASE_START = 0, PM_GC_PHASE_STOP = 1 };
typedef struct pm_gc_info_s {
  int generation;
  long collected;         /* STOP only: as pm_gc_collect returns        */
  long uncollectable;     /* STOP only: moved to the garbage list        */
  size_t candidates;      /* STOP only: objects of the generations collected */
  double duration;        /* STOP only: seconds, callbacks excluded      */
} pm_gc_info_t;
typedef void (*pm_gc_callback_fn)(int phase, const pm_gc_info_t *info, void *data);
/* Returns 0, or -1 if the table (16 entries) is full. */
int pm_gc_callback_add(pm_gc_callback_fn fn, void *data);
int pm_gc_callback_remove(pm_gc_callback_fn fn, void *data);

/* ---- Leak hunting (objgraph) ----------------------------------------------- */
/* objgraph's show_refs: the objects reachable from roots within depth
 * edges, as a Graphviz DOT graph written to fd (render with
 * `dot -Tpng`): one box per object (type, address, refcount; the roots
 * filled), one arrow per reference, and a legend counting the objects by
 * type.  Returns the number of objects written, or -1 (ENOMEM). */
long pm_gc_dump_dot(int fd, void *const *roots, size_t n, int depth);
/* objgraph's show_backrefs: the tracked objects that refer to targets,
 * within depth levels, the same way. */
long pm_gc_dump_dot_referrers(int fd, void *const *targets, size_t n, int depth);
/* objgraph's most-common-types count over the tracked objects (what
 * gc.get_objects sees): up to cap entries, most numerous first; returns the
 * number of distinct types.  The names are borrowed from the types. */
typedef struct pm_gc_typecount_s {
  const char *name;
  const pm_type_t *type;
  size_t count;
} pm_gc_typecount_t;
size_t pm_gc_most_common_types(pm_gc_typecount_t *out, size_t cap);
/* objgraph.show_most_common_types: "name count" lines on fd (limit <= 64). */
void pm_gc_show_most_common_types(int fd, size_t limit);

/* Every new object is atomic (1) or not (0, the default). */
void pm_gc_set_atomic_default(int atomic);
/* Objects the layer has allocated and not freed (tracked or not). */
size_t pm_gc_live_objects(void);

#ifdef __cplusplus
}
#endif
#endif /* POOLMALLOC_GC_H */
