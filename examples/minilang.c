/* SPDX-License-Identifier: MIT */
/* examples/minilang.c — using poolmalloc's GC layer the way an interpreter
 * would (issues 4 and 13; docs/gc.md, "Example").
 *
 * A tiny dynamic object model: ints and strings (leaf objects, never
 * tracked), lists (a growable array of references) and dicts (string keys,
 * open addressing), plus an "environment" dict that plays the interpreter's
 * globals.  As CPython does, the ints -5..256 are preallocated immortal
 * objects shared by everyone, and dict keys are interned: one str object
 * per distinct name, found through a weak set keyed by content (a name
 * nobody uses any more leaves the table by itself, as CPython's mortal
 * interned strings did).  The program builds the kind of graphs scripts
 * build — a list that contains itself, parent/child links, a cache held
 * through weak references — drops them, and lets reference counting and
 * the cycle collector reclaim everything.
 *
 *   cc minilang.c $(pkg-config --cflags --libs poolmalloc) -o minilang
 *   ./minilang [--dot FILE]   FILE: the graph of x and the tree's top as
 *                             Graphviz DOT (dot -Tpng FILE -o graph.png)
 */
#include <fcntl.h>
#include <stdbool.h>
#include <poolmalloc.h>
#include <poolmalloc/gc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- Leaf objects: int and str (no traverse: untracked) ----------------- */
typedef struct { long value; } int_obj;
typedef struct { size_t len; char s[]; } str_obj;
static pm_type_t int_type = {.name = "int", .basicsize = sizeof(int_obj)};
static pm_type_t str_type = {.name = "str", .basicsize = sizeof(str_obj) + 1, .itemsize = 1};

/* CPython's small-int cache: -5..256 made once, immortal (PEP 683), so
 * handing one out needs no reference count at all. */
#define SMALL_MIN (-5)
#define SMALL_MAX 256
static int_obj *small_ints[SMALL_MAX - SMALL_MIN + 1];
static void make_small_ints(void) {
  for (long v = SMALL_MIN; v <= SMALL_MAX; v++) {
    int_obj *o = pm_obj_new(&int_type);
    o->value = v;
    pm_obj_make_immortal(o);
    small_ints[v - SMALL_MIN] = o;
  }
}
/* A new reference to an int object (the cached one for small values). */
static void *new_int(long v) {
  if (v >= SMALL_MIN && v <= SMALL_MAX) return small_ints[v - SMALL_MIN];
  int_obj *o = pm_obj_new(&int_type);
  o->value = v;
  return o;
}
static void *new_str(const char *s) {
  size_t n = strlen(s);
  str_obj *o = pm_obj_new_var(&str_type, n);
  o->len = n;
  memcpy(o->s, s, n + 1);
  return o;
}

/* ---- Interning: a weak set keyed by content ----------------------------- */
static size_t str_hash_any(const void *p);
static int str_equal(const void *a, const void *b) {
  const str_obj *x = a, *y = b;
  return x->len == y->len && memcmp(x->s, y->s, x->len) == 0;
}
static const pm_weak_ops_t str_ops = {str_hash_any, str_equal};
static void *interned;          /* pm_weakset_new(&str_ops) */
/* sys.intern: the interned string equal to s (a new reference), s itself
 * if it is the first; s's reference is consumed. */
static str_obj *intern(str_obj *s) {
  str_obj *found = pm_weakset_find(interned, s);
  if (found) { pm_decref(s); return found; }
  pm_weakset_add(interned, s);
  return s;
}

/* ---- list: items live in a separate pm_malloc'd array ------------------- */
typedef struct { size_t n, cap; void **items; } list_obj;
static int list_traverse(void *self, pm_visit_fn visit, void *arg) {
  list_obj *l = self;
  for (size_t i = 0; i < l->n; i++) PM_VISIT(l->items[i]);
  return 0;
}
static void list_clear(void *self) {
  list_obj *l = self;
  size_t n = l->n;
  l->n = 0;                    /* valid (empty) before the decrefs run */
  for (size_t i = 0; i < n; i++) pm_xdecref(l->items[i]);
}
static void list_dealloc(void *self) { pm_free(((list_obj *)self)->items); }
static pm_type_t list_type = {.name = "list", .basicsize = sizeof(list_obj),
                              .traverse = list_traverse, .clear = list_clear,
                              .dealloc = list_dealloc};
