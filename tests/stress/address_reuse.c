/* SPDX-License-Identifier: MIT */
/* tests/stress/address_reuse.c — the chunk map stays right when the kernel
 * hands a range poolmalloc has just given back to the next mapping of
 * another thread (issue 7 §1, deterministically).
 *
 * The kernel may give an address range one thread has just unmapped (by
 * munmap, or as the old range of an mremap move or shrink) to the very next
 * mmap of any thread.  mapping_race waits for that to happen by chance; this
 * program makes it happen every time, at the worst moment.  It defines
 * mmap, munmap and mremap itself: the executable comes first in symbol
 * lookup, so libpoolmalloc's calls reach these definitions, which make the
 * system calls directly.  When the main thread's allocator call has given a
 * range back to the OS, the hook stops right there, before control returns
 * into poolmalloc, and lets a helper thread malloc a large block; the
 * helper's mapping request is answered with the range just freed (the hint
 * attempt is refused with EEXIST and the fallback mmap(NULL) gets the freed
 * range), as the kernel is free to do.  Then the main thread goes on.  The
 * helper's block must then be a valid poolmalloc block: its contents kept,
 * malloc_usable_size answered, free accepted.  An allocator that unmarks a
 * chunk after giving its range back unmarks the helper's new block, and the
 * free aborts with "invalid free of 0x… (not allocated by poolmalloc)".
 *
 * Cases (each in a fresh process, this program re-executed with --case):
 *   realloc_move     realloc(64 MiB -> 256 MiB) of a block with a mapping
 *                    of its own: mremap moves the pages and frees the old
 *                    range
 *   realloc_shrink   realloc(64 MiB -> 8 MiB) of one: mremap frees the tail
 *   free_unmap       free of one: munmap
 *   aligned_free     free of a 2 MiB-aligned block: munmap
 *   trim             malloc_trim(0) unmapping the wholly free 1 GiB region
 *                    a freed 3 MiB block leaves
 * (Blocks in a region are never unmapped one by one: the 64 MiB blocks get
 * a mapping of their own as a program's growing buffer does.)  The helper's
 * block is aligned to 1 MiB, so that it is a fresh mapping too.
 * A case passes if every freed range that could hold the helper's mapping
 * was handed to it and every such block stayed valid; it is skipped if no
 * freed range was ever big enough (then the allocator no longer gives such
 * ranges back on that path, and there is nothing to race).
 * Not in sanitizer builds: the sanitizers intercept mmap themselves.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define TAP_NO_MAIN 1
#include "../tap.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define HELPER_SIZE 200000   /* aligned to 1 MiB: a large block with a mapping of its own */
#define MIB ((size_t)1 << 20)
/* What the helper's mapping asks for: the block at 1 MiB into its mapping
 * (lib/large.c), in 16 KiB units, plus 1 MiB of alignment slack (os.c). */
#define HELPER_MAP_LEN (MIB + ((HELPER_SIZE + 16383) & ~(size_t)16383) + MIB)
#define ROUNDS 16

/* ---- The system calls, and the hooks poolmalloc reaches ------------------- */
static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}
static int sys_munmap(void *addr, size_t len) { return (int)syscall(SYS_munmap, addr, len); }

static struct {
  pthread_t main_thread, helper;
  int armed;                 /* main thread: stop at freed ranges            */
  char *base;                /* the range just freed, offered to the helper  */
  size_t len;
  int offered;               /* ranges big enough for the helper             */
  int taken;                 /* of them, ranges the helper's mapping got     */
  sem_t go, done;
  unsigned char *blocks[ROUNDS * 4];
  int nblocks;
} reuse;

