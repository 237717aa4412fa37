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
 * bs - n >= PM_TAG_SIZE), with c = pmi_canary(block):
 *
 *   [0, n)                        the program's bytes
 *   [n, n + min(8, slack - 4))    pattern bytes, c | 0x8080808080808080
 *                                 (never 0: a stray string terminator is caught)
 *   ...                           zero (the block came out zeroed)
 *   [bs - 4, bs)                  tag = slack ^ high32(c * key0)
 *
 * free, realloc, malloc_usable_size and free_sized decode n from the tag
 * and check every slack byte; one byte written past n changes a pattern
 * byte, a zero byte or the tag.  The tag's key is a second keyed product,
 * so the pattern bytes (readable by an overflowing read) do not give it
 * away.  Large blocks keep the same layout at the end of their usable
 * pages with a 64-bit tag, and check the pattern and the zero bytes up to
 * the end of the page after n.
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
static bool secure_is_zero(const char *p, size_t len) {
  uint64_t acc = 0;
  while (len > 0 && ((uintptr_t)p & 7) != 0) acc |= (unsigned char)*p++, len--;
  for (; len >= 16; p += 16, len -= 16) {
    uint64_t w[2];
    memcpy(w, p, 16);
    acc |= w[0] | w[1];
  }
  while (len > 0) acc |= (unsigned char)*p++, len--;
  return acc == 0;
}

/* Writes the pattern bytes after the n bytes at u (np of them). */
static void secure_put_pattern(char *u, size_t np, uint64_t pattern) {
  if (np == 8) memcpy(u, &pattern, 8);
  else
    for (size_t i = 0; i < np; i++) u[i] = (char)(pattern >> (8 * i));
}

/* The first pattern byte at u that differs (np of them), or SIZE_MAX. */
static size_t secure_bad_pattern(const char *u, size_t np, uint64_t pattern) {
  if (np == 8) {
    uint64_t w;
    memcpy(&w, u, 8);
    if (pm_likely(w == pattern)) return SIZE_MAX;
  }
  for (size_t i = 0; i < np; i++)
    if ((unsigned char)u[i] != (unsigned char)(pattern >> (8 * i))) return i;
  return SIZE_MAX;
}

static size_t secure_min(size_t a, size_t b) { return a < b ? a : b; }

/* Block b of bs bytes now holds a request of n bytes (its slack is zero). */
static void secure_tag(char *b, size_t bs, size_t n) {
  uint64_t c = pmi_canary(b);
  size_t slack = bs - n;
  pm_assert(slack >= PM_TAG_SIZE);
  secure_put_pattern(b + n, secure_min(8, slack - PM_TAG_SIZE), c | SECURE_PATTERN_BITS);
  uint32_t tag = (uint32_t)slack ^ (uint32_t)((c * pmi_keys.mul0) >> 32);
  memcpy(b + bs - PM_TAG_SIZE, &tag, PM_TAG_SIZE);
}

/* The size requested for block b of bs bytes, after checking every byte of
 * its slack; fatal on an overflow. */
static size_t secure_check_tail(const char *b, size_t bs) {
  uint64_t c = pmi_canary(b);
  uint32_t tag;
  memcpy(&tag, b + bs - PM_TAG_SIZE, PM_TAG_SIZE);
  size_t slack = tag ^ (uint32_t)((c * pmi_keys.mul0) >> 32);
  if (pm_unlikely(slack < PM_TAG_SIZE || slack > bs)) secure_overflow(b, 0, SIZE_MAX, bs);
  size_t n = bs - slack, np = secure_min(8, slack - PM_TAG_SIZE);
  size_t bad = secure_bad_pattern(b + n, np, c | SECURE_PATTERN_BITS);
  if (pm_unlikely(bad != SIZE_MAX)) secure_overflow(b, n, bad, bs);
  if (pm_unlikely(!secure_is_zero(b + n + np, slack - PM_TAG_SIZE - np))) {
    const char *z = b + n + np;
    while (*z == 0) z++;
    secure_overflow(b, n, (size_t)(z - b) - n, bs);
  }
  return n;
}

/* The same for a large block: the tag is the last word of its usable pages,
 * and the zero bytes are checked up to the end of the page after n (the
 * pages past it were zero when handed out and no overflow reaches them
 * without crossing it). */
static void secure_large_tag(pm_large_t *hdr, size_t n) {
  char *u = hdr->user;
  uint64_t c = pmi_canary(u), slack = hdr->usable - n;
  secure_put_pattern(u + n, secure_min(8, slack - SECURE_LARGE_TAG), c | SECURE_PATTERN_BITS);
  uint64_t tag = slack ^ (c * pmi_keys.mul0);
  memcpy(u + hdr->usable - SECURE_LARGE_TAG, &tag, SECURE_LARGE_TAG);
}

