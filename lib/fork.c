/* SPDX-License-Identifier: MIT */
/* fork.c — keeping the allocator consistent across fork().
 *
 * pthread_atfork handlers take every allocator lock before fork (in one fixed
 * order; no path of ours ever holds two of them), release them in the
 * parent, and re-initialise them in the child, where heap.c also turns the
 * heaps of the threads that did not survive into abandoned heaps so their
 * blocks can be freed and their pools reclaimed.  Registered by pmi_init
 * once the allocator is usable, since pthread_atfork may itself allocate.
 */
#include "internal.h"

#include <pthread.h>

static void fork_prepare(void) {
  if (atomic_load_explicit(&pmi_init_state, memory_order_acquire) == 0) return;
  pmi_heap_fork_prepare();
  pmi_arena_fork_prepare();
  pmi_large_fork_prepare();
}

static void fork_parent(void) {
  pmi_large_fork_parent();
  pmi_arena_fork_parent();
  pmi_heap_fork_parent();
}

static void fork_child(void) {
  pmi_large_fork_child();
  pmi_arena_fork_child();
  pmi_heap_fork_child();
}

void pmi_fork_register(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }
