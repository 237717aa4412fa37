/* SPDX-License-Identifier: MIT */
/* owners.h — "did any block reach a second owner?" for the tests/misuse
 * programs of issue 7 §2-§3.
 *
 * After its misuse, a program allocates a lot and keeps every block live,
 * each filled with its own pattern.  owners_keep requires, the moment malloc
 * returns, that the new block overlaps no live one, so a diagnostic the
 * allocator prints later cannot hide that a second owner already got the
 * memory; owners_check then requires every pattern to be intact.  A failure
 * prints "second owner: ..." and exits 4, which tests/misuse/reuse.sh
 * reports as the corruption it is (3 is "not detected").  Blocks are kept
 * in a static sorted table: the checks never call the allocator under test.
 * Test code only.
 */
#ifndef PM_MISUSE_OWNERS_H
#define PM_MISUSE_OWNERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OWNERS_MAX 20000

typedef struct { unsigned char *p; size_t n, id; } owners_block_t;
static owners_block_t owners[OWNERS_MAX];   /* sorted by address */
static size_t nowners;

static unsigned char owners_byte(size_t id, size_t i) { return (unsigned char)(id * 131 + i * 7 + 1); }

__attribute__((noreturn)) static void owners_fail(const char *why, const void *p, const void *q) {
  fprintf(stderr, "second owner: %s: %p and %p\n", why, p, q);
  exit(4);
}

/* A live block of n bytes (at least 1) that must keep its contents: it
 * must not overlap any block kept before (checked at once, before the
 * allocator is called again), and it is patterned now. */
static void owners_keep(void *block, size_t n) {
  unsigned char *p = block;
  if (p == NULL || nowners == OWNERS_MAX) return;
  if (n == 0) n = 1;
  size_t lo = 0, hi = nowners;   /* first block at or above p */
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (owners[mid].p < p) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && owners[lo - 1].p + owners[lo - 1].n > p) owners_fail("two live blocks overlap", owners[lo - 1].p, p);
  if (lo < nowners && p + n > owners[lo].p) owners_fail("two live blocks overlap", p, owners[lo].p);
  memmove(&owners[lo + 1], &owners[lo], (nowners - lo) * sizeof owners[0]);
  owners[lo] = (owners_block_t){p, n, nowners};
  for (size_t i = 0; i < n; i++) p[i] = owners_byte(owners[lo].id, i);
  nowners++;
}

/* Exits 4 if a live block lost its pattern. */
static void owners_check(void) {
  for (size_t k = 0; k < nowners; k++)
    for (size_t i = 0; i < owners[k].n; i++)
      if (owners[k].p[i] != owners_byte(owners[k].id, i))
        owners_fail("a live block was overwritten", owners[k].p, owners[k].p + i);
}

#endif /* PM_MISUSE_OWNERS_H */
