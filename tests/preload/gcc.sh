#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/preload/gcc.sh — a compiler run under poolmalloc.
# gcc (driver, cc1, as, collect2, ld: every process inherits the preload)
# compiles and links a small but real C program, which then runs — under
# the preload too.  Warnings, the program's output and the exit status must
# match the plain run.  g++ does the same for a threaded C++ program
# (operator new/delete, over-aligned new, std::map, std::string).
. "$top_srcdir/tests/preload/preload.sh"

cc=$(command -v gcc || command -v cc) || { echo "1..0 # SKIP no C compiler"; exit 0; }
cat >"$pm_tmp/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *l, *r; char *key; int n; };
static struct node *insert(struct node *t, const char *k) {
  if (!t) { t = calloc(1, sizeof *t); t->key = strdup(k); t->n = 1; return t; }
  int c = strcmp(k, t->key);
  if (c == 0) t->n++;
  else if (c < 0) t->l = insert(t->l, k);
  else t->r = insert(t->r, k);
  return t;
}
static unsigned long walk(struct node *t, unsigned long h) {
  if (!t) return h;
  h = walk(t->l, h);
  for (const char *p = t->key; *p; p++) h = h * 31 + (unsigned char)*p;
  h = h * 7 + (unsigned)t->n;
  h = walk(t->r, h);
  free(t->key); free(t);
  return h;
}
int main(void) {
  struct node *t = NULL;
  char buf[32];
  unsigned x = 1;
  for (int i = 0; i < 200000; i++) {
    x = x * 1103515245u + 12345u;
    snprintf(buf, sizeof buf, "k%u", (x >> 8) % 50000);
    t = insert(t, buf);
  }
  int unused;   /* -Wall warns: the warning text must match too */
  printf("%lu\n", walk(t, 0));
  return 0;
}
C
cat >"$pm_tmp/prog.cc" <<'CC'
// operator new/delete, aligned new, std::string, std::map, threads.
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>
struct alignas(64) Line { char bytes[64]; };
int main() {
  std::vector<std::thread> ts;
  std::vector<std::size_t> out(4);
  for (int t = 0; t < 4; t++)
    ts.emplace_back([t, &out] {
      std::map<std::string, std::vector<int>> m;
      for (int i = 0; i < 50000; i++) m["key" + std::to_string((i * 7919 + t) % 9973)].push_back(i);
      std::vector<std::unique_ptr<Line>> lines;
      for (int i = 0; i < 1000; i++) lines.emplace_back(new Line());
      std::size_t s = m.size();
      for (auto &l : lines) s += reinterpret_cast<std::uintptr_t>(l.get()) % 64;   // 0: aligned
      out[t] = s;
    });
  for (auto &t : ts) t.join();
  for (auto v : out) std::printf("%zu\n", v);
}
CC
cxx=$(command -v g++ || command -v c++)
tap_plan 3
pm_compare "gcc -O2 -Wall compiles and links" "$cc" -O2 -Wall -o prog "$pm_tmp/prog.c"
pm_compare "gcc-built program runs" sh -c "'$cc' -O1 -o prog '$pm_tmp/prog.c' && ./prog"
if [ -n "$cxx" ]; then
  pm_compare "g++ builds and runs a threaded C++ program (new, aligned new)" \
    sh -c "'$cxx' -O1 -pthread -o prog '$pm_tmp/prog.cc' && ./prog"
else
  tap_skip "g++ builds and runs a threaded C++ program" "no C++ compiler"
fi
tap_done
