/* SPDX-License-Identifier: MIT */
/* large.c — blocks above PM_MEDIUM_MAX: the entry points and the header.
 *
 * Where a large block lives (issue 8 §1):
 *   alignment < 1 MiB   a span of whole chunks of a region (large_region.c),
 *                       which reuses memory already faulted in across sizes,
 *                       splits and coalesces; blocks of one chunk also pass
 *                       through the freeing thread's small cache
 *                       (large_tcache.c), so a malloc/free pair of 256 KiB
 *                       takes no lock and reads no clock.
 *   alignment >= 1 MiB  a mapping of its own, unmapped when freed (rare);
 *   grown by realloc    also a mapping of its own once a block of 32 MiB or
 *                       more has to move, so that it grows with mremap.
 *
 * Layout (types.h): a pm_large_t header at the first chunk of the span,
 * then the user's bytes from base + max(page, alignment) to the block's
 * extent (map_size: offset + size rounded up to 16 KiB, the unit the chunk
 * map records; usable_size is the difference); the rest of the span's last
 * chunk is the span's but never handed out.  For a block of its own with alignment >= 1 MiB the user
 * pointer is a chunk base (PM_CHUNK_LARGE_AT_BASE) and the header is the
 * page below it.  The header is trusted only after its magic (MAGIC ^ user)
 * and user fields match; a region block's extent is then taken from the
 * region's bitmaps, never from the header, and a header naming a region or
 * span that does not exist aborts.  Double frees: a freed header keeps
 * live == 0 and its chunk stays marked while its span is cached (in a
 * thread's cache, or free and dirty in its region), so a second free is
 * reported as a double free.
 *
 * Address space (the chunk-map rule, pagemap.c; issue 7 §1): a block's
 * first chunk is marked PM_CHUNK_LARGE once its header is written and before
 * the pointer is returned; no other chunk of a live span is ever marked:
 *   malloc, region    take a span under the lock (chunks inside it that
 *                     still carried a freed header's mark are unmarked
 *                     there), write the header, mark, return
 *   malloc, tcache    the cached span never stopped being marked; if the
 *                     request's extent differs, re-mark it (widened before
 *                     the pointer escapes); set live
 *   free              live = 0, then to the thread's cache or the region
 *                     (still marked: the freed header stays readable)
 *   realloc, in place grow: the chunks taken are unmarked under the lock
 *                     before the block may use them; shrink: the chunks
 *                     given back were never marked
 *   realloc, move     a new block, copy, free the old one (a block of 32
 *                     MiB or more moves into a mapping of its own)
 *   purge, unmap      large_region.c unmarks first
 *   own mapping       map, header, mark, return; free: unmark, then unmap;
 *                     realloc grow: mremap in place, then widen the mark;
 *                     shrink: narrow the mark, then mremap in place; move:
 *                     map the target and make its map leaf exist, unmark
 *                     the old, mremap onto the target, mark the new (on
 *                     failure re-mark the old: it never stopped being ours)
 * The profiler (prof.c) sees every large block: pmi_large_malloc and
 * pmi_large_realloc wrap the allocating paths, free forgets a sampled one.
 *
 * ---- The secure library (issue 9; docs/security.md) ----------------------
 * Every secure large block has a mapping of its own (regions pack spans
 * back to back, and a freed span's memory is reused at once), laid out
 *     [header page][guard page][user data ...][guard page]
 * (LARGE_GAP = two pages from the header to the user pointer, and
 * LARGE_TAIL_GUARD = one page at the end, not counted in usable), so no
 * linear overflow or underflow from the block reaches its header or the
 * next mapping.  The guards are set before the chunk is marked.  secure.c
 * zeroes a freed block's pages and makes them PROT_NONE while it waits in
 * quarantine, then calls pmi_large_free, which unmaps it (no cache, no
 * thread cache).  secure.c never calls pmi_large_realloc (it moves pages
 * itself with mremap), and it clears `live` itself (one atomic exchange,
 * so two frees racing in two threads are told apart).  That is all of this
 * file's secure code: LARGE_GAP, LARGE_TAIL_GUARD, large_set_guards, the
 * routing in pmi_large_malloc and pmi_large_free, and two assertions.
 *
 * Locking: pmi_large_lock covers the regions and the registry of thread
 * caches; a thread cache's push and pop never take it (its flushes do), and
 * the header write, the mark and any zeroing happen after it is released.
 * Never calls malloc.
 */
