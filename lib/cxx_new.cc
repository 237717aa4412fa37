// SPDX-License-Identifier: MIT
/* cxx_new.cc — C++ operator new and delete, every replaceable form, on
 * poolmalloc (issue 11.7).
 *
 * Owns: the twenty replaceable allocation functions of [new.delete] —
 * single and array; plain, nothrow, aligned (std::align_val_t), and aligned
 * nothrow for new; plain, nothrow, sized, aligned, sized+aligned and aligned
 * nothrow for delete.  They are defined here, exported from
 * libpoolmalloc.so and archived in libpoolmalloc.a, so they replace
 * libstdc++'s both when the library is preloaded (symbol lookup finds the
 * preloaded definition first) and when a C++ program links -lpoolmalloc.
 *
 * Why a C++ file (as jemalloc's jemalloc_cpp.cpp and tcmalloc do) and not
 * C functions under mangled names (as mimalloc's override does): the
 * standard requires a failed new to call the new-handler in a loop and to
 * throw std::bad_alloc when there is none, and a nothrow new to return null
 * even when the handler throws.  Catching needs the C++ compiler; C cannot
 * catch.  The C++ runtime itself is reached only through weak references
 * (here and in cxx_runtime.c), so libpoolmalloc.so does not need
 * libstdc++.so.6 and a preloaded C program maps none (docs/design.md, "C++").
 *
 * Mapping (p from new; size and alignment as the compiler passes them):
 *   new / new[]                     pmi_malloc(size)
 *   new(align_val_t)                pmi_aligned(align, size)
 *   delete / delete[] (p)           pmi_free(p)
 *   delete(p, size)                 pm_free_sized(p, size): the sized free
 *                                   path, which checks size against the block
 *   delete(p, align_val_t)          pm_free_aligned_sized(p, align, 0): the
 *                                   alignment is checked; no size is known
 *   delete(p, size, align_val_t)    pm_free_aligned_sized(p, align, size)
 * A mismatch is misuse and aborts with poolmalloc's one-line diagnostic.
 *
 * Never allocates except through the allocator itself; the failure path
 * (new-handler, exception object) runs outside every allocator lock.
 */
#include <cstddef>
#include <new>

#define PM_CXX_EXPORT __attribute__((visibility("default")))
#define PM_CXX_HIDDEN __attribute__((visibility("hidden")))
#define pm_cxx_likely(x) __builtin_expect(!!(x), 1)

extern "C" {
/* alloc.c's hidden entry points (internal.h, which is C11, not C++). */
PM_CXX_HIDDEN void *pmi_malloc(std::size_t size);
PM_CXX_HIDDEN void pmi_free(void *p);
PM_CXX_HIDDEN void *pmi_aligned(std::size_t alignment, std::size_t size);
/* The public sized frees (poolmalloc.h): their checks live in alloc.c. */
void pm_free_sized(void *p, std::size_t size);
void pm_free_aligned_sized(void *p, std::size_t alignment, std::size_t size);
/* cxx_runtime.c: the C++ runtime's new-handler and bad_alloc, reached
 * through weak references (libpoolmalloc.so does not link libstdc++). */
PM_CXX_HIDDEN std::new_handler pmi_cxx_new_handler(void);
[[noreturn]] PM_CXX_HIDDEN void pmi_cxx_throw_bad_alloc(std::size_t size);
}
/* The nothrow forms' catch needs the C++ runtime's personality routine and
 * catch entry points: weak too, so that a C program loads the library
 * without libstdc++ (in it nothing throws; in a C++ program they resolve to
 * libstdc++'s, which that program loaded). */
/* (The compiler emits these references itself, so #pragma weak cannot
 * reach them; the assembler's directive can.) */
__asm__(".weak __gxx_personality_v0\n\t.weak __cxa_begin_catch\n\t.weak __cxa_end_catch");

/* ---- The failure path ---------------------------------------------------- */
/* [new.delete.single]: on failure call the current new-handler and try
 * again; with no handler, throw std::bad_alloc.  align == 0: plain new. */
__attribute__((noinline, cold)) static void *cxx_new_retry(std::size_t size, std::size_t align) {
  for (;;) {
    std::new_handler handler = pmi_cxx_new_handler();
    if (handler == nullptr) pmi_cxx_throw_bad_alloc(size);
    handler();
    void *p = align == 0 ? pmi_malloc(size) : pmi_aligned(align, size);
    if (p != nullptr) return p;
  }
}

