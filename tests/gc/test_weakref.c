/* SPDX-License-Identifier: MIT */
/* tests/gc/test_weakref.c — the rest of Python's weakref surface over the
 * GC layer (issue 13; docs/gc.md, "Weak references"): getweakrefs, the
 * shared callback-less weak reference, weakref.finalize (call, detach,
 * alive, atexit), and the weak containers (WeakValueDictionary,
 * WeakKeyDictionary, WeakSet), including mutation during iteration.
 */
#include "../tap.h"
#include "gcnode.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void fresh(void) {
  gcn_log_reset();
  pm_gc_set_debug(0);
  pm_gc_enable();
  pm_gc_collect(2);
}

/* ---- getweakrefs and the shared basic reference -------------------------- */
static void nop_cb(void *wr, void *cb_obj) {}

TEST(callback_less_weakrefs_are_shared_per_referent) {
  fresh();
  gcnode_t *a = gcn_new(), *b = gcn_new();
  void *w1 = pm_weakref_new(a, NULL, NULL);
  void *w2 = pm_weakref_new(a, NULL, NULL);
  void *wb = pm_weakref_new(b, NULL, NULL);
  void *wc = pm_weakref_new(a, nop_cb, NULL);       /* with a callback: its own */
  expect_true(w1 == w2);
  expect_true(w1 != wb);
  expect_true(wc != w1);
  expect_eq(pm_obj_refcnt(w1), 2);
  expect_eq(pm_weakref_count(a), 2);
  pm_decref(w2);
  pm_decref(w1);                                    /* the last: a new one next */
  expect_eq(pm_weakref_count(a), 1);
  void *w3 = pm_weakref_new(a, NULL, NULL);
  expect_eq(pm_obj_refcnt(w3), 1);
  expect_eq(pm_weakref_count(a), 2);
  pm_decref(a);
  expect_null(pm_weakref_get(w3));
  expect_null(pm_weakref_get(wc));
  pm_decref(w3), pm_decref(wc), pm_decref(wb), pm_decref(b);
}

TEST(getweakrefs_lists_the_shared_one_then_newest_first) {
  fresh();
  gcnode_t *a = gcn_new();
  void *c1 = pm_weakref_new(a, nop_cb, NULL);
  void *basic = pm_weakref_new(a, NULL, NULL);
  void *c2 = pm_weakref_new(a, nop_cb, NULL);
  void *out[8];
  expect_eq(pm_weakref_getweakrefs(a, out, 8), 3);
  expect_true(out[0] == basic);
  expect_true(out[1] == c2);
  expect_true(out[2] == c1);
  expect_eq(pm_weakref_getweakrefs(a, out, 1), 3);  /* the total, cap respected */
  gcnode_t *none = gcn_new();
  expect_eq(pm_weakref_getweakrefs(none, out, 8), 0);
  pm_decref(a);
  expect_eq(pm_weakref_getweakrefs(none, out, 8), 0);
  pm_decref(c1), pm_decref(c2), pm_decref(basic), pm_decref(none);
}

/* ---- weakref.finalize ---------------------------------------------------- */
static int fin_calls;
static void *fin_obj_seen, *fin_data_seen;
static void record_fin(void *obj, void *data) {
  fin_calls++;
  fin_obj_seen = obj;
  fin_data_seen = data;
}

TEST(finalize_runs_once_when_the_referent_dies) {
  fresh();
  fin_calls = 0;
  gcnode_t *a = gcn_new(), *arg = gcn_new();
  uint32_t iarg = arg->id;
  void *f = pm_finalize_new(a, record_fin, arg, (void *)0x1234);
  require_not_null(f);
  pm_decref(arg);                       /* the finalizer keeps it */
  expect_eq(pm_finalize_alive(f), 1);
  expect_eq(pm_finalize_get_atexit(f), 1);
  pm_decref(a);
  expect_eq(fin_calls, 1);
  expect_true(fin_obj_seen == arg);
  expect_true(fin_data_seen == (void *)0x1234);
  expect_eq(gcn_freed[iarg], 1);        /* dropped after the call */
  expect_eq(pm_finalize_alive(f), 0);
  expect_eq(pm_finalize_call(f), 0);    /* dead: nothing more */
  expect_eq(fin_calls, 1);
  pm_decref(f);
}

TEST(finalize_survives_without_a_caller_reference_and_runs_for_cycles) {
  fresh();
  fin_calls = 0;
  gcnode_t *a = gcn_new();
  gcn_link(a, 0, a);
  void *f = pm_finalize_new(a, record_fin, NULL, NULL);
  pm_decref(f);                         /* the registry keeps it alive */
  pm_decref(a);
  expect_eq(fin_calls, 0);
  expect_ge(pm_gc_collect(2), 1);
  expect_eq(fin_calls, 1);
}

