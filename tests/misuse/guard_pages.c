/* SPDX-License-Identifier: MIT */
/* tests/misuse/guard_pages.c — accesses that must hit a guard page of the
 * secure library and fault at once (docs/security.md, "Guard pages").
 * Usage: guard_pages WHERE, WHERE one of
 *   large-before  the byte before a large block (the guard below it)
 *   large-after   bytes past a large block's end, a page at a time up to
 *                 16 KiB + 8 bytes past it (its mapping ends in a guard)
 *   pool-after    the byte after the last block of a pool of 80000-byte
 *                 blocks (pools of 8 slots or more end in a guard slot)
 *   arena-before  the byte before a 64-byte block that starts the first pool
 *                 slot of an arena (chunk offset 0x8000; the arena header
 *                 and its bits end in a guard page)
 *   arena-after   the byte after a 64-byte block that ends at chunk offset
 *                 0xfc000 (slot 63, the arena's last slot, is a guard)
 * Prints the address written; exits 3 if the write did not fault. */
#include "misuse.h"
#include <string.h>

#define CHUNK_MASK ((uintptr_t)(1 << 20) - 1)

/* A block of malloc(60) (64-byte blocks in both libraries: 256 to a slot)
 * whose chunk offset is want, or whose end is (end). */
static unsigned char *find_block(uintptr_t want, int end) {
  for (int i = 0; i < 300000; i++) {
    unsigned char *p = malloc(60);
    if (p == NULL) return NULL;
    if ((((uintptr_t)p + (end ? 64 : 0)) & CHUNK_MASK) == want) return p;
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *where = argc > 1 ? argv[1] : "large-after";
  volatile unsigned char *w = NULL;
  if (strcmp(where, "large-before") == 0) {
    unsigned char *p = malloc(300000);
    if (p == NULL) return 2;
    w = p - 1;
  } else if (strcmp(where, "large-after") == 0) {
    unsigned char *p = malloc(300000);
    if (p == NULL) return 2;
    for (size_t off = 300000 + 8; off <= 300000 + 8 + 16384; off += 4096) {
      misuse_announce(p + off);
      p[off] ^= 0x41;
    }
    return misuse_not_detected();
  } else if (strcmp(where, "pool-after") == 0) {
    unsigned char *last = NULL;
    for (int i = 0; i < 4; i++) {   /* a pool of this class holds 4 */
      unsigned char *p = malloc(80000);
      if (p == NULL) return 2;
      if (p > last) last = p;
    }
    w = last + 81920;                 /* the block's size: the pool's end */
  } else if (strcmp(where, "arena-before") == 0) {
    unsigned char *p = find_block(0x8000, 0);
    if (p == NULL) return 2;
    w = p - 1;
  } else if (strcmp(where, "arena-after") == 0) {
    unsigned char *p = find_block(0xfc000, 1);
    if (p == NULL) return 2;
    w = p + 64;
  } else {
    return 2;
  }
  misuse_announce((void *)w);
  *w ^= 0x41;
  return misuse_not_detected();
}
