/* SPDX-License-Identifier: MIT */
/* large_region.c — the address space behind large blocks: regions of whole
 * chunks, split into spans and coalesced again (issue 8 §1).
 *
 * A region is one reservation of address space (PM_LARGE_REGION_SIZE, or
 * the request if that is bigger), chunk-aligned, read-write and lazily
 * faulted (MAP_NORESERVE: untouched chunks cost no memory).  Every large
 * block of ordinary alignment is a span of whole chunks of some region; its
 * header sits at the span's first chunk (large.c).  Freed spans stay
 * faulted in ("dirty") and are handed out again across sizes: a 12 MiB
 * request takes the first 13 chunks of the 21-chunk span a 20 MiB block
 * left (its header page makes 20 MiB one chunk more) and leaves the other
 * 8 free; neighbouring free chunks coalesce by construction, because the
 * state is a bitmap per region, not a list of spans:
 *
 *   chunk:   0    1    2    3    4    5    6    7    8    9   ...
 *   free     0    0    0    1    1    1    0    0    1    1
 *   start    1    0    0    0    0    0    1    0    0    0    a live block begins
 *   hdr      1    0    0    1    0    0    1    0    0    0    marked in the chunk map
 *   dirty    -    -    -    1    1    0    -    -    0    0    free and maybe resident
 *   zero     -    -    -    0    0    1    -    -    1    1    free and known zero
 *            [ block A, 3 chunks ][ free, 3  ][ block B  ][ free ...
 *
 * Invariants (per region; checked by pmi_large_region_is_valid):
 *   start ⊆ ~free; dirty ⊆ free; zero ⊆ free ∖ dirty; old ⊆ dirty
 *   a live span is a start chunk and the used chunks after it up to the
 *     next start or free chunk, so its length is never taken from the
 *     header (a forged header cannot free a chunk it does not own)
 *   hdr ∖ start ⊆ free: a chunk is marked in the chunk map (PM_CHUNK_LARGE)
 *     only while it is a live block's first chunk, or the first chunk of a
 *     freed block whose header is still intact (live == 0, so a second free
 *     is reported as a double free); the chunks inside a live block are
 *     never marked, so a pointer into them is foreign and user data there
 *     is never read as a header
 *   ndirty == popcount(dirty); nfree == popcount(free)
 *   max_run >= the longest run of free chunks (a hint that lets a search
 *     skip a region; exact after a full scan, raised when chunks are freed)
 *
 * Chunk states and transitions (under pmi_large_lock):
 *
 *   clean (zero) --take--> in a span --free--> dirty --decay/bound--> clean
 *        ^                      ^                |     (MADV_DONTNEED)
 *        +---- region reserved  +------take------+
 *
 * The chunk-map rule (pagemap.c; the table in docs/design.md): every leaf
 * of the map a region can need is made to exist when the region is
 * reserved, so marking later never fails.  take: interior chunks that still
 * carry an old mark are unmarked under the lock, before the span is
 * returned (the caller then writes the header and marks the first chunk,
 * before the pointer escapes).  purge: a marked chunk is unmarked before
 * its header page is dropped.  unmap: every mark of the region is cleared
 * before munmap.  Nothing here ever moves or shrinks a mapping.  A region
 * released under the lock is only retired there (unmarked, out of the
 * table, on lr.retired); its munmap happens after the lock is dropped
 * (pmi_large_region_unmap_retired), so no thread waits on the lock for a
 * 1 GiB munmap, and a program's munmap interposer (as in
 * tests/stress/address_reuse) may allocate without deadlocking.  The range
 * stays ours until then, so nothing else can be handed it early.
 *
 * The cache bound: dirty chunks are memory the process holds for nothing
 * until they are reused.  They go back to the OS (1) after the decay delay
 * (epochs of half POOLMALLOC_DECAY_MS, as in arena.c: a chunk dirty at two
 * epochs in a row and not reused in between is purged), and (2) at once
 * when live + dirty would exceed 5/4 of the recent peak of live bytes
 * (the highest live figure of the last LREGION_PEAK_EPOCHS epochs), or
 * dirty would exceed POOLMALLOC_LARGE_CACHE_MB: chunks dirty since the last
 * epoch first, then from the top of the address range down, the span just
 * freed last (lregion_enforce_bound says why).  Why a quarter: a program
 * that frees one buffer and allocates the next reuses what it freed with
 * any bound at all (its footprint never exceeds its peak); the bound only
 * bites on fragmentation, the holes that best fit cannot fill.  In the
 * large-buffer churn of bench/programs/bigbuf (docs/design.md, "Large
 * blocks"), an eighth made the holes go back and fault in again (2.6x the
 * page faults of a quarter, for 6% less peak RSS); a half gave the same
 * faults and peak RSS as a quarter while allowing twice the overhead.
 *
 * Placement is best fit over free runs (ties: the lowest region, then the
 * lowest address), at the start of the run.  Regions are 1 GiB of address
 * space because holes cannot coalesce across a region boundary: in bigbuf,
 * 64 MiB and 256 MiB regions took twice the page faults and 4% more peak
 * RSS (docs/design.md, "Large blocks").
 *
 * Locking: every function here but pmi_large_region_due (which reads one
 * atomic) runs under pmi_large_lock (large.c), which
 * is also held across the madvise and munmap calls of a purge or unmap, as
 * arena.c does; no other lock is taken inside it.  Never calls malloc.
 */
