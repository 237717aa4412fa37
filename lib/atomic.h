/* SPDX-License-Identifier: MIT */
/* atomic.h — the one way the allocator touches memory another thread can
 * touch at the same time (issue 12 §2).
 *
 * Shared fields are declared as plain types, and every access to them that
 * can race goes through these wrappers (GCC's __atomic builtins, as
 * mimalloc's atomic.h wraps C11's), so that ThreadSanitizer sees each one
 * and a reader can find every racing access with one grep.  Each shared
 * field's comment in types.h (or its owner's struct) names its rule:
 *
 *   "relaxed"          a counter or hint: any value it held is good enough;
 *   "release/acquire"  it publishes what was written before the store to the
 *                      thread whose load sees it (pool->heap, the chunk
 *                      map's leaves, the remote-free stacks);
 *   "owner"            only one thread writes it; other threads read it with
 *                      pm_atomic_load_relaxed (the owner may read it plainly).
 *
 * Fields touched by one thread only, or only under a lock, stay plain.
 * Never include <stdatomic.h> in lib/ for new code: one discipline.
 */
#ifndef PM_ATOMIC_H
#define PM_ATOMIC_H

#define pm_atomic_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define pm_atomic_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define pm_atomic_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define pm_atomic_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define pm_atomic_exchange_acquire(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQUIRE)
#define pm_atomic_exchange_acq_rel(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#define pm_atomic_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define pm_atomic_sub_relaxed(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#define pm_atomic_sub_release(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELEASE)
#define pm_atomic_sub_acq_rel(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_ACQ_REL)
#define pm_atomic_fetch_or_acq_rel(p, v) __atomic_fetch_or((p), (v), __ATOMIC_ACQ_REL)
#define pm_atomic_fetch_and_acq_rel(p, v) __atomic_fetch_and((p), (v), __ATOMIC_ACQ_REL)
/* Compare-and-swap: *expected is updated with the current value on failure. */
#define pm_atomic_cas_weak_release(p, expected, desired) \
  __atomic_compare_exchange_n((p), (expected), (desired), true, __ATOMIC_RELEASE, __ATOMIC_RELAXED)
#define pm_atomic_cas_weak_relaxed(p, expected, desired) \
  __atomic_compare_exchange_n((p), (expected), (desired), true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
#define pm_atomic_cas_weak_acquire(p, expected, desired) \
  __atomic_compare_exchange_n((p), (expected), (desired), true, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
#define pm_atomic_cas_strong_acquire(p, expected, desired) \
  __atomic_compare_exchange_n((p), (expected), (desired), false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
#define pm_atomic_cas_strong_acq_rel(p, expected, desired) \
  __atomic_compare_exchange_n((p), (expected), (desired), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

/* Raises *p to at least v (a high-water mark); relaxed. */
#define pm_atomic_max_relaxed(p, v)                                              \
  do {                                                                           \
    __typeof__(*(p)) pm_max_v_ = (v), pm_max_cur_ = pm_atomic_load_relaxed(p);   \
    while (pm_max_cur_ < pm_max_v_ && !pm_atomic_cas_weak_relaxed(p, &pm_max_cur_, pm_max_v_)) { \
    }                                                                            \
  } while (0)

#endif /* PM_ATOMIC_H */
