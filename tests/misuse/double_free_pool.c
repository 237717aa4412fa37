/* SPDX-License-Identifier: MIT */
/* tests/misuse/double_free_pool.c — double frees around a pool with live
 * blocks, in one thread and across threads (issue 7 §2).
 *
 * Usage: double_free_pool MODE [SIZE]        (SIZE defaults to 32)
 *
 * A fresh owner thread fills a few pools of SIZE-byte blocks and frees all
 * of them but `first` (so the class keeps another pool in use) and three
 * neighbours a, b, c of one pool; c stays live to the end.  Then, by MODE:
 *   local           the owner: free(a); free(b); free(a)
 *   local-remote    the owner: free(a); another thread: free(b); free(a)
 *   remote          another thread: free(a); free(a)
 *   remote-between  another thread: free(a); free(b); free(a)
 *   remote-flushed  another thread: free(a); 40 frees of other blocks of
 *                   the owner (a full batch, pushed); free(a); free(b)
 *   remote-noheap   like remote, by a thread that never allocated (its
 *                   remote frees are pushed one by one, not batched)
 * "Another thread" allocates first (so it has a heap and batches its remote
 * frees) except in remote-noheap, and exits before the owner goes on.  The
 * owner then allocates 4000 blocks of SIZE, 300 of 1 KiB, 100 of 4000 B
 * and 20 of 100 000 B, each required to overlap no live block at once
 * (owners.h).
 *
 * Expects "poolmalloc: double free of 0x<a>" (tests/misuse/reuse.sh), at
 * the second free or at the latest when a would be handed out again, and
 * in every case before any block reaches a second owner.  On c6a47e2 the
 * extra free drops the pool's count of used blocks to zero with c still in
 * it, the pool goes back to its arena, and a 1 KiB block is carved over c:
 * exit 4.  Exit 3: nothing was detected.
 */
#include "misuse.h"
#include "owners.h"

#include <pthread.h>
#include <string.h>

#define NFILL 3000
#define NOTHERS 40

static const char *mode;
static size_t size = 32;
static unsigned char *blk[NFILL];
static unsigned char *a, *b, *c, **others;

/* ---- The other thread --------------------------------------------------- */
static void *other_thread(void *arg) {
  (void)arg;
  if (strcmp(mode, "remote-noheap") != 0) {
    void *mine = malloc(size);   /* a heap of its own: remote frees are batched */
    if (mine == NULL) exit(2);
    free(mine);
  }
  if (strcmp(mode, "local-remote") == 0) {
    free(b);
    free(a);
  } else if (strcmp(mode, "remote") == 0 || strcmp(mode, "remote-noheap") == 0) {
    free(a);
    free(a);
  } else if (strcmp(mode, "remote-between") == 0) {
    free(a);
    free(b);
    free(a);
  } else if (strcmp(mode, "remote-flushed") == 0) {
    free(a);
    for (int i = 0; i < NOTHERS; i++) free(others[i]);
    free(a);
    free(b);
  }
  return NULL;
}

/* ---- The owner ------------------------------------------------------------ */
/* Index of NOTHERS + 3 neighbours in one 16 KiB window (poolmalloc's small
 * pools are whole 16 KiB slots), or NFILL / 2 if there is none. */
static size_t find_neighbours(void) {
  for (size_t i = NFILL / 2; i + NOTHERS + 3 < NFILL; i++) {
    size_t j = i;
    while (j < i + NOTHERS + 2 && blk[j + 1] == blk[j] + size) j++;
    if (j == i + NOTHERS + 2 && (uintptr_t)blk[i] >> 14 == (uintptr_t)blk[j] >> 14) return i;
  }
  return NFILL / 2;
}

static void *owner_thread(void *arg) {
  (void)arg;
  for (size_t i = 0; i < NFILL; i++)
    if ((blk[i] = malloc(size)) == NULL) exit(2);
  size_t at = find_neighbours();
  a = blk[at], b = blk[at + 1], c = blk[at + 2], others = &blk[at + 3];
  int flushed = strcmp(mode, "remote-flushed") == 0;
  for (size_t i = 1; i < NFILL; i++)
    if (i < at || i > at + 2 + (flushed ? NOTHERS : 0)) free(blk[i]);
  owners_keep(blk[0], size);
  owners_keep(c, size);
  misuse_announce(a);

  if (strcmp(mode, "local") == 0) {
    free(a);
    free(b);
    free(a);
  } else {
    if (strcmp(mode, "local-remote") == 0) free(a);
    pthread_t t;
    if (pthread_create(&t, NULL, other_thread, NULL) != 0) exit(2);
    pthread_join(t, NULL);
  }

  static const struct { size_t n, size; } waves[] = {{4000, 0}, {300, 1024}, {100, 4000}, {20, 100000}};
  for (size_t w = 0; w < sizeof waves / sizeof waves[0]; w++)
    for (size_t i = 0; i < waves[w].n; i++) {
      size_t n = waves[w].size ? waves[w].size : size;
      owners_keep(malloc(n), n);
    }
  owners_check();
  return NULL;
}

int main(int argc, char **argv) {
  mode = argc > 1 ? argv[1] : "local";
  if (argc > 2) size = strtoul(argv[2], NULL, 0);
  pthread_t t;   /* a new thread: a heap of its own, with no pool of the class yet */
  if (pthread_create(&t, NULL, owner_thread, NULL) != 0) return 2;
  pthread_join(t, NULL);
  return misuse_not_detected();
}
