/* SPDX-License-Identifier: MIT */
/* tests/unit/sizeclass.c — the size -> class mapping of lib/sizeclass.h.
 *
 * Checks, for every request size 0..PM_MEDIUM_MAX, that the class fits the
 * request, is the smallest class that does, wastes at most 12.5% above
 * PM_SMALL_MAX, and that the mapping is monotonic; that small classes are
 * 16 bytes apart and medium classes follow 2^k + j*2^(k-3); and that
 * pmi_class_info (built by pmi_sizeclass_init) agrees with the inline map.
 */
#include "config.h"
#include "internal.h"
#include "sizeclass.h"
#include "../tap.h"

/* ---- Small classes ------------------------------------------------------ */
TEST(small_classes_are_16_bytes_apart) {
  expect_eq(pmi_size_to_class(0), 0);
  expect_eq(pmi_class_size(0), 16);
  for (unsigned c = 1; c < PM_NSMALL; c++) expect_eq(pmi_class_size(c), 16 * c);
  for (size_t s = 1; s <= PM_SMALL_MAX; s++) expect_eq(pmi_size_to_class(s), (s + 15) / 16);
}

/* ---- Medium classes ----------------------------------------------------- */
TEST(medium_classes_follow_the_formula) {
  unsigned c = PM_NSMALL;
  for (unsigned k = 9; (1u << k) < PM_MEDIUM_MAX; k++)
    for (unsigned j = 1; j <= PM_MEDIUM_STEPS; j++, c++)
      expect_eq(pmi_class_size(c), (1u << k) + j * (1u << (k - 3)));
  expect_eq(c, PM_NCLASSES);
  expect_eq(pmi_class_size(PM_NCLASSES - 1), PM_MEDIUM_MAX);
}

/* ---- Every size ---------------------------------------------------------- */
TEST(every_size_maps_to_the_smallest_fitting_class) {
  unsigned prev = 0;
  for (size_t s = 0; s <= PM_MEDIUM_MAX; s++) {
    unsigned c = pmi_size_to_class(s);
    require_lt(c, PM_NCLASSES);
    size_t cs = pmi_class_size(c);
    expect_ge(cs, s);
    expect_eq(cs % PM_ALIGN, 0);
    if (s > PM_SMALL_MAX) expect_le((cs - s) * 8, s);  /* waste <= 12.5% */
    if (c >= 2) expect_lt(pmi_class_size(c - 1), s);   /* no smaller class fits */
    expect_ge(c, prev);                                /* monotonic */
    prev = c;
  }
  expect_eq(pmi_size_to_class(PM_MEDIUM_MAX), PM_NCLASSES - 1);
}

TEST(class_sizes_strictly_increase) {
  for (unsigned c = 2; c < PM_NCLASSES; c++) expect_lt(pmi_class_size(c - 1), pmi_class_size(c));
  for (unsigned c = 0; c < PM_NCLASSES; c++) expect_eq(pmi_size_to_class(pmi_class_size(c)), c ? c : 1);
}

/* ---- The class table ----------------------------------------------------- */
TEST(class_info_agrees_with_the_map) {
  pmi_init();
  for (unsigned c = 0; c < PM_NCLASSES; c++) {
    const pm_class_info_t *ci = &pmi_class_info[c];
    size_t pool_bytes = (size_t)ci->nslots * PM_SLOT_SIZE;
    expect_eq(ci->block_size, pmi_class_size(c));
    expect_ge(ci->nslots, 1);
    expect_le(ci->nslots, PM_POOL_MAX_SLOTS);
    expect_ge(ci->capacity, 1);
    expect_le((size_t)ci->capacity * ci->block_size, pool_bytes);
    /* capacity is as large as the pool allows: less than one block wasted */
    expect_lt(pool_bytes - (size_t)ci->capacity * ci->block_size, ci->block_size);
    expect_eq(ci->recip, (uint64_t)((((unsigned __int128)1 << 64) + ci->block_size - 1) / ci->block_size));
  }
  expect_ge(pmi_class_info[PM_NCLASSES - 1].capacity, 4);
}
