/* SPDX-License-Identifier: MIT */
/* poolmalloc.h — the public interface of poolmalloc.
 *
 * poolmalloc is a pymalloc-style allocator: small and medium requests are
 * served from per-thread size-class pools carved out of 1 MiB arenas, large
 * requests get their own mmap mapping.  Linking -lpoolmalloc (or preloading
 * libpoolmalloc.so) replaces the C library's malloc family; the functions
 * below are the same allocator under a pm_ prefix, for programs that want
 * poolmalloc next to the system allocator.
 *
 * Semantics are glibc's: 16-byte minimum alignment, pm_malloc(0) returns a
 * unique freeable pointer, pm_free(NULL) is a no-op, every failure returns
 * NULL with errno == ENOMEM, non-power-of-two alignments are EINVAL.
 */
#ifndef POOLMALLOC_H
#define POOLMALLOC_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PM_VERSION_MAJOR 0
#define PM_VERSION_MINOR 1
#define PM_VERSION_PATCH 0

#if defined(__GNUC__)
#define PM_ATTR_MALLOC __attribute__((malloc))
#define PM_ATTR_ALLOC_SIZE(i) __attribute__((alloc_size(i)))
#define PM_ATTR_ALLOC_SIZE2(i, j) __attribute__((alloc_size(i, j)))
#define PM_ATTR_ALLOC_ALIGN(i) __attribute__((alloc_align(i)))
#else
#define PM_ATTR_MALLOC
#define PM_ATTR_ALLOC_SIZE(i)
#define PM_ATTR_ALLOC_SIZE2(i, j)
#define PM_ATTR_ALLOC_ALIGN(i)
#endif

/* ---- The malloc family ------------------------------------------------ */
PM_ATTR_MALLOC PM_ATTR_ALLOC_SIZE(1) void *pm_malloc(size_t size);
PM_ATTR_MALLOC PM_ATTR_ALLOC_SIZE2(1, 2) void *pm_calloc(size_t count, size_t size);
PM_ATTR_ALLOC_SIZE(2) void *pm_realloc(void *p, size_t size);
PM_ATTR_ALLOC_SIZE2(2, 3) void *pm_reallocarray(void *p, size_t count, size_t size);
void pm_free(void *p);
void pm_free_sized(void *p, size_t size);
void pm_free_aligned_sized(void *p, size_t alignment, size_t size);
int pm_posix_memalign(void **out, size_t alignment, size_t size);
PM_ATTR_MALLOC PM_ATTR_ALLOC_ALIGN(1) PM_ATTR_ALLOC_SIZE(2)
void *pm_aligned_alloc(size_t alignment, size_t size);
PM_ATTR_MALLOC PM_ATTR_ALLOC_ALIGN(1) PM_ATTR_ALLOC_SIZE(2)
void *pm_memalign(size_t alignment, size_t size);
PM_ATTR_MALLOC PM_ATTR_ALLOC_SIZE(1) void *pm_valloc(size_t size);
PM_ATTR_MALLOC void *pm_pvalloc(size_t size);
size_t pm_malloc_usable_size(const void *p);

/* ---- Memory back to the OS and statistics ----------------------------- */
/* Releases every empty pool, purges every dirty page and empties the large
 * cache now (no decay delay).  Returns 1 if memory went back to the OS. */
int pm_malloc_trim(size_t pad);

/* Process-wide numbers, all in bytes unless named n*.  Exact at the moment
 * of the call for the counters kept under locks (mapped, large); the in-use
 * figures read other threads' pools without stopping them. */
typedef struct pm_stats_s {
  size_t arena_mapped;     /* bytes of arenas currently mapped             */
  size_t arena_resident;   /* arena bytes not purged (an RSS upper bound)  */
  size_t pool_in_use;      /* bytes in pools owned by heaps                */
  size_t small_allocated;  /* bytes handed out in small/medium blocks      */
  size_t small_free;       /* free bytes inside owned pools                */
  size_t large_allocated;  /* bytes in live large mappings                 */
  size_t large_cached;     /* bytes in the large-mapping cache             */
  size_t narenas;          /* arenas mapped now                            */
  size_t nlarge;           /* live large blocks                            */
  size_t nheaps;           /* thread heaps (active + abandoned)            */
  size_t peak_mapped;      /* high-water mark of arena + large mappings    */
  size_t npurges;          /* madvise calls that released pages            */
  size_t narena_unmaps;    /* arenas returned to the OS                    */
} pm_stats_t;
void pm_stats_get(pm_stats_t *out);
/* Writes a human-readable report to the file descriptor. */
void pm_stats_print(int fd);
/* glibc's malloc_info: XML on the stream. options must be 0. */
int pm_malloc_info(int options, FILE *stream);

/* The library's version, e.g. "poolmalloc 0.1.0 (release)". */
const char *pm_version(void);

#ifdef __cplusplus
}
#endif
#endif /* POOLMALLOC_H */
