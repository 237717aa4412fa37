/* SPDX-License-Identifier: MIT */
/* tests/fuzz/pattern.h — the fuzzer's block contents: a byte pattern keyed by
 * the block's address, size and serial number, over a sampled set of regions.
 *
 * Why keyed by address: a block that reaches a second owner (a double free,
 * a chunk-map race handing out a live mapping, realloc copying the wrong
 * pages) is overwritten with the second owner's pattern, and the first
 * owner's check fails.  Keying by the serial number too means that even a
 * block handed out twice at the same address and size gets two different
 * patterns.  After realloc the preserved prefix still carries the pattern of
 * the old address, which is exactly what realloc must have copied.
 *
 * Which bytes: a block of at most FZ_FULL bytes is patterned whole.  A bigger
 * one gets its first and last FZ_EDGE bytes plus one FZ_STRIP-byte strip per
 * FZ_STRIDE, each strip on a different page of its stride (k * 64 KiB +
 * (k % 16) * 4 KiB), so pages moved to the wrong place by mremap, or a
 * mapping unmapped under a live block, are seen, while a 40 MiB block costs
 * 2.7 MiB of page faults and ~100 KiB of writes instead of 40 MiB.
 * The regions depend only on the block's length n; fz_walk visits those that
 * lie below `limit` (realloc checks only the prefix it must preserve).
 *
 * Invariant: fz_check(p, n, key, limit) == SIZE_MAX right after
 * fz_fill(p, n, key) for every limit <= n, whatever p's alignment.
 * Test code only (no constraint on calling libc).
 */
#ifndef PM_FUZZ_PATTERN_H
#define PM_FUZZ_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fz_byte assumes a little-endian word layout"
#endif

#define FZ_FULL ((size_t)64 << 10)     /* patterned whole up to this size */
#define FZ_EDGE ((size_t)16 << 10)     /* head and tail of bigger blocks  */
#define FZ_STRIDE ((size_t)64 << 10)   /* one strip per stride            */
#define FZ_STRIP ((size_t)64)

static inline uint64_t fz_mix(uint64_t x) {   /* splitmix64's finaliser */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static inline uint64_t fz_key(const void *p, size_t size, uint64_t serial) {
  return fz_mix((uint64_t)(uintptr_t)p ^ fz_mix(size + 0x9e3779b97f4a7c15ULL * serial));
}

/* Word w of the pattern; byte o of the block is byte (o & 7) of word o >> 3. */
static inline uint64_t fz_word(uint64_t key, size_t w) { return fz_mix(key + w * 0x9e3779b97f4a7c15ULL); }
static inline unsigned char fz_byte(uint64_t key, size_t o) {
  return (unsigned char)(fz_word(key, o >> 3) >> ((o & 7) * 8));
}

/* Fills [from, to) of the block at p with the pattern of key. */
static inline void fz_fill_range(unsigned char *p, size_t from, size_t to, uint64_t key) {
  size_t o = from;
  for (; o < to && (o & 7) != 0; o++) p[o] = fz_byte(key, o);
  for (; o + 8 <= to; o += 8) {
    uint64_t w = fz_word(key, o >> 3);
    memcpy(p + o, &w, 8);
  }
  for (; o < to; o++) p[o] = fz_byte(key, o);
}

/* First offset in [from, to) that does not hold the pattern (zero when
 * key_is_zero), or SIZE_MAX. */
static inline size_t fz_check_range(const unsigned char *p, size_t from, size_t to, uint64_t key,
                                    int key_is_zero) {
  size_t o = from;
  for (; o < to && (o & 7) != 0; o++)
    if (p[o] != (key_is_zero ? 0 : fz_byte(key, o))) return o;
  for (; o + 8 <= to; o += 8) {
    uint64_t w, want = key_is_zero ? 0 : fz_word(key, o >> 3);
    memcpy(&w, p + o, 8);
    if (w != want)
      for (size_t i = 0; i < 8; i++)
        if (p[o + i] != (unsigned char)(want >> (i * 8))) return o + i;
  }
  for (; o < to; o++)
    if (p[o] != (key_is_zero ? 0 : fz_byte(key, o))) return o;
  return SIZE_MAX;
}

/* ---- The sampled regions of an n-byte block ----------------------------- */
typedef enum { FZ_FILL, FZ_CHECK, FZ_CHECK_ZERO } fz_mode_t;

static inline size_t fz_walk_one(unsigned char *p, size_t from, size_t to, size_t limit, uint64_t key,
                                 fz_mode_t mode) {
  if (to > limit) to = limit;
  if (from >= to) return SIZE_MAX;
  if (mode == FZ_FILL) {
    fz_fill_range(p, from, to, key);
    return SIZE_MAX;
  }
  return fz_check_range(p, from, to, key, mode == FZ_CHECK_ZERO);
}

/* Fills or checks the regions of an n-byte block that lie below limit;
 * returns the first bad offset or SIZE_MAX. */
static inline size_t fz_walk(void *block, size_t n, size_t limit, uint64_t key, fz_mode_t mode) {
  unsigned char *p = block;
  if (n <= FZ_FULL) return fz_walk_one(p, 0, n, limit, key, mode);
  size_t bad = fz_walk_one(p, 0, FZ_EDGE, limit, key, mode);
  for (size_t k = 1; bad == SIZE_MAX; k++) {
    size_t at = k * FZ_STRIDE + (k % 16) * 4096;
    if (at + FZ_STRIP > n - FZ_EDGE) break;
    bad = fz_walk_one(p, at, at + FZ_STRIP, limit, key, mode);
  }
  if (bad == SIZE_MAX) bad = fz_walk_one(p, n - FZ_EDGE, n, limit, key, mode);
  return bad;
}

static inline void fz_fill(void *p, size_t n, uint64_t key) { fz_walk(p, n, n, key, FZ_FILL); }
static inline size_t fz_check(const void *p, size_t n, size_t limit, uint64_t key) {
  return fz_walk((void *)p, n, limit, key, FZ_CHECK);
}
static inline size_t fz_check_zero(const void *p, size_t n) { return fz_walk((void *)p, n, n, 0, FZ_CHECK_ZERO); }

#endif /* PM_FUZZ_PATTERN_H */
