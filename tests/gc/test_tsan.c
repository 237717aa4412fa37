/* SPDX-License-Identifier: MIT */
/* tests/gc/test_tsan.c — a client program built with -fsanitize=thread that
 * uses the inline pm_incref/pm_decref of <poolmalloc/gc.h> (issue 13,
 * item 9; run by tests/gc/tsan.sh).
 *
 * The last decref of an ATOMIC object must order every other thread's
 * writes to the object before its clear() and dealloc() run.  pm_decref
 * used to do that with a release decrement and an acquire fence, which is
 * correct C11 but invisible to ThreadSanitizer, so clients under TSan got a
 * false race report for every cross-thread last decref (an exit status of
 * 66 here).  It now does an acquire load of the count, which TSan sees.
 *
 * Two threads each write their own field of every object and drop their
 * reference; whichever drops the last one runs clear(), which reads both
 * fields.  Only this program is instrumented (the library is not): all
 * objects are made before the threads start and none is allocated while
 * they run, so no block is reused behind TSan's back.
 */
#include "../tap.h"
#include <poolmalloc/gc.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct pair_s { long a, b; } pair_t;
static _Atomic long sum_seen;
static void pair_dealloc(void *self) {
  pair_t *p = self;
  atomic_fetch_add_explicit(&sum_seen, p->a + p->b, memory_order_relaxed);
}
static pm_type_t pair_type = {.name = "pair", .basicsize = sizeof(pair_t),
                              .dealloc = pair_dealloc, .flags = PM_TYPE_ATOMIC};

#define N 20000
static pair_t *objs[N];

static void *writer_a(void *arg) {
  for (int i = 0; i < N; i++) { objs[i]->a = i; pm_decref(objs[i]); }
  return NULL;
}
static void *writer_b(void *arg) {
  for (int i = N - 1; i >= 0; i--) { objs[i]->b = 1; pm_decref(objs[i]); }
  return NULL;
}

TEST(cross_thread_last_decref_orders_the_writes_for_tsan) {
  /* No quarantine (on by default in debug builds): it frees a block later,
   * from whichever thread evicts it, ordered by the layer lock, which TSan
   * cannot see in the uninstrumented library. */
  pm_gc_set_debug(0);
  for (int i = 0; i < N; i++) {
    objs[i] = pm_obj_new(&pair_type);
    require_not_null(objs[i]);
    pm_incref(objs[i]);                 /* one reference per thread */
  }
  pthread_t ta, tb;
  require_eq(pthread_create(&ta, NULL, writer_a, NULL), 0);
  require_eq(pthread_create(&tb, NULL, writer_b, NULL), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  expect_eq(atomic_load(&sum_seen), (long)N * (N - 1) / 2 + N);
}
