/* SPDX-License-Identifier: MIT */
/* init.c — process start-up, in an order that never needs malloc.
 *
 * pmi_init runs on the first slow-path allocation (which can happen before
 * main, inside the dynamic loader, or while another library's constructor
 * sets up TLS) or from our constructor, whichever comes first:
 *
 *   state 0  nothing done.
 *   core     options from the environment (no getenv: it walks `environ`),
 *            the canary keys, the size-class table, the thread-exit key,
 *            the profiler's settings.  None of these allocate.
 *   state 1  the allocator is usable: a malloc made from here on, even from
 *            inside pmi_init on this thread, proceeds normally.
 *            pthread_atfork registration (which may call malloc).
 *   state 2  done.
 * Other threads that arrive while state is 0 spin until it is 1.
 */
#define _GNU_SOURCE 1
#include "os.h"
#include "sizeclass.h"

#include <sched.h>

extern char **environ;

int pmi_init_state;   /* release/acquire */
static int init_lock;  /* a spin lock: acquire/release */

void pmi_init(void) {
  while (pm_atomic_exchange_acquire(&init_lock, 1)) {
    if (pm_atomic_load_acquire(&pmi_init_state) != 0) return;
    sched_yield();
  }
  if (pm_atomic_load_relaxed(&pmi_init_state) == 0) {
    pmi_options_init(environ, pmi_prim_is_secure());
    if (pmi_prim_page_size() != PM_PAGE_SIZE)
      pmi_fatal("page size %zu is not supported (built for %zu)", pmi_prim_page_size(), PM_PAGE_SIZE);
    pmi_keys.mul0 = pmi_prim_random() | 1;
    pmi_keys.mul1 = pmi_prim_random() | 1;
    if (pm_config_secure) pmi_keys.tail = pmi_prim_random() | 1;
    pmi_sizeclass_init();
    pmi_heap_thread_init();
    pmi_stats_init();
    pmi_prof_init();
    pm_atomic_store_release(&pmi_init_state, 1);
    pmi_fork_register();
    pm_atomic_store_release(&pmi_init_state, 2);
  }
  pm_atomic_store_release(&init_lock, 0);
}

/* The observers (docs/profiling.md) start once the allocator is usable:
 * priming the unwinder and starting helper threads may allocate. */
__attribute__((constructor(101))) static void init_constructor(void) {
  pmi_init();
  pmi_prof_start();
  pmi_timeline_start();
}
/* Runs after the program's atexit handlers: the profile, the leak report
 * and the statistics see the heap as the program left it. */
__attribute__((destructor(101))) static void init_destructor(void) {
  pmi_timeline_at_exit();
  pmi_prof_at_exit();
  pmi_stats_at_exit();
}