#include "os.h"

#include <string.h>

typedef struct lregion_s {
  char *base;                   /* chunk-aligned                          */
  size_t nchunks;               /* chunks reserved                        */
  size_t nwords;                /* words per mask                         */
  size_t nfree, ndirty;         /* popcounts of free and dirty            */
  size_t max_run;               /* >= the longest free run (a hint)       */
  size_t meta_size;             /* bytes of this descriptor's mapping     */
  uint64_t *free, *start, *hdr, *dirty, *old, *zero;   /* see above      */
  bool idle_prev;               /* wholly free and clean at last epoch    */
  struct lregion_s *next_retired;   /* on lr.retired, awaiting munmap     */
} lregion_t;

#define LREGION_PEAK_EPOCHS 4   /* the recent peak: the last 4 epochs (1.5-2 delays) */

static struct {
  lregion_t *region[PM_LARGE_REGION_MAX];   /* NULL: slot unused             */
  unsigned nslots;                     /* high-water index + 1          */
  size_t nlive, live_bytes;            /* spans handed out (tcache too) */
  size_t dirty_bytes, reserved_bytes;
  size_t peak[LREGION_PEAK_EPOCHS];    /* live-bytes maxima per epoch   */
  unsigned peak_i;
  uint64_t next_epoch_ns;              /* written under the lock; read without (relaxed) */
  lregion_t *retired;                  /* released, not yet unmapped; read without the lock (relaxed) */
} lr;

/* ---- Bit helpers over masks of nwords words ------------------------------ */
static bool bit_get(const uint64_t *m, size_t i) { return (m[i >> 6] >> (i & 63)) & 1; }
static void bit_set(uint64_t *m, size_t i) { m[i >> 6] |= (uint64_t)1 << (i & 63); }
static void bit_clear(uint64_t *m, size_t i) { m[i >> 6] &= ~((uint64_t)1 << (i & 63)); }

/* The word of bits [i & ~63, +64) of m restricted to [from, to). */
static uint64_t bits_window(size_t w, size_t from, size_t to) {
  uint64_t lo = w * 64 < from ? ~(uint64_t)0 << (from - w * 64) : ~(uint64_t)0;
  uint64_t hi = to >= w * 64 + 64 ? ~(uint64_t)0 : ((uint64_t)1 << (to - w * 64)) - 1;
  return lo & hi;
}

/* Sets (on) or clears bits [from, to). */
static void bits_range(uint64_t *m, size_t from, size_t to, bool on) {
  for (size_t w = from >> 6; from < to && w <= (to - 1) >> 6; w++) {
    uint64_t sel = bits_window(w, from, to);
    m[w] = on ? m[w] | sel : m[w] & ~sel;
  }
}

static size_t bits_count(const uint64_t *m, size_t from, size_t to) {
  size_t n = 0;
  for (size_t w = from >> 6; from < to && w <= (to - 1) >> 6; w++)
    n += (size_t)__builtin_popcountll(m[w] & bits_window(w, from, to));
  return n;
}

