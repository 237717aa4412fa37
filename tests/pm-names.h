/* SPDX-License-Identifier: MIT */
/* tests/pm-names.h — the names by which the api and stress tests reach poolmalloc.
 *
 * Force-included (-include, PM_API_EXTRA_CFLAGS in tests/tests.mk) into every test
 * program that calls malloc & co. by their C-library names.
 *
 *   Normal builds: renames nothing.  malloc, free, ... are poolmalloc's libc
 *     override, as a program linked with -lpoolmalloc meets it; C-library
 *     functions that allocate (strdup, getline, open_memstream) reach
 *     poolmalloc too, and PM_TEST_OVERRIDE is 1.
 *   Sanitizer builds (configure --enable-sanitizers, PM_TEST_PM_NAMES=1):
 *     the sanitizer's runtime owns malloc & co. and libpoolmalloc is built
 *     without its override, so these function-like macros send the tests'
 *     own calls to pm_* (pool->free and other non-calls are left alone).
 *     Memory the C library allocates by itself is then the sanitizer's: the
 *     tests hand it back with libc_free(), and the cases that are about the
 *     C library's own calls reaching poolmalloc skip when PM_TEST_OVERRIDE
 *     is 0.
 * It includes the headers that declare the malloc family first, so that no
 * later #include sees the macros.  Test code only.
 */
#ifndef PM_TEST_PM_NAMES_H
#define PM_TEST_PM_NAMES_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1   /* reallocarray, memalign, ... as the tests expect */
#endif
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <poolmalloc.h>

/* Frees what the C library allocated by itself (strdup, getline, ...). */
static inline void libc_free(void *p) { free(p); }

/* The skip reason of the cases that need the override. */
#define PM_TEST_NO_OVERRIDE "sanitizer build: the C library's own allocations are the sanitizer's"

#if defined(PM_TEST_PM_NAMES) && PM_TEST_PM_NAMES
#define PM_TEST_OVERRIDE 0
#define malloc(n) pm_malloc(n)
#define calloc(n, s) pm_calloc(n, s)
#define realloc(p, n) pm_realloc(p, n)
#define reallocarray(p, n, s) pm_reallocarray(p, n, s)
#define free(p) pm_free(p)
#define free_sized(p, n) pm_free_sized(p, n)
#define free_aligned_sized(p, a, n) pm_free_aligned_sized(p, a, n)
#define posix_memalign(out, a, n) pm_posix_memalign(out, a, n)
#define aligned_alloc(a, n) pm_aligned_alloc(a, n)
#define memalign(a, n) pm_memalign(a, n)
#define valloc(n) pm_valloc(n)
#define pvalloc(n) pm_pvalloc(n)
#define malloc_usable_size(p) pm_malloc_usable_size(p)
#define malloc_trim(pad) pm_malloc_trim(pad)
#else
#define PM_TEST_OVERRIDE 1
#endif

#endif /* PM_TEST_PM_NAMES_H */
