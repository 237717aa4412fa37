/* SPDX-License-Identifier: MIT */
/* tap.h — the test harness of poolmalloc: TAP output, header only.
 *
 * One test program = one .c file that includes this header and declares
 *
 *   TEST(name) { expect_eq(x, 3); require_not_null(p); skip_if(!ok, "why"); }
 *
 * Tests register themselves (constructor attribute) and run in source order.
 * The program prints a plan "1..N", then "ok|not ok K - name [# SKIP why]"
 * per test, with failure details as "# file:line: ..." comment lines.
 *   expect_*   record a failure and go on;
 *   require_*  record a failure and end the test (longjmp back to the runner;
 *              call them only from the test's own thread — workers use expect_*);
 *   skip_if    ends the test as skipped.
 * Comparisons convert both sides to uintmax_t (pointers too): use
 * expect_true for ordering of negative numbers.
 * Exit status: 1 if any test failed, 77 if every test was skipped (0 instead
 * when TAP_SKIP_STATUS=0 is set: Automake's TAP driver calls 77 an error and
 * already reports "# SKIP" lines), else 0.  Arguments select tests by name.
 * Define TAP_NO_MAIN to write your own main that calls tap_main().
 * Modelled on jemalloc's test/include/test/test.h (expect_* vs assert_*).
 * Never include it in library code: it uses stdio and longjmp.
 */
#ifndef PM_TAP_H
#define PM_TAP_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Registry --------------------------------------------------------- */
#define TAP_MAX_TESTS 256
#define TAP_MAX_REPORTS 20 /* failure lines printed per test */

typedef struct tap_test_s { const char *name; void (*fn)(void); int line; } tap_test_t;

static tap_test_t tap_tests[TAP_MAX_TESTS];
static int tap_ntests;
static int tap_nfail_now;          /* failures of the running test (atomic) */
static const char *tap_skip_why;   /* set by skip_if                        */
static const char *tap_current;    /* name of the running test              */
static jmp_buf tap_jmp;

__attribute__((unused)) static void tap_register(const char *name, void (*fn)(void), int line) {
  if (tap_ntests == TAP_MAX_TESTS) { fputs("tap.h: too many tests\n", stderr); abort(); }
  tap_tests[tap_ntests++] = (tap_test_t){name, fn, line};
}