#include "os.h"

#include <string.h>

pthread_mutex_t pmi_large_lock = PM_LOCK_INITIALIZER;

/* Blocks with a mapping of their own (alignment >= 1 MiB). */
static struct {
  size_t nlive, live_bytes;             /* relaxed atomics */
} large_own;

#define LARGE_OWN_MAPPING UINT32_MAX   /* pm_large_t.region of such a block */

/* ---- Secure layout (see the header) ---------------------------------------- */
#define LARGE_GAP (pm_config_secure ? 2 * PM_PAGE_SIZE : PM_PAGE_SIZE)   /* header .. user at a chunk base */
#define LARGE_TAIL_GUARD (pm_config_secure ? PM_PAGE_SIZE : 0)

/* The guard below hdr's user pointer and the one ending its mapping. */
static bool large_set_guards(const pm_large_t *hdr) {
  return pmi_os_guard((char *)hdr->user - PM_PAGE_SIZE, PM_PAGE_SIZE) &&
         pmi_os_guard(hdr->map_base + hdr->map_size - LARGE_TAIL_GUARD, LARGE_TAIL_GUARD);
}

static void large_own_account(ptrdiff_t nblocks, ptrdiff_t bytes) {
  pm_atomic_add_relaxed(&large_own.nlive, (size_t)nblocks);
  pm_atomic_add_relaxed(&large_own.live_bytes, (size_t)bytes);
  pmi_counters_mapped(bytes);
}

/* Marks the chunk of hdr's user pointer with the part of it the block
 * covers.  Cannot fail for region blocks (their leaves exist); false
 * (ENOMEM) only if the chunk map could not grow for a mapping of its own. */
static bool large_mark(const pm_large_t *hdr) {
  char *chunk = pmi_chunk_base(hdr->user);
  size_t covered = (size_t)(hdr->map_base + hdr->map_size - chunk);
  if (covered > PM_CHUNK_SIZE) covered = PM_CHUNK_SIZE;
  unsigned kind = chunk == hdr->user ? PM_CHUNK_LARGE_AT_BASE : PM_CHUNK_LARGE;
  return pmi_pagemap_set(chunk, kind, covered);
}

static void large_unmark(const void *user) {
  pmi_pagemap_set(pmi_chunk_base(user), PM_CHUNK_FOREIGN, 0);
}

/* Writes the header of a live block at user in [base, base + map_size). */
static pm_large_t *large_header_init(char *base, size_t map_size, char *user, size_t alignment, uint32_t region) {
  pm_large_t *hdr = (pm_large_t *)(((uintptr_t)user & PM_CHUNK_MASK) == 0 ? user - LARGE_GAP : base);
  hdr->magic = PM_LARGE_MAGIC ^ (uintptr_t)user;
  hdr->user = user;
  hdr->map_base = base;
  hdr->map_size = map_size;
  hdr->usable = (size_t)(base + map_size - LARGE_TAIL_GUARD - user);
  hdr->alignment = alignment;
  hdr->live = 1;
  hdr->sampled = 0;
  hdr->region = region;
  return hdr;
}

static size_t large_offset(size_t alignment) { return alignment <= PM_PAGE_SIZE ? LARGE_GAP : alignment; }

/* The block's extent from its base: whole 16 KiB units, as the chunk map
 * records it.  usable_size is map_size - offset; the rest of the span's
 * last chunk belongs to the block's span but is never handed out.  A
 * request of 0 bytes (aligned_alloc(1 << 18, 0)) still covers one byte:
 * otherwise an offset that is a multiple of the unit would put the user
 * pointer at the end of the extent, outside what the chunk map marks. */
