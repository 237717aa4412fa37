/* SPDX-License-Identifier: MIT */
/* grower.c — a program whose heap grows at one site while another holds
 * steady, with a profile written at two points (pm_prof_dump) and the same
 * two points compared by the snapshot API (pm_snapshot_compare).
 *
 *   grower DIR     writes DIR/a.heap, DIR/b.heap and prints the comparison
 *                  (symbolized, top 3) on stdout
 * Used by growth.sh: `pmprof diff a.heap b.heap` and the comparison must
 * both name grow_site first.  Links libpoolmalloc (the pm_* API).
 */
#include <poolmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* External, so that the profiler's symbolizer finds them by name. */
void *grow_site(size_t n);
void *steady_site(size_t n);

__attribute__((noinline)) void *grow_site(size_t n) {
  void *p = malloc(n);
  memset(p, 3, n);
  return p;
}

__attribute__((noinline)) void *steady_site(size_t n) {
  void *p = malloc(n);
  memset(p, 4, n);
  return p;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  char a[4096], b[4096];
  snprintf(a, sizeof a, "%s/a.heap", argv[1]);
  snprintf(b, sizeof b, "%s/b.heap", argv[1]);
  static void *steady[20000];
  for (int i = 0; i < 20000; i++) steady[i] = steady_site(200);
  if (pm_prof_dump(a) != 0) return perror("pm_prof_dump"), 1;
  pm_snapshot_t *s1 = pm_snapshot_take();
  for (int i = 0; i < 20000; i++) {   /* steady: churns but holds the same */
    free(steady[i]);
    steady[i] = steady_site(200);
  }
  for (int i = 0; i < 100000; i++) {
    void *volatile q = grow_site(64);
    (void)q;
  }
  if (pm_prof_dump(b) != 0) return perror("pm_prof_dump"), 1;
  pm_snapshot_t *s2 = pm_snapshot_take();
  if (s1 == NULL || s2 == NULL) return perror("pm_snapshot_take"), 1;
  pm_snapshot_t *d = pm_snapshot_compare(s2, s1);
  if (d == NULL || pm_snapshot_symbolize(d) != 0) return perror("compare"), 1;
  fflush(stdout);
  pm_snapshot_print(d, 1, 3);
  pm_snapshot_free(d);
  pm_snapshot_free(s2);
  pm_snapshot_free(s1);
  return 0;
}
