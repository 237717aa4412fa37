/* SPDX-License-Identifier: MIT */
/* secure.c — the secure library's entry points (issue 9; docs/security.md).
 *
 * libpoolmalloc-secure.so is built from the same sources with PM_SECURE=1,
 * and alloc.c's entry points tail-call these functions when
 * pm_config_secure: in libpoolmalloc.so this file is never reached.  What
 * each path adds to the default one:
 *
 *   malloc   n + PM_TAG_SIZE picks the class, so every block has room for
 *            its tail canary; malloc(0) goes to zero.c.  The pop (pool.c)
 *            authenticates the free-list link, flips the block's allocated
 *            bit and checks that the block is still zero; then the canary
 *            is written.  The block comes out zeroed, so calloc is malloc.
 *   free     the range checks of the default free, then the allocated bit
 *            checked and flipped (pool.c: every double or invalid free dies
 *            here, from any thread), the tail canary checked (an overflow
 *            dies here), the block zeroed, and the block quarantined
 *            (heap.c) instead of pushed on a free list.
 *   large    the same tail canary, at the end of the request; `live`
 *            cleared with one atomic exchange; the pages decommitted
 *            (PROT_NONE, dropped) while the block waits in quarantine, so a
 *            use after free faults and the next user gets zero pages.
 *   realloc  in place when the class still fits (the canary is rewritten),
 *            otherwise malloc + copy + free; large blocks are always copied
 *            (mremap cannot move a mapping that guard pages split).
 *
 * ---- Tail canaries -------------------------------------------------------
 * No header per block, so the canary also records the size asked for.  For
 * a request of n bytes in a small or medium block of bs bytes (slack =
 * bs - n >= PM_TAG_SIZE), with c = block address * a secret odd key of the
 * tail canaries' own (pmi_keys.tail) and P = c | 0x8080808080808080:
 *
 *   [0, n)                      the program's bytes
 *   [n, min(n + 64, bs - 4))    pattern: byte k of the block holds byte
 *                               k % 8 of P (never 0, so a stray string
 *                               terminator is caught)
 *   ...                         zero
 *   [bs - 4, bs)                tag = slack ^ high32(c)
 *
 * free, realloc, malloc_usable_size and free_sized decode n from the tag
 * and compare the pattern, a word at a time: any linear overflow changes
 * byte n, and any write to the 64 bytes after n or to the tag is seen.  Like every canary it stops blind
 * overwrites, not an attacker who can read the block first (whoever reads
 * one block's pattern can compute its neighbours'; the free-list keys are
 * separate).  Large blocks keep a 64-bit tag in the last word of their
 * usable pages and pattern the 64 bytes after n.
 *
 * Never calls malloc; every detection is one line naming the address, then
 * abort (pmi_fatal).
 */
#define _GNU_SOURCE 1
#include "os.h"
#include "sizeclass.h"

#include <errno.h>
#include <string.h>

#define SECURE_PATTERN_BITS 0x8080808080808080ull
#define SECURE_LARGE_TAG 8   /* bytes of a large block's tag */

/* ---- Misuse ------------------------------------------------------------- */
PM_NOINLINE PM_COLD PM_NORETURN static void secure_invalid(const char *what, const void *p, unsigned kind) {
  if (kind == PM_CHUNK_FOREIGN) pmi_fatal("invalid %s of %p (not allocated by poolmalloc)", what, p);
  pmi_fatal("invalid %s of %p (not the start of a block)", what, p);
}

PM_NOINLINE PM_COLD PM_NORETURN static void secure_overflow(const void *p, size_t n, size_t at, size_t bs) {
  if (at == SIZE_MAX)
    pmi_fatal("heap overflow of %p: the canary at the end of its %zu-byte block was overwritten", p, bs);
  pmi_fatal("heap overflow of %p: byte %zu past its %zu bytes was overwritten", p, at, n);
}

/* ---- Tail canaries -------------------------------------------------------- */
/* Words of blocks are read and written through these (no memcpy: the
 * secure library's own memcpy calls into this file, see secure_check_copy). */
