/* SPDX-License-Identifier: MIT */
/* fork.c — keeping the allocator consistent across fork().
 *
 * pthread_atfork handlers take every allocator lock before fork (in one
 * fixed order; no path of ours ever holds two of them, the profiler's
 * included) and release them in the parent and in the child, where heap.c
 * also orphans the heaps of the threads that did not survive (heap.c,
 * "ORPHANED").  Registered by pmi_init once the allocator is usable (state
 * 1), since pthread_atfork may itself allocate; so the handlers never run
 * before initialisation.
 */
#include "internal.h"

#include <pthread.h>

static void fork_prepare(void) {
  pm_assert(pm_atomic_load_acquire(&pmi_init_state) != 0);
  pmi_prof_fork_prepare();   /* never held with another of ours either */
  pmi_heap_fork_prepare();
  pmi_arena_fork_prepare();
  pmi_large_fork_prepare();
}

static void fork_parent(void) {
  pmi_large_fork_parent();
  pmi_arena_fork_parent();
  pmi_heap_fork_parent();
  pmi_prof_fork_parent();
}

static void fork_child(void) {
  pmi_large_fork_child();
  pmi_arena_fork_child();
  pmi_heap_fork_child();
  pmi_prof_fork_child();
}

void pmi_fork_register(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }
