/* SPDX-License-Identifier: MIT */
/* sizeclass.c — the per-class pool geometry table.
 *
 * For each class it picks how many 16 KiB slots a pool spans: one for small
 * classes (obmalloc's pool), and for medium classes the span of at most
 * PM_POOL_MAX_SLOTS slots that holds at least four blocks (eight when they
 * fit in 64 KiB) with the least tail waste, and the slot alignment of the
 * pool start that makes every block aligned to the largest power of two
 * dividing its size.  Built once by pmi_init(), then
 * read-only; pmi_sizeclass_init() checks the mapping's invariants.
 */
#include "sizeclass.h"

pm_class_info_t pmi_class_info[PM_NCLASSES];

static unsigned sizeclass_pick_slots(size_t block_size) {
  if (block_size <= PM_SMALL_MAX) return 1;
  size_t min_blocks = block_size * 8 <= 4 * PM_SLOT_SIZE ? 8 : 4;
  unsigned best = 0;
  size_t best_waste = SIZE_MAX;
  for (unsigned n = 1; n <= PM_POOL_MAX_SLOTS; n++) {
    size_t bytes = n * PM_SLOT_SIZE, blocks = bytes / block_size;
    if (blocks < min_blocks) continue;
    size_t waste = bytes - blocks * block_size;
    /* waste per byte, compared without division: waste/bytes < best */
    if (best == 0 || waste * (best * PM_SLOT_SIZE) < best_waste * bytes) {
      best = n;
      best_waste = waste;
    }
    if (waste * 64 <= bytes) break;      /* under 1.6%: stop growing the pool */
  }
  return best;
}

void pmi_sizeclass_init(void) {
  for (unsigned c = 0; c < PM_NCLASSES; c++) {
    size_t bs = pmi_class_size(c);
    unsigned nslots = sizeclass_pick_slots(bs);
    pm_class_info_t *ci = &pmi_class_info[c];
    ci->block_size = (uint32_t)bs;
    ci->nslots = (uint8_t)nslots;
    ci->capacity = (uint32_t)(nslots * PM_SLOT_SIZE / bs);
    ci->recip = ~(uint64_t)0 / bs + 1;   /* ceil(2^64 / bs): bs is not 1 */
    /* Blocks are aligned to the largest power of two dividing their size
     * (up to PM_MEDIUM_MAX) when the pool starts on such a boundary, which
     * is what lets pmi_aligned serve alignments up to 128 KiB from pools. */
    size_t natural = bs & -bs;
    if (natural > PM_MEDIUM_MAX) natural = PM_MEDIUM_MAX;
    ci->align_slots = (uint8_t)(natural > PM_SLOT_SIZE ? natural / PM_SLOT_SIZE : 1);
    if (nslots == 0 || ci->capacity == 0) pmi_fatal("size class %u (%zu bytes) has no pool geometry", c, bs);
  }
  if (pmi_size_to_class(PM_MEDIUM_MAX) != PM_NCLASSES - 1 || pmi_class_size(PM_NCLASSES - 1) != PM_MEDIUM_MAX)
    pmi_fatal("size classes do not end at %zu", PM_MEDIUM_MAX);
}