typedef uint64_t secure_word_t __attribute__((may_alias));
typedef uint32_t secure_tag_t __attribute__((may_alias));

static size_t secure_min(size_t a, size_t b) { return a < b ? a : b; }

/* The pattern covers the SECURE_ZONE bytes after n (all of the slack in
 * blocks up to 64 bytes): any linear overflow crosses byte n, and the rest
 * of the slack is zero as the block came out, then zeroed at its free. */
#define SECURE_ZONE 64

/* The words of the zone [n, end) (end > n): first..last, and the masks of
 * its bytes in the first and last word. */
typedef struct secure_zone_s {
  size_t first, last;
  uint64_t first_mask, last_mask;
} secure_zone_t;

static secure_zone_t secure_zone(size_t n, size_t end) {
  secure_zone_t z = {n / 8, (end - 1) / 8, ~(((uint64_t)1 << (8 * (n % 8))) - 1),
                     end % 8 ? ((uint64_t)1 << (8 * (end % 8))) - 1 : ~(uint64_t)0};
  if (z.first == z.last) z.first_mask &= z.last_mask;
  return z;
}

/* The tail canary of block b: one multiply by a key of its own (so a
 * pattern read through an overflowing read says nothing of the free-list
 * keys); the tag is keyed by its high half. */
static uint64_t secure_tail_word(const void *b) { return (uint64_t)(uintptr_t)b * pmi_keys.tail; }
static uint32_t secure_tag_key(uint64_t c) { return (uint32_t)(c >> 32); }

/* Block b of bs bytes now holds a request of n bytes (its slack reads as
 * zero): the pattern fills the zone after n, word by word (the bytes before
 * n in the first word are kept), and the tag ends the block. */
/* Most blocks have at most 16 bytes of slack: then the pattern and the tag
 * are the last two words of the block, and the masks of the bytes before n
 * (n_off of them, 0..12) are all there is to it. */
static uint64_t secure_keep0(size_t n_off) { return n_off >= 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * n_off)) - 1; }
static uint64_t secure_keep1(size_t n_off) { return n_off > 8 ? ((uint64_t)1 << (8 * (n_off - 8))) - 1 : 0; }

static void secure_tag(char *b, size_t bs, size_t n) {
  secure_word_t *w = (secure_word_t *)b;
  uint64_t c = secure_tail_word(b), pattern = c | SECURE_PATTERN_BITS;
  size_t end = secure_min(bs - PM_TAG_SIZE, n + SECURE_ZONE);
  pm_assert(bs - n >= PM_TAG_SIZE);
  if (pm_likely(bs - n <= 16)) {
    secure_word_t *last = (secure_word_t *)(b + bs - 16);
    size_t n_off = n - (bs - 16);
    uint64_t keep0 = secure_keep0(n_off), keep1 = secure_keep1(n_off);
    uint64_t tagged = (pattern & 0xffffffffu) | (uint64_t)((uint32_t)(bs - n) ^ secure_tag_key(c)) << 32;
    last[0] = (last[0] & keep0) | (pattern & ~keep0);
    last[1] = (last[1] & keep1) | (tagged & ~keep1);
    return;
  }
  if (end > n) {
    secure_zone_t z = secure_zone(n, end);
    w[z.first] = (w[z.first] & ~z.first_mask) | (pattern & z.first_mask);
    if (z.last != z.first) {
      for (size_t j = z.first + 1; j < z.last; j++) w[j] = pattern;
      w[z.last] = (w[z.last] & ~z.last_mask) | (pattern & z.last_mask);
    }
  }
  *(secure_tag_t *)(b + bs - PM_TAG_SIZE) = (uint32_t)(bs - n) ^ secure_tag_key(c);
}

/* The first byte past n that differs from what block b should hold. */
PM_NOINLINE PM_COLD PM_NORETURN static void secure_tail_fatal(const char *b, size_t bs, size_t n) {
  uint64_t pattern = secure_tail_word(b) | SECURE_PATTERN_BITS;
  size_t at = n, end = secure_min(bs - PM_TAG_SIZE, n + SECURE_ZONE);
  while (at < end && (unsigned char)b[at] == (unsigned char)(pattern >> (8 * (at % 8)))) at++;
  secure_overflow(b, n, at - n, bs);
}

/* The size requested for block b of bs bytes, after checking its tag and
 * the pattern zone; fatal on an overflow. */
static size_t secure_check_tail(const char *b, size_t bs) {
  const secure_word_t *w = (const secure_word_t *)b;
  uint64_t c = secure_tail_word(b), pattern = c | SECURE_PATTERN_BITS;
  size_t slack = *(const secure_tag_t *)(b + bs - PM_TAG_SIZE) ^ secure_tag_key(c);
  if (pm_unlikely(slack < PM_TAG_SIZE || slack > bs)) secure_overflow(b, 0, SIZE_MAX, bs);
  size_t n = bs - slack, end = secure_min(bs - PM_TAG_SIZE, n + SECURE_ZONE);
  if (pm_likely(slack <= 16)) {
    const secure_word_t *last = (const secure_word_t *)(b + bs - 16);
    size_t n_off = n - (bs - 16);
    uint64_t diff = ((last[0] ^ pattern) & ~secure_keep0(n_off)) |
                    ((last[1] ^ pattern) & 0xffffffffu & ~secure_keep1(n_off));
    if (pm_unlikely(diff != 0)) secure_tail_fatal(b, bs, n);
    return n;
  }
  if (end > n) {
    secure_zone_t z = secure_zone(n, end);
    uint64_t diff = (w[z.first] ^ pattern) & z.first_mask;
    if (z.last != z.first) {
      for (size_t j = z.first + 1; j < z.last; j++) diff |= w[j] ^ pattern;
      diff |= (w[z.last] ^ pattern) & z.last_mask;
    }
    if (pm_unlikely(diff != 0)) secure_tail_fatal(b, bs, n);
  }
  return n;
}

/* Large blocks: the tag is the last word of the usable pages, and the
 * pattern fills the (up to) 64 bytes after n; the pages past it were zero
 * when handed out, and no linear overflow reaches them without crossing n. */
#define SECURE_LARGE_ZONE 64

static void secure_large_tag(pm_large_t *hdr, size_t n) {
  char *u = hdr->user;
  uint64_t c = secure_tail_word(u), pattern = c | SECURE_PATTERN_BITS, slack = hdr->usable - n;
  size_t zone = secure_min(SECURE_LARGE_ZONE, slack - SECURE_LARGE_TAG);
  for (size_t k = n; k < n + zone; k++) u[k] = (char)(pattern >> (8 * (k % 8)));
  *(secure_word_t *)(u + hdr->usable - SECURE_LARGE_TAG) = slack ^ (c * pmi_keys.mul0);   /* keyed by a second product */
}

/* Clears what secure_large_tag wrote for a request of n bytes. */
static void secure_large_untag(char *u, size_t usable, size_t n) {
  memset(u + n, 0, secure_min(SECURE_LARGE_ZONE, usable - SECURE_LARGE_TAG - n));
  memset(u + usable - SECURE_LARGE_TAG, 0, SECURE_LARGE_TAG);
}

static size_t secure_large_check_tail(const pm_large_t *hdr) {
  const char *u = hdr->user;
  size_t usable = hdr->usable;
  uint64_t c = secure_tail_word(u), pattern = c | SECURE_PATTERN_BITS;
  uint64_t slack = *(const secure_word_t *)(u + usable - SECURE_LARGE_TAG) ^ (c * pmi_keys.mul0);
  if (pm_unlikely(slack < SECURE_LARGE_TAG || slack > usable)) secure_overflow(u, 0, SIZE_MAX, usable);
  size_t n = usable - slack, zone = secure_min(SECURE_LARGE_ZONE, slack - SECURE_LARGE_TAG);
  for (size_t k = n; k < n + zone; k++)
    if (pm_unlikely((unsigned char)u[k] != (unsigned char)(pattern >> (8 * (k % 8))))) secure_overflow(u, n, k - n, usable);
  return n;
}

/* ---- Zero on free ------------------------------------------------------------ */
/* Blocks of up to 256 bytes are cleared inline with 16-byte stores: a call
 * to memset costs more than the stores, and so does `rep stos`, which GCC
 * makes of this loop unless told not to (it was half of free's time). */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static void secure_zero(void *p, size_t bs) {
  if (bs > 256) {
    memset(p, 0, bs);
    return;
  }
  pm_v2_t *v = p, *end = (pm_v2_t *)((char *)p + bs), zero = {0, 0};
  do *v++ = zero;
  while (v < end);
}

/* ---- malloc ---------------------------------------------------------------- */
/* A block of class cls for a request of n bytes, tagged; NULL (ENOMEM). */
static void *secure_from_class(unsigned cls, size_t n) {
  pm_heap_t *h = pmi_heap_tls;
  pm_pool_t *pool = h->pools[cls];
  void *b;
  if (pm_likely(pool->free != NULL)) {
    b = pmi_pool_pop(pool);
  } else if (pool->local_free != NULL) {
    pmi_pool_take_local(pool);
    b = pmi_pool_pop(pool);
  } else if ((b = pmi_heap_malloc_slow(h, cls)) == NULL) {
    return NULL;
  }
  secure_tag(b, pmi_class_info[cls].block_size, n);
  return b;
}

static void *secure_enomem(void) {
  errno = ENOMEM;
  return NULL;
}

/* A large block of n bytes aligned to alignment, tagged; NULL (ENOMEM).
 * As alloc.c's alloc_large: one reclaim and retry when the OS refuses. */
static void *secure_large(size_t n, size_t alignment) {
  if (n > PM_LARGE_MAX - SECURE_LARGE_TAG || alignment > PM_LARGE_MAX_ALIGN) return secure_enomem();
  void *p = pmi_large_malloc(n + SECURE_LARGE_TAG, alignment, false);
  if (p == NULL && (!pmi_heap_reclaim() || (p = pmi_large_malloc(n + SECURE_LARGE_TAG, alignment, false)) == NULL))
    return secure_enomem();
  secure_large_tag(pmi_large_header(p, pmi_pagemap_kind(p)), n);
  return p;
}

void *pmi_secure_malloc(size_t size) {
  if (pm_likely(size <= PM_SMALL_MAX - PM_TAG_SIZE)) {
    if (pm_unlikely(size == 0)) return pmi_zero_malloc();
    return secure_from_class((unsigned)pmi_small_class(size + PM_TAG_SIZE), size);
  }
  if (size <= PM_MEDIUM_MAX - PM_TAG_SIZE) return secure_from_class(pmi_medium_class(size + PM_TAG_SIZE), size);
  return secure_large(size, PM_ALIGN);
}

/* alignment > PM_ALIGN, a power of two (alloc.c checked).  Rounding
 * n + PM_TAG_SIZE up to the alignment picks a class whose blocks are all
 * aligned (docs/design.md, "Alignment"), with room for the tag. */
void *pmi_secure_aligned(size_t alignment, size_t size) {
  if (alignment <= PM_ALIGN) return pmi_secure_malloc(size);
  if (alignment <= PM_MEDIUM_MAX && size <= PM_MEDIUM_MAX) {
    size_t rounded = pm_align_up(size + PM_TAG_SIZE, alignment);
    if (rounded <= PM_MEDIUM_MAX) return secure_from_class(pmi_size_to_class(rounded), size);
  }
  return secure_large(size, alignment);
}

/* ---- Looking up a block ------------------------------------------------------ */
/* p is an arena pointer: its pool, after checking that p is the start of a
 * carved block of a pool in use (what: the operation, for the message). */
static pm_pool_t *secure_block_pool(const void *p, const char *what) {
  pm_pool_t *pool = pmi_arena_pool_of(p);
  if (pm_unlikely(pm_atomic_load_acquire(&pool->heap) == NULL)) secure_invalid(what, p, PM_CHUNK_FOREIGN);
  if (pm_unlikely(!pmi_pool_is_block(pool, p))) secure_invalid(what, p, PM_CHUNK_ARENA);
  return pool;
}

