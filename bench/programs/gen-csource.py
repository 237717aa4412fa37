# SPDX-License-Identifier: MIT
"""bench/programs/gen-csource.py — writes a large C file for the gcc benchmark.

Run by bench/suites/real.sh; the file is compiled with `gcc -O2 -c` under
each allocator (LD_PRELOAD reaches cc1 and as through the environment).
GCC's front end, GIMPLE passes and register allocator allocate heavily
through malloc (vectors, hash tables, bitmaps, obstacks), so compile time
and peak RSS move with the allocator.  The code is many mid-sized
functions with loops, switches, structs and inlinable helpers, so the
optimisers have real work.

Usage: gen-csource.py NFUNCS > big.c   (text depends only on NFUNCS)
"""

import sys


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    w = sys.stdout.write
    w("#include <stddef.h>\n")
    w("struct rec { int a, b; double c; struct rec *next; char name[16]; };\n")
    w("static inline int mix(int x, int y) { return (x * 31) ^ (y >> 3) ^ (x << 7); }\n")
    for i in range(n):
        w("static int helper_%d(const struct rec *r, int k) {\n" % i)
        w("  int acc = %d;\n" % i)
        w("  for (; r != NULL; r = r->next) {\n")
        w("    switch ((r->a + k) %% %d) {\n" % (5 + i % 7))
        for c in range(5 + i % 7):
            w("    case %d: acc = mix(acc, r->b + %d); acc += (int)(r->c * %d.5); break;\n" % (c, c * i, c + 1))
        w("    default: acc ^= r->name[(k + %d) & 15];\n    }\n" % i)
        w("  }\n  return acc;\n}\n")
        w("int func_%d(struct rec *r, int n, double *out) {\n" % i)
        w("  double sum = 0; int acc = 0;\n")
        w("  for (int j = 0; j < n; j++) {\n")
        w("    acc += helper_%d(r, j);\n" % i)
        if i > 0:
            w("    acc += helper_%d(r, j + %d);\n" % (i - 1, i))
        w("    sum += (double)acc / (j + 1);\n")
        w("    if (out) out[j %% %d] += sum * %d;\n" % (8 + i % 9, i + 1))
        w("  }\n")
        w("  for (struct rec *p = r; p; p = p->next) { p->a = mix(p->a, acc); p->c += sum; }\n")
        w("  return acc;\n}\n")
    w("int run_all(struct rec *r, int n, double *out) {\n  int t = 0;\n")
    for i in range(n):
        w("  t += func_%d(r, n + %d, out);\n" % (i, i % 13))
    w("  return t;\n}\n")


if __name__ == "__main__":
    main()
