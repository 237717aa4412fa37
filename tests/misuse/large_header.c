/* SPDX-License-Identifier: MIT */
/* tests/misuse/large_header.c — free a large block whose header was
 * overwritten (as by an overflow off the end of the block before it) so
 * that it names a region that does not hold the block.
 * Usage: large_header.  Expects "poolmalloc: invalid free of 0x<addr> (its
 * large block header does not match its region)": the region's bitmaps,
 * not the header, decide what a free releases (lib/large_region.c).
 * Layout assumed (lib/types.h, pm_large_t): the header is at the block's
 * 1 MiB chunk, and its 32-bit region index at byte 52. */
#include "misuse.h"

int main(void) {
  char *p = malloc((size_t)3 << 20);
  if (!p) return 2;
  char *hdr = (char *)((uintptr_t)p & ~(uintptr_t)((1 << 20) - 1));
  uint32_t forged = 1000;   /* a region index that is not this block's */
  misuse_announce(p);
  /* Byte stores, not memcpy: the secure library checks memcpy's bounds and
   * would report the write itself as a heap underflow. */
  volatile unsigned char *field = (volatile unsigned char *)hdr + 52;
  for (size_t i = 0; i < sizeof forged; i++) field[i] = (unsigned char)(forged >> (8 * i));
  free(p);
  return misuse_not_detected();
}