/* The header of large block p, live, for the operation what. */
static pm_large_t *secure_large_live(const void *p, unsigned kind, const char *what) {
  pm_large_t *hdr = pmi_large_header(p, kind);
  if (hdr == NULL) secure_invalid(what, p, kind);
  pmi_large_check_own(hdr, what);
  if (!pm_atomic_load_relaxed(&hdr->live)) pmi_fatal("%s of freed block %p", what, p);
  return hdr;
}

/* The size requested for p, handed out, for the operation what (realloc,
 * malloc_usable_size, free_sized); fatal on misuse or an overflow. */
static size_t secure_requested(const void *p, const char *what) {
  unsigned kind = pmi_pagemap_kind(p);
  if (kind == PM_CHUNK_ARENA) {
    pm_pool_t *pool = secure_block_pool(p, what);
    if (!pmi_pool_is_allocated(p)) pmi_fatal("%s of freed block %p", what, p);
    return secure_check_tail(p, pool->block_size);
  }
  if (kind == PM_CHUNK_FOREIGN) {
    if (!pmi_zero_owns(p)) secure_invalid(what, p, kind);
    pmi_zero_check_live(p, what);
    return 0;
  }
  return secure_large_check_tail(secure_large_live(p, kind, what));
}

/* ---- free ------------------------------------------------------------------ */
/* Large block hdr (live cleared) leaves its owner: zeroed, then PROT_NONE
 * in quarantine, so a use after free faults; when it leaves quarantine
 * large.c unmaps it (secure large blocks are never reused).  Only the
 * resident pages are cleared (mincore): the others read as zero already.
 * Pages moved away by realloc (gone) leave a hole, which is mapped over.
 * If the kernel refuses a guard (out of mappings), the block is unmapped
 * at once. */
static pm_heap_t *secure_heap(void);

static void secure_large_retire(pm_large_t *hdr, bool gone) {
  void *user = hdr->user;
  size_t usable = hdr->usable;
  size_t resident = 0;
  bool ok = true;
  if (gone) {
    if (!pmi_os_decommit(user, usable)) pmi_fatal("cannot map over the pages moved out of large block %p", user);
  } else {
    resident = pmi_os_zero_resident(user, usable);
    ok = pmi_os_guard(user, usable);
  }
  if (!ok) pmi_large_free(hdr);
  else pmi_heap_quarantine(secure_heap(), user, resident < UINT32_MAX ? resident : UINT32_MAX - 15, true);
}

/* The heap whose quarantine takes this thread's frees (made on first use,
 * as for a thread that only frees); NULL if it cannot be made. */
static pm_heap_t *secure_heap(void) {
  pm_heap_t *h = pmi_heap_tls;
  return h != &pmi_heap_empty ? h : pmi_heap_get();
}

PM_NOINLINE static void secure_free_other(void *p, unsigned kind) {
  if (p == NULL) return;
  if (kind == PM_CHUNK_FOREIGN) {
    if (pmi_zero_owns(p)) pmi_zero_free(p);
    else pmi_foreign_free(p);
    return;
  }
  pm_large_t *hdr = pmi_large_header(p, kind);
  if (hdr == NULL) secure_invalid("free", p, kind);
  pmi_large_check_own(hdr, "free");
  if (pm_atomic_exchange_acq_rel(&hdr->live, 0) == 0) pmi_fatal("double free of %p", p);
  secure_large_check_tail(hdr);
  secure_large_retire(hdr, false);
}

void pmi_secure_free(void *p) {
  if (pm_unlikely(pmi_pagemap_entry(p) != PM_CHUNK_ARENA)) return secure_free_other(p, pmi_pagemap_kind(p));
  pm_pool_t *pool = secure_block_pool(p, "free");
  pm_heap_t *h = secure_heap();
  bool local = pool->heap == h;
  pmi_pool_mark_free(pool, p, local);
  size_t bs = pool->block_size;
  secure_check_tail(p, bs);
  if (local) pmi_pool_check_neighbours(pool, p);
  if (bs < PM_SPARSE_MIN) secure_zero(p, bs);
  else bs = pm_align_up(pmi_os_zero_resident(p, bs), 16);   /* the pages in use; bytes in memory */
  pmi_heap_quarantine(h, p, bs, false);
}

