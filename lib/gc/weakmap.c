/* SPDX-License-Identifier: MIT */
/* gc/weakmap.c — weak containers over the layer's objects: Python's
 * WeakValueDictionary, WeakKeyDictionary and WeakSet for C (issue 13;
 * docs/gc.md, "Weak containers").
 *
 * Owns: the three container types and pm_weakdict_*, pm_weakset_*,
 * pm_weak_len, pm_weak_iter_*.  A container is a GC object (pm_decref it);
 * its entries vanish when their weak side dies:
 *
 *   kind          key                 value               weak side
 *   value dict    object, strong      object, weak        value
 *   key dict      object, weak        object, strong      key
 *   set           object, weak        -                   key
 *
 * Keys are compared with the container's pm_weak_ops_t (hash + equal over
 * live objects; NULL members: identity), so a set with content equality is
 * an interning table (pm_weakset_find).  Each entry owns one weak reference
 * (weakref.c's owned kind) on its weak side, whose callback removes the
 * entry when that object dies — in the thread where it dies, under the
 * layer lock.  The hash of a weak key is stored: a dead key is never
 * hashed or compared.
 *
 * Layout (CPython's compact dict): entries in insertion order in an array,
 * plus an open-addressing index of entry numbers (EMPTY, DUMMY or an
 * entry).  Removing an entry leaves a hole and a DUMMY; holes are squeezed
 * out (compaction, which renumbers entries) only while no iteration is
 * running.  So an iteration, which walks entry numbers, is safe against any
 * mutation during it — deaths, additions, removals — unlike Python's,
 * which defers removals and raises on size changes: it sees every entry
 * present from its start to the moment it reaches it, exactly once.
 *
 * Invariants (lock held): nlive == the non-hole entries; every non-hole
 * entry e has exactly one index slot == e's number, and e.wr's slot == e's
 * number and its owner == the container; nentries <= entries_cap;
 * index_cap == 2 * entries_cap (a power of two).
 * Threads: everything under the layer lock; when the weak side of an entry
 * is ATOMIC the strong side must be ATOMIC or immortal (the entry may be
 * dropped in the thread where the weak side dies: gc.h, "Thread model").
 */
#include "gc_internal.h"
#include <errno.h>

enum { WM_VALUES, WM_KEYS, WM_SET };
#define WM_EMPTY (-1)
#define WM_DUMMY (-2)

typedef struct wm_entry_s {
  size_t hash;
  void *key;                     /* NULL: a hole                          */
  void *value;                   /* NULL in sets                          */
  void *wr;                      /* the owned weak reference (strong ref) */
} wm_entry_t;

typedef struct weakmap_s {
  unsigned kind;
  pm_weak_ops_t ops;
  wm_entry_t *entries;
  size_t nentries, entries_cap, nlive;
  int32_t *index;
  size_t index_cap;
  unsigned iterating;            /* running iterations: no compaction     */
} weakmap_t;

/* The user's hash (or the address), mixed so that the index may use the
 * low bits whatever the user's hash looks like. */
static size_t wm_hash(const weakmap_t *m, const void *o) {
  uint64_t h = m->ops.hash ? (uint64_t)m->ops.hash(o) : (uint64_t)(uintptr_t)o;
  h *= 0x9E3779B97F4A7C15ull;
  return (size_t)(h ^ (h >> 29));
}
static bool wm_equal(const weakmap_t *m, const void *a, const void *b) {
  return a == b || (m->ops.equal && m->ops.equal(a, b));
}

/* ---- The index ------------------------------------------------------------- */
/* The index slot holding entry number idx (which must be there). */
static size_t wm_index_slot_of(const weakmap_t *m, size_t hash, size_t idx) {
  for (size_t i = hash & (m->index_cap - 1);; i = (i + 1) & (m->index_cap - 1))
    if (m->index[i] == (int32_t)idx) return i;
}

/* The entry number of a live entry equal to probe, or -1.  A weak key
 * whose object died is never compared (its callback is on its way). */