#define TEST(name)                                                             \
  static void tap_test_##name(void);                                           \
  __attribute__((constructor)) static void tap_register_##name(void) {         \
    tap_register(#name, tap_test_##name, __LINE__); }                          \
  static void tap_test_##name(void)

/* ---- Checks ----------------------------------------------------------- */
__attribute__((unused, format(printf, 4, 5))) static void
tap_check(int ok, int require, int line_no, const char *fmt, ...) {
  if (ok) return;
  int n = __atomic_add_fetch(&tap_nfail_now, 1, __ATOMIC_RELAXED);
  if (n <= TAP_MAX_REPORTS) {
    va_list ap; flockfile(stdout);
    printf("# %s: line %d: %s failed: ", tap_current, line_no, require ? "require" : "expect");
    va_start(ap, fmt), vprintf(fmt, ap), va_end(ap);
    puts(n == TAP_MAX_REPORTS ? "\n# (further failures of this test not shown)" : "");
    funlockfile(stdout), fflush(stdout);
  }
  if (require) longjmp(tap_jmp, 1);
}

#define TAP_CMP(req, a, op, b)                                                 \
  do {                                                                         \
    uintmax_t tap_a_ = (uintmax_t)(a), tap_b_ = (uintmax_t)(b);                \
    tap_check(tap_a_ op tap_b_, req, __LINE__, "%s %s %s (%ju [0x%jx] vs %ju [0x%jx])", \
              #a, #op, #b, tap_a_, tap_a_, tap_b_, tap_b_);                   \
  } while (0)
#define TAP_TRUE(req, c) tap_check(!!(c), req, __LINE__, "%s", #c)
#define TAP_STR(req, a, b)                                                     \
  do {                                                                         \
    const char *tap_s_ = (a), *tap_t_ = (b);                                   \
    tap_check(tap_s_ && tap_t_ && strcmp(tap_s_, tap_t_) == 0, req, __LINE__,  \
              "%s == %s (\"%s\" vs \"%s\")", #a, #b, tap_s_ ? tap_s_ : "(null)", \
              tap_t_ ? tap_t_ : "(null)");                                     \
  } while (0)

#define expect_true(c) TAP_TRUE(0, c)
#define expect_false(c) TAP_TRUE(0, !(c))
#define expect_eq(a, b) TAP_CMP(0, a, ==, b)
#define expect_ne(a, b) TAP_CMP(0, a, !=, b)
#define expect_lt(a, b) TAP_CMP(0, a, <, b)
#define expect_le(a, b) TAP_CMP(0, a, <=, b)
#define expect_gt(a, b) TAP_CMP(0, a, >, b)
#define expect_ge(a, b) TAP_CMP(0, a, >=, b)
#define expect_null(p) TAP_CMP(0, (const void *)(p), ==, NULL)
#define expect_not_null(p) TAP_CMP(0, (const void *)(p), !=, NULL)
#define expect_str_eq(a, b) TAP_STR(0, a, b)
#define require_true(c) TAP_TRUE(1, c)
#define require_false(c) TAP_TRUE(1, !(c))
#define require_eq(a, b) TAP_CMP(1, a, ==, b)
#define require_ne(a, b) TAP_CMP(1, a, !=, b)
#define require_lt(a, b) TAP_CMP(1, a, <, b)
#define require_le(a, b) TAP_CMP(1, a, <=, b)
#define require_gt(a, b) TAP_CMP(1, a, >, b)
#define require_ge(a, b) TAP_CMP(1, a, >=, b)
#define require_null(p) TAP_CMP(1, (const void *)(p), ==, NULL)
#define require_not_null(p) TAP_CMP(1, (const void *)(p), !=, NULL)
#define require_str_eq(a, b) TAP_STR(1, a, b)
#define skip_if(cond, why) \
  do { if (cond) { tap_skip_why = (why); longjmp(tap_jmp, 2); } } while (0)
/* A "# ..." comment line in the output. */
#define tap_note(...) (printf("# " __VA_ARGS__), putchar('\n'), fflush(stdout))

/* ---- Runner ----------------------------------------------------------- */
__attribute__((unused)) static int tap_main(int argc, char **argv) {
  for (int i = 1; i < tap_ntests; i++)   /* source order, whatever the ctor order */
    for (int j = i; j > 0 && tap_tests[j - 1].line > tap_tests[j].line; j--)
      { tap_test_t t = tap_tests[j]; tap_tests[j] = tap_tests[j - 1]; tap_tests[j - 1] = t; }
  volatile int nrun = 0, nfail = 0, nskip = 0;
  static volatile int sel[TAP_MAX_TESTS];
  for (int i = 0; i < tap_ntests; i++) {
    sel[i] = argc < 2;
    for (int a = 1; a < argc; a++) sel[i] |= strcmp(argv[a], tap_tests[i].name) == 0;
    nrun += sel[i];
  }
  printf("1..%d\n", nrun), fflush(stdout);
  volatile int k = 0;
  for (volatile int i = 0; i < tap_ntests; i++) {
    if (!sel[i]) continue;
    tap_current = tap_tests[i].name;
    tap_nfail_now = 0;
    tap_skip_why = NULL;
    if (setjmp(tap_jmp) == 0) tap_tests[i].fn();
    k++;
    nfail += tap_nfail_now != 0;
    nskip += tap_skip_why && !tap_nfail_now;
    printf("%sok %d - %s%s%s\n", tap_nfail_now ? "not " : "", k, tap_current,
           tap_skip_why && !tap_nfail_now ? " # SKIP " : "", tap_skip_why && !tap_nfail_now ? tap_skip_why : "");
    fflush(stdout);
  }
  const char *st = getenv("TAP_SKIP_STATUS");
  if (nfail) return 1;
  return nrun > 0 && nskip == nrun ? (st ? atoi(st) : 77) : 0;
}

#ifndef TAP_NO_MAIN
int main(int argc, char **argv) { return tap_main(argc, argv); }
#endif
#endif /* PM_TAP_H */
