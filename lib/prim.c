/* SPDX-License-Identifier: MIT */
/* prim.c — every system call poolmalloc makes (the contract is prim.h).
 *
 * One primitive per function, each a thin wrapper that keeps errno; no
 * policy and no calls into the rest of the allocator (os.c decides how to
 * use them).
 */
#define _GNU_SOURCE 1
#include "prim.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(HAVE_SYS_AUXV_H)
#include <sys/auxv.h>
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

/* ---- Memory --------------------------------------------------------------- */
void *pmi_prim_mmap(void *hint, size_t size, bool at_exactly) {
  int saved_errno = errno;
  void *p = mmap(hint, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (at_exactly ? MAP_FIXED_NOREPLACE : 0), -1, 0);
  if (p != MAP_FAILED && at_exactly && p != hint) {   /* a kernel before 4.17 took it as a hint */
    munmap(p, size);
    p = MAP_FAILED;
  }
  errno = saved_errno;
  return p == MAP_FAILED ? NULL : p;
}

bool pmi_prim_munmap(void *p, size_t size) {
  int saved_errno = errno;
  bool ok = munmap(p, size) == 0;
  errno = saved_errno;
  return ok;
}

bool pmi_prim_discard(void *p, size_t size, bool lazy) {
  int saved_errno = errno;
  bool ok = madvise(p, size, lazy ? MADV_FREE : MADV_DONTNEED) == 0;
  errno = saved_errno;
  return ok;
}

bool pmi_prim_advise_huge(void *p, size_t size) {
  int saved_errno = errno;
  bool ok = madvise(p, size, MADV_HUGEPAGE) == 0;
  errno = saved_errno;
  return ok;
}

bool pmi_prim_remap_in_place(void *p, size_t old_size, size_t new_size) {
  int saved_errno = errno;
  bool ok = mremap(p, old_size, new_size, 0) == p;
  errno = saved_errno;
  return ok;
}

bool pmi_prim_remap_to(void *p, size_t old_size, size_t new_size, void *target) {
  int saved_errno = errno;
  bool ok = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target) == target;
  errno = saved_errno;
  return ok;
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
bool pmi_prim_move_pages_to(void *p, size_t size, void *target) {
  int saved_errno = errno;
  bool ok = mremap(p, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, target) == target;
  errno = saved_errno;
  return ok;
}

bool pmi_prim_protect(void *p, size_t size, bool accessible) {
  int saved_errno = errno;
  bool ok = mprotect(p, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
  errno = saved_errno;
  return ok;
}

void *pmi_prim_map_none(void *at, size_t size) {
  int saved_errno = errno;
  void *p = mmap(at, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (at != NULL ? MAP_FIXED : 0), -1, 0);
  errno = saved_errno;
  return p == MAP_FAILED ? NULL : p;
}

bool pmi_prim_resident(void *p, size_t size, unsigned char *vec) {
  int saved_errno = errno;
  bool ok = mincore(p, size, vec) == 0;
  errno = saved_errno;
  return ok;
}

bool pmi_prim_name(void *p, size_t size, const char *name) {
  int saved_errno = errno;
  bool ok = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, size, (unsigned long)name) == 0;
  errno = saved_errno;
  return ok;
}

/* ---- Files, time, randomness, the process -------------------------------- */
void pmi_prim_write(int fd, const char *buf, size_t len) {
  int saved_errno = errno;
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf += n;
    len -= (size_t)n;
  }
  errno = saved_errno;
}

int pmi_prim_open(const char *path, bool write) {
  int saved_errno = errno, fd;
  int flags = write ? O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC : O_RDONLY | O_CLOEXEC;
  do fd = open(path, flags, 0644);
  while (fd < 0 && errno == EINTR);
  errno = saved_errno;
  return fd;
}

long pmi_prim_read(int fd, char *buf, size_t len) {
  int saved_errno = errno;
  ssize_t n;
  do n = read(fd, buf, len);
  while (n < 0 && errno == EINTR);
  errno = saved_errno;
  return (long)n;
}

bool pmi_prim_seek(int fd, uint64_t offset) {
  int saved_errno = errno;
  bool ok = lseek(fd, (off_t)offset, SEEK_SET) == (off_t)offset;
  errno = saved_errno;
  return ok;
}

void pmi_prim_close(int fd) {
  int saved_errno = errno;
  close(fd);
  errno = saved_errno;
}

int pmi_prim_dup_cloexec(int fd) {
  int saved_errno = errno, copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  errno = saved_errno;
  return copy;
}

uint64_t pmi_prim_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pmi_prim_precise_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pmi_prim_random(void) {
  int saved_errno = errno;
  uint64_t r = 0;
  long n = syscall(SYS_getrandom, &r, sizeof r, 0x1 /* GRND_NONBLOCK */);
  errno = saved_errno;
  if (n == (long)sizeof r) return r;
#if defined(HAVE_SYS_AUXV_H)
  const uint64_t *at_random = (const uint64_t *)getauxval(AT_RANDOM);
  if (at_random != NULL) return at_random[1] ^ (uint64_t)(uintptr_t)&r;
#endif
  return (uint64_t)(uintptr_t)&r * 0x9e3779b97f4a7c15ull ^ pmi_prim_now_ns();
}

size_t pmi_prim_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

bool pmi_prim_is_secure(void) {
#if defined(HAVE_SYS_AUXV_H)
  return getauxval(AT_SECURE) != 0;
#else
  return false;
#endif
}
