/* SPDX-License-Identifier: MIT */
/* tests/misuse/free_unallocated.c — free a block start that was never handed
 * out (issue 7 §3).
 *
 * Usage: free_unallocated far|next [SIZE]     (SIZE defaults to 48)
 *   far   b + 100 * (b - a) for two neighbours a, b: inside their pool's
 *         capacity but, for 48-byte blocks, past the blocks carved so far
 *   next  b + (b - a): the block after the newest one, carved onto the
 *         free list but never handed out
 * Both are block starts in a pool in use, so no alignment or pool check can
 * tell them from a live block: only knowing which blocks are allocated can.
 * After the free the program allocates 4000 blocks of SIZE, each required to
 * overlap no live block at once (owners.h), with a and b kept live.
 *
 * Expects "poolmalloc: invalid free of 0x<p> (not the start of a block)" or
 * "... (not allocated)" (tests/misuse/reuse.sh).  On c6a47e2 `far` is
 * accepted and malloc later returns that block twice (exit 4); `next` is
 * reported at reuse as a "double free" of a block nobody freed.  Exit 3:
 * nothing was detected.
 */
#include "misuse.h"
#include "owners.h"

#include <pthread.h>
#include <string.h>

static const char *what;
static size_t size = 48;

/* In a new thread: a heap of its own, whose first two blocks of the class
 * are the first two of a fresh pool, and no block of it is live but them. */
static void *run(void *arg) {
  (void)arg;
  unsigned char *a = malloc(size), *b = malloc(size);
  if (a == NULL || b != a + size) exit(2);   /* not neighbours: cannot test */
  owners_keep(a, size);
  owners_keep(b, size);
  unsigned char *p = strcmp(what, "next") == 0 ? b + (b - a) : b + 100 * (b - a);
  misuse_announce(p);
  free(p);
  for (int i = 0; i < 4000; i++) owners_keep(malloc(size), size);
  owners_check();
  return NULL;
}

int main(int argc, char **argv) {
  what = argc > 1 ? argv[1] : "far";
  if (argc > 2) size = strtoul(argv[2], NULL, 0);
  pthread_t t;
  if (pthread_create(&t, NULL, run, NULL) != 0) return 2;
  pthread_join(t, NULL);
  return misuse_not_detected();
}
