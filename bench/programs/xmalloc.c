/* SPDX-License-Identifier: MIT */
/* bench/programs/xmalloc.c — an xmalloc-style producer/consumer test.
 *
 * Models: xmalloc-test (Lever & Boreham, "malloc() Performance in a
 * Multithreaded Linux Environment", USENIX 2000), as kept in mimalloc-bench:
 * producer threads allocate blocks and hand them over in batches through a
 * shared, mutex-protected stack of batches; consumer threads pop batches
 * and free every block.  Every free is a remote free, in bulk.
 *
 * Usage: xmalloc [threads=2] [blocks=2000000] [maxsize=256]
 *   threads producers and threads consumers; each producer allocates
 *   blocks/threads blocks of 8..maxsize bytes in batches of BATCH.
 * Prints: number of blocks and bytes that went through (argument-determined).
 */
#include <pthread.h>
#include <string.h>

#include "prog.h"

#define PROG "xmalloc"
#define BATCH 256

typedef struct batch_s {
  struct batch_s *next;
  int n;
  void *blocks[BATCH];
} batch_t;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t nonempty;
  batch_t *stack;        /* full batches waiting for a consumer */
  long producers_left;   /* consumers stop when 0 and stack empty */
  long maxsize;
  long per_producer;
} xm = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0};

typedef struct xm_result_s {
  unsigned long long blocks, bytes;
  uint64_t seed;
} xm_result_t;

static void xm_push(batch_t *b) {
  pthread_mutex_lock(&xm.lock);
  b->next = xm.stack;
  xm.stack = b;
  pthread_cond_signal(&xm.nonempty);
  pthread_mutex_unlock(&xm.lock);
}

static void *xm_producer(void *varg) {
  xm_result_t *r = varg;
  bench_rng_t rng;
  bench_rng_seed(&rng, r->seed);
  batch_t *b = NULL;
  for (long i = 0; i < xm.per_producer; i++) {
    if (b == NULL) {
      b = prog_malloc(sizeof *b, PROG);
      b->n = 0;
    }
    size_t size = 8 + (size_t)bench_rng_below(&rng, (uint64_t)xm.maxsize - 7);
    void *p = prog_malloc(size, PROG);
    prog_touch(p, size, (unsigned char)i);
    b->blocks[b->n++] = p;
    r->blocks++;
    r->bytes += size;
    if (b->n == BATCH) {
      xm_push(b);
      b = NULL;
    }
  }
  if (b) xm_push(b);
  pthread_mutex_lock(&xm.lock);
  xm.producers_left--;
  pthread_cond_broadcast(&xm.nonempty);
  pthread_mutex_unlock(&xm.lock);
  return NULL;
}

static void *xm_consumer(void *varg) {
  for (;;) {
    pthread_mutex_lock(&xm.lock);
    while (xm.stack == NULL && xm.producers_left > 0) pthread_cond_wait(&xm.nonempty, &xm.lock);
    batch_t *b = xm.stack;
    if (b) xm.stack = b->next;
    pthread_mutex_unlock(&xm.lock);
    if (b == NULL) return NULL;
    for (int i = 0; i < b->n; i++) free(b->blocks[i]);
    free(b);
  }
}

int main(int argc, char **argv) {
  long nthreads = prog_arg(argc, argv, 1, 2, PROG);
  long nblocks = prog_arg(argc, argv, 2, 2000000, PROG);
  xm.maxsize = prog_arg(argc, argv, 3, 256, PROG);
  if (xm.maxsize < 8) prog_die(PROG, "maxsize must be >= 8");
  xm.per_producer = nblocks / nthreads;
  xm.producers_left = nthreads;
  pthread_t *tids = calloc((size_t)nthreads * 2, sizeof *tids);
  xm_result_t *res = calloc((size_t)nthreads, sizeof *res);
  if (!tids || !res) prog_die(PROG, "out of memory");
  for (long t = 0; t < nthreads; t++) {
    res[t].seed = (uint64_t)t + 5;
    if (pthread_create(&tids[t], NULL, xm_producer, &res[t]) != 0 ||
        pthread_create(&tids[nthreads + t], NULL, xm_consumer, NULL) != 0)
      prog_die(PROG, "pthread_create failed");
  }
  for (long t = 0; t < 2 * nthreads; t++) pthread_join(tids[t], NULL);
  unsigned long long blocks = 0, bytes = 0;
  for (long t = 0; t < nthreads; t++) {
    blocks += res[t].blocks;
    bytes += res[t].bytes;
  }
  free(tids);
  free(res);
  printf("xmalloc: %llu blocks, %llu bytes\n", blocks, bytes);
  return 0;
}
