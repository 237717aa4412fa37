/* SPDX-License-Identifier: MIT */
/* tests/unit/adopt.c — a thread that adopts an abandoned heap keeps every
 * block of it.
 *
 * Thread A carves a pool of 48-byte blocks, takes ten, frees five (they go
 * to local_free) and exits with five still out: its heap is abandoned with
 * a pool whose `free` list still holds the rest of the carve.  Thread B's
 * first malloc of the same class adopts that heap.  The bug this catches:
 * the slow path took the adopted pool for an empty one and refilled it
 * from local_free, dropping the free list on the floor (those blocks could
 * never be handed out again, and the pool could never empty).  Afterwards
 * every block must still be accounted for:
 *   nused + |free| + |local_free| + (end - bump) / block_size == capacity.
 */
#include <pthread.h>
#include "sizeclass.h"
#include "../tap.h"

static void *blocks[10];
static void *adopted;

static void *thread_a(void *arg) {
  for (int i = 0; i < 10; i++) blocks[i] = pmi_malloc(48);
  for (int i = 5; i < 10; i++) pmi_free(blocks[i]);
  return NULL;
}

static void *thread_b(void *arg) {
  adopted = pmi_malloc(48);
  return NULL;
}

static size_t list_length(const pm_block_t *b) {
  size_t n = 0;
  for (; b != NULL; b = b->next) n++;
  return n;
}

TEST(adopting_thread_keeps_the_free_list) {
  pthread_t t;
  require_eq(pthread_create(&t, NULL, thread_a, NULL), 0);
  pthread_join(t, NULL);
  for (int i = 0; i < 5; i++) require_not_null(blocks[i]);
  pm_pool_t *pool = pmi_arena_pool_of(blocks[0]);
  size_t before_free = list_length(pool->free);
  expect_gt(before_free, 0);   /* the carve's rest, waiting on `free` */
  require_eq(pthread_create(&t, NULL, thread_b, NULL), 0);
  pthread_join(t, NULL);
  require_not_null(adopted);
  expect_eq(pmi_arena_pool_of(adopted), pool);   /* B adopted A's heap */
  size_t nfree = list_length(pool->free), nlocal = list_length(pool->local_free);
  size_t unused = pool->capacity - pmi_pool_carved(pool) / pool->block_size;
  expect_eq(pool->nused + nfree + nlocal + unused + pool->prof_nstash, pool->capacity);
  expect_eq(pool->nused, 6);
}
