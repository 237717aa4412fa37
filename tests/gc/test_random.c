/* SPDX-License-Identifier: MIT */
/* tests/gc/test_random.c — randomized object graphs against a reachability
 * oracle (issue 4).
 *
 * A shadow copy of the graph (plain index arrays, no pointers into the
 * layer) is mutated in lock step with the real objects: new nodes, edges
 * added and removed, roots taken and dropped, collections of random
 * generations in between.  The oracle computes reachability from the roots
 * by breadth-first search.  Checked throughout: nothing reachable is ever
 * freed or cleared; after a full collection the freed set equals the
 * unreachable set exactly, each node finalized at most once.
 * PM_GC_SEED=<n> reruns one seed.
 */
#include "../tap.h"
#include "gcnode.h"

#define MAXN 6000

static struct {
  gcnode_t *obj[MAXN];          /* valid while the oracle says reachable */
  uint32_t id[MAXN];
  int ref[MAXN][GCNODE_MAX];    /* -1 = none */
  uint32_t nroot[MAXN];         /* references the test holds */
  bool reach[MAXN];
  int queue[MAXN];
  int n;
} g;

static uint64_t rng;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

static void oracle(void) {
  int head = 0, tail = 0;
  memset(g.reach, 0, sizeof g.reach);
  for (int i = 0; i < g.n; i++)
    if (g.nroot[i]) g.reach[i] = true, g.queue[tail++] = i;
  while (head < tail) {
    int i = g.queue[head++];
    for (int k = 0; k < GCNODE_MAX; k++) {
      int j = g.ref[i][k];
      if (j >= 0 && !g.reach[j]) g.reach[j] = true, g.queue[tail++] = j;
    }
  }
}

static int pick_reachable(void) {
  if (g.n == 0) return -1;
  for (int tries = 0; tries < 64; tries++) {
    int i = (int)rnd((uint32_t)g.n);
    if (g.reach[i]) return i;
  }
  return -1;
}

/* Returns the number of violations found. */
static int check(bool after_full) {
  int bad = 0;
  for (int i = 0; i < g.n; i++) {
    uint32_t id = g.id[i];
    if (g.reach[i] && (gcn_freed[id] || gcn_cleared[id])) {
      if (bad++ < 5) tap_note("reachable node %d (id %u) was freed/cleared", i, id);
    }
    if (after_full && !g.reach[i] && !gcn_freed[id]) {
      if (bad++ < 5) tap_note("unreachable node %d (id %u) survived a full collection", i, id);
    }
    if (gcn_freed[id] > 1 || gcn_finalized[id] > 1) {
      if (bad++ < 5) tap_note("node %d freed %u / finalized %u times", i, gcn_freed[id], gcn_finalized[id]);
    }
  }
  return bad;
}

static int run(uint64_t seed, int nops) {
  rng = seed * 0x9E3779B97F4A7C15ull + 1;
  gcn_log_reset();
  gcn_next_id = 1;
  memset(&g, 0, sizeof g);
  pm_gc_disable();              /* collections happen where the test says */
  pm_gc_collect(2);
  int bad = 0;
  for (int op = 0; op < nops && !bad; op++) {
    uint32_t r = rnd(100);
    if (r < 20 && g.n < MAXN) {                 /* new node, held as root */
      int i = g.n++;
      g.obj[i] = rnd(3) == 0 ? gcn_new_fin() : gcn_new();
      g.id[i] = g.obj[i]->id;
      for (int k = 0; k < GCNODE_MAX; k++) g.ref[i][k] = -1;
      g.nroot[i] = 1;
      g.reach[i] = true;
    } else if (r < 60) {                        /* edge i.k -> j */
      int i = pick_reachable(), j = pick_reachable();
      if (i < 0 || j < 0) continue;
      int k = (int)rnd(GCNODE_MAX);
      gcn_link(g.obj[i], (unsigned)k, g.obj[j]);
      g.ref[i][k] = j;
      oracle();
    } else if (r < 70) {                        /* remove an edge */
      int i = pick_reachable();
      if (i < 0) continue;
      int k = (int)rnd(GCNODE_MAX);
      gcn_link(g.obj[i], (unsigned)k, NULL);
      g.ref[i][k] = -1;
      oracle();
    } else if (r < 88) {                        /* drop a root */
      int i = (int)rnd((uint32_t)(g.n ? g.n : 1));
      if (g.n == 0 || g.nroot[i] == 0) continue;
      g.nroot[i]--;
      pm_decref(g.obj[i]);
      oracle();
    } else if (r < 93) {                        /* take a root */
      int i = pick_reachable();
      if (i < 0) continue;
      pm_incref(g.obj[i]);
      g.nroot[i]++;
    } else if (r < 98) {                        /* young collection */
      pm_gc_collect((int)rnd(2));
      bad += check(false);
    } else {                                    /* full collection */
      pm_gc_collect(2);
      bad += check(true);
    }
    if (op % 64 == 0) bad += check(false);
  }
  pm_gc_collect(2);
  oracle();
  bad += check(true);
  /* tear down: drop every root, everything must go */
  for (int i = 0; i < g.n; i++)
    while (g.nroot[i]) g.nroot[i]--, pm_decref(g.obj[i]);
  pm_gc_collect(2);
  oracle();
  bad += check(true);
  pm_gc_enable();
  return bad;
}

