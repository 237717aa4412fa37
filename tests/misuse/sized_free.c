/* SPDX-License-Identifier: MIT */
/* tests/misuse/sized_free.c — free_sized and free_aligned_sized must be
 * given the size that was requested (C23; the secure library checks it
 * exactly, docs/security.md, "Sized frees"; C++ sized delete goes through
 * the same check).  Usage: sized_free SIZE DELTA [aligned]: p = malloc(SIZE)
 * (or aligned_alloc(64, SIZE)), then free_sized(p, SIZE + DELTA) (or
 * free_aligned_sized(p, 64, SIZE + DELTA)).  Prints p and SIZE; exits 0
 * after a free that was allowed.  Expected (secure, DELTA != 0):
 * "poolmalloc: free_sized of <p> with size SIZE+DELTA but it was allocated
 * with SIZE bytes" (free_aligned_sized: the same with its name). */
#include "misuse.h"
#include <string.h>

/* glibc 2.36 has neither: the preloaded poolmalloc resolves them. */
extern void free_sized(void *p, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *p, size_t alignment, size_t size) __attribute__((weak));

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 100;
  long delta = argc > 2 ? strtol(argv[2], NULL, 0) : 0;
  int aligned = argc > 3 && strcmp(argv[3], "aligned") == 0;
  if (!free_sized || !free_aligned_sized) return 2;
  void *p = aligned ? aligned_alloc(64, size) : malloc(size);
  if (p == NULL) return 2;
  printf("0x%lx %zu\n", (unsigned long)(uintptr_t)p, size);
  fflush(stdout);
  if (aligned) free_aligned_sized(p, 64, size + (size_t)delta);
  else free_sized(p, size + (size_t)delta);
  return 0;
}