/* The first i in [from, to) whose bit in (a | b) equals `value`; to if none. */
static size_t bits_find(const uint64_t *a, const uint64_t *b, size_t from, size_t to, bool value) {
  for (size_t w = from >> 6; from < to && w <= (to - 1) >> 6; w++) {
    uint64_t x = a[w] | (b != NULL ? b[w] : 0);
    if (!value) x = ~x;
    x &= bits_window(w, from, to);
    if (x != 0) return w * 64 + (size_t)__builtin_ctzll(x);
  }
  return to;
}

/* The last i in [from, to) whose bit in (a & b) equals `value` (b == NULL:
 * a alone); SIZE_MAX if none. */
static size_t bits_rfind_and(const uint64_t *a, const uint64_t *b, size_t from, size_t to, bool value) {
  for (size_t w = (to - 1) >> 6; from < to && w + 1 > from >> 6; w--) {
    uint64_t x = a[w] & (b != NULL ? b[w] : ~(uint64_t)0);
    if (!value) x = ~x;
    x &= bits_window(w, from, to);
    if (x != 0) return w * 64 + 63 - (size_t)__builtin_clzll(x);
    if (w == 0) break;
  }
  return SIZE_MAX;
}

static char *lregion_chunk(const lregion_t *r, size_t i) { return r->base + (i << PM_CHUNK_SHIFT); }

static void lregion_unmark(lregion_t *r, size_t i) {
  pmi_pagemap_set(lregion_chunk(r, i), PM_CHUNK_FOREIGN, 0);
  bit_clear(r->hdr, i);
}

/* Unmarks every marked chunk in [from, to). */
static void lregion_unmark_range(lregion_t *r, size_t from, size_t to) {
  for (size_t i = bits_find(r->hdr, NULL, from, to, true); i < to; i = bits_find(r->hdr, NULL, i + 1, to, true))
    lregion_unmark(r, i);
}

/* ---- Reserving and releasing regions ------------------------------------- */
static size_t lregion_meta_size(size_t nwords) {
  return pm_align_up(sizeof(lregion_t) + 6 * nwords * sizeof(uint64_t), PM_PAGE_SIZE);
}

/* Makes every leaf of the chunk map that [base, base + size) can need
 * exist now, so that marking a chunk of the region never fails. */
static bool lregion_prepare_leaves(char *base, size_t size) {
  for (size_t off = 0; off < size; off += (size_t)1 << (PM_CHUNK_SHIFT + PM_PAGEMAP_LEAF_SHIFT))
    if (!pmi_pagemap_prepare(base + off)) return false;
  return pmi_pagemap_prepare(base + size - 1);
}

static lregion_t *lregion_reserve(size_t nchunks) {
  unsigned slot = 0;
  while (slot < lr.nslots && lr.region[slot] != NULL) slot++;
  if (slot == PM_LARGE_REGION_MAX) return NULL;
  size_t size = nchunks << PM_CHUNK_SHIFT, nwords = (nchunks + 63) / 64;
  char *base = pmi_os_map(size, PM_CHUNK_SIZE);
  if (base == NULL) return NULL;
  size_t meta_size = lregion_meta_size(nwords);
  lregion_t *r = NULL;
  if (!lregion_prepare_leaves(base, size) || (r = pmi_os_map(meta_size, PM_PAGE_SIZE)) == NULL) {
    pmi_os_unmap(base, size);
    return NULL;
  }
  uint64_t *m = (uint64_t *)(r + 1);   /* fresh mapping: every mask is zero */
  *r = (lregion_t){.base = base, .nchunks = nchunks, .nwords = nwords, .nfree = nchunks, .max_run = nchunks,
                   .meta_size = meta_size,
                   .free = m, .start = m + nwords, .hdr = m + 2 * nwords, .dirty = m + 3 * nwords,
                   .old = m + 4 * nwords, .zero = m + 5 * nwords};
  bits_range(r->free, 0, nchunks, true);
  bits_range(r->zero, 0, nchunks, true);
  pmi_os_name(base, size, "poolmalloc large");
  lr.region[slot] = r;
  if (slot == lr.nslots) lr.nslots++;
  lr.reserved_bytes += size;
  return r;
}

