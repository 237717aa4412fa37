/* SPDX-License-Identifier: MIT */
/* tests/prof/api.c — the profiler's C API and its estimates (api.sh runs
 * it with POOLMALLOC_PROF=1 and POOLMALLOC_PROF_INTERVAL=4096).
 *
 * Sampling is random, so the estimate checks use tolerances far outside
 * the sampling noise: with a 4 KiB interval, 200,000 blocks of 48 bytes
 * give about 2,300 samples (standard error about 2%), and the check allows
 * 15%.  Everything else is exact: a freed block leaves the live set (also
 * when another thread frees it), compare computes growth, filters keep or
 * drop what they match, annotations name sites, dumps are gperftools
 * heap profiles, the JSON document parses (api.sh runs jq on it).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poolmalloc.h>
#include "config.h"
#if PM_GC
#include <poolmalloc/gc.h>
#endif
#include "../tap.h"

#define NSMALL 200000
static void *small[NSMALL];

/* External, so that the profiler's symbolizer finds them by name. */
void *tracked_small(size_t n);
void *tracked_large(size_t n);
void *tracked_annotated(size_t n);
void *tracked_remote(size_t n);

__attribute__((noinline)) void *tracked_small(size_t n) { return malloc(n); }
__attribute__((noinline)) void *tracked_large(size_t n) { return malloc(n); }
__attribute__((noinline)) void *tracked_annotated(size_t n) {
  void *p = malloc(n);
  pm_prof_annotate(p, "widget");
  return p;
}
__attribute__((noinline)) void *tracked_remote(size_t n) { return malloc(n); }

/* The site whose first frame names fn, or NULL. */
static const pm_site_t *site_named(const pm_snapshot_t *s, const char *fn) {
  for (size_t i = 0; i < pm_snapshot_count(s); i++) {
    const pm_site_t *site = pm_snapshot_site(s, i);
    if (site->depth > 0 && site->symbols != NULL && site->symbols[0] != NULL && strstr(site->symbols[0], fn))
      return site;
  }
  return NULL;
}

static pm_snapshot_t *take(void) {
  pm_snapshot_t *s = pm_snapshot_take();
  if (s != NULL && pm_snapshot_symbolize(s) != 0) {
    pm_snapshot_free(s);
    return NULL;
  }
  return s;
}

TEST(profiling_is_on_at_the_interval_asked) {
  expect_eq(pm_prof_enabled(), 1);
  expect_eq(pm_prof_interval(), 4096);
}

TEST(small_blocks_estimate_is_unbiased) {
  for (size_t i = 0; i < NSMALL; i++) require_not_null(small[i] = tracked_small(48));
  pm_snapshot_t *s = take();
  require_not_null(s);
  const pm_site_t *site = site_named(s, "tracked_small");
  require_not_null(site);
  printf("# tracked_small: %zu blocks, %zu bytes estimated from %zu samples (truth: %d blocks, %d bytes)\n",
         site->count, site->bytes, site->nsamples, NSMALL, NSMALL * 48);
  expect_gt(site->nsamples, 1000);
  expect_ge(site->count, NSMALL * 85 / 100);
  expect_le(site->count, NSMALL * 115 / 100);
  expect_ge(site->bytes, (size_t)NSMALL * 48 * 85 / 100);
  expect_le(site->bytes, (size_t)NSMALL * 48 * 115 / 100);
  expect_true(strstr(site->symbols[0], "api.c") != NULL);   /* file:line from the debug info */
  pm_snapshot_free(s);
}

TEST(freeing_removes_samples) {
  for (size_t i = 0; i < NSMALL; i++) free(small[i]);
  pm_snapshot_t *s = take();
  require_not_null(s);
  expect_null(site_named(s, "tracked_small"));
  pm_snapshot_free(s);
}