static size_t secure_large_check_tail(const pm_large_t *hdr) {
  const char *u = hdr->user;
  size_t usable = hdr->usable;
  uint64_t c = pmi_canary(u), tag;
  memcpy(&tag, u + usable - SECURE_LARGE_TAG, SECURE_LARGE_TAG);
  uint64_t slack = tag ^ (c * pmi_keys.mul0);
  if (pm_unlikely(slack < SECURE_LARGE_TAG || slack > usable)) secure_overflow(u, 0, SIZE_MAX, usable);
  size_t n = usable - slack, np = secure_min(8, slack - SECURE_LARGE_TAG);
  size_t bad = secure_bad_pattern(u + n, np, c | SECURE_PATTERN_BITS);
  if (pm_unlikely(bad != SIZE_MAX)) secure_overflow(u, n, bad, usable);
  size_t from = n + np, to = secure_min(usable - SECURE_LARGE_TAG, pm_align_up(from, PM_PAGE_SIZE) + PM_PAGE_SIZE);
  if (pm_unlikely(!secure_is_zero(u + from, to - from))) {
    const char *z = u + from;
    while (*z == 0) z++;
    secure_overflow(u, n, (size_t)(z - u) - n, usable);
  }
  return n;
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

/* A large block of n bytes aligned to alignment, tagged; NULL (ENOMEM).
 * As alloc.c's alloc_large: one reclaim and retry when the OS refuses. */
static void *secure_large(size_t n, size_t alignment) {
  if (n > PM_LARGE_MAX - SECURE_LARGE_TAG || alignment > PM_LARGE_MAX_ALIGN) goto enomem;
  void *p = pmi_large_malloc(n + SECURE_LARGE_TAG, alignment, false);
  if (p == NULL && (!pmi_heap_reclaim() || (p = pmi_large_malloc(n + SECURE_LARGE_TAG, alignment, false)) == NULL))
    goto enomem;
  secure_large_tag(pmi_large_header(p, pmi_pagemap_kind(p)), n);
  return p;
enomem:
  errno = ENOMEM;
  return NULL;
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
  if (pm_atomic_exchange_acq_rel(&hdr->live, 0) == 0) pmi_fatal("double free of %p", p);
  secure_large_check_tail(hdr);
  if (pm_unlikely(!pmi_os_decommit(hdr->user, hdr->usable))) {   /* out of mappings: no quarantine */
    memset(hdr->user, 0, hdr->usable);
    pmi_large_free(hdr);
    return;
  }
  pmi_heap_quarantine(secure_heap(), p, PM_PAGE_SIZE);
}

void pmi_secure_free(void *p) {
  if (pm_unlikely(pmi_pagemap_entry(p) != PM_CHUNK_ARENA)) return secure_free_other(p, pmi_pagemap_kind(p));
  pm_pool_t *pool = secure_block_pool(p, "free");
  pm_heap_t *h = secure_heap();
  pmi_pool_mark_free(pool, p, pool->heap == h);
  size_t bs = pool->block_size;
  secure_check_tail(p, bs);
  memset(p, 0, bs);
  pmi_heap_quarantine(h, p, bs);
}

/* ---- realloc, usable size, sized free ------------------------------------------ */
void *pmi_secure_realloc(void *p, size_t size) {
  if (p == NULL) return pmi_secure_malloc(size);
  if (size == 0) {                       /* glibc: free and return NULL */
    pmi_secure_free(p);
    return NULL;
  }
  size_t old = secure_requested(p, "realloc");
  if (pmi_pagemap_kind(p) == PM_CHUNK_ARENA) {
    size_t bs = pmi_arena_pool_of(p)->block_size;
    if (size + PM_TAG_SIZE <= bs && (size + PM_TAG_SIZE >= bs / 2 || bs <= 64)) {   /* in place */
      size_t keep = secure_min(old, size);
      memset((char *)p + keep, 0, bs - keep);
      secure_tag(p, bs, size);
      return p;
    }
  }
  void *q = pmi_secure_malloc(size);
  if (q == NULL) return NULL;
  memcpy(q, p, secure_min(old, size));
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

void pmi_secure_check_size(const void *p, size_t size, const char *what) {
  size_t n = secure_requested(p, what);
  if (size != n) pmi_fatal("%s of %p with size %zu but it was allocated with %zu bytes", what, p, size, n);
}
