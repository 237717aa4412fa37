/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz.c — a randomized multi-threaded fuzzer of the whole malloc API.
 *
 * Usage: fuzz [-s SECONDS] [-n OPS] [-t THREADS] [-S SEED] [-a libc|pm]
 *             [-m BUDGET_MIB] [-i OP] [-v]
 *
 * THREADS threads (4) run random operations for SECONDS (10) or OPS
 * operations per thread, whichever ends first, on two kinds of slots:
 * each thread's private slots and a shared table any thread may take
 * (slot by slot, with a try-lock), so blocks move between threads and are
 * freed, realloc'ed and checked by threads that did not allocate them
 * (remote frees).  Every entry point is called (-a picks the libc names or
 * pm_*, tests/fuzz/api.h): malloc, calloc, realloc (from NULL, growing and
 * shrinking across 512 B, 128 KiB, 1 MiB and up to 40 MiB, to 0),
 * reallocarray, posix_memalign / aligned_alloc / memalign with alignments
 * 8 B .. 2 MiB, free, free_sized, free_aligned_sized, malloc_usable_size,
 * malloc_trim, and the error cases (ENOMEM for absurd sizes and overflow,
 * EINVAL for bad alignments, a failed realloc leaving the block intact).
 *
 * Checked on every block (tests/fuzz/pattern.h): the alignment asked for
 * (16 at least); usable size >= requested, and unchanged between calls;
 * calloc memory reads zero; the whole usable size holds a pattern keyed by
 * address, size and serial, verified before every free and realloc (and by
 * a verify op); realloc kept the prefix min(old, new) of the old pattern.
 * At the end every block is verified and freed, and when poolmalloc serves
 * the calls, malloc_trim brings its in-use byte counts back to where they
 * started (a double-counted or lost block shows there).
 *
 * Determinism: SEED (printed first; random if not given) fixes each
 * thread's stream of decisions, which never depends on addresses or
 * timing.  With -t 1 -n OPS a run replays exactly; with more threads the
 * interleaving (and which shared slots a thread finds taken) is the
 * scheduler's, so a rerun with the same seed retries the same workload.
 * On a failure the fuzzer prints one "fuzz: FAILED" block (seed, thread,
 * op number and name, block address, size, alignment, the offset that
 * differs, the thread's last ops and the command to rerun) and aborts.
 * -i OP is the self-test: thread 0 corrupts one byte of a live block at its
 * op OP, and the run must fail.
 * Test code: uses stdio and libc freely, but reports failures with write(2)
 * only, since by then the allocator may be broken.
 */
#define _GNU_SOURCE 1
#include "api.h"
#include "pattern.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- Configuration -------------------------------------------------------- */
#define FZ_MAX_THREADS 64
#define FZ_SHARED 1024          /* slots any thread may take          */
#define FZ_PRIVATE 128          /* slots per thread                   */
#define FZ_LOG 12               /* last ops remembered per thread     */
#define FZ_HUGE_MAX ((size_t)40 << 20)
#define FZ_TRIM_EVERY 50000     /* one malloc_trim per this many ops  */
#define FZ_MEDIUM ((size_t)128 << 10)   /* poolmalloc's large threshold */

static struct {
  double seconds;
  uint64_t max_ops;             /* per thread; 0 = no limit             */
  unsigned nthreads;
  uint64_t seed;
  size_t budget;                /* live bytes beyond which sizes shrink */
  uint64_t inject_at;           /* 0 = no self-test corruption          */
  bool verbose;
  const fz_api_t *api;
  bool is_poolmalloc;           /* the api is served by poolmalloc      */
  const char *argv0;
} cfg = {.seconds = 10, .nthreads = 4, .budget = (size_t)512 << 20, .api = &fz_api_libc};

/* ---- Operations ------------------------------------------------------------- */
typedef enum {
  OP_MALLOC, OP_CALLOC, OP_REALLOC_NULL, OP_REALLOCARRAY_NULL, OP_POSIX_MEMALIGN,
  OP_ALIGNED_ALLOC, OP_MEMALIGN, OP_FREE, OP_FREE_SIZED, OP_FREE_ALIGNED_SIZED, OP_REALLOC,
  OP_REALLOCARRAY, OP_USABLE_SIZE, OP_VERIFY, OP_TRIM, OP_ERRORS, OP_REALLOC_FAIL, OP_CLEANUP,
  OP_COUNT
} fz_op_t;
static const char *const op_names[OP_COUNT] = {
    "malloc", "calloc", "realloc(NULL)", "reallocarray(NULL)", "posix_memalign",
    "aligned_alloc", "memalign", "free", "free_sized", "free_aligned_sized", "realloc",
    "reallocarray", "malloc_usable_size", "verify", "malloc_trim", "error cases",
    "realloc to an absurd size", "final free"};

/* ---- Blocks, slots, threads ------------------------------------------------- */
typedef struct {
  unsigned char *p;             /* NULL: the slot is empty              */
  size_t size;                  /* bytes requested                      */
  size_t usable;                /* malloc_usable_size: bytes patterned  */
  size_t align;                 /* alignment asked for (16 if none)     */
  uint64_t serial;              /* part of the pattern key              */
  fz_op_t how;                  /* the call that returned it            */
  unsigned owner;               /* thread that allocated it             */
} fz_block_t;

typedef struct {
  _Atomic int busy;
  fz_block_t b;
} __attribute__((aligned(64))) fz_slot_t;

typedef struct {                /* one call, logged before it is made */
  fz_op_t op;
  const void *p;                /* the pointer passed, if any           */
  size_t size, align;
  const void *result;           /* the pointer returned, once it has    */
} fz_logent_t;

typedef struct {
  unsigned id;
  pthread_t tid;
  uint64_t rng;
  uint64_t nops, serial;
  uint64_t counts[OP_COUNT];
  uint64_t nremote, nbusy;
  fz_logent_t log[FZ_LOG];
  unsigned log_at;
  fz_slot_t priv[FZ_PRIVATE];
} fz_thread_t;

static fz_slot_t shared_slots[FZ_SHARED];
static fz_thread_t *threads[FZ_MAX_THREADS];
static _Atomic size_t live_bytes;
static _Atomic int stop;
static pthread_barrier_t start_barrier;
static struct timespec t_start;

/* ---- Output without the allocator --------------------------------------- */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  for (ssize_t off = 0, w; off < n; off += w)
    if ((w = write(2, buf + off, (size_t)(n - off))) <= 0) return;
}