/* A wholly free region goes back: marks first (the chunk-map rule), then
 * out of the table onto lr.retired; pmi_large_region_unmap_retired unmaps
 * it once the lock is dropped. */
static void lregion_release(unsigned slot) {
  lregion_t *r = lr.region[slot];
  pm_assert(r->nfree == r->nchunks);
  lregion_unmark_range(r, 0, r->nchunks);
  lr.region[slot] = NULL;
  while (lr.nslots > 0 && lr.region[lr.nslots - 1] == NULL) lr.nslots--;
  size_t size = r->nchunks << PM_CHUNK_SHIFT;
  lr.reserved_bytes -= size;
  if (r->ndirty > 0) {
    lr.dirty_bytes -= r->ndirty << PM_CHUNK_SHIFT;
    pmi_counters_mapped(-(ptrdiff_t)(r->ndirty << PM_CHUNK_SHIFT));
  }
  r->next_retired = lr.retired;
  pm_atomic_store_relaxed(&lr.retired, r);
}

void pmi_large_region_unmap_retired(void) {
  if (pm_atomic_load_relaxed(&lr.retired) == NULL) return;
  pthread_mutex_lock(&pmi_large_lock);
  lregion_t *r = lr.retired;
  pm_atomic_store_relaxed(&lr.retired, NULL);
  pthread_mutex_unlock(&pmi_large_lock);
  while (r != NULL) {
    lregion_t *next = r->next_retired;
    pmi_os_unmap(r->base, r->nchunks << PM_CHUNK_SHIFT);
    pmi_os_unmap(r, r->meta_size);
    r = next;
  }
}

/* ---- Purging ------------------------------------------------------------- */
/* Gives the dirty chunks [from, to) of r back to the OS. */
static void lregion_purge_run(lregion_t *r, size_t from, size_t to) {
  lregion_unmark_range(r, from, to);   /* their headers are about to vanish */
  bool zero = pmi_os_purge(lregion_chunk(r, from), (to - from) << PM_CHUNK_SHIFT);
  bits_range(r->dirty, from, to, false);
  bits_range(r->old, from, to, false);
  if (zero) bits_range(r->zero, from, to, true);
  r->ndirty -= to - from;
  lr.dirty_bytes -= (to - from) << PM_CHUNK_SHIFT;
  pmi_counters_mapped(-(ptrdiff_t)((to - from) << PM_CHUNK_SHIFT));
  pm_atomic_add_relaxed(&pmi_counters.npurges, 1);
}

/* Purges dirty chunks (only those dirty at the last epoch too, if only_old)
 * from the top of the highest region down, until at most `keep` dirty
 * bytes are left: best fit starts runs at their low end, so the top of the
 * address range is the part least likely to be reused soon. */
static void lregion_purge_down_to(size_t keep, bool only_old) {
  for (unsigned s = lr.nslots; s-- > 0 && lr.dirty_bytes > keep;) {
    lregion_t *r = lr.region[s];
    if (r == NULL) continue;
    const uint64_t *sel = only_old ? r->old : NULL;
    size_t end = r->nchunks;
    while (r->ndirty > 0 && lr.dirty_bytes > keep) {
      size_t top = bits_rfind_and(r->dirty, sel, 0, end, true);
      if (top == SIZE_MAX) break;
      size_t low = bits_rfind_and(r->dirty, sel, 0, top, false);
      size_t from = low == SIZE_MAX ? 0 : low + 1;
      size_t need = (lr.dirty_bytes - keep + PM_CHUNK_SIZE - 1) >> PM_CHUNK_SHIFT;
      if (top + 1 - from > need) from = top + 1 - need;
      lregion_purge_run(r, from, top + 1);
      end = from;
    }
  }
}

static size_t lregion_recent_peak(void) {
  size_t peak = 0;
  for (unsigned i = 0; i < LREGION_PEAK_EPOCHS; i++)
    if (lr.peak[i] > peak) peak = lr.peak[i];
  return peak;
}

