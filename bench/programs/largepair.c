/* SPDX-License-Identifier: MIT */
/* bench/programs/largepair.c — the instruction-count probe of issue 8 §1:
 * N malloc + free pairs of one large size (default 256 KiB), each block
 * touched once.  Not part of the timed suite: run it under callgrind with
 * N and 2N and difference the totals, so start-up cancels out and the
 * result is exact on a shared machine (docs/design.md, "Large blocks"):
 *
 *   for n in 10000 20000; do LD_PRELOAD=lib/.libs/libpoolmalloc.so \
 *     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *     bench/programs/largepair $n 2>&1 | grep refs; done
 *
 * Built with -fno-builtin so that GCC cannot delete the pair.
 * Usage: largepair N [size=262144]
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000;
  size_t size = argc > 2 ? (size_t)atol(argv[2]) : (size_t)256 << 10;
  for (long i = 0; i < n; i++) {
    char *p = malloc(size);
    if (p == NULL) return 2;
    *(volatile char *)p = 1;
    free(p);
  }
  printf("largepair: %ld pairs of %zu bytes\n", n, size);
  return 0;
}