/* ---- realloc, usable size, sized free ------------------------------------------ */
/* Large block hdr (requested old bytes, tail checked) to size bytes, still
 * large.  In place when it fits and keeps at least a quarter of the pages;
 * otherwise its pages move to a new block (mremap: nothing is copied, as in
 * the default library) and the old one is retired.  Either way the bytes
 * past the new size end up zero, then the canary is rewritten. */
static void *secure_large_realloc(pm_large_t *hdr, size_t old, size_t size) {
  char *u = hdr->user;
  size_t usable = hdr->usable;
  if (size + SECURE_LARGE_TAG <= usable && size >= usable / 4) {
    if (size < old) memset(u + size, 0, old - size);
    secure_large_untag(u, usable, old);
    secure_large_tag(hdr, size);
    return u;
  }
  if (size + SECURE_LARGE_TAG <= usable || size > PM_LARGE_MAX - SECURE_LARGE_TAG) {   /* shrink a lot: copy */
    void *q = size > PM_LARGE_MAX - SECURE_LARGE_TAG ? NULL : secure_large(size, PM_ALIGN);
    if (q == NULL) return secure_enomem();
    memmove(q, u, size);   /* (unchecked: see secure_check_copy) */
    pmi_secure_free(u);
    return q;
  }
  char *q = pmi_large_malloc(size + SECURE_LARGE_TAG, PM_ALIGN, false);
  if (q == NULL && (!pmi_heap_reclaim() || (q = pmi_large_malloc(size + SECURE_LARGE_TAG, PM_ALIGN, false)) == NULL))
    return secure_enomem();
  pm_large_t *qhdr = pmi_large_header(q, pmi_pagemap_kind(q));
  if (pmi_os_move_to(u, usable, usable, q)) {
    secure_large_untag(q, usable, old);
    if (pm_atomic_exchange_acq_rel(&hdr->live, 0) == 0) pmi_fatal("double free of %p", (void *)u);
    secure_large_retire(hdr, true);
  } else {                                /* the target may be gone: map it again, then copy */
    if (!pmi_os_decommit(q, usable) || !pmi_os_unguard(q, usable))
      pmi_fatal("cannot restore the pages of large block %p", (void *)q);
    memmove(q, u, old);
    pmi_secure_free(u);
  }
  secure_large_tag(qhdr, size);
  return q;
}

void *pmi_secure_realloc(void *p, size_t size) {
  if (p == NULL) return pmi_secure_malloc(size);
  if (size == 0) {                       /* glibc: free and return NULL */
    pmi_secure_free(p);
    return NULL;
  }
  size_t old = secure_requested(p, "realloc");
  unsigned kind = pmi_pagemap_kind(p);
  if (kind == PM_CHUNK_ARENA) {
    size_t bs = pmi_arena_pool_of(p)->block_size;
    if (size + PM_TAG_SIZE <= bs && (size + PM_TAG_SIZE >= bs / 2 || bs <= 64)) {   /* in place */
      size_t keep = secure_min(old, size);
      memset((char *)p + keep, 0, bs - keep);
      secure_tag(p, bs, size);
      return p;
    }
  } else if (kind != PM_CHUNK_FOREIGN && size > PM_MEDIUM_MAX - PM_TAG_SIZE) {
    return secure_large_realloc(pmi_large_header(p, kind), old, size);
  }
  void *q = pmi_secure_malloc(size);
  if (q == NULL) return NULL;
  memmove(q, p, secure_min(old, size));
  pmi_secure_free(p);
  return q;
}

size_t pmi_secure_usable_size(const void *p) {
  if (p == NULL) return 0;
  if (pmi_pagemap_kind(p) == PM_CHUNK_FOREIGN && !pmi_zero_owns(p)) {
    size_t n = pmi_foreign_usable_size(p);
    if (n == SIZE_MAX) secure_invalid("malloc_usable_size", p, PM_CHUNK_FOREIGN);
    return n;
  }
  return secure_requested(p, "malloc_usable_size");
}