/* The most dirty bytes that may stay cached now (the bound above). */
static size_t lregion_dirty_limit(void) {
  size_t cap = (size_t)pmi_option(PM_OPTION_LARGE_CACHE_MB) << 20;
  if (pmi_option(PM_OPTION_DECAY_MS) == 0) return 0;   /* back to the OS at once */
  size_t peak = lregion_recent_peak(), footprint = peak + peak / 4;
  size_t limit = footprint > lr.live_bytes ? footprint - lr.live_bytes : 0;
  return limit < cap ? limit : cap;
}

/* Purges down to the bound: chunks dirty since the last epoch first, then
 * the rest from the top down; the chunks [from, to) of r (a span just
 * freed, r == NULL for none) last of all, since they are the likeliest to
 * be reused next (purging them would make a free/malloc loop fault its
 * block in every time). */
static void lregion_enforce_bound(lregion_t *r, size_t from, size_t to) {
  size_t limit = lregion_dirty_limit();
  if (lr.dirty_bytes <= limit) return;
  size_t spared = r != NULL ? (to - from) << PM_CHUNK_SHIFT : 0;
  if (spared > 0) {                    /* hide them from the purge */
    bits_range(r->dirty, from, to, false);
    r->ndirty -= to - from;
    lr.dirty_bytes -= spared;
  }
  size_t keep = limit > spared ? limit - spared : 0;
  lregion_purge_down_to(keep, true);
  lregion_purge_down_to(keep, false);
  if (spared > 0) {
    bits_range(r->dirty, from, to, true);
    r->ndirty += to - from;
    lr.dirty_bytes += spared;
    lregion_purge_down_to(limit, false);   /* only if nothing else was left */
  }
}

/* ---- Taking and returning spans ------------------------------------------ */
static void lregion_note_live(void) {
  if (lr.live_bytes > lr.peak[lr.peak_i]) lr.peak[lr.peak_i] = lr.live_bytes;
}

/* Chunks [from, to) of r (all free) become part of a live span. */
static void lregion_take_range(lregion_t *r, size_t from, size_t to) {
  size_t n = to - from, ndirty = bits_count(r->dirty, from, to);
  bits_range(r->free, from, to, false);
  bits_range(r->dirty, from, to, false);
  bits_range(r->old, from, to, false);
  bits_range(r->zero, from, to, false);
  r->nfree -= n;
  r->ndirty -= ndirty;
  lr.dirty_bytes -= ndirty << PM_CHUNK_SHIFT;
  lr.live_bytes += n << PM_CHUNK_SHIFT;
  lregion_note_live();
  if (n > ndirty) {            /* fresh chunks: the footprint grew */
    pmi_counters_mapped((ptrdiff_t)((n - ndirty) << PM_CHUNK_SHIFT));
    lregion_enforce_bound(NULL, 0, 0);
  }
}

/* Chunks [from, to) of r (inside a live span, unmarked except a freed
 * block's first chunk) become free and dirty. */
static void lregion_give_range(lregion_t *r, size_t from, size_t to) {
  size_t n = to - from;
  size_t before = from == 0 ? SIZE_MAX : bits_rfind_and(r->free, NULL, 0, from, false);
  size_t run = bits_find(r->free, NULL, to, r->nchunks, false) - (before == SIZE_MAX ? 0 : before + 1);
  if (run > r->max_run) r->max_run = run;   /* the run the freed chunks join */
  bits_range(r->free, from, to, true);
  bits_range(r->dirty, from, to, true);
  r->nfree += n;
  r->ndirty += n;
  lr.dirty_bytes += n << PM_CHUNK_SHIFT;
  lr.live_bytes -= n << PM_CHUNK_SHIFT;
}

/* The best-fitting free run of at least n chunks: its region slot and first
 * chunk; false if no region has one.  A region whose max_run hint is below
 * n is skipped, and a region scanned to the end learns its longest run, so
 * a fragmented region costs one scan, not one per request. */
