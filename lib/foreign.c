/* SPDX-License-Identifier: MIT */
/* foreign.c — pointers poolmalloc did not allocate.
 *
 * By default a foreign pointer passed to free, realloc or
 * malloc_usable_size is misuse: one line naming it, then abort.  With
 * POOLMALLOC_FOREIGN_FREE=1 it is handed to the C library's own allocator
 * (found once with dlsym(RTLD_NEXT, ...), outside any lock of ours), for
 * programs that mix allocators on purpose.
 */
#define _GNU_SOURCE 1
#include "internal.h"

#include <dlfcn.h>

typedef void libc_free_fn(void *);
typedef size_t libc_usable_fn(void *);

static libc_free_fn *foreign_libc_free(void) {
  static libc_free_fn *fn;
  if (fn == NULL) fn = (libc_free_fn *)dlsym(RTLD_NEXT, "free");
  return fn;
}

void pmi_foreign_free(void *p) {
  libc_free_fn *libc_free = pmi_option(PM_OPTION_FOREIGN_FREE) ? foreign_libc_free() : NULL;
  if (libc_free == NULL || libc_free == (libc_free_fn *)pm_free)
    pmi_fatal("invalid free of %p (not allocated by poolmalloc)", p);
  libc_free(p);
}

size_t pmi_foreign_usable_size(const void *p) {
  static libc_usable_fn *fn;
  if (pmi_option(PM_OPTION_FOREIGN_FREE) && fn == NULL) fn = (libc_usable_fn *)dlsym(RTLD_NEXT, "malloc_usable_size");
  if (!pmi_option(PM_OPTION_FOREIGN_FREE) || fn == NULL || fn == (libc_usable_fn *)pm_malloc_usable_size)
    return SIZE_MAX;
  return fn((void *)p);
}
