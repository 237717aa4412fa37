/* SPDX-License-Identifier: MIT */
/* tests/misuse/zero_size.c — malloc(0) in the secure library returns a
 * distinct pointer to memory that faults on any access (docs/security.md,
 * "Zero-size allocations").  Usage: zero_size MODE, MODE one of
 *   read, write    access the byte at p (expected: SIGSEGV)
 *   distinct       1000 live malloc(0) pointers are distinct and freeable (exit 0)
 *   double-free    free(p) twice (expected: "poolmalloc: double free of <p>")
 *   interior       free(p + 8) (expected: "poolmalloc: invalid free of <p+8>
 *                  (not the start of a block)")
 *   realloc        realloc(p, 100) gives a usable block (exit 0)
 * Prints the pointer the misuse is about. */
#include "misuse.h"
#include <string.h>

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "read";
  char *p = malloc(0);
  if (p == NULL) return 2;
  if (strcmp(mode, "distinct") == 0) {
    static char *all[1000];
    for (int i = 0; i < 1000; i++) {
      all[i] = malloc(0);
      for (int j = 0; j < i; j++)
        if (all[j] == all[i]) return misuse_not_detected();
    }
    for (int i = 0; i < 1000; i++) free(all[i]);
    free(p);
    return 0;
  }
  if (strcmp(mode, "realloc") == 0) {
    char *q = realloc(p, 100);
    if (q == NULL) return 2;
    memset(q, 1, 100);
    free(q);
    return 0;
  }
  if (strcmp(mode, "interior") == 0) {
    misuse_announce(p + 8);
    free(p + 8);
    return misuse_not_detected();
  }
  misuse_announce(p);
  if (strcmp(mode, "double-free") == 0) {
    free(p);
    free(p);
  } else if (strcmp(mode, "write") == 0) {
    *(volatile char *)p = 'A';
  } else {
    printf("%d\n", *(volatile char *)p);
  }
  return misuse_not_detected();
}