static bool lregion_find(size_t n, unsigned *slot_out, size_t *first_out) {
  size_t best_len = SIZE_MAX;
  for (unsigned s = 0; s < lr.nslots; s++) {
    lregion_t *r = lr.region[s];
    if (r == NULL || r->nfree < n || r->max_run < n) continue;
    size_t longest = 0;
    for (size_t i = bits_find(r->free, NULL, 0, r->nchunks, true); i < r->nchunks;) {
      size_t end = bits_find(r->free, NULL, i, r->nchunks, false);
      if (end - i > longest) longest = end - i;
      if (end - i >= n && end - i < best_len) {
        best_len = end - i, *slot_out = s, *first_out = i;
        if (best_len == n) return true;
      }
      i = bits_find(r->free, NULL, end, r->nchunks, true);
    }
    r->max_run = longest;
  }
  return best_len != SIZE_MAX;
}

bool pmi_large_region_take(size_t nchunks, pm_lspan_t *out) {
  unsigned slot;
  size_t first;
  if (!lregion_find(nchunks, &slot, &first)) {
    size_t want = PM_LARGE_REGION_SIZE >> PM_CHUNK_SHIFT;
    lregion_t *r = lregion_reserve(nchunks > want ? nchunks : want);
    if (r == NULL && nchunks == 1) r = lregion_reserve(1);   /* near an address-space limit; large.c maps bigger blocks on their own */
    if (r == NULL) return false;
    bool found = lregion_find(nchunks, &slot, &first);
    pm_assert(found);
    (void)found;
  }
  lregion_t *r = lr.region[slot];
  out->zero = bits_count(r->zero, first, first + nchunks) == nchunks;
  lregion_take_range(r, first, first + nchunks);
  lregion_unmark_range(r, first + 1, first + nchunks);   /* inside a live span: never marked */
  bit_set(r->start, first);
  bit_set(r->hdr, first);     /* the caller marks it once the header is written */
  lr.nlive++;
  lregion_note_live();
  out->base = lregion_chunk(r, first);
  out->nchunks = nchunks;
  out->region = slot;
  pm_assert_expensive(pmi_large_region_is_valid());
  return true;
}

/* The live span whose first chunk is at base in region slot: its region
 * and first chunk, or NULL if there is none (a forged or stale header). */
static lregion_t *lregion_span(uint32_t slot, const char *base, size_t *first, size_t *n) {
  if (slot >= lr.nslots || lr.region[slot] == NULL) return NULL;
  lregion_t *r = lr.region[slot];
  if (base < r->base || ((uintptr_t)base & PM_CHUNK_MASK) != 0) return NULL;
  size_t i = (size_t)(base - r->base) >> PM_CHUNK_SHIFT;
  if (i >= r->nchunks || !bit_get(r->start, i)) return NULL;
  *first = i;
  *n = bits_find(r->start, r->free, i + 1, r->nchunks, true) - i;
  return r;
}

/* live -> free: cached as dirty within the bound, or purged at once when
 * its pages were moved away (nothing left to keep). */
static size_t lregion_give(uint32_t slot, char *base, bool moved) {
  size_t first, n;
  lregion_t *r = lregion_span(slot, base, &first, &n);
  if (r == NULL) return 0;
  bit_clear(r->start, first);  /* hdr stays: the freed header is still marked */
  lregion_give_range(r, first, first + n);
  lr.nlive--;
  if (moved) lregion_purge_run(r, first, first + n);   /* clean, and unmarked */
  else lregion_enforce_bound(r, first, first + n);
  pm_assert_expensive(pmi_large_region_is_valid());
  return n;
}

size_t pmi_large_region_give(uint32_t slot, char *base) { return lregion_give(slot, base, false); }
size_t pmi_large_region_give_moved(uint32_t slot, char *base) { return lregion_give(slot, base, true); }

size_t pmi_large_region_resize(uint32_t slot, char *base, size_t nchunks) {
  size_t first, n;
  lregion_t *r = lregion_span(slot, base, &first, &n);
  if (r == NULL) return 0;
  if (nchunks < n) {
    lregion_give_range(r, first + nchunks, first + n);
    lregion_enforce_bound(r, first + nchunks, first + n);
  } else if (nchunks > n) {
    if (first + nchunks > r->nchunks || bits_count(r->free, first + n, first + nchunks) != nchunks - n) return n;
    lregion_take_range(r, first + n, first + nchunks);
    lregion_unmark_range(r, first + n, first + nchunks);
  }
  pm_assert_expensive(pmi_large_region_is_valid());
  return nchunks;
}