TEST(finalize_call_runs_now_and_only_once) {
  fresh();
  fin_calls = 0;
  gcnode_t *a = gcn_new();
  void *f = pm_finalize_new(a, record_fin, NULL, NULL);
  expect_eq(pm_finalize_call(f), 1);
  expect_eq(fin_calls, 1);
  expect_eq(pm_finalize_alive(f), 0);
  pm_decref(a);
  expect_eq(fin_calls, 1);
  pm_decref(f);
}

TEST(finalize_detach_gives_back_its_parts_without_calling) {
  fresh();
  fin_calls = 0;
  gcnode_t *a = gcn_new(), *arg = gcn_new();
  void *f = pm_finalize_new(a, record_fin, arg, (void *)7);
  void *r = NULL, *o = NULL, *d = NULL;
  expect_eq(pm_finalize_detach(f, &r, &o, &d), 1);
  expect_true(r == a);
  expect_true(o == arg);
  expect_true(d == (void *)7);
  expect_eq(pm_obj_refcnt(a), 2);       /* ours and the detach's */
  expect_eq(pm_obj_refcnt(arg), 2);
  expect_eq(pm_finalize_detach(f, &r, &o, &d), 0);
  pm_decref(r), pm_decref(o);
  pm_decref(a), pm_decref(arg);
  expect_eq(fin_calls, 0);
  pm_decref(f);
}

TEST(finalize_rejects_bad_arguments) {
  fresh();
  gcnode_t *a = gcn_new();
  errno = 0;
  expect_null(pm_finalize_new(NULL, record_fin, NULL, NULL));
  expect_eq(errno, EINVAL);
  expect_null(pm_finalize_new(a, NULL, NULL, NULL));
  expect_eq(pm_finalize_call(a), -1);   /* not a finalizer */
  gcnode_t *atomic_a = pm_obj_new_flags(&gcnode_type, 0, PM_OBJ_ATOMIC);
  atomic_a->id = 0;
  errno = 0;
  expect_null(pm_finalize_new(atomic_a, record_fin, a, NULL));   /* thread rule */
  expect_eq(errno, EINVAL);
  pm_decref(atomic_a), pm_decref(a);
}

/* atexit: in a child that exits normally, the alive finalizers with atexit
 * set run newest first; those with atexit cleared do not. */
static int exit_pipe = -1;
static void write_tag(void *obj, void *data) {
  char c = (char)(uintptr_t)data;
  if (write(exit_pipe, &c, 1) != 1) _exit(9);
}

TEST(finalize_atexit_runs_at_exit_newest_first) {
  fresh();
  int fds[2];
  require_eq(pipe(fds), 0);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    exit_pipe = fds[1];
    static gcnode_t *keep[3];
    for (int i = 0; i < 3; i++) keep[i] = gcn_new();
    void *f1 = pm_finalize_new(keep[0], write_tag, NULL, (void *)'1');
    void *f2 = pm_finalize_new(keep[1], write_tag, NULL, (void *)'2');
    void *f3 = pm_finalize_new(keep[2], write_tag, NULL, (void *)'3');
    pm_finalize_set_atexit(f2, 0);
    pm_decref(f1), pm_decref(f2), pm_decref(f3);
    exit(0);                            /* not _exit: the exit hook runs */
  }
  close(fds[1]);
  char buf[16] = {0};
  ssize_t n = 0, k;
  while (n < (ssize_t)sizeof buf - 1 && (k = read(fds[0], buf + n, sizeof buf - 1 - (size_t)n)) > 0) n += k;
  close(fds[0]);
  int st;
  waitpid(pid, &st, 0);
  expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  expect_str_eq(buf, "31");
}

/* ---- Weak containers ------------------------------------------------------ */
/* Keys compared by content: a string-like leaf object. */
typedef struct str_s { size_t len; char s[]; } str_t;
static pm_type_t str_type = {.name = "str", .basicsize = sizeof(str_t) + 1, .itemsize = 1};
static str_t *new_str(const char *s) {
  size_t n = strlen(s);
  str_t *o = pm_obj_new_var(&str_type, n);
  o->len = n;
  memcpy(o->s, s, n + 1);
  return o;
}
static size_t str_hash(const void *p) {
  const str_t *o = p;
  size_t h = 1469598103934665603ull;
  for (size_t i = 0; i < o->len; i++) h = (h ^ (unsigned char)o->s[i]) * 1099511628211ull;
  return h;
}
static int str_equal(const void *a, const void *b) {
  const str_t *x = a, *y = b;
  return x->len == y->len && memcmp(x->s, y->s, x->len) == 0;
}
static const pm_weak_ops_t str_ops = {str_hash, str_equal};

