/* tests/misuse/double_free.c — free the same block twice.
 * Usage: double_free SIZE [remote].  With "remote", the first free happens
 * in another thread (the block goes onto its owner's remote-free list).
 * Expects "poolmalloc: double free of 0x<addr>". */
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
  void *keep = malloc(size), *p = malloc(size);   /* p is not alone in its pool */
  misuse_announce(p);
  if (remote) {
    pthread_t t;
    if (pthread_create(&t, NULL, free_it, p) != 0) return 2;
    pthread_join(t, NULL);
  } else {
    free(p);
  }
  free(p);
  free(keep);
  return misuse_not_detected();
}
