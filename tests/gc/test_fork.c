/* SPDX-License-Identifier: MIT */
/* tests/gc/test_fork.c — fork() against the GC layer's whole state (issue 13,
 * bug 1; docs/gc.md, "Threads and fork").
 *
 * The rule under test: a child starts with no collection running unless the
 * forking thread itself was collecting (then that collection goes on in the
 * child).  On c6a47e2 the "collection running" flag was raised and cleared
 * outside the layer lock, which the atfork handlers took: a child forked
 * while another thread was between the two got -1 from every pm_gc_collect
 * and never collected automatically again.
 *
 * Each child exits 0 only if (1) an explicit collection runs and frees its
 * own garbage cycle and (2) crossing the threshold runs an automatic one.
 * alarm() turns a deadlocked child into a failure.
 */
#include "../tap.h"
#include "gcnode.h"
#include <signal.h>
#include <stdatomic.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

static _Atomic int stop_collecting;
static _Atomic long collections_seen;

static void count_collections(int phase, const pm_gc_info_t *info, void *data) {
  if (phase == PM_GC_PHASE_STOP) atomic_fetch_add(&collections_seen, 1);
}

static void *collect_forever(void *arg) {
  while (!atomic_load(&stop_collecting)) pm_gc_collect(0);
  return NULL;
}

/* The child's checks; returns its exit status. */
static int child_checks(void) {
  alarm(10);
  gcnode_t *n = gcn_new();
  gcn_link(n, 0, n);
  pm_decref(n);
  if (pm_gc_collect(2) < 1) return 1;          /* the explicit collection */
  long before = atomic_load(&collections_seen);
  pm_gc_enable();
  pm_gc_set_threshold(50, 10, 10);
  for (int i = 0; i < 200; i++) {              /* crosses the threshold */
    gcnode_t *x = gcn_new();
    gcn_link(x, 0, x);
    pm_decref(x);
  }
  if (atomic_load(&collections_seen) <= before) return 2;
  return 0;
}

static int fork_children(int nforks, int *bad_status) {
  int ok = 0;
  for (int i = 0; i < nforks; i++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(child_checks());
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) continue;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
    else *bad_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  return ok;
}

TEST(children_forked_during_another_threads_collection_can_collect) {
  enum { NFORKS = 300 };
  require_eq(pm_gc_callback_add(count_collections, NULL), 0);
  atomic_store(&stop_collecting, 0);
  pthread_t t;
  require_eq(pthread_create(&t, NULL, collect_forever, NULL), 0);
  int bad_status = 0;
  int ok = fork_children(NFORKS, &bad_status);
  atomic_store(&stop_collecting, 1);
  pthread_join(t, NULL);
  pm_gc_callback_remove(count_collections, NULL);
  tap_note("%d of %d children collected (last bad status %d)", ok, NFORKS, bad_status);
  expect_eq(ok, NFORKS);
}

/* The same without callbacks: the window is only the collection itself. */
TEST(children_forked_without_callbacks_can_collect) {
  enum { NFORKS = 300 };
  atomic_store(&stop_collecting, 0);
  pthread_t t;
  require_eq(pthread_create(&t, NULL, collect_forever, NULL), 0);
  int bad_status = 0;
  int ok = 0;
  for (int i = 0; i < NFORKS; i++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      alarm(10);
      gcnode_t *n = gcn_new();
      gcn_link(n, 0, n);
      pm_decref(n);
      _exit(pm_gc_collect(2) >= 1 ? 0 : 1);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) continue;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
    else bad_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  atomic_store(&stop_collecting, 1);
  pthread_join(t, NULL);
  tap_note("%d of %d children collected (last bad status %d)", ok, NFORKS, bad_status);
  expect_eq(ok, NFORKS);
}

/* A fork from inside a collection (a START callback of the collecting
 * thread): the child's collection is the forking thread's own and runs to
 * its end there; after it the child collects normally. */
static _Atomic int fork_in_callback;
static void fork_from_start(int phase, const pm_gc_info_t *info, void *data) {
  if (phase != PM_GC_PHASE_START || !atomic_exchange(&fork_in_callback, 0)) return;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    *(pid_t *)data = 0;                        /* the child goes on collecting */
    return;
  }
  *(pid_t *)data = pid;
}

TEST(child_forked_by_the_collecting_thread_finishes_that_collection) {
  static pid_t pid;
  require_eq(pm_gc_callback_add(fork_from_start, &pid), 0);
  atomic_store(&fork_in_callback, 1);
  gcnode_t *n = gcn_new();
  gcn_link(n, 0, n);
  pm_decref(n);
  long found = pm_gc_collect(2);                /* forks in its START callback */
  if (pid == 0) {                               /* the child */
    pm_gc_callback_remove(fork_from_start, &pid);
    alarm(10);
    int rc = found == 1 ? 0 : 1;
    gcnode_t *m = gcn_new();
    gcn_link(m, 0, m);
    pm_decref(m);
    if (pm_gc_collect(2) != 1) rc |= 2;
    _exit(rc);
  }
  pm_gc_callback_remove(fork_from_start, &pid);
  expect_eq(found, 1);
  require_gt(pid, 0);
  int st;
  require_eq(waitpid(pid, &st, 0), pid);
  expect_true(WIFEXITED(st));
  expect_eq(WEXITSTATUS(st), 0);
}
