#!/bin/sh
# tests/preload/gcc.sh — a compiler run under poolmalloc.
# gcc (driver, cc1, as, collect2, ld: every process inherits the preload)
# compiles and links a small but real C program, which then runs — under
# the preload too.  Warnings, the program's output and the exit status must
# match the plain run.
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
tap_plan 2
pm_compare "gcc -O2 -Wall compiles and links" "$cc" -O2 -Wall -o prog "$pm_tmp/prog.c"
pm_compare "gcc-built program runs" sh -c "'$cc' -O1 -o prog '$pm_tmp/prog.c' && ./prog"
tap_done
