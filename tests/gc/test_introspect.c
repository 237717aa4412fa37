/* SPDX-License-Identifier: MIT */
/* tests/gc/test_introspect.c — looking at the object graph (issue 13;
 * docs/gc.md, "Introspection"): get_referrers/get_referents over several
 * objects, the DEBUG_COLLECTABLE / DEBUG_UNCOLLECTABLE / DEBUG_LEAK lines,
 * duration and candidates in the callback info and the statistics, the
 * objgraph-style DOT dumps (checked with Graphviz's dot when installed)
 * and the most-common-types count.
 */
#include "../tap.h"
#include "gcnode.h"
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static void fresh(void) {
  gcn_log_reset();
  pm_gc_set_debug(0);
  pm_gc_enable();
  pm_gc_collect(2);
}

static bool has(void **v, size_t n, const void *x) {
  for (size_t i = 0; i < n; i++)
    if (v[i] == x) return true;
  return false;
}

TEST(referrers_and_referents_of_several_objects) {
  fresh();
  enum { N = 12 };                      /* more than 8: the set path */
  gcnode_t *t[N], *r[N];
  for (int i = 0; i < N; i++) t[i] = gcn_new(), r[i] = gcn_new();
  for (int i = 0; i < N; i++) gcn_link(r[i], 0, t[i]);
  gcnode_t *both = gcn_new();
  gcn_link(both, 0, t[0]), gcn_link(both, 1, t[1]);
  void *out[64];
  size_t n = pm_gc_get_referrers_many((void *const *)t, N, out, 64);
  expect_eq(n, N + 1);                  /* each r[i], and both once */
  for (int i = 0; i < N; i++) expect_true(has(out, n, r[i]));
  expect_true(has(out, n, both));
  void *two[2] = {t[0], t[1]};
  expect_eq(pm_gc_get_referrers_many(two, 2, out, 64), 3);
  void *srcs[2] = {both, r[3]};
  n = pm_gc_get_referents_many(srcs, 2, out, 64);
  expect_eq(n, 3);
  expect_true(out[0] == t[0] && out[1] == t[1] && out[2] == t[3]);
  expect_eq(pm_gc_get_referents_many(srcs, 2, out, 1), 3);   /* total, cap kept */
  void *with_null[3] = {NULL, both, NULL};       /* gc.get_referents(None, x) */
  expect_eq(pm_gc_get_referents_many(with_null, 3, out, 64), 2);
  pm_decref(both);
  for (int i = 0; i < N; i++) pm_decref(r[i]), pm_decref(t[i]);
}

/* ---- DEBUG_* lines (stderr of a child) ----------------------------------- */
static char child_err[8192];
static void run_capturing_stderr(void (*fn)(void)) {
  int fds[2];
  if (pipe(fds) != 0) abort();
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    fn();
    _exit(0);
  }
  close(fds[1]);
  size_t n = 0;
  ssize_t k;
  while (n < sizeof child_err - 1 && (k = read(fds[0], child_err + n, sizeof child_err - 1 - n)) > 0)
    n += (size_t)k;
  child_err[n] = '\0';
  close(fds[0]);
  waitpid(pid, NULL, 0);
}

static void stubborn_clear(void *self) {}
static pm_type_t stubborn_type = {.name = "stubborn", .basicsize = sizeof(gcnode_t),
                                  .traverse = gcn_traverse, .clear = stubborn_clear};
static gcnode_t *dbg_a, *dbg_s;

static void make_garbage(void) {
  dbg_a = gcn_new();
  gcn_link(dbg_a, 0, dbg_a);
  pm_decref(dbg_a);
  dbg_s = pm_obj_new(&stubborn_type);
  gcn_link(dbg_s, 0, dbg_s);
  pm_decref(dbg_s);
}
static void collect_collectable(void) {
  make_garbage();
  pm_gc_set_debug(PM_GC_DEBUG_COLLECTABLE);
  pm_gc_collect(2);
}
static void collect_uncollectable(void) {
  make_garbage();
  pm_gc_set_debug(PM_GC_DEBUG_UNCOLLECTABLE);
  pm_gc_collect(2);
}
static void collect_leak(void) {
  make_garbage();
  pm_gc_set_debug(PM_GC_DEBUG_LEAK);
  pm_gc_collect(2);
  /* SAVEALL: nothing was cleared, both are in gc.garbage */
  void *g[4];
  if (pm_gc_get_garbage(g, 4) != 2) _exit(3);
}

