// SPDX-License-Identifier: MIT
/* bench/programs/bigbuf.cc — large-buffer churn (issue 8 §1).
 *
 * Models: a program that keeps a fixed set of big scratch buffers (decoded
 * images, network frames, column chunks) and keeps replacing one of them
 * with a freshly zeroed buffer of a different size.  One thread holds NBUF
 * slots; each step picks a random slot and a random size in [MIN, MAX] MiB
 * and assigns std::make_unique<char[]>(size) to the slot: operator new[]
 * first, then value-initialisation (the compiler's memset of every byte),
 * then the slot's old buffer is deleted.  So every step writes `size` bytes,
 * the heap holds NBUF or NBUF + 1 buffers, and sizes almost never repeat:
 * an allocator that gives every buffer fresh pages from the kernel pays a
 * page fault and a kernel zeroing per 4 KiB page on top of the memset,
 * while one that reuses freed memory across sizes pays the memset only.
 * Peak RSS says how much memory that reuse costs.
 *
 * Written in C++ on purpose: in C, GCC may turn malloc + memset(0) into
 * calloc, which an allocator can answer with untouched pages; new[] plus
 * value-initialisation is what C++ programs really do.
 *
 * Usage: bigbuf [buffers=20] [steps=2000] [min_mib=5] [max_mib=25]
 * Prints: the number of bytes zeroed and a checksum of one byte per buffer
 * (both argument-determined).
 */
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "../rng.h"

static long bigbuf_arg(int argc, char **argv, int i, long dflt) {
  if (i >= argc) return dflt;
  char *end;
  long v = std::strtol(argv[i], &end, 10);
  if (*end != '\0' || v <= 0) {
    std::fprintf(stderr, "bigbuf: arguments must be positive integers\n");
    std::exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  long nbuf = bigbuf_arg(argc, argv, 1, 20);
  long steps = bigbuf_arg(argc, argv, 2, 2000);
  size_t lo = (size_t)bigbuf_arg(argc, argv, 3, 5) << 20;
  size_t hi = (size_t)bigbuf_arg(argc, argv, 4, 25) << 20;
  if (hi < lo) {
    std::fprintf(stderr, "bigbuf: max_mib < min_mib\n");
    return 2;
  }
  std::unique_ptr<std::unique_ptr<char[]>[]> slot(new std::unique_ptr<char[]>[nbuf]);
  bench_rng_t rng;
  bench_rng_seed(&rng, 8);
  unsigned long long zeroed = 0, check = 0;
  for (long i = 0; i < steps; i++) {
    long k = (long)bench_rng_below(&rng, (uint64_t)nbuf);
    size_t size = lo + (size_t)bench_rng_below(&rng, hi - lo + 1);
    slot[k] = std::make_unique<char[]>(size);
    zeroed += size;
    /* one write and one read in the middle, so the buffer is really used
     * and the compiler cannot drop the value-initialisation */
    slot[k][size / 2] = (char)(i & 0x7f);
    check += (unsigned char)slot[k][size / 3] + (unsigned char)slot[k][size / 2];
  }
  std::printf("bigbuf: %ld buffers, %ld steps, %llu bytes zeroed, check %llu\n", nbuf, steps, zeroed, check);
  return 0;
}