static size_t large_map_size(size_t offset, size_t size) {
  size_t bytes = size == 0 ? 1 : size;
  return pm_align_up(offset + bytes + LARGE_TAIL_GUARD, PM_PAGEMAP_EXTENT_UNIT);   /* offset >= a page */
}

static size_t large_nchunks(size_t map_size) { return (map_size + PM_CHUNK_SIZE - 1) >> PM_CHUNK_SHIFT; }

/* Runs a decay epoch when one is due; the caller holds pmi_large_lock.
 * Every region operation passes here, so decay needs no housekeeping tick
 * in programs that only allocate large blocks. */
static void large_tick_locked(uint64_t now) { pmi_large_region_decay(now, false); }

/* Drops pmi_large_lock after an operation that may have released a region
 * (large_tick_locked, decay): the region is unmapped here, unlocked. */
static void large_unlock(void) {
  pthread_mutex_unlock(&pmi_large_lock);
  pmi_large_region_unmap_retired();
}

/* ---- Blocks with a mapping of their own ------------------------------------ */
/* Aligned to 1 MiB or more, grown by realloc out of a region (below), or of
 * more than a chunk when no region can be reserved. */
static void *large_own_malloc(size_t size, size_t alignment) {
  size_t offset = large_offset(alignment), map_size = large_map_size(offset, size);
  char *base = pmi_os_map(map_size, alignment < PM_CHUNK_SIZE ? PM_CHUNK_SIZE : alignment);
  if (base == NULL) return NULL;
  pm_large_t *hdr = large_header_init(base, map_size, base + offset, alignment, LARGE_OWN_MAPPING);
  if ((pm_config_secure && !large_set_guards(hdr)) || !large_mark(hdr)) {   /* before the pointer escapes */
    pmi_os_unmap(base, map_size);
    return NULL;
  }
  large_own_account(1, (ptrdiff_t)map_size);
  return hdr->user;                       /* fresh mapping: already zero */
}

static void large_own_free(pm_large_t *hdr) {
  char *base = hdr->map_base;
  size_t size = hdr->map_size;
  large_own_account(-1, -(ptrdiff_t)size);
  large_unmark(hdr->user);                /* hdr is inside the mapping */
  pmi_os_unmap(base, size);
}

/* ---- malloc ----------------------------------------------------------------- */
/* A one-chunk block from this thread's cache for a request of another
 * extent, or for calloc. */
static void *large_from_tcache(pm_large_t *hdr, size_t size, bool zero) {
  size_t map_size = large_map_size(PM_PAGE_SIZE, size);
  if (map_size != hdr->map_size) {        /* a new extent: re-mark before it escapes */
    hdr->map_size = map_size;
    hdr->usable = map_size - PM_PAGE_SIZE;
    large_mark(hdr);
  }
  hdr->live = 1;
  if (zero) memset(hdr->user, 0, size);
  return hdr->user;
}

PM_NOINLINE static void *large_malloc_slow(size_t size, size_t alignment, bool zero) {
  if (alignment >= PM_CHUNK_SIZE) return large_own_malloc(size, alignment);
  if (alignment <= PM_PAGE_SIZE && size <= PM_CHUNK_SIZE - PM_PAGE_SIZE) {
    pm_large_t *hdr = pmi_large_tcache_pop();
    if (hdr != NULL) return large_from_tcache(hdr, size, zero);
  }
  size_t offset = large_offset(alignment), map_size = large_map_size(offset, size);
  size_t nchunks = large_nchunks(map_size);
  uint64_t now = pmi_prim_now_ns();
  pm_lspan_t span;
  pthread_mutex_lock(&pmi_large_lock);
  large_tick_locked(now);
  bool ok = pmi_large_region_take(nchunks, &span);
  large_unlock();
  /* No region could be reserved (an address-space limit): a block of more
   * than a chunk gets a mapping of its own, which wastes no address space
   * on the rest of its last chunk (the region code already tried a region
   * of exactly one chunk for the others). */
  if (!ok) return nchunks > 1 ? large_own_malloc(size, alignment) : NULL;
  pm_large_t *hdr = large_header_init(span.base, map_size, span.base + offset, alignment, span.region);
  large_mark(hdr);                        /* the region's leaves exist: cannot fail */
  if (zero && !span.zero) memset(hdr->user, 0, size);
  return hdr->user;
}

