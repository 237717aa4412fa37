/* SPDX-License-Identifier: MIT */
/* bench/gc/gcbench.c — benchmarks of poolmalloc's GC layer (issue 4), run by
 * bench/suites/gc.sh.  Links the shipped libpoolmalloc.
 *
 *   gcbench graph live|cycles|tree N   collection time (graph.h shapes)
 *   gcbench micro incref N             ns per pm_incref+pm_decref pair
 *   gcbench micro incref-atomic N      the same on a PM_OBJ_ATOMIC object
 *   gcbench micro obj-alloc N          ns per pm_obj_new + pm_decref of a
 *                                      tracked 32-byte object, in batches
 *                                      of 1000 (allocate all, free all)
 * Prints "time_s=... peak_rss_kb=... freed=..." (graph) or
 * "ns_per_op=..." (micro) on one line.
 *
 * Instruction counts of the timed section alone (deterministic, for a
 * shared machine; docs/gc.md, "Benchmarks"):
 *   valgrind --tool=callgrind --collect-atstart=no bench/gc/gcbench graph tree 100000
 * counts only between TIMED_BEGIN and TIMED_END (callgrind's client
 * requests from Debian's valgrind headers; no-ops outside valgrind).
 */
#include "graph.h"
#include <poolmalloc.h>
#include <poolmalloc/gc.h>
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifdef CALLGRIND_TOGGLE_COLLECT
#define TIMED_BEGIN() CALLGRIND_TOGGLE_COLLECT
#define TIMED_END() CALLGRIND_TOGGLE_COLLECT
#else
#define TIMED_BEGIN() ((void)0)
#define TIMED_END() ((void)0)
#endif

typedef struct node_s { struct node_s *a, *b; } node_t;
static int node_traverse(void *self, pm_visit_fn visit, void *arg) {
  node_t *n = self;
  PM_VISIT(n->a);
  PM_VISIT(n->b);
  return 0;
}
static void node_clear(void *self) {
  node_t *n = self;
  PM_CLEAR(n->a);
  PM_CLEAR(n->b);
}
static pm_type_t node_type = {.name = "node", .basicsize = sizeof(node_t),
                              .traverse = node_traverse, .clear = node_clear};

typedef struct obj32_s { void *p[4]; } obj32_t;
static int obj32_traverse(void *self, pm_visit_fn visit, void *arg) { return 0; }
static void obj32_clear(void *self) {}
static pm_type_t obj32_type = {.name = "obj32", .basicsize = sizeof(obj32_t),
                               .traverse = obj32_traverse, .clear = obj32_clear};

/* ---- Graphs ------------------------------------------------------------- */
static int graph(const char *shape, size_t n) {
  pm_gc_disable();
  node_t **nodes = pm_malloc(n * sizeof *nodes);
  for (size_t i = 0; i < n; i++) nodes[i] = pm_obj_new(&node_type);
  double t0, t1;
  size_t live0 = pm_gc_live_objects();
  if (strcmp(shape, "tree") == 0) {
    for (size_t i = 0; i < n; i++) {
      if (2 * i + 1 < n) nodes[i]->a = nodes[2 * i + 1];   /* steal the new reference */
      if (2 * i + 2 < n) nodes[i]->b = nodes[2 * i + 2];
    }
    node_t *root = nodes[0];
    pm_free(nodes);
    TIMED_BEGIN();
    t0 = graph_now();
    pm_decref(root);
    pm_gc_collect(2);
    t1 = graph_now();
    TIMED_END();
  } else {
    size_t nroots = (n + GRAPH_RING - 1) / GRAPH_RING;
    for (size_t i = 0; i < n; i++) {
      size_t next = graph_ring_next(i, n);
      nodes[i]->a = nodes[next], pm_incref(nodes[next]);
      nodes[i]->b = nodes[graph_cross(i, n)], pm_incref(nodes[i]->b);
    }
    /* keep one reference per ring head (the roots), drop the rest */
    node_t **roots = pm_malloc(nroots * sizeof *roots);
    for (size_t i = 0; i < n; i++)
      if (i % GRAPH_RING == 0) roots[i / GRAPH_RING] = nodes[i];
      else pm_decref(nodes[i]);
    pm_free(nodes);
    if (strcmp(shape, "live") == 0) {
      TIMED_BEGIN();
      t0 = graph_now();
      pm_gc_collect(2);
      t1 = graph_now();
      TIMED_END();
    } else {
      TIMED_BEGIN();
      t0 = graph_now();
      for (size_t r = 0; r < nroots; r++) pm_decref(roots[r]);
      pm_gc_collect(2);
      t1 = graph_now();
      TIMED_END();
    }
    pm_free(roots);
  }
  size_t live1 = pm_gc_live_objects();
  graph_report(t1 - t0, live0 - live1);
  return 0;
}

/* ---- Micro benchmarks ----------------------------------------------------- */
static int micro(const char *what, size_t n) {
  double t0, t1;
  if (strncmp(what, "incref", 6) == 0) {
    void *o = pm_obj_new_flags(&node_type, 0, strcmp(what, "incref-atomic") == 0 ? PM_OBJ_ATOMIC : 0);
    void *volatile vo = o;
    TIMED_BEGIN();
    t0 = graph_now();
    for (size_t i = 0; i < n; i++) {
      void *p = vo;              /* a fresh load each time, as real code has */
      pm_incref(p);
      pm_decref(p);
    }
    t1 = graph_now();
    TIMED_END();
    if (pm_obj_refcnt(o) != 1) return 1;
    pm_decref(o);
  } else if (strcmp(what, "obj-alloc") == 0) {
    enum { BATCH = 1000 };
    static void *batch[BATCH];
    size_t rounds = n / BATCH;
    n = rounds * BATCH;
    TIMED_BEGIN();
    t0 = graph_now();
    for (size_t r = 0; r < rounds; r++) {
      for (int i = 0; i < BATCH; i++) batch[i] = pm_obj_new(&obj32_type);
      for (int i = 0; i < BATCH; i++) pm_decref(batch[i]);
    }
    t1 = graph_now();
    TIMED_END();
  } else {
    return 2;
  }
  printf("ns_per_op=%.4f\n", (t1 - t0) * 1e9 / (double)n);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: gcbench graph live|cycles|tree N | gcbench micro incref|incref-atomic|obj-alloc N\n");
    return 2;
  }
  size_t n = strtoull(argv[3], NULL, 10);
  if (strcmp(argv[1], "graph") == 0) return graph(argv[2], n);
  if (strcmp(argv[1], "micro") == 0) return micro(argv[2], n);
  return 2;
}
