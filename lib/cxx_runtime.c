/* SPDX-License-Identifier: MIT */
/* cxx_runtime.c — the two pieces of the C++ runtime that operator new's
 * failure path needs (cxx_new.cc), without linking libstdc++.
 *
 * Owns: the weak references to std::get_new_handler and
 * std::__throw_bad_alloc (libstdc++'s exported helper that throws
 * std::bad_alloc).  libpoolmalloc.so is linked by the C compiler driver, so
 * it has no DT_NEEDED on libstdc++.so.6 and a preloaded C program maps no
 * C++ runtime (1.6 MB of resident pages, with libm, in every process).  In
 * a C++ program libstdc++ is loaded with the program, so the references
 * resolve to it when the library is relocated, and operator new behaves as
 * the standard asks.
 * Invariant: the references are tested before each call.  They stay null
 * where no C++ runtime was loaded with the program (a C program, or one
 * that dlopens C++ code later): then a failed new without a handler ends
 * in a one-line diagnostic instead of an exception nobody could catch.
 * Written in C so that the mangled names can be declared as what they are
 * to the linker, without <new>'s declarations of the same symbols.
 */
#include "internal.h"

/* std::new_handler std::get_new_handler() noexcept; */
extern pmi_cxx_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));
/* [[noreturn]] void std::__throw_bad_alloc(); */
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

pmi_cxx_handler_fn pmi_cxx_new_handler(void) {
  return _ZSt15get_new_handlerv != NULL ? _ZSt15get_new_handlerv() : NULL;
}

PM_NORETURN void pmi_cxx_throw_bad_alloc(size_t size) {
  if (_ZSt17__throw_bad_allocv != NULL) _ZSt17__throw_bad_allocv();
  pmi_fatal("out of memory in operator new (%zu bytes), and no C++ runtime to throw std::bad_alloc", size);
}
