/* SPDX-License-Identifier: MIT */
/* misuse.h — shared by the tests/misuse programs.
 *
 * Each program commits one kind of misuse that poolmalloc must detect in
 * every build: it prints what misuse.sh needs to predict the diagnostic
 * (the address, and sizes where the message has them) on stdout, flushes,
 * misbehaves, and — if it is still alive — exits with status 3 ("not
 * detected").  The programs link only libc; misuse.sh runs them with
 * LD_PRELOAD=$PM_LIB, which is how real programs meet poolmalloc.
 */
#ifndef PM_MISUSE_H
#define PM_MISUSE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The address exactly as the diagnostic prints it: 0x + lowercase hex. */
static inline void misuse_announce(const void *p) {
  printf("0x%lx\n", (unsigned long)(uintptr_t)p);
  fflush(stdout);
}

static inline int misuse_not_detected(void) {
  fputs("misuse not detected\n", stderr);
  return 3;
}

/* A progress line on stdout: the runners tell "caught at the misuse" from
 * "caught later" by whether the line after the misuse was printed. */
static inline void misuse_mark(const char *what) {
  puts(what);
  fflush(stdout);
}

#endif /* PM_MISUSE_H */
