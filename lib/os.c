/* SPDX-License-Identifier: MIT */
/* os.c — how poolmalloc uses the OS's memory (the contract is os.h).
 *
 * Policy over prim.c's raw system calls: aligned mappings, naming, purging
 * with the configured advice, and what a failure means.  Aligned mappings
 * use a hint first: the aligned address just below the lowest recent
 * mapping, which is usually free because the kernel places mappings
 * top-down, so an arena costs one mmap.  If the hint is taken we over-map
 * by the alignment and trim the two ends (three system calls); near an
 * address-space limit, where the over-map fails, a plain mapping that
 * happens to be aligned is taken.
 * Never allocates; never changes errno (the allocator's entry points set
 * ENOMEM when they give up, after a reclaim and retry: issue 7 §5); safe
 * before pmi_init() (the page size is a constant, checked against the
 * kernel's at init).
 */
#include "os.h"
#include "prim.h"

#include <string.h>

static uintptr_t os_hint;   /* lowest recent aligned mapping; relaxed */

/* ---- Fault seam (unit builds) ------------------------------------------- */
#ifdef PM_FAULT_SEAM
static int os_fail_count, os_fail_skip;   /* relaxed */
void pmi_os_fail_next(int n) { pmi_os_fail_after(0, n); }
void pmi_os_fail_after(int skip, int n) {
  pm_atomic_store_relaxed(&os_fail_skip, skip);
  pm_atomic_store_relaxed(&os_fail_count, n);
}
static bool os_should_fail(void) {
  int skip = pm_atomic_load_relaxed(&os_fail_skip);
  while (skip > 0)
    if (pm_atomic_cas_weak_relaxed(&os_fail_skip, &skip, skip - 1)) return false;
  int n = pm_atomic_load_relaxed(&os_fail_count);
  while (n > 0)
    if (pm_atomic_cas_weak_relaxed(&os_fail_count, &n, n - 1)) return true;
  return false;
}
#else
static bool os_should_fail(void) { return false; }
#endif

/* ---- Mapping -------------------------------------------------------------- */
void *pmi_os_map(size_t size, size_t alignment) {
  pm_assert(size % PM_PAGE_SIZE == 0 && pm_is_pow2(alignment) && alignment >= PM_PAGE_SIZE);
  if (os_should_fail()) return NULL;
  uintptr_t hint = pm_atomic_load_relaxed(&os_hint);
  if (hint > size + ((uintptr_t)1 << 32)) {
    uintptr_t want = (hint - size) & ~(uintptr_t)(alignment - 1);
    void *p = pmi_prim_mmap((void *)want, size, true);
    if (p != NULL) {
      pm_atomic_store_relaxed(&os_hint, want);
      return p;
    }
  }
  /* Over-map and trim: [raw, raw+size+alignment) holds an aligned range. */
  char *raw = pmi_prim_mmap(NULL, size + alignment, false);
  if (raw == NULL) {
    raw = pmi_prim_mmap(NULL, size, false);
    if (raw != NULL && ((uintptr_t)raw & (alignment - 1)) == 0) return raw;
    if (raw != NULL) pmi_os_unmap(raw, size);
    return NULL;
  }
  char *aligned = (char *)pm_align_up((uintptr_t)raw, alignment);
  size_t head = (size_t)(aligned - raw), tail = alignment - head;
  if (head != 0) pmi_os_unmap(raw, head);
  if (tail != 0) pmi_os_unmap(aligned + size, tail);
  if (hint == 0 || (uintptr_t)aligned < hint)   /* only ever move down */
    pm_atomic_store_relaxed(&os_hint, (uintptr_t)aligned);
  return aligned;
}

void pmi_os_unmap(void *p, size_t size) {
  if (!pmi_prim_munmap(p, size)) pmi_fatal("munmap of %p (%zu bytes) failed", p, size);
}

void *pmi_os_map_huge(size_t size, size_t alignment) {
  pm_assert(size % PM_HUGE_PAGE_SIZE == 0 && alignment % PM_HUGE_PAGE_SIZE == 0);
  void *p = pmi_os_map(size, alignment);
  if (p != NULL) pmi_prim_advise_huge(p, size);   /* refused: small pages, as before */
  return p;
}

bool pmi_os_purge(void *p, size_t size) {
  if (pmi_option(PM_OPTION_PURGE_FREE) && pmi_prim_discard(p, size, true)) return false;
  return pmi_prim_discard(p, size, false);
}

bool pmi_os_resize_in_place(void *p, size_t old_size, size_t new_size) {
  return old_size == new_size || (!os_should_fail() && pmi_prim_remap_in_place(p, old_size, new_size));
}

bool pmi_os_move_to(void *p, size_t old_size, size_t new_size, void *target) {
  if (os_should_fail()) {                   /* simulated: the target is still ours */
    pmi_os_unmap(target, new_size);
    return false;
  }
  return pmi_prim_remap_to(p, old_size, new_size, target);
}

/* 1: MREMAP_DONTUNMAP works, -1: it does not, 0: not probed yet (relaxed:
 * a race only probes twice). */
static int os_move_pages_state;

