/* SPDX-License-Identifier: MIT */
/* tests/fuzz/api.h — the allocator under test, as a table of entry points.
 *
 * The fuzzer calls every entry point through one of these tables, chosen at
 * run time with -a:
 *   libc  the C library's names (malloc, free_sized, ...): poolmalloc when
 *         the program is linked with libpoolmalloc or runs under
 *         LD_PRELOAD=libpoolmalloc.so, the system allocator otherwise
 *         (which is how tests/fuzz/fuzz-libc checks the fuzzer itself
 *         against glibc);
 *   pm    the pm_* names, only in the binary linked with libpoolmalloc
 *         (FZ_HAVE_PM).  Sanitizer builds use this one: there the
 *         sanitizer's runtime owns the libc names (docs/testing.md).
 * glibc 2.36 has neither free_sized nor free_aligned_sized; they are weak
 * here, and a NULL entry makes the fuzzer fall back to plain free.
 */
#ifndef PM_FUZZ_API_H
#define PM_FUZZ_API_H

#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <poolmalloc.h>   /* pm_stats_t; the pm_* calls only with FZ_HAVE_PM */

typedef struct fz_api_s {
  const char *name;
  void *(*malloc)(size_t);
  void *(*calloc)(size_t, size_t);
  void *(*realloc)(void *, size_t);
  void *(*reallocarray)(void *, size_t, size_t);
  void (*free)(void *);
  void (*free_sized)(void *, size_t);                 /* may be NULL */
  void (*free_aligned_sized)(void *, size_t, size_t); /* may be NULL */
  int (*posix_memalign)(void **, size_t, size_t);
  void *(*aligned_alloc)(size_t, size_t);
  void *(*memalign)(size_t, size_t);
  size_t (*usable_size)(void *);
  int (*trim)(size_t);
} fz_api_t;

extern void free_sized(void *, size_t) __attribute__((weak));
extern void free_aligned_sized(void *, size_t, size_t) __attribute__((weak));

static size_t fz_libc_usable_size(void *p) { return malloc_usable_size(p); }

static const fz_api_t fz_api_libc = {
    "libc", malloc, calloc, realloc, reallocarray, free, free_sized, free_aligned_sized,
    posix_memalign, aligned_alloc, memalign, fz_libc_usable_size, malloc_trim,
};

#ifdef FZ_HAVE_PM
static size_t fz_pm_usable_size(void *p) { return pm_malloc_usable_size(p); }
static const fz_api_t fz_api_pm = {
    "pm", pm_malloc, pm_calloc, pm_realloc, pm_reallocarray, pm_free, pm_free_sized,
    pm_free_aligned_sized, pm_posix_memalign, pm_aligned_alloc, pm_memalign, fz_pm_usable_size,
    pm_malloc_trim,
};
#endif

#endif /* PM_FUZZ_API_H */
