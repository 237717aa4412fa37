/* SPDX-License-Identifier: MIT */
/* os.c — every system call poolmalloc makes (the contract is os.h).
 *
 * Aligned mappings use a hint first: the aligned address just below the
 * lowest recent mapping, which is usually free because the kernel places
 * mappings top-down, so an arena costs one mmap.  If the hint is taken we
 * over-map by the alignment and trim the two ends (three system calls).
 * Never allocates; safe before pmi_init() (the page size is a constant,
 * checked against the kernel's at init).
 */
#define _GNU_SOURCE 1
#include "os.h"

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

static _Atomic uintptr_t os_hint;   /* lowest recent aligned mapping */

#ifdef PM_FAULT_SEAM
static _Atomic int os_fail_count;
void pmi_os_fail_next(int n) { atomic_store(&os_fail_count, n); }
static bool os_should_fail(void) {
  int n = atomic_load(&os_fail_count);
  while (n > 0)
    if (atomic_compare_exchange_weak(&os_fail_count, &n, n - 1)) return true;
  return false;
}
#else
static bool os_should_fail(void) { return false; }
#endif

static void *os_mmap(void *hint, size_t size, int extra_flags) {
  void *p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | extra_flags, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void *pmi_os_map(size_t size, size_t alignment) {
  if (os_should_fail()) {
    errno = ENOMEM;
    return NULL;
  }
  int saved_errno = errno;   /* a miss at the hint must not leak EEXIST */
  /* The kernel hands out addresses top-down, so the range just below our
   * lowest recent mapping is usually free: try it first. */
  uintptr_t hint = atomic_load_explicit(&os_hint, memory_order_relaxed);
  if (hint > size + ((uintptr_t)1 << 32)) {
    uintptr_t want = (hint - size) & ~(uintptr_t)(alignment - 1);
    void *p = os_mmap((void *)want, size, MAP_FIXED_NOREPLACE);
    if (p == (void *)want) {
      atomic_store_explicit(&os_hint, want, memory_order_relaxed);
      errno = saved_errno;
      return p;
    }
    if (p != NULL) munmap(p, size);   /* old kernels ignore NOREPLACE */
  }
  /* Over-map and trim: [raw, raw+size+alignment) holds an aligned range. */
  char *raw = os_mmap(NULL, size + alignment, 0);
  if (raw == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  char *aligned = (char *)pm_align_up((uintptr_t)raw, alignment);
  size_t head = (size_t)(aligned - raw), tail = alignment - head;
  if (head != 0) munmap(raw, head);
  if (tail != 0) munmap(aligned + size, tail);
  if (hint == 0 || (uintptr_t)aligned < hint)   /* only ever move down */
    atomic_store_explicit(&os_hint, (uintptr_t)aligned, memory_order_relaxed);
  errno = saved_errno;
  return aligned;
}

void pmi_os_unmap(void *p, size_t size) {
  if (munmap(p, size) != 0) pmi_fatal("munmap of %p (%zu bytes) failed", p, size);
}

bool pmi_os_purge(void *p, size_t size) {
  if (pmi_option(PM_OPTION_PURGE_FREE) && madvise(p, size, MADV_FREE) == 0) return false;
  return madvise(p, size, MADV_DONTNEED) == 0;
}

bool pmi_os_resize_in_place(void *p, size_t old_size, size_t new_size) {
  if (old_size == new_size) return true;
  if (os_should_fail()) return false;
  return mremap(p, old_size, new_size, 0) == p;
}

void *pmi_os_move(void *p, size_t old_size, size_t new_size, size_t alignment) {
  /* Reserve an aligned target, then let the kernel move the pages there. */
  void *target = pmi_os_map(new_size, alignment);
  if (target == NULL) return NULL;
  void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  if (q == MAP_FAILED) {
    munmap(target, new_size);
    errno = ENOMEM;
    return NULL;
  }
  return q;
}

void pmi_os_write(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    buf += n;
    len -= (size_t)n;
  }
}

int pmi_os_dup_cloexec(int fd) {
  int saved = errno, copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  errno = saved;
  return copy;
}

uint64_t pmi_os_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pmi_os_random(void) {
  uint64_t r = 0;
  if (syscall(SYS_getrandom, &r, sizeof r, 0x1 /* GRND_NONBLOCK */) == (long)sizeof r) return r;
#if defined(HAVE_SYS_AUXV_H)
  const uint64_t *at_random = (const uint64_t *)getauxval(AT_RANDOM);
  if (at_random != NULL) return at_random[1] ^ (uint64_t)(uintptr_t)&r;
#endif
  return (uint64_t)(uintptr_t)&r * 0x9e3779b97f4a7c15ull ^ pmi_os_now_ns();
}

size_t pmi_os_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* Kernels without CONFIG_ANON_VMA_NAME answer EINVAL: ask once. */
static _Atomic int os_name_unsupported;

void pmi_os_name(void *p, size_t size, const char *name) {
  if (atomic_load_explicit(&os_name_unsupported, memory_order_relaxed)) return;
  int saved = errno;
  if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, size, (unsigned long)name) != 0)
    atomic_store_explicit(&os_name_unsupported, 1, memory_order_relaxed);
  errno = saved;
}