static void *mmap_zeroed(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    say("fuzz: mmap of %zu bytes failed\n", n);
    exit(2);
  }
  return p;
}

static double elapsed(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - t_start.tv_sec) + (double)(now.tv_nsec - t_start.tv_nsec) / 1e9;
}

static void print_rerun(void) {
  say("fuzz: rerun: %s -S 0x%016" PRIx64 " -t %u -a %s -s %g\n", cfg.argv0, cfg.seed, cfg.nthreads,
      cfg.api->name, cfg.seconds);
}

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

/* One report, then abort: the failing thread's context and last ops. */
__attribute__((noreturn, format(printf, 4, 5))) static void fail(fz_thread_t *t, fz_op_t op, const fz_block_t *b,
                                                                 const char *fmt, ...) {
  pthread_mutex_lock(&fail_lock);   /* never unlocked: the first failure is the one reported */
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  say("fuzz: FAILED: %s\n", msg);
  say("fuzz: seed=0x%016" PRIx64 " threads=%u api=%s thread=%u op#%" PRIu64 " (%s) at %.3f s\n", cfg.seed,
      cfg.nthreads, cfg.api->name, t ? t->id : 0, t ? t->nops : 0, op_names[op], elapsed());
  if (b != NULL && b->p != NULL)
    say("fuzz: block %p size %zu usable %zu align %zu from %s in thread %u serial %" PRIu64 "\n",
        (void *)b->p, b->size, b->usable, b->align, op_names[b->how], b->owner, b->serial);
  if (t != NULL) {
    say("fuzz: last ops of thread %u (oldest first):\n", t->id);
    for (unsigned i = 0; i < FZ_LOG; i++) {
      const fz_logent_t *e = &t->log[(t->log_at + i) % FZ_LOG];
      if (e->p != NULL || e->size != 0 || e->result != NULL)
        say(e->result ? "fuzz:   %-20s %p size %zu align %zu -> %p\n" : "fuzz:   %-20s %p size %zu align %zu\n",
            op_names[e->op], e->p, e->size, e->align, e->result);
    }
  }
  print_rerun();
  abort();
}

