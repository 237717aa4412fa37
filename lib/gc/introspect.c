/* SPDX-License-Identifier: MIT */
/* gc/introspect.c — looking at the object graph: Python's gc.get_objects,
 * get_referrers and get_referents (over several objects at once), and the
 * leak-hunting helpers of objgraph: show_refs / show_backrefs as Graphviz
 * DOT and show_most_common_types (issues 4 and 13; docs/gc.md,
 * "Introspection").
 *
 * Owns: pm_gc_get_objects, pm_gc_get_referrers[_many],
 * pm_gc_get_referents[_many], pm_gc_dump_dot[_referrers],
 * pm_gc_most_common_types, pm_gc_show_most_common_types.
 *
 * Everything runs under the layer lock, so the graph cannot change while
 * it is read (user code runs only as traverse, which must not change it).
 * Results go to the caller's buffer (out, cap; the return value is the
 * total, so a caller can size a second call) or to a file descriptor
 * through pmi_fmt_print: no stdio.  The graph walks keep their bookkeeping
 * (visited set, queue) in pmi_malloc'd tables freed before returning.
 */
#include "gc_internal.h"
#include <errno.h>
#include <string.h>

/* Every list that holds tracked objects, for the "all objects" queries. */
static pm_gchead_t *introspect_list(int i) {
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
    pm_gchead_t *l;
    if (gen == -1) l = introspect_list(i);
    else if (i == 0 && gen >= 0 && gen < PM_GC_NGEN) l = &pmi_gc.gen[gen];
    else if (i == 0 && gen == PM_GC_PERMANENT) l = &pmi_gc.permanent;
    else l = NULL;
    if (l == NULL) break;
    for (pm_gchead_t *h = l->next; h != l; h = h->next, n++)
      if (n < cap) out[n] = gc_obj(h);
  }
  gc_unlock(&pmi_gc.lock);
  return n;
}

/* ---- A set of object pointers (open addressing, pmi_malloc'd) ------------- */
typedef struct ptrset_s {
  const void **keys;
  uint32_t *vals;              /* per key: a node index (DOT) or unused */
  size_t cap, n;
} ptrset_t;

