/* SPDX-License-Identifier: MIT */
/* leaker.c — a program that leaks from one known function among noise.
 *
 *   leaker [ROUNDS]
 *
 * Each round allocates and frees blocks of many sizes from noise() (small,
 * medium and large), and one round in ten leaks 100 bytes from
 * leaky_function().  Used by leaks.sh: the leak report and `pmprof top`
 * must name leaky_function first.  Prints the number of bytes leaked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* External, so that the profiler's symbolizer finds them by name. */
void *leaky_function(size_t n);
void noise(unsigned i);

__attribute__((noinline)) void *leaky_function(size_t n) {
  void *p = malloc(n);
  memset(p, 1, n);
  return p;
}

__attribute__((noinline)) void noise(unsigned i) {
  size_t n = i % 97 == 0 ? 200000 + i % 5000 : 16 + (i * 7919) % 3000;
  char *p = malloc(n);
  memset(p, 2, n < 64 ? n : 64);
  free(p);
}

int main(int argc, char **argv) {
  unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 200000;
  size_t leaked = 0;
  for (unsigned i = 0; i < rounds; i++) {
    noise(i);
    if (i % 10 == 0) {
      void *volatile q = leaky_function(100);
      (void)q;
      leaked += 100;
    }
  }
  printf("%zu\n", leaked);
  return 0;
}