TEST(weak_value_dict_drops_entries_when_values_die) {
  fresh();
  void *d = pm_weakvaluedict_new(&str_ops);
  require_not_null(d);
  gcnode_t *v1 = gcn_new(), *v2 = gcn_new();
  str_t *k1 = new_str("one"), *k2 = new_str("two"), *probe = new_str("one");
  expect_eq(pm_weakdict_set(d, k1, v1), 0);
  expect_eq(pm_weakdict_set(d, k2, v2), 0);
  expect_eq(pm_obj_refcnt(k1), 2);      /* keys are strong */
  expect_eq(pm_obj_refcnt(v1), 1);      /* values are not */
  expect_eq(pm_weak_len(d), 2);
  void *got = pm_weakdict_get(d, probe);
  expect_true(got == v1);
  pm_decref(got);
  pm_decref(v1);                        /* the entry vanishes */
  expect_eq(pm_weak_len(d), 1);
  expect_null(pm_weakdict_get(d, probe));
  expect_eq(pm_obj_refcnt(k1), 1);      /* and its key reference with it */
  gcn_link(v2, 0, v2);                  /* a cycle: gone at collection */
  pm_decref(v2);
  expect_eq(pm_weak_len(d), 1);
  expect_ge(pm_gc_collect(2), 1);
  expect_eq(pm_weak_len(d), 0);
  expect_eq(pm_obj_refcnt(k2), 1);
  pm_decref(k1), pm_decref(k2), pm_decref(probe), pm_decref(d);
}

TEST(weak_key_dict_drops_entries_when_keys_die) {
  fresh();
  void *d = pm_weakkeydict_new(NULL);   /* identity keys */
  gcnode_t *k = gcn_new(), *v = gcn_new();
  uint32_t iv = v->id;
  expect_eq(pm_weakdict_set(d, k, v), 0);
  pm_decref(v);                         /* the dict holds the value */
  expect_eq(gcn_freed[iv], 0);
  void *got = pm_weakdict_get(d, k);
  expect_true(got == v);
  pm_decref(got);
  gcnode_t *v2 = gcn_new();
  expect_eq(pm_weakdict_set(d, k, v2), 0);   /* replace: the old value goes */
  expect_eq(gcn_freed[iv], 1);
  pm_decref(v2);
  expect_eq(pm_weak_len(d), 1);
  pm_decref(k);
  expect_eq(pm_weak_len(d), 0);
  expect_eq(pm_weakdict_del(d, k), -1);
  pm_decref(d);
}

TEST(weak_set_interns_by_content) {
  fresh();
  void *set = pm_weakset_new(&str_ops);
  str_t *a = new_str("hello"), *b = new_str("hello"), *c = new_str("world");
  expect_eq(pm_weakset_add(set, a), 0);
  expect_eq(pm_weakset_add(set, b), 0);       /* equal: already a member */
  expect_eq(pm_weak_len(set), 1);
  void *found = pm_weakset_find(set, b);
  expect_true(found == a);
  pm_decref(found);
  expect_true(pm_weakset_contains(set, b));
  expect_false(pm_weakset_contains(set, c));
  pm_decref(a);                               /* the member dies */
  expect_false(pm_weakset_contains(set, b));
  expect_eq(pm_weakset_add(set, b), 0);
  expect_eq(pm_weakset_discard(set, b), 0);
  expect_eq(pm_weakset_discard(set, b), -1);
  expect_eq(pm_weak_len(set), 0);
  pm_decref(b), pm_decref(c), pm_decref(set);
}

TEST(weak_containers_check_their_arguments) {
  fresh();
  void *set = pm_weakset_new(NULL), *vd = pm_weakvaluedict_new(NULL);
  gcnode_t *o = gcn_new();
  errno = 0;
  expect_eq(pm_weakdict_set(set, o, o), -1);  /* a set is not a dict */
  expect_eq(errno, EINVAL);
  expect_eq(pm_weakset_add(vd, o), -1);
  expect_eq(pm_weakdict_set(vd, o, NULL), -1);
  gcnode_t *atomic_v = pm_obj_new_flags(&gcnode_type, 0, PM_OBJ_ATOMIC);
  atomic_v->id = 0;
  errno = 0;
  expect_eq(pm_weakdict_set(vd, o, atomic_v), -1);   /* thread rule */
  expect_eq(errno, EINVAL);
  pm_decref(atomic_v), pm_decref(o), pm_decref(set), pm_decref(vd);
}

/* Iteration is safe against deaths, additions and removals during it: every
 * entry present from the start until reached is seen exactly once. */
