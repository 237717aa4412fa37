/* SPDX-License-Identifier: MIT */
/* prim.h — the raw platform primitives (the only system calls poolmalloc
 * makes), as mimalloc's prim.h and hardened_malloc's memory.h.
 *
 * prim.c is the only file that calls mmap, munmap, madvise, mremap, mprotect, mincore, prctl,
 * write, fcntl, clock_gettime, getrandom, sysconf or getauxval.  Every
 * function here is one system call (or two, where noted), safe before
 * initialisation and inside a fork child, never allocates, reports failure
 * by its return value and leaves errno as it found it.  Nothing here calls
 * anything else in poolmalloc: policy (alignment, hints, when to purge,
 * what a failure means) lives in os.c.
 */
#ifndef PM_PRIM_H
#define PM_PRIM_H

#include "types.h"   /* nothing above: prim.c calls no other file of ours */


/* Anonymous read-write private memory, not counted against overcommit
 * (MAP_NORESERVE).  at_exactly: the mapping must be at hint or nowhere
 * (MAP_FIXED_NOREPLACE; a kernel that ignores the flag may place it
 * elsewhere, and the mapping is then removed).  NULL on failure. */
void *pmi_prim_mmap(void *hint, size_t size, bool at_exactly);
bool pmi_prim_munmap(void *p, size_t size);
/* MADV_DONTNEED (the pages read as zero afterwards) or MADV_FREE (lazy). */
bool pmi_prim_discard(void *p, size_t size, bool lazy);
/* MADV_HUGEPAGE: the kernel may back 2 MiB-aligned ranges of it with huge
 * pages (transparent huge pages in madvise mode).  False if refused (no THP). */
bool pmi_prim_advise_huge(void *p, size_t size);
/* mremap without moving. */
bool pmi_prim_remap_in_place(void *p, size_t old_size, size_t new_size);
/* mremap onto target (MREMAP_MAYMOVE | MREMAP_FIXED). */
bool pmi_prim_remap_to(void *p, size_t old_size, size_t new_size, void *target);
/* mremap of size bytes onto target (MREMAP_FIXED), leaving [p, p + size)
 * mapped and empty (MREMAP_DONTUNMAP, Linux 5.7: private anonymous memory
 * then reads as zero; some kernels refuse it without MREMAP_FIXED).  False
 * if the kernel refused (EINVAL before 5.7). */
bool pmi_prim_move_pages_to(void *p, size_t size, void *target);
/* mprotect: read-write (accessible) or PROT_NONE (a guard). */
bool pmi_prim_protect(void *p, size_t size, bool accessible);
/* An anonymous PROT_NONE mapping (MAP_NORESERVE): anywhere (at == NULL), or
 * replacing [at, at + size) (MAP_FIXED: its pages are dropped, so they read
 * as zero once made accessible again).  NULL on failure. */
void *pmi_prim_map_none(void *at, size_t size);
/* mincore: vec[i] & 1 when page i of [p, p + size) is resident.  False on
 * failure. */
bool pmi_prim_resident(void *p, size_t size, unsigned char *vec);
/* Names an anonymous mapping in /proc/self/maps (PR_SET_VMA_ANON_NAME). */
bool pmi_prim_name(void *p, size_t size, const char *name);
/* write(2) until done, retrying on EINTR; gives up on any other error. */
void pmi_prim_write(int fd, const char *buf, size_t len);
/* open(2) for reading, or (write) created/truncated with mode 0644;
 * close-on-exec, retried on EINTR; -1 on failure. */
int pmi_prim_open(const char *path, bool write);
/* read(2), retried on EINTR: bytes read, 0 at the end, -1 on error. */
long pmi_prim_read(int fd, char *buf, size_t len);
/* lseek(fd, offset, SEEK_SET): true if the position is now offset. */
bool pmi_prim_seek(int fd, uint64_t offset);
void pmi_prim_close(int fd);
/* A close-on-exec duplicate of fd (numbered 3 or more), or -1. */
int pmi_prim_dup_cloexec(int fd);
/* Monotonic time in nanoseconds (the coarse clock: a vDSO read). */
uint64_t pmi_prim_now_ns(void);
/* The same from the fine clock (CLOCK_MONOTONIC), for durations. */
uint64_t pmi_prim_precise_ns(void);
/* 8 random bytes from the kernel (AT_RANDOM as a fallback). */
uint64_t pmi_prim_random(void);
size_t pmi_prim_page_size(void);
/* Is this a set-uid/set-gid program (AT_SECURE)?  Options are then ignored. */
bool pmi_prim_is_secure(void);

#endif /* PM_PRIM_H */