TEST(large_blocks_are_sampled_and_forgotten) {
  static void *big[64];
  for (int i = 0; i < 64; i++) require_not_null(big[i] = tracked_large(300000));
  for (int i = 0; i < 64; i += 2) require_not_null(big[i] = realloc(big[i], 600000));   /* grows */
  pm_snapshot_t *s = take();
  require_not_null(s);
  const pm_site_t *site = site_named(s, "tracked_large");
  require_not_null(site);
  /* p(300 KiB) at a 4 KiB interval is 1 - e^-73: every block is sampled. */
  expect_eq(site->nsamples, 32);
  expect_eq(site->count, 32);
  const pm_site_t *grown = NULL;   /* the realloc'd ones moved to realloc's site */
  for (size_t i = 0; i < pm_snapshot_count(s); i++)
    if (pm_snapshot_site(s, i)->nsamples == 32 && pm_snapshot_site(s, i) != site) grown = pm_snapshot_site(s, i);
  expect_not_null(grown);
  pm_snapshot_free(s);
  for (int i = 0; i < 64; i++) free(big[i]);
  s = take();
  require_not_null(s);
  expect_null(site_named(s, "tracked_large"));
  pm_snapshot_free(s);
}

TEST(compare_reports_growth_first) {
  static void *keep[20000];
  pm_snapshot_t *s1 = take();
  require_not_null(s1);
  for (int i = 0; i < 20000; i++) require_not_null(keep[i] = tracked_small(400));
  pm_snapshot_t *s2 = take();
  require_not_null(s2);
  pm_snapshot_t *d = pm_snapshot_compare(s2, s1);
  require_not_null(d);
  require_gt(pm_snapshot_count(d), 0);
  const pm_site_t *top = pm_snapshot_site(d, 0);
  expect_true(pm_snapshot_symbolize(d) == 0 && strstr(top->symbols[0], "tracked_small") != NULL);
  expect_ge(top->bytes_diff, (ptrdiff_t)(20000 * 400 * 8 / 10));
  expect_eq((size_t)top->bytes_diff, top->bytes);   /* new since s1 */
  for (size_t i = 1; i < pm_snapshot_count(d); i++)
    expect_le(pm_snapshot_site(d, i)->bytes_diff, pm_snapshot_site(d, i - 1)->bytes_diff);
  pm_snapshot_free(d);
  for (int i = 0; i < 20000; i++) free(keep[i]);
  pm_snapshot_t *s3 = take();
  require_not_null(s3);
  d = pm_snapshot_compare(s3, s2);   /* gone: negative growth */
  require_not_null(d);
  require_gt(pm_snapshot_count(d), 0);
  const pm_site_t *last = pm_snapshot_site(d, pm_snapshot_count(d) - 1);
  expect_true(last->bytes_diff < 0 && last->bytes == 0);
  pm_snapshot_free(d);
  pm_snapshot_free(s3);
  pm_snapshot_free(s2);
  pm_snapshot_free(s1);
}

TEST(filters_keep_and_drop) {
  static void *keep[5000];
  for (int i = 0; i < 5000; i++) require_not_null(keep[i] = tracked_small(1000));
  pm_snapshot_t *s = take();
  require_not_null(s);
  size_t n = pm_snapshot_count(s);
  require_gt(n, 0);
  pm_snapshot_t *none = pm_snapshot_filter(s, "*", 0), *all = pm_snapshot_filter(s, "*", 1);
  pm_snapshot_t *ours = pm_snapshot_filter(s, "*tests/prof/api*", 1);   /* the program's path */
  pm_snapshot_t *src = pm_snapshot_filter(s, "*api.c:*", 1);            /* a source file */
  pm_snapshot_t *nolibc = pm_snapshot_filter(s, "*libc.so*", 0);        /* every stack passes libc */
  require_true(none && all && ours && src && nolibc);
  expect_eq(pm_snapshot_count(none), 0);
  expect_eq(pm_snapshot_count(all), n);
  expect_not_null(site_named(ours, "tracked_small"));
  expect_not_null(site_named(src, "tracked_small"));
  expect_null(site_named(nolibc, "tracked_small"));
  pm_snapshot_free(none), pm_snapshot_free(all), pm_snapshot_free(ours), pm_snapshot_free(src),
      pm_snapshot_free(nolibc);
  pm_snapshot_free(s);
  for (int i = 0; i < 5000; i++) free(keep[i]);
}

#if PM_GC
/* The GC layer names its objects after their type (lib/gc/object.c calls
 * pmi_alloc_annotate): sampled pairs show "[pair]". */
typedef struct gc_pair_s { void *a, *b; } gc_pair_t;
static pm_type_t gc_pair_type = {.name = "gc_pair", .basicsize = sizeof(gc_pair_t)};

