/* SPDX-License-Identifier: MIT */
/* sizeclass.h — size <-> class mapping, inline for the fast paths.
 *
 * Classes 0..32 are small (obmalloc's 16-byte spacing): class c holds
 * blocks of 16*c bytes, except class 0 (malloc(0)), which holds 16.  Giving
 * size 0 its own class makes the fast path a shift and nothing else.
 * Classes 33..96 are medium: 8 per doubling from 512 to 128 KiB, block size
 * 2^k + j*2^(k-3) (j = 1..8), so rounding wastes at most 12.5%.
 * Invariant: pmi_class_size(pmi_size_to_class(n)) >= n for n <= PM_MEDIUM_MAX.
 */
#ifndef PM_SIZECLASS_H
#define PM_SIZECLASS_H

#include "internal.h"

PM_INLINE size_t pmi_small_class(size_t size) { return (size + PM_ALIGN - 1) / PM_ALIGN; }   /* size_t: no extension on the fast path */

PM_INLINE unsigned pmi_medium_class(size_t size) {
  size_t n = size - 1;
  unsigned k = pm_log2(n);                 /* 2^k <= n < 2^(k+1), k >= 9 */
  unsigned j = (unsigned)(n >> (k - 3)) - PM_MEDIUM_STEPS;   /* 0..7 */
  return PM_NSMALL + (k - 9) * PM_MEDIUM_STEPS + j;
}

/* size <= PM_MEDIUM_MAX */
PM_INLINE unsigned pmi_size_to_class(size_t size) {
  return size <= PM_SMALL_MAX ? (unsigned)pmi_small_class(size) : pmi_medium_class(size);
}

PM_INLINE size_t pmi_class_size(unsigned cls) {
  if (cls < PM_NSMALL) return cls == 0 ? PM_ALIGN : (size_t)cls * PM_ALIGN;
  unsigned m = cls - PM_NSMALL, k = 9 + m / PM_MEDIUM_STEPS, j = m % PM_MEDIUM_STEPS + 1;
  return ((size_t)1 << k) + ((size_t)j << (k - 3));
}

#endif /* PM_SIZECLASS_H */
