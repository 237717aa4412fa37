// SPDX-License-Identifier: MIT
// tests/gc/test_cxx.cc — the public header poolmalloc/gc.h used from C++
// (extern "C", no C11 <stdatomic.h> in the inline functions): a pair type,
// a self-cycle, refcounting and a collection.  TAP by hand (tap.h is C).
#include <poolmalloc/gc.h>
#include <cstdio>

namespace {
struct Pair { void *car, *cdr; };
int pair_traverse(void *s, pm_visit_fn visit, void *arg) {
  Pair *p = static_cast<Pair *>(s);
  PM_VISIT(p->car);
  PM_VISIT(p->cdr);
  return 0;
}
void pair_clear(void *s) {
  Pair *p = static_cast<Pair *>(s);
  PM_CLEAR(p->car);
  PM_CLEAR(p->cdr);
}
pm_type_t pair_type = {"pair", sizeof(Pair), 0, pair_traverse, pair_clear, nullptr, nullptr, 0, 0};
}  // namespace

int main() {
  std::printf("1..3\n");
  size_t live0 = pm_gc_live_objects();
  Pair *p = static_cast<Pair *>(pm_obj_new(&pair_type));
  bool ok = p != nullptr && pm_obj_refcnt(p) == 1;
  std::printf("%sok 1 - new object from C++\n", ok ? "" : "not ");
  pm_incref(p);
  p->car = p;                                   // a self-cycle
  pm_decref(p);
  ok = pm_gc_live_objects() == live0 + 1;
  std::printf("%sok 2 - the cycle keeps it alive\n", ok ? "" : "not ");
  long n = pm_gc_collect(2);
  ok = n == 1 && pm_gc_live_objects() == live0;
  std::printf("%sok 3 - collected (%ld)\n", ok ? "" : "not ", n);
  return 0;
}