TEST(iteration_survives_mutation) {
  fresh();
  enum { N = 200 };
  void *set = pm_weakset_new(NULL);
  static gcnode_t *m[N];
  for (int i = 0; i < N; i++) {
    m[i] = gcn_new();
    m[i]->id = (uint32_t)i;
    pm_weakset_add(set, m[i]);
  }
  static int seen[2 * N];
  memset(seen, 0, sizeof seen);
  pm_weak_iter_t it;
  pm_weak_iter_begin(&it, set);
  void *k;
  int steps = 0;
  static gcnode_t *extra[N];
  int nextra = 0;
  while (pm_weak_iter_next(&it, &k, NULL)) {
    gcnode_t *n = k;
    seen[n->id]++;
    pm_decref(k);
    if (steps % 3 == 0) {                     /* kill a later member */
      int victim = N - 1 - steps / 3;
      if (victim > (int)n->id && m[victim]) { pm_decref(m[victim]); m[victim] = NULL; }
    }
    if (steps % 5 == 0 && nextra < N) {       /* add members (the table grows) */
      extra[nextra] = gcn_new();
      extra[nextra]->id = (uint32_t)(N + nextra);
      pm_weakset_add(set, extra[nextra]);
      nextra++;
    }
    if (steps % 7 == 0 && n->id < N) pm_weakset_discard(set, n);   /* remove the current one */
    steps++;
  }
  pm_weak_iter_end(&it);
  int dup = 0, missed = 0;
  for (int i = 0; i < N; i++) {
    dup += seen[i] > 1;
    missed += m[i] != NULL && seen[i] == 0;
  }
  for (int i = 0; i < 2 * N; i++) dup += seen[i] > 1;
  expect_eq(dup, 0);
  expect_eq(missed, 0);
  for (int i = 0; i < N; i++)
    if (m[i] && seen[i] == 0) tap_note("member %d not seen", i);
  size_t live = 0;
  for (int i = 0; i < N; i++) live += m[i] != NULL;
  tap_note("%d steps, %zu of %d survivors, %d added", steps, live, N, nextra);
  /* after the iteration the holes are squeezed out and lookups still work */
  for (int i = 0; i < nextra; i++) expect_true(pm_weakset_contains(set, extra[i]));
  for (int i = 0; i < N; i++) if (m[i]) pm_decref(m[i]);
  for (int i = 0; i < nextra; i++) pm_decref(extra[i]);
  expect_eq(pm_weak_len(set), 0);
  pm_decref(set);
}

/* A container that dies while its entries' objects live on: no callback
 * may reach it afterwards; and one inside a garbage cycle is collected. */
TEST(container_dies_before_its_entries) {
  fresh();
  gcnode_t *v = gcn_new();
  str_t *k = new_str("key");
  void *d = pm_weakvaluedict_new(&str_ops);
  pm_weakdict_set(d, k, v);
  void *wrs[4];
  expect_eq(pm_weakref_getweakrefs(v, wrs, 4), 1);   /* the entry's own */
  pm_incref(wrs[0]);                    /* outlives the dict */
  pm_decref(d);
  pm_decref(v);                         /* no callback into the freed dict */
  expect_null(pm_weakref_get(wrs[0]));
  pm_decref(wrs[0]);
  expect_eq(pm_obj_refcnt(k), 1);
  gcnode_t *holder = gcn_new();
  void *d2 = pm_weakkeydict_new(NULL);
  pm_weakdict_set(d2, k, holder);       /* holder is the strong value */
  gcn_link(holder, 0, d2);              /* holder -> d2 -> holder */
  pm_decref(d2), pm_decref(holder);
  expect_ge(pm_gc_collect(2), 2);
  expect_eq(pm_obj_refcnt(k), 1);
  pm_decref(k);
}

/* A process that exits while another thread holds the layer lock (here: a
 * finalizer blocked inside that thread's collection) must not hang in the
 * exit-time finalizer run: it skips it. */
static int lock_held_pipe[2];
static void block_forever(gcnode_t *n) {
  char c = 'x';
  if (write(lock_held_pipe[1], &c, 1) != 1) _exit(8);
  for (;;) pause();
}
static void *collect_and_block(void *arg) {
  gcnode_t *g = gcn_new_fin();
  gcn_link(g, 0, g);
  pm_decref(g);
  gcn_on_finalize = block_forever;
  pm_gc_collect(2);                     /* never returns */
  return NULL;
}
TEST(exit_does_not_hang_when_another_thread_holds_the_layer_lock) {
  fresh();
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    if (pipe(lock_held_pipe) != 0) _exit(7);
    gcnode_t *keep = gcn_new();
    pm_finalize_new(keep, record_fin, NULL, NULL);   /* an exit-time finalizer */
    pthread_t t;
    pthread_create(&t, NULL, collect_and_block, NULL);
    char c;
    if (read(lock_held_pipe[0], &c, 1) != 1) _exit(6);
    exit(0);                            /* runs the library's destructor */
  }
  int st;
  waitpid(pid, &st, 0);
  if (WIFSIGNALED(st)) tap_note("child killed by signal %d", WTERMSIG(st));
  expect_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
