/* SPDX-License-Identifier: MIT */
/* tests/misuse/double_free_at_free.c — a double free must die at the second
 * free itself (the secure library's allocated bits; docs/security.md).
 * Usage: double_free_at_free SIZE MODE, MODE one of
 *   local        free(p); free(p) in one thread
 *   interleaved  free(p); free(q); free(p)
 *   delayed      free(p); 1000 malloc/free pairs of the size; free(p)
 *   first-remote another thread frees p first, the owner frees it again
 *   second-remote the owner frees p, another thread frees it again
 *   both-remote  two other threads free p, one after the other
 * Prints p, then "second free" right before the second free and "after"
 * right after it, then keeps allocating the size (so a library that catches
 * double frees at reuse dies there).  Expected: "poolmalloc: double free of
 * <p>" and no "after" (secure); see secure.sh for the default library. */
#include "misuse.h"
#include <pthread.h>
#include <string.h>

static void *free_it(void *p) {
  free(p);
  return NULL;
}

static void free_in_thread(void *p) {
  pthread_t t;
  if (pthread_create(&t, NULL, free_it, p) != 0) exit(2);
  pthread_join(t, NULL);
}

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 32;
  const char *mode = argc > 2 ? argv[2] : "local";
  void *keep = malloc(size), *p = malloc(size), *q = malloc(size);
  if (p == NULL || q == NULL) return 2;
  misuse_announce(p);
  if (strcmp(mode, "first-remote") == 0 || strcmp(mode, "both-remote") == 0) free_in_thread(p);
  else free(p);
  if (strcmp(mode, "interleaved") == 0) free(q);
  if (strcmp(mode, "delayed") == 0)
    for (int i = 0; i < 1000; i++) free(malloc(size));
  misuse_mark("second free");
  if (strcmp(mode, "second-remote") == 0 || strcmp(mode, "both-remote") == 0) free_in_thread(p);
  else free(p);
  misuse_mark("after");
  for (int i = 0; i < 100000; i++) free(malloc(size));   /* reuse: more than a pool or quarantine holds */
  void *hold[64];
  for (int i = 0; i < 64; i++) hold[i] = malloc(size);
  for (int i = 0; i < 64; i++) free(hold[i]);
  free(keep);
  return misuse_not_detected();
}