TEST(debug_collectable_uncollectable_and_leak) {
  fresh();
  run_capturing_stderr(collect_collectable);
  tap_note("child said: %s", child_err);
  /* the objects are made in the child: check the shape of the lines */
  expect_true(strstr(child_err, "poolmalloc: gc: collectable <gcnode 0x") != NULL);
  expect_true(strstr(child_err, "poolmalloc: gc: collectable <stubborn 0x") != NULL);
  expect_null(strstr(child_err, "uncollectable"));
  run_capturing_stderr(collect_uncollectable);
  expect_null(strstr(child_err, " collectable <"));
  expect_true(strstr(child_err, "poolmalloc: gc: uncollectable <stubborn 0x") != NULL);
  expect_null(strstr(child_err, "uncollectable <gcnode"));
  run_capturing_stderr(collect_leak);
  expect_true(strstr(child_err, "poolmalloc: gc: collectable <gcnode 0x") != NULL);
  expect_eq(PM_GC_DEBUG_LEAK, 0x26);    /* CPython's value */
}

/* ---- duration and candidates -------------------------------------------------- */
static pm_gc_info_t last_stop;
static void keep_stop(int phase, const pm_gc_info_t *info, void *data) {
  if (phase == PM_GC_PHASE_STOP) last_stop = *info;
}

TEST(callback_info_and_stats_report_duration_and_candidates) {
  fresh();
  enum { LIVE = 5000, DEAD = 300 };
  static gcnode_t *keep[LIVE];
  pm_gc_disable();                      /* no automatic collection meanwhile */
  for (int i = 0; i < LIVE; i++) keep[i] = gcn_new();
  for (int i = 0; i < DEAD; i++) { gcnode_t *x = gcn_new(); gcn_link(x, 0, x); pm_decref(x); }
  pm_gc_stats_t s0[3], s1[3];
  pm_gc_get_stats(s0);
  require_eq(pm_gc_callback_add(keep_stop, NULL), 0);
  memset(&last_stop, 0, sizeof last_stop);
  expect_eq(pm_gc_collect(0), DEAD);
  pm_gc_callback_remove(keep_stop, NULL);
  pm_gc_get_stats(s1);
  expect_eq(last_stop.generation, 0);
  expect_eq(last_stop.collected, DEAD);
  expect_eq(last_stop.candidates, LIVE + DEAD);   /* generation 0, all new */
  expect_true(last_stop.duration > 0.0 && last_stop.duration < 10.0);
  expect_eq(s1[0].candidates - s0[0].candidates, LIVE + DEAD);
  expect_true(s1[0].duration > s0[0].duration);
  /* a full collection examines every tracked object */
  size_t all = pm_gc_gen_size(0) + pm_gc_gen_size(1) + pm_gc_gen_size(2);
  require_eq(pm_gc_callback_add(keep_stop, NULL), 0);
  pm_gc_collect(2);
  pm_gc_callback_remove(keep_stop, NULL);
  expect_eq(last_stop.candidates, all);
  for (int i = 0; i < LIVE; i++) pm_decref(keep[i]);
  pm_gc_enable();
}

/* ---- objgraph: DOT and most common types ------------------------------------ */
static char dot_buf[1 << 16];
static size_t dump_to_buffer(long (*dump)(int, void *const *, size_t, int), void *const *roots,
                             size_t n, int depth, long *ret) {
  char path[] = "/tmp/pm-dot-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) abort();
  unlink(path);
  *ret = dump(fd, roots, n, depth);
  lseek(fd, 0, SEEK_SET);
  ssize_t k = read(fd, dot_buf, sizeof dot_buf - 1);
  close(fd);
  dot_buf[k > 0 ? k : 0] = '\0';
  return k > 0 ? (size_t)k : 0;
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) n++;
  return n;
}

