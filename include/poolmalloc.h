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

/* One JSON document with everything above and more, per size class, arena
 * state, large cache, thread heaps, remote frees, the GC layer and the
 * profiler (schema: docs/stats.md).  Returns 0, or -1 with errno. */
int pm_stats_json(int fd);

/* ---- Allocation-site profiling (POOLMALLOC_PROF=1; docs/profiling.md) ---- */
/* Sampling is chosen at start-up (POOLMALLOC_PROF or POOLMALLOC_LEAKS); a
 * block of s bytes is sampled with probability 1 - exp(-s / interval). */
int pm_prof_enabled(void);
size_t pm_prof_interval(void);
/* Writes a heap profile in gperftools' format (google-pprof reads it) to
 * path.  Returns 0, or -1 with errno (EINVAL when profiling is off). */
int pm_prof_dump(const char *path);
/* Names the block just allocated by this thread, if it was sampled: its
 * site is reported with this annotation in front of the first frame (the
 * GC layer passes its type name).  name must outlive the process's
 * profiling (a string literal or a static type name). */
void pm_prof_annotate(const void *block, const char *name);

/* tracemalloc for C: snapshots of the live sampled sites.  Every estimate
 * is unbiased: a sample of s bytes stands for 1/(1 - exp(-s/interval))
 * blocks.  A snapshot is immutable once taken; free it with
 * pm_snapshot_free.  None of these may be called from a signal handler. */
typedef struct pm_snapshot_s pm_snapshot_t;
typedef struct pm_site_s {
  size_t bytes;                  /* estimated live bytes at the site       */
  size_t count;                  /* estimated live blocks                  */
  ptrdiff_t bytes_diff;          /* pm_snapshot_compare: growth in bytes   */
  ptrdiff_t count_diff;          /* ... and in blocks (else 0)             */
  size_t nsamples;               /* samples behind the estimate            */
  const char *annotation;        /* NULL or a name from pm_prof_annotate   */
  unsigned depth;                /* frames                                 */
  void *const *frames;           /* return addresses, innermost first      */
  const char *const *symbols;    /* after pm_snapshot_symbolize: one
                                    "function at file:line (object)" per
                                    frame; NULL before                     */
} pm_site_t;
/* NULL with errno = EINVAL when profiling is off, ENOMEM without memory. */
pm_snapshot_t *pm_snapshot_take(void);
void pm_snapshot_free(pm_snapshot_t *snap);
/* Sites sorted by live bytes, largest first (by growth after compare). */
size_t pm_snapshot_count(const pm_snapshot_t *snap);
const pm_site_t *pm_snapshot_site(const pm_snapshot_t *snap, size_t i);
/* tracemalloc's compare_to: every site of either snapshot with its growth
 * from old to now, sorted by bytes_diff, largest growth first. */
pm_snapshot_t *pm_snapshot_compare(const pm_snapshot_t *now, const pm_snapshot_t *old);
/* tracemalloc's Filter: include != 0 keeps the sites with a frame whose
 * object path (library or program) or, once symbolized, symbol text
 * (function, source file) matches pattern; include == 0 drops them.
 * pattern is a shell glob ('*' and '?') matched against the whole string,
 * e.g. "*libpython*" or "*dictobject.c*". */
pm_snapshot_t *pm_snapshot_filter(const pm_snapshot_t *snap, const char *pattern, int include);
/* Names the frames: runs binutils' addr2line in a child process (dladdr
 * where that fails).  Returns 0, or -1 with errno. */
int pm_snapshot_symbolize(pm_snapshot_t *snap);
/* Writes the first limit sites (0: all) as text to fd. */
void pm_snapshot_print(const pm_snapshot_t *snap, int fd, size_t limit);

/* The library's version, e.g. "poolmalloc 0.1.0 (release)". */
const char *pm_version(void);

#ifdef __cplusplus
}
#endif
#endif /* POOLMALLOC_H */