bool pmi_os_can_move_pages(void) {
  int state = pm_atomic_load_relaxed(&os_move_pages_state);
  if (pm_likely(state != 0)) return state > 0;
  char *scratch = pmi_prim_mmap(NULL, 2 * PM_PAGE_SIZE, false);
  if (scratch == NULL) return false;      /* ask again next time */
  scratch[0] = 1;
  bool ok = pmi_prim_move_pages_to(scratch, PM_PAGE_SIZE, scratch + PM_PAGE_SIZE) && scratch[PM_PAGE_SIZE] == 1 &&
            scratch[0] == 0;
  pmi_prim_munmap(scratch, 2 * PM_PAGE_SIZE);   /* whatever pieces the probe left */
  pm_atomic_store_relaxed(&os_move_pages_state, ok ? 1 : -1);
  return ok;
}

bool pmi_os_move_pages_to(void *p, size_t size, void *target) {
  pm_assert((uintptr_t)p % PM_PAGE_SIZE == 0 && size % PM_PAGE_SIZE == 0 && size != 0);
  if (os_should_fail()) {                   /* simulated: the target is still ours */
    pmi_os_unmap(target, size);
    return false;
  }
  return pmi_prim_move_pages_to(p, size, target);
}

/* ---- Guards (secure library) ---------------------------------------------- */
bool pmi_os_guard(void *p, size_t size) {
  pm_assert((uintptr_t)p % PM_PAGE_SIZE == 0 && size % PM_PAGE_SIZE == 0);
  return !os_should_fail() && pmi_prim_protect(p, size, false);
}

bool pmi_os_unguard(void *p, size_t size) {
  pm_assert((uintptr_t)p % PM_PAGE_SIZE == 0 && size % PM_PAGE_SIZE == 0);
  return pmi_prim_protect(p, size, true);
}

bool pmi_os_decommit(void *p, size_t size) {
  pm_assert((uintptr_t)p % PM_PAGE_SIZE == 0 && size % PM_PAGE_SIZE == 0);
  return pmi_prim_map_none(p, size) == p;
}

/* Calls fn on each run of [p, p + size) that lies on resident pages (all
 * of it if mincore fails); stops early when fn returns false.  Returns the
 * bytes visited. */
static size_t os_resident_runs(const void *p, size_t size, bool (*fn)(char *run, size_t len, bool *ok), bool *ok) {
  unsigned char vec[4096];                /* 16 MiB of pages per mincore */
  char *lo = (char *)p, *hi = lo + size, *page = (char *)((uintptr_t)lo & ~(uintptr_t)(PM_PAGE_SIZE - 1));
  size_t visited = 0;
  while (page < hi && *ok) {
    size_t n = pm_align_up((size_t)(hi - page), PM_PAGE_SIZE) / PM_PAGE_SIZE;
    if (n > sizeof vec) n = sizeof vec;
    bool known = pmi_prim_resident(page, n * PM_PAGE_SIZE, vec);
    for (size_t i = 0, j; i < n && *ok; i = j) {   /* runs of pages with one state */
      for (j = i + 1; j < n && (!known || (vec[j] & 1) == (vec[i] & 1)); j++) {
      }
      if (known && !(vec[i] & 1)) continue;
      char *a = page + i * PM_PAGE_SIZE, *b = page + j * PM_PAGE_SIZE;
      if (a < lo) a = lo;
      if (b > hi) b = hi;
      visited += (size_t)(b - a);
      fn(a, (size_t)(b - a), ok);
    }
    page += n * PM_PAGE_SIZE;
  }
  return visited;
}

static bool os_zero_run(char *run, size_t len, bool *ok) {
  memset(run, 0, len);
  return *ok;
}

static bool os_check_run(char *run, size_t len, bool *ok) {
  for (; len > 0 && ((uintptr_t)run & 15) != 0; run++, len--) *ok &= *run == 0;
  *ok &= pm_is_zero16(run, len & ~(size_t)15);
  for (run += len & ~(size_t)15, len &= 15; len > 0; run++, len--) *ok &= *run == 0;
  return *ok;
}

size_t pmi_os_zero_resident(void *p, size_t size) {
  bool ok = true;
  return os_resident_runs(p, size, os_zero_run, &ok);
}

bool pmi_os_is_zero_resident(const void *p, size_t size) {
  bool ok = true;
  os_resident_runs(p, size, os_check_run, &ok);
  return ok;
}

void *pmi_os_reserve(size_t size) {
  pm_assert(size % PM_PAGE_SIZE == 0);
  return os_should_fail() ? NULL : pmi_prim_map_none(NULL, size);
}

#define OS_META_CHUNK ((size_t)64 << 10)

void *pmi_os_meta_carve(pm_meta_area_t *a, size_t size, const char *name) {
  size = pm_align_up(size, 64);
  pm_assert(size <= OS_META_CHUNK);
  if (a->cur == NULL || a->cur + size > a->end) {
    char *m = pmi_os_map(OS_META_CHUNK, PM_PAGE_SIZE);
    if (m == NULL) return NULL;
    pmi_os_name(m, OS_META_CHUNK, name);
    a->cur = m;
    a->end = m + OS_META_CHUNK;
  }
  void *record = a->cur;   /* fresh mapping: zero */
  a->cur += size;
  return record;
}

/* Kernels without CONFIG_ANON_VMA_NAME answer EINVAL: ask once. */
static int os_name_unsupported;   /* relaxed */

void pmi_os_name(void *p, size_t size, const char *name) {
  if (pm_atomic_load_relaxed(&os_name_unsupported)) return;
  if (!pmi_prim_name(p, size, name)) pm_atomic_store_relaxed(&os_name_unsupported, 1);
}
