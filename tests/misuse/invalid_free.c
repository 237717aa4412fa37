/* SPDX-License-Identifier: MIT */
/* tests/misuse/invalid_free.c — free a pointer poolmalloc never handed out.
 * Usage: invalid_free stack|static|mmap|libc.  Expects
 * "poolmalloc: invalid free of 0x<addr> (not allocated by poolmalloc)";
 * with POOLMALLOC_FOREIGN_FREE=1 the libc case must instead succeed
 * (the block goes back to glibc's own free) and exit 0. */
#define _GNU_SOURCE 1
#include "misuse.h"
#include <dlfcn.h>
#include <string.h>
#include <sys/mman.h>

static char static_buf[64] __attribute__((aligned(16)));

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "stack";
  char stack_buf[64] __attribute__((aligned(16)));
  void *p = stack_buf;
  if (strcmp(what, "static") == 0) p = static_buf;
  if (strcmp(what, "mmap") == 0) {
    p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 2;
    p = (char *)p + 4096;
  }
  if (strcmp(what, "libc") == 0) {
    /* glibc's own malloc, found in libc.so.6 itself, not through the
     * preloaded interposer. */
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *(*libc_malloc)(size_t) = libc ? (void *(*)(size_t))dlsym(libc, "malloc") : NULL;
    void *(*our_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "malloc");
    if (!libc_malloc || libc_malloc == our_malloc) return 2;
    p = libc_malloc(100);
    if (!p) return 2;
    memset(p, 1, 100);
  }
  misuse_announce(p);
  free(p);
  if (strcmp(what, "libc") == 0 && getenv("POOLMALLOC_FOREIGN_FREE")) return 0;
  return misuse_not_detected();
}
