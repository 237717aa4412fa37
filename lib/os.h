/* SPDX-License-Identifier: MIT */
/* os.h — the contract between the allocator and the OS's memory.
 *
 * os.c builds the allocator's memory policy (aligned mappings, purging,
 * names) on prim.c's raw system calls.  Every function here is safe before
 * initialisation, never allocates, reports failure by its return value and
 * leaves errno as it found it: the caller that gives up sets ENOMEM.
 * Clocks, randomness and writes are raw primitives: prim.h.
 */
#ifndef PM_OS_H
#define PM_OS_H

#include "internal.h"
#include "prim.h"

#include <sys/types.h>

/* Fresh zeroed read-write memory of size bytes (a page multiple) whose
 * address is a multiple of alignment (a power of two >= page); NULL. */
PM_INTERNAL void *pmi_os_map(size_t size, size_t alignment);
PM_INTERNAL void pmi_os_unmap(void *p, size_t size);
/* The same, size and alignment multiples of PM_HUGE_PAGE_SIZE, and advised
 * for transparent huge pages (MADV_HUGEPAGE): where the kernel allows it,
 * the first touch of each 2 MiB faults in a huge page. */
PM_INTERNAL void *pmi_os_map_huge(size_t size, size_t alignment);
/* Gives the pages back: afterwards they read as zero (MADV_DONTNEED) or
 * may (MADV_FREE, when the purge_free option is set).  Returns true if the
 * pages are now known to be zero. */
PM_INTERNAL bool pmi_os_purge(void *p, size_t size);
/* Resizes a mapping in place; false if the neighbouring range is taken. */
PM_INTERNAL bool pmi_os_resize_in_place(void *p, size_t old_size, size_t new_size);
/* Moves the pages of mapping [p, p + old_size) to the range target (a
 * mapping of ours of new_size bytes, which the move replaces), without
 * copying.  False on failure: the old mapping is untouched, and the
 * target range may already have been unmapped by the kernel, so the caller
 * must not touch it again (it may belong to another thread by then). */
PM_INTERNAL bool pmi_os_move_to(void *p, size_t old_size, size_t new_size, void *target);
/* Can pmi_os_move_pages_to work on this kernel?  Probed once, on two pages
 * of a scratch mapping. */
PM_INTERNAL bool pmi_os_can_move_pages(void);
/* Moves the pages of [p, p + size) (page multiples inside a mapping of
 * ours) onto target (a mapping of ours of exactly size bytes, which the
 * move replaces), without copying; [p, p + size) stays mapped and reads as
 * zero.  False on failure: [p, p + size) is untouched and, as with
 * pmi_os_move_to, target must not be touched again.  Call
 * pmi_os_can_move_pages first. */
PM_INTERNAL bool pmi_os_move_pages_to(void *p, size_t size, void *target);
/* Guard pages (the secure library, docs/security.md): makes [p, p + size)
 * (page multiples inside a mapping of ours) fault on any access, or
 * read-write again.  False if the kernel refused (out of mappings). */
PM_INTERNAL bool pmi_os_guard(void *p, size_t size);
PM_INTERNAL bool pmi_os_unguard(void *p, size_t size);
/* Drops the pages of [p, p + size) and makes the range fault on access
 * until pmi_os_unguard (then it reads as zero).  False if refused. */
PM_INTERNAL bool pmi_os_decommit(void *p, size_t size);
/* Zeroes [p, p + size) by clearing only the parts on resident pages: the
 * others read as zero already (anonymous memory never written, or purged),
 * and touching them would make them resident.  Returns the bytes it
 * cleared.  (The secure library's zero on free of big blocks.) */
PM_INTERNAL size_t pmi_os_zero_resident(void *p, size_t size);
/* Do the parts of [p, p + size) on resident pages read as zero?  (A page
 * that is not resident reads as zero; one written since the last check is
 * resident.)  The secure library's check on reuse of big blocks. */
PM_INTERNAL bool pmi_os_is_zero_resident(const void *p, size_t size);
/* size bytes of address space that fault on any access; NULL. */
PM_INTERNAL void *pmi_os_reserve(size_t size);
/* Names the mapping in /proc/self/maps ("poolmalloc arena" etc.) if the
 * kernel supports PR_SET_VMA. */
PM_INTERNAL void pmi_os_name(void *p, size_t size, const char *name);

/* A bump area of allocator records that are never freed (heaps, large
 * thread caches): 64 KiB mappings named `name`, carved in 64-byte-aligned
 * pieces.  The caller's lock covers the area. */
typedef struct {
  char *cur, *end;
} pm_meta_area_t;
/* A zeroed record of size bytes from a, or NULL if the OS refused. */
PM_INTERNAL void *pmi_os_meta_carve(pm_meta_area_t *a, size_t size, const char *name);

#ifdef PM_FAULT_SEAM
/* Unit builds only: the next n calls to pmi_os_map, pmi_os_resize_in_place,
 * pmi_os_move_to, pmi_os_move_pages_to or the guards fail, as if the OS had
 * refused (Lua's failnext); pmi_os_fail_after lets `skip` calls succeed
 * first. */
void pmi_os_fail_next(int n);
void pmi_os_fail_after(int skip, int n);
#endif

#endif /* PM_OS_H */
