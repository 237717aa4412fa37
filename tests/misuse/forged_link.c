/* SPDX-License-Identifier: MIT */
/* tests/misuse/forged_link.c — a free-list link rewritten through a dangling
 * pointer must be refused before it is followed (the secure library's
 * authenticated links; docs/security.md, "Authenticated metadata").
 * Usage: forged_link SIZE.  Frees 300 blocks of SIZE (more than the
 * quarantine holds, so some reach a free list), picks a freed block whose
 * list words are set (it is on a list) and adds SIZE to its link word, so
 * that the link points one block further, at a block of the same pool, then
 * allocates until the list is used up.  Prints the forged block.
 * Expected (secure): "poolmalloc: write after free of <p>: its free-list link
 * or canary was overwritten". */
#include "misuse.h"

int main(int argc, char **argv) {
  size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 48;
  static uintptr_t *blocks[300];
  for (int i = 0; i < 300; i++) blocks[i] = malloc(size);
  for (int i = 0; i < 300; i++) free(blocks[i]);
  uintptr_t *victim = NULL;
  for (int i = 0; i < 300 && victim == NULL; i++)
    if (blocks[i][0] != 0 && blocks[i][1] != 0) victim = blocks[i];
  if (victim == NULL) return 2;
  misuse_announce(victim);
  victim[0] += size;
  for (int i = 0; i < 1000; i++) blocks[i % 300] = malloc(size);
  return misuse_not_detected();
}