/* Renders with Graphviz if it is installed: the DOT must parse. */
static int dot_parses(const char *text) {
  if (system("command -v dot >/dev/null 2>&1") != 0) return -1;
  FILE *p = popen("dot -Tsvg -o /dev/null 2>&1", "w");
  if (p == NULL) return -1;
  fputs(text, p);
  return pclose(p) == 0;
}

static pm_type_t holder_type = {.name = "holder \"quoted\"", .basicsize = sizeof(gcnode_t),
                                .traverse = gcn_traverse, .clear = stubborn_clear};

TEST(dump_dot_writes_the_reachable_graph) {
  fresh();
  /* root -> a -> b -> a (a cycle), root -> c; d is beyond depth 2 from root
   * only through b -> d */
  gcnode_t *root = pm_obj_new(&holder_type), *a = gcn_new(), *b = gcn_new(), *c = gcn_new(), *d = gcn_new();
  gcn_link(root, 0, a), gcn_link(root, 1, c), gcn_link(a, 0, b), gcn_link(b, 0, a), gcn_link(b, 1, d);
  long ret;
  void *roots[1] = {root};
  dump_to_buffer(pm_gc_dump_dot, roots, 1, 2, &ret);
  tap_note("depth 2:\n%s", dot_buf);
  expect_eq(ret, 4);                    /* root, a, c (depth 1), b (depth 2) */
  expect_true(strncmp(dot_buf, "digraph", 7) == 0);
  /* root->a, root->c, a->b; b, at the depth limit, is not expanded (as
   * objgraph's max_depth) */
  expect_eq(count_of(dot_buf, " -> "), 3);
  expect_eq(count_of(dot_buf, "[label="), 4);
  expect_true(strstr(dot_buf, "holder \\\"quoted\\\"") != NULL);   /* escaped */
  expect_true(strstr(dot_buf, "4 objects: 3 gcnode, 1 holder") != NULL);
  expect_ne(dot_parses(dot_buf), 0);
  dump_to_buffer(pm_gc_dump_dot, roots, 1, 3, &ret);
  expect_eq(ret, 5);                    /* d too */
  expect_eq(count_of(dot_buf, " -> "), 5);   /* and b->a, b->d */
  expect_ne(dot_parses(dot_buf), 0);
  /* back references: who refers to a, within 2 levels */
  void *targets[1] = {a};
  dump_to_buffer(pm_gc_dump_dot_referrers, targets, 1, 2, &ret);
  tap_note("referrers of a:\n%s", dot_buf);
  expect_eq(ret, 3);                    /* a, its referrers root and b */
  expect_eq(count_of(dot_buf, " -> "), 3);   /* root->a, b->a, a->b */
  expect_ne(dot_parses(dot_buf), 0);
  gcn_link(root, 0, NULL), gcn_link(root, 1, NULL), gcn_link(b, 0, NULL);
  pm_decref(root), pm_decref(a), pm_decref(b), pm_decref(c), pm_decref(d);
}

TEST(most_common_types_counts_tracked_objects) {
  fresh();
  enum { N = 37 };
  static gcnode_t *objs[N];
  for (int i = 0; i < N; i++) objs[i] = pm_obj_new(&holder_type);
  pm_gc_typecount_t top[4];
  size_t ntypes = pm_gc_most_common_types(top, 4);
  expect_ge(ntypes, 1);
  size_t holders = 0;
  for (size_t i = 0; i < (ntypes < 4 ? ntypes : 4); i++) {
    if (top[i].type == &holder_type) holders = top[i].count;
    if (i > 0) expect_ge(top[i - 1].count, top[i].count);
  }
  expect_eq(holders, N);
  int fds[2];
  require_eq(pipe(fds), 0);
  pm_gc_show_most_common_types(fds[1], 3);
  close(fds[1]);
  char buf[512] = {0};
  ssize_t k = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  expect_gt(k, 0);
  tap_note("%s", buf);
  char want[64];
  snprintf(want, sizeof want, "%d\n", N);
  expect_true(strstr(buf, "holder \"quoted\"") != NULL && strstr(buf, want) != NULL);
  for (int i = 0; i < N; i++) pm_decref(objs[i]);
}