/* The fast path: the block on top of this thread's cache has the extent
 * this request needs (a malloc/free loop of one size), so it only changes
 * hands; anything else goes out of line. */
static inline void *large_malloc(size_t size, size_t alignment, bool zero) {
  pm_assert(size <= PM_LARGE_MAX && alignment <= PM_LARGE_MAX_ALIGN);
  if (pm_config_secure) return large_own_malloc(size, alignment);
  pm_large_tcache_t *tc = pmi_large_tcache_tls;
  if (pm_likely(tc != NULL && tc->n != 0 && alignment <= PM_PAGE_SIZE && !zero)) {
    pm_large_t *hdr = tc->slot[tc->n - 1];
    if (pm_likely(hdr->map_size == large_map_size(PM_PAGE_SIZE, size))) {
      pmi_large_tcache_pop();
      hdr->live = 1;
      return hdr->user;
    }
  }
  return large_malloc_slow(size, alignment, zero);
}

void *pmi_large_malloc(size_t size, size_t alignment, bool zero) {
  void *user = large_malloc(size, alignment, zero);
  if (pm_unlikely(pmi_prof_on) && user != NULL) pmi_prof_large_malloc(user);
  return user;
}

pm_large_t *pmi_large_header(const void *p, unsigned kind) {
  uintptr_t u = (uintptr_t)p, chunk = (uintptr_t)pmi_chunk_base(p);
  if ((u & (PM_PAGE_SIZE - 1)) != 0) return NULL;
  pm_large_t *hdr;
  if (kind == PM_CHUNK_LARGE && u != chunk) hdr = (pm_large_t *)chunk;
  else if (kind == PM_CHUNK_LARGE_AT_BASE && u == chunk) hdr = (pm_large_t *)(u - LARGE_GAP);
  else return NULL;
  return hdr->magic == (PM_LARGE_MAGIC ^ u) && hdr->user == p ? hdr : NULL;
}

/* ---- free ------------------------------------------------------------------- */
PM_NORETURN PM_COLD static void large_corrupt(const pm_large_t *hdr, const char *what) {
  pmi_fatal("invalid %s of %p (its large block header does not match its region)", what, hdr->user);
}

/* Secure: every large block has a mapping of its own (see the header), so
 * a header naming a region was forged. */
void pmi_large_check_own(const pm_large_t *hdr, const char *what) {
  if (pm_unlikely(hdr->region != LARGE_OWN_MAPPING)) large_corrupt(hdr, what);
}

/* Returns region spans whose headers already say live == 0 (the caller
 * wrote it before the span could be reused).  Also the thread cache's flush.
 * The span is named by where the header is (its first chunk) and the
 * region index, which must agree with the region's bitmaps: map_base and
 * map_size are never trusted for this. */
void pmi_large_give_locked(pm_large_t *hdr) {
  if (pmi_large_region_give(hdr->region, (char *)hdr) == 0) large_corrupt(hdr, "free");
}

PM_NOINLINE static void large_free_slow(pm_large_t *hdr) {
  if (hdr->region == LARGE_OWN_MAPPING) {
    large_own_free(hdr);
    return;
  }
  hdr->live = 0;                          /* before the span can be taken again */
  uint64_t now = pmi_prim_now_ns();
  pthread_mutex_lock(&pmi_large_lock);
  large_tick_locked(now);
  pmi_large_give_locked(hdr);
  large_unlock();
}

/* One-chunk region blocks go to the thread's cache; a mapping of its own
 * never has map_size <= PM_CHUNK_SIZE (large_own_realloc), and one aligned
 * to 1 MiB or more fails the alignment test anyway. */
