/* SPDX-License-Identifier: MIT */
/* tests/misuse/invalid_usable_size.c — malloc_usable_size of a pointer
 * poolmalloc never handed out.  Expects "poolmalloc: invalid
 * malloc_usable_size of 0x<addr> (not allocated by poolmalloc)". */
#include "misuse.h"
#include <malloc.h>

static char buf[256] __attribute__((aligned(16)));

int main(void) {
  misuse_announce(buf + 32);
  size_t n = malloc_usable_size(buf + 32);
  printf("%zu\n", n);
  return misuse_not_detected();
}
