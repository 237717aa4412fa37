/* SPDX-License-Identifier: MIT */
/* tests/misuse/invalid_realloc.c — realloc a pointer poolmalloc never
 * handed out.  Expects
 * "poolmalloc: invalid realloc of 0x<addr> (not allocated by poolmalloc)". */
#include "misuse.h"

static char buf[256] __attribute__((aligned(16)));

int main(void) {
  misuse_announce(buf);
  void *q = realloc(buf, 1000);
  free(q);
  return misuse_not_detected();
}