/* Logged before the call, so a crash inside it names it. */
static void note_op(fz_thread_t *t, fz_op_t op, const void *p, size_t size, size_t align) {
  t->log[t->log_at] = (fz_logent_t){op, p, size, align, NULL};
  t->log_at = (t->log_at + 1) % FZ_LOG;
  t->counts[op]++;
}

static void note_result(fz_thread_t *t, const void *result) { t->log[(t->log_at + FZ_LOG - 1) % FZ_LOG].result = result; }

/* ---- Random choices --------------------------------------------------------- */
static uint64_t rnd(fz_thread_t *t) {   /* splitmix64: every seed is a good seed */
  return fz_mix(t->rng += 0x9e3779b97f4a7c15ULL);
}

/* Uniform in bit length, then uniform inside it: every magnitude between lo
 * and hi is as likely as the next. */
static size_t log_uniform(uint64_t r, size_t lo, size_t hi) {
  unsigned blo = 64 - (unsigned)__builtin_clzll(lo), bhi = 64 - (unsigned)__builtin_clzll(hi);
  unsigned bits = blo + (unsigned)(r % (bhi - blo + 1));
  size_t base = (size_t)1 << (bits - 1), v = base + (size_t)((r >> 8) % base);
  return v < lo ? lo : v > hi ? hi : v;
}

/* Sizes just around every threshold of poolmalloc (and glibc's). */
static size_t near_threshold(uint64_t r) {
  static const size_t th[] = {16, 32, 64, 512, 1024, 4096, 16384, 65536, 131072, 262144,
                              1 << 20, 2 << 20, 4 << 20};
  size_t base = th[r % (sizeof th / sizeof th[0])];
  long delta = (long)((r >> 8) % 65) - 32;
  return (long)base + delta < 0 ? 0 : (size_t)((long)base + delta);
}

static size_t within_budget(size_t size, uint64_t r) {
  if (size > FZ_MEDIUM && atomic_load_explicit(&live_bytes, memory_order_relaxed) + size > cfg.budget)
    return 1 + r % FZ_MEDIUM;
  return size;
}

/* Sizes: 10% tiny (0..64), 30% small, 10% around a threshold, 30% medium,
 * 17% large (to 4 MiB), 3% huge (to 40 MiB) while the budget allows. */
static size_t pick_size(fz_thread_t *t) {
  uint64_t r = rnd(t);
  unsigned k = (unsigned)(r % 1000);
  r >>= 10;
  size_t size;
  if (k < 100) size = r % 65;
  else if (k < 400) size = 65 + r % 448;
  else if (k < 500) size = near_threshold(r);
  else if (k < 800) size = log_uniform(r, 513, FZ_MEDIUM);
  else if (k < 970) size = log_uniform(r, FZ_MEDIUM + 1, (size_t)4 << 20);
  else size = log_uniform(r, (size_t)4 << 20, FZ_HUGE_MAX);
  return within_budget(size, r >> 32);
}

/* realloc targets: anywhere, grow x1.25..x4, shrink /2../8, or near a threshold. */
static size_t pick_resize(fz_thread_t *t, size_t old) {
  uint64_t r = rnd(t);
  size_t size;
  switch (r % 4) {
  case 0: return pick_size(t);
  case 1: size = old + old / 4 + (size_t)((r >> 8) % (3 * old + 64)); break;
  case 2: size = old / (2 + (size_t)((r >> 8) % 7)); break;
  default: size = near_threshold(r >> 8); break;
  }
  if (size > FZ_HUGE_MAX) size = FZ_HUGE_MAX;
  return within_budget(size, r >> 32);
}

static size_t pick_align(fz_thread_t *t) { return (size_t)1 << (3 + rnd(t) % 19); }   /* 8 B .. 2 MiB */

/* ---- Blocks: adopt, check, release ------------------------------------------ */
static uint64_t block_key(const fz_block_t *b) { return fz_key(b->p, b->size, b->serial); }

static void block_verify(fz_thread_t *t, fz_op_t op, const fz_block_t *b) {
  size_t bad = fz_check(b->p, b->usable, b->usable, block_key(b));
  if (bad != SIZE_MAX)
    fail(t, op, b, "block %p: byte %zu of %zu is 0x%02x, want 0x%02x (overwritten: the block has another owner?)",
         (void *)b->p, bad, b->usable, b->p[bad], fz_byte(block_key(b), bad));
}

/* A block just returned by an allocation call: check and pattern it. */
static void block_adopt(fz_thread_t *t, fz_op_t op, fz_block_t *b, void *p, size_t size, size_t align) {
  *b = (fz_block_t){.p = p, .size = size, .align = align < 16 ? 16 : align, .how = op, .owner = t->id};
  b->serial = ++t->serial;
  note_result(t, p);
  if (p == NULL) fail(t, op, b, "%s(%zu, align %zu) returned NULL, errno %d", op_names[op], size, align, errno);
  if ((uintptr_t)p % b->align != 0) fail(t, op, b, "%p is not aligned to %zu", p, b->align);
  b->usable = cfg.api->usable_size(p);
  if (b->usable < size) fail(t, op, b, "usable size %zu < %zu requested", b->usable, size);
  if (op == OP_CALLOC) {
    size_t bad = fz_check_zero(p, size);
    if (bad != SIZE_MAX) fail(t, op, b, "calloc memory: byte %zu is 0x%02x, not zero", bad, b->p[bad]);
  }
  fz_fill(p, b->usable, block_key(b));
  atomic_fetch_add_explicit(&live_bytes, b->usable, memory_order_relaxed);
}

static void block_forget(fz_thread_t *t, fz_block_t *b) {
  if (b->owner != t->id) t->nremote++;
  atomic_fetch_sub_explicit(&live_bytes, b->usable, memory_order_relaxed);
  b->p = NULL;
}

/* ---- Operations on an empty slot -------------------------------------------- */
static void op_error_cases(fz_thread_t *t) {
  const fz_api_t *a = cfg.api;
  uint64_t r = rnd(t);
  void *p = (void *)1;
  note_op(t, OP_ERRORS, NULL, r % 5, 0);
  errno = 0;
  switch (r % 5) {
  case 0:
    p = a->malloc(SIZE_MAX - (r >> 8) % 8192);
    if (p != NULL || errno != ENOMEM) fail(t, OP_ERRORS, NULL, "malloc(SIZE_MAX - x) = %p, errno %d", p, errno);
    break;
  case 1:
    p = a->calloc(((size_t)1 << 33) + (r >> 8) % 100, (size_t)1 << 32);
    if (p != NULL || errno != ENOMEM) fail(t, OP_ERRORS, NULL, "calloc overflowing = %p, errno %d", p, errno);
    break;
  case 2: {
    int rc = a->posix_memalign(&p, 24 + 16 * ((r >> 8) % 4), 100);
    if (rc != EINVAL || p != (void *)1) fail(t, OP_ERRORS, NULL, "posix_memalign(align 24..) = %d, %p", rc, p);
    break;
  }
  case 3:
    p = a->reallocarray(NULL, SIZE_MAX / 2, 3);
    if (p != NULL || errno != ENOMEM) fail(t, OP_ERRORS, NULL, "reallocarray overflowing = %p, errno %d", p, errno);
    break;
  default:
    /* glibc before 2.38 rounds a bad aligned_alloc alignment up; poolmalloc
     * (like C17 and glibc 2.38) says EINVAL. */
    if (!cfg.is_poolmalloc) break;
    p = a->aligned_alloc(48, 96);
    if (p != NULL || errno != EINVAL) fail(t, OP_ERRORS, NULL, "aligned_alloc(48, 96) = %p, errno %d", p, errno);
    break;
  }
}

