/* SPDX-License-Identifier: MIT */
/* init.c — process start-up, in an order that never needs malloc.
 *
 * pmi_init runs on the first slow-path allocation (which can happen before
 * main, inside the dynamic loader, or while another library's constructor
 * sets up TLS) or from our constructor, whichever comes first:
 *
 *   state 0  nothing done.
 *   core     options from the environment (no getenv: it walks `environ`),
 *            the canary secret, the size-class table, the thread-exit key.
 *            None of these allocate.
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
#if defined(HAVE_SYS_AUXV_H)
#include <sys/auxv.h>
#endif

extern char **environ;

_Atomic int pmi_init_state;
static _Atomic int init_lock;

static bool init_is_secure(void) {
#if defined(HAVE_SYS_AUXV_H)
  return getauxval(AT_SECURE) != 0;
#else
  return false;
#endif
}

void pmi_init(void) {
  while (atomic_exchange_explicit(&init_lock, 1, memory_order_acquire)) {
    if (atomic_load_explicit(&pmi_init_state, memory_order_acquire) != 0) return;
    sched_yield();
  }
  if (atomic_load_explicit(&pmi_init_state, memory_order_relaxed) == 0) {
    pmi_options_init(environ, init_is_secure());
    if (pmi_os_page_size() != PM_PAGE_SIZE)
      pmi_fatal("page size %zu is not supported (built for %zu)", pmi_os_page_size(), PM_PAGE_SIZE);
    pmi_secret = (uintptr_t)pmi_os_random() | 1;
    pmi_sizeclass_init();
    pmi_heap_thread_init();
    pmi_stats_init();
    atomic_store_explicit(&pmi_init_state, 1, memory_order_release);
    pmi_fork_register();
    atomic_store_explicit(&pmi_init_state, 2, memory_order_release);
  }
  atomic_store_explicit(&init_lock, 0, memory_order_release);
}

__attribute__((constructor(101))) static void init_constructor(void) { pmi_init(); }
__attribute__((destructor(101))) static void init_destructor(void) { pmi_stats_at_exit(); }
