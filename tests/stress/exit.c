/* SPDX-License-Identifier: MIT */
/* tests/stress/exit.c — allocation while threads and the process exit.
 *
 * Thread-specific-data destructors and C11 thread_local-style destructors
 * run after poolmalloc may have started tearing down the thread's heap;
 * they must still be able to malloc, free, and free blocks of other
 * threads.  At process exit an atexit handler and a destructor allocate and
 * free too; a failure there exits with status 3, which the TAP driver
 * reports as an error after the plan.
 */
#define _GNU_SOURCE 1
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poolmalloc.h>
#include "../tap.h"
#include "../unit/pattern.h"

#define NTHREADS 8

static pthread_key_t key1, key2;
static atomic_int ndestructed, nlate, nbad;
static void *shared[NTHREADS];   /* allocated by main, freed in thread destructors */
static void *from_threads[NTHREADS];   /* allocated in destructors, freed by main */

static void tsd_destructor(void *arg) {
  int id = (int)(intptr_t)arg - 1;
  void *v[50];
  for (int i = 0; i < 50; i++) {
    v[i] = malloc(i * 40 + 1);
    if (!v[i]) atomic_fetch_add(&nbad, 1);
    else pat_fill(v[i], i * 40 + 1, i);
  }
  for (int i = 0; i < 50; i++) {
    if (v[i] && pat_bad(v[i], i * 40 + 1, i) != (size_t)(i * 40 + 1)) atomic_fetch_add(&nbad, 1);
    free(v[i]);
  }
  if (pat_bad(shared[id], 333, id) != 333) atomic_fetch_add(&nbad, 1);
  free(shared[id]);   /* a block owned by the main thread's heap */
  from_threads[id] = malloc(777);   /* outlives the thread */
  if (from_threads[id]) pat_fill(from_threads[id], 777, 100 + id);
  char *big = malloc(300000);
  if (!big) atomic_fetch_add(&nbad, 1);
  free(big);
  atomic_fetch_add(&ndestructed, 1);
}

/* Registered after the thread's first malloc, so it runs in whichever order
 * glibc chooses relative to poolmalloc's own key. */
static void tsd_destructor_late(void *arg) {
  void *p = realloc(arg, 5000);
  if (!p) atomic_fetch_add(&nbad, 1);
  free(p);
  atomic_fetch_add(&nlate, 1);
}

static void *thread_main(void *arg) {
  void *v[100];
  for (int i = 0; i < 100; i++) v[i] = malloc(64);   /* the heap exists now */
  pthread_setspecific(key1, arg);
  pthread_setspecific(key2, malloc(100));
  for (int i = 0; i < 100; i += 2) free(v[i]);   /* exit with 50 live blocks ... */
  return NULL;   /* ... which leak on purpose: the heap is abandoned with them */
}

TEST(thread_exit_destructors_allocate) {
  require_eq(pthread_key_create(&key1, tsd_destructor), 0);
  require_eq(pthread_key_create(&key2, tsd_destructor_late), 0);
  for (int i = 0; i < NTHREADS; i++) {
    require_not_null(shared[i] = malloc(333));
    pat_fill(shared[i], 333, i);
  }
  pthread_t t[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) require_eq(pthread_create(&t[i], NULL, thread_main, (void *)(intptr_t)(i + 1)), 0);
  for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
  expect_eq(atomic_load(&ndestructed), NTHREADS);
  expect_eq(atomic_load(&nbad), 0);
  for (int i = 0; i < NTHREADS; i++) {
    require_not_null(from_threads[i]);
    expect_eq(pat_bad(from_threads[i], 777, 100 + i), 777);
    free(from_threads[i]);
  }
}

static void *detached_main(void *arg) {
  void *v[20];
  for (int i = 0; i < 20; i++) v[i] = malloc(i * 50 + 1);
  pthread_setspecific(key2, malloc(100));
  for (int i = 1; i < 20; i += 2) free(v[i]);   /* the even ones stay live */
  return arg;
}

TEST(detached_threads_exit_while_main_allocates) {
  int before = atomic_load(&nlate);
  for (int i = 0; i < 32; i++) {
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    require_eq(pthread_create(&t, &a, detached_main, NULL), 0);
    pthread_attr_destroy(&a);
    free(malloc(i * 100));
  }
  for (int w = 0; w < 2000 && atomic_load(&nlate) < before + 32; w++) usleep(5000);
  expect_eq(atomic_load(&nlate), before + 32);   /* every destructor finished */
  expect_eq(atomic_load(&nbad), 0);
}

/* ---- Process exit ------------------------------------------------------------ */
static void at_exit_allocates(void) {
  char *v[200];
  for (int i = 0; i < 200; i++) {
    v[i] = malloc(i * 97 + 1);
    if (!v[i]) _exit(3);
    memset(v[i], i, i * 97 + 1);
  }
  for (int i = 0; i < 200; i++) {
    if (v[i][i * 97] != (char)i) _exit(3);
    free(v[i]);
  }
  char *s = strdup("at exit");
  if (!s || strcmp(s, "at exit") != 0) _exit(3);
  libc_free(s);
  /* Left allocated on purpose: exit must not trip over live blocks. */
  if (!malloc(1000) || !malloc(400000)) _exit(3);
}

__attribute__((destructor)) static void destructor_allocates(void) {
  void *p = calloc(10, 1000);
  if (!p) _exit(3);
  free(p);
}

TEST(register_exit_handlers) {
  expect_eq(atexit(at_exit_allocates), 0);
}
