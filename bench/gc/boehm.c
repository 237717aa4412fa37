/* SPDX-License-Identifier: MIT */
/* bench/gc/boehm.c — the same graphs (graph.h) under the Boehm-Demers-Weiser
 * collector (Debian's libgc-dev), for bench/suites/gc.sh (issue 4).
 *
 *   boehm live|cycles|tree N
 * Nodes are GC_MALLOC'd (scanned conservatively, as Boehm is normally
 * used); the root array too.  Automatic collection is off while building
 * (GC_disable), as in gcbench and graph.py; the timed part ends with
 * GC_gcollect(), a full mark-sweep.  freed = the drop in GC_get_heap_size()
 * - GC_get_free_bytes() divided by the node size, i.e. nodes reclaimed.
 */
#include "graph.h"
#include <gc.h>

typedef struct node_s { struct node_s *a, *b; } node_t;
static node_t **volatile roots;   /* a GC root: static data is scanned */
static node_t *volatile root;

static size_t used_bytes(void) { return GC_get_heap_size() - GC_get_free_bytes(); }

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: boehm live|cycles|tree N\n"); return 2; }
  const char *shape = argv[1];
  size_t n = strtoull(argv[2], NULL, 10);
  GC_INIT();
  GC_disable();
  node_t **nodes = GC_MALLOC(n * sizeof *nodes);
  for (size_t i = 0; i < n; i++) nodes[i] = GC_MALLOC(sizeof(node_t));
  double t0, t1;
  size_t before, after;
  if (strcmp(shape, "tree") == 0) {
    for (size_t i = 0; i < n; i++) {
      if (2 * i + 1 < n) nodes[i]->a = nodes[2 * i + 1];
      if (2 * i + 2 < n) nodes[i]->b = nodes[2 * i + 2];
    }
    root = nodes[0];
    nodes = NULL;
    GC_enable();
    GC_gcollect();               /* the node array itself is garbage now */
    before = used_bytes();
    t0 = graph_now();
    root = NULL;
    GC_gcollect();
    t1 = graph_now();
  } else {
    size_t nroots = (n + GRAPH_RING - 1) / GRAPH_RING;
    for (size_t i = 0; i < n; i++) {
      nodes[i]->a = nodes[graph_ring_next(i, n)];
      nodes[i]->b = nodes[graph_cross(i, n)];
    }
    roots = GC_MALLOC(nroots * sizeof *roots);
    for (size_t i = 0; i < n; i += GRAPH_RING) roots[i / GRAPH_RING] = nodes[i];
    nodes = NULL;
    GC_enable();
    GC_gcollect();
    before = used_bytes();
    t0 = graph_now();
    if (strcmp(shape, "cycles") == 0) roots = NULL;
    GC_gcollect();
    t1 = graph_now();
  }
  after = used_bytes();
  graph_report(t1 - t0, before > after ? (before - after) / sizeof(node_t) : 0);
  return 0;
}
