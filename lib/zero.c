/* SPDX-License-Identifier: MIT */
/* zero.c — malloc(0) in the secure library: pointers to memory that faults.
 *
 * libpoolmalloc-secure.so answers malloc(0) (and realloc to 0 bytes is
 * still a free, as in glibc) with a distinct 16-byte slot of a PROT_NONE
 * reservation, so the first read or write through it faults (issue 9;
 * docs/security.md, "Zero-size allocations"), as hardened_malloc does.
 * The default library never calls this file: its malloc(0) is a 16-byte
 * block of class 0 (sizeclass.h).
 *
 *   region (ZERO_REGION_SIZE = 64 MiB of PROT_NONE address space)
 *   +------+------+------+-- ... --+
 *   |slot 0|slot 1|slot 2|         |    slot i = base + 16 i
 *   +------+------+------+-- ... --+
 *   its descriptor: a read-write mapping holding base and one bit per slot
 *   (set = handed out), touched only where slots are used.
 *
 * Nothing in a region is ever readable, so the bits live out of line.  A
 * global cursor walks the slots round-robin and claims a slot with one
 * atomic or: a freed slot comes back only after the cursor has gone round
 * every slot of every region (4 Mi allocations per region), the longest
 * possible delay.  free clears the bit with one atomic and; a bit already
 * clear is a double free, an address between slots an invalid free.  When
 * 64 probes in a row find taken slots, another region is added, up to
 * ZERO_MAX_REGIONS; regions are published with a compare-and-swap (the loser
 * unmaps its own), so there is no lock and nothing to do at fork.
 * Regions are never unmapped.  Never calls malloc.
 */
#include "os.h"

#include <errno.h>

#define ZERO_SLOT 16
#define ZERO_REGION_SIZE ((size_t)64 << 20)
#define ZERO_SLOTS (ZERO_REGION_SIZE / ZERO_SLOT)              /* 4 Mi */
#define ZERO_MAX_REGIONS 64
#define ZERO_PROBES 64

typedef struct zero_region_s {
  char *base;                          /* PROT_NONE, ZERO_REGION_SIZE bytes */
  uint64_t bits[ZERO_SLOTS / 64];      /* atomic or / and                   */
} zero_region_t;

static struct {
  zero_region_t *regions[ZERO_MAX_REGIONS];   /* published once: release/acquire */
  unsigned nregions;                          /* release/acquire                  */
  uint64_t cursor;                            /* relaxed                          */
} zero;

/* Adds region number i unless another thread did; false when out of memory. */
static bool zero_add_region(unsigned i) {
  if (i >= ZERO_MAX_REGIONS) return false;
  size_t desc_size = pm_align_up(sizeof(zero_region_t), PM_PAGE_SIZE);
  zero_region_t *r = pmi_os_map(desc_size, PM_PAGE_SIZE);
  char *base = r != NULL ? pmi_os_reserve(ZERO_REGION_SIZE) : NULL;
  if (base == NULL) {
    if (r != NULL) pmi_os_unmap(r, desc_size);
    return pm_atomic_load_acquire(&zero.nregions) > i;   /* someone else may have */
  }
  pmi_os_name(r, desc_size, "poolmalloc zero-size slots");
  r->base = base;
  zero_region_t *expected = NULL;
  if (pm_atomic_cas_strong_acq_rel(&zero.regions[i], &expected, r)) {
    unsigned n = i;   /* regions are numbered in order: wait for i - 1's count */
    while (!pm_atomic_cas_strong_acq_rel(&zero.nregions, &n, i + 1)) n = i;
  } else {
    pmi_os_unmap(base, ZERO_REGION_SIZE);
    pmi_os_unmap(r, desc_size);
  }
  return true;
}

void *pmi_zero_malloc(void) {
  unsigned n = pm_atomic_load_acquire(&zero.nregions);
  if (n == 0 && !zero_add_region(0)) goto enomem;
  for (size_t probes = 0;; probes++) {
    n = pm_atomic_load_acquire(&zero.nregions);
    if (probes == ZERO_PROBES) zero_add_region(n);   /* crowded: add a region if we may */
    if (probes > (size_t)n * ZERO_SLOTS + ZERO_PROBES) goto enomem;   /* every slot taken */
    uint64_t slot = pm_atomic_add_relaxed(&zero.cursor, 1) % ((uint64_t)n * ZERO_SLOTS);
    zero_region_t *r = pm_atomic_load_acquire(&zero.regions[slot / ZERO_SLOTS]);
    uint64_t i = slot % ZERO_SLOTS, m = (uint64_t)1 << (i % 64);
    if (!(pm_atomic_fetch_or_acq_rel(&r->bits[i / 64], m) & m)) return r->base + i * ZERO_SLOT;
  }
enomem:
  errno = ENOMEM;
  return NULL;
}

/* The region holding p, or NULL. */
static zero_region_t *zero_region_of(const void *p) {
  unsigned n = pm_atomic_load_acquire(&zero.nregions);
  for (unsigned i = 0; i < n; i++) {
    zero_region_t *r = pm_atomic_load_acquire(&zero.regions[i]);
    if ((uintptr_t)p - (uintptr_t)r->base < ZERO_REGION_SIZE) return r;
  }
  return NULL;
}

bool pmi_zero_owns(const void *p) { return zero_region_of(p) != NULL; }

/* The bit of p's slot, after checking that p starts one. */
static uint64_t *zero_bit(const void *p, uint64_t *mask, const char *what) {
  zero_region_t *r = zero_region_of(p);
  if (r == NULL) pmi_fatal("invalid %s of %p (not allocated by poolmalloc)", what, p);
  size_t off = (size_t)((const char *)p - r->base);
  if (off % ZERO_SLOT != 0) pmi_fatal("invalid %s of %p (not the start of a block)", what, p);
  *mask = (uint64_t)1 << (off / ZERO_SLOT % 64);
  return &r->bits[off / ZERO_SLOT / 64];
}

void pmi_zero_free(void *p) {
  uint64_t m, *w = zero_bit(p, &m, "free");
  if (!(pm_atomic_fetch_and_acq_rel(w, ~m) & m)) pmi_fatal("double free of %p", p);
}

void pmi_zero_check_live(const void *p, const char *what) {
  uint64_t m, *w = zero_bit(p, &m, what);
  if (!(pm_atomic_load_relaxed(w) & m)) pmi_fatal("%s of freed block %p", what, p);
}
