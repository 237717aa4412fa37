/* SPDX-License-Identifier: MIT */
/* tests/misuse/overflow.c — a write past the end of a block must be caught
 * by its canary when the block is freed (the secure library; docs/security.md,
 * "Canaries").  Usage: overflow SIZE OFFSET [linear]: p = malloc(SIZE), then
 * p[SIZE + OFFSET] ^= 0x41 (one byte), or with "linear" every byte of
 * [SIZE, SIZE + OFFSET] set to zero (a memcpy that copies OFFSET + 1 bytes
 * too many, ending in a string terminator), then free(p).  Prints p and SIZE.
 * Expected (secure): "poolmalloc: heap overflow of <p>: byte B past its SIZE
 * bytes was overwritten", with B = OFFSET, or 0 for "linear". */
#include "misuse.h"
#include <string.h>

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 8;
  size_t off = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;
  int linear = argc > 3 && strcmp(argv[3], "linear") == 0;
  unsigned char *p = malloc(size);
  if (p == NULL) return 2;
  printf("0x%lx %zu\n", (unsigned long)(uintptr_t)p, size);
  fflush(stdout);
  if (linear) memset(p + size, 0, off + 1);
  else p[size + off] ^= 0x41;
  misuse_mark("written");
  free(p);
  misuse_mark("after");
  return misuse_not_detected();
}