static void op_allocate(fz_thread_t *t, fz_block_t *b) {
  const fz_api_t *a = cfg.api;
  uint64_t r = rnd(t) % 100;
  size_t size = pick_size(t);
  if (r < 35) {
    note_op(t, OP_MALLOC, NULL, size, 0);
    block_adopt(t, OP_MALLOC, b, a->malloc(size), size, 0);
  } else if (r < 47) {
    size_t n = 1 + rnd(t) % 16, each = size / n + 1;
    note_op(t, OP_CALLOC, NULL, n * each, 0);
    block_adopt(t, OP_CALLOC, b, a->calloc(n, each), n * each, 0);
  } else if (r < 52) {
    note_op(t, OP_REALLOC_NULL, NULL, size, 0);
    block_adopt(t, OP_REALLOC_NULL, b, a->realloc(NULL, size), size, 0);
  } else if (r < 55) {
    size_t n = 1 + rnd(t) % 8, each = size / n + 1;
    note_op(t, OP_REALLOCARRAY_NULL, NULL, n * each, 0);
    block_adopt(t, OP_REALLOCARRAY_NULL, b, a->reallocarray(NULL, n, each), n * each, 0);
  } else if (r < 98) {
    size_t align = pick_align(t);
    if (align >= ((size_t)1 << 20) && size > ((size_t)8 << 20)) size %= (size_t)8 << 20;
    if (r < 68) {
      void *p = NULL;
      note_op(t, OP_POSIX_MEMALIGN, NULL, size, align);
      int rc = a->posix_memalign(&p, align, size);
      if (rc != 0) fail(t, OP_POSIX_MEMALIGN, NULL, "posix_memalign(%zu, %zu) = %d", align, size, rc);
      block_adopt(t, OP_POSIX_MEMALIGN, b, p, size, align);
    } else if (r < 84) {
      note_op(t, OP_ALIGNED_ALLOC, NULL, size, align);
      block_adopt(t, OP_ALIGNED_ALLOC, b, a->aligned_alloc(align, size), size, align);
    } else {
      note_op(t, OP_MEMALIGN, NULL, size, align);
      block_adopt(t, OP_MEMALIGN, b, a->memalign(align, size), size, align);
    }
  } else {
    op_error_cases(t);
  }
}

/* ---- Operations on a live block --------------------------------------------- */
static void op_free(fz_thread_t *t, fz_block_t *b, fz_op_t op) {
  const fz_api_t *a = cfg.api;
  block_verify(t, op, b);
  note_op(t, op, b->p, b->size, b->align);
  /* C23: free_sized for malloc/calloc/realloc blocks, free_aligned_sized for
   * aligned_alloc blocks; plain free for everything. */
  bool sized = b->how == OP_MALLOC || b->how == OP_CALLOC || b->how == OP_REALLOC || b->how == OP_REALLOC_NULL ||
               b->how == OP_REALLOCARRAY || b->how == OP_REALLOCARRAY_NULL;
  if (op == OP_FREE_SIZED && sized && a->free_sized != NULL) a->free_sized(b->p, b->size);
  else if (op == OP_FREE_ALIGNED_SIZED && b->how == OP_ALIGNED_ALLOC && a->free_aligned_sized != NULL)
    a->free_aligned_sized(b->p, b->align, b->size);
  else a->free(b->p);
  block_forget(t, b);
}

static void op_realloc(fz_thread_t *t, fz_block_t *b, fz_op_t op) {
  const fz_api_t *a = cfg.api;
  block_verify(t, op, b);
  fz_block_t old = *b;
  size_t size = pick_resize(t, b->size);
  void *q;
  if (op == OP_REALLOCARRAY) {
    size_t n = 1 + rnd(t) % 8, each = size / n + (size % n != 0);
    size = n * each;
    note_op(t, op, old.p, size, 0);
    q = a->reallocarray(b->p, n, each);
  } else {
    note_op(t, op, old.p, size, 0);
    q = a->realloc(b->p, size);
  }
  if (size == 0 && q == NULL) {        /* glibc's realloc(p, 0): freed */
    block_forget(t, b);
    return;
  }
  if (q == NULL) fail(t, op, &old, "%s(%p, %zu) returned NULL, errno %d", op_names[op], (void *)old.p, size, errno);
  atomic_fetch_sub_explicit(&live_bytes, old.usable, memory_order_relaxed);
  if (old.owner != t->id) t->nremote++;
  size_t keep = old.size < size ? old.size : size;
  size_t bad = fz_check(q, old.usable, keep, block_key(&old));
  if (bad != SIZE_MAX)
    fail(t, op, &old, "%s(%p, %zu) = %p lost data: byte %zu of the %zu kept is 0x%02x, want 0x%02x",
         op_names[op], (void *)old.p, size, q, bad, keep, ((unsigned char *)q)[bad], fz_byte(block_key(&old), bad));
  block_adopt(t, op, b, q, size, 0);
}