static long wm_lookup_locked(const weakmap_t *m, const void *probe, size_t hash) {
  if (m->index_cap == 0) return -1;
  for (size_t i = hash & (m->index_cap - 1);; i = (i + 1) & (m->index_cap - 1)) {
    int32_t idx = m->index[i];
    if (idx == WM_EMPTY) return -1;
    if (idx == WM_DUMMY) continue;
    const wm_entry_t *e = &m->entries[idx];
    if (e->hash != hash || e->key == NULL) continue;
    if (m->kind != WM_VALUES && pmi_weakref_referent_locked(e->wr) == NULL) continue;
    if (wm_equal(m, e->key, probe)) return idx;
  }
}

static void wm_index_insert(weakmap_t *m, size_t hash, size_t idx) {
  pm_assert_internal(idx < m->nentries && m->entries[idx].hash == hash && 2 * m->entries_cap == m->index_cap);
  size_t i = hash & (m->index_cap - 1);
  while (m->index[i] >= 0) i = (i + 1) & (m->index_cap - 1);
  m->index[i] = (int32_t)idx;
}

/* Rebuilds the index for entries_cap (compacting the entries first unless
 * an iteration runs).  Returns false on ENOMEM (nothing changed). */
static bool wm_resize_locked(weakmap_t *m, size_t entries_cap) {
  size_t index_cap = 2 * entries_cap;
  int32_t *index = pmi_malloc(index_cap * sizeof *index);
  wm_entry_t *entries = entries_cap == m->entries_cap ? m->entries
                        : gc_table_grow(m->entries, m->nentries * sizeof *m->entries,
                                        entries_cap * sizeof *m->entries);
  if (index == NULL || entries == NULL) {
    pmi_free(index);
    return false;
  }
  m->entries = entries;
  m->entries_cap = entries_cap;
  if (m->iterating == 0) {       /* squeeze the holes out */
    size_t j = 0;
    for (size_t i = 0; i < m->nentries; i++) {
      if (m->entries[i].key == NULL) continue;
      m->entries[j] = m->entries[i];
      pmi_weakref_set_slot_locked(m->entries[j].wr, j);
      j++;
    }
    m->nentries = j;
  }
  pm_assert_internal(m->iterating != 0 || m->nentries == m->nlive);
  pmi_free(m->index);
  m->index = index;
  m->index_cap = index_cap;
  for (size_t i = 0; i < index_cap; i++) index[i] = WM_EMPTY;
  for (size_t i = 0; i < m->nentries; i++)
    if (m->entries[i].key != NULL) wm_index_insert(m, m->entries[i].hash, i);
  pm_assert_expensive(m->nlive <= m->nentries);
  return true;
}

/* ---- Removing an entry --------------------------------------------------- */
/* The references an entry held, dropped after the lock is released (a drop
 * may run any finalizer or clear(), which may use this container). */
typedef struct wm_drop_s { void *a, *b, *wr; } wm_drop_t;

static wm_drop_t wm_remove_locked(weakmap_t *m, size_t idx) {
  wm_entry_t *e = &m->entries[idx];
  pm_assert_internal(e->key != NULL && m->nlive > 0);
  m->index[wm_index_slot_of(m, e->hash, idx)] = WM_DUMMY;
  wm_drop_t d = {.wr = e->wr};
  if (m->kind == WM_VALUES) d.a = e->key;          /* the strong key */
  else if (m->kind == WM_KEYS) d.a = e->value;     /* the strong value */
  pmi_weakref_disown_locked(e->wr);
  *e = (wm_entry_t){0};
  m->nlive--;
  return d;
}

static void wm_drop(wm_drop_t d) {
  pm_xdecref(d.a);
  pm_xdecref(d.b);
  pm_xdecref(d.wr);
}

/* The owned weak reference's callback: the weak side of an entry died. */
static void wm_on_death(void *wr, void *unused) {
  wm_drop_t d = {0};
  gc_lock(&pmi_gc.lock);
  size_t idx;
  weakmap_t *m = pmi_weakref_owner_locked(wr, &idx);
  /* an owned weak reference is disowned when its entry goes: while it has
   * an owner, its slot is its entry */
  pm_assert(m == NULL || (idx < m->nentries && m->entries[idx].wr == wr));
  if (m != NULL && idx < m->nentries && m->entries[idx].wr == wr) d = wm_remove_locked(m, idx);
  gc_unlock(&pmi_gc.lock);
  wm_drop(d);
}

