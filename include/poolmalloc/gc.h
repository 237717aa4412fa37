/* SPDX-License-Identifier: MIT */
/* poolmalloc/gc.h — reference counting + a generational cycle collector for
 * C objects allocated from poolmalloc's pools (issue 4; docs/gc.md).
 *
 * A client describes each object type once (pm_type_t), allocates objects
 * with pm_obj_new(), and manages them with pm_incref()/pm_decref().  When a
 * count reaches zero the object is finalized, its weak references cleared,
 * its references dropped (type->clear) and its memory freed before
 * pm_decref() returns — iteratively, so a million-long chain needs no deep
 * C stack.  Garbage cycles are found by a three-generation collector in the
 * manner of CPython's Modules/gcmodule.c, with PEP 442 finalization, weak
 * references with callbacks, PEP 683 immortal objects, freeze/unfreeze and
 * the introspection of Python's gc module.
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
 * Thread model (docs/gc.md, "Threads"):
 *   - An object is either NON-ATOMIC (the default: plain loads and stores,
 *     for single-threaded clients or clients that serialise access with their
 *     own lock, like a GIL) or ATOMIC (incref/decref use atomic RMW and may
 *     run from any thread).  The mode is chosen per type (PM_TYPE_ATOMIC),
 *     per object (pm_obj_new_flags(..., PM_OBJ_ATOMIC)) or for every new
 *     object (pm_gc_set_atomic_default(1)).
 *   - The layer's lists are protected by one recursive lock: allocation,
 *     deallocation and collection are safe from any thread.
 *   - A collection reads the object graph: while it runs no other thread may
 *     change references held by tracked objects.  Multi-threaded clients
 *     either collect at their own safepoints (pm_gc_disable() + explicit
 *     pm_gc_collect()) or stop their mutators from a PM_GC_PHASE_START
 *     callback (pm_gc_callback_add) and resume them at PM_GC_PHASE_STOP.
 *
 * Usable from C and C++ (GCC or Clang: the inline functions use the
 * __atomic builtins, which also work on the plain uint32_t count).
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
  uint32_t ready_;           /* set by pm_type_ready                      */
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
  uint32_t refcnt;           /* atomic RMW iff ATOMIC; >= IMMORTAL: immortal */
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
/* CPython's PyObject_GC_Track/UnTrack. */
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
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
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
 * object is still alive and not itself garbage, callback(wr, cb_obj) runs.
 * cb_obj is NULL or a GC object the weak reference holds strongly. */
typedef void (*pm_weakref_cb)(void *wr, void *cb_obj);
void *pm_weakref_new(void *referent, pm_weakref_cb callback, void *cb_obj);
/* The referent with a new strong reference, or NULL if it is dead. */
void *pm_weakref_get(void *wr);
/* Weak references currently pointing at o. */
size_t pm_weakref_count(const void *o);
extern pm_type_t pm_weakref_type;

/* ---- The collector ------------------------------------------------------- */
#define PM_GC_NGEN 3
#define PM_GC_PERMANENT 3      /* the frozen generation, for counts only */

/* Collects generation gen (0..2; 2 = full; out of range = 2) and every
 * younger one; returns the number of unreachable objects found (resurrected
 * ones excluded), or -1 if a collection is already running (re-entered from
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
/* Collections freeing at least this many bytes end with pm_malloc_trim-style
 * release of the emptied pools.  Default 1 MiB; 0 trims after every one. */
void pm_gc_set_trim_threshold(size_t bytes);

/* Up to cap tracked objects of generation gen (-1: all generations and the
 * permanent one) into out; returns how many there are.  Borrowed pointers. */
size_t pm_gc_get_objects(int gen, void **out, size_t cap);
/* Tracked objects that refer to o; returns how many there are. */
size_t pm_gc_get_referrers(const void *o, void **out, size_t cap);
/* Objects o refers to (by its traverse); returns how many there are. */
size_t pm_gc_get_referents(void *o, void **out, size_t cap);
/* gc.freeze(): every tracked object moves to the permanent generation and is
 * ignored by collections; unfreeze() moves them back to generation 2. */
void pm_gc_freeze(void);
void pm_gc_unfreeze(void);
size_t pm_gc_get_freeze_count(void);
/* A tracked object is a candidate for collection only if this returns 0. */
int pm_gc_is_tracked(const void *o);

/* Debug flags (gc.set_debug). */
#define PM_GC_DEBUG_STATS 0x1u       /* one line per collection on stderr   */
#define PM_GC_DEBUG_SAVEALL 0x20u    /* garbage goes to the garbage list    */
#define PM_GC_DEBUG_QUARANTINE 0x100u /* keep freed objects poisoned a while
                                        so pm_obj_check names use-after-free
                                        (on by default in --enable-debug) */
void pm_gc_set_debug(unsigned flags);
unsigned pm_gc_get_debug(void);
/* gc.garbage: objects found unreachable while SAVEALL was set (they hold
 * one reference each from the list). */
size_t pm_gc_get_garbage(void **out, size_t cap);
/* Drops the list's references; the objects go back to generation 2. */
void pm_gc_clear_garbage(void);

/* Per-generation statistics (gc.get_stats). */
typedef struct pm_gc_stats_s {
  size_t collections;     /* collections of this generation           */
  size_t collected;       /* unreachable objects found                */
  size_t uncollectable;   /* found unreachable but not freed by clear */
} pm_gc_stats_t;
void pm_gc_get_stats(pm_gc_stats_t out[PM_GC_NGEN]);

/* gc.callbacks: fn(phase, gen, info, data) around every collection. */
enum { PM_GC_PHASE_START = 0, PM_GC_PHASE_STOP = 1 };
typedef struct pm_gc_info_s {
  int generation;
  long collected;         /* STOP only */
  long uncollectable;     /* STOP only */
} pm_gc_info_t;
typedef void (*pm_gc_callback_fn)(int phase, const pm_gc_info_t *info, void *data);
/* Returns 0, or -1 if the table (16 entries) is full. */
int pm_gc_callback_add(pm_gc_callback_fn fn, void *data);
int pm_gc_callback_remove(pm_gc_callback_fn fn, void *data);

/* Every new object is atomic (1) or not (0, the default). */
void pm_gc_set_atomic_default(int atomic);
/* Objects the layer has allocated and not freed (tracked or not). */
size_t pm_gc_live_objects(void);

#ifdef __cplusplus
}
#endif
#endif /* POOLMALLOC_GC_H */
