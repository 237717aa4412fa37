/* SPDX-License-Identifier: MIT */
/* bench/workloads/xthread.c — a producer allocates, a consumer frees.
 *
 * Owns: "xthread_free".  One op = one malloc(size) on the benchmark thread
 * plus one free of that block on a second thread.  The blocks travel
 * through a single-producer/single-consumer ring of RING_N pointers, so
 * every free is a remote (cross-thread) free: the path where per-thread
 * caches must hand memory back to its owner.  The consumer thread lives
 * from setup to teardown; run() returns only when the consumer has freed
 * every block it produced, so the timed region covers both sides.
 *
 * Ring invariant: 0 <= head - tail <= RING_N; only the producer writes
 * head, only the consumer writes tail (release/acquire pairs).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "harness.h"

#define RING_N 1024

typedef struct xthread_state_s {
  size_t size;
  _Atomic unsigned long head; /* next slot the producer fills   */
  _Atomic unsigned long tail; /* next slot the consumer frees   */
  _Atomic int stop;
  void *_Atomic ring[RING_N];
  pthread_t consumer;
} xthread_state_t;

static const long sizes[] = {64, 1024, 16384, 0};
static const long quick_sizes[] = {64, 0};

static void *xthread_consumer(void *arg) {
  xthread_state_t *st = arg;
  unsigned long tail = atomic_load_explicit(&st->tail, memory_order_relaxed);
  unsigned spins = 0;
  for (;;) {
    unsigned long head = atomic_load_explicit(&st->head, memory_order_acquire);
    if (head == tail) {
      if (atomic_load_explicit(&st->stop, memory_order_acquire)) break;
      if (++spins > 64) sched_yield();
      continue;
    }
    spins = 0;
    while (tail != head) {
      free(atomic_load_explicit(&st->ring[tail % RING_N], memory_order_relaxed));
      tail++;
    }
    atomic_store_explicit(&st->tail, tail, memory_order_release);
  }
  return NULL;
}

static void *xthread_setup(long arg) {
  xthread_state_t *st = calloc(1, sizeof *st);
  if (st == NULL) pmb_oom("xthread setup", sizeof *st);
  st->size = (size_t)arg;
  if (pthread_create(&st->consumer, NULL, xthread_consumer, st) != 0) pmb_oom("pthread_create", 0);
  return st;
}

static void xthread_run(void *state, long n) {
  xthread_state_t *st = state;
  unsigned long head = atomic_load_explicit(&st->head, memory_order_relaxed);
  unsigned long end = head + (unsigned long)n;
  unsigned spins = 0;
  while (head != end) {
    while (head - atomic_load_explicit(&st->tail, memory_order_acquire) >= RING_N)
      if (++spins > 64) sched_yield();
    spins = 0;
    void *p = malloc(st->size);
    if (p == NULL) pmb_oom("xthread_free", st->size);
    pmb_touch(p, st->size < 256 ? st->size : 256);
    atomic_store_explicit(&st->ring[head % RING_N], p, memory_order_relaxed);
    head++;
    if ((head & 31) == 0 || head == end)
      atomic_store_explicit(&st->head, head, memory_order_release);
  }
  /* Wait for the consumer so the frees are inside the timed region. */
  while (atomic_load_explicit(&st->tail, memory_order_acquire) != end)
    if (++spins > 64) sched_yield();
}

static void xthread_teardown(void *state) {
  xthread_state_t *st = state;
  atomic_store_explicit(&st->stop, 1, memory_order_release);
  pthread_join(st->consumer, NULL);
  free(st);
}

const pmb_workload_t pmb_workload_xthread_free = {
    .name = "xthread_free",
    .doc = "malloc(size) on one thread, free on another via an SPSC ring; op = malloc+remote free",
    .args = sizes,
    .quick_args = quick_sizes,
    .batch = 64,
    .setup = xthread_setup,
    .run = xthread_run,
    .teardown = xthread_teardown,
};