static inline void *cxx_new(std::size_t size) {
  void *p = pmi_malloc(size);
  if (pm_cxx_likely(p != nullptr)) return p;
  return cxx_new_retry(size, 0);
}

static inline void *cxx_new_aligned(std::size_t size, std::align_val_t align) {
  void *p = pmi_aligned(static_cast<std::size_t>(align), size);
  if (pm_cxx_likely(p != nullptr)) return p;
  return cxx_new_retry(size, static_cast<std::size_t>(align));
}

/* The nothrow forms behave as if they called the throwing form and caught
 * the exception ([new.delete.single] p9): a handler that throws is caught too. */
static inline void *cxx_new_nothrow(std::size_t size, std::size_t align) noexcept {
  void *p = align == 0 ? pmi_malloc(size) : pmi_aligned(align, size);
  if (pm_cxx_likely(p != nullptr)) return p;
  try {
    return cxx_new_retry(size, align);
  } catch (...) {
    return nullptr;
  }
}

/* ---- new ------------------------------------------------------------------- */
PM_CXX_EXPORT void *operator new(std::size_t size) { return cxx_new(size); }
PM_CXX_EXPORT void *operator new[](std::size_t size) { return cxx_new(size); }
PM_CXX_EXPORT void *operator new(std::size_t size, const std::nothrow_t &) noexcept {
  return cxx_new_nothrow(size, 0);
}
PM_CXX_EXPORT void *operator new[](std::size_t size, const std::nothrow_t &) noexcept {
  return cxx_new_nothrow(size, 0);
}
PM_CXX_EXPORT void *operator new(std::size_t size, std::align_val_t align) {
  return cxx_new_aligned(size, align);
}
PM_CXX_EXPORT void *operator new[](std::size_t size, std::align_val_t align) {
  return cxx_new_aligned(size, align);
}
PM_CXX_EXPORT void *operator new(std::size_t size, std::align_val_t align, const std::nothrow_t &) noexcept {
  return cxx_new_nothrow(size, static_cast<std::size_t>(align));
}
PM_CXX_EXPORT void *operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t &) noexcept {
  return cxx_new_nothrow(size, static_cast<std::size_t>(align));
}

/* ---- delete ------------------------------------------------------------------ */
PM_CXX_EXPORT void operator delete(void *p) noexcept { pmi_free(p); }
PM_CXX_EXPORT void operator delete[](void *p) noexcept { pmi_free(p); }
PM_CXX_EXPORT void operator delete(void *p, const std::nothrow_t &) noexcept { pmi_free(p); }
PM_CXX_EXPORT void operator delete[](void *p, const std::nothrow_t &) noexcept { pmi_free(p); }
PM_CXX_EXPORT void operator delete(void *p, std::size_t size) noexcept { pm_free_sized(p, size); }
PM_CXX_EXPORT void operator delete[](void *p, std::size_t size) noexcept { pm_free_sized(p, size); }
PM_CXX_EXPORT void operator delete(void *p, std::align_val_t align) noexcept {
  pm_free_aligned_sized(p, static_cast<std::size_t>(align), 0);
}
PM_CXX_EXPORT void operator delete[](void *p, std::align_val_t align) noexcept {
  pm_free_aligned_sized(p, static_cast<std::size_t>(align), 0);
}
PM_CXX_EXPORT void operator delete(void *p, std::size_t size, std::align_val_t align) noexcept {
  pm_free_aligned_sized(p, static_cast<std::size_t>(align), size);
}
PM_CXX_EXPORT void operator delete[](void *p, std::size_t size, std::align_val_t align) noexcept {
  pm_free_aligned_sized(p, static_cast<std::size_t>(align), size);
}
PM_CXX_EXPORT void operator delete(void *p, std::align_val_t align, const std::nothrow_t &) noexcept {
  pm_free_aligned_sized(p, static_cast<std::size_t>(align), 0);
}
PM_CXX_EXPORT void operator delete[](void *p, std::align_val_t align, const std::nothrow_t &) noexcept {
  pm_free_aligned_sized(p, static_cast<std::size_t>(align), 0);
}