/* ---- Decay ---------------------------------------------------------------- */
bool pmi_large_region_due(uint64_t now_ns) {
  return now_ns >= pm_atomic_load_relaxed(&lr.next_epoch_ns);
}

bool pmi_large_region_decay(uint64_t now_ns, bool force) {
  if (!force && !pmi_large_region_due(now_ns)) return false;
  bool released = false;
  for (unsigned s = 0; s < lr.nslots; s++) {
    lregion_t *r = lr.region[s];
    if (r == NULL) continue;
    const uint64_t *sel = force ? NULL : r->old;
    for (size_t end = r->nchunks; r->ndirty > 0;) {   /* each run of expired chunks */
      size_t top = bits_rfind_and(r->dirty, sel, 0, end, true);
      if (top == SIZE_MAX) break;
      size_t low = bits_rfind_and(r->dirty, sel, 0, top, false);
      size_t from = low == SIZE_MAX ? 0 : low + 1;
      lregion_purge_run(r, from, top + 1);
      released = true;
      end = from;
    }
    memcpy(r->old, r->dirty, r->nwords * sizeof(uint64_t));
    bool idle = r->nfree == r->nchunks && r->ndirty == 0;
    if (idle && (force || r->idle_prev)) {
      lregion_release(s);
      released = true;
    } else {
      r->idle_prev = idle;
    }
  }
  lr.peak_i = (lr.peak_i + 1) % LREGION_PEAK_EPOCHS;
  lr.peak[lr.peak_i] = lr.live_bytes;
  uint64_t half = (uint64_t)pmi_option(PM_OPTION_DECAY_MS) * 500000u;
  pm_atomic_store_relaxed(&lr.next_epoch_ns, now_ns + half);
  return released;
}

/* ---- Statistics and validation -------------------------------------------- */
void pmi_large_region_stats(size_t *nlive, size_t *live_bytes, size_t *dirty_bytes) {
  *nlive = lr.nlive;
  *live_bytes = lr.live_bytes;
  *dirty_bytes = lr.dirty_bytes;
}

size_t pmi_large_region_reserved(void) { return lr.reserved_bytes; }

bool pmi_large_region_is_valid(void) {
  size_t dirty = 0, live = 0, nlive = 0;
  for (unsigned s = 0; s < lr.nslots; s++) {
    lregion_t *r = lr.region[s];
    if (r == NULL) continue;
    size_t nfree = 0, ndirty = 0;
    for (size_t w = 0; w < r->nwords; w++) {
      if ((r->start[w] & r->free[w]) || (r->dirty[w] & ~r->free[w]) || (r->zero[w] & ~(r->free[w] & ~r->dirty[w])) ||
          (r->old[w] & ~r->dirty[w]) || (r->hdr[w] & ~(r->start[w] | r->free[w])))
        return false;
      nfree += (size_t)__builtin_popcountll(r->free[w]);
      ndirty += (size_t)__builtin_popcountll(r->dirty[w]);
      nlive += (size_t)__builtin_popcountll(r->start[w]);
    }
    if (nfree != r->nfree || ndirty != r->ndirty) return false;
    for (size_t i = bits_find(r->free, NULL, 0, r->nchunks, true); i < r->nchunks;) {
      size_t end = bits_find(r->free, NULL, i, r->nchunks, false);
      if (end - i > r->max_run) return false;   /* the hint is an upper bound */
      i = bits_find(r->free, NULL, end, r->nchunks, true);
    }
    for (size_t w = 0; w < r->nwords; w++)
      if (r->start[w] & ~r->hdr[w]) return false;
    for (size_t i = 0; i < r->nchunks; i++)   /* a chunk not in hdr is never marked */
      if (!bit_get(r->hdr, i) && pmi_pagemap_entry(lregion_chunk(r, i)) != PM_CHUNK_FOREIGN) return false;
    dirty += ndirty << PM_CHUNK_SHIFT;
    live += (r->nchunks - nfree) << PM_CHUNK_SHIFT;
  }
  return dirty == lr.dirty_bytes && live == lr.live_bytes && nlive == lr.nlive;
}

