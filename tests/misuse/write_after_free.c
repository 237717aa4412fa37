/* SPDX-License-Identifier: MIT */
/* tests/misuse/write_after_free.c — a write through a dangling pointer must
 * be caught when the block is handed out again, or fault at once for large
 * blocks (the secure library; docs/security.md, "Zero on free and check on
 * reuse").  Usage: write_after_free SIZE OFFSET: p = malloc(SIZE), free(p),
 * p[OFFSET] = 0x41, then 100000 malloc/free pairs of SIZE (far more than the
 * quarantine holds, so p is handed out again).  Prints p.
 * Expected (secure): "poolmalloc: write after free of <p>: byte OFFSET
 * changed while it was free" (OFFSET >= 16), or "...: it was written while
 * in quarantine" (OFFSET < 16, the words the free list would overwrite),
 * or SIGSEGV for a large block. */
#include "misuse.h"

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
  size_t off = argc > 2 ? strtoul(argv[2], NULL, 0) : 32;
  volatile unsigned char *p = malloc(size);
  if (p == NULL || off >= size) return 2;
  misuse_announce((void *)p);
  free((void *)p);
  p[off] = 0x41;
  misuse_mark("written");
  for (int i = 0; i < 100000; i++) free(malloc(size));
  void *hold[256];
  for (int i = 0; i < 256; i++) hold[i] = malloc(size);
  for (int i = 0; i < 256; i++) free(hold[i]);
  return misuse_not_detected();
}
