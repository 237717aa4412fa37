/* tests/misuse/double_free.c — free the same block twice.
 * Usage: double_free SIZE.  Expects "poolmalloc: double free of 0x<addr>". */
#include "misuse.h"

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 32;
  void *keep = malloc(size), *p = malloc(size);   /* p is not alone in its pool */
  misuse_announce(p);
  free(p);
  free(p);
  free(keep);
  return misuse_not_detected();
}