static size_t ptrset_hash(const void *p, size_t cap) {
  return (size_t)(((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

/* The slot of p, or of the empty slot where it would go. */
static size_t ptrset_slot(const ptrset_t *s, const void *p) {
  size_t i = ptrset_hash(p, s->cap);
  while (s->keys[i] != NULL && s->keys[i] != p) i = (i + 1) & (s->cap - 1);
  return i;
}

static bool ptrset_grow(ptrset_t *s) {
  size_t ncap = s->cap ? s->cap * 2 : 64;
  ptrset_t ns = {pmi_calloc(ncap, sizeof *ns.keys), pmi_calloc(ncap, sizeof *ns.vals), ncap, s->n};
  if (ns.keys == NULL || ns.vals == NULL) {
    pmi_free(ns.keys), pmi_free(ns.vals);
    return false;
  }
  for (size_t i = 0; i < s->cap; i++) {
    if (s->keys[i] == NULL) continue;
    size_t j = ptrset_slot(&ns, s->keys[i]);
    ns.keys[j] = s->keys[i];
    ns.vals[j] = s->vals[i];
  }
  pmi_free(s->keys), pmi_free(s->vals);
  *s = ns;
  return true;
}

/* Adds p with value v unless present; returns the slot, or SIZE_MAX on ENOMEM. */
static size_t ptrset_add(ptrset_t *s, const void *p, uint32_t v) {
  if ((s->n + 1) * 2 > s->cap && !ptrset_grow(s)) return SIZE_MAX;
  size_t i = ptrset_slot(s, p);
  if (s->keys[i] == NULL) {
    s->keys[i] = p;
    s->vals[i] = v;
    s->n++;
  }
  return i;
}

static bool ptrset_find(const ptrset_t *s, const void *p, uint32_t *v) {
  if (s->cap == 0) return false;
  size_t i = ptrset_slot(s, p);
  if (s->keys[i] == NULL) return false;
  if (v) *v = s->vals[i];
  return true;
}

static void ptrset_free(ptrset_t *s) {
  pmi_free(s->keys);
  pmi_free(s->vals);
  *s = (ptrset_t){0};
}

/* ---- get_referrers / get_referents ------------------------------------------ */
/* The targets: up to 8 are compared directly, more go into a set. */
typedef struct targets_s {
  void *const *objs;
  size_t n;
  ptrset_t set;
  bool use_set;
} targets_t;

static bool targets_init(targets_t *t, void *const *objs, size_t n) {
  *t = (targets_t){.objs = objs, .n = n};
  if (n <= 8) return true;
  t->use_set = true;
  for (size_t i = 0; i < n; i++)
    if (ptrset_add(&t->set, objs[i], 0) == SIZE_MAX) { ptrset_free(&t->set); return false; }
  return true;
}

static bool targets_has(const targets_t *t, const void *p) {
  if (t->use_set) return ptrset_find(&t->set, p, NULL);
  for (size_t i = 0; i < t->n; i++)
    if (t->objs[i] == p) return true;
  return false;
}

typedef struct refs_query_s {
  const targets_t *targets;
  bool hit;
  void **out;
  size_t cap, n;
} refs_query_t;

static int visit_find(void *o, void *arg) {
  refs_query_t *q = arg;
  if (targets_has(q->targets, o)) { q->hit = true; return 1; }
  return 0;
}

PM_EXPORT size_t pm_gc_get_referrers_many(void *const *objs, size_t nobjs, void **out, size_t cap) {
  targets_t targets;
  if (!targets_init(&targets, objs, nobjs)) { errno = ENOMEM; return 0; }
  refs_query_t q = {.targets = &targets};
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  for (int i = 0; introspect_list(i); i++) {
    pm_gchead_t *l = introspect_list(i);
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
  ptrset_free(&targets.set);
  return q.n;
}

PM_EXPORT size_t pm_gc_get_referrers(const void *o, void **out, size_t cap) {
  void *objs[1] = {(void *)o};
  return pm_gc_get_referrers_many(objs, 1, out, cap);
}

static int visit_collect(void *o, void *arg) {
  refs_query_t *q = arg;
  if (q->n < q->cap) q->out[q->n] = o;
  q->n++;
  return 0;
}

PM_EXPORT size_t pm_gc_get_referents_many(void *const *objs, size_t nobjs, void **out, size_t cap) {
  refs_query_t q = {.out = out, .cap = cap};
  gc_lock(&pmi_gc.lock);
  for (size_t i = 0; i < nobjs; i++) {
    if (objs[i] == NULL) continue;
    const pm_type_t *t = gc_type(gc_head(objs[i]));
    if (t->traverse) t->traverse(objs[i], visit_collect, &q);
  }
  gc_unlock(&pmi_gc.lock);
  return q.n;
}

PM_EXPORT size_t pm_gc_get_referents(void *o, void **out, size_t cap) {
  return pm_gc_get_referents_many(&o, 1, out, cap);
}

/* ---- Most common types (objgraph's show_most_common_types) ----------------- */
/* Counts the tracked objects of every list by type (gc.get_objects() is what
 * objgraph counts: untracked leaf objects are not enumerable).  Lock held;
 * counts[i] belongs to pmi_gc.types[i]. */
static size_t *count_types_locked(void) {
  size_t *counts = pmi_calloc(pmi_gc.types_cap ? pmi_gc.types_cap : 1, sizeof *counts);
  if (counts == NULL) return NULL;
  for (int i = 0; introspect_list(i); i++) {
    pm_gchead_t *l = introspect_list(i);
    for (pm_gchead_t *h = l->next; h != l; h = h->next) {
      size_t k = pmi_object_type_index_locked(gc_type(h));
      if (k != SIZE_MAX) counts[k]++;
    }
  }
  return counts;
}

PM_EXPORT size_t pm_gc_most_common_types(pm_gc_typecount_t *out, size_t cap) {
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  size_t *counts = count_types_locked();
  if (counts == NULL) {
    gc_unlock(&pmi_gc.lock);
    errno = ENOMEM;
    return 0;
  }
  size_t ndistinct = 0, nout = 0;
  for (size_t i = 0; i < pmi_gc.types_cap; i++) {
    if (counts[i] == 0) continue;
    ndistinct++;
    /* insertion into the top cap, by count then name */
    pm_gc_typecount_t e = {pmi_gc.types[i]->name ? pmi_gc.types[i]->name : "?", pmi_gc.types[i], counts[i]};
    size_t j = nout < cap ? nout++ : cap;
    while (j > 0 && (out[j - 1].count < e.count ||
                     (out[j - 1].count == e.count && strcmp(out[j - 1].name, e.name) > 0))) {
      if (j < cap) out[j] = out[j - 1];
      j--;
    }
    if (j < cap) out[j] = e;
  }
  gc_unlock(&pmi_gc.lock);
  pmi_free(counts);
  return ndistinct;
}

PM_EXPORT void pm_gc_show_most_common_types(int fd, size_t limit) {
  enum { MAX = 64 };
  pm_gc_typecount_t top[MAX];
  size_t n = pm_gc_most_common_types(top, limit < MAX ? limit : MAX);
  if (n > limit) n = limit;
  if (n > MAX) n = MAX;
  for (size_t i = 0; i < n; i++) pmi_fmt_print(fd, "%-24s %zu\n", top[i].name, top[i].count);
}

/* ---- Graphviz DOT (objgraph's show_refs / show_backrefs) ------------------- */
/* Output is buffered and written in pieces below fmt.c's 512-byte line. */
typedef struct dot_out_s {
  int fd;
  char buf[448];
  size_t len;
} dot_out_t;

static void dot_flush(dot_out_t *d) {
  if (d->len == 0) return;
  d->buf[d->len] = '\0';
  pmi_fmt_print(d->fd, "%s", d->buf);
  d->len = 0;
}

static void dot_printf(dot_out_t *d, const char *fmt, ...) PM_PRINTF(2, 3);
static void dot_printf(dot_out_t *d, const char *fmt, ...) {
  char piece[256];
  va_list ap;
  va_start(ap, fmt);
  size_t n = pmi_fmt_vformat(piece, sizeof piece, fmt, ap);
  va_end(ap);
  if (n >= sizeof piece) n = sizeof piece - 1;
  if (d->len + n >= sizeof d->buf) dot_flush(d);
  memcpy(d->buf + d->len, piece, n);
  d->len += n;
}

/* A type name as the inside of a DOT string: quotes and backslashes
 * escaped, at most 48 characters. */
static void dot_escape(char *out, size_t size, const char *s) {
  size_t j = 0;
  for (size_t i = 0; s && s[i] && i < 48 && j + 3 < size; i++) {
    if (s[i] == '"' || s[i] == '\\') out[j++] = '\\';
    out[j++] = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
  }
  out[j] = '\0';
}

/* The nodes written so far, in BFS order, with their depth. */
typedef struct dot_graph_s {
  dot_out_t out;
  ptrset_t index;              /* object -> node number */
  void **nodes;
  uint32_t *depth;
  size_t n, cap;
  bool failed;                 /* ENOMEM: the output is truncated */
  /* per-type counts of the written nodes, for the legend */
  const pm_type_t **types;
  size_t *type_counts;
  size_t ntypes, types_cap;
} dot_graph_t;

static void dot_count_type(dot_graph_t *g, const pm_type_t *t) {
  for (size_t i = 0; i < g->ntypes; i++)
    if (g->types[i] == t) { g->type_counts[i]++; return; }
  if (g->ntypes == g->types_cap) {
    size_t ncap = g->types_cap ? 2 * g->types_cap : 16;
    const pm_type_t **nt = gc_table_grow((void *)g->types, g->ntypes * sizeof *nt, ncap * sizeof *nt);
    if (nt == NULL) { g->failed = true; return; }
    g->types = nt;
    size_t *nc = gc_table_grow(g->type_counts, g->ntypes * sizeof *nc, ncap * sizeof *nc);
    if (nc == NULL) { g->failed = true; return; }
    g->type_counts = nc;
    g->types_cap = ncap;
  }
  g->types[g->ntypes] = t;
  g->type_counts[g->ntypes++] = 1;
}

/* The node number of o, adding (and writing) it at depth d if new; -1 if o
 * is not a live object (the edge is then drawn to a "non-GC pointer" note)
 * or on ENOMEM. */
static long dot_node(dot_graph_t *g, void *o, uint32_t d, bool root) {
  uint32_t k;
  if (ptrset_find(&g->index, o, &k)) return k;
  if (!pmi_object_is_valid_locked(o)) return -1;
  if (g->n == g->cap) {
    size_t ncap = g->cap ? 2 * g->cap : 64;
    void **nn = gc_table_grow(g->nodes, g->n * sizeof *nn, ncap * sizeof *nn);
    if (nn == NULL) { g->failed = true; return -1; }
    g->nodes = nn;
    uint32_t *nd = gc_table_grow(g->depth, g->n * sizeof *nd, ncap * sizeof *nd);
    if (nd == NULL) { g->failed = true; return -1; }
    g->depth = nd;
    g->cap = ncap;
  }
  if (ptrset_add(&g->index, o, (uint32_t)g->n) == SIZE_MAX) { g->failed = true; return -1; }
  k = (uint32_t)g->n++;
  g->nodes[k] = o;
  g->depth[k] = d;
  pm_gchead_t *h = gc_head(o);
  const pm_type_t *t = gc_type(h);
  dot_count_type(g, t);
  char name[100];
  dot_escape(name, sizeof name, t->name ? t->name : "?");
  uint32_t rc = gc_refcnt(h);
  if (rc >= PM_REFCNT_IMMORTAL)
    dot_printf(&g->out, "  n%u [label=\"%s\\n%p\\nimmortal\"%s];\n", k, name, o,
               root ? ", fillcolor=\"#ffd479\"" : "");
  else
    dot_printf(&g->out, "  n%u [label=\"%s\\n%p\\nrefcnt %u\"%s];\n", k, name, o, rc,
               root ? ", fillcolor=\"#ffd479\"" : "");
  return k;
}

static void dot_begin(dot_graph_t *g, int fd, const char *title) {
  *g = (dot_graph_t){.out = {.fd = fd}};
  dot_printf(&g->out, "digraph \"%s\" {\n", title);
  dot_printf(&g->out, "  node [shape=box, style=filled, fillcolor=\"#e8f0fe\", fontname=\"monospace\"];\n");
}

/* The legend (objects written, by type, most common first), then the end. */
static long dot_end(dot_graph_t *g) {
  dot_printf(&g->out, "  labelloc=b;\n  label=\"%zu objects:", g->n);
  for (size_t shown = 0; shown < g->ntypes && shown < 8; shown++) {
    size_t best = shown;
    for (size_t i = shown + 1; i < g->ntypes; i++)
      if (g->type_counts[i] > g->type_counts[best]) best = i;
    const pm_type_t *bt = g->types[best];
    size_t bc = g->type_counts[best];
    g->types[best] = g->types[shown], g->type_counts[best] = g->type_counts[shown];
    g->types[shown] = bt, g->type_counts[shown] = bc;
    char name[100];
    dot_escape(name, sizeof name, bt->name ? bt->name : "?");
    dot_printf(&g->out, "%s %zu %s", shown ? "," : "", bc, name);
  }
  dot_printf(&g->out, "%s\";\n}\n", g->failed ? " (truncated: out of memory)" : "");
  dot_flush(&g->out);
  long n = g->failed ? -1 : (long)g->n;
  ptrset_free(&g->index);
  pmi_free(g->nodes), pmi_free(g->depth);
  pmi_free((void *)g->types), pmi_free(g->type_counts);
  if (n < 0) errno = ENOMEM;
  return n;
}

typedef struct dot_visit_s {
  dot_graph_t *g;
  uint32_t from, depth;
  const void *from_obj;
} dot_visit_t;

static int visit_dot_ref(void *o, void *arg) {
  dot_visit_t *v = arg;
  long k = dot_node(v->g, o, v->depth + 1, false);
  if (k >= 0) dot_printf(&v->g->out, "  n%u -> n%ld;\n", v->from, k);
  else if (!v->g->failed) dot_printf(&v->g->out, "  n%u -> \"%p (not a GC object)\";\n", v->from, o);
  return 0;
}

PM_EXPORT long pm_gc_dump_dot(int fd, void *const *roots, size_t n, int depth) {
  dot_graph_t g;
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  dot_begin(&g, fd, "objgraph");
  for (size_t i = 0; i < n; i++) dot_node(&g, roots[i], 0, true);
  /* breadth first: g.nodes is the queue */
  for (size_t i = 0; i < g.n && !g.failed; i++) {
    void *o = g.nodes[i];
    const pm_type_t *t = gc_type(gc_head(o));
    if ((int)g.depth[i] >= depth || t->traverse == NULL) continue;
    dot_visit_t v = {&g, (uint32_t)i, g.depth[i], o};
    t->traverse(o, visit_dot_ref, &v);
  }
  long r = dot_end(&g);
  gc_unlock(&pmi_gc.lock);
  return r;
}

/* Referrers, level by level: one scan of every tracked object per level
 * finds the edges into the nodes added at the previous level. */
typedef struct dot_back_s {
  dot_graph_t *g;
  uint32_t level;
  bool hit;
} dot_back_t;

static int visit_dot_backref(void *o, void *arg) {
  dot_back_t *b = arg;
  uint32_t k;
  if (ptrset_find(&b->g->index, o, &k) && b->g->depth[k] == b->level) b->hit = true;
  return 0;
}

typedef struct dot_edges_s {
  dot_graph_t *g;
  uint32_t from, level;
} dot_edges_t;

static int visit_dot_backedge(void *o, void *arg) {
  dot_edges_t *e = arg;
  uint32_t k;
  if (ptrset_find(&e->g->index, o, &k) && e->g->depth[k] == e->level)
    dot_printf(&e->g->out, "  n%u -> n%u;\n", e->from, k);
  return 0;
}

PM_EXPORT long pm_gc_dump_dot_referrers(int fd, void *const *targets, size_t n, int depth) {
  dot_graph_t g;
  gc_lock(&pmi_gc.lock);
  gc_ensure_init_locked();
  dot_begin(&g, fd, "objgraph_backrefs");
  for (size_t i = 0; i < n; i++) dot_node(&g, targets[i], 0, true);
  for (uint32_t level = 0; (int)level < depth && !g.failed; level++) {
    size_t before = g.n;
    for (int li = 0; introspect_list(li) && !g.failed; li++) {
      pm_gchead_t *l = introspect_list(li);
      for (pm_gchead_t *h = l->next; h != l && !g.failed; h = h->next) {
        void *o = gc_obj(h);
        dot_back_t b = {&g, level, false};
        gc_type(h)->traverse(o, visit_dot_backref, &b);
        if (!b.hit) continue;
        long k = dot_node(&g, o, level + 1, false);
        if (k < 0) continue;
        dot_edges_t e = {&g, (uint32_t)k, level};
        gc_type(h)->traverse(o, visit_dot_backedge, &e);
      }
    }
    if (g.n == before) break;   /* nothing refers to the last level */
  }
  long r = dot_end(&g);
  gc_unlock(&pmi_gc.lock);
  return r;
}