void pmi_large_free(pm_large_t *hdr) {
  pm_assert(hdr->live == 1 || pm_config_secure);   /* secure.c cleared it at the free */
  if (pm_unlikely(hdr->sampled)) pmi_prof_large_free(hdr);
  if (pm_config_secure) {
    pm_assert(hdr->region == LARGE_OWN_MAPPING);
    large_own_free(hdr);
    return;
  }
  pm_assert(hdr->region != LARGE_OWN_MAPPING || hdr->map_size > PM_CHUNK_SIZE);
  if (pm_likely(hdr->map_size <= PM_CHUNK_SIZE && hdr->alignment <= PM_PAGE_SIZE) && pmi_large_tcache_push(hdr))
    return;
  large_free_slow(hdr);
}

/* ---- realloc ---------------------------------------------------------------- */
/* A region block that has to move and will span at least this many chunks
 * moves (once) into a mapping of its own, which from then on grows,
 * shrinks and moves with mremap, without copying: a buffer grown by
 * doubling would otherwise be copied at every step it cannot grow in place
 * (docs/design.md, "Large blocks").  The move itself takes the pages along
 * (large_region_move_out); only a kernel before Linux 5.7 copies. */
#define LARGE_MOVE_OUT_CHUNKS 32

/* Moves a region block that has to grow out of its region into a mapping
 * of its own of the new size, without copying: its pages leave the region
 * for a mapping of exactly their size (pmi_os_move_pages_to: the span left
 * behind holds no memory), then move with mremap onto a chunk-aligned
 * mapping of the new size, where they form one mapping that later reallocs
 * can grow and move again (moved straight onto the bigger mapping, they
 * would stay a separate mapping of the kernel's, which mremap cannot grow
 * with its neighbour).  If that second move fails, the pages are copied
 * back into the span, which is still mapped and still the block's:
 * realloc's NULL leaves the old block as it was.  Chunk-map order: the
 * target's leaf exists before the move; the new block is marked before it
 * escapes; the old span's marks go with its purge.  NULL (nothing changed)
 * when the kernel cannot move pages (before Linux 5.7) or the OS refuses. */
static void *large_region_move_out(pm_large_t *hdr, size_t size) {
  if (!pmi_os_can_move_pages()) return NULL;
  char *base = (char *)hdr, *user = hdr->user;   /* read before the move empties them */
  size_t offset = (size_t)(user - base), old_size = pm_align_up(hdr->map_size, PM_PAGE_SIZE);
  size_t alignment = hdr->alignment, new_size = large_map_size(offset, size);
  uint32_t region = hdr->region;
  pm_assert(region != LARGE_OWN_MAPPING && alignment < PM_CHUNK_SIZE && old_size < new_size);
  char *target = pmi_os_map(new_size, PM_CHUNK_SIZE);
  if (target == NULL) return NULL;
  if (!pmi_pagemap_prepare(target)) {
    pmi_os_unmap(target, new_size);
    return NULL;
  }
  char *held = pmi_os_map(old_size, PM_PAGE_SIZE);
  if (held == NULL) {
    pmi_os_unmap(target, new_size);
    return NULL;
  }
  if (!pmi_os_move_pages_to(base, old_size, held)) {   /* held is lost, the block intact */
    pmi_os_unmap(target, new_size);
    return NULL;
  }
  if (!pmi_os_move_to(held, old_size, new_size, target)) {   /* target is lost, held is intact */
    memcpy(base, held, old_size);
    pmi_os_unmap(held, old_size);
    return NULL;
  }
  pm_large_t *moved = large_header_init(target, new_size, target + offset, alignment, LARGE_OWN_MAPPING);
  large_mark(moved);                       /* its leaf exists: cannot fail */
  large_own_account(1, (ptrdiff_t)new_size);
  uint64_t now = pmi_prim_now_ns();
  pthread_mutex_lock(&pmi_large_lock);
  large_tick_locked(now);
  size_t given = pmi_large_region_give_moved(region, base);
  large_unlock();
  pm_assert(given != 0);                   /* the span was checked live under the lock */
  return moved->user;
}