static list_obj *new_list(void) { return pm_obj_new(&list_type); }
/* Appends a new reference to item. */
static void list_append(list_obj *l, void *item) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 4;
    l->items = pm_realloc(l->items, l->cap * sizeof *l->items);
  }
  pm_incref(item);
  l->items[l->n++] = item;
}

/* ---- dict: str keys, open addressing ------------------------------------ */
typedef struct { void *key, *value; } entry_t;
typedef struct { size_t n, cap; entry_t *e; } dict_obj;
static int dict_traverse(void *self, pm_visit_fn visit, void *arg) {
  dict_obj *d = self;
  for (size_t i = 0; i < d->cap; i++) { PM_VISIT(d->e[i].key); PM_VISIT(d->e[i].value); }
  return 0;
}
static void dict_clear(void *self) {
  dict_obj *d = self;
  for (size_t i = 0; i < d->cap; i++) { PM_CLEAR(d->e[i].key); PM_CLEAR(d->e[i].value); }
  d->n = 0;
}
static void dict_dealloc(void *self) { pm_free(((dict_obj *)self)->e); }
static pm_type_t dict_type = {.name = "dict", .basicsize = sizeof(dict_obj),
                              .traverse = dict_traverse, .clear = dict_clear,
                              .dealloc = dict_dealloc};
static size_t str_hash(const str_obj *s) {
  size_t h = 1469598103934665603ull;
  for (size_t i = 0; i < s->len; i++) h = (h ^ (unsigned char)s->s[i]) * 1099511628211ull;
  return h;
}
static size_t str_hash_any(const void *p) { return str_hash(p); }
static dict_obj *new_dict(void) {
  dict_obj *d = pm_obj_new(&dict_type);
  d->cap = 8;
  d->e = pm_calloc(d->cap, sizeof *d->e);
  return d;
}
static entry_t *dict_slot(dict_obj *d, const str_obj *k) {
  for (size_t i = str_hash(k) & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
    str_obj *x = d->e[i].key;
    if (x == NULL || (x->len == k->len && memcmp(x->s, k->s, k->len) == 0)) return &d->e[i];
  }
}
/* d[name] = value (new references to both). */
static void dict_set(dict_obj *d, const char *name, void *value) {
  if ((d->n + 1) * 2 > d->cap) {
    entry_t *old = d->e;
    size_t ocap = d->cap;
    d->cap *= 2;
    d->e = pm_calloc(d->cap, sizeof *d->e);
    for (size_t i = 0; i < ocap; i++) if (old[i].key) *dict_slot(d, old[i].key) = old[i];
    pm_free(old);
  }
  str_obj *k = intern(new_str(name));
  entry_t *e = dict_slot(d, k);
  pm_incref(value);
  if (e->key) { pm_decref(k); pm_decref(e->value); e->value = value; return; }
  e->key = k, e->value = value, d->n++;
}
static void *dict_get(dict_obj *d, const char *name) {
  str_obj *k = new_str(name);
  void *v = dict_slot(d, k)->value;
  pm_decref(k);
  return v;
}
/* `del d[name]`, modelled as rebinding to 0 (this dict has no tombstones). */
static void dict_del(dict_obj *d, const char *name) {
  void *zero = new_int(0);
  dict_set(d, name, zero);
  pm_decref(zero);
}

/* ---- A script's worth of work ------------------------------------------- */
static void on_cache_entry_dead(void *wr, void *cb_obj) {
  (void)wr;                                /* pm_weakref_get(wr) is NULL now */
  int_obj *counter = cb_obj;
  counter->value++;
}

/* --dot FILE: the cycle of x, and the top of the tree with its parent
 * links and its interned keys, as objgraph's show_refs would draw them. */
static void dump_dot(const char *path, void *x, void *tree) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { perror(path); return; }
  void *roots[2] = {x, tree};
  long n = pm_gc_dump_dot(fd, roots, 2, 3);
  close(fd);
  printf("dot: %ld objects written to %s\n", n, path);
}