TEST(random_graphs_match_the_reachability_oracle) {
  const char *env = getenv("PM_GC_SEED");
  size_t live0 = pm_gc_live_objects();
  if (env) {
    uint64_t seed = strtoull(env, NULL, 0);
    expect_eq(run(seed, 40000), 0);
    return;
  }
  for (uint64_t seed = 1; seed <= 12; seed++) {
    int bad = run(seed, 20000);
    if (bad) tap_note("seed %llu: %d violations (rerun with PM_GC_SEED=%llu)",
                      (unsigned long long)seed, bad, (unsigned long long)seed);
    expect_eq(bad, 0);
  }
  expect_eq(pm_gc_live_objects(), live0);
}

/* The same with resurrecting finalizers: a random subset of finalizers
 * re-roots its object (the oracle learns about it from the callback). */
static int resurrect_budget;
static void maybe_resurrect(gcnode_t *n) {
  if (resurrect_budget <= 0 || rnd(4) != 0) return;
  for (int i = 0; i < g.n; i++) {
    if (g.id[i] == n->id) {
      resurrect_budget--;
      pm_incref(n);
      g.nroot[i]++;
      return;
    }
  }
}

TEST(random_graphs_with_resurrection) {
  for (uint64_t seed = 100; seed < 106; seed++) {
    rng = seed;
    resurrect_budget = 50;
    gcn_log_reset();
    gcn_next_id = 1;
    memset(&g, 0, sizeof g);
    pm_gc_disable();
    gcn_on_finalize = maybe_resurrect;
    /* a random graph of finalizable nodes, some roots */
    for (int i = 0; i < 2000; i++) {
      g.obj[i] = gcn_new_fin();
      g.id[i] = g.obj[i]->id;
      g.nroot[i] = 1;
      for (int k = 0; k < GCNODE_MAX; k++) g.ref[i][k] = -1;
    }
    g.n = 2000;
    for (int e = 0; e < 5000; e++) {
      int i = (int)rnd(2000), j = (int)rnd(2000), k = (int)rnd(GCNODE_MAX);
      gcn_link(g.obj[i], (unsigned)k, g.obj[j]);
      g.ref[i][k] = j;
    }
    for (int i = 0; i < 2000; i++)
      if (rnd(10) != 0) g.nroot[i] = 0, pm_decref(g.obj[i]);
    /* refcount deaths may have resurrected some already */
    oracle();
    expect_eq(check(false), 0);
    pm_gc_collect(2);               /* finalizers resurrect some */
    oracle();
    expect_eq(check(false), 0);
    gcn_on_finalize = NULL;
    pm_gc_collect(2);
    oracle();
    expect_eq(check(true), 0);
    for (int i = 0; i < g.n; i++)
      while (g.nroot[i]) g.nroot[i]--, pm_decref(g.obj[i]);
    pm_gc_collect(2);
    oracle();
    expect_eq(check(true), 0);
    pm_gc_enable();
  }
}