static void *large_realloc_copy(pm_large_t *hdr, size_t size, bool own) {
  void *q = own ? large_own_malloc(size, PM_ALIGN) : large_malloc(size, PM_ALIGN, false);
  if (q == NULL) return NULL;
  memcpy(q, hdr->user, size < hdr->usable ? size : hdr->usable);
  pmi_large_free(hdr);
  return q;
}

/* Moves the pages of a mapping of its own to a fresh chunk-aligned range
 * of new_size bytes, without copying (mremap).  The new chunk's map leaf
 * is made to exist first, so marking it cannot fail; the old mark is
 * cleared before the old range becomes free; on failure the old range
 * never stopped being ours and is marked again.  NULL: nothing changed. */
static pm_large_t *large_own_move(pm_large_t *hdr, size_t new_size) {
  char *base = hdr->map_base;
  size_t offset = (size_t)((char *)hdr->user - base), old_size = hdr->map_size, alignment = hdr->alignment;
  char *target = pmi_os_map(new_size, PM_CHUNK_SIZE);
  if (target == NULL) return NULL;
  if (!pmi_pagemap_prepare(target)) {
    pmi_os_unmap(target, new_size);
    return NULL;
  }
  large_unmark(hdr->user);
  if (!pmi_os_move_to(base, old_size, new_size, target)) {
    large_mark(hdr);
    return NULL;
  }
  pm_large_t *moved = large_header_init(target, new_size, target + offset, alignment, LARGE_OWN_MAPPING);
  large_mark(moved);
  return moved;
}

/* A mapping of its own below 1 MiB alignment grows and shrinks with
 * mremap, as large blocks did before regions: shrink: narrow the mark,
 * then mremap in place; grow: mremap in place, then widen the mark; else
 * move the pages; if even that fails, copy. */
static void *large_own_realloc(pm_large_t *hdr, size_t size) {
  char *user = hdr->user, *base = hdr->map_base;
  size_t offset = (size_t)(user - base), old_size = hdr->map_size, new_size = large_map_size(offset, size);
  /* A mapping of its own always extends past its first chunk, so that it
   * can never pass for a one-chunk region block (the thread cache's test in
   * pmi_large_free): one shrunk that far goes back to a region. */
  if (new_size <= PM_CHUNK_SIZE) return large_realloc_copy(hdr, size, false);
  if (new_size <= old_size && old_size - new_size <= new_size / 4) {   /* fits */
    hdr->usable = old_size - offset;
    return user;
  }
  if (new_size < old_size) {
    hdr->map_size = new_size;
    large_mark(hdr);
    if (!pmi_os_resize_in_place(base, old_size, new_size)) {
      hdr->map_size = old_size;
      large_mark(hdr);
      return user;                            /* keep the bigger mapping */
    }
    hdr->usable = new_size - offset;
  } else if (pmi_os_resize_in_place(base, old_size, new_size)) {
    hdr->map_size = new_size;
    hdr->usable = new_size - offset;
    large_mark(hdr);                          /* same chunk: its leaf exists */
  } else {
    pm_large_t *moved = large_own_move(hdr, new_size);
    if (moved == NULL) return large_realloc_copy(hdr, size, false);
    user = moved->user;
  }
  large_own_account(0, (ptrdiff_t)new_size - (ptrdiff_t)old_size);
  return user;
}

/* PM_MEDIUM_MAX < size <= PM_LARGE_MAX.  Returns the (possibly moved)
 * block, or NULL with the old block untouched.  A region block grows into
 * the free chunks after it, or shrinks by giving its tail chunks back, in
 * place; otherwise it is copied: a big one into a mapping of its own. */
