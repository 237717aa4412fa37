/* SPDX-License-Identifier: MIT */
/* pattern.h — byte patterns that let a test prove a block's contents
 * survived (no overlap with another block, no corruption by free lists,
 * realloc copied everything).  Shared by tests/unit, tests/api and
 * tests/stress; header only, test code only.
 *
 * pat_fill(p, n, seed) writes byte i = pat_byte(seed, i); pat_bad(p, n, seed)
 * returns the index of the first byte that differs, or n if none does.
 * Different seeds give different sequences, so two overlapping blocks filled
 * with different seeds cannot both check out.
 */
#ifndef PM_TEST_PATTERN_H
#define PM_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline unsigned char pat_byte(uint64_t seed, size_t i) {
  uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ULL + (i >> 3) * 0xD6E8FEB86659FD93ULL;
  x ^= x >> 29;
  return (unsigned char)((x >> ((i & 7) * 8)) ^ (unsigned char)i);
}

__attribute__((unused)) static void pat_fill(void *p, size_t n, uint64_t seed) {
  unsigned char *b = p;
  for (size_t i = 0; i < n; i++) b[i] = pat_byte(seed, i);
}

__attribute__((unused)) static size_t pat_bad(const void *p, size_t n, uint64_t seed) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != pat_byte(seed, i)) return i;
  return n;
}

/* Index of the first non-zero byte, or n. */
__attribute__((unused)) static size_t pat_nonzero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return i;
  return n;
}

#endif /* PM_TEST_PATTERN_H */