int main(int argc, char **argv) {
  const char *dot_path = argc == 3 && strcmp(argv[1], "--dot") == 0 ? argv[2] : NULL;
  make_small_ints();
  interned = pm_weakset_new(&str_ops);
  dict_obj *globals = new_dict();
  pm_obj_make_immortal(globals);          /* like an interpreter's module dict */

  /* x = [1, 2]; x.append(x)  -> a list that contains itself */
  list_obj *x = new_list();
  void *one = new_int(1), *two = new_int(2);
  list_append(x, one), list_append(x, two), list_append(x, x);
  pm_decref(one), pm_decref(two);
  dict_set(globals, "x", x);
  pm_decref(x);

  /* tree with parent back-links, 1000 nodes: every child <-> parent cycle */
  dict_obj *root = new_dict();
  dict_obj *parent = root;
  for (int i = 0; i < 1000; i++) {
    dict_obj *child = new_dict();
    dict_set(child, "parent", parent);
    dict_set(parent, "child", child);
    pm_decref(child);
    parent = child;
  }
  dict_set(globals, "tree", root);
  pm_decref(root);

  /* a cache of weak references: entries vanish when the objects die */
  int_obj *dead_count = new_int(0);
  list_obj *cache = new_list();
  list_obj *strong = new_list();
  for (int i = 0; i < 100; i++) {
    list_obj *v = new_list();
    void *wr = pm_weakref_new(v, on_cache_entry_dead, dead_count);
    list_append(cache, wr), pm_decref(wr);
    if (i % 2 == 0) list_append(strong, v);
    pm_decref(v);                          /* odd ones die right here */
  }
  dict_set(globals, "cache", cache), pm_decref(cache);

  list_obj *xs = dict_get(globals, "x");
  printf("len(x) = %zu, x[2] is x: %s\n", xs->n, xs->items[2] == xs ? "True" : "False");
  void *a = new_int(256), *b = new_int(256), *c = new_int(257), *d = new_int(257);
  printf("256 is 256: %s, 257 is 257: %s\n", a == b ? "True" : "False", c == d ? "True" : "False");
  pm_decref(a), pm_decref(b), pm_decref(c), pm_decref(d);
  dict_obj *t1 = dict_get(globals, "tree"), *t2 = dict_get(t1, "child");
  str_obj *probe = intern(new_str("child"));   /* a new reference */
  bool shared = dict_slot(t1, probe)->key == probe && dict_slot(t2, probe)->key == probe;
  printf("interned: %zu strings; the tree's dicts share one \"child\" key: %s\n",
         pm_weak_len(interned), shared ? "True" : "False");
  pm_decref(probe);
  if (dot_path) dump_dot(dot_path, xs, t1);
  long found = pm_gc_collect(2);
  printf("live objects: %zu, first collection found %ld unreachable\n", pm_gc_live_objects(), found);
  printf("weak cache: %ld entries died by refcount\n", dead_count->value);

  /* del x; del tree; del strong -> cycles become garbage */
  dict_del(globals, "x");
  dict_del(globals, "tree");
  pm_decref(strong);
  found = pm_gc_collect(2);
  printf("after del: collection found %ld unreachable\n", found);
  printf("weak cache: %ld entries died in total\n", dead_count->value);

  pm_gc_stats_t st[PM_GC_NGEN];
  pm_gc_get_stats(st);
  printf("gen2: %zu collections, %zu collected, %zu uncollectable\n", st[2].collections,
         st[2].collected, st[2].uncollectable);
  dict_del(globals, "cache");
  pm_decref(dead_count);
  pm_gc_collect(2);
  /* what must be left: the small ints, the globals dict (immortal), the
   * intern table with one weak reference per member, and its members (the
   * globals' keys) */
  size_t nint = SMALL_MAX - SMALL_MIN + 1, nstr = pm_weak_len(interned);
  size_t live = pm_gc_live_objects();
  printf("interned after del: %zu strings (the globals' keys)\n", nstr);
  printf("left: %zu objects = %zu small ints + %zu interned keys + %zu weak references "
         "+ the intern table + the globals dict: %s\n",
         live, nint, nstr, nstr, live == nint + 2 * nstr + 2 ? "True" : "False");
  return 0;
}