static void *large_realloc(pm_large_t *hdr, size_t size) {
  pm_assert(hdr->live == 1 && size <= PM_LARGE_MAX && !pm_config_secure);
  if (hdr->region == LARGE_OWN_MAPPING) {
    if (hdr->alignment < PM_CHUNK_SIZE) return large_own_realloc(hdr, size);
    if (size <= hdr->usable && size >= hdr->usable / 2) return hdr->user;
    return large_realloc_copy(hdr, size, false);   /* rare: keep it simple */
  }
  char *user = hdr->user, *base = (char *)hdr;   /* the span's first chunk */
  size_t offset = (size_t)(user - base), map_size = large_map_size(offset, size);
  size_t n = large_nchunks(map_size);
  uint64_t now = pmi_prim_now_ns();
  pthread_mutex_lock(&pmi_large_lock);       /* the span's length is the region's word */
  large_tick_locked(now);
  size_t got = pmi_large_region_resize(hdr->region, base, n);
  large_unlock();
  if (got == 0) large_corrupt(hdr, "realloc");
  if (got == n) {                             /* in place (or the same span) */
    hdr->map_size = map_size;
    hdr->usable = map_size - offset;
    large_mark(hdr);
    return user;
  }
  /* got is the span's unchanged length: what the copy reads must lie in it
   * (a header is never trusted for what it may touch) */
  if (large_nchunks(hdr->map_size) > got) large_corrupt(hdr, "realloc");
  if (n < LARGE_MOVE_OUT_CHUNKS) return large_realloc_copy(hdr, size, false);
  void *q = large_region_move_out(hdr, size);
  if (q == NULL) q = large_realloc_copy(hdr, size, true);
  return q != NULL ? q : large_realloc_copy(hdr, size, false);
}

/* For the profiler a resized block is a new allocation: the old sample (if
 * any) is forgotten and the new size gets its own draw; on failure the
 * block is no longer sampled (a negligible bias). */
void *pmi_large_realloc(pm_large_t *hdr, size_t size) {
  /* The same last extent unit: nothing to map, mark or count, so no lock
   * (a buffer grown a few bytes at a time lands here 1023 times in 1024). */
  if (pm_likely(!hdr->sampled) && size <= hdr->usable && hdr->usable - size < PM_PAGEMAP_EXTENT_UNIT) return hdr->user;
  if (pm_unlikely(hdr->sampled)) pmi_prof_large_free(hdr);
  void *user = large_realloc(hdr, size);
  if (pm_unlikely(pmi_prof_on) && user != NULL) pmi_prof_large_malloc(user);
  return user;
}

/* ---- Decay, statistics and fork -------------------------------------------- */
/* Housekeeping calls this every PM_HOUSEKEEP_EVERY slow paths of every
 * thread: the lock is taken only when an epoch is due. */
bool pmi_large_decay(uint64_t now_ns, bool force) {
  bool released = pmi_large_tcache_decay(now_ns, force);
  if (!force && !pmi_large_region_due(now_ns)) return released;
  pthread_mutex_lock(&pmi_large_lock);
  released |= pmi_large_region_decay(now_ns, force);
  large_unlock();
  return released;
}

size_t pmi_large_reserved(void) {
  pthread_mutex_lock(&pmi_large_lock);
  size_t n = pmi_large_region_reserved();
  pthread_mutex_unlock(&pmi_large_lock);
  return n;
}

void pmi_large_stats(pm_stats_t *out) {
  size_t nlive, live_bytes, dirty_bytes;
  pthread_mutex_lock(&pmi_large_lock);
  pmi_large_region_stats(&nlive, &live_bytes, &dirty_bytes);
  size_t ncached = pmi_large_tcache_count_locked();   /* spans held by thread caches */
  pthread_mutex_unlock(&pmi_large_lock);
  out->nlarge = nlive - ncached + pm_atomic_load_relaxed(&large_own.nlive);
  out->large_allocated = live_bytes - (ncached << PM_CHUNK_SHIFT) +
                         pm_atomic_load_relaxed(&large_own.live_bytes);
  out->large_cached = dirty_bytes + (ncached << PM_CHUNK_SHIFT);
}

void pmi_large_fork_prepare(void) { pthread_mutex_lock(&pmi_large_lock); }
void pmi_large_fork_parent(void) { pthread_mutex_unlock(&pmi_large_lock); }
void pmi_large_fork_child(void) {
  pthread_mutex_unlock(&pmi_large_lock);
  pmi_large_tcache_fork_child();
}