/* ---- The container types ---------------------------------------------------- */
static int weakmap_traverse(void *self, pm_visit_fn visit, void *arg) {
  weakmap_t *m = self;
  for (size_t i = 0; i < m->nentries; i++) {
    wm_entry_t *e = &m->entries[i];
    if (e->key == NULL) continue;
    if (m->kind == WM_VALUES) PM_VISIT(e->key);
    if (m->kind == WM_KEYS) PM_VISIT(e->value);
    PM_VISIT(e->wr);
  }
  return 0;
}

/* Drops every entry, newest first, each drop outside the lock (a drop may
 * run code that uses this container: it finds it consistent). */
static void weakmap_clear(void *self) {
  weakmap_t *m = self;
  gc_lock(&pmi_gc.lock);
  size_t n = m->nentries;
  gc_unlock(&pmi_gc.lock);
  for (size_t i = n; i-- > 0;) {
    wm_drop_t d = {0};
    gc_lock(&pmi_gc.lock);
    if (i < m->nentries && m->entries[i].key != NULL) d = wm_remove_locked(m, i);
    gc_unlock(&pmi_gc.lock);
    wm_drop(d);
  }
  gc_lock(&pmi_gc.lock);
  if (m->nlive == 0 && m->iterating == 0 && m->nentries != 0) {
    m->nentries = 0;
    for (size_t i = 0; i < m->index_cap; i++) m->index[i] = WM_EMPTY;
  }
  gc_unlock(&pmi_gc.lock);
}

static void weakmap_dealloc(void *self) {
  weakmap_t *m = self;
  pmi_free(m->entries);
  pmi_free(m->index);
}

static pm_type_t weakvaluedict_type = {.name = "WeakValueDictionary", .basicsize = sizeof(weakmap_t),
                                       .traverse = weakmap_traverse, .clear = weakmap_clear,
                                       .dealloc = weakmap_dealloc};
static pm_type_t weakkeydict_type = {.name = "WeakKeyDictionary", .basicsize = sizeof(weakmap_t),
                                     .traverse = weakmap_traverse, .clear = weakmap_clear,
                                     .dealloc = weakmap_dealloc};
static pm_type_t weakset_type = {.name = "WeakSet", .basicsize = sizeof(weakmap_t),
                                 .traverse = weakmap_traverse, .clear = weakmap_clear,
                                 .dealloc = weakmap_dealloc};

static void *weakmap_new(pm_type_t *type, unsigned kind, const pm_weak_ops_t *ops) {
  weakmap_t *m = pm_obj_new(type);
  if (m == NULL) return NULL;
  m->kind = kind;
  if (ops) m->ops = *ops;
  return m;
}
PM_EXPORT void *pm_weakvaluedict_new(const pm_weak_ops_t *key_ops) {
  return weakmap_new(&weakvaluedict_type, WM_VALUES, key_ops);
}
PM_EXPORT void *pm_weakkeydict_new(const pm_weak_ops_t *key_ops) {
  return weakmap_new(&weakkeydict_type, WM_KEYS, key_ops);
}
PM_EXPORT void *pm_weakset_new(const pm_weak_ops_t *ops) {
  return weakmap_new(&weakset_type, WM_SET, ops);
}

/* The container behind c, or NULL (EINVAL) if c is not one of kind. */
static weakmap_t *weakmap_of(void *c, unsigned kind_mask) {
  const pm_type_t *t = c ? pm_obj_type(c) : NULL;
  unsigned kind = t == &weakvaluedict_type ? WM_VALUES : t == &weakkeydict_type ? WM_KEYS
                  : t == &weakset_type ? WM_SET : 99u;
  if (kind == 99u || !(kind_mask & (1u << kind))) { errno = EINVAL; return NULL; }
  return c;
}
#define WM_ANY ((1u << WM_VALUES) | (1u << WM_KEYS) | (1u << WM_SET))
#define WM_DICTS ((1u << WM_VALUES) | (1u << WM_KEYS))

