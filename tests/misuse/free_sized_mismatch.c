/* SPDX-License-Identifier: MIT */
/* tests/misuse/free_sized_mismatch.c — C23 free_sized with a size the block
 * cannot hold.  Usage: free_sized_mismatch SIZE WRONG.  Prints the address
 * and the block's usable size; expects "poolmalloc: free_sized of 0x<addr>
 * with size WRONG but the block holds <usable> bytes". */
#include "misuse.h"
#include <malloc.h>

/* glibc 2.36 has no free_sized: the weak reference is resolved by the
 * preloaded poolmalloc (or stays NULL, which is reported). */
extern void free_sized(void *p, size_t size) __attribute__((weak));

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 100;
  size_t wrong = argc > 2 ? strtoul(argv[2], NULL, 0) : 4096;
  if (!free_sized) return 2;
  char *p = malloc(size);
  if (!p) return 2;
  printf("0x%lx %zu\n", (unsigned long)(uintptr_t)p, malloc_usable_size(p));
  fflush(stdout);
  free_sized(p, wrong);
  return misuse_not_detected();
}
