/* SPDX-License-Identifier: MIT */
/* tests/oom/oom.c — out of memory under RLIMIT_AS, and after it (issue 7 §5).
 *
 * A plain C program (it links no poolmalloc): tests/oom/oom.sh runs it
 * under LD_PRELOAD=$PM_LIB and, for calibration, on the system allocator.
 *
 *   oom recover OP SIZE
 *     Sets RLIMIT_AS to the current VmSize + 64 MiB, fills memory until
 *     malloc returns NULL (64-byte blocks, then 40 000, then 300 000: small,
 *     medium and large all run dry), requiring errno == ENOMEM every time,
 *     frees every block, then makes one call OP of SIZE bytes:
 *       malloc, calloc, realloc (of a 16-byte block kept live through the
 *       fill), posix_memalign, aligned_alloc (64-byte alignment), or
 *       trim+malloc (malloc_trim(0) first: the control, which shows the
 *       fill left nothing the allocator cannot give back).
 *     Exit 0: the call succeeded; 1: it failed (NULL or an error);
 *     3: a NULL during the fill with errno other than ENOMEM; 2: setup.
 *   oom fill SIZE BUDGET_MIB [BASE_KIB]
 *     Sets RLIMIT_AS to BASE_KIB (default: this process's VmSize at start)
 *     + BUDGET_MIB and allocates SIZE-byte blocks until NULL; prints
 *     "base KIB" and "filled N bytes".  oom.sh passes glibc's base to the
 *     poolmalloc run, so whatever poolmalloc maps at load time (its chunk
 *     map) counts against the same absolute limit as it would in a program
 *     run under ulimit -v.
 * Blocks are not touched beyond their first byte: RLIMIT_AS limits address
 * space, not memory, and the test must not need 64 MiB of RAM.  The block
 * table is static (in the VmSize measured before the limit is set).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define MAX_BLOCKS (1 << 21)
static void *blocks[MAX_BLOCKS];
static size_t nblocks;

static long vm_size_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "VmSize:", 7) == 0) kib = strtol(line + 7, NULL, 10);
  if (f != NULL) fclose(f);
  return kib;
}

static int limit_address_space(long base_kib, long budget_mib) {
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = ((rlim_t)base_kib << 10) + ((rlim_t)budget_mib << 20);
  return setrlimit(RLIMIT_AS, &rl);
}

/* Allocates size-byte blocks until NULL; 0, or 3 if errno was not ENOMEM. */
static int fill(size_t size) {
  while (nblocks < MAX_BLOCKS) {
    errno = 0;
    char *p = malloc(size);
    if (p == NULL) return errno == ENOMEM ? 0 : 3;
    *p = 1;
    blocks[nblocks++] = p;
  }
  return 0;
}

static int recover(const char *op, size_t size) {
  char *kept = malloc(16);
  if (kept == NULL) return 2;
  fflush(stdout);
  if (limit_address_space(vm_size_kib(), 64) != 0) return 2;
  int rc = fill(64);   /* small first, as a program's heap grows */
  if (rc == 0) rc = fill(40000);
  if (rc == 0) rc = fill(300000);
  if (rc != 0) return rc;
  size_t n = nblocks;
  while (nblocks > 0) free(blocks[--nblocks]);
  errno = 0;
  void *p = NULL;
  int err = 0;
  if (strcmp(op, "malloc") == 0) p = malloc(size);
  else if (strcmp(op, "calloc") == 0) p = calloc(1, size);
  else if (strcmp(op, "realloc") == 0) p = realloc(kept, size);
  else if (strcmp(op, "posix_memalign") == 0) err = posix_memalign(&p, 64, size);
  else if (strcmp(op, "aligned_alloc") == 0) p = aligned_alloc(64, size);
  else if (strcmp(op, "trim+malloc") == 0) malloc_trim(0), p = malloc(size);
  else return 2;
  if (p == NULL) {
    fprintf(stderr, "oom: after %zu blocks filled and freed, %s(%zu) failed: %s\n", n, op, size,
            strerror(err ? err : errno));
    return 1;
  }
  return 0;
}

static int fill_budget(size_t size, long budget_mib, long base_kib) {
  if (base_kib <= 0) base_kib = vm_size_kib();
  printf("base %ld\n", base_kib);
  fflush(stdout);
  if (limit_address_space(base_kib, budget_mib) != 0) return 2;
  int rc = fill(size);
  printf("filled %zu bytes in %zu blocks\n", nblocks * size, nblocks);
  return rc;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "recover") == 0) return recover(argv[2], strtoul(argv[3], NULL, 0));
  if (argc >= 4 && strcmp(argv[1], "fill") == 0)
    return fill_budget(strtoul(argv[2], NULL, 0), atol(argv[3]), argc > 4 ? atol(argv[4]) : 0);
  fprintf(stderr, "usage: oom recover OP SIZE | oom fill SIZE BUDGET_MIB [BASE_KIB]\n");
  return 2;
}