/* Called by the main thread after the OS took [base, base + len) back. */
static void range_freed(void *base, size_t len) {
  if (!reuse.armed || !pthread_equal(pthread_self(), reuse.main_thread)) return;
  if (len < HELPER_MAP_LEN || reuse.nblocks == (int)(sizeof reuse.blocks / sizeof reuse.blocks[0]))
    return;
  reuse.base = base;
  reuse.len = len;
  reuse.offered++;
  sem_post(&reuse.go);       /* the helper mallocs now, inside this call */
  while (sem_wait(&reuse.done) != 0) {
  }
  reuse.base = NULL;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (reuse.base != NULL && pthread_equal(pthread_self(), reuse.helper) && fd == -1 && !(flags & MAP_FIXED)) {
    if (addr != NULL && (flags & MAP_FIXED_NOREPLACE)) {   /* the allocator's hint: "taken" */
      errno = EEXIST;
      return MAP_FAILED;
    }
    if (len <= reuse.len) {                                  /* the kernel's choice: the freed range */
      void *p = sys_mmap(reuse.base, len, prot, flags | MAP_FIXED_NOREPLACE, fd, off);
      if (p == reuse.base) {
        reuse.taken++;
        reuse.base = NULL;
        return p;
      }
      if (p != MAP_FAILED) sys_munmap(p, len);
    }
  }
  return sys_mmap(addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len) {
  int r = sys_munmap(addr, len);
  if (r == 0) range_freed(addr, len);
  return r;
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  void *target = NULL;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    target = va_arg(ap, void *);
    va_end(ap);
  }
  long r = syscall(SYS_mremap, old, old_len, new_len, flags, target);
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return MAP_FAILED;
  }
  if ((void *)r != old) range_freed(old, old_len);                                 /* moved */
  else if (new_len < old_len) range_freed((char *)old + new_len, old_len - new_len);   /* shrunk */
  return (void *)r;
}

/* ---- The helper thread ----------------------------------------------------- */
static void *helper(void *arg) {
  (void)arg;
  for (;;) {
    while (sem_wait(&reuse.go) != 0) {
    }
    if (reuse.len == 0) return NULL;   /* the end */
    /* Aligned to 1 MiB so that it is always a fresh mapping: a plain
     * malloc would come from a region poolmalloc already holds. */
    unsigned char *q = aligned_alloc(MIB, HELPER_SIZE);
    if (q == NULL) _exit(5);
    for (size_t i = 0; i < HELPER_SIZE; i += 4096) q[i] = (unsigned char)(i >> 12);
    reuse.blocks[reuse.nblocks++] = q;
    sem_post(&reuse.done);
  }
}

/* Every helper block: contents, usable size, free (an abort fails the case). */
static int check_helper_blocks(void) {
  for (int k = 0; k < reuse.nblocks; k++) {
    unsigned char *q = reuse.blocks[k];
    for (size_t i = 0; i < HELPER_SIZE; i += 4096)
      if (q[i] != (unsigned char)(i >> 12)) return 4;
    if (malloc_usable_size(q) < HELPER_SIZE) return 4;
    free(q);
  }
  reuse.nblocks = 0;
  return 0;
}

/* ---- The cases -------------------------------------------------------------- */
static void *must(void *p) {
  if (p == NULL) _exit(5);
  memset(p, 0x33, 4096);
  return p;
}

/* A block with a mapping of its own: grown past 32 chunks where it cannot
 * grow in place (a guard block right after it in its region), realloc
 * copies it out of its region (lib/large.c, LARGE_MOVE_OUT_CHUNKS). */
static char *own_mapping_block(void **guard) {
  char *p = must(malloc(2 * MIB));
  *guard = must(malloc(4 * MIB));
  return must(realloc(p, 64 * MIB));
}

static void case_realloc_move(void) {
  void *guard;
  char *p = own_mapping_block(&guard);
  reuse.armed = 1;
  p = must(realloc(p, 256 * MIB));   /* mremap moves the pages (or grows in place: nothing to race) */
  reuse.armed = 0;
  if (p[4095] != 0x33) _exit(4);
  free(p);
  free(guard);
}

