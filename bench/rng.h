/* SPDX-License-Identifier: MIT */
/* bench/rng.h — the one pseudo-random generator of the benchmarks.
 *
 * xorshift64* (Vigna): fast, good enough for picking sizes and slots, and
 * deterministic per seed so every allocator sees the same request stream.
 * Shared by the micro workloads (harness.h) and the whole programs (prog.h);
 * one generator per thread.
 */
#ifndef PM_BENCH_RNG_H
#define PM_BENCH_RNG_H

#include <stdint.h>

typedef struct bench_rng_s {
  uint64_t s;
} bench_rng_t;

static inline void bench_rng_seed(bench_rng_t *r, uint64_t seed) {
  r->s = seed * 0x9E3779B97F4A7C15ull + 1;   /* never the all-zero state for small seeds */
}

static inline uint64_t bench_rng_next(bench_rng_t *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n). */
static inline uint64_t bench_rng_below(bench_rng_t *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)bench_rng_next(r) * n) >> 64);
}

#endif /* PM_BENCH_RNG_H */
