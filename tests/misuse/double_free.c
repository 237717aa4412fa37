/* SPDX-License-Identifier: MIT */
/* tests/misuse/double_free.c — free the same block twice.
 * Usage: double_free SIZE [remote|interleaved].  With "remote", the first
 * free happens in another thread (the block goes onto its owner's
 * remote-free list); with "interleaved", another block of the pool is freed
 * between the two frees of p.
 * Expects "poolmalloc: double free of 0x<addr>".
 *
 * poolmalloc reports a same-thread free(p); free(p) at the second free, and
 * any other double free at the latest when the block would be handed out
 * again (lib/pool.c, "Double frees"), so after the double free this program
 * keeps allocating from the same class: it must die before malloc returns
 * p to two owners. */
#include "misuse.h"
#include <pthread.h>
#include <string.h>

static void *free_it(void *p) {
  free(p);
  return NULL;
}

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 32;
  int remote = argc > 2 && strcmp(argv[2], "remote") == 0;
  int interleaved = argc > 2 && strcmp(argv[2], "interleaved") == 0;
  void *other = malloc(size);
  void *keep = malloc(size), *p = malloc(size);   /* p is not alone in its pool */
  misuse_announce(p);
  if (remote) {
    pthread_t t;
    if (pthread_create(&t, NULL, free_it, p) != 0) return 2;
    pthread_join(t, NULL);
  } else {
    free(p);
  }
  if (interleaved) free(other);
  free(p);
  int handed_out = 0;
  for (int i = 0; i < 100000; i++) {          /* more than a pool holds */
    void *q = malloc(size);
    if (q == p && ++handed_out == 2) break;   /* two owners: corruption */
  }
  free(keep);
  return misuse_not_detected();
}
