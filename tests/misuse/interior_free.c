/* SPDX-License-Identifier: MIT */
/* tests/misuse/interior_free.c — free a pointer into the middle of a block.
 * Usage: interior_free SIZE OFFSET.  Expects
 * "poolmalloc: invalid free of 0x<addr> (not the start of a block)". */
#include "misuse.h"

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
  size_t off = argc > 2 ? strtoul(argv[2], NULL, 0) : 16;
  char *p = malloc(size);
  if (!p) return 2;
  misuse_announce(p + off);
  free(p + off);
  free(p);
  return misuse_not_detected();
}
