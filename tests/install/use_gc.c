/* SPDX-License-Identifier: MIT */
/* tests/install/use_gc.c — README's GC example, built against the installed
 * <poolmalloc/gc.h> (issue 11.3: it was installed one directory too deep, so
 * this did not compile).  A self-cycle survives pm_decref and is found by a
 * full collection.  Exit 0 when it is.
 */
#include <poolmalloc/gc.h>
#include <stdio.h>

typedef struct { void *car, *cdr; } pair;
static int pair_traverse(void *s, pm_visit_fn visit, void *arg) {
  pair *p = s; PM_VISIT(p->car); PM_VISIT(p->cdr); return 0;
}
static void pair_clear(void *s) { pair *p = s; PM_CLEAR(p->car); PM_CLEAR(p->cdr); }
static pm_type_t pair_type = { .name = "pair", .basicsize = sizeof(pair),
                               .traverse = pair_traverse, .clear = pair_clear };

int main(void) {
  pair *p = pm_obj_new(&pair_type);
  if (p == NULL) return 1;
  p->car = p; pm_incref(p);
  pm_decref(p);
  long n = pm_gc_collect(2);
  printf("collected=%ld\n", n);
  return n == 1 ? 0 : 1;
}