/* realloc to an absurd size must fail with ENOMEM and leave the block as it was. */
static void op_realloc_fail(fz_thread_t *t, fz_block_t *b) {
  note_op(t, OP_REALLOC_FAIL, b->p, b->size, b->align);
  errno = 0;
  void *q = cfg.api->realloc(b->p, SIZE_MAX - 4096 * (rnd(t) % 16));
  if (q != NULL || errno != ENOMEM) fail(t, OP_REALLOC_FAIL, b, "realloc(p, SIZE_MAX - x) = %p, errno %d", q, errno);
  block_verify(t, OP_REALLOC_FAIL, b);
}

static void op_live(fz_thread_t *t, fz_block_t *b) {
  uint64_t r = rnd(t) % 1000;
  if (r < 200) op_free(t, b, OP_FREE);
  else if (r < 300) op_free(t, b, OP_FREE_SIZED);
  else if (r < 350) op_free(t, b, b->how == OP_ALIGNED_ALLOC ? OP_FREE_ALIGNED_SIZED : OP_FREE);
  else if (r < 650) op_realloc(t, b, OP_REALLOC);
  else if (r < 690) op_realloc(t, b, OP_REALLOCARRAY);
  else if (r < 850) {
    note_op(t, OP_USABLE_SIZE, b->p, b->size, b->align);
    size_t u = cfg.api->usable_size(b->p);
    if (u != b->usable) fail(t, OP_USABLE_SIZE, b, "malloc_usable_size is now %zu, was %zu", u, b->usable);
  } else if (r < 995) {
    note_op(t, OP_VERIFY, b->p, b->size, b->align);
    block_verify(t, OP_VERIFY, b);
  } else {
    op_realloc_fail(t, b);
  }
}

/* ---- The worker loop ------------------------------------------------------- */
static fz_slot_t *slot_take(fz_thread_t *t) {
  uint64_t r = rnd(t);
  if (r % 2 == 0) return &t->priv[(r >> 1) % FZ_PRIVATE];
  fz_slot_t *s = &shared_slots[(r >> 1) % FZ_SHARED];
  int free_ = 0;
  if (!atomic_compare_exchange_strong_explicit(&s->busy, &free_, 1, memory_order_acquire, memory_order_relaxed)) {
    t->nbusy++;
    return NULL;
  }
  return s;
}

static void slot_give(fz_thread_t *t, fz_slot_t *s) {
  if (s < t->priv || s >= t->priv + FZ_PRIVATE) atomic_store_explicit(&s->busy, 0, memory_order_release);
}

/* Thread 0's self-test (-i): one byte of a live private block changes. */
static void inject_corruption(fz_thread_t *t) {
  for (unsigned i = 0; i < FZ_PRIVATE; i++) {
    fz_block_t *b = &t->priv[i].b;
    if (b->p != NULL && b->usable > 0) {
      say("fuzz: self-test: corrupting byte 0 of %p (op %" PRIu64 ")\n", (void *)b->p, t->nops);
      b->p[0] ^= 0x20;
      return;
    }
  }
  cfg.inject_at++;   /* no live block yet: try at the next op */
}

static void *worker(void *arg) {
  fz_thread_t *t = arg;
  pthread_barrier_wait(&start_barrier);
  while (cfg.max_ops == 0 || t->nops < cfg.max_ops) {
    if ((t->nops & 63) == 0 && atomic_load_explicit(&stop, memory_order_relaxed)) break;
    __atomic_store_n(&t->nops, t->nops + 1, __ATOMIC_RELAXED);   /* main reads it to see the end */
    if (t->id == 0 && t->nops == cfg.inject_at) inject_corruption(t);
    if (rnd(t) % FZ_TRIM_EVERY == 0) {
      note_op(t, OP_TRIM, NULL, 0, 0);
      cfg.api->trim(0);
      continue;
    }
    fz_slot_t *s = slot_take(t);
    if (s == NULL) continue;
    if (s->b.p == NULL) op_allocate(t, &s->b);
    else op_live(t, &s->b);
    slot_give(t, s);
  }
  for (unsigned i = 0; i < FZ_PRIVATE; i++)   /* verify and free what is left */
    if (t->priv[i].b.p != NULL) op_free(t, &t->priv[i].b, OP_CLEANUP);
  return NULL;
}