TEST(gc_objects_carry_their_type_name) {
  require_eq(pm_type_ready(&gc_pair_type), 0);
  static void *keep[20000];
  for (int i = 0; i < 20000; i++) require_not_null(keep[i] = pm_obj_new(&gc_pair_type));
  pm_snapshot_t *s = take();
  require_not_null(s);
  pm_snapshot_t *w = pm_snapshot_filter(s, "gc_pair", 1);
  require_not_null(w);
  expect_ge(pm_snapshot_count(w), 1);
  if (pm_snapshot_count(w) > 0) expect_true(strcmp(pm_snapshot_site(w, 0)->annotation, "gc_pair") == 0);
  pm_snapshot_free(w);
  pm_snapshot_free(s);
  for (int i = 0; i < 20000; i++) pm_decref(keep[i]);
}
#endif

TEST(annotations_name_the_site) {
  static void *keep[5000];
  for (int i = 0; i < 5000; i++) require_not_null(keep[i] = tracked_annotated(256));
  pm_snapshot_t *s = take();
  require_not_null(s);
  const pm_site_t *site = site_named(s, "tracked_annotated");
  require_not_null(site);
  expect_true(site->annotation != NULL && strcmp(site->annotation, "widget") == 0);
  pm_snapshot_t *w = pm_snapshot_filter(s, "widget", 1);
  require_not_null(w);
  expect_eq(pm_snapshot_count(w), 1);
  pm_snapshot_free(w);
  char path[] = "/tmp/pm-prof-print.XXXXXX";
  int fd = mkstemp(path);
  require_true(fd >= 0);
  pm_snapshot_print(s, fd, 0);
  char buf[1 << 16];
  ssize_t len = pread(fd, buf, sizeof buf - 1, 0);
  close(fd);
  unlink(path);
  require_true(len > 0);
  buf[len] = '\0';
  expect_true(strstr(buf, "[widget]") != NULL);
  expect_true(strstr(buf, "tracked_annotated") != NULL);
  pm_snapshot_free(s);
  for (int i = 0; i < 5000; i++) free(keep[i]);
}

static void *free_them(void *arg) {
  void **blocks = arg;
  for (int i = 0; i < 20000; i++) free(blocks[i]);
  return NULL;
}

TEST(remote_frees_leave_the_live_set) {
  static void *blocks[20000];
  for (int i = 0; i < 20000; i++) require_not_null(blocks[i] = tracked_remote(64));
  pthread_t t;
  require_eq(pthread_create(&t, NULL, free_them, blocks), 0);
  pthread_join(t, NULL);
  malloc_trim(0);   /* drains this thread's remote frees */
  pm_snapshot_t *s = take();
  require_not_null(s);
  expect_null(site_named(s, "tracked_remote"));
  pm_snapshot_free(s);
}

TEST(dump_writes_a_gperftools_heap_profile) {
  const char *dir = getenv("PROF_TEST_DIR");
  skip_if(dir == NULL, "PROF_TEST_DIR not set");
  char path[4096];
  snprintf(path, sizeof path, "%s/api.heap", dir);
  static void *keep[1000];
  for (int i = 0; i < 1000; i++) require_not_null(keep[i] = tracked_small(2000));
  require_eq(pm_prof_dump(path), 0);
  FILE *f = fopen(path, "r");
  require_not_null(f);
  char line[512];
  require_not_null(fgets(line, sizeof line, f));
  expect_true(strncmp(line, "heap profile:", 13) == 0 && strstr(line, "@ heap_v2/4096") != NULL);
  int maps = 0;
  while (fgets(line, sizeof line, f)) maps |= strncmp(line, "MAPPED_LIBRARIES:", 17) == 0;
  fclose(f);
  expect_true(maps);
  expect_eq(pm_prof_dump("/nonexistent-dir/x.heap"), -1);
  for (int i = 0; i < 1000; i++) free(keep[i]);
}

TEST(stats_json_writes_one_document) {
  const char *dir = getenv("PROF_TEST_DIR");
  skip_if(dir == NULL, "PROF_TEST_DIR not set");
  char path[4096];
  snprintf(path, sizeof path, "%s/api.json", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  require_true(fd >= 0);
  expect_eq(pm_stats_json(fd), 0);
  close(fd);
  expect_eq(pm_stats_json(-1), -1);
}
