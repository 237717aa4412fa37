/* SPDX-License-Identifier: MIT */
/* tests/misuse/zero_on_free.c — what a dangling pointer reads after free:
 * the secure library zeroes every block at its free (docs/security.md,
 * "Zero on free"), and a large block faults.  Usage: zero_on_free SIZE:
 * p = malloc(SIZE), fill it with 0xAB, free(p), read every byte through p.
 * Prints p, then "zeroed" and exits 0 if every byte reads as zero; exits 3
 * ("not detected": the old contents are still there) otherwise. */
#include "misuse.h"
#include <string.h>

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
  unsigned char *p = malloc(size);
  if (p == NULL) return 2;
  misuse_announce(p);
  memset(p, 0xAB, size);
  free(p);
  const volatile unsigned char *v = p;
  for (size_t i = 0; i < size; i++)
    if (v[i] != 0) return misuse_not_detected();
  misuse_mark("zeroed");
  return 0;
}
