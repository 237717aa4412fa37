/* SPDX-License-Identifier: MIT */
/* tests/misuse/bounded_memcpy.c — memcpy into or out of a heap block must
 * stay inside the bytes that were requested, and the block must be in use
 * (the secure library's own memcpy; docs/security.md, "Bounds-checked
 * memcpy").  Usage: bounded_memcpy SIZE MODE, MODE one of
 *   into-over   memcpy(p, buf, SIZE + 1)
 *   from-over   memcpy(buf, p, SIZE + 1)
 *   into-under  memcpy(p - 1, buf, SIZE)
 *   into-freed  free(p), then memcpy(p, buf, 8)
 *   exact       memcpy(p, buf, SIZE) and back (exit 0)
 * where p = malloc(SIZE) (SIZE 0: malloc(0), and one byte is copied).
 * into-under of a small block takes a p that does not start a 16 KiB slot, so p - 1 is in
 * p's own pool: the secure library carves in a random order, and the byte
 * before a pool's first block lies in another pool or in the arena header's
 * guard page, which the check then names instead (the test was flaky).
 * Prints p and SIZE.  The copies are real calls (-fno-builtin). */
#include "misuse.h"
#include <stdbool.h>
#include <string.h>

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
  const char *mode = argc > 2 ? argv[2] : "into-over";
  static char buf[1 << 20];
  char *p = malloc(size);
  bool small_under = strcmp(mode, "into-under") == 0 && size < 16384;
  for (int tries = 0; small_under && p != NULL && ((uintptr_t)p & 16383) == 0 && tries < 64; tries++)
    p = malloc(size);   /* the one at a slot's start is leaked: the process ends here */
  if (p == NULL || size + 1 > sizeof buf) return 2;
  printf("0x%lx %zu\n", (unsigned long)(uintptr_t)p, size);
  fflush(stdout);
  if (strcmp(mode, "into-over") == 0) {
    memcpy(p, buf, size + 1);
  } else if (strcmp(mode, "from-over") == 0) {
    memcpy(buf, p, size + 1);
  } else if (strcmp(mode, "into-under") == 0) {
    memcpy(p - 1, buf, size);
  } else if (strcmp(mode, "into-freed") == 0) {
    free(p);
    memcpy(p, buf, 8);
  } else {
    memcpy(p, buf, size);
    memcpy(buf, p, size);
    free(p);
    return 0;
  }
  misuse_mark("after");
  return misuse_not_detected();
}
