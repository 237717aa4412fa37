/* SPDX-License-Identifier: MIT */
/* tests/stress/startup.c — allocation where the C runtime is fragile.
 *
 * Before main (a constructor that runs as early as a program's own can),
 * inside the dynamic loader (dlopen, dlsym, dlerror allocate through
 * malloc), and while a dlopen'ed library's thread-local storage is being
 * set up in new threads (__tls_get_addr allocates each thread's dynamic TLS
 * block with malloc).  Linked against libpoolmalloc, so all of these reach
 * poolmalloc.
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poolmalloc.h>
#include "../tap.h"
#include "../unit/pattern.h"

/* ---- Before main --------------------------------------------------------- */
static void *early_block;
static int early_ok;

__attribute__((constructor(101))) static void allocate_before_main(void) {
  void *v[64];
  early_ok = 1;
  for (int i = 0; i < 64; i++) {
    v[i] = malloc((size_t)i * 1000 + 1);
    if (!v[i]) early_ok = 0;
    else pat_fill(v[i], (size_t)i * 1000 + 1, i);
  }
  for (int i = 0; i < 64; i++)
    if (v[i] && pat_bad(v[i], (size_t)i * 1000 + 1, i) != (size_t)i * 1000 + 1) early_ok = 0;
  for (int i = 0; i < 64; i++) free(v[i]);
  early_block = malloc(4000);   /* lives on into main */
  if (early_block) pat_fill(early_block, 4000, 99);
}

TEST(allocation_before_main) {
  expect_eq(early_ok, 1);
  require_not_null(early_block);
  expect_eq(pat_bad(early_block, 4000, 99), 4000);
  expect_eq(pm_malloc_usable_size(early_block), malloc_usable_size(early_block));
  free(early_block);
}

/* ---- Inside the dynamic loader ---------------------------------------------- */
TEST(dlopen_dlsym_dlerror) {
  for (int round = 0; round < 20; round++) {
    void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    require_not_null(h);
    double (*cosine)(double) = (double (*)(double))dlsym(h, "cos");
    require_true(cosine != NULL);
    expect_true(cosine(0.0) == 1.0);
    expect_null(dlopen("libdoes-not-exist-pm.so", RTLD_NOW));
    const char *err = dlerror();   /* the message is malloc'ed by libdl */
    expect_not_null(err);
    expect_null(dlsym(h, "no_such_symbol_pm"));
    expect_not_null(dlerror());
    dlclose(h);
  }
}

/* ---- Dynamic TLS in new threads -------------------------------------------- */
/* libstdc++ keeps its exception globals in thread-local storage; in a
 * dlopen'ed copy that storage is dynamic TLS, which glibc allocates with
 * malloc the first time each thread touches it (unless it fits the static
 * TLS surplus). */
typedef void *globals_fn(void);
static globals_fn *cxa_get_globals;

static void *touch_tls(void *arg) {
  void **out = arg;
  char *mine = malloc(100);
  out[0] = cxa_get_globals();
  out[1] = cxa_get_globals();
  if (mine) memset(mine, 1, 100);
  free(mine);
  return NULL;
}

TEST(dynamic_tls_of_a_dlopened_library) {
  void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
  skip_if(h == NULL, "libstdc++.so.6 not installed");
  cxa_get_globals = (globals_fn *)dlsym(h, "__cxa_get_globals");
  require_true(cxa_get_globals != NULL);
  enum { N = 8 };
  pthread_t t[N];
  void *res[N][2];
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < N; i++) require_eq(pthread_create(&t[i], NULL, touch_tls, res[i]), 0);
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
      expect_not_null(res[i][0]);
      expect_eq((uintptr_t)res[i][0], (uintptr_t)res[i][1]);   /* stable within a thread */
    }
  }
  dlclose(h);
}