/* ---- Adding ------------------------------------------------------------------- */
/* Thread rule: a strong side held for an ATOMIC weak side is ATOMIC too. */
static bool wm_strong_ok(const void *weak, const void *strong) {
  if (strong == NULL || !gc_is_atomic(gc_head(weak))) return true;
  return gc_is_atomic(gc_head(strong)) || gc_is_immortal(gc_head(strong));
}

static int wm_set(weakmap_t *m, void *key, void *value) {
  void *weak = m->kind == WM_VALUES ? value : key;
  void *strong = m->kind == WM_VALUES ? key : m->kind == WM_KEYS ? value : NULL;
  if (key == NULL || (m->kind != WM_SET && value == NULL) || !wm_strong_ok(weak, strong)) {
    errno = EINVAL;
    return -1;
  }
  size_t hash = wm_hash(m, key);
  /* the weak reference first: making it may run a collection, which may
   * run callbacks on this container */
  void *wr = pmi_weakref_new_owned(weak, wm_on_death, m, 0);
  if (wr == NULL) return -1;
  wm_drop_t d = {0};
  int rc = 0;
  gc_lock(&pmi_gc.lock);
  long idx = wm_lookup_locked(m, key, hash);
  if (idx >= 0 && m->kind == WM_SET) {
    d.wr = wr;                            /* already a member */
    pmi_weakref_disown_locked(wr);
  } else if (idx >= 0) {                  /* replace the value */
    wm_entry_t *e = &m->entries[idx];
    if (m->kind == WM_VALUES) {
      pmi_weakref_disown_locked(e->wr);
      d.wr = e->wr;
      e->wr = wr;
      pmi_weakref_set_slot_locked(wr, (size_t)idx);
    } else {
      d.wr = wr;
      pmi_weakref_disown_locked(wr);
      d.a = e->value;
      pm_incref(value);
    }
    e->value = value;
  } else if (m->nentries == m->entries_cap &&
             !wm_resize_locked(m, m->nlive * 2 >= m->nentries || m->iterating
                                      ? (m->entries_cap ? 2 * m->entries_cap : 8)
                                      : m->entries_cap)) {
    d.wr = wr;
    pmi_weakref_disown_locked(wr);
    errno = ENOMEM;
    rc = -1;
  } else {
    pm_assert_internal(m->nentries < m->entries_cap);
    size_t n = m->nentries++;
    m->entries[n] = (wm_entry_t){.hash = hash, .key = key, .value = value, .wr = wr};
    pmi_weakref_set_slot_locked(wr, n);
    wm_index_insert(m, hash, n);
    m->nlive++;
    if (strong) pm_incref(strong);
  }
  gc_unlock(&pmi_gc.lock);
  wm_drop(d);
  return rc;
}

PM_EXPORT int pm_weakdict_set(void *d, void *key, void *value) {
  weakmap_t *m = weakmap_of(d, WM_DICTS);
  return m ? wm_set(m, key, value) : -1;
}
PM_EXPORT int pm_weakset_add(void *s, void *o) {
  weakmap_t *m = weakmap_of(s, 1u << WM_SET);
  return m ? wm_set(m, o, NULL) : -1;
}

/* ---- Looking up and removing --------------------------------------------------- */
/* The stored entry equal to probe: its key (kind != VALUES) or value, with a
 * new reference, or NULL. */
static void *wm_get(weakmap_t *m, const void *probe, bool want_key) {
  size_t hash = wm_hash(m, probe);
  void *r = NULL;
  gc_lock(&pmi_gc.lock);
  long idx = wm_lookup_locked(m, probe, hash);
  if (idx >= 0) {
    wm_entry_t *e = &m->entries[idx];
    if (want_key && m->kind != WM_VALUES) r = pmi_weakref_get_locked(e->wr);
    else if (!want_key && m->kind == WM_VALUES) r = pmi_weakref_get_locked(e->wr);
    else if (!want_key && m->kind == WM_KEYS && pmi_weakref_referent_locked(e->wr)) pm_incref(r = e->value);
  }
  gc_unlock(&pmi_gc.lock);
  return r;
}

