/* SPDX-License-Identifier: MIT */
/* bench/gc/graph.h — the graph shapes shared by the GC benchmarks (issue 4).
 *
 * gcbench.c (poolmalloc's layer), boehm.c (Boehm GC) and graph.py (CPython)
 * build exactly the same graphs so their collection times compare:
 *
 *   every node has two reference fields, a and b (16 bytes of payload)
 *   live    N nodes in rings of GRAPH_RING: node i.a = the next node of its
 *           ring, node i.b = node graph_cross(i, N) (links across rings);
 *           the ring heads are held by a root array.  Timed: one full
 *           collection that finds nothing (the cost of scanning N objects).
 *   cycles  the same graph; timed: dropping the roots + one full collection
 *           that frees all N nodes (every one is in a cycle).
 *   tree    a complete binary tree of N nodes (a, b = children), no cycles,
 *           held by its root; timed: dropping the root + one full collection
 *           (refcounting frees everything at the drop; Boehm in the collection).
 * Automatic collection is disabled while building, in all three.
 */
#ifndef PM_BENCH_GC_GRAPH_H
#define PM_BENCH_GC_GRAPH_H
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define GRAPH_RING 16
static inline size_t graph_cross(size_t i, size_t n) { return (i * 7919u + 13u) % n; }
/* Node i's successor in its ring of GRAPH_RING nodes (graph.py: nxt). */
static inline size_t graph_ring_next(size_t i, size_t n) {
  size_t ring = i / GRAPH_RING, next = i + 1;
  return next == n || next / GRAPH_RING != ring ? ring * GRAPH_RING : next;
}

static inline double graph_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
/* VmHWM of /proc/self/status: the peak RSS of this image.  Not ru_maxrss,
 * which Linux carries across execve from the forking parent (a Python
 * driver would lend every child its own 14 MiB). */
static inline long graph_peak_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  if (kb < 0) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    kb = ru.ru_maxrss;
  }
  return kb;
}
/* The one output line the suite parses. */
static inline void graph_report(double seconds, size_t freed) {
  printf("time_s=%.9f peak_rss_kb=%ld freed=%zu\n", seconds, graph_peak_rss_kb(), freed);
}
#endif