static void case_realloc_shrink(void) {
  void *guard;
  char *p = own_mapping_block(&guard);
  reuse.armed = 1;
  p = must(realloc(p, 8 * MIB));   /* mremap frees the tail */
  reuse.armed = 0;
  if (p[4095] != 0x33) _exit(4);
  free(p);
  free(guard);
}

static void case_free_unmap(void) {
  void *guard;
  char *p = own_mapping_block(&guard);
  reuse.armed = 1;
  free(p);   /* munmap */
  reuse.armed = 0;
  free(guard);
}

static void case_aligned_free(void) {
  void *p = must(aligned_alloc((size_t)2 << 20, (size_t)3 << 20));
  reuse.armed = 1;
  free(p);
  reuse.armed = 0;
}

static void case_trim(void) {
  free(must(malloc((size_t)3 << 20)));   /* its region is now wholly free */
  reuse.armed = 1;
  malloc_trim(0);
  reuse.armed = 0;
}

static const struct { const char *name; void (*fn)(void); int no_cache; } cases[] = {
    {"realloc_move", case_realloc_move, 1}, {"realloc_shrink", case_realloc_shrink, 1},
    {"free_unmap", case_free_unmap, 1},     {"aligned_free", case_aligned_free, 1},
    {"trim", case_trim, 0},
};

/* In the re-executed child: ROUNDS rounds, then "offered N taken N". */
static int run_case(const char *name) {
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    if (strcmp(name, cases[c].name) != 0) continue;
    reuse.main_thread = pthread_self();
    sem_init(&reuse.go, 0, 0);
    sem_init(&reuse.done, 0, 0);
    if (pthread_create(&reuse.helper, NULL, helper, NULL) != 0) return 2;
    for (int r = 0; r < ROUNDS; r++) {
      cases[c].fn();
      int rc = check_helper_blocks();
      if (rc != 0) return rc;
    }
    reuse.len = 0;
    sem_post(&reuse.go);
    pthread_join(reuse.helper, NULL);
    printf("offered %d taken %d\n", reuse.offered, reuse.taken);
    return 0;
  }
  return 2;
}

/* ---- The TAP side ------------------------------------------------------------- */
static void run(const char *name) {
  int fds[2];
  require_eq(pipe(fds), 0);
  fflush(stdout);
  pid_t pid = fork();
  require_true(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
      if (strcmp(name, cases[c].name) == 0 && cases[c].no_cache) setenv("POOLMALLOC_LARGE_CACHE_MB", "0", 1);
    execl("/proc/self/exe", "address_reuse", "--case", name, (char *)NULL);
    _exit(2);
  }
  close(fds[1]);
  char out[128] = "";
  ssize_t n = read(fds[0], out, sizeof out - 1);
  out[n > 0 ? n : 0] = '\0';
  close(fds[0]);
  int status, offered = 0, taken = 0;
  require_eq(waitpid(pid, &status, 0), pid);
  sscanf(out, "offered %d taken %d", &offered, &taken);
  if (WIFSIGNALED(status))
    tap_note("%s: killed by signal %d (%s): a block mapped into a range just given back was lost", name,
             WTERMSIG(status), strsignal(WTERMSIG(status)));
  else if (WEXITSTATUS(status) != 0)
    tap_note("%s: exit status %d (4: a helper block lost its contents)", name, WEXITSTATUS(status));
  else
    tap_note("%s: %d freed ranges big enough, %d handed to a new block of another thread", name, offered, taken);
  require_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  skip_if(offered == 0, "no range given back on this path was big enough for a new large block");
  expect_eq(taken, offered);
}

TEST(realloc_move) { run("realloc_move"); }
TEST(realloc_shrink) { run("realloc_shrink"); }
TEST(free_unmap) { run("free_unmap"); }
TEST(aligned_free) { run("aligned_free"); }
TEST(trim) { run("trim"); }

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--case") == 0) return run_case(argv[2]);
  return tap_main(argc, argv);
}