/* ---- Watchdog and crashes --------------------------------------------------- */
static void on_alarm(int sig) {
  (void)sig;
  say("fuzz: FAILED: no end after %.0f s (a deadlock?)\n", elapsed());
  print_rerun();
  abort();
}

/* The allocator aborted (its own diagnostic is already on stderr) or
 * crashed: say where the fuzzer was, then die of the same signal. */
static void on_crash(int sig) {
  signal(sig, SIG_DFL);
  if (pthread_mutex_trylock(&fail_lock) == 0) {   /* not a fuzzer-reported failure */
    say("fuzz: FAILED: signal %d (%s) at %.3f s\n", sig, strsignal(sig), elapsed());
    for (unsigned i = 0; i < cfg.nthreads; i++) {
      fz_thread_t *t = threads[i];
      if (t == NULL || !pthread_equal(t->tid, pthread_self())) continue;
      const fz_logent_t *e = &t->log[(t->log_at + FZ_LOG - 1) % FZ_LOG];
      say("fuzz: in thread %u, op#%" PRIu64 ", inside %s(%p, size %zu, align %zu)\n", i, t->nops,
          op_names[e->op], e->p, e->size, e->align);
    }
    print_rerun();
  }
  raise(sig);
}

/* ---- Accounting: poolmalloc's in-use bytes return to where they started ---- */
/* Found with dlsym, so that fuzz-libc under LD_PRELOAD checks it too. */
typedef void stats_fn(pm_stats_t *);

static size_t pm_in_use(stats_fn *stats) {
  pm_stats_t s;
  stats(&s);
  return s.small_allocated + s.large_allocated;
}

/* ---- main ------------------------------------------------------------------ */
static void usage(void) {
  fprintf(stderr, "usage: %s [-s SECONDS] [-n OPS] [-t THREADS] [-S SEED] [-a libc|pm] [-m BUDGET_MIB] [-i OP] [-v]\n",
          cfg.argv0);
  exit(2);
}