/* ---- Bounds-checked memcpy ------------------------------------------------------ */
/* The secure library exports its own memcpy (override.c), as snmalloc's
 * guarded memcpy: a copy into or out of a block poolmalloc handed out must
 * stay inside the bytes that were requested, and the block must be in use.
 * [p, p + n) (n > 0) is checked when p lies in a pool block, a large
 * block's first chunk or a malloc(0) slot; other memory (stack, globals,
 * other mappings, the later chunks of a large block) is not poolmalloc's
 * to judge.  The tag gives the size requested without reading the pattern. */
PM_NOINLINE PM_COLD PM_NORETURN static void secure_copy_fatal(const char *block, const char *p, size_t n, size_t req,
                                                              bool write, bool freed) {
  if (freed)
    pmi_fatal("%s after free of %p: memcpy of %zu bytes %s it", write ? "write" : "read", (const void *)block, n,
              write ? "into" : "from");
  if (p < block)
    pmi_fatal("heap underflow of %p: memcpy of %zu bytes %s %zu bytes before it", (const void *)block, n,
              write ? "into" : "from", (size_t)(block - p));
  pmi_fatal("heap overflow of %p: memcpy of %zu bytes %s offset %zu of its %zu bytes", (const void *)block, n,
            write ? "into" : "from", (size_t)(p - block), req);
}

void pmi_secure_check_copy(const void *p, size_t n, bool write) {
  const char *c = p;
  unsigned kind = pmi_pagemap_kind(p);
  if (pm_likely(kind == PM_CHUNK_ARENA)) {
    const pm_pool_t *pool = pmi_arena_pool_of(p);
    uint64_t off = (uint64_t)(c - pool->start);
    if (pm_unlikely(pm_atomic_load_acquire(&pool->heap) == NULL || off >= pmi_pool_carved(pool)))
      pmi_fatal("invalid memcpy %s %p (not in a block poolmalloc handed out)", write ? "into" : "from", p);
    const char *b = pool->start + pmi_pool_block_index(pool, off) * pool->block_size;
    size_t bs = pool->block_size;
    if (pm_unlikely(!pmi_pool_is_allocated(b))) secure_copy_fatal(b, c, n, 0, write, true);
    size_t slack = *(const secure_tag_t *)(b + bs - PM_TAG_SIZE) ^ secure_tag_key(secure_tail_word(b));
    if (pm_unlikely(slack < PM_TAG_SIZE || slack > bs)) secure_overflow(b, 0, SIZE_MAX, bs);
    if (pm_unlikely((size_t)(c - b) + n > bs - slack || n > bs)) secure_copy_fatal(b, c, n, bs - slack, write, false);
    return;
  }
  if (kind == PM_CHUNK_FOREIGN) {
    if (pm_unlikely(pmi_zero_owns(p))) secure_copy_fatal((const char *)p, c, n, 0, write, false);
    return;
  }
  const char *chunk = pmi_chunk_base(p);
  const void *user = kind == PM_CHUNK_LARGE_AT_BASE ? chunk : ((const pm_large_t *)chunk)->user;
  const pm_large_t *hdr = pmi_large_header(user, kind);
  if (hdr == NULL) pmi_fatal("invalid memcpy %s %p (not in a block poolmalloc handed out)", write ? "into" : "from", p);
  if (!pm_atomic_load_relaxed(&hdr->live)) secure_copy_fatal(user, c, n, 0, write, true);
  size_t req = hdr->usable - (size_t)(*(const secure_word_t *)((const char *)user + hdr->usable - SECURE_LARGE_TAG) ^
                                      (secure_tail_word(user) * pmi_keys.mul0));
  if (c < (const char *)user || (size_t)(c - (const char *)user) + n > req || n > req)
    secure_copy_fatal(user, c, n, req, write, false);
}

void pmi_secure_check_size(const void *p, size_t size, const char *what) {
  size_t n = secure_requested(p, what);
  if (size != n) pmi_fatal("%s of %p with size %zu but it was allocated with %zu bytes", what, p, size, n);
}
