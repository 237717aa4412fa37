/* SPDX-License-Identifier: MIT */
/* override.c — interposition on the C library's malloc family.
 *
 * Only in libpoolmalloc (never in the unit-test library).  It includes
 * alloc.c because GCC aliases must sit in the unit that defines their
 * target: the libc names below cost nothing over calling pm_* directly.
 * Also the glibc-internal __libc_* names (reached by old programs and by
 * libc's own hooks) and the statistics calls, which are formatted here from
 * pm_stats_get without stdio, except malloc_info whose interface is a FILE.
 * No logic beyond that mapping (and, in the secure library, memcpy's two
 * checks).
 */
#include "alloc.c"

#include <malloc.h>

#define PM_LIBC(name, impl) __typeof__(impl) name __attribute__((alias(#impl), visibility("default")))

PM_LIBC(malloc, pmi_malloc);
PM_LIBC(free, pmi_free);
PM_LIBC(calloc, pmi_calloc);
PM_LIBC(realloc, pmi_realloc);
PM_LIBC(reallocarray, pmi_reallocarray);
PM_LIBC(posix_memalign, pmi_posix_memalign);
PM_LIBC(aligned_alloc, pmi_aligned_alloc);
PM_LIBC(memalign, pmi_memalign);
PM_LIBC(valloc, pmi_valloc);
PM_LIBC(pvalloc, pmi_pvalloc);
static size_t override_usable_size(void *p) { return pmi_usable_size(p); }   /* glibc's type */
PM_LIBC(malloc_usable_size, override_usable_size);
PM_LIBC(malloc_trim, pmi_malloc_trim);
PM_LIBC(free_sized, pmi_free_sized);
PM_LIBC(free_aligned_sized, pmi_free_aligned_sized);

/* The secure library only: memcpy checked against the blocks it touches
 * (docs/security.md, "Bounds-checked memcpy"), then glibc's memmove, which
 * is not interposed.  Calls inside glibc never come here (they bind to its
 * own hidden memcpy); calls from the program and other libraries do. */
#if PM_SECURE
/* (No restrict on the parameters: GCC would turn the memmove below back
 * into a call to memcpy, this function.) */
PM_EXPORT void *memcpy(void *dst, const void *src, size_t n) {
  if (n != 0) {
    pmi_secure_check_copy(dst, n, true);
    pmi_secure_check_copy(src, n, false);
  }
  return memmove(dst, src, n);
}
#endif

PM_LIBC(__libc_malloc, pmi_malloc);
PM_LIBC(__libc_free, pmi_free);
PM_LIBC(__libc_calloc, pmi_calloc);
PM_LIBC(__libc_realloc, pmi_realloc);
PM_LIBC(__libc_memalign, pmi_memalign);
PM_LIBC(__libc_valloc, pmi_valloc);
PM_LIBC(__libc_pvalloc, pmi_pvalloc);

/* ---- Statistics in glibc's shapes --------------------------------------- */
PM_EXPORT void malloc_stats(void) { pm_stats_print(2); }

PM_EXPORT struct mallinfo2 mallinfo2(void) {
  pm_stats_t s;
  pm_stats_get(&s);
  struct mallinfo2 mi = {0};
  mi.arena = s.arena_mapped;                       /* bytes in arenas (glibc: the main heap) */
  mi.ordblks = s.narenas;                          /* arenas stand in for free chunks */
  mi.hblks = s.nlarge;                             /* large blocks (own mappings) */
  mi.hblkhd = s.large_allocated;                   /* bytes in them */
  mi.usmblks = s.peak_mapped;                      /* high-water mark of mapped bytes */
  mi.uordblks = s.small_allocated;                 /* bytes handed out from pools */
  mi.fordblks = s.arena_mapped - s.small_allocated; /* everything else in arenas */
  mi.keepcost = s.large_cached;                    /* releasable at once by malloc_trim */
  return mi;
}

PM_EXPORT struct mallinfo mallinfo(void) {
  struct mallinfo2 m2 = mallinfo2();
#define PM_CLAMP(x) ((x) > 0x7fffffff ? 0x7fffffff : (int)(x))
  struct mallinfo mi = {PM_CLAMP(m2.arena),   PM_CLAMP(m2.ordblks), 0, PM_CLAMP(m2.hblks),
                        PM_CLAMP(m2.hblkhd),  PM_CLAMP(m2.usmblks), 0, PM_CLAMP(m2.uordblks),
                        PM_CLAMP(m2.fordblks), PM_CLAMP(m2.keepcost)};
#undef PM_CLAMP
  return mi;
}

PM_EXPORT int malloc_info(int options, FILE *stream) { return pm_malloc_info(options, stream); }