PM_EXPORT void *pm_weakdict_get(void *d, const void *key) {
  weakmap_t *m = weakmap_of(d, WM_DICTS);
  return m && key ? wm_get(m, key, false) : NULL;
}
PM_EXPORT void *pm_weakset_find(void *s, const void *probe) {
  weakmap_t *m = weakmap_of(s, 1u << WM_SET);
  return m && probe ? wm_get(m, probe, true) : NULL;
}
PM_EXPORT int pm_weakset_contains(void *s, const void *o) {
  void *r = pm_weakset_find(s, o);
  pm_xdecref(r);
  return r != NULL;
}

static int wm_del(weakmap_t *m, const void *key) {
  size_t hash = wm_hash(m, key);
  wm_drop_t d = {0};
  gc_lock(&pmi_gc.lock);
  long idx = wm_lookup_locked(m, key, hash);
  if (idx >= 0) d = wm_remove_locked(m, (size_t)idx);
  gc_unlock(&pmi_gc.lock);
  wm_drop(d);
  return idx >= 0 ? 0 : -1;
}
PM_EXPORT int pm_weakdict_del(void *d, const void *key) {
  weakmap_t *m = weakmap_of(d, WM_DICTS);
  return m && key ? wm_del(m, key) : -1;
}
PM_EXPORT int pm_weakset_discard(void *s, const void *o) {
  weakmap_t *m = weakmap_of(s, 1u << WM_SET);
  return m && o ? wm_del(m, o) : -1;
}

PM_EXPORT size_t pm_weak_len(void *c) {
  weakmap_t *m = weakmap_of(c, WM_ANY);
  if (m == NULL) return 0;
  gc_lock(&pmi_gc.lock);
  size_t n = m->nlive;
  gc_unlock(&pmi_gc.lock);
  return n;
}

/* ---- Iteration ------------------------------------------------------------------- */
PM_EXPORT void pm_weak_iter_begin(pm_weak_iter_t *it, void *c) {
  weakmap_t *m = weakmap_of(c, WM_ANY);
  *it = (pm_weak_iter_t){.container = m, .pos = 0};
  if (m == NULL) return;
  pm_incref(m);                         /* alive until pm_weak_iter_end */
  gc_lock(&pmi_gc.lock);
  m->iterating++;
  gc_unlock(&pmi_gc.lock);
}

PM_EXPORT int pm_weak_iter_next(pm_weak_iter_t *it, void **key, void **value) {
  weakmap_t *m = it->container;
  if (m == NULL) return 0;
  void *k = NULL, *v = NULL;
  gc_lock(&pmi_gc.lock);
  while (it->pos < m->nentries) {
    wm_entry_t *e = &m->entries[it->pos++];
    if (e->key == NULL) continue;
    void *weak = pmi_weakref_get_locked(e->wr);   /* NULL: dying, skip it */
    if (weak == NULL) continue;
    if (m->kind == WM_VALUES) { k = e->key; v = weak; pm_incref(k); }
    else { k = weak; v = e->value; if (v) pm_incref(v); }
    break;
  }
  gc_unlock(&pmi_gc.lock);
  if (k == NULL) return 0;
  if (key) *key = k; else pm_decref(k);
  if (value) *value = v; else pm_xdecref(v);
  return 1;
}

PM_EXPORT void pm_weak_iter_end(pm_weak_iter_t *it) {
  weakmap_t *m = it->container;
  if (m == NULL) return;
  it->container = NULL;
  gc_lock(&pmi_gc.lock);
  pm_assert(m->iterating > 0);
  m->iterating--;
  /* squeeze the holes the iteration left, once nobody iterates */
  if (m->iterating == 0 && m->nentries > 8 && m->nlive * 2 < m->nentries)
    wm_resize_locked(m, m->entries_cap);
  gc_unlock(&pmi_gc.lock);
  pm_decref(m);
}
