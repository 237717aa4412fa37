/* SPDX-License-Identifier: MIT */
/* tests/install/use_api.c — a program built against the installed
 * poolmalloc (pkg-config), as a user builds one.  Linked with -lpoolmalloc,
 * malloc itself must be poolmalloc's: the pm_* calls below only accept
 * blocks poolmalloc handed out (pm_malloc_usable_size aborts on any other).
 * Prints the file the allocator was loaded from ("static" when it is part
 * of the executable), for installcheck.sh to compare with the prefix; exit 0 when every check held.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poolmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  int fail = 0;
  char *s = malloc(100);
  if (s == NULL) return 1;
  strcpy(s, "hello");
  if (pm_malloc_usable_size(s) < 100) { puts("malloc's block is too small"); fail = 1; }
  void *big = malloc(1 << 20);
  pm_stats_t st;
  pm_stats_get(&st);
  if (st.small_allocated < 100 || st.nlarge < 1) { puts("malloc did not reach poolmalloc"); fail = 1; }
  free(big);
  void *a = NULL;
  if (pm_posix_memalign(&a, 4096, 300) != 0 || ((size_t)a & 4095) != 0) { puts("pm_posix_memalign"); fail = 1; }
  pm_free(a);
  free(s);
  Dl_info info;
  /* dladdr knows nothing in a static executable: there the allocator is
   * part of the program. */
  if (dladdr((void *)pm_malloc, &info) != 0 && info.dli_fname != NULL) printf("allocator=%s\n", info.dli_fname);
  else printf("allocator=static\n");
  printf("version=%s\n", pm_version());
  return fail;
}
