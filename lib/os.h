/* SPDX-License-Identifier: MIT */
/* os.h — the contract between poolmalloc and the operating system.
 *
 * os.c is the only file that calls mmap, munmap, madvise, mremap, write,
 * getrandom or clock_gettime.  Every function here is safe before
 * initialisation, never allocates, and reports failure by return value with
 * errno set (ENOMEM for mapping failures).
 */
#ifndef PM_OS_H
#define PM_OS_H

#include "internal.h"

/* Fresh zeroed read-write memory of size bytes (a page multiple) whose
 * address is a multiple of alignment (a power of two >= page); NULL + ENOMEM. */
PM_INTERNAL void *pmi_os_map(size_t size, size_t alignment);
PM_INTERNAL void pmi_os_unmap(void *p, size_t size);
/* Gives the pages back: afterwards they read as zero (MADV_DONTNEED) or
 * may (MADV_FREE, when the purge_free option is set).  Returns true if the
 * pages are now known to be zero. */
PM_INTERNAL bool pmi_os_purge(void *p, size_t size);
/* Resizes a mapping in place; false if the neighbouring range is taken. */
PM_INTERNAL bool pmi_os_resize_in_place(void *p, size_t old_size, size_t new_size);
/* Moves a mapping to new_size bytes at an address aligned to alignment,
 * without copying; NULL + ENOMEM on failure (the old mapping is untouched). */
PM_INTERNAL void *pmi_os_move(void *p, size_t old_size, size_t new_size, size_t alignment);
PM_INTERNAL void pmi_os_write(int fd, const char *buf, size_t len);
/* A close-on-exec duplicate of fd, or -1. */
PM_INTERNAL int pmi_os_dup_cloexec(int fd);
/* Monotonic time in nanoseconds (the coarse clock: a vDSO read). */
PM_INTERNAL uint64_t pmi_os_now_ns(void);
/* 8 random bytes from the kernel (AT_RANDOM as fallback). */
PM_INTERNAL uint64_t pmi_os_random(void);
PM_INTERNAL size_t pmi_os_page_size(void);
/* Names the mapping in /proc/self/maps ("poolmalloc arena" etc.) if the
 * kernel supports PR_SET_VMA. */
PM_INTERNAL void pmi_os_name(void *p, size_t size, const char *name);

#ifdef PM_FAULT_SEAM
/* Unit builds only: the next n calls to pmi_os_map fail with ENOMEM. */
void pmi_os_fail_next(int n);
#endif

#endif /* PM_OS_H */