int main(int argc, char **argv) {
  cfg.argv0 = argv[0];
  bool seeded = false;
  for (int c; (c = getopt(argc, argv, "s:n:t:S:a:m:i:v")) != -1;) {
    switch (c) {
    case 's': cfg.seconds = strtod(optarg, NULL); break;
    case 'n': cfg.max_ops = strtoull(optarg, NULL, 0); break;
    case 't': cfg.nthreads = (unsigned)strtoul(optarg, NULL, 0); break;
    case 'S': cfg.seed = strtoull(optarg, NULL, 0), seeded = true; break;
    case 'm': cfg.budget = (size_t)strtoull(optarg, NULL, 0) << 20; break;
    case 'i': cfg.inject_at = strtoull(optarg, NULL, 0); break;
    case 'v': cfg.verbose = true; break;
    case 'a':
      if (strcmp(optarg, "libc") == 0) cfg.api = &fz_api_libc;
#ifdef FZ_HAVE_PM
      else if (strcmp(optarg, "pm") == 0) cfg.api = &fz_api_pm;
#endif
      else usage();
      break;
    default: usage();
    }
  }
  if (cfg.nthreads < 1 || cfg.nthreads > FZ_MAX_THREADS || cfg.seconds <= 0 || optind != argc) usage();
  if (!seeded) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cfg.seed = fz_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid());
  }
  /* Is poolmalloc answering?  Its libc names are aliases of pm_*. */
  void *pm_malloc_sym = dlsym(RTLD_DEFAULT, "pm_malloc");
  cfg.is_poolmalloc = pm_malloc_sym != NULL &&
                      (cfg.api != &fz_api_libc || dlsym(RTLD_DEFAULT, "malloc") == pm_malloc_sym);
  stats_fn *stats = cfg.is_poolmalloc ? (stats_fn *)dlsym(RTLD_DEFAULT, "pm_stats_get") : NULL;
  printf("fuzz: seed=0x%016" PRIx64 " threads=%u api=%s%s seconds=%g ops=%" PRIu64 " budget=%zu MiB\n", cfg.seed,
         cfg.nthreads, cfg.api->name, cfg.is_poolmalloc ? " (poolmalloc)" : " (not poolmalloc)", cfg.seconds,
         cfg.max_ops, cfg.budget >> 20);
  fflush(stdout);

  /* Thread records are big (private slots): from mmap, so that they do not
   * sit in the allocator under test. */
  for (unsigned i = 0; i < cfg.nthreads; i++) {
    threads[i] = mmap_zeroed(sizeof(fz_thread_t));
    threads[i]->id = i;
    threads[i]->rng = cfg.seed ^ fz_mix(i + 1);
  }
  cfg.api->trim(0);
  size_t in_use_before = stats ? pm_in_use(stats) : 0;
  signal(SIGALRM, on_alarm);
  signal(SIGABRT, on_crash);
  signal(SIGSEGV, on_crash);
  signal(SIGBUS, on_crash);
  alarm((unsigned)cfg.seconds + 300);
  pthread_barrier_init(&start_barrier, NULL, cfg.nthreads + 1);
  for (unsigned i = 0; i < cfg.nthreads; i++)
    if (pthread_create(&threads[i]->tid, NULL, worker, threads[i]) != 0) {
      say("fuzz: pthread_create failed\n");
      return 2;
    }
  clock_gettime(CLOCK_MONOTONIC, &t_start);
  pthread_barrier_wait(&start_barrier);
  while (elapsed() < cfg.seconds) {
    struct timespec nap = {0, 20 * 1000 * 1000};
    nanosleep(&nap, NULL);
    bool all_done = cfg.max_ops != 0;
    for (unsigned i = 0; i < cfg.nthreads && all_done; i++)
      all_done = __atomic_load_n(&threads[i]->nops, __ATOMIC_RELAXED) >= cfg.max_ops;
    if (all_done) break;
  }
  atomic_store(&stop, 1);
  for (unsigned i = 0; i < cfg.nthreads; i++) pthread_join(threads[i]->tid, NULL);
  double secs = elapsed();

  /* The shared slots, freed by the main thread (their owners have exited). */
  fz_thread_t *main_t = mmap_zeroed(sizeof(fz_thread_t));
  main_t->id = cfg.nthreads;
  for (unsigned i = 0; i < FZ_SHARED; i++)
    if (shared_slots[i].b.p != NULL) op_free(main_t, &shared_slots[i].b, OP_CLEANUP);

  uint64_t counts[OP_COUNT] = {0}, nops = 0, nremote = main_t->nremote, nbusy = 0;
  for (unsigned i = 0; i < cfg.nthreads; i++) {
    fz_thread_t *t = threads[i];
    nops += t->nops, nremote += t->nremote, nbusy += t->nbusy;
    for (unsigned k = 0; k < OP_COUNT; k++) counts[k] += t->counts[k];
  }
  for (unsigned k = 0; k < OP_COUNT; k++) counts[k] += main_t->counts[k];
  if (cfg.inject_at != 0) {
    say("fuzz: FAILED: self-test: the corrupted byte was never noticed\n");
    return 1;
  }
  if (stats != NULL) {
    cfg.api->trim(0);
    size_t in_use_after = pm_in_use(stats);
    if (in_use_after > in_use_before + 4096 || in_use_after + 4096 < in_use_before)
      fail(NULL, OP_TRIM, NULL, "poolmalloc counts %zu bytes in use after everything was freed, %zu before",
           in_use_after, in_use_before);
  }
  printf("fuzz: ok: %" PRIu64 " ops in %.1f s, %" PRIu64 " freed or realloc'ed by another thread, %" PRIu64
         " shared slots found busy\n",
         nops, secs, nremote, nbusy);
  for (unsigned k = 0; k < OP_COUNT; k++) printf("fuzz:   %-26s %" PRIu64 "\n", op_names[k], counts[k]);
  return 0;
}
